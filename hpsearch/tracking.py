"""MLflow tracking: the only module that imports mlflow.

A SearchCallback that keeps one parent run per search and one nested child run per trial,
plus ``load_trials``, which rebuilds the trial table from those runs. Epoch metrics are
buffered and sent with one ``log_batch`` per trial, so tracking costs milliseconds a trial.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.errors import NoSearches, SweepLocked, TrackingUnavailable
from hpsearch.space import Space
from hpsearch.trials import (
    FAILED,
    FINISHED,
    SearchCallback,
    SearchInfo,
    SearchRecord,
    TrialResult,
    order_columns,
)
from hpsearch.version import __version__

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
ROLE_TAG, TRIAL_TAG = "hpsearch.role", "hpsearch.trial_id"
PARENT_TAG = "mlflow.parentRunId"
OUTPUT_TAG = "hpsearch.output"
INTERRUPTED = "interrupted: the search stopped before this trial ended"
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


_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)[^/@\s]+@")


def redact_uri(text: str) -> str:
    """``https://user:token@host`` -> ``https://***@host``, anywhere in ``text``.

    Credentials belong in MLflow's own variables (MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN),
    which hpsearch never reads; one pasted into a URI is kept out of output, tags and logs."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def resolve_tracking_uri(uri: str | None) -> str:
    """The flag, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` in the cwd."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def _quiet_mlflow() -> None:
    """Keep alembic's migration lines and MLflow's progress bars out of the terminal.

    Called after ``import mlflow``, which configures its own loggers at INFO."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("alembic", "mlflow"):
        logging.getLogger(name).setLevel(logging.ERROR)


def preflight(uri: str, timeout: float = 5.0) -> None:
    """Fail fast (seconds, not MLflow's minutes of retries) when a server is unreachable."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as reply:  # noqa: S310 - the user's own tracking URI
            reply.read()
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):  # reachable; MLflow's own credentials apply to the API
            return
        raise TrackingUnavailable(
            f"MLflow tracking server at {redact_uri(uri)} answered HTTP {exc.code}"
        ) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingUnavailable(
            f"cannot reach the MLflow tracking server at {redact_uri(uri)}: "
            f"{redact_uri(str(reason))}"
        ) from None


def _client(uri: str) -> Any:
    # A server that drops mid-search should cost seconds, not MLflow's minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    # Against a server, MLflow prints "View run ..." links to stdout at every run's end,
    # which would break --json's one object on stdout.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    import mlflow

    _quiet_mlflow()
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(uri)
    with _sqlite_init_lock(uri):
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)  # creates and migrates the schema now
    return client


def _local_store(uri: str) -> Path | None:
    """The file or folder of a local store (sqlite or file), None for a server."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///"))
    if uri.startswith("file:"):
        return Path(uri.removeprefix("file:").removeprefix("//"))
    if "://" not in uri:
        return Path(uri)
    return None


def store_label(uri: str) -> str:
    """A store as a user can find it: the URI, plus the absolute path of a relative file."""
    path = _local_store(uri)
    if path is not None and not path.is_absolute():
        return f"{redact_uri(uri)} ({path.resolve()})"
    return redact_uri(uri)


def _reader(uri: str) -> Any:
    """A client for commands that only read (best, report, refit): a local store that does
    not exist is an error naming where it was looked for, never a new empty store."""
    path = _local_store(uri)
    if path is not None and not path.exists():
        raise NoSearches(
            f"no MLflow store at {store_label(uri)}: run this where `hpsearch run` ran, or pass "
            "--tracking-uri (or set MLFLOW_TRACKING_URI)"
        )
    return _client(uri)


@contextlib.contextmanager
def _sqlite_init_lock(uri: str) -> Iterator[None]:
    """Serialise MLflow's first connection to a sqlite file across processes.

    MLflow creates and migrates a new sqlite store without a lock, so two searches that
    start together on a fresh ``mlflow.db`` fail with "table ... already exists".
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    db = Path(uri.removeprefix("sqlite:///"))
    if db.exists() and db.stat().st_size > 0 and not Path(f"{db}.init.lock").exists():
        yield  # an existing store made elsewhere: nothing to create, no lock file to leave
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{db}.init.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: MLflow 3's UI opens an experiment on its GenAI overview (traces, token usage) unless this
#: tag says it holds model training; hpsearch's trials live in the runs table.
EXPERIMENT_KIND_TAG, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"


def ensure_experiment(client: Any, name: str) -> str:
    """The id of experiment ``name``, created if needed (another process may create it at
    the same moment: then its id), and marked as a model-training experiment."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return str(client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING}))
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            exp = client.get_experiment_by_name(name)
    if exp.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING:
        client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
    return str(exp.experiment_id)


def _fmt(value: Any) -> str:
    return f"{value:.0e}".replace("e-0", "e-") if isinstance(value, float) else str(value)


