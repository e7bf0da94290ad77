"""The learning-rate finder (``hpsearch lr-find``): Hands-On ML ch.10, exercise 10.

Every hyperparameter is held at its default (or at a ``--params`` override) and the model
trains on the train split while the learning rate grows exponentially from ``min_lr`` to
``max_lr``, one value per batch. Each batch's loss is recorded and smoothed (a
bias-corrected exponential moving average), and the sweep stops once the smoothed loss
exceeds 4x its lowest value or the loss is NaN. Two figures come out of the curve:

* the **suggestion** (rule ``steepest``): the learning rate where the smoothed loss falls
  fastest, the minimum of d(smoothed loss)/d(log10 lr), the slope taken over 5% of the
  sweep on each side, looked for after the first few steps and up to the lowest smoothed
  loss (see ``suggest``);
* ``min_lr_over_10``: the learning rate at the lowest smoothed loss, divided by 10 (the
  book's rule of thumb: about ten times lower than where the loss turns up).

The steepest point depends on how fast the sweep climbs (more steps per decade give the
loss more steps to fall, which moves it to lower rates); the turn-up point barely does.
When the loss never falls, the suggestion falls back to ``min_lr_over_10`` (rule
``min_over_10``). Both figures are clipped into ``[min_lr, max_lr]``.

Heavy libraries (tensorflow, matplotlib, mlflow) are imported inside the functions.
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.space import (
    VOCABULARY,
    Choice,
    FloatRange,
    IntRange,
    Space,
    SpaceError,
    did_you_mean,
    parse_param,
)

if TYPE_CHECKING:
    import keras
    from numpy.typing import ArrayLike

    from hpsearch.data import Dataset

#: The suggestion rule, and its fallback when the loss never falls.
STEEPEST, MIN_OVER_10 = "steepest", "min_over_10"
RULES = {
    STEEPEST: "steepest descent of the smoothed loss vs log(lr)",
    MIN_OVER_10: "lr at the lowest smoothed loss / 10",
}
#: The run stops once the smoothed loss exceeds this many times its lowest value.
STOP_FACTOR = 4.0
#: Fewest steps a sweep may plan: the curve needs points to have a slope.
MIN_STEPS = 10
FLAG = "--params"
#: Params the sweep itself sets: they cannot be overridden (a learning-rate schedule is held
#: at ``constant``, whatever the space's default, so the sweep alone moves the rate).
SWEPT = ("learning_rate", "lr_schedule")


# ----------------------------------------------------------------------------- settings


def parse_params(space: Space, items: Sequence[str]) -> dict[str, Any]:
    """``["n_hidden=1", "optimizer=adam,dropout=0.1"]`` -> checked values, typed as the
    space's params (ints, floats, bools, names). Raises SpaceError (field ``--params``)."""
    raw: dict[str, str] = {}
    for item in items:
        for part in (p for p in re.split(r"[,\s]+", item) if p):
            key, sep, text = part.partition("=")
            key = key.strip()
            if not sep or not key or not text.strip():
                raise SpaceError(f"expected NAME=VALUE, got {part!r}", field=FLAG)
            if key in raw:
                raise SpaceError(f"{key} is given twice", field=FLAG)
            raw[key] = text.strip()
    return check_params(space, {k: _convert(k, v) for k, v in raw.items()})


def _convert(name: str, text: str) -> Any:
    """A ``--params`` value as the vocabulary's type for ``name``."""
    _known(name)
    kind = VOCABULARY[name].kind
    if kind is bool:
        lowered = text.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise SpaceError(f"{name}: expected true or false, got {text!r}", field=FLAG)
    if kind is int:
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if number.is_integer():
                return int(number)
            raise SpaceError(f"{name}: expected an integer, got {text!r}", field=FLAG) from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise SpaceError(f"{name}: expected a number, got {text!r}", field=FLAG) from None
    return text


def _known(name: str) -> None:
    if name not in VOCABULARY:
        raise SpaceError(
            f"unknown hyperparameter '{name}'{did_you_mean(name, VOCABULARY)}; "
            f"known: {', '.join(k for k in VOCABULARY if k not in SWEPT)}",
            field=FLAG,
        )
    if name in SWEPT:
        raise SpaceError(
            f"{name}: the finder sweeps the learning rate itself; set the range with "
            "--min-lr and --max-lr",
            field=FLAG,
        )


