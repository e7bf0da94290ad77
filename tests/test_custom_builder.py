"""Custom builders (``builder: module:function``): their own hyperparameters pass through,
they run on both engines, and a builder that raises fails its trials, not the search."""

from __future__ import annotations

import json
import os
import shutil
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
    tmp_path: Path, backend: str
) -> None:
    """`broken` builds the two-tower net for towers=1 and raises for towers=2: the search
    runs on, the towers=1 trials train (with the builder's own params recorded), and the
    towers=2 trials are FAILED with the builder's message. (In process, the builder's
    module beside the space file, where hpsearch and its Ray workers look first.)"""
    (tmp_path / "space.yaml").write_text(SPACE.format(fn="broken"))
    shutil.copy(TESTS / "custom_builders.py", tmp_path)
    if backend == "ray":
        shared_ray.start()
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


@pytest.mark.slow
def test_a_trial_that_hangs_ends_the_ray_search_with_its_finished_trials_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hangs_after` builds two models and hangs in the third: with no trial event for
    $HPSEARCH_STALL_S (15) seconds the search stops (exit 1, a message naming the wait and
    --resume) instead of hanging, and the two trials that trained are kept."""
    hang_dir = tmp_path / "builds"
    hang_dir.mkdir()
    space = SPACE.format(fn="hangs_after").replace(
        "  batch_size: 64\n", f"  batch_size: 64\n  hang_dir: {hang_dir}\n  hang_after: 2\n"
    )
    (tmp_path / "space.yaml").write_text(space)
    # Beside the space file, where Ray workers look for a builder too: the shared Ray serves.
    shutil.copy(TESTS / "custom_builders.py", tmp_path)
    monkeypatch.setenv("HPSEARCH_STALL_S", "15")  # over a worker's start
    shared_ray.start()
    done = hpsearch("run", "space.yaml", "--backend", "ray", "--json", "--no-report",
                    "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    error = done.stderr.strip().splitlines()[-1]
    stopped = "error: search stopped: ray: no trial reported for 15 s (the limit was 15 s, set by"
    assert error.startswith(f"{stopped} $HPSEARCH_STALL_S)"), error
    assert "a trial hung or Ray Tune stalled" in error and "--resume" in error
    assert len(list(hang_dir.iterdir())) == 2  # only two builds got through
    csv = error.rsplit("(trials so far: ", 1)[1].rstrip(")")
    frame = pd.read_csv(tmp_path / csv)
    finished = frame[frame["status"] == "FINISHED"]
    assert len(finished) == 2 and (finished["epochs"] == 2).all()


@pytest.mark.slow
def test_a_trial_slow_to_stop_does_not_lose_a_ray_hyperband_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`slow_to_stop` takes 3 s to leave `fit`, as a paused trial does on 2 busy cores. Tune
    waits 2 s by default before it reuses the actor; then it marks the next trial ERROR
    without telling the searcher or hpsearch, and with --max-concurrent the search waits
    forever (P3's hang). hpsearch's workers wait longer: every trial is recorded, none lost,
    and the search ends."""
    (tmp_path / "space.yaml").write_text(
        SPACE.format(fn="slow_to_stop").replace("{epochs: 2}", "{epochs: 3}")
    )
    shutil.copy(TESTS / "custom_builders.py", tmp_path)
    monkeypatch.setenv("HPSEARCH_STALL_S", "60")  # the hang ends as exit 1, not a stuck test
    shared_ray.start()
    done = hpsearch("run", "space.yaml", "--backend", "ray", "--strategy", "hyperband",
                    "--max-concurrent", "2", "--json", "--no-report",
                    "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    frame = pd.read_csv(tmp_path / json.loads(done.stdout)["trials_csv"])
    assert len(frame) == 4 and (frame["status"] == "FINISHED").all(), frame
