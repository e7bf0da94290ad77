"""The Python API: run a search end to end, and read trial tables back from MLflow.

This is the one place that wires space → data → backend → trial table → tracking; the CLI
is a shell over it.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.space import Space, SpaceError, check_objective, load_space
from hpsearch.trials import CallbackList, SearchCallback, TrialResult, to_frame

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
    "keras-tuner": {"workers": "--workers", "gpus": "--gpus"},
    "ray": {
        "address": "--address",
        "max_concurrent": "--max-concurrent",
        "cpus_per_trial": "--cpus-per-trial",
        "gpus_per_trial": "--gpus-per-trial",
        "time_budget_s": "--time-budget",
        "gpus": "--gpus",
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
) -> SearchSummary:
    """Load the data once, run the backend, record every trial in MLflow, write trials.csv."""
    from hpsearch.backends.base import get_backend
    from hpsearch.data import dump_preprocessing, load_dataset
    from hpsearch.tracking import MlflowTracker

    base_dir = space.source.parent if space.source else None
    data = load_dataset(space.dataset, space.search.seed, base_dir)
    check_objective(space.objective.metric, data.task)  # file datasets: task known only now

    tracker = MlflowTracker(space, tracking_uri=tracking_uri, experiment=experiment)
    parent = tracker.start(command or _command_line())
    workdir = Path(output) / tracker.experiment / parent
    workdir.mkdir(parents=True, exist_ok=True)
    engine = get_backend(space.search.backend, verbose=verbose, **(options or {}))
    events = CallbackList([tracker, *callbacks])
    try:
        outcome = engine.run(space, data, workdir, events)
    except KeyboardInterrupt:
        tracker.fail("interrupted", killed=True)
        raise
    except BaseException as exc:
        tracker.fail(f"{type(exc).__name__}: {exc}")
        raise
    frame = to_frame(outcome.results)
    trials_csv = workdir / "trials.csv"
    frame.to_csv(trials_csv, index=False)
    best = outcome.best
    model = outcome.load_best_model() if (best and log_model and outcome.load_best_model) else None
    prep = dump_preprocessing(data, workdir / "preprocessing.json")
    model_uri = tracker.finish(best, trials_csv, model, data.x_valid[:5], (prep,))
    return SearchSummary(
        experiment=tracker.experiment,
        parent_run_id=parent,
        frame=frame,
        trials_csv=trials_csv,
        workdir=workdir,
        tracking_uri=tracker.tracking_uri,
        best=best,
        best_model_uri=model_uri,
        warnings=outcome.warnings,
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
    **options: Any,
) -> pd.DataFrame:
    """Run one search and return its trial table.

    The frame's ``attrs`` carry ``experiment``, ``parent_run_id``, ``trials_csv``,
    ``best_value`` and ``best_params``. Other keyword arguments are backend options
    (``workers``, ``gpus`` for Keras Tuner; ``address``, ``max_concurrent``,
    ``cpus_per_trial``, ``gpus_per_trial``, ``time_budget_s`` for Ray).
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
