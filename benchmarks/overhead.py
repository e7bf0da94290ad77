"""Orchestration overhead (P1): hpsearch against a plain Keras Tuner script, side by side.

For each strategy: `hpsearch run search_spaces/digits.yaml` (Keras Tuner backend, MLflow
on in a fresh sqlite store, best model logged, report off) against
benchmarks/raw_keras_tuner.py (the same space, arrays, seed, trials and epochs, nothing
tracked), alternating A B A B so machine noise hits both alike. Wall time of the whole
process (start-up and imports included) is compared as the ratio of medians.
Target: <= 1.05.

    python benchmarks/overhead.py [--pairs 3] [--trials 10] [--epochs 10] [--strategies ...]

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def timed(cmd: list[str], cwd: Path) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])


def pair(strategy: str, trials: int, epochs: int, work: Path) -> tuple[float, float, Any, Any]:
    run = work / f"{strategy}-{time.monotonic_ns()}"
    run.mkdir()
    a, out_a = timed([PY, "-m", "hpsearch.cli", "run", str(ROOT / "search_spaces" / "digits.yaml"),
                      "--strategy", strategy, "--max-trials", str(trials), "--epochs", str(epochs),
                      "--seed", "42", "--json", "--no-report",
                      "--tracking-uri", f"sqlite:///{run / 'm.db'}", "--output", str(run / "out")],
                     run)  # fmt: skip
    b, out_b = timed([PY, str(ROOT / "benchmarks" / "raw_keras_tuner.py"), strategy,
                      "--trials", str(trials), "--epochs", str(epochs)], run)  # fmt: skip
    return a, b, out_a.get("best_value"), out_b.get("best")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--strategies", nargs="+", default=["random", "hyperband", "bayesian"])
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "overhead", "pairs": args.pairs, "target": 1.05}
    with tempfile.TemporaryDirectory() as tmp:
        for strategy in args.strategies:
            runs = [pair(strategy, args.trials, args.epochs, Path(tmp)) for _ in range(args.pairs)]
            hp_s = statistics.median(r[0] for r in runs)
            raw_s = statistics.median(r[1] for r in runs)
            result[strategy] = {
                "hpsearch_s": round(hp_s, 2),
                "raw_keras_tuner_s": round(raw_s, 2),
                "ratio": round(hp_s / raw_s, 3),
                "hpsearch_runs_s": [round(r[0], 2) for r in runs],
                "raw_runs_s": [round(r[1], 2) for r in runs],
                "best": {"hpsearch": runs[0][2], "raw": runs[0][3]},
            }
            print(f"{strategy:<10} hpsearch {hp_s:6.1f} s   raw Keras Tuner {raw_s:6.1f} s   "
                  f"ratio {hp_s / raw_s:.3f} (target <= 1.05)", flush=True)  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