def check_params(space: Space, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Check override values against the vocabulary (type, bounds, names) and, for a
    searched param, against the space's own choices or range. A fixed param may be set to
    any valid value (that is what overriding it means)."""
    out: dict[str, Any] = {}
    for name, value in overrides.items():
        _known(name)
        try:
            fixed = parse_param(name, value, FLAG)
        except SpaceError as exc:
            raise SpaceError(f"{name}: {exc.problem}", field=FLAG) from None
        value = fixed.values()[0]  # type: ignore[index]  # a scalar parses as Fixed
        param = space.params.get(name)
        if isinstance(param, Choice) and value not in param.options:
            options = ", ".join(str(o) for o in param.options)
            raise SpaceError(
                f"{name}: {value!r} is not one of the space's choices ({options})", field=FLAG
            )
        if isinstance(param, (IntRange, FloatRange)) and not param.min <= value <= param.max:
            raise SpaceError(
                f"{name}: {value!r} is outside the space's range [{param.min:g}, {param.max:g}]",
                field=FLAG,
            )
        out[name] = value
    return out


def fixed_params(
    space: Space, overrides: Mapping[str, Any] | Sequence[str] | None
) -> dict[str, Any]:
    """Every hyperparameter but the learning rate, at its default or its override; a
    learning-rate schedule, if the vocabulary has one, is held at ``constant``."""
    if overrides is None:
        given: dict[str, Any] = {}
    elif isinstance(overrides, Mapping):
        given = check_params(space, overrides)
    else:
        given = parse_params(space, list(overrides))
    values = {k: space.default_of(k) for k in space.params if k != "learning_rate"}
    if "lr_schedule" in values:
        values["lr_schedule"] = "constant"
    return values | given


def check_settings(
    min_lr: float, max_lr: float, steps: int | None, epochs: int, stop_factor: float = STOP_FACTOR
) -> None:
    """Raise SpaceError (field: the flag) for a sweep that cannot run."""
    for flag, value in (("--min-lr", min_lr), ("--max-lr", max_lr)):
        if not math.isfinite(value) or value <= 0:
            raise SpaceError(f"must be a number > 0, got {value!r}", field=flag)
    if min_lr >= max_lr:
        raise SpaceError(f"must be above --min-lr ({min_lr:g}), got {max_lr:g}", field="--max-lr")
    if steps is not None and steps < MIN_STEPS:
        raise SpaceError(
            f"must be at least {MIN_STEPS} (the curve needs points), got {steps}", field="--steps"
        )
    if epochs < 1:
        raise SpaceError(f"must be at least 1, got {epochs}", field="--epochs")
    if not math.isfinite(stop_factor) or stop_factor <= 1:
        raise SpaceError(f"must be a number > 1, got {stop_factor!r}", field="stop_factor")


# ----------------------------------------------------------------------------- the result


@dataclass
class LRFindResult:
    """One sweep: the curve, the suggestion(s), the rule, and the model it trained."""

    space: str
    dataset: str
    task: str
    params: dict[str, Any]  # every hyperparameter the model used, the learning rate aside
    seed: int
    min_lr: float
    max_lr: float
    planned_steps: int
    epochs: int  # epochs fit() was given to cover the planned steps
    beta: float  # EMA factor of the smoothed loss
    lrs: list[float]
    losses: list[float]  # the raw loss of each batch
    smoothed: list[float]  # its bias-corrected exponential moving average
    suggestion: float
    rule: str  # STEEPEST, or MIN_OVER_10 when the loss never fell
    min_lr_over_10: float
    lr_at_min_loss: float
    min_loss: float
    stopped: str | None = None  # why the sweep ended before planned_steps
    stop_lr: float | None = None  # the learning rate at which the loss blew up
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def rule_text(self) -> str:
        return RULES[self.rule]

    @property
    def steps(self) -> int:
        return len(self.lrs)

    def summary(self) -> dict[str, Any]:
        """Everything but the curve."""
        out = asdict(self)
        for key in ("lrs", "losses", "smoothed"):
            out.pop(key)
        return out | {"steps": self.steps, "rule_text": self.rule_text}

    def to_json(self) -> str:
        """The summary and the curve, as one JSON document (non-finite values as null)."""
        body = self.summary() | {
            "curve": {"lr": self.lrs, "loss": self.losses, "smoothed_loss": self.smoothed}
        }
        return json.dumps(_finite_or_none(body), indent=1, default=str)

    def write_csv(self, path: Path) -> Path:
        """``step,lr,loss,smoothed_loss``, one row per batch."""
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["step", "lr", "loss", "smoothed_loss"])
            for i, row in enumerate(zip(self.lrs, self.losses, self.smoothed, strict=True)):
                writer.writerow([i, *(f"{v:.8g}" for v in row)])
        return path

    def plot(self, path: Path) -> Path:
        """Loss vs learning rate (log x axis), the suggestion and min/10 marked, as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
        try:
            ax.plot(self.lrs, self.losses, color="tab:blue", alpha=0.3, lw=1, label="batch loss")
            ax.plot(self.lrs, self.smoothed, color="tab:blue", lw=2, label="smoothed loss")
            ax.set_xscale("log")
            at = _nearest(self.lrs, self.suggestion)
            ax.axvline(self.suggestion, color="tab:red", lw=1.5)
            ax.plot(
                [self.suggestion],
                [self.smoothed[at]],
                "o",
                color="tab:red",
                ms=8,
                label=f"suggestion {self.suggestion:.2g} ({self.rule_text})",
            )
            ax.axvline(
                self.min_lr_over_10,
                color="tab:green",
                ls="--",
                lw=1.2,
                label=f"min-loss lr / 10 = {self.min_lr_over_10:.2g}",
            )
            ax.set_ylim(*_y_range(self.losses, self.smoothed))
            ax.set_xlim(self.min_lr, self.max_lr)
            ax.set_xlabel("learning rate (log scale)")
            ax.set_ylabel("training loss")
            opt, bs = self.params.get("optimizer", "?"), self.params.get("batch_size", "?")
            ax.set_title(
                f"LR finder: {self.space} ({self.dataset}), {opt}, batch {bs}, {self.steps} steps"
            )
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(loc="upper left", fontsize=9)
            fig.tight_layout()
            fig.savefig(path)
        finally:
            plt.close(fig)
        return path

    def save(self, folder: Path, stem: str) -> dict[str, Path]:
        """Write ``<stem>.png``, ``<stem>.csv`` and ``<stem>.json`` into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        json_path = folder / f"{stem}.json"
        json_path.write_text(self.to_json(), encoding="utf-8")
        return {
            "png": self.plot(folder / f"{stem}.png"),
            "csv": self.write_csv(folder / f"{stem}.csv"),
            "json": json_path,
        }


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


def _nearest(lrs: Sequence[float], lr: float) -> int:
    return min(range(len(lrs)), key=lambda i: abs(math.log(lrs[i]) - math.log(lr)))


def _y_range(losses: Sequence[float], smoothed: Sequence[float]) -> tuple[float, float]:
    """Show the descent, not the explosion: the top is the highest smoothed loss up to its
    minimum, plus a margin (a blow-up would squash the rest of the curve flat)."""
    finite = [v for v in (*losses, *smoothed) if math.isfinite(v)]
    lowest = min(finite)
    i_min = min(range(len(smoothed)), key=lambda i: smoothed[i])
    top = max(smoothed[: i_min + 1])
    span = max(top - lowest, abs(top) * 0.05, 1e-12)
    return lowest - 0.05 * span, top + 0.35 * span


# ----------------------------------------------------------------------------- the rule


def suggest(
    lrs: ArrayLike, smoothed: ArrayLike, min_lr: float, max_lr: float
) -> tuple[float, str, float, float, float]:
    """``(suggestion, rule, min_lr_over_10, lr_at_min_loss, min_loss)`` from a curve.

    The suggestion is the learning rate at the minimum of d(smoothed)/d(log10 lr). The
    slope at step i is a central difference over ``h`` steps each side, ``h`` being 5% of
    the planned sweep (at least 1): a point-by-point gradient would pick batch noise, not
    the descent. It is looked for from ``max(2, h)`` steps after the start (the average is
    still settling there) up to the lowest smoothed loss (the descent; what follows is the
    blow-up), and at most up to ``max(2, h)`` steps before the end. If that window holds
    fewer than 3 steps, or the loss does not fall in it, the rule is MIN_OVER_10: the lr of
    the lowest smoothed loss / 10. Both figures are clipped into [min_lr, max_lr]."""
    import numpy as np

    lr = np.asarray(lrs, dtype=float)
    loss = np.asarray(smoothed, dtype=float)
    n = len(lr)
    if n == 0:
        raise ValueError("no steps were recorded")
    i_min = int(np.nanargmin(loss))
    lr_at_min, min_loss = float(lr[i_min]), float(loss[i_min])
    over_10 = float(np.clip(lr_at_min / 10, min_lr, max_lr))
    log_lr = np.log10(lr)
    planned = n
    if n > 1 and log_lr[-1] > log_lr[0]:  # the sweep's length, had it not stopped early
        planned = round(math.log10(max_lr / min_lr) * (n - 1) / (log_lr[-1] - log_lr[0])) + 1
    h = max(1, round(0.05 * planned))
    skip = max(2, h)
    lo, hi = skip, min(i_min, n - 1 - skip)
    if hi - lo + 1 >= 3:
        idx = np.arange(lo, hi + 1)
        a, b = np.maximum(idx - h, 0), np.minimum(idx + h, n - 1)
        slope = (loss[b] - loss[a]) / (log_lr[b] - log_lr[a])
        i = int(np.nanargmin(slope))
        if slope[i] < 0:
            suggestion = float(np.clip(lr[lo + i], min_lr, max_lr))
            return suggestion, STEEPEST, over_10, lr_at_min, min_loss
    return over_10, MIN_OVER_10, over_10, lr_at_min, min_loss


def default_beta(planned_steps: int) -> float:
    """EMA factor whose time constant (1 / (1 - beta)) is 5% of the sweep, in [0.5, 0.98]:
    fastai's 0.98 on long sweeps, lighter on short ones (it lags, which shifts the steepest
    point to higher rates)."""
    return min(0.98, max(0.5, 1.0 - 20.0 / planned_steps))


# ----------------------------------------------------------------------------- the sweep


def lr_find(
    space: Space,
    *,
    params: Mapping[str, Any] | Sequence[str] | None = None,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    steps: int | None = None,
    epochs: int = 1,
    seed: int | None = None,
    stop_factor: float = STOP_FACTOR,
    beta: float | None = None,
    verbose: bool = False,
    data: Dataset | None = None,
) -> LRFindResult:
    """Sweep the learning rate of the space's default model and suggest one.

    Args:
        space: the search space; its searched params are held at ``space.default_of``.
        params: overrides, as a mapping or ``NAME=VALUE`` strings (``--params``); checked
            against the vocabulary and the space's choices and ranges.
        min_lr, max_lr: the sweep's ends; the rate grows by a constant factor each batch.
        steps: batches in the sweep (default: ``epochs`` epochs of the train split).
        epochs: epochs of batches when ``steps`` is not given.
        seed: weights, shuffling and the split (default: the space's ``search.seed``).
        stop_factor: stop once the smoothed loss exceeds this times its lowest value (or
            the loss is NaN/inf).
        beta: EMA factor of the smoothed loss (default: ``default_beta(steps)``).
        data: the loaded dataset (default: loaded from the space).
        verbose: let TensorFlow print its start-up lines and warnings.

    Returns the curve, the suggestion (steepest descent of the smoothed loss vs log lr;
    see the module docstring) and the lr at the lowest loss / 10.
    Raises SpaceError for bad settings or params, DataError for unusable data.
    """
    check_settings(min_lr, max_lr, steps, epochs, stop_factor)
    if beta is not None and not 0 <= beta < 1:
        raise SpaceError(f"must be in [0, 1), got {beta!r}", field="beta")
    space = space.with_overrides(seed=seed)
    values = fixed_params(space, params)
    seed = space.search.seed
    if data is None:
        from hpsearch.data import load_dataset

        data = load_dataset(space.dataset, seed, space.source.parent if space.source else None)

    from hpsearch.model import build_for, quiet_tensorflow
    from hpsearch.wide_deep import model_columns

    quiet_tensorflow(verbose)
    import keras

    n_train = len(data.x_train)
    batch_size = int(values["batch_size"])
    per_epoch = math.ceil(n_train / batch_size)
    planned = steps if steps is not None else per_epoch * epochs
    fit_epochs = math.ceil(planned / per_epoch)
    schedule = lr_schedule(min_lr, max_lr, planned)
    beta = default_beta(planned) if beta is None else beta

    keras.utils.set_random_seed(seed)
    model = build_for(values | {"learning_rate": min_lr}, data, columns=model_columns(space, data))
    sweep = _Sweep(schedule, batch_size, n_train, beta, stop_factor)
    started = time.perf_counter()
    model.fit(
        data.x_train,
        data.y_train,
        batch_size=batch_size,
        epochs=fit_epochs,
        shuffle=True,
        verbose=0,  # no epoch lines on stdout: --json prints one object there
        callbacks=[sweep.callback()],
    )
    seconds = time.perf_counter() - started
    keras.backend.clear_session()
    if not sweep.lrs:
        raise RuntimeError(f"the loss was not finite from the first step (lr {min_lr:g})")
    suggestion, rule, over_10, lr_at_min, min_loss = suggest(
        sweep.lrs, sweep.smoothed, min_lr, max_lr
    )
    notes = sweep_notes(rule, sweep.lrs[-1], sweep.stopped, min_lr, max_lr, planned)
    return LRFindResult(
        space=space.name,
        dataset=data.name,
        task=data.task,
        params=values,
        seed=seed,
        min_lr=min_lr,
        max_lr=max_lr,
        planned_steps=planned,
        epochs=fit_epochs,
        beta=beta,
        lrs=sweep.lrs,
        losses=sweep.losses,
        smoothed=sweep.smoothed,
        suggestion=suggestion,
        rule=rule,
        min_lr_over_10=over_10,
        lr_at_min_loss=lr_at_min,
        min_loss=min_loss,
        stopped=sweep.stopped,
        stop_lr=sweep.stop_lr,
        seconds=seconds,
        notes=notes,
    )


def lr_schedule(min_lr: float, max_lr: float, planned: int) -> list[float]:
    """One learning rate per batch, growing by a constant factor from ``min_lr`` to exactly
    ``max_lr`` over ``planned`` batches."""
    ratio = max_lr / min_lr
    schedule = [min_lr * ratio ** (i / (planned - 1)) for i in range(planned)]
    schedule[-1] = max_lr
    return schedule


def sweep_notes(
    rule: str,
    last_lr: float,
    stopped: str | None,
    min_lr: float,
    max_lr: float,
    planned: int,
) -> list[str]:
    """What to tell the user about a finished sweep: a loss that never fell, one that never
    blew up below ``max_lr``, a curve too coarse to trust."""
    notes = []
    if rule == MIN_OVER_10:
        notes.append(
            f"the smoothed loss never fell between {min_lr:g} and {last_lr:.3g}: "
            "the suggestion is the min-loss lr / 10; try a lower --min-lr or more --steps"
        )
    if stopped is None:
        notes.append(
            f"the loss did not blow up below --max-lr {max_lr:g}: the lowest loss (and so "
            "min_lr_over_10) may lie beyond it; try a higher --max-lr"
        )
    if planned < 50:
        notes.append(
            f"only {planned} steps: the curve is coarse; pass --steps or --epochs for more"
        )
    return notes


class _Sweep:
    """State of the Keras callback that sets the learning rate before every batch and
    records that batch's loss after it.

    Keras's ``logs["loss"]`` at a batch's end is the running mean over the epoch so far
    (weighted by batch size), so one batch's loss is recovered from two running means:
    ``(mean_k * seen_k - mean_{k-1} * seen_{k-1}) / n_k``."""

    def __init__(
        self, schedule: list[float], batch_size: int, n_train: int, beta: float, stop: float
    ) -> None:
        self.schedule, self.batch_size, self.n_train = schedule, batch_size, n_train
        self.beta, self.stop_factor = beta, stop
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.stopped: str | None = None
        self.stop_lr: float | None = None
        self._avg = 0.0
        self._best = math.inf
        self._seen = 0
        self._mean = 0.0

    def callback(self) -> keras.callbacks.Callback:
        import keras

        sweep = self

        class LearningRateSweep(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                sweep._seen, sweep._mean = 0, 0.0

            def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
                self.model.optimizer.learning_rate = sweep.schedule[len(sweep.lrs)]

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                if sweep.record(float((logs or {}).get("loss", math.nan))):
                    self.model.stop_training = True

        return LearningRateSweep()

    def record(self, running_mean: float) -> bool:
        """Record one batch; True when the sweep must stop."""
        lr = self.schedule[len(self.lrs)]
        n = min(self.batch_size, self.n_train - self._seen)
        loss = (running_mean * (self._seen + n) - self._mean * self._seen) / n
        self._seen += n
        self._mean = running_mean
        if not math.isfinite(loss):
            self.stopped, self.stop_lr = f"the loss became {loss} at lr {lr:.3g}", lr
            return True
        self._avg = self.beta * self._avg + (1 - self.beta) * loss
        smooth = self._avg / (1 - self.beta ** (len(self.lrs) + 1))
        self.lrs.append(lr)
        self.losses.append(loss)
        self.smoothed.append(smooth)
        self._best = min(self._best, smooth)
        if smooth > self.stop_factor * self._best:
            self.stopped = (
                f"the smoothed loss passed {self.stop_factor:g}x its lowest value "
                f"({self._best:.4g}) at lr {lr:.3g}"
            )
            self.stop_lr = lr
            return True
        return len(self.lrs) >= len(self.schedule)


# ----------------------------------------------------------------------------- the command


@dataclass
class LRFindRun:
    """What ``hpsearch lr-find`` made: the result, its files and its MLflow run."""

    result: LRFindResult
    files: dict[str, Path]
    run_id: str
    experiment: str
    tracking_uri: str

    def as_json(self) -> dict[str, Any]:
        r = self.result
        from hpsearch.tracking import redact_uri

        return _finite_or_none(
            {
                "suggestion": r.suggestion,
                "rule": r.rule,
                "rule_text": r.rule_text,
                "min_lr_over_10": r.min_lr_over_10,
                "lr_at_min_loss": r.lr_at_min_loss,
                "min_loss": r.min_loss,
                "png": str(self.files["png"]),
                "csv": str(self.files["csv"]),
                "json": str(self.files["json"]),
                "run_id": self.run_id,
                "experiment": self.experiment,
                "tracking_uri": redact_uri(self.tracking_uri),
                "steps": r.steps,
                "planned_steps": r.planned_steps,
                "stopped": r.stopped,
                "min_lr": r.min_lr,
                "max_lr": r.max_lr,
                "seed": r.seed,
                "params": r.params,
                "notes": r.notes,
            }
        )


def run_lr_find(
    space: Space,
    *,
    params: Mapping[str, Any] | Sequence[str] | None = None,
    min_lr: float = 1e-6,
    max_lr: float = 1.0,
    steps: int | None = None,
    epochs: int = 1,
    seed: int | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    output: Path | None = None,
    verbose: bool = False,
) -> LRFindRun:
    """``lr_find``, then the PNG, CSV and JSON into ``output`` (default
    ``reports/<space name>/lr-find/``) and an MLflow run ``lr-find-<timestamp>`` in the
    experiment, tagged ``hpsearch.role=lr-find``. Settings, params and the tracking store
    are checked before any training."""
    from hpsearch.tracking import log_lr_find, preflight, resolve_tracking_uri

    check_settings(min_lr, max_lr, steps, epochs)
    space = space.with_overrides(seed=seed)
    fixed_params(space, params)  # raises SpaceError now, not after loading TensorFlow
    uri = resolve_tracking_uri(tracking_uri)
    preflight(uri)
    result = lr_find(
        space,
        params=params,
        min_lr=min_lr,
        max_lr=max_lr,
        steps=steps,
        epochs=epochs,
        verbose=verbose,
    )
    folder = Path(output) if output is not None else Path("reports") / space.name / "lr-find"
    stem = f"lr-find-{time.strftime('%Y%m%d-%H%M%S')}"
    base, n = stem, 1
    while (folder / f"{stem}.png").exists():
        n += 1
        stem = f"{base}-{n}"
    files = result.save(folder, stem)
    name = experiment or space.name
    metrics = {
        "suggested_lr": result.suggestion,
        "min_lr_over_10": result.min_lr_over_10,
        "lr_at_min_loss": result.lr_at_min_loss,
        "min_loss": result.min_loss,
        "steps": float(result.steps),
        "seconds": result.seconds,
    }
    if result.stop_lr is not None:
        metrics["stop_lr"] = result.stop_lr
    settings = {
        "lr_find.min_lr": min_lr,
        "lr_find.max_lr": max_lr,
        "lr_find.planned_steps": result.planned_steps,
        "lr_find.epochs": result.epochs,
        "lr_find.seed": result.seed,
        "lr_find.beta": result.beta,
        "lr_find.stop_factor": STOP_FACTOR,
        "lr_find.rule": result.rule,
    }
    run_id = log_lr_find(
        space,
        run_name=stem,
        params=result.params | settings,
        metrics=metrics,
        curve={"lr": result.lrs, "loss": result.losses, "smoothed_loss": result.smoothed},
        artifacts={
            "lr_find.png": files["png"],
            "lr_find_curve.csv": files["csv"],
            "lr_find.json": files["json"],
        },
        tags={"hpsearch.lr_find.rule": result.rule_text},
        tracking_uri=uri,
        experiment=name,
    )
    return LRFindRun(result=result, files=files, run_id=run_id, experiment=name, tracking_uri=uri)
