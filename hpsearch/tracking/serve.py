"""Serving a dashboard from the CLI: ``hpsearch ui`` (MLflow's) and ``hpsearch tensorboard``
share the port check and the exec, so both fail the same one line on a taken port and
both leave nothing serving once the signal that stops them arrives."""

from __future__ import annotations

import os
import socket
import sys
from typing import NoReturn


def port_in_use(host: str, port: int) -> bool:
    """Whether something already answers on ``host:port`` (a wildcard host is probed on
    the loopback: that is where a local server listens too)."""
    probe = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - a probe, not a bind
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((probe, port)) == 0


def exec_module(module: str, *args: str) -> NoReturn:
    """Become ``python -m module args`` (exec, not a child: a signal that stops the hpsearch
    command stops the server and its workers, with nothing left behind)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", module, *args])  # noqa: S606 - our own interpreter
