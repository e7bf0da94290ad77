"""The ``hpsearch`` command: a thin Typer shell over hpsearch's library functions.

Heavy libraries are imported inside the commands that need them, so ``--help`` and
``validate`` never import tensorflow, keras_tuner, ray or mlflow.
"""

from __future__ import annotations

import json
import math
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from hpsearch.backends import BACKENDS, STRATEGIES
from hpsearch.space import Space, SpaceError, load_space
from hpsearch.trials import SearchCallback
from hpsearch.version import __version__

app = typer.Typer(
    name="hpsearch",
    help="Declarative hyperparameter search for Keras MLPs, every trial tracked in MLflow.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

SpaceArg = Annotated[Path, typer.Argument(help="Search-space YAML file.", show_default=False)]
TrackingOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI [default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db]",
        show_default=False,
    ),
]


JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON object on stdout at the end.")
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show Keras, TensorFlow, tuner and MLflow output.")
]
NewExperimentOpt = Annotated[
    str | None,
    typer.Option(help="MLflow experiment [default: the space's name]", show_default=False),
]


def finite(value: Any) -> float:
    """Parser of float flags: refuses nan and inf (float() accepts both, and every
    comparison with nan is False, so a NaN budget would never be spent)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise typer.BadParameter(f"{str(value)[:40]!r} is not a valid number.") from None
    if not math.isfinite(number):
        raise typer.BadParameter(f"{value!r} is not a finite number.")
    return number


#: Set by ``--debug``: ``main()`` lets unexpected exceptions through with their traceback.
_debug = False


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and an exit code: never a traceback for bad input."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hpsearch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show the full traceback of an unexpected error."),
    ] = False,
) -> None:
    """Declarative hyperparameter search for Keras MLPs, every trial tracked in MLflow."""
    global _debug
    _debug = debug


def _load(path: Path) -> Space:
    try:
        return load_space(path)
    except SpaceError as exc:
        fail(str(exc))


@app.command()
def validate(
    space: SpaceArg,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the parsed space as JSON.")
    ] = False,
    data: Annotated[
        bool,
        typer.Option(
            "--data",
            help="Also load the dataset as a search would and summarise what it trains on: "
            "rows, target and task, classes, features, dropped columns, warnings.",
        ),
    ] = False,
) -> None:
    """Check a space file and show its hyperparameters and the size of the space."""
    s = _load(space)
    _check_builder(s)
    summary = None
    if data:
        summary, s = _data_summary(s)
    size = s.size()
    size_text = f"{size:,} configurations" if size is not None else "continuous"
    if as_json:
        params = {k: p.model_dump() | {"kind": type(p).__name__} for k, p in s.params.items()}
        out: dict[str, Any] = {
            "name": s.name,
            "dataset": s.dataset.name,
            "size": size,
            "objective": s.objective.model_dump(),
            "params": params,
            "applies": _section(s),
        }
        if summary is not None:
            out["data"] = summary.as_json()
        typer.echo(json.dumps(out))
        return
    typer.echo(
        f"{space}: ok — {s.name} on {s.dataset.name}, "
        f"{s.objective.direction}imise {s.objective.metric}"
    )
    width = max(len(k) for k in s.params)
    for name, p in s.params.items():
        typer.echo(f"  {name:<{width}}  {p.describe()}")
    search = s.search
    typer.echo(f"space size: {size_text}")
    budget = f"{search.max_trials} trials"
    full = s.hyperband_schedule()
    if full is not None:
        budget = f"{min(full, search.max_trials)} trials (schedule {full}, max_trials caps it)"
    if search.strategy == "grid":
        sides = " x ".join(str(p.count()) for p in s.searched().values())
        budget = f"{size:,} trials (the whole grid: {sides})"
    section = _section(s)
    typer.echo(
        f"search: {search.strategy} on {search.backend}, {budget}, "
        f"{s.training.epochs} epochs, seed {search.seed}"
        + (f"; settings from search.{section}" if section else "")
    )
    if summary is not None:
        for line in summary.lines():
            typer.echo(line)


def _section(s: Space) -> str | None:
    """The search.<strategy> section the chosen strategy reads (others are kept, unused)."""
    return {"hyperband": "hyperband", "bayesian": "bayesian"}.get(s.search.strategy)


def _check_builder(s: Space) -> None:
    """A space's builder is a function of a supported form: checked without running it."""
    if not s.builder:
        return
    from hpsearch.builders import BuilderError, check_builder

    try:
        check_builder(s.builder, s.builder_dirs(), declared=list(s.params))
    except BuilderError as exc:
        fail(str(s.error_at("builder", str(exc))))


