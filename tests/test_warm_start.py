"""Warm start: a bayesian (KT, Ray) or tpe (Ray) search seeded with an earlier search's
finished trials starts model-guided, not with its plain random initial points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hpsearch.space import parse_space

HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))
SPACE = """
name: warm
dataset: {name: digits}
objective: val_accuracy
hyperparameters:
  n_neurons: {int: [8, 64]}
  learning_rate: {float: [1.0e-4, 1.0e-1], log: true}
  batch_size: 64
training: {epochs: 2}
search: {max_trials: 2, seed: 5, bayesian: {initial_points: 2}}
"""


def test_contains_keeps_trials_inside_the_space_only() -> None:
    space = parse_space(SPACE)
    inside = {"n_neurons": 16, "learning_rate": 1e-3, "batch_size": 64}
    assert space.contains(inside)
    assert not space.contains(inside | {"n_neurons": 128})  # outside the range
    assert not space.contains(inside | {"batch_size": 32})  # a different fixed value
    assert not space.contains({"learning_rate": 1e-3})  # a searched param missing


def _run(tmp: Path, *args: str) -> dict[str, object]:
    done = subprocess.run([HPSEARCH, "run", "space.yaml", "--json", "--no-report",
                           "--tracking-uri", f"sqlite:///{tmp / 'm.db'}", *args],
                          cwd=tmp, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    out["stderr"] = done.stderr
    return out


def _first(tmp: Path, out: dict[str, object]) -> tuple[int, float]:
    frame = pd.read_csv(tmp / str(out["trials_csv"]), dtype={"trial_id": str})
    row = frame.sort_values("trial_id").iloc[0]
    return int(row["params.n_neurons"]), round(float(row["params.learning_rate"]), 8)


def test_warm_start_of_a_random_search_is_refused(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    done = subprocess.run([HPSEARCH, "run", "space.yaml", "--warm-start", "x"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: --warm-start: warm start seeds a bayesian or tpe search, not random"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "backend"), [("bayesian", "keras-tuner"), ("bayesian", "ray"), ("tpe", "ray")]
)
def test_a_warm_search_starts_from_the_earlier_trials(
    tmp_path: Path, strategy: str, backend: str
) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    # An earlier search, in a wider space: its trials outside this space are skipped.
    wide = SPACE.replace("{int: [8, 64]}", "{int: [8, 512], log: true}")
    wide = wide.replace("name: warm", "name: old")
    (tmp_path / "wide.yaml").write_text(wide)
    earlier = subprocess.run([HPSEARCH, "run", "wide.yaml", "--json", "--no-report",
                              "--max-trials", "6", "--tracking-uri",
                              f"sqlite:///{tmp_path / 'm.db'}"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert earlier.returncode == 0, earlier.stderr[-3000:]
    source = json.loads(earlier.stdout)
    old = pd.read_csv(tmp_path / source["trials_csv"])
    inside = int((old["params.n_neurons"] <= 64).sum())
    assert 0 < inside < 6, "the seeded wide search should fall both inside and outside"

    args = ["--strategy", strategy, "--backend", backend]
    cold = _run(tmp_path, *args, "--experiment", "cold")
    warm = _run(tmp_path, *args, "--experiment", "warm", "--warm-start",
                str(source["parent_run_id"]))  # fmt: skip
    assert f"{inside} earlier trial(s) seed the {strategy} search; {6 - inside} skipped" in str(
        warm["stderr"]
    )
    assert _first(tmp_path, warm) != _first(tmp_path, cold)  # not the plain random init

    from mlflow.tracking import MlflowClient

    parent = MlflowClient(f"sqlite:///{tmp_path / 'm.db'}").get_run(str(warm["parent_run_id"]))
    assert parent.data.tags["hpsearch.warm_trials"] == str(inside)
