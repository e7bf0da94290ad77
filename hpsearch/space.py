"""Search-space files: schema, loading and validation with ``file:line`` errors.

This module is a leaf: it imports only yaml and pydantic, so ``hpsearch validate`` and the
CLI's start-up never pay for tensorflow, keras_tuner, ray or mlflow.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hpsearch.backends import BACKENDS, STRATEGIES, only_on, runs_on
from hpsearch.errors import MAX_ERROR_CHARS, SpaceError, one_line  # noqa: F401

M = TypeVar("M", bound=BaseModel)
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "rmsprop", "nadam", "adamw", "adagrad", "adamax")
ACTIVATIONS: tuple[str, ...] = (
    "relu",
    "elu",
    "selu",
    "gelu",
    "swish",
    "tanh",
    "sigmoid",
    "leaky_relu",
    "linear",
)
INITIALIZERS: tuple[str, ...] = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "random_normal",
    "random_uniform",
)

LR_SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine_restarts")
LAYER_SHAPES: tuple[str, ...] = ("same", "funnel", "per_layer")
CLASS_WEIGHTS: tuple[str, ...] = ("none", "balanced")

#: Built-in datasets and their task, known here so validation needs no heavy import.
BUILTIN_DATASETS: dict[str, str] = {
    "penguins": "multiclass",
    "digits": "multiclass",
    "iris": "multiclass",
    "wine": "multiclass",
    "breast_cancer": "binary",
    "diabetes": "regression",
    "fashion_mnist": "multiclass",
    "mnist": "multiclass",
    "california_housing": "regression",
}
FILE_PREFIXES: tuple[str, ...] = ("csv:", "parquet:")

#: Objective metrics each task produces (see model.compile_metrics).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "multiclass": ("loss", "accuracy"),
    "binary": ("loss", "accuracy", "auc"),
    "regression": ("loss", "mae", "mse", "rmse"),
}


@dataclass(frozen=True)
class HParamInfo:
    """What the vocabulary knows about one hyperparameter."""

    kind: type
    default: Any
    allowed: tuple[str, ...] = ()
    low: float | None = None  # inclusive lower bound
    high: float | None = None  # upper bound
    high_open: bool = False  # True when ``high`` itself is not allowed


VOCABULARY: dict[str, HParamInfo] = {
    "n_hidden": HParamInfo(int, 2, low=0, high=64),
    "n_neurons": HParamInfo(int, 64, low=1, high=65536),
    "activation": HParamInfo(str, "relu", allowed=ACTIVATIONS),
    "dropout": HParamInfo(float, 0.0, low=0.0, high=1.0, high_open=True),
    "learning_rate": HParamInfo(float, 1e-3, low=0.0, high=10.0),
    "optimizer": HParamInfo(str, "adam", allowed=OPTIMIZERS),
    "batch_size": HParamInfo(int, 32, low=1, high=1 << 20),
    "normalize": HParamInfo(bool, False),
    "kernel_initializer": HParamInfo(str, "glorot_uniform", allowed=INITIALIZERS),
    # Regularisation and schedules from the seed (Hands-On ML ch. 10-11).
    "l1": HParamInfo(float, 0.0, low=0.0, high=1.0),
    "l2": HParamInfo(float, 0.0, low=0.0, high=1.0),
    "lr_schedule": HParamInfo(str, "constant", allowed=LR_SCHEDULES),
    "lr_drop": HParamInfo(float, 0.5, low=0.0, high=1.0),  # step decay: factor per drop
    "lr_epochs_drop": HParamInfo(int, 10, low=1, high=100000),  # step decay: epochs a drop
    "first_decay_steps": HParamInfo(int, 1000, low=1, high=10**9),  # cosine restarts
    # same: every layer n_neurons; funnel: halve each layer; per_layer: n_neurons_<i>.
    "layer_shape": HParamInfo(str, "same", allowed=LAYER_SHAPES),
    "class_weight": HParamInfo(str, "none", allowed=CLASS_WEIGHTS),
}
#: ``layer_shape: per_layer`` samples one width per active layer from n_neurons' range.
MAX_PER_LAYER = 64


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: an error line stays one short line
    whatever a file puts in it."""
    text = repr(value) if not isinstance(value, str) else repr(value[: limit + 1])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def label(value: Any) -> str:
    """A value as a label: 64 and 64.0 (a column with gaps turns ints to floats) read alike."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def did_you_mean(word: Any, options: Any) -> str:
    """A ' (did you mean 'x'?)' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(str(word)[:100], [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {short(close[0])}?)" if close else ""


# ----------------------------------------------------------------------------- hyperparameters


class Fixed(BaseModel):
    """A hyperparameter held at one value."""

    value: Any

    def count(self) -> int | None:
        return 1

    def values(self) -> list[Any] | None:
        return [self.value]

    def describe(self) -> str:
        return f"fixed {self.value!r}"


class IntRange(BaseModel):
    """Integers in ``[min, max]``; ``step`` spaces them, ``log`` samples in log space (a
    log step multiplies, as in Keras Tuner: 16, 32, 64 for step 2)."""

    min: int
    max: int
    step: int | None = None
    log: bool = False
    default: int | None = None

    def count(self) -> int | None:
        """How many values, by arithmetic (a range of 1..1e9 is never listed)."""
        if self.log and self.step:
            return _log_count(self.min, self.max, self.step)
        return (self.max - self.min) // (self.step or 1) + 1

    def values(self) -> list[Any] | None:
        if self.log and self.step:
            return [self.min * self.step**i for i in range(self.count() or 0)]
        return list(range(self.min, self.max + 1, self.step or 1))

    def describe(self) -> str:
        step = f" step {self.step}" if self.step else ""
        return f"int [{self.min}, {self.max}]{step}{' log' if self.log else ''}"


def _largest(p: Param | None, default: Any) -> Any:
    """The largest value a param may take (its only value when fixed)."""
    if p is None:
        return default
    if isinstance(p, (IntRange, FloatRange)):
        return p.max
    if isinstance(p, Choice):
        numbers = [v for v in p.options if isinstance(v, (int, float))]
        return max(numbers) if numbers else default
    return p.value if isinstance(p, Fixed) else default


def _log_count(lo: float, hi: float, factor: float) -> int:
    """Terms of lo, lo*factor, lo*factor**2, ... up to hi."""
    return math.floor(math.log(hi / lo) / math.log(factor) + 1e-9) + 1


class FloatRange(BaseModel):
    """Floats in ``[min, max]``, linear or log; finite only with a linear ``step``."""

    min: float
    max: float
    step: float | None = None
    log: bool = False
    default: float | None = None

    def count(self) -> int | None:
        if self.step is None:
            return None
        if self.log:
            return _log_count(self.min, self.max, self.step)
        return math.floor((self.max - self.min) / self.step + 1e-9) + 1

    def values(self) -> list[Any] | None:
        n = self.count()
        if n is None:
            return None
        if self.log:  # multiplicative, as in Keras Tuner: 1e-4, 1e-3, 1e-2 for step 10
            return [float(f"{self.min * self.step**i:.12g}") for i in range(n)]  # type: ignore[operator]
        return [float(f"{self.min + i * self.step:.12g}") for i in range(n)]  # type: ignore[operator]

    def describe(self) -> str:
        step = f" step {self.step:g}" if self.step else ""
        return f"float [{self.min:g}, {self.max:g}]{step}{' log' if self.log else ''}"


class Choice(BaseModel):
    """One of a list of values."""

    options: list[Any]
    default: Any = None

    def count(self) -> int | None:
        return len(self.options)

    def values(self) -> list[Any] | None:
        return list(self.options)

    def describe(self) -> str:
        return "choice " + ", ".join(str(o) for o in self.options)


class Bool(BaseModel):
    """True or False."""

    default: bool = False

    def count(self) -> int | None:
        return 2

    def values(self) -> list[Any] | None:
        return [False, True]

    def describe(self) -> str:
        return "bool"


Param = Union[Fixed, IntRange, FloatRange, Choice, Bool]
_DIST_KEYS = ("int", "float", "choice", "bool")
_EXTRA_KEYS = {
    "int": {"step", "log", "default"},
    "float": {"step", "log", "default"},
    "choice": {"default"},
    "bool": set(),
}


def _check_scalar(name: str, info: HParamInfo, value: Any, field: str) -> Any:
    """Check one value against the vocabulary's type, bounds and allowed names."""
    if info.kind is bool:
        if not isinstance(value, bool):
            raise SpaceError(f"expected true or false, got {short(value)}", field=field)
        return value
    if info.kind is str:
        if not isinstance(value, str):
            raise SpaceError(f"expected a name, got {short(value)}", field=field)
        if info.allowed and value not in info.allowed:
            raise SpaceError(
                f"unknown {name} {short(value)}{did_you_mean(value, info.allowed)}; "
                f"choose from {', '.join(info.allowed)}",
                field=field,
            )
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpaceError(f"expected a number, got {short(value)}", field=field)
    if not math.isfinite(value):  # .nan passes every comparison below
        raise SpaceError(f"expected a finite number, got {short(value)}", field=field)
    if info.kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise SpaceError(f"expected an integer, got {short(value)}", field=field)
        value = int(value)
    else:
        value = float(value)
    if info.low is not None and value < info.low:
        raise SpaceError(f"{value!r} is below the minimum {info.low:g}", field=field)
    if info.high is not None and (value >= info.high if info.high_open else value > info.high):
        bracket = ")" if info.high_open else "]"
        raise SpaceError(f"{value!r} is outside [{info.low:g}, {info.high:g}{bracket}", field=field)
    if name == "learning_rate" and value <= 0:
        raise SpaceError("must be > 0", field=field)
    return value


def parse_param(name: str, raw: Any, field: str, *, custom: bool = False) -> Param:
    """Turn one YAML entry (a scalar or a one-key distribution mapping) into a Param.

    With ``custom`` (the space names a ``builder``), names outside the vocabulary are
    allowed and passed through to the builder, typed by their YAML values alone."""
    if name not in VOCABULARY and not custom:
        raise SpaceError(
            f"unknown hyperparameter '{name}'{did_you_mean(name, VOCABULARY)}; "
            f"known: {', '.join(VOCABULARY)} (or name a builder: to pass your own)",
            field=field,
        )
    info = VOCABULARY[name] if name in VOCABULARY else _custom_info(raw)
    if not isinstance(raw, dict):
        if isinstance(raw, list):
            raise SpaceError(f"a list needs a kind: write {{choice: {short(raw)}}}", field=field)
        return Fixed(value=_check_scalar(name, info, raw, field))
    kinds = [k for k in raw if k in _DIST_KEYS]
    if len(kinds) != 1:
        raise SpaceError(
            "a distribution needs exactly one of int, float, choice, bool "
            f"(got {', '.join(map(str, raw)) or 'nothing'})",
            field=field,
        )
    kind = kinds[0]
    for key in raw:
        if key != kind and key not in _EXTRA_KEYS[kind]:
            allowed = sorted(_EXTRA_KEYS[kind]) or ["nothing else"]
            raise SpaceError(
                f"unknown key '{key}' for {kind}{did_you_mean(key, _EXTRA_KEYS[kind])}; "
                f"allowed: {', '.join(allowed)}",
                field=f"{field}.{key}",
            )
    body = raw[kind]
    if kind == "bool":
        if info.kind is not bool:
            raise SpaceError(f"{name} cannot be a bool", field=field)
        default = body if body is not None else info.default
        return Bool(default=_check_scalar(name, info, default, f"{field}.bool"))
    if kind == "choice":
        if not isinstance(body, list):
            raise SpaceError("choice needs a list of values", field=f"{field}.choice")
        if not body:
            raise SpaceError("choice is empty", field=f"{field}.choice")
        opts = [_check_scalar(name, info, v, f"{field}.choice[{i}]") for i, v in enumerate(body)]
        if len(set(map(repr, opts))) != len(opts):
            raise SpaceError("choice has duplicate values", field=f"{field}.choice")
        default = raw.get("default")
        if default is not None and default not in opts:
            raise SpaceError(f"default {short(default)} is not a choice", field=f"{field}.default")
        return Choice(options=opts, default=default)
    # int / float ranges
    if info.kind not in (int, float) or (kind == "float" and info.kind is int):
        raise SpaceError(f"{name} cannot be a {kind} range", field=field)
    if not (isinstance(body, list) and len(body) == 2):
        raise SpaceError(f"{kind} needs [min, max]", field=f"{field}.{kind}")
    check = HParamInfo(
        int if kind == "int" else float,
        None,
        low=info.low,
        high=info.high,
        high_open=info.high_open,
    )
    lo = _check_scalar(name, check, body[0], f"{field}.{kind}[0]")
    hi = _check_scalar(name, check, body[1], f"{field}.{kind}[1]")
    if lo > hi:
        raise SpaceError(f"min {lo!r} > max {hi!r}", field=f"{field}.{kind}")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(f"expected true or false, got {short(log)}", field=f"{field}.log")
    if log and lo <= 0:
        raise SpaceError(f"a log range must stay above 0 (min is {lo!r})", field=f"{field}.{kind}")
    step = raw.get("step")
    if step is not None:
        step = _check_scalar("step", HParamInfo(check.kind, None), step, f"{field}.step")
        _check_step(step, lo, hi, kind, log, f"{field}.step")
    default = raw.get("default")
    cls = IntRange if kind == "int" else FloatRange
    param = cls(min=lo, max=hi, step=step, log=log, default=None)
    if default is not None:
        default = _check_scalar(name, check, default, f"{field}.default")
        if not lo <= default <= hi:
            raise SpaceError(f"default {default!r} is outside the range", field=f"{field}.default")
        if step is not None and not _on_grid(param, default):
            raise SpaceError(
                f"default {default!r} is not on the step grid ({param.describe()})",
                field=f"{field}.default",
            )
        param.default = default
    return param


def _check_step(step: float, lo: float, hi: float, kind: str, log: bool, field: str) -> None:
    """A step that gives the range a meaning: positive, no wider than the range, and for a
    log int range a factor of at least 2 (Keras Tuner multiplies by it)."""
    if step <= 0:
        raise SpaceError("step must be > 0", field=field)
    if kind == "float" and log:
        raise SpaceError("a float step cannot be combined with log", field=field)
    if log:
        if step < 2:
            raise SpaceError(
                f"a log int range's step multiplies ({lo}, {lo}*step, ...): it must be >= 2, "
                f"got {step}",
                field=field,
            )
        if lo * step > hi:
            raise SpaceError(f"step {step} multiplies {lo} past the max {hi}", field=field)
    elif hi > lo and step > hi - lo:
        raise SpaceError(f"step {step:g} is wider than the range [{lo:g}, {hi:g}]", field=field)


def _on_grid(p: IntRange | FloatRange, value: float) -> bool:
    """Whether ``value`` is one of the values the range's step allows."""
    assert p.step is not None
    if p.log:
        k = math.log(value / p.min) / math.log(p.step)
        return abs(k - round(k)) < 1e-9
    k = (value - p.min) / p.step
    return abs(k - round(k)) < 1e-6


# ----------------------------------------------------------------------------- the file schema


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


def _custom_info(raw: Any) -> HParamInfo:
    """What a builder's own hyperparameter is, from its YAML value: no bounds, its type."""
    body = raw
    if isinstance(raw, dict):
        if "int" in raw:
            return HParamInfo(int, None)
        if "float" in raw:
            return HParamInfo(float, None)
        if "bool" in raw:
            return HParamInfo(bool, False)
        body = (raw.get("choice") or [None])[0]
    if isinstance(body, bool):
        return HParamInfo(bool, False)
    if isinstance(body, (int, float)):
        return HParamInfo(float if isinstance(body, float) else int, None)
    return HParamInfo(str, None)


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


@dataclass
class Space:
    """A validated search space: what to search, on which data, with which budget."""

    name: str
    dataset: DatasetSpec
    objective: Objective
    params: dict[str, Param]
    training: TrainingSpec
    search: SearchSpec
    description: str | None = None
    source: Path | None = None
    text: str = ""
    #: 1-based line of every key path in the file, to place errors found after loading.
    lines: dict[tuple[Any, ...], int] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )
    builder: str | None = None  # ``module:function``, replacing hpsearch's MLP builder
    #: False when the file names no objective: it then follows the data's task.
    objective_given: bool = True

    def for_task(self, task: str) -> Space:
        """This space once the data's task is known (a file's is inferred when read): the
        default objective follows the task; a written one must be reported by it."""
        if not self.objective_given:
            metric = "val_loss" if task == "regression" else "val_accuracy"
            if metric != self.objective.metric:
                return dataclasses.replace(self, objective=Objective.infer(metric))
            return self
        try:
            check_objective(self.objective.metric, task)
        except SpaceError as exc:
            # a built-in dataset's task was known, and checked, when the file was parsed
            field = "dataset.task" if self.dataset.task else "dataset.target"
            other = "regression" if task != "regression" else "classification"
            raise self.error_at(
                field,
                f"the target was read as {task}, and {exc.problem}; if it is {other}, set "
                f"dataset.task: {other}",
            ) from None
        return self

    def builder_dirs(self) -> list[str]:
        """Where a builder's module is looked up first: the space file's folder, the cwd."""
        import os

        dirs = [str(self.source.resolve().parent)] if self.source else []
        return [*dirs, os.getcwd()]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def task(self) -> str | None:
        """The task when the dataset is built in; files are inferred when loaded."""
        return BUILTIN_DATASETS.get(self.dataset.name)

    def size(self) -> int | None:
        """Number of distinct configurations, or None for a continuous space."""
        total = 1
        for p in self.params.values():
            n = p.count()
            if n is None:
                return None
            total *= n
        return total

    def error_at(self, field: str, problem: str) -> SpaceError:
        """A SpaceError at ``field``'s line in the source file, for problems found later
        (a CSV without its target column, an objective the data's task does not report)."""
        return SpaceError(
            problem,
            file=str(self.source) if self.source else None,
            line=_line_for(self.lines, _path_of(field)),
            field=field,
        )

    def searched_names(self) -> list[str]:
        """Every name a search decides, in the file's order: the searched params, then the
        per-layer widths ``layer_shape: per_layer`` adds (what a reader wants first)."""
        return [*self.searched(), *self.per_layer_names()]

    def per_layer_names(self) -> list[str]:
        """``n_neurons_1`` ... for the deepest net, when ``layer_shape`` may be per_layer."""
        shape = self.params.get("layer_shape")
        possible = shape is not None and "per_layer" in (shape.values() or [])
        if not possible:
            return []
        depth = self.params.get("n_hidden")
        deepest = max(depth.values() or [VOCABULARY["n_hidden"].default]) if depth else 2
        return [f"n_neurons_{i + 1}" for i in range(min(int(deepest), MAX_PER_LAYER))]

    def active_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` without the per-layer widths the sampled net does not use (conditional
        params, as Keras Tuner's: a width for layer 3 means nothing in a 2-layer net)."""
        per_layer = params.get("layer_shape", self.default_of_or("layer_shape")) == "per_layer"
        depth = int(params.get("n_hidden", self.default_of_or("n_hidden")))

        def active(name: str) -> bool:
            if not name.startswith("n_neurons_"):
                return True
            index = name.removeprefix("n_neurons_")
            return per_layer and index.isdigit() and int(index) <= depth

        return {k: v for k, v in params.items() if active(k)}

    def default_of_or(self, name: str) -> Any:
        """default_of for a declared param, else the vocabulary's default."""
        return self.default_of(name) if name in self.params else VOCABULARY[name].default

    def contains(self, params: dict[str, Any]) -> bool:
        """Whether a trial's params lie in this space: each searched value inside its range
        or among its choices, each fixed value equal (a warm start keeps only those)."""
        for name, p in self.params.items():
            if name not in params:  # not recorded then (an older vocabulary): fixed is fine
                if isinstance(p, Fixed):
                    continue
                return False
            v = params[name]
            if isinstance(p, Fixed):
                if v != p.value:
                    return False
            elif isinstance(p, (IntRange, FloatRange)):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    return False
                if not p.min <= v <= p.max:
                    return False
            elif isinstance(p, Choice):
                if v not in p.options:
                    return False
            elif not isinstance(v, bool):
                return False
        return True

    def cv_problem(self) -> str | None:
        """Why ``training.cv`` cannot go with this search, or None."""
        if self.training.cv and self.search.strategy in ("hyperband", "asha"):
            return (
                f"{self.search.strategy} stops and resumes trials on their objective epoch by "
                "epoch, but a cross-validated objective exists only once every fold has "
                "trained: use random, grid, bayesian or tpe with cv"
            )
        return None

    def grid_problem(self) -> str | None:
        """Why this space cannot be searched by grid, or None: every searched param must be
        finite (a choice, a bool, or an int/float range with a step), and the grid no larger
        than a search may run."""
        continuous = [
            f"{k} ({p.describe()})"
            for k, p in self.searched().items()
            if isinstance(p, (IntRange, FloatRange)) and p.step is None
        ]
        if continuous:
            return (
                "grid needs every hyperparameter finite (a choice, a bool, or a range with a "
                f"step); continuous: {', '.join(continuous)}"
            )
        size = self.size() or 0
        if size > MAX_TRIALS:
            sides = " x ".join(f"{k} {p.count()}" for k, p in self.searched().items())
            return (
                f"the grid has {size:,} configurations ({sides}); a search runs at most "
                f"{MAX_TRIALS:,} trials: use larger steps or fewer choices, or another strategy"
            )
        return None

    def model_problem(self, input_width: int | None = None) -> str | None:
        """Why the largest model of this space is too big to build, or None.

        Counts the weights of the widest, deepest MLP the space allows (hpsearch's own
        builder; a custom builder's models are its own business)."""
        if self.builder:
            return None
        width = input_width or BUILTIN_INPUTS.get(self.dataset.name, 1)
        depth = int(_largest(self.params.get("n_hidden"), VOCABULARY["n_hidden"].default))
        neurons = int(_largest(self.params.get("n_neurons"), VOCABULARY["n_neurons"].default))
        layers = [width] + [neurons] * depth + [1]
        weights = sum((a + 1) * b for a, b in itertools.pairwise(layers))
        if weights <= MAX_WEIGHTS:
            return None
        return (
            f"the largest model here ({depth} hidden layers of {neurons} on {width} inputs) "
            f"has about {weights:.1e} weights, over the limit of {MAX_WEIGHTS:.0e}: narrow "
            "n_neurons or n_hidden"
        )

    def grid(self) -> dict[str, list[Any]]:
        """Every searched param's values, for a grid search."""
        return {k: list(p.values() or []) for k, p in self.searched().items()}

    def searched(self) -> dict[str, Param]:
        """The hyperparameters that vary."""
        return {k: p for k, p in self.params.items() if not isinstance(p, Fixed)}

    def default_of(self, name: str) -> Any:
        """The value a param takes when a search does not choose it."""
        p = self.params[name]
        if isinstance(p, Fixed):
            return p.value
        if p.default is not None:
            return p.default
        if isinstance(p, Choice):
            return p.options[0]
        if isinstance(p, (IntRange, FloatRange)):
            return p.min
        return VOCABULARY[name].default

    def hyperband_schedule(self) -> int | None:
        """Trials in one full Hyperband schedule, by Keras Tuner's bracket arithmetic (None
        for other strategies)."""
        if self.search.strategy != "hyperband":
            return None
        hb = self.search.hyperband
        return hyperband_trials(hb.max_epochs or self.training.epochs, hb.factor, hb.iterations)

    def hyperband_cap(self) -> tuple[int, str | None]:
        """The trials Keras Tuner's Hyperband will run (max_trials may cut its bracket
        schedule), and a warning when it does: said before the search, as it changes it."""
        search = self.search
        full = self.hyperband_schedule() if search.backend == "keras-tuner" else None
        if full is None or full <= search.max_trials:
            return search.max_trials if full is None else full, None
        return search.max_trials, (
            f"hyperband: max_trials={search.max_trials} cuts the bracket schedule of {full} "
            "trials; raise --max-trials to run it whole"
        )

    def with_overrides(self, *, epochs: int | None = None, **search: Any) -> Space:
        """A copy with search settings replaced: CLI flags win over the file. ``epochs``
        caps every trial, so it is Hyperband's and ASHA's ``max_epochs`` too."""
        changes = {k: v for k, v in search.items() if v is not None}
        try:
            training = self.training
            if epochs is not None:  # checked first: a bad value is --epochs', not Hyperband's
                training = TrainingSpec.model_validate(
                    self.training.model_dump() | {"epochs": epochs}
                )
                if self.search.hyperband.max_epochs is not None:
                    hyperband = changes.get("hyperband") or self.search.hyperband.model_dump()
                    changes["hyperband"] = dict(hyperband) | {"max_epochs": epochs}
            new_search = SearchSpec.model_validate(self.search.model_dump() | changes)
        except ValidationError as exc:
            err = exc.errors()[0]
            flag = "--" + str(err["loc"][0] if err["loc"] else "strategy").replace("_", "-")
            raise SpaceError(_clean_msg(err["msg"]), field=flag) from None
        new = dataclasses.replace(self, search=new_search, training=training)
        if new_search.strategy == "grid" and self.search.strategy != "grid":
            problem = new.grid_problem()
            if problem:
                raise SpaceError(problem, field="--strategy")
        problem = new.cv_problem()
        if problem:
            raise SpaceError(problem, field="--strategy")
        return new


# ----------------------------------------------------------------------------- loading


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 floats such as ``1e-4`` (1.1 reads a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _line_map(
    node: yaml.Node, path: tuple[Any, ...] = (), active: frozenset[int] = frozenset()
) -> dict[tuple[Any, ...], int]:
    """Map every key path in a composed YAML document to its 1-based line.

    Raises _YamlProblem for a key repeated in one mapping (PyYAML silently keeps the last)
    and for an alias that contains itself (``&a [*a]``), which no setting can mean."""
    if id(node) in active:
        raise _YamlProblem(path, node.start_mark.line + 1, "an alias refers to itself")
    active = active | {id(node)}
    lines: dict[tuple[Any, ...], int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            sub = (*path, key.value)
            line = key.start_mark.line + 1
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise _YamlProblem(
                        sub, line, f"duplicate key '{key.value}' (first on line {seen[key.value]})"
                    )
                seen[key.value] = line
            lines.update(_line_map(value, sub, active))
            lines[sub] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(_line_map(item, (*path, i), active))
    return lines


class _YamlProblem(Exception):
    """Valid YAML that cannot be a space file, found while mapping lines."""

    def __init__(self, path: tuple[Any, ...], line: int, problem: str) -> None:
        super().__init__(problem)
        self.path, self.line, self.problem = path, line, problem


def _path_of(field: str) -> tuple[Any, ...]:
    """'hyperparameters.n_hidden.int[0]' -> ('hyperparameters', 'n_hidden', 'int', 0)."""
    out: list[Any] = []
    for part in field.split("."):
        m = re.fullmatch(r"([^\[]*)((?:\[\d+\])*)", part)
        head, idx = (m.group(1), m.group(2)) if m else (part, "")
        if head:
            out.append(head)
        out.extend(int(i) for i in re.findall(r"\[(\d+)\]", idx))
    return tuple(out)


def _line_for(lines: dict[tuple[Any, ...], int], path: tuple[Any, ...]) -> int | None:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def _field_name(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _clean_msg(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def _pydantic_error(exc: ValidationError, model: type[BaseModel]) -> tuple[tuple[Any, ...], str]:
    """The first pydantic error as (path, message), with a hint for misspelt keys."""
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    if err["type"] == "extra_forbidden":
        owner: Any = model
        for part in loc[:-1]:
            ann = owner.model_fields.get(part) if hasattr(owner, "model_fields") else None
            owner = ann.annotation if ann else None
        known = list(owner.model_fields) if hasattr(owner, "model_fields") else []
        return loc, f"unknown key '{loc[-1]}'{did_you_mean(loc[-1], known)}"
    if err["type"] == "missing":
        return loc, "is required"
    if err["type"] == "int_parsing_size":
        return loc, f"too large for an integer setting, got {short(err.get('input'))}"
    msg = _clean_msg(err["msg"])
    if err["type"].endswith("_type") or err["type"].endswith("_parsing"):
        msg += f", got {short(err.get('input'))}"
    return loc, msg


def load_space(path: str | Path) -> Space:
    """Read and validate a space file; every problem raises SpaceError with file:line."""
    return parse_space(read_text(path), source=Path(path))


def read_text(path: str | Path) -> str:
    """A YAML file's text; a missing, unreadable or non-UTF-8 file is a SpaceError."""
    path = Path(path)
    label = str(path)
    if not path.exists():
        raise SpaceError("no such file", file=label)
    if path.is_dir():
        raise SpaceError("is a directory, expected a YAML file", file=label)
    if not path.is_file():  # a FIFO would block, /dev/zero never end
        raise SpaceError("not a regular file (a pipe, device or socket): refused", file=label)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_CHARS * 4 + 1)  # UTF-8: at most 4 bytes a character
    except OSError as exc:
        raise SpaceError(f"cannot read: {exc.strerror or exc}", file=label) from None
    if len(data) > MAX_FILE_CHARS * 4:
        raise _too_large(f"over {MAX_FILE_CHARS * 4:,} bytes", label)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpaceError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded; save the file "
            "as UTF-8",
            file=label,
            line=line,
        ) from None
    return text


#: Space and sweep files are a few KB; past this a file is refused before it is parsed
#: (PyYAML is pure Python here: a 5 MB space file once took 66 s).
MAX_FILE_CHARS = 128 * 1024
#: Deepest nesting of mappings and lists (a space file needs about 5).
MAX_DEPTH = 64
#: Most nodes the document may expand to, aliases counted as copies ("billion laughs").
MAX_NODES = 100_000


def _too_large(size: str, label: str) -> SpaceError:
    return SpaceError(
        f"the file has {size}; a space or sweep file may have at most {MAX_FILE_CHARS:,} "
        "characters",
        file=label,
    )


def _check_shape(text: str, label: str) -> None:
    """Refuse deep nesting and alias bombs from the event stream, before anything is
    composed: PyYAML's composer recurses per level, and an alias costs nothing to parse
    but its whole subtree to walk."""
    sizes: dict[str, int] = {}  # anchor -> nodes under it, aliases expanded
    stack: list[list[Any]] = []  # open collections: [anchor, nodes so far]
    total = 0

    def add(count: int, event: yaml.Event) -> None:
        nonlocal total
        if stack:
            stack[-1][1] += count
        else:
            total += count
        if (stack[-1][1] if stack else total) > MAX_NODES:  # sums only grow towards the root
            raise SpaceError(
                f"the document expands to more than {MAX_NODES:,} values (aliases counted as "
                "copies): refused",
                file=label,
                line=event.start_mark.line + 1 if event.start_mark else None,
            )

    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(stack) >= MAX_DEPTH:
                raise SpaceError(
                    f"nested more than {MAX_DEPTH} levels deep: refused",
                    file=label,
                    line=event.start_mark.line + 1 if event.start_mark else None,
                )
            stack.append([event.anchor, 1])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, count = stack.pop()
            if anchor:
                sizes[anchor] = count
            add(count, event)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                sizes[event.anchor] = 1
            add(1, event)
        elif isinstance(event, yaml.AliasEvent):
            add(sizes.get(event.anchor or "", 1), event)


def compose_yaml(
    text: str, label: str
) -> tuple[
    dict[str, Any], dict[tuple[Any, ...], int], Callable[[tuple[Any, ...], str], SpaceError]
]:
    """Parse YAML into a mapping, its key paths' line numbers, and ``fail(path, message)``
    that makes a SpaceError pointing at the line of ``path`` (how every hpsearch YAML file
    reports errors)."""
    if len(text) > MAX_FILE_CHARS:
        raise _too_large(f"{len(text):,} characters", label)
    try:
        _check_shape(text, label)
        node = yaml.compose(text, Loader=_Loader)
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark else None
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start is not None and start.line + 1 != line:
            problem += f" ({context} started on line {start.line + 1})"
        raise SpaceError(f"invalid YAML: {problem}", file=label, line=line) from None
    if raw is None:
        raise SpaceError("the file is empty", file=label, line=1)
    if not isinstance(raw, dict):
        raise SpaceError("expected a mapping of settings at the top level", file=label, line=1)
    try:
        lines = _line_map(node) if node is not None else {}
    except _YamlProblem as exc:
        raise SpaceError(
            exc.problem, file=label, line=exc.line, field=_field_name(exc.path) or None
        ) from None

    def fail(path: tuple[Any, ...], message: str) -> SpaceError:
        return SpaceError(
            message, file=label, line=_line_for(lines, path), field=_field_name(path) or None
        )

    return raw, lines, fail


def validate_yaml(raw: dict[str, Any], model: type[M], fail: Callable[..., SpaceError]) -> M:
    """``model.model_validate(raw)``, its first error raised through ``fail`` (file:line)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        loc, msg = _pydantic_error(exc, model)
        raise fail(loc, msg) from None


@functools.lru_cache(maxsize=64)
def parse_logged(text: str | None) -> Space | None:
    """The space file a search logged, parsed once (reports and ``best`` ask for it many
    times); None when there is none or it no longer parses."""
    if not text:
        return None
    try:
        return parse_space(text, source=Path("space.yaml"))
    except SpaceError:
        return None


def parse_space(text: str, *, source: Path | None = None) -> Space:
    """Validate the text of a space file (see load_space)."""
    label = str(source) if source else "<space>"
    raw, lines, fail = compose_yaml(text, label)
    try:
        spec = _SpaceFile.model_validate(raw)
    except ValidationError as exc:
        loc, msg = _pydantic_error(exc, _SpaceFile)
        raise fail(loc, msg) from None
    if not isinstance(spec.hyperparameters, dict) or not spec.hyperparameters:
        raise fail(("hyperparameters",), "declare at least one hyperparameter")
    params: dict[str, Param] = {}
    for name, entry in spec.hyperparameters.items():
        try:
            params[name] = parse_param(
                str(name), entry, f"hyperparameters.{name}", custom=spec.builder is not None
            )
        except SpaceError as exc:
            raise fail(_path_of(exc.field or ""), exc.problem) from None
    for name, info in VOCABULARY.items():
        params.setdefault(name, Fixed(value=info.default))

    objective = _objective(spec, fail)
    space = Space(
        name=spec.name,
        dataset=spec.dataset,
        objective=objective,
        params=params,
        training=spec.training,
        search=spec.search,
        description=spec.description,
        source=source,
        text=text,
        lines=lines,
        builder=spec.builder,
        objective_given=spec.objective is not None,
    )
    if spec.search.strategy == "grid":
        problem = space.grid_problem()
        if problem:
            raise fail(("search", "strategy"), problem)
    problem = space.cv_problem()
    if problem:
        raise fail(("training", "cv"), problem)
    problem = space.model_problem()
    if problem:
        where = "n_neurons" if "n_neurons" in spec.hyperparameters else "n_hidden"
        raise fail(("hyperparameters", where), problem)
    return space


def _objective(spec: _SpaceFile, fail: Any) -> Objective:
    """Resolve the objective and check that the dataset's task produces it."""
    task = BUILTIN_DATASETS.get(spec.dataset.name)
    if task is None and spec.dataset.task == "regression":
        task = "regression"
    raw = spec.objective
    if raw is None:
        raw = "val_loss" if task == "regression" else "val_accuracy"
    try:
        if isinstance(raw, dict):
            unknown = set(raw) - {"metric", "direction"}
            if unknown:
                raise ValueError(f"unknown key '{sorted(unknown)[0]}'; use metric and direction")
            if "metric" not in raw:
                raise ValueError("needs a metric")
            objective = (
                Objective(metric=raw["metric"], direction=raw["direction"])  # type: ignore[arg-type]
                if "direction" in raw
                else Objective.infer(raw["metric"])
            )
        else:
            objective = Objective.infer(raw)
    except (ValueError, ValidationError) as exc:
        msg = _pydantic_error(exc, Objective)[1] if isinstance(exc, ValidationError) else str(exc)
        raise fail(("objective",), msg) from None
    if task is not None:
        check_objective(objective.metric, task, fail)
    return objective


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


def epochs_flag_repeats(epochs: Any, max_epochs: Any) -> bool:
    """Whether ``--epochs <epochs>`` repeats a search whose space set Hyperband's (and
    ASHA's) ``max_epochs``: the flag sets both, so only when they were equal or max_epochs
    unset. Otherwise a reproduce command leaves both to the space file."""
    return max_epochs in (None, "None", "") or str(max_epochs) == str(epochs)


def hyperband_trials(max_epochs: int, factor: int, iterations: int) -> int:
    """Trials in a full Hyperband schedule, by Keras Tuner's own bracket arithmetic."""
    n_brackets, epochs = 0, float(max_epochs)
    while epochs >= 1:
        epochs /= factor
        n_brackets += 1
    end_size = math.ceil(1 + math.log(max_epochs, factor))
    per_iteration = sum(
        math.ceil(end_size / (b + 1) * factor ** (b - r))
        for b in range(n_brackets)
        for r in range(b + 1)
    )
    return per_iteration * iterations
