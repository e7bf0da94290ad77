"""hpsearch.study, optuna's one home: the seeded TPE sampler and fANOVA importance."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from hpsearch.study import fanova_importance, quiet_optuna, tpe_sampler


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
