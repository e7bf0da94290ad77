"""Shared fixtures for the hpsearch tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_space(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML text (dedented) into tmp_path and return the file's path."""

    def write(text: str, name: str = "space.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
