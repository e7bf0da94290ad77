"""Keras Tuner's Hyperband with a smallest rung, and BOHB on it: the oracles driven through
whole schedules with made-up scores, without training (brackets.py, bohb.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hpsearch.backends.keras_tuner import hp_value
from hpsearch.space import Space, hyperband_trials, parse_space
from tests.spaces import tiny_space_text

METRIC = "val_accuracy"
#: What a trial "scores": best near 40 neurons and a rate of 10**-2.5, better with epochs.
OPTIMUM = {"n_neurons": 40, "learning_rate": 10**-2.5}


def _score(values: dict[str, Any]) -> float:
    lr = math.log10(values["learning_rate"]) - math.log10(OPTIMUM["learning_rate"])
    width = (values["n_neurons"] - OPTIMUM["n_neurons"]) / 24
    return -(lr**2) - width**2 + 0.05 * values["tuner/epochs"]


def _space(strategy: str, seed: int = 4, **hyperband: Any) -> Space:
    hb = {"max_epochs": 9, "factor": 3} | hyperband
    search = {"strategy": strategy, "seed": seed, "hyperband": hb}
    return parse_space(tiny_space_text(objective=METRIC, search=search))


def _oracle(space: Space, folder: Path) -> Any:
    import keras_tuner as kt

    from hpsearch.backends.keras_tuner.brackets import hyperband_tuner_class

    hp = kt.HyperParameters()
    for name, param in space.searched().items():
        hp_value(hp, name, param)
    hb, bohb = space.search.hyperband, space.search.strategy == "bohb"
    oracle = hyperband_tuner_class(kt, bohb).Oracle(
        kt.Objective(METRIC, "max"),
        max_epochs=hb.max_epochs,
        factor=hb.factor,
        hyperband_iterations=hb.iterations,
        min_epochs=hb.min_epochs or 1,
        seed=space.search.seed,
        hyperparameters=hp,
        **({"model_space": space} if bohb else {}),
    )
    oracle._set_project_dir(str(folder), "oracle")
    oracle.verbose = 0
    return oracle


def _run(oracle: Any, limit: int = 1000, score: Callable[..., float] = _score) -> list[dict]:
    """Trials created and ended one at a time, as one Keras Tuner worker runs them."""
    ran = []
    while len(ran) < limit:
        trial = oracle.create_trial("tuner0")
        if str(trial.status) != "RUNNING":
            break
        values = dict(trial.hyperparameters.values)
        for epoch in range(values["tuner/initial_epoch"], values["tuner/epochs"]):  # as fit does
            oracle.update_trial(trial.trial_id, {METRIC: score(values)}, step=epoch)
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        oracle.save()  # as BaseTuner.on_trial_end does after end_trial
        ran.append(values)
    return ran


def test_min_epochs_drops_the_brackets_whose_first_rung_is_shorter(tmp_path: Path) -> None:
    """max_epochs 9, factor 3: brackets start at 1, 3 and 9 epochs; min_epochs 3 drops
    the first, and the schedule's trial count (validate's, the cap's) follows."""
    plain = _run(_oracle(_space("hyperband"), tmp_path / "a"))
    assert plain[0]["tuner/epochs"] == 1
    assert len(plain) == hyperband_trials(9, 3, 1) == 23
    rung = _run(_oracle(_space("hyperband", min_epochs=3), tmp_path / "b"))
    assert rung[0]["tuner/epochs"] == 3  # the first rung
    firsts = {v["tuner/epochs"] for v in rung if v["tuner/round"] == 0}
    assert firsts == {3, 9}
    assert len(rung) == hyperband_trials(9, 3, 1, 3) == 10
    assert _space("hyperband", min_epochs=3).hyperband_schedule() == 10
    assert hyperband_trials(9, 3, 1, 12) == 3  # above max_epochs: its own bracket stays


def test_bohb_draws_new_configurations_from_the_model_of_ended_trials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each bracket's first round asks BOHB's model (rebuilt from the oracle's trials); once
    a budget has min_points results its draws land nearer the optimum than the random ones;
    promotions are Hyperband's, so the schedule is Hyperband's."""
    from hpsearch.study import BohbModel

    drawn: list[tuple[dict[str, Any], str]] = []
    suggest = BohbModel.suggest

    def spy(self: BohbModel, key: Any = None) -> dict[str, Any]:
        params = suggest(self, key)
        drawn.append((params, self.source))
        return params

    monkeypatch.setattr(BohbModel, "suggest", spy)
    space = _space("bohb", iterations=3)
    ran = _run(_oracle(space, tmp_path))
    assert len(ran) == hyperband_trials(9, 3, 3) == 69
    assert {source for _, source in drawn} >= {"model@1", "model@3", "model@9"}
    guided = [p for p, _ in drawn]
    firsts = [v for v in ran if v["tuner/round"] == 0]
    random = [v for v in firsts if {k: v[k] for k in OPTIMUM} not in guided]
    assert len(guided) + len(random) == len(firsts)  # each draw is the model's or random
    # 17 of 51: the 3 of the start-up, then the random fraction's third of the rest
    assert 0.2 < len(random) / len(firsts) < 0.5

    def gap(rows: list[dict[str, Any]]) -> float:  # mean distance below the optimum
        return -sum(_score(v | {"tuner/epochs": 0}) for v in rows) / len(rows)

    assert gap(guided) < 0.6 * gap(random)  # 0.20 against 0.38 (0.42 expected at random)


def test_bohb_resumes_from_the_trials_keras_tuner_reloads(tmp_path: Path) -> None:
    """An oracle stopped after 8 trials and a fresh one reloaded from its folder (what
    --resume does) draw exactly what one uninterrupted oracle draws: the model is rebuilt
    from the trials, the keys are the trial count. The same seed draws the same again."""
    space = _space("bohb", iterations=2)
    whole = _run(_oracle(space, tmp_path / "whole"))
    _run(_oracle(space, tmp_path / "cut"), limit=8)
    again = _oracle(space, tmp_path / "cut")
    again.reload()
    ended = sorted(again.trials.values(), key=lambda t: t.trial_id)
    resumed = [dict(t.hyperparameters.values) for t in ended]
    resumed += _run(again)
    assert resumed == whole
    assert _run(_oracle(space, tmp_path / "same")) == whole
    assert _run(_oracle(_space("bohb", seed=5, iterations=2), tmp_path / "other")) != whole
    # its random draws are Keras Tuner's own: the start-up (min_points 3) is hyperband's
    hyperband = _run(_oracle(_space("hyperband", iterations=2), tmp_path / "hyperband"))
    assert hyperband[:3] == whole[:3] and hyperband[3] != whole[3]


def test_bohb_counts_a_trial_at_its_rungs_budget_whatever_steps_fit_reported(
    tmp_path: Path,
) -> None:
    """A trial is a result at its rung's epochs (BOHB's and Tune's rule), with its score.
    Keras Tuner reports one metric step per fit, the best epoch's index within that fit
    (not an epoch count), so steps must not move the budget: here the trial's best was its
    first epoch of 9, and it still counts at 9."""
    space = _space("bohb", min_epochs=9)  # one bracket: every trial's rung is 9 epochs
    oracle = _oracle(space, tmp_path)
    trial = oracle.create_trial("tuner0")
    assert trial.hyperparameters.values["tuner/epochs"] == 9
    oracle.update_trial(trial.trial_id, {METRIC: 0.6}, step=0)  # as BaseTuner does, once
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    assert list(oracle.model().results) == [9]
    assert oracle.model().results[9][0][1] == 0.6
