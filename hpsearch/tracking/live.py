"""Epoch metrics on a trial's run while the trial runs, not only when it ends.

The engines report each epoch to the tracker in the search's own thread. Sending every
epoch there would cost a store round trip (10-30 ms on sqlite) per epoch, on the training
loop's time. So epochs are queued, and one background thread sends what is queued every
``interval`` seconds, one ``log_batch`` per run. A trial's end takes its rest into its own
last batch (see MlflowTracker), so its run never closes with epochs still queued.

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
#: Seconds close() waits for a send in flight (MLflow's HTTP client retries for longer).
CLOSE_WAIT_S = 10.0


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

    def take(self, run_id: str) -> list[Any]:
        """Remove and return what is queued for ``run_id``, for the caller to send with its
        own batch (a trial's end: one store call, not two). Hold ``io_lock`` around the take
        and that send, so no flush of the thread's can land after it."""
        with self._lock:
            return self._pending.pop(run_id, [])

    def put_back(self, run_id: str, metrics: list[Any]) -> None:
        """Queue ``metrics`` again ahead of what came since: a send that was stopped (a
        SIGTERM raised in it) loses nothing."""
        if metrics:
            with self._lock:
                self._pending[run_id] = metrics + self._pending.get(run_id, [])

    def flush(self) -> None:
        """Send what is queued now, for every run."""
        with self._io_lock:
            with self._lock:
                taken, self._pending = self._pending, {}
            for rid in list(taken):
                try:
                    if taken[rid]:
                        self._send(rid, taken[rid])
                    del taken[rid]
                except BaseException:
                    for back, metrics in taken.items():
                        self.put_back(back, metrics)
                    raise

    def close(self) -> bool:
        """Stop the thread and send the rest; False (nothing sent) when the thread is still
        in a send after CLOSE_WAIT_S (a hung server: a SIGTERM's grace period is short).
        Call it without holding ``io_lock``: the thread may be waiting for it."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(CLOSE_WAIT_S)
            if thread.is_alive():
                return False
        self.flush()
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
