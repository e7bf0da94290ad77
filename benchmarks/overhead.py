"""Orchestration overhead (P1): hpsearch against a plain Keras Tuner script, side by side.

For each strategy: `hpsearch run search_spaces/digits.yaml` (Keras Tuner backend, MLflow
on in a sqlite store, best model logged, report off) against
benchmarks/raw_keras_tuner.py (the same space, arrays, seed, trials and epochs, the best
model loaded at the end, nothing tracked), alternating A B A B so machine noise hits both
alike. Wall time of the whole process (start-up and imports included) is compared as the
ratio of medians; CPU seconds (user + system, children included) are reported beside it,
being less sensitive to other load on a shared machine. The store is created once, before
the first pair, as a user's store exists after their first search: creating and migrating
a new sqlite store costs several seconds once (printed as `store_create_s`). All
strategies log to that one store.
Target: <= 1.05.

    python benchmarks/overhead.py [--pairs 3] [--trials 10] [--epochs 10] [--strategies ...]
        [--raw-freeze]

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, dict[str, Any]]:
    """Wall seconds, CPU seconds and the last JSON line of one process."""
    started, cpu = time.perf_counter(), cpu_seconds()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return seconds, cpu, json.loads(done.stdout.strip().splitlines()[-1])


def create_store(uri: str) -> float:
    """Create and migrate the sqlite store, as a user's first search does once."""
    code = f"import mlflow; mlflow.MlflowClient({uri!r}).search_experiments()"
    started = time.perf_counter()
    subprocess.run([PY, "-c", code], check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


def pair(
    strategy: str, trials: int, epochs: int, work: Path, uri: str, raw_extra: list[str]
) -> dict[str, Any]:
    run = work / f"{strategy}-{time.monotonic_ns()}"
    run.mkdir()
    a, a_cpu, out_a = timed([PY, "-m", "hpsearch.cli", "run",
                             str(ROOT / "search_spaces" / "digits.yaml"), "--strategy", strategy,
                             "--max-trials", str(trials), "--epochs", str(epochs), "--seed", "42",
                             "--json", "--no-report", "--tracking-uri", uri,
                             "--output", str(run / "out")], run)  # fmt: skip
    b, b_cpu, out_b = timed([PY, str(ROOT / "benchmarks" / "raw_keras_tuner.py"), strategy,
                             "--trials", str(trials), "--epochs", str(epochs), *raw_extra],
                            run)  # fmt: skip
    return {"hp": a, "raw": b, "hp_cpu": a_cpu, "raw_cpu": b_cpu,
            "best_hp": out_a.get("best_value"), "best_raw": out_b.get("best")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--strategies", nargs="+", default=["random", "hyperband", "bayesian"])
    parser.add_argument("--raw-freeze", action="store_true",
                        help="give the raw script hpsearch's gc.freeze() too")  # fmt: skip
    args = parser.parse_args()
    raw_extra = ["--freeze"] if args.raw_freeze else []
    result: dict[str, Any] = {"benchmark": "overhead", "pairs": args.pairs, "target": 1.05,
                              "raw_freeze": args.raw_freeze}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        result["store_create_s"] = round(create_store(uri), 2)
        for strategy in args.strategies:
            runs = [pair(strategy, args.trials, args.epochs, Path(tmp), uri, raw_extra)
                    for _ in range(args.pairs)]  # fmt: skip
            keys = ("hp", "raw", "hp_cpu", "raw_cpu")
            med = {k: statistics.median(r[k] for r in runs) for k in keys}
            result[strategy] = {
                "hpsearch_s": round(med["hp"], 2),
                "raw_keras_tuner_s": round(med["raw"], 2),
                "ratio": round(med["hp"] / med["raw"], 3),
                "cpu_ratio": round(med["hp_cpu"] / med["raw_cpu"], 3),
                "hpsearch_runs_s": [round(r["hp"], 2) for r in runs],
                "raw_runs_s": [round(r["raw"], 2) for r in runs],
                "best": {"hpsearch": runs[0]["best_hp"], "raw": runs[0]["best_raw"]},
            }
            print(f"{strategy:<10} hpsearch {med['hp']:6.1f} s   raw Keras Tuner "
                  f"{med['raw']:6.1f} s   ratio {med['hp'] / med['raw']:.3f} (target <= 1.05)"
                  f"   CPU ratio "
                  f"{med['hp_cpu'] / med['raw_cpu']:.3f}", flush=True)  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
