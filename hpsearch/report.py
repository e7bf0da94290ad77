"""Comparison reports: searches read back from MLflow become index.html, report.md and
trials.csv.

The question after a search is rarely "what is the best trial?" but which strategy found
it, at what cost, which hyperparameters mattered and whether to search on. Every figure
here is computed from SearchRecords (trials + space only, per the dependency rules); plots
are drawn with plotly and the page embeds plotly.js, so it opens offline with no server.
"""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.space import (
    VOCABULARY,
    Bool,
    Choice,
    FloatRange,
    IntRange,
    epochs_flag_repeats,
    label,
    parse_logged,
)
from hpsearch.trials import FINISHED, SearchRecord, finished_rows

if TYPE_CHECKING:
    import pandas as pd

IMPORTANCE_METHOD = "fANOVA (optuna.importance.FanovaImportanceEvaluator, seed 0)"
MIN_TRIALS_FOR_IMPORTANCE = 4
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")


@dataclass
class Report:
    """Where a report went, and what it concluded."""

    folder: Path
    html: Path
    markdown: Path
    csv: Path
    verdict: list[str] = field(default_factory=list)
    n_plots: int = 0


# ----------------------------------------------------------------------------- figures


def trials_frame(searches: list[SearchRecord]) -> pd.DataFrame:
    """All trials of all searches in one frame, with the search each belongs to."""
    import pandas as pd

    frames = []
    for s in searches:
        f = s.trials.copy()
        f.insert(0, "search", s.label)
        f.insert(0, "search_run_id", s.run_id)
        frames.append(f)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def progress(search: SearchRecord) -> pd.DataFrame:
    """Best-so-far after each trial, in the order trials ended: the trial index, the
    seconds since the search began, the epochs consumed so far, and the best value."""
    import pandas as pd

    f = search.trials.copy()
    if f.empty:
        return pd.DataFrame(columns=["trial", "seconds", "epochs", "best", "trial_id"])
    f["_order"] = f["ended_s"].fillna(float("inf"))
    f = f.sort_values(["_order", "trial_id"], kind="stable")
    sign = 1.0 if search.direction == "max" else -1.0
    best: float | None = None
    rows, epochs = [], 0
    for i, (_, r) in enumerate(f.iterrows(), start=1):
        epochs += int(r["epochs"]) if pd.notna(r["epochs"]) else 0
        value = r["objective"]
        if r["status"] == FINISHED and pd.notna(value) and math.isfinite(value):
            if best is None or sign * value > sign * best:
                best = float(value)
        rows.append(
            {
                "trial": i,
                "seconds": r["ended_s"],
                "epochs": epochs,
                "best": best,
                "trial_id": r["trial_id"],
            }
        )
    return pd.DataFrame(rows)


def best_value(search: SearchRecord) -> float | None:
    p = progress(search)
    if p.empty:
        return None
    values = p["best"].dropna()
    return float(values.iloc[-1]) if len(values) else None


def epochs_to_reach(search: SearchRecord, target: float) -> int | None:
    """Epochs the search had consumed when its best-so-far first reached ``target``."""
    sign = 1.0 if search.direction == "max" else -1.0
    for _, r in progress(search).iterrows():
        if (
            r["best"] is not None
            and not math.isnan(r["best"])
            and sign * r["best"] >= sign * target
        ):
            return int(r["epochs"])
    return None


def summary(searches: list[SearchRecord]) -> list[dict[str, Any]]:
    """One row per search: what it was, what it cost, what it found."""
    rows = []
    for s in searches:
        f = s.trials
        finished = int((f["status"] == FINISHED).sum()) if len(f) else 0
        best = _best_row(s)
        rows.append(
            {
                "search": s.label,
                "strategy": s.strategy,
                "backend": s.backend,
                "status": s.status,
                "trials": len(f),
                "finished": finished,
                "failed": len(f) - finished,
                "epochs": int(f["epochs"].fillna(0).sum()) if len(f) else 0,
                "wall_s": round(s.wall_seconds, 1) if s.wall_seconds is not None else None,
                f"best {s.metric}": None if best is None else round(float(best["objective"]), 4),
                "best trial": None if best is None else best["trial_id"],
                "best params": "" if best is None else _params_text(best, _searched(s)),
            }
        )
    return rows


