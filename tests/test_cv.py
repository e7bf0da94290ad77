"""k-fold cross-validation (``training.cv``): each trial's objective is the mean of its
folds' scores, the spread and every fold are logged, and Hyperband/ASHA are refused."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpsearch.cv import folds
from hpsearch.space import SpaceError, parse_space
from tests import shared_ray
from tests.in_process import hpsearch
from tests.spaces import tiny_space_text

#: The tiny space, each trial scored on 3 folds.
CV: dict[str, Any] = {"name": "cv-test", "training": {"cv": 3, "patience": 0}}
SPACE = tiny_space_text(CV)


def test_folds_are_stratified_disjoint_and_cover_the_data() -> None:
    y = np.array([0] * 30 + [1] * 15)
    pairs = folds(y, 3, seed=0, task="binary")
    assert len(pairs) == 3
    valid = np.concatenate([v for _, v in pairs])
    assert sorted(valid) == list(range(45))
    for train, v in pairs:
        assert not set(train) & set(v) and (y[v] == 1).sum() == 5  # stratified: 5 of 15


def test_cv_refuses_hyperband_and_asha_with_the_reason() -> None:
    with pytest.raises(SpaceError) as err:
        parse_space(tiny_space_text(CV, search={"strategy": "hyperband"}), source=Path("s"))
    assert str(err.value).startswith("s:8: training.cv: hyperband stops and resumes trials")
    with pytest.raises(SpaceError, match="--strategy: asha stops and resumes"):
        parse_space(SPACE).with_overrides(strategy="asha", backend="ray")


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "strategy"), [("keras-tuner", "random"), ("ray", "tpe")])
def test_a_cv_trial_logs_its_folds_and_scores_their_mean(
    tmp_path: Path, backend: str, strategy: str
) -> None:
    from mlflow.tracking import MlflowClient

    (tmp_path / "s.yaml").write_text(SPACE)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    if backend == "ray":
        shared_ray.start()
    done = hpsearch("run", "s.yaml", "--backend", backend, "--strategy", strategy, "--json",
                    "--no-report", "--tracking-uri", uri, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["finished"] == 2
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("cv-test")
    children = [r for r in client.search_runs([exp.experiment_id])
                if r.data.tags.get("hpsearch.role") == "trial"]  # fmt: skip
    assert len(children) == 2
    for child in children:
        m = child.data.metrics
        fold_scores = [m[f"cv_fold{i}_val_accuracy"] for i in (1, 2, 3)]
        assert m["objective"] == pytest.approx(statistics.fmean(fold_scores))
        assert m["cv_std_val_accuracy"] == pytest.approx(statistics.pstdev(fold_scores))
        assert len(client.get_metric_history(child.info.run_id, "val_accuracy")) == 2
    assert out["best_value"] == pytest.approx(max(c.data.metrics["objective"] for c in children))
