"""Scale (issue 19): N one-epoch trials through hpsearch on both engines, against the raw
engine running the same trials without hpsearch, and the read-back of the N-trial search.

For each engine: `hpsearch run` (random strategy, `--max-trials N --epochs 1`, a sqlite
store in a temporary folder, created before the search as a user's store exists after
their first one) against the same engine driven by hand: raw Keras Tuner RandomSearch,
and a raw Ray Tune Tuner whose function trainable does the same Keras fit. Both sides
train the same tiny model on the same tiny offline data (150 iris rows from scikit-learn,
hpsearch's split and scaling), with the same seed, and keep the engine's settings alike
(Ray: one CPU a trial, actors reused, no per-trial loggers), so the ratio is hpsearch's
own cost: tracking, journal, callbacks, checkpoints, the best model logged. The model is
hpsearch's MLP run eagerly (``eager_mlp``, named as a custom builder on both sides), which
halves a trial; ``--graph`` trains it traced, as hpsearch's builder does. Wall time is the
whole process, start-up included, as a user waits for it.

While hpsearch runs, a thread here samples the driver's resident memory (VmRSS of its
/proc/<pid>/status) and counts the trials its journal (trials.jsonl) holds: `rss_ratio`
is the RSS when the journal first held N trials over the RSS when it first held N/10.
Then, over the N-trial experiment: `hpsearch report` (a subprocess, wall time),
`hpsearch.load_trials` (the call, in a fresh interpreter) and the store's size. Last,
`tracking_ms`: MlflowTracker alone, min(N, 200) trials with no training, per trial.

    python benchmarks/scale.py [--trials 1000] [--engines keras-tuner ray] [--graph]
        [--keep DIR]

Prints a table and one JSON line. Goals at 1,000 trials: both overhead ratios <= 1.28
(Ray Tune's own release threshold), rss_ratio <= 1.2, report_s <= 30, load_trials_s <= 10.
The top-level `per_trial_ms` ((hpsearch - raw) / N), `rss_ratio`, `report_s`,
`load_trials_s` and `store_mb` are the worse engine's; each engine's own are under its
name. 1,000 trials of both engines took 31.5 min here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable
ENGINES = ("keras-tuner", "ray")
GOALS = {"overhead_ratio": 1.28, "rss_ratio": 1.2, "report_s": 30.0, "load_trials_s": 10.0}
SEED = 7

SPACE = """\
name: {name}
{builder}dataset:
  name: iris
  split: {{valid: 0.2, test: 0.2}}
objective: val_accuracy
hyperparameters:
  n_neurons: {{int: [4, 16]}}
  learning_rate: {{float: [1.0e-3, 1.0e-1], log: true}}
  batch_size: 32
training:
  epochs: 1
  patience: 0
search:
  strategy: random
  max_trials: {trials}
  seed: {seed}
"""


def write_space(folder: Path, engine: str, trials: int, eager: bool) -> Path:
    """The tiny space, named per engine so each engine's search is its own experiment;
    ``eager``: built by eager_mlp (a custom builder, as a user would name their own)."""
    path = folder / f"scale-{engine}.yaml"
    builder = f"builder: {Path(__file__).stem}:eager_mlp\n" if eager else ""
    path.write_text(SPACE.format(name=f"scale-{engine}", builder=builder, trials=trials,
                                 seed=SEED))  # fmt: skip
    return path


def eager_mlp(params: dict[str, Any], input_shape: Any, task: str, n_outputs: int) -> Any:
    """hpsearch's own MLP, compiled to run eagerly: Keras traces no graph per trial, which
    halves a one-epoch trial here (1.07 s -> 0.58 s), so 4 x N trials fit in the time, and
    puts a heavier weight on hpsearch's per-trial bookkeeping. Both sides build with it."""
    from hpsearch.model import build_model

    model = build_model(params, input_shape, task, n_outputs)
    model.run_eagerly = True
    return model


