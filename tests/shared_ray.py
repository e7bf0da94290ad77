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

import sys


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
