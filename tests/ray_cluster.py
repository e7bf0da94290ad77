"""A real Ray cluster on this machine, with token authentication on, set up the way the
README tells a user to: ``ray get-auth-token --generate`` on the head, the head's token
copied to every other node, ``RAY_AUTH_MODE=token`` on each.

Each node has a HOME of its own (a machine of its own, as far as Ray's token file goes) and
the cluster has a temp dir of its own, so its ``ray_current_cluster`` file never makes a
plain ``ray.init()`` elsewhere on this machine (the session's shared Ray, another test
run) join it. Every ``ray start`` runs in a process group of its own, and stopping the
cluster kills those groups only: ``ray stop --force`` would kill every Ray on the machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment less every RAY_ setting (a local ``ray.init()`` earlier
    in the session exports RAY_AUTH_MODE=token to its children), with ``home`` as HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return env | {"HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0"} | extra


@dataclass
class Cluster:
    """A running cluster: where to reach it, and its token."""

    gcs: str
    client: str
    dashboard: str
    token: str
    groups: list[int] = field(default_factory=list)

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """A client machine's environment: token mode, the token in RAY_AUTH_TOKEN."""
        return clean_env(home, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, **extra)


@contextmanager
def token_cluster(root: Path, nodes: int = 2) -> Iterator[Cluster]:
    """A head (with a dashboard for jobs and a Ray Client server) and ``nodes - 1`` more
    nodes, 1 CPU each; always stopped, even when it failed to start."""
    port, client, dash = free_port(), free_port(), free_port()
    temp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # socket paths must stay short
    homes = [root / f"node{i}" for i in range(nodes)]
    for home in homes:
        (home / ".ray").mkdir(parents=True)
    cluster = Cluster(f"127.0.0.1:{port}", f"ray://127.0.0.1:{client}",
                      f"http://127.0.0.1:{dash}", token="")  # fmt: skip
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0",
              f"--temp-dir={temp}", "--disable-usage-stats"]  # fmt: skip
    try:
        _ray(cluster, ["get-auth-token", "--generate"], clean_env(homes[0]))
        cluster.token = (homes[0] / ".ray" / "auth_token").read_text().strip()
        _ray(cluster, ["start", "--head", f"--port={port}", f"--ray-client-server-port={client}",
                       "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                       f"--dashboard-port={dash}", *_agent_ports(), *common],
             clean_env(homes[0], RAY_AUTH_MODE="token"))  # fmt: skip
        for home in homes[1:]:  # the head's token file, copied as a user would
            shutil.copy(homes[0] / ".ray" / "auth_token", home / ".ray" / "auth_token")
            _ray(cluster, ["start", f"--address={cluster.gcs}", *_agent_ports(), *common],
                 clean_env(home, RAY_AUTH_MODE="token"))  # fmt: skip
        _wait_for_nodes(cluster, nodes, root)
        yield cluster
    finally:
        _stop(cluster.groups)
        shutil.rmtree(temp, ignore_errors=True)


def _agent_ports() -> list[str]:
    """A node's agent listens on a fixed port by default: another Ray here may hold it."""
    return [f"--dashboard-agent-listen-port={free_port()}", f"--metrics-export-port={free_port()}"]


def _ray(cluster: Cluster, args: list[str], env: dict[str, str]) -> None:
    """One ``ray`` command in a process group of its own (what it starts stays in it)."""
    proc = subprocess.Popen([RAY, *args], env=env, stdout=subprocess.PIPE, text=True,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    cluster.groups.append(proc.pid)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"ray {' '.join(args[:2])} failed:\n{out[-3000:]}"


def _wait_for_nodes(cluster: Cluster, n: int, root: Path, timeout: float = 60) -> None:
    """A node's `ray start` returns before the head lists it: wait, in one driver."""
    code = (
        "import ray, sys, time; ray.init(address=sys.argv[1], logging_level='ERROR')\n"
        "deadline = time.time() + float(sys.argv[3])\n"
        "while sum(x['Alive'] for x in ray.nodes()) < int(sys.argv[2]):\n"
        "    assert time.time() < deadline, ray.nodes()\n"
        "    time.sleep(0.2)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, cluster.gcs, str(n), str(timeout)],
                          env=cluster.env(root), capture_output=True, text=True,
                          timeout=timeout + 60)  # fmt: skip
    assert done.returncode == 0, f"the cluster never showed {n} nodes:\n{done.stderr[-3000:]}"


def _stop(groups: list[int]) -> None:
    """Kill the cluster's process groups, and wait until none of their processes runs."""
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.time() + 30
    while _running(set(groups)) and time.time() < deadline:
        time.sleep(0.1)


def _running(groups: set[int]) -> list[int]:
    """The processes of these groups that are not yet dead (zombies count as dead)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # gone while we looked
            continue
        if fields[0] != "Z" and int(fields[2]) in groups:
            found.append(int(stat.parent.name))
    return found
