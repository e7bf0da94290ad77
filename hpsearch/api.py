"""The Python API: run a search end to end, and read trial tables back from MLflow.

This is the one place that wires space → data → backend → trial table → tracking; the CLI
is a shell over it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.space import Space, SpaceError, check_objective, load_space
from hpsearch.trials import CallbackList, SearchCallback, TrialResult, best_of, to_frame

if TYPE_CHECKING:
    import pandas as pd

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

    def as_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "parent_run_id": self.parent_run_id,
            "trials": len(self.frame),
            "finished": int((self.frame["status"] == "FINISHED").sum()) if len(self.frame) else 0,
            "best_value": self.best.objective if self.best else None,
            "best_params": self.best.params if self.best else None,
            "best_trial_id": self.best.trial_id if self.best else None,
            "best_model_uri": self.best_model_uri,
            "trials_csv": str(self.trials_csv),
            "tracking_uri": self.tracking_uri,
        }


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
    return space.with_overrides(
        strategy=strategy, backend=backend, max_trials=max_trials, seed=seed, epochs=epochs
    )


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


class TooManyFailures(RuntimeError):
    """``max_failures`` trials failed: the search stops instead of burning the budget."""


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
) -> SearchSummary:
    """Load the data once, run the backend, record every trial in MLflow, write trials.csv.

    With ``resume``, the latest unfinished search of the same space, strategy, backend,
    seed and output folder continues under its parent run: finished trials are kept, the
    interrupted ones are marked FAILED and run again, and ``max_trials`` counts them all.
    """
    from hpsearch.backends.base import get_backend
    from hpsearch.data import dump_preprocessing, load_dataset
    from hpsearch.tracking import MlflowTracker

    base_dir = space.source.parent if space.source else None
    data = load_dataset(space.dataset, space.search.seed, base_dir)
    check_objective(space.objective.metric, data.task)  # file datasets: task known only now

    tracker = MlflowTracker(space, tracking_uri=tracking_uri, experiment=experiment)
    notes: list[str] = []
    parent = tracker.find_resumable(Path(output)) if resume else None
    parent_resumed = parent is not None
    if parent:
        interrupted = tracker.resume(parent)
        notes.append(
            f"resumed parent run {parent}"
            + (
                f"; interrupted trial(s) {', '.join(interrupted)} marked FAILED"
                if interrupted
                else ""
            )
        )
    else:
        if resume:
            notes.append("--resume: no unfinished search of this space here; started a new one")
        parent = tracker.start(command or _command_line(), Path(output))
    workdir = Path(output) / tracker.experiment / parent
    workdir.mkdir(parents=True, exist_ok=True)
    journal = Journal(workdir / "trials.jsonl")
    previous = journal.load() if resume else []
    if parent_resumed:
        synced = tracker.replay(previous)
        if synced:
            notes.append(f"logged {synced} trial(s) from the journal that MLflow had missed")
    limit = max_failures or default_max_failures(space.search.max_trials)
    failures = _FailureLimit(limit, sum(not r.finished for r in previous))
    engine = get_backend(space.search.backend, verbose=verbose, **(options or {}))
    events = CallbackList([journal, tracker, *callbacks, failures])
    error: BaseException | None = None
    try:
        kwargs: dict[str, Any] = {"resume": bool(resume and parent_resumed)}
        if space.search.backend == "ray":  # Ray's restored state may lag the journal
            kwargs["done"] = frozenset(r.trial_id for r in previous)
        outcome = engine.run(space, data, workdir, events, **kwargs)
    except KeyboardInterrupt:
        tracker.fail("interrupted", killed=True)
        raise
    except TooManyFailures as exc:
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
    model_uri = tracker.finish(best, trials_csv, model, data.x_valid[:5], (prep,))
    warnings = [*notes, *outcome.warnings]
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
    )


class SearchFailed(RuntimeError):
    """The search stopped early (e.g. too many failed trials); what ran is in trials_csv."""

    def __init__(self, message: str, *, trials_csv: Path, parent_run_id: str) -> None:
        super().__init__(message)
        self.trials_csv, self.parent_run_id = trials_csv, parent_run_id


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
    space = prepare(
        space_or_path,
        strategy=strategy,
        backend=backend,
        max_trials=max_trials,
        epochs=epochs,
        seed=seed,
    )
    summary = run_search(
        space,
        tracking_uri=tracking_uri,
        experiment=experiment,
        output=output,
        callbacks=callbacks,
        verbose=verbose,
        options=backend_options(space.search.backend, **options),
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
