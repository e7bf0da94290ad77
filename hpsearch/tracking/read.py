"""Reading searches and trials back from MLflow alone (best, report, compare)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.errors import NoSearches
from hpsearch.tracking.store import (
    INTERRUPTED,
    PARENT_TAG,
    ROLE_TAG,
    TRIAL_TAG,
    _client,
    _no_experiment,
    _parse,
    _reader,
    _search_all,
    resolve_tracking_uri,
    store_label,
)
from hpsearch.trials import SearchRecord, order_columns

if TYPE_CHECKING:
    import pandas as pd


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
