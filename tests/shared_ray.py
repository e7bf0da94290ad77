"""One local Ray for the whole session's in-process Ray searches.

hpsearch uses a Ray that is already up and leaves it running (a notebook's `ray.init()`),
so each in-process search on it skips Ray's start and stop: 5-9 s on 2 cores. It is started
the way hpsearch starts a local Ray (no dashboard, every CPU, driver logs off). hpsearch's own
start of a local Ray stays covered by every `hpsearch run --backend ray` subprocess. A test
that runs `ray start` or `ray stop --force` (which kills every Ray on the machine) calls
`stop()` first; the next `start()` brings a fresh one up.
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
