"""The parameter types: what each YAML form of a hyperparameter parses to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hpsearch.space import Bool, Choice, load_space
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
