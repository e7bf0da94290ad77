"""hpsearch on a real two-node Ray cluster with token authentication on, set up as the
README tells a user to (tests/ray_cluster.py): searches by GCS address and by ray://, a
client without the right token refused in one line before anything is created, and a sweep
submitted as a Ray job. One cluster serves the module."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ray_cluster import RAY, Cluster, clean_env, token_cluster
from tests.spaces import MLP, tiny_space_text

pytestmark = pytest.mark.slow

HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))
SPACE = tiny_space_text(
    name="digits-ray",
    objective="val_accuracy",
    hyperparameters=MLP,
    training={"patience": 0},
    search={"max_trials": 4, "seed": 11},
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with token_cluster(tmp_path_factory.mktemp("ray-cluster")) as running:
        yield running


def _run(tmp: Path, address: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`hpsearch run` of SPACE on the cluster, from a client machine (its own HOME)."""
    (tmp / "space.yaml").write_text(SPACE)
    cmd = [HPSEARCH, "run", str(tmp / "space.yaml"), "--backend", "ray", "--strategy", "random",
           "--address", address, "--max-concurrent", "2", "--tracking-uri",
           f"sqlite:///{tmp / 'm.db'}", "--output", str(tmp / "out"), "--json"]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp, env=env)


def _home(tmp: Path) -> Path:
    home = tmp / "home"
    home.mkdir()
    return home


@pytest.mark.parametrize("kind", ["gcs", "client"])
def test_hpsearch_run_on_a_two_node_cluster_uses_both_nodes(
    cluster: Cluster, kind: str, tmp_path: Path
) -> None:
    """Both a GCS address and a Ray Client (ray://) address, with RAY_AUTH_MODE=token and
    the head's token in RAY_AUTH_TOKEN; MLflow is written by the driver in both cases, into
    a sqlite file only this machine's driver can see."""
    import pandas as pd

    address = cluster.gcs if kind == "gcs" else cluster.client
    done = _run(tmp_path, address, cluster.env(_home(tmp_path)))
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    frame = pd.read_csv(out["trials_csv"], dtype={"trial_id": str})
    assert len(frame) == 4 and (frame["status"] == "FINISHED").all()
    assert frame["worker"].nunique() == 2, frame[["trial_id", "worker"]]
    assert _count_children(tmp_path / "m.db", out["parent_run_id"]) == 4
    assert out["best_model_uri"].startswith("models:/")


def _count_children(db: Path, parent: str) -> int:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    exp = client.get_experiment_by_name("digits-ray")
    runs = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'"
    )
    return len(runs)


REFUSED = {
    "no-auth-variables": (
        "gcs",
        {},
        "ray: the cluster at {address} requires token authentication: set RAY_AUTH_MODE=token, "
        "and RAY_AUTH_TOKEN to the head's token (`ray get-auth-token` on the head prints it) "
        "or copy the head's ~/.ray/auth_token to this machine",
    ),
    "token-mode-without-a-token": (
        "client",
        {"RAY_AUTH_MODE": "token"},
        "ray: RAY_AUTH_MODE=token but this machine has no token for {address}: set "
        "RAY_AUTH_TOKEN to the head's token (`ray get-auth-token` on the head prints it) "
        "or copy the head's ~/.ray/auth_token to this machine",
    ),
    "a-wrong-token": (
        "client",
        {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64},
        "ray: the cluster at {address} refused this machine's token (from RAY_AUTH_TOKEN): "
        "use the head's (`ray get-auth-token` on the head prints it)",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_client_without_the_clusters_token_gets_one_line_and_nothing_is_created(
    cluster: Cluster, case: str, tmp_path: Path
) -> None:
    """Without the check, Ray retries for about 20 s (GCS) or times out three times 30 s
    over (ray://), then hpsearch fails after its MLflow run and output folder exist."""
    kind, variables, message = REFUSED[case]
    address = cluster.gcs if kind == "gcs" else cluster.client
    home = _home(tmp_path)  # a client machine with no ~/.ray/auth_token
    done = _run(tmp_path, address, clean_env(home, **variables))
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr == f"error: {message.format(address=address)}\n"
    assert done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "space.yaml"]
    assert list(home.iterdir()) == []


SWEEP = """
name: tiny
experiment: sweep-test
output: out
window: daily
defaults: {max_trials: 2, epochs: 2}
matrix:
  spaces: [space.yaml]
  strategies: [random]
  backends: [keras-tuner]
  seeds: [1, 2]
report: {enabled: false}
"""


def test_a_sweep_submitted_as_a_ray_job_to_a_real_head(cluster: Cluster, tmp_path: Path) -> None:
    """`ray job submit` of the sweep to the head's job server, with the token in a file
    that RAY_AUTH_TOKEN_PATH names: the job succeeds and its runs land in the store."""
    from mlflow.tracking import MlflowClient

    space = tiny_space_text(name="sweep-space", objective="val_accuracy",
                            training={"patience": 0})  # fmt: skip
    (tmp_path / "space.yaml").write_text(space)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    token = tmp_path / "token"
    token.write_text(cluster.token)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    workdir = tmp_path / "job"  # what Ray uploads for the job: keep it small
    workdir.mkdir()
    (workdir / "README").write_text("hpsearch sweep job\n")
    env = clean_env(_home(tmp_path), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token))
    job = subprocess.run([RAY, "job", "submit", f"--address={cluster.dashboard}",
                          f"--working-dir={workdir}", "--",
                          sys.executable, "-m", "hpsearch.cli", "sweep",
                          str(tmp_path / "sweep.yaml"), "--tracking-uri", uri],
                         env=env, capture_output=True, text=True, timeout=900,
                         cwd=tmp_path)  # fmt: skip
    assert job.returncode == 0, (job.stdout + job.stderr)[-4000:]
    assert "succeeded" in (job.stdout + job.stderr).lower()
    assert "0 skipped (done), 2 ran, 0 failed" in job.stdout + job.stderr
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("sweep-test")
    every = client.search_runs([exp.experiment_id], max_results=1000)
    roles = [r.data.tags.get("hpsearch.role") for r in every]
    assert roles.count("search") == 2 and roles.count("trial") == 4
