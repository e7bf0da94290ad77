"""Wide & Deep (the seed's 10.2): its structure, and real searches that pick it on both
engines, cross-validated, refit, logged and loaded back where hpsearch is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pandas as pd
import pytest

from hpsearch.model import build_model
from tests import shared_ray
from tests.epoch_recorder import assert_continues
from tests.in_process import hpsearch
from tests.spaces import tiny_space_text

ROOT = Path(__file__).resolve().parents[1]
#: The seed's layout on diabetes: features 0-4 wide, 2-9 deep (by name and by index).
MODEL = {
    "wide_features": ["age", "sex", "bmi", "bp", "s1"],
    "deep_features": [2, 3, 4, 5, 6, 7, 8, 9],
}
#: Both architectures as a two-point grid: every search trains each once.
BOTH: dict[str, Any] = {
    "name": "wd",
    "dataset": {"name": "diabetes"},
    "objective": "val_mae",
    "hyperparameters": {
        "architecture": {"choice": ["mlp", "wide_deep"]},
        "n_hidden": 2,
        "n_neurons": 8,
        "learning_rate": 0.01,
        "batch_size": 64,
    },
    "model": MODEL,
    "training": {"epochs": 2, "patience": 0},
    "search": {"strategy": "grid", "seed": 3},
}


def _build(columns: dict[str, Any] | None, **params: Any) -> keras.Model:
    params = {"architecture": "wide_deep", "n_hidden": 2, "n_neurons": 6} | params
    return build_model(params, (8,), "regression", columns=columns)


def _select(model: keras.Model, name: str) -> list[int]:
    return list(model.get_layer(name).indices)


def test_two_paths_reach_the_output() -> None:
    """The output layer takes Concatenate([wide selection, last hidden layer]); the deep
    selection feeds the first hidden layer; each selection is the configured columns."""
    model = _build({"wide_features": [0, 1, 2, 3, 4], "deep_features": [2, 3, 4, 5, 6, 7]})
    assert model.name == "hpsearch_wide_deep"
    concat = model.get_layer("output")._inbound_nodes[0].parent_nodes[0].operation
    assert isinstance(concat, keras.layers.Concatenate)
    sources = [node.operation.name for node in concat._inbound_nodes[0].parent_nodes]
    assert sources == ["wide_features", "hidden_2"]
    assert model.get_layer("hidden_1")._inbound_nodes[0].parent_nodes[0].operation.name == (
        "deep_features"
    )
    assert _select(model, "wide_features") == [0, 1, 2, 3, 4]
    assert _select(model, "deep_features") == [2, 3, 4, 5, 6, 7]
    assert model.get_layer("hidden_1").kernel.shape == (6, 6)  # six deep columns in
    assert model.get_layer("output").kernel.shape == (5 + 6, 1)  # five wide + six hidden


def test_each_path_sees_only_its_columns() -> None:
    """A column on neither path leaves the prediction unchanged; one on either path moves it."""
    model = _build({"wide_features": [0], "deep_features": [1]})
    x = np.random.default_rng(0).normal(size=(16, 8)).astype("float32")
    base = model.predict(x, verbose=0)
    for column, moves in ((0, True), (1, True), (5, False)):
        changed = x.copy()
        changed[:, column] += 3.0
        assert (not np.allclose(model.predict(changed, verbose=0), base)) is moves, column


def test_default_columns_are_every_input_on_both_paths() -> None:
    """No model: section: the seed's first Wide & Deep, concat([input, hidden2]), no
    selection layer; n_hidden 0 concatenates the input with itself."""
    model = _build(None, normalize=False)
    assert not [layer for layer in model.layers if "features" in layer.name]
    assert model.get_layer("output").kernel.shape == (8 + 6, 1)
    assert _build(None, n_hidden=0).get_layer("output").kernel.shape == (16, 1)


def test_mlp_is_unchanged_by_columns() -> None:
    model = build_model({"n_hidden": 1}, (8,), "regression", columns={"wide_features": [0]})
    assert model.name == "hpsearch_mlp"
    assert not any(isinstance(layer, keras.layers.Concatenate) for layer in model.layers)


def test_images_go_wide_as_flattened_pixels() -> None:
    model = build_model(
        {"architecture": "wide_deep", "n_hidden": 1, "n_neurons": 4},
        (4, 4),
        "multiclass",
        3,
        columns={"wide_features": [0, 15], "deep_features": None},
    )
    assert model.get_layer("output").kernel.shape == (2 + 4, 3)
    assert model.get_layer("hidden_1").kernel.shape == (16, 4)


# ----------------------------------------------------------------------------- training


def _run(space: Path, tmp_path: Path, *args: str) -> dict[str, Any]:
    uri = f"sqlite:///{tmp_path}/m.db"
    done = hpsearch(
        "run", str(space), "--json", "--no-report", "--tracking-uri", uri,
        "--output", str(tmp_path / "out"), *args, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def _architectures(out: dict[str, Any]) -> list[str]:
    trials = pd.read_csv(out["trials_csv"])
    assert (trials["status"] == "FINISHED").all(), trials[["status", "error"]]
    return sorted(trials["params.architecture"])


@pytest.mark.slow
def test_keras_tuner_cross_validates_both_architectures(
    tmp_path: Path, write_space: Callable[..., Path]
) -> None:
    out = _run(write_space(tiny_space_text(BOTH, training={"cv": 2})), tmp_path)
    assert out["trials"] == 2 and _architectures(out) == ["mlp", "wide_deep"]
    assert 20 < out["best_value"] < 200  # a k-fold mean val_mae, in the target's units


@pytest.mark.slow
def test_ray_searches_both_architectures(tmp_path: Path, write_space: Callable[..., Path]) -> None:
    shared_ray.start()
    space = write_space(tiny_space_text(BOTH, search={"backend": "ray"}))
    out = _run(space, tmp_path, "--max-concurrent", "1")
    assert out["trials"] == 2 and _architectures(out) == ["mlp", "wide_deep"]


#: Loaded in a fresh interpreter where ``import hpsearch`` fails: the logged models must
#: bring SelectColumns with them.
LOAD = """
import json, sys
import mlflow, pandas as pd
from sklearn.datasets import load_diabetes
mlflow.set_tracking_uri(sys.argv[1])
bunch = load_diabetes()
rows = pd.DataFrame(bunch.data, columns=bunch.feature_names).iloc[:5]
out = {}
for uri in sys.argv[2:]:
    model = mlflow.pyfunc.load_model(uri)
    keras_model = model.unwrap_python_model().keras_model
    out[uri] = {
        "name": keras_model.name,
        "wide": keras_model.get_layer("wide_features").indices,
        "prediction": model.predict(rows)["prediction"].tolist(),
    }
