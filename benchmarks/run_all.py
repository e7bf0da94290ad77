"""Every benchmark, one after another, as `make bench` runs them: each script's own table
and JSON line as it goes, then each script's wall time and the total against the 30-minute
goal, so a slow run shows which benchmark made it slow.

The timing-sensitive scripts (P2, P1, P4/P6, P5) run alone; P3 counts epochs, not seconds,
and runs its seeds side by side (see search_efficiency.py).

    python benchmarks/run_all.py [--p3 "--seeds 1 --budget 27 81"] [--only cli_latency ...]

Exits non-zero when a script fails, after running the rest.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["cli_latency", "overhead", "parallel_scaling", "memory", "search_efficiency",
           "gpu_packing"]  # fmt: skip
GOAL_S = 30 * 60


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--p3", default="--seeds 1 --budget 27 81", help="search_efficiency.py's arguments"
    )
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, default=SCRIPTS)
    args = parser.parse_args()
    walls: dict[str, float] = {}
    failed: list[str] = []
    started = time.perf_counter()
    for name in args.only:
        extra = shlex.split(args.p3) if name == "search_efficiency" else []
        cmd = [sys.executable, str(HERE / f"{name}.py"), *extra]
        print(f"$ {' '.join(cmd)}", flush=True)
        began = time.perf_counter()
        code = subprocess.run(cmd).returncode  # output streams straight through
        walls[name] = round(time.perf_counter() - began, 1)
        if code != 0:
            failed.append(f"{name} (exit {code})")
    total = time.perf_counter() - started
    print("\nbenchmark            wall")
    for name, wall in walls.items():
        print(f"{name:<18} {wall / 60:5.1f} min")
    mark = "ok" if total < GOAL_S else "over"
    print(f"{'total':<18} {total / 60:5.1f} min   (goal < {GOAL_S // 60} min: {mark})")
    for name in failed:
        print(f"failed: {name}")
    print(json.dumps({"benchmark": "all", "wall_s": walls, "total_s": round(total, 1),
                      "goal_s": GOAL_S, "failed": failed}))  # fmt: skip
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
