"""Reports computed from trial tables: best-so-far, epochs-to-reach, the verdict,
importance, what to try next, and the files written. Synthetic searches, no training."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hpsearch.report import (
    epochs_to_reach,
    importance,
    md_table,
    next_steps,
    progress,
    summary,
    verdict,
    write_report,
)
from hpsearch.trials import SearchRecord, order_columns

SPACE = """
name: synth
dataset: {name: digits}
hyperparameters:
  learning_rate: {float: [1.0e-4, 1.0e-2], log: true}
  n_hidden: {int: [1, 3]}
  optimizer: {choice: [adam, sgd]}
search: {max_trials: 6, seed: 1}
"""


def record(
    rows: list[dict[str, Any]],
    *,
    strategy: str = "random",
    run_id: str = "aaaaaaaa1111",
    direction: str = "max",
    space_text: str | None = SPACE,
) -> SearchRecord:
    """A search as load_searches returns it: trials with params, objective, epochs, end."""
    frame = []
    curves = {}
    for i, r in enumerate(rows):
        tid = f"{i:04d}"
        status = r.get("status", "FINISHED")
        frame.append(
            {
                "trial_id": tid,
                "status": status,
                "params.learning_rate": r.get("lr", 1e-3),
                "params.n_hidden": r.get("n_hidden", 2),
                "params.optimizer": r.get("opt", "adam"),
                "objective": r.get("objective") if status == "FINISHED" else None,
                "epochs": r.get("epochs", 3),
                "seconds": 1.0,
                "ended_s": r.get("ended", float(i + 1)),
                "run_id": f"child{i}",
                "error": r.get("error"),
            }
        )
        if status == "FINISHED":
            curves[tid] = [(e + 1, r["objective"] * (e + 1) / r.get("epochs", 3))
                           for e in range(r.get("epochs", 3))]  # fmt: skip
    return SearchRecord(
        run_id=run_id,
        name=f"{strategy}-keras-tuner",
        experiment="synth",
        strategy=strategy,
        backend="keras-tuner",
        status="FINISHED",
        metric="val_accuracy",
        direction=direction,
        started=1000.0,
        ended=1000.0 + len(rows),
        trials=order_columns(pd.DataFrame(frame)),
        curves=curves,
        params={"max_trials": str(len(rows)), "epochs": "3", "seed": "1"},
        tags={"hpsearch.space_file": "spaces/synth.yaml", "hpsearch.command": "hpsearch run x"},
        space_text=space_text,
    )


def test_best_so_far_follows_trial_end_order_and_counts_epochs() -> None:
    s = record([
        {"objective": 0.5, "ended": 3.0, "epochs": 2},
        {"objective": 0.9, "ended": 1.0, "epochs": 4},
        {"status": "FAILED", "ended": 2.0, "epochs": 1, "error": "boom"},
    ])  # fmt: skip
    p = progress(s)
    assert p["trial_id"].tolist() == ["0001", "0002", "0000"]  # by end time
    assert p["epochs"].tolist() == [4, 5, 7]  # failed trials' epochs count as spent
    assert p["best"].tolist() == [0.9, 0.9, 0.9]
    assert epochs_to_reach(s, 0.9) == 4
    assert epochs_to_reach(s, 0.95) is None


def test_best_so_far_minimises_when_the_objective_is_a_loss() -> None:
    s = record([{"objective": 3.0}, {"objective": 1.0}, {"objective": 2.0}], direction="min")
    assert progress(s)["best"].tolist() == [3.0, 1.0, 1.0]
    assert epochs_to_reach(s, 1.5) == 6


def test_verdict_names_the_winner_the_margin_and_epochs_to_reach() -> None:
    a = record([{"objective": 0.80}, {"objective": 0.95}], strategy="random", run_id="a" * 12)
    b = record([{"objective": 0.90, "epochs": 1}, {"objective": 0.91, "epochs": 1}],
               strategy="hyperband", run_id="b" * 12)  # fmt: skip
    lines, matrix = verdict([a, b])
    assert lines[0].startswith(f"Winner: {a.label} with val_accuracy = 0.9500, ahead of {b.label}")
    assert "by 0.0400" in lines[0]
    assert f"{b.label}: best 0.9100, never reached it (spent 2)." in lines
    assert f"{a.label} matched {b.label}'s best after 6 epochs." in lines
    row_b = next(r for r in matrix if r["search"] == b.label)
    assert row_b[f"to reach {b.label}"] == 2 and row_b[f"to reach {a.label}"] == "—"


def test_a_tie_goes_to_the_search_that_reached_the_value_first() -> None:
    slow = record([{"objective": 0.5}, {"objective": 0.9}], strategy="random", run_id="s" * 12)
    fast = record([{"objective": 0.9, "epochs": 1}], strategy="bayesian", run_id="f" * 12)
    lines, _ = verdict([slow, fast])
    assert lines[0].startswith(f"Winner: {fast.label}")
    assert "tied with" in lines[0] and "(1 epochs against 6)" in lines[0]


def test_importance_needs_enough_finished_trials() -> None:
    ranks, note = importance([record([{"objective": 0.5}, {"objective": 0.6}])])
    assert ranks == {} and "at least 4 finished trials (have 2)" in note


def test_importance_ranks_the_parameter_that_drives_the_objective() -> None:
    rows = []
    for i in range(12):
        lr = [1e-4, 1e-3, 1e-2][i % 3]
        rows.append({"lr": lr, "n_hidden": 1 + i % 2, "opt": ["adam", "sgd"][i // 6],
                     "objective": 0.3 + 20 * lr + 0.001 * (i % 2)})  # fmt: skip
    ranks, note = importance([record(rows)])
    assert note == "over 12 finished trials"
    assert next(iter(ranks)) == "learning_rate" and ranks["learning_rate"] > 0.8
    assert math.isclose(sum(ranks.values()), 1.0, rel_tol=1e-6)


def test_next_steps_flags_a_best_value_at_the_edge_of_its_range() -> None:
    s = record([{"lr": 9.5e-3, "objective": 0.9}, {"lr": 1e-3, "objective": 0.5}])
    tips = next_steps([s], {})
    assert any("best learning_rate (0.0095) sits at the top of its range" in t for t in tips)


def test_next_steps_reads_still_improving_or_plateaued() -> None:
    late = record([{"objective": 0.5}, {"objective": 0.6}, {"objective": 0.7}])
    assert "still improving" in next_steps([late], {})[0]
    early = record([{"objective": 0.9}, {"objective": 0.6}, {"objective": 0.7}, {"objective": 0.5}])
    assert "plateaued" in next_steps([early], {})[0]


def test_a_search_where_every_trial_failed_has_no_winner_and_lists_errors(tmp_path: Path) -> None:
    s = record([{"status": "FAILED", "error": "objective is NaN or inf"}] * 2)
    assert verdict([s])[0] == ["No search finished a trial: there is no winner."]
    made = write_report([s], tmp_path / "r", title="all failed")
    md = made.markdown.read_text()
    assert md.count("objective is NaN or inf") == 2
    assert "| search | strategy | backend | status | trials | finished | failed |" in md
    assert "Every trial failed" in md
    assert made.n_plots == 4  # progress x3 and learning curves; no parcoords, no importance


def test_a_single_trial_search_reports_without_importance(tmp_path: Path) -> None:
    s = record([{"objective": 0.7}])
    made = write_report([s], tmp_path / "r", title="one")
    assert made.verdict == [f"{s.label} reached val_accuracy = 0.7000 in 3 epochs."]
    assert "needs at least 4 finished trials (have 1)" in made.markdown.read_text()
    assert made.html.read_text().count("<div class='plot'>") == made.n_plots == 5


def test_report_files_hold_every_trial_and_reproducing_commands(tmp_path: Path) -> None:
    a = record([{"objective": 0.8}, {"objective": 0.9}], run_id="a" * 12)
    b = record([{"objective": 0.7}], strategy="hyperband", run_id="b" * 12)
    made = write_report([a, b], tmp_path / "r", title="two")
    csv = pd.read_csv(made.csv, dtype={"trial_id": str})
    assert len(csv) == 3 and set(csv["search_run_id"]) == {"a" * 12, "b" * 12}
    page = made.html.read_text()
    assert "<body data-plots='5'>" in page and page.count("Plotly.newPlot") == 5
    assert "<script src=" not in page and "plotly.js v" in page  # plotly.js inline: offline
    assert "hpsearch run spaces/synth.yaml --strategy hyperband --backend keras-tuner" in page
    rows = summary([a, b])
    assert rows[0]["best params"] == "learning_rate=0.001, n_hidden=2, optimizer=adam"


def test_md_table_escapes_pipes_and_newlines() -> None:
    text = md_table([{"a": "x|y", "b": "1\n2"}])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 2 |"]


@pytest.mark.parametrize("bad", ["nonsense: [", None])
def test_a_space_that_does_not_parse_only_drops_the_range_hints(bad: str | None) -> None:
    s = record([{"lr": 9.5e-3, "objective": 0.9}], space_text=bad)
    tips = next_steps([s], {})
    assert not any("range" in t for t in tips) and tips
