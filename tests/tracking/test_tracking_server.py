"""hpsearch against a real MLflow tracking server (HTTP, proxied artifacts), and its UI.

One `mlflow server` (sqlite store, `--serve-artifacts`) serves the whole module (the
session's, shared with the sweep lease test). Searches run
through the CLI on both engines; everything is read back through `MlflowClient` on the HTTP
URI, as a team member on another machine would. The UI test drives headless Chromium.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser import browser_missing, chromium, require_browser
from tests.in_process import hpsearch as in_process
from tests.mlflow_server import Server, answers, free_port, stop, wait_http
from tests.spaces import tiny_space_text

HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))
REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 400  # seconds for one CLI call: another suite may share these 2 cores
TRIALS, EPOCHS = 2, 2
USER, PASSWORD = "hpsearch-user-SECRET1", "hpsearch-pass-SECRET2"
SPACE = tiny_space_text(
    name="team-digits",
    objective="val_accuracy",
    hyperparameters={
        "n_hidden": {"int": [1, 2]},
        "n_neurons": {"int": [16, 32]},
        "learning_rate": {"float": [1.0e-3, 1.0e-2], "log": True},
        "batch_size": 64,
    },
    training={"epochs": EPOCHS, "patience": 0},
    search={"strategy": "random", "max_trials": TRIALS, "seed": 7},
)
PARENT_NAME = re.compile(r"^random-(keras-tuner|ray)-\d{8}-\d{6}$")
CHILD_NAME = re.compile(r"^trial-\d{4} \S+=")
PREDICT = """
import json, sys
import mlflow, pandas as pd
from sklearn.datasets import load_digits

digits = load_digits()
x = pd.DataFrame(digits.data[:5], columns=digits.feature_names)  # raw rows, named columns
out = []
for uri in sys.argv[1:]:
    pred = mlflow.pyfunc.load_model(uri).predict(x)
    probs = pred[[str(c) for c in range(10)]]
    out.append({"shape": list(probs.shape), "sums": probs.sum(axis=1).tolist()})
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Search:
    """One finished `hpsearch run`: its process, its --json summary, where it ran."""

    done: subprocess.CompletedProcess[str]
    summary: dict[str, Any]
    cwd: Path
    output: Path