def trial_run_name(trial_id: str, params: dict[str, Any], searched: list[str]) -> str:
    """``trial-0007 lr=3e-3 n_hidden=3``: the id plus the params that vary, for the UI."""
    parts = [f"{_SHORT.get(k, k)}={_fmt(params[k])}" for k in searched if k in params]
    return " ".join([f"trial-{trial_id}", *parts[:4]])


def _git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class MlflowTracker(SearchCallback):
    """Parent run per search, nested child run per trial (run_search checks that a server
    answers before it makes one, and before the data is read)."""

    def __init__(
        self, space: Space, *, tracking_uri: str | None = None, experiment: str | None = None
    ) -> None:
        self.space = space
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.experiment = experiment or space.name
        self.client = _client(self.tracking_uri)
        self.offline: str | None = None  # why MLflow stopped answering mid-search, if it did
        self.parent_run_id: str | None = None
        self._children: dict[str, str] = {}
        self._epochs: dict[str, list[Any]] = {}
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
        if s.strategy in ("hyperband", "asha"):  # ASHA reads the hyperband section too
            out |= {f"hyperband_{k}": v for k, v in s.hyperband.model_dump().items()}
        if s.strategy == "bayesian":
            out |= {f"bayesian_{k}": v for k, v in s.bayesian.model_dump().items()}
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
        (their process died) and FINISHED ones are kept. Returns the interrupted trial ids."""
        self.parent_run_id = parent_run_id
        self.client.update_run(parent_run_id, status="RUNNING")
        run = self.client.get_run(parent_run_id)
        query = f"tags.`{PARENT_TAG}` = '{parent_run_id}'"
        interrupted = []
        children = _search_all(self.client, run.info.experiment_id, query)
        rerun = {c.data.tags.get(TRIAL_TAG) for c in children if c.info.status == FINISHED}
        for child in sorted(children, key=lambda r: r.info.start_time):
            tid = child.data.tags.get(TRIAL_TAG, "")
            if child.info.status in ("RUNNING", "KILLED"):  # KILLED: an older hpsearch's
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
            n = max((len(v) for v in r.history.values()), default=0)
            for i in range(n):
                logs = {k: v[i] for k, v in r.history.items() if i < len(v)}
                self.on_epoch_end(r.trial_id, r.first_epoch + i + 1, logs)
            self.on_trial_end(r)
        return len(missing)

    def on_search_begin(self, info: SearchInfo) -> None:
        assert self.parent_run_id, "start() opens the parent run first"
        if info.max_trials != self.space.search.max_trials:
            self.client.set_tag(
                self.parent_run_id, "hpsearch.effective_max_trials", str(info.max_trials)
            )

    # -- child runs ---------------------------------------------------------------------

    def _guard(self, what: str, fn: Any, *args: Any) -> Any:
        """Run one MLflow call; if the store stops answering, go offline and carry on.

        The search must not die with the tracking server: every result is also in the
        local journal (trials.jsonl) and trials.csv, and ``--resume`` logs them again."""
        if self.offline:
            return None
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - MLflow, HTTP and database errors alike
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            self.offline = f"{what}: {type(exc).__name__}: {first}"
            return None

    def on_trial_begin(self, trial_id: str, params: dict[str, Any]) -> None:
        self._guard("logging a trial's start", self._trial_begin, trial_id, params)

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        self._guard("buffering epoch metrics", self._epoch_end, trial_id, epoch, logs)

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
        self._epochs[trial_id] = []
        self._log_params(run.info.run_id, params)

    def _epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._epochs[trial_id].extend(
            Metric(k, float(v), now, epoch) for k, v in logs.items() if _finite(v)
        )

    def _trial_end(self, result: TrialResult) -> None:
        from mlflow.entities import Metric, RunTag

        run_id = self._children.get(result.trial_id)
        if run_id is None or result.trial_id not in self._epochs:  # no run open for it yet
            self._trial_begin(result.trial_id, result.params)
            run_id = self._children[result.trial_id]
        now = int(time.time() * 1000)
        metrics = self._epochs.pop(result.trial_id, [])
        summary = {"epochs": result.epochs, "seconds": result.seconds}
        if result.objective is not None:
            summary["objective"] = result.objective
        metrics += [Metric(k, float(v), now, 0) for k, v in summary.items()]
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
        for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics a batch
            self.client.log_batch(
                run_id, metrics=metrics[i : i + 1000], tags=tags if i == 0 else []
            )
        if not metrics:
            self.client.log_batch(run_id, tags=tags)
        if result.traceback:
            self.client.log_text(run_id, result.traceback, "traceback.txt")
        self.client.set_terminated(run_id, FINISHED if result.finished else FAILED)

    # -- end of search -------------------------------------------------------------------

    def finish(self, *args: Any, **kwargs: Any) -> str | None:
        """Log the end of the search (see _finish); None when MLflow is offline."""
        if self.offline:
            return None
        try:
            return self._finish(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - as in _guard
            self.offline = f"finishing the parent run: {type(exc).__name__}: {exc}"
            return None

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
            f"{statuses.count(FAILED)} failed.",
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
        its result is lost, and ``--resume`` runs it again."""
        if self.parent_run_id and not self.offline:
            self.client.set_tag(self.parent_run_id, "hpsearch.error", error[:5000])
            for trial_id, run_id in self._children.items():
                if trial_id in self._epochs:  # still running when the search stopped
                    self._fail_child(run_id, INTERRUPTED if killed else error)
            self.client.set_terminated(self.parent_run_id, "KILLED" if killed else FAILED)

    def _fail_child(self, run_id: str, error: str) -> None:
        self.client.set_tag(run_id, "hpsearch.status", FAILED)
        self.client.set_tag(run_id, "hpsearch.error", error[:5000])
        self.client.set_terminated(run_id, FAILED)

    def _log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i : i + 100])


