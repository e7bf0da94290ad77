"""Space: its size, the CLI's overrides, and Hyperband's schedule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hpsearch.space import IntRange, SpaceError, hyperband_trials, load_space, parse_space
from tests.space.space_texts import BASE

ROOT = Path(__file__).resolve().parents[2]


def test_size_of_a_finite_space(write_space: Callable[..., Path]) -> None:
    text = BASE + (
        "  n_neurons: {int: [16, 128], step: 16}\n"
        "  optimizer: {choice: [sgd, adam, nadam]}\n"
        "  dropout: {float: [0.0, 0.3], step: 0.1}\n"
        "  normalize: {bool: false}\n"
    )
    space = load_space(write_space(text))
    assert isinstance(space.params["n_neurons"], IntRange)
    # n_hidden 1..3, n_neurons 16, 32, ..., 128, three optimizers, dropout 0.0..0.3, a bool
    assert space.size() == 3 * 8 * 3 * 4 * 2


def test_size_counts_every_integer_of_a_log_int_range(write_space: Callable[..., Path]) -> None:
    space = load_space(write_space(BASE + "  n_neurons: {int: [4, 8], log: true}\n"))
    assert space.size() == 3 * 5


def test_size_of_a_continuous_space_is_none(write_space: Callable[..., Path]) -> None:
    text = BASE + "  learning_rate: {float: [1e-4, 1e-2], log: true}\n"
    assert load_space(write_space(text)).size() is None


def test_with_overrides_applies_cli_flags(write_space: Callable[..., Path]) -> None:
    space = load_space(write_space(BASE))
    new = space.with_overrides(strategy="hyperband", max_trials=4, seed=7, epochs=3, backend=None)
    assert (new.search.strategy, new.search.max_trials, new.search.seed) == ("hyperband", 4, 7)
    assert new.training.epochs == 3
    assert new.search.backend == "keras-tuner"  # None keeps the file's value
    # The original is left alone.
    assert (space.search.strategy, space.search.max_trials, space.training.epochs) == (
        "random",
        10,
        10,
    )


@pytest.mark.parametrize(
    ("overrides", "flag", "phrase"),
    [
        ({"strategy": "bogus"}, "--strategy", "unknown strategy 'bogus'"),
        ({"strategy": "hyperbnd"}, "--strategy", "(did you mean 'hyperband'?)"),
        ({"backend": "rey"}, "--backend", "unknown backend 'rey'"),
        ({"max_trials": 0}, "--max-trials", "greater than or equal to 1"),
        ({"epochs": 0}, "--epochs", "greater than or equal to 1"),
    ],
)
def test_with_overrides_rejects_bad_flags(
    write_space: Callable[..., Path], overrides: dict[str, Any], flag: str, phrase: str
) -> None:
    space = load_space(write_space(BASE))
    with pytest.raises(SpaceError) as info:
        space.with_overrides(**overrides)
    assert info.value.field == flag
    assert str(info.value).startswith(f"{flag}: ")
    assert phrase in str(info.value)


@pytest.mark.parametrize(
    ("max_epochs", "factor", "iterations", "expected"),
    [
        # Keras Tuner: brackets while max_epochs / factor**k >= 1 (10, 3.3, 1.1: 3 brackets);
        # end size s = ceil(1 + log_3 10) = 4; round r of bracket b has
        # ceil(s / (b + 1) * 3 ** (b - r)) trials:
        # b=0: 4; b=1: 6 + 2; b=2: 12 + 4 + 2 -> 30.
        (10, 3, 1, 30),
        (10, 3, 2, 60),
        # 2, 1: 2 brackets; s = ceil(1 + log_2 2) = 2; b=0: 2; b=1: 2 + 1 -> 5 per iteration.
        (2, 2, 2, 10),
        # One bracket of one trial.
        (1, 3, 1, 1),
    ],
)
def test_hyperband_trials_follow_keras_tuner_brackets(
    max_epochs: int, factor: int, iterations: int, expected: int
) -> None:
    assert hyperband_trials(max_epochs, factor, iterations) == expected


def test_epochs_flag_is_every_trials_cap_hyperbands_max_epochs_included() -> None:
    """`--epochs N` wins over the file: training.epochs and Hyperband's (and ASHA's)
    max_epochs both become N; a space without max_epochs keeps none (it follows epochs)."""
    digits = load_space(ROOT / "search_spaces" / "digits.yaml")
    assert digits.search.hyperband.max_epochs == 10
    capped = digits.with_overrides(epochs=2)
    assert capped.training.epochs == 2 and capped.search.hyperband.max_epochs == 2
    assert capped.hyperband_cap()[0] <= capped.search.max_trials
    plain = parse_space("name: t\ndataset: {name: digits}\nhyperparameters:\n  n_hidden: 2\n")
    assert plain.with_overrides(epochs=3).search.hyperband.max_epochs is None
    with pytest.raises(SpaceError, match="--epochs"):
        digits.with_overrides(epochs=0)
