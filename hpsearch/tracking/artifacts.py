"""What a search leaves in MLflow besides its runs: models, reports, lr-find sweeps.

Also reads a finished search back for a final refit, and logs the refit model.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import time
from pathlib import Path
from typing import Any

from hpsearch.errors import NoSearches
from hpsearch.space import Space
from hpsearch.tracking.store import (
    PARENT_TAG,
    ROLE_TAG,
    TRIAL_TAG,
    _client,
    _finite,
    _git_commit,
    _parse,
    _reader,
    _search_all,
    ensure_experiment,
    preflight,
    resolve_tracking_uri,
    store_label,
)
from hpsearch.trials import FAILED, FINISHED
from hpsearch.version import __version__


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

    MLflow's "models from code": hpsearch/tracking/served_model.py is the model's code, and its
    artifacts are the Keras model (``model.keras``), the recipe (``recipe.json``) and the
    code that applies it (hpsearch/recipe.py, numpy and pandas only), and hpsearch's own
    Keras layers (hpsearch/layers.py, keras only), so the model loads
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
    recipe_spec = importlib.util.find_spec("hpsearch.recipe")  # found, not imported
    assert recipe_spec is not None and recipe_spec.origin is not None
    layers_spec = importlib.util.find_spec("hpsearch.layers")  # Wide & Deep's SelectColumns
    assert layers_spec is not None and layers_spec.origin is not None
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
                "recipe_code": recipe_spec.origin,
                "layers_code": layers_spec.origin,
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
