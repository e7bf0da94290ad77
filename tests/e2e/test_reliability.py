"""Failing trials, failure limits and tracking outages, against real searches."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.spaces import tiny_space_text

HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))
# A grid, so both learning rates run whatever the seed samples: 10.0 diverges in epoch 1.
NAN_SPACE = """
name: nan-kt
dataset: {name: diabetes, scale: none}
hyperparameters:
  learning_rate: {choice: [10.0, 1.0e-3]}
  n_neurons: 16
  optimizer: sgd
  batch_size: 16
training: {epochs: 3}
search: {strategy: grid, seed: 1}
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the socket is


def test_unreachable_tracking_server_fails_fast_before_training(tmp_path: Path) -> None:
    space = Path(__file__).parents[2] / "search_spaces" / "digits.yaml"
    uri = f"http://127.0.0.1:{_closed_port()}"
    start = time.perf_counter()
    done = subprocess.run([HPSEARCH, "run", str(space), "--tracking-uri", uri, "--output",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)  # fmt: skip
    elapsed = time.perf_counter() - start
    assert elapsed < 10, elapsed
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert uri in lines[0] and "cannot reach" in lines[0]
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written


@pytest.mark.slow
def test_a_diverging_trial_fails_with_nan_and_the_search_goes_on(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    space = tmp_path / "nan.yaml"
    space.write_text(NAN_SPACE)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    done = subprocess.run([HPSEARCH, "run", str(space), "--tracking-uri", uri, "--output",
                           str(tmp_path / "out"), "--json", "--retries", "2"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["trials"] == 2 and out["finished"] == 1
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("nan-kt")
    children = [r for r in client.search_runs([exp.experiment_id])
                if "mlflow.parentRunId" in r.data.tags]  # fmt: skip
    # --retries 2 must not re-run a NaN trial: it would only diverge again.
    assert len(children) == 2
    failed = [r for r in children if r.info.status == "FAILED"]
    assert [r.data.params["learning_rate"] for r in failed] == ["10.0"]
    assert "NaN or inf" in failed[0].data.tags["hpsearch.error"]
    assert failed[0].data.metrics["epochs"] == 1  # TerminateOnNaN stopped it at once


@pytest.mark.slow
def test_max_failures_ends_the_search_with_exit_1(tmp_path: Path) -> None:
    space = tmp_path / "nan.yaml"
    space.write_text(NAN_SPACE.replace("{choice: [10.0, 1.0e-3]}", "10.0")
                     .replace("n_neurons: 16", "n_neurons: {int: [16, 64]}")
                     .replace("strategy: grid", "max_trials: 5"))  # fmt: skip
    done = subprocess.run([HPSEARCH, "run", str(space), "--tracking-uri",
                           f"sqlite:///{tmp_path / 'm.db'}", "--output", str(tmp_path / "out"),
                           "--max-failures", "2"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: search stopped: 2 trials failed (--max-failures 2)")
    assert "Traceback" not in done.stderr
    csv = next((tmp_path / "out").glob("nan-kt/*/trials.csv"))
    assert len(csv.read_text().strip().splitlines()) == 1 + 2  # header + the two failures


OUTAGE_SPACE = tiny_space_text(
    name="outage",
    hyperparameters={"n_neurons": {"int": [16, 64]}, "batch_size": 64},
    training={"epochs": 1},
    search={"max_trials": 4, "seed": 3},
)


def _start_server(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{tmp / 'server.db'}",
           "--default-artifact-root", str(tmp / "artifacts"), "--workers", "1"]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    import urllib.request

    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise AssertionError("mlflow server did not start")


def _stop(server: subprocess.Popen[bytes]) -> None:
    import os
    import signal

    os.killpg(server.pid, signal.SIGKILL)
    server.wait()


@pytest.mark.slow
def test_server_dropping_mid_search_loses_nothing_and_resume_resyncs(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from hpsearch.api import prepare, run_search
    from hpsearch.space import parse_space
    from hpsearch.trials import SearchCallback, TrialResult

    port = _closed_port()
    uri = f"http://127.0.0.1:{port}"
    server = _start_server(tmp_path, port)

    class DropServer(SearchCallback):
        def on_trial_end(self, result: TrialResult) -> None:
            if result.trial_id == "0000":
                _stop(server)

    space = prepare(parse_space(OUTAGE_SPACE))
    try:
        first = run_search(space, tracking_uri=uri, output=tmp_path / "out",
                           callbacks=[DropServer()], log_model=False)  # fmt: skip
    finally:
        if server.poll() is None:
            _stop(server)
    assert len(first.frame) == 4 and (first.frame["status"] == "FINISHED").all()
    assert any("MLflow stopped answering" in w for w in first.warnings)
    assert len((first.workdir / "trials.jsonl").read_text().splitlines()) == 4

    server = _start_server(tmp_path, port)
    try:
        second = run_search(space, tracking_uri=uri, output=tmp_path / "out", resume=True,
                            log_model=False)  # fmt: skip
        assert second.parent_run_id == first.parent_run_id
        assert any("from the journal" in w for w in second.warnings)
        client = MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name("outage")
        runs = client.search_runs([exp.experiment_id])
        children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        finished = sorted(r.data.tags["hpsearch.trial_id"] for r in children
                          if r.info.status == "FINISHED")  # fmt: skip
        assert finished == ["0000", "0001", "0002", "0003"]
        parent = client.get_run(first.parent_run_id)
        assert parent.info.status == "FINISHED"
        assert len(client.get_metric_history(children[0].info.run_id, "val_accuracy")) == 1
    finally:
        _stop(server)
