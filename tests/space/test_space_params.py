"""The parameter types: what each YAML form of a hyperparameter parses to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hpsearch.space import (
    OPTIMIZERS,
    Bool,
    Choice,
    Fixed,
    FloatRange,
    IntRange,
    SpaceError,
    did_you_mean,
    label,
    load_space,
    parse_param,
    short,
)
from tests.space.space_texts import BASE


def test_declared_defaults_win(write_space: Callable[..., Path]) -> None:
    text = (
        BASE.replace("{int: [1, 3]}", "{int: [1, 3], default: 2}")
        + "  optimizer: {choice: [sgd, adam]}\n"
        + "  activation: {choice: [relu, tanh], default: tanh}\n"
        + "  normalize: {bool: true}\n"
    )
    space = load_space(write_space(text))
    assert space.default_of("n_hidden") == 2
    assert space.default_of("optimizer") == "sgd"  # no default: the first option
    assert space.default_of("activation") == "tanh"
    assert space.params["normalize"] == Bool(default=True)
    assert isinstance(space.params["optimizer"], Choice)


def test_each_form_parses_to_its_type() -> None:
    assert parse_param("dropout", 0.25, "d") == Fixed(value=0.25)
    assert parse_param("n_hidden", 2.0, "n") == Fixed(value=2)  # an integral float is an int
    assert parse_param("normalize", {"bool": None}, "b") == Bool(default=False)
    assert parse_param("optimizer", {"choice": ["sgd", "adam"], "default": "adam"}, "o") == (
        Choice(options=["sgd", "adam"], default="adam")
    )
    assert parse_param("n_hidden", {"int": [1, 3]}, "n") == IntRange(min=1, max=3)
    assert parse_param("learning_rate", {"float": [1e-4, 1e-2], "log": True}, "l") == (
        FloatRange(min=1e-4, max=1e-2, log=True)
    )


def test_range_values_follow_keras_tuner_steps() -> None:
    widths = parse_param("n_neurons", {"int": [16, 128], "step": 2, "log": True}, "n")
    assert widths.values() == [16, 32, 64, 128] and widths.count() == 4
    dropout = parse_param("dropout", {"float": [0.0, 0.3], "step": 0.1}, "d")
    assert dropout.values() == [0.0, 0.1, 0.2, 0.3]  # no 0.30000000000000004
    rate = parse_param("learning_rate", {"float": [1e-4, 1e-2], "log": True}, "l")
    assert rate.count() is None and rate.values() is None


@pytest.mark.parametrize(
    ("name", "raw", "field", "message"),
    [
        ("n_hidden", [1, 2], "h", "a list needs a kind: write {choice: [1, 2]}"),
        ("n_hidden", {"float": [1, 2]}, "h", "n_hidden cannot be a float range"),
        ("dropout", {"bool": True}, "h", "dropout cannot be a bool"),
        (
            "n_hidden",
            {"int": [1, 3], "choice": [1]},
            "h",
            "a distribution needs exactly one of int, float, choice, bool (got int, choice)",
        ),
        (
            "n_hidden",
            {"int": [1, 3], "stp": 1},
            "h.stp",
            "unknown key 'stp' for int (did you mean 'step'?); allowed: default, log, step",
        ),
        ("normalize", {"bool": True, "default": True}, "h.default", "allowed: nothing else"),
        ("optimizer", {"choice": "adam"}, "h.choice", "choice needs a list of values"),
        ("optimizer", {"choice": ["adam", "adam"]}, "h.choice", "choice has duplicate values"),
        ("n_hidden", {"choice": [1, 2], "default": 3}, "h.default", "default 3 is not a choice"),
        ("n_hidden", {"int": [1]}, "h.int", "int needs [min, max]"),
        ("n_hidden", {"int": [1, 3], "log": "yes"}, "h.log", "expected true or false, got 'yes'"),
        (
            "n_hidden",
            {"int": [1, 3], "log": True, "step": 1},
            "h.step",
            "a log int range's step multiplies (1, 1*step, ...): it must be >= 2, got 1",
        ),
        (
            "dropout",
            {"float": [0.1, 0.5], "step": 0.1, "log": True},
            "h.step",
            "cannot be combined",
        ),
        ("n_hidden", {"int": [1, 3], "step": 5}, "h.step", "step 5 is wider than the range [1, 3]"),
        ("n_hidden", {"int": [1, 3], "default": 4}, "h.default", "default 4 is outside the range"),
        (
            "n_neurons",
            {"int": [16, 64], "step": 16, "default": 20},
            "h.default",
            "default 20 is not on the step grid (int [16, 64] step 16)",
        ),
        ("learning_rate", 0, "h", "must be > 0"),
        ("batch_size", float("nan"), "h", "expected a finite number, got nan"),
        ("optimizer", "adm", "h", "unknown optimizer 'adm' (did you mean 'adam'?)"),
    ],
)
def test_bad_entries_name_their_field(name: str, raw: Any, field: str, message: str) -> None:
    with pytest.raises(SpaceError) as info:
        parse_param(name, raw, "h")
    assert info.value.field == field
    assert message in info.value.problem


def test_a_builders_own_names_are_typed_by_their_values() -> None:
    with pytest.raises(SpaceError, match=r"unknown hyperparameter 'units'.*name a builder"):
        parse_param("units", 3, "u")
    assert parse_param("units", {"choice": [8, 16]}, "u", custom=True) == Choice(options=[8, 16])
    assert parse_param("tag", "wide", "t", custom=True) == Fixed(value="wide")
    assert parse_param("rate", {"float": [0.5, 2.0]}, "r", custom=True) == FloatRange(
        min=0.5, max=2.0
    )
    with pytest.raises(SpaceError, match="expected a number"):
        parse_param("units", {"int": [1, "x"]}, "u", custom=True)


def test_text_helpers_keep_error_lines_short() -> None:
    assert short("x" * 100) == "'" + "x" * 56 + "..."
    assert len(short(list(range(100)))) == 60
    assert (label(64.0), label(0.5), label("relu")) == ("64", "0.5", "relu")
    assert did_you_mean("adm", OPTIMIZERS) == " (did you mean 'adam'?)"
    assert did_you_mean("zzz", OPTIMIZERS) == ""
