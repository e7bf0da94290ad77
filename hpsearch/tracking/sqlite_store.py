"""Opening a sqlite store that other MLflow clients may be creating at the same moment.

MLflow creates and migrates a new sqlite store in place, unlocked and outside any
transaction: a plain ``MlflowClient`` (``mlflow ui``, a notebook) that opens the file while
another process migrates it fails with one of a dozen errors ("table ... already exists",
"duplicate column name", alembic's "Online migration expected to match one row", ...), and
two migrations at once can leave the store half-migrated for good. So hpsearch never
migrates a shared file: it builds a new store in a file of its own and links it into place
whole; on a store that someone else is migrating it waits until the migration is done,
retrying only those errors, for ``WAIT_S`` at most; and a store that others left stuck
half-migrated while it holds no rows is rebuilt whole (nothing to lose, everyone unstuck).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import NamedTuple, TypeVar

from hpsearch.errors import TrackingUnavailable

T = TypeVar("T")

#: The longest hpsearch waits for another client's creation or migration of a store.
WAIT_S = 30.0
#: A store whose schema has not changed for this long is not being migrated by anyone
#: (measured: up to 1.0 s between two schema changes with three MLflow clients migrating
#: one new store on 2 loaded cores).
SETTLE_S = 3.0

#: What MLflow's unlocked migration raises when another process migrates the same file
#: (each seen here with three plain clients and hpsearch creating one store at once).
_RACE_MESSAGES = (
    "already exists",  # table, index, _alembic_tmp_* table
    "duplicate column name",
    "no such table",
    "no such column",
    "no such index",
    "database is locked",
    "database schema has changed",
    "online migration expected to match one row",  # alembic: the version moved under it
    "unique constraint failed",  # two clients inserting the default experiment
    "circular dependency detected",  # SQLAlchemy sorting a half-altered table
    "no such constraint",  # alembic's batch mode on a half-altered table
)
#: Python errors that MLflow's migration raises from inside alembic or SQLAlchemy when a
#: table changes under it (a reflected column missing, say); anywhere else they are bugs.
_RACE_TYPES = (ValueError, KeyError, AttributeError)
_OUT_OF_DATE = "out-of-date database schema"


def sqlite_file(uri: str) -> Path | None:
    """The file of a plain ``sqlite:///`` store; None for anything else (or a URI with a
    query string, which hpsearch leaves to MLflow as it is)."""
    if not uri.startswith("sqlite:///") or "?" in uri:
        return None
    path = uri.removeprefix("sqlite:///")
    return Path(path) if path and path != ":memory:" else None


@contextlib.contextmanager
def init_lock(uri: str) -> Iterator[None]:
    """Serialise hpsearch processes opening a new sqlite file (one creates it, the others
    wait and find it made); a store that exists and was made elsewhere needs no lock."""
    db = sqlite_file(uri)
    if db is None:
        yield
        return
    import fcntl

    if db.exists() and db.stat().st_size > 0 and not Path(f"{db}.init.lock").exists():
        yield  # an existing store made elsewhere: nothing to create, no lock file to leave
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{db}.init.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_sqlite(uri: str, connect: Callable[[], T], label: str) -> T:
    """``connect()`` to the sqlite store at ``uri`` (``label`` in messages) once nobody
    else is migrating it.

    A missing store is made whole first (``create``). ``connect`` runs MLflow's own
    opening, which migrates a store that still needs it; the errors of a migration race
    are retried until ``WAIT_S``, then raised as TrackingUnavailable naming the store.
    Anything else (a file that is not a database, a read-only folder) is raised at once.
    """
    db = sqlite_file(uri)
    if db is None:
        return connect()
    with init_lock(uri):
        if not db.exists():
            create(db)
        return _when_ready(uri, db, connect, label)


def create(db: Path) -> None:
    """Build a new store in a file of our own and link it to ``db`` in one step.

    Other clients never see a half-made ``db``: it appears migrated, with its default
    experiment. If ``db`` appeared meanwhile (someone else is creating it), ours is
    dropped and theirs is opened; where the file system has no hard links, or the folder
    cannot be written, MLflow creates ``db`` in place as it would without hpsearch.
    """
    with _built_beside(db) as own:
        if own is not None:
            with contextlib.suppress(OSError):
                os.link(own, db)


def rebuild(db: Path) -> None:
    """Replace the schema of a store that holds no rows with a whole new one.

    A store left half-migrated by clients racing each other stays broken for everyone:
    each opening re-runs the migration and trips over the last one's leftovers. One that
    holds no rows has nothing to lose, so its content is replaced with a new store's in
    one transaction (sqlite's backup API), which is safe for connections that others
    hold open on the file.
    """
    # A file we cannot write or read is left to MLflow's own opening, which names the fault.
    with contextlib.suppress(sqlite3.Error), closing(sqlite3.connect(db, timeout=5)) as to:
        if _holds_rows(to):
            return  # someone's data: MLflow's own migration (or its error) it is
        with _built_beside(db) as own:
            if own is not None and not _holds_rows(to):
                with closing(sqlite3.connect(own)) as fresh:
                    fresh.backup(to)


@contextlib.contextmanager
def _built_beside(db: Path) -> Iterator[Path | None]:
    """A new, migrated store in a file of our own beside ``db`` (removed afterwards), or
    None where that folder cannot be written or MLflow cannot build one there."""
    own = db.with_name(f".{db.name}.{os.getpid()}.creating")
    try:
        own.open("x").close()  # a folder we cannot write fails here, not in MLflow's retries
    except OSError:
        yield None
        return
    try:
        try:
            _build(own)
            built = True
        except Exception:  # noqa: BLE001 - MLflow says what is wrong when it opens db itself
            built = False
        yield own if built else None
    finally:
        own.unlink(missing_ok=True)


#: The first new store this process built, as MLflow left it (before any use), by schema
#: revision. Building one runs MLflow's migrations (0.6-0.7 s of CPU here); later new stores
#: (a notebook or a sweep writing to several folders, the test suite) start as a copy of
#: it, on which MLflow only stamps its own default experiment.
_BLANK: dict[str, bytes] = {}


def _build(own: Path) -> None:
    """Make the empty file ``own`` a whole store, as MLflow would make it there."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking._tracking_service.utils import _get_sqlalchemy_store

    own_uri, blank = f"sqlite:///{own}", _BLANK.get(_head())
    if blank is not None:
        own.write_bytes(blank)
    try:
        store = _get_sqlalchemy_store(own_uri, None)  # the artifact root MLflow would pick
        location = str(store._get_artifact_location(0))
    finally:
        engine = SqlAlchemyStore._engine_map.pop(own_uri, None)
        if engine is not None:
            engine.dispose()  # no connection left open on the file we hand on
    if blank is None:
        _BLANK[_head()] = own.read_bytes()
        return
    now = int(time.time() * 1000)  # the default experiment as MLflow makes it for own
    with closing(sqlite3.connect(own)) as con, con:
        con.execute(
            "UPDATE experiments SET artifact_location = ?, creation_time = ?, "
            "last_update_time = ? WHERE experiment_id = 0",
            (location, now, now),
        )


def _holds_rows(con: sqlite3.Connection) -> bool:
    """Whether any table but alembic's bookkeeping holds a row (a store someone used)."""
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return any(
        con.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone()  # noqa: S608 - sqlite's own names
        for t in tables
        if t != "alembic_version"
    )


def _when_ready(uri: str, db: Path, connect: Callable[[], T], label: str) -> T:
    """Wait while the schema at ``db`` is moving and short of MLflow's, then connect;
    retry a migration race's errors until ``WAIT_S``."""
    start = changed = time.monotonic()
    seen: _Schema | str | None = None
    pause, error = 0.05, None
    while True:
        now = time.monotonic()
        state = _schema(db)
        if state == "busy" and seen is not None:  # a write: its change shows once read
            state = seen
        if state != seen:
            seen, changed = state, now
        moving = now - changed < SETTLE_S
        if not moving and isinstance(state, _Schema) and not state.complete:
            rebuild(db)  # settled short of MLflow's schema: stuck, and mended if it holds no rows
            state = _schema(db)
        if not moving or state in ("gone", "unreadable") or getattr(state, "complete", False):
            try:
                return connect()
            except Exception as exc:
                if not is_race(exc, moving=moving):
                    raise
                error = exc
                _discard_engine(uri)
        if now - start > WAIT_S:
            raise TrackingUnavailable(_not_ready(label, db, error)) from error
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)


