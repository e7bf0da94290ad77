"""Epoch metrics on a trial's run while the trial runs, not only when it ends.

The engines report each epoch to the tracker in the search's own thread. Sending every
epoch there would cost a store round trip (10-30 ms on sqlite) per epoch, on the training
loop's time. So epochs are queued, and one background thread sends what is queued every
``interval`` seconds, one ``log_batch`` per run. A trial's end sends its rest first (see
MlflowTracker), so its run never closes with epochs still queued.

Every send happens under the caller's ``io_lock``, the lock the tracker holds around all its
store calls: one client is never used by two threads at once, and a send that was taken
from the queue can never land after the trial's end closed its run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

#: Seconds between two sends: an epoch shows up in the MLflow UI within about this long.
DEFAULT_INTERVAL = 1.0


class MetricFlusher:
    """Queues metrics per run id and sends them from a daemon thread every ``interval``."""

    def __init__(
        self,
        send: Callable[[str, list[Any]], None],
        io_lock: threading.RLock,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self._send = send
        self._io_lock = io_lock
        self.interval = interval
        self._pending: dict[str, list[Any]] = {}
        self._lock = threading.Lock()  # guards _pending only; taken inside _io_lock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, run_id: str, metrics: list[Any]) -> None:
        """Queue ``metrics`` for ``run_id``; the first call starts the thread."""
        with self._lock:
            self._pending.setdefault(run_id, []).extend(metrics)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._loop, name="hpsearch-mlflow-metrics", daemon=True
                )
                self._thread.start()

    def flush(self, run_id: str | None = None) -> None:
        """Send what is queued now: for one run, or for every run (``None``)."""
        with self._io_lock:
            with self._lock:
                if run_id is None:
                    taken, self._pending = self._pending, {}
                else:
                    taken = {run_id: self._pending.pop(run_id, [])}
            for rid, metrics in taken.items():
                if metrics:
                    self._send(rid, metrics)

    def close(self) -> None:
        """Stop the thread and send the rest. Call it without holding ``io_lock``: the
        thread may be waiting for it."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
