"""Commands that read finished searches back: ``best``, ``report``, ``ui`` and
``tensorboard``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hpsearch.cli.options import ExperimentOpt, RunIdOpt, TrackingOpt
from hpsearch.cli.output import fail, failing, print_best, print_json, print_report
from hpsearch.errors import NoSearches, TrackingUnavailable


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
    from hpsearch.tracking import preflight, resolve_tracking_uri

    if not experiment and not run_id:
        fail("give --experiment NAME or --run-id ID")
    if top_k < 1:
        fail("--top-k: must be at least 1")
    with failing(usage=(NoSearches,), failed=(TrackingUnavailable,)):
        preflight(resolve_tracking_uri(tracking_uri))
        made = make_report(
            experiment=experiment,
            run_ids=run_id or [],
            tracking_uri=tracking_uri,
            output=output,
            log=not no_log,
            top_k=top_k,
        )
    print_report(made)


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
    from hpsearch.tracking import preflight, resolve_tracking_uri

    if not experiment and not run_id:
        fail("give --experiment NAME or --run-id ID")
    with failing(usage=(NoSearches,), failed=(TrackingUnavailable,)):
        preflight(resolve_tracking_uri(tracking_uri))
        top = find_best(experiment=experiment, run_id=run_id, tracking_uri=tracking_uri)
    if as_json:
        print_json(top)
        return
    # a space that no longer parses: every param is shown as searched
    searched, fixed = split_params(top["searched"] or top["params"], top["params"])
    print_best(top, searched, fixed, verbose=verbose)


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
    from hpsearch.tracking import redact_uri, resolve_tracking_uri, serve_ui, ui_page
    from hpsearch.tracking.serve import port_in_use

    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith(("http://", "https://")):
        typer.echo(f"the searches log to a tracking server: open {redact_uri(uri)} in a browser")
        return
    if port_in_use(host, port):
        fail(f"--port: {host}:{port} is already in use; pick another with --port")
    with failing(usage=(NoSearches,)):
        page = ui_page(uri, experiment)
    typer.echo(f"MLflow UI for {redact_uri(uri)} at http://{host}:{port}/{page} (Ctrl+C stops it)")
    serve_ui(uri, host, port)


def tensorboard(
    logdir: Annotated[
        Path,
        typer.Argument(
            help="The folder given to --tensorboard (or one search's folder in it).",
            show_default=False,
        ),
    ],
    port: Annotated[int, typer.Option(help="Port for TensorBoard.")] = 6006,
) -> None:
    """Open TensorBoard on the files searches wrote with --tensorboard: the HParams view
    (table, parallel coordinates, scatter plot matrix) and every trial's epochs, on
    127.0.0.1 only; Ctrl+C or SIGTERM stops it."""
    from hpsearch.tracking.serve import port_in_use
    from hpsearch.tracking.tensorboard import serve_tensorboard

    if not logdir.is_dir():
        what = "is not a folder" if logdir.exists() else "does not exist"
        fail(f"{logdir} {what}: give the folder a search wrote with --tensorboard")
    if not 0 < port < 65536:
        fail(f"--port: {port} is not a port (1-65535)")
    if port_in_use("127.0.0.1", port):
        fail(f"--port: 127.0.0.1:{port} is already in use; pick another with --port")
    typer.echo(f"TensorBoard for {logdir} at http://127.0.0.1:{port}/#hparams (Ctrl+C stops it)")
    serve_tensorboard(logdir, port)
