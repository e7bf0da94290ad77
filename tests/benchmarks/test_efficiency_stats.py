"""P3's summary statistics on synthetic trial tables: what a search found by an epoch
count, epochs-to-reach, medians with IQRs over seeds, and the short-training rank check."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from benchmarks.efficiency_stats import (
    best_at,
    curve,
    epochs_to_reach,
    median_curve,
    rank_agreement,
    reach_median,
    reach_spread,
    spread,
    summarize,
    truncate,
)


def table(*trials: tuple[int, float | None, str]) -> pd.DataFrame:
    """Trials in the order they ended: (epochs, objective, status)."""
    return pd.DataFrame(
        {
            "trial_id": [f"{i:04d}" for i in range(len(trials))],
            "epochs": [t[0] for t in trials],
            "objective": [t[1] for t in trials],
            "status": [t[2] for t in trials],
            "ended_s": [float(i + 1) for i in range(len(trials))],
        }
    )


# Three trials: 3 epochs -> 0.5, 9 epochs -> 0.8, 1 epoch failed, 9 epochs -> 0.7.
SEARCH = table(
    (3, 0.5, "FINISHED"), (9, 0.8, "FINISHED"), (1, None, "FAILED"), (9, 0.7, "FINISHED")
)


def test_best_at_counts_only_trials_that_ended_within_the_epochs() -> None:
    assert best_at(SEARCH, "max", 2) is None  # nothing ended yet
    assert best_at(SEARCH, "max", 3) == 0.5
    assert best_at(SEARCH, "max", 11) == 0.5  # the 9-epoch trial ends at 12
    assert best_at(SEARCH, "max", 12) == 0.8
    assert best_at(SEARCH, "max", 100) == 0.8  # a later, worse trial changes nothing


def test_minimised_objectives_take_the_lowest() -> None:
    losses = table((2, 3.0, "FINISHED"), (2, 1.5, "FINISHED"), (2, 2.0, "FINISHED"))
    assert best_at(losses, "min", 6) == 1.5
    assert epochs_to_reach(losses, "min", 2.0) == 4
    assert epochs_to_reach(losses, "min", 1.0) is None


def test_epochs_to_reach_is_the_epoch_count_when_the_best_first_got_there() -> None:
    assert epochs_to_reach(SEARCH, "max", 0.5) == 3
    assert epochs_to_reach(SEARCH, "max", 0.75) == 12
    assert epochs_to_reach(SEARCH, "max", 0.9) is None


def test_failed_and_pruned_trials_spend_epochs_but_find_nothing() -> None:
    t = table((5, 0.99, "PRUNED"), (4, None, "FAILED"), (1, 0.6, "FINISHED"))
    assert best_at(t, "max", 9) is None
    assert best_at(t, "max", 10) == 0.6
    assert epochs_to_reach(t, "max", 0.6) == 10


def test_curve_on_a_grid_and_the_median_over_seeds() -> None:
    assert curve(SEARCH, "max", [1, 3, 12, 22]) == [None, 0.5, 0.8, 0.8]
    # the median appears only where more than half the seeds found something
    assert median_curve([[None, 0.5, 0.8], [None, None, 0.6], [0.1, 0.7, 0.9]]) == [
        None,
        0.6,
        0.8,
    ]


def test_spread_is_the_median_and_the_quartiles() -> None:
    s = spread([5.0, 1.0, 3.0, 2.0, 4.0])
    assert s is not None and (s.median, s.q1, s.q3, s.n) == (3.0, 2.0, 4.0, 5)
    assert spread([]) is None
    one = spread([7.0])
    assert one is not None and (one.median, one.q1, one.q3) == (7.0, 7.0, 7.0)


def test_a_seed_that_never_reaches_counts_as_infinitely_late() -> None:
    assert reach_median([10, 20, None]) == 20
    assert reach_median([10, None, None]) is None  # most never got there
    assert reach_median([10, 30, None, None]) is None  # the median is between 30 and never
    assert reach_median([]) is None


def test_rank_agreement_is_spearmans_rho_of_early_against_final() -> None:
    same_order = {str(i): [(1, 0.1 * i), (3, 0.2 * i), (9, 0.3 * i)] for i in range(6)}
    assert rank_agreement(same_order, 1) == 1.0
    reversed_order = {str(i): [(1, -0.1 * i), (9, 0.3 * i)] for i in range(6)}
    assert rank_agreement(reversed_order, 1) == -1.0
    # trials that stopped at the epoch asked about say nothing about their final rank
    short = {str(i): [(1, 0.1 * i)] for i in range(6)}
    assert rank_agreement(short, 1) is None
    nan = {str(i): [(1, math.nan), (9, 0.3 * i)] for i in range(6)}
    assert rank_agreement(nan, 1) is None


def test_summarize_reaches_the_reference_median_final_best() -> None:
    def seeds(*finals_at: tuple[int, float]) -> list[tuple[pd.DataFrame, str]]:
        return [(table((e, v, "FINISHED")), "max") for e, v in finals_at]

    runs = {
        # the reference: final bests 0.7, 0.8, 0.9 (median 0.8), reached at 30, 40 and 50
        "random/keras-tuner": seeds((30, 0.7), (40, 0.8), (50, 0.9)),
        "fast/ray": seeds((10, 0.85), (5, 0.9), (100, 0.95)),  # the last ends past the budget
    }
    rows, target = summarize(runs, "random/keras-tuner", budget=60)
    assert target == 0.8
    ref, fast = rows["random/keras-tuner"], rows["fast/ray"]
    assert ref["median_best"].median == 0.8
    assert ref["reach"] == 50  # seeds at 40 and 50 reach 0.8; the first never: median 50
    assert ref["reached"] == "2/3"
    iqr = ref["reach_iqr"]  # 40, 50, never: the quartiles of all three seeds
    assert (iqr.median, iqr.q1, iqr.q3) == (50, 45, math.inf)
    assert iqr.text() == "50 [45, never]"
    assert fast["median_best"].n == 2  # the 100-epoch trial found nothing within 60
    assert fast["reach"] == 10
    assert fast["fraction_of_reference"] == pytest.approx(0.2)


def test_truncate_keeps_the_trials_ended_within_the_epochs_in_end_order() -> None:
    t = table((3, 0.5, "FINISHED"), (9, 0.8, "FINISHED"), (1, None, "FAILED"))
    t.loc[1, "ended_s"] = 0.5  # the 9-epoch trial ended first
    assert truncate(t, 9)["trial_id"].tolist() == ["0001"]
    assert truncate(t, 12)["trial_id"].tolist() == ["0001", "0000"]
    assert truncate(t, 13)["trial_id"].tolist() == ["0001", "0000", "0002"]
    assert best_at(truncate(t, 11), "max", 11) == 0.8


def test_reach_spread_quartiles_put_never_last() -> None:
    s = reach_spread([10, 20, 30, 40, 50])
    assert s is not None and (s.median, s.q1, s.q3) == (30, 20, 40)
    s = reach_spread([10, None, 30, None, 20])
    assert s is not None and (s.median, s.q1) == (30, 20) and math.isinf(s.q3)
    assert reach_spread([]) is None
