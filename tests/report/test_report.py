"""Reports computed from trial tables: best-so-far, epochs-to-reach, the verdict,
importance, what to try next (fitting each param's kind), the files written, and the page
in headless Chromium (zoom stated, axes read, commands wrapped). Synthetic searches, no
training."""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hpsearch.report import (
    _zoom,
    commands,
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
from tests.browser import chromium, console_errors
from tests.spaces import OMIT, tiny_space_text

SPACE = tiny_space_text(
    name="synth",
    hyperparameters={
        "learning_rate": {"float": [1.0e-4, 1.0e-2], "log": True},
        "n_hidden": {"int": [1, 3]},
        "optimizer": {"choice": ["adam", "sgd"]},
        "batch_size": {"choice": [32, 64]},
    },
    training=OMIT,
    search={"max_trials": 6},
)


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
                "params.batch_size": r.get("bs", 32),
                **{f"params.{k}": v for k, v in r.get("params", {}).items()},
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


def test_verdict_names_the_i_epoch_baseline_and_who_beat_it() -> None:
    base = record([{"objective": 0.90, "epochs": 1}], strategy="i-epoch", run_id="i" * 12)
    better = record([{"objective": 0.95}], strategy="bohb", run_id="b" * 12)
    worse = record([{"objective": 0.85}], strategy="random", run_id="r" * 12)
    lines, _ = verdict([worse, base, better])
    assert lines[-1] == f"Baseline {base.label} (0.9000): beaten by 1 of 2 ({better.label})."
    lines, _ = verdict([worse, base])
    assert lines[0].startswith(f"Winner: {base.label}")
    assert lines[-1] == (
        f"Baseline {base.label} (0.9000): no other search beat it; training every "
        "configuration briefly and continuing the best was as good as any strategy here."
    )
    assert not any("Baseline" in line for line in verdict([worse, better])[0])
    low = record([{"objective": 0.4}], strategy="tpe", run_id="t" * 12, direction="min")
    high = record([{"objective": 0.5}], strategy="i-epoch", run_id="i" * 12, direction="min")
    assert verdict([low, high])[0][-1].endswith(f"beaten by 1 of 1 ({low.label}).")


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
    text = re.sub(r"<[^>]+>", "", page)  # each word of a command is a span of its own
    assert "hpsearch run spaces/synth.yaml --strategy hyperband --backend keras-tuner" in text
    rows = summary([a, b])
    best = "batch_size=32, learning_rate=0.001, n_hidden=2, optimizer=adam"
    assert rows[0]["best params"] == best


def test_md_table_escapes_pipes_and_newlines() -> None:
    text = md_table([{"a": "x|y", "b": "1\n2"}])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 2 |"]


@pytest.mark.parametrize("bad", ["nonsense: [", None])
def test_a_space_that_does_not_parse_only_drops_the_range_hints(bad: str | None) -> None:
    s = record([{"lr": 9.5e-3, "objective": 0.9}], space_text=bad)
    tips = next_steps([s], {})
    assert not any("range" in t for t in tips) and tips


# ----------------------------------------------------------------------------- hints by kind


def _ranked_rows() -> list[dict[str, Any]]:
    """Twelve trials where sgd, batch_size 64 and a learning rate near 3e-3 do best."""
    rows = []
    for i in range(12):
        opt, bs = ["adam", "sgd"][i % 2], [32, 64][i // 6]
        lr = [1e-4, 3e-3, 2.9e-3, 1e-2][i % 4]
        score = 0.5 + 0.2 * (opt == "sgd") + 0.1 * (bs == 64) - 0.05 * abs(math.log10(lr / 3e-3))
        rows.append({"lr": lr, "opt": opt, "bs": bs, "n_hidden": 1 + i % 3, "objective": score})
    return rows


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ("optimizer", "Fix optimizer to sgd and spend the budget on the other parameters"),
        ("batch_size", "Fix batch_size to 64 and spend the budget on the other parameters"),
        ("learning_rate", "narrow its range [0.0001, 0.01] to that and search it more finely"),
    ],
)
def test_the_hint_for_what_matters_most_fits_the_kind_of_parameter(top: str, expected: str) -> None:
    """A choice (batch_size's choices are numbers, still a choice) is fixed to its winner,
    never "searched more finely"; a range is narrowed to where the best trials lie."""
    ranks = {top: 0.9, **{k: 0.05 for k in ("optimizer", "batch_size") if k != top}}
    tips = next_steps([record(_ranked_rows())], ranks)
    tip = next(t for t in tips if t.startswith(f"{top} matters most (90%"))
    assert expected in tip, tip
    if top != "learning_rate":
        assert "finely" not in tip and "range" not in tip
        assert "or add choices to compare with" in tip
    else:
        assert "the best 3 trials lie in [0.003, 0.01]" in tip


def test_a_choice_without_a_space_is_read_from_its_values() -> None:
    """No space file (an old run): text values are still a choice, numbers a range."""
    tips = next_steps([record(_ranked_rows(), space_text=None)], {"optimizer": 0.9})
    assert any("Fix optimizer to sgd" in t for t in tips)


