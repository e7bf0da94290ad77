"""The Python API: run a search end to end, and read trial tables back from MLflow.

This is the one place that wires space → data → backend → trial table → tracking; the CLI
is a shell over it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.errors import SearchFailed, SearchStalled, TooManyFailures
from hpsearch.space import Space, SpaceError, load_space, parse_logged
from hpsearch.trials import (
    CallbackList,
    SearchCallback,
    SearchInfo,
    TrialResult,
    best_of,
    finished_rows,
    is_better,
    plain,
    to_frame,
)

if TYPE_CHECKING:
    import pandas as pd

    from hpsearch.data import Dataset
    from hpsearch.tabular import DataSummary

DEFAULT_OUTPUT = Path("reports")


@dataclass
class SearchSummary:
    """Everything a caller may want after a search."""

    experiment: str
    parent_run_id: str
    frame: pd.DataFrame
    trials_csv: Path
    workdir: Path
    tracking_uri: str
    best: TrialResult | None
    best_model_uri: str | None = None
    warnings: list[str] = field(default_factory=list)
    searched: list[str] = field(default_factory=list)  # the names the space varies

    def best_params(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The best trial's searched params, then the fixed ones (what a reader wants
        first, and what only --verbose needs)."""
        return split_params(self.searched, self.best.params if self.best else {})

    def as_json(self) -> dict[str, Any]:
        from hpsearch.tracking import redact_uri

        first, fixed = self.best_params()
        return {
            "experiment": self.experiment,
            "parent_run_id": self.parent_run_id,
            "trials": len(self.frame),
            "finished": int((self.frame["status"] == "FINISHED").sum()) if len(self.frame) else 0,
            "best_value": self.best.objective if self.best else None,
            "best_params": {**first, **fixed} if self.best else None,
            "best_trial_id": self.best.trial_id if self.best else None,
            "best_model_uri": self.best_model_uri,
            "trials_csv": str(self.trials_csv),
            "tracking_uri": redact_uri(self.tracking_uri),
        }