def _best_row(s: SearchRecord) -> Any:
    f = s.trials
    ok = finished_rows(f)
    if ok.empty:
        return None
    idx = ok["objective"].idxmax() if s.direction == "max" else ok["objective"].idxmin()
    return ok.loc[idx]


def _params_text(row: Any, names: list[str] | None = None) -> str:
    """``lr=0.003, n_hidden=2``: the params in ``names`` (all when None) of a trial row."""
    out = []
    for col, value in row.items():
        name = str(col)[7:]
        if not str(col).startswith("params.") or (names is not None and name not in names):
            continue
        if value is not None and value == value:
            out.append(f"{name}={_fmt(value)}")
    return ", ".join(out)


def _searched(search: SearchRecord) -> list[str] | None:
    """The names the search varied, from its space file; None when unknown (all shown)."""
    space = _space(search)
    return space.searched_names() if space else None


def _space(search: SearchRecord) -> Any:
    return parse_logged(search.space_text)


def _declared(searches: list[SearchRecord]) -> dict[str, Any]:
    """Each searched param's declaration (IntRange, FloatRange, Choice, Bool) from the
    newest search whose space declares it; params of spaces that did not parse are absent."""
    out: dict[str, Any] = {}
    for s in searches:  # oldest first: a newer declaration wins
        space = _space(s)
        if space is not None:
            out.update(space.searched())
    return out


def _categorical(p: Any, values: Any) -> bool:
    """Whether a param's values are labels (a choice, a bool), not points on a scale.

    The space says so when it is known: ``batch_size: {choice: [32, 64]}`` is a choice
    although its values are numbers. Without it, only non-numbers are labels."""
    if p is not None:
        return isinstance(p, (Choice, Bool))
    return not _is_number(values)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def verdict(searches: list[SearchRecord]) -> tuple[list[str], list[dict[str, Any]]]:
    """Who won and by how much, and how many epochs each search needed to reach each other
    search's best value (the matrix rows: search; columns: the target search)."""
    scored = _scored(searches)
    lines: list[str] = []
    matrix: list[dict[str, Any]] = []
    if not scored:
        return ["No search finished a trial: there is no winner."], matrix
    ranked = _ranked(scored)
    win, wv = ranked[0]
    epochs = {s.run_id: int(s.trials["epochs"].fillna(0).sum()) for s, _ in scored}
    if len(ranked) == 1:
        lines.append(f"{win.label} reached {win.metric} = {wv:.4f} in {epochs[win.run_id]} epochs.")
    else:
        second, sv2 = ranked[1]
        margin = abs(wv - sv2)
        if margin == 0:
            lines.append(
                f"Winner: {win.label} with {win.metric} = {wv:.4f}, tied with {second.label} "
                f"on value but first to reach it ({epochs_to_reach(win, wv)} epochs against "
                f"{epochs_to_reach(second, sv2)})."
            )
        else:
            lines.append(
                f"Winner: {win.label} with {win.metric} = {wv:.4f}, ahead of {second.label} "
                f"({sv2:.4f}) by {margin:.4f}; it spent {epochs[win.run_id]} epochs."
            )
        for s, v in ranked[1:]:
            need = epochs_to_reach(s, wv)
            reach = f"reached it after {need} epochs" if need is not None else "never reached it"
            lines.append(f"{s.label}: best {v:.4f}, {reach} (spent {epochs[s.run_id]}).")
        for s, v in ranked[1:]:
            need = epochs_to_reach(win, v)
            lines.append(f"{win.label} matched {s.label}'s best after {need} epochs.")
    for s, _ in scored:
        row: dict[str, Any] = {"search": s.label}
        for t, tv in scored:
            need = epochs_to_reach(s, tv)
            row[f"to reach {t.label}"] = "—" if need is None else need
        matrix.append(row)
    return lines, matrix


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
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists: dict[str, Any] = {}
    for col in (c for c in ok.columns if c.startswith("params.")):
        values = ok[col].dropna()
        if values.nunique() < 2 or len(values) < len(ok):
            continue
        name = col[7:]
        if _is_number(values):
            dists[name] = FloatDistribution(float(values.min()), float(values.max()))
        else:
            dists[name] = CategoricalDistribution(sorted({str(v) for v in values}))
    if not dists:
        return {}, "no hyperparameter varied across the finished trials"
    study = optuna.create_study(
        direction="maximize" if searches[0].direction == "max" else "minimize"
    )
    for _, r in ok.iterrows():
        params = {
            k: (
                float(r[f"params.{k}"])
                if isinstance(d, FloatDistribution)
                else str(r[f"params.{k}"])
            )
            for k, d in dists.items()
        }
        study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions=dists, value=float(r["objective"])
            )
        )
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    scores = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return {k: float(v) for k, v in scores.items()}, f"over {len(ok)} finished trials"


