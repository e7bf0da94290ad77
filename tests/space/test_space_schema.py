"""The pydantic schema: settings, their limits, and the objective."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from hpsearch.space import (
    MAX_SEED,
    STRATEGIES,
    DatasetSpec,
    Objective,
    SearchSpec,
    SpaceError,
    TrainingSpec,
    check_choice,
    check_objective,
)
from hpsearch.space.fields import pydantic_error


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


def test_an_unknown_metric_names_the_way_out() -> None:
    with pytest.raises(ValueError, match=r"write objective: \{metric: NAME, direction: max\|min\}"):
        Objective.infer("val_f1")


def test_an_objective_the_task_does_not_report_is_refused() -> None:
    check_objective("val_auc", "binary")
    with pytest.raises(SpaceError) as info:
        check_objective("val_mae", "multiclass")
    assert info.value.field == "objective"
    assert info.value.problem == (
        "'val_mae' is not reported for a multiclass task; "
        "choose from val_loss, loss, val_accuracy, accuracy"
    )


def test_check_choice_suggests_the_near_name() -> None:
    assert check_choice("grid", STRATEGIES, "strategy") == "grid"
    with pytest.raises(ValueError, match=r"unknown strategy 'hyperbnd' \(did you mean 'hyperband'"):
        check_choice("hyperbnd", STRATEGIES, "strategy")


def _problem(model: type[BaseModel], raw: dict[str, Any]) -> tuple[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(raw)
    return pydantic_error(info.value, model)


@pytest.mark.parametrize(
    ("raw", "where", "message"),
    [
        ({"name": "digits", "task": "regression"}, (), "task applies to csv: and parquet: files"),
        ({"name": "penguins", "target": "sex"}, (), "target applies to csv: and parquet: files"),
        ({"name": "digits", "target": ""}, (), "target applies to csv: and parquet: files"),
        ({"name": "csv:"}, ("name",), "csv: needs a path: write csv:PATH"),
        ({"name": "csv:a.csv", "features": ["x"], "drop": ["x"]}, (), "'x' is both in features"),
        ({"name": "csv:a.csv", "target": "y", "drop": ["y"]}, (), "the target 'y' cannot be in"),
        (
            {"name": "digits", "split": {"valid": 0.5, "test": 0.5}},
            (),
            "split.valid + split.test must stay below 1 (got 0.5 + 0.5)",
        ),
        ({"name": "digit"}, ("name",), "unknown dataset 'digit' (did you mean 'digits'?)"),
    ],
)
def test_dataset_settings_are_checked_together(
    raw: dict[str, Any], where: tuple[Any, ...], message: str
) -> None:
    loc, problem = _problem(DatasetSpec, raw)
    assert loc == where and message in problem


def test_a_dataset_with_its_own_test_split_may_give_half_to_validation() -> None:
    assert DatasetSpec(name="mnist", split={"valid": 0.5, "test": 0.5}).split.valid == 0.5  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["asha", "tpe"])
def test_ray_only_strategies_point_at_the_ray_backend(strategy: str) -> None:
    assert _problem(SearchSpec, {"strategy": strategy}) == (
        (),
        f"strategy '{strategy}' runs on Ray only; set backend: ray (--backend ray)",
    )
    assert SearchSpec(strategy=strategy, backend="ray").strategy == strategy


@pytest.mark.parametrize(
    ("model", "raw", "where", "message"),
    [
        (SearchSpec, {"hyperbnd": {}}, ("hyperbnd",), "unknown key 'hyperbnd' (did you mean"),
        (SearchSpec, {"hyperband": {"factr": 2}}, ("hyperband", "factr"), "(did you mean 'factor'"),
        (SearchSpec, {"seed": MAX_SEED + 1}, ("seed",), "less than or equal to 4294967295"),
        (
            TrainingSpec,
            {"epochs": "ten"},
            ("epochs",),
            "unable to parse string as an integer, got 'ten'",
        ),
        (TrainingSpec, {"cv": 1}, ("cv",), "greater than or equal to 2"),
    ],
)
def test_limits_and_misspelt_keys(
    model: type[BaseModel], raw: dict[str, Any], where: tuple[Any, ...], message: str
) -> None:
    loc, problem = _problem(model, raw)
    assert loc == where and message in problem
