"""BOHB on Ray and Hyperband's smallest rung, without a running Ray: the strategy table's
searcher and scheduler (algorithms.plan_search, ray_tune/bohb.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpsearch.api import prepare
from hpsearch.backends.ray_tune.algorithms import plan_search
from hpsearch.space import Space, parse_space
from tests import shared_ray
from tests.epoch_recorder import Recorder, ray_restores
from tests.spaces import MLP, tiny_space_text

METRIC = "val_accuracy"


def _space(tmp_path: Path, strategy: str, **hyperband: Any) -> Space:
    text = tiny_space_text(
        objective=METRIC,
        training={"epochs": 9, "patience": 0},
        search={
            "max_trials": 30,
            "seed": 2,
            "hyperband": {"max_epochs": 9, "factor": 3} | hyperband,
        },
    )
    return prepare(parse_space(text, source=tmp_path / "s.yaml"), strategy=strategy, backend="ray")


def _first_milestones(scheduler: Any, trials: int) -> list[int]:
    """Each bracket's first milestone (epochs before its first halving), in the order Tune
    fills brackets as ``trials`` trials are added."""
    from ray.tune.experiment import Trial

    scheduler.set_search_properties(METRIC, "max")
    for i in range(trials):
        scheduler.on_trial_add(None, Trial("__fake", stub=True, trial_id=f"t{i}"))
    return [b._r0 for band in scheduler._hyperbands for b in band if b is not None]


@pytest.mark.parametrize("strategy", ["hyperband", "bohb"])
def test_min_epochs_drops_the_brackets_whose_first_milestone_is_shorter(
    tmp_path: Path, strategy: str
) -> None:
    """max_t 9, factor 3: Tune's brackets stop first at 9, 3 and 1 epochs (3, 5 and 9
    trials); with min_epochs 3 the 1-epoch bracket is skipped and the next band starts."""
    plain = plan_search(_space(tmp_path, strategy), tmp_path, (), 2, "rung").scheduler
    assert _first_milestones(plain, 17) == [9, 3, 1]
    rung = plan_search(_space(tmp_path, strategy, min_epochs=3), tmp_path, (), 2, "rung")
    assert _first_milestones(rung.scheduler, 16) == [9, 3, 9, 3]  # 3 + 5 trials a band
    # above training.epochs (max_epochs unset): max_t's bracket stays (Tune would loop)
    above = plan_search(
        _space(tmp_path, strategy, min_epochs=12, max_epochs=None), tmp_path, (), 2, "r"
    )
    assert _first_milestones(above.scheduler, 6) == [9, 9]


def test_asha_takes_min_epochs_as_its_grace_period(tmp_path: Path) -> None:
    plan = plan_search(_space(tmp_path, "asha", min_epochs=3), tmp_path, (), 2, "asha")
    assert plan.scheduler._brackets[0]._rungs[-1][0] == 3  # the first rung: 3 epochs
    plain = plan_search(_space(tmp_path, "asha"), tmp_path, (), 2, "asha")
    assert plain.scheduler._brackets[0]._rungs[-1][0] == 1


def _report(searcher: Any, trial_id: str, values: list[float]) -> None:
    for epoch, value in enumerate(values, start=1):
        searcher.on_trial_result(trial_id, {METRIC: value, "training_iteration": epoch})


def test_bohb_searcher_observes_every_epoch_and_survives_a_pickled_restore(
    tmp_path: Path,
) -> None:
    """Each epoch is a result at budget = training_iteration (the best value so far); a
    restored searcher (Tune pickles it, --resume restores it) suggests what the first
    would have; a trial started over forgets its old epochs."""
    plan = plan_search(_space(tmp_path, "bohb"), tmp_path, (), 2, "bohb")
    assert type(plan.search_alg).__name__ == "WatchedLimiter" and plan.param_space == {}
    searcher = plan.search_alg.searcher
    for i in range(5):
        config = searcher.suggest(f"t{i}")
        assert set(config) == {"n_neurons", "learning_rate"}
        _report(searcher, f"t{i}", [0.5 + i / 10, 0.4, float("nan"), 0.9])
    assert searcher.results["t0"] == {1: 0.5, 2: 0.5, 4: 0.9}  # NaN: not a result
    model = searcher.model()
    assert {b: len(rows) for b, rows in model.results.items()} == {1: 5, 2: 5, 4: 5}
    assert model.fit_budget() == 4  # min_points 3: the largest budget with enough
    searcher.save(str(tmp_path / "searcher.pkl"))
    restored = plan_search(_space(tmp_path, "bohb"), tmp_path, (), 2, "bohb").search_alg.searcher
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert restored.suggest("t5") == searcher.suggest("t5")
    _report(searcher, "t0", [0.1])  # Tune started t0 over: its first epoch again
    assert searcher.results["t0"] == {1: 0.1}
    # Tune hands a searcher no result it answers STOP to (the last trial at a rung, every
    # trial ending at max_t): the trial's last result comes with on_trial_complete
    searcher.on_trial_complete("t1", {METRIC: 0.95, "training_iteration": 5})
    assert searcher.results["t1"][5] == 0.95
    searcher.on_trial_complete("t2", {METRIC: 0.99, "training_iteration": 5}, error=True)
    assert 5 not in searcher.results["t2"]


@pytest.mark.slow
def test_a_real_bohb_search_pauses_continues_and_counts_each_epoch_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BOHB on Ray, max_t 4, factor 2, no concurrency limit (Tune then adds one trial at a
    time): Tune's first bracket trains 3 trials 4 epochs, its second 3 trials to 2 epochs,
    whose best 2 continue to 4. The first of the second bracket waits paused
    at epoch 2 while the others catch up, so at least one trial is restored from its
    checkpoint: its next epoch's training loss carries on from its last, well below a fresh
    model's first (a restart would repeat that exactly: same seed, same weights). The budget
    (21 of the 22 epochs) counts each epoch once: the trial table's epochs sum to it."""
    from hpsearch.api import run_search

    restored = ray_restores(monkeypatch)
    shared_ray.start()
    text = tiny_space_text(
        name="bohb-ray",
        objective=METRIC,
        hyperparameters=MLP,
        dataset={"max_rows": 900},
        training={"epochs": 4, "patience": 0},
        search={
            "max_trials": 6,
            "seed": 3,
            "hyperband": {"max_epochs": 4, "factor": 2},
        },
    )
    space = prepare(parse_space(text, source=tmp_path / "s.yaml"), strategy="bohb", backend="ray")
    seen = Recorder()
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    summary = run_search(
        space, tracking_uri=uri, output=tmp_path / "out", callbacks=[seen], budget_epochs=21
    )
    frame = summary.frame.set_index("trial_id")
    assert len(frame) == 6 and (frame["status"] == "FINISHED").all()
    assert (frame["strategy"] == "bohb").all()
    spent = int(frame["epochs"].sum())
    assert seen.spent == spent >= 21
    assert summary.warnings[-1].endswith(f"epoch budget spent ({spent} of 21 epochs)")
    for tid, result in seen.results.items():  # each epoch once, numbered on from the last
        assert seen.epochs[tid] == list(
            range(result.first_epoch + 1, result.first_epoch + result.epochs + 1)
        )
        assert result.first_epoch == 0 and result.epochs == frame.loc[tid, "epochs"]
    assert list(frame["epochs"].iloc[:3]) == [4, 4, 4]  # the 4-epoch bracket first
    assert sorted(frame["epochs"].iloc[3:])[0] == 2  # the one the halving dropped
    assert restored, "no trial was paused and restored"
    for tid, epochs in restored.items():
        loss = seen.results[tid].history["loss"]
        for epoch in epochs:  # the restored epoch (1-based) sits at loss[epoch - 1]
            after, before, fresh = loss[epoch - 1], loss[epoch - 2], loss[0]
            assert after < before < fresh
            assert abs(after - before) < abs(after - fresh) / 2