def _data_summary(s: Space) -> tuple[Any, Space]:
    """Load the space's dataset as a search would (no TensorFlow) and summarise it."""
    from hpsearch.api import load_data
    from hpsearch.data import DataError

    try:
        loaded, s = load_data(s)
    except DataError as exc:
        fail(str(s.error_at(exc.field, str(exc))))
    except SpaceError as exc:
        fail(str(exc))
    assert loaded.info is not None
    return loaded.info, s


@app.command()
def run(
    space: SpaceArg,
    strategy: Annotated[
        str | None,
        typer.Option(
            help=f"Search strategy: {', '.join(STRATEGIES)} [default: from the file]",
            show_default=False,
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            help=f"Engine: {', '.join(BACKENDS)} [default: from the file]", show_default=False
        ),
    ] = None,
    max_trials: Annotated[
        int | None,
        typer.Option(
            "--max-trials",
            help="Most trials to run (caps Hyperband's schedule too).",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            help="The most epochs any trial trains (early stopping may end it sooner): "
            "training.epochs, and Hyperband's and ASHA's max_epochs too.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.", show_default=False)] = None,
    tracking_uri: TrackingOpt = None,
    experiment: NewExperimentOpt = None,
    output: Annotated[
        Path, typer.Option(help="Output folder: <output>/<experiment>/<parent_run_id>/")
    ] = Path("reports"),
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Keras Tuner: parallel worker processes around one chief oracle.",
            show_default=False,
        ),
    ] = None,
    gpus: Annotated[
        str | None,
        typer.Option(
            help="GPUs: all or ids like 0,1 (Keras Tuner: one worker per GPU; "
            "Ray: one GPU per trial unless --gpus-per-trial).",
            show_default=False,
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray: cluster address (ray://head:10001 or head:6379) [default: "
            "$RAY_ADDRESS, else a local Ray]",
            show_default=False,
        ),
    ] = None,
    max_concurrent: Annotated[
        int | None,
        typer.Option("--max-concurrent", help="Ray: most trials at once.", show_default=False),
    ] = None,
    cpus_per_trial: Annotated[
        float | None,
        typer.Option(
            "--cpus-per-trial",
            help="Ray: CPUs per trial [default: 1]",
            show_default=False,
            parser=finite,
        ),
    ] = None,
    gpus_per_trial: Annotated[
        float | None,
        typer.Option(
            "--gpus-per-trial",
            help="Ray: GPUs per trial; fractions pack trials onto one GPU (0.25: four).",
            show_default=False,
            parser=finite,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the unfinished search of this space and output folder "
            "(finished trials are kept; interrupted ones run again).",
        ),
    ] = False,
    max_failures: Annotated[
        int | None,
        typer.Option(
            "--max-failures",
            help="End the search (exit 1) after this many failed trials "
            "[default: half of max_trials, at least 3]",
            show_default=False,
        ),
    ] = None,
    retries: Annotated[
        int | None,
        typer.Option(
            help="Run a trial that raised again, up to K times (for flaky infrastructure; "
            "a NaN loss is never retried) [default: 0]",
            show_default=False,
        ),
    ] = None,
    resume_run: Annotated[
        str | None,
        typer.Option(
            "--resume-run",
            help="Resume this parent run (a search of the same space, strategy, backend "
            "and seed), as --resume does for the latest one.",
            show_default=False,
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", help="KEY=VALUE tag for the parent run (repeatable).", show_default=False
        ),
    ] = None,
    warm_start: Annotated[
        str | None,
        typer.Option(
            "--warm-start",
            help="Seed a bayesian or tpe search with the finished trials of an earlier search "
            "(its parent run id) or of an experiment (its name).",
            show_default=False,
        ),
    ] = None,
    final_fit: Annotated[
        bool,
        typer.Option(
            "--final-fit",
            help="After the search, retrain the best config on train+valid, score it once on "
            "the test split, and register it in the MLflow Model Registry (see refit).",
        ),
    ] = False,
    with_report: Annotated[
        bool,
        typer.Option(
            "--report/--no-report",
            help="Write the search's report into <output>/<experiment>/<run>/report/ and "
            "log it on the parent run.",
        ),
    ] = True,
    budget_epochs: Annotated[
        int | None,
        typer.Option(
            "--budget-epochs",
            help="Stop once this many epochs were trained across all trials (the running "
            "trial ends after that epoch); lifts max_trials unless --max-trials is given.",
            show_default=False,
        ),
    ] = None,
    budget_time: Annotated[
        float | None,
        typer.Option(
            "--budget-time",
            "--time-budget",
            help="Stop after this many seconds of searching, as --budget-epochs does.",
            show_default=False,
            parser=finite,
        ),
    ] = None,
) -> None:
    """Run a search; record a parent run and one child run per trial in MLflow."""
    from hpsearch.api import SearchFailed, plan_search, run_search
    from hpsearch.data import DataError
    from hpsearch.gpus import parse_gpus
    from hpsearch.progress import ProgressDisplay
    from hpsearch.tracking import TrackingUnavailable

    if not space.exists() or space.is_dir():
        _load(space)  # the same one-line message as validate
    try:
        s, options = plan_search(
            space,
            strategy=strategy,
            backend=backend,
            max_trials=max_trials,
            epochs=epochs,
            seed=seed,
            budget_epochs=budget_epochs,
            budget_seconds=budget_time,
            max_failures=max_failures,
            workers=workers,
            gpus=parse_gpus(gpus),
            address=address,
            max_concurrent=max_concurrent,
            cpus_per_trial=cpus_per_trial,
            gpus_per_trial=gpus_per_trial,
            retries=retries,
        )
        tags = _parse_tags(tag or [])
    except (SpaceError, ValueError) as exc:
        fail(str(exc))
    display = ProgressDisplay(sys.stderr, budget_epochs=budget_epochs)
    signal.signal(signal.SIGTERM, _terminate)  # cron, Kubernetes: stop cleanly, resumable
    signal.signal(signal.SIGINT, _interrupt)  # Ctrl+C: the same, and never lost
    _hint_resume("run")
    sys.unraisablehook = _quiet_unraisable
    try:
        summary = run_search(
            s,
            tracking_uri=tracking_uri,
            experiment=experiment,
            output=output,
            callbacks=[display, _TerminationCheck()],
            verbose=verbose,
            options=options,
            resume=resume,
            max_failures=max_failures,
            budget_epochs=budget_epochs,
            budget_seconds=budget_time,
            tags=tags,
            resume_run=resume_run,
            warm_start=warm_start,
            on_data=_print_data,
            on_status=_print_status,
            on_warning=_print_warning,
        )
    except DataError as exc:  # found once the data is read: point at the setting's line
        fail(str(s.error_at(exc.field, str(exc))))
    except SpaceError as exc:
        flag = exc.file or not exc.field or exc.field.startswith("--")  # a flag: no line
        fail(str(exc if flag else s.error_at(exc.field or "", exc.problem)))
    except TrackingUnavailable as exc:
        fail(str(exc), code=1)
    except SearchFailed as exc:
        fail(f"search stopped: {exc} (trials so far: {exc.trials_csv})", code=1)
    finally:
        display.close()
    _resume_hint[:] = [  # the search is FINISHED: --resume would start another one
        f"the search had finished (parent run {summary.parent_run_id}); "
        f"hpsearch refit {summary.parent_run_id} / hpsearch report --run-id "
        f"{summary.parent_run_id} make what was left"
    ]
    refit = _final_fit(summary, verbose) if final_fit else None
    report_html = _search_report(summary) if with_report else None
    for warning in summary.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        extra: dict[str, Any] = {"report": report_html}
        if refit is not None:
            extra["final_fit"] = refit
        typer.echo(json.dumps(summary.as_json() | extra, default=str))
        return
    _print_top(summary.frame, s)
    searched, fixed = summary.best_params()
    typer.echo(f"\nbest: {json.dumps(searched, default=str)}")
    if verbose and fixed:
        typer.echo(f"fixed: {json.dumps(fixed, default=str)}")
    typer.echo(f"trials: {summary.trials_csv}")
    if refit is not None:
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in refit["test_metrics"].items())
        typer.echo(f"final fit: {metrics}; model {refit['registered_uri'] or refit['model_uri']}")
    if report_html:
        typer.echo(f"report: {report_html}")
    typer.echo(
        f"mlflow: experiment '{summary.experiment}', parent run {summary.parent_run_id} "
        f"at {summary.as_json()['tracking_uri']} (open it with: hpsearch ui)"
    )


