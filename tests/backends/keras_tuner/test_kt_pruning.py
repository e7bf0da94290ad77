"""A real pruned search on Keras Tuner: the trial table, the MLflow child runs, the report,
and what a resumed search keeps. One small search on digits serves every test here."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpsearch.api import SearchSummary, load_trials, make_report
from hpsearch.space import parse_space
from hpsearch.trials import FINISHED, PRUNED
from tests.pruned import PRUNED_SPACE, child_run, pruned_search

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> SearchSummary:
    return pruned_search(tmp_path_factory.mktemp("kt-pruned"), "keras-tuner")


def test_slow_trials_are_pruned_after_the_warm_up_and_never_best(searched: SearchSummary) -> None:
    f = searched.frame.set_index("trial_id")
    pruned = f[f["status"] == PRUNED]
    assert list(pruned.index) == ["0001", "0003"]
    assert set(pruned["params.learning_rate"]) == {1e-5}
    assert list(pruned["epochs"]) == [2, 2]  # the warm-up epoch, then the one that lost
    assert set(f[f["status"] == FINISHED]["epochs"]) == {3}
    assert (pruned["objective"] < 0.5).all()  # its best epoch: it trained, and lost
    assert searched.best is not None and searched.best.status == FINISHED
    assert searched.as_json()["pruned"] == 2


def test_a_pruned_trial_is_a_killed_child_run_tagged_pruned(searched: SearchSummary) -> None:
    from mlflow.tracking import MlflowClient

    run = child_run(searched, "0001")
    assert run.info.status == "KILLED"
    assert run.data.tags["hpsearch.status"] == PRUNED
    assert run.data.metrics["epochs"] == 2
    client = MlflowClient(tracking_uri=searched.tracking_uri)
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert sorted(m.step for m in history) == [1, 2]
    back = load_trials(searched.experiment, tracking_uri=searched.tracking_uri)
    assert dict(zip(back["trial_id"], back["status"], strict=True)) == dict(
        zip(searched.frame["trial_id"], searched.frame["status"], strict=True)
    )


def test_the_report_counts_pruned_trials_and_draws_where_they_stopped(
    searched: SearchSummary, tmp_path: Path
) -> None:
    made = make_report(
        run_ids=[searched.parent_run_id],
        tracking_uri=searched.tracking_uri,
        output=tmp_path / "report",
        log=False,
    )
    md = made.markdown.read_text()
    assert "| trials | finished | failed | pruned | epochs |" in md
    assert "| 5 | 3 | 0 | 2 | 13 |" in md
    assert "2 trial(s) were pruned" in md
    assert "## Failed trials\n\nNone." in md  # pruned trials are no failures
    assert "--pruner median" in md  # the reproduce command
    html = made.html.read_text()
    assert "trial 0001 (pruned at epoch 2)" in html and "trial 0003 (pruned at epoch 2)" in html
    assert "pruned (the cross: its last epoch)" in html


def test_a_resumed_search_keeps_its_pruned_trials(searched: SearchSummary) -> None:
    from hpsearch.callbacks import Journal
    from hpsearch.tracking import MlflowTracker

    space = parse_space(PRUNED_SPACE)
    tracker = MlflowTracker(space, tracking_uri=searched.tracking_uri)
    try:
        assert tracker.resume(searched.parent_run_id) == []  # nothing to run again
        assert {"0001", "0003"} <= set(tracker._children)
        journal = Journal(searched.workdir / "trials.jsonl").load()
        assert [r.status for r in journal if r.trial_id in ("0001", "0003")] == [PRUNED] * 2
        assert tracker.replay(journal) == 0  # MLflow holds them: nothing to log again
    finally:  # resume() reopened the parent run: close it as it was
        tracker.client.set_terminated(searched.parent_run_id, FINISHED)
