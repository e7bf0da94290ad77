"""StallWatch: when a Ray search counts as stuck (a fake clock; no Ray needed). The end to
end case, a trial hanging in a real Ray search, is in tests/test_custom_builder.py."""

from __future__ import annotations

import pytest

from hpsearch.backends.base import SearchStalled
from hpsearch.backends.ray_tune.algorithms import _tpe_searcher, _watched_limit
from hpsearch.backends.ray_tune.stall import _WATCHES, StallWatch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    monkeypatch.delenv("HPSEARCH_STALL_S", raising=False)
    return Clock()


def test_before_the_first_result_the_long_first_limit_applies(clock: Clock) -> None:
    watch = StallWatch(clock=clock)
    clock.now += 60
    watch.beat()  # an actor started: not a result, the limit stays long
    assert watch.limit() == StallWatch.FIRST_S
    clock.now += StallWatch.FIRST_S - 1
    watch.check()
    clock.now += 2
    with pytest.raises(
        SearchStalled, match=r"no trial reported for 1801 s \(the limit was 1800 s, 10x the longest"
    ):
        watch.check()
    assert watch.tripped and "--resume" in watch.tripped


def test_the_limit_is_ten_times_the_longest_wait_and_at_least_the_floor(clock: Clock) -> None:
    watch = StallWatch(clock=clock)
    clock.now += 500  # the first epoch, with imports: not counted in the longest wait
    watch.beat(result=True)
    for gap in (1.0, 3.0, 2.0):
        clock.now += gap
        watch.beat(result=True)
    assert watch.limit() == StallWatch.FLOOR_S  # 10 x 3 s is under the floor
    clock.now += 30
    watch.beat(result=True)
    assert watch.limit() == 300.0
    clock.now += 299
    watch.check()
    assert watch.tripped is None
    clock.now += 2
    with pytest.raises(SearchStalled, match="no trial reported for 301 s"):
        watch.check()


def test_the_environment_fixes_the_limit_or_turns_the_watch_off(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPSEARCH_STALL_S", "5")
    watch = StallWatch(clock=clock)
    assert watch.limit() == 5.0
    clock.now += 6
    with pytest.raises(
        SearchStalled, match=r"for 6 s \(the limit was 5 s, set by \$HPSEARCH_STALL"
    ):
        watch.check()
    monkeypatch.setenv("HPSEARCH_STALL_S", "0")
    off = StallWatch(clock=clock)
    clock.now += 10**6
    off.check()
    assert off.limit() is None and off.tripped is None


def _stalled_watch(clock: Clock, key: str) -> None:
    """Register a watch for ``key`` and move the clock past its limit."""
    _WATCHES[key] = StallWatch(fixed=5.0, clock=clock)
    clock.now += 6


def test_a_full_concurrency_limit_still_asks_the_watch(clock: Clock) -> None:
    """bayesian/tpe with --max-concurrent: a lost trial keeps Tune's limiter full, and a full
    limiter answers Tune's polls without asking the searcher inside; the check is in front."""
    from ray.tune.search import Searcher

    class Inner(Searcher):  # type: ignore[misc]
        asked = 0

        def suggest(self, trial_id: str) -> dict[str, int]:
            Inner.asked += 1
            return {"x": 1}

    limited = _watched_limit(Inner(metric="m", mode="max"), 1, "limit-test")
    try:
        assert limited.suggest("t1") == {"x": 1}  # takes the one place
        _stalled_watch(clock, "limit-test")
        with pytest.raises(SearchStalled, match="no trial reported for 6 s"):
            limited.suggest("t2")
        assert Inner.asked == 1  # the stall was seen with the limiter full, not by Inner
    finally:
        _WATCHES.pop("limit-test")
    assert _watched_limit(inner := Inner(metric="m", mode="max"), None, "x") is inner


def test_the_tpe_searcher_asks_the_watch(clock: Clock) -> None:
    from ray import tune

    from hpsearch.study import tpe_sampler

    searcher = _tpe_searcher(tpe_sampler(1, 10), {}, "tpe-test")
    searcher.set_search_properties("m", "max", {"x": tune.uniform(0, 1)})
    try:
        assert 0 <= searcher.suggest("t1")["x"] <= 1
        _stalled_watch(clock, "tpe-test")
        with pytest.raises(SearchStalled):
            searcher.suggest("t2")
    finally:
        _WATCHES.pop("tpe-test")
