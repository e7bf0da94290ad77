"""Flags and a space in, one validated SearchRequest out, before anything is created.

An input error must leave nothing behind: no MLflow run, no folder. So the flags, the
engine's options (which engine takes which is the registry's, hpsearch.backends), the
budgets, the tracking URI, the experiment name and the output folder are all checked here,
with nothing heavier than the space schema, before the MLflow parent run exists.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.backends import cluster_address, engine, option_owner, preflight
from hpsearch.space import MAX_TRIALS, Space, SpaceError, load_space, short
from hpsearch.trials import SearchCallback

if TYPE_CHECKING:
    from hpsearch.tabular import DataSummary

DEFAULT_OUTPUT = Path("reports")

#: Tracking URI schemes MLflow itself serves (plugins add theirs through entry points).
TRACKING_SCHEMES = ("http", "https", "file", "sqlite", "postgresql", "mysql", "mssql",
                    "databricks", "databricks-uc", "uc")  # fmt: skip
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def check_destination(tracking_uri: str | None, experiment: str, output: Path) -> None:
    """Raise SpaceError (naming the flag) for a tracking URI of an unknown scheme, an
    experiment name that is empty or would leave ``output``, or an output folder that cannot
    be created or written. Creates nothing."""
    check_tracking_uri(tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"))
    check_experiment(experiment)
    check_output(output)


def check_tracking_uri(uri: str | None, flag: str = "--tracking-uri") -> None:
    if not uri:
        return
    match = _SCHEME.match(uri)
    if match is None:
        if ":" in uri.split("/")[0] and not re.match(r"^[A-Za-z]:[\\/]", uri):
            raise SpaceError(f"{short(uri)} is not a URI (scheme://...)", field=flag)
        return  # a plain path: MLflow's file store
    scheme = match.group(1).lower()
    base = scheme.split("+")[0]  # postgresql+psycopg2
    if base in TRACKING_SCHEMES or scheme in _plugin_schemes():
        return
    raise SpaceError(
        f"unknown scheme '{short(scheme, 40)[1:-1]}' in {short(uri)}; use sqlite:///PATH, "
        "http(s)://HOST:PORT, postgresql://..., mysql://... or a folder",
        field=flag,
    )


def _plugin_schemes() -> set[str]:
    from importlib.metadata import entry_points

    return {ep.name for ep in entry_points(group="mlflow.tracking_store")}


def check_experiment(name: str, flag: str = "--experiment") -> None:
    """An experiment name becomes a folder under --output: it must stay inside it."""
    if not name or not name.strip():
        raise SpaceError("the experiment name is empty", field=flag)
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith(".."):
        raise SpaceError(
            f"{short(name)} would write outside --output; an experiment name has no '/' and "
            "does not start with '..'",
            field=flag,
        )
    if any(ord(c) < 32 for c in name) or len(name) > 200:
        raise SpaceError(f"{short(name)}: use printable characters, at most 200", field=flag)


def check_output(output: Path, flag: str = "--output") -> None:
    """``output`` exists as a writable folder, or can be created in one."""
    path = Path(output).expanduser().absolute()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise SpaceError(f"{probe} is not a folder, so {output} cannot be created", field=flag)
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "written" if probe == path else "created"
        raise SpaceError(f"{output} cannot be {what}: no write permission on {probe}", field=flag)


def check_tensorboard(folder: Path, flag: str = "--tensorboard") -> None:
    """``folder`` is a writable folder for TensorBoard's files, or can be made in one."""
    path = Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise SpaceError(f"{folder} is a file, not a folder for TensorBoard's files", field=flag)
    check_output(path, flag)


def checked_tensorboard(space: Space, flag: str | Path | None) -> Path | None:
    """The TensorBoard folder, checked: ``--tensorboard``, else the space's
    ``tracking.tensorboard`` (relative to the working directory; its errors name its line)."""
    if flag is not None:
        check_tensorboard(Path(flag))
        return Path(flag).expanduser()
    if not space.tracking.tensorboard:
        return None
    folder = Path(space.tracking.tensorboard).expanduser()
    try:
        check_tensorboard(folder, "tracking.tensorboard")
    except SpaceError as exc:
        raise space.error_at("tracking.tensorboard", exc.problem) from None
    return folder


