"""Space: its size and grid, the params a trial uses, what it refuses, the CLI's overrides,
and Hyperband's schedule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hpsearch.space import (
    IntRange,
    SpaceError,
    epochs_flag_repeats,
    hyperband_trials,
    load_space,
    parse_space,
)
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


PER_LAYER = BASE + "  layer_shape: {choice: [same, per_layer]}\n  n_neurons: {choice: [16, 32]}\n"


def test_per_layer_widths_follow_the_deepest_net() -> None:
    space = parse_space(PER_LAYER)
    assert space.per_layer_names() == ["n_neurons_1", "n_neurons_2", "n_neurons_3"]
    assert space.searched_names() == [
        "n_hidden",
        "layer_shape",
        "n_neurons",
        *space.per_layer_names(),
    ]
    assert parse_space(BASE).per_layer_names() == []


def test_contains_checks_each_recorded_value_against_the_space() -> None:
    space = parse_space(PER_LAYER)
    inside = {"n_hidden": 2, "layer_shape": "same", "n_neurons": 16}
    assert space.contains(inside)
    assert not space.contains(inside | {"n_hidden": 4})  # outside the range
    assert not space.contains(inside | {"n_hidden": True})  # a bool is no number here
    assert not space.contains(inside | {"n_neurons": 64})  # not a choice
    assert not space.contains(inside | {"dropout": 0.1})  # a fixed value differs
    assert not space.contains({"layer_shape": "same", "n_neurons": 16})  # a searched one missing


def test_grid_problems_name_the_continuous_params_and_the_grid_size() -> None:
    space = parse_space(BASE + "  dropout: {float: [0.0, 0.5]}\n")
    assert space.grid_problem() == (
        "grid needs every hyperparameter finite (a choice, a bool, or a range with a step); "
        "continuous: n_hidden (int [1, 3]), dropout (float [0, 0.5])"
    )
    big = parse_space(
        BASE.replace("[1, 3]}", "[1, 3], step: 1}")
        + "  n_neurons: {int: [1, 1000], step: 1}\n  batch_size: {int: [1, 100], step: 1}\n"
    )
    assert big.size() == 300_000
    assert big.grid_problem() == (
        "the grid has 300,000 configurations (n_hidden 3 x n_neurons 1000 x batch_size 100); "
        "a search runs at most 100,000 trials: use larger steps or fewer choices, or another "
        "strategy"
    )
    assert parse_space(PER_LAYER).grid() == {
        "n_hidden": [1, 2, 3],
        "layer_shape": ["same", "per_layer"],
        "n_neurons": [16, 32],
    }


def test_cv_cannot_go_with_a_strategy_that_stops_trials_early() -> None:
    space = parse_space(BASE + "training: {cv: 3}\n")
    assert space.cv_problem() is None
    with pytest.raises(SpaceError, match=r"^--strategy: hyperband stops and resumes trials"):
        space.with_overrides(strategy="hyperband")


def test_the_largest_model_is_bounded_before_any_data_is_read() -> None:
    space = parse_space(BASE)
    assert space.model_problem() is None
    assert space.model_problem(input_width=10**9) == (
        "the largest model here (3 hidden layers of 64 on 1000000000 inputs) has about "
        "6.4e+10 weights, over the limit of 1e+09: narrow n_neurons or n_hidden"
    )


def test_hyperband_cap_warns_when_max_trials_cuts_the_schedule() -> None:
    space = parse_space(BASE + "search: {strategy: hyperband, max_trials: 5}\n")
    assert space.hyperband_schedule() == 30
    assert space.hyperband_cap() == (
        5,
        "hyperband: max_trials=5 cuts the bracket schedule of 30 trials; raise --max-trials "
        "to run it whole",
    )
    assert parse_space(BASE).hyperband_cap() == (10, None)


def test_a_file_datasets_default_objective_follows_the_task_read() -> None:
    text = "name: t\ndataset:\n  name: csv:d.csv\n  target: y\nhyperparameters:\n  n_hidden: 1\n"
    space = parse_space(text)
    assert not space.objective_given and space.for_task("multiclass") is space
    assert space.for_task("regression").objective.metric == "val_loss"
    written = parse_space(text.replace("hyperparameters", "objective: val_auc\nhyperparameters"))
    with pytest.raises(SpaceError) as info:
        written.for_task("regression")
    assert info.value.field == "dataset.target" and info.value.line == 4
    assert info.value.problem.endswith("if it is classification, set dataset.task: classification")


def test_error_at_points_at_the_fields_line(write_space: Callable[..., Path]) -> None:
    space = load_space(write_space(BASE))
    error = space.error_at("hyperparameters.n_hidden.int[1]", "boom")
    assert (error.line, error.field, error.problem) == (
        5,
        "hyperparameters.n_hidden.int[1]",
        "boom",
    )


@pytest.mark.parametrize(
    ("max_epochs", "repeats"), [(None, True), ("None", True), ("5", True), (10, False)]
)
def test_epochs_flag_repeats_only_when_max_epochs_followed_it(
    max_epochs: Any, repeats: bool
) -> None:
    assert epochs_flag_repeats(5, max_epochs) is repeats
