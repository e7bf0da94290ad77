"""The strategy table (algorithms.plan_search): each strategy's param space, searcher and
scheduler, built without a running Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpsearch.api import prepare
from hpsearch.backends.ray_tune.algorithms import fixed_params, plan_search, tune_domain
from hpsearch.space import Space, parse_space
from tests.spaces import tiny_space_text

PLAN: dict[str, Any] = {
    "name": "digits-plan",
    "objective": "val_accuracy",
    "hyperparameters": {
        "n_hidden": {"int": [1, 2]},
        "learning_rate": {"float": [1e-3, 1e-2], "log": True},
        "optimizer": {"choice": ["adam", "sgd"]},
        "batch_size": 64,
    },
    "training": {"epochs": 4, "patience": 0},
    "search": {"max_trials": 3, "seed": 5, "hyperband": {"max_epochs": 2, "factor": 3}},
}
SPACE = tiny_space_text(PLAN)


def _space(tmp_path: Path, strategy: str) -> Space:
    return prepare(
        parse_space(SPACE, source=tmp_path / "space.yaml"), strategy=strategy, backend="ray"
    )


def test_fixed_params_are_the_unsearched_values(tmp_path: Path) -> None:
    fixed = fixed_params(_space(tmp_path, "random"))
    assert fixed["batch_size"] == 64 and fixed["activation"] == "relu"  # defaults too
    assert not {"n_hidden", "learning_rate", "optimizer"} & set(fixed)


def test_tune_domain_keeps_a_fixed_value_and_samples_ranges(tmp_path: Path) -> None:
    from ray.tune.search.sample import Categorical, Float

    space = _space(tmp_path, "random")
    assert tune_domain(space.params["batch_size"]) == 64
    assert isinstance(tune_domain(space.params["learning_rate"]), Float)
    assert isinstance(tune_domain(space.params["optimizer"]), Categorical)


@pytest.mark.parametrize(
    ("strategy", "scheduler", "max_epochs"),
    [
        ("random", None, 4),
        ("hyperband", "HyperBandScheduler", 2),
        ("asha", "AsyncHyperBandScheduler", 2),
    ],
)
def test_random_and_the_schedulers_share_the_seeded_generator(
    tmp_path: Path, strategy: str, scheduler: str | None, max_epochs: int
) -> None:
    plan = plan_search(_space(tmp_path, strategy), tmp_path, (), 2, "plan-test")
    assert type(plan.search_alg).__name__ == "RestorableVariants"
    assert plan.search_alg.max_concurrent == 2
    assert (type(plan.scheduler).__name__ if plan.scheduler else None) == scheduler
    assert plan.max_epochs == max_epochs  # hyperband.max_epochs caps the schedulers only
    assert set(plan.param_space) >= {"n_hidden", "learning_rate", "optimizer"}


def test_grid_searches_every_configuration(tmp_path: Path) -> None:
    grid = {"n_hidden": {"choice": [1, 2]}, "learning_rate": 1e-3}
    text = tiny_space_text(PLAN, hyperparameters=PLAN["hyperparameters"] | grid)
    space = parse_space(text, source=tmp_path)
    plan = plan_search(prepare(space, strategy="grid", backend="ray"), tmp_path, (), None, "g")
    assert plan.param_space == {
        "n_hidden": {"grid_search": [1, 2]},
        "optimizer": {"grid_search": ["adam", "sgd"]},
    }


def test_tpe_is_limited_and_warm_started(tmp_path: Path) -> None:
    warm = [({"n_hidden": 1, "learning_rate": 0.005, "optimizer": "adam", "other": 1}, 0.9)]
    plan = plan_search(_space(tmp_path, "tpe"), tmp_path, warm, 2, "tpe-plan")
    assert type(plan.search_alg).__name__ == "WatchedLimiter"
    inner = plan.search_alg.searcher
    assert type(inner).__name__ == "WatchedOptuna"
    assert inner._points_to_evaluate == [
        {"n_hidden": 1, "learning_rate": 0.005, "optimizer": "adam"}  # unsearched keys dropped
    ]
    assert inner._evaluated_rewards == [0.9]
    assert inner._sampler._n_startup_trials == 1  # the warm trials are the start-up
    unlimited = plan_search(_space(tmp_path, "tpe"), tmp_path, (), None, "tpe-plan")
    assert type(unlimited.search_alg).__name__ == "WatchedOptuna"
    assert unlimited.search_alg._sampler._n_startup_trials == 10
