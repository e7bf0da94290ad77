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

from hpsearch.backends import BACKENDS, PRUNABLE, STRATEGIES, only_on, runs_on
from hpsearch.errors import SpaceError
from hpsearch.space.columns import ModelSpec
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
        # A built-in dataset's target and columns are its own: any of these would be ignored.
        given = {"target": self.target is not None, "task": bool(self.task)}
        given |= {"features": bool(self.features), "drop": bool(self.drop)}
        key = next((k for k, v in given.items() if v), None)
        if key and not self.is_file:
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


class TrackingSpec(_Strict):
    """What records a search besides MLflow: ``tensorboard`` is a folder (relative to the
    working directory) for TensorBoard's files, as ``--tensorboard DIR``, which wins."""

    tensorboard: str | None = Field(None, min_length=1)


class HyperbandSpec(_Strict):
    """Hyperband's brackets (hyperband, asha, bohb): ``max_epochs`` defaults to
    ``training.epochs``; ``min_epochs``, the smallest rung, drops the brackets whose first
    rung would train fewer epochs (by default the first bracket starts at one epoch or so)."""

    max_epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS)
    min_epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS)
    factor: int = Field(3, ge=2, le=100)
    iterations: int = Field(1, ge=1, le=MAX_TRIALS)

    @model_validator(mode="after")
    def _rungs(self) -> HyperbandSpec:
        if self.min_epochs and self.max_epochs and self.min_epochs > self.max_epochs:
            raise ValueError(
                f"hyperband.min_epochs ({self.min_epochs}) is above max_epochs "
                f"({self.max_epochs}): the smallest rung cannot train more than the largest"
            )
        return self


class BayesianSpec(_Strict):
    """``kt.BayesianOptimization`` settings, as in the seed (alpha=1e-4, beta=2.6)."""

    initial_points: int | None = Field(None, ge=1, le=MAX_TRIALS)
    alpha: float = Field(1e-4, gt=0)
    beta: float = Field(2.6, gt=0)


class BohbSpec(_Strict):
    """BOHB's model (Falkner et al., ICML 2018): new configurations come from a TPE fit on
    the largest budget (epochs) with ``min_points`` results, else at random; a
    ``random_fraction`` of them is random anyway, to keep exploring."""

    random_fraction: float = Field(1 / 3, ge=0, le=1)
    #: Results a budget needs before the model uses it; default: searched params + 1.
    min_points: int | None = Field(None, ge=2, le=MAX_TRIALS)


class PrunerSpec(_Strict):
    """The median stopping rule: after ``warmup_epochs``, a trial stops when its best value so
    far is worse than the median of the earlier trials' best values at the same epoch, once
    ``min_trials`` earlier trials reached that epoch. ``pruner: median`` is short for
    ``pruner: {rule: median}``."""

    rule: Literal["median"] = "median"
    warmup_epochs: int = Field(2, ge=0, le=MAX_EPOCHS)
    min_trials: int = Field(3, ge=1, le=MAX_TRIALS)


class IEpochSpec(_Strict):
    """The i-epoch baseline (Egele et al., 2023): every sampled configuration trains
    ``epochs`` epochs, then the best ``keep`` fraction continues from its weights to the
    full epochs."""

    epochs: int = Field(1, ge=1, le=MAX_EPOCHS)
    keep: float = Field(0.2, gt=0, le=1)


class SearchSpec(_Strict):
    """What search runs, and its budget."""

    strategy: str = "random"
    backend: str = "keras-tuner"
    max_trials: int = Field(10, ge=1, le=MAX_TRIALS)
    seed: int = Field(42, ge=0, le=MAX_SEED)
    executions_per_trial: int = Field(1, ge=1, le=100)
    hyperband: HyperbandSpec = HyperbandSpec()
    bayesian: BayesianSpec = BayesianSpec()
    bohb: BohbSpec = BohbSpec()
    i_epoch: IEpochSpec = IEpochSpec()
    pruner: PrunerSpec | None = None

    @field_validator("pruner", mode="before")
    @classmethod
    def _pruner_short(cls, v: Any) -> Any:
        if isinstance(v, str):  # pruner: median / none
            return None if v == "none" else {"rule": check_choice(v, ("median", "none"), "pruner")}
        return v

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
        if self.pruner and self.executions_per_trial > 1:
            raise ValueError(
                "a pruner judges one training per trial: set executions_per_trial: 1 with a "
                "pruner (or drop the pruner, --pruner none)"
            )
        if self.pruner and self.strategy not in PRUNABLE:
            raise ValueError(
                f"a pruner stops trials of {', '.join(PRUNABLE)}; {self.strategy} stops "
                "trials by its own rungs (drop the pruner, --pruner none)"
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
    #: Fixed settings of hpsearch's model (Wide & Deep's columns), never searched.
    model: ModelSpec | None = None
    training: TrainingSpec = TrainingSpec()
    search: SearchSpec = SearchSpec()
    tracking: TrackingSpec = TrackingSpec()


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
