"""hpsearch.study, optuna's one home: the seeded TPE sampler and fANOVA importance."""

from __future__ import annotations

import math
import random
import statistics
import subprocess
import sys
from typing import Any

import pandas as pd

from hpsearch.space import parse_space
from hpsearch.study import BohbModel, fanova_importance, quiet_optuna, tpe_sampler
from tests.spaces import tiny_space_text


def _draws(seed: int) -> list[float]:
    import optuna

    study = optuna.create_study(sampler=tpe_sampler(seed=seed, n_startup_trials=2))
    study.optimize(lambda t: (t.suggest_float("x", -1.0, 1.0) - 0.3) ** 2, n_trials=5)
    return [t.params["x"] for t in study.trials]


def test_the_tpe_sampler_is_seeded_and_quiets_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.INFO)
    sampler = tpe_sampler(seed=7, n_startup_trials=3)
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert optuna.logging.get_verbosity() == optuna.logging.WARNING
    assert _draws(7) == _draws(7)
    assert _draws(7) != _draws(8)


def test_quiet_optuna_drops_info_lines() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.DEBUG)
    quiet_optuna()
    assert optuna.logging.get_verbosity() == optuna.logging.WARNING


def test_importance_puts_the_dominant_parameter_first() -> None:
    """``a`` drives the objective, ``b`` barely; a constant and a sometimes-missing param
    are left out."""
    rows = [
        {
            "params.a": a,
            "params.b": b,
            "params.opt": "adam",
            "params.gap": 1.0 if i % 2 else None,
            "objective": 10 * a + 0.01 * b,
        }
        for i, (a, b) in enumerate(
            [(0.1, 3), (0.9, 1), (0.5, 2), (0.2, 1), (0.7, 3), (0.4, 2), (0.8, 1), (0.3, 3)]
        )
    ]
    ranks = fanova_importance(pd.DataFrame(rows), maximize=True)
    assert list(ranks) == ["a", "b"]
    assert abs(sum(ranks.values()) - 1.0) < 1e-6 and ranks["a"] > 0.9
    assert fanova_importance(pd.DataFrame(rows), maximize=False) == ranks


def test_nothing_varied_gives_no_importance() -> None:
    rows = [{"params.a": 1.0, "objective": float(i)} for i in range(5)]
    assert fanova_importance(pd.DataFrame(rows), maximize=True) == {}


def test_importing_the_module_does_not_import_optuna() -> None:
    code = "import sys, hpsearch.study; print('optuna' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# ---------------------------------------------------------------- BOHB's model (bohb)

BOHB_PARAMS = {
    "n_hidden": {"int": [1, 3]},
    "n_neurons": {"int": [16, 256], "log": True},
    "learning_rate": {"float": [1e-4, 1e-1], "log": True},
    "dropout": {"float": [0.0, 0.5], "step": 0.1},
    "optimizer": {"choice": ["adam", "sgd"]},
    "normalize": {"bool": False},
    "batch_size": {"int": [16, 64], "log": True, "step": 2},
}


def _model(**bohb: Any) -> BohbModel:
    search = {"strategy": "bohb", "seed": 3, "bohb": bohb}
    text = tiny_space_text(objective="val_accuracy", hyperparameters=BOHB_PARAMS, search=search)
    return BohbModel(parse_space(text))


def _draw(rng: random.Random) -> dict[str, Any]:
    return {
        "n_hidden": rng.randint(1, 3),
        "n_neurons": rng.randint(16, 256),
        "learning_rate": 10 ** rng.uniform(-4, -1),
        "dropout": rng.choice([0.0, 0.1, 0.2, 0.3, 0.4, 0.5]),
        "optimizer": rng.choice(["adam", "sgd"]),
        "normalize": rng.random() < 0.5,
        "batch_size": rng.choice([16, 32, 64]),
    }


def _fill(model: BohbModel, budget: int, n: int, best: float, seed: int = 0) -> None:
    """``n`` results at ``budget`` whose value peaks at learning_rate == ``best``."""
    rng = random.Random(seed)
    for _ in range(n):
        p = _draw(rng)
        assert model.observe(p, budget, -abs(math.log10(p["learning_rate"]) - math.log10(best)))


def _log_gap(draws: list[dict[str, Any]], best: float) -> float:
    return statistics.median(abs(math.log10(d["learning_rate"]) - math.log10(best)) for d in draws)


def test_bohb_maps_every_kind_of_param_to_an_optuna_distribution() -> None:
    from optuna.distributions import CategoricalDistribution as Cat
    from optuna.distributions import FloatDistribution as Float
    from optuna.distributions import IntDistribution as Int

    dists = _model().distributions()
    assert dists["n_hidden"] == Int(1, 3)
    assert dists["n_neurons"] == Int(16, 256, log=True)
    assert dists["learning_rate"] == Float(1e-4, 1e-1, log=True)
    assert dists["dropout"] == Float(0.0, 0.5, step=0.1)
    assert dists["optimizer"] == Cat(["adam", "sgd"]) and dists["normalize"] == Cat([False, True])
    assert dists["batch_size"] == Cat([16, 32, 64])  # a log step multiplies, as on the engines
    assert _model().min_points == 8  # searched params + 1


