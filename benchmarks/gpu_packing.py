"""GPU packing (P7): trials/hour and GPU memory per trial, one trial per GPU against packed
trials (`--gpus-per-trial 0.25`, then 0.125), on Fashion-MNIST-sized synthetic data.

Needs a machine with an NVIDIA GPU, TensorFlow with CUDA (`pip install -e ".[gpu]"`) and
nvidia-smi. The data (60,000 x 784 float32, 10 classes, a learnable linear rule plus noise)
is generated into a parquet file, so nothing is downloaded. GPU memory is sampled with
nvidia-smi every 0.5 s while each search runs; per trial = peak used / trials at once.

    python benchmarks/gpu_packing.py [--trials 8] [--epochs 3] [--fractions 1 0.25 0.125]

Prints a table and one JSON line. On a machine without a GPU it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SPACE = """
name: gpu-packing
dataset: {{name: "parquet:{data}", target: y, scale: none}}
objective: val_accuracy
hyperparameters:
  n_hidden: {{int: [1, 3]}}
  n_neurons: {{int: [128, 512], log: true}}
  learning_rate: {{float: [1e-4, 1e-2], log: true}}
  batch_size: 256
training: {{epochs: {epochs}, patience: 0}}
search: {{strategy: random, backend: ray, max_trials: {trials}, seed: 42}}
"""


def synthetic(path: Path, rows: int = 60_000, features: int = 784, classes: int = 10) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, features)).astype("float32")
    w = rng.normal(size=(features, classes)).astype("float32")
    y = np.argmax(x @ w + rng.normal(scale=4.0, size=(rows, classes)), axis=1)
    frame = pd.DataFrame(x, columns=[f"p{i}" for i in range(features)])
    frame["y"] = y
    frame.to_parquet(path)


class GpuMemory:
    """Peak GPU memory used (MiB, all GPUs) while the block runs, from nvidia-smi."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            used = sum(int(v) for v in out.stdout.split() if v.strip().isdigit())
            self.peak = max(self.peak, used)

    def __enter__(self) -> GpuMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.25, 0.125])
    args = parser.parse_args()
    if not shutil.which("nvidia-smi"):
        print(json.dumps({"benchmark": "gpu_packing", "skipped": "no NVIDIA GPU (nvidia-smi)"}))
        return
    result: dict[str, Any] = {"benchmark": "gpu_packing", "trials": args.trials}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        synthetic(work / "fashion_like.parquet")
        space = work / "space.yaml"
        space.write_text(SPACE.format(data=work / "fashion_like.parquet", epochs=args.epochs,
                                      trials=args.trials))  # fmt: skip
        for fraction in args.fractions:
            started = time.perf_counter()
            with GpuMemory() as memory:
                done = subprocess.run(
                    [sys.executable, "-m", "hpsearch.cli", "run", str(space), "--json",
                     "--no-report", "--gpus-per-trial", f"{fraction:g}",
                     "--tracking-uri", f"sqlite:///{work / 'm.db'}", "--output", str(work)],
                    capture_output=True, text=True, timeout=3600,
                )  # fmt: skip
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(done.stderr[-3000:])
            at_once = max(1, round(1 / fraction))
            result[f"gpus_per_trial_{fraction:g}"] = {
                "trials_per_hour": round(args.trials / seconds * 3600, 1),
                "peak_gpu_mib": memory.peak,
                "gpu_mib_per_trial": round(memory.peak / min(at_once, args.trials), 1),
            }
            print(f"--gpus-per-trial {fraction:<6g} {args.trials / seconds * 3600:8.1f} trials/h"
                  f"   peak {memory.peak} MiB", flush=True)  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