def is_race(exc: BaseException, *, moving: bool) -> bool:
    """Whether ``exc`` (or what it was raised from) is what opening a store raises while
    another client migrates it. "Out-of-date schema" counts only while the schema is
    ``moving``: on a settled store it means an old store, an error of its own."""
    seen: set[int] = set()
    err: BaseException | None = exc
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        text = str(err).lower()
        module = type(err).__module__.split(".")[0]
        if module in ("sqlalchemy", "alembic", "sqlite3") and any(
            m in text for m in _RACE_MESSAGES
        ):
            return True
        if type(err) in _RACE_TYPES and _raised_in_migration(err):
            return True
        if moving and _OUT_OF_DATE in text:
            return True
        err = err.__cause__ or err.__context__
    return False


def _raised_in_migration(err: BaseException) -> bool:
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = tb.tb_frame.f_code.co_filename if tb is not None else ""
    return any(f"{os.sep}{lib}{os.sep}" in where for lib in ("alembic", "sqlalchemy"))


class _Schema(NamedTuple):
    """A store's schema as read at one moment (``counter`` is sqlite's schema cookie)."""

    counter: int
    revision: str | None
    tables: frozenset[str]
    complete: bool  # as this MLflow wants it: its revision, every table and column


def _schema(db: Path) -> _Schema | str:
    """The schema at ``db`` now; or ``gone``, ``busy`` (a writer holds the file) or
    ``unreadable`` (not a database: MLflow's own opening says so)."""
    if not db.exists():
        return "gone"
    try:  # read-only: never creates the file, never takes a write lock
        uri = f"{db.absolute().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=0.2)) as con:
            tables = frozenset(r[0] for r in con.execute("SELECT name FROM sqlite_master"))
            row = (
                con.execute("SELECT version_num FROM alembic_version").fetchone()
                if "alembic_version" in tables
                else None
            )
            counter = con.execute("PRAGMA schema_version").fetchone()[0]
            revision = row[0] if row else None
            complete = revision == _head() and _has_every_column(con, tables)
    except sqlite3.OperationalError as exc:
        return "busy" if "locked" in str(exc) else "unreadable"
    except sqlite3.DatabaseError:
        return "unreadable"
    return _Schema(counter, revision, tables, complete)


