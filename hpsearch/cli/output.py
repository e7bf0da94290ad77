"""Everything the commands print: one-line errors, status and warning lines, the data
summary, the table of top trials, and each command's result, as text or as JSON."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer

from hpsearch.errors import DataError
from hpsearch.space import Space
from hpsearch.trials import FAILED, FINISHED, PRUNED, status_counts

Errors = tuple[type[BaseException], ...]


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and an exit code: never a traceback for bad input."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def failing(
    usage: Errors = (), failed: Errors = (), prefix: str = "", space: Space | None = None
) -> Iterator[None]:
    """Turn the ``usage`` errors into one line and exit 2, the ``failed`` ones into one
    line and exit 1; anything else goes on to ``main()`` as an unexpected error. With
    ``space``, a DataError points at the line of the setting at fault."""
    try:
        yield
    except usage as exc:
        if space is not None and isinstance(exc, DataError):  # found once the data is read
            fail(str(space.error_at(exc.field, str(exc))))
        fail(f"{prefix}{exc}")
    except failed as exc:
        fail(f"{prefix}{exc}", code=1)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, default=str))


def print_log(line: str) -> None:
    """A timestamped line on stderr: a sweep's log."""
    typer.echo(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {line}", err=True)


def print_status(text: str) -> None:
    """What the run is doing before its first trial, for someone watching a terminal (a
    log or a pipe gets the data summary and the trials, and an error as its one line)."""
    if sys.stderr.isatty():
        typer.echo(f"{text} ...", err=True)


def print_warning(text: str) -> None:
    typer.echo(f"warning: {text}", err=True)


def print_data(summary: Any) -> None:
    """The data summary in one or two lines, and its warnings, before training starts."""
    for line in summary.brief():
        typer.echo(line, err=True)
    for warning in summary.warnings:
        typer.echo(f"warning: {warning}", err=True)


def print_top(frame: Any, space: Space, k: int = 5) -> None:
    """The top-k finished trials as a plain table."""
    done = frame[frame["status"] == FINISHED]
    ended = [st if st == PRUNED else FAILED for st in frame["status"] if st != FINISHED]
    others = status_counts(ended)  # "2 failed", or "2 failed, 3 pruned"
    asc = space.objective.direction == "min"
    top = done.sort_values("objective", ascending=asc).head(k)
    cols = [
        "trial_id",
        "objective",
        "epochs",
        "seconds",
        *[f"params.{n}" for n in space.searched()],
    ]
    shown = top[cols].rename(columns=lambda c: c.removeprefix("params."))
    shown = shown.rename(columns={"objective": space.objective.metric})
    typer.echo(f"\ntop {len(shown)} of {len(frame)} trials ({others}):")
    typer.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


# ----------------------------------------------------------------------------- validate


def sections(s: Space) -> tuple[str, ...]:
    """The search.<section>s the chosen strategy reads (others are kept, unused): bohb runs
    Hyperband's brackets, so it reads search.hyperband too."""
    return {
        "hyperband": ("hyperband",),
        "asha": ("hyperband",),
        "bayesian": ("bayesian",),
        "bohb": ("hyperband", "bohb"),
        "i-epoch": ("i_epoch",),
    }.get(s.search.strategy, ())


def validate_json(s: Space, summary: Any) -> dict[str, Any]:
    """``validate --json``: the parsed space, and the data summary with ``--data``."""
    params = {k: p.model_dump() | {"kind": type(p).__name__} for k, p in s.params.items()}
    out: dict[str, Any] = {
        "name": s.name,
        "dataset": s.dataset.name,
        "size": s.size(),
        "objective": s.objective.model_dump(),
        "params": params,
        "applies": ", ".join(sections(s)) or None,
        "model": s.model.model_dump() if s.model else None,
    }
    if summary is not None:
        out["data"] = summary.as_json()
    return out


def print_validate(path: Path, s: Space, summary: Any) -> None:
    """The space's parameters, its size, the search it sets up, and the data summary."""
    size = s.size()
    size_text = f"{size:,} configurations" if size is not None else "continuous"
    typer.echo(
        f"{path}: ok — {s.name} on {s.dataset.name}, "
        f"{s.objective.direction}imise {s.objective.metric}"
    )
    width = max(len(k) for k in s.params)
    for name, p in s.params.items():
        typer.echo(f"  {name:<{width}}  {p.describe()}")
    if s.model is not None and s.model.is_set():  # Wide & Deep's columns
        paths = [(k, getattr(s.model, k)) for k in ("wide_features", "deep_features")]
        typer.echo(
            "model: "
            + "; ".join(f"{k} {', '.join(map(str, v)) if v else 'every input'}" for k, v in paths)
        )
    search = s.search
    typer.echo(f"space size: {size_text}")
    budget = f"{search.max_trials} trials"
    full = s.hyperband_schedule()
    if full is not None:
        budget = f"{min(full, search.max_trials)} trials (schedule {full}, max_trials caps it)"
    if search.strategy == "i-epoch":
        sampled, kept = s.i_epoch_rounds()
        budget = (
            f"{sampled + kept} trials ({sampled} at {search.i_epoch.epochs} epochs, then the "
            f"best {kept} continued to {s.full_epochs()})"
        )
    if search.strategy == "grid":
        sides = " x ".join(str(p.count()) for p in s.searched().values())
        budget = f"{size:,} trials (the whole grid: {sides})"
    applies = " and ".join(f"search.{name}" for name in sections(s))
    typer.echo(
        f"search: {search.strategy} on {search.backend}, {budget}, "
        f"{s.training.epochs} epochs, seed {search.seed}"
        + (f"; settings from {applies}" if applies else "")
    )
    if search.pruner is not None:
        typer.echo(
            f"pruner: {search.pruner.rule}: a trial stops when its best {s.objective.metric} is "
            f"worse than the median of the other trials' at the same epoch, after "
            f"{search.pruner.warmup_epochs} warm-up epoch(s), once {search.pruner.min_trials} "
            "other trial(s) reached it"
        )
    if summary is not None:
        for line in summary.lines():
            typer.echo(line)


# ----------------------------------------------------------------------------- search


def print_run(summary: Any, s: Space, finished: Any, *, as_json: bool, verbose: bool) -> None:
    """A finished search: its warnings, then the top trials, the best params and where
    everything went (or one JSON object with ``--json``)."""
    refit = finished.final_fit
    for warning in summary.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        extra: dict[str, Any] = {"report": finished.report}
        if refit is not None:
            extra["final_fit"] = refit
        print_json(summary.as_json() | extra)
        return
    print_top(summary.frame, s)
    searched, fixed = summary.best_params()
    typer.echo(f"\nbest: {json.dumps(searched, default=str)}")
    if verbose and fixed:
        typer.echo(f"fixed: {json.dumps(fixed, default=str)}")
    typer.echo(f"trials: {summary.trials_csv}")
    if refit is not None:
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in refit["test_metrics"].items())
        typer.echo(f"final fit: {metrics}; model {refit['registered_uri'] or refit['model_uri']}")
    if finished.report:
        typer.echo(f"report: {finished.report}")
    typer.echo(
        f"mlflow: experiment '{summary.experiment}', parent run {summary.parent_run_id} "
        f"at {summary.as_json()['tracking_uri']} (open it with: hpsearch ui)"
    )


