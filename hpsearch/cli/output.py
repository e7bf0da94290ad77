"""What the commands print besides their own results: error lines, status and warning
lines, the data summary and the table of top trials."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import typer

from hpsearch.space import Space


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and an exit code: never a traceback for bad input."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def print_status(text: str) -> None:
    """What the run is doing before its first trial, for someone watching a terminal (a
    log or a pipe gets the data summary and the trials, and an error as its one line)."""
    if sys.stderr.isatty():
        typer.echo(f"{text} ...", err=True)


def print_warning(text: str) -> None:
    typer.echo(f"warning: {text}", err=True)


def print_data(summary: Any) -> None:
    """The data summary in one or two lines, and its warnings, before training starts."""
    for line in summary.brief():
        typer.echo(line, err=True)
    for warning in summary.warnings:
        typer.echo(f"warning: {warning}", err=True)


def print_top(frame: Any, space: Space, k: int = 5) -> None:
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
