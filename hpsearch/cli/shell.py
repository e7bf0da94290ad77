"""The Typer app, its root options (``--version``, ``--debug``) and ``main()``, which turns
every failure into one line and an exit code."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hpsearch.cli import read, search, tools
from hpsearch.cli.stops import Terminated, reset, stopped, terminated
from hpsearch.errors import UsageError, first_line, one_line
from hpsearch.version import __version__

app = typer.Typer(
    name="hpsearch",
    help="Declarative hyperparameter search for Keras MLPs, every trial tracked in MLflow.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


#: Set by ``--debug``: ``main()`` lets unexpected exceptions through with their traceback.
_debug = False


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


app.command()(tools.validate)
app.command()(search.run)
app.command()(read.report)
app.command()(search.compare)
app.command()(read.best)
app.command()(search.sweep)
app.command()(tools.refit)
app.command("lr-find")(tools.lr_find)
app.command()(read.ui)
app.command()(read.tensorboard)


def main() -> None:
    """Entry point: usage errors become one line and exit code 2, like every bad input;
    an unexpected exception becomes one line and exit code 1 (its traceback with --debug)."""
    global _debug
    _debug = False
    reset()
    try:
        code = app(standalone_mode=False)
        if code == 130:  # typer turns KeyboardInterrupt (and so SIGTERM) into exit 130
            typer.echo(stopped(bool(terminated)), err=True)
            code = 143 if terminated else 130
    except typer.Abort as exc:  # click turns KeyboardInterrupt (and so SIGTERM) into Abort
        if isinstance(exc.__cause__, Terminated) or terminated:
            typer.echo(stopped(True), err=True)
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
        typer.echo(stopped(bool(terminated)), err=True)
        code = 143 if terminated else 130
    except UsageError as exc:  # bad input no command mapped itself: still one line, exit 2
        if _debug:
            raise
        typer.echo(f"error: {one_line(str(exc))}", err=True)
        code = exc.exit_code
    except Exception as exc:  # a bug or an unforeseen failure: one line, exit 1
        if _debug:
            raise
        line = first_line(exc)
        what = f"{type(exc).__name__}: {line}" if line else type(exc).__name__
        typer.echo(f"error: {what} (run with --debug for the traceback)", err=True)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
