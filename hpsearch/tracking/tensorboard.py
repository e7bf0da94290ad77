"""TensorBoard files for a search, written from the driver: the seed's HParams view.

``DIR/<search>/`` per search is named like its MLflow parent run; ``DIR/<search>/<trial>/``,
named like the trial's child run, holds its epochs as scalars (step = epoch), a session
start with its params, the objective and a session end with its status. The writer is a
SearchCallback fed the events the MLflow tracker gets, so both engines get it with no
engine code. It writes with tensorboard's own record writer and protos, never tensorflow
(``tensorboard.summary.writer.event_file_writer`` would import it).

The HParams experiment config is one per ``DIR``, the union of every search's params (with
their domains) and metrics, rebuilt when a search adds to it (``hparams_config``): with a
config per search the plugin would show one search's params, arbitrarily. ``DIR/<search>``
holds none, so served alone the plugin infers that search's experiment from its sessions.
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hpsearch.errors import first_line
from hpsearch.space import Param, Space
from hpsearch.tracking import hparams_config
from hpsearch.trials import FAILED, FINISHED, PRUNED, SearchCallback, SearchInfo, TrialResult
from hpsearch.trials import plain as _plain

#: A trial's status as the HParams plugin's: it has no "pruned", so a pruned trial (it
#: trained, and lost to the median) is UNKNOWN, apart from the trials that ran to their end
#: (SUCCESS) and the ones that broke (FAILURE) in the dashboard's status filter.
STATUS = {FINISHED: "STATUS_SUCCESS", FAILED: "STATUS_FAILURE", PRUNED: "STATUS_UNKNOWN"}
#: The scalar tag of a trial's objective, written when it ends (the config's metric).
OBJECTIVE_TAG = hparams_config.OBJECTIVE
#: A search folder's owner: the parent run id that writes into it (two searches started in
#: the same second share a name; the second one gets ``<name>-<run id>``).
MARKER = ".hpsearch-run"
_UID = itertools.count()


def safe_name(name: str) -> str:
    """A run name as one folder: only ``/`` (and NUL) cannot be in a file name."""
    return name.replace("/", "_").replace("\0", "_")


class _EventFile:
    """One ``events.out.tfevents.*`` file, written synchronously (an epoch's scalars are a
    few hundred bytes) and flushed when asked. ``append_to`` reopens an existing file (a
    new file could sort before it and be skipped by a running TensorBoard)."""

    def __init__(self, folder: Path, append_to: Path | None = None) -> None:
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        folder.mkdir(parents=True, exist_ok=True)
        name = "events.out.tfevents.%010d.%s.%s.%s" % (  # noqa: UP031 - TensorBoard's own pattern
            time.time(),
            socket.gethostname(),
            os.getpid(),
            next(_UID),
        )
        self._event = event_pb2.Event
        self._writer = RecordWriter(open(append_to or folder / name, "ab"))
        if append_to is None:
            self.add(None, 0, file_version="brain.Event:2")

    def add(self, summary: Any, step: int, **fields: Any) -> None:
        if summary is not None:
            fields["summary"] = summary
        self._writer.write(
            self._event(wall_time=time.time(), step=step, **fields).SerializeToString()
        )

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def _events(path: Path) -> Iterator[Any]:
    """The events of one file, read without TensorFlow (tensorboard's own loader imports
    it when installed): TFRecord framing, a length and two CRCs around each record, with
    the CRCs left unchecked and a torn last record dropped."""
    from tensorboard.compat.proto import event_pb2

    data, at = path.read_bytes(), 0
    while at + 12 <= len(data):
        (size,) = struct.unpack_from("<Q", data, at)
        if at + 12 + size + 4 > len(data):
            return
        yield event_pb2.Event.FromString(data[at + 12 : at + 12 + size])
        at += 12 + size + 4


def _tags(folder: Path) -> set[str]:
    """Every summary tag in ``folder``'s own event files."""
    return {
        value.tag
        for path in folder.glob("*tfevents*")
        for event in _events(path)
        for value in event.summary.value
    }


def _scalars(values: dict[str, float]) -> Any:
    from tensorboard.compat.proto import summary_pb2

    summary = summary_pb2.Summary()
    for tag, value in values.items():
        summary.value.add(tag=tag, simple_value=float(value))
    return summary


def _value(value: Any, kind: str | None) -> Any:
    """A param's value as the plugin takes it (None: left out of the session)."""
    value = _plain(value)
    if value is None:
        return None
    if kind == "string" or not isinstance(value, bool | int | float | str):
        return str(value)
    if kind == "number" and isinstance(value, bool):
        return int(value)
    return value


