"""Real BOHB and Hyperband searches on Keras Tuner (digits, a real sqlite MLflow store):
BOHB's model in Hyperband's brackets, seeded; promoted trials continue from their weights and
the budget counts each epoch once; hyperband.min_epochs is the first rung."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hpsearch.api import SearchSummary, prepare, run_search
from hpsearch.space import parse_space
from tests.epoch_recorder import Recorder, assert_continues, lineage
from tests.spaces import tiny_space_text

pytestmark = pytest.mark.slow

#: Two searched params (min_points 3); Hyperband 4/2: brackets of 4 trials at 1 epoch (the
#: best 2 go on to 2, the best of those to 4), then 3 at 2 epochs, then 3 at 4.
BOHB: dict[str, Any] = {
    "name": "kt-bohb",
    "objective": "val_accuracy",
    "dataset": {"name": "digits", "max_rows": 900},
    "training": {"epochs": 4, "patience": 0},
    "search": {"max_trials": 15, "seed": 6, "hyperband": {"max_epochs": 4, "factor": 2}},
}
#: The first bracket (8 epochs) and the next one's first 2 trials (2 epochs each).
BUDGET = 12


def _search(tmp: Path, strategy: str, *sections: dict[str, Any], **kwargs: Any) -> SearchSummary:
    text = tiny_space_text(BOHB, *sections)
    space = prepare(parse_space(text, source=tmp / "space.yaml"), strategy=strategy)
    return run_search(space, tracking_uri=f"sqlite:///{tmp / 'm.db'}", output=tmp / "out", **kwargs)


@pytest.fixture(scope="module")
def bohb(tmp_path_factory: pytest.TempPathFactory) -> tuple[SearchSummary, Recorder, list[str]]:
    """One seeded bohb search under a 12-epoch budget, with what its model drew."""
    from hpsearch.study import BohbModel

    drawn: list[str] = []
    suggest = BohbModel.suggest

    def spy(self: BohbModel, key: Any = None) -> dict[str, Any]:
        params = suggest(self, key)
        drawn.append(self.source)
        return params

    seen = Recorder()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BohbModel, "suggest", spy)
        summary = _search(tmp_path_factory.mktemp("bohb"), "bohb", callbacks=[seen],
                          budget_epochs=BUDGET)  # fmt: skip
    return summary, seen, drawn


def test_bohb_runs_hyperbands_brackets_with_its_model(bohb: Any) -> None:
    summary, _, drawn = bohb
    frame = summary.frame
    assert len(frame) == 9 and (frame["status"] == "FINISHED").all()
    assert (frame["strategy"] == "bohb").all() and (frame["backend"] == "keras-tuner").all()
    assert list(frame["bracket"]) == [2] * 7 + [1] * 2
    assert list(frame["round"]) == [0, 0, 0, 0, 1, 1, 2, 0, 0]
    assert list(frame["epochs"]) == [1, 1, 1, 1, 1, 1, 2, 2, 2]
    assert drawn and all(source == "model@1" for source in drawn)  # 3 results at 1 epoch


def test_promoted_trials_continue_from_their_weights(bohb: Any) -> None:
    """A promoted trial starts at its parent's epochs (first_epoch) and trains only the
    epochs after them; its first training loss carries on below its parent's last, which
    is below the fresh model's first epoch (a restart would repeat that epoch exactly: same
    seed, same weights, same batches)."""
    _, seen, _ = bohb
    results = sorted(seen.results.values(), key=lambda r: r.trial_id)
    promoted = [r for r in results if r.round]
    assert [(r.first_epoch, r.epochs) for r in promoted] == [(1, 1), (1, 1), (2, 2)]
    for child, parent, root in lineage(results):
        assert_continues(child, parent, root)


def test_the_budget_counts_each_epoch_once(bohb: Any) -> None:
    summary, seen, _ = bohb
    assert summary.warnings[-1].endswith(f"epoch budget spent ({BUDGET} of {BUDGET} epochs)")
    assert int(summary.frame["epochs"].sum()) == seen.spent == BUDGET
    for tid, r in seen.results.items():
        assert seen.epochs[tid] == list(range(r.first_epoch + 1, r.first_epoch + r.epochs + 1))


def test_bohb_is_reproducible_with_its_seed(bohb: Any, tmp_path: Path) -> None:
    """The same seed draws the same trials: the first 5 here (budget 5), the model's 4th
    and a promotion among them."""
    first, _, _ = bohb
    again = _search(tmp_path, "bohb", budget_epochs=5)
    cols = [c for c in first.frame.columns if c.startswith("params.")] + ["bracket", "round"]
    assert len(again.frame) == 5
    assert again.frame[cols].equals(first.frame[cols].iloc[:5])


def test_min_epochs_is_the_first_rung(tmp_path: Path) -> None:
    """Hyperband 4/2 starts with a bracket of 1-epoch trials; min_epochs 2 drops it, and
    the first trials train 2 epochs, in the bracket that starts there."""
    rung = {
        "search": {"max_trials": 2, "hyperband": {"max_epochs": 4, "factor": 2, "min_epochs": 2}}
    }
    frame = _search(tmp_path, "hyperband", rung).frame
    assert list(frame["epochs"]) == [2, 2] and list(frame["bracket"]) == [1, 1]
