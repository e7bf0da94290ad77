"""A new sqlite store that plain MLflow clients create or migrate while hpsearch opens it.

MLflow migrates a new sqlite file in place, unlocked: clients opening it at once fail with
"table ... already exists", alembic's "Online migration expected to match one row" and
more, and can leave it half-migrated for good. hpsearch must come through (and mend such a
store while it holds nothing), and fail fast on a file that is simply broken.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from tests.in_process import hpsearch

#: Plain MLflow users: ``n`` forks of one process that imported mlflow (one import, not
#: ``n``, on 2 cores), each opening the store and adding an experiment, and retrying any
#: error after a short pause as a script or notebook would, until it works or a minute has
#: passed. They start the moment ``barrier`` exists; each writes what it met to ``out``N.
PLAIN_CLIENTS = r"""
import json, os, sys, time
uri, barrier, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
from mlflow.tracking import MlflowClient
import alembic.command, mlflow.store.tracking.sqlalchemy_store  # warm: no import stands
mlflow.store.db.utils._get_latest_schema_revision()             # between barrier and race
for i in range(n - 1):
    if os.fork() == 0:
        break
else:
    i = n - 1
open(f"{out}{i}.ready", "w").close()
while not os.path.exists(barrier):
    time.sleep(0.001)
errors, ok, end = [], False, time.monotonic() + 60
while not ok and time.monotonic() < end:
    try:
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=5)
        if client.get_experiment_by_name(f"plain-{i}") is None:
            client.create_experiment(f"plain-{i}")
        ok = True
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        time.sleep(0.2)
with open(f"{out}{i}", "w") as f:
    json.dump({"ok": ok, "errors": errors}, f)
if i < n - 1:
    os._exit(0)
for _ in range(n - 1):
    os.wait()