def test_what_hardly_matters_is_fixed_to_the_best_trials_value() -> None:
    rows = _ranked_rows()
    best = max(rows, key=lambda r: r["objective"])["n_hidden"]
    tips = next_steps([record(rows)], {"optimizer": 0.96, "n_hidden": 0.04})
    expected = f"n_hidden hardly matter (< 5% each): fix them (n_hidden={best}, as in the best"
    assert any(t.startswith(expected) for t in tips), tips


EDGES = """
name: edges
dataset: {name: digits}
hyperparameters:
  dropout: {float: [0.0, 0.3], step: 0.1}
  n_neurons: {choice: [16, 32, 64]}
  n_hidden: {int: [1, 3]}
"""


def test_an_edge_the_parameter_cannot_pass_is_not_widened() -> None:
    """dropout cannot go below 0: the hint says to fix it there; a numeric choice of three
    whose best is the largest asks for a larger one; n_hidden may still go down to 0."""
    rows = [
        {"n_hidden": 1, "params": {"dropout": 0.0, "n_neurons": 64}, "objective": 0.9},
        {"n_hidden": 3, "params": {"dropout": 0.2, "n_neurons": 16}, "objective": 0.5},
    ]
    tips = " ".join(next_steps([record(rows, space_text=EDGES)], {}))
    assert "The best dropout (0) sits at the bottom of its range, the lowest dropout can be" in tips
    assert "widen the range downward" in tips and "n_hidden (1)" in tips
    assert "The best n_neurons (64) is the largest of its choices: add a larger one." in tips


# ----------------------------------------------------------------------------- the page


def _two_searches() -> list[SearchRecord]:
    """Two searches whose first two trials score 0.3, then race between 0.93 and 0.98;
    one was run with a command far wider than the page."""
    rng = random.Random(3)

    def rows(n: int, shift: float) -> list[dict[str, Any]]:
        out = []
        for i in range(n):
            out.append({
                "lr": 10 ** rng.uniform(-4, -2), "n_hidden": rng.randint(1, 3),
                "opt": ["adam", "sgd"][i % 2], "bs": [32, 64][i % 3 % 2],
                "objective": 0.3 if i < 2 else 0.93 + shift + 0.04 * rng.random(),
            })  # fmt: skip
        return out

    a = record(rows(14, 0.0), strategy="random", run_id="a" * 12)
    b = record(rows(12, 0.01), strategy="bayesian", run_id="b" * 12)
    b.tags["hpsearch.command"] = (
        "hpsearch run " + "search_spaces/a-very-long-directory-name/" * 4 + "space.yaml "
        "--tracking-uri sqlite:////home/someone/projects/x/mlflow.db --output /srv/reports"
    )
    return [a, b]


def test_best_so_far_shows_every_value_when_nothing_is_squeezed(tmp_path: Path) -> None:
    """Without poor first trials, nothing is zoomed and nothing says so."""
    from hpsearch.report import _figures

    s = record([{"objective": v} for v in (0.90, 0.93, 0.94, 0.96)])
    fig = _figures([s], {}, 3)[0]
    assert fig.layout.yaxis.range is None and not fig.layout.annotations
    assert not fig.layout.updatemenus


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The report of _two_searches open in headless Chromium at 1000 px, plots drawn."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    root = tmp_path_factory.mktemp("page")
    made = write_report(_two_searches(), root / "r", title="two searches")
    with chromium(root / "profile") as driver:
        driver.set_window_size(1000, 1000)
        driver.get(made.html.as_uri())
        declared = made.n_plots
        WebDriverWait(driver, 60).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")) >= declared
        )
        assert console_errors(driver) == []
        yield driver


#: The best-so-far lines' y values (not the triangles drawn over them on the edge).
LINES = "return arguments[0].data.filter(t => t.showlegend !== false).flatMap(t => Array.from(t.y))"
#: The triangles on the edge, one per point outside the zoom, as long as they show.
EDGES_SHOWN = (
    "return arguments[0].data.filter(t => t.showlegend === false && t.visible !== false)"
    ".flatMap(t => Array.from(t.y))"
)


def _plot(driver: Any, index: int) -> Any:
    return driver.find_element("id", f"plot-{index}")


