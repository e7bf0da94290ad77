"""`hpsearch report`, `best` and `compare` against real searches in a real sqlite MLflow
store, and the HTML report opened in headless Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests import shared_ray
from tests.browser import chromium, console_errors
from tests.in_process import hpsearch as inproc
from tests.spaces import tiny_space_text

HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))
SPACE = tiny_space_text(
    name="rep-digits",
    objective={"metric": "val_accuracy", "direction": "max"},
    hyperparameters={
        "n_hidden": {"int": [1, 2]},
        "n_neurons": {"int": [16, 64]},
        "learning_rate": {"float": [1.0e-3, 1.0e-2], "log": True},
        "batch_size": 64,
    },
    search={"max_trials": 3, "seed": 7, "hyperband": {"factor": 2}},
)


def hp(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HPSEARCH, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two real searches (random, hyperband) in one experiment of a sqlite store."""
    root = tmp_path_factory.mktemp("report")
    space = root / "space.yaml"
    space.write_text(SPACE)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    runs = []
    for strategy in ("random", "hyperband"):
        done = inproc("run", str(space), "--strategy", strategy, "--tracking-uri", uri,
                  "--output", str(root / "out"), "--json", cwd=root)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout))
        assert Path(runs[-1]["report"]).name == "index.html"  # `run` reports on its own
        assert (
            Path(runs[-1]["report"]).parent
            == root / "out" / "rep-digits" / runs[-1]["parent_run_id"] / "report"
        )
    return {"root": root, "uri": uri, "runs": runs, "space": space}


def _children(uri: str, experiment: str) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    return [r for r in client.search_runs([exp.experiment_id])
            if r.data.tags.get("hpsearch.role") == "trial"]  # fmt: skip


@pytest.mark.slow
def test_report_holds_every_trial_with_mlflow_values_and_logs_itself(store: dict[str, Any]) -> None:
    """The CSV has one row per trial of both searches, objectives equal MLflow's, the
    Markdown has the summary table, and each parent run carries the report."""
    from mlflow.tracking import MlflowClient

    out = store["root"] / "rep"
    done = inproc("report", "--experiment", "rep-digits", "--tracking-uri", store["uri"],
              "-o", str(out), cwd=store["root"])  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "report: " in done.stdout and "Winner: " in done.stdout
    csv = pd.read_csv(out / "trials.csv", dtype={"trial_id": str})
    assert len(csv) == sum(r["trials"] for r in store["runs"])
    children = _children(store["uri"], "rep-digits")
    assert len(children) == len(csv)
    mlflow_values = {r.info.run_id: r.data.metrics.get("objective") for r in children}
    for _, row in csv.iterrows():
        expected = mlflow_values[row["run_id"]]
        assert (pd.isna(row["objective"]) and expected is None) or row["objective"] == expected
    md = (out / "report.md").read_text()
    assert "| search | strategy | backend | status | trials | finished | failed | epochs |" in md
    assert "| random |" in md and "| hyperband |" in md
    assert "Method: fANOVA" in md
    client = MlflowClient(tracking_uri=store["uri"])
    for run, strategy in zip(store["runs"], ("random", "hyperband"), strict=True):
        note = client.get_run(run["parent_run_id"]).data.tags["mlflow.note.content"]
        assert note.startswith(f"**{strategy}** search on **keras-tuner** of `rep-digits`")
        assert f"Best val_accuracy = **{run['best_value']:.4f}**" in note
        own = {a.path for a in client.list_artifacts(run["parent_run_id"], "report")}
        assert {"report/index.html", "report/report.md", "report/trials.csv"} <= own


def _report_copies(client: Any, run_ids: list[str]) -> dict[str, int]:
    """Every index.html under the runs' artifacts, by path, with its size."""
    found: dict[str, int] = {}

    def walk(rid: str, path: str | None) -> None:
        for a in client.list_artifacts(rid, path):
            if a.is_dir:
                walk(rid, a.path)
            elif a.path.endswith("index.html"):
                found[f"{rid}/{a.path}"] = a.file_size

    for rid in run_ids:
        walk(rid, None)
    return found


