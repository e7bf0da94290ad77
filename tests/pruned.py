"""The pruned search both engines' pruning tests run: a space where half the configurations
are clearly bad, so the median rule prunes them (search.pruner)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpsearch.api import SearchSummary, prepare, run_search
from hpsearch.space import parse_space
from tests.spaces import tiny_space_text

#: A learning rate of 1e-5 barely moves a digits MLP in 3 epochs; 1e-2 reaches ~0.96. With
#: seed 1 both engines sample 1e-2 first, and each 1e-5 trial is pruned after epoch 2
#: (warm-up 1; one other trial at the epoch is enough; epoch 3, the last, never prunes).
PRUNED_SPACE = tiny_space_text(
    name="pruned",
    hyperparameters={
        "n_neurons": {"int": [16, 64]},
        "learning_rate": {"choice": [1e-5, 1e-2]},
        "batch_size": 64,
    },
    training={"epochs": 3, "patience": 0},
    search={"max_trials": 5, "seed": 1, "pruner": {"warmup_epochs": 1, "min_trials": 1}},
)


def pruned_search(tmp: Path, backend: str, **options: Any) -> SearchSummary:
    """The pruned search on ``backend``, into a sqlite store and an output folder in ``tmp``."""
    space = prepare(parse_space(PRUNED_SPACE, source=tmp / "space.yaml"), backend=backend)
    return run_search(
        space, tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}", output=tmp / "out", options=options
    )


def child_run(summary: SearchSummary, trial_id: str) -> Any:
    """The MLflow child run of one trial of ``summary``'s search."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=summary.tracking_uri)
    exp = client.get_experiment_by_name(summary.experiment)
    query = (
        f"tags.`hpsearch.trial_id` = '{trial_id}' and "
        f"tags.`mlflow.parentRunId` = '{summary.parent_run_id}'"
    )
    runs = client.search_runs([exp.experiment_id], query)
    assert len(runs) == 1, runs
    return runs[0]
