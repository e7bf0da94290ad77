"""The sweep lease: a lock held as an experiment tag, for stores with no shared disk."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from hpsearch.errors import SweepLocked
from hpsearch.tracking.store import ROLE_TAG, _client, _search_all, ensure_experiment
from hpsearch.trials import FINISHED


def sweep_states(tracking_uri: str, experiment: str, sweep: str) -> dict[str, tuple[str, str]]:
    """``{key: (status, parent_run_id)}`` of a sweep's searches: per key, a FINISHED search
    if there is one, else the latest unfinished one (which the sweep resumes)."""
    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return {}
    query = f"tags.`{ROLE_TAG}` = 'search' and tags.`hpsearch.sweep` = '{sweep}'"
    out: dict[str, tuple[str, str]] = {}
    for run in sorted(
        _search_all(client, exp.experiment_id, query), key=lambda r: r.info.start_time
    ):
        key = run.data.tags.get("hpsearch.sweep_key")
        if not key:
            continue
        if key in out and out[key][0] == FINISHED:
            continue
        out[key] = (run.info.status, run.info.run_id)
    return out


@contextlib.contextmanager
def lease(tracking_uri: str, experiment: str, name: str, ttl: float = 120.0) -> Iterator[str]:
    """A lock for stores with no shared disk: an experiment tag ``hpsearch.lease.<name>``
    holding an owner and an expiry, renewed every ttl/4 while the block runs.

    Best effort against a race (last writer wins, so both re-read after a pause and the
    loser backs off); a holder that died frees the lease once it expires."""
    import json as _json
    import socket
    import threading
    import uuid

    client = _client(tracking_uri)
    exp_id = ensure_experiment(client, experiment)
    tag = f"hpsearch.lease.{name}"
    me = f"{socket.gethostname()} pid {os.getpid()} ({uuid.uuid4().hex[:8]})"

    def holder() -> dict[str, Any]:
        value = client.get_experiment(exp_id).tags.get(tag) or "{}"
        try:
            return dict(_json.loads(value))
        except ValueError:
            return {}

    def write() -> None:
        client.set_experiment_tag(
            exp_id, tag, _json.dumps({"owner": me, "until": time.time() + ttl})
        )

    current = holder()
    if current.get("owner") and current.get("until", 0) > time.time():
        raise SweepLocked(f"{name} is already running ({current['owner']}; MLflow lease {tag})")
    write()
    time.sleep(1.0)
    current = holder()
    if current.get("owner") != me:
        raise SweepLocked(f"{name} is already running ({current.get('owner')}; MLflow lease {tag})")
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl / 4):
            try:
                write()
            except Exception:  # noqa: BLE001, S112 - retried; expiry is the backstop
                continue

    thread = threading.Thread(target=renew, daemon=True)
    thread.start()
    try:
        yield f"MLflow lease {tag}"
    finally:
        stop.set()
        try:
            client.set_experiment_tag(exp_id, tag, "{}")
        except Exception:  # noqa: BLE001, S110 - it expires on its own
            pass
