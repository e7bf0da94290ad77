"""Starting, joining and stopping Ray: one place decides whether a search owns its Ray."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def ray_address(address: str | None) -> str | None:
    """The cluster to join: ``--address``, else ``$RAY_ADDRESS``; None for a local Ray."""
    return address or os.environ.get("RAY_ADDRESS") or None


def start_ray(verbose: bool, address: str | None, gpus: list[int] | None) -> bool:
    """Connect to the cluster, or start a local Ray; True when this call started it."""
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no CSV/TBX per trial
    # The legacy reporter with verbose=0 prints nothing; the new one always draws a summary box.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray

    if ray.is_initialized():
        return False
    level = logging.INFO if verbose else logging.ERROR
    kwargs: dict[str, Any] = {"log_to_driver": verbose, "logging_level": level}
    if address:
        if gpus is not None:
            raise ValueError("--gpus: a cluster's GPUs are Ray's to schedule; use --gpus-per-trial")
        _connect(ray, address, kwargs)
    else:
        if gpus is not None:  # a local Ray sees only the listed GPUs
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
            kwargs["num_gpus"] = len(gpus)
        ray.init(include_dashboard=False, **kwargs)
    if not verbose:
        for name in ("ray", "ray.tune", "ray.train", "ray.air"):
            logging.getLogger(name).setLevel(logging.ERROR)
    return True


@contextmanager
def held_ray(verbose: bool = False, **options: Any) -> Iterator[None]:
    """One Ray for several searches in this process (``compare``): each search finds it up
    and skips Ray's start and stop, 5-9 s a search on 2 cores. Started or joined as a
    search with these options would (only ``address`` and ``gpus`` matter to that); a Ray
    that was up before is left up."""
    started = start_ray(verbose, ray_address(options.get("address")), options.get("gpus"))
    try:
        yield
    finally:
        if started:
            import ray

            ray.shutdown()


def _connect(ray: Any, address: str, kwargs: dict[str, Any], attempts: int = 3) -> None:
    """Join a cluster. A Ray Client (ray://) server starts a process per client and, on a
    busy head, can abort the handshake ("Initialization failure from server"): try again."""
    import time

    for attempt in range(1, attempts + 1):
        try:
            ray.init(address=address, **kwargs)
            return
        except ConnectionError:
            if attempt == attempts or not address.startswith("ray://"):
                raise
            time.sleep(2.0 * attempt)


def _is_client() -> bool:
    """Whether this process reaches Ray through Ray Client (ray://): the Tuner then runs on
    the cluster, and so do its callbacks and checkpoints."""
    import ray

    return bool(ray.util.client.ray.is_connected())