def _finite(v: Any) -> bool:
    try:
        return float(v) == float(v) and abs(float(v)) != float("inf")
    except (TypeError, ValueError):
        return False


# ----------------------------------------------------------------------------- reading back


def _parse(value: str) -> Any:
    """MLflow stores params as strings; turn numbers and booleans back into values."""
    if value in ("True", "False"):
        return value == "True"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return None if value == "None" else value


def load_trials(
    experiment: str, *, tracking_uri: str | None = None, parent_run_id: str | None = None
) -> pd.DataFrame:
    """Rebuild the trial table of every search in ``experiment`` (or of one parent run)."""
    import pandas as pd

    client = _reader(resolve_tracking_uri(tracking_uri))
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise NoSearches(_no_experiment(client, experiment))
    query = f"tags.`{ROLE_TAG}` = 'trial'"
    if parent_run_id:
        query += f" and tags.`{PARENT_TAG}` = '{parent_run_id}'"
    runs = _search_all(client, exp.experiment_id, query)
    parents = {
        r.info.run_id: r
        for r in _search_all(client, exp.experiment_id, f"tags.`{ROLE_TAG}` = 'search'")
    }
    rows = []
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        parent = parents.get(tags.get(PARENT_TAG, ""))
        pparams = parent.data.params if parent else {}
        row: dict[str, Any] = {
            "trial_id": tags.get(TRIAL_TAG),
            "status": tags.get("hpsearch.status") or run.info.status,
            "objective": metrics.get("objective"),
            "epochs": int(metrics["epochs"]) if "epochs" in metrics else None,
            "seconds": metrics.get("seconds"),
            "strategy": tags.get("hpsearch.strategy") or pparams.get("strategy"),
            "backend": tags.get("hpsearch.backend") or pparams.get("backend"),
            "seed": _parse(pparams["seed"]) if "seed" in pparams else None,
            "bracket": _parse(tags["hpsearch.bracket"]) if "hpsearch.bracket" in tags else None,
            "round": _parse(tags["hpsearch.round"]) if "hpsearch.round" in tags else None,
            "worker": tags.get("hpsearch.worker"),
            "error": tags.get("hpsearch.error"),
            "run_id": run.info.run_id,
            "parent_run_id": tags.get(PARENT_TAG),
            "end_time": run.info.end_time,
        }
        row |= {f"params.{k}": _parse(v) for k, v in run.data.params.items()}
        row |= {
            f"metrics.{k}": v
            for k, v in metrics.items()
            if k not in ("objective", "epochs", "seconds")
        }
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return order_columns(frame)
    # a trial stopped by Ctrl+C and run again by --resume is that trial once, not a failure
    stopped = frame["error"] == INTERRUPTED
    keys = list(zip(frame["parent_run_id"], frame["trial_id"], strict=True))
    rerun = {k for k, s in zip(keys, stopped, strict=True) if not s}
    frame = frame[[not (s and k in rerun) for k, s in zip(keys, stopped, strict=True)]]
    frame = frame.sort_values(["parent_run_id", "trial_id"], kind="stable").reset_index(drop=True)
    return order_columns(frame)


