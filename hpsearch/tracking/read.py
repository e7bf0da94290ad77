"""Reading searches and trials back from MLflow alone (best, report, compare).

Runs come back in pages of 1,000 (``_search_all``): the trials of an experiment in one
paged query, not one per search or per trial, so reading 1,000 trials costs a few
requests. Per-epoch histories are the one per-run read (MLflow's client has no bulk
call for them): ``load_searches(top_k=...)`` reads only the trials a report draws.
"""

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
from hpsearch.trials import SearchRecord, finished_rows, order_columns, pruned_rows

if TYPE_CHECKING:
    import pandas as pd


def load_trials(
    experiment: str, *, tracking_uri: str | None = None, parent_run_id: str | None = None
) -> pd.DataFrame:
    """Rebuild the trial table of every search in ``experiment`` (or of one parent run)."""
    client = _reader(resolve_tracking_uri(tracking_uri))
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise NoSearches(_no_experiment(client, experiment))
    query = f"tags.`{ROLE_TAG}` = 'trial'"
    if parent_run_id:
        query += f" and tags.`{PARENT_TAG}` = '{parent_run_id}'"
    runs = _search_all(client, exp.experiment_id, query)
    parents = _search_all(client, exp.experiment_id, f"tags.`{ROLE_TAG}` = 'search'")
    return _frame(runs, {p.info.run_id: p for p in parents})


def _frame(runs: list[Any], parents: dict[str, Any]) -> pd.DataFrame:
    """The trial table of child ``runs``; ``parents`` (by run id) fill what older children
    lack (strategy, backend) and give the seed."""
    import pandas as pd

    frame = pd.DataFrame([_row(run, parents) for run in runs])
    if frame.empty:
        return order_columns(frame)
    # a trial stopped by Ctrl+C and run again by --resume is that trial once, not a failure
    stopped = frame["error"] == INTERRUPTED
    keys = list(zip(frame["parent_run_id"], frame["trial_id"], strict=True))
    rerun = {k for k, s in zip(keys, stopped, strict=True) if not s}
    frame = frame[[not (s and k in rerun) for k, s in zip(keys, stopped, strict=True)]]
    frame = frame.sort_values(["parent_run_id", "trial_id"], kind="stable").reset_index(drop=True)
    return order_columns(frame)


def _row(run: Any, parents: dict[str, Any]) -> dict[str, Any]:
    """One child run as a row of the trial table."""
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
        f"metrics.{k}": v for k, v in metrics.items() if k not in ("objective", "epochs", "seconds")
    }
    return row


def load_searches(
    *,
    experiment: str | None = None,
    run_ids: list[str] | tuple[str, ...] = (),
    tracking_uri: str | None = None,
    tags: dict[str, str] | None = None,
    curves: bool = True,
    top_k: int | None = None,
) -> list[SearchRecord]:
    """Every search of ``experiment`` (or the parent runs ``run_ids``), oldest first, with
    its trial table and per-epoch objective curves, rebuilt from MLflow alone.

    ``tags`` narrows to parents carrying those tags (``compare`` finds its own searches so).
    Curves cost one request per trial: ``curves=False`` reads none, ``top_k`` only those of
    each search's ``top_k`` best finished trials (ties included), the ones a report draws.
    Raises NoSearches with a one-line reason when nothing matches."""
    client = _reader(resolve_tracking_uri(tracking_uri))
    if run_ids:
        parents = _parents_by_id(client, run_ids)
    else:
        parents = _parents_of(client, experiment, tags)
    parents.sort(key=lambda r: r.info.start_time)
    by_exp: dict[str, list[Any]] = {}
    for parent in parents:
        by_exp.setdefault(parent.info.experiment_id, []).append(parent)
    by_id = {p.info.run_id: p for p in parents}
    children: dict[str, list[Any]] = {run_id: [] for run_id in by_id}
    names: dict[str, str] = {}
    for exp_id, mine in by_exp.items():
        names[exp_id] = client.get_experiment(exp_id).name
        for run in _children(client, exp_id, mine, whole=not run_ids and not tags):
            parent_id = run.data.tags.get(PARENT_TAG, "")
            if parent_id in children:
                children[parent_id].append(run)
    out = []
    for parent in parents:
        frame = _frame(children[parent.info.run_id], by_id)
        wanted = curves and (top_k is None or top_k > 0)
        out.append(_record(client, parent, names[parent.info.experiment_id], frame, wanted, top_k))
    return out


