"""P3's summary statistics, apart from the runs so tests can check them on synthetic trial
tables: best-so-far on an epoch axis, medians with IQRs, epochs-to-reach a target, and how
well a short training ranks configurations against their final score.

A search here is its trial table (``SearchRecord.trials``: ``epochs``, ``objective``,
``status``, ``ended_s``, ``trial_id``) and a direction. Best-so-far follows
``hpsearch.report.progress``: trials in the order they ended, epochs summed (a continued
Hyperband trial counts only its new epochs), and only FINISHED trials count as found.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pandas as pd

from hpsearch.report import epochs_to_reach as report_epochs_to_reach
from hpsearch.report import progress


@dataclass(frozen=True)
class Spread:
    """A median and its interquartile range (q1, q3), over seeds."""

    median: float
    q1: float
    q3: float
    n: int

    def text(self, digits: int = 4) -> str:
        def show(x: float) -> str:
            return "never" if math.isinf(x) else f"{x:.{digits}g}"

        return f"{show(self.median)} [{show(self.q1)}, {show(self.q3)}]"


def spread(values: Sequence[float]) -> Spread | None:
    """Median and IQR (the 25th and 75th percentiles, linear interpolation); None if empty."""
    xs = sorted(float(v) for v in values)
    if not xs:
        return None
    if len(xs) == 1:
        return Spread(xs[0], xs[0], xs[0], 1)
    q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return Spread(statistics.median(xs), q1, q3, len(xs))


def _record(trials: pd.DataFrame, direction: str) -> Any:
    """A trial table as the report's functions read a search: its trials and direction."""
    return SimpleNamespace(trials=trials, direction=direction)


def truncate(trials: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """The trials a search had ended within its first ``epochs`` epochs (in the order they
    ended): a larger budget's run read at a smaller budget. A trial still training at that
    point is left out, which can only make the smaller budget look worse."""
    ordered = trials.assign(_order=trials["ended_s"].fillna(float("inf")))
    ordered = ordered.sort_values(["_order", "trial_id"], kind="stable")
    spent = ordered["epochs"].fillna(0).cumsum()
    return ordered[spent <= epochs].drop(columns="_order")


def reach_spread(reach: Sequence[int | None]) -> Spread | None:
    """Median and quartiles of epochs-to-reach over seeds, a seed that never reached the
    target counting as infinitely late (so a quartile can be "never")."""
    xs = sorted(math.inf if r is None else float(r) for r in reach)
    if not xs:
        return None

    def quantile(q: float) -> float:  # linear between order statistics, as spread() does
        pos = (len(xs) - 1) * q
        lo, hi = math.floor(pos), math.ceil(pos)
        if lo == hi or math.isinf(xs[hi]) or math.isinf(xs[lo]):
            return xs[hi] if pos > lo else xs[lo]
        return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

    return Spread(quantile(0.5), quantile(0.25), quantile(0.75), len(xs))


def steps(trials: pd.DataFrame, direction: str) -> list[tuple[int, float]]:
    """(epochs spent, best so far) after each trial that moved the best, in order."""
    p = progress(_record(trials, direction))
    out: list[tuple[int, float]] = []
    for epochs, best in zip(p["epochs"], p["best"], strict=True):
        if best is not None and not (isinstance(best, float) and math.isnan(best)):
            if not out or out[-1][1] != best:
                out.append((int(epochs), float(best)))
    return out


def best_at(trials: pd.DataFrame, direction: str, epochs: int) -> float | None:
    """The best value found within ``epochs`` epochs; None if nothing finished by then."""
    best = None
    for spent, value in steps(trials, direction):
        if spent > epochs:
            break
        best = value
    return best


def epochs_to_reach(trials: pd.DataFrame, direction: str, target: float) -> int | None:
    """Epochs spent when the best so far first reached ``target`` (None: never): the
    report's own rule, on a bare trial table."""
    return report_epochs_to_reach(_record(trials, direction), target)


def curve(trials: pd.DataFrame, direction: str, grid: Sequence[int]) -> list[float | None]:
    """Best so far at each epoch count of ``grid`` (None before the first finished trial)."""
    return [best_at(trials, direction, e) for e in grid]


def median_curve(curves: Sequence[Sequence[float | None]]) -> list[float | None]:
    """The median over seeds at each grid point, once more than half the seeds have a
    value there (a median of fewer would favour the lucky seeds)."""
    out: list[float | None] = []
    for column in zip(*curves, strict=True):
        values = [v for v in column if v is not None]
        out.append(statistics.median(values) if len(values) > len(column) / 2 else None)
    return out


def reach_median(reach: Sequence[int | None]) -> float | None:
    """The median of epochs-to-reach over seeds, counting a seed that never reached the
    target as infinitely late: None when half or more never did."""
    xs = sorted(math.inf if r is None else float(r) for r in reach)
    if not xs:
        return None
    m = statistics.median(xs)
    return None if math.isinf(m) else m


def rank_agreement(curves: dict[str, list[tuple[int, float]]], epoch: int) -> float | None:
    """Spearman's rho between each trial's value at ``epoch`` and its last value, over the
    trials that trained past ``epoch``: how well a short training ranks configurations
    (1.0: the short run orders them exactly as the full one). None with fewer than 5."""
    pairs = []
    for points in curves.values():
        by_epoch = dict(points)
        last_epoch = max(by_epoch) if by_epoch else 0
        if epoch in by_epoch and last_epoch > epoch:
            early, final = by_epoch[epoch], by_epoch[last_epoch]
            if math.isfinite(early) and math.isfinite(final):
                pairs.append((early, final))
    if len(pairs) < 5:
        return None
    frame = pd.DataFrame(pairs, columns=["early", "final"])
    rho = frame["early"].corr(frame["final"], method="spearman")
    return None if pd.isna(rho) else round(float(rho), 3)


def summarize(
    runs: dict[str, list[tuple[pd.DataFrame, str]]], reference: str, budget: int
) -> tuple[dict[str, dict[str, Any]], float | None]:
    """Per strategy label (``"random/keras-tuner"``): the median best at ``budget`` epochs
    with its IQR, and epochs-to-reach the ``reference`` label's median final best (median,
    IQR of the seeds that reached it, how many did), and that median as a fraction of the
    reference's own. ``runs`` maps a label to its searches (trial table, direction)."""
    finals = [v for t, d in runs.get(reference, []) if (v := best_at(t, d, budget)) is not None]
    target = statistics.median(finals) if finals else None
    rows: dict[str, dict[str, Any]] = {}
    for label, searches in runs.items():
        bests = [v for t, d in searches if (v := best_at(t, d, budget)) is not None]
        reach = [None if target is None else epochs_to_reach(t, d, target) for t, d in searches]
        reached = [r for r in reach if r is not None]
        rows[label] = {
            "median_best": spread(bests),
            "reach": reach_median(reach),
            "reach_iqr": reach_spread(reach),
            "reached": f"{len(reached)}/{len(reach)}",
        }
    base = rows.get(reference, {}).get("reach")
    for row in rows.values():
        row["fraction_of_reference"] = (
            round(row["reach"] / base, 3) if row["reach"] is not None and base else None
        )
    return rows, target