def load_searches(
    *,
    experiment: str | None = None,
    run_ids: list[str] | tuple[str, ...] = (),
    tracking_uri: str | None = None,
    tags: dict[str, str] | None = None,
    curves: bool = True,
) -> list[SearchRecord]:
    """Every search of ``experiment`` (or the parent runs ``run_ids``), oldest first, with
    its trial table and per-epoch objective curves, rebuilt from MLflow alone.

    ``tags`` narrows to parents carrying those tags (``compare`` finds its own searches so).
    ``curves=False`` skips the per-epoch histories (one request per trial). Raises
    NoSearches with a one-line reason when nothing matches."""
    import pandas as pd

    client = _reader(resolve_tracking_uri(tracking_uri))
    parents: list[Any] = []
    if run_ids:
        from mlflow.exceptions import MlflowException

        for rid in run_ids:
            try:
                run = client.get_run(rid)
            except MlflowException:
                raise NoSearches(f"no run '{rid}' at {store_label(client.tracking_uri)}") from None
            if run.data.tags.get(ROLE_TAG) != "search":
                raise NoSearches(f"run '{rid}' is not an hpsearch search (a parent run)")
            parents.append(run)
    else:
        if not experiment:
            raise NoSearches("give --experiment or --run-id")
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            raise NoSearches(_no_experiment(client, experiment))
        query = f"tags.`{ROLE_TAG}` = 'search'"
        for key, value in (tags or {}).items():
            query += f" and tags.`{key}` = '{value}'"
        parents = _search_all(client, exp.experiment_id, query)
        if not parents:
            raise NoSearches(f"experiment '{experiment}' has no hpsearch searches yet")
    parents.sort(key=lambda r: r.info.start_time)
    names = {}
    out = []
    for parent in parents:
        exp_id = parent.info.experiment_id
        if exp_id not in names:
            names[exp_id] = client.get_experiment(exp_id).name
        frame = load_trials(
            names[exp_id], tracking_uri=client.tracking_uri, parent_run_id=parent.info.run_id
        )
        out.append(_record(client, parent, names[exp_id], frame, pd, curves))
    return out


def _no_experiment(client: Any, name: str) -> str:
    """Why ``name`` was not found: where it was looked for, and what is there."""
    from hpsearch.space import did_you_mean, short

    names = [e.name for e in client.search_experiments(max_results=1000)]
    names = [n for n in names if n != "Default"] or names
    there = f"; experiments there: {', '.join(short(n) for n in names[:8])}" if names else ""
    there += ", ..." if len(names) > 8 else ""
    return (
        f"no MLflow experiment named {short(name)} at {store_label(client.tracking_uri)}"
        f"{did_you_mean(name, names)}{there}"
    )


def _record(
    client: Any, parent: Any, experiment: str, frame: Any, pd: Any, curves: bool
) -> SearchRecord:
    info, params, tags = parent.info, parent.data.params, parent.data.tags
    metric = params.get("objective", "val_loss")
    started = info.start_time / 1000
    by_trial: dict[str, list[tuple[int, float]]] = {}
    ended_s: list[float | None] = []
    for _, row in frame.iterrows():
        end = row["end_time"]
        ended_s.append(end / 1000 - started if end == end and end else None)
        if curves:
            history = client.get_metric_history(row["run_id"], metric)
            by_trial[str(row["trial_id"])] = sorted((int(m.step), float(m.value)) for m in history)
    frame = frame.assign(ended_s=pd.Series(ended_s, index=frame.index, dtype="float64"))
    frame = frame.drop(columns=["end_time"])
    space_text = None
    space_file = tags.get("hpsearch.space_file")
    if space_file:
        try:
            import mlflow

            space_text = mlflow.artifacts.load_text(
                f"{info.artifact_uri.rstrip('/')}/space/{Path(space_file).name}"
            )
        except Exception:  # noqa: BLE001 - an old run without the artifact: no bounds
            space_text = None
    return SearchRecord(
        run_id=info.run_id,
        name=info.run_name or info.run_id,
        experiment=experiment,
        strategy=tags.get("hpsearch.strategy") or params.get("strategy", "?"),
        backend=tags.get("hpsearch.backend") or params.get("backend", "?"),
        status=info.status,
        metric=metric,
        direction=params.get("direction", "max"),
        started=started,
        ended=info.end_time / 1000 if info.end_time else None,
        trials=frame,
        curves=by_trial,
        params=dict(params),
        tags={k: v for k, v in tags.items() if k.startswith("hpsearch.")},
        space_text=space_text,
        model_uri=tags.get("hpsearch.best_model_uri"),
        artifact_uri=info.artifact_uri,
    )


def log_report(
    run_ids: list[str], folder: Path, artifact_path: str, tracking_uri: str | None = None
) -> str:
    """Store a written report once, under ``artifact_path`` of the first of ``run_ids``,
    and point every run it covers at it; returns the report's ``runs:/`` URI.

    A report inlines plotly.js (about 4.9 MB), so a copy per covered run grew the store
    with the square of the searches. make_report passes the runs oldest first: the home
    stays the same as an experiment grows, so a new report rewrites the old copy. Every
    covered run gets the tag ``hpsearch.report/<artifact_path>`` (the URI), and each of the
    others a 1 KB index.html in its place that says where the report is (MLflow's UI shows
    HTML in a sandboxed iframe, where links to another run do not work); that page also
    overwrites a full copy an earlier report left there."""
    import tempfile

    client = _client(resolve_tracking_uri(tracking_uri))
    home, *others = run_ids
    client.log_artifacts(home, str(folder), artifact_path)
    uri = f"runs:/{home}/{artifact_path}/index.html"
    key = report_tag(artifact_path)
    for rid in run_ids:
        client.set_tag(rid, key, uri)
    if others:
        page = _report_pointer(client, home, folder, artifact_path, key, len(run_ids))
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "index.html").write_text(page, encoding="utf-8")
            for rid in others:
                client.log_artifacts(rid, tmp, artifact_path)
    return uri


