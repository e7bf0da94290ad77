"""One local Ray for the whole session's in-process Ray searches.

hpsearch uses a Ray that is already up and leaves it running (a notebook's `ray.init()`),
so each in-process search on it skips Ray's start and stop: 5-9 s on 2 cores. It is started
the way hpsearch starts a local Ray (no dashboard, every CPU, driver logs off). hpsearch's own
start of a local Ray stays covered by every `hpsearch run --backend ray` subprocess. A real
cluster's tests leave it up: tests/ray_cluster.py keeps its cluster apart from it.

Ray runs with its default authentication. Its first local ``ray.init()`` in this process
turns token mode on, exports RAY_AUTH_MODE=token to every later child process, and uses
~/.ray/auth_token, writing one if there is none; local Rays started by those children
then find the same token.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path


def start() -> None:
    """Start the shared local Ray unless this process is connected to one already."""
    import ray

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR")


def stop() -> None:
    """Shut the shared Ray down (a no-op when none is up)."""
    if "ray" in sys.modules:
        import ray

        ray.shutdown()


def private_temp() -> Path:
    """A temp dir of its own for a Ray that a subprocess starts (``RAY_TMPDIR``), short
    enough for Ray's socket paths, so that `kill_ray_under` can find that Ray's processes."""
    return Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))


def kill_ray_under(temp: Path, timeout: float = 30.0) -> None:
    """SIGKILL every process whose command line names ``temp`` (the Ray a killed search
    left behind: its GCS, raylet, agents and workers), and only those: `ray stop --force`
    would kill every Ray on the machine, this session's shared one and a user's too."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in _pids() if str(temp) in _cmdline(pid)]
        if not left:
            shutil.rmtree(temp, ignore_errors=True)
            return
        assert time.monotonic() < deadline, f"Ray processes under {temp} outlived SIGKILL: {left}"
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""  # gone meanwhile
