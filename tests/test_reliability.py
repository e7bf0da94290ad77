"""Failing trials, failure limits and tracking outages, against real searches."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))
NAN_SPACE = """
name: nan-kt
dataset: {name: diabetes, scale: none}
hyperparameters:
  learning_rate: {choice: [10.0, 1.0e-3]}
  n_neurons: {int: [16, 64]}
  optimizer: sgd
  batch_size: 16
training: {epochs: 3}
search: {max_trials: 2, seed: 1}
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the socket is


def test_unreachable_tracking_server_fails_fast_before_training(tmp_path: Path) -> None:
    space = Path(__file__).parents[1] / "search_spaces" / "digits.yaml"
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
    space.write_text(NAN_SPACE.replace("{choice: [10.0, 1.0e-3]}", "10.0").replace(
        "max_trials: 2", "max_trials: 5"))  # fmt: skip
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
