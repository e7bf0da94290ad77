"""The final refit: best config retrained on train+valid, scored once on test, registered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.in_process import hpsearch
from tests.raw_rows import raw_rows

HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))
ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "search_spaces" / "digits.yaml"
PENGUINS = ROOT / "search_spaces" / "penguins.yaml"


def _hpsearch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HPSEARCH, *args], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )


def _search(tmp_path: Path, uri: str, space: Path, *extra: str) -> dict[str, Any]:
    done = hpsearch(
        "run",
        str(space),
        "--json",
        "--no-report",
        "--tracking-uri",
        uri,
        "--output",
        str(tmp_path / "out"),
        *extra,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.mark.slow
def test_refit_logs_test_metrics_and_registers_a_loadable_model(tmp_path: Path) -> None:
    """`refit --json` scores on test, logs on the parent, registers a model pyfunc loads."""
    import mlflow
    import numpy as np
    from mlflow import MlflowClient

    from hpsearch.data import load_dataset
    from hpsearch.space import load_space

    uri = f"sqlite:///{tmp_path}/m.db"
    search = _search(tmp_path, uri, DIGITS, "--max-trials", "2", "--epochs", "2")
    pid = search["parent_run_id"]
    done = _hpsearch(tmp_path, "refit", pid, "--json", "--tracking-uri", uri)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)  # exactly one JSON object on stdout
    assert set(out["test_metrics"]) == {"test_accuracy", "test_loss"}
    assert 0.0 <= out["test_metrics"]["test_accuracy"] <= 1.0
    assert out["train_rows"] + out["test_rows"] == 1797
    assert (out["registered_name"], out["registered_version"]) == ("digits-mlp", "1")
    assert out["registered_uri"] == "models:/digits-mlp/1"

    client = MlflowClient(uri)
    parent = client.get_run(pid)
    trial = client.get_run(parent.data.tags["hpsearch.best_trial_run_id"])
    assert parent.info.status == "FINISHED"
    for key, value in out["test_metrics"].items():
        assert parent.data.metrics[key] == pytest.approx(value)
    epochs = trial.data.metrics["epochs"]
    assert parent.data.metrics["refit_epochs"] == out["refit_epochs"] == epochs
    assert parent.data.tags["hpsearch.final_model_uri"] == out["model_uri"]
    assert parent.data.tags["hpsearch.registered_model_uri"] == out["registered_uri"]

    version = client.get_model_version("digits-mlp", "1")
    for name in search["best_params"]:
        assert version.tags[f"param.{name}"] == parent.data.params[f"best_{name}"]
    assert float(version.tags["test_accuracy"]) == pytest.approx(
        out["test_metrics"]["test_accuracy"], abs=1e-5
    )
    assert version.tags["parent_run_id"] == pid
    assert version.tags["space_sha256"] == parent.data.tags["hpsearch.space_sha256"]

    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(out["registered_uri"])
    data = load_dataset(load_space(DIGITS).dataset, 42)  # the search's split
    answers = model.predict(raw_rows("digits", data, "test"))  # the raw pixels of the test rows
    assert answers.shape == (len(data.x_test), 11)  # label, then a probability per class
    accuracy = float((answers["label"] == np.asarray(data.class_names)[data.y_test]).mean())
    assert accuracy == pytest.approx(out["test_metrics"]["test_accuracy"], abs=1e-6)


@pytest.mark.slow
def test_penguins_run_final_fit_beats_the_logistic_regression_baseline(
    tmp_path: Path,
) -> None:
    """`run --final-fit` on the shipped penguins space (4 trials): test accuracy >= 0.97
    (the seed's logistic regression: 0.971), the test metrics on the parent run, and the
    registered model loading from its models:/ URI and predicting one row per example."""
    import mlflow
    from mlflow import MlflowClient

    from hpsearch.data import load_dataset
    from hpsearch.space import load_space

    uri = f"sqlite:///{tmp_path}/m.db"
    out = _search(tmp_path, uri, PENGUINS, "--max-trials", "4", "--final-fit")
    fit = out["final_fit"]
    assert fit["test_metrics"]["test_accuracy"] >= 0.97, fit
    assert fit["registered_uri"] == f"models:/penguins-mlp/{fit['registered_version']}"
    metrics = MlflowClient(uri).get_run(out["parent_run_id"]).data.metrics
    assert metrics["test_accuracy"] == pytest.approx(fit["test_metrics"]["test_accuracy"])
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(fit["registered_uri"])
    data = load_dataset(load_space(PENGUINS).dataset, 42)
    answers = model.predict(raw_rows("penguins", data, "test")[:5])  # the CSV's own columns
    assert list(answers.columns) == ["label", *data.class_names]


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Search runs made directly in MLflow (no training), once for the module: a parent
    whose only trial failed, a plain run that is no search, a parent with two finished
    trials (no best-trial tag, as a killed search leaves it) and the store's ``uri``."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('fake')}/m.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("fake")
    role, parent_tag = "hpsearch.role", "mlflow.parentRunId"
    empty = client.create_run(exp, tags={role: "search"}).info.run_id
    client.log_param(empty, "direction", "max")
    failed = client.create_run(exp, tags={role: "trial", parent_tag: empty}).info.run_id
    client.set_tag(failed, "hpsearch.status", "FAILED")
    client.set_terminated(failed, "FAILED")
    client.set_terminated(empty, "FAILED")
    plain = client.create_run(exp).info.run_id
    two = client.create_run(exp, tags={role: "search"}).info.run_id
    client.log_param(two, "objective", "val_loss")
    client.log_param(two, "direction", "min")
    client.log_text(two, "name: fake\n", "space/space.yaml")
    kids = {}
    for name, loss, epochs in (("worse", 0.5, 9), ("better", 0.2, 4)):
        kid = client.create_run(exp, tags={role: "trial", parent_tag: two}).info.run_id
        client.log_param(kid, "n_hidden", "2")
        client.log_metric(kid, "objective", loss)
        client.log_metric(kid, "epochs", epochs)
        for step in range(1, epochs + 1):
            client.log_metric(kid, "val_loss", loss, step=step)
        client.set_tag(kid, "hpsearch.status", "FINISHED")
        client.set_terminated(kid, "FINISHED")
        kids[name] = kid
    return {"uri": uri, "empty": empty, "failed": failed, "plain": plain, "two": two, **kids}


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("missing", "no run '0123456789abcdef0123456789abcdef'"),
        ("failed", "is a trial (a child run) of search"),
        ("empty", "has no finished trial to refit"),
        ("plain", "is not an hpsearch search"),
    ],
)
def test_refit_of_a_run_that_is_no_finished_search_is_one_line(
    tmp_path: Path, fake: dict[str, str], which: str, message: str
) -> None:
    """A missing run, a trial's run, a search with no finished trial: exit 2, one line."""
    runs = fake | {"missing": "0123456789abcdef0123456789abcdef"}
    done = hpsearch("refit", runs[which], "--tracking-uri", fake["uri"], "--json", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert message in lines[0]
    if which == "failed":
        assert fake["empty"] in lines[0]


def test_unfinished_search_refits_its_best_finished_trial(fake: dict[str, str]) -> None:
    """Without a best-trial tag (a killed search), the best finished child is the one."""
    from hpsearch.tracking import load_search_for_refit

    found = load_search_for_refit(fake["two"], tracking_uri=fake["uri"])
    assert found["trial_run_id"] == fake["better"]  # val_loss is minimised
    assert found["trial_epochs"] == 4
    assert found["trial_params"] == {"n_hidden": 2}
    assert (found["space_text"], found["space_file"]) == ("name: fake\n", "space.yaml")
    assert found["experiment"] == "fake"


def _plan() -> Any:
    """A RefitPlan as load_plan would make it, without MLflow or data: 80+20 rows to fit,
    25 to test."""
    from types import SimpleNamespace

    import numpy as np

    from hpsearch.refit import RefitPlan

    search = {
        "experiment": "fake",
        "parent_run_id": "p1",
        "trial_id": "3",
        "trial_run_id": "t1",
        "trial_params": {"n_hidden": 2, "optimizer": "adam"},
        "tags": {"hpsearch.space_sha256": "abc"},
    }
    data = SimpleNamespace(
        name="digits", x_train=np.zeros(80), x_valid=np.zeros(20), x_test=np.zeros(25)
    )
    space = SimpleNamespace(sha256="unused")
    params = {"n_hidden": 2, "optimizer": "adam", "dropout": 0.0}
    return RefitPlan(search, space, data, 42, params, 7)  # type: ignore[arg-type]


def test_refit_version_tags_and_description_say_where_the_model_came_from() -> None:
    """The registered version carries each best param, the test metrics (6 digits), the
    runs and space it came from; its description names the rows and the score."""
    from hpsearch.refit import description, version_tags

    plan = _plan()
    metrics = {"test_accuracy": 0.9612345678, "test_loss": 0.125}
    assert plan.fit_rows == 100
    assert version_tags(plan, metrics) == {
        "param.n_hidden": "2",
        "param.optimizer": "adam",
        "test_accuracy": "0.961235",
        "test_loss": "0.125",
        "parent_run_id": "p1",
        "trial_run_id": "t1",
        "space_sha256": "abc",
        "refit_epochs": "7",
        "dataset": "digits",
    }
    assert description(plan, metrics) == (
        "Best trial 3 of search p1, refit on train+valid (100 rows, 7 epochs) and scored "
        "once on the held-out test split (25 rows): test_accuracy = 0.9612, test_loss = "
        "0.1250. It takes the dataset's raw columns and answers with labels and class "
        "probabilities, or predictions in the target's units: the encoding and scaling of "
        "the train split live inside it."
    )
    plan.search["tags"] = {}  # an older search without the tag: the space's own hash
    assert version_tags(plan, metrics)["space_sha256"] == "unused"
