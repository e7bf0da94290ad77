"""Real Ray Tune searches on digits, in process on the session's shared local Ray
(tests/shared_ray.py). A real cluster's are in test_ray_cluster.py."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from hpsearch.api import SearchSummary, prepare, run_search
from hpsearch.space import parse_space
from hpsearch.trials import SearchCallback
from tests import shared_ray
from tests.spaces import MLP, tiny_space_text

pytestmark = pytest.mark.slow

SPACE = tiny_space_text(
    name="digits-ray",
    objective="val_accuracy",
    hyperparameters=MLP,
    training={"patience": 0},
    search={
        "max_trials": 4,
        "seed": 11,
        "hyperband": {"max_epochs": 3, "factor": 3},
        "bayesian": {"initial_points": 2},
    },
)


def _search(
    tmp: Path, strategy: str, backend: str = "ray", text: str = SPACE, **options: Any
) -> SearchSummary:
    if backend == "ray":
        shared_ray.start()
    space = prepare(
        parse_space(text, source=tmp / "space.yaml"), strategy=strategy, backend=backend
    )
    if backend == "ray":
        options.setdefault("max_concurrent", 2)
    return run_search(
        space, tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}", output=tmp / "out", options=options
    )


def _children(summary: SearchSummary) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=summary.tracking_uri)
    exp = client.get_experiment_by_name(summary.experiment)
    runs = client.search_runs([exp.experiment_id], max_results=200)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [p.info.run_id for p in parents] == [summary.parent_run_id]
    assert parents[0].info.status == "FINISHED"
    return [r for r in runs if r.data.tags.get("mlflow.parentRunId") == summary.parent_run_id]


@pytest.fixture(scope="module")
def ray_random(tmp_path_factory: pytest.TempPathFactory) -> SearchSummary:
    """The seeded random Ray search: checked below and compared with a second run of it."""
    return _search(tmp_path_factory.mktemp("random"), "random")


@pytest.fixture(scope="module", params=["random", "hyperband", "asha", "bayesian", "tpe"])
def searched(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if request.param == "random":
        return "random", request.getfixturevalue("ray_random")
    tmp = tmp_path_factory.mktemp(request.param)
    return request.param, _search(tmp, request.param)


def test_every_ray_trial_is_a_nested_child_run_with_epoch_history(searched: Any) -> None:
    from mlflow.tracking import MlflowClient

    strategy, summary = searched
    frame = summary.frame.set_index("trial_id")
    assert len(frame) == 4 and (frame["backend"] == "ray").all()
    assert (frame["strategy"] == strategy).all()
    children = _children(summary)
    assert len(children) == len(frame)  # N is Ray's trial count
    client = MlflowClient(tracking_uri=summary.tracking_uri)
    for run in children:
        row = frame.loc[run.data.tags["hpsearch.trial_id"]]
        sampled = {
            c.removeprefix("params."): row[c] for c in frame.columns if c.startswith("params.")
        }
        assert run.data.params == {k: str(v) for k, v in sampled.items()}
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert sorted(m.step for m in history) == list(range(1, int(row["epochs"]) + 1))
        assert max(m.value for m in history) == pytest.approx(row["objective"])
        assert run.data.tags["hpsearch.worker"] == row["worker"]
    max_epochs = 3 if strategy in ("hyperband", "asha") else 2
    assert frame["epochs"].max() <= max_epochs
    if strategy in ("random", "bayesian", "tpe"):
        assert (frame["epochs"] == 2).all()
    if strategy == "asha":  # with factor 3 and 4 trials, ASHA stops some trials at 1 epoch
        assert frame["epochs"].min() == 1 and frame["epochs"].max() == 3


def test_ray_best_model_loads_from_the_parent_run(searched: Any) -> None:
    import mlflow.pyfunc
    import numpy as np

    from hpsearch.data import load_dataset

    _, summary = searched
    model = mlflow.pyfunc.load_model(summary.best_model_uri)
    data = load_dataset(parse_space(SPACE).dataset, 11)
    from tests.raw_rows import raw_rows

    probs = model.predict(raw_rows("digits", data, "valid"))[data.class_names].to_numpy()
    accuracy = float(np.mean(probs.argmax(axis=1) == data.y_valid))
    assert accuracy == pytest.approx(summary.best.objective, abs=1e-6)


def test_ray_storage_sits_under_the_search_output_folder(searched: Any) -> None:
    _, summary = searched
    assert (summary.workdir / "ray" / "tune").is_dir()


def test_parity_same_columns_on_both_backends_and_seeded_ray_random(
    tmp_path: Path, ray_random: SearchSummary
) -> None:
    kt = _search(tmp_path / "kt", "random", backend="keras-tuner").frame
    ray_a = ray_random.frame
    ray_b = _search(tmp_path / "b", "random").frame
    assert list(kt.columns) == list(ray_a.columns)
    params = [c for c in ray_a.columns if c.startswith("params.")]
    a = ray_a.sort_values("trial_id")[params].reset_index(drop=True)
    b = ray_b.sort_values("trial_id")[params].reset_index(drop=True)
    import pandas as pd

    pd.testing.assert_frame_equal(a, b)


def test_bayesian_is_the_same_gp_oracle_on_both_backends(tmp_path: Path) -> None:
    """Both engines drive Keras Tuner's BayesianOptimization oracle with the same seed, so
    its initial random points are the same configurations."""
    kt = _search(tmp_path / "kt", "bayesian", backend="keras-tuner").frame
    ray = _search(tmp_path / "ray", "bayesian", max_concurrent=1).frame
    params = [c for c in kt.columns if c.startswith("params.")]
    assert kt[params].iloc[:2].to_dict("records") == ray[params].iloc[:2].to_dict("records")


NAN_SPACE = """
name: nan-ray
dataset: {name: diabetes, scale: none}
hyperparameters:
  learning_rate: {choice: [10.0, 1.0e-3]}
  optimizer: sgd
  batch_size: 16
