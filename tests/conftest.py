"""Shared fixtures for the hpsearch tests."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests import shared_ray
from tests.mlflow_server import Server, mlflow_server
from tests.spaces import tiny_space_text


def pytest_configure(config: pytest.Config) -> None:
    """Make Ray's token (~/.ray/auth_token) once, before the test workers start.

    `make test` runs the suite in two pytest-xdist workers. On a machine whose HOME has no
    token yet, the first local Ray of each would write a token of its own to the same file,
    and a Ray child of one worker could then read the other's. Ray's own CLI writes it here,
    in the controller, so every process of the session reads one token."""
    if hasattr(config, "workerinput"):
        return  # a worker: the controller made it
    if any(os.environ.get(v) for v in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")):
        return  # a token the environment gives
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return
    if (Path.home() / ".ray" / "auth_token").exists():
        return
    ray = Path(sys.executable).with_name("ray")
    if not ray.exists():
        pytest.exit(f"no ray command beside {sys.executable}: install the test extras", 3)
    made = subprocess.run(
        [str(ray), "get-auth-token", "--generate"], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.exit(f"ray get-auth-token --generate failed: {made.stderr.strip()[-2000:]}", 3)


@pytest.fixture
def write_space(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML text (dedented) into tmp_path and return the file's path."""

    def write(text: str, name: str = "space.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def tiny_space(write_space: Callable[..., Path]) -> Callable[..., Path]:
    """Write the suite's tiny space (tests/spaces.py) into tmp_path and return its path:
    ``tiny_space(name="cv-test", training={"cv": 3})``; ``file=`` names the file."""

    def write(*bases: Mapping[str, Any], file: str = "space.yaml", **sections: Any) -> Path:
        return write_space(tiny_space_text(*bases, **sections), file)

    return write


@pytest.fixture(scope="session", autouse=True)
def _stop_the_shared_ray() -> Iterator[None]:
    """The local Ray of tests/shared_ray.py stops with the session."""
    yield
    shared_ray.stop()


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real `mlflow server` for the session (starting one costs about 9 s), stopped
    afterwards even on failure. Its users keep to their own experiments."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as running:
        yield running


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    """Keep what earlier tests left alive out of the garbage collector's walks during a test.

    Keras Tuner runs gc.collect() twice per trial. In this long-lived process every collect
    would also walk all that the tests before left alive: the same in-process Keras Tuner
    grid took 13 s early in a session and 22 s at its end. A Keras Tuner search now freezes
    the heap for itself (hpsearch.model.settled_heap); this hook does the same for the rest
    of a test (its fixtures, Ray drivers, reports). Frozen for each test and thawed after
    it, so that nothing is kept beyond its life.
    """
    gc.freeze()
    try:
        return (yield)
    finally:
        gc.unfreeze()
