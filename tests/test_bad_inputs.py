"""The bad-input corpus: each case in tests/bad_inputs/cases.yaml must end in exit code 2 and
exactly one ``error:`` line that says where the problem is, and never in a traceback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpsearch.cli import main

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES: list[dict[str, Any]] = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
KEYS = {"id", "args", "where", "flag", "expect", "process"}


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{dir}", str(CORPUS)).replace("{tmp}", str(tmp))


def _argv(case: dict[str, Any], tmp: Path) -> list[str]:
    argv = [_fill(str(a), tmp) for a in case["args"]]
    if argv[0] == "run":
        argv += ["--tracking-uri", f"sqlite:///{tmp}/m.db", "--output", f"{tmp}/out"]
    return argv


def _in_process(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, str, str]:
    """``hpsearch.cli.main()`` as the console script calls it: exit code, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["hpsearch", *argv])
    with pytest.raises(SystemExit) as info:
        main()
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def _process(argv: list[str], cwd: Path) -> tuple[Any, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "hpsearch.cli", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=os.environ | {"COLUMNS": "100"},
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def _runs_in(db: Path) -> int:
    """How many MLflow runs a sqlite store holds (0 when it was never created)."""
    if not db.exists():
        return 0
    with closing(sqlite3.connect(db)) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] if "runs" in tables else 0


def test_corpus_is_complete() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids), "duplicate case ids"
    for case in CASES:
        assert set(case) <= KEYS, case["id"]
        assert ("where" in case) != ("flag" in case), case["id"]
    used = {Path(_fill(a, CORPUS)).name for case in CASES for a in map(str, case["args"])}
    inputs = {p.name for p in CORPUS.glob("*.yaml")} - {"cases.yaml"}
    referenced_csvs = {
        line.split("data/")[-1].strip()
        for p in CORPUS.glob("*.yaml")
        for line in p.read_text(encoding="latin-1").splitlines()
        if "csv:data/" in line
    }
    assert inputs <= used, f"inputs no case uses: {sorted(inputs - used)}"
    csvs = {p.name for p in (CORPUS / "data").iterdir()}
    assert csvs <= referenced_csvs, f"data files no space uses: {sorted(csvs - referenced_csvs)}"


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_bad_input_gives_one_line_and_exit_2(
    case: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # a search started by mistake writes nothing into the repo
    argv = _argv(case, tmp_path)
    if case.get("process"):
        code, out, err = _process(argv, tmp_path)
    else:
        code, out, err = _in_process(argv, capsys, monkeypatch)

    assert "Traceback" not in out + err
    assert code == 2, f"exit {code}\nstdout: {out}\nstderr: {err}"
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("error: "), line
    if "where" in case:
        assert line.startswith("error: " + _fill(case["where"], tmp_path)), line
    else:
        assert case["flag"] in line, line
    assert case["expect"] in line, line
    assert out == "", out
    if argv[0] == "run":  # bad input is caught before any MLflow run or output folder
        assert _runs_in(tmp_path / "m.db") == 0
        assert not (tmp_path / "out").exists()
