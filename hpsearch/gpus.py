"""GPU assignment as plain functions: which process gets which device, and how many share one.

Nothing here imports tensorflow at module level: ``--gpus 0,1`` is parsed without it, and
``--gpus all`` asks ``nvidia-smi -L`` first, so only a machine without nvidia-smi pays for
importing TensorFlow to count its GPUs. All of it runs (and is tested) on a CPU machine.

GPU ids are *this process's* CUDA ordinals: with ``CUDA_VISIBLE_DEVICES=2,3`` set, ``--gpus 0``
means physical GPU 2, as it would for any CUDA program started from the same shell.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: ``nvidia-smi -L`` prints one ``GPU <n>: <name> (UUID: ...)`` line per physical GPU (MIG
#: slices appear as indented ``MIG ...`` lines beneath, and are not counted here).
_SMI_LINE = re.compile(r"^GPU (\d+):", re.MULTILINE)


def parse_nvidia_smi(text: str) -> list[int]:
    """The GPU indices listed by ``nvidia-smi -L``."""
    return sorted({int(m.group(1)) for m in _SMI_LINE.finditer(text)})


def _nvidia_smi() -> str | None:
    """``nvidia-smi -L``'s output, or None when the tool is missing or fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _tensorflow_count() -> int:
    """How many GPUs TensorFlow sees (imports it: 3 s; the fallback only)."""
    from hpsearch.model import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def visible_entries(environ: Mapping[str, str] | None = None) -> list[str] | None:
    """The entries of ``CUDA_VISIBLE_DEVICES`` (ids or UUIDs), or None when it is unset.

    CUDA stops at the first invalid entry, so ``-1`` (the usual "no GPU") ends the list.
    """
    env = os.environ if environ is None else environ
    raw = env.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return None
    out: list[str] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part or part.startswith("-"):
            break
        out.append(part)
    return out


def detect_gpus(
    *,
    smi: Callable[[], str | None] = _nvidia_smi,
    tf_count: Callable[[], int] = _tensorflow_count,
    environ: Mapping[str, str] | None = None,
) -> list[int]:
    """The GPU ids this process may use: CUDA_VISIBLE_DEVICES, else nvidia-smi, else TF."""
    entries = visible_entries(environ)
    if entries is not None:
        return list(range(len(entries)))
    text = smi()
    if text is not None:
        return parse_nvidia_smi(text)
    return list(range(tf_count()))


def parse_gpus(
    value: str | None, *, detect: Callable[[], list[int]] = detect_gpus
) -> list[int] | None:
    """``--gpus``: ``all``, ``0,1,...`` or none; None means "run on CPU as TF decides".

    Only ``all`` calls ``detect``, so listing ids never starts nvidia-smi or TensorFlow.
    """
    text = (value or "").strip().lower()
    if text in ("", "none"):
        return None
    if text == "all":
        found = detect()
        if not found:
            raise ValueError("--gpus all: no GPU found (nvidia-smi and TensorFlow list none)")
        return found
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise ValueError(f"--gpus: expected all, none or GPU ids such as 0,1; got {value!r}")
        if int(part) in ids:
            raise ValueError(f"--gpus: GPU {int(part)} is listed twice in {value!r}")
        ids.append(int(part))
    return ids


# ----------------------------------------------------------------------------- Keras Tuner workers


