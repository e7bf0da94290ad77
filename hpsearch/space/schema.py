"""The pydantic schema of a space file: dataset, training, search and objective settings,
with the limits every setting is held to."""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from hpsearch.backends import BACKENDS, STRATEGIES, only_on, runs_on
from hpsearch.errors import SpaceError
from hpsearch.space.params import (
    BUILTIN_DATASETS,
    FILE_PREFIXES,
    TASK_METRICS,
    did_you_mean,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


#: Seeds are 32-bit: numpy's and scikit-learn's generators take no more.
MAX_SEED = 2**32 - 1
#: The most epochs a trial may train, in ``training.epochs`` and Hyperband's max_epochs.
MAX_EPOCHS = 100_000
#: The most trials one search may run; a grid larger than this is refused.
MAX_TRIALS = 100_000
#: The most weights a model of the space may have: a larger one would not fit in memory.
MAX_WEIGHTS = 10**9
#: Datasets that ship their own test split (``split.test`` does not apply to them).
OWN_TEST_SPLIT: tuple[str, ...] = ("fashion_mnist", "mnist")
#: Input width of each built-in dataset, to bound a model's size before any data is read.
BUILTIN_INPUTS: dict[str, int] = {
    "penguins": 9,  # 4 measurements, island (3) and sex (2) one-hot
    "digits": 64,
    "iris": 4,
    "wine": 13,
    "breast_cancer": 30,
    "diabetes": 10,
    "fashion_mnist": 784,
    "mnist": 784,
    "california_housing": 8,
}


class SplitSpec(_Strict):
    """Fractions carved out for validation and test (of the whole, or of train when the
    dataset ships its own test split)."""

    valid: float = Field(0.2, gt=0, lt=1)
    test: float = Field(0.2, ge=0, lt=1)


class DatasetSpec(_Strict):
    """Which data, and how it is split and scaled."""

    name: str
    target: str | None = None
    #: Overrides the task inferred from the target column (files only).
    task: Literal["classification", "regression"] | None = None
    #: Keep only these columns (besides the target); ``drop`` removes columns.
    features: list[str] | None = Field(None, min_length=1)
    drop: list[str] = Field(default_factory=list)
    split: SplitSpec = SplitSpec()
    scale: Literal["standard", "minmax", "none"] = "standard"
    missing: Literal["drop", "impute"] = "drop"
    max_rows: int | None = Field(None, ge=10)

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSpec:
        if self.name not in OWN_TEST_SPLIT and self.split.valid + self.split.test >= 1:
            raise ValueError(
                f"split.valid + split.test must stay below 1 (got {self.split.valid:g} + "
                f"{self.split.test:g}): nothing would be left to train on"
            )
        if not self.is_file and (self.task or self.features or self.drop):
            key = "task" if self.task else "features" if self.features else "drop"
            raise ValueError(f"{key} applies to csv: and parquet: files, not built-in datasets")
        both = sorted(set(self.features or []) & set(self.drop))
        if both:
            raise ValueError(f"column '{both[0]}' is both in features and in drop")
        if self.target is not None and self.target in (self.features or []) + self.drop:
            raise ValueError(f"the target '{self.target}' cannot be in features or drop")
        return self

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v.startswith(FILE_PREFIXES):
            kind, _, path = v.partition(":")
            if not path.strip():
                raise ValueError(f"{kind}: needs a path: write {kind}:PATH (relative to this file)")
            return v
        if v in BUILTIN_DATASETS:
            return v
        raise ValueError(
            f"unknown dataset '{v}'{did_you_mean(v, BUILTIN_DATASETS)}; built in: "
            f"{', '.join(BUILTIN_DATASETS)}; or csv:PATH / parquet:PATH"
        )

    @property
    def is_file(self) -> bool:
        return self.name.startswith(FILE_PREFIXES)


class TrainingSpec(_Strict):
    """How each trial trains."""

    epochs: int = Field(10, ge=1, le=MAX_EPOCHS)
    patience: int | None = Field(3, ge=0, le=MAX_EPOCHS)
    #: k-fold cross-validation over train+valid (the seed's RandomizedSearchCV(cv=3)).
    cv: int | None = Field(None, ge=2, le=20)


class HyperbandSpec(_Strict):
    """``kt.Hyperband`` settings; ``max_epochs`` defaults to ``training.epochs``."""

    max_epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS)
    factor: int = Field(3, ge=2, le=100)
    iterations: int = Field(1, ge=1, le=MAX_TRIALS)