"""


@contextmanager
def plain_clients(uri: str, barrier: Path, folder: Path, n: int = 3) -> Iterator[list[Path]]:
    """``n`` plain MLflow clients, mlflow imported and waiting on ``barrier``; yields the
    files their reports will be in, and waits for them (or kills them) on the way out."""
    out = folder / "plain"
    outs = [folder / f"plain{i}" for i in range(n)]
    proc = subprocess.Popen(
        [sys.executable, "-c", PLAIN_CLIENTS, uri, str(barrier), str(out), str(n)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the forks share its process group: killed together
    )
    try:
        deadline = time.monotonic() + 60
        while not all(Path(f"{o}.ready").exists() for o in outs):
            assert time.monotonic() < deadline, "the plain clients did not start"
            assert proc.poll() is None, "the plain clients died starting"
            time.sleep(0.02)
        yield outs
        proc.wait(timeout=90)  # the first process waits for its forks
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def reports(outs: list[Path]) -> list[dict[str, object]]:
    return [json.loads(out.read_text()) for out in outs]


@pytest.mark.slow
def test_a_run_creates_its_store_while_three_plain_clients_open_it(
    tiny_space: Callable[..., Path], tmp_path: Path
) -> None:
    """Three plain clients start opening the store the moment `hpsearch run` starts making
    it (its lock file appears), and race each other to migrate it, often leaving it
    half-migrated: the run ends with its trial logged, and the clients, who retry as users
    do, all get in too."""
    space = tiny_space(search={"max_trials": 1}, training={"epochs": 1})
    db = tmp_path / "m.db"
    uri = f"sqlite:///{db}"
    with plain_clients(uri, Path(f"{db}.init.lock"), tmp_path) as outs:
        done = hpsearch("run", str(space), "--tracking-uri", uri, "--output", str(tmp_path / "out"),
                        cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with closing(sqlite3.connect(db)) as con:
        (trials,) = con.execute(
            "SELECT count(*) FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            "WHERE t.key = 'hpsearch.role' AND t.value = 'trial' AND r.status = 'FINISHED'"
        ).fetchone()
    assert trials == 1
    assert all(r["ok"] for r in reports(outs)), reports(outs)


# ------------------------------------------------------------- stuck stores and broken files


def half_migrated(db: Path, *, rows: bool = False) -> None:
    """A store as racing clients leave it: MLflow's first tables, and a leftover copy of
    each (alembic's ``_alembic_tmp_*``), so every migration trips over one for good."""
    import sqlalchemy
    from mlflow.store.tracking.dbmodels.initial_models import Base

    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    engine.dispose()
    with closing(sqlite3.connect(db)) as con, con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for name in tables:
            con.execute(f'CREATE TABLE "_alembic_tmp_{name}" (id INTEGER)')
        if rows:
            con.execute("INSERT INTO experiments (experiment_id, name) VALUES (7, 'kept')")


def test_a_half_migrated_store_that_holds_nothing_is_mended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain clients fail on such a store every time; hpsearch waits for it to settle,
    replaces it with a whole new store (it holds no rows, so nothing is lost), and opens
    it. MLflow's own opening then accepts it too."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking import MlflowClient

    from hpsearch.tracking import ensure_experiment, sqlite_store
    from hpsearch.tracking.store import _client

    monkeypatch.setattr(sqlite_store, "SETTLE_S", 0.3)
    db = tmp_path / "m.db"
    uri = f"sqlite:///{db}"
    half_migrated(db)
    for _ in range(2):
        with pytest.raises(Exception, match=r"already exists|duplicate column"):
            MlflowClient(tracking_uri=uri).search_experiments()
    client = _client(uri)
    assert ensure_experiment(client, "tiny")
    assert not [t for t in sqlite_store._schema(db).tables if t.startswith("_alembic_tmp_")]
    SqlAlchemyStore(uri, str(tmp_path / "artifacts"))  # MLflow's checks, not its cache
    assert {e.name for e in client.search_experiments()} == {"Default", "tiny"}


def test_a_stuck_store_that_holds_rows_is_left_alone_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone's data is never replaced: after the wait, one line (exit 1) names the store,
    its revision and the leftovers, and the row is still there."""
    from hpsearch.tracking import sqlite_store

    monkeypatch.setattr(sqlite_store, "SETTLE_S", 0.3)
    monkeypatch.setattr(sqlite_store, "WAIT_S", 2.0)
    db = tmp_path / "m.db"
    uri = f"sqlite:///{db}"
    half_migrated(db, rows=True)
    done = hpsearch("best", "--experiment", "kept", "--tracking-uri", uri, cwd=tmp_path)
    assert done.returncode == 1, (done.stdout, done.stderr)
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: the MLflow store at {uri} is not ready after 2 s"), line
    assert "leftover tables _alembic_tmp_" in line and "last error: " in line
    with closing(sqlite3.connect(db)) as con:
        assert con.execute("SELECT name FROM experiments").fetchall() == [("kept",)]


def test_a_file_that_is_not_a_database_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken file is no race: no wait, no retry, one line."""
    from hpsearch.tracking import sqlite_store

    monkeypatch.setattr(sqlite_store, "SETTLE_S", 20.0)  # a wait would show in the time
    db = tmp_path / "m.db"
    db.write_bytes(b"not a database" * 300)
    start = time.monotonic()
    done = hpsearch("best", "--experiment", "x", "--tracking-uri", f"sqlite:///{db}", cwd=tmp_path)
    assert time.monotonic() - start < 10
    assert done.returncode == 1, (done.stdout, done.stderr)
    (line,) = done.stderr.strip().splitlines()
    assert "file is not a database" in line, line


def _raised_in(module_file: str, exc: BaseException) -> BaseException:
    """``exc`` as if raised by code in ``module_file`` (alembic's, say)."""
    try:
        exec(compile("raise exc", module_file, "exec"), {"exc": exc})
    except BaseException as raised:
        return raised
    raise AssertionError("not raised")


def _error(case: str) -> BaseException:
    """What a race raises (first group), and real faults that look alike (second)."""
    from alembic.util.exc import CommandError
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import CircularDependencyError, DatabaseError, IntegrityError
    from sqlalchemy.exc import OperationalError as SAOperationalError

    sql = {"OperationalError": SAOperationalError, "IntegrityError": IntegrityError,
           "DatabaseError": DatabaseError}  # fmt: skip
    kind, _, text = case.partition(": ")
    if kind in sql:
        return sql[kind]("SELECT 1", {}, sqlite3.OperationalError(text))
    if kind == "CommandError":
        return CommandError(text)
    if kind == "CircularDependencyError":
        return CircularDependencyError(text, [], [])
    if kind == "MlflowException":
        return MlflowException(text)
    if kind == "PermissionError":
        return PermissionError(13, text)
    where, _, kind = kind.partition(" ")  # "alembic ValueError: ..." raised in alembic's code
    file = f"{os.sep}{where}{os.sep}operations{os.sep}batch.py"
    return _raised_in(
        file, {"ValueError": ValueError, "AttributeError": AttributeError}[kind](text)
    )


OUT_OF_DATE = "MlflowException: Detected out-of-date database schema (found version x)"


@pytest.mark.parametrize(
    ("case", "moving", "retried"),
    [
        ("OperationalError: table _alembic_tmp_experiments already exists", False, True),
        ("OperationalError: duplicate column name: step", False, True),
        ("OperationalError: no such column: spans.dimension_attributes", False, True),
        ("OperationalError: database is locked", False, True),
        ("IntegrityError: UNIQUE constraint failed: experiments.experiment_id", False, True),
        ("CommandError: Online migration expected to match one row when updating", False, True),
        ("CircularDependencyError: Circular dependency detected.", False, True),
        ("alembic ValueError: No such index: 'ix'", False, True),
        ("sqlalchemy AttributeError: dimension_attributes", False, True),
        (OUT_OF_DATE, True, True),
        (OUT_OF_DATE, False, False),  # a settled store that is old: the user's to upgrade
        ("DatabaseError: file is not a database", False, False),
        ("OperationalError: attempt to write a readonly database", False, False),
        ("OperationalError: unable to open database file", False, False),
        ("OperationalError: disk I/O error", False, False),
        ("hpsearch ValueError: No such index: 'ix'", False, False),  # our bug, not a race
        ("MlflowException: Experiment 'x' already exists.", False, False),
        ("PermissionError: Permission denied", True, False),
    ],
)
def test_only_the_race_is_retried(case: str, moving: bool, retried: bool) -> None:
    """The errors seen racing are retried; real faults, even worded alike, are not."""
    from hpsearch.tracking.sqlite_store import is_race

    assert is_race(_error(case), moving=moving) is retried
