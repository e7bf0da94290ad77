"""The final refit (Hands-On ML 10.3, step 5): retrain a search's best configuration on
train+valid, score it once on the held-out test split, log it and register it in MLflow.

Everything comes back from MLflow: the parent run's seed, the best trial's params and its
epochs, and the space file logged under ``space/``. The dataset is loaded with the search's
seed, so the split is the same one and the test rows were never seen by any trial.

Preprocessing: the features keep the search's encoding and scaling, fitted on the train
split alone (the recipe in ``preprocessing.json`` on the parent run), so the final model
takes exactly the inputs the search's best model took and no test statistic enters
anything; the logged model applies that recipe to raw rows itself. Only a ``normalize``
Normalization layer, which lives inside the model, adapts on train+valid, the data it is
refit on.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.errors import RefitFailed
from hpsearch.space import parse_space

if TYPE_CHECKING:
    import keras

    from hpsearch.data import Dataset
    from hpsearch.space import Space


@dataclass
class RefitResult:
    """What a final refit did, where its model is, and its test score."""

    experiment: str
    parent_run_id: str
    trial_id: str | None
    trial_run_id: str
    params: dict[str, Any]
    epochs: int
    train_rows: int
    test_rows: int
    test_metrics: dict[str, float]  # test_accuracy, test_loss, ... as logged on the parent
    model_uri: str  # models:/<logged model id>
    tracking_uri: str
    registered_name: str | None = None
    registered_version: str | None = None
    registered_uri: str | None = None  # models:/<name>/<version>
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        from hpsearch.tracking import redact_uri

        return {
            "experiment": self.experiment,
            "parent_run_id": self.parent_run_id,
            "trial_id": self.trial_id,
            "trial_run_id": self.trial_run_id,
            "params": self.params,
            "refit_epochs": self.epochs,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "test_metrics": self.test_metrics,
            "model_uri": self.model_uri,
            "registered_name": self.registered_name,
            "registered_version": self.registered_version,
            "registered_uri": self.registered_uri,
            "tracking_uri": redact_uri(self.tracking_uri),
            "seconds": round(self.seconds, 2),
        }


def final_fit(
    parent_run_id: str,
    *,
    tracking_uri: str | None = None,
    register: bool = True,
    verbose: bool = False,
    epochs: int | None = None,
) -> RefitResult:
    """Refit the best trial of search ``parent_run_id`` on train+valid and test it once.

    Call it right after a search with the summary's ``parent_run_id`` and
    ``tracking_uri``. The best config is trained for as many epochs as its trial trained
    (``epochs`` overrides that), with the trial's batch size, after
    ``keras.utils.set_random_seed(seed)``; then it is evaluated on the test split. On the
    parent run it logs ``test_<metric>`` for each metric (``test_loss``, ``test_accuracy``,
    ...) and ``refit_epochs``, the model as ``final_model`` (a pyfunc on the raw
    columns, see tracking.log_final_model) and the tag ``hpsearch.final_model_uri``. With
    ``register``, the model becomes a new version of the registered model named after the
    experiment, tagged with ``param.<name>`` for each best param, the test metrics,
    ``parent_run_id`` and ``space_sha256``.

    Raises tracking.NoSearches (no such run, a trial's run, no finished trial),
    SpaceError (the search's space has no test split, or its builder cannot be imported),
    data.DataError (its data cannot be read any more), tracking.TrackingUnavailable and
    RefitFailed (a NaN loss)."""
    from hpsearch.tracking import preflight, resolve_tracking_uri

    started = time.perf_counter()
    uri = resolve_tracking_uri(tracking_uri)
    preflight(uri)
    plan = load_plan(parent_run_id, uri, epochs=epochs, verbose=verbose)
    model, test_metrics = train_and_score(plan, verbose=verbose)
    logged = log_refit(plan, model, test_metrics, uri, register=register, verbose=verbose)
    import keras

    keras.backend.clear_session()
    search = plan.search
    return RefitResult(
        experiment=search["experiment"],
        parent_run_id=search["parent_run_id"],
        trial_id=search["trial_id"],
        trial_run_id=search["trial_run_id"],
        params=plan.params,
        epochs=plan.epochs,
        train_rows=plan.fit_rows,
        test_rows=len(plan.data.x_test),
        test_metrics=test_metrics,
        model_uri=str(logged["model_uri"]),
        tracking_uri=uri,
        registered_name=logged["registered_name"],
        registered_version=logged["registered_version"],
        registered_uri=logged["registered_uri"],
        seconds=time.perf_counter() - started,
    )


@dataclass
class RefitPlan:
    """What a refit needs, all read back from MLflow: the search's record, its space, the
    dataset split with its seed, the trial's params and the epochs to train."""

    search: dict[str, Any]  # as tracking.load_search_for_refit returns it
    space: Space
    data: Dataset
    seed: int
    params: dict[str, Any]
    epochs: int

    @property
    def fit_rows(self) -> int:
        """Rows the final model trains on: train+valid."""
        return len(self.data.x_train) + len(self.data.x_valid)


def load_plan(
    parent_run_id: str, uri: str, *, epochs: int | None = None, verbose: bool = False
) -> RefitPlan:
    """Read the search back and reload its data with its seed, so the split is the same
    and the test rows were never seen by a trial; fail early (one line) on a builder that
    cannot be imported or a search with no test split, before anything trains."""
    from hpsearch.data import load_dataset
    from hpsearch.tracking import load_search_for_refit

    search = load_search_for_refit(parent_run_id, tracking_uri=uri)
    space_file = Path(search["space_file"])
    space = parse_space(search["space_text"], source=space_file)
    seed = int(search["params"].get("seed", space.search.seed))
    if space.builder:  # as a search does: a builder that cannot be imported is one line
        from hpsearch.model import BuilderError, load_builder

        try:
            load_builder(space.builder, space.builder_dirs(), verbose=verbose)
        except BuilderError as exc:
            raise space.error_at("builder", str(exc)) from None
    data = load_dataset(space.dataset, seed, space_file.parent)
    if len(data.x_test) == 0:
        raise space.error_at(
            "dataset.split.test",
            f"search '{parent_run_id}' kept no test split: nothing to score a final model on",
        )
    # The trial's params (per-layer widths included), over the space's values for any a
    # backend did not record.
    params = {name: space.default_of(name) for name in space.params}
    params |= search["trial_params"]
    n_epochs = int(epochs if epochs is not None else search["trial_epochs"])
    if n_epochs < 1:
        n_epochs = int(search["params"].get("epochs", space.training.epochs))
    return RefitPlan(search, space, data, seed, params, n_epochs)


def train_and_score(
    plan: RefitPlan, *, verbose: bool = False
) -> tuple[keras.Model, dict[str, float]]:
    """Train the plan's config on train+valid from its seed, then score it once on test:
    the model and ``{"test_<metric>": value}``. Raises RefitFailed on a NaN or infinite
    loss (or a fit that stopped early), before anything is logged."""
    import numpy as np

    from hpsearch.model import quiet_tensorflow

    quiet_tensorflow(verbose)
    import keras

    from hpsearch.model import build_for, evaluate, fit_callbacks, fit_options
    from hpsearch.wide_deep import model_columns

    data, params, n_epochs = plan.data, plan.params, plan.epochs
    x_fit = np.concatenate([data.x_train, data.x_valid])
    y_fit = np.concatenate([data.y_train, data.y_valid])
    keras.utils.set_random_seed(plan.seed)
    # norm_data: a normalize layer adapts on, and a step schedule counts batches of, the
    # refit data
    model = build_for(
        params,
        data,
        builder=plan.space.builder,
        builder_dirs=plan.space.builder_dirs(),
        norm_data=x_fit,
        columns=model_columns(plan.space, data),
    )
    options = fit_options(params, y_fit, data.task)  # batch_size, class_weight
    history = model.fit(
        x_fit,
        y_fit,
        epochs=n_epochs,
        **options,
        shuffle=True,
        callbacks=fit_callbacks(data.target_scale),
        verbose=1 if verbose else 0,
    )
    losses = history.history.get("loss", [])
    if len(losses) < n_epochs or not all(math.isfinite(v) for v in losses):
        raise RefitFailed(
            f"the refit of trial {plan.search['trial_id']} reached a NaN or infinite loss "
            f"after {len(losses)} of {n_epochs} epochs; nothing was logged"
        )
    scores = evaluate(model, data.x_test, data.y_test, data.target_scale, options["batch_size"])
    return model, {f"test_{k}": v for k, v in scores.items()}


def version_tags(plan: RefitPlan, test_metrics: dict[str, float]) -> dict[str, str]:
    """The registered version's tags: each best param, the test metrics and where the
    model came from (parent and trial runs, space hash, epochs, dataset)."""
    search = plan.search
    tags = {f"param.{k}": str(v) for k, v in search["trial_params"].items()}
    tags |= {k: f"{v:.6g}" for k, v in test_metrics.items()}
    tags |= {
        "parent_run_id": search["parent_run_id"],
        "trial_run_id": search["trial_run_id"],
        "space_sha256": search["tags"].get("hpsearch.space_sha256", plan.space.sha256),
        "refit_epochs": str(plan.epochs),
        "dataset": plan.data.name,
    }
    return tags


def description(plan: RefitPlan, test_metrics: dict[str, float]) -> str:
    """The registered version's description: what was refit on what, and its test score."""
    search = plan.search
    shown = ", ".join(f"{k} = {v:.4f}" for k, v in test_metrics.items())
    return (
        f"Best trial {search['trial_id']} of search {search['parent_run_id']}, refit on "
        f"train+valid ({plan.fit_rows} rows, {plan.epochs} epochs) and scored once on the "
        f"held-out test split ({len(plan.data.x_test)} rows): {shown}. It takes the "
        "dataset's raw columns and answers with labels and class probabilities, or "
        "predictions in the target's units: the encoding and scaling of the train split "
        "live inside it."
    )


def log_refit(
    plan: RefitPlan,
    model: keras.Model,
    test_metrics: dict[str, float],
    uri: str,
    *,
    register: bool = True,
    verbose: bool = False,
) -> dict[str, str | None]:
    """Log the final model and its test metrics on the parent run and, with ``register``,
    register it under the experiment's name (tracking.log_final_model's answer)."""
    from hpsearch.tracking import log_final_model

    return log_final_model(
        plan.search["parent_run_id"],
        model,
        plan.data.model_inputs(),
        metrics={**test_metrics, "refit_epochs": float(plan.epochs)},
        tracking_uri=uri,
        register_as=plan.search["experiment"] if register else None,
        version_tags=version_tags(plan, test_metrics),
        description=description(plan, test_metrics),
        verbose=verbose,
    )
