"""The child side of a parallel search's protocol: events out, commands in.

A child takes its original stdout for events and points fd 1 at its stderr (so TensorFlow's
and Keras Tuner's prints go to its log file). Each event is one ``@hpsearch {json}`` line.
The parent's commands arrive as JSON lines on the child's stdin; their end (the parent
exited, even by SIGKILL) ends the child, so nothing is orphaned.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

from hpsearch.trials import SearchCallback, TrialResult

#: Marks event lines on a child's event stream; anything else there is ignored.
PREFIX = "@hpsearch "


def open_event_stream() -> IO[str]:
    """Keep the real stdout for events and send whatever else is printed to stderr."""
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(fd, "w", buffering=1, encoding="utf-8")


def _jsonable(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


#: Seconds a worker waits for the parent's verdict on an epoch before it trains on (the
#: parent answers in milliseconds; a slow one costs at most one epoch of pruning).
VERDICT_WAIT_S = 5.0


class EventWriter(SearchCallback):
    """A SearchCallback that sends every event to the parent as one JSON line.

    With ``verdicts`` (the search has a pruner, which lives in the parent: it needs every
    worker's curves), the parent answers each epoch with a verdict command, and ``prune``
    waits for the one on the epoch just sent, so a worker stops a pruned trial after the
    same epoch as in one process."""

    def __init__(self, stream: IO[str], *, verdicts: bool = False) -> None:
        self._stream = stream
        self._lock = threading.Lock()  # the chief's command thread writes too
        self.verdicts = verdicts
        self._heard = threading.Condition()
        self._sent: dict[str, int] = {}  # trial -> the last epoch it reported
        self._verdict: dict[str, tuple[int, bool]] = {}  # trial -> (epoch, prune)

    def send(self, event: str, **fields: Any) -> None:
        line = PREFIX + json.dumps({"event": event, **fields}, default=_jsonable)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def on_trial_begin(self, trial_id: str, params: dict[str, Any]) -> None:
        self.send("trial_begin", trial_id=trial_id, params=params)

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        with self._heard:
            self._sent[trial_id] = epoch
        self.send("epoch_end", trial_id=trial_id, epoch=epoch, logs=logs)

    def hear_verdict(self, trial_id: str, epoch: int, prune: bool) -> None:
        """The parent's verdict on ``trial_id`` after ``epoch`` (from the command thread)."""
        with self._heard:
            self._verdict[trial_id] = (epoch, prune)
            self._heard.notify_all()

    def prune(self, trial_id: str) -> bool:
        """The parent's verdict on the epoch just sent, waited for (VERDICT_WAIT_S at most:
        without one the trial trains on, and the next epoch's verdict stops it)."""
        if not self.verdicts:
            return False
        with self._heard:
            sent = self._sent.get(trial_id, 0)
            self._heard.wait_for(
                lambda: self._verdict.get(trial_id, (0, False))[0] >= sent, VERDICT_WAIT_S
            )
            return self._verdict.get(trial_id, (0, False))[1]

    def on_trial_end(self, result: TrialResult) -> None:
        self.send("trial_end", result=dataclasses.asdict(result))


def wait_for_chief(timeout: float = 600.0) -> bool:
    """Block until the chief's port accepts connections (True) or ``timeout`` passes.

    A worker whose first gRPC call finds no server falls into gRPC's reconnect backoff
    (1 s, 1.6 s, 2.6 s, ...), which costs seconds at every start; polling first avoids it.
    """
    address = (os.environ["KERASTUNER_ORACLE_IP"], int(os.environ["KERASTUNER_ORACLE_PORT"]))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(address, timeout=1.0):
            return True
        time.sleep(0.05)
    return False


def watch_parent(on_command: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Read the parent's commands (JSON lines) on stdin in a daemon thread.

    ``{"cmd": "stop"}`` or the end of stdin (the parent exited, even by SIGKILL) ends this
    process at once: a child never outlives its search. Other commands go to ``on_command``.
    """

    def loop() -> None:
        for line in sys.stdin:
            try:
                cmd = json.loads(line)
            except ValueError:
                continue
            if cmd.get("cmd") == "stop":
                break
            if on_command is not None:
                try:
                    on_command(cmd)
                except Exception:  # noqa: BLE001 - report, and keep serving the search
                    traceback.print_exc()
        sys.stderr.flush()
        os._exit(0)

    threading.Thread(target=loop, name="hpsearch-parent-watch", daemon=True).start()
