"""The MLflow store: its URI, the client, the experiment, and the UI on it.

Every other tracking module reaches MLflow through ``_client`` or ``_reader`` here, so
the retry limits, the quiet loggers and the safe opening of a sqlite store (sqlite_store)
apply everywhere.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from hpsearch.errors import NoSearches, TrackingUnavailable
from hpsearch.tracking.sqlite_store import open_sqlite

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
ROLE_TAG, TRIAL_TAG = "hpsearch.role", "hpsearch.trial_id"
PARENT_TAG = "mlflow.parentRunId"
OUTPUT_TAG = "hpsearch.output"
INTERRUPTED = "interrupted: the search stopped before this trial ended"


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

    def connect() -> Any:
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)  # creates and migrates the schema now
        return client

    mlflow.set_tracking_uri(uri)
    return open_sqlite(uri, connect, store_label(uri))


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


def _finite(v: Any) -> bool:
    try:
        return float(v) == float(v) and abs(float(v)) != float("inf")
    except (TypeError, ValueError):
        return False


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
    from hpsearch.tracking.serve import exec_module

    uri = resolve_tracking_uri(tracking_uri)
    exec_module(
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
    )
