"""Reading searches back without one request per trial or per search (issue 19).

A real sqlite store, written by MlflowTracker driven by hand (no training): the calls
load_searches makes are counted on the real client, so a read-back that goes back to a
query per search or a history per trial fails here, not only in benchmarks/scale.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hpsearch.report.figures import _learning_curves
from hpsearch.space import load_space
from hpsearch.tracking import MlflowTracker, load_searches, load_trials
from hpsearch.trials import FAILED, FINISHED, TrialResult

#: Each search's final val_accuracy per trial (None: the trial failed). The second search
#: ties at its 2nd best (0.8, 0.8), the third has no trial at all.
SEARCHES: list[list[float | None]] = [[0.5, 0.9, None, 0.7], [0.8, 0.6, 0.8, 0.9], []]
SPACE: dict[str, Any] = {
    "name": "scaled",
    "hyperparameters": {"n_neurons": {"int": [8, 32]}, "batch_size": 64},
    "training": {"epochs": 3, "patience": 0},
    "search": {"strategy": "random", "max_trials": 4},
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The searches of SEARCHES in one experiment, 3 epochs a trial; the store's URI."""
    from tests.spaces import tiny_space_text

    folder = tmp_path_factory.mktemp("read-scale")
    (folder / "space.yaml").write_text(tiny_space_text(**SPACE))
    space = load_space(folder / "space.yaml")
    uri = f"sqlite:///{folder}/mlflow.db"
    csv = folder / "trials.csv"
    csv.write_text("trial_id,status\n")
    for n, finals in enumerate(SEARCHES):
        tracker = MlflowTracker(space, tracking_uri=uri)
        tracker.start()
        if n == 1:  # as compare marks its searches
            tracker.tag("hpsearch.comparison", "c1")
        for i, final in enumerate(finals):
            tid, params = f"{i:04d}", {"n_neurons": 8 + i, "batch_size": 64}
            history = {"val_accuracy": [(final or 0.1) * e / 3 for e in (1, 2, 3)]}
            tracker.on_trial_begin(tid, params)
            for epoch in (1, 2, 3):
                tracker.on_epoch_end(
                    tid, epoch, {"val_accuracy": history["val_accuracy"][epoch - 1]}
                )
            status = FINISHED if final is not None else FAILED
            tracker.on_trial_end(
                TrialResult(tid, status, params, final, 3, 1.0, history, strategy="random",
                            backend="keras-tuner", error=None if final else "boom")
            )  # fmt: skip
        tracker.finish(None, csv)
    return uri


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts the MlflowClient calls that reach the store, by name."""
    from mlflow import MlflowClient

    counts: Counter[str] = Counter()
    for name in ("search_runs", "get_run", "get_metric_history"):
        real = getattr(MlflowClient, name)

        def counted(self: Any, *args: Any, _real: Callable[..., Any] = real,
                    _name: str = name, **kwargs: Any) -> Any:  # fmt: skip
            counts[_name] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(MlflowClient, name, counted)
    yield counts


def test_an_experiment_reads_back_in_two_queries_whatever_its_searches(
    store: str, calls: Counter[str]
) -> None:
    searches = load_searches(experiment="scaled", tracking_uri=store, curves=False)
    assert [len(s.trials) for s in searches] == [len(f) for f in SEARCHES]
    # the parents, then every trial of the experiment (pages of 1,000): was 1 + 2 a search
    assert calls == Counter({"search_runs": 2})
    every = load_trials("scaled", tracking_uri=store)
    assert len(every) == sum(len(f) for f in SEARCHES)
    mine = searches[0].trials.drop(columns="ended_s")
    same = every[every["parent_run_id"] == searches[0].run_id].drop(columns="end_time")
    assert mine.equals(same.reset_index(drop=True))


def test_searches_picked_by_tag_or_id_read_their_own_trials(
    store: str, calls: Counter[str]
) -> None:
    every = load_searches(experiment="scaled", tracking_uri=store, curves=False)
    calls.clear()
    tagged = load_searches(
        experiment="scaled", tracking_uri=store, tags={"hpsearch.comparison": "c1"}, curves=False
    )
    assert [s.run_id for s in tagged] == [every[1].run_id]
    assert tagged[0].trials.equals(every[1].trials)
    assert calls == Counter({"search_runs": 2})  # the tagged parents, then their trials
    by_id = load_searches(run_ids=[every[2].run_id, every[0].run_id], tracking_uri=store)
    assert [s.run_id for s in by_id] == [every[0].run_id, every[2].run_id]  # oldest first
    assert by_id[0].trials.equals(every[0].trials) and by_id[1].trials.empty


def test_top_k_reads_the_curves_a_report_draws_and_no_others(
    store: str, calls: Counter[str]
) -> None:
    every = load_searches(experiment="scaled", tracking_uri=store)
    assert calls["get_metric_history"] == sum(len(f) for f in SEARCHES)  # one a trial
    calls.clear()
    top = load_searches(experiment="scaled", tracking_uri=store, top_k=2)
    # the two best finished trials, and the one tying with the second: 2 + 3, no failed one
    assert [sorted(s.curves) for s in top] == [["0001", "0003"], ["0000", "0002", "0003"], []]
    assert calls["get_metric_history"] == 5
    for full, few in zip(every, top, strict=True):
        assert few.trials.equals(full.trials)
        assert few.curves == {k: full.curves[k] for k in few.curves}
        assert all(len(curve) == 3 for curve in few.curves.values())
    drawn = _learning_curves(top[:2], top_k=2)  # whichever of the ties the figure picks
    assert len(drawn.data) == 4 and all(len(trace.x) == 3 for trace in drawn.data)


def test_a_search_with_no_trial_reads_back_as_an_empty_table(store: str) -> None:
    empty = load_searches(experiment="scaled", tracking_uri=store, top_k=3)[-1]
    assert empty.trials.empty and "ended_s" in empty.trials and empty.curves == {}
    assert empty.status == FINISHED