def child_env() -> dict[str, str]:
    """This folder on the path of every process started (and of Ray's workers, which inherit
    the driver's environment), so a space's ``builder: scale:eager_mlp`` imports."""
    here = str(Path(__file__).resolve().parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{here}{os.pathsep}{path}" if path else here}


# -- the raw engines (run as `scale.py --raw ENGINE`, in a process of their own) -------------


def _tiny_data(space_path: Path) -> tuple[Any, Any, dict[str, Any]]:
    """The space, its data (hpsearch's loader: the same split and scaling) and the params
    every trial holds fixed (the builder's defaults, as hpsearch passes them)."""
    from hpsearch.data import load_dataset
    from hpsearch.space import load_space

    space = load_space(space_path)
    searched = space.searched()
    fixed = {k: p.value for k, p in space.params.items() if k not in searched}  # type: ignore[union-attr]
    return space, load_dataset(space.dataset, SEED), fixed


def raw_keras_tuner(space_path: Path, trials: int, work: Path) -> dict[str, Any]:
    """Keras Tuner RandomSearch over the same two params, the best model loaded at the end
    (as `hpsearch run` does before logging it)."""
    from hpsearch.model import build_for, fit_options, quiet_tensorflow

    quiet_tensorflow()
    import keras
    import keras_tuner as kt

    space, data, fixed = _tiny_data(space_path)

    def params_of(hp: Any) -> dict[str, Any]:
        return {**fixed, **hp.values}

    class HyperModel(kt.HyperModel):  # type: ignore[misc]
        def build(self, hp: Any) -> Any:
            hp.Int("n_neurons", 4, 16)
            hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")
            keras.utils.set_random_seed(SEED)
            return build_for(params_of(hp), data, builder=space.builder,
                             builder_dirs=space.builder_dirs())  # fmt: skip

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            options = fit_options(params_of(hp), data.y_train, data.task)
            return model.fit(*args, **options, **kwargs)

    tuner = kt.RandomSearch(HyperModel(), objective="val_accuracy", max_trials=trials,
                            seed=SEED, overwrite=True, directory=str(work),
                            project_name="raw")  # fmt: skip
    tuner.search(data.x_train, data.y_train, epochs=1, verbose=0,
                 validation_data=(data.x_valid, data.y_valid))  # fmt: skip
    tuner.get_best_models(num_models=1)
    best = tuner.oracle.get_best_trials(1)[0]
    return {"trials": len(tuner.oracle.trials), "best": best.score}


def _ray_trial(config: dict[str, Any], payload: dict[str, Any]) -> None:
    """The raw Ray trainable: the same Keras fit as hpsearch's worker, one report."""
    from types import SimpleNamespace

    from hpsearch.model import build_for, fit_options, quiet_tensorflow

    quiet_tensorflow()
    import keras
    import tensorflow as tf
    from ray import tune

    try:  # one core a trial, as hpsearch's worker sets it
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # a reused actor: already set
        pass
    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    data = SimpleNamespace(**payload["data"])
    params = {**payload["fixed"], **config}
    model = build_for(params, data, builder=payload["builder"], builder_dirs=payload["dirs"])
    history = model.fit(data.x_train, data.y_train, epochs=1, verbose=0,
                        validation_data=(data.x_valid, data.y_valid),
                        **fit_options(params, data.y_train, data.task))  # fmt: skip
    tune.report({k: float(v[-1]) for k, v in history.history.items()})


def raw_ray(space_path: Path, trials: int, work: Path) -> dict[str, Any]:
    """A Ray Tune Tuner with a function trainable: Tune's seeded random generator, one CPU a
    trial, actors reused and the per-trial loggers off, as hpsearch runs Tune."""
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import logging

    import ray
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    space, data, fixed = _tiny_data(space_path)
    ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    payload = {
        "fixed": fixed,
        "builder": space.builder,
        "dirs": space.builder_dirs(),
        "data": {k: getattr(data, k) for k in ("x_train", "y_train", "x_valid", "y_valid",
                                               "input_shape", "task", "n_outputs")},
    }  # fmt: skip
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(_ray_trial, payload=payload), {"cpu": 1}),
        param_space={
            "n_neurons": tune.randint(4, 17),
            "learning_rate": tune.loguniform(1e-3, 1e-1),
        },
        tune_config=tune.TuneConfig(
            metric="val_accuracy",
            mode="max",
            num_samples=trials,
            search_alg=BasicVariantGenerator(random_state=SEED),
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(name="raw", storage_path=str(work), verbose=0),
    )
    grid = tuner.fit()
    best = grid.get_best_result()
    ray.shutdown()
    return {"trials": len(grid), "best": best.metrics.get("val_accuracy")}


