"""index.html: the content and the figures in one offline page (plotly.js inline once)."""

from __future__ import annotations

import html
import time
from typing import Any

from hpsearch.report.content import _Content
from hpsearch.report.data import commands
from hpsearch.study import IMPORTANCE_METHOD

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
@media (max-width:1100px){table{font-size:.75rem}th,td{padding:.25rem .35rem}}
th{background:#f5f5f5}.verdict{background:#f0f7ff;border-left:4px solid #1f77b4;
padding:.6rem 1rem}.table{overflow-x:auto}
pre{background:#f6f8fa;padding:.6rem;white-space:pre-wrap;overflow-wrap:anywhere}
pre.cmd{padding-left:2.2rem;text-indent:-1.6rem;margin-top:.2rem}
pre.cmd .w{display:inline-block;max-width:100%;text-indent:0}p.cmd{margin:.6rem 0 0;
font-size:.85rem;color:#555}
.plot{margin:1rem 0}
"""


def _table_html(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>None.</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape('' if r.get(c) is None else str(r.get(c)))}</td>" for c in cols
        )
        + "</tr>"
        for r in rows
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<div class='table'>{table}</div>"


def _command_html(command: str) -> str:
    """A command that wraps between its words, never at the hyphens inside one (a path
    longer than the line still wraps, anywhere); continuation lines are indented."""
    words = " ".join(f"<span class='w'>{html.escape(w)}</span>" for w in command.split(" "))
    return f"<pre class='cmd'>{words}</pre>"


def _html(c: _Content, figs: list[Any]) -> str:
    title, searches, rows, lines, matrix = c.title, c.searches, c.rows, c.lines, c.matrix
    ranks, rank_note, tips, failed = c.ranks, c.rank_note, c.tips, c.failed
    plots = [
        fig.to_html(
            full_html=False,
            include_plotlyjs=(i == 0),  # plotly.js once, inline: the file works offline
            div_id=f"plot-{i}",
            config={"displaylogo": False},
        )
        for i, fig in enumerate(figs)
    ]
    e = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>{_CSS}</style></head>",
        f"<body data-plots='{len(figs)}'><h1>{e(title)}</h1>",
        f"<p>{len(searches)} search(es) read from MLflow, objective "
        f"<b>{e(searches[0].metric)}</b> ({e(searches[0].direction)}); made "
        f"{time.strftime('%Y-%m-%d %H:%M')}.</p>",
        "<h2>Verdict</h2><div class='verdict'><ul>",
        *[f"<li>{e(line)}</li>" for line in lines],
        "</ul></div>",
        "<h2>Searches</h2>",
        _table_html(rows),
    ]
    if len(matrix) > 1:
        parts += [
            "<h3>Epochs each search needed to reach each search's best</h3>",
            _table_html(matrix),
        ]
    parts += ["<h2>What to try next</h2><ul>", *[f"<li>{e(t)}</li>" for t in tips], "</ul>"]
    parts += ["<h2>Progress</h2>"]
    parts += [f"<div class='plot'>{p}</div>" for p in plots[:3]]
    parts += ["<h2>Learning curves</h2>", f"<div class='plot'>{plots[3]}</div>"]
    rest = plots[4:]
    if rest:
        parts += ["<h2>Hyperparameters</h2>", f"<div class='plot'>{rest[0]}</div>"]
    parts += [
        "<h2>Hyperparameter importance</h2>",
        f"<p>Method: {e(IMPORTANCE_METHOD)}, {e(rank_note)}.</p>",
    ]
    if ranks:
        parts += [f"<div class='plot'>{rest[-1]}</div>"]
    parts += ["<h2>Failed trials</h2>", _table_html(failed), "<h2>Reproduce</h2>"]
    for s in searches:
        original, equivalent = commands(s)
        parts += [f"<h3>{e(s.label)} — MLflow run <code>{e(s.run_id)}</code></h3>"]
        if original:
            parts += ["<p class='cmd'>As it was run:</p>", _command_html(original)]
        parts += [
            "<p class='cmd'>Equivalent, from the settings the run recorded:</p>",
            _command_html(equivalent),
        ]
    parts += ["</body></html>"]
    return "\n".join(parts)
