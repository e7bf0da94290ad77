"""The plotly figures of the page: best so far (by trial, seconds, epochs), learning
curves, parallel coordinates and importance.
"""

from __future__ import annotations

from typing import Any

from hpsearch.report.data import _fmt, progress
from hpsearch.report.parcoords import _parcoords
from hpsearch.report.zoom import _Zoom, _zoom
from hpsearch.study import IMPORTANCE_METHOD
from hpsearch.trials import SearchRecord, finished_rows, pruned_rows

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")


def _figures(searches: list[SearchRecord], ranks: dict[str, float], top_k: int) -> list[Any]:
    """Every figure of the page, in page order, with the shared look applied."""
    zoom = _zoom(searches)
    figs = [
        _progress_figure(searches, x, title, zoom)
        for x, title in (
            ("trial", "Best so far by trial"),
            ("seconds", "Best so far by wall-clock seconds"),
            ("epochs", "Best so far by epochs consumed (the fair unit)"),
        )
    ]
    figs.append(_learning_curves(searches, top_k))
    parcoords = _parcoords(searches, zoom)
    if parcoords is not None:
        figs.append(parcoords)
    if ranks:
        figs.append(_importance_bar(ranks))
    for fig in figs:
        fig.update_layout(template="plotly_white")
        if fig.layout.height is None:
            fig.update_layout(height=420)
        if fig.layout.margin.t is None:
            fig.update_layout(margin={"t": 60})
    return figs


def _learning_curves(searches: list[SearchRecord], top_k: int) -> Any:
    """The per-epoch curves of each search's ``top_k`` finished trials, a colour a search;
    and its ``top_k`` best pruned trials dotted, a cross where the pruner stopped each."""
    import plotly.graph_objects as go

    fig = go.Figure()
    any_pruned = False
    for i, s in enumerate(searches):
        f = s.trials
        color = PALETTE[i % len(PALETTE)]
        ok = finished_rows(f).sort_values("objective", ascending=s.direction != "max").head(top_k)
        for _, r in ok.iterrows():
            curve = s.curves.get(str(r["trial_id"]), [])
            fig.add_trace(
                go.Scatter(
                    x=[e for e, _ in curve],
                    y=[v for _, v in curve],
                    mode="lines+markers",
                    name=f"{s.label} trial {r['trial_id']}",
                    line={"color": color},
                    legendgroup=s.label,
                )
            )
        for _, r in pruned_rows(f, s.direction).head(top_k).iterrows():
            curve = s.curves.get(str(r["trial_id"]), [])
            if curve:
                fig.add_trace(_pruned_curve(s.label, str(r["trial_id"]), curve, color))
                any_pruned = True
    if any_pruned:  # one legend entry says what the dotted lines and crosses are
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines+markers",
                name="pruned (the cross: its last epoch)",
                line={"color": "#888", "dash": "dot"},
                marker={"symbol": "x", "size": 9, "color": "#888"},
            )
        )
    title = f"Learning curves of each search's top {top_k} trials"
    fig.update_layout(
        title=title + (" and top pruned ones (dotted)" if any_pruned else ""),
        xaxis_title="epoch",
        yaxis_title=searches[0].metric,
    )
    return fig


def _pruned_curve(label: str, trial_id: str, curve: list[tuple[int, float]], color: str) -> Any:
    """A pruned trial's curve: dotted, small dots, a cross on the epoch it stopped after."""
    import plotly.graph_objects as go

    n = len(curve)
    return go.Scatter(
        x=[e for e, _ in curve],
        y=[v for _, v in curve],
        mode="lines+markers",
        name=f"{label} trial {trial_id} (pruned at epoch {curve[-1][0]})",
        line={"color": color, "dash": "dot", "width": 1.5},
        marker={
            "color": color,
            "symbol": ["circle"] * (n - 1) + ["x"],
            "size": [4] * (n - 1) + [11],
        },
        legendgroup=label,
        showlegend=False,
    )


