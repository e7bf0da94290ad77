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