@pytest.mark.slow
def test_a_report_over_several_searches_stores_plotly_js_once(
    store: dict[str, Any], tmp_path: Path
) -> None:
    """The full report (plotly.js inlined) lives on the oldest search it covers; the other
    holds a 1 KB page naming it, and both carry a tag with its URI. Made again, the store
    still holds one copy more than before: this report's."""
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store["uri"])
    home, other = (r["parent_run_id"] for r in store["runs"])  # oldest first

    def full_copies() -> set[str]:
        return {p for p, size in _report_copies(client, [home, other]).items() if size > 10**6}

    before = full_copies()
    assert {f"{home}/report/index.html", f"{other}/report/index.html"} <= before  # their own
    for _ in range(2):
        done = inproc("report", "--experiment", "rep-digits", "--tracking-uri", store["uri"],
                      "-o", str(tmp_path / "cmp"), cwd=store["root"])  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert full_copies() == before | {f"{home}/reports/cmp/index.html"}
    copies = _report_copies(client, [home, other])
    assert copies[f"{other}/reports/cmp/index.html"] < 2_000
    assert {a.path for a in client.list_artifacts(other, "reports/cmp")} == {
        "reports/cmp/index.html"
    }
    uri = f"runs:/{home}/reports/cmp/index.html"
    for rid in (home, other):
        assert client.get_run(rid).data.tags["hpsearch.report/reports/cmp"] == uri
    mlflow.set_tracking_uri(store["uri"])
    pointer = mlflow.artifacts.load_text(f"runs:/{other}/reports/cmp/index.html")
    assert f"parent run <code>{home}</code>" in pointer and "reports/cmp/index.html" in pointer
    stored = mlflow.artifacts.load_text(uri)
    assert stored == (tmp_path / "cmp" / "index.html").read_text()  # the page, as written


@pytest.mark.slow
def test_html_report_renders_every_plot_in_a_real_browser(
    store: dict[str, Any], tmp_path: Path
) -> None:
    """Headless Chromium opens index.html offline: one rendered plot per plot element
    declared, no JavaScript errors in the console, and a screenshot."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    out = tmp_path / "rep"
    done = inproc("report", "--experiment", "rep-digits", "--tracking-uri", store["uri"],
              "-o", str(out), "--no-log", cwd=store["root"])  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with chromium(tmp_path / "profile") as driver:
        driver.get((out / "index.html").as_uri())
        declared = int(driver.find_element(By.TAG_NAME, "body").get_attribute("data-plots"))
        assert declared == 6  # 3 best-so-far, learning curves, parallel coords, importance

        def rendered(d: Any) -> bool:
            return len(d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")) >= declared

        WebDriverWait(driver, 60).until(rendered)
        plots = driver.find_elements(By.CSS_SELECTOR, "div.plotly-graph-div")
        assert len(plots) == declared
        for plot in plots:  # every plot drew data, not an empty frame
            traces = driver.execute_script("return arguments[0].data.length", plot)
            assert traces >= 1
        dims = {  # the space's log range on a log10 axis, its int ranges with int ticks
            d["label"]: d
            for d in driver.execute_script("return arguments[0].data[0].dimensions", plots[4])
        }
        lr = dims["learning_rate (log)"]
        assert lr["range"] == [-3, -2] and lr["ticktext"] == ["0.001", "0.002", "0.005", "0.01"]
        for name in {"n_hidden", "n_neurons"} & set(dims):
            assert all(float(t).is_integer() for t in dims[name]["tickvals"])
        for pre in driver.find_elements(By.TAG_NAME, "pre"):  # the commands, whole
            width = driver.execute_script("return [arguments[0].scrollWidth, "
                                          "arguments[0].clientWidth]", pre)  # fmt: skip
            assert width[0] <= width[1]
        assert console_errors(driver) == []
        text = driver.find_element(By.TAG_NAME, "body").text
        assert "Winner: " in text and "What to try next" in text
        driver.set_window_size(1400, 4200)
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 50_000


@pytest.mark.slow
def test_best_prints_the_best_trial_and_a_model_that_loads(store: dict[str, Any]) -> None:
    """`best --json` agrees with MLflow's best child, and its model URI loads and predicts."""
    import mlflow
    import numpy as np

    done = inproc("best", "--experiment", "rep-digits", "--tracking-uri", store["uri"], "--json",
              cwd=store["root"])  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    top = json.loads(done.stdout)
    children = [r for r in _children(store["uri"], "rep-digits")
                if r.data.tags["hpsearch.status"] == "FINISHED"]  # fmt: skip
    best = max(children, key=lambda r: r.data.metrics["objective"])
    assert top["value"] == best.data.metrics["objective"]
    assert top["params"]["n_neurons"] == int(best.data.params["n_neurons"])
    assert top["parent_run_id"] == best.data.tags["mlflow.parentRunId"]
    mlflow.set_tracking_uri(store["uri"])
    model = mlflow.pyfunc.load_model(top["model_uri"])
    from sklearn.datasets import load_digits

    raw = pd.DataFrame(np.zeros((3, 64)), columns=load_digits().feature_names)  # raw pixels
    assert model.predict(raw).shape == (3, 11)  # label, then a probability per digit

    one = store["runs"][0]["parent_run_id"]
    plain = inproc("best", "--run-id", one, "--tracking-uri", store["uri"], cwd=store["root"])
    assert plain.returncode == 0, plain.stderr
    assert f"search {one}" in plain.stdout
    # the searched params, in the space's order; the fixed ones only counted
    listed = [line.split(" = ")[0].strip() for line in plain.stdout.splitlines() if " = " in line]
    assert listed[1:] == ["n_hidden", "n_neurons", "learning_rate"], plain.stdout
    assert "fixed settings: --verbose lists them" in plain.stdout
    assert "batch_size" not in plain.stdout
    verbose = inproc("best", "--run-id", one, "--tracking-uri", store["uri"], "--verbose",
                     cwd=store["root"])  # fmt: skip
    assert "fixed:\n" in verbose.stdout and "  batch_size = 64" in verbose.stdout
    assert list(top["params"])[:3] == ["n_hidden", "n_neurons", "learning_rate"]
    assert top["searched"] == ["n_hidden", "n_neurons", "learning_rate"]