def _importance_bar(ranks: dict[str, float]) -> Any:
    """The importances as horizontal bars, the largest on top."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=list(ranks.values()), y=list(ranks.keys()), orientation="h"))
    fig.update_layout(
        title=f"Hyperparameter importance: {IMPORTANCE_METHOD}",
        xaxis_title="share of explained variance",
        yaxis={"autorange": "reversed"},
    )
    return fig


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
        fig.add_trace(_best_line(s.label, p[x], clipped, color, text))
        zoomed_y.append(clipped)
        full_y.append(ys)
        if zoom is None:
            continue
        marks = [j for j, o in enumerate(out) if o]
        edge_y = [clipped[j] for j in marks]
        fig.add_trace(  # a triangle on the edge for each point beyond it, over the line
            _edge_marks(
                s.label,
                [p[x].iloc[j] for j in marks],
                edge_y,
                zoom,
                color,
                [text[j] for j in marks],
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
    if zoom is not None and hidden:
        _add_zoom_toggle(fig, metric, zoom, (hidden, total), zoomed_y, full_y)
    return fig


def _best_line(name: str, x: Any, y: list[float], color: str, text: list[str]) -> Any:
    """A search's best-so-far as a step line, hover text per point."""
    import plotly.graph_objects as go

    return go.Scatter(
        x=x,
        y=y,
        mode="lines+markers",
        line={"shape": "hv", "color": color},
        marker={"size": 6},
        name=name,
        legendgroup=name,
        hovertext=text,
        hovertemplate="%{hovertext}<extra>%{fullData.name}</extra>",
    )


def _edge_marks(
    name: str, x: list[Any], y: list[float], zoom: _Zoom, color: str, text: list[str]
) -> Any:
    """The triangles on the zoom's edge for a search's points beyond it (no legend entry:
    they belong to the search's line)."""
    import plotly.graph_objects as go

    return go.Scatter(
        x=x,
        y=y,
        mode="markers",
        marker={
            "symbol": "triangle-down" if zoom.maximise else "triangle-up",
            "size": 11,
            "color": color,
            "line": {"width": 1, "color": "white"},
        },
        name=f"{name}: outside the zoom",
        legendgroup=name,
        showlegend=False,
        hovertext=text,
        hovertemplate="%{hovertext}<extra>%{fullData.name}</extra>",
    )


def _add_zoom_toggle(
    fig: Any,
    metric: str,
    zoom: _Zoom,
    counts: tuple[int, int],
    zoomed_y: list[list[float]],
    full_y: list[list[float]],
) -> None:
    """Zoom ``fig``'s y axis, say so in a note (``counts``: points outside, points in all)
    and add the Zoomed / All trials buttons that swap the traces' y values and the note."""
    hidden, total = counts
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
    zoomed = [
        {"y": zoomed_y, "visible": [True] * len(zoomed_y)},
        {
            "yaxis.range": zoom.range,
            "yaxis.autorange": False,
            "yaxis.title.text": zoomed_title,
            "annotations": [{**note, "text": zoomed_note}],
        },
    ]
    full = [
        # each search: its line shown, its edge marks hidden
        {"y": full_y, "visible": [True, False] * (len(full_y) // 2)},
        {
            "yaxis.autorange": True,
            "yaxis.title.text": f"best {metric}",
            "annotations": [{**note, "text": full_note}],
        },
    ]
    fig.update_layout(
        yaxis={"range": zoom.range, "title": {"text": zoomed_title}},
        annotations=[{**note, "text": zoomed_note}],
        updatemenus=[_zoom_buttons(zoomed, full)],
    )


def _zoom_buttons(zoomed: list[dict[str, Any]], full: list[dict[str, Any]]) -> dict[str, Any]:
    """The two buttons above the plot's top right corner; each applies its update args."""
    return {
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
            {"label": "Zoomed", "method": "update", "args": zoomed},
            {"label": "All trials", "method": "update", "args": full},
        ],
    }
