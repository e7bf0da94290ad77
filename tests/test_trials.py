"""hpsearch.trials: the trial table every backend returns and every consumer reads."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hpsearch.trials import (
    FAILED,
    FINISHED,
    LEAD_COLUMNS,
    TAIL_COLUMNS,
    CallbackList,
    SearchCallback,
    SearchInfo,
    SearchRecord,
    TrialResult,
    best_of,
    finished_rows,
    is_better,
    order_columns,
    plain,
    to_frame,
)

NAN = float("nan")


def _trial(
    trial_id: str, objective: float | None, status: str = FINISHED, **kw: Any
) -> TrialResult:
    kw.setdefault("params", {"units": 32})
    return TrialResult(trial_id, status, objective=objective, epochs=2, seconds=1.5, **kw)


def _info(**kw: Any) -> SearchInfo:
    base: dict[str, Any] = {
        "experiment": "e",
        "strategy": "random",
        "backend": "keras-tuner",
        "max_trials": 3,
        "objective": "val_loss",
        "direction": "min",
        "seed": 1,
    }
    return SearchInfo(**(base | kw))


# --- TrialResult ---------------------------------------------------------------------------


def test_finished_is_the_finished_status_only() -> None:
    assert _trial("t1", 0.5).finished
    assert not _trial("t2", None, status=FAILED).finished
    assert not _trial("t3", 0.5, status="RUNNING").finished


def test_final_metrics_are_each_metrics_last_epoch_and_skip_empty_histories() -> None:
    t = _trial("t1", 0.2, history={"loss": [0.9, 0.4], "val_loss": [1.0, 0.2], "acc": []})
    assert t.final_metrics() == {"loss": 0.4, "val_loss": 0.2}


def test_row_is_lead_params_sorted_metrics_then_every_tail_column() -> None:
    t = _trial(
        "t7",
        0.25,
        params={"lr": 0.01, "units": 64},
        history={"val_loss": [0.5, 0.25], "loss": [0.6, 0.3]},
        strategy="hyperband",
        backend="ray",
        worker="node-1",
        seed=9,
        bracket=1,
        round=2,
        traceback="not a column",
    )
    row = t.row()
    assert list(row) == [
        "trial_id",
        "status",
        "params.lr",
        "params.units",
        "metrics.loss",
        "metrics.val_loss",
        *TAIL_COLUMNS,
    ]
    assert row == {
        "trial_id": "t7",
        "status": FINISHED,
        "params.lr": 0.01,
        "params.units": 64,
        "metrics.loss": 0.3,
        "metrics.val_loss": 0.25,
        "objective": 0.25,
        "epochs": 2,
        "seconds": 1.5,
        "strategy": "hyperband",
        "backend": "ray",
        "worker": "node-1",
        "seed": 9,
        "bracket": 1,
        "round": 2,
        "error": None,
    }


def test_a_failed_rows_error_is_kept_and_its_objective_is_none() -> None:
    row = _trial("t2", None, status=FAILED, error="objective is NaN or inf").row()
    assert row["status"] == FAILED
    assert row["objective"] is None
    assert row["error"] == "objective is NaN or inf"
    assert not any(k.startswith("metrics.") for k in row)


# --- is_better -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "direction", "expected"),
    [
        (0.1, 0.2, "min", True),
        (0.2, 0.1, "min", False),
        (0.2, 0.1, "max", True),
        (0.1, 0.2, "max", False),
        (0.2, 0.2, "min", False),  # a tie does not beat: the earlier one stays
        (0.2, 0.2, "max", False),
        (0.5, None, "min", True),  # anything beats nothing
        (0.5, None, "max", True),
        (0.5, NAN, "min", True),
        (-1e9, NAN, "max", True),
        (NAN, 0.5, "min", False),  # NaN always loses
        (NAN, 0.5, "max", False),
        (NAN, None, "min", False),
        (NAN, NAN, "max", False),
        (None, 0.5, "min", False),
        (None, None, "max", False),
    ],
)
def test_is_better(a: Any, b: float | None, direction: str, expected: bool) -> None:
    assert is_better(a, b, direction) is expected


# --- best_of -------------------------------------------------------------------------------


def test_best_of_picks_the_lowest_when_minimising_and_the_highest_when_maximising() -> None:
    results = [_trial("a", 0.4), _trial("b", 0.1), _trial("c", 0.9)]
    assert (best := best_of(results, "min")) is not None and best.trial_id == "b"
    assert (best := best_of(results, "max")) is not None and best.trial_id == "c"


def test_best_of_ties_go_to_the_earliest() -> None:
    results = [_trial("a", 0.5), _trial("b", 0.3), _trial("c", 0.3), _trial("d", 0.3)]
    assert (best := best_of(results, "min")) is not None and best.trial_id == "b"
    results = [_trial("a", 0.3), _trial("b", 0.7), _trial("c", 0.7)]
    assert (best := best_of(results, "max")) is not None and best.trial_id == "b"


def test_best_of_skips_failed_none_and_nan_objectives() -> None:
    results = [
        _trial("failed-but-scored", 0.01, status=FAILED),
        _trial("none", None),
        _trial("nan", NAN),
        _trial("ok", 0.8),
        _trial("failed", None, status=FAILED, error="boom"),
    ]
    assert (best := best_of(results, "min")) is not None and best.trial_id == "ok"
    assert (best := best_of(results, "max")) is not None and best.trial_id == "ok"


def test_best_of_is_none_without_a_finished_scored_trial() -> None:
    assert best_of([], "min") is None
    failed = [_trial("f", None, status=FAILED), _trial("n", None), _trial("x", NAN)]
    assert best_of(failed, "max") is None


# --- to_frame / order_columns / finished_rows ----------------------------------------------


def test_to_frame_orders_lead_params_objective_metrics_then_the_tail() -> None:
    results = [
        _trial("t1", 0.3, params={"units": 32, "lr": 0.1}, history={"val_loss": [0.3]}),
        _trial("t2", None, status=FAILED, params={"units": 64, "dropout": 0.2}, error="boom"),
        _trial(
            "t3", 0.2, params={"units": 16, "lr": 0.2}, history={"acc": [0.9], "val_loss": [0.2]}
        ),
    ]
    frame = to_frame(results)
    assert list(frame.columns) == [
        *LEAD_COLUMNS,
        "params.dropout",
        "params.lr",
        "params.units",
        "objective",
        "metrics.acc",
        "metrics.val_loss",
        *TAIL_COLUMNS[1:],
    ]
    assert TAIL_COLUMNS[0] == "objective"
    assert frame["trial_id"].tolist() == ["t1", "t2", "t3"]
    assert frame["status"].tolist() == [FINISHED, FAILED, FINISHED]
    assert frame["params.units"].tolist() == [32, 64, 16]
    assert math.isnan(frame.loc[0, "params.dropout"]) and frame.loc[1, "params.dropout"] == 0.2
    assert frame.loc[2, "metrics.acc"] == 0.9 and math.isnan(frame.loc[0, "metrics.acc"])
    assert frame["error"].isna().tolist() == [True, False, True]
    assert frame.loc[1, "error"] == "boom"
    assert frame["objective"].isna().tolist() == [False, True, False]
    assert frame.loc[2, "objective"] == 0.2


def test_to_frame_of_nothing_has_the_fixed_columns_and_no_rows() -> None:
    frame = to_frame([])
    assert frame.empty
    assert list(frame.columns) == [*LEAD_COLUMNS, *TAIL_COLUMNS]
    assert finished_rows(frame) is frame


def test_order_columns_adds_missing_fixed_columns_and_keeps_extras_last() -> None:
    frame = pd.DataFrame(
        {
            "run_id": ["r1"],
            "metrics.val_loss": [0.5],
            "objective": [0.5],
            "params.b": [2],
            "status": [FINISHED],
            "params.a": [1],
            "trial_id": ["t1"],
            "ended_s": [3.0],
        }
    )
    out = order_columns(frame)
    assert list(out.columns) == [
        "trial_id",
        "status",
        "params.a",
        "params.b",
        "objective",
        "metrics.val_loss",
        *TAIL_COLUMNS[1:],
        "run_id",
        "ended_s",
    ]
    assert out.loc[0, "worker"] is None and out.loc[0, "error"] is None
    assert out.loc[0, "params.b"] == 2 and out.loc[0, "ended_s"] == 3.0


def test_finished_rows_keeps_finished_trials_with_an_objective() -> None:
    frame = to_frame(
        [
            _trial("ok", 0.4),
            _trial("failed", None, status=FAILED),
            _trial("no-objective", None),
            _trial("failed-scored", 0.1, status=FAILED),
            _trial("ok2", 0.2),
        ]
    )
    assert finished_rows(frame)["trial_id"].tolist() == ["ok", "ok2"]


# --- SearchRecord / plain --------------------------------------------------------------------


def _record(ended: float | None) -> SearchRecord:
    return SearchRecord(
        run_id="ab12cd34ef56",
        name="n",
        experiment="e",
        strategy="hyperband",
        backend="keras-tuner",
        status="FINISHED",
        metric="val_loss",
        direction="min",
        started=100.0,
        ended=ended,
        trials=to_frame([]),
    )


def test_search_record_label_and_wall_seconds() -> None:
    done = _record(ended=142.5)
    assert done.label == "hyperband/keras-tuner (ab12cd34)"
    assert done.wall_seconds == 42.5
    assert _record(ended=None).wall_seconds is None
    assert done.curves == {} and done.params == {} and done.tags == {}


def test_plain_turns_numpy_scalars_into_python_ones() -> None:
    values = [
        plain(np.int64(3)),
        plain(np.float32(0.5)),
        plain(np.bool_(True)),
        plain(np.str_("x")),
    ]
    assert values == [3, 0.5, True, "x"]
    assert [type(v) for v in values] == [int, float, bool, str]
    assert json.dumps({"v": values}) == '{"v": [3, 0.5, true, "x"]}'


def test_plain_leaves_python_values_alone() -> None:
    marker = object()
    assert plain(marker) is marker
    assert plain("adam") == "adam" and plain(7) == 7 and plain(None) is None
    assert plain([1, 2]) == [1, 2]


# --- SearchCallback / CallbackList -----------------------------------------------------------


class _Recorder(SearchCallback):
    def __init__(self, name: str, log: list[tuple[Any, ...]], reason: str | None = None) -> None:
        self.name, self.log, self.reason = name, log, reason

    def on_search_begin(self, info: SearchInfo) -> None:
        self.log.append((self.name, "search_begin", info.experiment))

    def on_trial_begin(self, trial_id: str, params: dict[str, Any]) -> None:
        self.log.append((self.name, "trial_begin", trial_id, params))

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        self.log.append((self.name, "epoch_end", trial_id, epoch, logs))

    def on_trial_end(self, result: TrialResult) -> None:
        self.log.append((self.name, "trial_end", result.trial_id))

    def stop_reason(self) -> str | None:
        return self.reason


def test_the_base_callback_does_nothing_and_never_stops() -> None:
    cb = SearchCallback()
    cb.on_search_begin(_info())
    cb.on_trial_begin("t1", {})
    cb.on_epoch_end("t1", 1, {"loss": 1.0})
    cb.on_trial_end(_trial("t1", 0.5))
    assert cb.stop_reason() is None


def test_callback_list_fans_every_event_out_in_order() -> None:
    log: list[tuple[Any, ...]] = []
    fan = CallbackList(_Recorder(n, log) for n in ("a", "b", "c"))
    fan.on_search_begin(_info(experiment="exp"))
    fan.on_trial_begin("t1", {"units": 8})
    fan.on_epoch_end("t1", 1, {"val_loss": 0.5})
    fan.on_trial_end(_trial("t1", 0.5))
    assert log == [
        ("a", "search_begin", "exp"),
        ("b", "search_begin", "exp"),
        ("c", "search_begin", "exp"),
        ("a", "trial_begin", "t1", {"units": 8}),
        ("b", "trial_begin", "t1", {"units": 8}),
        ("c", "trial_begin", "t1", {"units": 8}),
        ("a", "epoch_end", "t1", 1, {"val_loss": 0.5}),
        ("b", "epoch_end", "t1", 1, {"val_loss": 0.5}),
        ("c", "epoch_end", "t1", 1, {"val_loss": 0.5}),
        ("a", "trial_end", "t1"),
        ("b", "trial_end", "t1"),
        ("c", "trial_end", "t1"),
    ]


def test_callback_list_stop_reason_is_the_first_given() -> None:
    log: list[tuple[Any, ...]] = []
    fan = CallbackList(
        [
            _Recorder("a", log),
            _Recorder("b", log, reason="epoch budget spent"),
            _Recorder("c", log, reason="time budget spent"),
        ]
    )
    assert fan.stop_reason() == "epoch budget spent"
    assert CallbackList([_Recorder("a", log), _Recorder("b", log)]).stop_reason() is None
    assert CallbackList().stop_reason() is None


def test_an_empty_callback_list_takes_every_event() -> None:
    fan = CallbackList()
    assert fan.callbacks == []
    fan.on_search_begin(_info())
    fan.on_trial_end(_trial("t1", 0.5))
