"""Real searches on digits (Keras training, Keras Tuner, a real sqlite MLflow store)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpsearch.api import SearchSummary, prepare, run_search
from hpsearch.space import parse_space
from tests.raw_rows import raw_rows
from tests.spaces import MLP, tiny_space_text

pytestmark = pytest.mark.slow

DIGITS: dict[str, Any] = {
    "name": "digits-test",
    "objective": "val_accuracy",
    "hyperparameters": MLP,
    "training": {"patience": 1},
    "search": {
        "max_trials": 3,
        "seed": 7,
        "hyperband": {"max_epochs": 2, "factor": 2},
        "bayesian": {"initial_points": 2},
    },
}
SPACE = tiny_space_text(DIGITS)


def _search(tmp: Path, strategy: str, **kwargs: Any) -> SearchSummary:
    space = prepare(parse_space(SPACE, source=tmp / "space.yaml"), strategy=strategy)
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    return run_search(space, tracking_uri=uri, output=tmp / "out", **kwargs)


@pytest.fixture(scope="module")
def kt_random(tmp_path_factory: pytest.TempPathFactory) -> SearchSummary:
    """The seeded random search: checked below and compared with a second run of it."""
    return _search(tmp_path_factory.mktemp("random"), "random")


@pytest.fixture(scope="module", params=["random", "hyperband", "bayesian"])
def searched(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if request.param == "random":
        return "random", request.getfixturevalue("kt_random")
    tmp = tmp_path_factory.mktemp(request.param)
    return request.param, _search(tmp, request.param)


def _client(summary: SearchSummary) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=summary.tracking_uri)


def _children(summary: SearchSummary) -> list[Any]:
    client = _client(summary)
    exp = client.get_experiment_by_name(summary.experiment)
    query = f"tags.`mlflow.parentRunId` = '{summary.parent_run_id}'"
    return list(client.search_runs([exp.experiment_id], filter_string=query, max_results=100))


def test_one_parent_and_one_child_per_trial(searched: Any) -> None:
    strategy, summary = searched
    client = _client(summary)
    exp = client.get_experiment_by_name("digits-test")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [p.info.run_id for p in parents] == [summary.parent_run_id]
    assert len(summary.frame) == 3  # the tuner's trial count (max_trials caps Hyperband too)
    children = _children(summary)
    assert len(children) == len(summary.frame) == len(runs) - 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.params["strategy"] == strategy
    assert parent.data.params["backend"] == "keras-tuner"
    assert len(parent.data.tags["hpsearch.space_sha256"]) == 64
    assert parent.data.tags["hpsearch.version"]
    assert parent.data.tags["mlflow.runName"].startswith(f"{strategy}-")
    artifacts = {a.path for a in client.list_artifacts(summary.parent_run_id)}
    assert {"space", "trials.csv", "preprocessing.json", "data_summary.json"} <= artifacts
    with tempfile.TemporaryDirectory() as folder:
        path = client.download_artifacts(summary.parent_run_id, "data_summary.json", folder)
        data = json.loads(Path(path).read_text())
    assert (data["dataset"], data["task"], len(data["features"])) == ("digits", "multiclass", 64)
    assert data["rows"] == 1797 and sum(data["classes"].values()) == 1797
    best = summary.best
    assert best is not None
    assert parent.data.metrics["best_objective"] == pytest.approx(best.objective)
    assert parent.data.params["best_learning_rate"] == str(best.params["learning_rate"])


def test_child_params_equal_sampled_params_and_histories(searched: Any) -> None:
    strategy, summary = searched
    frame = summary.frame.set_index("trial_id")
    client = _client(summary)
    for run in _children(summary):
        tid = run.data.tags["hpsearch.trial_id"]
        row = frame.loc[tid]
        sampled = {
            c.removeprefix("params."): row[c] for c in frame.columns if c.startswith("params.")
        }
        assert run.data.params == {k: str(v) for k, v in sampled.items()}
        assert run.info.status == "FINISHED" == row["status"]
        assert run.info.run_name.startswith(f"trial-{tid} ")
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        steps = sorted(m.step for m in history)
        assert len(steps) == row["epochs"] >= 1
        assert steps == list(range(steps[0], steps[0] + len(steps)))
        assert run.data.metrics["objective"] == pytest.approx(row["objective"])
        assert max(m.value for m in history) == pytest.approx(row["objective"])
        if strategy == "hyperband":
            assert run.data.tags["hpsearch.bracket"] == str(row["bracket"])
            assert run.data.tags["hpsearch.round"] == str(row["round"])


def test_epoch_budget_follows_the_strategy(searched: Any) -> None:
    strategy, summary = searched
    frame = summary.frame
    if strategy != "hyperband":
        assert list(frame["epochs"]) == [2, 2, 2]  # training.epochs, early stopping can't cut
        assert frame["bracket"].isna().all() and frame["round"].isna().all()
        return
    # max_epochs 2, factor 2: two 1-epoch trials, then the better one continues to epoch 2.
    assert list(frame["round"]) == [0, 0, 1]
    assert list(frame["epochs"]) == [1, 1, 1]
    run_id = next(r.info.run_id for r in _children(summary) if r.data.tags["hpsearch.round"] == "1")
    history = _client(summary).get_metric_history(run_id, "val_accuracy")
    assert [m.step for m in history] == [2]


def test_best_model_loads_and_reproduces_the_best_objective(searched: Any) -> None:
    import mlflow.pyfunc

    from hpsearch.data import load_dataset

    _, summary = searched
    assert summary.best_model_uri and summary.best_model_uri.startswith("models:/")
    model = mlflow.pyfunc.load_model(summary.best_model_uri)
    space = parse_space(SPACE)
    data = load_dataset(space.dataset, 7)
    answers = model.predict(raw_rows(space.dataset.name, data, "valid"))  # raw pixels
    probs = answers[data.class_names].to_numpy()
    assert probs.shape == (len(data.x_valid), 10)
    accuracy = float(np.mean(probs.argmax(axis=1) == data.y_valid))
    assert accuracy == pytest.approx(summary.best.objective, abs=1e-6)


def test_trials_csv_and_load_trials_match_the_frame(searched: Any) -> None:
    import pandas as pd

    from hpsearch import load_trials

    _, summary = searched
    assert summary.trials_csv == summary.workdir / "trials.csv"
    assert summary.workdir.parts[-2:] == ("digits-test", summary.parent_run_id)
    on_disk = pd.read_csv(summary.trials_csv, dtype={"trial_id": str})
    assert list(on_disk["trial_id"]) == list(summary.frame["trial_id"])
    back = load_trials(
        "digits-test", tracking_uri=summary.tracking_uri, parent_run_id=summary.parent_run_id
    )
    cols = ["trial_id", "status", "epochs", *[c for c in summary.frame if c.startswith("params.")]]
    left = summary.frame[cols].reset_index(drop=True)
    right = back[cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    assert np.allclose(back["objective"], summary.frame["objective"])


def test_same_seed_gives_the_same_trial_table(tmp_path: Path, kt_random: SearchSummary) -> None:
    a = kt_random.frame
    b = _search(tmp_path / "b", "random", log_model=False).frame
    drop = ["seconds"]
    import pandas as pd

    pd.testing.assert_frame_equal(a.drop(columns=drop), b.drop(columns=drop))
    c = prepare(parse_space(SPACE), strategy="random", seed=8)
    other = run_search(
        c, tracking_uri=f"sqlite:///{tmp_path / 'c.db'}", output=tmp_path / "c", log_model=False
    ).frame
    assert not a["params.learning_rate"].equals(other["params.learning_rate"])


def test_a_failing_trial_is_recorded_and_the_search_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpsearch.backends.keras_tuner import hypermodel as adapter  # where trials build

    real = adapter.build_for

    def flaky(params: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if params["optimizer"] == "sgd":
            raise RuntimeError("boom: sgd is broken today")
        return real(params, *args, **kwargs)

    monkeypatch.setattr(adapter, "build_for", flaky)
    summary = _search(tmp_path, "random")
    frame = summary.frame
    failed = frame[frame["status"] == "FAILED"]
    assert len(frame) == 3 and 0 < len(failed) < 3, frame[["params.optimizer", "status"]]
    assert (failed["params.optimizer"] == "sgd").all()
    assert failed["error"].str.contains("RuntimeError: boom").all()
    assert failed["objective"].isna().all()
    client = _client(summary)
    for run in _children(summary):
        if run.data.params["optimizer"] == "sgd":
            assert run.info.status == "FAILED"
            assert "boom" in run.data.tags["hpsearch.error"]
            assert run.data.tags["hpsearch.error_type"] == "RuntimeError"
            assert "traceback.txt" in {a.path for a in client.list_artifacts(run.info.run_id)}
    assert summary.best is not None and summary.best.params["optimizer"] == "adam"


def test_cli_run_json_in_a_real_subprocess(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(tiny_space_text(DIGITS, search={"max_trials": 2}))
    cmd = [
        sys.executable,
        "-m",
        "hpsearch.cli",
        "run",
        str(space),
        "--strategy",
        "random",
        "--epochs",
        "1",
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'cli.db'}",
        "--output",
        str(tmp_path / "out"),
        "--experiment",
        "cli-exp",
        "--json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    out = json.loads(lines[0])
    assert out["experiment"] == "cli-exp" and out["trials"] == 2
    assert set(out["best_params"]) >= {"n_hidden", "n_neurons", "learning_rate", "optimizer"}
    assert math.isfinite(out["best_value"])
    assert Path(out["trials_csv"]).is_file()
    assert Path(out["trials_csv"]).parent.name == out["parent_run_id"]
    assert "Traceback" not in done.stderr and "cudart" not in done.stderr


@pytest.mark.parametrize(
    ("strategy", "backend"),
    [("hyperband", "keras-tuner"), ("hyperband", "ray"), ("asha", "ray")],
)
def test_epochs_flag_caps_every_trial_hyperband_and_asha_included(
    tmp_path: Path, strategy: str, backend: str
) -> None:
    """`--epochs 2` on a space whose Hyperband max_epochs is 6 (as the shipped digits.yaml
    sets one): no trial trains more than 2 epochs, and the longest trains exactly 2, on
    both engines. The flag wins over the file."""
    from tests import shared_ray
    from tests.in_process import hpsearch

    text = tiny_space_text(
        DIGITS,
        dataset={"max_rows": 500},
        training={"epochs": 6, "patience": 0},
        search={"hyperband": {"max_epochs": 6, "factor": 3}},
    )
    space = tmp_path / "space.yaml"
    space.write_text(text)
    args = ["run", str(space), "--strategy", strategy, "--backend", backend, "--epochs", "2",
            "--max-trials", "4", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}",
            "--output", str(tmp_path / "out"), "--json", "--no-report"]  # fmt: skip
    if backend == "ray":
        shared_ray.start()
        args += ["--max-concurrent", "2"]
    done = hpsearch(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    import pandas as pd

    frame = pd.read_csv(json.loads(done.stdout)["trials_csv"])
    assert len(frame) >= 2 and (frame["status"] == "FINISHED").all()
    assert frame["epochs"].max() == 2, frame[["trial_id", "epochs"]]


def test_a_terminal_is_told_what_happens_before_the_first_trial(tmp_path: Path) -> None:
    """On a terminal, `hpsearch run` says what it is doing from its first second: loading
    the data, the data, the store, the engine, then the trials (off a terminal only the
    data and the trials: a log or a pipe keeps an error to its one line). A warning that
    changes the search (--max-trials cutting Hyperband's schedule) comes before the first
    trial, not after the search."""
    import os
    import pty
    import select

    space = tmp_path / "space.yaml"
    space.write_text(tiny_space_text(DIGITS, dataset={"max_rows": 300}))
    master, slave = pty.openpty()
    args = [str(Path(sys.executable).with_name("hpsearch")), "run", str(space), "--max-trials",
            "1", "--strategy", "hyperband", "--no-report", "--tracking-uri",
            f"sqlite:///{tmp_path / 'm.db'}", "--output", str(tmp_path / "out")]  # fmt: skip
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=300)
    os.close(master)
    text = seen.decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    steps = ["loading data: digits ...", "data: digits",
             "warning: hyperband: max_trials=1 cuts the bracket schedule of 5 trials",
             "opening the MLflow store:", "starting keras-tuner",
             "hyperband search on keras-tuner"]  # fmt: skip
    where = [text.find(step) for step in steps]
    assert -1 not in where and where == sorted(where), (where, text[:2000])
    # how soon the first line comes is measured in benchmarks/cli_latency.py, not here