def report_tag(artifact_path: str) -> str:
    """The tag that points a covered run at the report stored under ``artifact_path``."""
    return "hpsearch.report/" + re.sub(r"[^/\w.\- ]", "_", artifact_path.strip("/"))


def _report_pointer(
    client: Any, home: str, folder: Path, artifact_path: str, key: str, n_runs: int
) -> str:
    """The small page a covered run holds instead of the report: where the report is."""
    from html import escape

    md = folder / "report.md"
    first = md.read_text(encoding="utf-8").split("\n", 1)[0] if md.exists() else ""
    title = first.removeprefix("# ").strip() or "hpsearch report"
    run = client.get_run(home)
    name = run.info.run_name or home
    path = f"{artifact_path}/index.html"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}: stored on run {escape(name)}</title></head>"
        "<body style='font-family:system-ui,sans-serif;margin:2rem;max-width:50rem'>"
        f"<h1 style='font-size:1.4rem'>{escape(title)}</h1>"
        f"<p>This report covers {n_runs} searches. It is stored once, on the search "
        f"<b>{escape(name)}</b> (parent run <code>{escape(home)}</code>), as "
        f"<code>{escape(path)}</code>: open that run's Artifacts tab to read it.</p>"
        "<p>Or download it:</p><pre style='white-space:pre-wrap;overflow-wrap:anywhere'>"
        f"mlflow artifacts download -u runs:/{escape(home)}/{escape(artifact_path)} -d .</pre>"
        f"<p>Each run it covers carries the tag <code>{escape(key)}</code> with the URI "
        f"<code>runs:/{escape(home)}/{escape(path)}</code>.</p></body></html>"
    )


def run_experiment(run_id: str, tracking_uri: str | None = None) -> str | None:
    """The experiment a parent run belongs to, or None when ``run_id`` is no such run."""
    from mlflow.exceptions import MlflowException

    client = _client(resolve_tracking_uri(tracking_uri))
    try:
        run = client.get_run(run_id)
    except MlflowException:
        return None
    if run.data.tags.get(ROLE_TAG) != "search":
        return None
    return str(client.get_experiment(run.info.experiment_id).name)


def _search_all(client: Any, experiment_id: str, query: str) -> list[Any]:
    out, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=query, max_results=1000, page_token=token
        )
        out.extend(page)
        token = page.token
        if not token:
            return out


#: MLflow 3.17's UI opens experiments in its GenAI mode (a toggle the browser remembers,
#: GenAI until the user flips it); this query opens a page in its model-training mode.
MODEL_TRAINING_VIEW = "?workflowType=machine_learning"


def ui_page(tracking_uri: str | None, experiment: str | None) -> str:
    """The UI's page to open: the runs table of ``experiment``, or of the store's one
    experiment, in the model-training mode; else the experiment list (``#/``).
    Experiments holding hpsearch searches (from an older hpsearch) are tagged as
    model-training ones on the way. Raises NoSearches for an ``experiment`` the store
    lacks."""
    uri = resolve_tracking_uri(tracking_uri)
    path = _local_store(uri)
    if path is not None and not path.exists():
        if experiment:
            raise NoSearches(f"no MLflow store at {store_label(uri)} (so no '{experiment}')")
        return "#/"
    client = _client(uri)
    found = [e for e in client.search_experiments(max_results=1000) if e.name != "Default"]
    for exp in found:
        if exp.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING and client.search_runs(
            [exp.experiment_id], f"tags.`{ROLE_TAG}` = 'search'", max_results=1
        ):
            client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
    if experiment:
        match = [e for e in found if e.name == experiment]
        if not match:
            raise NoSearches(_no_experiment(client, experiment))
        return f"#/experiments/{match[0].experiment_id}/runs{MODEL_TRAINING_VIEW}"
    if len(found) == 1:
        return f"#/experiments/{found[0].experiment_id}/runs{MODEL_TRAINING_VIEW}"
    return "#/"


def serve_ui(tracking_uri: str | None, host: str, port: int) -> None:
    """Become ``mlflow ui`` on the same store as the searches (exec: a signal that stops
    ``hpsearch ui`` stops the UI and its workers, nothing is left serving)."""
    import sys

    uri = resolve_tracking_uri(tracking_uri)
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",  # one reviewer's UI: starts in seconds, not MLflow's default of 4 workers
    ]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, cmd)  # noqa: S606 - our own interpreter running mlflow


