"""Field paths: the dotted names errors print, and the lines they point at."""

from __future__ import annotations

import pytest

from hpsearch.space.fields import clean_msg, field_name, line_for, path_of


@pytest.mark.parametrize(
    ("field", "path"),
    [
        ("hyperparameters.n_hidden.int[0]", ("hyperparameters", "n_hidden", "int", 0)),
        ("a.b[0][1]", ("a", "b", 0, 1)),
        ("search", ("search",)),
    ],
)
def test_a_field_and_its_path_round_trip(field: str, path: tuple[object, ...]) -> None:
    assert path_of(field) == path
    assert field_name(path) == field


def test_a_missing_path_takes_its_nearest_parents_line() -> None:
    lines = {(): 1, ("search",): 4, ("search", "strategy"): 5}
    assert line_for(lines, ("search", "strategy")) == 5
    assert line_for(lines, ("search", "seed")) == 4  # a default: no line of its own
    assert line_for(lines, ("training", "epochs")) == 1
    assert line_for({}, ("training",)) is None


def test_pydantics_value_error_prefix_is_dropped() -> None:
    assert clean_msg("Value error, nothing left to train on") == "nothing left to train on"
    assert clean_msg("Input should be greater than 0") == "Input should be greater than 0"
