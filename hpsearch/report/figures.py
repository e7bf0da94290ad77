"""The plotly figures of the page: best so far (by trial, seconds, epochs), learning
curves, parallel coordinates and importance.
"""

from __future__ import annotations

from typing import Any

from hpsearch.report.data import _fmt, progress
from hpsearch.report.parcoords import _parcoords
from hpsearch.report.zoom import _Zoom, _zoom
from hpsearch.study import IMPORTANCE_METHOD
from hpsearch.trials import SearchRecord, finished_rows

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")


def _figures(searches: list[SearchRecord], ranks: dict[str, float], top_k: int) -> list[Any]:
    import plotly.graph_objects as go

    metric = searches[0].metric
    zoom = _zoom(searches)
    figs = [
        _progress_figure(searches, x, title, zoom)
        for x, title in (
            ("trial", "Best so far by trial"),
            ("seconds", "Best so far by wall-clock seconds"),
            ("epochs", "Best so far by epochs consumed (the fair unit)"),
        )
    ]

    fig = go.Figure()
    for i, s in enumerate(searches):
        f = s.trials
        ok = finished_rows(f).sort_values("objective", ascending=s.direction != "max").head(top_k)
        for _, r in ok.iterrows():
            curve = s.curves.get(str(r["trial_id"]), [])
            fig.add_trace(
                go.Scatter(
                    x=[e for e, _ in curve],
                    y=[v for _, v in curve],
                    mode="lines+markers",
                    name=f"{s.label} trial {r['trial_id']}",
                    line={"color": PALETTE[i % len(PALETTE)]},
                    legendgroup=s.label,
                )
            )
    fig.update_layout(
        title=f"Learning curves of each search's top {top_k} trials",
        xaxis_title="epoch",
        yaxis_title=metric,
    )
    figs.append(fig)

    parcoords = _parcoords(searches, zoom)
    if parcoords is not None:
        figs.append(parcoords)

    if ranks:
        fig = go.Figure(go.Bar(x=list(ranks.values()), y=list(ranks.keys()), orientation="h"))
        fig.update_layout(
            title=f"Hyperparameter importance: {IMPORTANCE_METHOD}",
            xaxis_title="share of explained variance",
            yaxis={"autorange": "reversed"},
        )
        figs.append(fig)
    for fig in figs:
        fig.update_layout(template="plotly_white")
        if fig.layout.height is None:
            fig.update_layout(height=420)
        if fig.layout.margin.t is None:
            fig.update_layout(margin={"t": 60})
    return figs


def _progress_figure(searches: list[SearchRecord], x: str, title: str, zoom: _Zoom | None) -> Any:
    """Best so far against ``x``; zoomed, it says so on the plot, with how many points lie
    outside, and offers the full range (the buttons restyle the data, not just the axis)."""
    import plotly.graph_objects as go

    metric = searches[0].metric
    fig = go.Figure()
    zoomed_y: list[list[float]] = []  # per trace: each search's line, then its edge marks
    full_y: list[list[float]] = []
    hidden = total = 0
    for i, s in enumerate(searches):
        p = progress(s).dropna(subset=["best"])
        if x == "seconds":
            p = p.dropna(subset=["seconds"])
        ys = [float(v) for v in p["best"]]
        out = [zoom is not None and zoom.outside(v) for v in ys]
        hidden += sum(out)
        total += len(ys)
        text = [
            f"trial {t}: best {metric} {v:.4f}" + (" (outside the zoom)" if o else "")
            for t, v, o in zip(p["trial_id"], ys, out, strict=True)
        ]
        color = PALETTE[i % len(PALETTE)]
        clipped = [zoom.clip(v) for v in ys] if zoom else ys
        fig.add_trace(
            go.Scatter(
                x=p[x],
                y=clipped,
                mode="lines+markers",
                line={"shape": "hv", "color": color},
                marker={"size": 6},
                name=s.label,
                legendgroup=s.label,
                hovertext=text,
                hovertemplate="%{hovertext}<extra>%{fullData.name}</extra>",
            )
        )
        zoomed_y.append(clipped)
        full_y.append(ys)
        if zoom is None:
            continue
        marks = [j for j, o in enumerate(out) if o]
        edge_y = [clipped[j] for j in marks]
        fig.add_trace(  # a triangle on the edge for each point beyond it, over the line
            go.Scatter(
                x=[p[x].iloc[j] for j in marks],
                y=edge_y,
                mode="markers",
                marker={
                    "symbol": "triangle-down" if zoom.maximise else "triangle-up",
                    "size": 11,
                    "color": color,
                    "line": {"width": 1, "color": "white"},
                },
                name=f"{s.label}: outside the zoom",
                legendgroup=s.label,
                showlegend=False,
                hovertext=[text[j] for j in marks],
                hovertemplate="%{hovertext}<extra>%{fullData.name}</extra>",
            )
        )
        zoomed_y.append(edge_y)
        full_y.append(edge_y)
    fig.update_layout(
        title={"text": title, "y": 0.97, "yanchor": "top"},
        xaxis_title=x,
        yaxis_title=f"best {metric}",
        height=440,
        margin={"t": 90},
    )
    if zoom is None or not hidden:
        return fig
    side = "below" if zoom.maximise else "above"
    edge = "bottom" if zoom.maximise else "top"
    zoomed_note = (
        f"Zoomed to {metric} {_fmt(zoom.lo)} to {_fmt(zoom.hi)}, where the searches compete: "
        f"{hidden} of {total} points lie {side}, drawn as triangles on the {edge} edge "
        "(hover for their values)."
    )
    full_note = f"All {total} points, unzoomed."
    note = {
        "xref": "paper",
        "yref": "paper",
        "x": 0,
        "y": 1.0,
        "xanchor": "left",
        "yanchor": "bottom",
        "showarrow": False,
        "align": "left",
        "font": {"size": 12, "color": "#8a4b00"},
    }
    zoomed_title = f"best {metric} (zoomed: {hidden} points {side})"
    fig.update_layout(
        yaxis={"range": zoom.range, "title": {"text": zoomed_title}},
        annotations=[{**note, "text": zoomed_note}],
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "showactive": True,
                "active": 0,
                "x": 1.0,
                "xanchor": "right",
                "y": 1.16,
                "yanchor": "bottom",
                "pad": {"t": 0, "b": 0},
                "font": {"size": 11},
                "buttons": [
                    {
                        "label": "Zoomed",
                        "method": "update",
                        "args": [
                            {"y": zoomed_y, "visible": [True] * len(zoomed_y)},
                            {
                                "yaxis.range": zoom.range,
                                "yaxis.autorange": False,
                                "yaxis.title.text": zoomed_title,
                                "annotations": [{**note, "text": zoomed_note}],
                            },
                        ],
                    },
                    {
                        "label": "All trials",
                        "method": "update",
                        "args": [
                            {"y": full_y, "visible": [True, False] * len(searches)},
                            {
                                "yaxis.autorange": True,
                                "yaxis.title.text": f"best {metric}",
                                "annotations": [{**note, "text": full_note}],
                            },
                        ],
                    },
                ],
            }
        ],
    )
    return fig