def print_compare_start(strategy: str, backend: str) -> None:
    typer.echo(f"compare: {strategy} on {backend}", err=True)


def print_compare(result: Any, searches: int, *, as_json: bool) -> None:
    """A comparison: what was skipped or failed, then its verdict and report."""
    for note in result.skipped:
        typer.echo(f"skipped: {note}", err=True)
    for note in result.failed:
        typer.echo(f"failed: {note}", err=True)
    if as_json:
        print_json(
            {
                "comparison": result.comparison_id,
                "experiment": result.experiment,
                "searches": [r.as_json() for r in result.runs],
                "verdict": result.report.verdict,
                "report": str(result.report.html),
            }
        )
        return
    typer.echo(f"comparison {result.comparison_id}: {searches} searches")
    for line in result.report.verdict:
        typer.echo(line)
    typer.echo(f"report: {result.report.html}")


# ----------------------------------------------------------------------------- read back


def print_best(
    top: dict[str, Any], searched: dict[str, Any], fixed: dict[str, Any], *, verbose: bool
) -> None:
    """The best trial: its value, the searched params (the fixed ones with --verbose)
    and where its run and model are."""
    typer.echo(
        f"best {top['metric']} = {top['value']:.4f}: trial {top['trial_id']} of "
        f"{top['strategy']}/{top['backend']} search {top['parent_run_id']} "
        f"(experiment '{top['experiment']}')"
    )
    for key, value in searched.items():
        typer.echo(f"  {key} = {value}")
    if fixed and verbose:
        typer.echo("fixed:")
        for key, value in fixed.items():
            typer.echo(f"  {key} = {value}")
    elif fixed:
        typer.echo(f"  ({len(fixed)} fixed settings: --verbose lists them)")
    typer.echo(f"trial run: {top['trial_run_id']}")
    typer.echo(f"model: {top['model_uri'] or 'not logged for this trial'}")


def print_report(made: Any) -> None:
    for line in made.verdict:
        typer.echo(line)
    typer.echo(f"report: {made.html}")
    typer.echo(f"        {made.markdown}")
    typer.echo(f"        {made.csv}")


# ----------------------------------------------------------------------------- tools


def print_refit(result: Any) -> None:
    """The refit: what it trained on, its test scores and where the model went."""
    typer.echo(
        f"refit trial {result.trial_id} of search {result.parent_run_id} "
        f"('{result.experiment}') on train+valid: {result.train_rows} rows, "
        f"{result.epochs} epochs ({result.seconds:.0f} s)"
    )
    scores = "  ".join(f"{k} = {v:.4f}" for k, v in result.test_metrics.items())
    typer.echo(f"test ({result.test_rows} rows): {scores}")
    typer.echo(f"model: {result.model_uri}")
    if result.registered_uri:
        typer.echo(f"registered: {result.registered_uri}")


def print_lr_find(done: Any) -> None:
    """The sweep, the suggested rate and where the plot, the curve and the run are."""
    r = done.result
    ended = f"the loss blew up at lr {r.stop_lr:.3g}" if r.stop_lr else "no blow-up"
    typer.echo(
        f"lr-find: {r.space} ({r.dataset}), {r.params.get('optimizer')}, batch "
        f"{r.params.get('batch_size')}: {r.steps} of {r.planned_steps} steps from "
        f"{r.min_lr:g} to {r.max_lr:g} in {r.seconds:.1f} s; {ended}"
    )
    typer.echo(f"suggested learning rate: {r.suggestion:.3g} ({r.rule_text})")
    typer.echo(
        f"min-loss lr / 10:        {r.min_lr_over_10:.3g} (lowest smoothed loss "
        f"{r.min_loss:.4g} at lr {r.lr_at_min_loss:.3g})"
    )
    typer.echo(f"plot: {done.files['png']}")
    typer.echo(f"curve: {done.files['csv']}")
    typer.echo(
        f"mlflow: experiment '{done.experiment}', run {done.run_id} at "
        f"{done.as_json()['tracking_uri']} (open it with: hpsearch ui)"
    )
