"""Search efficiency (P3): which strategy finds a good model for the least compute.

Every strategy on both engines, plus compare's i-epoch baseline, on tasks picked because the
strategy matters on them (``benchmarks/tasks/*.yaml``; each file says why), per seed, at two
epoch budgets: one ``hpsearch compare --budget-epochs B`` per (task, seed) at the largest
budget, each search a real budgeted one with its own store. A smaller budget is read off
those runs (with the seed fixed, a smaller budget trains the same trials in the same order
and stops sooner; checked where both ran), except for i-epoch, which sizes its first round
by its budget and so runs at each. Epochs are counted, not seconds, so machine load
does not change the figures, and units run side by side (``--jobs``). Ray runs as many trials
at once as its CPUs allow (2 here) with no ``--max-concurrent``: under a limit, a trial that
Hyperband (or BOHB) pauses at a rung keeps its slot, so a rung is halved among at most that
many trials and the two strategies degrade to little more than random search.

Reports per task and budget, over seeds: each strategy's median best (IQR) at the budget,
and epochs to reach the median final best of random search on Keras Tuner (median, IQR,
how many seeds reached it; a seed that never did counts as infinitely late), as a fraction
of random's own. Per task it also says why the task is hard: the spread of random trials'
final scores, and Spearman's rho between a trial's score after 1 and 3 epochs and its final
score. One plot per task (median best-so-far against epochs, a line per strategy) goes to
``--plots``. Goal: on at least 2 of the tasks the best strategy reaches random's median final
best in <= 1/3 of random's epochs and beats it at equal budget.

    python benchmarks/search_efficiency.py [--tasks digits-wide madelon friedman]
        [--seeds 1 2 3 4 5] [--budget 27 81] [--jobs 2] [--work DIR] [--plots docs]

Units already in ``--work`` are read, not re-run (a long study can be resumed; ``make
bench-study`` keeps them in benchmarks/results/p3). Prints a table per task and budget, and
one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
from efficiency_stats import (  # this script's folder: run it as a script, as make does
    best_at,
    curve,
    median_curve,
    rank_agreement,
    spread,
    summarize,
    truncate,
)

from hpsearch.tracking import load_searches

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "benchmarks" / "tasks"
STRATEGIES = "random,hyperband,bayesian,asha,tpe,bohb"
BACKENDS = "keras-tuner,ray"
REFERENCE = "random/keras-tuner"
#: Strategies whose plan depends on the budget (i-epoch sizes its first round by it): they
#: run at every budget; the others run at the largest only.
PLANS_BY_BUDGET = ("i-epoch",)
TRIAL_COLUMNS = ["trial_id", "status", "epochs", "objective", "ended_s"]


def make_data(folder: Path) -> None:
    """The CSV tasks' data, from scikit-learn's published generators, seeded (fixed data:
    the seeds vary the searches, not the task)."""
    from sklearn.datasets import make_classification, make_friedman1

    if not (folder / "madelon.csv").exists():  # MADELON's recipe (Guyon et al., NIPS 2003)
        x, y = make_classification(n_samples=2600, n_features=500, n_informative=5,
                                   n_redundant=15, n_repeated=0, n_classes=2,
                                   n_clusters_per_class=16, class_sep=1.0, flip_y=0.01,
                                   hypercube=True, random_state=0)  # fmt: skip
        frame = pd.DataFrame(x, columns=[f"f{i:03d}" for i in range(x.shape[1])])
        frame.assign(label=y).to_csv(folder / "madelon.csv", index=False)
    if not (folder / "friedman.csv").exists():
        x, y = make_friedman1(n_samples=2000, n_features=10, noise=1.0, random_state=0)
        frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
        frame.assign(y=y).to_csv(folder / "friedman.csv", index=False)


def run_unit(
    task: str,
    seed: int,
    budget: int,
    strategies: str,
    work: Path,
    no_baseline: bool = False,
    backends: str = BACKENDS,
) -> dict[str, Any]:
    """One compare of ``strategies`` on both engines (and compare's i-epoch baseline) at one
    budget, read back into a JSON file of its own (trial tables and objective curves) that
    later runs reuse: a study can be run in parts, and resumed."""
    tag = "" if strategies == STRATEGIES else "-" + strategies.replace(",", "+")
    tag += "" if backends == BACKENDS else "-" + backends.replace(",", "+")
    done = work / "units" / f"{task}-s{seed}-b{budget}{tag}.json"
    if done.exists():
        return dict(json.loads(done.read_text()))
    folder = work / "runs" / done.stem
    shutil.rmtree(folder, ignore_errors=True)  # a unit cut short starts again
    folder.mkdir(parents=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "hpsearch.cli", "compare", str(work / f"{task}.yaml"),
           "--strategies", strategies, "--backends", backends,
           "--budget-epochs", str(budget), "--seed", str(seed),
           "--tracking-uri", uri, "--experiment", "p3", "--output", str(folder / "out"),
           "--json", *(["--no-baseline"] if no_baseline else [])]  # fmt: skip
    began = time.perf_counter()
    ran = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=4 * 3600)
    failed = [ln[len("failed: ") :] for ln in ran.stderr.splitlines() if ln.startswith("failed: ")]
    if ran.returncode != 0 and not (ran.returncode == 1 and failed):
        raise SystemExit(f"compare failed for {done.stem}:\n{ran.stderr[-3000:]}")
    searches = []
    for s in load_searches(experiment="p3", tracking_uri=uri):
        if s.status != "FINISHED":
            continue
        searches.append({
            "label": f"{s.strategy}/{s.backend}", "direction": s.direction,
            "trials": s.trials[TRIAL_COLUMNS].to_dict(orient="list"),
            "curves": {k: list(v) for k, v in s.curves.items()},
        })  # fmt: skip
    unit = {"task": task, "seed": seed, "budget": budget, "failed": failed,
            "wall_s": round(time.perf_counter() - began, 1), "searches": searches}  # fmt: skip
    done.parent.mkdir(exist_ok=True)
    done.write_text(json.dumps(unit))
    return unit


def merged(work: Path, task: str, seed: int) -> dict[int, dict[str, Any]]:
    """Every unit file of (task, seed), by budget: each budget's searches by label (a label
    run twice keeps its latest run) and the failures its compares listed."""
    out: dict[int, dict[str, Any]] = {}
    parts = sorted(
        (work / "units").glob(f"{task}-s{seed}-b*.json"), key=lambda p: p.stat().st_mtime
    )
    for part in parts:
        unit = json.loads(part.read_text())
        slot = out.setdefault(unit["budget"], {"searches": {}, "failed": []})
        slot["searches"] |= {s["label"]: s for s in unit["searches"]}
        slot["failed"] += unit["failed"]
    return out


def at_budget(units: dict[int, dict[str, Any]], budget: int) -> dict[str, Any]:
    """(task, seed)'s searches as at ``budget`` epochs: a strategy that plans by its budget
    (PLANS_BY_BUDGET) ran at each budget; every other one ran once, at the largest, and is
    read off that run's first ``budget`` epochs (with the seed fixed, a search under a
    smaller budget trains the same trials in the same order, and stops earlier)."""
    top = max(units)
    out = {}
    for label, s in units[top]["searches"].items():
        if label.split("/")[0] in PLANS_BY_BUDGET and budget != top:
            continue
        trials = pd.DataFrame(s["trials"])
        out[label] = s | {"table": trials if budget == top else truncate(trials, budget)}
    for label, s in units.get(budget, {"searches": {}})["searches"].items():
        if label.split("/")[0] in PLANS_BY_BUDGET:
            out[label] = s | {"table": pd.DataFrame(s["trials"])}
    return out


Units = dict[int, dict[int, dict[str, Any]]]  # seed -> budget -> searches, failures


def task_facts(units: Units) -> dict[str, Any]:
    """Why a task is hard, from its random searches at the largest budget: the spread of
    finished trials' scores, and how well 1 and 3 epochs rank configurations."""
    objectives: list[float] = []
    curves: dict[str, list[tuple[int, float]]] = {}
    for seed, by_budget in units.items():
        for label, s in by_budget[max(by_budget)]["searches"].items():
            if label.startswith("random/"):
                t = pd.DataFrame(s["trials"])
                objectives += t.loc[t["status"] == "FINISHED", "objective"].dropna().tolist()
                for tid, points in s["curves"].items():
                    curves[f"{seed}-{label}-{tid}"] = [tuple(p) for p in points]
    sp = spread(objectives)
    quantiles = pd.Series(objectives).quantile([0.1, 0.9]).round(4).tolist() if objectives else []
    return {
        "random_trials": len(objectives),
        "objective_median_iqr": sp.text() if sp else None,
        "objective_p10_p90": quantiles,
        "rho_epoch1_final": rank_agreement(curves, 1),
        "rho_epoch3_final": rank_agreement(curves, 3),
    }


