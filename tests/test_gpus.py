"""GPU assignment on a CPU machine: parsing, detection, worker pinning and Ray packing."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from hpsearch import gpus
from hpsearch.gpus import (
    WorkerSlot,
    assign_workers,
    detect_gpus,
    enable_memory_growth,
    max_concurrent_trials,
    parse_gpus,
    parse_nvidia_smi,
    resolve_workers,
    restrict_to,
    trials_per_gpu,
    visible_entries,
)

SMI = """GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5b1c5b7e-1f3a-4a8e-9e0e-0c7d1d0b2a11)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-7f0a9c2d-3b4e-4f5a-8b6c-1d2e3f4a5b6c)
  MIG 1g.10gb     Device  0: (UUID: MIG-2a3b4c5d-6e7f-8091-a2b3-c4d5e6f7a8b9)
GPU 2: NVIDIA H100 80GB HBM3 (UUID: GPU-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d)
"""


def _never() -> list[int]:
    raise AssertionError("detection must run only for --gpus all")


# ----------------------------------------------------------------------------- parse / detect


def test_parse_nvidia_smi_counts_gpus_not_mig_slices() -> None:
    assert parse_nvidia_smi(SMI) == [0, 1, 2]
    assert parse_nvidia_smi("") == []
    assert parse_nvidia_smi("No devices were found\n") == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("none", None),
        (" None ", None),
        ("0", [0]),
        ("1,0", [1, 0]),
        (" 0 , 3 ", [0, 3]),
    ],
)
def test_parse_gpus_lists_ids_without_detecting(value: str | None, expected: Any) -> None:
    assert parse_gpus(value, detect=_never) == expected


def test_parse_gpus_all_detects() -> None:
    assert parse_gpus("all", detect=lambda: [0, 1]) == [0, 1]
    assert parse_gpus("ALL", detect=lambda: [0]) == [0]
    with pytest.raises(ValueError, match="no GPU found"):
        parse_gpus("all", detect=lambda: [])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x", "expected all, none or GPU ids"),
        ("0,,1", "expected all"),
        ("-1", "expected all"),
        ("0.5", "expected all"),
        ("1,1", "listed twice"),
    ],
)
def test_parse_gpus_rejects_bad_values(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_gpus(value, detect=_never)


def test_detect_prefers_cuda_visible_devices_then_nvidia_smi_then_tensorflow() -> None:
    def no_tf() -> int:
        raise AssertionError("TensorFlow is the last resort")

    env = {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert detect_gpus(smi=lambda: SMI, tf_count=no_tf, environ=env) == [0, 1]
    assert detect_gpus(smi=lambda: SMI, tf_count=no_tf, environ={}) == [0, 1, 2]
    assert detect_gpus(smi=lambda: None, tf_count=lambda: 2, environ={}) == [0, 1]
    assert detect_gpus(smi=lambda: None, tf_count=lambda: 0, environ={}) == []
    hidden = {"CUDA_VISIBLE_DEVICES": "-1"}
    assert detect_gpus(smi=lambda: SMI, tf_count=no_tf, environ=hidden) == []


def test_visible_entries_follow_cuda_rules() -> None:
    assert visible_entries({}) is None
    assert visible_entries({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_entries({"CUDA_VISIBLE_DEVICES": "1, 0"}) == ["1", "0"]
    assert visible_entries({"CUDA_VISIBLE_DEVICES": "0,-1,2"}) == ["0"]  # CUDA stops at -1
    assert visible_entries({"CUDA_VISIBLE_DEVICES": "GPU-aa,GPU-bb"}) == ["GPU-aa", "GPU-bb"]


def test_nvidia_smi_is_read_from_the_real_tool(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        f"#!{sys.executable}\nimport sys\nassert sys.argv[1:] == ['-L']\nprint({SMI!r}, end='')\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpus._nvidia_smi() == SMI
    assert detect_gpus(tf_count=lambda: 99) == [0, 1, 2]
    fake.write_text("#!/bin/sh\nexit 9\n")
    assert gpus._nvidia_smi() is None
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert gpus._nvidia_smi() is None
    assert detect_gpus(tf_count=lambda: 1) == [0]


def test_parse_gpus_never_imports_tensorflow() -> None:
    code = (
        "import sys; from hpsearch.gpus import parse_gpus, assign_workers, max_concurrent_trials;"
        "parse_gpus('0,1'); assign_workers(None, [0, 1]); max_concurrent_trials(0.25, 2);"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ----------------------------------------------------------------------------- KT workers


def test_resolve_workers() -> None:
    assert resolve_workers(None, None) == 1
    assert resolve_workers(None, []) == 1
    assert resolve_workers(None, [0, 1, 2]) == 3  # --gpus without --workers: one per GPU
    assert resolve_workers(2, None) == 2
    assert resolve_workers(5, [0, 1]) == 5
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="workers must be"):
            resolve_workers(bad, None)  # type: ignore[arg-type]


def test_one_worker_per_gpu() -> None:
    slots = assign_workers(None, [0, 1])
    assert slots == [WorkerSlot("tuner0", 0), WorkerSlot("tuner1", 1)]
    env: dict[str, str] = {}  # no CUDA_VISIBLE_DEVICES in the parent
    assert slots[1].env(env) == {"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def test_more_workers_than_gpus_share_round_robin() -> None:
    slots = assign_workers(5, [2, 3])
    assert [s.tuner_id for s in slots] == ["tuner0", "tuner1", "tuner2", "tuner3", "tuner4"]
    assert [s.gpu for s in slots] == [2, 3, 2, 3, 2]
    pinned = [s.env({})["CUDA_VISIBLE_DEVICES"] for s in slots]
    assert pinned == ["2", "3", "2", "3", "2"]


def test_cpu_workers_are_not_pinned() -> None:
    slots = assign_workers(3, None)
    assert [s.gpu for s in slots] == [None, None, None]
    assert all(s.env({"CUDA_VISIBLE_DEVICES": "0"}) == {} for s in slots)


def test_ids_map_through_the_parents_visible_devices() -> None:
    parent = {"CUDA_VISIBLE_DEVICES": "GPU-aa,GPU-bb", "CUDA_DEVICE_ORDER": "FASTEST_FIRST"}
    env = WorkerSlot("tuner1", 1).env(parent)
    assert env == {"CUDA_VISIBLE_DEVICES": "GPU-bb", "CUDA_DEVICE_ORDER": "FASTEST_FIRST"}
    assert (
        WorkerSlot("tuner0", 0).env({"CUDA_VISIBLE_DEVICES": "4,6"})["CUDA_VISIBLE_DEVICES"] == "4"
    )
    with pytest.raises(ValueError, match="GPU 2 is not visible"):
        WorkerSlot("tuner0", 2).env({"CUDA_VISIBLE_DEVICES": "4,6"})


# ----------------------------------------------------------------------------- Ray packing


@pytest.mark.parametrize(
    ("fraction", "per_gpu"),
    [(1, 1), (1.0, 1), (0.5, 2), (0.25, 4), (0.3, 3), (1 / 3, 3), (0.1, 10), (0.7, 1), (2, 1)],
)
def test_trials_per_gpu(fraction: float, per_gpu: int) -> None:
    assert trials_per_gpu(fraction) == per_gpu


def test_max_concurrent_trials() -> None:
    assert max_concurrent_trials(0.25, 1) == 4
    assert max_concurrent_trials(0.25, 2) == 8
    assert max_concurrent_trials(0.3, 2) == 6
    assert max_concurrent_trials(1, 3) == 3
    assert max_concurrent_trials(2, 4) == 2
    assert max_concurrent_trials(2, 5) == 2
    with pytest.raises(ValueError, match="needs 2 GPU"):
        max_concurrent_trials(2, 1)
    with pytest.raises(ValueError, match=r"needs 0\.5 GPU"):
        max_concurrent_trials(0.5, 0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (0, "must be > 0"),
        (-0.5, "must be > 0"),
        (1.5, "fraction in \\(0, 1\\] or a whole"),
        (2.25, "whole number"),
        (float("nan"), "must be a number"),
        ("0.5", "must be a number"),
        (True, "must be a number"),
    ],
)
def test_bad_gpus_per_trial_is_a_clear_error(bad: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        trials_per_gpu(bad)
    with pytest.raises(ValueError, match=message):
        max_concurrent_trials(bad, 2)


# ----------------------------------------------------------------------------- TensorFlow


class _FakeTF:
    """Just enough of ``tf.config`` to watch what the helpers ask of it."""

    def __init__(self, n: int, initialised: bool = False) -> None:
        self.devices = [SimpleNamespace(name=f"/physical_device:GPU:{i}") for i in range(n)]
        self.growth: list[str] = []
        self.visible: list[Any] | None = None
        self.initialised = initialised

        def set_memory_growth(device: Any, enable: bool) -> None:
            if self.initialised:
                raise RuntimeError("Physical devices cannot be modified after being initialized")
            assert enable is True
            self.growth.append(device.name)

        def set_visible_devices(devices: list[Any], kind: str) -> None:
            if self.initialised:
                raise RuntimeError("Visible devices cannot be modified after being initialized")
            assert kind == "GPU"
            self.visible = devices

        def list_physical_devices(kind: str) -> list[Any]:
            return list(self.devices) if kind == "GPU" else []

        self.config = SimpleNamespace(
            list_physical_devices=list_physical_devices,
            set_visible_devices=set_visible_devices,
            experimental=SimpleNamespace(set_memory_growth=set_memory_growth),
        )


def test_enable_memory_growth_on_every_gpu() -> None:
    tf = _FakeTF(3)
    assert enable_memory_growth(tf) == 3
    assert tf.growth == [d.name for d in tf.devices]
    assert enable_memory_growth(_FakeTF(0)) == 0
    late = _FakeTF(2, initialised=True)  # too late: skipped, not an error
    assert enable_memory_growth(late) == 2 and late.growth == []


def test_restrict_to_listed_gpus() -> None:
    tf = _FakeTF(3)
    assert restrict_to([2, 0], tf) == 2
    assert tf.visible == [tf.devices[2], tf.devices[0]]
    assert tf.growth == [tf.devices[2].name, tf.devices[0].name]
    with pytest.raises(ValueError, match="GPU 3 is not visible: this process sees 3"):
        restrict_to([3], _FakeTF(3))


@pytest.mark.slow
def test_enable_memory_growth_with_real_tensorflow_on_cpu() -> None:
    code = (
        "import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3';"
        "from hpsearch.gpus import enable_memory_growth; print(enable_memory_growth())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    expected = len(detect_gpus(tf_count=lambda: 0))  # 0 here; nvidia-smi's count on a GPU box
    assert int(done.stdout.strip()) == expected
