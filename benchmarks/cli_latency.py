"""CLI latency: `hpsearch --help` and `hpsearch validate` against `import keras_tuner`.

Median wall time over N runs of each, interleaved so machine noise hits all alike.
Prints a table and one JSON line. Target: --help and validate <= 0.5 s.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CASES = {
    "hpsearch --help": [PY, "-m", "hpsearch.cli", "--help"],
    "hpsearch validate digits.yaml": [
        PY,
        "-m",
        "hpsearch.cli",
        "validate",
        str(ROOT / "search_spaces" / "digits.yaml"),
    ],
    "python -c 'import keras_tuner'": [PY, "-c", "import keras_tuner"],
}


def main(runs: int = 10) -> None:
    times: dict[str, list[float]] = {k: [] for k in CASES}
    for _ in range(runs):
        for name, cmd in CASES.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["python -c 'import keras_tuner'"]
    print(f"{'command':36} {'median s':>9} {'vs import keras_tuner':>22}")
    for name, value in med.items():
        print(f"{name:36} {value:9.3f} {value / base:21.2f}x")
    print(
        json.dumps(
            {
                "benchmark": "cli_latency",
                "runs": runs,
                "median_s": med,
                "target_s": 0.5,
                "ok": max(med["hpsearch --help"], med["hpsearch validate digits.yaml"]) <= 0.5,
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