# -- the driver's memory, sampled from outside ------------------------------------------


def rss_mb(pid: int) -> float | None:
    """A process's resident set size in MiB (VmRSS), None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


class DriverProbe(threading.Thread):
    """Samples the driver's RSS and the trials its journal holds, every ``every`` seconds,
    until the driver exits: ``samples`` are (trials ended, RSS MiB, seconds)."""

    def __init__(self, pid: int, output: Path, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.output, self.every = pid, output, every
        self.samples: list[tuple[int, float, float]] = []
        self.stopped = threading.Event()
        self._journal: Path | None = None
        self._read, self._lines = 0, 0

    def _trials(self) -> int:
        """Lines the journal gained since the last look (it is only appended to)."""
        if self._journal is None:
            found = list(self.output.rglob("trials.jsonl"))
            if not found:
                return 0
            self._journal = found[0]
        with self._journal.open("rb") as handle:
            handle.seek(self._read)
            chunk = handle.read()
        whole = chunk[: chunk.rfind(b"\n") + 1]  # a line half-written counts next time
        self._read += len(whole)
        self._lines += whole.count(b"\n")
        return self._lines

    def run(self) -> None:
        started = time.perf_counter()
        while not self.stopped.wait(self.every):
            rss = rss_mb(self.pid)
            if rss is None:
                return
            self.samples.append((self._trials(), rss, time.perf_counter() - started))

    def rss_at(self, trials: int) -> float | None:
        """The RSS when the journal first held ``trials`` trials."""
        return next((rss for n, rss, _ in self.samples if n >= trials), None)


# -- one engine: hpsearch, the raw engine, the read-back ------------------------------------


def run_hpsearch(engine: str, space: Path, trials: int, work: Path, uri: str) -> dict[str, Any]:
    """`hpsearch run` with the driver probed; wall seconds, RSS at N/10 and N, its JSON."""
    output = work / "out"
    cmd = [PY, "-m", "hpsearch.cli", "run", str(space), "--backend", engine,
           "--strategy", "random", "--max-trials", str(trials), "--epochs", "1",
           "--seed", str(SEED), "--json", "--no-report", "--tracking-uri", uri,
           "--output", str(output)]  # fmt: skip
    out, err = work / "hpsearch.out", work / "hpsearch.err"
    started = time.perf_counter()
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(cmd, cwd=work, stdout=stdout, stderr=stderr, env=child_env())
        probe = DriverProbe(proc.pid, output)
        probe.start()
        code = proc.wait()
    wall = time.perf_counter() - started
    probe.stopped.set()
    probe.join()
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{err.read_text()[-3000:]}")
    result = json.loads(out.read_text().strip().splitlines()[-1])
    early, last = probe.rss_at(max(1, trials // 10)), probe.rss_at(trials)
    return {
        "wall_s": wall,
        "trials": result.get("trials"),
        "finished": result.get("finished"),
        "best": result.get("best_value"),
        "rss_early_mb": early,
        "rss_last_mb": last,
        "rss_peak_mb": max((rss for _, rss, _ in probe.samples), default=None),
        "experiment": f"scale-{engine}",
    }


def run_raw(engine: str, space: Path, trials: int, work: Path) -> dict[str, Any]:
    """This script as ``--raw ENGINE`` in a process of its own; wall seconds and its JSON."""
    cmd = [PY, __file__, "--raw", engine, "--space", str(space), "--trials", str(trials),
           "--work", str(work / "raw")]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=6 * 3600,
                          env=child_env())  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return {"wall_s": wall, **json.loads(done.stdout.strip().splitlines()[-1])}


def read_back(experiment: str, uri: str, work: Path) -> dict[str, Any]:
    """`hpsearch report` (process wall time) and `hpsearch.load_trials` (the call itself, in
    a fresh interpreter, mlflow's import included) over the experiment."""
    cmd = [PY, "-m", "hpsearch.cli", "report", "--experiment", experiment,
           "--tracking-uri", uri, "--output", str(work / "report")]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=3600)
    report_s = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"hpsearch report failed:\n{done.stderr[-3000:]}")
    code = (
        "import json, time, hpsearch\n"
        "t = time.perf_counter()\n"
        f"f = hpsearch.load_trials({experiment!r}, tracking_uri={uri!r})\n"
        "print(json.dumps({'s': time.perf_counter() - t, 'rows': len(f)}))\n"
    )
    done = subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=3600, check=True)  # fmt: skip
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    page = work / "report" / "index.html"
    return {"report_s": report_s, "load_trials_s": loaded["s"], "rows": loaded["rows"],
            "report_html_mb": page.stat().st_size / 2**20}  # fmt: skip


