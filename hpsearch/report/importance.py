"""Which hyperparameters mattered: fANOVA over the finished trials of all searches (the
optuna work lives in hpsearch.study).
"""

from __future__ import annotations

from hpsearch.report.data import trials_frame
from hpsearch.study import fanova_importance
from hpsearch.trials import SearchRecord, finished_rows

MIN_TRIALS_FOR_IMPORTANCE = 4


def importance(searches: list[SearchRecord]) -> tuple[dict[str, float], str]:
    """Hyperparameter importance over the finished trials of all searches (fANOVA).

    Returns the importances (summing to 1, largest first) and a note; empty with the
    reason when there are too few trials or nothing varied."""
    frame = trials_frame(searches)
    if frame.empty:
        return {}, "no trials"
    ok = finished_rows(frame)
    if len(ok) < MIN_TRIALS_FOR_IMPORTANCE:
        return {}, (f"needs at least {MIN_TRIALS_FOR_IMPORTANCE} finished trials (have {len(ok)})")
    ranks = fanova_importance(ok, maximize=searches[0].direction == "max")
    if not ranks:
        return {}, "no hyperparameter varied across the finished trials"
    return ranks, f"over {len(ok)} finished trials"
