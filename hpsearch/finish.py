"""After a search: the final fit of its best trial (``run --final-fit``) and the search's
own report (``run --report``), as library steps the CLI calls once ``run_search`` returns.

The final fit's errors come through as raised (``NoSearches``, ``SpaceError``,
``DataError``: bad input; ``TrackingUnavailable``, ``RefitFailed``: a failed run), so the
caller can say they came from ``--final-fit``. The report never fails the search: it is a
warning on the summary, since the trials are safe in MLflow and trials.csv.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpsearch.api import SearchSummary


@dataclass
class Finished:
    """What the steps after a search made: the final fit (``RefitResult.as_json()``) and
    the report's index.html, each None when not asked for or not made."""

    final_fit: dict[str, Any] | None = None
    report: str | None = None


def finish(
    summary: SearchSummary, *, final_fit: bool, report: bool, verbose: bool = False
) -> Finished:
    """The final fit first (its failure ends the command before a report is written),
    then the report; a report's failure is appended to ``summary.warnings``."""
    fitted = refit_best(summary, verbose=verbose) if final_fit else None
    html = search_report(summary) if report else None
    return Finished(final_fit=fitted, report=html)


def refit_best(summary: SearchSummary, *, verbose: bool = False) -> dict[str, Any]:
    """Refit the best trial of the search just run (see hpsearch.refit)."""
    from hpsearch.refit import final_fit

    result = final_fit(summary.parent_run_id, tracking_uri=summary.tracking_uri, verbose=verbose)
    return result.as_json()


def search_report(summary: SearchSummary) -> str | None:
    """The one-search report, logged on the parent run; a report that cannot be made is a
    warning, never a failed search (its trials are safe in MLflow and trials.csv)."""
    from hpsearch.api import make_report

    if any(w.startswith("MLflow stopped answering") for w in summary.warnings):
        return None  # the report reads MLflow: --resume re-syncs it first
    try:
        made = make_report(
            run_ids=[summary.parent_run_id],
            tracking_uri=summary.tracking_uri,
            output=summary.workdir / "report",
            artifact_path="report",
            title=f"hpsearch report: {summary.experiment} / {summary.parent_run_id[:8]}",
        )
    except Exception as exc:  # noqa: BLE001 - any failure here must not lose the search
        summary.warnings.append(f"no report: {type(exc).__name__}: {exc}")
        return None
    return str(made.html)
