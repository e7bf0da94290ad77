"""CLI latency: `hpsearch --help` and `hpsearch validate` against `import keras_tuner`,
and how long `hpsearch run` leaves a terminal blank before its first status line.

Median wall time over N runs of each, interleaved so machine noise hits all alike.
Prints a table and one JSON line. Targets: --help and validate <= 0.5 s; the first line of
`run` on a terminal <= 1 s.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import statistics
import subprocess
import sys
import tempfile
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


RUN = "hpsearch run digits.yaml: first line"


def first_line(folder: str) -> float:
    """Seconds from starting `hpsearch run` on a terminal (a pty as its stderr) to the
    first byte it writes there; the run is then stopped."""
    master, slave = pty.openpty()
    cmd = [PY, "-m", "hpsearch.cli", "run", str(ROOT / "search_spaces" / "digits.yaml")]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    try:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready or not os.read(master, 1024):
            raise RuntimeError("hpsearch run wrote nothing in 60 s")
        return time.perf_counter() - t
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        os.close(master)


def main(runs: int = 10) -> None:
    times: dict[str, list[float]] = {k: [] for k in [*CASES, RUN]}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(runs):
            for name, cmd in CASES.items():
                t = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
                times[name].append(time.perf_counter() - t)
            times[RUN].append(first_line(folder))
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
                "target_s": {"help_validate": 0.5, "run_first_line": 1.0},
                "ok": max(med["hpsearch --help"], med["hpsearch validate digits.yaml"]) <= 0.5
                and med[RUN] <= 1.0,
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
