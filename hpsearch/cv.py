"""k-fold cross-validation of one trial's configuration, shared by both backends.

``training.cv: k`` makes a trial train k models, one per fold of train+valid (stratified
for classification, seeded), and score the configuration by the mean over folds of each
fold's best validation value, as the seed's ``RandomizedSearchCV(cv=3)`` does. The held-out
test split is never touched. The epoch curve a trial reports is the mean over folds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class CVResult:
    """Per-epoch mean metrics, each fold's score, and the summary logged on the trial."""

    history: dict[str, list[float]]  # mean over folds, per epoch (epochs all folds reached)
    fold_scores: list[float]
    summary: dict[str, float] = field(default_factory=dict)
    last_model: Any = None  # the last fold's model (what a search can log as its "best")

    @property
    def score(self) -> float:
        return statistics.fmean(self.fold_scores) if self.fold_scores else math.nan


def folds(y: np.ndarray, k: int, seed: int, task: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train index, validation index) pairs over ``y``: stratified for classification."""
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter: Any
    if task in ("multiclass", "binary"):
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def cross_validate(
    build: Callable[[], Any],
    x: np.ndarray,
    y: np.ndarray,
    *,
    k: int,
    seed: int,
    task: str,
    metric: str,
    direction: str,
    fit_kwargs: dict[str, Any],
) -> CVResult:
    """Train a fresh ``build()`` model per fold; ``fit_kwargs`` go to every ``fit``.

    A fold whose objective goes NaN makes the whole trial NaN (the caller fails it)."""
    histories, scores, model = [], [], None
    for train, valid in folds(y, k, seed, task):
        model = build()
        h = model.fit(x[train], y[train], validation_data=(x[valid], y[valid]), **fit_kwargs)
        values = h.history.get(metric, [])
        finite = [v for v in values if math.isfinite(v)]
        if not finite or len(finite) < len(values):
            scores.append(math.nan)
        else:
            scores.append(max(finite) if direction == "max" else min(finite))
        histories.append(h.history)
    n = min(len(next(iter(h.values()), [])) for h in histories)
    keys = set.intersection(*(set(h) for h in histories))
    mean = {key: [statistics.fmean(h[key][i] for h in histories) for i in range(n)] for key in keys}
    summary = {f"cv_fold{i + 1}_{metric}": s for i, s in enumerate(scores)}
    if all(math.isfinite(s) for s in scores):
        summary[f"cv_mean_{metric}"] = statistics.fmean(scores)
        summary[f"cv_std_{metric}"] = statistics.pstdev(scores)
    return CVResult(mean, scores, summary, model)


def replay_epochs(result: CVResult) -> Iterator[tuple[int, dict[str, float], bool]]:
    """The fold-mean epochs of a k-fold trial in order, as ``(epoch, logs, is_last)``: how
    each engine reports a k-fold trial like any other. The last epoch's logs carry the fold
    scores (``cv_mean_<metric>``: the trial's objective)."""
    n = len(next(iter(result.history.values()), []))
    for epoch in range(n):
        logs = {key: values[epoch] for key, values in result.history.items()}
        last = epoch == n - 1
        yield epoch, (logs | result.summary if last else logs), last