def sweep_states(tracking_uri: str, experiment: str, sweep: str) -> dict[str, tuple[str, str]]:
    """``{key: (status, parent_run_id)}`` of a sweep's searches: per key, a FINISHED search
    if there is one, else the latest unfinished one (which the sweep resumes)."""
    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return {}
    query = f"tags.`{ROLE_TAG}` = 'search' and tags.`hpsearch.sweep` = '{sweep}'"
    out: dict[str, tuple[str, str]] = {}
    for run in sorted(
        _search_all(client, exp.experiment_id, query), key=lambda r: r.info.start_time
    ):
        key = run.data.tags.get("hpsearch.sweep_key")
        if not key:
            continue
        if key in out and out[key][0] == FINISHED:
            continue
        out[key] = (run.info.status, run.info.run_id)
    return out


@contextlib.contextmanager
def lease(tracking_uri: str, experiment: str, name: str, ttl: float = 120.0) -> Iterator[str]:
    """A lock for stores with no shared disk: an experiment tag ``hpsearch.lease.<name>``
    holding an owner and an expiry, renewed every ttl/4 while the block runs.

    Best effort against a race (last writer wins, so both re-read after a pause and the
    loser backs off); a holder that died frees the lease once it expires."""
    import json as _json
    import socket
    import threading
    import uuid

    client = _client(tracking_uri)
    exp_id = ensure_experiment(client, experiment)
    tag = f"hpsearch.lease.{name}"
    me = f"{socket.gethostname()} pid {os.getpid()} ({uuid.uuid4().hex[:8]})"

    def holder() -> dict[str, Any]:
        value = client.get_experiment(exp_id).tags.get(tag) or "{}"
        try:
            return dict(_json.loads(value))
        except ValueError:
            return {}

    def write() -> None:
        client.set_experiment_tag(
            exp_id, tag, _json.dumps({"owner": me, "until": time.time() + ttl})
        )

    current = holder()
    if current.get("owner") and current.get("until", 0) > time.time():
        raise SweepLocked(f"{name} is already running ({current['owner']}; MLflow lease {tag})")
    write()
    time.sleep(1.0)
    current = holder()
    if current.get("owner") != me:
        raise SweepLocked(f"{name} is already running ({current.get('owner')}; MLflow lease {tag})")
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl / 4):
            try:
                write()
            except Exception:  # noqa: BLE001, S112 - retried; expiry is the backstop
                continue

    thread = threading.Thread(target=renew, daemon=True)
    thread.start()
    try:
        yield f"MLflow lease {tag}"
    finally:
        stop.set()
        try:
            client.set_experiment_tag(exp_id, tag, "{}")
        except Exception:  # noqa: BLE001, S110 - it expires on its own
            pass


# ----------------------------------------------------------------------------- final refit

#: Where ``refit.final_fit`` logs the refit model on the parent run (the LoggedModel's name).
FINAL_MODEL_NAME = "final_model"


def load_search_for_refit(run_id: str, *, tracking_uri: str | None = None) -> dict[str, Any]:
    """What a final refit needs of a finished search, read back from MLflow alone.

    Returns ``experiment``, ``parent_run_id``, ``status``, ``params`` (the parent's, as
    strings), ``tags`` (its ``hpsearch.*`` tags), the best trial's ``trial_id``,
    ``trial_run_id``, ``trial_params`` (typed values) and ``trial_epochs``, plus
    ``space_text`` and ``space_file`` (the space YAML logged under ``space/``) and
    ``tracking_uri``. The best trial is the one the search tagged
    (``hpsearch.best_trial_run_id``), else, for a search that never finished, its best
    FINISHED child. ``trial_epochs`` counts every epoch its weights were trained: a
    Hyperband trial continued from an earlier round includes that round's epochs.

    Raises NoSearches with a one-line reason: no such run, a trial (child) run, a run that
    is not a search, a search without a finished trial or without its space file."""
    import tempfile

    from mlflow.exceptions import MlflowException

    uri = resolve_tracking_uri(tracking_uri)
    client = _reader(uri)
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise NoSearches(f"no run '{run_id}' at {store_label(uri)}") from None
    tags, params = run.data.tags, run.data.params
    role = tags.get(ROLE_TAG)
    if role == "trial":
        raise NoSearches(
            f"run '{run_id}' is a trial (a child run) of search '{tags.get(PARENT_TAG, '?')}'; "
            "give the search's parent run id"
        )
    if role != "search":
        raise NoSearches(f"run '{run_id}' is not an hpsearch search (a parent run)")
    best = None
    best_id = tags.get("hpsearch.best_trial_run_id")
    if best_id:
        try:
            best = client.get_run(best_id)
        except MlflowException:
            best = None
    if best is None:
        best = _best_finished_child(client, run)
    if best is None:
        raise NoSearches(f"search '{run_id}' has no finished trial to refit")
    objective = params.get("objective", "val_loss")
    steps = [int(m.step) for m in client.get_metric_history(best.info.run_id, objective)]
    epochs = max([int(best.data.metrics.get("epochs", 0)), *steps])
    space_file = tags.get("hpsearch.space_file") or "space.yaml"
    space_text = None
    with tempfile.TemporaryDirectory() as tmp:
        names = [Path(space_file).name]
        try:
            names += [Path(a.path).name for a in client.list_artifacts(run_id, "space")]
        except MlflowException:
            pass
        for name in dict.fromkeys(names):
            try:
                local = client.download_artifacts(run_id, f"space/{name}", tmp)
            except Exception:  # noqa: BLE001, S112 - MLflow, HTTP and file errors alike
                continue
            space_text = Path(local).read_text(encoding="utf-8")
            space_file = space_file if name == Path(space_file).name else name
            break
    if space_text is None:
        raise NoSearches(f"search '{run_id}' has no space file among its artifacts (space/)")
    return {
        "experiment": client.get_experiment(run.info.experiment_id).name,
        "parent_run_id": run.info.run_id,
        "status": run.info.status,
        "params": dict(params),
        "tags": {k: v for k, v in tags.items() if k.startswith("hpsearch.")},
        "trial_id": best.data.tags.get(TRIAL_TAG) or tags.get("hpsearch.best_trial_id"),
        "trial_run_id": best.info.run_id,
        "trial_params": {k: _parse(v) for k, v in best.data.params.items()},
        "trial_epochs": epochs,
        "space_text": space_text,
        "space_file": space_file,
        "tracking_uri": uri,
    }


