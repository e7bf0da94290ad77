"""Scheduled sweeps: sweep files, keys and windows, idempotent re-runs, SIGTERM and resume,
and the lock. A sweep submitted as a Ray job is in tests/backends/ray_tune/test_ray_cluster.py."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hpsearch.space import SpaceError
from hpsearch.sweep import entry_key, load_sweep, window_stamp
from tests.in_process import hpsearch
from tests.mlflow_server import Server
from tests.spaces import tiny_space_text

HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))
SPACE = tiny_space_text(name="sweep-space", objective="val_accuracy", training={"patience": 0})
SWEEP = """
name: tiny
experiment: sweep-test
output: out
window: daily
defaults: {{max_trials: {trials}, epochs: 2}}
matrix:
  spaces: [space.yaml]
  strategies: [random]
  backends: [keras-tuner]
  seeds: [1, 2]
report: {{enabled: {report}}}
"""


def write(tmp: Path, trials: int = 2, report: str = "true") -> Path:
    (tmp / "space.yaml").write_text(SPACE)
    path = tmp / "sweep.yaml"
    path.write_text(SWEEP.format(trials=trials, report=report))
    return path


def sweep(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`hpsearch sweep` in this process (its entries still run as subprocesses); the tests
    about the sweep's own process (SIGTERM, a Ray job, the run holding the lock) start one."""
    uri = f"sqlite:///{path.parent / 'm.db'}"
    return hpsearch("sweep", str(path), "--tracking-uri", uri, *args, cwd=path.parent)


def runs(tmp: Path) -> tuple[list[Any], list[Any]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'm.db'}")
    exp = client.get_experiment_by_name("sweep-test")
    every = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in every if r.data.tags.get("hpsearch.role") == "search"]
    children = [r for r in every if r.data.tags.get("hpsearch.role") == "trial"]
    return parents, children


# ----------------------------------------------------------------------------- files


def test_window_stamps_a_day_a_week_or_nothing() -> None:
    now = dt.datetime(2026, 11, 22, 23, 59, tzinfo=dt.timezone.utc)
    assert window_stamp("daily", now) == "2026-11-22"
    assert window_stamp("weekly", now) == "2026-W47"
    assert window_stamp("none", now) == ""


def test_entry_keys_are_deterministic_and_scoped() -> None:
    key = entry_key("nightly", "digits-random-keras-tuner-s42", "abc", "2026-11-22")
    assert key == entry_key("nightly", "digits-random-keras-tuner-s42", "abc", "2026-11-22")
    others = {
        entry_key("weekly", "digits-random-keras-tuner-s42", "abc", "2026-11-22"),
        entry_key("nightly", "digits-random-keras-tuner-s43", "abc", "2026-11-22"),
        entry_key("nightly", "digits-random-keras-tuner-s42", "abd", "2026-11-22"),
        entry_key("nightly", "digits-random-keras-tuner-s42", "abc", "2026-11-23"),
    }
    assert key not in others and len(others) == 4


def test_a_sweep_file_expands_its_matrix_with_overrides(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "sweep.yaml").write_text("""
name: m
matrix:
  spaces: [space.yaml]
  strategies: [random, hyperband, asha]
  backends: [keras-tuner, ray]
  seeds: [1, 2]
defaults: {max_trials: 3}
overrides:
  - match: {strategy: hyperband}
    set: {max_trials: 9, budget_epochs: 20}
  - match: {backend: ray, seed: 2}
    set: {max_concurrent: 2}
""")  # fmt: skip
    s = load_sweep(tmp_path / "sweep.yaml")
    assert len(s.entries) == 10  # asha only on ray: 3*2*2 - 2
    assert s.skipped == ["space asha on keras-tuner: a Ray-only strategy"]
    by_id = {e.id: e for e in s.entries}
    assert by_id["space-random-keras-tuner-s1"].settings.max_trials == 3
    hb = by_id["space-hyperband-ray-s2"].settings
    assert (hb.max_trials, hb.budget_epochs, hb.max_concurrent) == (9, 20, 2)
    assert by_id["space-hyperband-ray-s1"].settings.max_concurrent is None
    assert len({e.key for e in s.entries}) == 10