def split_params(
    names: Iterable[str], params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A trial's params as the searched ones (in ``names``' order), then the fixed rest:
    how every command prints a trial."""
    first = {k: params[k] for k in names if k in params}
    return first, {k: v for k, v in params.items() if k not in first}


def prepare(
    space_or_path: Space | str | Path,
    *,
    strategy: str | None = None,
    backend: str | None = None,
    max_trials: int | None = None,
    epochs: int | None = None,
    seed: int | None = None,
) -> Space:
    """Load a space (if given a path) and apply overrides; raises SpaceError on bad input."""
    space = space_or_path if isinstance(space_or_path, Space) else load_space(space_or_path)
    space = space.with_overrides(
        strategy=strategy, backend=backend, max_trials=max_trials, seed=seed, epochs=epochs
    )
    if space.search.strategy == "grid":  # a grid runs every configuration, once
        space = space.with_overrides(max_trials=space.size())
    return space


class _Resumed(CallbackList):
    """Hands callbacks the trials a resumed search finished before (a display counts on
    from them)."""

    def __init__(self, callbacks: Iterable[SearchCallback], previous: list[TrialResult]) -> None:
        super().__init__(callbacks)
        self.previous = tuple(previous)

    def on_search_begin(self, info: SearchInfo) -> None:
        super().on_search_begin(dataclasses.replace(info, previous=self.previous))


def load_data(space: Space) -> tuple[Dataset, Space]:
    """The space's dataset as a search trains on it, and the space for its task (a file's
    task is known only once read); a model too large for its input width is a SpaceError.
    No TensorFlow: ``validate --data`` runs it too. Raises data.DataError."""
    from hpsearch.data import load_dataset

    data = load_dataset(
        space.dataset, space.search.seed, space.source.parent if space.source else None
    )
    space = space.for_task(data.task)
    problem = space.model_problem(math.prod(data.input_shape))
    if problem:
        raise space.error_at("hyperparameters.n_neurons", problem)
    return data, space


def plan_search(
    space_or_path: Space | str | Path,
    *,
    strategy: str | None = None,
    backend: str | None = None,
    max_trials: int | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    budget_epochs: int | None = None,
    budget_seconds: float | None = None,
    max_failures: int | None = None,
    **options: Any,
) -> tuple[Space, dict[str, Any]]:
    """The space with its flags applied and the backend's options, checked as ``hpsearch
    run`` checks them (a sweep checks each entry through here too); raises SpaceError
    naming the file's line or the flag. ``options`` are backend options (see
    backend_options)."""
    space = prepare(
        space_or_path,
        strategy=strategy,
        backend=backend,
        max_trials=max_trials,
        epochs=epochs,
        seed=seed,
    )
    given = backend_options(space.search.backend, **options)
    space = budgeted_space(
        space,
        budget_epochs=budget_epochs,
        budget_seconds=budget_seconds,
        keep_max_trials=max_trials is not None,
    )
    if max_failures is not None and max_failures < 1:
        raise SpaceError("must be at least 1", field="--max-failures")
    return space, given


#: Options each backend accepts (besides ``verbose``), by the CLI flag that sets them.
BACKEND_OPTIONS: dict[str, dict[str, str]] = {
    "keras-tuner": {"workers": "--workers", "gpus": "--gpus", "retries": "--retries"},
    "ray": {
        "address": "--address",
        "max_concurrent": "--max-concurrent",
        "cpus_per_trial": "--cpus-per-trial",
        "gpus_per_trial": "--gpus-per-trial",
        "time_budget_s": "--time-budget",
        "gpus": "--gpus",
        "retries": "--retries",
    },
}


def backend_options(backend: str, **options: Any) -> dict[str, Any]:
    """The options given (not None) for ``backend``; one meant for the other engine is a
    SpaceError naming its flag, so ``--workers`` on Ray fails loudly instead of being ignored."""
    given = {k: v for k, v in options.items() if v is not None}
    allowed = BACKEND_OPTIONS[backend]
    for key in given:
        if key not in allowed:
            flag = next(f for opts in BACKEND_OPTIONS.values() for k, f in opts.items() if k == key)
            other = next(b for b, opts in BACKEND_OPTIONS.items() if key in opts)
            raise SpaceError(f"applies to --backend {other}, not {backend}", field=flag)
    if given.get("retries", 0) < 0:
        raise SpaceError("must be >= 0", field="--retries")
    for key in ("workers", "max_concurrent"):
        if key in given and given[key] < 1:
            raise SpaceError("must be at least 1", field=allowed[key])
    for key in ("cpus_per_trial", "time_budget_s"):
        if key in given and given[key] <= 0:
            raise SpaceError("must be > 0", field=allowed[key])
    if (
        backend == "ray"
        and given.get("gpus") is not None
        and (given.get("address") or os.environ.get("RAY_ADDRESS"))
    ):
        raise SpaceError(
            "a cluster's GPUs are Ray's to schedule; use --gpus-per-trial", field="--gpus"
        )
    if "gpus_per_trial" in given and given["gpus_per_trial"] < 0:
        raise SpaceError("must be >= 0", field="--gpus-per-trial")
    return given


class _FailureLimit(SearchCallback):
    """Counts failed trials and stops the search at the limit."""

    def __init__(self, limit: int, already: int = 0) -> None:
        self.limit, self.failed = limit, already

    def on_trial_end(self, result: TrialResult) -> None:
        if not result.finished:
            self.failed += 1
            if self.failed >= self.limit:
                raise TooManyFailures(
                    f"{self.failed} trials failed (--max-failures {self.limit}); "
                    f"last error: {result.error}"
                )


class EpochBudget(SearchCallback):
    """Stops the search once ``limit`` epochs have been trained, across all trials.

    The fair unit for comparing strategies: Hyperband spends epochs, not trials. The search
    stops the moment the budget is spent: the trial running then ends after that epoch and
    keeps what it trained (as early stopping would), and no other trial starts. Concurrent
    trials may each add the epoch they were in: the overshoot is under one epoch per
    concurrent trial."""

    def __init__(self, limit: int, already: int = 0) -> None:
        self.limit, self.spent = limit, already

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        self.spent += 1

    def stop_reason(self) -> str | None:
        if self.spent >= self.limit:
            return f"epoch budget spent ({self.spent} of {self.limit} epochs)"
        return None


class TimeBudget(SearchCallback):
    """Stops the search once ``seconds`` of wall-clock time have passed since it began,
    as EpochBudget does (the running trial ends after its current epoch)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started: float | None = None

    def on_search_begin(self, info: SearchInfo) -> None:
        self.started = time.monotonic()

    def stop_reason(self) -> str | None:
        if self.started is None:
            return None
        elapsed = time.monotonic() - self.started
        if elapsed >= self.seconds:
            return f"time budget spent ({elapsed:.0f} of {self.seconds:g} s)"
        return None