def _print_status(text: str) -> None:
    """What the run is doing before its first trial, for someone watching a terminal (a
    log or a pipe gets the data summary and the trials, and an error as its one line)."""
    if sys.stderr.isatty():
        typer.echo(f"{text} ...", err=True)


def _print_warning(text: str) -> None:
    typer.echo(f"warning: {text}", err=True)


def _print_data(summary: Any) -> None:
    """The data summary in one or two lines, and its warnings, before training starts."""
    for line in summary.brief():
        typer.echo(line, err=True)
    for warning in summary.warnings:
        typer.echo(f"warning: {warning}", err=True)


def _parse_tags(items: list[str]) -> dict[str, str]:
    tags = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpaceError(f"expected KEY=VALUE, got {item!r}", field="--tag")
        tags[key.strip()] = value
    return tags


TERMINATED = "terminated (SIGTERM)"
#: How the command that was stopped picks up again; set by the commands that can.
_resume_hint: list[str] = []


def _stopped(terminated: bool) -> str:
    """The line printed when Ctrl+C or SIGTERM stops a command: what happened, and how to
    continue."""
    head = TERMINATED if terminated else "interrupted"
    return f"{head}: {_resume_hint[0]}" if _resume_hint else head


def _hint_resume(command: str) -> None:
    """From here on, a stop says: the search is KILLED, its running trial FAILED, and
    ``command --resume`` continues it."""
    argv = [a for a in sys.argv[1:] if a != "--resume"]
    again = shlex.join(["hpsearch", *argv, "--resume"])
    _resume_hint[:] = [
        f"the search is marked KILLED and its running trial FAILED; continue it with: {again}"
        if command == "run"
        else f"run the same command again to continue: {shlex.join(['hpsearch', *argv])}"
    ]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the search is: it unwinds like Ctrl+C, so the parent run and
    its running trials are marked KILLED and ``--resume`` picks the search up."""


class Interrupted(KeyboardInterrupt):
    """Ctrl+C (SIGINT), raised where the search is, as Python's own handler does, but
    remembered, so that a raise swallowed on the way is raised again (see below)."""


_terminated: list[int] = []
_interrupted: list[int] = []


def _terminate(signum: int, frame: Any) -> None:
    _terminated.append(signum)
    raise Terminated()


def _interrupt(signum: int, frame: Any) -> None:
    _interrupted.append(signum)
    raise Interrupted()


def _quiet_unraisable(info: Any) -> None:
    """Drop the "Exception ignored in ..." report of a swallowed stop (see below)."""
    if not isinstance(info.exc_value, (Terminated, Interrupted)):
        sys.__unraisablehook__(info)


class _TerminationCheck(SearchCallback):
    """Raises the stop again at the next epoch if the signal handler's own raise was
    swallowed: a handler runs wherever the main thread is, a weakref callback or a
    ``__del__`` included, where Python only prints what it raises (a Ctrl+C lost so let a
    search run to its end)."""

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        self._check()

    def on_trial_end(self, result: Any) -> None:
        self._check()

    @staticmethod
    def _check() -> None:
        if _terminated:
            raise Terminated()
        if _interrupted:
            raise Interrupted()


def _final_fit(summary: Any, verbose: bool) -> dict[str, Any]:
    """``--final-fit``: refit the best trial of the search just run (see hpsearch.refit)."""
    from hpsearch.data import DataError
    from hpsearch.refit import RefitFailed, final_fit
    from hpsearch.tracking import NoSearches, TrackingUnavailable

    try:
        result = final_fit(
            summary.parent_run_id, tracking_uri=summary.tracking_uri, verbose=verbose
        )
    except (NoSearches, SpaceError, DataError) as exc:
        fail(f"--final-fit: {exc}")
    except (TrackingUnavailable, RefitFailed) as exc:
        fail(f"--final-fit: {exc}", code=1)
    return result.as_json()


def _search_report(summary: Any) -> str | None:
    """The one-search report, logged on the parent run; a report that cannot be made is a
    warning, never a failed search (its trials are safe in MLflow and trials.csv)."""
    from hpsearch.api import make_report

    if any(w.startswith("MLflow stopped answering") for w in summary.warnings):
        return None  # the report reads MLflow: --resume re-syncs it first
    try:
        made = make_report(
            run_ids=[summary.parent_run_id],
            tracking_uri=summary.tracking_uri,
            output=summary.workdir / "report",
            artifact_path="report",
            title=f"hpsearch report: {summary.experiment} / {summary.parent_run_id[:8]}",
        )
    except Exception as exc:  # noqa: BLE001 - any failure here must not lose the search
        summary.warnings.append(f"no report: {type(exc).__name__}: {exc}")
        return None
    return str(made.html)


def _print_top(frame: Any, space: Space, k: int = 5) -> None:
    """The top-k finished trials as a plain table."""
    done = frame[frame["status"] == "FINISHED"]
    failed = len(frame) - len(done)
    asc = space.objective.direction == "min"
    top = done.sort_values("objective", ascending=asc).head(k)
    cols = [
        "trial_id",
        "objective",
        "epochs",
        "seconds",
        *[f"params.{n}" for n in space.searched()],
    ]
    shown = top[cols].rename(columns=lambda c: c.removeprefix("params."))
    shown = shown.rename(columns={"objective": space.objective.metric})
    typer.echo(f"\ntop {len(shown)} of {len(frame)} trials ({failed} failed):")
    typer.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


ExperimentOpt = Annotated[
    str | None,
    typer.Option(help="MLflow experiment to read.", show_default=False),
]
RunIdOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--run-id", help="A search's parent run id (repeat for several).", show_default=False
    ),
]


@app.command()
def report(
    experiment: ExperimentOpt = None,
    run_id: RunIdOpt = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Report folder [default: reports/<experiment>]",
            show_default=False,
        ),
    ] = None,
    tracking_uri: TrackingOpt = None,
    top_k: Annotated[
        int, typer.Option("--top-k", help="Learning curves of each search's top-k trials.")
    ] = 3,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not attach the report to the parent runs.")
    ] = False,
) -> None:
    """Write an HTML/Markdown/CSV report comparing the searches of an experiment or runs."""
    from hpsearch.api import make_report
    from hpsearch.tracking import NoSearches, TrackingUnavailable, preflight, resolve_tracking_uri

    if not experiment and not run_id:
        fail("give --experiment NAME or --run-id ID")
    if top_k < 1:
        fail("--top-k: must be at least 1")
    try:
        preflight(resolve_tracking_uri(tracking_uri))
        made = make_report(
            experiment=experiment,
            run_ids=run_id or [],
            tracking_uri=tracking_uri,
            output=output,
            log=not no_log,
            top_k=top_k,
        )
    except NoSearches as exc:
        fail(str(exc))
    except TrackingUnavailable as exc:
        fail(str(exc), code=1)
    for line in made.verdict:
        typer.echo(line)
    typer.echo(f"report: {made.html}")
    typer.echo(f"        {made.markdown}")
    typer.echo(f"        {made.csv}")


@app.command()
def compare(
    space: SpaceArg,
    strategies: Annotated[
        str,
        typer.Option(help="Comma-separated strategies to compare."),
    ] = "random,hyperband,bayesian",
    backends: Annotated[
        str, typer.Option(help="Comma-separated engines to compare.")
    ] = "keras-tuner",
    budget_epochs: Annotated[
        int | None,
        typer.Option(
            "--budget-epochs",
            help="Each search stops once its trials trained this many epochs in all (the "
            "fair unit; the running trial ends after that epoch). Every strategy's "
            "max_trials is lifted; Hyperband repeats its brackets until it is spent.",
            show_default=False,
        ),
    ] = None,
    budget_time: Annotated[
        float | None,
        typer.Option(
            "--budget-time",
            help="Each search stops after this many seconds instead, the same way.",
            show_default=False,
            parser=finite,
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            help="The most epochs any trial of every search trains: training.epochs, and "
            "Hyperband's and ASHA's max_epochs too.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed shared by every search.")] = None,
    tracking_uri: TrackingOpt = None,
    experiment: NewExperimentOpt = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Report folder [default: reports/<experiment>-<comparison id>]",
            show_default=False,
        ),
    ] = None,
    max_concurrent: Annotated[
        int | None,
        typer.Option("--max-concurrent", help="Ray: most trials at once.", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run one space under several strategies and engines at one budget, then report."""
    from hpsearch.compare import compare as run_compare
    from hpsearch.compare import plan
    from hpsearch.progress import ProgressDisplay
    from hpsearch.tracking import TrackingUnavailable

    s = _load(space)
    names = [x.strip() for x in strategies.split(",") if x.strip()]
    engines = [x.strip() for x in backends.split(",") if x.strip()]
    try:
        if budget_epochs is None and budget_time is None:
            raise SpaceError(
                "give --budget-epochs N or --budget-time SECONDS", field="--budget-epochs"
            )
        if budget_epochs is not None and budget_time is not None:
            raise SpaceError("give one budget, not both", field="--budget-time")
        pairs, _ = plan(names, engines)
        s = s.with_overrides(epochs=epochs, seed=seed)
    except SpaceError as exc:
        fail(str(exc))
    display = ProgressDisplay(sys.stderr, budget_epochs=budget_epochs)

    def announce(strategy: str, backend: str) -> None:
        typer.echo(f"compare: {strategy} on {backend}", err=True)

    try:
        result = run_compare(
            s,
            strategies=names,
            backends=engines,
            budget_epochs=budget_epochs,
            budget_seconds=budget_time,
            tracking_uri=tracking_uri,
            experiment=experiment,
            report_dir=output,
            callbacks=[display],
            ray_options={"max_concurrent": max_concurrent} if max_concurrent else None,
            on_start=announce,
            verbose=verbose,
        )
    except SpaceError as exc:
        fail(str(exc))
    except TrackingUnavailable as exc:
        fail(str(exc), code=1)
    finally:
        display.close()
    for note in result.skipped:
        typer.echo(f"skipped: {note}", err=True)
    for note in result.failed:
        typer.echo(f"failed: {note}", err=True)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "comparison": result.comparison_id,
                    "experiment": result.experiment,
                    "searches": [r.as_json() for r in result.runs],
                    "verdict": result.report.verdict,
                    "report": str(result.report.html),
                },
                default=str,
            )
        )
    else:
        typer.echo(f"comparison {result.comparison_id}: {len(pairs)} searches")
        for line in result.report.verdict:
            typer.echo(line)
        typer.echo(f"report: {result.report.html}")
    if result.failed:
        raise typer.Exit(1)


