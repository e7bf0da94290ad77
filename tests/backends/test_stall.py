"""StallWatch: when a Ray search counts as stuck (a fake clock; no Ray needed). The end to
end case, a trial hanging in a real Ray search, is in tests/test_custom_builder.py."""

from __future__ import annotations

import pytest

from hpsearch.backends.base import SearchStalled
from hpsearch.backends.ray_tune import StallWatch


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
