"""The Python API: run a search end to end, and read trial tables back from MLflow.

This is the one place that wires space → data → backend → trial table → tracking; the CLI
is a shell over it. A search is planned (plan.py: flags and space into one checked
SearchRequest), then executed in three steps: open its parent run, run the engine with the
search's callbacks (callbacks.py), close the run.
"""

from __future__ import annotations

import math
import shlex
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.backends.base import Backend, SearchOutcome
from hpsearch.callbacks import (
    EpochBudget,
    FailureLimit,
    Journal,
    Resumed,
    TimeBudget,
    default_max_failures,
)
from hpsearch.errors import BuilderError, SearchFailed, SearchStalled, SpaceError, TooManyFailures
from hpsearch.plan import (  # noqa: F401 - re-exported: callers plan a search through api
    DEFAULT_OUTPUT,
    TIME_BUDGET_MAX_TRIALS,
    SearchRequest,
    backend_options,
    budgeted_space,
    plan_search,
    prepare,
)
from hpsearch.pruning import MedianPruner
from hpsearch.space import Space, parse_logged
from hpsearch.trials import (
    PRUNED,
    SearchCallback,
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
            "pruned": int((self.frame["status"] == PRUNED).sum()) if len(self.frame) else 0,
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
    from hpsearch.wide_deep import model_columns

    model_columns(space, data)  # Wide & Deep's columns name the data's own: checked here
    return data, space


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
    tensorboard: str | Path | None = None,
) -> SearchSummary:
    """Load the data once, run the backend, record every trial in MLflow, write trials.csv.

    ``budget_epochs`` / ``budget_seconds`` stop the search early, before ``max_trials``,
    once that many epochs were trained or seconds passed (see callbacks.EpochBudget).
    ``tags`` go on the parent run (``compare`` and ``sweep`` mark their searches with them).
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

    ``tensorboard`` (else the space's ``tracking.tensorboard``) is a folder for TensorBoard
    files: the search's HParams view (hpsearch.tracking.tensorboard).
    """
    request = SearchRequest(
        space,
        tracking_uri=tracking_uri,
        experiment=experiment,
        output=Path(output),
        callbacks=callbacks,
        verbose=verbose,
        log_model=log_model,
        command=command,
        options=dict(options or {}),
        resume=resume,
        max_failures=max_failures,
        budget_epochs=budget_epochs,
        budget_seconds=budget_seconds,
        tags=dict(tags or {}),
        resume_run=resume_run,
        warm_start=warm_start,
        on_data=on_data,
        on_status=on_status,
        on_warning=on_warning,
        tensorboard=Path(tensorboard) if tensorboard is not None else None,
    )
    return execute(request)


def execute(request: SearchRequest) -> SearchSummary:
    """A search in three steps: open its parent run, run the engine, close the run. Any
    exception after the open (the engine's, a TensorBoard writer that cannot be made, the
    best model failing to load) marks the parent FAILED, or KILLED on Ctrl+C or SIGTERM."""
    request.check()
    search = _open(request)
    try:
        outcome, error, events = _run_engine(request, search)
        return _close(request, search, outcome, error, events)
    except KeyboardInterrupt:  # marks the parent KILLED (resumable) unless already closed
        search.tracker.fail("interrupted", killed=True)
        raise
    except BaseException as exc:  # e.g. the best model failing to load: FAILED, not RUNNING
        search.tracker.fail(f"{type(exc).__name__}: {exc}")
        raise


@dataclass
class _OpenSearch:
    """A search whose parent run is open: what the engine and the close step need."""

    space: Space
    data: Dataset
    tracker: Any  # tracking.MlflowTracker
    parent: str
    resumed: bool
    workdir: Path
    journal: Journal
    previous: list[TrialResult]
    warm: list[tuple[dict[str, Any], float]]
    tags: dict[str, str]  # the request's, and a warm start's
    notes: list[str]
    warn: Callable[[str], None]


