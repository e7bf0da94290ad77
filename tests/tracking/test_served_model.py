"""A found model is a deployable model: raw rows in, labels or target units out, in Python
and through `mlflow models serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.in_process import hpsearch

BIN = Path(sys.executable).parent
PENGUINS = """
name: served-penguins
dataset: {name: penguins, split: {valid: 0.2, test: 0.2}}
objective: val_accuracy
hyperparameters:
  learning_rate: 0.01
  n_hidden: 1
  n_neurons: {choice: [8, 16]}
training: {epochs: 3, patience: 0}
search: {strategy: random, max_trials: 1, seed: 42}
"""
DIABETES = (
    PENGUINS.replace("served-penguins", "served-diabetes")
    .replace("name: penguins", "name: diabetes")
    .replace("val_accuracy", "val_mae")
)


def _run(space: Path, tmp_path: Path, uri: str) -> dict[str, Any]:
    done = hpsearch(
        "run", str(space), "--json", "--no-report", "--final-fit",
        "--tracking-uri", uri, "--output", str(tmp_path / "out"), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(model_uri: str, uri: str, rows: pd.DataFrame, cwd: Path) -> list[dict[str, Any]]:
    """`mlflow models serve` in its own process group, asked once, stopped in any case.
    An ``hpsearch`` package that refuses to import comes first on its path: the model must
    serve where hpsearch is not installed."""
    port = _free_port()
    poison = cwd / "no-hpsearch" / "hpsearch"
    poison.mkdir(parents=True)
    (poison / "__init__.py").write_text("raise ImportError('a served model imported hpsearch')\n")
    env = os.environ | {
        "PYTHONPATH": str(poison.parent),
        "MLFLOW_TRACKING_URI": uri,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    command = [str(BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
               "-p", str(port)]  # fmt: skip
    log = (cwd / "serve.log").open("wb")
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=log, stderr=log, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (cwd / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /ping in 120 s"
            time.sleep(0.5)
        values = rows.astype(object).where(rows.notna(), None).to_numpy().tolist()
        body = {"dataframe_split": {"columns": list(rows.columns), "data": values}}
        request = urllib.request.Request(
            f"{base}/invocations",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return list(json.loads(answer.read())["predictions"])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.mark.slow
def test_registered_penguins_model_takes_raw_rows_in_python_and_served(
    tmp_path: Path, write_space: Callable[..., Path]
) -> None:
    """`run --final-fit` registers a model that takes the CSV's own columns (text, a
    missing value, an island never seen) and answers with the species the Keras model
    gives on the encoded rows, loaded in Python and behind `mlflow models serve`. The test
    rows' encoding is the training arrays'; the two odd rows are encoded by recipe.transform
    (checked against training in test_recipe.py), and their unseen island and missing bill
    length are checked here by hand: no island column set, the train mean, both scaled."""
    import mlflow
    from palmerpenguins import load_penguins

    from hpsearch import recipe
    from hpsearch.data import load_dataset
    from hpsearch.space import DatasetSpec

    uri = f"sqlite:///{tmp_path}/m.db"
    fit = _run(write_space(PENGUINS), tmp_path, uri)["final_fit"]
    assert fit["registered_uri"] == "models:/served-penguins/1"
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model("models:/served-penguins/1")
    inputs = [c.name for c in model.metadata.get_input_schema().inputs]
    assert inputs == ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm",
                      "body_mass_g", "sex"]  # fmt: skip

    data = load_dataset(DatasetSpec(name="penguins"), 42)  # the search's split
    raw = load_penguins().iloc[data.rows["test"][:6]].drop(columns=["year"])
    odd = raw.iloc[:2].copy()
    odd.loc[:, "island"] = ["Atlantis", "Dream"]  # an island no penguin came from
    odd.loc[:, "bill_length_mm"] = [np.nan, 50.0]
    odd.loc[:, "sex"] = [None, "female"]
    rows = pd.concat([raw, odd], ignore_index=True)

    wrapped = model.unwrap_python_model()
    assert wrapped.recipe == json.loads(json.dumps(data.recipe))
    odd_x = recipe.transform(data.recipe, odd)
    names, scaling = data.feature_names, data.recipe["scaling"]

    def scaled(i: int, value: float) -> float:  # the train split's standard scaling
        return float((value - scaling["shift"][i]) / scaling["scale"][i])

    islands = [i for i, n in enumerate(names) if n.startswith("island_")]
    assert len(islands) == 3  # Biscoe, Dream, Torgersen: Atlantis sets none of them
    for i in islands:
        assert odd_x[0, i] == pytest.approx(scaled(i, 0.0), abs=1e-5)
    bill = names.index("bill_length_mm")  # missing: the train mean
    assert odd_x[0, bill] == pytest.approx(scaled(bill, data.recipe["fill"][bill]), abs=1e-5)
    encoded = np.concatenate([data.x_test[:6], odd_x])
    probs = wrapped.keras_model.predict(encoded, verbose=0)
    expected = [data.class_names[i] for i in probs.argmax(axis=1)]

    answers = model.predict(rows)
    assert list(answers.columns) == ["label", "Adelie", "Chinstrap", "Gentoo"]
    assert answers["label"].tolist() == expected
    np.testing.assert_allclose(answers[data.class_names].to_numpy(), probs, rtol=1e-5)

    served = _serve("models:/served-penguins/1", uri, rows, tmp_path)
    assert [p["label"] for p in served] == expected


@pytest.mark.slow
def test_regression_model_and_metrics_are_in_the_target_units(
    tmp_path: Path, write_space: Callable[..., Path]
) -> None:
    """diabetes: the best and the final model predict disease progression itself, and the
    val_mae of the trial table and the logged test_mae are the errors of those predictions."""
    import mlflow
    from mlflow import MlflowClient
    from sklearn.datasets import load_diabetes

    from hpsearch.data import load_dataset
    from hpsearch.space import DatasetSpec

    uri = f"sqlite:///{tmp_path}/m.db"
    out = _run(write_space(DIABETES), tmp_path, uri)
    mlflow.set_tracking_uri(uri)
    bunch = load_diabetes()
    frame = pd.DataFrame(bunch.data, columns=bunch.feature_names)
    data = load_dataset(DatasetSpec(name="diabetes"), 42)

    best = mlflow.pyfunc.load_model(out["best_model_uri"])
    valid = best.predict(frame.iloc[data.rows["valid"]])["prediction"].to_numpy()
    val_mae = float(np.abs(valid - bunch.target[data.rows["valid"]]).mean())
    assert out["best_value"] == pytest.approx(val_mae, rel=1e-4)
    assert 40 < val_mae < 200  # units of the target (spread ~77), not standardised ones

    final = mlflow.pyfunc.load_model(out["final_fit"]["registered_uri"])
    test = final.predict(frame.iloc[data.rows["test"]])["prediction"].to_numpy()
    test_mae = float(np.abs(test - bunch.target[data.rows["test"]]).mean())
    logged = MlflowClient(uri).get_run(out["parent_run_id"]).data.metrics
    assert logged["test_mae"] == pytest.approx(test_mae, rel=1e-4)
    keras_model = final.unwrap_python_model().keras_model
    standardised = keras_model.predict(data.x_test, verbose=0)[:, 0]
    target = data.recipe["target"]
    np.testing.assert_allclose(test, standardised * target["scale"] + target["shift"], rtol=1e-5)
