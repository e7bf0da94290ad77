"""The space as a ``kt.HyperModel``: each searched param becomes an ``hp.*`` call in build(),
fit() sets the batch size (and cross-validates under ``training.cv``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hpsearch.backends.trial import objective_of
from hpsearch.builders import builder_form
from hpsearch.model import build_for, fit_callbacks, fit_options, is_fit_callback, load_builder
from hpsearch.space import Bool, Choice, FloatRange, IntRange, Param, Space
from hpsearch.trials import NAN_ERROR
from hpsearch.wide_deep import model_columns

if TYPE_CHECKING:
    from hpsearch.data import Dataset


def hp_value(hp: Any, name: str, param: Param) -> Any:
    """Declare one hyperparameter on a ``kt.HyperParameters`` and return its value."""
    if isinstance(param, (IntRange, FloatRange)):
        declare = hp.Int if isinstance(param, IntRange) else hp.Float
        return declare(
            name,
            param.min,
            param.max,
            step=param.step,
            sampling="log" if param.log else "linear",
            default=param.default,
        )
    if isinstance(param, Choice):
        return hp.Choice(name, param.options, default=param.default)
    if isinstance(param, Bool):
        return hp.Boolean(name, default=param.default)
    return hp.Fixed(name, param.value)


def fixed_params(space: Space) -> dict[str, Any]:
    """The params a search holds fixed, by name (every vocabulary name has one)."""
    searched = space.searched()
    return {k: space.default_of(k) for k in space.params if k not in searched}


def search_kwargs(keras: Any, space: Space, data: Dataset, verbose: bool) -> dict[str, Any]:
    """What ``tuner.search`` gets besides x and y: validation data, epochs, fit callbacks."""
    objective = space.objective
    # target_units first: everything after it, the tuner's own callbacks included, sees
    # a regression's metrics in the target's units
    callbacks = fit_callbacks(
        data.target_scale,
        metric=objective.metric,
        direction=objective.direction,
        patience=space.training.patience,
    )
    return {
        "validation_data": (data.x_valid, data.y_valid),
        "epochs": space.training.epochs,
        "callbacks": callbacks,
        "verbose": 1 if verbose else 0,
    }


def make_hypermodel(kt: Any, keras: Any, space: Space, data: Dataset) -> Any:
    """A kt.HyperModel whose build() samples the space and whose fit() sets batch_size."""

    kt_form = (
        bool(space.builder)
        and builder_form(load_builder(str(space.builder), space.builder_dirs())) == "hp"
    )
    columns = model_columns(space, data)

    class SpaceHyperModel(kt.HyperModel):  # type: ignore[misc]
        def build(self, hp: Any) -> Any:
            params = sample_params(hp, space, kt_form=kt_form)
            keras.utils.set_random_seed(space.search.seed)  # same weights for the same params
            return build_for(
                params,
                data,
                builder=space.builder,
                builder_dirs=space.builder_dirs(),
                hp=hp if kt_form else None,
                columns=columns,
            )

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            options = fit_options(hp.values, data.y_train, data.task)
            if space.training.cv:
                return self._cross_validate(hp, model, options, kwargs)
            history = model.fit(*args, **options, **kwargs)
            values = history.history.get(space.objective.metric, [])
            if objective_of(values, space.objective.direction) is None:
                raise kt.errors.FailedTrialError(NAN_ERROR)
            return history

        def _cross_validate(
            self, hp: Any, model: Any, options: dict[str, Any], kwargs: dict[str, Any]
        ) -> dict[str, float]:
            score = cross_validate_trial(
                lambda: self.build(hp), model, space, data, options, kwargs
            )
            if not math.isfinite(score):
                raise kt.errors.FailedTrialError(NAN_ERROR)
            return {space.objective.metric: score}

    return SpaceHyperModel(name=space.name)


def sample_params(hp: Any, space: Space, *, kt_form: bool) -> dict[str, Any]:
    """A trial's params: the fixed ones plus the searched ones sampled from ``hp``.

    Only searched params are Keras Tuner hyperparameters: each one it declares moves its
    sampling seed, so fixed ones would make the same seed sample other configurations
    whenever the vocabulary grows."""
    params = fixed_params(space)
    if space.search.strategy == "grid":  # the grid is exactly Space.grid(), both engines
        params |= {name: hp.Choice(name, v) for name, v in space.grid().items()}
    else:
        params |= {name: hp_value(hp, name, p) for name, p in space.searched().items()}
    if params.get("layer_shape") == "per_layer":  # conditional: one per active layer
        for name in space.per_layer_names()[: int(params["n_hidden"])]:
            params[name] = hp_value(hp, name, space.params["n_neurons"])
    if kt_form:  # the builder reads every value from hp: fixed ones are there too
        for name in fixed_params(space):
            if isinstance(params[name], (bool, int, float, str)):
                hp.Fixed(name, params[name])
    return params


def cross_validate_trial(
    build: Callable[[], Any],
    model: Any,
    space: Space,
    data: Dataset,
    options: dict[str, Any],
    kwargs: dict[str, Any],
) -> float:
    """k folds of train+valid, then the fold-mean epochs replayed through Keras Tuner's own
    callbacks, so the trial reports like any other; the mean score (non-finite: failed)."""
    import numpy as np

    from hpsearch.cv import cross_validate, replay_epochs

    callbacks = list(kwargs.pop("callbacks", []))
    tuners = [c for c in callbacks if not is_fit_callback(c)]
    result = cross_validate(
        build,
        np.concatenate([data.x_train, data.x_valid]),
        np.concatenate([data.y_train, data.y_valid]),
        k=int(space.training.cv or 0),
        seed=space.search.seed,
        task=data.task,
        metric=space.objective.metric,
        direction=space.objective.direction,
        fit_kwargs={
            **options,
            "epochs": kwargs.get("epochs"),
            "callbacks": [c for c in callbacks if c not in tuners],  # per fold
            "verbose": kwargs.get("verbose", 0),
        },
    )
    last = result.last_model or model
    for cb in tuners:
        cb.set_model(last)
        cb.on_train_begin()
    for epoch, logs, _ in replay_epochs(result):
        for cb in tuners:
            cb.on_epoch_end(epoch, logs)
    for cb in tuners:
        cb.on_train_end()
    return result.score
