"""Hyperband on Ray, N times in a row: how many searches stall or fail.

Tune's HyperBandScheduler could leave a trial PAUSED at a milestone with nothing left to
resume or stop it (README, "Reliability"); hpsearch's stall watch then failed the search.
This loop runs N small Hyperband searches through hpsearch on digits (offline), each with
its own seed, cycling through three shapes that reach the scheduler's edge cases:

- ``pairs``: max_epochs 3, factor 3, 2 at a time, no early stopping: pairs of trials reach
  max_t side by side (the CI stall: one is paused there as the other arrives);
- ``halving``: max_epochs 4, factor 2, 3 at a time, patience 1: brackets halve, and trials
  stop early short of a milestone while others wait at it;
- ``all at once``: max_epochs 3, factor 3, no concurrency limit, patience 1.

The race behind the CI stall needs the other trial's last result to arrive while the
driver is still busy with the first one's (CI's loaded machine made that one run in five).
``--driver-delay`` (0.3 s unless set) holds each epoch's record in the driver that long,
as a slow tracking store would, so the race comes up often; 0 runs the driver as is.

Each search has ``$HPSEARCH_STALL_S`` (60 s unless set) as its stall limit, so a stall
costs a minute, not a hang. ``--tune-scheduler`` runs Tune's own HyperBandScheduler, to
compare. One local Ray serves every search (``address="local"``: not a cluster another
process started on this machine).

    python benchmarks/hyperband_loop.py [--searches 30] [--trials 6] [--driver-delay 0.3]
        [--tune-scheduler]

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from hpsearch.api import backend_options, prepare, run_search
from hpsearch.errors import SearchStalled
from hpsearch.space import parse_space
from hpsearch.trials import SearchCallback

#: name -> (max_epochs, factor, max_concurrent, patience)
SHAPES: dict[str, tuple[int, int, int | None, int]] = {
    "pairs": (3, 3, 2, 0),
    "halving": (4, 2, 3, 1),
    "all at once": (3, 3, None, 1),
}


def space_text(seed: int, trials: int, epochs: int, factor: int, patience: int) -> str:
    """A small digits MLP: each epoch takes a fraction of a second."""
    return f"""
name: hyperband-loop
dataset: {{name: digits, max_rows: 600}}
hyperparameters:
  n_neurons: {{int: [16, 32]}}
  learning_rate: {{float: [1.0e-3, 1.0e-2], log: true}}
  batch_size: 64
training: {{epochs: {epochs}, patience: {patience}}}
search:
  strategy: hyperband
  max_trials: {trials}
  seed: {seed}
  hyperband: {{max_epochs: {epochs}, factor: {factor}}}
"""


class SlowDriver(SearchCallback):
    """Holds the driver ``delay`` seconds at each epoch's record (see --driver-delay)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        time.sleep(self.delay)


def one_search(seed: int, shape: str, trials: int, delay: float) -> dict[str, Any]:
    """One search; its outcome (ok, stalled, failed), trial count and wall time."""
    epochs, factor, concurrent, patience = SHAPES[shape]
    text = space_text(seed, trials, epochs, factor, patience)
    began = time.perf_counter()
    row: dict[str, Any] = {"seed": seed, "shape": shape, "trials": 0, "error": None}
    with tempfile.TemporaryDirectory() as tmp:
        space = prepare(parse_space(text), backend="ray")
        try:
            summary = run_search(
                space,
                tracking_uri=f"sqlite:///{tmp}/m.db",
                output=Path(tmp) / "out",
                log_model=False,
                callbacks=[SlowDriver(delay)] if delay else [],
                options=backend_options("ray", max_concurrent=concurrent),
            )
            row["trials"] = len(summary.frame)
            row["outcome"] = "ok" if row["trials"] == trials else "short"
        except Exception as exc:  # a benchmark counts failures; it does not stop at one
            # The stall watch's SearchStalled reaches run_search's caller as SearchFailed.
            stalled = isinstance(exc, SearchStalled) or "no trial reported" in str(exc)
            row["outcome"] = "stalled" if stalled else "failed"
            row["error"] = f"{type(exc).__name__}: {exc}"[:200]
    row["seconds"] = round(time.perf_counter() - began, 1)
    return row


