"""Optuna's one home: the TPE sampler Ray Tune searches with and the fANOVA importance the
report shows.

Optuna is imported lazily inside each function, so importing this module costs nothing
and `hpsearch --help` never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    import pandas as pd

IMPORTANCE_METHOD = "fANOVA (optuna.importance.FanovaImportanceEvaluator, seed 0)"


def quiet_optuna() -> None:
    """Silence optuna's per-trial INFO lines, which would drown the search's own output."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def tpe_sampler(seed: int, n_startup_trials: int) -> optuna.samplers.TPESampler:
    """The seeded TPE sampler a Ray Tune `tpe` search draws its trials from."""
    import optuna

    quiet_optuna()
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials)


def _is_number(values: Any) -> bool:
    """Whether a column of parameter values is numeric (bools count as categories)."""
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def fanova_importance(ok: pd.DataFrame, maximize: bool) -> dict[str, float]:
    """fANOVA importance of the ``params.*`` columns of finished trials for ``objective``.

    Only parameters that vary and are set on every trial count; returns {} when none
    does, else the importances (summing to 1, largest first)."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    quiet_optuna()
    dists: dict[str, Any] = {}
    for col in (c for c in ok.columns if c.startswith("params.")):
        values = ok[col].dropna()
        if values.nunique() < 2 or len(values) < len(ok):
            continue
        name = col[7:]
        if _is_number(values):
            dists[name] = FloatDistribution(float(values.min()), float(values.max()))
        else:
            dists[name] = CategoricalDistribution(sorted({str(v) for v in values}))
    if not dists:
        return {}
    study = optuna.create_study(direction="maximize" if maximize else "minimize")
    for _, r in ok.iterrows():
        params = {
            k: (
                float(r[f"params.{k}"])
                if isinstance(d, FloatDistribution)
                else str(r[f"params.{k}"])
            )
            for k, d in dists.items()
        }
        study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions=dists, value=float(r["objective"])
            )
        )
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    scores = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return {k: float(v) for k, v in scores.items()}
