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
from hpsearch.cli.output import fail
from hpsearch.space import Space, SpaceError


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

    s = read_space(space)
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
