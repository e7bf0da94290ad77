"""Optuna's one home: the TPE sampler Ray Tune searches with, BOHB's model (both engines'
``bohb``) and the fANOVA importance the report shows.

Optuna is imported lazily inside each function, so importing this module costs nothing
and `hpsearch --help` never loads it.
"""

from __future__ import annotations

import functools
import math
import random
import warnings
from typing import TYPE_CHECKING, Any

from hpsearch.space import Bool, Choice, FloatRange, IntRange, Param, Space

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


def optuna_distribution(param: Param) -> Any:
    """One searched hyperparameter as an Optuna distribution, sampling what the engines
    sample: a log int range with a step multiplies (16, 32, 64), so it is a category."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(param, IntRange):
        if param.log and param.step:
            return CategoricalDistribution(param.values() or [])
        return IntDistribution(param.min, param.max, log=param.log, step=param.step or 1)
    if isinstance(param, FloatRange):
        return FloatDistribution(param.min, param.max, log=param.log, step=param.step)
    if isinstance(param, Choice):
        return CategoricalDistribution(param.options)
    if isinstance(param, Bool):
        return CategoricalDistribution([False, True])
    raise ValueError(f"a fixed value has no distribution: {param!r}")


class BohbModel:
    """BOHB's model (Falkner et al., ICML 2018), one for both engines' ``bohb``.

    Results are kept per budget (epochs trained). A new configuration comes from a TPE fit
    on the largest budget with at least ``min_points`` results (Optuna's multivariate
    ``TPESampler`` on an in-memory study), or at random with probability
    ``random_fraction`` or while no budget has enough results. Each suggestion's seed comes
    from the search seed and a key (a counter), so the same seed and the same observations
    give the same suggestions, in any process: Keras Tuner rebuilds the model from its
    trials at every new configuration (which is how ``--resume`` finds it again).

    Args:
        space: the searched params, and the per-layer widths (``layer_shape: per_layer``)
            both engines sample from ``n_neurons``' range; its seed, direction and
            ``search.bohb`` settings.
    """

    def __init__(self, space: Space) -> None:
        spec, search = space.search.bohb, space.search
        self.seed = search.seed
        self.maximize = space.objective.direction == "max"
        self.random_fraction = spec.random_fraction
        params = dict(space.searched())
        if "n_neurons" in params:  # a fixed width is fixed for every layer: nothing to model
            for name in space.per_layer_names():
                params[name] = space.params["n_neurons"]
        self.params: dict[str, Param] = params
        self.min_points = spec.min_points or len(params) + 1
        self._dists: dict[str, Any] | None = None
        self.results: dict[int, list[tuple[dict[str, Any], float]]] = {}
        self.count = 0  # suggestions made without a key of their own
        self.source = "random"  # where the last suggestion came from: random, or model@<b>

    def observe(self, params: dict[str, Any], budget: int, value: float | None) -> bool:
        """Keep one result: ``params`` trained ``budget`` epochs scored ``value``. Names
        outside the model are ignored; a non-finite value, or a value outside its
        distribution (an older space), is not kept. Returns whether it was kept."""
        if value is None or not math.isfinite(value) or budget < 1:
            return False
        kept = {k: _plain(v) for k, v in params.items() if k in self.params}
        dists = self.distributions()
        for name, v in kept.items():
            try:
                if not dists[name]._contains(dists[name].to_internal_repr(v)):
                    return False
            except (ValueError, TypeError):
                return False
        self.results.setdefault(int(budget), []).append((kept, float(value)))
        return True

    def distributions(self) -> dict[str, Any]:
        """Every param the model samples, as an Optuna distribution: built once, as every
        result kept and every draw checks against them (Keras Tuner rebuilds the model from
        all its trials at each new configuration)."""
        if self._dists is None:
            self._dists = {name: optuna_distribution(p) for name, p in self.params.items()}
        return self._dists

    def fit_budget(self) -> int | None:
        """The largest budget with at least ``min_points`` results, or None."""
        enough = [b for b, rows in self.results.items() if len(rows) >= self.min_points]
        return max(enough) if enough else None

    def model_budget(self, key: int | str | None = None) -> int | None:
        """The budget the suggestion for ``key`` is fit on, or None when it is drawn at
        random (no budget has enough results, or the random fraction's coin says so)."""
        coin, _ = self._draws(self.count if key is None else key)
        budget = self.fit_budget()
        return None if budget is None or coin < self.random_fraction else budget

    def suggest(self, key: int | str | None = None) -> dict[str, Any]:
        """A new configuration for ``key`` (default: a counter of this object's own)."""
        import optuna

        if key is None:
            key, self.count = self.count, self.count + 1
        budget = self.model_budget(key)
        _, seed = self._draws(key)
        quiet_optuna()
        with warnings.catch_warnings():  # multivariate TPE is "experimental"; steps adjusted
            warnings.simplefilter("ignore")
            if budget is None:
                sampler: Any = optuna.samplers.RandomSampler(seed=seed)
            else:
                sampler = _bohb_tpe(seed, self.min_points)
            study = optuna.create_study(
                direction="maximize" if self.maximize else "minimize", sampler=sampler
            )
            dists = self.distributions()
            for params, value in self.results.get(budget, []) if budget else []:
                study.add_trial(
                    optuna.trial.create_trial(
                        params=params,
                        distributions={k: dists[k] for k in params},
                        value=value,
                    )
                )
            trial = study.ask(dists)
        self.source = "random" if budget is None else f"model@{budget}"
        return {k: _plain(v) for k, v in trial.params.items()}

    def _draws(self, key: int | str) -> tuple[float, int]:
        """The random-fraction coin and the sampler seed for ``key``: from the search seed
        and the key alone (a string seed hashes the same in every process)."""
        rng = random.Random(f"bohb:{self.seed}:{key}")  # noqa: S311 - sampling, not secrets
        return rng.random(), rng.randrange(2**31)


#: BOHB's share of a budget's results that its "good" density is fit on (top_n_percent).
TOP_FRACTION = 0.15


def bohb_good(n: int, min_points: int) -> int:
    """How many of a budget's ``n`` results count as good: BOHB's max(min_points, 15%),
    at most all of them. Optuna's default (10%, so one point below 10 results) pushes the
    draws away from the good region when a budget holds only promoted configurations."""
    return min(n, max(min_points, math.ceil(TOP_FRACTION * n)))


def _bohb_tpe(seed: int, min_points: int) -> Any:
    """Optuna's multivariate TPE with BOHB's split of good and bad results. Optuna marks
    ``gamma`` deprecated (removal planned for 6.0): without it, its default split."""
    import optuna

    options: dict[str, Any] = {"seed": seed, "multivariate": True, "n_startup_trials": 0}
    try:
        return optuna.samplers.TPESampler(
            **options, gamma=functools.partial(bohb_good, min_points=min_points)
        )
    except TypeError:  # pragma: no cover - an Optuna without gamma
        return optuna.samplers.TPESampler(**options)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value Optuna and the engines compare against."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bool)) else value
