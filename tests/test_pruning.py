"""The median stopping rule on synthetic curves: no engine, no training."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from hpsearch.pruning import MedianPruner
from hpsearch.space import parse_space
from hpsearch.trials import PRUNED, SearchInfo, TrialResult
from tests.spaces import tiny_space_text

METRIC = "val_accuracy"


def _info(previous: Sequence[TrialResult] = ()) -> SearchInfo:
    return SearchInfo("x", "random", "keras-tuner", 10, METRIC, "max", 1, previous=tuple(previous))


def _pruner(direction: str = "max", warmup: int = 0, min_trials: int = 1) -> MedianPruner:
    pruner = MedianPruner(METRIC, direction, warmup_epochs=warmup, min_trials=min_trials)
    pruner.on_search_begin(_info())
    return pruner


def _run(pruner: MedianPruner, tid: str, values: Sequence[float], first: int = 0) -> int | None:
    """Feed ``values`` epoch by epoch as an engine does; the epoch the trial was pruned
    after (the engine stops it then), or None when it trained every epoch."""
    pruner.on_trial_begin(tid, {})
    for i, value in enumerate(values):
        epoch = first + i + 1
        pruner.on_epoch_end(tid, epoch, {METRIC: value, "loss": 0.1})
        if pruner.prune(tid):
            pruner.on_trial_end(_result(tid, values[: i + 1], PRUNED))
            return epoch
    pruner.on_trial_end(_result(tid, values))
    return None


def _result(
    tid: str, values: Sequence[float], status: str = "FINISHED", first: int = 0
) -> TrialResult:
    return TrialResult(
        tid, status, {}, max(values), len(values), 1.0, {METRIC: list(values)}, first_epoch=first
    )


def test_a_trial_below_the_median_of_best_so_far_is_pruned_at_that_epoch() -> None:
    p = _pruner(min_trials=2)
    assert _run(p, "0000", [0.5, 0.6, 0.7]) is None
    assert _run(p, "0001", [0.3, 0.8, 0.9]) is None  # first: no bar yet (one other)
    # at epoch 1 the others' bests are 0.5 and 0.3 (median 0.4): 0.2 loses
    assert _run(p, "0002", [0.2, 0.95, 0.99]) == 1


def test_best_so_far_on_both_sides_one_bad_epoch_does_not_prune() -> None:
    p = _pruner(min_trials=1)
    _run(p, "0000", [0.5, 0.2, 0.2])  # best so far: 0.5, 0.5, 0.5
    # its own epoch 2 (0.1) is bad, but its best so far (0.6) beats the bar (0.5)
    assert _run(p, "0001", [0.6, 0.1, 0.6]) is None
    # 0.4 at epoch 3 is above the other curve's value there (0.2) but below its best (0.5)
    assert _run(p, "0002", [0.55, 0.5, 0.4]) is None  # 0.55 best so far: above the median
    assert _run(p, "0003", [0.45, 0.5, 0.5]) == 1


def test_warmup_epochs_never_prune() -> None:
    p = _pruner(warmup=2, min_trials=1)
    _run(p, "0000", [0.9, 0.9, 0.9, 0.9])
    assert _run(p, "0001", [0.1, 0.1, 0.1, 0.1]) == 3  # the first epoch after the warm-up


def test_the_last_epoch_never_prunes_a_trial_that_trained_them_all() -> None:
    p = MedianPruner(METRIC, "max", warmup_epochs=0, min_trials=1, max_epochs=3)
    _run(p, "0000", [0.5, 0.6, 0.9])
    assert _run(p, "0001", [0.55, 0.65, 0.7]) is None  # worse at epoch 3: but it is done
    assert _run(p, "0002", [0.55, 0.62, 0.7]) == 2


def test_min_trials_other_trials_must_have_reached_the_epoch() -> None:
    p = _pruner(min_trials=3)
    _run(p, "0000", [0.9, 0.9])
    _run(p, "0001", [0.9, 0.9])
    assert _run(p, "0002", [0.1, 0.1, 0.1]) is None  # two others: no verdict
    # three others at epochs 1-2 now; epoch 3 was reached by one only
    assert _run(p, "0003", [0.1]) == 1
    p = _pruner(min_trials=3)
    for tid in ("0000", "0001", "0002"):
        _run(p, tid, [0.9])
    assert _run(p, "0003", [0.95, 0.0, 0.0]) is None  # only epoch 1 has three others


@pytest.mark.parametrize(
    ("direction", "bad", "good"),
    [("max", [0.1, 0.1], [1.1, 1.1]), ("min", [2.0, 2.0], [0.2, 0.2])],
)
def test_worse_follows_the_objective_direction(
    direction: str, bad: list[float], good: list[float]
) -> None:
    p = _pruner(direction, min_trials=1)
    _run(p, "0000", [1.0, 1.0])
    assert _run(p, "0001", bad) == 1
    assert _run(p, "0002", good) is None


def test_nan_and_inf_values_are_ignored() -> None:
    p = _pruner(min_trials=1)
    _run(p, "0000", [math.nan, 0.5, 0.5])  # no point at epoch 1: it has no best yet
    assert _run(p, "0001", [0.1, 0.9, 0.9]) is None  # alone at epoch 1: no bar there
    p = _pruner(min_trials=1)
    _run(p, "0000", [0.5, math.inf, 0.5])  # its best stays 0.5 at epoch 2
    assert _run(p, "0001", [0.6, math.nan, 0.4]) is None  # NaN keeps its best (0.6)
    assert _run(p, "0002", [math.nan, math.nan]) is None  # no value, no verdict
    assert _run(p, "0003", [0.55, 0.52, math.inf, 0.2]) is None  # median of 0.5, 0.6
    assert _run(p, "0004", [0.4]) == 1


def test_a_tie_with_the_median_does_not_prune() -> None:
    p = _pruner(min_trials=2)
    _run(p, "0000", [0.4])
    _run(p, "0001", [0.6])
    assert _run(p, "0002", [0.5]) is None  # median 0.5 (mean of the middle two): a tie
    assert _run(p, "0003", [0.5]) is None  # median of 0.4, 0.5, 0.6: a tie again
    assert _run(p, "0004", [0.4999]) == 1


def test_a_resumed_search_s_earlier_trials_set_the_bar() -> None:
    previous = [
        _result("0000", [0.8, 0.9]),
        _result("0001", [0.85, 0.9], PRUNED),
        _result("0002", [0.7], first=1),  # a continued trial: epoch 2 only
    ]
    p = MedianPruner(METRIC, "max", warmup_epochs=0, min_trials=3)
    p.on_search_begin(_info(previous))
    assert p.curves == {"0000": {1: 0.8, 2: 0.9}, "0001": {1: 0.85, 2: 0.9}, "0002": {2: 0.7}}
    # epoch 1: two earlier trials only; epoch 2: three (the continued one too), median 0.9
    assert _run(p, "0003", [0.1, 0.84]) == 2


def test_a_trial_run_again_under_its_id_starts_a_new_curve() -> None:
    p = _pruner(min_trials=1)
    _run(p, "0000", [0.5, 0.5])
    p.on_trial_begin("0001", {})
    p.on_epoch_end("0001", 1, {METRIC: 0.9})  # interrupted after one good epoch
    assert _run(p, "0001", [0.1]) == 1  # the new run's own curve, not the old best


def test_the_pruner_comes_from_the_space() -> None:
    text = tiny_space_text(
        objective="val_loss", search={"pruner": {"warmup_epochs": 4, "min_trials": 5}}
    )
    pruner = MedianPruner.for_space(parse_space(text))
    assert pruner is not None
    assert (pruner.metric, pruner.direction) == ("val_loss", "min")
    assert (pruner.warmup_epochs, pruner.min_trials, pruner.max_epochs) == (4, 5, 2)
    assert MedianPruner.for_space(parse_space(tiny_space_text())) is None
    short = MedianPruner.for_space(parse_space(tiny_space_text(search={"pruner": "median"})))
    assert short is not None and (short.warmup_epochs, short.min_trials) == (2, 3)
