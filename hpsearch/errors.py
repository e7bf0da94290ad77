"""Every exception hpsearch raises on purpose, and what each means for an exit code.

A ``UsageError`` is bad input (a space file, a flag, a dataset, a missing search): the CLI
prints its one line and exits 2, and nothing has been created. Everything else here is a
failure of the run itself (exit 1), or a sweep held by another process (exit 3).
Standard library only: every module may import this one. (recipe.RecipeError is the one
exception kept out: recipe.py runs inside logged models, where hpsearch may not be installed.)
"""

from __future__ import annotations

from pathlib import Path

#: The longest error line hpsearch prints; a longer one is cut (a value pasted in a file
#: or an alias expanded in a message must not flood the terminal).
MAX_ERROR_CHARS = 300

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_TERMINATED = 0, 1, 2, 3, 143


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` on one line of at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def first_line(exc: BaseException, limit: int = MAX_ERROR_CHARS) -> str:
    """An exception's first line, cut to ``limit``: what a warning or a tag keeps of an
    error whose message may be a whole server reply or a traceback."""
    return (str(exc).strip().splitlines() or [""])[0][:limit]


class UsageError(Exception):
    """Bad input, reported in one line with exit code 2; raised before anything is created.

    A mixin base: each subclass keeps the builtin base it always had (ValueError,
    LookupError), so existing ``except ValueError`` handlers see no difference."""

    exit_code = EXIT_USAGE


class SpaceError(UsageError, ValueError):
    """A problem in a space file or a flag, rendered as ``file:line: field.path: problem``."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file, self.line, self.field, self.problem = file, line, field, message
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        field = f"{self.field}: " if self.field else ""
        return one_line(f"{where}{field}{self.problem}")


class DataError(UsageError, ValueError):
    """A dataset that cannot be used, with a one-line reason.

    ``field`` names the space-file setting at fault (``dataset.target``), so the CLI can
    point at its line; it defaults to ``dataset.name``, the data itself."""

    def __init__(self, message: str, *, field: str = "dataset.name") -> None:
        super().__init__(message)
        self.field = field


class BuilderError(UsageError, ValueError):
    """A space's ``builder`` cannot be found, or is not a function of a supported form."""


class NoSearches(UsageError, LookupError):
    """The experiment or runs asked for hold no hpsearch searches."""


class ClusterRefused(UsageError, ConnectionError):
    """A Ray cluster refuses this client (its token is missing or wrong): one line naming
    what to set, before anything is created."""


class TrackingUnavailable(RuntimeError):
    """The tracking store cannot be reached: raised before any training starts."""


class TooManyFailures(RuntimeError):
    """``max_failures`` trials failed: the search stops instead of burning the budget."""


class SearchStalled(RuntimeError):
    """No trial reported for far longer than any wait before: the search is stuck. Ends the
    search as a failed one (its ended trials kept, ``--resume`` goes on), not a hang."""


class SearchFailed(RuntimeError):
    """The search stopped early (e.g. too many failed trials); what ran is in trials_csv."""

    def __init__(self, message: str, *, trials_csv: Path, parent_run_id: str) -> None:
        super().__init__(message)
        self.trials_csv, self.parent_run_id = trials_csv, parent_run_id


class RefitFailed(RuntimeError):
    """The refit trained to a NaN or infinite loss: nothing was logged."""


class SweepLocked(RuntimeError):
    """Another run of the same sweep holds the lock (exit code 3, EXIT_LOCKED)."""
