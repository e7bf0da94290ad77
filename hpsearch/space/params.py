"""The hyperparameter vocabulary and the parameter types a space file's entries become.

What names a space may set, their types and bounds (known here, so validation needs no heavy
import), and ``parse_param``, which turns one YAML entry into a Fixed, IntRange, FloatRange,
Choice or Bool. The short text helpers live here too: every error message quotes values.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel

from hpsearch.errors import SpaceError

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
#: mlp: the hidden stack alone; wide_deep: the seed's Wide & Deep (10.2), the inputs also
#: going straight to the output layer, concatenated with the last hidden layer.
ARCHITECTURES: tuple[str, ...] = ("mlp", "wide_deep")

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
    "architecture": HParamInfo(str, "mlp", allowed=ARCHITECTURES),
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
    kind = _kind_of(raw, field)
    return _FORMS[kind](name, info, kind, raw, field)


def _kind_of(raw: dict[Any, Any], field: str) -> str:
    """The one distribution key of a mapping (int, float, choice or bool), its other keys
    checked against what that kind allows."""
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
    return kind


def _parse_bool(name: str, info: HParamInfo, kind: str, raw: dict[Any, Any], field: str) -> Param:
    """``{bool: DEFAULT}``: True or False, for a bool hyperparameter only."""
    body = raw[kind]
    if info.kind is not bool:
        raise SpaceError(f"{name} cannot be a bool", field=field)
    default = body if body is not None else info.default
    return Bool(default=_check_scalar(name, info, default, f"{field}.bool"))


def _parse_choice(name: str, info: HParamInfo, kind: str, raw: dict[Any, Any], field: str) -> Param:
    """``{choice: [...], default: X}``: distinct values, each checked like a fixed one."""
    body = raw[kind]
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


def _parse_range(name: str, info: HParamInfo, kind: str, raw: dict[Any, Any], field: str) -> Param:
    """``{int|float: [min, max], step: S, log: L, default: D}``: bounds inside the
    vocabulary's, a step that means something, a default on the grid."""
    body = raw[kind]
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


#: How each distribution kind parses: ``(name, info, kind, raw, field) -> Param``.
_FORMS: dict[str, Callable[[str, HParamInfo, str, dict[Any, Any], str], Param]] = {
    "bool": _parse_bool,
    "choice": _parse_choice,
    "int": _parse_range,
    "float": _parse_range,
}


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