def _parents_by_id(client: Any, run_ids: list[str] | tuple[str, ...]) -> list[Any]:
    from mlflow.exceptions import MlflowException

    parents = []
    for rid in run_ids:
        try:
            run = client.get_run(rid)
        except MlflowException:
            raise NoSearches(f"no run '{rid}' at {store_label(client.tracking_uri)}") from None
        if run.data.tags.get(ROLE_TAG) != "search":
            raise NoSearches(f"run '{rid}' is not an hpsearch search (a parent run)")
        parents.append(run)
    return parents


def _parents_of(client: Any, experiment: str | None, tags: dict[str, str] | None) -> list[Any]:
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
    return parents


def _children(client: Any, exp_id: str, parents: list[Any], whole: bool) -> list[Any]:
    """The trial runs of ``parents``: every trial of the experiment in one paged query when
    ``whole`` (all its searches are wanted), else one query per search."""
    trials = f"tags.`{ROLE_TAG}` = 'trial'"
    if whole:
        return _search_all(client, exp_id, trials)
    out = []
    for parent in parents:
        query = f"{trials} and tags.`{PARENT_TAG}` = '{parent.info.run_id}'"
        out += _search_all(client, exp_id, query)
    return out


def _curve_trials(frame: Any, direction: str, top_k: int | None) -> list[tuple[Any, Any]]:
    """(trial id, run id) of the trials whose curves to read: all, or the ``top_k`` best
    finished ones and any that tie with the k-th (a report's pick among ties is in), and
    the ``top_k`` best pruned ones (the report shows where their curves stopped)."""
    rows = frame
    if top_k is not None and not frame.empty:
        ok = finished_rows(frame)
        ranked = ok["objective"].sort_values(ascending=direction != "max")
        cut = ranked.iloc[min(top_k, len(ranked)) - 1] if len(ranked) else None
        keep = ok["objective"] >= cut if direction == "max" else ok["objective"] <= cut
        rows = ok[keep] if cut is not None else ok
        pruned = pruned_rows(frame, direction).head(top_k)
        if not pruned.empty:
            import pandas as pd

            rows = pd.concat([rows, pruned])
    if rows.empty:
        return []
    return list(zip(rows["trial_id"], rows["run_id"], strict=True))


def _record(
    client: Any, parent: Any, experiment: str, frame: Any, curves: bool, top_k: int | None
) -> SearchRecord:
    import pandas as pd

    info, params, tags = parent.info, parent.data.params, parent.data.tags
    metric = params.get("objective", "val_loss")
    direction = params.get("direction", "max")
    started = info.start_time / 1000
    by_trial: dict[str, list[tuple[int, float]]] = {}
    if curves:
        for trial_id, run_id in _curve_trials(frame, direction, top_k):
            history = client.get_metric_history(run_id, metric)
            by_trial[str(trial_id)] = sorted((int(m.step), float(m.value)) for m in history)
    ends = frame["end_time"] if "end_time" in frame else []  # none: a search with no trial
    ended_s = [end / 1000 - started if end == end and end else None for end in ends]
    frame = frame.assign(ended_s=pd.Series(ended_s, index=frame.index, dtype="float64"))
    frame = frame.drop(columns=["end_time"], errors="ignore")
    return SearchRecord(
        run_id=info.run_id,
        name=info.run_name or info.run_id,
        experiment=experiment,
        strategy=tags.get("hpsearch.strategy") or params.get("strategy", "?"),
        backend=tags.get("hpsearch.backend") or params.get("backend", "?"),
        status=info.status,
        metric=metric,
        direction=direction,
        started=started,
        ended=info.end_time / 1000 if info.end_time else None,
        trials=frame,
        curves=by_trial,
        params=dict(params),
        tags={k: v for k, v in tags.items() if k.startswith("hpsearch.")},
        space_text=_space_text(info, tags.get("hpsearch.space_file")),
        model_uri=tags.get("hpsearch.best_model_uri"),
        artifact_uri=info.artifact_uri,
    )


def _space_text(info: Any, space_file: str | None) -> str | None:
    """The space file the search logged, None for an old run without it."""
    if not space_file:
        return None
    try:
        import mlflow

        return str(
            mlflow.artifacts.load_text(
                f"{info.artifact_uri.rstrip('/')}/space/{Path(space_file).name}"
            )
        )
    except Exception:  # noqa: BLE001 - an old run without the artifact: no bounds
        return None


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
