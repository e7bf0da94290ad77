"""Which hyperparameters mattered: fANOVA over the finished trials of all searches (the
optuna work lives in hpsearch.study).
"""

from __future__ import annotations

from hpsearch.report.data import trials_frame
from hpsearch.study import fanova_importance
from hpsearch.trials import SearchRecord, finished_rows

MIN_TRIALS_FOR_IMPORTANCE = 4
#: fANOVA's cost grows with the trials its forest is fit on (about 10 ms a trial on 2
#: cores: 1,000 trials took 9-12 s of a report's time). Above this many finished trials it
#: is fit on a seeded random sample of them, and the note says so.
MAX_TRIALS_FOR_IMPORTANCE = 500


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
    used = ok
    if len(ok) > MAX_TRIALS_FOR_IMPORTANCE:  # in their own order, as all would be
        used = ok.sample(n=MAX_TRIALS_FOR_IMPORTANCE, random_state=0).sort_index()
    ranks = fanova_importance(used, maximize=searches[0].direction == "max")
    if not ranks:
        return {}, "no hyperparameter varied across the finished trials"
    if len(used) < len(ok):
        return ranks, (
            f"over a random {len(used):,} of the {len(ok):,} finished trials (seed 0; "
            f"fANOVA's time grows with the trials, so it samples above "
            f"{MAX_TRIALS_FOR_IMPORTANCE:,})"
        )
    return ranks, f"over {len(ok)} finished trials"
