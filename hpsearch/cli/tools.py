"""Commands around a search: validate a space, refit a search's best trial, find a
learning rate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

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
    print_json,
    print_lr_find,
    print_refit,
    print_validate,
    print_warning,
    validate_json,
)
from hpsearch.errors import (
    BuilderError,
    DataError,
    NoSearches,
    RefitFailed,
    SpaceError,
    TrackingUnavailable,
)
from hpsearch.space import Space


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
    s = read_space(space)
    _check_builder(s)
    summary = None
    if data:
        summary, s = _data_summary(s)
    if as_json:
        typer.echo(json.dumps(validate_json(s, summary)))
    else:
        print_validate(space, s, summary)


def _check_builder(s: Space) -> None:
    """A space's builder is a function of a supported form: checked without running it."""
    if not s.builder:
        return
    from hpsearch.builders import check_builder

    try:
        check_builder(s.builder, s.builder_dirs(), declared=list(s.params))
    except BuilderError as exc:
        fail(str(s.error_at("builder", str(exc))))


def _data_summary(s: Space) -> tuple[Any, Space]:
    """Load the space's dataset as a search would (no TensorFlow) and summarise it."""
    from hpsearch.api import load_data

    with failing(usage=(DataError, SpaceError), space=s):
        loaded, s = load_data(s)
    assert loaded.info is not None
    return loaded.info, s


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
    from hpsearch.refit import final_fit

    with failing(
        usage=(NoSearches, SpaceError, DataError), failed=(TrackingUnavailable, RefitFailed)
    ):
        result = final_fit(run_id, tracking_uri=tracking_uri, register=register, verbose=verbose)
    if as_json:
        print_json(result.as_json())
    else:
        print_refit(result)


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
    from hpsearch.lrfind import run_lr_find

    s = read_space(space)
    with failing(usage=(DataError, SpaceError), failed=(TrackingUnavailable,), space=s):
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
    for note in done.result.notes:
        print_warning(note)
    if as_json:
        print_json(done.as_json())
    else:
        print_lr_find(done)
