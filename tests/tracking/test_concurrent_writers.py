"""Two searches writing to one sqlite MLflow store at the same time lose no run."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.spaces import tiny_space_text

pytestmark = pytest.mark.slow

#: The tiny space of one-epoch trials that each search writes, with its own seed.
CONCURRENT: dict[str, Any] = {
    "name": "concurrent",
    "hyperparameters": {
        "n_hidden": 1,
        "n_neurons": {"int": [8, 32]},
        "learning_rate": {"float": [1e-3, 1e-2], "log": True},
    },
    "training": {"epochs": 1, "patience": 0},
    "search": {"strategy": "random", "max_trials": 2},
}


def _store(db: Path) -> list[tuple[str, str, str | None, str | None]]:
    """(run id, status, hpsearch.role, parent run id) of every run in the store."""
    with closing(sqlite3.connect(db)) as con:
        return con.execute(
            """
            SELECT r.run_uuid, r.status,
                   (SELECT value FROM tags t WHERE t.run_uuid = r.run_uuid
                      AND t.key = 'hpsearch.role'),
                   (SELECT value FROM tags t WHERE t.run_uuid = r.run_uuid
                      AND t.key = 'mlflow.parentRunId')
            FROM runs r
            """
        ).fetchall()


def test_two_searches_into_one_sqlite_store(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    env = os.environ | {
        "COLUMNS": "100",
        # two processes share the machine's cores; keep each TensorFlow to one thread pool
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    procs = []
    for seed in (1, 2):
        space = tmp_path / f"space{seed}.yaml"
        space.write_text(tiny_space_text(CONCURRENT, search={"seed": seed}), encoding="utf-8")
        cmd = [
            sys.executable,
            "-m",
            "hpsearch.cli",
            "run",
            str(space),
            "--tracking-uri",
            f"sqlite:///{db}",
            "--experiment",
            "shared",  # the same experiment: both may try to create it
            "--output",
            str(tmp_path / f"out{seed}"),
            "--json",
        ]
        procs.append(
            subprocess.Popen(
                cmd,
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=300) for p in procs]

    reported = set()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert "database is locked" not in err, err
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
        summary = json.loads(out.strip().splitlines()[-1])
        assert (summary["experiment"], summary["finished"]) == ("shared", 2), summary
        reported.add(summary["parent_run_id"])

    runs = _store(db)
    parents = {run_id for run_id, _, role, _ in runs if role == "search"}
    children = [(run_id, parent) for run_id, _, role, parent in runs if role == "trial"]
    assert parents == reported, runs
    assert len(children) == 4, runs
    assert {parent for _, parent in children} == parents
    assert sorted(parent for _, parent in children).count(sorted(parents)[0]) == 2
    assert {status for _, status, _, _ in runs} == {"FINISHED"}, runs
    with closing(sqlite3.connect(db)) as con:
        experiments = con.execute(
            "SELECT COUNT(*) FROM experiments WHERE name = 'shared'"
        ).fetchone()[0]
    assert experiments == 1
