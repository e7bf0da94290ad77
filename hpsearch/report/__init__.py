"""Comparison reports: searches read back from MLflow become index.html, report.md and
trials.csv.

The question after a search is rarely "what is the best trial?" but which strategy found
it, at what cost, which hyperparameters mattered and whether to search on. Every figure
here is computed from SearchRecords (trials + space only, per the dependency rules); plots
are drawn with plotly and the page embeds plotly.js, so it opens offline with no server.

The pipeline, one module a step: data (the searches as frames) -> verdict, importance
(what they say) -> zoom, figures, parcoords (the plots) -> content, markdown, page (the
writers) -> write (write_report, the entry point).
"""

from __future__ import annotations

from hpsearch.report.content import Report
from hpsearch.report.data import (
    best_value,
    commands,
    epochs_to_reach,
    progress,
    summary,
    trials_frame,
)
from hpsearch.report.figures import PALETTE, _figures
from hpsearch.report.importance import MIN_TRIALS_FOR_IMPORTANCE, importance
from hpsearch.report.markdown import md_table
from hpsearch.report.verdict import next_steps, verdict
from hpsearch.report.write import write_report
from hpsearch.report.zoom import _zoom
from hpsearch.study import IMPORTANCE_METHOD

__all__ = [
    "IMPORTANCE_METHOD",
    "MIN_TRIALS_FOR_IMPORTANCE",
    "PALETTE",
    "Report",
    "_figures",
    "_zoom",
    "best_value",
    "commands",
    "epochs_to_reach",
    "importance",
    "md_table",
    "next_steps",
    "progress",
    "summary",
    "trials_frame",
    "verdict",
    "write_report",
]
