"""Regression metrics in the target's units while the network learns a standardised one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpsearch.model import (
    build_model,
    evaluate,
    in_target_units,
    is_mse,
    is_target_units,
    target_units,
)


def test_logs_are_rewritten_in_place_for_train_and_validation() -> None:
    logs = {"loss": 0.5, "mae": 0.5, "val_mae": 0.25, "val_rmse": 1.0, "mse": 0.5, "val_x": 2}
    out = in_target_units(logs, 10.0)
    assert out is logs
    assert logs == {"loss": 0.5, "mae": 5.0, "val_mae": 2.5, "val_rmse": 10.0, "mse": 50.0,
                    "val_x": 2}  # fmt: skip
    assert target_units(None) == []
    mse_loss = in_target_units({"loss": 0.5, "val_loss": 0.25}, 10.0, squared_loss=True)
    assert mse_loss == {"loss": 50.0, "val_loss": 25.0}  # an MSE loss is in units squared
    assert is_mse("mse") and not is_mse("huber")


def test_every_callback_after_it_and_the_history_see_target_units() -> None:
    """Keras 3 hands one logs dict to its callbacks in order and adds History last: the
    callback placed first makes EarlyStopping, a later callback and History see errors in
    the target's units, ``loss`` (an MSE) too, in units squared."""
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=64)).astype("float32")
    seen: list[dict[str, Any]] = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            seen.append(dict(logs))

    keras.utils.set_random_seed(1)
    model = build_model({"n_hidden": 1, "n_neurons": 4}, (3,), "regression")
    first = target_units(20.0)
    assert len(first) == 1 and is_target_units(first[0])
    stop = keras.callbacks.EarlyStopping(monitor="val_mae", patience=5)
    history = model.fit(
        x[:48], y[:48], validation_data=(x[48:], y[48:]), epochs=2, verbose=0,
        callbacks=[*first, stop, Recorder()],
    )  # fmt: skip
    scores = model.evaluate(x[48:], y[48:], verbose=0, return_dict=True)
    assert history.history["val_mae"][-1] == pytest.approx(20 * scores["mae"], rel=1e-5)
    assert history.history["val_mse"][-1] == pytest.approx(400 * scores["mse"], rel=1e-5)
    assert history.history["val_rmse"][-1] == pytest.approx(20 * scores["rmse"], rel=1e-5)
    assert history.history["val_loss"][-1] == pytest.approx(400 * scores["loss"], rel=1e-5)
    assert seen[-1]["val_mae"] == history.history["val_mae"][-1]
    in_units = evaluate(model, x[48:], y[48:], 20.0, batch_size=32)  # what a refit logs
    assert in_units["mae"] == pytest.approx(20 * scores["mae"], rel=1e-5)
    assert in_units["loss"] == pytest.approx(400 * scores["loss"], rel=1e-5)
    assert stop.best == min(history.history["val_mae"])


@pytest.mark.slow
def test_a_cross_validated_regression_trial_reports_target_units_once(
    tmp_path: Path, write_space: Callable[..., Path]
) -> None:
    """k-fold on Keras Tuner: the folds train with the callback and the fold-mean replay
    goes through the tuner's callbacks without it, so val_mae is in the target's units
    (tens for diabetes, whose std is about 77), neither standardised (< 1) nor scaled twice
    (thousands)."""
    import json

    from tests.in_process import hpsearch

    space = write_space(
        """
        name: cv-diabetes
        dataset: {name: diabetes}
        objective: val_mae
        hyperparameters:
          learning_rate: 0.01
          n_neurons: {choice: [16, 32]}
        training: {epochs: 3, patience: 0, cv: 2}
        search: {strategy: random, max_trials: 1, seed: 3}
        """
    )
    done = hpsearch("run", str(space), "--json", "--no-report", "--tracking-uri",
                    f"sqlite:///{tmp_path}/m.db", "--output", str(tmp_path / "out"),
                    cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert 30 < out["best_value"] < 200, out["best_value"]
