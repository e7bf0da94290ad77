"""hpsearch.finish: the steps after a search, without training (the real final fit and
report run end to end in test_refit.py and the search tests)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import hpsearch.api
import hpsearch.refit
from hpsearch.errors import RefitFailed
from hpsearch.finish import Finished, finish, search_report


def _summary(tmp_path: Path, warnings: list[str] | None = None) -> Any:
    return SimpleNamespace(
        parent_run_id="0123456789abcdef",
        tracking_uri=f"sqlite:///{tmp_path}/m.db",
        workdir=tmp_path / "run",
        experiment="exp",
        warnings=list(warnings or []),
    )


def test_nothing_asked_makes_nothing(tmp_path: Path) -> None:
    assert finish(_summary(tmp_path), final_fit=False, report=False) == Finished(None, None)


def test_the_report_is_written_into_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def make_report(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return SimpleNamespace(html=kwargs["output"] / "index.html")

    monkeypatch.setattr(hpsearch.api, "make_report", make_report)
    summary = _summary(tmp_path)
    assert search_report(summary) == str(tmp_path / "run" / "report" / "index.html")
    assert calls == [
        {
            "run_ids": ["0123456789abcdef"],
            "tracking_uri": summary.tracking_uri,
            "output": tmp_path / "run" / "report",
            "artifact_path": "report",
            "title": "hpsearch report: exp / 01234567",
        }
    ]
    assert summary.warnings == []


def test_a_failed_report_is_a_warning_not_a_failed_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def make_report(**kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(hpsearch.api, "make_report", make_report)
    summary = _summary(tmp_path, ["an earlier warning"])
    assert finish(summary, final_fit=False, report=True) == Finished(None, None)
    assert summary.warnings == ["an earlier warning", "no report: RuntimeError: disk full"]


def test_no_report_while_mlflow_is_not_answering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def make_report(**kwargs: Any) -> Any:
        raise AssertionError("the report must not read a store that stopped answering")

    monkeypatch.setattr(hpsearch.api, "make_report", make_report)
    summary = _summary(tmp_path, ["MLflow stopped answering at trial 3"])
    assert search_report(summary) is None
    assert summary.warnings == ["MLflow stopped answering at trial 3"]


def test_the_final_fit_refits_the_search_just_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []

    def final_fit(parent_run_id: str, **kwargs: Any) -> Any:
        calls.append((parent_run_id, kwargs))
        return SimpleNamespace(as_json=lambda: {"model_uri": "models:/m"})

    monkeypatch.setattr(hpsearch.refit, "final_fit", final_fit)
    summary = _summary(tmp_path)
    done = finish(summary, final_fit=True, report=False, verbose=True)
    assert done == Finished(final_fit={"model_uri": "models:/m"}, report=None)
    assert calls == [("0123456789abcdef", {"tracking_uri": summary.tracking_uri, "verbose": True})]


def test_a_failed_final_fit_raises_before_any_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def final_fit(parent_run_id: str, **kwargs: Any) -> Any:
        raise RefitFailed("the loss went NaN")

    def make_report(**kwargs: Any) -> Any:
        raise AssertionError("no report after a failed final fit")

    monkeypatch.setattr(hpsearch.refit, "final_fit", final_fit)
    monkeypatch.setattr(hpsearch.api, "make_report", make_report)
    with pytest.raises(RefitFailed, match="NaN"):
        finish(_summary(tmp_path), final_fit=True, report=True)
