"""P1's hpsearch side at an earlier revision against the working tree, side by side.

A restructuring must not slow a search: this runs `hpsearch run search_spaces/digits.yaml`
(Keras Tuner, MLflow on in one sqlite store, report off) from `git archive REV` and from this
tree, alternating old new old new so machine noise hits both alike, and reports the ratio of
median wall times and whether both found the same best value. The same venv runs both; the
old tree is put first on PYTHONPATH (the script checks which hpsearch each side imported).

    python benchmarks/against_revision.py REV [--pairs 3] [--strategies random hyperband bayesian]

Prints one line per strategy and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def export(rev: str, into: Path) -> Path:
    """The package as it was at ``rev``, unpacked into ``into``."""
    archive = into / "old.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), rev, "hpsearch"],
                   check=True)  # fmt: skip
    with tarfile.open(archive) as tar:
        tar.extractall(into / "old", filter="data")
    return into / "old"


def search(strategy: str, env: dict[str, str], work: Path, uri: str) -> tuple[float, float]:
    """Wall seconds and best value of one `hpsearch run` (10 trials x 10 epochs, seed 42)."""
    work.mkdir()
    started = time.perf_counter()
    done = subprocess.run([PY, "-m", "hpsearch.cli", "run", str(ROOT / "search_spaces/digits.yaml"),
                           "--strategy", strategy, "--max-trials", "10", "--epochs", "10",
                           "--seed", "42", "--json", "--no-report", "--tracking-uri", uri,
                           "--output", str(work / "out")],
                          cwd=work, env=env, capture_output=True, text=True,
                          timeout=1800)  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{strategy} failed:\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])["best_value"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rev")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--strategies", nargs="+", default=["random", "hyperband", "bayesian"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hpsearch-rev-"))
    old = export(args.rev, work)
    envs = {"old": {**os.environ, "PYTHONPATH": str(old)}, "new": dict(os.environ)}
    for side, env in envs.items():
        probe = [PY, "-c", "import hpsearch; print(hpsearch.__file__)"]
        where = subprocess.run(probe, env=env, cwd=work, capture_output=True, text=True).stdout
        assert (str(old) in where) == (side == "old"), f"{side} imports {where}"
    uri = f"sqlite:///{work}/mlflow.db"  # created once, as a user's store exists
    subprocess.run([PY, "-c", f"import mlflow; mlflow.MlflowClient({uri!r}).search_experiments()"],
                   check=True, capture_output=True)  # fmt: skip
    out: dict[str, dict[str, object]] = {}
    for strategy in args.strategies:
        runs: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
        for i in range(args.pairs):
            for side, env in envs.items():
                runs[side].append(search(strategy, env, work / f"{strategy}-{side}-{i}", uri))
        old_s = statistics.median(s for s, _ in runs["old"])
        new_s = statistics.median(s for s, _ in runs["new"])
        same = {b for _, b in runs["old"]} == {b for _, b in runs["new"]}
        print(f"{strategy:10} {args.rev[:10]} {old_s:6.1f} s   this tree {new_s:6.1f} s   "
              f"ratio {new_s / old_s:.3f}   same best: {same}", flush=True)  # fmt: skip
        out[strategy] = {"old_s": round(old_s, 2), "new_s": round(new_s, 2),
                         "ratio": round(new_s / old_s, 3), "same_best": same,
                         "old_runs_s": [round(s, 2) for s, _ in runs["old"]],
                         "new_runs_s": [round(s, 2) for s, _ in runs["new"]]}  # fmt: skip
    print(
        json.dumps({"benchmark": "against_revision", "rev": args.rev, "pairs": args.pairs, **out})
    )


if __name__ == "__main__":
    main()
