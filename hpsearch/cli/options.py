"""The arguments and options several commands share, and the parsers behind them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from hpsearch.cli.output import fail
from hpsearch.space import Space, SpaceError, load_space

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


def read_space(path: Path) -> Space:
    try:
        return load_space(path)
    except SpaceError as exc:
        fail(str(exc))
