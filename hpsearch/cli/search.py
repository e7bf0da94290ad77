"""Commands that search: one search (``run``), several at one budget (``compare``), a
sweep file's matrix (``sweep``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hpsearch.backends import BACKENDS, PRUNABLE, STRATEGIES
from hpsearch.cli import stops
from hpsearch.cli.options import (
    JsonOpt,
    NewExperimentOpt,
    SpaceArg,
    TrackingOpt,
    VerboseOpt,
    finite,
    read_space,
)
from hpsearch.cli.output import (
    fail,
    failing,
    print_compare,
    print_compare_start,
    print_data,
    print_log,
    print_run,
    print_status,
    print_warning,
)
from hpsearch.errors import (
    EXIT_LOCKED,
    DataError,
    NoSearches,
    RefitFailed,
    SearchFailed,
    SpaceError,
    SweepLocked,
    TrackingUnavailable,
)
from hpsearch.space import Space

if TYPE_CHECKING:
    from hpsearch.finish import Finished

PRUNER_HELP = (
    "Stop running trials that lose: median (the median stopping rule; the file's "
    "search.pruner settings are kept, else warm-up 2 epochs, 3 other trials) or none. A "
    "pruned trial ends PRUNED with the epochs it trained."
)
TensorBoardOpt = Annotated[
    Path | None,
    typer.Option(
        "--tensorboard",
        help="Also write TensorBoard files into DIR: DIR/<search run>/<trial run>/, every "
        "epoch's metrics and the HParams view (see hpsearch tensorboard DIR) [default: the "
        "space's tracking.tensorboard, else none]",
        show_default=False,
    ),
]


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
    pruner: Annotated[
        str | None,
        typer.Option(
            "--pruner",
            help=PRUNER_HELP + " [default: search.pruner in the file, else none]",
            show_default=False,
        ),
    ] = None,
    tensorboard: TensorBoardOpt = None,
) -> None:
    """Run a search; record a parent run and one child run per trial in MLflow."""
    s, options, tags = _plan(
        space,
        tag,
        strategy=strategy,
        backend=backend,
        max_trials=max_trials,
        epochs=epochs,
        seed=seed,
        budget_epochs=budget_epochs,
        budget_seconds=budget_time,
        max_failures=max_failures,
        workers=workers,
        gpus=gpus,
        address=address,
        max_concurrent=max_concurrent,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        retries=retries,
        pruner=pruner,
    )
    summary = _search(
        s,
        options=options,
        tags=tags,
        tracking_uri=tracking_uri,
        experiment=experiment,
        output=output,
        verbose=verbose,
        resume=resume,
        max_failures=max_failures,
        budget_epochs=budget_epochs,
        budget_seconds=budget_time,
        resume_run=resume_run,
        warm_start=warm_start,
        tensorboard=tensorboard,
    )
    finished = _finish(summary, final_fit=final_fit, report=with_report, verbose=verbose)
    print_run(summary, s, finished, as_json=as_json, verbose=verbose)


def _plan(space: Path, tag: list[str] | None, **flags: Any) -> tuple[Space, Any, dict[str, str]]:
    """The space and the flags checked together (``plan_search``) before anything starts."""
    from hpsearch.api import plan_search
    from hpsearch.gpus import parse_gpus

    if not space.exists() or space.is_dir():
        read_space(space)  # the same one-line message as validate
    with failing(usage=(SpaceError, ValueError)):
        s, options = plan_search(space, **flags | {"gpus": parse_gpus(flags["gpus"])})
        tags = _parse_tags(tag or [])
    return s, options, tags


def _search(s: Space, *, budget_epochs: int | None, **kwargs: Any) -> Any:
    """``run_search`` with the progress display and clean stops, its errors as one line."""
    from hpsearch.api import run_search
    from hpsearch.progress import ProgressDisplay

    display = ProgressDisplay(sys.stderr, budget_epochs=budget_epochs)
    stops.catch_signals("run")
    try:
        summary = run_search(
            s,
            callbacks=[display, stops.TerminationCheck()],
            budget_epochs=budget_epochs,
            on_data=print_data,
            on_status=print_status,
            on_warning=print_warning,
            **kwargs,
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
    stops.hint_finished(summary.parent_run_id)
    return summary


def _finish(summary: Any, *, final_fit: bool, report: bool, verbose: bool) -> Finished:
    """The final fit and the report (hpsearch.finish); the fit's errors name its flag."""
    from hpsearch.finish import finish

    with failing(
        usage=(NoSearches, SpaceError, DataError),
        failed=(TrackingUnavailable, RefitFailed),
        prefix="--final-fit: ",
    ):
        return finish(summary, final_fit=final_fit, report=report, verbose=verbose)


