"""Parallel Keras Tuner: start, watch and stop a chief oracle and N worker processes.

Keras Tuner's own distributed mode runs one *chief* (the oracle, a gRPC server) and workers
that ask it for trials (``KERASTUNER_TUNER_ID`` / ``_ORACLE_IP`` / ``_ORACLE_PORT``). This
module is the supervisor around it, and deliberately knows nothing of keras_tuner: the child
processes run ``python -m hpsearch.backends.keras_tuner --role ...`` (its ``child``), read
the ``spec`` this module writes and speak the protocol in ``events``.

How events travel: each child writes one ``@hpsearch {json}`` line per event. One reader
thread per child puts the parsed lines on a queue, and the parent's calling thread alone
drains it into the SearchCallbacks (they are not thread-safe; the MLflow tracker lives in
the parent and workers never talk to MLflow).

How pruning works: the pruner is one of the parent's callbacks (it needs every worker's
curves); with ``search.pruner`` the parent answers each epoch with a ``verdict`` command,
which the worker waits for before its next epoch (events.EventWriter.prune).

How it ends: the parent waits for every worker to exit, then tells the chief to stop. A
worker that dies is reported, its running trial is recorded FAILED, and the chief is told to
fail that trial too (Hyperband would otherwise wait for it forever). If the chief dies, the
workers get a grace period and are then killed. Children run in their own sessions, so a
Ctrl-C reaches only the parent, which kills every child in ``finally``; a child whose parent
vanishes sees its stdin close and exits, so nothing is orphaned.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.backends.keras_tuner.events import PREFIX
from hpsearch.backends.keras_tuner.spec import write_spec
from hpsearch.gpus import WorkerSlot
from hpsearch.space import Space
from hpsearch.trials import FAILED, SearchCallback, TrialResult

CHIEF = "chief"
#: Seconds the workers get to finish on their own after the chief has gone.
CHIEF_GRACE_S = 10.0
#: Seconds a child gets to exit after SIGTERM before SIGKILL.
TERM_GRACE_S = 3.0


@dataclass
class ParallelRun:
    """What the supervisor hands back: every trial (by id), warnings, and the child PIDs."""

    results: list[TrialResult]
    warnings: list[str]
    pids: list[int]


@dataclass
class _OpenTrial:
    trial_id: str
    params: dict[str, Any]
    started: float
    epochs: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[str]
    log: Path | None
    reader: threading.Thread | None = None
    exited: bool = False
    stopped_by_us: str | None = None  # why the parent killed it, when it did
    open: _OpenTrial | None = None

    @property
    def is_chief(self) -> bool:
        return self.name == CHIEF

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, **cmd: Any) -> None:
        """A command on the child's stdin; a child that has gone is not an error."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def describe_exit(returncode: int | None) -> str:
    """'was killed by SIGKILL' / 'exited with code 1'."""
    if returncode is None:
        return "did not exit"
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def last_line(path: Path | None) -> str | None:
    """The last non-blank line of a log file (an exception's one-line summary, usually)."""
    if path is None or not path.exists():
        return None
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - 8192))
        lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines()]
    lines = [ln for ln in lines if ln]
    return lines[-1] if lines else None


