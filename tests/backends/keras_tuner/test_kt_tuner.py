"""The Keras Tuner adapter's own rules, without a search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpsearch.backends.keras_tuner import atomic_state_files, clamp_to_space, hp_value
from hpsearch.space import parse_space
from tests.spaces import EDGES, OMIT, tiny_space_text

SPACE = tiny_space_text(name="t", hyperparameters=EDGES, training=OMIT, search=OMIT)


def test_an_int_proposed_at_the_edge_stays_inside_its_range() -> None:
    """keras-tuner maps probability 1.0, which its Bayesian oracle may propose, to max + 1:
    the value a trial is built with and recorded under is put back to max."""
    import keras_tuner as kt

    space = parse_space(SPACE)
    hp = kt.HyperParameters()
    for name, param in space.searched().items():
        hp_value(hp, name, param)
    n_neurons = next(h for h in hp.space if h.name == "n_neurons")
    assert n_neurons.prob_to_value(1.0) == 257  # the keras-tuner behaviour guarded here
    values = {"n_neurons": 257, "n_hidden": 3, "learning_rate": 0.01}
    assert clamp_to_space(space, values) == {"n_neurons": 256, "n_hidden": 3, "learning_rate": 0.01}
    assert clamp_to_space(space, {"n_neurons": 16}) == {"n_neurons": 16}


def test_the_trial_is_reported_with_the_value_it_is_built_with() -> None:
    """The clamp happens where a trial's params are first read (on_trial_begin logs them to
    MLflow), on the trial's own record, which the model is then built from."""
    from types import SimpleNamespace

    import keras_tuner as kt

    from hpsearch.backends.keras_tuner.tuner import _tuner_class

    space = parse_space(SPACE)
    reporting = _tuner_class(kt.RandomSearch)
    tuner = reporting.__new__(reporting)
    tuner._space = space
    values = {"n_neurons": 257, "n_hidden": 2, "learning_rate": 1e-3, "tuner/epochs": 2}
    trial = SimpleNamespace(hyperparameters=SimpleNamespace(values=values))
    params = tuner._params(trial)
    assert params["n_neurons"] == 256 and values["n_neurons"] == 256
    assert "tuner/epochs" not in params


def test_keras_tuner_state_is_written_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop landing while Keras Tuner writes oracle.json (a SIGTERM in CI left it empty,
    and --resume died on a JSONDecodeError) leaves the previous state readable."""
    import json

    from keras_tuner.src import utils

    from hpsearch.backends.keras_tuner import state as state_files

    atomic_state_files()
    state = tmp_path / "oracle.json"
    utils.save_json(str(state), {"trials": 1})
    assert json.loads(state.read_text()) == {"trials": 1}

    def stopped(*args: object) -> None:
        raise KeyboardInterrupt  # what the signal handler raises, just before the rename

    monkeypatch.setattr(state_files.os, "replace", stopped)
    with pytest.raises(KeyboardInterrupt):
        utils.save_json(str(state), {"trials": 2})
    assert json.loads(state.read_text()) == {"trials": 1}  # the old state, whole
    assert [p.name for p in tmp_path.iterdir()] == ["oracle.json"]  # no temporary left


def _ended(status: str, score: float | None, message: str | None = None) -> tuple[Any, Any]:
    """A Keras Tuner trial as the tuner holds it, and the oracle's copy of it."""
    from types import SimpleNamespace

    values = {"n_neurons": 32, "tuner/initial_epoch": 2, "tuner/bracket": 1, "tuner/round": 0}
    trial = SimpleNamespace(
        trial_id="07", hyperparameters=SimpleNamespace(values=values), message=message
    )
    done = SimpleNamespace(status=status, score=score, message=None)
    return trial, done


def _result(trial: Any, done: Any) -> Any:
    from hpsearch.backends.keras_tuner.tuner import trial_result

    return trial_result(
        trial,
        done,
        params={"n_neurons": 32},
        space=parse_space(SPACE),
        worker="tuner1",
        started=0.0,
        epochs=3,
        history={"loss": [0.5, 0.4, 0.3]},
    )


def test_a_completed_trial_is_recorded_with_its_score_and_bracket() -> None:
    result = _result(*_ended("COMPLETED", 0.875))
    assert (result.trial_id, result.status, result.objective) == ("0007", "FINISHED", 0.875)
    assert (result.first_epoch, result.bracket, result.round) == (2, 1, 0)
    assert (result.worker, result.backend, result.epochs) == ("tuner1", "keras-tuner", 3)
    assert result.error is None and result.traceback is None


def test_a_nan_score_or_an_exception_fails_the_trial() -> None:
    from hpsearch.trials import NAN_ERROR

    nan = _result(*_ended("COMPLETED", float("nan")))
    assert (nan.status, nan.objective, nan.error) == ("FAILED", None, NAN_ERROR)
    text = "Traceback (most recent call last):\n  File x\nValueError: boom"
    raised = _result(*_ended("FAILED", None, message=text))
    assert (raised.status, raised.error, raised.traceback) == ("FAILED", "ValueError: boom", text)
