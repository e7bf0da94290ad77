"""Custom builders (``builder: module:function``): their own hyperparameters pass through,
they run on both engines, and a builder that raises fails its trials, not the search."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hpsearch.space import SpaceError, parse_space
from tests import shared_ray
from tests.in_process import hpsearch
from tests.spaces import tiny_space_text

HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))
TESTS = Path(__file__).resolve().parent
#: The two-tower space of tests/e2e/custom_builders.py, without its builder.
CUSTOM: dict[str, Any] = {
    "name": "custom",
    "hyperparameters": {
        "width_mult": {"float": [0.5, 2.0]},
        "towers": {"choice": [1, 2]},
        "tower_activation": "relu",
        "learning_rate": 3.0e-3,
        "batch_size": 64,
    },
    "search": {"max_trials": 4, "seed": 2},
}


def _space(fn: str, **sections: Any) -> str:
    """The two-tower space built by ``custom_builders.<fn>``."""
    return tiny_space_text(CUSTOM, builder=f"custom_builders:{fn}", **sections)


def test_a_builder_allows_its_own_hyperparameters() -> None:
    space = parse_space(_space("build"))
    assert space.builder == "custom_builders:build"
    assert set(space.searched()) == {"width_mult", "towers"}
    with pytest.raises(SpaceError, match="unknown hyperparameter 'width_mult'"):
        parse_space(tiny_space_text(CUSTOM))
    with pytest.raises(SpaceError, match="builder: String should match pattern"):
        parse_space(tiny_space_text(CUSTOM, builder="no colon"))


def _run(tmp: Path, fn: str, backend: str) -> subprocess.CompletedProcess[str]:
    (tmp / "space.yaml").write_text(_space(fn))
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
    (tmp_path / "space.yaml").write_text(_space("broken"))
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
    $HPSEARCH_STALL_S (25) seconds the search stops (exit 1, a message naming the wait and
    --resume) instead of hanging, and the two trials that trained are kept."""
    hang_dir = tmp_path / "builds"
    hang_dir.mkdir()
    hang = {"hang_dir": str(hang_dir), "hang_after": 2}
    space = _space("hangs_after", hyperparameters=CUSTOM["hyperparameters"] | hang)
    (tmp_path / "space.yaml").write_text(space)
    # Beside the space file, where Ray workers look for a builder too: the shared Ray serves.
    shutil.copy(TESTS / "custom_builders.py", tmp_path)
    # Over a worker's start and a trial, with the suite's other worker busy beside it (15 s
    # fired before the two good trials ended once, on cores loaded by a benchmark).
    monkeypatch.setenv("HPSEARCH_STALL_S", "25")
    shared_ray.start()
    done = hpsearch("run", "space.yaml", "--backend", "ray", "--json", "--no-report",
                    "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    error = done.stderr.strip().splitlines()[-1]
    stopped = re.match(r"error: search stopped: ray: no trial reported for (\d+) s \(the limit "
                       r"was 25 s, set by \$HPSEARCH_STALL_S\)", error)  # fmt: skip
    assert stopped and 25 <= int(stopped[1]) <= 30, error  # a poll's delay: rounded up, at most
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
    (tmp_path / "space.yaml").write_text(_space("slow_to_stop", training={"epochs": 3}))
    shutil.copy(TESTS / "custom_builders.py", tmp_path)
    monkeypatch.setenv("HPSEARCH_STALL_S", "60")  # the hang ends as exit 1, not a stuck test
    shared_ray.start()
    done = hpsearch("run", "space.yaml", "--backend", "ray", "--strategy", "hyperband",
                    "--max-concurrent", "2", "--json", "--no-report",
                    "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    frame = pd.read_csv(tmp_path / json.loads(done.stdout)["trials_csv"])
    assert len(frame) == 4 and (frame["status"] == "FINISHED").all(), frame


def _kt_space(record_dir: Path) -> str:
    """A space for `def build_model(hp)`, which records what it got in ``record_dir``."""
    return tiny_space_text(
        name="kt-form",
        builder="mymodels:build_model",
        dataset={"max_rows": 600},
        hyperparameters={
            "n_hidden": {"int": [1, 2]},
            "n_neurons": {"int": [8, 12]},
            "learning_rate": {"float": [1e-3, 1e-2], "log": True},
            "optimizer": {"choice": ["sgd", "adam"]},
            "record_dir": str(record_dir),
            "batch_size": 64,
        },
        search={"max_trials": 3, "seed": 4},
    )


#: What TensorFlow prints on its own when imported unquietened (absl, CUDA probing, oneDNN).
TF_NOISE = ("E0000", "I0000", "cuInit", "oneDNN", "absl::InitializeLog", "cuda drivers")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["keras-tuner", "ray"])
def test_a_keras_tuner_builder_runs_unchanged_on_both_engines(tmp_path: Path, backend: str) -> None:
    """`def build_model(hp)`, the seed's form: on Keras Tuner it gets Keras Tuner's own
    HyperParameters, on Ray a stand-in with the same methods; either way it gets the
    values the space samples (n_neurons 8-12, though the builder says 16-256), and those
    are the trial's recorded params. Run as a user runs it (a process, the builder beside
    the space file): no TensorFlow start-up line reaches the terminal."""
    records = tmp_path / "records"
    records.mkdir()
    (tmp_path / "space.yaml").write_text(_kt_space(records))
    shutil.copy(TESTS / "custom_builders.py", tmp_path)
    # a user's module imports TensorFlow at its top, before hpsearch could quieten it
    (tmp_path / "mymodels.py").write_text(
        "import tensorflow as tf  # noqa: F401\n\nimport custom_builders\n\n\n"
        "def build_model(hp):\n    return custom_builders.build_model(hp)\n"
    )
    args = [HPSEARCH, "run", "space.yaml", "--backend", backend, "--json", "--no-report",
            "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"]  # fmt: skip
    if backend == "ray":
        args += ["--max-concurrent", "1"]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not [n for n in TF_NOISE if n in done.stderr], done.stderr[-3000:]
    out = json.loads(done.stdout)
    frame = pd.read_csv(tmp_path / out["trials_csv"])
    assert out["finished"] == 3 and (frame["status"] == "FINISHED").all()
    seen = [json.loads(p.read_text()) for p in records.glob("*.json")]
    kinds = {r["hp"] for r in seen}
    assert kinds == ({"HyperParameters"} if backend == "keras-tuner" else {"SampledHP"})
    assert all(8 <= r["n_neurons"] <= 12 for r in seen)
    built = {(r["n_hidden"], r["n_neurons"]) for r in seen}
    trials = set(zip(frame["params.n_hidden"], frame["params.n_neurons"], strict=True))
    assert trials <= built  # every trial's recorded params are what its model was built with
