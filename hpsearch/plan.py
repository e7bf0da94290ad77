"""Checks of where a search will write, made before anything is created.

An input error must leave nothing behind: no MLflow run, no folder. So the tracking URI, the
experiment name and the output folder are checked here, with nothing but the standard
library, before the MLflow parent run exists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hpsearch.space import SpaceError, short

#: Tracking URI schemes MLflow itself serves (plugins add theirs through entry points).
TRACKING_SCHEMES = ("http", "https", "file", "sqlite", "postgresql", "mysql", "mssql",
                    "databricks", "databricks-uc", "uc")  # fmt: skip
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def check_destination(tracking_uri: str | None, experiment: str, output: Path) -> None:
    """Raise SpaceError (naming the flag) for a tracking URI of an unknown scheme, an
    experiment name that is empty or would leave ``output``, or an output folder that cannot
    be created or written. Creates nothing."""
    check_tracking_uri(tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"))
    check_experiment(experiment)
    check_output(output)


def check_tracking_uri(uri: str | None, flag: str = "--tracking-uri") -> None:
    if not uri:
        return
    match = _SCHEME.match(uri)
    if match is None:
        if ":" in uri.split("/")[0] and not re.match(r"^[A-Za-z]:[\\/]", uri):
            raise SpaceError(f"{short(uri)} is not a URI (scheme://...)", field=flag)
        return  # a plain path: MLflow's file store
    scheme = match.group(1).lower()
    base = scheme.split("+")[0]  # postgresql+psycopg2
    if base in TRACKING_SCHEMES or scheme in _plugin_schemes():
        return
    raise SpaceError(
        f"unknown scheme '{short(scheme, 40)[1:-1]}' in {short(uri)}; use sqlite:///PATH, "
        "http(s)://HOST:PORT, postgresql://..., mysql://... or a folder",
        field=flag,
    )


def _plugin_schemes() -> set[str]:
    from importlib.metadata import entry_points

    return {ep.name for ep in entry_points(group="mlflow.tracking_store")}


def check_experiment(name: str, flag: str = "--experiment") -> None:
    """An experiment name becomes a folder under --output: it must stay inside it."""
    if not name or not name.strip():
        raise SpaceError("the experiment name is empty", field=flag)
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith(".."):
        raise SpaceError(
            f"{short(name)} would write outside --output; an experiment name has no '/' and "
            "does not start with '..'",
            field=flag,
        )
    if any(ord(c) < 32 for c in name) or len(name) > 200:
        raise SpaceError(f"{short(name)}: use printable characters, at most 200", field=flag)


def check_output(output: Path, flag: str = "--output") -> None:
    """``output`` exists as a writable folder, or can be created in one."""
    path = Path(output).expanduser().absolute()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise SpaceError(f"{probe} is not a folder, so {output} cannot be created", field=flag)
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "written" if probe == path else "created"
        raise SpaceError(f"{output} cannot be {what}: no write permission on {probe}", field=flag)
