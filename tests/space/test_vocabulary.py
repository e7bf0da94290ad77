"""The seed's extra hyperparameters: l1/l2, learning-rate schedules, per-layer widths and
class weights, in the builder and through real searches on both engines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hpsearch.model import build_model, fit_options, layer_widths
from hpsearch.space import SpaceError, parse_space
from tests import shared_ray
from tests.in_process import hpsearch


def _dense(model: object) -> list[object]:
    return [layer for layer in model.layers if layer.name.startswith("hidden_")]  # type: ignore[attr-defined]


def test_layer_shapes_same_funnel_and_per_layer() -> None:
    base = {"n_hidden": 3, "n_neurons": 64}
    assert layer_widths(base | {"layer_shape": "same"}) == [64, 64, 64]
    assert layer_widths(base | {"layer_shape": "funnel"}) == [64, 32, 16]
    per = base | {"layer_shape": "per_layer", "n_neurons_1": 100, "n_neurons_2": 7}
    assert layer_widths(per) == [100, 7, 64]  # a missing width falls back to n_neurons
    model = build_model(per | {"n_neurons_3": 5}, (8,), "multiclass", 3)
    assert [layer.units for layer in _dense(model)] == [100, 7, 5]  # type: ignore[attr-defined]


def test_l1_l2_regularise_every_hidden_layer() -> None:
    import keras

    model = build_model({"n_hidden": 2, "l2": 1e-3}, (8,), "regression")
    for layer in _dense(model):
        reg = layer.kernel_regularizer  # type: ignore[attr-defined]
        assert isinstance(reg, keras.regularizers.L1L2) and reg.l2 == pytest.approx(1e-3)
    plain = build_model({"n_hidden": 2}, (8,), "regression")
    assert all(layer.kernel_regularizer is None for layer in _dense(plain))  # type: ignore[attr-defined]


def test_step_decay_drops_the_learning_rate_every_lr_epochs_drop_epochs() -> None:
    params = {"learning_rate": 0.1, "lr_schedule": "step", "lr_drop": 0.5,
              "lr_epochs_drop": 2, "batch_size": 10}  # fmt: skip
    model = build_model(params, (4,), "regression", n_train=100)  # 10 steps an epoch
    schedule = model.optimizer._learning_rate  # the schedule object, before it is called
    lrs = [float(schedule(step)) for step in (0, 19, 20, 39, 40)]
    assert lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_cosine_restarts_restart_after_first_decay_steps() -> None:
    params = {"learning_rate": 0.1, "lr_schedule": "cosine_restarts", "first_decay_steps": 10}
    schedule = build_model(params, (4,), "regression").optimizer._learning_rate
    assert float(schedule(0)) == pytest.approx(0.1)
    assert float(schedule(9)) < 0.01  # nearly decayed at the end of the first period
    assert float(schedule(10)) > 0.05  # restarted (Keras's m_mul=1.0: back near the top)


def test_balanced_class_weights_are_inverse_frequency() -> None:
    y = np.array([0] * 90 + [1] * 10)
    opts = fit_options({"batch_size": 16, "class_weight": "balanced"}, y, "binary")
    assert opts["batch_size"] == 16
    assert opts["class_weight"] == pytest.approx({0: 100 / (2 * 90), 1: 100 / (2 * 10)})
    assert "class_weight" not in fit_options({"class_weight": "none"}, y, "binary")
    assert "class_weight" not in fit_options({"class_weight": "balanced"}, y, "regression")


def test_active_params_drop_unused_per_layer_widths() -> None:
    space = parse_space(PER_LAYER)
    assert space.per_layer_names() == ["n_neurons_1", "n_neurons_2", "n_neurons_3"]
    params = {"n_hidden": 2, "layer_shape": "per_layer", "n_neurons_1": 9, "n_neurons_2": 8,
              "n_neurons_3": 7}  # fmt: skip
    assert "n_neurons_3" not in space.active_params(params)
    same = params | {"layer_shape": "same"}
    assert not any(k.startswith("n_neurons_") for k in space.active_params(same))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("lr_schedule: linear", "unknown lr_schedule 'linear'"),
        ("layer_shape: {choice: [same, pyramid]}", "'pyramid'"),
        ("class_weight: weighted", "unknown class_weight 'weighted'"),
        ("l2: -0.1", "-0.1 is below the minimum 0"),
    ],
)
def test_bad_values_of_the_new_vocabulary_are_one_line_errors(line: str, message: str) -> None:
    text = f"name: v\ndataset: {{name: digits}}\nhyperparameters:\n  {line}\n"
    with pytest.raises(SpaceError) as err:
        parse_space(text, source=Path("v.yaml"))
    assert str(err.value).startswith("v.yaml:4: hyperparameters.") and message in str(err.value)


PER_LAYER = """
name: vocab
dataset: {name: digits}
hyperparameters:
  n_hidden: {int: [1, 3]}
  n_neurons: {int: [8, 32]}
  layer_shape: {choice: [same, per_layer]}
  l2: {float: [1.0e-5, 1.0e-3], log: true}
  lr_schedule: step
  lr_epochs_drop: 1
  class_weight: balanced
  batch_size: 64
training: {epochs: 2}
search: {max_trials: 4, seed: 3}
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["keras-tuner", "ray"])
def test_a_search_over_the_new_vocabulary_records_active_widths_only(
    tmp_path: Path, backend: str
) -> None:
    (tmp_path / "v.yaml").write_text(PER_LAYER)
    if backend == "ray":
        shared_ray.start()
    done = hpsearch("run", "v.yaml", "--backend", backend, "--json", "--no-report",
                    "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["finished"] == 4
    import pandas as pd

    frame = pd.read_csv(tmp_path / out["trials_csv"])
    assert set(frame["params.lr_schedule"]) == {"step"}
    for _, row in frame.iterrows():
        widths = [c for c in frame.columns if c.startswith("params.n_neurons_")
                  and not pd.isna(row[c])]  # fmt: skip
        if row["params.layer_shape"] == "per_layer":
            assert len(widths) == row["params.n_hidden"], row
        else:
            assert widths == [], row
