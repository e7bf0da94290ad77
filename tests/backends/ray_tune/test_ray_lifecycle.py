"""lifecycle: which cluster a search joins, and the registry's session reaching held_ray
(no Ray started: the real held_ray is covered in test_ray_tune.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from hpsearch.backends import session
from hpsearch.backends.ray_tune.lifecycle import ray_address


def test_the_address_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert ray_address("10.0.0.1:6379") == "10.0.0.1:6379"
    assert ray_address(None) == "ray://head:10001"
    monkeypatch.setenv("RAY_ADDRESS", "")
    assert ray_address("") is None


def test_the_registry_session_uses_the_package_held_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """compare opens ``session("ray", ...)``; a stand-in patched on the package is used."""
    from hpsearch.backends import ray_tune

    held: list[dict[str, Any]] = []

    @contextmanager
    def stand_in(**options: Any) -> Iterator[None]:
        held.append(options)
        yield

    monkeypatch.setattr(ray_tune, "held_ray", stand_in)
    with session("ray", verbose=True, max_concurrent=2):
        pass
    assert held == [{"verbose": True, "max_concurrent": 2}]


def test_a_cluster_that_does_not_answer_is_left_to_ray_init() -> None:
    """Only a refusal is check_cluster's to report: nothing listening (a GCS address or a
    Ray Client one) passes, and ray.init says what it always said."""
    from hpsearch.backends.ray_tune.lifecycle import check_cluster
    from tests.ray_cluster import free_port

    port = free_port()
    check_cluster(f"127.0.0.1:{port}", timeout=5)
    check_cluster(f"ray://127.0.0.1:{port}", timeout=5)
    check_cluster("auto")


def test_preflight_asks_a_clustered_engine_about_its_cluster_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The registry's preflight (run before anything is created) asks Ray about the cluster
    of --address or RAY_ADDRESS, and nothing when there is none or the engine has none."""
    from hpsearch.backends import preflight, ray_tune

    asked: list[str] = []
    monkeypatch.setattr(ray_tune, "check_cluster", asked.append)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    preflight("ray", {"max_concurrent": 2})
    preflight("ray", {"address": "10.0.0.1:6379"})
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    preflight("keras-tuner", {})
    preflight("ray", {})
    assert asked == ["10.0.0.1:6379", "ray://head:10001"]
