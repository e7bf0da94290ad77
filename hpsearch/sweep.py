"""Scheduled sweeps: many searches from one sweep file, safe to run from cron or Kubernetes.

A sweep is a matrix of spaces x strategies x backends x seeds. Each entry has a key made of
the sweep's name, the entry, the space file's hash and the window (the day or the week), and
every search it starts is tagged with that key in MLflow. So a re-run in the same window
skips what finished, resumes what was interrupted, and trains nothing twice. Entries run as
``hpsearch run`` child processes: one crash, one TensorFlow or one Ray per search.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hpsearch.backends import BACKENDS, STRATEGIES, only_on_phrase, runs_on
from hpsearch.errors import (  # noqa: F401 - the exit codes a sweep ends with
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    SweepLocked,
)
from hpsearch.space import (
    Space,
    SpaceError,
    compose_yaml,
    did_you_mean,
    load_space,
    read_text,
    short,
    validate_yaml,
)

SWEEP_TAG, KEY_TAG, ENTRY_TAG, WINDOW_TAG = (
    "hpsearch.sweep",
    "hpsearch.sweep_key",
    "hpsearch.sweep_entry",
    "hpsearch.sweep_window",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Settings(_Strict):
    """What an entry may override; None leaves the space file's (or hpsearch's) default."""

    max_trials: int | None = Field(None, ge=1)
    epochs: int | None = Field(None, ge=1)
    budget_epochs: int | None = Field(None, ge=1)
    budget_seconds: float | None = Field(None, gt=0)
    max_failures: int | None = Field(None, ge=1)
    retries: int | None = Field(None, ge=0)
    workers: int | None = Field(None, ge=1)
    max_concurrent: int | None = Field(None, ge=1)
    cpus_per_trial: float | None = Field(None, gt=0)
    gpus_per_trial: float | None = Field(None, ge=0)
    #: ``--pruner``: median or none (e.g. none for the hyperband entries of a pruned space)
    pruner: Literal["median", "none"] | None = None


class Match(_Strict):
    """Which entries an override applies to: every field given must equal the entry's."""

    space: str | None = None
    strategy: str | None = None
    backend: str | None = None
    seed: int | None = None


class Override(_Strict):
    match: Match = Field(default_factory=Match)
    set: Settings


class Matrix(_Strict):
    spaces: list[str] = Field(min_length=1, max_length=1000)
    strategies: list[str] = Field(default_factory=lambda: ["random"], min_length=1)
    backends: list[str] = Field(default_factory=lambda: ["keras-tuner"], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [42], min_length=1, max_length=1000)
    #: Combinations to leave out, as in a CI matrix (e.g. a cv space with hyperband).
    exclude: list[Match] = Field(default_factory=list)

    @field_validator("strategies")
    @classmethod
    def _strategies(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if s not in STRATEGIES]
        if bad:
            raise ValueError(f"unknown strategy '{bad[0]}' (choose from {', '.join(STRATEGIES)})")
        return v

    @field_validator("backends")
    @classmethod
    def _backends(cls, v: list[str]) -> list[str]:
        bad = [b for b in v if b not in BACKENDS]
        if bad:
            raise ValueError(f"unknown backend '{bad[0]}' (choose from {', '.join(BACKENDS)})")
        return v


class ReportSpec(_Strict):
    enabled: bool = True
    output: str | None = None  # default: <output>/<name>/<window>/report
    top_k: int = Field(3, ge=1)