def default_max_failures(max_trials: int) -> int:
    """Half the budget, at least 3: a search where half the trials fail is broken."""
    return max(3, (max_trials + 1) // 2)


class Journal(SearchCallback):
    """Every ended trial, appended to ``trials.jsonl`` and flushed to disk at once: what
    ``--resume`` starts from, and what survives a tracking server that goes away."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_trial_end(self, result: TrialResult) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(dataclasses.asdict(result), default=str) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def load(self) -> list[TrialResult]:
        """Trials ended so far, the last record of each trial id winning; a torn last
        line (the process died mid-write) is skipped."""
        if not self.path.exists():
            return []
        by_id: dict[str, TrialResult] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                result = TrialResult(**json.loads(line))
            except (ValueError, TypeError):
                continue
            by_id[result.trial_id] = result
        return [by_id[k] for k in sorted(by_id)]


def run_search(
    space: Space,
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    output: str | Path = DEFAULT_OUTPUT,
    callbacks: Iterable[SearchCallback] = (),
    verbose: bool = False,
    log_model: bool = True,
    command: str | None = None,
    options: dict[str, Any] | None = None,
    resume: bool = False,
    max_failures: int | None = None,
    budget_epochs: int | None = None,
    budget_seconds: float | None = None,
    tags: dict[str, str] | None = None,
    resume_run: str | None = None,
    warm_start: str | None = None,
    on_data: Callable[[DataSummary], None] | None = None,
    on_status: Callable[[str], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> SearchSummary:
    """Load the data once, run the backend, record every trial in MLflow, write trials.csv.

    ``budget_epochs`` / ``budget_seconds`` stop the search early, before ``max_trials``,
    once that many epochs were trained or seconds passed (see EpochBudget). ``tags`` go on
    the parent run (``compare`` and ``sweep`` mark their searches with them).
    ``on_data`` is called with the data's summary once it is loaded, before training;
    ``on_status`` with what is happening before the first trial (loading the data, opening
    the store, starting the engine); ``on_warning`` with what changes the search (a resumed
    parent, a cut Hyperband schedule, a warm start) as soon as it is known. Without
    ``on_warning`` those go into the summary's warnings.
    ``resume_run`` resumes that parent run (``sweep`` knows which one it wants); it must be
    a search of the same space, strategy, backend and seed. ``warm_start`` (a parent run id
    or an experiment) seeds a bayesian or tpe search with that search's finished trials.

    With ``resume``, the latest unfinished search of the same space, strategy, backend,
    seed and output folder continues under its parent run: finished trials are kept, the
    interrupted ones are marked FAILED and run again, and ``max_trials`` counts them all.
    """
    from hpsearch.backends import load as get_backend
    from hpsearch.data import dump_preprocessing, finite_json
    from hpsearch.tracking import MlflowTracker, preflight, resolve_tracking_uri, store_label

    if budget_epochs is not None or budget_seconds is not None:
        _check_budget_options(space, options or {})
    if warm_start and space.search.strategy not in ("bayesian", "tpe"):
        raise SpaceError(
            f"warm start seeds a bayesian or tpe search, not {space.search.strategy}",
            field="--warm-start",
        )

    from hpsearch.plan import check_destination

    notes: list[str] = []
    status = on_status or (lambda text: None)
    warn = on_warning or notes.append
    check_destination(tracking_uri, space.name if experiment is None else experiment, Path(output))
    preflight(resolve_tracking_uri(tracking_uri))  # an unreachable server: before the data
    if space.builder:  # fail before any training: a typo here would fail every trial
        from hpsearch.builders import BuilderError, check_builder
        from hpsearch.model import load_builder

        status(f"importing the builder {space.builder}")
        try:  # checked before anything is imported; imported without TF's start-up lines
            check_builder(space.builder, space.builder_dirs(), declared=list(space.params))
            load_builder(space.builder, space.builder_dirs(), verbose=verbose)
        except BuilderError as exc:
            raise space.error_at("builder", str(exc)) from None
    status(f"loading data: {space.dataset.name}")
    data, space = load_data(space)
    if on_data is not None and data.info is not None:
        on_data(data.info)
    cut = space.hyperband_cap()[1]
    if cut:
        warn(cut)

    status(f"opening the MLflow store: {store_label(resolve_tracking_uri(tracking_uri))}")
    tracker = MlflowTracker(space, tracking_uri=tracking_uri, experiment=experiment)
    warm: list[tuple[dict[str, Any], float]] = []
    if warm_start:
        warm, skipped = warm_trials(space, warm_start, tracker.tracking_uri)
        warn(
            f"warm start from {warm_start}: {len(warm)} earlier trial(s) seed the "
            f"{space.search.strategy} search"
            + (f"; {skipped} skipped (outside this space or unfinished)" if skipped else "")
        )
        tags = {
            **(tags or {}),
            "hpsearch.warm_start": warm_start,
            "hpsearch.warm_trials": str(len(warm)),
        }
    if resume_run is not None:
        tracker.check_resumable(resume_run)  # raises SpaceError: another space, or not a search
        resume = True
    parent = resume_run or (tracker.find_resumable(Path(output)) if resume else None)
    parent_resumed = parent is not None
    if parent:
        interrupted = tracker.resume(parent)
        warn(
            f"resumed parent run {parent}"
            + (
                f"; interrupted trial(s) {', '.join(interrupted)} marked FAILED"
                if interrupted
                else ""
            )
        )
    else:
        if resume:
            warn("--resume: no unfinished search of this space here; started a new one")
        parent = tracker.start(command or _command_line(), Path(output))
    if data.info is not None:
        tracker.log_json("data_summary.json", finite_json(data.info.as_json()))
    workdir = Path(output) / tracker.experiment / parent
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # checked before the run began; the disk may still say no
        tracker.fail(f"cannot create {workdir}: {exc.strerror or exc}")
        raise SpaceError(
            f"cannot create {workdir}: {exc.strerror or exc}", field="--output"
        ) from None
    journal = Journal(workdir / "trials.jsonl")
    previous = journal.load() if resume else []
    if parent_resumed:
        synced = tracker.replay(previous)
        if synced:
            warn(f"logged {synced} trial(s) from the journal that MLflow had missed")
    limit = max_failures or default_max_failures(space.search.max_trials)
    failures = _FailureLimit(limit, sum(not r.finished for r in previous))
    engine = get_backend(space.search.backend, verbose=verbose, **(options or {}))
    budgets: list[SearchCallback] = []
    if budget_epochs is not None:
        budgets.append(EpochBudget(budget_epochs, sum(r.epochs for r in previous)))
        tracker.tag("hpsearch.budget_epochs", str(budget_epochs))
    if budget_seconds is not None:
        budgets.append(TimeBudget(budget_seconds))
        tracker.tag("hpsearch.budget_seconds", f"{budget_seconds:g}")
    for key, value in (tags or {}).items():
        tracker.tag(key, value)
    events = _Resumed([journal, tracker, *callbacks, failures, *budgets], previous)
    status(f"starting {space.search.backend} (TensorFlow loads in a few seconds)")
    error: BaseException | None = None
    try:
        kwargs: dict[str, Any] = {"resume": bool(resume and parent_resumed)}
        if warm:
            kwargs["warm"] = warm
        if space.search.backend == "ray":  # Ray's restored state may lag the journal
            kwargs["done"] = frozenset(r.trial_id for r in previous)
            kwargs["budgeted"] = bool(budgets)
        outcome = engine.run(space, data, workdir, events, **kwargs)
    except KeyboardInterrupt:
        tracker.fail("interrupted", killed=True)
        raise
    except (TooManyFailures, SearchStalled) as exc:
        error = exc
        outcome = None
    except BaseException as exc:
        tracker.fail(f"{type(exc).__name__}: {exc}")
        raise
    # The journal holds this run's trials and those an earlier, interrupted run finished.
    results = {r.trial_id: r for r in journal.load()}
    for r in outcome.results if outcome else []:
        results[r.trial_id] = r
    merged = [results[k] for k in sorted(results)]
    frame = to_frame(merged)
    trials_csv = workdir / "trials.csv"
    frame.to_csv(trials_csv, index=False)
    direction = space.objective.direction
    best = best_of(merged, direction)
    if error is not None:
        tracker.fail(str(error))
        raise SearchFailed(str(error), trials_csv=trials_csv, parent_run_id=parent)
    assert outcome is not None
    loader = outcome.load_best_model
    model = loader() if (best and log_model and loader) else None
    prep = dump_preprocessing(data, workdir / "preprocessing.json")
    model_uri = tracker.finish(best, trials_csv, model, data.model_inputs(), (prep,))
    warnings = [*notes, *outcome.warnings]
    stopped = events.stop_reason()
    if stopped:
        tracker.tag("hpsearch.stopped_by", stopped)
        warnings.append(f"stopped after {len(merged)} trial(s): {stopped}")
    if tracker.offline:
        warnings.append(
            f"MLflow stopped answering ({tracker.offline}); every trial is kept in "
            f"{trials_csv} and {journal.path}: run the same command with --resume to log "
            "the rest once the store is back"
        )
    return SearchSummary(
        experiment=tracker.experiment,
        parent_run_id=parent,
        frame=frame,
        trials_csv=trials_csv,
        workdir=workdir,
        tracking_uri=tracker.tracking_uri,
        best=best,
        best_model_uri=model_uri,
        warnings=warnings,
        searched=space.searched_names(),
    )


def warm_trials(
    space: Space, source: str, tracking_uri: str
) -> tuple[list[tuple[dict[str, Any], float]], int]:
    """The finished trials of ``source`` (a parent run id, else an experiment name) whose
    params lie inside ``space``, as (params, objective); and how many were skipped."""
    import math

    from hpsearch.tracking import load_trials as _load
    from hpsearch.tracking import run_experiment

    experiment = run_experiment(source, tracking_uri)
    try:
        if experiment:
            frame = _load(experiment, tracking_uri=tracking_uri, parent_run_id=source)
        else:
            frame = _load(source, tracking_uri=tracking_uri)
    except LookupError:
        raise SpaceError(
            f"'{source}' is neither a search's run id nor an experiment", field="--warm-start"
        ) from None
    warm, skipped = [], 0
    for _, row in frame.iterrows():
        params = {
            c[7:]: plain(row[c])
            for c in row.index
            if c.startswith("params.") and row[c] == row[c]  # NaN: a param that run lacked
        }
        value = row["objective"]
        ok = row["status"] == "FINISHED" and value is not None and math.isfinite(float(value))
        if ok and space.contains(params):
            warm.append((params, float(value)))
        else:
            skipped += 1
    return warm, skipped


def _check_budget_options(space: Space, options: dict[str, Any]) -> None:
    """Budgets stop the trial source in this process; say so where it lives elsewhere."""
    if (options.get("workers") or 1) > 1:
        raise SpaceError(
            "a budget needs one Keras Tuner process (drop --workers)", field="--budget"
        )
    address = options.get("address") or os.environ.get("RAY_ADDRESS") or ""
    if space.search.backend == "ray" and address.startswith("ray://"):
        raise SpaceError(
            "a budget cannot stop a search run through Ray Client (ray://); "
            "submit it as a Ray job instead",
            field="--budget",
        )


def _command_line() -> str:
    return shlex.join(["hpsearch", *sys.argv[1:]]) if sys.argv else "hpsearch"


def run(
    space_or_path: Space | str | Path,
    *,
    strategy: str | None = None,
    backend: str | None = None,
    max_trials: int | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    output: str | Path = DEFAULT_OUTPUT,
    callbacks: Iterable[SearchCallback] = (),
    verbose: bool = False,
    resume: bool = False,
    max_failures: int | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Run one search and return its trial table.

    The frame's ``attrs`` carry ``experiment``, ``parent_run_id``, ``trials_csv``,
    ``best_value`` and ``best_params``. Other keyword arguments are backend options
    (``workers``, ``gpus``, ``retries`` for Keras Tuner; ``address``, ``max_concurrent``,
    ``cpus_per_trial``, ``gpus_per_trial``, ``time_budget_s``, ``retries`` for Ray).
    See run_search for ``resume`` and ``max_failures``.
    """
    space, given = plan_search(
        space_or_path,
        strategy=strategy,
        backend=backend,
        max_trials=max_trials,
        epochs=epochs,
        seed=seed,
        max_failures=max_failures,
        **options,
    )
    summary = run_search(
        space,
        tracking_uri=tracking_uri,
        experiment=experiment,
        output=output,
        callbacks=callbacks,
        verbose=verbose,
        options=given,
        resume=resume,
        max_failures=max_failures,
    )
    frame = summary.frame
    frame.attrs.update(summary.as_json())
    return frame


def load_trials(
    experiment: str, *, tracking_uri: str | None = None, parent_run_id: str | None = None
) -> pd.DataFrame:
    """The trial table of every search in an MLflow experiment, rebuilt from its runs."""
    from hpsearch.tracking import load_trials as _load

    return _load(experiment, tracking_uri=tracking_uri, parent_run_id=parent_run_id)


#: With only a time budget, the trial cap that keeps max_trials out of the way.
TIME_BUDGET_MAX_TRIALS = 10_000


def budgeted_space(
    space: Space,
    *,
    budget_epochs: int | None,
    budget_seconds: float | None,
    keep_max_trials: bool = False,
) -> Space:
    """The space with its trial caps lifted so that the budget, not max_trials or
    Hyperband's bracket schedule, ends the search.

    max_trials becomes the epoch budget (every trial trains at least one epoch), or
    TIME_BUDGET_MAX_TRIALS with only a time budget; ``keep_max_trials`` keeps a cap the
    user set. Hyperband gets as many iterations as that many trials could need."""
    if budget_epochs is None and budget_seconds is None:
        return space
    if budget_epochs is not None and budget_epochs < 1:
        raise SpaceError("must be at least 1", field="--budget-epochs")
    if budget_seconds is not None and budget_seconds <= 0:
        raise SpaceError("must be > 0", field="--budget-time")
    from hpsearch.space import MAX_TRIALS

    # every trial trains at least one epoch; past MAX_TRIALS the cap is the trial limit's
    cap = min(budget_epochs, MAX_TRIALS) if budget_epochs is not None else TIME_BUDGET_MAX_TRIALS
    max_trials = space.search.max_trials if keep_max_trials else cap
    hyperband = space.search.hyperband.model_dump() | {"iterations": max(1, max_trials)}
    return space.with_overrides(max_trials=max_trials, hyperband=hyperband)


def make_report(
    *,
    experiment: str | None = None,
    run_ids: Iterable[str] = (),
    tracking_uri: str | None = None,
    output: str | Path | None = None,
    title: str | None = None,
    tags: dict[str, str] | None = None,
    log: bool = True,
    top_k: int = 3,
    artifact_path: str | None = None,
) -> Any:
    """Read searches back from MLflow and write index.html, report.md and trials.csv into
    ``output`` (default ``reports/<experiment>``); with ``log``, store it once in MLflow
    and point each parent run it covers at it (tracking.log_report), under ``artifact_path``
    (default ``reports/<folder name>``: a search's own report, written by ``hpsearch run``,
    is ``report/``). Returns a ``report.Report``; raises tracking.NoSearches."""
    from hpsearch.report import write_report
    from hpsearch.tracking import load_searches, log_report

    ids = list(run_ids)
    searches = load_searches(
        experiment=None if ids else experiment, run_ids=ids, tracking_uri=tracking_uri, tags=tags
    )
    name = _runs_name(searches) if ids else (experiment or searches[0].experiment)
    folder = Path(output) if output else DEFAULT_OUTPUT / name
    made = write_report(searches, folder, title=title or f"hpsearch report: {name}", top_k=top_k)
    if log:
        path = artifact_path or f"reports/{folder.resolve().name}"
        log_report([s.run_id for s in searches], folder, path, tracking_uri)
    return made


def _runs_name(searches: list[Any]) -> str:
    if len({s.experiment for s in searches}) == 1 and len(searches) > 1:
        return f"{searches[0].experiment}-runs-{searches[0].run_id[:8]}"
    return f"{searches[0].experiment}-{searches[0].run_id[:8]}"


def best(
    *,
    experiment: str | None = None,
    run_id: str | None = None,
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    """The best finished trial of an experiment (or of one parent run): its params, its
    value, its runs and the URI of the model logged for it. Raises tracking.NoSearches."""
    import math

    from hpsearch.tracking import NoSearches, load_searches

    searches = load_searches(
        experiment=None if run_id else experiment,
        run_ids=[run_id] if run_id else [],
        tracking_uri=tracking_uri,
        curves=False,
    )
    top: tuple[Any, Any] | None = None
    for s in searches:
        f = s.trials
        if f.empty:
            continue
        ok = finished_rows(f)
        for _, row in ok.iterrows():
            value = float(row["objective"])
            if not math.isfinite(value):
                continue
            if is_better(value, top[1]["objective"] if top else None, s.direction):
                top = (s, row)
    if top is None:
        where = f"run {run_id}" if run_id else f"experiment '{experiment}'"
        raise NoSearches(f"{where} has no finished trial")
    s, row = top
    params = {
        c[7:]: plain(row[c]) for c in row.index if c.startswith("params.") and row[c] == row[c]
    }
    logged = parse_logged(s.space_text)
    searched, fixed = split_params(logged.searched_names() if logged else [], params)
    is_logged = s.tags.get("hpsearch.best_trial_id") == row["trial_id"]
    return {
        "experiment": s.experiment,
        "parent_run_id": s.run_id,
        "trial_run_id": row["run_id"],
        "trial_id": row["trial_id"],
        "strategy": s.strategy,
        "backend": s.backend,
        "metric": s.metric,
        "direction": s.direction,
        "value": float(row["objective"]),
        "epochs": plain(row["epochs"]),
        "params": {**searched, **fixed},
        "searched": list(searched),
        "model_uri": s.model_uri if is_logged else None,
    }
