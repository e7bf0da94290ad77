"""Reports over many trials (issue 19): fANOVA is fit on a seeded sample above a cap, and
the note says so; below the cap nothing changes. Synthetic searches, no training."""

from __future__ import annotations

import importlib
import random
from typing import Any

import pandas as pd
import pytest

from hpsearch.report import importance
from hpsearch.trials import SearchRecord, order_columns

#: The module, which the package's ``importance`` (the function) hides.
importance_module = importlib.import_module("hpsearch.report.importance")


def _search(n: int) -> SearchRecord:
    """``n`` finished trials whose objective follows the learning rate, plus one failed."""
    rng = random.Random(3)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        lr, width = 10 ** rng.uniform(-4, -2), rng.randint(16, 64)
        objective = 0.5 + 40 * lr + rng.random() * 0.01
        rows.append({"trial_id": f"{i:04d}", "status": "FINISHED", "objective": objective,
                     "params.learning_rate": lr, "params.n_neurons": width,
                     "epochs": 1})  # fmt: skip
    rows.append({"trial_id": f"{n:04d}", "status": "FAILED", "objective": None,
                 "params.learning_rate": 1e-3, "params.n_neurons": 16, "epochs": 1})  # fmt: skip
    return SearchRecord(
        run_id="aaaaaaaa1111", name="random-keras-tuner", experiment="many",
        strategy="random", backend="keras-tuner", status="FINISHED", metric="val_accuracy",
        direction="max", started=0.0, ended=1.0, trials=order_columns(pd.DataFrame(rows)),
    )  # fmt: skip


@pytest.fixture
def fitted(monkeypatch: pytest.MonkeyPatch) -> list[pd.DataFrame]:
    """The frames fANOVA is fit on (the real fit runs); a cap of 12 trials."""
    frames: list[pd.DataFrame] = []
    real = importance_module.fanova_importance

    def spy(ok: pd.DataFrame, maximize: bool) -> dict[str, float]:
        frames.append(ok)
        return real(ok, maximize)

    monkeypatch.setattr(importance_module, "fanova_importance", spy)
    monkeypatch.setattr(importance_module, "MAX_TRIALS_FOR_IMPORTANCE", 12)
    return frames


def test_above_the_cap_fanova_sees_a_seeded_sample_in_trial_order(
    fitted: list[pd.DataFrame],
) -> None:
    search = _search(30)
    ranks, note = importance([search])
    assert note == (
        "over a random 12 of the 30 finished trials (seed 0; fANOVA's time grows with the "
        "trials, so it samples above 12)"
    )
    sample = fitted[0]
    assert len(sample) == 12 and (sample["status"] == "FINISHED").all()
    assert sample.index.is_monotonic_increasing  # in the trials' own order
    assert next(iter(ranks)) == "learning_rate"  # the sample still finds what mattered
    again, _ = importance([search])
    assert fitted[1].index.equals(sample.index) and again == ranks  # the same every time


def test_at_the_cap_every_finished_trial_counts_as_before(fitted: list[pd.DataFrame]) -> None:
    search = _search(12)
    _, note = importance([search])
    assert note == "over 12 finished trials"
    assert len(fitted[0]) == 12
