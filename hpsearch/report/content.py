"""What a report holds, computed once and shown by both writers, and where it went."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.report.data import _params_text
from hpsearch.trials import FINISHED, PRUNED, SearchRecord


@dataclass
class Report:
    """Where a report went, and what it concluded."""

    folder: Path
    html: Path
    markdown: Path
    csv: Path
    verdict: list[str] = field(default_factory=list)
    n_plots: int = 0


@dataclass
class _Content:
    """What both renderings (Markdown, HTML) show: computed once in write_report."""

    title: str
    searches: list[SearchRecord]
    rows: list[dict[str, Any]]
    lines: list[str]
    matrix: list[dict[str, Any]]
    ranks: dict[str, float]
    rank_note: str
    tips: list[str]
    failed: list[dict[str, Any]]


def _failed(searches: list[SearchRecord]) -> list[dict[str, Any]]:
    out = []
    for s in searches:
        f = s.trials
        # pruned trials trained fine and lost: not failures (the summary counts them)
        for _, r in (f[~f["status"].isin([FINISHED, PRUNED])] if len(f) else f).iterrows():
            out.append(
                {
                    "search": s.label,
                    "trial": r["trial_id"],
                    "params": _params_text(r),
                    "error": str(r.get("error") or "")[:300],
                }
            )
    return out
