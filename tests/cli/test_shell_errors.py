"""Unexpected internal errors: one line and exit code 1, the traceback only with --debug."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hpsearch.api
import hpsearch.cli.options
from hpsearch.cli import main

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "search_spaces" / "digits.yaml"
HINT = "(run with --debug for the traceback)"


def _raise(exc: BaseException) -> Any:
    def run_search(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return run_search


def _main(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, str, str]:
    monkeypatch.setattr(sys, "argv", ["hpsearch", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def _run_args(tmp_path: Path) -> list[str]:
    return [
        "run",
        str(DIGITS),
        "--tracking-uri",
        f"sqlite:///{tmp_path}/m.db",
        "--output",
        str(tmp_path / "out"),
    ]


def test_unexpected_error_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hpsearch.api, "run_search", _raise(RuntimeError("boom\nmore detail")))
    code, out, err = _main(_run_args(tmp_path), capsys, monkeypatch)
    assert code == 1
    assert out == ""
    assert err.splitlines()[-1:] == [f"error: RuntimeError: boom {HINT}"]
    assert [line for line in err.splitlines() if line.startswith("error")] == [
        f"error: RuntimeError: boom {HINT}"
    ]
    assert "Traceback" not in err
    assert "more detail" not in err


def test_unexpected_error_without_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hpsearch.api, "run_search", _raise(KeyError()))
    code, _, err = _main(_run_args(tmp_path), capsys, monkeypatch)
    assert code == 1
    assert err.strip().splitlines()[-1] == f"error: KeyError {HINT}"


def test_unexpected_error_in_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(hpsearch.cli.options, "load_space", broken)
    code, out, err = _main(["validate", str(DIGITS)], capsys, monkeypatch)
    assert (code, out) == (1, "")
    assert err == f"error: ZeroDivisionError: division by zero {HINT}\n"


def test_debug_lets_the_exception_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hpsearch.api, "run_search", _raise(RuntimeError("boom")))
    monkeypatch.setattr(sys, "argv", ["hpsearch", "--debug", *_run_args(tmp_path)])
    with pytest.raises(RuntimeError, match="boom"):
        main()
    assert HINT not in capsys.readouterr().err


def test_debug_does_not_stick_to_the_next_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hpsearch.api, "run_search", _raise(RuntimeError("boom")))
    monkeypatch.setattr(sys, "argv", ["hpsearch", "--debug", *_run_args(tmp_path)])
    with pytest.raises(RuntimeError):
        main()
    code, _, err = _main(_run_args(tmp_path), capsys, monkeypatch)
    assert code == 1
    assert err.strip().splitlines()[-1] == f"error: RuntimeError: boom {HINT}"


def test_keyboard_interrupt_exits_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hpsearch.api, "run_search", _raise(KeyboardInterrupt()))
    code, _, err = _main(_run_args(tmp_path), capsys, monkeypatch)
    assert code == 130  # typer turns Ctrl+C into Exit(130): not an "unexpected error"
    assert "Traceback" not in err
    assert HINT not in err


def test_bad_input_still_exits_2_with_debug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = _main(
        ["--debug", "validate", str(tmp_path / "absent.yaml")], capsys, monkeypatch
    )
    assert code == 2
    assert err == f"error: {tmp_path / 'absent.yaml'}: no such file\n"


def test_debug_is_in_the_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = _main(["--help"], capsys, monkeypatch)
    assert code == 0
    assert "--debug" in out


# A real process: the error is injected, and everything else is the console script's path.
_PROBE = """
import sys
import hpsearch.api

def run_search(*args, **kwargs):
    raise RuntimeError("injected failure")

hpsearch.api.run_search = run_search
from hpsearch.cli import main
sys.argv = ["hpsearch", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_process_unexpected_error(tmp_path: Path, debug: bool) -> None:
    args = ["--debug"] * debug + _run_args(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=os.environ | {"COLUMNS": "100"},
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    if debug:
        assert "Traceback (most recent call last)" in done.stderr
        assert done.stderr.strip().splitlines()[-1] == "RuntimeError: injected failure"
        assert HINT not in done.stderr
    else:
        assert "Traceback" not in done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
        assert errors == [f"error: RuntimeError: injected failure {HINT}"]


def test_bad_input_no_command_mapped_is_still_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every UsageError means exit 2, even one a command does not list itself (here a
    NoSearches out of run_search, which `run` does not expect): no traceback, no debug hint."""
    from hpsearch.errors import NoSearches

    monkeypatch.setattr(hpsearch.api, "run_search", _raise(NoSearches("experiment 'x'\nis empty")))
    code, out, err = _main(_run_args(tmp_path), capsys, monkeypatch)
    assert (code, out) == (2, "")
    assert [line for line in err.splitlines() if line.startswith("error")] == [
        "error: experiment 'x' is empty"
    ]
    assert "Traceback" not in err and HINT not in err
