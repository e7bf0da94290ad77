"""The trial table: the one currency every backend returns and every consumer reads.

A leaf module (pandas only). Backends emit TrialResults through SearchCallbacks; the same
results become one DataFrame row each, so tracking and reports never see a backend's types.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FINISHED, FAILED = "FINISHED", "FAILED"
#: A trial the pruner stopped early (search.pruner): it trained, and lost to the median.
PRUNED = "PRUNED"
#: The error of a trial whose objective went NaN or infinite, the same on every engine.
NAN_ERROR = "objective is NaN or inf"
#: Fixed columns, in order: ``params.<name>`` columns sit between the two groups, and
#: ``metrics.<name>`` ones right after ``objective`` (see order_columns).
LEAD_COLUMNS = ("trial_id", "status")
TAIL_COLUMNS = (
    "objective",
    "epochs",
    "seconds",
    "strategy",
    "backend",
    "worker",
    "seed",
    "bracket",
    "round",
    "error",
)


@dataclass
class TrialResult:
    """What one trial did: its params, its per-epoch history, and how it ended."""

    trial_id: str
    status: str
    params: dict[str, Any]
    objective: float | None
    epochs: int
    seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)
    first_epoch: int = 0  # Hyperband continues trials: history starts at this epoch
    strategy: str = ""
    backend: str = ""
    worker: str | None = None  # which process or Ray node ran the trial
    seed: int | None = None
    bracket: int | None = None
    round: int | None = None
    error: str | None = None
    traceback: str | None = None

    @property
    def finished(self) -> bool:
        return self.status == FINISHED

    @property
    def failed(self) -> bool:
        """Failed, as a failure limit counts: a PRUNED trial trained fine and lost."""
        return self.status == FAILED

    def epoch_logs(self) -> Iterator[tuple[int, dict[str, float]]]:
        """``(epoch, logs)`` per recorded epoch, as ``on_epoch_end`` got them: what a
        consumer replays from the journal when it missed the live events."""
        n = max((len(v) for v in self.history.values()), default=0)
        for i in range(n):
            yield self.first_epoch + i + 1, {k: v[i] for k, v in self.history.items() if i < len(v)}

    def final_metrics(self) -> dict[str, float]:
        """The last epoch's value of every metric that was recorded."""
        return {k: v[-1] for k, v in self.history.items() if v}

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {"trial_id": self.trial_id, "status": self.status}
        out.update({f"params.{k}": v for k, v in self.params.items()})
        out.update({f"metrics.{k}": v for k, v in sorted(self.final_metrics().items())})
        for col in TAIL_COLUMNS:
            out[col] = getattr(self, col)
        return out


@dataclass
class SearchInfo:
    """What a search is about to do, handed to callbacks before the first trial."""

    experiment: str
    strategy: str
    backend: str
    max_trials: int
    objective: str
    direction: str
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)
    #: trials a resumed search finished before (they count towards max_trials)
    previous: tuple[TrialResult, ...] = ()


class SearchCallback:
    """Receives a search's events. Backends call these; trackers and displays implement
    them, so a backend never imports a tracker (as Optuna's study callbacks do)."""

    def on_search_begin(self, info: SearchInfo) -> None:
        """Called once before the first trial."""

    def on_trial_begin(self, trial_id: str, params: dict[str, Any]) -> None:
        """Called when a trial's params are sampled, before it trains."""

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        """Called after each epoch; ``epoch`` counts from 1."""

    def on_trial_end(self, result: TrialResult) -> None:
        """Called once per trial, finished or failed."""

    def stop_reason(self) -> str | None:
        """Why no further trial should start (a budget is spent), else None.

        Backends ask before they start a trial; trials already running finish."""
        return None

    def prune(self, trial_id: str) -> bool:
        """Whether to stop ``trial_id`` after the epoch it just reported (a pruner's verdict).

        Backends ask after each ``on_epoch_end``; a trial stopped so ends PRUNED, keeping
        the epochs it trained."""
        return False