def analyse(units: Units, budgets: list[int]) -> dict[str, Any]:
    """The task's tables: per budget, the summary rows (see efficiency_stats.summarize)."""
    out: dict[str, Any] = {"facts": task_facts(units), "budgets": {}}
    for budget in budgets:
        runs: dict[str, list[tuple[pd.DataFrame, str]]] = {}
        for by_budget in units.values():
            for label, s in sorted(at_budget(by_budget, budget).items()):
                runs.setdefault(label, []).append((s["table"], s["direction"]))
        rows, target = summarize(runs, REFERENCE, budget)
        out["budgets"][budget] = {"target": target, "rows": rows}
    return out


def truncation_check(units: Units) -> list[str]:
    """Where a smaller budget also ran for real (a study run in parts), whether reading the
    largest budget's run gives the same best: the premise of at_budget, checked."""
    notes = []
    for seed, by_budget in units.items():
        top = max(by_budget)
        for budget, slot in by_budget.items():
            for label, s in slot["searches"].items():
                if budget == top or label.split("/")[0] in PLANS_BY_BUDGET:
                    continue
                big = by_budget[top]["searches"].get(label)
                if big is None:
                    continue
                real = best_at(pd.DataFrame(s["trials"]), s["direction"], budget + 2)
                read = best_at(
                    truncate(pd.DataFrame(big["trials"]), budget), s["direction"], budget
                )
                notes.append(f"s{seed} {label} at {budget}: ran {real}, read {read}")
    return notes