def _env(credentials: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    if credentials:
        env |= {"MLFLOW_TRACKING_USERNAME": USER, "MLFLOW_TRACKING_PASSWORD": PASSWORD}
    return env


def _hpsearch(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HPSEARCH, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
        env=env,
        check=False,
    )


def _run_args(space: Path, uri: str, experiment: str, out: Path, backend: str) -> list[str]:
    args = [
        "run",
        str(space),
        "--tracking-uri",
        uri,
        "--experiment",
        experiment,
        "--output",
        str(out),
        "--json",
    ]
    if backend == "ray":
        args += ["--backend", "ray", "--max-concurrent", "1"]
    return args


def _summary(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The --json object: all of stdout (a test below checks it is exactly one object)."""
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def _search(space: Path, uri: str, experiment: str, cwd: Path, backend: str) -> Search:
    cwd.mkdir(parents=True, exist_ok=True)
    out = cwd / "out"
    args = _run_args(space, uri, experiment, out, backend)
    done = _hpsearch(*args, cwd=cwd, env=_env(credentials=True))
    return Search(done=done, summary=_summary(done), cwd=cwd, output=out)


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _runs(client: Any, experiment: str, query: str = "") -> list[Any]:
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r}"
    return list(client.search_runs([exp.experiment_id], filter_string=query, max_results=1000))


def _children(client: Any, experiment: str, parent_id: str) -> list[Any]:
    return _runs(client, experiment, f"tags.`mlflow.parentRunId` = '{parent_id}'")


def _artifact_paths(client: Any, run_id: str, path: str | None = None) -> list[str]:
    """Every artifact file of a run, listed recursively through the server."""
    out = []
    for item in client.list_artifacts(run_id, path):
        out += _artifact_paths(client, run_id, item.path) if item.is_dir else [item.path]
    return out


def _assert_full_history(client: Any, child: Any) -> None:
    history = client.get_metric_history(child.info.run_id, "val_accuracy")
    assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1)), child.info.run_name
    assert child.data.metrics["epochs"] == EPOCHS


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server(tracking_server: Server) -> Server:
    """The session's real `mlflow server` (tests/conftest.py)."""
    return tracking_server


@pytest.fixture(scope="module")
def space_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("space") / "team.yaml"
    path.write_text(SPACE, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def kt_search(server: Server, space_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Search:
    """A Keras Tuner search logged to the server, with MLflow credentials in its env."""
    cwd = tmp_path_factory.mktemp("kt")
    return _search(space_file, server.uri, "team-kt", cwd, "keras-tuner")


@pytest.fixture(scope="module")
def ray_search(
    server: Server, space_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Search:
    """A Ray Tune search logged to the server, with MLflow credentials in its env."""
    cwd = tmp_path_factory.mktemp("ray")
    return _search(space_file, server.uri, "team-ray", cwd, "ray")


# ------------------------------------------------------------------------- HTTP tracking


def _assert_search_on_server(server: Server, search: Search, backend: str) -> None:
    """One parent with TRIALS nested, finished children with full histories; artifacts
    (trials.csv, the search's report, the best model) on the server's disk only."""
    client = _client(server.uri)
    experiment = search.summary["experiment"]
    exp = client.get_experiment_by_name(experiment)
    assert exp.artifact_location.startswith("mlflow-artifacts:"), exp.artifact_location
    parents = _runs(client, experiment, "tags.`hpsearch.role` = 'search'")
    assert [p.info.run_id for p in parents] == [search.summary["parent_run_id"]]
    parent = parents[0]
    pid = parent.info.run_id
    assert parent.info.status == "FINISHED"
    assert PARENT_NAME.match(parent.info.run_name), parent.info.run_name
    # At a glance on the parent: strategy, backend, best value and best params.
    params = parent.data.params
    assert (params["strategy"], params["backend"]) == ("random", backend)
    assert parent.data.metrics["best_objective"] == pytest.approx(search.summary["best_value"])
    for key, value in search.summary["best_params"].items():
        assert params[f"best_{key}"] == str(value), key

    children = _children(client, experiment, pid)
    assert len(children) == TRIALS == search.summary["trials"]
    assert len(_runs(client, experiment)) == 1 + TRIALS  # nothing logged outside the tree
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["hpsearch.role"] == "trial"
        assert CHILD_NAME.match(child.info.run_name), child.info.run_name
        _assert_full_history(client, child)

    artifacts = _artifact_paths(client, pid)
    assert "trials.csv" in artifacts
    assert "report/index.html" in artifacts, artifacts  # the search's own report
    on_disk = server.artifacts / exp.experiment_id / pid / "artifacts"
    assert (on_disk / "trials.csv").is_file()
    assert (on_disk / "report" / "index.html").is_file()

    model_uri = parent.data.tags["hpsearch.best_model_uri"]
    assert model_uri == search.summary["best_model_uri"] and model_uri.startswith("models:/")
    model_id = model_uri.removeprefix("models:/")
    assert any(model_id in str(p) for p in server.artifacts.rglob("MLmodel")), model_id
    # The client uploaded everything over HTTP: nothing landed in its working directory.
    for local in ("mlruns", "mlartifacts", "mlflow.db"):
        assert not (search.cwd / local).exists(), local


@pytest.mark.slow
def test_keras_tuner_search_logs_everything_through_the_server(
    server: Server, kt_search: Search
) -> None:
    """KT search over HTTP: one parent, nested finished children with per-epoch histories,
    trials.csv, report and best model stored by the server's artifact proxy."""
    _assert_search_on_server(server, kt_search, "keras-tuner")


@pytest.mark.slow
def test_ray_search_logs_everything_through_the_server(server: Server, ray_search: Search) -> None:
    """Ray search over HTTP (trials logged from the driver): same tree and artifacts as KT."""
    _assert_search_on_server(server, ray_search, "ray")


@pytest.mark.slow
def test_best_models_download_through_the_artifact_proxy_and_predict(
    server: Server, kt_search: Search, ray_search: Search, tmp_path: Path
) -> None:
    """A fresh process with only the server URI loads each best model and predicts."""
    uris = [kt_search.summary["best_model_uri"], ray_search.summary["best_model_uri"]]
    env = _env() | {"MLFLOW_TRACKING_URI": server.uri}
    done = subprocess.run(
        [sys.executable, "-c", PREDICT, *uris],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for got in json.loads(done.stdout.strip().splitlines()[-1]):
        assert got["shape"] == [5, 10]  # 5 digits rows in, a probability per digit out
        assert got["sums"] == pytest.approx([1.0] * 5, abs=1e-4)
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.slow
def test_report_and_best_read_back_from_the_server(
    server: Server, kt_search: Search, tmp_path: Path
) -> None:
    """`hpsearch report` and `best --json` work on the HTTP URI and match MlflowClient."""
    import pandas as pd

    client = _client(server.uri)
    pid = kt_search.summary["parent_run_id"]
    before = [p for p in _artifact_paths(client, pid) if p.endswith("index.html")]
    done = _hpsearch(
        "report",
        "--experiment",
        "team-kt",
        "--tracking-uri",
        server.uri,
        "-o",
        str(tmp_path / "rep"),
        cwd=tmp_path,
        env=_env(credentials=True),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    trials = _runs(client, "team-kt", "tags.`hpsearch.role` = 'trial'")
    assert len(pd.read_csv(tmp_path / "rep" / "trials.csv")) == len(trials) == TRIALS
    after = [p for p in _artifact_paths(client, pid) if p.endswith("index.html")]
    assert len(after) == len(before) + 1, (before, after)  # attached through the server
    exp_id = client.get_experiment_by_name("team-kt").experiment_id
    assert (
        server.artifacts / exp_id / pid / "artifacts" / next(iter(set(after) - set(before)))
    ).is_file()

    done = _hpsearch(
        "best",
        "--experiment",
        "team-kt",
        "--tracking-uri",
        server.uri,
        "--json",
        cwd=tmp_path,
        env=_env(credentials=True),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    best = json.loads(done.stdout)
    top = max(trials, key=lambda r: r.data.metrics["objective"])
    assert best["value"] == pytest.approx(top.data.metrics["objective"])
    assert best["trial_run_id"] == top.info.run_id
    assert best["model_uri"] == client.get_run(pid).data.tags["hpsearch.best_model_uri"]


def _secret_hits(text: str) -> list[str]:
    return [s for s in (USER, PASSWORD) if s in text]


@pytest.mark.slow
def test_credentials_never_reach_output_params_tags_or_artifacts(
    server: Server, kt_search: Search, ray_search: Search
) -> None:
    """MLFLOW_TRACKING_USERNAME/PASSWORD are sent but never printed, logged or written."""
    client = _client(server.uri)
    for search in (kt_search, ray_search):
        assert not _secret_hits(search.done.stdout + search.done.stderr)
        for run in _runs(client, search.summary["experiment"]):
            for key, value in [*run.data.params.items(), *run.data.tags.items()]:
                assert not _secret_hits(f"{key}={value}"), (run.info.run_name, key)
        for path in [*search.output.rglob("*"), *server.artifacts.rglob("*")]:
            if path.is_file():
                text = path.read_bytes().decode("utf-8", errors="replace")
                assert not _secret_hits(text), path


@pytest.mark.slow
def test_json_stdout_is_exactly_one_object_against_a_server(
    kt_search: Search, ray_search: Search
) -> None:
    """`run --json` on an HTTP URI prints exactly one JSON object on stdout, nothing else."""
    for search in (kt_search, ray_search):
        assert json.loads(search.done.stdout) == search.summary
        assert search.done.stdout.count("\n") == 1, search.done.stdout


@pytest.mark.slow
def test_two_searches_on_both_backends_log_to_one_server_at_once(
    server: Server, space_file: Path, tmp_path: Path
) -> None:
    """A KT and a Ray search writing to one server and experiment together lose nothing."""
    procs = {}
    for backend in ("keras-tuner", "ray"):
        cwd = tmp_path / backend
        cwd.mkdir()
        args = _run_args(space_file, server.uri, "team-both", cwd / "out", backend)
        procs[backend] = subprocess.Popen(
            [HPSEARCH, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=_env(),
        )
    try:
        outputs = {b: p.communicate(timeout=TIMEOUT) for b, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.communicate()
    summaries = {}
    for backend, (stdout, stderr) in outputs.items():
        assert procs[backend].returncode == 0, (backend, stderr[-3000:])
        summaries[backend] = json.loads(stdout.strip().splitlines()[-1])

    client = _client(server.uri)
    parents = _runs(client, "team-both", "tags.`hpsearch.role` = 'search'")
    assert {p.data.params["backend"]: p.info.run_id for p in parents} == {
        b: s["parent_run_id"] for b, s in summaries.items()
    }
    for parent in parents:
        assert parent.info.status == "FINISHED"
        assert "trials.csv" in _artifact_paths(client, parent.info.run_id)
        children = _children(client, "team-both", parent.info.run_id)
        assert len(children) == TRIALS
        for child in children:
            assert child.info.status == "FINISHED"
            _assert_full_history(client, child)
    assert len(_runs(client, "team-both")) == 2 * (1 + TRIALS)


# ------------------------------------------------------------------------------ hpsearch ui


def test_ui_on_a_tracking_server_points_at_it(server: Server, tmp_path: Path) -> None:
    """`hpsearch ui --tracking-uri http://…` tells the user to open the server itself."""
    done = _hpsearch("ui", "--tracking-uri", server.uri, cwd=tmp_path, env=_env())
    assert done.returncode == 0, done.stderr
    assert server.uri in done.stdout


def test_ui_on_a_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    """`hpsearch ui --port P` with P taken exits 2 with one `error:` line naming the port."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        uri = f"sqlite:///{tmp_path / 'm.db'}"
        done = _hpsearch("ui", "--tracking-uri", uri, "--port", str(port), cwd=tmp_path, env=_env())
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert str(port) in lines[0] and "in use" in lines[0]
    assert "Traceback" not in done.stderr


def _start_ui(uri: str, port: int, cwd: Path) -> subprocess.Popen[bytes]:
    with open(cwd / "ui.log", "wb") as log:
        return subprocess.Popen(
            [HPSEARCH, "ui", "--tracking-uri", uri, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=_env(),
            start_new_session=True,
        )


def _body(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)


def _tidy_for_screenshot(driver: Any) -> None:
    """Cosmetics for the README's screenshot, each step skipped if this MLflow lacks it:
    close the assistant panel and the sidebar, show the columns a reviewer wants, widen
    the run names. Nothing asserted here."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def click(xpath: str) -> None:
        for element in driver.find_elements(By.XPATH, xpath)[:1]:
            driver.execute_script(
                "arguments[0].scrollIntoView({block: 'center'});arguments[0].click();", element
            )
            time.sleep(0.3)

    click("//button[@aria-label='Close']")
    click("//button[@aria-label='Toggle sidebar']")
    click("//button[.//*[text()='Columns'] or text()='Columns']")
    for name in ("Dataset", "Source", "best_objective", "val_accuracy", "strategy", "backend"):
        click(f"//span[contains(@class, 'tree-node-content-wrapper') and @title='{name}']")
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    time.sleep(0.5)
    handles = driver.find_elements(By.CSS_SELECTOR, "[col-id*='Run Name'] .ag-header-cell-resize")
    footer = driver.find_elements(By.XPATH, "//*[contains(text(), 'matching runs')]")
    try:
        if handles:
            ActionChains(driver).drag_and_drop_by_offset(handles[0], 160, 0).perform()
        if footer:  # move the pointer off the header: no tooltip in the picture
            ActionChains(driver).move_to_element(footer[0]).perform()
    except WebDriverException:
        pass
    time.sleep(1)


@pytest.mark.slow
def test_mlflow_ui_shows_the_search_with_its_trials_nested_and_sigterm_stops_it(
    tmp_path: Path,
) -> None:
    """`hpsearch ui` serves the store a search wrote, on 127.0.0.1 only; in Chromium the
    experiment lists the parent run by name, its trials hidden until it is expanded, then
    every trial's name; a screenshot is saved. Then SIGTERM to `hpsearch ui` (what a
    supervisor or `kill` sends) frees its port. (One UI serves both checks: starting and
    stopping an MLflow UI costs about 20 s here.)"""
    missing = browser_missing()
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    space = tmp_path / "team.yaml"
    space.write_text(SPACE, encoding="utf-8")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = in_process(*_run_args(space, uri, "team-ui", tmp_path / "out", "keras-tuner"),
                      cwd=tmp_path)  # fmt: skip
    pid = _summary(done)["parent_run_id"]
    client = _client(uri)
    exp_id = client.get_experiment_by_name("team-ui").experiment_id
    parent_name = client.get_run(pid).data.tags["mlflow.runName"]
    child_names = [r.data.tags["mlflow.runName"] for r in _children(client, "team-ui", pid)]
    assert len(child_names) == TRIALS

    port = free_port()
    ui = _start_ui(uri, port, tmp_path)
    shot = tmp_path / "mlflow-ui.png"
    try:
        wait_http(f"http://127.0.0.1:{port}/", ui, 180, tmp_path / "ui.log")
        # the store's one experiment: `hpsearch ui` prints the link to its runs page
        page = f"http://127.0.0.1:{port}/#/experiments/{exp_id}/runs?workflowType="
        printed = [w for w in (tmp_path / "ui.log").read_text().split() if w.startswith(page)]
        assert printed, (tmp_path / "ui.log").read_text()
        kind = client.get_experiment(exp_id).tags.get("mlflow.experimentKind")
        assert kind == "custom_model_development"  # MLflow 3's model-training view
        with socket.socket() as other:  # bound to 127.0.0.1 only, not every interface
            assert other.connect_ex(("127.0.0.2", port)) != 0
        if missing is None:
            with chromium(tmp_path / "profile") as driver:
                wait = WebDriverWait(
                    driver, 60, ignored_exceptions=[StaleElementReferenceException]
                )
                # the printed link opens the runs table in the model-training mode, not
                # on MLflow 3's GenAI overview (traces, token usage), its default
                driver.get(printed[0])
                wait.until(lambda d: parent_name in _body(d))
                assert "/runs" in driver.current_url, driver.current_url
                lines = set(_body(driver).splitlines())
                assert "Model registry" in lines  # the model-training side bar
                assert not {"Token Usage", "Sessions", "Judges"} & lines  # GenAI's
                wait.until(lambda d: f"{1 + TRIALS} matching runs" in _body(d))
                assert not [n for n in child_names if n in _body(driver)]  # nested, collapsed
                row = f"[role='row'][row-id='{pid}'] [col-id*='Run Name'] button"
                wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, row))
                driver.find_element(By.CSS_SELECTOR, row).click()
                wait.until(lambda d: all(n in _body(d) for n in child_names))
                _tidy_for_screenshot(driver)
                wait.until(lambda d: all(n in _body(d) for n in [parent_name, *child_names]))
                assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

        url = f"http://127.0.0.1:{port}/health"
        assert answers(url)
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=30)
        deadline = time.monotonic() + 15
        while answers(url) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not answers(url), "the MLflow UI still serves after hpsearch ui was stopped"
    finally:
        stop(ui)
    require_browser()  # no browser: the UI part was not checked, so skip (fail under CI)
    if os.environ.get("HPSEARCH_SAVE_SCREENSHOTS") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "mlflow-ui.png")
