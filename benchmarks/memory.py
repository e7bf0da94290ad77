"""Flat memory: the process RSS after 10 and after 60 small trials in one search.

Keras Tuner backend, random search on digits, 1 epoch per trial, small MLPs, every trial
tracked in MLflow (a temporary sqlite store), no model logging. RSS is read from
/proc/self/status (VmRSS) when a trial ends. Prints a table and one JSON line.
Target: rss_after_60 / rss_after_10 <= 1.2.

    python benchmarks/memory.py [--trials 60] [--trace]

``--trace`` also runs tracemalloc and prints the Python allocation sites that grew most
between trial 10 and the last trial (it slows the run, and sees only Python's allocator,
not TensorFlow's C++ heap).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpsearch.api import run_search  # noqa: E402
from hpsearch.space import parse_space  # noqa: E402
from hpsearch.trials import SearchCallback, TrialResult  # noqa: E402

SPACE = """
name: memory-bench
dataset:
  name: digits
  split: {{valid: 0.2, test: 0.2}}
objective: val_accuracy
hyperparameters:
  n_hidden: {{int: [1, 2]}}
  n_neurons: {{int: [8, 64]}}
  learning_rate: {{float: [1e-4, 1e-2], log: true}}
  optimizer: {{choice: [sgd, adam]}}
  batch_size: 64
training:
  epochs: 1
  patience: 0
search:
  strategy: random
  max_trials: {trials}
  seed: 7
"""
TARGET = 1.2
EARLY = 10


def rss_mb() -> float:
    """This process's resident set size in MiB, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


class RssProbe(SearchCallback):
    """Samples RSS, Python's object count and the time at the end of every trial."""

    def __init__(self, trace: bool) -> None:
        self.rows: list[dict[str, Any]] = []
        self.trace = trace
        self.snapshot: tracemalloc.Snapshot | None = None
        self.t0 = time.perf_counter()

    def on_trial_end(self, result: TrialResult) -> None:
        n = len(self.rows) + 1
        self.rows.append(
            {
                "trial": n,
                "status": result.status,
                "rss_mb": rss_mb(),
                "objects": len(gc.get_objects()),
                "seconds": time.perf_counter() - self.t0,
            }
        )
        if self.trace and n == EARLY:
            self.snapshot = tracemalloc.take_snapshot()


def limit_threads(threads: int) -> None:
    """Keep TensorFlow to a few cores: RSS does not depend on it, the neighbours do."""
    from hpsearch.model import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads")
    parser.add_argument("--trace", action="store_true", help="tracemalloc diff (slow)")
    args = parser.parse_args()
    if args.trials <= EARLY:
        parser.error(f"--trials must be more than {EARLY}")

    limit_threads(args.threads)
    if args.trace:
        tracemalloc.start(12)
    space = parse_space(SPACE.format(trials=args.trials))
    probe = RssProbe(args.trace)
    rss_start = rss_mb()
    with tempfile.TemporaryDirectory(prefix="hpsearch-memory-") as tmp:
        summary = run_search(
            space,
            tracking_uri=f"sqlite:///{tmp}/mlflow.db",
            output=Path(tmp) / "out",
            callbacks=[probe],
            log_model=False,
            command="benchmarks/memory.py",
        )
        finished = int((summary.frame["status"] == "FINISHED").sum())

    rows = probe.rows
    print(f"{'trial':>5} {'status':>9} {'rss MiB':>9} {'py objects':>11} {'elapsed s':>10}")
    for row in rows:
        if row["trial"] in (1, 2, 5) or row["trial"] % 10 == 0 or row is rows[-1]:
            print(
                f"{row['trial']:>5} {row['status']:>9} {row['rss_mb']:>9.1f} "
                f"{row['objects']:>11,} {row['seconds']:>10.1f}"
            )
    early, last = rows[EARLY - 1], rows[-1]
    ratio = last["rss_mb"] / early["rss_mb"]
    per_trial = (last["rss_mb"] - early["rss_mb"]) / (last["trial"] - EARLY)
    print(
        f"\nRSS before the search {rss_start:.1f} MiB; after trial {EARLY} "
        f"{early['rss_mb']:.1f} MiB; after trial {last['trial']} {last['rss_mb']:.1f} MiB; "
        f"ratio {ratio:.3f} (target <= {TARGET}); {per_trial:+.2f} MiB per trial after "
        f"trial {EARLY}"
    )
    if args.trace and probe.snapshot is not None:
        grown = tracemalloc.take_snapshot().compare_to(probe.snapshot, "traceback")
        print(f"\nPython allocations that grew most after trial {EARLY} (tracemalloc):")
        for stat in grown[:8]:
            print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
            for frame in stat.traceback.format()[-6:]:
                print(f"      {frame}")
    print(
        json.dumps(
            {
                "benchmark": "memory",
                "backend": "keras-tuner",
                "strategy": "random",
                "dataset": "digits",
                "trials": len(rows),
                "finished": finished,
                "rss_start_mb": round(rss_start, 1),
                f"rss_after_{EARLY}_mb": round(early["rss_mb"], 1),
                f"rss_after_{last['trial']}_mb": round(last["rss_mb"], 1),
                "ratio": round(ratio, 3),
                "mb_per_trial_after_10": round(per_trial, 3),
                "py_objects_after_10": early["objects"],
                f"py_objects_after_{last['trial']}": last["objects"],
                "target": TARGET,
                "pass": ratio <= TARGET,
                "seconds": round(last["seconds"], 1),
                "cpu_count": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
