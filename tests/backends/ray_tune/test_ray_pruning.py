"""A real pruned search on Ray Tune (the session's shared local Ray): the pruner runs in the
driver and stops a trial through Tune's stopper, after the epoch that lost."""

from __future__ import annotations

import pytest

from hpsearch.api import SearchSummary, load_trials
from hpsearch.trials import FINISHED, PRUNED
from tests import shared_ray
from tests.pruned import child_run, pruned_search

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> SearchSummary:
    shared_ray.start()
    # one trial at a time: each trial meets the same earlier curves on every run
    return pruned_search(tmp_path_factory.mktemp("ray-pruned"), "ray", max_concurrent=1)


def test_ray_prunes_the_slow_trials_after_the_epoch_that_lost(searched: SearchSummary) -> None:
    f = searched.frame
    by_rate = {
        rate: set(zip(g["status"], g["epochs"], strict=True))
        for rate, g in f.groupby("params.learning_rate")
    }
    # Tune asks the stopper before its callbacks see the result: the verdict must be on the
    # epoch just ended (2), or the trial would train on to its last epoch and finish.
    assert by_rate == {1e-5: {(PRUNED, 2)}, 1e-2: {(FINISHED, 3)}}
    assert searched.best is not None and searched.best.status == FINISHED
    pruned = f[f["status"] == PRUNED]
    assert (pruned["objective"] < 0.5).all()
    tid = str(pruned["trial_id"].iloc[0])
    run = child_run(searched, tid)
    assert (run.info.status, run.data.tags["hpsearch.status"]) == ("KILLED", PRUNED)
    assert run.data.metrics["epochs"] == 2
    back = load_trials(searched.experiment, tracking_uri=searched.tracking_uri)
    assert sorted(back["status"]) == sorted(f["status"])
