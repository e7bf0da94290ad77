"""A real `mlflow server` on a free loopback port, for the tests that talk HTTP to MLflow.

The server proxies artifacts (`--serve-artifacts`): clients upload and download them over
HTTP and never touch the server's disk. `mlflow_server()` starts one, waits for `/health`
and stops it afterwards (its whole process group: MLflow 3 also starts a job runner and
huey consumers), also when the test fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Server:
    """A running tracking server: its URI and where it keeps runs and artifacts."""

    uri: str
    port: int
    db: Path
    artifacts: Path
    log: Path


def free_port() -> int:
    """A loopback port nothing listens on (closed again when the socket is)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers HTTP 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return bool(reply.status == 200)
    except (OSError, urllib.error.HTTPError):
        return False


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    """Wait until ``url`` answers 200; fail early if ``process`` exits, with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(url):
            return
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise AssertionError(f"exited with {process.returncode} before {url} answered:\n{tail}")
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise AssertionError(f"{url} did not answer within {timeout:.0f}s:\n{tail}")


def stop(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM the process, then SIGKILL what is left of its session (started with
    ``start_new_session=True``, so its pid is its process group)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the whole group is gone already
    process.wait(timeout=30)


@contextmanager
def mlflow_server(root: Path, *, timeout: float = 90.0) -> Iterator[Server]:
    """`mlflow server` with a sqlite backend store and proxied artifacts under ``root``."""
    port = free_port()
    db, artifacts, log = root / "mlflow.db", root / "artifacts", root / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--serve-artifacts",
        "--artifacts-destination",
        str(artifacts),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, cwd=root, start_new_session=True
        )
    try:
        uri = f"http://127.0.0.1:{port}"
        wait_http(f"{uri}/health", process, timeout, log)
        yield Server(uri=uri, port=port, db=db, artifacts=artifacts, log=log)
    finally:
        # Its graceful stop takes 10-13 s here (uvicorn, the job runner, huey consumers);
        # nothing of a test server is kept, so it gets 3 s before its group is killed.
        stop(process, grace=3.0)
