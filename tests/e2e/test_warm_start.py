"""Warm start: a bayesian (KT, Ray) or tpe (Ray) search seeded with an earlier search's
finished trials starts model-guided, not with its plain random initial points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hpsearch.space import parse_space
from tests import shared_ray
from tests.in_process import hpsearch
from tests.spaces import tiny_space_text

HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))
WARM: dict[str, Any] = {
    "name": "warm",
    "objective": "val_accuracy",
    "hyperparameters": {
        "n_neurons": {"int": [8, 64]},
        "learning_rate": {"float": [1.0e-4, 1.0e-1], "log": True},
        "batch_size": 64,
    },
    "search": {"max_trials": 2, "seed": 5, "bayesian": {"initial_points": 2}},
}
SPACE = tiny_space_text(WARM)


def test_contains_keeps_trials_inside_the_space_only() -> None:
    space = parse_space(SPACE)
    inside = {"n_neurons": 16, "learning_rate": 1e-3, "batch_size": 64}
    assert space.contains(inside)
    assert not space.contains(inside | {"n_neurons": 128})  # outside the range
    assert not space.contains(inside | {"batch_size": 32})  # a different fixed value
    assert not space.contains({"learning_rate": 1e-3})  # a searched param missing


def _run(tmp: Path, *args: str) -> dict[str, object]:
    done = hpsearch("run", "space.yaml", "--json", "--no-report",
                    "--tracking-uri", f"sqlite:///{tmp / 'm.db'}", *args, cwd=tmp)  # fmt: skip
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


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An earlier random search of a wider space (n_neurons up to 512, log): about half of
    its trials fall inside the narrower space the warm searches use."""
    tmp = tmp_path_factory.mktemp("warm")
    (tmp / "space.yaml").write_text(SPACE)
    wide = WARM["hyperparameters"] | {"n_neurons": {"int": [8, 512], "log": True}}
    (tmp / "wide.yaml").write_text(tiny_space_text(WARM, name="old", hyperparameters=wide))
    done = hpsearch("run", "wide.yaml", "--json", "--no-report", "--max-trials", "6",
                    "--tracking-uri", f"sqlite:///{tmp / 'm.db'}", cwd=tmp)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    source = json.loads(done.stdout)
    old = pd.read_csv(tmp / source["trials_csv"])
    inside = int((old["params.n_neurons"] <= 64).sum())
    assert 0 < inside < 6, "the seeded wide search should fall both inside and outside"
    return {"tmp": tmp, "parent": source["parent_run_id"], "inside": inside}


# Ray's bayesian is Keras Tuner's own oracle (tests/backends: same initial points), seeded
# through the same seed_oracle: the KT case covers it.
@pytest.mark.slow
@pytest.mark.parametrize(("strategy", "backend"), [("bayesian", "keras-tuner"), ("tpe", "ray")])
def test_a_warm_search_starts_from_the_earlier_trials(
    earlier: dict[str, Any], strategy: str, backend: str
) -> None:
    """The new search reports how many earlier trials it took and skipped, tags its parent,
    and its first trial is not the one the same search makes from a cold start."""
    tmp, inside = earlier["tmp"], earlier["inside"]
    args = ["--strategy", strategy, "--backend", backend]
    if backend == "ray":
        shared_ray.start()
    cold = _run(tmp, *args, "--experiment", f"cold-{backend}")
    warm = _run(tmp, *args, "--experiment", f"warm-{backend}", "--warm-start", earlier["parent"])
    assert f"{inside} earlier trial(s) seed the {strategy} search; {6 - inside} skipped" in str(
        warm["stderr"]
    )
    assert _first(tmp, warm) != _first(tmp, cold)  # not the plain random init

    from mlflow.tracking import MlflowClient

    parent = MlflowClient(f"sqlite:///{tmp / 'm.db'}").get_run(str(warm["parent_run_id"]))
    assert parent.data.tags["hpsearch.warm_trials"] == str(inside)