def prepare(
    space_or_path: Space | str | Path,
    *,
    strategy: str | None = None,
    backend: str | None = None,
    max_trials: int | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    pruner: str | None = None,
) -> Space:
    """Load a space (if given a path) and apply overrides; raises SpaceError on bad input.
    ``pruner`` is ``--pruner``: median (the file's pruner settings, if it has a pruner) or
    none."""
    space = space_or_path if isinstance(space_or_path, Space) else load_space(space_or_path)
    space = space.with_overrides(
        strategy=strategy,
        backend=backend,
        max_trials=max_trials,
        seed=seed,
        epochs=epochs,
        pruner=pruner_override(space, pruner),
    )
    if space.search.strategy == "grid":  # a grid runs every configuration, once
        space = space.with_overrides(max_trials=space.size())
    return space


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
    pruner: str | None = None,
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
        pruner=pruner,
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


def backend_options(backend: str, **options: Any) -> dict[str, Any]:
    """The options given (not None) for ``backend``; one meant for another engine is a
    SpaceError naming its flag, so ``--workers`` on Ray fails loudly instead of being
    ignored. Which engine takes which option is the registry's (hpsearch.backends)."""
    given = {k: v for k, v in options.items() if v is not None}
    allowed = engine(backend).options
    for key in given:
        if key not in allowed:
            try:
                other, flag = option_owner(key)
            except KeyError:  # not an option of any engine: a caller's typo, as Python says it
                raise TypeError(
                    f"unexpected keyword argument {key!r} (no engine takes it)"
                ) from None
            raise SpaceError(f"applies to --backend {other}, not {backend}", field=flag)
    if given.get("retries", 0) < 0:
        raise SpaceError("must be >= 0", field="--retries")
    for key in ("workers", "max_concurrent"):
        if key in given and given[key] < 1:
            raise SpaceError("must be at least 1", field=allowed[key])
    for key in ("cpus_per_trial", "time_budget_s"):
        if key in given and given[key] <= 0:
            raise SpaceError("must be > 0", field=allowed[key])
    if engine(backend).clustered and given.get("gpus") is not None and cluster_address(given):
        raise SpaceError(
            "a cluster's GPUs are Ray's to schedule; use --gpus-per-trial", field="--gpus"
        )
    if "gpus_per_trial" in given and given["gpus_per_trial"] < 0:
        raise SpaceError("must be >= 0", field="--gpus-per-trial")
    return given


def check_budget_options(space: Space, options: dict[str, Any]) -> None:
    """Budgets stop the trial source in this process; say so where it lives elsewhere."""
    if (options.get("workers") or 1) > 1:
        raise SpaceError(
            "a budget needs one Keras Tuner process (drop --workers)", field="--budget"
        )
    if engine(space.search.backend).clustered and cluster_address(options).startswith("ray://"):
        raise SpaceError(
            "a budget cannot stop a search run through Ray Client (ray://); "
            "submit it as a Ray job instead",
            field="--budget",
        )


def pruner_override(space: Space, flag: str | None) -> Any:
    """What ``--pruner`` sets: None (no flag: the file's), the file's own pruner settings for
    ``median`` when it has a pruner (its warm-up and min_trials stay), else the flag as given
    (the schema refuses an unknown one, naming --pruner)."""
    if flag == "median" and space.search.pruner is not None:
        return space.search.pruner.model_dump()
    return flag


