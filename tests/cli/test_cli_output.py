"""hpsearch.cli.output: one-line errors with their exit codes, and the small lines."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import typer

from hpsearch.cli.output import failing, print_compare_start, print_log, print_warning
from hpsearch.errors import DataError, NoSearches, SpaceError, TrackingUnavailable
from hpsearch.space import load_space

SPACE = "name: t\ndataset:\n  name: digits\nhyperparameters:\n  n_hidden: {int: [1, 3]}\n"


def test_a_usage_error_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as info, failing(usage=(NoSearches,)):
        raise NoSearches("no searches in experiment 'x'")
    assert info.value.exit_code == 2
    assert capsys.readouterr().err == "error: no searches in experiment 'x'\n"


def test_a_failed_run_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with (
        pytest.raises(typer.Exit) as info,
        failing(usage=(NoSearches,), failed=(TrackingUnavailable,), prefix="--final-fit: "),
    ):
        raise TrackingUnavailable("cannot reach http://x")
    assert info.value.exit_code == 1
    assert capsys.readouterr().err == "error: --final-fit: cannot reach http://x\n"


def test_other_errors_go_on_to_main(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KeyError), failing(usage=(NoSearches,), failed=(TrackingUnavailable,)):
        raise KeyError("bug")
    assert capsys.readouterr().err == ""


def test_a_data_error_points_at_its_setting(
    write_space: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_space(SPACE)
    space = load_space(path)
    with pytest.raises(typer.Exit) as info, failing(usage=(DataError, SpaceError), space=space):
        raise DataError("no such dataset")
    assert info.value.exit_code == 2
    assert capsys.readouterr().err == f"error: {path}:3: dataset.name: no such dataset\n"


def test_the_small_lines(capsys: pytest.CaptureFixture[str]) -> None:
    print_warning("careful")
    print_compare_start("random", "ray")
    print_log("entry 1 done")
    lines = capsys.readouterr().err.splitlines()
    assert lines[:2] == ["warning: careful", "compare: random on ray"]
    assert re.fullmatch(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] entry 1 done", lines[2])
