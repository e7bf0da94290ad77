"""``hpsearch compare``: one space under several strategies and engines at one budget.

The epoch budget is the fair unit (Hyperband spends epochs, not trials); a wall-clock
budget is the alternative. Every search goes into one experiment, tagged with one
comparison id, and the report at the end says who won at the budget and by how much.

By default every comparison also runs the i-epoch baseline (Egele et al., 2023: train each
sampled configuration briefly, continue the best) on Keras Tuner, even when the backends
compared are others: it shows what the trivial multi-fidelity method gets at the budget.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.api import (
    DEFAULT_OUTPUT,
    SearchFailed,
    SearchSummary,
    backend_options,
    budgeted_space,
    load_data,
    make_report,
    run_search,
)
from hpsearch.backends import (
    BACKENDS,
    BASELINE,
    PRUNABLE,
    STRATEGIES,
    engine,
    only_on_phrase,
    preflight,
    runs_on,
    session,
)
from hpsearch.plan import checked_tensorboard, pruner_override
from hpsearch.space import Space, SpaceError, run_command
from hpsearch.trials import SearchCallback

COMPARISON_TAG = "hpsearch.comparison"


@dataclass
class Comparison:
    """What ``compare`` ran and concluded."""

    comparison_id: str
    experiment: str
    runs: list[SearchSummary] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    report: Any = None


def plan(
    strategies: Sequence[str], backends: Sequence[str], *, baseline: bool = False
) -> tuple[list[tuple[str, str]], list[str]]:
    """The (strategy, backend) pairs to run, and the pairs skipped with the reason.

    One-engine strategies (asha and tpe on Ray, i-epoch on Keras Tuner) are skipped on the
    other engine rather than refused, so ``--strategies random,asha --backends
    keras-tuner,ray`` does what it says. With ``baseline`` the BASELINE pair runs too,
    once (listing i-epoch as well runs it once), after the Keras Tuner searches, on Keras
    Tuner even when ``backends`` leaves it out."""
    for name in strategies:
        if name not in STRATEGIES:
            raise SpaceError(
                f"unknown strategy '{name}' (choose from {', '.join(STRATEGIES)})",
                field="--strategies",
            )
    for name in backends:
        if name not in BACKENDS:
            raise SpaceError(
                f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})",
                field="--backends",
            )
    own = [s for s in strategies if not (baseline and s == BASELINE[0])]
    pairs, skipped = [], []
    for backend in dict.fromkeys(backends):
        for strategy in dict.fromkeys(own):
            if not runs_on(strategy, backend):
                skipped.append(f"{strategy} on {backend} ({only_on_phrase(strategy)})")
            else:
                pairs.append((strategy, backend))
    if not pairs and len(own) == len(strategies):  # the baseline alone compares nothing
        raise SpaceError("no strategy can run on the backends given", field="--strategies")
    if baseline:
        kt = [n + 1 for n, (_, b) in enumerate(pairs) if b == BASELINE[1]]
        pairs.insert(kt[-1] if kt else len(pairs), BASELINE)
    return pairs, skipped


def baseline_problem(space: Space) -> str | None:
    """Why ``space`` cannot run the i-epoch baseline (a cross-validated objective, or too
    few epochs to continue anything), or None."""
    try:
        space.with_overrides(strategy=BASELINE[0], backend=BASELINE[1], pruner="none")
    except SpaceError as exc:
        return exc.problem
    return None


def compare(
    space: Space,
    *,
    strategies: Sequence[str],
    backends: Sequence[str],
    budget_epochs: int | None = None,
    budget_seconds: float | None = None,
    seed: int | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    output: str | Path = DEFAULT_OUTPUT,
    report_dir: str | Path | None = None,
    callbacks: Iterable[SearchCallback] = (),
    ray_options: dict[str, Any] | None = None,
    on_start: Any = None,
    verbose: bool = False,
    baseline: bool = False,
    pruner: str | None = None,
    tensorboard: str | Path | None = None,
) -> Comparison:
    """Run every (strategy, backend) pair one after another at the same budget and seed,
    then write the comparison report. A search that fails is noted and the rest go on.
    ``baseline`` adds the i-epoch baseline (see plan), unless the space cannot run it
    (then it is skipped with the reason). ``tensorboard`` (else the space's
    ``tracking.tensorboard``) gets every search's TensorBoard files, side by side."""
    if budget_epochs is None and budget_seconds is None:
        raise SpaceError("give --budget-epochs or --budget-time", field="--budget-epochs")
    base = space.with_overrides(seed=seed)
    prunes = _pruner_of(base, pruner)  # --pruner over the file's: prunable strategies only
    if pruner == "median" and not any(s in PRUNABLE for s in strategies):
        raise SpaceError(
            f"none of {', '.join(strategies)} can be pruned (a pruner stops trials of "
            f"{', '.join(PRUNABLE)})",
            field="--pruner",
        )
    problem = baseline_problem(base) if baseline else None
    pairs, skipped = plan(strategies, backends, baseline=baseline and problem is None)
    if problem:
        skipped.append(f"the {BASELINE[0]} baseline ({problem})")
    budgeted_space(base, budget_epochs=budget_epochs, budget_seconds=budget_seconds)
    # every search's space before any runs: a pair this space cannot run is refused now
    spaces = [
        budgeted_space(
            base.with_overrides(
                strategy=strategy,
                backend=backend,
                pruner=prunes if strategy in PRUNABLE else "none",
            ),
            budget_epochs=budget_epochs,
            budget_seconds=budget_seconds,
        )
        for strategy, backend in pairs
    ]
    for backend in dict.fromkeys(b for _, b in pairs):  # a refusing cluster: before any run
        preflight(backend, _options_for(backend, ray_options or {}))
    checked_tensorboard(base, tensorboard)  # a bad folder: before any run too
    from hpsearch.tracking import preflight as reachable
    from hpsearch.tracking import resolve_tracking_uri

    reachable(resolve_tracking_uri(tracking_uri))  # an unreachable server: before the data
    load_data(base)  # bad data (a CSV's columns, Wide & Deep's): too; cached for the searches
    stamp = time.strftime("%Y%m%d-%H%M%S")
    cid = f"cmp-{stamp}-{secrets.token_hex(2)}"
    result = Comparison(cid, experiment or space.name, skipped=skipped)
    held: set[str] = set()
    with ExitStack() as stack:  # one engine session (Ray) for all its searches
        for (strategy, backend), s in zip(pairs, spaces, strict=True):
            options = _options_for(backend, ray_options or {})
            if backend not in held:
                held.add(backend)
                _hold(stack, backend, options, verbose)
            if on_start:
                on_start(strategy, backend)
            try:
                summary = run_search(
                    s,
                    tracking_uri=tracking_uri,
                    experiment=result.experiment,
                    output=output,
                    callbacks=callbacks,
                    verbose=verbose,
                    options=options,
                    budget_epochs=budget_epochs,
                    budget_seconds=budget_seconds,
                    tags={COMPARISON_TAG: cid},
                    tensorboard=tensorboard,
                    command=_command(
                        s, budget_epochs, budget_seconds, result.experiment, prunes is not None
                    ),
                )
            except SearchFailed as exc:
                result.failed.append(f"{strategy} on {backend}: {exc}")
                continue
            result.runs.append(summary)
    folder = Path(report_dir) if report_dir else DEFAULT_OUTPUT / f"{result.experiment}-{cid}"
    budget = f"{budget_epochs} epochs" if budget_epochs else f"{budget_seconds:g} s"
    result.report = make_report(
        experiment=result.experiment,
        tracking_uri=tracking_uri,
        output=folder,
        title=f"hpsearch compare: {result.experiment} at a budget of {budget}",
        tags={COMPARISON_TAG: cid},
    )
    return result