def test_a_restored_run_leaves_no_ended_trial_in_a_bracket_nor_in_the_limit(
    tmp_path: Path,
) -> None:
    """--resume: Tune adds the restored run's ended trials to the scheduler, and restarts
    unfinished ones under new ids. An ended trial in a bracket would hold its rungs for good
    and an old id in the concurrency limit would hold a slot for good: the restored bohb
    (and hyperband) search stalled on both (the kill -9 test in tests/e2e/test_resume.py)."""
    from ray.tune.experiment import Trial

    plan = plan_search(_space(tmp_path, "bohb"), tmp_path, (), 1, "restore")
    scheduler = plan.scheduler
    scheduler.set_search_properties(METRIC, "max")
    ended = Trial("__fake", stub=True, trial_id="old")
    ended.set_status(Trial.TERMINATED)
    scheduler.on_trial_add(None, ended)
    scheduler.on_trial_remove(None, ended)
    assert ended not in scheduler._trial_info
    fresh = Trial("__fake", stub=True, trial_id="new")
    scheduler.on_trial_add(None, fresh)
    assert fresh in scheduler._trial_info
    limiter = plan.search_alg
    assert limiter.suggest("t0") is not None and limiter.suggest("t1") is None  # limit 1
    limiter.set_state(limiter.get_state())  # what a restore does with the saved state
    assert limiter.suggest("t2") is not None