@app.command()
def best(
    experiment: ExperimentOpt = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="One search's parent run id.", show_default=False)
    ] = None,
    tracking_uri: TrackingOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print it as JSON.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also list the settings the search held fixed.")
    ] = False,
) -> None:
    """Print the best trial of an experiment (or a search): params, value, model URI."""
    from hpsearch.api import best as find_best
    from hpsearch.api import split_params
    from hpsearch.tracking import NoSearches, TrackingUnavailable, preflight, resolve_tracking_uri

    if not experiment and not run_id:
        fail("give --experiment NAME or --run-id ID")
    try:
        preflight(resolve_tracking_uri(tracking_uri))
        top = find_best(experiment=experiment, run_id=run_id, tracking_uri=tracking_uri)
    except NoSearches as exc:
        fail(str(exc))
    except TrackingUnavailable as exc:
        fail(str(exc), code=1)
    if as_json:
        typer.echo(json.dumps(top, default=str))
        return
    typer.echo(
        f"best {top['metric']} = {top['value']:.4f}: trial {top['trial_id']} of "
        f"{top['strategy']}/{top['backend']} search {top['parent_run_id']} "
        f"(experiment '{top['experiment']}')"
    )
    # a space that no longer parses: every param is shown as searched
    searched, fixed = split_params(top["searched"] or top["params"], top["params"])
    for key, value in searched.items():
        typer.echo(f"  {key} = {value}")
    if fixed and verbose:
        typer.echo("fixed:")
        for key, value in fixed.items():
            typer.echo(f"  {key} = {value}")
    elif fixed:
        typer.echo(f"  ({len(fixed)} fixed settings: --verbose lists them)")
    typer.echo(f"trial run: {top['trial_run_id']}")
    typer.echo(f"model: {top['model_uri'] or 'not logged for this trial'}")


