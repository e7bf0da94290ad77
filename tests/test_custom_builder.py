"""Custom builders (``builder: module:function``): their own hyperparameters pass through,
they run on both engines, and a builder that raises fails its trials, not the search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hpsearch.space import SpaceError, parse_space
from tests import shared_ray
from tests.in_process import hpsearch

HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))
TESTS = Path(__file__).resolve().parent
SPACE = """
name: custom
builder: custom_builders:{fn}
dataset: {{name: digits}}
hyperparameters:
  width_mult: {{float: [0.5, 2.0]}}
  towers: {{choice: [1, 2]}}
  tower_activation: relu
  learning_rate: 3.0e-3
  batch_size: 64
training: {{epochs: 2}}
search: {{max_trials: 4, seed: 2}}
"""


def test_a_builder_allows_its_own_hyperparameters() -> None:
    space = parse_space(SPACE.format(fn="build"))
    assert space.builder == "custom_builders:build"
    assert set(space.searched()) == {"width_mult", "towers"}
    with pytest.raises(SpaceError, match="unknown hyperparameter 'width_mult'"):
        parse_space(SPACE.format(fn="build").replace("builder: custom_builders:build\n", ""))
    with pytest.raises(SpaceError, match="builder: String should match pattern"):
        parse_space(SPACE.format(fn="build").replace("custom_builders:build", "no colon"))


def _run(tmp: Path, fn: str, backend: str) -> subprocess.CompletedProcess[str]:
    (tmp / "space.yaml").write_text(SPACE.format(fn=fn))
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    args = ["run", "space.yaml", "--backend", backend, "--json", "--no-report",
            "--tracking-uri", f"sqlite:///{tmp / 'm.db'}"]  # fmt: skip
    return subprocess.run([HPSEARCH, *args], cwd=tmp, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def test_a_builder_that_cannot_be_imported_is_a_one_line_error(tmp_path: Path) -> None:
    done = _run(tmp_path, "missing_function", "keras-tuner")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: space.yaml:3: builder: 'custom_builders' has no function 'missing_function'"
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["keras-tuner", "ray"])
def test_a_custom_builder_runs_a_search_and_its_errors_fail_only_their_trials(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`broken` builds the two-tower net for towers=1 and raises for towers=2: the search
    runs on, the towers=1 trials train (with the builder's own params recorded), and the
    towers=2 trials are FAILED with the builder's message. (In process: the builder's
    folder on sys.path here and, for the Ray workers, on PYTHONPATH.)"""
    (tmp_path / "space.yaml").write_text(SPACE.format(fn="broken"))
    monkeypatch.syspath_prepend(str(TESTS))
    paths = [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    shared_ray.stop()  # hpsearch starts a Ray of its own, whose workers see that PYTHONPATH
    done = hpsearch("run", "space.yaml", "--backend", backend, "--json", "--no-report",
                    "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    frame = pd.read_csv(tmp_path / out["trials_csv"])
    assert {"params.width_mult", "params.towers", "params.tower_activation"} <= set(frame)
    finished = frame[frame["status"] == "FINISHED"]
    failed = frame[frame["status"] == "FAILED"]
    assert set(finished["params.towers"]) == {1} and set(failed["params.towers"]) == {2}
    assert finished["objective"].max() > 0.5
    assert all("two towers are not supported" in e for e in failed["error"])
