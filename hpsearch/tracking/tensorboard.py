"""TensorBoard files for a search, written from the driver: the seed's HParams view.

``DIR/<search>/`` per search, named like its MLflow parent run, holds the HParams plugin's
experiment config (every searched param with its domain, the objective and the epoch
metrics); ``DIR/<search>/<trial>/``, named like the trial's child run, holds its epochs as
scalars (step = epoch), a session start with its params and a session end with its status
and objective. The writer is a SearchCallback fed the events the MLflow tracker gets, so both
engines get it with no engine code. It writes with tensorboard's own record writer and
protos, never tensorflow (``tensorboard.summary.writer.event_file_writer`` would import it).
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpsearch.space import Bool, FloatRange, IntRange, Param, Space
from hpsearch.trials import FAILED, FINISHED, PRUNED, SearchCallback, SearchInfo, TrialResult
from hpsearch.trials import plain as _plain

#: A trial's status as the HParams plugin's: it has no "pruned", so a pruned trial (it
#: trained, and lost to the median) is UNKNOWN, apart from the trials that ran to their end
#: (SUCCESS) and the ones that broke (FAILURE) in the dashboard's status filter.
STATUS = {FINISHED: "STATUS_SUCCESS", FAILED: "STATUS_FAILURE", PRUNED: "STATUS_UNKNOWN"}
#: The scalar tag of a trial's objective, written when it ends.
OBJECTIVE_TAG = "objective"
#: A search folder's owner: the parent run id that writes into it (two searches started in
#: the same second share a name; the second one gets ``<name>-<run id>``).
MARKER = ".hpsearch-run"
_UID = itertools.count()


def search_run_name(tracker: Any) -> str:
    """The search's MLflow parent run name (``random-keras-tuner-20261205-231500``): the
    search folder's name. Built the tracker's way when the store does not answer."""
    try:
        name = tracker.client.get_run(tracker.parent_run_id).info.run_name
    except Exception:  # noqa: BLE001 - the store may be down: the name is built instead
        name = None
    s = tracker.space.search
    return str(name or f"{s.strategy}-{s.backend}-{time.strftime('%Y%m%d-%H%M%S')}")


def safe_name(name: str) -> str:
    """A run name as one folder: only ``/`` (and NUL) cannot be in a file name."""
    return name.replace("/", "_").replace("\0", "_")


class _EventFile:
    """One ``events.out.tfevents.*`` file, written synchronously (an epoch's scalars are a
    few hundred bytes) and flushed when asked."""

    def __init__(self, folder: Path) -> None:
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
        self._writer = RecordWriter(open(folder / name, "ab"))
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


def _scalars(values: dict[str, float]) -> Any:
    from tensorboard.compat.proto import summary_pb2

    summary = summary_pb2.Summary()
    for tag, value in values.items():
        summary.value.add(tag=tag, simple_value=float(value))
    return summary


def _kind(param: Param) -> str:
    """How the HParams plugin types a param: bool, number or string (mixed choices)."""
    if isinstance(param, Bool):
        return "bool"
    if isinstance(param, IntRange | FloatRange):
        return "number"
    values = param.values() or []
    if values and all(isinstance(v, bool) for v in values):
        return "bool"
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "number"
    return "string"


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


def _hparam(name: str, param: Param) -> Any:
    from tensorboard.plugins.hparams import summary_v2 as hp

    kind = _kind(param)
    if isinstance(param, IntRange):
        return hp.HParam(name, hp.IntInterval(param.min, param.max))
    if isinstance(param, FloatRange):
        return hp.HParam(name, hp.RealInterval(float(param.min), float(param.max)))
    if isinstance(param, Bool):
        return hp.HParam(name, hp.Discrete([False, True]))
    values = [_value(v, kind) for v in param.values() or []]
    if kind == "number":
        values = [float(v) for v in values]
    return hp.HParam(name, hp.Discrete(values) if values else None)


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
        self._metrics: list[str] = []  # epoch metric names, in the order first seen
        self._configured = False

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
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            self.broken = f"{type(exc).__name__}: {first}"
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
        runs them again, into the same folder); the config is written if no epoch came."""
        self._guard(self._close)
        for handle in self._files.values():  # a broken writer still lets its files go
            try:
                handle.close()
            except Exception:  # noqa: BLE001, S110 - closing is best effort
                pass
        self._files.clear()

    # -- the search -----------------------------------------------------------------------

    def _begin_search(self, info: SearchInfo) -> None:
        """Make (or find, on a resume) the search folder; write the trials a resumed
        search finished before that have no folder yet (TensorBoard newly turned on)."""
        self.folder = self._search_folder()
        self._configured = any(self.folder.glob("*tfevents*"))
        for result in info.previous:
            if not self._trial_folder(result.trial_id, result.params).exists():
                self._replay(result)

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

    def _configure(self) -> None:
        """The HParams experiment config, once: the domains, the objective and the epoch
        metrics seen so far (the first epoch names them all)."""
        from tensorboard.plugins.hparams import summary_v2 as hp

        assert self.folder is not None
        objective = self.space.objective
        metrics = [
            hp.Metric(
                OBJECTIVE_TAG,
                display_name=f"objective ({objective.metric}, {objective.direction})",
            ),
            # validation metrics first: the dashboard ticks only its first few columns
            *(hp.Metric(m) for m in sorted(self._metrics, key=lambda m: not m.startswith("val_"))),
        ]
        hparams = [_hparam(name, p) for name, p in self._params.items()]
        out = _EventFile(self.folder)
        try:
            out.add(hp.hparams_config_pb(hparams, metrics, time_created_secs=time.time()), 0)
        finally:
            out.close()
        self._configured = True

    def _close(self) -> None:
        for trial_id in list(self._files):
            self._session_end(trial_id, FAILED)
        if self.folder is not None and not self._configured:
            self._configure()

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
        kinds = {name: _kind(p) for name, p in self._params.items()}
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
        self._metrics += [k for k in values if k not in self._metrics]
        out.add(_scalars(values), epoch)
        out.flush()
        if not self._configured:
            self._configure()

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
        n = max((len(v) for v in result.history.values()), default=0)
        for i in range(n):
            logs = {k: v[i] for k, v in result.history.items() if i < len(v)}
            self._epoch(result.trial_id, result.first_epoch + i + 1, logs)
        if end:
            self._end_trial(result)

    def _session_end(self, trial_id: str, status: str) -> None:
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
        out = self._files.pop(trial_id)
        try:
            out.add(summary, 0)
            out.flush()
        finally:
            out.close()


def tensorboard_for(
    root: Path, space: Space, tracker: Any, warn: Callable[[str], None] | None = None
) -> TensorBoardWriter:
    """The writer of a search whose parent run ``tracker`` opened (new or resumed)."""
    return TensorBoardWriter(root, space, search_run_name(tracker), tracker.parent_run_id, warn)


def serve_tensorboard(logdir: Path, port: int, host: str = "127.0.0.1") -> None:
    """Become ``tensorboard --logdir DIR`` on ``host`` (exec, as ``hpsearch ui`` does: a
    signal that stops ``hpsearch tensorboard`` stops TensorBoard, nothing is left serving)."""
    cmd = [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        str(logdir),
        "--host",
        host,
        "--port",
        str(port),
    ]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, cmd)  # noqa: S606 - our own interpreter running tensorboard