def _options_for(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """The engine options ``compare`` was given that ``backend`` takes (the registry says
    which): ``--address`` reaches the Ray searches, not the Keras Tuner ones."""
    return backend_options(
        backend, **{k: v for k, v in options.items() if k in engine(backend).options}
    )


def _hold(stack: ExitStack, backend: str, options: dict[str, Any], verbose: bool) -> None:
    """Start (or join) the engine once for the comparison's searches on it (Ray's start and
    stop cost seconds a search). If that fails, each search starts the engine itself and
    reports the failure as its own, with its parent run."""
    with suppress(Exception):  # the search's own start reports it
        stack.enter_context(session(backend, verbose=verbose, **options))


def _pruner_of(space: Space, flag: str | None) -> Any:
    """The pruner a comparison's prunable searches run with, as ``with_overrides`` takes it:
    ``--pruner`` (median keeps the file's settings), else the file's own; None for none."""
    if flag is not None and flag not in ("median", "none"):
        raise SpaceError(f"unknown pruner '{flag}'; choose from median, none", field="--pruner")
    if flag is not None:
        return pruner_override(space, flag)
    return space.search.pruner.model_dump() if space.search.pruner else None


def _command(
    space: Space,
    budget_epochs: int | None,
    budget_seconds: float | None,
    experiment: str,
    pruner: bool = False,
) -> str:
    """The ``hpsearch run`` that repeats one search of the comparison on its own; with
    ``pruner`` (the comparison had one), it says ``--pruner`` median or none."""
    s = space.search
    return run_command(
        space.source or "SPACE.yaml",
        strategy=s.strategy,
        backend=s.backend,
        seed=s.seed,
        experiment=experiment,
        epochs=space.training.epochs,
        max_epochs=s.hyperband.max_epochs,
        budget_epochs=budget_epochs,
        budget_seconds=None if budget_seconds is None else f"{budget_seconds:g}",
        pruner=("median" if s.pruner else "none") if pruner else None,
    )
