"""How a trial's params are sampled from Keras Tuner's ``hp`` (hypermodel.sample_params)."""

from __future__ import annotations

from hpsearch.backends.keras_tuner.hypermodel import fixed_params, sample_params
from hpsearch.space import parse_space
from tests.spaces import EDGES, OMIT, tiny_space_text

SPACE = tiny_space_text(name="t", hyperparameters=EDGES, training=OMIT, search=OMIT)


def test_only_searched_params_become_keras_tuner_hyperparameters() -> None:
    """Fixed params are in the trial's params but never declared on hp: each declaration
    moves Keras Tuner's sampling seed."""
    import keras_tuner as kt

    space = parse_space(SPACE)
    hp = kt.HyperParameters()
    params = sample_params(hp, space, kt_form=False)
    assert set(hp.values) == set(space.searched())
    assert set(params) == set(space.params)
    assert {k: params[k] for k in fixed_params(space)} == fixed_params(space)
    assert 16 <= params["n_neurons"] <= 256 and 1 <= params["n_hidden"] <= 3


def test_a_keras_tuner_builder_finds_the_fixed_values_on_hp() -> None:
    """A ``build_model(hp)`` builder reads every value from hp: fixed scalars are declared
    as ``hp.Fixed`` with their values."""
    import keras_tuner as kt

    space = parse_space(SPACE)
    hp = kt.HyperParameters()
    params = sample_params(hp, space, kt_form=True)
    scalars = {k: v for k, v in params.items() if isinstance(v, (bool, int, float, str))}
    assert {k: hp.values[k] for k in scalars} == scalars
    assert set(space.searched()) <= set(hp.values)


def test_the_same_seed_samples_the_same_params() -> None:
    import keras_tuner as kt

    space = parse_space(SPACE)
    first = sample_params(kt.HyperParameters(), space, kt_form=False)
    assert sample_params(kt.HyperParameters(), space, kt_form=False) == first


def test_each_param_kind_becomes_its_keras_tuner_hyperparameter() -> None:
    """Ranges keep their bounds, step and log sampling; ints stay Int, floats Float."""
    import keras_tuner as kt

    from hpsearch.backends.keras_tuner.hypermodel import hp_value

    space = parse_space(
        tiny_space_text(
            name="kinds",
            hyperparameters={
                "n_neurons": {"int": [16, 256], "log": True},
                "n_hidden": {"int": [1, 5], "step": 2},
                "learning_rate": {"float": [1e-4, 1e-2], "log": True},
                "optimizer": {"choice": ["adam", "sgd"]},
                "normalize": {"bool": False},
            },
            training=OMIT,
            search=OMIT,
        )
    )
    hp = kt.HyperParameters()
    for name, param in space.searched().items():
        hp_value(hp, name, param)
    declared = {h.name: h for h in hp.space}
    neurons, hidden, lr = declared["n_neurons"], declared["n_hidden"], declared["learning_rate"]
    assert isinstance(neurons, kt.engine.hyperparameters.Int) and neurons.sampling == "log"
    assert (neurons.min_value, neurons.max_value) == (16, 256)
    assert isinstance(hidden, kt.engine.hyperparameters.Int) and hidden.step == 2
    assert hidden.sampling == "linear"
    assert isinstance(lr, kt.engine.hyperparameters.Float) and lr.sampling == "log"
    assert (lr.min_value, lr.max_value) == (1e-4, 1e-2)
    assert list(declared["optimizer"].values) == ["adam", "sgd"]
    assert isinstance(declared["normalize"], kt.engine.hyperparameters.Boolean)
