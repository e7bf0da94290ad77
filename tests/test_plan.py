"""Planning a search: flags and a space into one checked request, nothing created."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hpsearch.errors import SpaceError
from hpsearch.plan import (
    TIME_BUDGET_MAX_TRIALS,
    SearchRequest,
    budgeted_space,
    plan_search,
    prepare,
)

TINY = """
name: plan-test
dataset: {name: digits}
hyperparameters:
  n_neurons: {int: [8, 16], step: 4}
  optimizer: {choice: [adam, sgd]}
training: {epochs: 3}
search: {max_trials: 5, seed: 2, hyperband: {max_epochs: 6, factor: 3}}
"""


@pytest.fixture
def space_file(write_space) -> Path:  # type: ignore[no-untyped-def]
    return write_space(TINY)


def test_flags_override_the_file_and_a_grid_runs_every_configuration(space_file: Path) -> None:
    space = prepare(space_file, strategy="grid", seed=9, epochs=2)
    assert space.search.strategy == "grid" and space.search.seed == 9
    assert space.training.epochs == 2 and space.search.hyperband.max_epochs == 2
    assert space.search.max_trials == space.size() == 3 * 2  # 8, 12, 16 x 2 optimizers


def test_budgets_lift_the_trial_cap_unless_the_user_set_one(space_file: Path) -> None:
    space = prepare(space_file)
    assert budgeted_space(space, budget_epochs=None, budget_seconds=None) is space
    by_epochs = budgeted_space(space, budget_epochs=40, budget_seconds=None)
    assert by_epochs.search.max_trials == 40 and by_epochs.search.hyperband.iterations == 40
    by_time = budgeted_space(space, budget_epochs=None, budget_seconds=60)
    assert by_time.search.max_trials == TIME_BUDGET_MAX_TRIALS
    kept = budgeted_space(space, budget_epochs=40, budget_seconds=None, keep_max_trials=True)
    assert kept.search.max_trials == 5
    with pytest.raises(SpaceError, match="--budget-epochs: must be at least 1"):
        budgeted_space(space, budget_epochs=0, budget_seconds=None)


def test_plan_search_checks_the_engines_options(space_file: Path) -> None:
    space, options = plan_search(space_file, backend="ray", max_concurrent=2, workers=None)
    assert space.search.backend == "ray" and options == {"max_concurrent": 2}
    with pytest.raises(SpaceError, match="--max-failures: must be at least 1"):
        plan_search(space_file, max_failures=0)
    with pytest.raises(SpaceError, match="--max-concurrent: must be at least 1"):
        plan_search(space_file, backend="ray", max_concurrent=0)


def test_a_request_refuses_what_cannot_run_and_creates_nothing(
    space_file: Path, tmp_path: Path
) -> None:
    space = prepare(space_file)
    out = tmp_path / "out"
    warm = SearchRequest(space, output=out, warm_start="abc")
    with pytest.raises(SpaceError, match="--warm-start: warm start seeds a bayesian or tpe"):
        warm.check()
    budget = SearchRequest(space, output=out, budget_epochs=10, options={"workers": 2})
    with pytest.raises(SpaceError, match=r"--budget: a budget needs one Keras Tuner process"):
        budget.check()
    client = SearchRequest(
        prepare(space_file, backend="ray"),
        output=out,
        budget_seconds=5,
        options={"address": "ray://head:10001"},
    )
    with pytest.raises(SpaceError, match="through Ray Client"):
        client.check()
    escape = SearchRequest(space, output=out, experiment="../up")
    with pytest.raises(SpaceError, match=r"--experiment: '\.\./up' would write outside --output"):
        escape.check()
    SearchRequest(space, output=out, tracking_uri=f"sqlite:///{tmp_path}/m.db").check()
    assert not out.exists() and not (tmp_path / "m.db").exists()


def test_the_pruner_flag_turns_it_on_or_off_keeping_the_file_s_settings(
    space_file: Path, write_space: Callable[..., Path]
) -> None:
    assert prepare(space_file).search.pruner is None
    on = prepare(space_file, pruner="median").search.pruner
    assert on is not None and (on.warmup_epochs, on.min_trials) == (2, 3)
    tuned = write_space(TINY.replace("seed: 2,", "seed: 2, pruner: {warmup_epochs: 5},"), "p.yaml")
    kept = prepare(tuned, pruner="median").search.pruner
    assert kept is not None and kept.warmup_epochs == 5  # --pruner median keeps the file's
    assert prepare(tuned, pruner="none").search.pruner is None
    with pytest.raises(SpaceError, match=r"^--pruner: unknown pruner 'mediam'"):
        prepare(space_file, pruner="mediam")
    with pytest.raises(SpaceError, match="hyperband stops trials by its own rungs"):
        prepare(tuned, strategy="hyperband")
    assert prepare(tuned, strategy="hyperband", pruner="none").search.pruner is None


def test_a_pruner_cannot_reach_a_ray_client_search(space_file: Path, tmp_path: Path) -> None:
    space = prepare(space_file, backend="ray", pruner="median")
    client = SearchRequest(space, output=tmp_path, options={"address": "ray://head:10001"})
    with pytest.raises(SpaceError, match=r"^--pruner: a pruner cannot stop trials .* Ray Client"):
        client.check()
    SearchRequest(space, output=tmp_path / "o", options={"max_concurrent": 1}).check()


def test_an_option_no_engine_takes_is_a_type_error_naming_it(space_file: Path) -> None:
    """Through the Python API (the CLI has no such flag): as Python reports a typo'd keyword."""
    with pytest.raises(TypeError, match="unexpected keyword argument 'wokers'"):
        plan_search(space_file, wokers=2)