def _best_finished_child(client: Any, parent: Any) -> Any:
    """The FINISHED trial of ``parent`` with the best finite objective, or None."""
    direction = parent.data.params.get("direction", "max")
    query = f"tags.`{PARENT_TAG}` = '{parent.info.run_id}' and tags.`{ROLE_TAG}` = 'trial'"
    best, best_value = None, None
    for child in _search_all(client, parent.info.experiment_id, query):
        value = child.data.metrics.get("objective")
        status = child.data.tags.get("hpsearch.status") or child.info.status
        if status != FINISHED or not _finite(value):
            continue
        if best_value is None or (value > best_value if direction == "max" else value < best_value):
            best, best_value = child, value
    return best


def log_final_model(
    parent_run_id: str,
    model: Any,
    serving: tuple[dict[str, Any], Any],
    *,
    metrics: dict[str, float],
    tracking_uri: str | None = None,
    register_as: str | None = None,
    version_tags: dict[str, str] | None = None,
    description: str | None = None,
    verbose: bool = False,
) -> dict[str, str | None]:
    """Log a refit model and its test metrics on a search's parent run; register it.

    ``metrics`` (``test_accuracy``, ``refit_epochs``, ...) go on the parent run at step 0,
    before the model, so the LoggedModel carries them too. The model is logged to take raw
    rows, as the search's best model is (see log_served_model; ``serving`` is the data's
    recipe and example rows), named ``final_model``, and the parent is tagged
    ``hpsearch.final_model_uri``. The parent keeps its status.
    With ``register_as``, a new version of that registered model is created (the model
    first, if needed) with ``version_tags`` and ``description``; the parent is tagged
    ``hpsearch.registered_model_uri``. Returns ``model_uri`` (``models:/<model id>``),
    ``registered_name``, ``registered_version`` and ``registered_uri``
    (``models:/<name>/<version>``), the last three None without ``register_as``."""
    import io

    import mlflow
    from mlflow.entities import Metric

    client = _client(resolve_tracking_uri(tracking_uri))
    status = client.get_run(parent_run_id).info.status
    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, 0) for k, v in metrics.items() if _finite(v)]
    if items:
        client.log_batch(parent_run_id, metrics=items)
    active = mlflow.active_run()
    if active is not None and active.info.run_id == parent_run_id:
        model_uri = log_served_model(model, serving, FINAL_MODEL_NAME)
    else:
        with mlflow.start_run(run_id=parent_run_id):
            model_uri = log_served_model(model, serving, FINAL_MODEL_NAME)
        if status != FINISHED:  # start_run/end_run reopened and closed it: put it back
            client.update_run(parent_run_id, status=status)
    client.set_tag(parent_run_id, "hpsearch.final_model_uri", model_uri)
    out: dict[str, str | None] = {
        "model_uri": model_uri,
        "registered_name": None,
        "registered_version": None,
        "registered_uri": None,
    }
    if register_as:
        quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stderr(io.StringIO())
        with quiet:  # "Successfully registered model ..." lines
            version = mlflow.register_model(model_uri, register_as, tags=version_tags or {})
        if description:
            client.update_model_version(register_as, version.version, description=description)
        registered = f"models:/{register_as}/{version.version}"
        client.set_tag(parent_run_id, "hpsearch.registered_model_uri", registered)
        out |= {
            "registered_name": register_as,
            "registered_version": str(version.version),
            "registered_uri": registered,
        }
    return out