@dataclass(frozen=True)
class WorkerSlot:
    """One Keras Tuner worker process: its tuner id and the GPU it is pinned to (if any)."""

    tuner_id: str
    gpu: int | None = None

    def env(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment variables that pin this worker to its GPU (empty without one).

        The id is mapped through the parent's CUDA_VISIBLE_DEVICES when it is set, and CUDA is
        told to number GPUs in PCI order, as nvidia-smi does.
        """
        if self.gpu is None:
            return {}
        base = os.environ if environ is None else environ
        entries = visible_entries(base)
        if entries is not None:
            if self.gpu >= len(entries):
                raise ValueError(
                    f"GPU {self.gpu} is not visible: CUDA_VISIBLE_DEVICES lists {len(entries)}"
                )
            device = entries[self.gpu]
        else:
            device = str(self.gpu)
        return {
            "CUDA_VISIBLE_DEVICES": device,
            "CUDA_DEVICE_ORDER": base.get("CUDA_DEVICE_ORDER", "PCI_BUS_ID"),
        }


def resolve_workers(workers: int | None, gpus: Sequence[int] | None) -> int:
    """How many worker processes: as asked, else one per listed GPU, else one."""
    if workers is None:
        return len(gpus) if gpus else 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
    return workers


def assign_workers(workers: int | None, gpus: Sequence[int] | None) -> list[WorkerSlot]:
    """Worker ``i`` is ``tuner<i>`` on ``gpus[i % len(gpus)]``: one worker per GPU, and
    round-robin when there are more workers than GPUs, so several share a card."""
    n = resolve_workers(workers, gpus)
    return [WorkerSlot(f"tuner{i}", gpus[i % len(gpus)] if gpus else None) for i in range(n)]


# ----------------------------------------------------------------------------- Ray packing


def trials_per_gpu(gpus_per_trial: float) -> int:
    """How many trials share one GPU for a Ray ``gpus_per_trial`` (0.25 -> 4, 0.3 -> 3).

    Above 1 only whole numbers make sense (Ray gives a trial 2 GPUs, never 1.5); such
    trials share nothing, so the answer is 1.
    """
    g = _check_gpus_per_trial(gpus_per_trial)
    if g >= 1:
        return 1
    return math.floor(1 / g + 1e-9)


def max_concurrent_trials(gpus_per_trial: float, n_gpus: int) -> int:
    """How many trials can run at once on ``n_gpus`` GPUs with ``gpus_per_trial`` each."""
    g = _check_gpus_per_trial(gpus_per_trial)
    if n_gpus < 0:
        raise ValueError(f"n_gpus must be >= 0, got {n_gpus}")
    slots = n_gpus * trials_per_gpu(g) if g <= 1 else n_gpus // int(g)
    if slots == 0:
        raise ValueError(f"a trial needs {g:g} GPU(s) but only {n_gpus} are available")
    return slots


def _check_gpus_per_trial(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"gpus_per_trial must be a number, got {value!r}")
    if value <= 0:
        raise ValueError(f"gpus_per_trial must be > 0, got {value:g}")
    if value > 1 and not float(value).is_integer():
        raise ValueError(
            f"gpus_per_trial must be a fraction in (0, 1] or a whole number of GPUs, got {value:g}"
        )
    return float(value)


# ----------------------------------------------------------------------------- TensorFlow


def _tensorflow() -> Any:
    import tensorflow as tf

    return tf


def enable_memory_growth(tf: Any = None) -> int:
    """Let every visible GPU's memory grow on demand; returns how many GPUs were seen.

    Without it each TensorFlow process maps a whole card at start-up, so trials packed
    onto one GPU would starve each other. Call it before the first model is built; a GPU
    already initialised keeps its setting (TensorFlow refuses the change).
    """
    tf = tf if tf is not None else _tensorflow()
    devices = tf.config.list_physical_devices("GPU")
    for device in devices:
        try:
            tf.config.experimental.set_memory_growth(device, True)
        except (RuntimeError, ValueError):
            pass  # already initialised: too late to change, and harmless to skip
    return len(devices)


def restrict_to(gpus: Sequence[int], tf: Any = None) -> int:
    """Make only ``gpus`` visible to this process's TensorFlow, with memory growth.

    The in-process path's counterpart of a worker's CUDA_VISIBLE_DEVICES (which must be set
    before CUDA starts, too late once TensorFlow runs here). Returns how many stay visible.
    """
    tf = tf if tf is not None else _tensorflow()
    devices = tf.config.list_physical_devices("GPU")
    missing = [g for g in gpus if g >= len(devices)]
    if missing:
        raise ValueError(
            f"GPU {missing[0]} is not visible: this process sees {len(devices)} GPU(s)"
        )
    chosen = [devices[g] for g in gpus]
    try:
        tf.config.set_visible_devices(chosen, "GPU")
    except RuntimeError:
        pass  # TensorFlow already initialised its devices; keep what it has
    for device in chosen:
        try:
            tf.config.experimental.set_memory_growth(device, True)
        except (RuntimeError, ValueError):
            pass
    return len(chosen)
