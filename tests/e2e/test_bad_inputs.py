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
        for flag, value in (
            ("--tracking-uri", f"sqlite:///{tmp}/m.db"),
            ("--output", f"{tmp}/out"),
        ):
            if flag not in argv:  # the case's own value is what it tests
                argv += [flag, value]
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
    assert len(err) <= 320, f"an error line of {len(err)} characters"
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


# ---------------------------------------------------------------------------- generated inputs
# Inputs too large, too strange or not committable (a FIFO, a parquet list column) for the
# corpus folder: each is made in a scratch folder and must fail like a corpus case, fast.

_SPACE_HEAD = "name: t\ndataset:\n  name: {dataset}\n  target: y\nhyperparameters:\n  n_hidden: 1\n"


def _deep_nesting(tmp: Path) -> tuple[list[str], str, str]:
    (tmp / "deep.yaml").write_text("name: t\nx: " + "[" * 20000 + "]" * 20000 + "\n")
    return ["validate", str(tmp / "deep.yaml")], f"{tmp}/deep.yaml:2:", "nested more than 64"


def _big_file(tmp: Path) -> tuple[list[str], str, str]:
    body = "".join(f"# padding line {i} {'x' * 80}\n" for i in range(60000))  # ~5 MB
    (tmp / "big.yaml").write_text(_SPACE_HEAD.format(dataset="digits") + body)
    return ["validate", str(tmp / "big.yaml")], f"{tmp}/big.yaml:", "may have at most 131,072"


def _fifo(tmp: Path) -> tuple[list[str], str, str]:
    os.mkfifo(tmp / "pipe.csv")  # opening it would block forever
    (tmp / "s.yaml").write_text(_SPACE_HEAD.format(dataset=f"csv:{tmp}/pipe.csv"))
    return ["validate", str(tmp / "s.yaml"), "--data"], f"{tmp}/s.yaml:3:", "not a regular file"


def _fifo_space(tmp: Path) -> tuple[list[str], str, str]:
    os.mkfifo(tmp / "space.yaml")
    return ["validate", str(tmp / "space.yaml")], f"{tmp}/space.yaml:", "not a regular file"


def _parquet_list_column(tmp: Path) -> tuple[list[str], str, str]:
    import pandas as pd

    frame = pd.DataFrame({"a": range(30), "tags": [[i, i + 1] for i in range(30)],
                          "y": [i % 2 for i in range(30)]})  # fmt: skip
    frame.to_parquet(tmp / "d.parquet")
    (tmp / "s.yaml").write_text(_SPACE_HEAD.format(dataset=f"parquet:{tmp}/d.parquet"))
    return (["validate", str(tmp / "s.yaml"), "--data"], f"{tmp}/s.yaml:3:",
            "column 'tags' holds ndarray values, not scalars")  # fmt: skip


def _long_value(tmp: Path) -> tuple[list[str], str, str]:
    (tmp / "s.yaml").write_text(
        "name: t\ndataset: {name: digits}\nhyperparameters:\n  activation: " + "r" * 100000 + "\n"
    )
    return ["validate", str(tmp / "s.yaml")], f"{tmp}/s.yaml:4:", "unknown activation 'rrrr"


def _binary_csv(tmp: Path) -> tuple[list[str], str, str]:
    (tmp / "d.csv").write_bytes(b"a,b,y\n" + bytes(range(256)) * 100)
    (tmp / "s.yaml").write_text(_SPACE_HEAD.format(dataset=f"csv:{tmp}/d.csv"))
    return ["validate", str(tmp / "s.yaml"), "--data"], f"{tmp}/s.yaml:3:", "binary data"


GENERATED = {
    "deep-nesting": _deep_nesting,
    "five-megabyte-space": _big_file,
    "csv-is-a-fifo": _fifo,
    "space-is-a-fifo": _fifo_space,
    "parquet-list-column": _parquet_list_column,
    "value-of-100k-characters": _long_value,
    "binary-csv": _binary_csv,
}


@pytest.mark.parametrize("make", GENERATED.values(), ids=list(GENERATED))
def test_generated_bad_input_is_refused_fast(make: Any, tmp_path: Path) -> None:
    import time

    argv, where, expect = make(tmp_path)
    started = time.monotonic()
    code, out, err = _process(argv, tmp_path)
    elapsed = time.monotonic() - started
    assert "Traceback" not in out + err
    assert code == 2, f"exit {code}\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"
    lines = err.splitlines()
    assert len(lines) == 1 and len(lines[0]) <= 310, err[:1000]
    assert lines[0].startswith(f"error: {where}"), lines[0]
    assert expect in lines[0], lines[0]
    assert elapsed < 10, f"{elapsed:.1f} s"  # a process start is ~1-3 s here; a hang is not


def test_validate_never_lists_a_huge_space(tmp_path: Path) -> None:
    """A valid space of 1e9 x 1e6 values: validate computes its size, lists nothing."""
    import time

    (tmp_path / "s.yaml").write_text(
        "name: t\ndataset: {name: digits}\nhyperparameters:\n"
        "  first_decay_steps: {int: [1, 1000000000]}\n"
        "  batch_size: {int: [1, 1000000]}\n"
    )
    started = time.monotonic()
    code, out, err = _process(["validate", str(tmp_path / "s.yaml")], tmp_path)
    assert code == 0, err
    assert "space size: 1,000,000,000,000,000 configurations" in out
    assert time.monotonic() - started < 10
