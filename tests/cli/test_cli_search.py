"""hpsearch.cli.search: the helpers of run, compare and sweep (the commands themselves run
end to end in the search, sweep and compare tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpsearch.cli.search import _parse_tags, _pinned
from hpsearch.errors import SpaceError


def test_a_sweep_pins_a_relative_sqlite_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _pinned("sqlite:///m.db") == f"sqlite:///{tmp_path.resolve() / 'm.db'}"
    assert _pinned("sqlite:////abs/m.db") == "sqlite:////abs/m.db"
    assert _pinned("http://server:5000") == "http://server:5000"


def test_tags_are_key_value_pairs() -> None:
    assert _parse_tags(["team=ml", "note=a=b", " k =v"]) == {"team": "ml", "note": "a=b", "k": "v"}
    with pytest.raises(SpaceError, match="--tag: expected KEY=VALUE, got 'oops'"):
        _parse_tags(["oops"])
