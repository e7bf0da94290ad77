"""The i-epoch baseline on Keras Tuner: the oracle's two rounds driven by hand (no training),
then real tiny searches on digits: the best of round 0 continue from their weights, the trial
table says each trial's round, an epoch budget sets N, and a seed repeats the search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpsearch.api import SearchSummary, plan_search, run_search
from hpsearch.space import parse_space
from hpsearch.trials import SearchCallback, TrialResult
from tests.spaces import tiny_space_text


def _oracle(tmp_path: Path, *, sampled: int = 5, kept: int = 2, space: int = 100) -> Any:
    """An i-epoch oracle over one int in [1, space], i = 1 and the full 4 epochs."""
    import keras_tuner as kt

    from hpsearch.backends.keras_tuner.iepoch import iepoch_oracle_class

    hp = kt.HyperParameters()
    hp.Int("n", 1, space)
    oracle = iepoch_oracle_class(kt)(
        kt.Objective("val_accuracy", "max"),
        sampled=sampled,
        kept=kept,
        first_epochs=1,
        full_epochs=4,
        seed=3,
        hyperparameters=hp,
        max_consecutive_failed_trials=1000,
    )
    oracle._set_project_dir(str(tmp_path), "oracle")
    oracle.verbose = 0
    return oracle


def _end(oracle: Any, trial: Any, score: float | None) -> None:
    """End ``trial`` as the tuner would: with its objective, or FAILED (None)."""
    if score is None:
        trial.status = "FAILED"
    else:
        oracle.update_trial(trial.trial_id, {"val_accuracy": score})
        trial.status = "COMPLETED"
    oracle.end_trial(trial)


def _tuner_keys(trial: Any) -> dict[str, Any]:
    return {k: v for k, v in trial.hyperparameters.values.items() if k.startswith("tuner/")}


def test_round_0_samples_n_at_i_epochs_then_the_best_k_continue_in_order(
    tmp_path: Path,
) -> None:
    oracle = _oracle(tmp_path)
    scores = [0.4, 0.9, None, 0.7, 0.2]  # the third trial fails (a NaN loss, say)
    first = []
    for score in scores:
        trial = oracle.create_trial("tuner0")
        assert _tuner_keys(trial) == {
            "tuner/epochs": 1,
            "tuner/initial_epoch": 0,
            "tuner/bracket": 0,
            "tuner/round": 0,
        }
        first.append(trial)
        _end(oracle, trial, score)
    # a failed round-0 trial does not hold round 1 back (Keras Tuner's Hyperband rule would)
    for parent in (first[1], first[3]):  # 0.9, then 0.7
        trial = oracle.create_trial("tuner0")
        assert trial.status == "RUNNING"
        assert _tuner_keys(trial) == {
            "tuner/trial_id": parent.trial_id,
            "tuner/epochs": 4,
            "tuner/initial_epoch": 1,
            "tuner/bracket": 0,
            "tuner/round": 1,
        }
        assert trial.hyperparameters.values["n"] == parent.hyperparameters.values["n"]
        _end(oracle, trial, 0.95)
    assert oracle.create_trial("tuner0").status == "STOPPED"
    assert len(oracle.trials) == 7


def test_a_minimised_objective_continues_the_lowest(tmp_path: Path) -> None:
    import keras_tuner as kt

    oracle = _oracle(tmp_path, sampled=3, kept=1)
    oracle.objective = kt.Objective("val_accuracy", "min")
    first = []
    for score in (0.5, 0.1, 0.9):
        trial = oracle.create_trial("tuner0")
        first.append(trial)
        _end(oracle, trial, score)
    promoted = oracle.create_trial("tuner0")
    assert promoted.hyperparameters.values["tuner/trial_id"] == first[1].trial_id


def test_round_1_waits_until_every_round_0_trial_ended(tmp_path: Path) -> None:
    """In a parallel search a worker asking while round 0 still runs is told to wait."""
    oracle = _oracle(tmp_path, sampled=2, kept=1)
    a = oracle.create_trial("tuner0")
    b = oracle.create_trial("tuner1")
    _end(oracle, a, 0.8)
    assert oracle.create_trial("tuner0").status == "IDLE"
    _end(oracle, b, 0.6)
    promoted = oracle.create_trial("tuner0")
    assert promoted.hyperparameters.values["tuner/trial_id"] == a.trial_id


def test_a_space_with_fewer_configurations_than_n_continues_the_best_drawn(
    tmp_path: Path,
) -> None:
    oracle = _oracle(tmp_path, sampled=6, kept=2, space=2)  # n in {1, 2}: two configurations
    drawn = []
    while True:
        trial = oracle.create_trial("tuner0")
        assert trial.status == "RUNNING"
        if trial.hyperparameters.values["tuner/round"] == 1:
            break
        drawn.append(trial)
        _end(oracle, trial, 0.1 * trial.hyperparameters.values["n"])
    assert len(drawn) == 2
    best = max(drawn, key=lambda t: t.hyperparameters.values["n"])
    assert trial.hyperparameters.values["tuner/trial_id"] == best.trial_id


def test_the_oracle_reloads_its_rounds_from_its_state_files(tmp_path: Path) -> None:
    """What --resume relies on: a search killed in its first promotion starts again with a
    new oracle (other sizes even), which reads the saved one and runs that promotion again,
    then the next."""
    oracle = _oracle(tmp_path, sampled=3, kept=2)
    first = []
    for score in (0.3, 0.8, 0.5):
        trial = oracle.create_trial("tuner0")
        first.append(trial)
        _end(oracle, trial, score)
    killed = oracle.create_trial("tuner0")  # the process dies while this one trains
    again = _oracle(tmp_path, sampled=50, kept=10)
    again.reload()
    assert (again.sampled, again.kept, again.first_epochs, again.max_epochs) == (3, 2, 1, 4)
    parents = []
    for _ in range(2):
        trial = again.create_trial("tuner0")
        parents.append(trial.hyperparameters.values["tuner/trial_id"])
        _end(again, trial, 0.9)
    assert trial.trial_id != killed.trial_id
    assert parents == [first[1].trial_id, first[2].trial_id]  # 0.8 (run again), then 0.5
    assert again.create_trial("tuner0").status == "STOPPED"


def test_the_space_counts_both_rounds_and_refuses_nothing_left_to_continue() -> None:
    from hpsearch.errors import SpaceError

    text = tiny_space_text(
        training={"epochs": 3}, search={"strategy": "i-epoch", "max_trials": 30,
                                        "i_epoch": {"keep": 0.1}}
    )  # fmt: skip
    space = parse_space(text)
    assert space.i_epoch_rounds() == (30, 3)  # 0.1 * 30 is 3, not 4
    assert space.hyperband_cap() == (33, None)
    with pytest.raises(SpaceError, match=r"^--epochs: i_epoch.epochs \(1\) must be below"):
        space.with_overrides(epochs=1)
    with pytest.raises(SpaceError, match=r"runs on keras-tuner only"):
        space.with_overrides(backend="ray")


@pytest.mark.parametrize(
    ("budget", "epochs", "i", "keep", "sampled"),
    [(6, 3, 1, 0.5, 3), (100, 10, 1, 0.2, 35), (30, 3, 2, 1.0, 10), (1, 10, 1, 0.2, 1)],
)
def test_an_epoch_budget_pays_for_n_configurations(
    budget: int, epochs: int, i: int, keep: float, sampled: int
) -> None:
    """N = floor(B / (i + keep * (E - i))), at least one; a --max-trials given caps it."""
    text = tiny_space_text(
        training={"epochs": epochs},
        search={"strategy": "i-epoch", "i_epoch": {"epochs": i, "keep": keep}},
    )
    space, _ = plan_search(parse_space(text), budget_epochs=budget)
    assert space.search.max_trials == sampled
    capped, _ = plan_search(parse_space(text), budget_epochs=budget, max_trials=2)
    assert capped.search.max_trials == min(2, sampled)
    timed, _ = plan_search(parse_space(text), budget_seconds=60)
    assert timed.search.max_trials == 2  # the space's own: time cannot be turned into N


# --- real searches ---------------------------------------------------------------------------

#: N = 3 configurations, i = 2 of the full 3 epochs, the best k = 2 continue.
IEPOCH = tiny_space_text(
    name="iepoch-test",
    training={"epochs": 3},
    search={"strategy": "i-epoch", "max_trials": 3, "seed": 4,
            "i_epoch": {"epochs": 2, "keep": 0.5}},
)  # fmt: skip


class _Results(SearchCallback):
    """The TrialResults of a search, with their per-epoch histories."""

    def __init__(self) -> None:
        self.results: list[TrialResult] = []

    def on_trial_end(self, result: TrialResult) -> None:
        self.results.append(result)


def _search(
    tmp: Path, text: str = IEPOCH, budget: int | None = None
) -> tuple[SearchSummary, dict[str, TrialResult]]:
    space, _ = plan_search(parse_space(text, source=tmp / "space.yaml"), budget_epochs=budget)
    seen = _Results()
    summary = run_search(
        space,
        tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}",
        output=tmp / "out",
        callbacks=[seen],
        budget_epochs=budget,
        log_model=False,
    )
    return summary, {r.trial_id: r for r in seen.results}


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[SearchSummary, dict[str, Any]]:
    return _search(tmp_path_factory.mktemp("iepoch"))


@pytest.mark.slow
def test_the_best_k_of_round_0_continue_from_their_weights(searched: Any) -> None:
    summary, results = searched
    frame = summary.frame.set_index("trial_id")
    assert list(frame["round"]) == [0, 0, 0, 1, 1]
    assert list(frame["bracket"]) == [0] * 5
    assert list(frame["epochs"]) == [2, 2, 2, 1, 1]  # each epoch counted once
    assert (frame["status"] == "FINISHED").all()
    first = [r for r in results.values() if r.round == 0]
    second = [r for r in results.values() if r.round == 1]
    assert all(r.first_epoch == 0 and len(r.history["loss"]) == 2 for r in first)
    assert all(r.first_epoch == 2 and len(r.history["loss"]) == 1 for r in second)
    ranked = sorted(first, key=lambda r: r.objective or 0.0, reverse=True)
    parents = ranked[:2]
    assert [r.params for r in second] == [p.params for p in parents]  # best first
    for child, parent in zip(second, parents, strict=True):
        loss, start = child.history["loss"][0], parent.history["loss"]
        # A restarted model (same seed, same weights) would repeat the parent's first
        # epoch; a continued one goes on from where the parent's last epoch left off.
        assert abs(loss - start[-1]) < abs(loss - start[0]), (loss, start)
        assert loss < start[-1]


@pytest.mark.slow
def test_the_search_says_what_it_runs_and_logs_each_trials_round(searched: Any) -> None:
    from mlflow.tracking import MlflowClient

    summary, _ = searched
    client = MlflowClient(tracking_uri=summary.tracking_uri)
    parent = client.get_run(summary.parent_run_id)
    assert parent.data.params["strategy"] == "i-epoch"
    assert parent.data.params["max_trials"] == "3"
    assert parent.data.params["i_epoch_keep"] == "0.5"
    exp = client.get_experiment_by_name("iepoch-test")
    children = client.search_runs(
        [exp.experiment_id], f"tags.`mlflow.parentRunId` = '{summary.parent_run_id}'"
    )
    rounds = sorted(int(c.data.tags["hpsearch.round"]) for c in children)
    assert rounds == [0, 0, 0, 1, 1]


@pytest.mark.slow
def test_the_same_seed_repeats_the_search(searched: Any, tmp_path: Path) -> None:
    summary, _ = searched
    again, _ = _search(tmp_path)
    columns = [c for c in summary.frame.columns if c.startswith("params.")]
    columns += ["round", "epochs"]
    assert again.frame[columns].equals(summary.frame[columns])
    assert list(again.frame["objective"]) == pytest.approx(
        list(summary.frame["objective"]), abs=1e-6
    )


@pytest.mark.slow
def test_an_epoch_budget_runs_round_0_whole_and_stops_within_it(tmp_path: Path) -> None:
    """B = 6, i = 1, keep = 0.5, E = 3: N = 3 trials of 1 epoch, then k = 2 continue; the
    second would take the search to 7 epochs, and the budget ends it at 6."""
    text = tiny_space_text(
        name="iepoch-budget",
        training={"epochs": 3},
        search={"strategy": "i-epoch", "seed": 2, "i_epoch": {"epochs": 1, "keep": 0.5}},
    )
    summary, results = _search(tmp_path, text, budget=6)
    frame = summary.frame
    assert list(frame["round"]) == [0, 0, 0, 1, 1]
    assert list(frame["epochs"]) == [1, 1, 1, 2, 1]
    assert int(frame["epochs"].sum()) <= 6 + 1
    assert all(r.first_epoch == 1 for r in results.values() if r.round == 1)
    assert any("epoch budget spent (6 of 6 epochs)" in w for w in summary.warnings)