print(json.dumps(out))
"""


@pytest.mark.slow
def test_logged_wide_deep_models_load_and_predict_without_hpsearch(
    tmp_path: Path, write_space: Callable[..., Path]
) -> None:
    """`run --final-fit` of a wide_deep space: the best and the final model load through
    mlflow.pyfunc.load_model in a fresh process without hpsearch, take raw rows, and
    predict disease progression itself."""
    space = tiny_space_text(
        BOTH,
        hyperparameters=BOTH["hyperparameters"] | {"architecture": "wide_deep"},
        search={"strategy": "random", "max_trials": 1},
    )
    out = _run(write_space(space), tmp_path, "--final-fit")
    final = out["final_fit"]["registered_uri"]
    poison = tmp_path / "no-hpsearch" / "hpsearch"
    poison.mkdir(parents=True)
    (poison / "__init__.py").write_text("raise ImportError('a logged model imported hpsearch')\n")
    done = subprocess.run(
        [sys.executable, "-c", LOAD, f"sqlite:///{tmp_path}/m.db", out["best_model_uri"], final],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": str(poison.parent)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    for uri in (out["best_model_uri"], final):
        assert loaded[uri]["name"] == "hpsearch_wide_deep"
        assert loaded[uri]["wide"] == [0, 1, 2, 3, 4]
        assert all(0 < p < 400 for p in loaded[uri]["prediction"])  # the target's units


@pytest.mark.slow
def test_lr_find_sweeps_a_wide_deep_model(tmp_path: Path, write_space: Callable[..., Path]) -> None:
    space = write_space(tiny_space_text(BOTH))
    uri = f"sqlite:///{tmp_path}/m.db"
    args = ["--params", "architecture=wide_deep", "--steps", "40", "--tracking-uri", uri]
    done = hpsearch("lr-find", str(space), *args, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert 1e-6 <= result["suggestion"] <= 1.0
    from mlflow import MlflowClient

    assert MlflowClient(uri).get_run(result["run_id"]).data.params["architecture"] == "wide_deep"


# ----------------------------------------------------------------------------- shipped, continued


def _search(space: Any, tmp_path: Path, **kwargs: Any) -> Any:
    from hpsearch.api import run_search

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    summary = run_search(space, tracking_uri=uri, output=tmp_path / "out", **kwargs)
    frame = summary.frame
    assert (frame["status"] == "FINISHED").all(), frame[["status", "error"]]
    return summary


@pytest.mark.slow
def test_the_shipped_diabetes_space_trains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """search_spaces/diabetes-wide-deep.yaml as shipped, cut to 4 trials of 2 epochs: its
    seeded draws train both architectures, Wide & Deep on the file's columns (by name: the
    seed's layout, 0-4 wide and 2-9 deep)."""
    from hpsearch.backends.keras_tuner import hypermodel
    from hpsearch.plan import prepare

    built: list[keras.Model] = []
    build_for = hypermodel.build_for

    def spy(*args: Any, **kwargs: Any) -> keras.Model:
        built.append(build_for(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(hypermodel, "build_for", spy)
    space = prepare(ROOT / "search_spaces" / "diabetes-wide-deep.yaml", epochs=2, max_trials=4)
    summary = _search(space, tmp_path)
    frame = summary.frame
    assert len(frame) == 4 and set(frame["params.architecture"]) == {"mlp", "wide_deep"}
    assert (frame["epochs"] == 2).all() and (frame["strategy"] == "random").all()
    assert summary.best is not None and 20 < summary.best.objective < 200  # val_mae, units
    wide_deep = [m for m in built if m.name == "hpsearch_wide_deep"]
    assert wide_deep and len(wide_deep) < len(built)
    for model in wide_deep:
        assert _select(model, "wide_features") == [0, 1, 2, 3, 4]
        assert _select(model, "deep_features") == [2, 3, 4, 5, 6, 7, 8, 9]


#: Wide & Deep alone, for Hyperband's brackets: max_epochs 4, factor 2 (1, 2 then 4 epochs).
CONTINUED: dict[str, Any] = BOTH | {
    "hyperparameters": BOTH["hyperparameters"]
    | {
        "architecture": "wide_deep",
        "n_neurons": {"int": [4, 32]},
        "learning_rate": {"float": [3e-3, 3e-2], "log": True},
    },
    "training": {"epochs": 4, "patience": 0},
    "search": {"max_trials": 9, "seed": 6, "hyperband": {"max_epochs": 4, "factor": 2}},
}


@pytest.mark.slow
def test_keras_tuner_hyperband_continues_wide_deep_from_its_weights(tmp_path: Path) -> None:
    """Keras Tuner's Hyperband reloads a promoted trial's parent checkpoint into a fresh
    Wide & Deep model (two SelectColumns): every trial finishes, each promoted one goes on."""
    from hpsearch.api import prepare
    from hpsearch.space import parse_space
    from tests.epoch_recorder import Recorder, lineage

    text = tiny_space_text(CONTINUED)
    space = prepare(parse_space(text, source=tmp_path / "s.yaml"), strategy="hyperband")
    seen = Recorder()
    summary = _search(space, tmp_path, callbacks=[seen], budget_epochs=8)
    results = sorted(seen.results.values(), key=lambda r: r.trial_id)
    promoted = [r for r in results if r.round]
    assert len(summary.frame) == 7  # bracket 2: 4 trials of 1 epoch, 2 go on to 2, 1 to 4
    assert [(r.first_epoch, r.epochs) for r in promoted] == [(1, 1), (1, 1), (2, 2)]
    for child, parent, root in lineage(results):
        assert_continues(child, parent, root)


@pytest.mark.slow
def test_ray_bohb_restores_wide_deep_from_its_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BOHB on Ray pauses a Wide & Deep trial at a milestone and restores it from its
    checkpoint into a fresh model (two SelectColumns): every trial finishes, and a restored
    one's next epoch carries on from its last, well below a fresh model's first (a restart
    would repeat that exactly). Not always below its last: the optimizer starts afresh."""
    from hpsearch.api import prepare
    from hpsearch.space import parse_space
    from tests.epoch_recorder import Recorder, ray_restores

    restored = ray_restores(monkeypatch)
    shared_ray.start()
    text = tiny_space_text(CONTINUED, search=CONTINUED["search"] | {"max_trials": 5})
    space = prepare(parse_space(text, source=tmp_path / "s.yaml"), strategy="bohb", backend="ray")
    seen = Recorder()
    summary = _search(space, tmp_path, callbacks=[seen])
    frame = summary.frame
    assert len(frame) == 5 and (frame["params.architecture"] == "wide_deep").all()
    assert restored, "no trial was paused and restored"
    for tid, epochs in restored.items():
        loss = seen.results[tid].history["loss"]
        for epoch in epochs:  # the restored epoch (1-based) sits at loss[epoch - 1]
            after, before, fresh = loss[epoch - 1], loss[epoch - 2], loss[0]
            assert after < fresh and abs(after - before) < abs(after - fresh) / 2, loss
