"""Search efficiency (P3): which strategy finds good models for the same compute.

`hpsearch compare` on digits at a fixed epoch budget, per seed, for random, hyperband and
bayesian on both engines plus asha and tpe on Ray. Reports, per strategy and engine, the
median best validation accuracy at the budget, and the median epochs it needed to reach
the random search's median best (Keras Tuner random is the reference). Epochs are counted,
not seconds, so machine load does not change the figures; that is also why the seeds run
side by side (``--jobs``, one compare process each, each with its own local Ray): a compare
leaves part of the 2 cores idle (Keras Tuner trains one trial at a time), and side by side
the three seeds took 12.6-12.9 min instead of about 15.7.
Target: hyperband and bayesian reach it in <= 1/3 of random's epochs.

    python benchmarks/search_efficiency.py [--budget 300] [--seeds 1 2 3] [--epochs 10] [--jobs 3]

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from hpsearch.report import best_value, epochs_to_reach
from hpsearch.tracking import load_searches

ROOT = Path(__file__).resolve().parents[1]
PAIRS = [("random", "keras-tuner"), ("hyperband", "keras-tuner"), ("bayesian", "keras-tuner"),
         ("random", "ray"), ("hyperband", "ray"), ("bayesian", "ray"), ("asha", "ray"),
         ("tpe", "ray")]  # fmt: skip


def run_seed(seed: int, budget: int, epochs: int, tmp: Path) -> tuple[list[Any], list[str]]:
    """One compare, in a folder of its own; its finished searches, and the searches that
    failed (exit 1: a stalled Ray search, say), which are left out of the medians and
    listed, not hidden."""
    work = tmp / f"seed{seed}"
    work.mkdir()
    uri = f"sqlite:///{work / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "hpsearch.cli", "compare",
           str(ROOT / "search_spaces" / "digits.yaml"),
           "--strategies", "random,hyperband,bayesian,asha,tpe",
           "--backends", "keras-tuner,ray", "--budget-epochs", str(budget),
           "--epochs", str(epochs), "--seed", str(seed), "--max-concurrent", "2",
           "--tracking-uri", uri, "--experiment", f"efficiency-{seed}",
           "-o", str(work / "report"), "--json"]  # fmt: skip
    done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=7200)
    notes = [
        line[len("failed: ") :] for line in done.stderr.splitlines() if line.startswith("failed: ")
    ]
    if done.returncode != 0 and not (done.returncode == 1 and notes):
        raise SystemExit(f"compare failed for seed {seed}:\n{done.stderr[-3000:]}")
    searches = load_searches(experiment=f"efficiency-{seed}", tracking_uri=uri)
    return [s for s in searches if s.status == "FINISHED"], [f"seed {seed}: {n}" for n in notes]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=3, help="seeds run side by side")
    args = parser.parse_args()
    by_pair: dict[tuple[str, str], list[Any]] = {p: [] for p in PAIRS}
    failed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        seeds = [pool.submit(run_seed, seed, args.budget, args.epochs, Path(tmp))
                 for seed in args.seeds]  # fmt: skip
        for future in seeds:  # in seed order, so the per-seed lists below stay in seed order
            finished, notes = future.result()
            failed += notes
            for search in finished:
                by_pair[(search.strategy, search.backend)].append(search)
    reference = statistics.median(
        v for s in by_pair[("random", "keras-tuner")] if (v := best_value(s)) is not None
    )
    rows: dict[str, Any] = {}
    random_epochs = None
    for strategy, backend in PAIRS:
        searches = by_pair[(strategy, backend)]
        bests = [v for s in searches if (v := best_value(s)) is not None]
        reach = [epochs_to_reach(s, reference) for s in searches]
        reached = [r for r in reach if r is not None]
        median_reach = statistics.median(reached) if len(reached) > len(reach) / 2 else None
        if (strategy, backend) == ("random", "keras-tuner"):
            random_epochs = median_reach
        rows[f"{strategy}/{backend}"] = {
            "median_best": round(statistics.median(bests), 4) if bests else None,
            "epochs_to_reach_reference": reach,
            "median_epochs_to_reach": median_reach,
        }
    for row in rows.values():
        m = row["median_epochs_to_reach"]
        row["fraction_of_random"] = round(m / random_epochs, 3) if m and random_epochs else None
        print(json.dumps(row))
    frame = pd.DataFrame(rows).T
    print(frame.to_string())
    for note in failed:
        print(f"failed, left out: {note}")
    print(json.dumps({"benchmark": "search_efficiency", "budget_epochs": args.budget,
                      "seeds": args.seeds, "reference_best": reference, "target_fraction": 1 / 3,
                      "rows": rows, "failed": failed}))  # fmt: skip


if __name__ == "__main__":
    main()