#: The MLflow types of a recipe's raw input kinds (hpsearch.recipe). Numbers are double even
#: when the column holds integers: a missing value is a NaN, which int64 cannot hold.
_INPUT_TYPES = {
    "numeric": "double",
    "bool": "boolean",
    "text": "string",
    "date": "string",
    "datetime": "datetime",
}


def log_served_model(model: Any, serving: tuple[dict[str, Any], Any], name: str) -> str:
    """Log ``model`` in the active run as a pyfunc that takes the dataset's raw rows.

    MLflow's "models from code": hpsearch/served_model.py is the model's code, and its
    artifacts are the Keras model (``model.keras``), the recipe (``recipe.json``) and the
    code that applies it (hpsearch/recipe.py, numpy and pandas only), so the model loads
    and serves where hpsearch is not installed. The signature names the raw columns and
    the answers: ``label`` and a probability per class, or ``prediction``. Requirements are
    pinned to what is installed here, never resolved over the network."""
    import json
    import tempfile

    import keras
    import mlflow
    import numpy as np
    import pandas as pd
    import tensorflow as tf
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    recipe, example = serving
    encoding = recipe["encoding"]
    specs: list[ColSpec | TensorSpec]
    if encoding["input"] == "array":
        specs = [TensorSpec(np.dtype("float64"), (-1, *(int(n) for n in encoding["shape"])))]
    else:
        specs = [ColSpec(_INPUT_TYPES[i["kind"]], i["name"]) for i in encoding["inputs"]]
    answers: list[ColSpec | TensorSpec] = [ColSpec("double", "prediction")]
    if recipe["task"] != "regression":
        answers = [ColSpec("string", "label")]
        answers += [ColSpec("double", c) for c in recipe["classes"]]
    signature = ModelSignature(inputs=Schema(specs), outputs=Schema(answers))
    here = Path(__file__).parent
    reqs = [
        f"mlflow=={mlflow.__version__}",
        f"tensorflow=={tf.__version__}",
        f"keras=={keras.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        keras_path, recipe_path = Path(tmp) / "model.keras", Path(tmp) / "recipe.json"
        model.save(keras_path)
        recipe_path.write_text(json.dumps(recipe, allow_nan=False), encoding="utf-8")
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=str(here / "served_model.py"),
            artifacts={
                "keras_model": str(keras_path),
                "recipe": str(recipe_path),
                "recipe_code": str(here / "recipe.py"),
            },
            signature=signature,
            input_example=example,
            pip_requirements=reqs,
        )
    return str(info.model_uri)


# ----------------------------------------------------------------------------- lr finder


def log_lr_find(
    space: Space,
    *,
    run_name: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    curve: dict[str, list[float]],
    artifacts: dict[str, Path],
    tags: dict[str, str] | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
) -> str:
    """Record one ``hpsearch lr-find`` sweep as a finished run named ``run_name`` in the
    experiment (default: the space's name), tagged ``hpsearch.role=lr-find`` (so trial and
    search queries never see it): ``params``, the summary ``metrics``, each ``curve`` series
    as a metric by step, the space file, and ``artifacts`` ({artifact name: local file}).
    Returns the run id; a run that fails while logging is closed as FAILED."""
    import shutil
    import tempfile

    from mlflow.entities import Metric, Param

    uri = resolve_tracking_uri(tracking_uri)
    preflight(uri)
    client = _client(uri)
    exp_id = ensure_experiment(client, experiment or space.name)
    run_tags = {
        "mlflow.runName": run_name,
        ROLE_TAG: "lr-find",
        "hpsearch.version": __version__,
        "hpsearch.space_sha256": space.sha256,
        "hpsearch.space_file": str(space.source or ""),
        "hpsearch.dataset": space.dataset.name,
    } | (tags or {})
    commit = _git_commit(Path.cwd())
    if commit:
        run_tags["mlflow.source.git.commit"] = commit
    run_id = str(client.create_run(exp_id, tags=run_tags).info.run_id)
    try:
        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            client.log_batch(run_id, params=items[i : i + 100])
        now = int(time.time() * 1000)
        points = [Metric(k, float(v), now, 0) for k, v in metrics.items() if _finite(v)]
        for key, values in curve.items():
            points += [Metric(key, float(v), now, i) for i, v in enumerate(values) if _finite(v)]
        for i in range(0, len(points), 1000):
            client.log_batch(run_id, metrics=points[i : i + 1000])
        if space.text:
            label = space.source.name if space.source else "space.yaml"
            client.log_text(run_id, space.text, f"space/{label}")
        with tempfile.TemporaryDirectory(prefix="hpsearch-lr-find-") as tmp:
            for artifact, local in artifacts.items():
                copy = Path(tmp) / artifact
                shutil.copyfile(local, copy)
                client.log_artifact(run_id, str(copy))
    except BaseException:
        with contextlib.suppress(Exception):
            client.set_terminated(run_id, FAILED)
        raise
    client.set_terminated(run_id, FINISHED)
    return run_id