def test_zoomed_best_so_far_says_so_on_the_plot_and_draws_every_point(page: Any) -> None:
    """The y axis is zoomed to the race: the plot says where and how many points lie
    below, every point is drawn inside the axis, and "All trials" shows the raw values."""
    zoom = _zoom(_two_searches())
    assert zoom is not None
    below = sum(int((progress(s)["best"] < zoom.lo).sum()) for s in _two_searches())
    assert below >= 4  # the four first trials at 0.3, at least
    for i in range(3):
        layout = page.execute_script("return arguments[0].layout", _plot(page, i))
        note = layout["annotations"][0]["text"]
        assert note.startswith(f"Zoomed to val_accuracy {zoom.lo:.3g} to {zoom.hi:.3g}")
        assert f"{below} of 26 points lie below" in note
        assert f"(zoomed: {below} points below)" in layout["yaxis"]["title"]["text"]
        lo, hi = layout["yaxis"]["range"]
        ys = page.execute_script(LINES, _plot(page, i))
        assert len(ys) == 26 and all(lo <= y <= hi for y in ys)
        assert page.execute_script(EDGES_SHOWN, _plot(page, i)) == [zoom.lo] * below
        shown = page.find_element("css selector", f"#plot-{i} .annotation-text").text
        assert shown.startswith("Zoomed to val_accuracy")  # drawn, not just in the data
    button = next(
        b
        for b in page.find_elements("css selector", "#plot-0 .updatemenu-button")
        if b.text == "All trials"
    )
    button.click()
    data = page.execute_script(LINES, _plot(page, 0))
    layout = page.execute_script("return arguments[0].layout", _plot(page, 0))
    assert min(data) == 0.3 and layout["annotations"][0]["text"] == "All 26 points, unzoomed."
    assert page.execute_script(EDGES_SHOWN, _plot(page, 0)) == []
    lo, hi = layout["yaxis"]["range"]
    assert lo <= 0.3 and hi >= max(data)


def test_parallel_coordinates_read_each_param_as_its_space_declares_it(page: Any) -> None:
    """log10 axis with real-value ticks for a log range, labelled categories for choices
    (numbers included), integer ticks for an int range; the title above the axis labels."""
    dims = {
        d["label"]: d
        for d in page.execute_script("return arguments[0].data[0].dimensions", _plot(page, 4))
    }
    assert set(dims) == {"batch_size", "learning_rate (log)", "n_hidden", "optimizer",
                         "val_accuracy"}  # fmt: skip
    lr = dims["learning_rate (log)"]
    assert lr["ticktext"] == ["0.0001", "0.0002", "0.0005", "0.001", "0.002", "0.005", "0.01"]
    assert [round(10**v, 12) for v in lr["tickvals"]] == [float(t) for t in lr["ticktext"]]
    assert lr["range"] == [-4, -2] and all(-4 <= v <= -2 for v in lr["values"])
    assert dims["batch_size"]["ticktext"] == ["32", "64"]
    assert dims["batch_size"]["tickvals"] == [0, 1]
    assert set(dims["batch_size"]["values"]) == {0, 1}
    assert dims["optimizer"]["ticktext"] == ["adam", "sgd"]
    assert dims["n_hidden"]["ticktext"] == ["1", "2", "3"]
    assert dims["n_hidden"]["tickvals"] == [1, 2, 3]

    boxes = page.execute_script(
        """const g = arguments[0], r = e => e.getBoundingClientRect();
        return {title: r(g.querySelector('.gtitle')),
                labels: [...g.querySelectorAll('.axis-title')].map(r),
                ticks: [...g.querySelectorAll('.tick text')].map(r)}""",
        _plot(page, 4),
    )
    labels = boxes["labels"]
    assert len(labels) == 5
    assert all(boxes["title"]["bottom"] <= label["top"] for label in labels)
    for left, right in itertools.pairwise(sorted(labels, key=lambda b: b["left"])):
        assert left["right"] <= right["left"]  # axis labels side by side, not overlapping
    assert all(label["bottom"] <= min(t["top"] for t in boxes["ticks"]) for label in labels)


def test_long_commands_wrap_and_nothing_is_wider_than_the_page(page: Any) -> None:
    widths = page.execute_script(
        """return [...document.querySelectorAll('pre, .plotly-graph-div, .table')]
                  .map(e => [e.tagName, e.scrollWidth, e.clientWidth])
                  .concat([['page', document.documentElement.scrollWidth,
                            document.documentElement.clientWidth]])"""
    )
    assert all(scroll <= client for _, scroll, client in widths), widths
    pres = page.find_elements("css selector", "pre")
    long = next(p for p in pres if "a-very-long-directory-name" in p.text)
    one_line = pres[-1].size["height"]
    assert long.size["height"] >= one_line + 12  # wrapped onto more lines, none cut off
    assert "--output /srv/reports" in long.text  # the end of the command is on the page
    split = page.execute_script(  # a word that fits a line is never broken (at a hyphen)
        """return [...document.querySelectorAll('pre.cmd .w')]
                  .filter(w => w.textContent.length < 40)
                  .filter(w => w.getClientRects().length > 1
                               || w.getBoundingClientRect().height > 24)
                  .map(w => w.textContent)"""
    )
    assert split == []


def test_the_equivalent_command_passes_epochs_only_where_it_repeats_the_search() -> None:
    """`--epochs N` sets Hyperband's and ASHA's max_epochs too: a search whose file set a
    different max_epochs is repeated by leaving both to the file."""
    plain = record([{"objective": 0.8}])
    assert "--epochs 3 " in commands(plain)[1]
    same = record([{"objective": 0.8}], strategy="hyperband")
    same.params["hyperband_max_epochs"] = "3"
    assert "--epochs 3 " in commands(same)[1]
    other = record([{"objective": 0.8}], strategy="hyperband")
    other.params["hyperband_max_epochs"] = "10"
    assert "--epochs" not in commands(other)[1]
