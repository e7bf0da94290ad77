"""Parallel coordinates of the finished trials, each axis read as the space declares its
param (log, integer, choice).
"""

from __future__ import annotations

import math
from typing import Any

from hpsearch.report.data import _categorical, _declared, _finished, _fmt
from hpsearch.report.zoom import _Zoom
from hpsearch.space import (
    FloatRange,
    IntRange,
    label,
)
from hpsearch.trials import SearchRecord


def _parcoords(searches: list[SearchRecord], zoom: _Zoom | None) -> Any:
    """Parallel coordinates of the finished trials, one axis per varied param read as its
    space declares it: log params on a log10 axis labelled with real values, choices as
    labelled categories, ints with integer ticks. None when no trial finished."""
    import plotly.graph_objects as go

    metric = searches[0].metric
    ok = _finished(searches)
    if ok.empty:
        return None
    declared = _declared(searches)
    dims = []
    for col in sorted(c for c in ok.columns if c.startswith("params.")):
        values = ok[col]
        if values.isna().any() or values.nunique() < 2:
            continue
        dims.append(_dimension(col[7:], values.tolist(), declared.get(col[7:])))
    objective = ok["objective"].astype(float).tolist()
    dims.append({"label": metric, "values": objective})
    maximise = searches[0].direction == "max"
    line: dict[str, Any] = {
        "color": objective,
        "colorscale": "Viridis",
        "reversescale": not maximise,  # the better trials are the bright ones either way
        "showscale": True,
        "colorbar": {"title": {"text": metric, "side": "right"}, "thickness": 14, "x": 1.04},
    }
    if zoom is not None:
        # the colours spread over the window where the searches compete; the poor first
        # trials share the darkest one instead of squeezing the rest into one colour
        line["cmin"], line["cmax"] = min(zoom.lo, max(objective)), max(zoom.hi, min(objective))
        edge = "≤" if maximise else "≥"
        cut = zoom.lo if maximise else zoom.hi
        line["colorbar"]["title"]["text"] = f"{metric} ({edge} {_fmt(cut)}: one colour)"
    fig = go.Figure(
        go.Parcoords(
            line=line,
            dimensions=dims,
            labelangle=-20 if len(dims) > 7 else 0,
            labelside="top",
            labelfont={"size": 13},
            tickfont={"size": 11},
            rangefont={"size": 1, "color": "rgba(0,0,0,0)"},
        )
    )
    fig.update_layout(
        title={
            "text": f"Hyperparameters against {metric} ({len(ok)} finished trials; "
            "drag along an axis to filter)",
            "y": 0.98,
            "yanchor": "top",
        },
        height=500,
        margin={"t": 130, "l": 70, "r": 130, "b": 40},
    )
    return fig


def _dimension(name: str, values: list[Any], p: Any) -> dict[str, Any]:
    """One parcoords axis. Plotly has no log axis for parcoords, so a log param is drawn
    as log10 with ticks labelled in real values."""
    if _categorical(p, values):
        levels = [label(o) for o in (p.values() if p is not None else []) or []]
        levels += sorted({label(v) for v in values} - set(levels))
        index = {level: i for i, level in enumerate(levels)}
        return {
            "label": name,
            "values": [index[label(v)] for v in values],
            "tickvals": list(range(len(levels))),
            "ticktext": levels,
            "range": [0, len(levels) - 1],
        }
    nums = [float(v) for v in values]
    lo, hi = min(nums), max(nums)
    if isinstance(p, (IntRange, FloatRange)):
        lo, hi = min(lo, float(p.min)), max(hi, float(p.max))
    integer = isinstance(p, IntRange) or (p is None and all(v.is_integer() for v in nums))
    log = bool(p.log) if isinstance(p, (IntRange, FloatRange)) else (lo > 0 and hi >= 100 * lo)
    if log and lo > 0:
        ticks = _log_ticks(lo, hi, integer)
        return {
            "label": f"{name} (log)",
            "values": [math.log10(v) for v in nums],
            "range": [math.log10(lo), math.log10(hi)],
            "tickvals": [math.log10(t) for t in ticks],
            "ticktext": [_fmt(int(t) if integer else t) for t in ticks],
        }
    dim: dict[str, Any] = {"label": name, "values": nums, "range": [lo, hi]}
    grid = p.values() if isinstance(p, (IntRange, FloatRange)) and (p.count() or 99) <= 8 else None
    if grid:
        ticks = [float(t) for t in grid]
    elif integer:
        ticks = _int_ticks(lo, hi)
    else:
        return dim  # plotly's own ticks read well on a linear float axis
    dim["tickvals"] = ticks
    dim["ticktext"] = [_fmt(int(t) if integer else t) for t in ticks]
    return dim


def _log_ticks(lo: float, hi: float, integer: bool) -> list[float]:
    """Round values in [lo, hi] for a log axis: powers of 2 for ints (16, 32, 64) when
    they give 2 to 8 ticks, else the densest of 1-9, 1-2-5, 1 per decade with at most 8."""
    eps = 1e-9 * hi
    if integer:
        twos = [2.0**k for k in range(0, 64) if lo - eps <= 2.0**k <= hi + eps]
        if 2 <= len(twos) <= 8:
            return twos
    decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
    ticks: list[float] = []
    for mantissas in ((1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 5), (1,)):
        ticks = [
            float(f"{m * 10.0**d:.12g}")
            for d in decades
            for m in mantissas
            if lo - eps <= m * 10.0**d <= hi + eps and (not integer or m * 10.0**d >= 1)
        ]
        if len(ticks) <= 8:
            break
    if len(ticks) > 8:  # many decades: every k-th power of ten
        ticks = ticks[:: math.ceil(len(ticks) / 8)]
    if len(ticks) < 2:
        ticks = sorted({lo, hi, *ticks})
    return ticks


def _int_ticks(lo: float, hi: float) -> list[float]:
    """Integer ticks at a round step (1, 2, 5, 10, 20, ...), at most seven of them."""
    span = max(hi - lo, 1.0)
    k, step = 0, 1.0
    while span / step > 6:
        k += 1
        step = (1, 2, 5)[k % 3] * 10.0 ** (k // 3)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) // step) + 1)]
