"""report.md: the same content as the page, as GitHub Markdown."""

from __future__ import annotations

import math
import time
from typing import Any

from hpsearch.report.content import _Content
from hpsearch.report.data import commands
from hpsearch.study import IMPORTANCE_METHOD


def md_table(rows: list[dict[str, Any]]) -> str:
    """A GitHub Markdown table (pipes escaped); empty string for no rows."""
    if not rows:
        return ""
    cols = list(rows[0])

    def cell(v: Any) -> str:
        text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        return text.replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def _markdown(c: _Content) -> str:
    title, searches, rows, lines, matrix = c.title, c.searches, c.rows, c.lines, c.matrix
    ranks, rank_note, tips, failed = c.ranks, c.rank_note, c.tips, c.failed
    out = [
        f"# {title}",
        "",
        f"Made {time.strftime('%Y-%m-%d %H:%M')} from MLflow; "
        f"{len(searches)} search(es), objective {searches[0].metric} "
        f"({searches[0].direction}).",
        "",
        "## Searches",
        "",
        md_table(rows),
        "",
    ]
    out += ["## Verdict", "", *[f"- {line}" for line in lines], ""]
    if len(matrix) > 1:
        out += [
            "### Epochs each search needed to reach each search's best",
            "",
            md_table(matrix),
            "",
        ]
    out += ["## Hyperparameter importance", "", f"Method: {IMPORTANCE_METHOD}, {rank_note}.", ""]
    if ranks:
        out += [
            md_table([{"hyperparameter": k, "importance": f"{v:.3f}"} for k, v in ranks.items()]),
            "",
        ]
    out += ["## What to try next", "", *[f"- {t}" for t in tips], ""]
    out += ["## Failed trials", ""]
    out += [md_table(failed) if failed else "None.", ""]
    out += ["## Reproduce", ""]
    for s in searches:
        original, equivalent = commands(s)
        block = [*(["# as it was run", original] if original else []), equivalent]
        if original:
            block[2:2] = ["# equivalent, from the settings the run recorded"]
        out += [f"{s.label}:", "", "```", *block, "```", ""]
    return "\n".join(out)
