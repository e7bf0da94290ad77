"""A process's later new sqlite stores start as a copy of its first: the same store MLflow
would have made, without running its migrations again."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from hpsearch.tracking import sqlite_store, store


def _schema(db: Path) -> list[tuple[Any, ...]]:
    """Every table, index and column as declared. MLflow's own migrations declare a table's
    constraints in an order that changes from one build to the next, so each statement is
    compared as its set of lines."""
    with closing(sqlite3.connect(db)) as con:
        rows = con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
        return sorted(
            (kind, name, table, sorted(ln.strip().rstrip(",") for ln in (sql or "").splitlines()))
            for kind, name, table, sql in rows
        )


def _rows(db: Path, table: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as con:
        return list(con.execute(f'SELECT * FROM "{table}"'))


def test_later_new_stores_are_copies_mlflow_would_have_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.store.db.utils as db_utils
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    monkeypatch.setattr(sqlite_store, "_BLANK", {})
    upgrades: list[object] = []
    real_upgrade = db_utils._upgrade_db

    def counted(engine: object) -> None:
        upgrades.append(engine)
        real_upgrade(engine)

    monkeypatch.setattr(db_utils, "_upgrade_db", counted)
    for name in ("first", "second", "third", "mlflow"):
        (tmp_path / name).mkdir()

    monkeypatch.chdir(tmp_path / "first")
    store._client(f"sqlite:///{tmp_path / 'first' / 'm.db'}")
    monkeypatch.chdir(tmp_path / "second")
    client = store._client(f"sqlite:///{tmp_path / 'second' / 'm.db'}")
    monkeypatch.chdir(tmp_path / "third")
    store._client(f"sqlite:///{tmp_path / 'third' / 'm.db'}")
    assert len(upgrades) == 1  # MLflow migrated the first store only

    # MLflow's own store, made where the second was made, for comparison.
    monkeypatch.chdir(tmp_path / "second")
    own = SqlAlchemyStore(f"sqlite:///{tmp_path / 'mlflow' / 'm.db'}", "./mlruns")
    own.engine.dispose()
    for made in ("second", "third"):
        db = tmp_path / made / "m.db"
        assert _schema(db) == _schema(tmp_path / "mlflow" / "m.db")
        revision = _rows(tmp_path / "mlflow" / "m.db", "alembic_version")
        assert _rows(db, "alembic_version") == revision
    second = client.get_experiment("0")
    assert second.name == "Default"
    assert second.artifact_location == own.get_experiment("0").artifact_location
    third = store._client(f"sqlite:///{tmp_path / 'third' / 'm.db'}").get_experiment("0")
    assert third.artifact_location.endswith(f"{tmp_path.name}/third/mlruns/0")
    assert third.creation_time >= second.creation_time
    exp = client.create_experiment("after-the-copy")  # the copy is a working store
    assert client.get_experiment(exp).name == "after-the-copy"