def check_pruner_options(space: Space, options: dict[str, Any]) -> None:
    """The pruner judges every epoch where the Tune controller runs, which under Ray Client
    is the cluster, out of this process's reach (as a budget's stopper)."""
    if engine(space.search.backend).clustered and cluster_address(options).startswith("ray://"):
        raise SpaceError(
            "a pruner cannot stop trials of a search run through Ray Client (ray://); "
            "submit it as a Ray job instead",
            field="--pruner",
        )


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
    user set. Hyperband gets as many iterations as that many trials could need. The i-epoch
    baseline samples as many configurations as the epoch budget pays for instead."""
    if budget_epochs is None and budget_seconds is None:
        return space
    if budget_epochs is not None and budget_epochs < 1:
        raise SpaceError("must be at least 1", field="--budget-epochs")
    if budget_seconds is not None and budget_seconds <= 0:
        raise SpaceError("must be > 0", field="--budget-time")
    if space.search.strategy == "i-epoch":
        return _i_epoch_budgeted(space, budget_epochs, keep_max_trials)
    # every trial trains at least one epoch; past MAX_TRIALS the cap is the trial limit's
    cap = min(budget_epochs, MAX_TRIALS) if budget_epochs is not None else TIME_BUDGET_MAX_TRIALS
    max_trials = space.search.max_trials if keep_max_trials else cap
    hyperband = space.search.hyperband.model_dump() | {"iterations": max(1, max_trials)}
    return space.with_overrides(max_trials=max_trials, hyperband=hyperband)


def _i_epoch_budgeted(space: Space, budget_epochs: int | None, keep_max_trials: bool) -> Space:
    """The i-epoch baseline samples as many configurations as the epoch budget pays for
    whole: N = floor(B / (i + keep * (E - i))), so that the search spends about B epochs and
    the budget never ends it in the middle of its first round (the epoch budget still cuts
    a continued trial that the rounding of k makes run over). A time budget cannot be turned
    into N: max_trials stays as it is, and the time budget only stops the search early."""
    if budget_epochs is None:
        return space
    i, keep, full = space.search.i_epoch.epochs, space.search.i_epoch.keep, space.full_epochs()
    sampled = max(1, min(MAX_TRIALS, math.floor(budget_epochs / (i + keep * (full - i)) + 1e-9)))
    if keep_max_trials:
        sampled = min(sampled, space.search.max_trials)
    return space.with_overrides(max_trials=sampled)


@dataclass
class SearchRequest:
    """One search, as asked for: the space with its flags applied, where it writes, the
    engine's options, its budgets and limits, and who hears about it. ``check()`` refuses
    what cannot run (SpaceError naming the flag) before anything is created."""

    space: Space
    tracking_uri: str | None = None
    experiment: str | None = None
    output: Path = DEFAULT_OUTPUT
    callbacks: Iterable[SearchCallback] = ()
    verbose: bool = False
    log_model: bool = True
    command: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    resume: bool = False
    max_failures: int | None = None
    budget_epochs: int | None = None
    budget_seconds: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    resume_run: str | None = None
    warm_start: str | None = None
    on_data: Callable[[DataSummary], None] | None = None
    on_status: Callable[[str], None] | None = None
    on_warning: Callable[[str], None] | None = None
    tensorboard: Path | None = None  # --tensorboard; else the space's tracking.tensorboard

    @property
    def budgeted(self) -> bool:
        return self.budget_epochs is not None or self.budget_seconds is not None

    @property
    def tensorboard_dir(self) -> Path | None:
        """Where TensorBoard's files go: the flag, else the space's (relative to the cwd);
        checked again (a stat or two) rather than worked out a second way."""
        return checked_tensorboard(self.space, self.tensorboard)

    @property
    def experiment_name(self) -> str:
        return self.space.name if self.experiment is None else self.experiment

    def check(self) -> None:
        """What needs no data and no store: budgets against the engine's options, a warm
        start's strategy, where the search writes, and that the cluster lets us in."""
        if self.budgeted:
            check_budget_options(self.space, self.options)
        if self.space.search.pruner is not None:
            check_pruner_options(self.space, self.options)
        if self.warm_start and self.space.search.strategy not in ("bayesian", "tpe"):
            raise SpaceError(
                f"warm start seeds a bayesian or tpe search, not {self.space.search.strategy}",
                field="--warm-start",
            )
        check_destination(self.tracking_uri, self.experiment_name, self.output)
        checked_tensorboard(self.space, self.tensorboard)
        preflight(self.space.search.backend, self.options)  # a cluster that refuses us