class BayesianSpec(_Strict):
    """``kt.BayesianOptimization`` settings, as in the seed (alpha=1e-4, beta=2.6)."""

    initial_points: int | None = Field(None, ge=1, le=MAX_TRIALS)
    alpha: float = Field(1e-4, gt=0)
    beta: float = Field(2.6, gt=0)


class SearchSpec(_Strict):
    """What search runs, and its budget."""

    strategy: str = "random"
    backend: str = "keras-tuner"
    max_trials: int = Field(10, ge=1, le=MAX_TRIALS)
    seed: int = Field(42, ge=0, le=MAX_SEED)
    executions_per_trial: int = Field(1, ge=1, le=100)
    hyperband: HyperbandSpec = HyperbandSpec()
    bayesian: BayesianSpec = BayesianSpec()

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, v: str) -> str:
        return check_choice(v, STRATEGIES, "strategy")

    @field_validator("backend")
    @classmethod
    def _backend(cls, v: str) -> str:
        return check_choice(v, BACKENDS, "backend")

    @model_validator(mode="after")
    def _ray_only(self) -> SearchSpec:
        if not runs_on(self.strategy, self.backend):
            home = only_on(self.strategy) or "ray"
            raise ValueError(
                f"strategy '{self.strategy}' runs on {'Ray' if home == 'ray' else home} only; "
                f"set backend: {home} (--backend {home})"
            )
        return self


def check_choice(value: str, options: tuple[str, ...], what: str) -> str:
    """Return ``value`` if it is one of ``options``, else raise ValueError with a hint."""
    if value not in options:
        raise ValueError(
            f"unknown {what} '{value}'{did_you_mean(value, options)}; "
            f"choose from {', '.join(options)}"
        )
    return value


class Objective(BaseModel):
    """The metric to optimise; its direction is inferred from its name."""

    metric: str
    direction: Literal["max", "min"]

    @classmethod
    def infer(cls, metric: str) -> Objective:
        base = metric.removeprefix("val_")
        if base in ("accuracy", "acc", "auc", "precision", "recall", "r2"):
            return cls(metric=metric, direction="max")
        if base in ("loss", "mse", "mae", "rmse", "mape"):
            return cls(metric=metric, direction="min")
        raise ValueError(
            f"cannot infer whether to maximise or minimise '{metric}'; "
            "write objective: {metric: NAME, direction: max|min}"
        )


class _SpaceFile(_Strict):
    """The raw schema of a space file, before hyperparameters are parsed."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    description: str | None = None
    #: ``package.module:function`` called as ``function(params, input_shape, task)``.
    builder: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    dataset: DatasetSpec
    objective: Union[str, dict[str, str], None] = None
    hyperparameters: dict[str, Any]
    training: TrainingSpec = TrainingSpec()
    search: SearchSpec = SearchSpec()


def check_objective(metric: str, task: str, fail: Any = None) -> None:
    """Raise when the task's model does not report ``metric``."""
    known = TASK_METRICS[task]
    if metric.removeprefix("val_") not in known:
        options = [m for k in known for m in (f"val_{k}", k)]
        msg = (
            f"'{metric}' is not reported for a {task} task{did_you_mean(metric, options)}; "
            f"choose from {', '.join(options)}"
        )
        raise fail(("objective",), msg) if fail else SpaceError(msg, field="objective")