def test_bohb_samples_the_per_layer_widths_both_engines_sample() -> None:
    text = tiny_space_text(
        hyperparameters={
            "n_hidden": {"int": [1, 3]},
            "layer_shape": {"choice": ["same", "per_layer"]},
            "n_neurons": {"int": [8, 32]},
        },
        search={"strategy": "bohb"},
    )
    model = BohbModel(parse_space(text))
    assert list(model.params) == [
        "n_hidden",
        "layer_shape",
        "n_neurons",
        *(f"n_neurons_{i}" for i in (1, 2, 3)),
    ]
    assert model.min_points == 7
    draw = model.suggest()
    assert set(draw) == set(model.params) and all(
        8 <= draw[f"n_neurons_{i}"] <= 32 for i in (1, 2, 3)
    )


def test_bohb_fits_the_largest_budget_with_enough_results() -> None:
    """Budget 1 says learning_rate 1e-4 is best, budget 9 says 1e-1; budget 27 (7 results,
    one short of min_points) is not used yet. The model follows budget 9, as BOHB does, and
    moves to 27 once it has enough. (A random draw's median gap is about 1.5 decades.)"""
    model = _model(random_fraction=0.0)
    assert model.fit_budget() is None
    _fill(model, 1, 30, best=1e-4)
    _fill(model, 9, 30, best=1e-1, seed=1)
    _fill(model, 27, 7, best=1e-4, seed=2)
    assert model.fit_budget() == 9
    draws = [model.suggest() for _ in range(30)]
    assert model.source == "model@9"
    assert _log_gap(draws, 1e-1) < 0.75 < 1.5 < _log_gap(draws, 1e-4)
    _fill(model, 27, 30, best=1e-4, seed=3)
    assert model.fit_budget() == 27
    assert _log_gap([model.suggest() for _ in range(30)], 1e-4) < 0.75


def test_bohb_draws_at_random_while_no_budget_has_enough_and_a_fraction_after() -> None:
    empty = _model(random_fraction=0.0)
    _fill(empty, 3, 7, best=1e-1)  # one short of min_points
    assert [empty.model_budget(k) for k in range(20)] == [None] * 20
    empty.suggest()
    assert empty.source == "random"
    half = _model(random_fraction=0.5, min_points=4)
    _fill(half, 3, 4, best=1e-1)
    budgets = [half.model_budget(k) for k in range(400)]
    assert set(budgets) == {None, 3}
    assert 0.4 < budgets.count(None) / 400 < 0.6
    always = _model(random_fraction=1.0)
    _fill(always, 3, 30, best=1e-1)
    assert {always.model_budget(k) for k in range(50)} == {None}


def test_bohb_is_seeded_by_the_search_seed_and_the_key() -> None:
    """The same seed and observations give the same draws in any process (the key's seed is
    no hash() of this one); another seed or key gives others."""
    a, b = _model(random_fraction=0.3), _model(random_fraction=0.3)
    for m in (a, b):
        _fill(m, 1, 12, best=1e-2)
    assert [a.suggest() for _ in range(6)] == [b.suggest() for _ in range(6)]
    assert a.suggest("7.0") == b.suggest("7.0") != b.suggest("7.1")
    code = (
        "from tests.test_study import _model, _fill; m = _model(random_fraction=0.3); "
        "_fill(m, 1, 12, best=1e-2); print(repr(m.suggest('k')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == repr(a.suggest("k"))
    other = _model(random_fraction=0.3)
    other.seed = 4
    _fill(other, 1, 12, best=1e-2)
    assert other.suggest("k") != a.suggest("k")


def test_bohb_keeps_no_non_finite_value_nor_a_value_outside_the_space() -> None:
    model = _model()
    point = _draw(random.Random(5))
    assert not model.observe(point, 3, math.nan)
    assert not model.observe(point, 3, math.inf)
    assert not model.observe(point, 3, None)
    assert not model.observe(point | {"optimizer": "nadam"}, 3, 0.5)
    assert not model.observe(point | {"n_hidden": 9}, 3, 0.5)
    assert model.results == {}
    assert model.observe(point | {"tuner/epochs": 3, "unknown": 1}, 3, 0.5)
    assert model.results == {3: [(point, 0.5)]}


def test_bohb_skips_the_per_layer_widths_of_a_fixed_n_neurons() -> None:
    """A fixed n_neurons leaves every layer's width fixed too (both engines make it a
    constant): nothing for the model to sample, and no distribution to build."""
    text = tiny_space_text(
        hyperparameters={
            "n_hidden": {"int": [1, 3]},
            "layer_shape": {"choice": ["same", "per_layer"]},
            "n_neurons": 16,
        },
        search={"strategy": "bohb"},
    )
    model = BohbModel(parse_space(text))
    assert list(model.params) == ["n_hidden", "layer_shape"]
    rng = random.Random(0)
    for _ in range(6):
        point = {"n_hidden": rng.randint(1, 3), "layer_shape": rng.choice(["same", "per_layer"])}
        assert model.observe(point, 1, rng.random())
    assert set(model.suggest()) == set(model.params)