def child_env(
    name: str, port: int, slot: WorkerSlot | None, n_workers: int, verbose: bool
) -> dict[str, str]:
    """A child's environment: Keras Tuner's distributed variables, its GPU (the chief gets
    none: it never trains), and a fair share of this machine's cores for TensorFlow."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[3])  # the folder that holds hpsearch/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.update(
        KERASTUNER_TUNER_ID=name,
        KERASTUNER_ORACLE_IP="127.0.0.1",
        KERASTUNER_ORACLE_PORT=str(port),
    )
    if not verbose:
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if slot is None:
        env["CUDA_VISIBLE_DEVICES"] = "-1"
    else:
        env.update(slot.env())
        threads = str(max(1, (os.cpu_count() or 1) // n_workers))
        env.setdefault("TF_NUM_INTRAOP_THREADS", threads)
        env.setdefault("OMP_NUM_THREADS", threads)
    return env


class Supervisor:
    """Runs one parallel search's child processes and turns their events into callbacks."""

    def __init__(
        self,
        command: Sequence[str],
        slots: Sequence[WorkerSlot],
        callbacks: SearchCallback,
        *,
        log_dir: Path,
        verbose: bool,
        failed_fields: dict[str, Any],
        chief_grace_s: float = CHIEF_GRACE_S,
        verdicts: bool = False,
    ) -> None:
        self.command = list(command)
        self.verdicts = verdicts  # answer each epoch with the pruner's verdict
        self.slots = list(slots)
        self.callbacks = callbacks
        self.log_dir = log_dir
        self.verbose = verbose
        self.failed_fields = failed_fields
        self.chief_grace_s = chief_grace_s
        self.children: list[_Child] = []
        self.results: list[TrialResult] = []
        self.warnings: list[str] = []
        self._ended: set[str] = set()
        self._queue: queue.Queue[tuple[_Child, dict[str, Any] | None]] = queue.Queue()

    # -- the whole run -------------------------------------------------------------------

    def run(self) -> ParallelRun:
        """Start everything, supervise until the workers are done, and always clean up."""
        try:
            self._start()
            self._supervise()
            self._stop_chief()
        finally:
            self.kill_all()
        workers = [c for c in self.children if not c.is_chief]
        if not self.results and all(c.proc.returncode != 0 for c in workers):
            # Name the child that failed by itself (the chief first: its death stops all).
            failed = [c for c in self.children if c.stopped_by_us is None and c.proc.returncode]
            culprit = failed[0] if failed else workers[0]
            why = last_line(culprit.log) or "no output"
            where = f" (log: {culprit.log})" if culprit.log else ""
            raise RuntimeError(
                f"every Keras Tuner worker failed; {culprit.name} "
                f"{describe_exit(culprit.proc.returncode)}: {why}{where}"
            )
        self.results.sort(key=lambda r: r.trial_id)
        return ParallelRun(self.results, self.warnings, [c.proc.pid for c in self.children])

    def _start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        n = len(self.slots)
        # The chief first: workers wait for its server (gRPC wait_for_ready) meanwhile.
        self._spawn(CHIEF, child_env(CHIEF, port, None, n, self.verbose))
        for slot in self.slots:
            self._spawn(slot.tuner_id, child_env(slot.tuner_id, port, slot, n, self.verbose))

    def _spawn(self, name: str, env: dict[str, str]) -> None:
        role = "chief" if name == CHIEF else "worker"
        log = None if self.verbose else self.log_dir / f"{name}.log"
        stderr: Any = None if log is None else log.open("w", encoding="utf-8")
        try:
            proc = subprocess.Popen(
                [*self.command, "--role", role, "--tuner-id", name],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                text=True,
                bufsize=1,
                start_new_session=True,  # Ctrl-C reaches the parent only; it stops us
            )
        finally:
            if stderr is not None:
                stderr.close()
        child = _Child(name, proc, log)
        child.reader = threading.Thread(
            target=self._read, args=(child,), name=f"hpsearch-{name}-events", daemon=True
        )
        self.children.append(child)
        child.reader.start()

    def _read(self, child: _Child) -> None:
        """Reader thread: parse event lines onto the queue, then None at end of stream."""
        assert child.proc.stdout is not None
        try:
            for line in child.proc.stdout:
                if line.startswith(PREFIX):
                    try:
                        self._queue.put((child, json.loads(line[len(PREFIX) :])))
                    except ValueError:
                        continue
        finally:
            self._queue.put((child, None))

    # -- the event loop (the caller's thread: the only one that calls callbacks) ---------

    def _supervise(self) -> None:
        workers = [c for c in self.children if not c.is_chief]
        deadline = math.inf
        while not all(w.exited for w in workers):
            try:
                child, msg = self._queue.get(timeout=0.5)
            except queue.Empty:
                if time.monotonic() > deadline:
                    for w in workers:
                        if not w.exited and w.alive():
                            self._kill(w, "stopped after the chief oracle exited")
                    deadline = math.inf
                continue
            if msg is not None:
                self._dispatch(child, msg)
                continue
            self._reap(child)
            if child.is_chief:
                if child.proc.returncode != 0:
                    self.warnings.append(
                        f"the Keras Tuner chief oracle {describe_exit(child.proc.returncode)}"
                        f"{self._log_hint(child)}; the search stopped early"
                    )
                if not all(w.exited for w in workers):
                    deadline = time.monotonic() + self.chief_grace_s
            else:
                self._worker_exited(child)

    def _dispatch(self, child: _Child, msg: dict[str, Any]) -> None:
        event = msg.get("event")
        if event == "trial_begin":
            tid, params = str(msg["trial_id"]), dict(msg["params"])
            child.open = _OpenTrial(tid, params, time.perf_counter())
            self.callbacks.on_trial_begin(tid, params)
        elif event == "epoch_end":
            tid, logs = str(msg["trial_id"]), dict(msg["logs"])
            if child.open is not None and child.open.trial_id == tid:
                child.open.epochs += 1
                for k, v in logs.items():
                    child.open.history.setdefault(k, []).append(v)
            self.callbacks.on_epoch_end(tid, int(msg["epoch"]), logs)
            if self.verdicts:  # the worker waits for it (EventWriter.prune)
                child.send(
                    cmd="verdict", trial_id=tid, epoch=msg["epoch"], prune=self.callbacks.prune(tid)
                )
        elif event == "trial_end":
            child.open = None
            self._record(TrialResult(**msg["result"]))
        elif event == "trial_failed":  # the chief failed a dead worker's trial
            tid = str(msg["trial_id"])
            if tid not in self._ended:
                error = f"WorkerDied: worker {msg['worker']} died before the trial reported"
                self._record(self._failed(_OpenTrial(tid, dict(msg["params"]), 0.0), error))

    def _record(self, result: TrialResult) -> None:
        self._ended.add(result.trial_id)
        self.results.append(result)
        self.callbacks.on_trial_end(result)

    def _failed(self, trial: _OpenTrial, error: str, worker: str | None = None) -> TrialResult:
        seconds = time.perf_counter() - trial.started if trial.started else 0.0
        return TrialResult(
            trial_id=trial.trial_id,
            status=FAILED,
            params=trial.params,
            objective=None,
            epochs=trial.epochs,
            seconds=seconds,
            history=trial.history,
            worker=worker,
            error=error,
            **self.failed_fields,
        )

    def _worker_exited(self, child: _Child) -> None:
        code, trial = child.proc.returncode, child.open
        if code == 0 and trial is None:
            return
        how = child.stopped_by_us or describe_exit(code)
        message = f"worker {child.name} {how}"
        if trial is not None:
            message += f" during trial {trial.trial_id}"
            child.open = None
            if trial.trial_id not in self._ended:
                self._record(self._failed(trial, f"WorkerDied: {message}", child.name))
        self.warnings.append(message + self._log_hint(child))
        chief = self._chief()
        if chief is not None and not chief.exited:
            chief.send(cmd="fail", tuner_id=child.name, error=f"WorkerDied: {message}")

    def _log_hint(self, child: _Child) -> str:
        if child.log is None or child.stopped_by_us:
            return ""
        line = last_line(child.log)
        return f" ({line}; log: {child.log})" if line else f" (log: {child.log})"

    def _chief(self) -> _Child | None:
        return next((c for c in self.children if c.is_chief), None)

    def _stop_chief(self) -> None:
        """Ask the chief to stop, and record any trial it failed on a dead worker's behalf."""
        chief = self._chief()
        if chief is None or chief.exited:
            return
        chief.send(cmd="stop")
        deadline = time.monotonic() + 15.0
        while not chief.exited and time.monotonic() < deadline:
            try:
                child, msg = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if msg is None:
                self._reap(child)
            elif child is chief:
                self._dispatch(child, msg)

    # -- stopping processes ---------------------------------------------------------------

    def _reap(self, child: _Child) -> None:
        """Its event stream ended: wait for the process itself (killing it if it lingers)."""
        try:
            child.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._kill(child, child.stopped_by_us or "hung after closing its event stream")
        child.exited = True

    def _kill(self, child: _Child, why: str) -> None:
        """SIGTERM the child's process group, then SIGKILL it if it has not gone."""
        if child.stopped_by_us is None:
            child.stopped_by_us = why
        for sig, wait in ((signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, 10.0)):
            if child.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=wait)

    def kill_all(self) -> None:
        """Stop every child still running and close the pipes: no process outlives run()."""
        for child in self.children:
            if child.alive():
                self._kill(child, "stopped when the search ended")
        for child in self.children:
            if child.reader is not None:  # ends at EOF, now that the process has gone
                child.reader.join(timeout=5)
            for stream in (child.proc.stdin, child.proc.stdout):
                with contextlib.suppress(OSError, ValueError):
                    if stream is not None:
                        stream.close()


def run_parallel(
    space: Space,
    workdir: Path,
    slots: Sequence[WorkerSlot],
    callbacks: SearchCallback,
    *,
    module: str,
    backend: str,
    verbose: bool,
    chief_grace_s: float = CHIEF_GRACE_S,
) -> ParallelRun:
    """Run a search with a chief and ``len(slots)`` workers executing ``python -m module``.

    Children write their logs to ``workdir/workers/<name>.log`` (unless verbose, when they
    share the terminal) and read the space from ``workdir/workers/spec.json``.
    """
    folder = workdir / "workers"
    spec = write_spec(folder / "spec.json", space, workdir=workdir, verbose=verbose)
    command = [sys.executable, "-m", module, "--spec", str(spec)]
    failed_fields = {
        "strategy": space.search.strategy,
        "backend": backend,
        "seed": space.search.seed,
    }
    supervisor = Supervisor(
        command,
        slots,
        callbacks,
        log_dir=folder,
        verbose=verbose,
        failed_fields=failed_fields,
        chief_grace_s=chief_grace_s,
        verdicts=space.search.pruner is not None,
    )
    return supervisor.run()