def tracking_ms(work: Path, trials: int) -> float:
    """Milliseconds a trial of MlflowTracker alone (a child run opened, one epoch's metrics,
    closed) on a fresh sqlite store, no training: the bulk of hpsearch's per-trial work,
    measured apart from the engines' noise."""
    from hpsearch.space import load_space
    from hpsearch.tracking import MlflowTracker
    from hpsearch.trials import TrialResult

    space = load_space(write_space(work, "tracking", trials, eager=False))
    uri = f"sqlite:///{work / 'tracking.db'}"
    create_store(uri)
    tracker = MlflowTracker(space, tracking_uri=uri)
    tracker.start()
    params = {"n_neurons": 8, "learning_rate": 0.01, "batch_size": 32}
    logs = {"loss": 0.9, "accuracy": 0.6, "val_loss": 0.8, "val_accuracy": 0.7}
    started = time.perf_counter()
    for i in range(trials):
        tracker.on_trial_begin(f"{i:04d}", params)
        tracker.on_epoch_end(f"{i:04d}", 1, logs)
        history = {k: [v] for k, v in logs.items()}
        tracker.on_trial_end(TrialResult(f"{i:04d}", "FINISHED", params, 0.7, 1, 1.0, history))
    return 1000 * (time.perf_counter() - started) / trials


def create_store(uri: str) -> None:
    """Create and migrate the sqlite store first, as a user's first search did."""
    code = f"from hpsearch.tracking.store import _client; _client({uri!r})"
    subprocess.run([PY, "-c", code], cwd=ROOT, check=True, capture_output=True, timeout=600)


def one_engine(engine: str, trials: int, work: Path, eager: bool) -> dict[str, Any]:
    """hpsearch then the raw engine, then the read-back; this engine's figures."""
    work.mkdir(parents=True)
    space = write_space(work, engine, trials, eager)
    db = work / "mlflow.db"
    uri = f"sqlite:///{db}"
    create_store(uri)
    hp = run_hpsearch(engine, space, trials, work, uri)
    raw = run_raw(engine, space, trials, work)
    back = read_back(hp["experiment"], uri, work)
    early, last = hp["rss_early_mb"], hp["rss_last_mb"]
    return {
        "hpsearch_s": round(hp["wall_s"], 1),
        "raw_s": round(raw["wall_s"], 1),
        "overhead_ratio": round(hp["wall_s"] / raw["wall_s"], 3),
        "per_trial_ms": round(1000 * (hp["wall_s"] - raw["wall_s"]) / trials, 1),
        "hpsearch_trial_ms": round(1000 * hp["wall_s"] / trials, 1),
        "raw_trial_ms": round(1000 * raw["wall_s"] / trials, 1),
        "trials": {"hpsearch": back["rows"], "raw": raw["trials"]},
        "best": {"hpsearch": hp["best"], "raw": raw["best"]},
        "rss_after_n10_mb": None if early is None else round(early, 1),
        "rss_after_n_mb": None if last is None else round(last, 1),
        "rss_peak_mb": None if hp["rss_peak_mb"] is None else round(hp["rss_peak_mb"], 1),
        "rss_ratio": None if not (early and last) else round(last / early, 3),
        "report_s": round(back["report_s"], 2),
        "report_html_mb": round(back["report_html_mb"], 2),
        "load_trials_s": round(back["load_trials_s"], 2),
        "store_mb": round(db.stat().st_size / 2**20, 2),
    }