def test_a_pruned_space_s_hyperband_entries_turn_the_pruner_off(tmp_path: Path) -> None:
    from hpsearch.sweep import run_command

    (tmp_path / "space.yaml").write_text(tiny_space_text(search={"pruner": "median"}))
    text = "name: p\nmatrix:\n  spaces: [space.yaml]\n  strategies: [random, hyperband]\n"
    (tmp_path / "sweep.yaml").write_text(text)
    with pytest.raises(SpaceError, match=r"hyperband-keras-tuner-s42: .*--pruner none"):
        load_sweep(tmp_path / "sweep.yaml")
    text += "overrides:\n  - match: {strategy: hyperband}\n    set: {pruner: none}\n"
    (tmp_path / "sweep.yaml").write_text(text)
    s = load_sweep(tmp_path / "sweep.yaml")
    commands = {e.strategy: run_command(s, e, "sqlite:///m.db") for e in s.entries}
    assert "--pruner" not in commands["random"]  # the space file's pruner runs
    assert commands["hyperband"][-2:] == ["--pruner", "none"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nmatrix: {spaces: [space.yaml], stratgies: [random]}\n",
         "sweep.yaml:2: matrix.stratgies: unknown key 'stratgies' (did you mean 'strategies'?)"),
        ("name: x\nmatrix:\n  spaces: [space.yaml]\n  strategies: [gird]\n",
         "sweep.yaml:4: matrix.strategies: unknown strategy 'gird'"),
        ("name: x\nmatrix:\n  spaces: [nope.yaml]\n",
         "sweep.yaml:3: matrix.spaces[0]: nope.yaml: "),
        ("name: x y\nmatrix: {spaces: [space.yaml]}\n", "sweep.yaml:1: name: "),
        ("name: x\nwindow: hourly\nmatrix: {spaces: [space.yaml]}\n", "sweep.yaml:2: window: "),
        ("name: x\nconcurrency: 0\nmatrix: {spaces: [space.yaml]}\n",
         "sweep.yaml:2: concurrency: "),
        ("name: x\nmatrix: {spaces: [space.yaml], strategies: [asha]}\n", "no entry can run"),
        ("matrix: {spaces: [space.yaml]}\n", "name: is required"),
    ],
)  # fmt: skip
def test_a_bad_sweep_file_is_one_line_with_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "sweep.yaml").write_text(text)
    with pytest.raises(SpaceError) as err:
        load_sweep(tmp_path / "sweep.yaml")
    assert message in str(err.value).replace(str(tmp_path) + "/", "")
    done = subprocess.run([HPSEARCH, "sweep", "sweep.yaml", "--dry-run"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr


def test_the_shipped_nightly_sweep_is_valid_and_offline() -> None:
    s = load_sweep(Path(__file__).resolve().parents[1] / "sweeps" / "nightly.yaml")
    assert s.spec.window == "daily" and len(s.entries) >= 2
    assert {e.space.dataset.name for e in s.entries} <= {"digits", "penguins", "iris", "wine"}


def test_dry_run_lists_every_entry_todo_without_training(tmp_path: Path) -> None:
    path = write(tmp_path)
    done = sweep(path, "--dry-run")
    assert done.returncode == 0, done.stderr
    s = load_sweep(path)
    for e in s.entries:
        assert f"{e.id}  {e.key}  todo" in done.stdout
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")
    assert client.get_experiment_by_name("sweep-test") is None  # nothing was started


# ----------------------------------------------------------------------------- running


@pytest.mark.slow
def test_an_overlapping_run_exits_at_once_and_a_rerun_in_the_window_trains_nothing(
    tmp_path: Path,
) -> None:
    """While a first run holds the lock, a second run of the same sweep exits 3 at once with
    one line. The first runs both entries once; re-running skips both, makes no new runs, and
    --dry-run says done; the sweep's report covers both searches. (One first run serves
    both checks: the overlapping run needs one in progress, the re-run one that finished.)"""
    path = write(tmp_path)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    first = subprocess.Popen([HPSEARCH, "sweep", str(path), "--tracking-uri", uri], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    lock = tmp_path / ".m.db.sweep-tiny.lock"
    deadline = time.time() + 120
    while not (lock.exists() and "pid" in lock.read_text()):
        assert first.poll() is None and time.time() < deadline
        time.sleep(0.1)
    started = time.time()
    second = sweep(path)
    assert time.time() - started < 30
    assert second.returncode == 3
    assert second.stderr.startswith("error: sweep 'tiny' is already running (pid ")
    assert second.stderr.count("\n") == 1
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    assert "0 skipped (done), 2 ran, 0 failed" in out
    assert (tmp_path / "out" / "tiny").exists() and "report: " in out
    parents, children = runs(tmp_path)
    assert len(parents) == 2 and len(children) == 4
    assert all(p.info.status == "FINISHED" for p in parents)

    again = sweep(path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2 skipped (done), 0 ran, 0 failed" in again.stdout
    assert again.stderr.count("skipped, done in this window") == 2
    assert "trial 0000" not in again.stderr  # nothing trained
    parents2, children2 = runs(tmp_path)
    assert {r.info.run_id for r in children2} == {r.info.run_id for r in children}
    assert len(parents2) == 2

    plan = sweep(path, "--dry-run")
    assert plan.stdout.count("  done  run ") == 2


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_the_next_run_resumes(tmp_path: Path) -> None:
    """SIGTERM during the second entry: exit 143, that search KILLED; the next run skips the
    first entry and resumes the second under the same parent run, no trial duplicated."""
    path = write(tmp_path, trials=4, report="false")
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    proc = subprocess.Popen([HPSEARCH, "sweep", str(path), "--tracking-uri", uri], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    deadline = time.time() + 400
    while not any("-s2] " in ln and " FINISHED " in ln for ln in list(lines)):
        assert proc.poll() is None, "".join(lines)[-3000:]
        assert time.time() < deadline, "the second entry never finished a trial"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    reader.join(10)
    assert proc.returncode == 143, "".join(lines)[-3000:]
    assert "terminated" in out
    parents, _ = runs(tmp_path)
    by_entry = {p.data.tags["hpsearch.sweep_entry"]: p for p in parents}
    assert by_entry["space-random-keras-tuner-s1"].info.status == "FINISHED"
    killed = by_entry["space-random-keras-tuner-s2"]
    assert killed.info.status == "KILLED"

    again = sweep(path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "1 skipped (done), 1 ran, 0 failed" in again.stdout
    assert "space-random-keras-tuner-s2: resuming" in again.stderr
    parents, children = runs(tmp_path)
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    mine = [c for c in children if c.data.tags["mlflow.parentRunId"] == killed.info.run_id]
    finished = [c for c in mine if c.info.status == "FINISHED"]
    ids = [c.data.tags["hpsearch.trial_id"] for c in finished]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 4  # 4 trials, none twice


def test_deploy_recipes_parse_with_the_keys_their_tools_need() -> None:
    """The crontab line uses flock; the CronJob, RayJob and Dockerfile have the structure
    kubectl and docker expect (no cluster here: schema keys only)."""
    import yaml

    deploy = Path(__file__).resolve().parents[1] / "deploy"
    cron = (deploy / "crontab").read_text()
    lines = [ln for ln in cron.splitlines() if ln.strip() and not ln.startswith("#")]
    entries = [ln for ln in lines if not ln.split()[0].isupper() and "=" not in ln.split()[0]]
    assert entries, cron
    for ln in entries:
        fields = ln.split(None, 5)
        assert len(fields) == 6 and all(f[0] in "*0123456789" for f in fields[:5])
        assert "flock -n" in fields[5] and "hpsearch sweep" in fields[5]

    cj = yaml.safe_load((deploy / "cronjob.yaml").read_text())
    assert cj["apiVersion"] == "batch/v1" and cj["kind"] == "CronJob"
    spec = cj["spec"]
    assert spec["concurrencyPolicy"] == "Forbid" and len(spec["schedule"].split()) == 5
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    container = pod["containers"][0]
    assert {"name", "image", "command"} <= set(container)
    assert "sweep" in container["command"] + container.get("args", [])
    env = {e["name"]: e for e in container.get("env", [])}
    assert {"MLFLOW_TRACKING_URI", "RAY_ADDRESS", "RAY_AUTH_TOKEN"} <= set(env)
    assert env["RAY_AUTH_MODE"]["value"] == "token"  # a token alone is not sent (README)
    assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "auth_token"

    rj = yaml.safe_load((deploy / "rayjob.yaml").read_text())
    assert rj["apiVersion"] == "ray.io/v1" and rj["kind"] == "RayJob"
    assert "hpsearch sweep" in rj["spec"]["entrypoint"]
    cluster = rj["spec"]["rayClusterSpec"]
    assert cluster["authOptions"] == {"mode": "token"}
    assert cluster["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]
    assert cluster["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"]

    docker = (deploy / "Dockerfile").read_text()
    assert docker.count("ARG BASE_IMAGE") >= 1 and "FROM ${BASE_IMAGE}" in docker
    assert "tensorflow/tensorflow" in docker and "-gpu" in docker  # CPU and GPU bases
    assert 'ENTRYPOINT ["hpsearch"]' in docker


@pytest.mark.slow
def test_on_a_tracking_server_the_lock_is_an_mlflow_lease(tracking_server: Server) -> None:
    """With no shared disk, a second holder of the same sweep's lease is refused; the
    lease is released at the end, and an expired one (a holder that died) is taken over."""
    from hpsearch.sweep import SweepLocked, sweep_lock

    server = tracking_server
    with sweep_lock("tiny", server.uri, "sweep-test") as held:
        assert held == "MLflow lease hpsearch.lease.sweep.tiny"
        with pytest.raises(SweepLocked, match=r"sweep.tiny is already running \(.* pid "):
            with sweep_lock("tiny", server.uri, "sweep-test"):
                pass
    with sweep_lock("tiny", server.uri, "sweep-test"):  # released: free again
        pass
    from hpsearch.tracking import lease

    with lease(server.uri, "sweep-test", "sweep.dead", ttl=0.5):
        pass
    import mlflow

    client = mlflow.MlflowClient(server.uri)
    exp = client.get_experiment_by_name("sweep-test").experiment_id
    client.set_experiment_tag(
        exp, "hpsearch.lease.sweep.dead", '{"owner": "ghost", "until": 0}'
    )  # a holder that died long ago
    with lease(server.uri, "sweep-test", "sweep.dead"):
        pass


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_sweep_dry_runs_clean(path: Path, tmp_path: Path) -> None:
    """Each entry is checked as `hpsearch run` would check it: a shipped sweep that the
    nightly run would refuse fails here (nightly.yaml once refused its penguins x hyperband)."""
    done = hpsearch("sweep", str(path), "--dry-run", "--tracking-uri",
                    f"sqlite:///{tmp_path / 'm.db'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert [[e.id, e.key, "todo"] for e in load_sweep(path).entries] == rows


OFFLINE = {"digits", "penguins", "iris", "wine", "breast_cancer", "diabetes"}


@pytest.mark.parametrize(
    "path", sorted((ROOT / "search_spaces").glob("*.yaml")), ids=lambda p: p.name
)
def test_every_shipped_space_validates_with_its_data(path: Path, tmp_path: Path) -> None:
    from hpsearch.space import load_space

    offline = load_space(path).dataset.name in OFFLINE  # the others download their data
    args = ["validate", str(path), *(["--data"] if offline else [])]
    done = hpsearch(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ": ok" in done.stdout
    if offline:
        assert "\ndata: " in done.stdout and "warning" not in done.stdout
