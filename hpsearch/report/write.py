"""write_report: computes the content once and writes index.html, report.md and
trials.csv.
"""

from __future__ import annotations

from pathlib import Path

from hpsearch.report.content import Report, _Content, _failed
from hpsearch.report.data import summary, trials_frame
from hpsearch.report.figures import _figures
from hpsearch.report.importance import importance
from hpsearch.report.markdown import _markdown
from hpsearch.report.page import _html
from hpsearch.report.verdict import next_steps, verdict
from hpsearch.trials import SearchRecord


def write_report(
    searches: list[SearchRecord],
    folder: str | Path,
    *,
    title: str,
    top_k: int = 3,
) -> Report:
    """Write index.html, report.md and trials.csv for ``searches`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame = trials_frame(searches)
    csv = folder / "trials.csv"
    frame.to_csv(csv, index=False)
    ranks, rank_note = importance(searches)
    lines, matrix = verdict(searches)
    tips = next_steps(searches, ranks)
    rows = summary(searches)
    failed = _failed(searches)
    figs = _figures(searches, ranks, top_k)

    content = _Content(title, searches, rows, lines, matrix, ranks, rank_note, tips, failed)
    md = folder / "report.md"
    md.write_text(
        _markdown(content),
        encoding="utf-8",
    )
    page = folder / "index.html"
    page.write_text(
        _html(content, figs),
        encoding="utf-8",
    )
    return Report(folder, page, md, csv, lines, len(figs))
