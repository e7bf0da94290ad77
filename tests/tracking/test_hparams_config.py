"""DIR's HParams experiment config (hpsearch.tracking.hparams_config): the union of every
search's param domains and metrics, kept in a sidecar, written into a new run folder when
it grows, under a lock that two searches starting together share."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

from hpsearch.space import parse_space
from hpsearch.tracking import hparams_config
from hpsearch.tracking.hparams_config import PREFIX, SIDECAR, merge, metric_order, read, update
from hpsearch.tracking.tensorboard import TensorBoardWriter
from hpsearch.trials import SearchInfo
from tests.spaces import tiny_space_text


def _domains(hp: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    space = parse_space(tiny_space_text(hyperparameters=hp), source=tmp_path / "s.yaml")
    return {n: hparams_config.domain(p) for n, p in space.searched().items()}


def test_the_union_widens_intervals_unions_values_and_orders_metrics(tmp_path: Path) -> None:
    one = _domains({"n_neurons": {"int": [16, 64]}, "learning_rate": {"float": [1e-3, 1e-2]},
                    "optimizer": {"choice": ["adam", "sgd"]},
                    "batch_size": {"choice": [32, 64]}}, tmp_path)  # fmt: skip
    two = _domains({"n_neurons": {"int": [8, 32]}, "learning_rate": {"float": [5e-3, 0.1]},
                    "optimizer": {"choice": ["sgd", "rmsprop"]}, "batch_size": {"int": [16, 128]},
                    "dropout": {"float": [0.0, 0.5]}}, tmp_path)  # fmt: skip
    union = merge({}, one, ["loss", "val_accuracy"], "val_accuracy, max")
    union = merge(union, two, ["loss", "val_loss", "mae"], "val_loss, min")
    assert union["hparams"] == {
        "n_neurons": {"interval": [8, 64], "int": True},
        "learning_rate": {"interval": [1e-3, 0.1], "int": False},
        "optimizer": {"values": ["adam", "sgd", "rmsprop"]},
        "batch_size": {"interval": [16, 128], "int": True},  # choices inside an int range
        "dropout": {"interval": [0.0, 0.5], "int": False},  # of one space only: still listed
    }
    assert metric_order(union) == [("objective", "objective (val_accuracy, max; val_loss, min)"),
                                   ("val_accuracy", ""), ("val_loss", ""),
                                   ("loss", ""), ("mae", "")]  # fmt: skip
    assert merge(union, two, ["val_loss"], "val_loss, min") == union  # nothing new


def test_mixed_discrete_values_become_strings_and_unnumbered_choices_lose_the_interval() -> None:
    union = merge({}, {"a": {"values": [True, False]}, "b": {"interval": [1, 4], "int": True}},
                  [], "")  # fmt: skip
    union = merge(union, {"a": {"values": ["x"]}, "b": {"values": ["relu"]}}, [], "")
    assert union["hparams"] == {"a": {"values": ["True", "False", "x"]}, "b": {}}


def _write(folder: Path, union: dict[str, Any]) -> None:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(union))


def test_a_new_union_is_a_new_folder_and_the_old_one_goes(tmp_path: Path) -> None:
    root = tmp_path / "tb"
    assert update(root, {"x": {"interval": [1, 2], "int": True}}, ["loss"], "loss, min", _write)
    assert [p.name for p in root.glob(f"{PREFIX}*")] == [f"{PREFIX}1"]
    assert not update(root, {"x": {"interval": [1, 2], "int": True}}, ["loss"], "", _write)
    assert update(root, {"y": {"values": ["a"]}}, [], "loss, min", _write)
    assert [p.name for p in root.glob(f"{PREFIX}*")] == [f"{PREFIX}2"]
    written = json.loads((root / f"{PREFIX}2" / "config.json").read_text())
    assert written == read(root) and set(written["hparams"]) == {"x", "y"}


def _slow_write(folder: Path, union: dict[str, Any]) -> None:
    time.sleep(0.02)  # a config write takes time: the window another merge could race into
    _write(folder, union)


def _merge_one(root: str, name: str, start: Any) -> None:
    start.wait(60)  # both imported: their merges overlap, whichever started first
    for i in range(20):
        update(Path(root), {f"{name}{i}": {"values": [i]}}, [], "", _slow_write)


def test_two_searches_starting_together_both_land_in_the_union(tmp_path: Path) -> None:
    """The lock: without it one process's merge overwrites the other's."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_merge_one, args=(str(tmp_path), n, start)) for n in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    names = set(read(tmp_path)["hparams"])
    assert names == {f"{n}{i}" for n in "ab" for i in range(20)}
    assert len(list(tmp_path.glob(f"{PREFIX}*"))) == 1


def test_the_writer_merges_its_space_at_search_begin_and_its_metrics_at_the_first_epoch(
    tmp_path: Path,
) -> None:
    space = parse_space(tiny_space_text(hyperparameters={"n_neurons": {"int": [16, 64]}}),
                        source=tmp_path / "s.yaml")  # fmt: skip
    writer = TensorBoardWriter(tmp_path / "tb", space, "search", "0" * 32)
    writer.on_search_begin(SearchInfo("tiny", "random", "keras-tuner", 1, "val_accuracy", "max", 1))
    assert read(tmp_path / "tb")["hparams"] == {"n_neurons": {"interval": [16, 64], "int": True}}
    assert read(tmp_path / "tb")["metrics"] == []
    writer.on_trial_begin("0000", {"n_neurons": 20})
    writer.on_epoch_end("0000", 1, {"loss": 1.0, "val_accuracy": 0.5})
    serial = read(tmp_path / "tb")["serial"]
    writer.on_epoch_end("0000", 2, {"loss": 0.5, "val_accuracy": 0.6})
    writer.close()
    union = read(tmp_path / "tb")
    assert union["metrics"] == ["loss", "val_accuracy"] and union["serial"] == serial
    assert (tmp_path / "tb" / SIDECAR).exists() and writer.broken is None