@app.command()
def sweep(
    sweep_file: Annotated[Path, typer.Argument(help="Sweep YAML file.", show_default=False)],
    tracking_uri: TrackingOpt = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray: cluster for the Ray entries (sets RAY_ADDRESS for them).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="List every entry with its key and state; run nothing."),
    ] = False,
) -> None:
    """Run a sweep file's matrix of searches: done entries are skipped, interrupted ones
    resumed. Exit 0 all done, 1 some failed, 2 bad input, 3 already running, 143 SIGTERM."""
    import os
    import time

    from hpsearch.sweep import EXIT_LOCKED, SweepLocked, load_sweep, run_sweep
    from hpsearch.tracking import TrackingUnavailable, preflight, resolve_tracking_uri

    try:
        spec = load_sweep(sweep_file)
    except SpaceError as exc:
        fail(str(exc))
    uri = resolve_tracking_uri(tracking_uri or spec.spec.tracking_uri)
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        # a relative store: the entries run elsewhere (a Ray job's working dir), pin it
        uri = f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"
    if address:
        os.environ["RAY_ADDRESS"] = address

    def log(line: str) -> None:
        typer.echo(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {line}", err=True)

    _hint_resume("sweep")  # a sweep run again skips what finished and resumes the rest
    try:
        preflight(uri)
        code = run_sweep(spec, tracking_uri=uri, dry_run=dry_run, log=log, echo=typer.echo)
    except SweepLocked as exc:
        fail(str(exc), code=EXIT_LOCKED)
    except TrackingUnavailable as exc:
        fail(str(exc), code=1)
    raise typer.Exit(code)


@app.command()
def refit(
    run_id: Annotated[str, typer.Argument(help="The search's parent run id.", show_default=False)],
    tracking_uri: TrackingOpt = None,
    register: Annotated[
        bool,
        typer.Option(
            "--register/--no-register",
            help="Register the refit model in the MLflow Model Registry under the "
            "experiment's name.",
        ),
    ] = True,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Refit a search's best trial on train+valid, score it once on the test split, log
    the model on the parent run and register it (seed 10.3, step 5)."""
    from hpsearch.data import DataError
    from hpsearch.refit import RefitFailed, final_fit
    from hpsearch.tracking import NoSearches, TrackingUnavailable

    try:
        result = final_fit(run_id, tracking_uri=tracking_uri, register=register, verbose=verbose)
    except (NoSearches, SpaceError, DataError) as exc:
        fail(str(exc))
    except (TrackingUnavailable, RefitFailed) as exc:
        fail(str(exc), code=1)
    if as_json:
        typer.echo(json.dumps(result.as_json(), default=str))
        return
    typer.echo(
        f"refit trial {result.trial_id} of search {result.parent_run_id} "
        f"('{result.experiment}') on train+valid: {result.train_rows} rows, "
        f"{result.epochs} epochs ({result.seconds:.0f} s)"
    )
    scores = "  ".join(f"{k} = {v:.4f}" for k, v in result.test_metrics.items())
    typer.echo(f"test ({result.test_rows} rows): {scores}")
    typer.echo(f"model: {result.model_uri}")
    if result.registered_uri:
        typer.echo(f"registered: {result.registered_uri}")


@app.command("lr-find")
def lr_find(
    space: SpaceArg,
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--params",
            metavar="NAME=VALUE",
            help="Hold a hyperparameter at this value (repeatable, or "
            "comma-separated) [default: each one's default in the space]",
            show_default=False,
        ),
    ] = None,
    min_lr: Annotated[
        float, typer.Option("--min-lr", help="Learning rate of the first batch.", parser=finite)
    ] = 1e-6,
    max_lr: Annotated[
        float, typer.Option("--max-lr", help="Learning rate of the last batch.", parser=finite)
    ] = 1.0,
    steps: Annotated[
        int | None,
        typer.Option(
            help="Batches in the sweep [default: --epochs epochs of the train split]",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        int, typer.Option(help="Epochs of batches to sweep over when --steps is not given.")
    ] = 1,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed [default: the space's search.seed]", show_default=False),
    ] = None,
    tracking_uri: TrackingOpt = None,
    experiment: NewExperimentOpt = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Folder for the PNG, CSV and JSON [default: reports/<space name>/lr-find]",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Sweep the learning rate of the space's default model over a few hundred batches
    (Hands-On ML ch.10, exercise 10): plot loss vs lr, suggest a rate, log it to MLflow."""
    from hpsearch.data import DataError
    from hpsearch.lrfind import run_lr_find
    from hpsearch.tracking import TrackingUnavailable

    s = _load(space)
    try:
        done = run_lr_find(
            s,
            params=params or [],
            min_lr=min_lr,
            max_lr=max_lr,
            steps=steps,
            epochs=epochs,
            seed=seed,
            tracking_uri=tracking_uri,
            experiment=experiment,
            output=output,
            verbose=verbose,
        )
    except DataError as exc:  # found once the data is read: point at the setting's line
        fail(str(s.error_at(exc.field, str(exc))))
    except SpaceError as exc:
        fail(str(exc))
    except TrackingUnavailable as exc:
        fail(str(exc), code=1)
    r = done.result
    for note in r.notes:
        typer.echo(f"warning: {note}", err=True)
    if as_json:
        typer.echo(json.dumps(done.as_json(), default=str))
        return
    ended = f"the loss blew up at lr {r.stop_lr:.3g}" if r.stop_lr else "no blow-up"
    typer.echo(
        f"lr-find: {r.space} ({r.dataset}), {r.params.get('optimizer')}, batch "
        f"{r.params.get('batch_size')}: {r.steps} of {r.planned_steps} steps from "
        f"{r.min_lr:g} to {r.max_lr:g} in {r.seconds:.1f} s; {ended}"
    )
    typer.echo(f"suggested learning rate: {r.suggestion:.3g} ({r.rule_text})")
    typer.echo(
        f"min-loss lr / 10:        {r.min_lr_over_10:.3g} (lowest smoothed loss "
        f"{r.min_loss:.4g} at lr {r.lr_at_min_loss:.3g})"
    )
    typer.echo(f"plot: {done.files['png']}")
    typer.echo(f"curve: {done.files['csv']}")
    typer.echo(
        f"mlflow: experiment '{done.experiment}', run {done.run_id} at "
        f"{done.as_json()['tracking_uri']} (open it with: hpsearch ui)"
    )


@app.command()
def ui(
    tracking_uri: TrackingOpt = None,
    experiment: Annotated[
        str | None,
        typer.Option(
            "--experiment",
            help="Print the link to this experiment's runs [default: the store's only one].",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Interface to bind; the default keeps it local.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for the MLflow UI.")] = 5000,
) -> None:
    """Open the MLflow UI on the same store the searches wrote to."""
    from hpsearch.tracking import NoSearches, redact_uri, resolve_tracking_uri, serve_ui, ui_page

    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith(("http://", "https://")):
        typer.echo(f"the searches log to a tracking server: open {redact_uri(uri)} in a browser")
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if sock.connect_ex((host if host != "0.0.0.0" else "127.0.0.1", port)) == 0:  # noqa: S104
            fail(f"--port: {host}:{port} is already in use; pick another with --port")
    try:
        page = ui_page(uri, experiment)
    except NoSearches as exc:
        fail(str(exc))
    typer.echo(f"MLflow UI for {redact_uri(uri)} at http://{host}:{port}/{page} (Ctrl+C stops it)")
    serve_ui(uri, host, port)


def main() -> None:
    """Entry point: usage errors become one line and exit code 2, like every bad input;
    an unexpected exception becomes one line and exit code 1 (its traceback with --debug)."""
    global _debug
    _debug = False
    _resume_hint.clear()
    _terminated.clear()
    _interrupted.clear()
    try:
        code = app(standalone_mode=False)
        if code == 130:  # typer turns KeyboardInterrupt (and so SIGTERM) into exit 130
            typer.echo(_stopped(bool(_terminated)), err=True)
            code = 143 if _terminated else 130
    except typer.Abort as exc:  # click turns KeyboardInterrupt (and so SIGTERM) into Abort
        if isinstance(exc.__cause__, Terminated) or _terminated:
            typer.echo(_stopped(True), err=True)
            code = 143
        else:
            typer.echo("aborted", err=True)
            code = 130
    except typer.TyperException as exc:  # typer's (vendored) click errors: bad flags, values
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `hpsearch`: show the help
            typer.echo(message, err=True)
        else:
            typer.echo(f"error: {where}{message}", err=True)
        code = getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        typer.echo(_stopped(bool(_terminated)), err=True)
        code = 143 if _terminated else 130
    except Exception as exc:  # a bug or an unforeseen failure: one line, exit 1
        if _debug:
            raise
        text = str(exc).strip()
        what = f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
        typer.echo(f"error: {what} (run with --debug for the traceback)", err=True)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
