"""The HParams experiment config of a TensorBoard folder: one per ``DIR``, the union of
every search written into it.

TensorBoard's HParams plugin reads one experiment config per logdir (with several, it
takes one arbitrarily) and keeps the first it read while the file stays. So ``DIR`` holds
one config, rebuilt from a small sidecar (``DIR/.hpsearch-hparams.json``: every param's
domain, the metrics, the objectives) whenever a search adds to the union, and written into
a NEW run folder (``DIR/.hparams-<n>``) before the previous one is deleted: a running
TensorBoard drops the deleted run and shows the new config within its reload interval.
Searches of a sweep may start together, so the merge runs under an exclusive lock on
``DIR``. ``DIR/<search>`` holds no config: served alone, the plugin infers that search's.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hpsearch.space import Bool, FloatRange, IntRange, Param

#: The union of every search's params and metrics in ``DIR``.
SIDECAR = ".hpsearch-hparams.json"
#: The lock file that makes a merge and its config write one step.
LOCK = ".hpsearch-hparams.lock"
#: The config's run folder, ``DIR/.hparams-<n>``: one run in TensorBoard's run list, first
#: in its order, and hidden from ``ls``.
PREFIX = ".hparams-"
#: The scalar tag of a trial's objective, the config's first metric.
OBJECTIVE = "objective"

Domain = dict[str, Any]


def kind(param: Param) -> str:
    """How the HParams plugin types a param: bool, number or string (mixed choices)."""
    if isinstance(param, Bool):
        return "bool"
    if isinstance(param, IntRange | FloatRange):
        return "number"
    values = param.values() or []
    if values and all(isinstance(v, bool) for v in values):
        return "bool"
    if values and numbers(values):
        return "number"
    return "string"


def domain(param: Param) -> Domain:
    """A param's domain as the sidecar keeps it: ``{"interval": [lo, hi], "int": bool}``,
    ``{"values": [...]}`` or ``{}`` (none: the plugin shows the column untyped)."""
    if isinstance(param, IntRange):
        return {"interval": [param.min, param.max], "int": True}
    if isinstance(param, FloatRange):
        return {"interval": [float(param.min), float(param.max)], "int": False}
    if isinstance(param, Bool):
        return {"values": [False, True]}
    typed = kind(param)
    values = [_plain(v, typed) for v in param.values() or []]
    return {"values": values} if values else {}


def _plain(value: Any, typed: str) -> Any:
    if typed == "string" or not isinstance(value, bool | int | float | str):
        return str(value)
    if typed == "number":
        return float(value)
    return value


def numbers(values: list[Any]) -> bool:
    """Whether every value is a number (a bool is not)."""
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def merge_domain(a: Domain, b: Domain) -> Domain:
    """The smallest domain covering both: intervals widened, discrete values unioned (as
    strings where their types differ), numbers inside an interval widen it."""
    if not a or not b:
        return {}
    if "interval" in a and "interval" in b:
        lo = min(a["interval"][0], b["interval"][0])
        hi = max(a["interval"][1], b["interval"][1])
        return {"interval": [lo, hi], "int": bool(a["int"] and b["int"])}
    if "interval" in b:
        a, b = b, a
    if "interval" in a:
        values = b["values"]
        if not numbers(values):
            return {}
        lo, hi = min(a["interval"][0], *values), max(a["interval"][1], *values)
        return {"interval": [lo, hi], "int": bool(a["int"] and all(v == int(v) for v in values))}
    values = list(a["values"]) + [v for v in b["values"] if v not in a["values"]]
    types = {"bool" if isinstance(v, bool) else "number" if numbers([v]) else "str" for v in values}
    if len(types) > 1:
        values = list(dict.fromkeys(str(v) for v in values))
    return {"values": values}


def merge(
    union: dict[str, Any], hparams: dict[str, Domain], metrics: list[str], objective: str
) -> dict[str, Any]:
    """``union`` (a sidecar's content, maybe empty) with one search's params, metrics and
    objective (``"val_accuracy, max"``) added; a param of one search only stays listed."""
    out_hparams = dict(union.get("hparams", {}))
    for name, dom in hparams.items():
        out_hparams[name] = merge_domain(out_hparams[name], dom) if name in out_hparams else dom
    known = list(union.get("metrics", []))
    known += [m for m in dict.fromkeys(metrics) if m not in known and m != OBJECTIVE]
    objectives = list(union.get("objectives", []))
    if objective and objective not in objectives:
        objectives.append(objective)
    return {
        **union,
        "hparams": out_hparams,
        "metrics": known,
        "objectives": objectives,
    }


def metric_order(union: dict[str, Any]) -> list[tuple[str, str]]:
    """(tag, label) of every metric: the objective first with its label, then the
    validation metrics (the dashboard ticks only its first few columns), then the rest."""
    label = f"{OBJECTIVE} ({'; '.join(union.get('objectives', []))})"
    rest = sorted(union.get("metrics", []), key=lambda m: not m.startswith("val_"))
    return [(OBJECTIVE, label), *((m, "") for m in rest)]


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """An exclusive lock on ``root``'s config (blocks until the other holder is done)."""
    with open(root / LOCK, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read(root: Path) -> dict[str, Any]:
    """The sidecar's union (empty when there is none yet)."""
    path = root / SIDECAR
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else {}


def update(
    root: Path,
    hparams: dict[str, Domain],
    metrics: list[str],
    objective: str,
    write: Callable[[Path, dict[str, Any]], None],
) -> bool:
    """Merge one search into ``root``'s union; when it changed, ``write`` the config into a
    new run folder, then the sidecar, then delete the previous folder. Returns whether it
    did. (``write`` is the TensorBoard writer's: tensorboard is imported in one module.)"""
    root.mkdir(parents=True, exist_ok=True)
    with locked(root):
        union = read(root)
        merged = merge(union, hparams, metrics, objective)
        previous = union.get("config")
        if merged == union and previous and (root / previous).is_dir():
            return False
        serial = int(union.get("serial", 0)) + 1
        merged.update(serial=serial, config=f"{PREFIX}{serial}")
        write(root / merged["config"], merged)
        tmp = root / f"{SIDECAR}.{os.getpid()}"
        tmp.write_text(json.dumps(merged, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, root / SIDECAR)
        for old in root.glob(f"{PREFIX}*"):  # the previous one (and any a crash left)
            if old.name != merged["config"]:
                shutil.rmtree(old, ignore_errors=True)
        return True