def use_tune_scheduler() -> None:
    """Plan Hyperband searches with Tune's own HyperBandScheduler (the one before the fix)."""
    from ray.tune.schedulers import HyperBandScheduler

    from hpsearch.backends.ray_tune import algorithms

    def stock(max_t: int, factor: int) -> Any:
        return HyperBandScheduler(max_t=max_t, reduction_factor=factor)

    algorithms._hyperband = stock


def summarize(
    rows: list[dict[str, Any]], scheduler: str, wall: float, delay: float
) -> dict[str, Any]:
    """Counts per shape and in all, as the JSON line carries them."""
    shapes: dict[str, Any] = {}
    for shape in SHAPES:
        mine = [r for r in rows if r["shape"] == shape]
        if mine:
            shapes[shape] = {
                "searches": len(mine),
                **{k: sum(r["outcome"] == k for r in mine) for k in ("ok", "stalled", "failed")},
                "median_s": round(statistics.median(r["seconds"] for r in mine), 1),
                "max_s": max(r["seconds"] for r in mine),
            }
    return {
        "benchmark": "hyperband_loop",
        "scheduler": scheduler,
        "searches": len(rows),
        "ok": sum(r["outcome"] == "ok" for r in rows),
        "stalled": sum(r["outcome"] == "stalled" for r in rows),
        "failed": sum(r["outcome"] in ("failed", "short") for r in rows),
        "trials": sum(r["trials"] for r in rows),
        "wall_s": round(wall, 1),
        "stall_limit_s": float(os.environ["HPSEARCH_STALL_S"]),
        "driver_delay_s": delay,
        "shapes": shapes,
        "errors": [f"seed {r['seed']}: {r['error']}" for r in rows if r["error"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--searches", type=int, default=30)
    parser.add_argument("--trials", type=int, default=6, help="trials in each search")
    parser.add_argument("--driver-delay", type=float, default=0.3, help="seconds per epoch")
    parser.add_argument("--tune-scheduler", action="store_true", help="Tune's own, to compare")
    args = parser.parse_args()
    os.environ.setdefault("HPSEARCH_STALL_S", "60")
    import ray

    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    if args.tune_scheduler:
        use_tune_scheduler()
    names = list(SHAPES)
    rows: list[dict[str, Any]] = []
    began = time.perf_counter()
    for seed in range(args.searches):
        row = one_search(seed, names[seed % len(names)], args.trials, args.driver_delay)
        rows.append(row)
        line = f"{row['outcome']:<8} {row['trials']} trials  {row['seconds']:6.1f} s"
        print(f"search {seed + 1:3}/{args.searches}  {row['shape']:<12} {line}", flush=True)
    scheduler = "tune" if args.tune_scheduler else "hpsearch"
    result = summarize(rows, scheduler, time.perf_counter() - began, args.driver_delay)
    ray.shutdown()
    print(f"\n{'shape':<12} {'searches':>8} {'ok':>4} {'stalled':>8} {'failed':>7} "
          f"{'median s':>9} {'max s':>7}")  # fmt: skip
    for shape, s in result["shapes"].items():
        print(f"{shape:<12} {s['searches']:>8} {s['ok']:>4} {s['stalled']:>8} {s['failed']:>7} "
              f"{s['median_s']:>9.1f} {s['max_s']:>7.1f}")  # fmt: skip
    print(f"{'all':<12} {result['searches']:>8} {result['ok']:>4} {result['stalled']:>8} "
          f"{result['failed']:>7}   wall {result['wall_s'] / 60:.1f} min ({result['scheduler']}'s "
          "HyperBandScheduler)")  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