def _write_config(folder: Path, union: dict[str, Any]) -> None:
    """DIR's union (see hparams_config) as the plugin's experiment config, in ``folder``."""
    from tensorboard.plugins.hparams import summary_v2 as hp

    hparams = []
    for name, dom in union.get("hparams", {}).items():
        if "interval" in dom:
            lo, hi = dom["interval"]
            span = hp.IntInterval(int(lo), int(hi)) if dom["int"] else None
            hparams.append(hp.HParam(name, span or hp.RealInterval(float(lo), float(hi))))
        elif "values" in dom:
            values = dom["values"]
            values = [float(v) for v in values] if hparams_config.numbers(values) else values
            hparams.append(hp.HParam(name, hp.Discrete(values)))
        else:
            hparams.append(hp.HParam(name))
    metrics = [
        hp.Metric(tag, display_name=label or None)
        for tag, label in hparams_config.metric_order(union)
    ]
    out = _EventFile(folder)
    try:
        out.add(hp.hparams_config_pb(hparams, metrics, time_created_secs=time.time()), 0)
    finally:
        out.close()


class TensorBoardWriter(SearchCallback):
    """Writes a search's TensorBoard files as its trials run (see the module docstring).

    Every write is guarded: the first error (a full disk, a folder gone) is one warning,
    after which the writer stops and the search goes on. Files are flushed after every
    event, so ``tensorboard`` shows a trial while it trains."""

    def __init__(
        self,
        root: Path,
        space: Space,
        search_name: str,
        parent_run_id: str,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.space = space
        self.name, self.parent_run_id = search_name, parent_run_id
        self.warn = warn or (lambda text: print(f"warning: {text}", file=sys.stderr))
        self.folder: Path | None = None  # DIR/<search>, once on_search_begin made it
        self.broken: str | None = None
        self._searched = list(space.searched())
        self._params = self._domains(space)
        self._files: dict[str, _EventFile] = {}
        self._metrics: set[str] = set()  # epoch metrics already in DIR's config

    @staticmethod
    def _domains(space: Space) -> dict[str, Param]:
        """Every searched param, and the per-layer widths with n_neurons' domain."""
        params = dict(space.searched())
        width = space.params.get("n_neurons")
        for name in space.per_layer_names():
            if width is not None:
                params.setdefault(name, width)
        return params

    # -- guarded entry points -------------------------------------------------------------

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        if self.broken:
            return
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - TensorBoard files never end a search
            self.broken = f"{type(exc).__name__}: {first_line(exc)}"
            where = self.folder or self.root
            self.warn(f"TensorBoard files in {where} stopped ({self.broken}); the search goes on")

    def on_search_begin(self, info: SearchInfo) -> None:
        self._guard(self._begin_search, info)

    def on_trial_begin(self, trial_id: str, params: dict[str, Any]) -> None:
        self._guard(self._open_trial, trial_id, params)

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        self._guard(self._epoch, trial_id, epoch, logs)

    def on_trial_end(self, result: TrialResult) -> None:
        self._guard(self._end_trial, result)

    def close(self) -> None:
        """Trials still open end as failures (the search stopped under them: ``--resume``
        runs them again, into the same folder)."""
        self._guard(self._close)
        for handle in self._files.values():  # a broken writer still lets its files go
            try:
                handle.close()
            except Exception:  # noqa: BLE001, S110 - closing is best effort
                pass
        self._files.clear()

    # -- the search -----------------------------------------------------------------------

    def _begin_search(self, info: SearchInfo) -> None:
        """Make (or find, on a resume) the search folder. On a resume, the trials finished
        before are written whole where their folder lacks a session end (TensorBoard newly
        turned on, or the process died between the journal and this writer), and every
        other trial folder without an end (its process was killed: SIGKILL, OOM) gets a
        failure end, as the MLflow tracker marks its child FAILED: if that trial runs
        again, its folder is rewritten; if not, it no longer shows as running."""
        from tensorboard.plugins.hparams import metadata

        self.folder = self._search_folder()
        self._configure([])
        done = set()  # folders whose session is whole now: each read once
        for result in info.previous:
            folder = self._trial_folder(result.trial_id, result.params)
            if not folder.exists() or metadata.SESSION_END_INFO_TAG not in _tags(folder):
                self._replay(result)
            done.add(folder)
        for folder in sorted(p for p in self.folder.iterdir() if p.is_dir()):
            files = sorted(folder.glob("*tfevents*"))
            if folder in done or not files:
                continue
            tags = _tags(folder)
            if (
                metadata.SESSION_START_INFO_TAG in tags
                and metadata.SESSION_END_INFO_TAG not in tags
            ):
                self._write_end(_EventFile(folder, append_to=files[-1]), FAILED)

    def _search_folder(self) -> Path:
        """``DIR/<search>``, owned by this parent run (see MARKER)."""
        for name in (self.name, f"{self.name}-{self.parent_run_id[:8]}"):
            folder = self.root / safe_name(name)
            folder.mkdir(parents=True, exist_ok=True)
            marker = folder / MARKER
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if marker.read_text(encoding="utf-8").strip() == self.parent_run_id:
                    return folder  # a resumed search: its own folder
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(self.parent_run_id + "\n")
            return folder
        return folder

    def _configure(self, metrics: list[str]) -> None:
        """Merge this search's params and ``metrics`` into DIR's experiment config."""
        domains = {n: hparams_config.domain(p) for n, p in self._params.items()}
        objective = self.space.objective
        label = f"{objective.metric}, {objective.direction}"
        hparams_config.update(self.root, domains, metrics, label, _write_config)
        self._metrics.update(metrics)

    def _close(self) -> None:
        for trial_id in list(self._files):
            self._session_end(trial_id, FAILED)

    # -- trials ---------------------------------------------------------------------------

    def _trial_folder(self, trial_id: str, params: dict[str, Any]) -> Path:
        from hpsearch.tracking.tracker import trial_run_name

        assert self.folder is not None
        return self.folder / safe_name(trial_run_name(trial_id, params, self._searched))

    def _open_trial(self, trial_id: str, params: dict[str, Any]) -> None:
        """A trial's folder with its session start. What an earlier attempt of the same
        trial left there (an interrupted run, a retry) is replaced, not appended to."""
        from tensorboard.plugins.hparams import summary_v2 as hp

        if trial_id in self._files:  # a retry of a trial this process had open
            self._files.pop(trial_id).close()
        folder = self._trial_folder(trial_id, params)
        for stale in folder.glob("*tfevents*") if folder.exists() else ():
            stale.unlink()
        kinds = {name: hparams_config.kind(p) for name, p in self._params.items()}
        values = {k: _value(v, kinds.get(k)) for k, v in params.items()}
        # the dashboard's Trial ID: the trial first (a narrow column), the search after it
        # (two searches in one folder have the same trial ids, and groups must differ)
        group = f"trial-{trial_id} ({self.folder.name if self.folder else self.name})"
        out = _EventFile(folder)
        self._files[trial_id] = out
        session = hp.hparams_pb(
            {k: v for k, v in values.items() if v is not None},
            trial_id=group,
            start_time_secs=time.time(),
        )
        out.add(session, 0)
        out.flush()

    def _epoch(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        out = self._files.get(trial_id)
        if out is None:  # no trial start was heard: its end writes what it has
            return
        values = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
        if not self._metrics.issuperset(values):  # the first epoch names them
            self._configure(list(values))
        out.add(_scalars(values), epoch)
        out.flush()

    def _end_trial(self, result: TrialResult) -> None:
        """The objective and the session end; a trial never opened here (no start was
        heard) is written whole from its result first."""
        if result.trial_id not in self._files:
            self._replay(result, end=False)
        last = result.first_epoch + max((len(v) for v in result.history.values()), default=0)
        out = self._files[result.trial_id]
        if result.objective is not None and math.isfinite(result.objective):
            out.add(_scalars({OBJECTIVE_TAG: result.objective}), last or result.epochs)
        self._session_end(result.trial_id, result.status)

    def _replay(self, result: TrialResult, *, end: bool = True) -> None:
        """A trial's start and epochs from its result (the journal's record)."""
        self._open_trial(result.trial_id, result.params)
        for epoch, logs in result.epoch_logs():
            self._epoch(result.trial_id, epoch, logs)
        if end:
            self._end_trial(result)

    def _session_end(self, trial_id: str, status: str) -> None:
        self._write_end(self._files.pop(trial_id), status)

    @staticmethod
    def _write_end(out: _EventFile, status: str) -> None:
        """A session end with ``status`` as the plugin's, then ``out`` is closed."""
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

        info = plugin_data_pb2.SessionEndInfo(
            status=api_pb2.Status.Value(STATUS.get(status, "STATUS_FAILURE")),
            end_time_secs=time.time(),
        )
        summary = summary_pb2.Summary()
        summary.value.add(
            tag=metadata.SESSION_END_INFO_TAG,
            metadata=metadata.create_summary_metadata(
                plugin_data_pb2.HParamsPluginData(session_end_info=info)
            ),
            tensor=metadata.NULL_TENSOR,
        )
        try:
            out.add(summary, 0)
            out.flush()
        finally:
            out.close()


def tensorboard_for(
    root: Path, space: Space, tracker: Any, warn: Callable[[str], None] | None = None
) -> TensorBoardWriter:
    """The writer of a search whose parent run ``tracker`` opened (new or resumed)."""
    return TensorBoardWriter(root, space, tracker.parent_run_name, tracker.parent_run_id, warn)


def serve_tensorboard(logdir: Path, port: int, host: str = "127.0.0.1") -> None:
    """Become ``tensorboard --logdir DIR`` on ``host`` (exec, as ``hpsearch ui`` does: a
    signal that stops ``hpsearch tensorboard`` stops TensorBoard, nothing is left serving)."""
    from hpsearch.tracking.serve import exec_module

    exec_module("tensorboard.main", "--logdir", str(logdir), "--host", host, "--port", str(port))
