"""Search efficiency (P3): which strategy finds a good model for the least compute.

Every strategy on both engines, plus compare's i-epoch baseline, on tasks picked because the
strategy matters on them (``benchmarks/tasks/*.yaml``; each file says why), per seed and
per epoch budget: one ``hpsearch compare --budget-epochs B`` per (task, seed, budget), each a
real budgeted search with its own store. Epochs are counted, not seconds, so machine load
does not change the figures, and units run side by side (``--jobs``).

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

Units already in ``--work`` are read, not re-run (a long study can be resumed). Prints a
table per task and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
from efficiency_stats import (  # this script's folder: run it as a script, as make does
    curve,
    median_curve,
    rank_agreement,
    spread,
    summarize,
)

from hpsearch.tracking import load_searches

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "benchmarks" / "tasks"
STRATEGIES = "random,hyperband,bayesian,asha,tpe,bohb"
REFERENCE = "random/keras-tuner"
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
    task: str, seed: int, budget: int, work: Path, strategies: str = STRATEGIES
) -> dict[str, Any]:
    """One compare of ``strategies`` on both engines (and compare's i-epoch baseline) at one
    budget, read back into a JSON file of its own (trial tables and objective curves) that
    later runs reuse: a study can be run in parts, and resumed."""
    tag = "" if strategies == STRATEGIES else "-" + strategies.replace(",", "+")
    done = work / "units" / f"{task}-s{seed}-b{budget}{tag}.json"
    if done.exists():
        return dict(json.loads(done.read_text()))
    folder = work / "runs" / done.stem
    shutil.rmtree(folder, ignore_errors=True)  # a unit cut short starts again
    folder.mkdir(parents=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "hpsearch.cli", "compare", str(work / f"{task}.yaml"),
           "--strategies", strategies, "--backends", "keras-tuner,ray",
           "--budget-epochs", str(budget), "--seed", str(seed), "--max-concurrent", "2",
           "--tracking-uri", uri, "--experiment", "p3", "--output", str(folder / "out"),
           "--json"]  # fmt: skip
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


def merged(work: Path, units: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
    """Every unit file of each (task, seed, budget), its parts' searches together (a label
    run twice keeps its latest run)."""
    out = []
    for task, seed, budget in units:
        parts = sorted((work / "units").glob(f"{task}-s{seed}-b{budget}*.json"),
                       key=lambda p: p.stat().st_mtime)  # fmt: skip
        loaded = [json.loads(p.read_text()) for p in parts]
        by_label = {s["label"]: s for unit in loaded for s in unit["searches"]}
        out.append({"task": task, "seed": seed, "budget": budget,
                    "failed": [f for unit in loaded for f in unit["failed"]],
                    "searches": list(by_label.values())})  # fmt: skip
    return out


def task_facts(units: list[dict[str, Any]]) -> dict[str, Any]:
    """Why a task is hard, from its random searches at the largest budget: the spread of
    finished trials' scores, and how well 1 and 3 epochs rank configurations."""
    top = max(u["budget"] for u in units)
    objectives: list[float] = []
    curves: dict[str, list[tuple[int, float]]] = {}
    for u in units:
        for s in u["searches"]:
            if u["budget"] == top and s["label"].startswith("random/"):
                t = pd.DataFrame(s["trials"])
                objectives += t.loc[t["status"] == "FINISHED", "objective"].dropna().tolist()
                for tid, points in s["curves"].items():
                    curves[f"{u['seed']}-{s['label']}-{tid}"] = [tuple(p) for p in points]
    sp = spread(objectives)
    quantiles = pd.Series(objectives).quantile([0.1, 0.9]).round(4).tolist() if objectives else []
    return {
        "random_trials": len(objectives),
        "objective_median_iqr": sp.text() if sp else None,
        "objective_p10_p90": quantiles,
        "rho_epoch1_final": rank_agreement(curves, 1),
        "rho_epoch3_final": rank_agreement(curves, 3),
    }


def analyse(task: str, units: list[dict[str, Any]]) -> dict[str, Any]:
    """The task's tables: per budget, the summary rows (see efficiency_stats.summarize)."""
    out: dict[str, Any] = {"facts": task_facts(units), "budgets": {}}
    for budget in sorted({u["budget"] for u in units}):
        runs: dict[str, list[tuple[pd.DataFrame, str]]] = {}
        for u in units:
            if u["budget"] == budget:
                for s in u["searches"]:
                    runs.setdefault(s["label"], []).append(
                        (pd.DataFrame(s["trials"]), s["direction"])
                    )
        rows, target = summarize(runs, REFERENCE, budget)
        out["budgets"][budget] = {"target": target, "rows": rows}
    return out


def plot(task: str, units: list[dict[str, Any]], folder: Path) -> Path:
    """Median best-so-far against epochs at the largest budget, one line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = max(u["budget"] for u in units)
    grid = list(range(1, top + 1))
    by_label: dict[str, list[list[float | None]]] = {}
    direction = "max"
    for u in units:
        if u["budget"] == top:
            for s in u["searches"]:
                direction = s["direction"]
                by_label.setdefault(s["label"], []).append(
                    curve(pd.DataFrame(s["trials"]), s["direction"], grid)
                )
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    for label in sorted(by_label):
        ys = median_curve(by_label[label])
        style = "-" if label.endswith("keras-tuner") else "--"
        width = 2.4 if label.startswith(("random/", "i-epoch/")) else 1.4
        ax.plot(grid, [float("nan") if y is None else y for y in ys], style, lw=width,
                label=label, drawstyle="steps-post")  # fmt: skip
    seeds = len({u["seed"] for u in units})
    ax.set(xlabel="epochs trained (all trials)",
           ylabel=f"median best so far ({'higher' if direction == 'max' else 'lower'} is better)",
           title=f"P3 {task}: median of {seeds} seeds, budget {top} epochs")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
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
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "results" / "p3")
    parser.add_argument("--plots", type=Path, default=None, help="folder for one PNG per task")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    for task in args.tasks:
        shutil.copy(TASKS / f"{task}.yaml", args.work / f"{task}.yaml")
    make_data(args.work)
    began = time.perf_counter()
    units = [(t, s, b) for t in args.tasks for s in args.seeds for b in args.budget]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda u: run_unit(*u, args.work, args.strategies), units))
    done = merged(args.work, units)
    results: dict[str, Any] = {}
    for task in args.tasks:
        mine = [u for u in done if u["task"] == task]
        results[task] = analyse(task, mine)
        results[task]["direction"] = next(
            (s["direction"] for u in mine for s in u["searches"]), "max"
        )
        print_task(task, results[task])
        if args.plots:
            print(f"plot: {plot(task, mine, args.plots)}")
    decision = verdict(results)
    failed = [f"{u['task']} s{u['seed']} b{u['budget']}: {f}" for u in done for f in u["failed"]]
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