def _scored(searches: list[SearchRecord]) -> list[tuple[SearchRecord, float]]:
    """Searches with a best value, paired with it (searches where all failed drop out)."""
    out = []
    for s in searches:
        v = best_value(s)
        if v is not None:
            out.append((s, v))
    return out


def _ranked(scored: list[tuple[SearchRecord, float]]) -> list[tuple[SearchRecord, float]]:
    """Best value first; on a tie, the search that got there in fewer epochs."""
    sign = 1.0 if scored[0][0].direction == "max" else -1.0
    return sorted(scored, key=lambda sv: (-sign * sv[1], epochs_to_reach(*sv) or 0))


def _is_number(values: Any) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def next_steps(searches: list[SearchRecord], ranks: dict[str, float]) -> list[str]:
    """What to try next, read off the data: more budget, a wider range, a narrower one, a
    choice to fix. Each hint fits its param's kind: a choice is never "searched finely"."""
    tips: list[str] = []
    scored = _scored(searches)
    if not scored:
        return ["Every trial failed: read the errors below, fix the space, then run again."]
    win, _ = _ranked(scored)[0]
    p = progress(win)
    total = int(p["epochs"].iloc[-1]) if len(p) else 0
    best_now = p["best"].iloc[-1]
    reached = epochs_to_reach(win, best_now) or total
    if total and reached > 0.75 * total:
        tips.append(
            f"{win.label} was still improving in the last quarter of its budget "
            f"(best found after {reached} of {total} epochs): a bigger budget should pay off."
        )
    elif total:
        tips.append(
            f"{win.label} found its best after {reached} of {total} epochs and then "
            "plateaued: more budget of the same kind is unlikely to help; change the space."
        )
    best = _best_row(win)
    low = [k for k, v in ranks.items() if v < 0.05]  # fixed below, not widened
    for name, lo, hi, log in _bounds(win):
        if name in low:
            continue
        value = best.get(f"params.{name}") if best is not None else None
        if value is None or value != value:
            continue
        pos = _position(float(value), lo, hi, log)
        if pos is None:
            continue
        info = VOCABULARY.get(name)
        where = f"The best {name} ({_fmt(value)}) sits at the"
        if pos >= 0.9 and info is not None and info.high is not None and hi >= info.high:
            tips.append(f"{where} top of its range, the highest {name} can be: fix it there.")
        elif pos >= 0.9:
            tips.append(
                f"{where} top of its range [{_fmt(lo)}, {_fmt(hi)}]: widen the range upward."
            )
        elif pos <= 0.1 and info is not None and info.low is not None and lo <= info.low:
            tips.append(f"{where} bottom of its range, the lowest {name} can be: fix it there.")
        elif pos <= 0.1:
            tips.append(
                f"{where} bottom of its range [{_fmt(lo)}, {_fmt(hi)}]: widen the range downward."
            )
    declared = _declared(searches)
    tips += _choice_edges(win, best, {k: p for k, p in declared.items() if k not in low})
    if ranks:
        top, share = next(iter(ranks.items()))
        tips.append(_top_tip(searches, top, share, declared.get(top)))
        if low:
            keep = _params_text(best, low) if best is not None else ""
            tips.append(
                f"{', '.join(low)} hardly matter (< 5% each): fix them"
                + (f" ({keep}, as in the best trial)" if keep else "")
                + " to save budget."
            )
    failed = sum(int((s.trials["status"] != FINISHED).sum()) for s in searches if len(s.trials))
    if failed:
        tips.append(f"{failed} trial(s) failed: their errors are listed below.")
    return tips


def _finished(searches: list[SearchRecord]) -> pd.DataFrame:
    return finished_rows(trials_frame(searches))


