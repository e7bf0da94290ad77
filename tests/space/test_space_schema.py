"""The pydantic schema: settings, their limits, and the objective."""

from __future__ import annotations

import pytest

from hpsearch.space import Objective


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("accuracy", "max"),
        ("val_accuracy", "max"),
        ("val_auc", "max"),
        ("loss", "min"),
        ("val_loss", "min"),
        ("mse", "min"),
        ("val_mse", "min"),
        ("mae", "min"),
        ("val_mae", "min"),
        ("val_rmse", "min"),
    ],
)
def test_direction_is_inferred_from_the_metric(metric: str, direction: str) -> None:
    assert Objective.infer(metric).direction == direction