def print_table(trials: int, figures: dict[str, dict[str, Any]]) -> None:
    rows = [
        ("hpsearch wall s", "hpsearch_s", ""),
        ("raw engine wall s", "raw_s", ""),
        ("overhead ratio", "overhead_ratio", f"<= {GOALS['overhead_ratio']}"),
        ("hpsearch's ms per trial", "per_trial_ms", ""),
        ("driver RSS after N/10, MiB", "rss_after_n10_mb", ""),
        ("driver RSS after N, MiB", "rss_after_n_mb", ""),
        ("rss ratio", "rss_ratio", f"<= {GOALS['rss_ratio']}"),
        ("hpsearch report s", "report_s", f"<= {GOALS['report_s']:g}"),
        ("load_trials s", "load_trials_s", f"<= {GOALS['load_trials_s']:g}"),
        ("sqlite store MiB", "store_mb", ""),
    ]
    engines = list(figures)
    print(f"\n{trials} one-epoch trials of a tiny MLP, random search, iris")
    print(f"{'':<28}" + "".join(f"{e:>13}" for e in engines) + f"{'goal':>10}")
    for label, key, goal in rows:
        cells = "".join(f"{figures[e][key]!s:>13}" for e in engines)
        print(f"{label:<28}{cells}{goal:>10}")


def summarise(trials: int, figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The JSON line: each engine's figures, the ratios by name, the worse engine's rest."""
    out: dict[str, Any] = {"benchmark": "scale", "trials": trials, "cpu_count": os.cpu_count()}
    for engine, f in figures.items():
        out[f"overhead_ratio_{engine.replace('-', '_')}"] = f["overhead_ratio"]
    for key in ("per_trial_ms", "rss_ratio", "report_s", "load_trials_s", "store_mb"):
        values = [f[key] for f in figures.values() if f[key] is not None]
        out[key] = max(values) if values else None
    out["goals"] = GOALS
    ratios = [f["overhead_ratio"] for f in figures.values()]
    out["pass"] = {
        "overhead": all(r <= GOALS["overhead_ratio"] for r in ratios),
        "rss": out["rss_ratio"] is not None and out["rss_ratio"] <= GOALS["rss_ratio"],
        "report": out["report_s"] <= GOALS["report_s"],
        "load_trials": out["load_trials_s"] <= GOALS["load_trials_s"],
    }
    out["engines"] = figures
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--keep", type=Path, help="work here and keep it (stores, reports)")
    parser.add_argument("--graph", action="store_true",
                        help="hpsearch's builder as is (Keras traces each trial's graph: "
                             "about twice the time a trial)")  # fmt: skip
    parser.add_argument("--raw", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--space", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trials < 10:
        parser.error("--trials must be at least 10 (the RSS is compared at N/10)")
    if args.raw:  # the baseline's own process
        run = raw_keras_tuner if args.raw == "keras-tuner" else raw_ray
        print(json.dumps(run(args.space, args.trials, args.work)))
        return
    with tempfile.TemporaryDirectory(prefix="hpsearch-scale-") as tmp:
        base = args.keep or Path(tmp)
        figures = {}
        for engine in args.engines:
            figures[engine] = one_engine(engine, args.trials, base / engine, not args.graph)
            print(f"{engine}: {json.dumps(figures[engine])}", flush=True)
        bookkeeping = tracking_ms(base, min(args.trials, 200))
        print_table(args.trials, figures)
        print(f"MLflow tracking alone (no training): {bookkeeping:.1f} ms a trial")
        extra = {"model": "graph" if args.graph else "eager", "tracking_ms": round(bookkeeping, 1)}
        print(json.dumps(summarise(args.trials, figures) | extra))


if __name__ == "__main__":
    main()