def _open(request: SearchRequest) -> _OpenSearch:
    """Everything before the first trial, in the order a user sees it: the store answers,
    the builder imports, the data loads, then the parent run opens (new or resumed)."""
    from hpsearch.data import finite_json
    from hpsearch.tracking import MlflowTracker, preflight, resolve_tracking_uri, store_label

    notes: list[str] = []
    status = request.on_status or (lambda text: None)
    warn = request.on_warning or notes.append
    preflight(resolve_tracking_uri(request.tracking_uri))  # an unreachable server: at once
    if request.space.builder:
        _check_builder(request.space, request.verbose, status)
    status(f"loading data: {request.space.dataset.name}")
    data, space = load_data(request.space)
    if request.on_data is not None and data.info is not None:
        request.on_data(data.info)
    cut = space.hyperband_cap()[1]
    if cut:
        warn(cut)
    status(f"opening the MLflow store: {store_label(resolve_tracking_uri(request.tracking_uri))}")
    tracker = MlflowTracker(space, tracking_uri=request.tracking_uri, experiment=request.experiment)
    warm = _warm_start(request, space, tracker, warn)
    tags = dict(request.tags)
    if request.warm_start:
        tags |= {"hpsearch.warm_start": request.warm_start, "hpsearch.warm_trials": str(len(warm))}
    parent, resumed = _open_parent(request, tracker, warn)
    if data.info is not None:
        tracker.log_json("data_summary.json", finite_json(data.info.as_json()))
    workdir = request.output / tracker.experiment / parent
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # checked before the run began; the disk may still say no
        tracker.fail(f"cannot create {workdir}: {exc.strerror or exc}")
        raise SpaceError(
            f"cannot create {workdir}: {exc.strerror or exc}", field="--output"
        ) from None
    journal = Journal(workdir / "trials.jsonl")
    previous = journal.load() if resumed else []  # a new parent's journal is empty
    if resumed:
        synced = tracker.replay(previous)
        if synced:
            warn(f"logged {synced} trial(s) from the journal that MLflow had missed")
    return _OpenSearch(
        space, data, tracker, parent, resumed, workdir, journal, previous, warm, tags, notes, warn
    )


def _check_builder(space: Space, verbose: bool, status: Callable[[str], None]) -> None:
    """Fail before any training: a typo in a builder would fail every trial."""
    from hpsearch.builders import check_builder
    from hpsearch.model import load_builder

    status(f"importing the builder {space.builder}")
    try:  # checked before anything is imported; imported without TF's start-up lines
        check_builder(str(space.builder), space.builder_dirs(), declared=list(space.params))
        load_builder(str(space.builder), space.builder_dirs(), verbose=verbose)
    except BuilderError as exc:
        raise space.error_at("builder", str(exc)) from None


def _warm_start(
    request: SearchRequest, space: Space, tracker: Any, warn: Callable[[str], None]
) -> list[tuple[dict[str, Any], float]]:
    """The earlier trials a warm start seeds the search with (tagged on the parent)."""
    if not request.warm_start:
        return []
    warm, skipped = warm_trials(space, request.warm_start, tracker.tracking_uri)
    warn(
        f"warm start from {request.warm_start}: {len(warm)} earlier trial(s) seed the "
        f"{space.search.strategy} search"
        + (f"; {skipped} skipped (outside this space or unfinished)" if skipped else "")
    )
    return warm


def _open_parent(
    request: SearchRequest, tracker: Any, warn: Callable[[str], None]
) -> tuple[str, bool]:
    """The parent run: the one ``resume_run`` names, the latest unfinished one of this
    search with ``resume``, else a new one. Returns (run id, whether it was resumed)."""
    if request.resume_run is not None:
        tracker.check_resumable(request.resume_run)  # SpaceError: another space, not a search
    parent = request.resume_run or (
        tracker.find_resumable(request.output) if request.resume else None
    )
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
        return parent, True
    if request.resume:
        warn("--resume: no unfinished search of this space here; started a new one")
    return tracker.start(request.command or _command_line(), request.output), False


def _run_engine(
    request: SearchRequest, search: _OpenSearch
) -> tuple[SearchOutcome | None, BaseException | None, Resumed]:
    """The engine, with the search's callbacks around the caller's. A failure limit or a
    stall ends the search as a failed one (returned); anything else fails the parent run
    and propagates (an interrupt marks it KILLED)."""
    from hpsearch.backends import load

    space, tracker, previous = search.space, search.tracker, search.previous
    limit = request.max_failures or default_max_failures(space.search.max_trials)
    failures = FailureLimit(limit, sum(r.failed for r in previous))
    backend: Backend = load(space.search.backend, verbose=request.verbose, **request.options)
    budgets = _budgets(request, tracker, previous)
    for key, value in search.tags.items():
        tracker.tag(key, value)
    # the pruner first: engines ask its verdict right after the epoch's event
    pruner = [p] if (p := MedianPruner.for_space(space)) else []
    board: list[Any] = []
    try:
        board = _tensorboard(request, search)  # its folder is named after the parent run
        events = Resumed(
            [*pruner, search.journal, tracker, *board, *request.callbacks, failures, *budgets],
            previous,
        )
        if request.on_status:
            request.on_status(
                f"starting {space.search.backend} (TensorFlow loads in a few seconds)"
            )
        outcome = backend.run(
            space,
            search.data,
            search.workdir,
            events,
            resume=search.resumed,
            warm=search.warm,
            done=frozenset(r.trial_id for r in previous),
        )
        return outcome, None, events
    except (TooManyFailures, SearchStalled) as exc:  # anything else: execute() fails the run
        return None, exc, events
    finally:
        for writer in board:
            writer.close()


