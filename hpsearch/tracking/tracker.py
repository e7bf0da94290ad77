"""MlflowTracker: one parent run per search, one nested child run per trial.

Epoch metrics reach a trial's run while it trains: they are queued and sent about once a
second by a background thread (see live.py), and the trial's end sends the rest before it
closes the run. Tracking costs milliseconds a trial.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from hpsearch.backends import BRACKETED
from hpsearch.errors import first_line
from hpsearch.space import Space
from hpsearch.tracking import live
from hpsearch.tracking.artifacts import log_served_model
from hpsearch.tracking.store import (
    INTERRUPTED,
    OUTPUT_TAG,
    PARENT_TAG,
    ROLE_TAG,
    TRIAL_TAG,
    _client,
    _finite,
    _git_commit,
    _search_all,
    ensure_experiment,
    redact_uri,
    resolve_tracking_uri,
)
from hpsearch.trials import (
    FAILED,
    FINISHED,
    PRUNED,
    SearchCallback,
    SearchInfo,
    TrialResult,
    status_counts,
)
from hpsearch.version import __version__

#: Short names for run names that fit in the UI's run list.
_SHORT = {
    "learning_rate": "lr",
    "n_hidden": "n_hidden",
    "n_neurons": "n_neurons",
    "optimizer": "opt",
    "batch_size": "bs",
    "dropout": "dropout",
    "activation": "act",
    "normalize": "norm",
    "kernel_initializer": "init",
}


def _fmt(value: Any) -> str:
    return f"{value:.0e}".replace("e-0", "e-") if isinstance(value, float) else str(value)


def run_status(status: str) -> str:
    """A trial's status as an MLflow run status: MLflow has no PRUNED, so a pruned trial's
    run is KILLED (stopped on purpose) and its ``hpsearch.status`` tag says PRUNED."""
    return {FINISHED: FINISHED, PRUNED: "KILLED"}.get(status, FAILED)


def _ended(child: Any) -> bool:
    """Whether a trial's child run ended for good: FINISHED, or pruned (a KILLED run with
    the PRUNED tag; a KILLED run without it is an interrupted trial of an older hpsearch)."""
    return bool(
        child.info.status == FINISHED
        or (child.info.status == "KILLED" and child.data.tags.get("hpsearch.status") == PRUNED)
    )


def trial_run_name(trial_id: str, params: dict[str, Any], searched: list[str]) -> str:
    """``trial-0007 lr=3e-3 n_hidden=3``: the id plus the params that vary, for the UI."""
    parts = [f"{_SHORT.get(k, k)}={_fmt(params[k])}" for k in searched if k in params]
    return " ".join([f"trial-{trial_id}", *parts[:4]])


class MlflowTracker(SearchCallback):
    """Parent run per search, nested child run per trial (run_search checks that a server
    answers before it makes one, and before the data is read)."""

    def __init__(
        self,
        space: Space,
        *,
        tracking_uri: str | None = None,
        experiment: str | None = None,
        live_interval: float | None = None,
    ) -> None:
        self.space = space
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.experiment = experiment or space.name
        self.client = _client(self.tracking_uri)
        self.offline: str | None = None  # why MLflow stopped answering mid-search, if it did
        self.parent_run_id: str | None = None
        self.parent_run_name: str | None = None  # the search's name (its TensorBoard folder)
        self._children: dict[str, str] = {}
        self._running: set[str] = set()  # trials whose child run is open
        self.closed = False  # finish() or fail() closed the parent run
        # every store call holds it: the flusher's thread shares the client
        self._io = threading.RLock()
        self._live = live.MetricFlusher(
            self._send_epochs, self._io, live_interval or live.DEFAULT_INTERVAL
        )
        self._exp_id: str | None = None  # the parent run's experiment, read once
        self._searched = list(space.searched())

    # -- the parent run ---------------------------------------------------------------

    def start(self, command: str | None = None, output: Path | None = None) -> str:
        """Create the experiment if needed and open the parent run; returns its id."""
        exp_id = self._experiment_id()
        s = self.space.search
        tags = {
            "mlflow.runName": f"{s.strategy}-{s.backend}-{time.strftime('%Y%m%d-%H%M%S')}",
            ROLE_TAG: "search",
            "hpsearch.version": __version__,
            "hpsearch.space_sha256": self.space.sha256,
            "hpsearch.space_file": str(self.space.source or ""),
            "hpsearch.strategy": s.strategy,
            "hpsearch.backend": s.backend,
            "hpsearch.dataset": self.space.dataset.name,
        }
        if command:
            tags["hpsearch.command"] = redact_uri(command)
        if output is not None:
            tags[OUTPUT_TAG] = str(Path(output).resolve())
        commit = _git_commit(Path.cwd())
        if commit:
            tags["mlflow.source.git.commit"] = commit
        run = self.client.create_run(exp_id, tags=tags)
        self.parent_run_id = run.info.run_id
        self.parent_run_name = tags["mlflow.runName"]
        self._log_params(self.parent_run_id, self._search_params())
        if self.space.text:
            name = self.space.source.name if self.space.source else "space.yaml"
            self.client.log_text(self.parent_run_id, self.space.text, f"space/{name}")
        return self.parent_run_id

    def _experiment_id(self) -> str:
        return ensure_experiment(self.client, self.experiment)

    def _search_params(self) -> dict[str, Any]:
        s, t = self.space.search, self.space.training
        out: dict[str, Any] = {
            "strategy": s.strategy,
            "backend": s.backend,
            "max_trials": s.max_trials,
            "seed": s.seed,
            "executions_per_trial": s.executions_per_trial,
            "epochs": t.epochs,
            "patience": t.patience,
            "dataset": self.space.dataset.name,
            "objective": self.space.objective.metric,
            "direction": self.space.objective.direction,
        }
        if s.strategy in BRACKETED:  # ASHA and BOHB read the hyperband section too
            out |= {f"hyperband_{k}": v for k, v in s.hyperband.model_dump().items()}
        for section in ("bayesian", "bohb", "i_epoch"):
            if s.strategy.replace("-", "_") == section:
                out |= {f"{section}_{k}": v for k, v in getattr(s, section).model_dump().items()}
        if s.pruner:
            out |= {f"pruner_{k}": v for k, v in s.pruner.model_dump().items()}
        return out

    def log_json(self, artifact_file: str, data: dict[str, Any]) -> None:
        """A JSON artifact on the parent run (guarded, as tag is)."""
        assert self.parent_run_id
        self._guard(f"logging {artifact_file}", self.client.log_dict, self.parent_run_id, data,
                    artifact_file)  # fmt: skip

    def tag(self, key: str, value: str) -> None:
        """Set a tag on the parent run (guarded: a store gone offline loses only the tag)."""
        assert self.parent_run_id
        self._guard("tagging the parent run", self.client.set_tag, self.parent_run_id, key, value)

    def check_resumable(self, run_id: str) -> None:
        """Raise SpaceError unless ``run_id`` is a search of this space, strategy, backend
        and seed (what ``resume(run_id)`` may continue)."""
        from mlflow.exceptions import MlflowException

        from hpsearch.space import SpaceError

        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            raise SpaceError(f"no run '{run_id}' in the store", field="--resume-run") from None
        tags, p, s = run.data.tags, run.data.params, self.space.search
        if tags.get(ROLE_TAG) != "search":
            raise SpaceError(f"run '{run_id}' is not a search", field="--resume-run")
        if tags.get("hpsearch.space_sha256") != self.space.sha256:
            raise SpaceError(
                f"run '{run_id}' searched another version of the space", field="--resume-run"
            )
        same = (p.get("strategy"), p.get("backend"), p.get("seed"))
        if same != (s.strategy, s.backend, str(s.seed)):
            raise SpaceError(
                f"run '{run_id}' is a {same[0]}/{same[1]} search with seed {same[2]}",
                field="--resume-run",
            )

    def find_resumable(self, output: Path) -> str | None:
        """The latest unfinished parent run of this space, strategy, backend and seed that
        wrote into ``output``: the search ``--resume`` continues."""
        exp = self.client.get_experiment_by_name(self.experiment)
        if exp is None:
            return None
        s = self.space.search
        query = (
            f"tags.`{ROLE_TAG}` = 'search' and tags.`hpsearch.space_sha256` = "
            f"'{self.space.sha256}' and tags.`{OUTPUT_TAG}` = '{Path(output).resolve()}'"
        )
        for run in _search_all(self.client, exp.experiment_id, query):
            p = run.data.params
            same = (p.get("strategy"), p.get("backend"), p.get("seed"), p.get("max_trials"))
            if same != (s.strategy, s.backend, str(s.seed), str(s.max_trials)):
                continue
            if run.info.status != FINISHED:
                return str(run.info.run_id)
        return None

    def resume(self, parent_run_id: str) -> list[str]:
        """Reopen a parent run; its children that were still running are marked FAILED
        (their process died) and ended ones (FINISHED, PRUNED) are kept. Returns the
        interrupted trial ids."""
        self.parent_run_id = parent_run_id
        self.client.update_run(parent_run_id, status="RUNNING")
        run = self.client.get_run(parent_run_id)
        self.parent_run_name = run.info.run_name
        query = f"tags.`{PARENT_TAG}` = '{parent_run_id}'"
        interrupted = []
        children = _search_all(self.client, run.info.experiment_id, query)
        rerun = {c.data.tags.get(TRIAL_TAG) for c in children if _ended(c)}
        for child in sorted(children, key=lambda r: r.info.start_time):
            tid = child.data.tags.get(TRIAL_TAG, "")
            if _ended(child):
                self._children[tid] = child.info.run_id
            elif child.info.status in ("RUNNING", "KILLED"):  # KILLED: an older hpsearch's
                self._fail_child(child.info.run_id, INTERRUPTED)
                interrupted.append(tid)
            elif child.data.tags.get("hpsearch.error") == INTERRUPTED:
                if tid not in rerun:  # marked when the search was stopped, not run since
                    interrupted.append(tid)
            else:
                self._children[tid] = child.info.run_id
        self.client.set_tag(parent_run_id, "hpsearch.resumed", str(time.time()))
        return interrupted

    def replay(self, results: list[TrialResult]) -> int:
        """Log journal records MLflow lacks (the store was down when they ended) under the
        reopened parent: the re-sync ``--resume`` does. Returns how many it logged."""
        missing = [r for r in results if r.trial_id not in self._children]
        for r in missing:
            self.on_trial_begin(r.trial_id, r.params)
            for epoch, logs in r.epoch_logs():
                self.on_epoch_end(r.trial_id, epoch, logs)
            self.on_trial_end(r)
        return len(missing)

    def on_search_begin(self, info: SearchInfo) -> None:
        assert self.parent_run_id, "start() opens the parent run first"
        if info.max_trials != self.space.search.max_trials:
            with self._io:  # replay() may have started the flusher
                self.client.set_tag(
                    self.parent_run_id, "hpsearch.effective_max_trials", str(info.max_trials)
                )

    # -- child runs ---------------------------------------------------------------------

    def _guard(self, what: str, fn: Any, *args: Any) -> Any:
        """Run one MLflow call; if the store stops answering, go offline and carry on.

        The search must not die with the tracking server: every result is also in the
        local journal (trials.jsonl) and trials.csv, and ``--resume`` logs them again."""
        with self._io:
            if self.offline:
                return None
            try:
                return fn(*args)
            except Exception as exc:  # noqa: BLE001 - MLflow, HTTP and database errors alike
                self.offline = f"{what}: {type(exc).__name__}: {first_line(exc)}"
                return None

    def on_trial_begin(self, trial_id: str, params: dict[str, Any]) -> None:
        self._guard("logging a trial's start", self._trial_begin, trial_id, params)

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        # Queued without the io lock: the training loop never waits on the flusher's send.
        # (_children and _running change only in this, the search's, thread.)
        if not self.offline:
            self._epoch_end(trial_id, epoch, logs)

    def on_trial_end(self, result: TrialResult) -> None:
        self._guard("logging a trial's end", self._trial_end, result)

    def _trial_begin(self, trial_id: str, params: dict[str, Any]) -> None:
        assert self.parent_run_id
        if self._exp_id is None:  # once, not per trial: a query is ~10 ms of a trial's ~70
            self._exp_id = self.client.get_run(self.parent_run_id).info.experiment_id
        tags = {
            PARENT_TAG: self.parent_run_id,
            "mlflow.runName": trial_run_name(trial_id, params, self._searched),
            ROLE_TAG: "trial",
            TRIAL_TAG: trial_id,
        }
        run = self.client.create_run(self._exp_id, tags=tags)
        self._children[trial_id] = run.info.run_id
        self._running.add(trial_id)
        self._log_params(run.info.run_id, params)

    def _epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        from mlflow.entities import Metric

        run_id = self._children.get(trial_id)
        if run_id is None or trial_id not in self._running:
            return  # no open run (MLflow was offline at the trial's start)
        now = int(time.time() * 1000)
        self._live.add(
            run_id, [Metric(k, float(v), now, epoch) for k, v in logs.items() if _finite(v)]
        )

    def _send_epochs(self, run_id: str, metrics: list[Any]) -> None:
        """The flusher's send: queued epochs to their run (the io lock is held)."""
        self._guard("logging epoch metrics", self._log_metrics, run_id, metrics)

    def _log_metrics(self, run_id: str, metrics: list[Any], tags: list[Any] | None = None) -> None:
        tags = tags or []
        for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics a batch
            self.client.log_batch(run_id, metrics=metrics[i : i + 1000], tags=[] if i else tags)

    def _trial_end(self, result: TrialResult) -> None:
        run_id = self._children.get(result.trial_id)
        if run_id is None or result.trial_id not in self._running:  # no run open for it yet
            self._trial_begin(result.trial_id, result.params)
            run_id = self._children[result.trial_id]
        # the epochs not sent yet go in this last batch: all are on the run before it closes
        epochs = self._live.take(run_id)
        try:
            self._log_metrics(run_id, *self._last_batch(result, epochs))
        except BaseException:  # a stop (SIGTERM) mid-send: fail() sends them and marks the run
            self._live.put_back(run_id, epochs)
            raise
        if result.traceback:
            self.client.log_text(run_id, result.traceback, "traceback.txt")
        self.client.set_terminated(run_id, run_status(result.status))
        self._running.discard(result.trial_id)

    def _last_batch(self, result: TrialResult, epochs: list[Any]) -> tuple[list[Any], list[Any]]:
        """A trial's last batch: its unsent epochs and its summary, and its tags."""
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        summary = {"epochs": result.epochs, "seconds": result.seconds}
        if result.objective is not None:
            summary["objective"] = result.objective
        metrics = epochs + [Metric(k, float(v), now, 0) for k, v in summary.items()]
        tags = [
            RunTag("hpsearch.status", result.status),
            RunTag("hpsearch.strategy", result.strategy),
            RunTag("hpsearch.backend", result.backend),
        ]
        for key in ("bracket", "round", "worker"):
            if getattr(result, key) is not None:
                tags.append(RunTag(f"hpsearch.{key}", str(getattr(result, key))))
        if result.error:
            kind, _, message = result.error.partition(": ")
            tags += [
                RunTag("hpsearch.error", result.error[:5000]),
                RunTag("hpsearch.error_type", kind if message else "Error"),
            ]
        return metrics, tags

    # -- end of search -------------------------------------------------------------------

    def finish(self, *args: Any, **kwargs: Any) -> str | None:
        """Log the end of the search (see _finish); None when MLflow is offline. Closed
        only once _finish is through: a Ctrl+C or SIGTERM inside it (the best model's upload)
        leaves fail() to mark the parent KILLED."""
        self._close_live()
        if self.offline:  # checked first: a hung send may still hold the io lock
            self.closed = True
            return None
        with self._io:
            uri = None
            if not self.offline:
                try:
                    uri = self._finish(*args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - as in _guard
                    self.offline = f"finishing the parent run: {type(exc).__name__}: {exc}"
            self.closed = True
            return uri

    def _finish(
        self,
        best: TrialResult | None,
        trials_csv: Path,
        model: Any = None,
        serving: tuple[dict[str, Any], Any] | None = None,
        extra_artifacts: tuple[Path, ...] = (),
    ) -> str | None:
        """Log best_* on the parent, the trial CSV and the best model; close the parent.

        ``serving`` is the data's recipe and raw example rows (``Dataset.model_inputs``):
        the model is logged to take raw rows (see log_served_model). Returns the best
        model's URI (``models:/...``) when a model was logged.
        """
        assert self.parent_run_id
        pid = self.parent_run_id
        self.client.log_artifact(pid, str(trials_csv))
        for path in extra_artifacts:
            self.client.log_artifact(pid, str(path))
        model_uri = None
        if best is not None:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            metrics = [Metric("best_objective", float(best.objective or 0.0), now, 0)]
            metrics += [
                Metric(f"best_{k}", v, now, 0)
                for k, v in best.final_metrics().items()
                if _finite(v)
            ]
            self.client.log_batch(pid, metrics=metrics)
            self._log_params(pid, {f"best_{k}": v for k, v in best.params.items()})
            self.client.set_tag(pid, "hpsearch.best_trial_id", best.trial_id)
            child = self._children.get(best.trial_id)
            if child:
                self.client.set_tag(pid, "hpsearch.best_trial_run_id", child)
            if model is not None and serving is not None:
                model_uri = self._log_model(model, serving)
                self.client.set_tag(pid, "hpsearch.best_model_uri", model_uri)
        self.client.set_tag(pid, "mlflow.note.content", self._note(best, trials_csv, model_uri))
        self.client.set_terminated(pid, FINISHED)
        return model_uri

    def _note(self, best: TrialResult | None, trials_csv: Path, model_uri: str | None) -> str:
        """The parent run's description in the MLflow UI: the search at a glance."""
        import csv

        with trials_csv.open(encoding="utf-8") as handle:
            statuses = [row.get("status") for row in csv.DictReader(handle)]
        s, metric = self.space.search, self.space.objective.metric
        lines = [
            f"**{s.strategy}** search on **{s.backend}** of `{self.space.name}` "
            f"({self.space.dataset.name}), seed {s.seed}: {len(statuses)} trials, "
            f"{status_counts(statuses)}.",
            "",
        ]
        if best is None:
            lines.append("No trial finished.")
        else:
            shown = [k for k in self._searched if k in best.params] or list(best.params)
            params = ", ".join(f"{k}={_fmt(best.params[k])}" for k in shown)
            lines.append(
                f"Best {metric} = **{best.objective:.4f}** (trial {best.trial_id}): {params}."
            )
        if model_uri:
            lines += ["", f"Best model: `{model_uri}`."]
        lines += [
            "",
            "Trials: the nested child runs; the table: `trials.csv`; the report: "
            "`report/index.html` among the artifacts (written by `hpsearch run`).",
        ]
        return "\n".join(lines)

    def _log_model(self, model: Any, serving: tuple[dict[str, Any], Any]) -> str:
        import mlflow

        with mlflow.start_run(run_id=self.parent_run_id):
            return log_served_model(model, serving, "best_model")

    def fail(self, error: str, *, killed: bool = False) -> None:
        """Close the parent run as FAILED (or KILLED: interrupted, resumable) with the
        reason as a tag. A trial still running is FAILED either way, with the reason:
        its result is lost, and ``--resume`` runs it again. Its epochs so far stay on its
        run: the queued ones are sent first. A second call does nothing: the first said
        why the search ended."""
        if self.closed:
            return
        self.closed = True
        self._close_live()
        if self.offline:  # checked first: a hung send may still hold the io lock
            return
        with self._io:
            if self.parent_run_id and not self.offline:
                self.client.set_tag(self.parent_run_id, "hpsearch.error", error[:5000])
                for trial_id, run_id in self._children.items():
                    if trial_id in self._running:  # still running when the search stopped
                        self._fail_child(run_id, INTERRUPTED if killed else error)
                self.client.set_terminated(self.parent_run_id, "KILLED" if killed else FAILED)

    def _close_live(self) -> None:
        """Send the queued epochs; a send still hanging after live.CLOSE_WAIT_S (a dead
        server) takes the tracker offline, so a stop is not held up past its grace period."""
        if not self._live.close():
            self.offline = self.offline or (
                f"sending epoch metrics: no answer within {live.CLOSE_WAIT_S:g} s"
            )

    def _fail_child(self, run_id: str, error: str) -> None:
        self.client.set_tag(run_id, "hpsearch.status", FAILED)
        self.client.set_tag(run_id, "hpsearch.error", error[:5000])
        self.client.set_terminated(run_id, FAILED)

    def _log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i : i + 100])
