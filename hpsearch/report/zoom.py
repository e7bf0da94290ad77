"""The y window the best-so-far plots zoom to, so poor first trials do not squeeze the
race at the top into a line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hpsearch.report.data import progress
from hpsearch.trials import SearchRecord


@dataclass
class _Zoom:
    """The y window the best-so-far plots show: where the searches compete. Values worse
    than the window are drawn on its edge (a triangle) and counted in a visible note."""

    lo: float
    hi: float
    maximise: bool

    def outside(self, value: float) -> bool:
        return value < self.lo if self.maximise else value > self.hi

    def clip(self, value: float) -> float:
        return max(value, self.lo) if self.maximise else min(value, self.hi)

    @property
    def range(self) -> list[float]:
        pad = (self.hi - self.lo) * 0.04  # room for the edge markers
        return [self.lo - pad, self.hi] if self.maximise else [self.lo, self.hi + pad]


def _zoom(searches: list[SearchRecord]) -> _Zoom | None:
    """A zoom when the first trials' poor values would squeeze the race at the top into a
    line: the window (see _y_window) spans under a fifth of all best-so-far values. None
    shows every value."""
    window = _y_window(searches)
    values = [float(v) for s in searches for v in progress(s)["best"].dropna() if math.isfinite(v)]
    if window is None or not values:
        return None
    zoom = _Zoom(window[0], window[1], searches[0].direction == "max")
    full = max(values) - min(values)
    if not any(zoom.outside(v) for v in values) or window[1] - window[0] >= 0.2 * full:
        return None
    return zoom


def _y_window(searches: list[SearchRecord]) -> list[float] | None:
    """The y range where the searches compete: from the worst best-so-far at half of any
    search's trials to the best final value."""
    halves, finals = [], []
    for s in searches:
        p = progress(s).dropna(subset=["best"])
        if p.empty:
            continue
        halves.append(float(p["best"].iloc[len(p) // 2]))
        finals.append(float(p["best"].iloc[-1]))
    if not finals:
        return None
    values = [*halves, *finals]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.15 or abs(hi) * 0.01 or 0.01
    return [lo - pad, hi + pad]