def _top_tip(searches: list[SearchRecord], name: str, share: float, p: Any) -> str:
    """The hint for the param that matters most: a choice is fixed to its winner or given
    company; a range is narrowed to where the best trials lie."""
    head = f"{name} matters most ({share:.0%} of the explained variance)"
    ok = _finished(searches)
    col = f"params.{name}"
    if ok.empty or col not in ok.columns:
        return f"{head}."
    maximise = searches[0].direction == "max"
    ok = ok[ok[col].notna()].sort_values("objective", ascending=not maximise)
    values = ok[col].tolist()
    if not values:
        return f"{head}."
    if _categorical(p, values):
        by_level: dict[str, float] = {}
        for v, obj in zip(ok[col], ok["objective"], strict=True):
            by_level.setdefault(label(v), float(obj))  # sorted: the first is the level's best
        levels = list(by_level)
        untried = [label(o) for o in (p.values() if p is not None else []) or []]
        untried = [o for o in untried if o not in by_level]
        tail = (
            f" ({', '.join(untried)} never finished a trial: give it trials before fixing)"
            if untried
            else ""
        )
        top_value = by_level[levels[0]]
        tied = [k for k in levels if by_level[k] == top_value]
        rest = ", ".join(f"{k} {by_level[k]:.4f}" for k in levels if k not in tied)
        rest = f"; best of the rest: {rest}" if rest else ""
        if len(tied) > 1:
            return (
                f"{head}: {' and '.join(tied)} tie for the best trial ({searches[0].metric} "
                f"{top_value:.4f}{rest}). Keep only those and spend the budget on the other "
                f"parameters{tail}."
            )
        return (
            f"{head}: {levels[0]} gave the best trial ({searches[0].metric} "
            f"{top_value:.4f}{rest}). Fix {name} to {levels[0]} and spend the budget on the "
            f"other parameters, or add choices to compare with {levels[0]}{tail}."
        )
    top = [float(v) for v in values[: max(3, len(values) // 4)]]
    lo, hi = min(top), max(top)
    if lo == hi:
        return f"{head}: the best {len(top)} trials all have {name} = {_fmt(values[0])}: fix it."
    where = f"the best {len(top)} trials lie in [{_fmt(lo)}, {_fmt(hi)}]"
    if isinstance(p, (IntRange, FloatRange)):
        span = _position(hi, float(p.min), float(p.max), p.log)
        start = _position(lo, float(p.min), float(p.max), p.log)
        now = f"[{_fmt(p.min)}, {_fmt(p.max)}]"
        if span is not None and start is not None and span - start >= 0.8:
            return (
                f"{head}, but {where}, across most of its range {now}: give it more "
                "trials before narrowing the range."
            )
        return f"{head}: {where}; narrow its range {now} to that and search it more finely."
    return f"{head}: {where}; search that interval more finely."


def _choice_edges(win: SearchRecord, best: Any, declared: dict[str, Any]) -> list[str]:
    """A numeric choice of three or more whose best value is the largest or smallest
    option: the optimum may lie past the options (a range's edge hint, for choices)."""
    tips = []
    for name, p in declared.items():
        if not isinstance(p, Choice) or len(p.options) < 3 or not _is_number(p.options):
            continue
        value = best.get(f"params.{name}") if best is not None else None
        if value is None or value != value:
            continue
        options = sorted(float(o) for o in p.options)
        if float(value) == options[-1]:
            tips.append(
                f"The best {name} ({_fmt(value)}) is the largest of its choices: add a larger one."
            )
        elif float(value) == options[0]:
            tips.append(
                f"The best {name} ({_fmt(value)}) is the smallest of its choices: "
                "add a smaller one."
            )
    return tips


def _bounds(search: SearchRecord) -> list[tuple[str, float, float, bool]]:
    space = _space(search)
    if space is None:
        return []
    out = []
    for name, p in space.params.items():
        if isinstance(p, (IntRange, FloatRange)):
            out.append((name, float(p.min), float(p.max), bool(p.log)))
    return out


def _position(value: float, lo: float, hi: float, log: bool) -> float | None:
    if hi <= lo:
        return None
    if log and lo > 0 and value > 0:
        return (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return (value - lo) / (hi - lo)


def commands(search: SearchRecord) -> tuple[str | None, str]:
    """The command line that ran the search, and an equivalent ``hpsearch run``."""
    p = search.params
    space_file = search.tags.get("hpsearch.space_file") or "SPACE.yaml"
    parts = [
        "hpsearch run",
        space_file,
        f"--strategy {search.strategy}",
        f"--backend {search.backend}",
        f"--max-trials {p.get('max_trials', '?')}",
        f"--seed {p.get('seed', '?')}",
        f"--experiment {search.experiment}",
    ]
    if epochs_flag_repeats(p.get("epochs"), p.get("hyperband_max_epochs")):
        parts.insert(5, f"--epochs {p.get('epochs', '?')}")
    if "hpsearch.budget_epochs" in search.tags:
        parts.append(f"--budget-epochs {search.tags['hpsearch.budget_epochs']}")
    if "hpsearch.budget_seconds" in search.tags:
        parts.append(f"--budget-time {search.tags['hpsearch.budget_seconds']}")
    return search.tags.get("hpsearch.command"), " ".join(parts)


# ----------------------------------------------------------------------------- plots


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


# ----------------------------------------------------------------------------- best so far


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


# ----------------------------------------------------------------------------- parameters


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


# ----------------------------------------------------------------------------- writing


def write_report(
    searches: list[SearchRecord],
    folder: str | Path,
    *,
    title: str,
    top_k: int = 3,
) -> Report:
    """Write index.html, report.md and trials.csv for ``searches`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame = trials_frame(searches)
    csv = folder / "trials.csv"
    frame.to_csv(csv, index=False)
    ranks, rank_note = importance(searches)
    lines, matrix = verdict(searches)
    tips = next_steps(searches, ranks)
    rows = summary(searches)
    failed = _failed(searches)
    figs = _figures(searches, ranks, top_k)

    content = _Content(title, searches, rows, lines, matrix, ranks, rank_note, tips, failed)
    md = folder / "report.md"
    md.write_text(
        _markdown(content),
        encoding="utf-8",
    )
    page = folder / "index.html"
    page.write_text(
        _html(content, figs),
        encoding="utf-8",
    )
    return Report(folder, page, md, csv, lines, len(figs))


@dataclass
class _Content:
    """What both renderings (Markdown, HTML) show: computed once in write_report."""

    title: str
    searches: list[SearchRecord]
    rows: list[dict[str, Any]]
    lines: list[str]
    matrix: list[dict[str, Any]]
    ranks: dict[str, float]
    rank_note: str
    tips: list[str]
    failed: list[dict[str, Any]]


def _failed(searches: list[SearchRecord]) -> list[dict[str, Any]]:
    out = []
    for s in searches:
        f = s.trials
        for _, r in (f[f["status"] != FINISHED] if len(f) else f).iterrows():
            out.append(
                {
                    "search": s.label,
                    "trial": r["trial_id"],
                    "params": _params_text(r),
                    "error": str(r.get("error") or "")[:300],
                }
            )
    return out


def md_table(rows: list[dict[str, Any]]) -> str:
    """A GitHub Markdown table (pipes escaped); empty string for no rows."""
    if not rows:
        return ""
    cols = list(rows[0])

    def cell(v: Any) -> str:
        text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        return text.replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def _markdown(c: _Content) -> str:
    title, searches, rows, lines, matrix = c.title, c.searches, c.rows, c.lines, c.matrix
    ranks, rank_note, tips, failed = c.ranks, c.rank_note, c.tips, c.failed
    out = [
        f"# {title}",
        "",
        f"Made {time.strftime('%Y-%m-%d %H:%M')} from MLflow; "
        f"{len(searches)} search(es), objective {searches[0].metric} "
        f"({searches[0].direction}).",
        "",
        "## Searches",
        "",
        md_table(rows),
        "",
    ]
    out += ["## Verdict", "", *[f"- {line}" for line in lines], ""]
    if len(matrix) > 1:
        out += [
            "### Epochs each search needed to reach each search's best",
            "",
            md_table(matrix),
            "",
        ]
    out += ["## Hyperparameter importance", "", f"Method: {IMPORTANCE_METHOD}, {rank_note}.", ""]
    if ranks:
        out += [
            md_table([{"hyperparameter": k, "importance": f"{v:.3f}"} for k, v in ranks.items()]),
            "",
        ]
    out += ["## What to try next", "", *[f"- {t}" for t in tips], ""]
    out += ["## Failed trials", ""]
    out += [md_table(failed) if failed else "None.", ""]
    out += ["## Reproduce", ""]
    for s in searches:
        original, equivalent = commands(s)
        block = [*(["# as it was run", original] if original else []), equivalent]
        if original:
            block[2:2] = ["# equivalent, from the settings the run recorded"]
        out += [f"{s.label}:", "", "```", *block, "```", ""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
@media (max-width:1100px){table{font-size:.75rem}th,td{padding:.25rem .35rem}}
th{background:#f5f5f5}.verdict{background:#f0f7ff;border-left:4px solid #1f77b4;
padding:.6rem 1rem}.table{overflow-x:auto}
pre{background:#f6f8fa;padding:.6rem;white-space:pre-wrap;overflow-wrap:anywhere}
pre.cmd{padding-left:2.2rem;text-indent:-1.6rem;margin-top:.2rem}
pre.cmd .w{display:inline-block;max-width:100%;text-indent:0}p.cmd{margin:.6rem 0 0;
font-size:.85rem;color:#555}
.plot{margin:1rem 0}
"""


def _table_html(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>None.</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape('' if r.get(c) is None else str(r.get(c)))}</td>" for c in cols
        )
        + "</tr>"
        for r in rows
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<div class='table'>{table}</div>"


def _command_html(command: str) -> str:
    """A command that wraps between its words, never at the hyphens inside one (a path
    longer than the line still wraps, anywhere); continuation lines are indented."""
    words = " ".join(f"<span class='w'>{html.escape(w)}</span>" for w in command.split(" "))
    return f"<pre class='cmd'>{words}</pre>"


def _html(c: _Content, figs: list[Any]) -> str:
    title, searches, rows, lines, matrix = c.title, c.searches, c.rows, c.lines, c.matrix
    ranks, rank_note, tips, failed = c.ranks, c.rank_note, c.tips, c.failed
    plots = [
        fig.to_html(
            full_html=False,
            include_plotlyjs=(i == 0),  # plotly.js once, inline: the file works offline
            div_id=f"plot-{i}",
            config={"displaylogo": False},
        )
        for i, fig in enumerate(figs)
    ]
    e = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>{_CSS}</style></head>",
        f"<body data-plots='{len(figs)}'><h1>{e(title)}</h1>",
        f"<p>{len(searches)} search(es) read from MLflow, objective "
        f"<b>{e(searches[0].metric)}</b> ({e(searches[0].direction)}); made "
        f"{time.strftime('%Y-%m-%d %H:%M')}.</p>",
        "<h2>Verdict</h2><div class='verdict'><ul>",
        *[f"<li>{e(line)}</li>" for line in lines],
        "</ul></div>",
        "<h2>Searches</h2>",
        _table_html(rows),
    ]
    if len(matrix) > 1:
        parts += [
            "<h3>Epochs each search needed to reach each search's best</h3>",
            _table_html(matrix),
        ]
    parts += ["<h2>What to try next</h2><ul>", *[f"<li>{e(t)}</li>" for t in tips], "</ul>"]
    parts += ["<h2>Progress</h2>"]
    parts += [f"<div class='plot'>{p}</div>" for p in plots[:3]]
    parts += ["<h2>Learning curves</h2>", f"<div class='plot'>{plots[3]}</div>"]
    rest = plots[4:]
    if rest:
        parts += ["<h2>Hyperparameters</h2>", f"<div class='plot'>{rest[0]}</div>"]
    parts += [
        "<h2>Hyperparameter importance</h2>",
        f"<p>Method: {e(IMPORTANCE_METHOD)}, {e(rank_note)}.</p>",
    ]
    if ranks:
        parts += [f"<div class='plot'>{rest[-1]}</div>"]
    parts += ["<h2>Failed trials</h2>", _table_html(failed), "<h2>Reproduce</h2>"]
    for s in searches:
        original, equivalent = commands(s)
        parts += [f"<h3>{e(s.label)} — MLflow run <code>{e(s.run_id)}</code></h3>"]
        if original:
            parts += ["<p class='cmd'>As it was run:</p>", _command_html(original)]
        parts += [
            "<p class='cmd'>Equivalent, from the settings the run recorded:</p>",
            _command_html(equivalent),
        ]
    parts += ["</body></html>"]
    return "\n".join(parts)