@pytest.mark.slow
def test_report_and_best_refuse_what_holds_no_search(store: dict[str, Any]) -> None:
    """Unknown experiment, an experiment with no searches, a child run id: exit 2, one line."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store["uri"])
    if client.get_experiment_by_name("empty") is None:
        client.create_experiment("empty")
    child = _children(store["uri"], "rep-digits")[0].info.run_id
    cases = [
        (["report", "--experiment", "nope"], "no MLflow experiment named 'nope'"),
        (["report", "--experiment", "empty"], "experiment 'empty' has no hpsearch searches yet"),
        (["best", "--experiment", "empty"], "experiment 'empty' has no hpsearch searches yet"),
        (["report", "--run-id", child], "is not an hpsearch search"),
        (["report", "--run-id", "0" * 32], "no run '" + "0" * 32 + "'"),
    ]
    for args, message in cases:
        done = inproc(*args, "--tracking-uri", store["uri"], cwd=store["root"])
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.strip().count("\n") == 0 and message in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategies", "random"], "give --budget-epochs N or --budget-time SECONDS"),
        (["--strategies", "random,bogus", "--budget-epochs", "4"], "unknown strategy 'bogus'"),
        (["--backends", "torch", "--budget-epochs", "4"], "unknown backend 'torch'"),
        (["--strategies", "asha", "--budget-epochs", "4"], "no strategy can run"),
        (["--budget-epochs", "0"], "--budget-epochs: must be at least 1"),
        (["--budget-epochs", "4", "--budget-time", "9"], "give one budget, not both"),
    ],
)
def test_compare_rejects_bad_input_with_exit_2(
    args: list[str], message: str, tmp_path: Path
) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    done = hp("compare", str(space), *args, cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stderr.strip().count("\n") == 0, done.stderr
    assert not (tmp_path / "mlflow.db").exists()  # refused before touching the store


def test_report_and_best_need_a_target(tmp_path: Path) -> None:
    for command in ("report", "best"):
        done = hp(command, cwd=tmp_path, timeout=60)
        assert done.returncode == 2
        assert done.stderr.strip() == "error: give --experiment NAME or --run-id ID"


@pytest.mark.slow
def test_compare_spends_one_epoch_budget_per_search_on_both_engines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each search trains the budget and no more (Keras Tuner runs one trial at a time;
    Ray's two concurrent trials may each add the epoch they were in), all are tagged as one
    comparison, the report names a winner, and the Ray searches share one Ray. The i-epoch
    baseline joins them: 4 configurations at 1 epoch, the best continued to 2, 5 epochs."""
    from contextlib import contextmanager

    from mlflow.tracking import MlflowClient

    from hpsearch.backends import ray_tune

    held: list[dict[str, Any]] = []
    real_held_ray = ray_tune.held_ray

    @contextmanager
    def counted(**options: Any) -> Any:
        held.append(options)
        with real_held_ray(**options):
            yield

    monkeypatch.setattr(ray_tune, "held_ray", counted)

    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    budget = 5
    shared_ray.start()
    done = inproc("compare", str(space), "--strategies", "random,hyperband",
              "--backends", "keras-tuner,ray", "--budget-epochs", str(budget), "--seed", "3",
              "--max-concurrent", "2", "--tracking-uri", uri, "-o", str(tmp_path / "cmp"),
              "--json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert len(out["searches"]) == 5 and out["verdict"][0].startswith("Winner: ")
    assert sum(line.startswith("Baseline i-epoch/keras-tuner") for line in out["verdict"]) == 1
    assert held == [{"verbose": False, "max_concurrent": 2}]  # once, for both Ray searches
    assert Path(out["report"]).exists()
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("rep-digits")
    parents = client.search_runs(
        [exp.experiment_id], f"tags.`hpsearch.comparison` = '{out['comparison']}'"
    )
    assert len(parents) == 5
    assert sorted(p.data.params["strategy"] for p in parents).count("i-epoch") == 1
    csv = pd.read_csv(tmp_path / "cmp" / "trials.csv", dtype={"trial_id": str})
    for parent in parents:
        spent = int(csv[csv["search_run_id"] == parent.info.run_id]["epochs"].sum())
        backend = parent.data.tags["hpsearch.backend"]
        overshoot = 0 if backend == "keras-tuner" else 1
        assert budget <= spent <= budget + overshoot, (backend, spent)
        assert parent.data.tags["hpsearch.budget_epochs"] == str(budget)
        assert parent.data.tags["hpsearch.stopped_by"].startswith("epoch budget spent")
        assert parent.info.status == "FINISHED"


ALL_FAIL = """
name: all-fail
dataset: {name: diabetes, scale: none}
hyperparameters:
  learning_rate: 10.0
  n_neurons: {int: [16, 64]}
  optimizer: sgd
  batch_size: 16
training: {epochs: 2}
search: {max_trials: 2, seed: 1}
"""


@pytest.mark.slow
def test_report_of_real_edge_searches_every_trial_failed_and_a_single_trial(
    tmp_path: Path,
) -> None:
    """A search whose trials all diverge reports its errors and no winner; a one-trial
    search reports its value and says importance needs more trials."""
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    fail_space, one_space = tmp_path / "fail.yaml", tmp_path / "one.yaml"
    fail_space.write_text(ALL_FAIL)
    one_space.write_text(SPACE)
    runs = [
        inproc("run", str(fail_space), "--tracking-uri", uri, "--output", str(tmp_path / "o"),
           "--json", cwd=tmp_path),
        inproc("run", str(one_space), "--max-trials", "1", "--tracking-uri", uri,
           "--output", str(tmp_path / "o"), "--json", "--no-report", cwd=tmp_path),
    ]  # fmt: skip
    for done in runs:
        assert done.returncode == 0, done.stderr[-3000:]
    failed_run, one_run = (json.loads(d.stdout) for d in runs)
    assert failed_run["finished"] == 0 and Path(failed_run["report"]).exists()
    assert one_run["report"] is None  # --no-report

    failed = inproc("report", "--experiment", "all-fail", "--tracking-uri", uri, "-o",
                str(tmp_path / "rf"), cwd=tmp_path)  # fmt: skip
    assert failed.returncode == 0, failed.stderr[-3000:]
    assert "No search finished a trial: there is no winner." in failed.stdout
    md = (tmp_path / "rf" / "report.md").read_text()
    assert md.count("objective is NaN or inf") == 2
    assert "| random | keras-tuner | FINISHED | 2 | 0 | 2 |" in md

    one = inproc("report", "--run-id", one_run["parent_run_id"], "--tracking-uri", uri, "-o",
             str(tmp_path / "r1"), cwd=tmp_path)  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    assert f"reached val_accuracy = {one_run['best_value']:.4f} in 2 epochs" in one.stdout
    md = (tmp_path / "r1" / "report.md").read_text()
    assert "needs at least 4 finished trials (have 1)" in md
    assert len(pd.read_csv(tmp_path / "r1" / "trials.csv")) == 1
