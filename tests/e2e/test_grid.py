"""Grid search: only finite spaces, every configuration once, on both engines."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpsearch.api import prepare
from hpsearch.space import SpaceError, parse_space
from tests import shared_ray
from tests.in_process import hpsearch

HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))
GRID = """
name: grid-test
dataset: {name: digits}
hyperparameters:
  n_hidden: {choice: [1, 2]}
  learning_rate: {float: [0.001, 0.003], step: 0.001}
  normalize: {bool: false}
  batch_size: 64
training: {epochs: 1}
search: {strategy: grid, max_trials: 3, seed: 1}
"""


def test_a_grid_is_the_product_of_the_finite_params() -> None:
    space = prepare(parse_space(GRID))
    assert space.grid() == {
        "n_hidden": [1, 2],
        "learning_rate": [0.001, 0.002, 0.003],
        "normalize": [False, True],
    }
    assert space.size() == 12
    assert space.search.max_trials == 12  # the whole grid, whatever max_trials said


def test_grid_on_a_continuous_space_names_the_continuous_params() -> None:
    text = GRID.replace("{choice: [1, 2]}", "{int: [1, 3]}").replace(", step: 0.001", "")
    with pytest.raises(SpaceError) as err:
        parse_space(text, source=Path("g.yaml"))
    message = str(err.value)
    assert message.startswith("g.yaml:10: search.strategy: grid needs every hyperparameter")
    assert "n_hidden (int [1, 3]), learning_rate (float [0.001, 0.003])" in message
    random = parse_space(text.replace("strategy: grid", "strategy: random"))
    with pytest.raises(SpaceError, match="--strategy: grid needs every hyperparameter finite"):
        random.with_overrides(strategy="grid")


def test_validate_shows_the_grid_size(tmp_path: Path) -> None:
    (tmp_path / "g.yaml").write_text(GRID)
    done = subprocess.run([HPSEARCH, "validate", "g.yaml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "space size: 12 configurations" in done.stdout
    assert "search: grid on keras-tuner, 12 trials (the whole grid: 2 x 3 x 2)" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["keras-tuner", "ray"])
def test_grid_runs_every_configuration_once(tmp_path: Path, backend: str) -> None:
    (tmp_path / "g.yaml").write_text(GRID)
    if backend == "ray":
        shared_ray.start()
    done = hpsearch("run", "g.yaml", "--backend", backend, "--json", "--no-report",
                    "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["trials"] == out["finished"] == 12
    import pandas as pd

    frame = pd.read_csv(tmp_path / out["trials_csv"])
    seen = {
        (int(r["params.n_hidden"]), round(float(r["params.learning_rate"]), 6),
         bool(r["params.normalize"]))
        for _, r in frame.iterrows()
    }  # fmt: skip
    expected = set(itertools.product([1, 2], [0.001, 0.002, 0.003], [False, True]))
    assert seen == expected
