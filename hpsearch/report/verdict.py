"""What the numbers say: who won and by how much, and what to try next, read off the
trials and the space each param was declared in.
"""

from __future__ import annotations

from typing import Any

from hpsearch.backends import BASELINE
from hpsearch.report.data import (
    _best_row,
    _bounds,
    _categorical,
    _declared,
    _finished,
    _fmt,
    _is_number,
    _params_text,
    _position,
    _ranked,
    _scored,
    epochs_to_reach,
    progress,
)
from hpsearch.space import (
    VOCABULARY,
    Choice,
    FloatRange,
    IntRange,
    label,
)
from hpsearch.trials import FINISHED, PRUNED, SearchRecord


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
        lines += _against_baseline(ranked)
    for s, _ in scored:
        row: dict[str, Any] = {"search": s.label}
        for t, tv in scored:
            need = epochs_to_reach(s, tv)
            row[f"to reach {t.label}"] = "—" if need is None else need
        matrix.append(row)
    return lines, matrix


def _against_baseline(ranked: list[tuple[SearchRecord, float]]) -> list[str]:
    """One line on the i-epoch baseline (train every configuration briefly, continue the
    best), if it ran: which searches beat it. A strategy that does not is not paying for
    itself."""
    base = next(((s, v) for s, v in ranked if s.strategy == BASELINE[0]), None)
    if base is None:
        return []
    b, bv = base
    sign = 1 if b.direction == "max" else -1
    beat = [s.label for s, v in ranked if s is not b and sign * (v - bv) > 0]
    if not beat:
        return [
            f"Baseline {b.label} ({bv:.4f}): no other search beat it; training every "
            "configuration briefly and continuing the best was as good as any strategy here."
        ]
    return [
        f"Baseline {b.label} ({bv:.4f}): beaten by {len(beat)} of {len(ranked) - 1} "
        f"({', '.join(beat)})."
    ]


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
    ended = [s.trials["status"] for s in searches if len(s.trials)]
    failed = sum(int((~st.isin([FINISHED, PRUNED])).sum()) for st in ended)
    if failed:
        tips.append(f"{failed} trial(s) failed: their errors are listed below.")
    pruned = sum(int((st == PRUNED).sum()) for st in ended)
    if pruned:
        tips.append(
            f"{pruned} trial(s) were pruned (search.pruner: worse than the median of the "
            "other trials at the same epoch): the learning curves mark where they stopped."
        )
    return tips


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
