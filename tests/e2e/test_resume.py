"""kill -9 in the middle of a real search, then ``--resume``: nothing finished is lost or
repeated, the parent run is reused, and the interrupted trial is marked FAILED and re-run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests import shared_ray
from tests.in_process import hpsearch
from tests.spaces import tiny_space_text

pytestmark = pytest.mark.slow

RESUME: dict[str, Any] = {
    "name": "resume-test",
    "objective": "val_accuracy",
    "hyperparameters": {
        "n_hidden": {"int": [1, 2]},
        "n_neurons": {"int": [16, 64], "log": True},
        "learning_rate": {"float": [1e-3, 1e-2], "log": True},
        "batch_size": 32,
    },
    "training": {"epochs": 3, "patience": 0},
    "search": {"max_trials": 4, "seed": 5, "hyperband": {"max_epochs": 3, "factor": 3}},
}
SPACE = tiny_space_text(RESUME)
HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))


def _finished_children(db: Path, status: str = "FINISHED") -> int:
    """Child runs in the store with ``status``, read with plain sqlite while the search
    writes."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            row = con.execute(
                "select count(*) from runs r join tags t on t.run_uuid = r.run_uuid "
                "where t.key = 'mlflow.parentRunId' and r.status = ?",
                (status,),
            ).fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0])


def _runs(uri: str) -> tuple[list[Any], list[Any]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("resume-test")
    runs = client.search_runs([exp.experiment_id], max_results=500)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


@pytest.mark.parametrize(
    ("strategy", "backend"),
    [
        ("random", "keras-tuner"),
        ("hyperband", "keras-tuner"),
        ("bohb", "keras-tuner"),
        ("random", "ray"),
        ("bohb", "ray"),
    ],
)
def test_kill_9_then_resume(tmp_path: Path, strategy: str, backend: str) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    db = tmp_path / "m.db"
    uri = f"sqlite:///{db}"
    args = [HPSEARCH, "run", str(space), "--strategy", strategy, "--backend", backend,
            "--tracking-uri", uri, "--output", str(tmp_path / "out"), "--json"]  # fmt: skip
    env = dict(os.environ)
    if backend == "ray":
        args += ["--max-concurrent", "1"]
        temp = shared_ray.private_temp()  # the killed search's Ray is found, and only it
        env["RAY_TMPDIR"] = str(temp)
    first = subprocess.Popen(args, cwd=tmp_path, start_new_session=True, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.time() + 240
    try:
        while _finished_children(db) < 1:
            assert first.poll() is None, first.communicate()[1][-2000:]
            assert time.time() < deadline, "no trial finished in time"
            time.sleep(0.1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the whole group: Ray's workers too
        first.wait()
    if backend == "ray":
        shared_ray.kill_ray_under(temp)  # what the SIGKILL'd driver's Ray left running
    done_before = _finished_children(db)
    assert done_before >= 1

    # The kill is about a process; the resume is a plain run, made in this process.
    if backend == "ray":
        shared_ray.start()
    second = hpsearch(*args[1:], "--resume", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    out = json.loads(second.stdout)
    parents, children = _runs(uri)
    assert [p.info.run_id for p in parents] == [out["parent_run_id"]]  # reused, not duplicated
    assert parents[0].info.status == "FINISHED"
    interrupted = [c for c in children if "interrupted" in c.data.tags.get("hpsearch.error", "")]
    assert all(c.info.status == "FAILED" for c in interrupted)
    finished = [c for c in children if c.info.status == "FINISHED"]
    ids = Counter(c.data.tags["hpsearch.trial_id"] for c in finished)
    assert all(n == 1 for n in ids.values()), ids  # no FINISHED trial twice
    assert len(finished) == 4, second.stderr[-3000:]  # max_trials counts the trials done before
    assert len(children) == 4 + len(interrupted)
    assert out["trials"] == 4 and out["finished"] == 4
    # Trials finished before the kill were kept, not re-run: their runs predate the resume.
    resumed_at = float(parents[0].data.tags["hpsearch.resumed"]) * 1000
    assert sum(c.info.start_time < resumed_at for c in finished) >= done_before
    assert "resumed parent run" in second.stderr


#: Slower trials on fewer rows (hyperband's max_epochs follows epochs to 20, as it always has).
SLOW_TRIALS = tiny_space_text(
    RESUME,
    dataset={"max_rows": 600},
    training={"epochs": 20},
    search={"max_trials": 3, "hyperband": {"max_epochs": 20, "factor": 3}},
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_search_says_how_to_resume_and_the_count_goes_on(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """Ctrl+C (SIGINT) or SIGTERM mid-trial: exit 130/143 and a last line that says what
    happened to the search and the trial, and the command that continues it. MLflow agrees:
    the parent is KILLED, the running trial FAILED ("interrupted"). That command (after
    SIGTERM) then says it resumed before the first trial, and counts on from the trials
    done before."""
    space = tmp_path / "space.yaml"
    space.write_text(SLOW_TRIALS)
    db = tmp_path / "m.db"
    uri = f"sqlite:///{db}"
    args = [HPSEARCH, "run", str(space), "--tracking-uri", uri, "--output", str(tmp_path / "out")]
    first = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)  # fmt: skip
    deadline = time.time() + 240
    try:
        # a trial finished and the next one running: the signal lands mid-trial
        while _finished_children(db) < 1 or _finished_children(db, "RUNNING") < 1:
            assert first.poll() is None, first.communicate()[1][-2000:]
            assert time.time() < deadline, "no trial finished in time"
            time.sleep(0.1)
        time.sleep(0.5)  # into its 20 epochs
        first.send_signal(sig)
        _, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == (130 if sig == signal.SIGINT else 143), err[-2000:]
    last = err.strip().splitlines()[-1]
    head = "interrupted" if sig == signal.SIGINT else "terminated (SIGTERM)"
    said = f"{head}: the search is marked KILLED and the trials it was running FAILED; "
    assert last.startswith(f"{said}continue it with: hpsearch run "), last
    again = last.split("continue it with: ", 1)[1]
    assert again.endswith(" --resume")
    parents, children = _runs(uri)
    assert [p.info.status for p in parents] == ["KILLED"]
    unfinished = [c for c in children if c.info.status != "FINISHED"]
    assert unfinished and all(c.info.status == "FAILED" for c in unfinished)
    assert all(c.data.tags["hpsearch.error"].startswith("interrupted") for c in unfinished)
    done_before = len(children) - len(unfinished)
    if sig == signal.SIGINT:
        return  # the resume below is the same after either signal; once is enough

    second = hpsearch(*again.split()[1:], cwd=tmp_path)  # the printed command, as typed
    assert second.returncode == 0, second.stderr[-3000:]
    lines = second.stderr.splitlines()
    trials = [i for i, line in enumerate(lines) if "] trial " in line]
    resumed = next(i for i, line in enumerate(lines) if "resumed parent run" in line)
    assert resumed < trials[0]  # said before the first trial, not after the search
    assert f"resumed: {done_before} trial(s) done before" in second.stderr
    assert f" {done_before + 1}/3 " in lines[trials[0]], lines[trials[0]]
    assert " 3/3 " in lines[trials[-1]]
    parents, children = _runs(uri)
    assert [p.info.status for p in parents] == ["FINISHED"]
    assert sum(c.info.status == "FINISHED" for c in children) == 3
    from hpsearch.tracking import load_trials

    table = load_trials("resume-test", tracking_uri=uri)  # what report and best read
    assert len(table) == 3 and (table["status"] == "FINISHED").all()  # stopped, not failed