class SweepFile(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    description: str | None = None
    tracking_uri: str | None = None
    experiment: str | None = None  # default: the sweep's name
    output: str = "reports/sweeps"
    #: TensorBoard files of every entry's search, side by side (``--tensorboard`` wins).
    tensorboard: str | None = Field(None, min_length=1)
    window: Literal["daily", "weekly", "none"] = "none"
    concurrency: int = Field(1, ge=1, le=64)
    defaults: Settings = Field(default_factory=Settings)
    matrix: Matrix
    overrides: list[Override] = Field(default_factory=list)
    report: ReportSpec = Field(default_factory=ReportSpec)


@dataclass
class Entry:
    """One search of the sweep: what to run, and the key that makes re-runs idempotent."""

    id: str
    space_path: Path
    space: Space
    strategy: str
    backend: str
    seed: int
    settings: Settings
    key: str = ""
    state: str = "todo"  # todo, done, partial (an unfinished search to resume)
    parent_run_id: str | None = None


@dataclass
class Sweep:
    spec: SweepFile
    source: Path
    entries: list[Entry]
    window: str  # "2026-11-22", "2026-W47", or "" for none
    skipped: list[str] = field(default_factory=list)
    #: Where every entry writes TensorBoard files (absolute), if anywhere.
    tensorboard: Path | None = None

    @property
    def experiment(self) -> str:
        return self.spec.experiment or self.spec.name

    @property
    def output(self) -> Path:
        return self._resolve(self.spec.output)

    def _resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else Path.cwd() / p


def window_stamp(window: str, now: dt.datetime | None = None) -> str:
    """The idempotency window a run falls in (UTC): a day, an ISO week, or none."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if window == "daily":
        return now.strftime("%Y-%m-%d")
    if window == "weekly":
        year, week, _ = now.isocalendar()
        return f"{year}-W{week:02d}"
    return ""


def entry_key(sweep: str, entry_id: str, space_sha256: str, window: str) -> str:
    """Deterministic: the same sweep, entry, space file and window give the same key."""
    text = "\n".join([sweep, entry_id, space_sha256, window])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def load_sweep(
    path: str | Path, now: dt.datetime | None = None, *, tensorboard: Path | None = None
) -> Sweep:
    """Read and validate a sweep file and every space it names; errors are SpaceErrors
    with file:line (exit 2 in the CLI). ``tensorboard`` (``--tensorboard``) wins over the
    file's, which is then not checked."""
    path = Path(path)
    label = str(path)
    raw, _, fail = compose_yaml(read_text(path), label)
    spec = validate_yaml(raw, SweepFile, fail)
    window = window_stamp(spec.window, now)
    entries, skipped = [], []
    for j, override in enumerate(spec.overrides):
        _check_match(override.match, spec, ("overrides", j, "match"), fail)
    for j, excluded in enumerate(spec.matrix.exclude):
        _check_match(excluded, spec, ("matrix", "exclude", j), fail)
    for i, name in enumerate(spec.matrix.spaces):
        space_path = Path(name) if Path(name).is_absolute() else path.parent / name
        if not space_path.exists() and Path(name).exists():
            space_path = Path(name)  # relative to the working directory, as on the CLI
        try:
            space = load_space(space_path)
        except SpaceError as exc:
            raise fail(("matrix", "spaces", i), f"{name}: {exc}") from None
        for strategy in spec.matrix.strategies:
            for backend in spec.matrix.backends:
                if not runs_on(strategy, backend):
                    skipped.append(
                        f"{space_path.stem} {strategy} on {backend}: {only_on_phrase(strategy)}"
                    )
                    continue
                for seed in spec.matrix.seeds:
                    if any(_matches(m, name, strategy, backend, seed) for m in spec.matrix.exclude):
                        continue
                    entry_id = f"{space_path.stem}-{strategy}-{backend}-s{seed}"
                    settings = _settings_for(spec, name, strategy, backend, seed)
                    entries.append(
                        Entry(
                            id=entry_id,
                            space_path=space_path.resolve(),
                            space=space,
                            strategy=strategy,
                            backend=backend,
                            seed=seed,
                            settings=settings,
                            key=entry_key(spec.name, entry_id, space.sha256, window),
                        )
                    )
    ids = [e.id for e in entries]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise fail(("matrix", "spaces"), f"two spaces give the same entry '{dupes[0]}'")
    if not entries:
        raise fail(("matrix",), "no entry can run (each strategy needs an engine that offers it)")
    for entry in entries:  # as `hpsearch run` would check it, before anything runs
        problem = check_entry(entry)
        if problem:
            raise fail(("matrix",), f"entry {entry.id}: {problem}")
    sweep = Sweep(spec, path, entries, window, skipped)
    from hpsearch.plan import check_tensorboard

    if tensorboard is not None:
        check_tensorboard(tensorboard)
        sweep.tensorboard = tensorboard.expanduser().resolve()
    elif spec.tensorboard:  # relative to the working directory, as output is
        try:
            check_tensorboard(Path(spec.tensorboard), "tensorboard")
        except SpaceError as exc:
            raise fail(("tensorboard",), exc.problem) from None
        sweep.tensorboard = sweep._resolve(str(Path(spec.tensorboard).expanduser()))
    return sweep


def check_entry(entry: Entry) -> str | None:
    """What ``hpsearch run`` would refuse in this entry (flags, strategy against backend,
    cv against Hyperband, a finite grid, the seed), or None."""
    from hpsearch.api import plan_search

    try:
        plan_search(
            entry.space,
            strategy=entry.strategy,
            backend=entry.backend,
            seed=entry.seed,
            **entry.settings.model_dump(exclude_none=True),
        )
    except SpaceError as exc:
        return str(exc)
    return None


def _matches(m: Match, space: str, strategy: str, backend: str, seed: int) -> bool:
    return (
        (m.space is None or m.space == space)
        and (m.strategy is None or m.strategy == strategy)
        and (m.backend is None or m.backend == backend)
        and (m.seed is None or m.seed == seed)
    )


def _check_match(m: Match, spec: SweepFile, at: tuple[Any, ...], fail: Any) -> None:
    """Every value of a match must be one the matrix has: a typo would silently never apply."""
    mx = spec.matrix
    for key, value, listed, options in (
        ("space", m.space, "spaces", mx.spaces),
        ("strategy", m.strategy, "strategies", mx.strategies),
        ("backend", m.backend, "backends", mx.backends),
        ("seed", m.seed, "seeds", mx.seeds),
    ):
        if value is not None and value not in options:
            raise fail(
                (*at, key),
                f"{short(value)} is not in matrix.{listed}{did_you_mean(value, options)}; it "
                "would match no entry",
            )


def _settings_for(spec: SweepFile, space: str, strategy: str, backend: str, seed: int) -> Settings:
    merged = spec.defaults.model_dump(exclude_none=True)
    for override in spec.overrides:
        if _matches(override.match, space, strategy, backend, seed):
            merged |= override.set.model_dump(exclude_none=True)
    return Settings.model_validate(merged)


# ----------------------------------------------------------------------------- running


def run_command(sweep: Sweep, entry: Entry, tracking_uri: str) -> list[str]:
    """The ``hpsearch run`` that carries out one entry (resuming its search if partial)."""
    s = entry.settings
    cmd = [
        sys.executable,
        "-m",
        "hpsearch.cli",
        "run",
        str(entry.space_path),
        "--strategy",
        entry.strategy,
        "--backend",
        entry.backend,
        "--seed",
        str(entry.seed),
        "--tracking-uri",
        tracking_uri,
        "--experiment",
        sweep.experiment,
        "--output",
        str(sweep.output),
        "--json",
        "--tag",
        f"{SWEEP_TAG}={sweep.spec.name}",
        "--tag",
        f"{KEY_TAG}={entry.key}",
        "--tag",
        f"{ENTRY_TAG}={entry.id}",
        "--tag",
        f"{WINDOW_TAG}={sweep.window}",
    ]
    flags = {
        "max_trials": "--max-trials",
        "epochs": "--epochs",
        "budget_epochs": "--budget-epochs",
        "budget_seconds": "--budget-time",
        "max_failures": "--max-failures",
        "retries": "--retries",
        "workers": "--workers",
        "max_concurrent": "--max-concurrent",
        "cpus_per_trial": "--cpus-per-trial",
        "gpus_per_trial": "--gpus-per-trial",
        "pruner": "--pruner",
    }
    for key, flag in flags.items():
        value = getattr(s, key)
        if value is not None:
            cmd += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    if sweep.tensorboard is not None:
        cmd += ["--tensorboard", str(sweep.tensorboard)]
    if entry.state == "partial" and entry.parent_run_id:
        cmd += ["--resume-run", entry.parent_run_id]
    return cmd


@dataclass
class Outcome:
    entry: Entry
    code: int
    summary: dict[str, Any] | None = None
    error: str | None = None


class Runner:
    """Runs the entries that are not done, ``concurrency`` at a time, and stops them all
    cleanly on SIGTERM (each child marks its search KILLED; the next run resumes it)."""

    def __init__(self, sweep: Sweep, tracking_uri: str, log: Callable[[str], None]) -> None:
        self.sweep, self.tracking_uri, self.log = sweep, tracking_uri, log
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.terminated = False
        self._lock = threading.Lock()

    def terminate(self) -> None:
        self.terminated = True
        with self._lock:
            for proc in self.procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)

    def run(self, entries: list[Entry]) -> list[Outcome]:
        queue = list(entries)
        outcomes: list[Outcome] = []
        threads: list[threading.Thread] = []

        def worker() -> None:
            while True:
                with self._lock:
                    if not queue or self.terminated:
                        return
                    entry = queue.pop(0)
                outcomes.append(self._run_one(entry))

        for _ in range(min(self.sweep.spec.concurrency, len(entries))):
            t = threading.Thread(target=worker, daemon=True)
            t.start()
            threads.append(t)
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(0.2)
        return outcomes

    def _run_one(self, entry: Entry) -> Outcome:
        verb = "resuming" if entry.state == "partial" else "running"
        self.log(f"{entry.id}: {verb} (key {entry.key})")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self._lock:
            if self.terminated:
                return Outcome(entry, EXIT_TERMINATED, error="not started: terminated")
            proc = subprocess.Popen(
                run_command(self.sweep, entry, self.tracking_uri),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                start_new_session=True,  # the sweep forwards SIGTERM itself
            )
            self.procs[entry.id] = proc
        stderr_tail: list[str] = []
        reader = threading.Thread(
            target=self._pipe, args=(entry, proc.stderr, stderr_tail), daemon=True
        )
        reader.start()
        stdout = proc.stdout.read() if proc.stdout else ""
        code = proc.wait()
        reader.join(5)
        summary = None
        for line in reversed(stdout.strip().splitlines()):
            try:
                summary = json.loads(line)
                break
            except ValueError:
                continue
        error = None if code == 0 else (stderr_tail[-1] if stderr_tail else f"exit {code}")
        word = {0: "done", EXIT_TERMINATED: "terminated", 130: "terminated"}.get(code, "FAILED")
        best = (
            f", best {summary['best_value']:.4f}" if summary and summary.get("best_value") else ""
        )
        self.log(f"{entry.id}: {word} (exit {code}{best})" + (f": {error}" if error else ""))
        return Outcome(entry, code, summary, error)

    def _pipe(self, entry: Entry, stream: IO[str] | None, tail: list[str]) -> None:
        """The child's progress lines, prefixed with its entry, onto the sweep's stderr."""
        if stream is None:
            return
        for line in stream:
            line = line.rstrip("\n")
            if line:
                tail.append(line)
                del tail[:-20]
                print(f"  [{entry.id}] {line}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- locking


@contextmanager
def sweep_lock(name: str, tracking_uri: str, experiment: str) -> Iterator[str]:
    """One run of a sweep at a time: a file lock beside a local store (sqlite, a folder),
    else a lease in MLflow (an experiment tag renewed while the sweep runs), for a server or
    a shared database. Yields what it holds."""
    local = tracking_uri.startswith(("sqlite:///", "file:")) or "://" not in tracking_uri
    if not local:  # a server or a shared database: no disk in common, so a lease
        from hpsearch.tracking import lease

        with lease(tracking_uri, experiment, f"sweep.{name}") as held:
            yield held
        return
    import fcntl

    path = _lock_path(name, tracking_uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # held for the whole sweep
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise SweepLocked(
                f"sweep '{name}' is already running ({holder}; lock {path})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        yield str(path)
    finally:
        handle.close()


def _lock_path(name: str, tracking_uri: str) -> Path:
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri.removeprefix("sqlite:///"))
        return db.parent / f".{db.name}.sweep-{name}.lock"
    folder = Path(tracking_uri.removeprefix("file://").removeprefix("file:"))
    return folder / f".sweep-{name}.lock"


# ----------------------------------------------------------------------------- the sweep


def plan_states(sweep: Sweep, tracking_uri: str) -> None:
    """Mark each entry done, partial (with the parent run to resume) or todo, from MLflow."""
    from hpsearch.tracking import sweep_states

    states = sweep_states(tracking_uri, sweep.experiment, sweep.spec.name)
    for entry in sweep.entries:
        status, run_id = states.get(entry.key, ("", None))  # type: ignore[assignment]
        entry.parent_run_id = run_id
        entry.state = "done" if status == "FINISHED" else "partial" if run_id else "todo"


def run_sweep(
    sweep: Sweep,
    *,
    tracking_uri: str,
    dry_run: bool = False,
    log: Callable[[str], None],
    echo: Callable[[str], None],
) -> int:
    """Run what is not done yet, then report; returns the sweep's exit code."""
    if dry_run:
        plan_states(sweep, tracking_uri)
        _print_plan(sweep, echo)
        return EXIT_OK
    with sweep_lock(sweep.spec.name, tracking_uri, sweep.experiment) as held:
        log(f"sweep {sweep.spec.name}: window {sweep.window or 'none'}, lock {held}")
        plan_states(sweep, tracking_uri)
        for note in sweep.skipped:
            log(f"skipped: {note}")
        for entry in sweep.entries:
            if entry.state == "done":
                log(f"{entry.id}: skipped, done in this window (run {entry.parent_run_id})")
        todo = [e for e in sweep.entries if e.state != "done"]
        runner = Runner(sweep, tracking_uri, log)
        previous = signal.signal(signal.SIGTERM, lambda *_: runner.terminate())
        try:
            outcomes = runner.run(todo)
        finally:
            signal.signal(signal.SIGTERM, previous)
        failed = [o for o in outcomes if o.code not in (0, EXIT_TERMINATED, 130)]
        report = None
        if sweep.spec.report.enabled and not runner.terminated:
            report = _report(sweep, tracking_uri, log)
        done = len(sweep.entries) - len(todo)
        echo(
            f"sweep {sweep.spec.name} ({sweep.window or 'no window'}): {done} skipped (done), "
            f"{sum(o.code == 0 for o in outcomes)} ran, {len(failed)} failed"
            + (", terminated" if runner.terminated else "")
        )
        for o in failed:
            echo(f"failed: {o.entry.id}: {o.error}")
        if report:
            echo(f"report: {report}")
    if runner.terminated:
        return EXIT_TERMINATED
    return EXIT_FAILED if failed else EXIT_OK


def _report(sweep: Sweep, tracking_uri: str, log: Callable[[str], None]) -> str | None:
    from hpsearch.api import make_report
    from hpsearch.tracking import NoSearches

    folder = sweep.spec.report.output
    out = (
        sweep._resolve(folder)
        if folder
        else sweep.output / sweep.spec.name / (sweep.window or "all") / "report"
    )
    try:
        made = make_report(
            experiment=sweep.experiment,
            tracking_uri=tracking_uri,
            output=out,
            title=f"hpsearch sweep {sweep.spec.name}"
            + (f", {sweep.window}" if sweep.window else ""),
            tags={SWEEP_TAG: sweep.spec.name, WINDOW_TAG: sweep.window},
            top_k=sweep.spec.report.top_k,
        )
    except NoSearches as exc:
        log(f"no report: {exc}")
        return None
    return str(made.html)


def _print_plan(sweep: Sweep, echo: Callable[[str], None]) -> None:
    width = max(len(e.id) for e in sweep.entries)
    echo(f"sweep {sweep.spec.name}: {len(sweep.entries)} entries, window {sweep.window or 'none'}")
    for e in sweep.entries:
        run = f"  run {e.parent_run_id}" if e.parent_run_id else ""
        echo(f"  {e.id:<{width}}  {e.key}  {e.state}{run}")
    for note in sweep.skipped:
        echo(f"  skipped: {note}")
