"""Terminal display of a running search: a Rich progress bar on a TTY, plain lines off it."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from hpsearch.trials import PRUNED, SearchCallback, SearchInfo, TrialResult, is_better


def _stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


class ProgressDisplay(SearchCallback):
    """Shows trial i/N, the best objective so far and the elapsed time."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        rich: bool | None = None,
        budget_epochs: int | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.budget_epochs = budget_epochs  # progress counts epochs, not trials, when set
        self.epochs = 0
        self.rich = self.stream.isatty() if rich is None else rich
        self.info: SearchInfo | None = None
        self.best: float | None = None
        self.done = 0
        self.failed = 0
        self.pruned = 0
        self.start = time.perf_counter()
        self._progress: Any = None
        self._task: Any = None

    def on_search_begin(self, info: SearchInfo) -> None:
        self.close()  # one display may follow several searches (compare)
        self.info, self.start = info, time.perf_counter()
        self.best, self.done, self.failed, self.pruned, self.epochs = None, 0, 0, 0, 0
        for earlier in info.previous:  # a resumed search counts on from where it stopped
            self._count(earlier)
            self.epochs += earlier.epochs
        limit = (
            f"until {self.budget_epochs} epochs are spent"
            if self.budget_epochs
            else f"up to {info.max_trials} trials"
        )
        header = (
            f"{info.strategy} search on {info.backend}: {limit}, "
            f"{info.direction}imising {info.objective} (seed {info.seed})"
        )
        if self.rich:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            console = Console(file=self.stream)
            console.print(header)
            self._progress = Progress(
                TextColumn("[bold]epochs" if self.budget_epochs else "[bold]trials"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[best]}"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            total = self.budget_epochs or info.max_trials
            done = min(self.epochs, total) if self.budget_epochs else self.done
            best = f"best {info.objective}={self.best:.4f}" if self.best is not None else ""
            self._task = self._progress.add_task("search", total=total, best=best, completed=done)
            self._progress.start()
        else:
            self._line(header)
        if info.previous:
            best = f", best {info.objective}={self.best:.4f}" if self.best is not None else ""
            self._line(f"resumed: {self.done} trial(s) done before{best}")

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        self.epochs += 1
        if self._progress is not None and self.budget_epochs:
            self._progress.update(self._task, completed=min(self.epochs, self.budget_epochs))

    def on_trial_end(self, result: TrialResult) -> None:
        assert self.info
        self._count(result)
        best = f"best {self.info.objective}={self.best:.4f}" if self.best is not None else ""
        if self._progress is not None:
            if self.pruned:
                best += f" ({self.pruned} pruned)"
            if self.budget_epochs:
                self._progress.update(self._task, best=best)
            else:
                self._progress.update(self._task, completed=self.done, best=best)
            return
        value = f"{result.objective:.4f}" if result.objective is not None else "-"
        tail = f" error: {result.error}" if result.error else ""
        count = (
            f"{self.done} (epochs {self.epochs}/{self.budget_epochs})"
            if self.budget_epochs
            else f"{self.done}/{self.info.max_trials}"
        )
        if self.pruned:
            count += f" ({self.pruned} pruned)"
        self._line(
            f"trial {result.trial_id} {count} {result.status} "
            f"{self.info.objective}={value} {best} epochs={result.epochs} "
            f"({result.seconds:.1f}s, elapsed {time.perf_counter() - self.start:.0f}s){tail}"
        )

    def _count(self, result: TrialResult) -> None:
        assert self.info
        self.done += 1
        if result.finished and result.objective is not None:
            if is_better(result.objective, self.best, self.info.direction):
                self.best = result.objective
        elif result.status == PRUNED:  # trained and lost: never the best, never a failure
            self.pruned += 1
        else:
            self.failed += 1

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _line(self, text: str) -> None:
        if self._progress is not None:  # above the live bar, not through it
            self._progress.console.print(text)
            return
        print(f"[{_stamp()}] {text}", file=self.stream, flush=True)
