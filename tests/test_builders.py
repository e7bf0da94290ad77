"""Builders checked without running them, and the ``hp`` a Keras Tuner builder gets on Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpsearch.builders import BuilderError, SampledHP, builder_form, check_builder

MODULE = """
def params_form(params, input_shape, task, n_outputs=1):
    return None


def kt_form(hp):
    units = hp.Int("units", min_value=8, max_value=64)
    rate = hp.Float(name="rate", min_value=0.0, max_value=0.5)
    layers = [hp.Int(f"units_{i}", 8, 64) for i in range(2)]  # built at run time
    return units, rate, layers


def two(params, input_shape):
    return None


def keyword_only(hp, *, extra):
    return None
"""


@pytest.fixture
def module_dir(tmp_path: Path) -> str:
    (tmp_path / "user_models.py").write_text(MODULE)
    return str(tmp_path)


def test_both_forms_pass_and_say_which_they_are(module_dir: str) -> None:
    assert check_builder("user_models:params_form", [module_dir]) == "params"
    assert check_builder("user_models:kt_form", [module_dir], {"units", "rate"}) == "hp"


@pytest.mark.parametrize("fn", ["two", "keyword_only"])
def test_a_function_of_neither_form_names_both(module_dir: str, fn: str) -> None:
    with pytest.raises(BuilderError) as info:
        check_builder(f"user_models:{fn}", [module_dir])
    message = str(info.value)
    assert "takes neither of hpsearch's calls" in message
    assert "def build(params, input_shape, task, n_outputs=1)" in message
    assert "Keras Tuner's def build_model(hp)" in message


def test_a_literal_name_the_space_lacks_is_named_with_a_close_match(module_dir: str) -> None:
    with pytest.raises(BuilderError, match=r"asks for hyperparameter 'rate', which the space "
                       r"does not declare \(did you mean 'rates'\?\)"):  # fmt: skip
        check_builder("user_models:kt_form", [module_dir], {"units", "rates"})


def test_sampled_hp_returns_the_trials_values_whatever_the_builders_ranges() -> None:
    hp = SampledHP({"units": 12, "optimizer": "adam", "dropout": 0.1, "bn": True})
    assert hp.Int("units", min_value=16, max_value=256) == 12
    assert hp.Choice("optimizer", values=["sgd"]) == "adam"
    assert hp.Float("dropout", 0.0, 0.5, sampling="linear") == 0.1
    assert hp.Boolean("bn") is True and hp.Fixed("units", 3) == 12
    assert hp.get("units") == 12 and "units" in hp and hp.values["optimizer"] == "adam"
    with hp.conditional_scope("optimizer", ["adam"]):
        assert hp.Int("units", 1, 2) == 12
    with pytest.raises(BuilderError, match="asks for hyperparameter 'unit', which the space"):
        hp.Int("unit", 1, 2)


def test_builder_form_reads_an_imported_function() -> None:
    def kt(hp: object) -> None: ...

    def ours(params: object, input_shape: object, task: object, n_outputs: int = 1) -> None: ...

    assert builder_form(kt) == "hp" and builder_form(ours) == "params"