training: {epochs: 3}
search: {max_trials: 2, seed: 1}
"""


def test_a_nan_trial_fails_early_and_the_search_goes_on(tmp_path: Path) -> None:
    summary = _search(tmp_path, "random", text=NAN_SPACE, max_concurrent=1)
    frame = summary.frame.set_index("params.learning_rate")
    assert frame.loc[10.0, "status"] == "FAILED"
    assert frame.loc[10.0, "epochs"] == 1  # TerminateOnNaN stopped it after the first epoch
    assert "NaN or inf" in frame.loc[10.0, "error"]
    assert frame.loc[1e-3, "status"] == "FINISHED" and frame.loc[1e-3, "epochs"] == 3
    states = {r.data.params["learning_rate"]: r.info.status for r in _children(summary)}
    assert states == {"10.0": "FAILED", "0.001": "FINISHED"}


class _Intervals(SearchCallback):
    """When each trial reported its epochs: [first epoch, trial end] per trial."""

    def __init__(self) -> None:
        self.spans: dict[str, list[float]] = {}

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        self.spans.setdefault(trial_id, [time.monotonic(), 0.0])

    def on_trial_end(self, result: Any) -> None:
        self.spans[result.trial_id][1] = time.monotonic()


@pytest.mark.parametrize(
    ("strategy", "limit", "overlaps"),
    [("random", 1, False), ("random", 2, True), ("bayesian", 1, False), ("tpe", 1, False)],
)
def test_max_concurrent_limits_a_search(
    tmp_path: Path, strategy: str, limit: int, overlaps: bool
) -> None:
    """--max-concurrent 1 runs Ray trials one after another (Tune ignores its own limit
    for a generator passed in, so hpsearch sets it on the generator; a Searcher, bayesian's
    or tpe's, gets hpsearch's watched limiter); 2 overlaps them.
    Six 6-epoch trials: the second actor imports TensorFlow while the first trains, so the
    first trials may not overlap; once both are warm they do."""
    space = prepare(parse_space(SPACE, source=tmp_path / "s.yaml"), strategy=strategy,
                    backend="ray", epochs=6, max_trials=6)  # fmt: skip
    clock = _Intervals()
    run_search(space, tracking_uri=f"sqlite:///{tmp_path / 'm.db'}", output=tmp_path / "out",
               options={"max_concurrent": limit}, callbacks=[clock])  # fmt: skip
    spans = sorted(clock.spans.values())
    assert len(spans) == 6
    overlap = any(b[0] < a[1] for a, b in itertools.pairwise(spans))
    assert overlap is overlaps, spans


def test_held_ray_keeps_one_ray_up_and_leaves_a_running_one_alone() -> None:
    """compare's one Ray for its searches: a search inside finds it up (and so does not
    shut it down); held_ray stops only the Ray it started."""
    import ray

    from hpsearch.backends.ray_tune import RayTuneBackend, held_ray

    shared_ray.start()
    with held_ray():
        assert ray.is_initialized()
    assert ray.is_initialized()  # up before: left up
    shared_ray.stop()
    with held_ray(max_concurrent=2):
        assert ray.is_initialized()
        assert RayTuneBackend()._init_ray() is False  # a search joins, and leaves it up
    assert not ray.is_initialized()
