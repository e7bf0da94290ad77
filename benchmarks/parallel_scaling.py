"""Parallel scaling (P4) and Ray's fixed cost per trial (P6), measured side by side.

Scaling: trials/hour with 2 concurrent trials divided by trials/hour with 1, on the same
space, seed and trials, for Ray (--max-concurrent) and Keras Tuner (--workers). The search
clock runs from the first trial's start to the last trial's end, so start-up (Ray, MLflow,
TensorFlow imports) is left out: it is paid once per search, not per trial.

Fixed cost: 1-epoch trials on iris (a few ms of training each), one at a time, on Ray,
against the same builds and fits in a plain Python loop (one TF thread, the heap settled
as in a Ray worker): the difference is Ray's own cost, the driver's MLflow logging included.

Usage: python benchmarks/parallel_scaling.py [--repeats 1] [--only ray|kt|fixed]
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
from hpsearch.space import parse_space
from hpsearch.trials import SearchCallback, TrialResult

SCALING_SPACE = """
name: bench-scaling
dataset: {name: digits}
hyperparameters:
  n_hidden: {int: [1, 3]}
  n_neurons: {int: [64, 256], log: true}
  learning_rate: {float: [1e-3, 1e-2], log: true}
  optimizer: adam
  batch_size: 32
training: {epochs: 5, patience: 0}
search: {strategy: random, max_trials: 16, seed: 42}
"""
FIXED_SPACE = """
name: bench-fixed
dataset: {name: iris}
hyperparameters:
  n_neurons: {int: [4, 16]}
  batch_size: 32
training: {epochs: 1, patience: 0}
search: {strategy: random, max_trials: 8, seed: 42}
"""


class Clock(SearchCallback):
    """Wall time from the first trial's start to the last trial's end."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.ends: list[float] = []

    def on_trial_begin(self, trial_id: str, params: dict[str, Any]) -> None:
        self.first = self.first or time.perf_counter()

    def on_trial_end(self, result: TrialResult) -> None:
        self.ends.append(time.perf_counter())

    @property
    def seconds(self) -> float:
        assert self.first is not None
        return max(self.ends) - self.first


def search(text: str, backend: str, **options: Any) -> Clock:
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        space = prepare(parse_space(text), backend=backend)
        run_search(
            space,
            tracking_uri=f"sqlite:///{tmp}/m.db",
            output=Path(tmp) / "out",
            callbacks=[clock],
            log_model=False,
            options=backend_options(backend, **options),
        )
    return clock


def scaling(backend: str, key: str, repeats: int) -> dict[str, Any]:
    """Median trials/hour at 1 and 2 concurrent trials, runs alternating A B A B."""
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):
        for n in (1, 2):
            clock = search(SCALING_SPACE, backend, **{key: n})
            rates[n].append(len(clock.ends) / clock.seconds * 3600)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    return {
        "backend": backend,
        "trials_per_hour_1": one,
        "trials_per_hour_2": two,
        "ratio": two / one,
        "target": 1.6,
    }


PLAIN_LOOP = """
import json, sys, time
from hpsearch.model import quiet_tensorflow
quiet_tensorflow()
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
import keras
from hpsearch.data import load_dataset
from hpsearch.model import build_model, settle_heap
from hpsearch.space import parse_space
space = parse_space(sys.argv[1])
data = load_dataset(space.dataset, 42)
settle_heap()  # as hpsearch's Ray trainable does in each worker
ends = []
for i in range(8):
    keras.backend.clear_session()
    model = build_model({"n_neurons": 4 + i}, data.input_shape, data.task, data.n_outputs)
    model.fit(data.x_train, data.y_train, validation_data=(data.x_valid, data.y_valid),
              batch_size=32, epochs=1, verbose=0)
    ends.append(time.perf_counter())
print(json.dumps((ends[-1] - ends[0]) / (len(ends) - 1)))
"""


def fixed_cost(repeats: int) -> dict[str, Any]:
    """Seconds per trial after the first: 1-epoch iris trials, one at a time, on Ray, and
    the same model builds and fits in a plain loop with one TF thread (Ray gives each
    trial the threads of its one CPU). The difference is Ray's fixed cost per trial."""
    import subprocess
    import sys

    ray, plain = [], []
    for _ in range(repeats):
        ends = sorted(search(FIXED_SPACE, "ray", max_concurrent=1).ends)
        ray.append((ends[-1] - ends[0]) / (len(ends) - 1))
        env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as Ray sets for a 1-CPU worker
        out = subprocess.run(
            [sys.executable, "-c", PLAIN_LOOP, FIXED_SPACE],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        plain.append(float(out.stdout.strip().splitlines()[-1]))
    r, p = statistics.median(ray), statistics.median(plain)
    return {
        "ray_s_per_trial": r,
        "plain_loop_s_per_trial": p,
        "ray_fixed_cost_s": r - p,
        "target_ray_s": 0.5,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only", choices=["ray", "kt", "fixed"])
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "parallel_scaling", "repeats": args.repeats}
    if args.only in (None, "ray"):
        result["ray"] = scaling("ray", "max_concurrent", args.repeats)
    if args.only in (None, "kt"):
        result["keras_tuner"] = scaling("keras-tuner", "workers", args.repeats)
    if args.only in (None, "fixed"):
        result["fixed_cost"] = fixed_cost(args.repeats)
    for name in ("ray", "keras_tuner"):
        if name in result:
            r = result[name]
            print(
                f"{name:12} 1 at a time {r['trials_per_hour_1']:7.0f} trials/h   "
                f"2 at a time {r['trials_per_hour_2']:7.0f} trials/h   ratio {r['ratio']:.2f}x"
            )
    if "fixed_cost" in result:
        f = result["fixed_cost"]
        print(
            f"fixed cost   ray {f['ray_s_per_trial']:.2f} s/trial   plain loop "
            f"{f['plain_loop_s_per_trial']:.2f} s/trial   ray's own {f['ray_fixed_cost_s']:.2f} s"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