def _has_every_column(con: sqlite3.Connection, tables: frozenset[str]) -> bool:
    """Every table and column of MLflow's models is there: a migration step that another
    client re-ran on a finished store can leave a table rebuilt without later columns.
    (Leftover ``_alembic_tmp_*`` copies do not matter to MLflow, so not here either.)"""
    expected = _expected_columns()
    if not set(expected) <= tables:
        return False
    for name, columns in expected.items():
        there = {r[1] for r in con.execute(f'PRAGMA table_xinfo("{name}")')}
        if not columns <= there:
            return False
    return True


@functools.cache
def _head() -> str:
    """The schema revision this MLflow migrates a store to."""
    from mlflow.store.db.utils import _get_latest_schema_revision

    return str(_get_latest_schema_revision())


@functools.cache
def _expected_columns() -> dict[str, set[str]]:
    """MLflow's tables and their columns, from its models."""
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401 - registers every table
    from mlflow.store.db.base_sql_model import Base

    return {name: {c.name for c in t.columns} for name, t in Base.metadata.tables.items()}


def _discard_engine(uri: str) -> None:
    """Drop MLflow's cached engine for ``uri`` so that the next try connects afresh.

    A failed opening caches no store (MLflow's store cache is an ``lru_cache``, which keeps
    no exceptions) but leaves its engine in ``SqlAlchemyStore._engine_map``."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    engine = SqlAlchemyStore._engine_map.pop(uri, None)
    if engine is not None:
        engine.dispose()


def _not_ready(label: str, db: Path, error: BaseException | None) -> str:
    state = _schema(db)
    revision = state.revision if isinstance(state, _Schema) else state
    tables = state.tables if isinstance(state, _Schema) else frozenset()
    leftovers = sorted(t for t in tables if t.startswith("_alembic_tmp_"))
    left = f", leftover tables {', '.join(leftovers)}" if leftovers else ""
    last = str(error).splitlines()[0][:200] if error is not None else "none"
    return (
        f"the MLflow store at {label} is not ready after {WAIT_S:.0f} s: another MLflow client "
        f"is creating or migrating it, or left its migration half-done (schema revision "
        f"{revision or 'none'}, this MLflow expects {_head()}{left}); last error: {last}"
    )
