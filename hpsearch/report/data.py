"""Each search read into what the report shows: trials in one frame, best-so-far
progress, the summary row, the params it searched and the commands that reproduce it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hpsearch.space import (
    Bool,
    Choice,
    FloatRange,
    IntRange,
    parse_logged,
    run_command,
)
from hpsearch.trials import FINISHED, PRUNED, SearchRecord, finished_rows

if TYPE_CHECKING:
    import pandas as pd


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
    # columns zipped, not iterrows(): a report calls this a dozen times, on 1,000s of trials
    columns = zip(
        f["epochs"], f["objective"], f["status"], f["ended_s"], f["trial_id"], strict=True
    )
    for i, (spent, value, status, ended, trial_id) in enumerate(columns, start=1):
        epochs += int(spent) if pd.notna(spent) else 0
        if status == FINISHED and pd.notna(value) and math.isfinite(value):
            if best is None or sign * value > sign * best:
                best = float(value)
        rows.append(
            {"trial": i, "seconds": ended, "epochs": epochs, "best": best, "trial_id": trial_id}
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
    p = progress(search)
    for best, epochs in zip(p["best"], p["epochs"], strict=True):
        if best is not None and not math.isnan(best) and sign * best >= sign * target:
            return int(epochs)
    return None


def summary(searches: list[SearchRecord]) -> list[dict[str, Any]]:
    """One row per search: what it was, what it cost, what it found."""
    rows = []
    # a pruned column only where a search pruned: other reports keep their columns
    any_pruned = any(len(s.trials) and (s.trials["status"] == PRUNED).any() for s in searches)
    for s in searches:
        f = s.trials
        finished = int((f["status"] == FINISHED).sum()) if len(f) else 0
        pruned = int((f["status"] == PRUNED).sum()) if len(f) else 0
        best = _best_row(s)
        rows.append(
            {
                "search": s.label,
                "strategy": s.strategy,
                "backend": s.backend,
                "status": s.status,
                "trials": len(f),
                "finished": finished,
                "failed": len(f) - finished - pruned,
                **({"pruned": pruned} if any_pruned else {}),
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


def _finished(searches: list[SearchRecord]) -> pd.DataFrame:
    return finished_rows(trials_frame(searches))


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
    again = run_command(
        search.tags.get("hpsearch.space_file") or "SPACE.yaml",
        strategy=search.strategy,
        backend=search.backend,
        max_trials=p.get("max_trials", "?"),
        seed=p.get("seed", "?"),
        experiment=search.experiment,
        epochs=p.get("epochs", "?"),
        max_epochs=p.get("hyperband_max_epochs"),
        budget_epochs=search.tags.get("hpsearch.budget_epochs"),
        budget_seconds=search.tags.get("hpsearch.budget_seconds"),
        pruner=_pruner_flag(search),
    )
    return search.tags.get("hpsearch.command"), again


def _pruner_flag(search: SearchRecord) -> str | None:
    """``--pruner`` for the reproduce command: median when the search pruned, none when its
    space file has a pruner the search ran without (compare's hyperband), else no flag."""
    if search.params.get("pruner_rule"):
        return str(search.params["pruner_rule"])
    space = _space(search)
    return "none" if space is not None and space.search.pruner is not None else None