class CallbackList(SearchCallback):
    """Fans every event out to several callbacks, in order."""

    def __init__(self, callbacks: Iterable[SearchCallback] = ()) -> None:
        self.callbacks = list(callbacks)

    def on_search_begin(self, info: SearchInfo) -> None:
        for cb in self.callbacks:
            cb.on_search_begin(info)

    def on_trial_begin(self, trial_id: str, params: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_trial_begin(trial_id, params)

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(trial_id, epoch, logs)

    def on_trial_end(self, result: TrialResult) -> None:
        for cb in self.callbacks:
            cb.on_trial_end(result)

    def stop_reason(self) -> str | None:
        return next((r for cb in self.callbacks if (r := cb.stop_reason())), None)

    def prune(self, trial_id: str) -> bool:
        return any(cb.prune(trial_id) for cb in self.callbacks)


def is_better(a: float, b: float | None, direction: str) -> bool:
    """Whether objective ``a`` beats ``b`` (None or NaN always loses)."""
    if a is None or math.isnan(a):
        return False
    if b is None or math.isnan(b):
        return True
    return a > b if direction == "max" else a < b


def best_of(results: Sequence[TrialResult], direction: str) -> TrialResult | None:
    """The finished trial with the best objective (earliest wins ties)."""
    best: TrialResult | None = None
    for r in results:
        if (
            r.finished
            and r.objective is not None
            and is_better(r.objective, best.objective if best else None, direction)
        ):
            best = r
    return best


def status_counts(statuses: Iterable[Any]) -> str:
    """``2 failed, 3 pruned``: the trials that did not finish, by why (what tables and
    notes print); pruned ones only when there are some, so a search without a pruner reads
    as before."""
    listed = list(statuses)
    parts = [f"{listed.count(FAILED)} failed"]
    if PRUNED in listed:
        parts.append(f"{listed.count(PRUNED)} pruned")
    return ", ".join(parts)


def to_frame(results: Sequence[TrialResult]) -> pd.DataFrame:
    """Results as the normalised trial table, one row per trial, columns in a stable order."""
    import pandas as pd

    rows = [r.row() for r in results]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=[*LEAD_COLUMNS, *TAIL_COLUMNS])
    return order_columns(frame)


def finished_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The trials that finished with an objective: what best, reports and rankings read."""
    if frame.empty:
        return frame
    return frame[(frame["status"] == FINISHED) & frame["objective"].notna()]


def pruned_rows(frame: pd.DataFrame, direction: str) -> pd.DataFrame:
    """The pruned trials, best objective (best epoch before the stop) first: the ones a
    report draws beside the finished."""
    if frame.empty:
        return frame
    pruned = frame[(frame["status"] == PRUNED) & frame["objective"].notna()]
    return pruned.sort_values("objective", ascending=direction != "max", kind="stable")


def order_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """trial_id, status, params.*, objective, metrics.*, then the rest: one layout everywhere."""
    for col in (*LEAD_COLUMNS, *TAIL_COLUMNS):
        if col not in frame.columns:
            frame[col] = None
    params = sorted(c for c in frame.columns if c.startswith("params."))
    metrics = sorted(c for c in frame.columns if c.startswith("metrics."))
    known = {*LEAD_COLUMNS, *TAIL_COLUMNS, *params, *metrics}
    extra = [c for c in frame.columns if c not in known]
    cols = [*LEAD_COLUMNS, *params, "objective", *metrics, *TAIL_COLUMNS[1:], *extra]
    return frame[cols]


@dataclass
class SearchRecord:
    """One search read back from the tracking store: its parent run and its trial table.

    What reports compare. ``trials`` is the trial table plus ``run_id`` and ``ended_s``
    (seconds from the search's start to the trial's end); ``curves`` holds each trial's
    objective per epoch as ``(epoch, value)`` pairs."""

    run_id: str
    name: str
    experiment: str
    strategy: str
    backend: str
    status: str
    metric: str
    direction: str
    started: float  # unix seconds
    ended: float | None
    trials: pd.DataFrame
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)  # the parent run's params
    tags: dict[str, str] = field(default_factory=dict)  # the parent run's hpsearch.* tags
    space_text: str | None = None  # the space file as the search ran it
    model_uri: str | None = None
    artifact_uri: str | None = None

    @property
    def label(self) -> str:
        """``hyperband/keras-tuner (ab12cd34)``: short enough for a plot legend."""
        return f"{self.strategy}/{self.backend} ({self.run_id[:8]})"

    @property
    def wall_seconds(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


def plain(value: Any) -> Any:
    """numpy scalars as Python ones, so params compare and serialise (JSON) cleanly."""
    return value.item() if hasattr(value, "item") else value