def plot(task: str, units: Units, folder: Path) -> Path:
    """Median best-so-far against epochs at the largest budget, one line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = max(b for by_budget in units.values() for b in by_budget)
    grid = list(range(1, top + 1))
    by_label: dict[str, list[list[float | None]]] = {}
    direction = "max"
    for by_budget in units.values():
        for label, s in at_budget(by_budget, top).items():
            direction = s["direction"]
            by_label.setdefault(label, []).append(curve(s["table"], direction, grid))
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    names = STRATEGIES.split(",") + list(PLANS_BY_BUDGET)
    colours = dict(zip(names, plt.get_cmap("tab10").colors[: len(names)], strict=True))
    for label in sorted(by_label):
        ys = median_curve(by_label[label])
        strategy, engine = label.split("/")
        ax.plot(grid, [float("nan") if y is None else y for y in ys],
                "-" if engine == "keras-tuner" else "--", color=colours.get(strategy),
                lw=2.6 if strategy in ("random", *PLANS_BY_BUDGET) else 1.5,
                label=label, drawstyle="steps-post")  # fmt: skip
    ax.set(xlabel="epochs trained (all trials)",
           ylabel=f"median best so far ({'higher' if direction == 'max' else 'lower'} is better)",
           title=f"P3 {task}: median of {len(units)} seeds, budget {top} epochs")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, title="solid: Keras Tuner, dashed: Ray", title_fontsize=7)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"p3-{task}.png"
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    """Per task at the largest budget: the strategy that reached random's median final best
    in the fewest epochs, and whether it met the goal (<= 1/3 of random's epochs, and a
    median best better than random's at the budget). The recommended default is the
    strategy with the lowest median fraction of random's epochs over the tasks (a task it
    never reached counts as infinitely slow)."""
    per_task: dict[str, Any] = {}
    fractions: dict[str, list[float]] = {}
    for task, result in results.items():
        rows = result["budgets"][max(result["budgets"])]["rows"]
        sign = 1.0 if result["direction"] == "max" else -1.0
        ref = rows.get(REFERENCE, {}).get("median_best")
        for label, r in rows.items():
            if label != REFERENCE:
                fractions.setdefault(label, []).append(r["fraction_of_reference"] or math.inf)
        ranked = sorted((fractions[k][-1], k) for k in rows if k != REFERENCE)
        fraction, best = ranked[0] if ranked else (math.inf, None)
        mine = rows[best]["median_best"] if best else None
        beats = bool(mine and ref and sign * mine.median > sign * ref.median)
        met = fraction <= 1 / 3 and beats
        per_task[task] = {"best": best, "fraction": None if math.isinf(fraction) else fraction,
                          "beats_random": beats, "met": met}  # fmt: skip
    recommended = min(fractions, key=lambda k: (statistics.median(fractions[k]), k), default=None)
    return {"per_task": per_task, "met_on": sum(v["met"] for v in per_task.values()),
            "recommended": recommended}  # fmt: skip


def print_task(task: str, result: dict[str, Any]) -> None:
    print(f"\n== {task}: {json.dumps(result['facts'])}")
    for budget, b in result["budgets"].items():
        table = {label: {"median best [IQR]": r["median_best"].text() if r["median_best"] else "-",
                         "epochs to reach": r["reach"],
                         "reach IQR": r["reach_iqr"].text(3) if r["reach_iqr"] else "-",
                         "reached": r["reached"], "x random": r["fraction_of_reference"]}
                 for label, r in b["rows"].items()}  # fmt: skip
        print(f"-- budget {budget} epochs; target (random median final best): {b['target']}")
        print(pd.DataFrame(table).T.to_string())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", nargs="+", default=["digits-wide", "madelon", "friedman"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--budget", type=int, nargs="+", default=[27, 81])
    parser.add_argument("--jobs", type=int, default=2, help="units run side by side")
    parser.add_argument("--strategies", default=STRATEGIES, help="run only these (in parts)")
    parser.add_argument("--backends", default=BACKENDS, help="run only these (in parts)")
    parser.add_argument("--no-baseline", action="store_true", help="compare without i-epoch")
    parser.add_argument("--no-run", action="store_true", help="only read the units in --work")
    parser.add_argument("--work", type=Path, help="keep units here (default: a fresh temp dir)")
    parser.add_argument("--plots", type=Path, default=None, help="folder for one PNG per task")
    args = parser.parse_args()
    if args.work is None:  # a quick run measures afresh; a study names its folder to resume
        args.work = Path(tempfile.mkdtemp(prefix="hpsearch-p3-"))
    args.work.mkdir(parents=True, exist_ok=True)
    for task in args.tasks:
        shutil.copy(TASKS / f"{task}.yaml", args.work / f"{task}.yaml")
    make_data(args.work)
    began = time.perf_counter()
    top = max(args.budget)
    units = [(t, s, top, args.strategies) for t in args.tasks for s in args.seeds]
    units += [(t, s, b, ",".join(PLANS_BY_BUDGET)) for t in args.tasks for s in args.seeds
              for b in args.budget if b != top and not args.no_baseline]  # fmt: skip
    with ThreadPoolExecutor(args.jobs) as pool:
        if not args.no_run:
            list(
                pool.map(lambda u: run_unit(*u, args.work, args.no_baseline, args.backends), units)
            )
    results: dict[str, Any] = {}
    failed: list[str] = []
    for task in args.tasks:
        mine = {seed: m for seed in args.seeds if (m := merged(args.work, task, seed))}
        if len(mine) < len(args.seeds):  # --no-run on a study cut short: say what is missing
            print(f"{task}: no units for seeds {sorted(set(args.seeds) - set(mine))}")
        if not mine:
            continue
        results[task] = analyse(mine, sorted(args.budget))
        results[task]["direction"] = next(
            s["direction"] for by_b in mine.values() for slot in by_b.values()
            for s in slot["searches"].values()
        )  # fmt: skip
        print_task(task, results[task])
        for note in truncation_check(mine):
            print(f"  read-off check: {note}")
        failed += [f"{task} s{seed} b{b}: {f}" for seed, by_b in mine.items()
                   for b, slot in by_b.items() for f in slot["failed"]]  # fmt: skip
        if args.plots:
            print(f"plot: {plot(task, mine, args.plots)}")
    decision = verdict(results)
    for note in failed:
        print(f"failed, left out: {note}")
    print(f"\ngoal met on {decision['met_on']} of {len(results)} tasks "
          f"(needs 2); recommended default: {decision['recommended']}")  # fmt: skip
    print(json.dumps({"benchmark": "search_efficiency", "tasks": args.tasks, "seeds": args.seeds,
                      "budgets": args.budget, "verdict": decision, "failed": failed,
                      "wall_s": round(time.perf_counter() - began, 1),
                      "results": results}, default=_jsonable))  # fmt: skip


def _jsonable(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {"median": value.median, "q1": value.q1, "q3": value.q3, "n": value.n}
    return str(value)


if __name__ == "__main__":
    main()
