"""Starting, joining and stopping Ray: one place decides whether a search owns its Ray."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hpsearch.errors import ClusterRefused


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

    check_cluster(address)  # a refused token is one line now, not a timeout later
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


def check_cluster(address: str, timeout: float = 10.0) -> None:
    """Ask the cluster whether it lets this client in, before anything is created.

    Ray 2.60's clusters may require a token. Without one, ``ray.init`` retries for about 20 s
    (a GCS address) or times out after 30 s (``ray://``, three times with ``_connect``'s
    retries) with no word of authentication. One call on the channel Ray itself would open
    (same TLS, same token, if any) answers at once. Raises ClusterRefused when the cluster
    refuses; anything else (a cluster that is down, say) is left to ``ray.init`` to report.
    """
    import grpc
    from ray._private.grpc_utils import init_grpc_channel
    from ray.exceptions import AuthenticationError

    if address in ("auto", "local"):
        return
    client = address.startswith("ray://")
    target = address.removeprefix("ray://")
    try:
        with init_grpc_channel(target) as channel:
            _ping(channel, client, timeout)
    except AuthenticationError:  # token mode, but no token on this machine
        raise ClusterRefused(_no_token(address)) from None
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise ClusterRefused(_refused(address)) from None


def _ping(channel: Any, client: bool, timeout: float) -> None:
    """The cheapest call each server checks the token for: a Ray Client server's PING, a
    GCS's cluster id (what every joining node and driver asks first)."""
    from ray.core.generated import (
        gcs_service_pb2,
        gcs_service_pb2_grpc,
        ray_client_pb2,
        ray_client_pb2_grpc,
    )

    if client:
        messages: Any = ray_client_pb2  # generated: its messages are not in the stubs
        request = messages.ClusterInfoRequest(type=messages.ClusterInfoType.PING)
        ray_client_pb2_grpc.RayletDriverStub(channel).ClusterInfo(request, timeout=timeout)
    else:
        messages = gcs_service_pb2
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
        stub.GetClusterId(messages.GetClusterIdRequest(), timeout=timeout)


def _token_source() -> str:
    """Where Ray takes this machine's token from, in Ray's order."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return f"RAY_AUTH_TOKEN_PATH ({os.environ['RAY_AUTH_TOKEN_PATH']})"
    return "~/.ray/auth_token"


def _no_token(address: str) -> str:
    return (
        f"ray: RAY_AUTH_MODE=token but this machine has no token for {address}: set "
        "RAY_AUTH_TOKEN to the head's token (`ray get-auth-token` on the head prints it) "
        "or copy the head's ~/.ray/auth_token to this machine"
    )


def _refused(address: str) -> str:
    from ray._private.authentication.authentication_utils import is_token_auth_enabled

    if not is_token_auth_enabled():
        return (
            f"ray: the cluster at {address} requires token authentication: set "
            "RAY_AUTH_MODE=token, and RAY_AUTH_TOKEN to the head's token (`ray get-auth-token` "
            "on the head prints it) or copy the head's ~/.ray/auth_token to this machine"
        )
    return (
        f"ray: the cluster at {address} refused this machine's token (from "
        f"{_token_source()}): use the head's (`ray get-auth-token` on the head prints it)"
    )