def _tensorboard(request: SearchRequest, search: _OpenSearch) -> list[Any]:
    """The TensorBoard writer asked for (none, and nothing imported, when off)."""
    folder = request.tensorboard_dir
    if folder is None:
        return []
    from hpsearch.tracking.tensorboard import tensorboard_for

    return [tensorboard_for(folder, search.space, search.tracker, search.warn)]


def _budgets(
    request: SearchRequest, tracker: Any, previous: list[TrialResult]
) -> list[SearchCallback]:
    """The budget callbacks asked for, each tagged on the parent run."""
    budgets: list[SearchCallback] = []
    if request.budget_epochs is not None:
        budgets.append(EpochBudget(request.budget_epochs, sum(r.epochs for r in previous)))
        tracker.tag("hpsearch.budget_epochs", str(request.budget_epochs))
    if request.budget_seconds is not None:
        budgets.append(TimeBudget(request.budget_seconds))
        tracker.tag("hpsearch.budget_seconds", f"{request.budget_seconds:g}")
    return budgets


def _close(
    request: SearchRequest,
    search: _OpenSearch,
    outcome: SearchOutcome | None,
    error: BaseException | None,
    events: Resumed,
) -> SearchSummary:
    """trials.csv from the journal and the engine's results, then the parent run closed:
    failed (SearchFailed raised), or finished with its best model and preprocessing."""
    from hpsearch.data import dump_preprocessing

    tracker, workdir = search.tracker, search.workdir
    # The journal holds this run's trials and those an earlier, interrupted run finished.
    results = {r.trial_id: r for r in search.journal.load()}
    for r in outcome.results if outcome else []:
        results[r.trial_id] = r
    merged = [results[k] for k in sorted(results)]
    frame = to_frame(merged)
    trials_csv = workdir / "trials.csv"
    frame.to_csv(trials_csv, index=False)
    best = best_of(merged, search.space.objective.direction)
    if error is not None or outcome is None:
        tracker.fail(str(error))
        raise SearchFailed(str(error), trials_csv=trials_csv, parent_run_id=search.parent)
    loader = outcome.load_best_model
    model = loader() if (best and request.log_model and loader) else None
    prep = dump_preprocessing(search.data, workdir / "preprocessing.json")
    model_uri = tracker.finish(best, trials_csv, model, search.data.model_inputs(), (prep,))
    warnings = [*search.notes, *outcome.warnings, *_stop_notes(events, tracker, merged)]
    if tracker.offline:
        warnings.append(
            f"MLflow stopped answering ({tracker.offline}); every trial is kept in "
            f"{trials_csv} and {search.journal.path}: run the same command with --resume to "
            "log the rest once the store is back"
        )
    return SearchSummary(
        experiment=tracker.experiment,
        parent_run_id=search.parent,
        frame=frame,
        trials_csv=trials_csv,
        workdir=workdir,
        tracking_uri=tracker.tracking_uri,
        best=best,
        best_model_uri=model_uri,
        warnings=warnings,
        searched=search.space.searched_names(),
    )


def _stop_notes(events: Resumed, tracker: Any, merged: list[TrialResult]) -> list[str]:
    """Why the search stopped before max_trials, if a budget stopped it (tagged too)."""
    stopped = events.stop_reason()
    if not stopped:
        return []
    tracker.tag("hpsearch.stopped_by", stopped)
    return [f"stopped after {len(merged)} trial(s): {stopped}"]


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
    tensorboard: str | Path | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Run one search and return its trial table.

    The frame's ``attrs`` carry ``experiment``, ``parent_run_id``, ``trials_csv``,
    ``best_value`` and ``best_params``. Other keyword arguments are backend options
    (``workers``, ``gpus``, ``retries`` for Keras Tuner; ``address``, ``max_concurrent``,
    ``cpus_per_trial``, ``gpus_per_trial``, ``time_budget_s``, ``retries`` for Ray).
    See run_search for ``resume``, ``max_failures`` and ``tensorboard``.
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
        tensorboard=tensorboard,
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
        experiment=None if ids else experiment,
        run_ids=ids,
        tracking_uri=tracking_uri,
        tags=tags,
        top_k=top_k,  # the report draws the curves of each search's top_k trials, no more
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