def _parse_tags(items: list[str]) -> dict[str, str]:
    tags = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpaceError(f"expected KEY=VALUE, got {item!r}", field="--tag")
        tags[key.strip()] = value
    return tags


def compare(
    space: SpaceArg,
    strategies: Annotated[
        str,
        typer.Option(
            help="Comma-separated strategies to compare (the i-epoch baseline joins them: "
            "see --no-baseline)."
        ),
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
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline/--no-baseline",
            help="Add the i-epoch baseline: N sampled configurations train "
            "search.i_epoch.epochs (1) each, the best keep fraction (20%) continues to the "
            "full epochs E; --budget-epochs B pays for N = B / (i + keep * (E - i)). It runs "
            "on keras-tuner even when --backends leaves keras-tuner out, and once when "
            "--strategies lists i-epoch too.",
        ),
    ] = True,
    pruner: Annotated[
        str | None,
        typer.Option(
            "--pruner",
            help=PRUNER_HELP + f" Applies to the prunable strategies ({', '.join(PRUNABLE)}); "
            "the others run without it. [default: search.pruner in the file, else none]",
            show_default=False,
        ),
    ] = None,
    tensorboard: TensorBoardOpt = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run one space under several strategies and engines at one budget, then report."""
    from hpsearch.compare import compare as run_compare
    from hpsearch.progress import ProgressDisplay

    s = read_space(space)
    names = [x.strip() for x in strategies.split(",") if x.strip()]
    engines = [x.strip() for x in backends.split(",") if x.strip()]
    s, pairs = _plan_compare(
        s, names, engines, budget_epochs, budget_time, epochs, seed, baseline=baseline
    )
    display = ProgressDisplay(sys.stderr, budget_epochs=budget_epochs)
    with failing(usage=(DataError, SpaceError), failed=(TrackingUnavailable,), space=s):
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
                on_start=print_compare_start,
                verbose=verbose,
                baseline=baseline,
                pruner=pruner,
                tensorboard=tensorboard,
            )
        finally:
            display.close()
    print_compare(result, len(pairs), as_json=as_json)
    if result.failed:
        raise typer.Exit(1)


def _plan_compare(
    s: Space,
    names: list[str],
    engines: list[str],
    budget_epochs: int | None,
    budget_time: float | None,
    epochs: int | None,
    seed: int | None,
    *,
    baseline: bool = True,
) -> tuple[Space, list[Any]]:
    """One budget, and strategies and engines that can run: checked before any search."""
    from hpsearch.compare import baseline_problem, plan

    with failing(usage=(SpaceError,)):
        if budget_epochs is None and budget_time is None:
            raise SpaceError(
                "give --budget-epochs N or --budget-time SECONDS", field="--budget-epochs"
            )
        if budget_epochs is not None and budget_time is not None:
            raise SpaceError("give one budget, not both", field="--budget-time")
        plan(names, engines, baseline=baseline)  # bad names: said before bad epochs
        s = s.with_overrides(epochs=epochs, seed=seed)
        pairs, _ = plan(names, engines, baseline=baseline and baseline_problem(s) is None)
    return s, pairs


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
    tensorboard: Annotated[
        Path | None,
        typer.Option(
            "--tensorboard",
            help="Every entry writes TensorBoard files into DIR (as hpsearch run "
            "--tensorboard) [default: the sweep file's tensorboard, else none]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a sweep file's matrix of searches: done entries are skipped, interrupted ones
    resumed. Exit 0 all done, 1 some failed, 2 bad input, 3 already running, 143 SIGTERM."""
    import os

    from hpsearch.sweep import load_sweep, run_sweep
    from hpsearch.tracking import preflight, resolve_tracking_uri

    with failing(usage=(SpaceError,)):
        spec = load_sweep(sweep_file, tensorboard=tensorboard)
    uri = _pinned(resolve_tracking_uri(tracking_uri or spec.spec.tracking_uri))
    if address:
        os.environ["RAY_ADDRESS"] = address
    stops.hint_resume("sweep")  # a sweep run again skips what finished and resumes the rest
    try:
        preflight(uri)
        code = run_sweep(spec, tracking_uri=uri, dry_run=dry_run, log=print_log, echo=typer.echo)
    except SweepLocked as exc:
        fail(str(exc), code=EXIT_LOCKED)
    except TrackingUnavailable as exc:
        fail(str(exc), code=1)
    raise typer.Exit(code)


def _pinned(uri: str) -> str:
    """A relative sqlite store made absolute: a sweep's entries may run elsewhere (a Ray
    job's working dir)."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"
    return uri
