"""hpsearch lr-find: the learning-rate finder of Hands-On ML ch.10, exercise 10."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hpsearch.lrfind import (
    MIN_OVER_10,
    STEEPEST,
    fixed_params,
    lr_find,
    lr_schedule,
    parse_params,
    suggest,
    sweep_notes,
)
from hpsearch.space import SpaceError, load_space

HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))
HEAVY = ("tensorflow", "keras", "matplotlib", "mlflow", "sklearn", "pandas")

#: search_spaces/digits.yaml, trimmed: its defaults are the model the finder trains.
DIGITS = """\
name: digits-lr
dataset:
  name: digits
  split: {valid: 0.2, test: 0.2}
  scale: standard
objective: val_accuracy
hyperparameters:
  n_hidden: {int: [1, 3], default: 2}
  n_neurons: {int: [16, 256], log: true, default: 64}
  learning_rate: {float: [1e-4, 1e-2], log: true, default: 1e-3}
  optimizer: {choice: [sgd, adam, nadam]}
  dropout: {float: [0.0, 0.3], step: 0.1}
  batch_size: {choice: [32, 64]}
  activation: relu
search:
  seed: 42
"""

#: Linear regression: no hidden layer, plain SGD, batches of 32 (see test_toy_...).
TOY = """\
name: toy-linear
dataset:
  name: "csv:toy.csv"
  target: y
  scale: standard
objective: val_loss
hyperparameters:
  n_hidden: 0
  optimizer: sgd
  batch_size: 32
search:
  seed: 0
"""


def hpsearch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed command in a real process."""
    return subprocess.run(
        [HPSEARCH, *args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False
    )


# ----------------------------------------------------------------------------- no training


def test_suggest_finds_the_steepest_descent_of_a_known_curve() -> None:
    """A smooth descent centred at lr 1e-2 that blows up past 0.3: the suggestion is the
    centre (the steepest point in log lr), min/10 is a tenth of the lowest point."""
    lrs = np.logspace(-6, 0, 300)
    x = np.log10(lrs)
    loss = 1.5 - np.tanh((x + 2) / 0.5) + np.where(x > -0.5, 50 * (x + 0.5) ** 2, 0.0)
    suggestion, rule, over_10, lr_min, min_loss = suggest(lrs, loss, 1e-6, 1.0)
    assert rule == STEEPEST
    assert suggestion == pytest.approx(1e-2, rel=0.1)
    assert over_10 == pytest.approx(lr_min / 10)
    assert min_loss == pytest.approx(float(loss.min()))


def test_suggest_falls_back_to_min_over_10_when_the_loss_never_falls() -> None:
    """A loss that only rises has no descent: the rule is min/10, clipped to min_lr."""
    lrs = np.logspace(-4, 0, 100)
    suggestion, rule, over_10, _, _ = suggest(lrs, 1 + lrs, 1e-4, 1.0)
    assert rule == MIN_OVER_10
    assert suggestion == over_10 == pytest.approx(1e-4)


def test_lr_schedule_grows_geometrically_from_min_to_exactly_max() -> None:
    """One rate per step, a constant ratio between neighbours, both ends hit exactly."""
    schedule = lr_schedule(1e-6, 1.0, 61)
    assert len(schedule) == 61
    assert schedule[0] == 1e-6 and schedule[-1] == 1.0
    ratios = np.array(schedule[1:]) / np.array(schedule[:-1])
    assert ratios == pytest.approx(np.full(60, 10**0.1))


def test_sweep_notes_say_what_to_try_next() -> None:
    """A loss that never fell, one that never blew up, a coarse curve: one note each."""
    assert sweep_notes(STEEPEST, 0.5, "the loss became nan at lr 0.5", 1e-6, 1.0, 100) == []
    notes = sweep_notes(MIN_OVER_10, 0.25, None, 1e-6, 1.0, 20)
    assert notes == [
        "the smoothed loss never fell between 1e-06 and 0.25: the suggestion is the "
        "min-loss lr / 10; try a lower --min-lr or more --steps",
        "the loss did not blow up below --max-lr 1: the lowest loss (and so min_lr_over_10) "
        "may lie beyond it; try a higher --max-lr",
        "only 20 steps: the curve is coarse; pass --steps or --epochs for more",
    ]


def test_params_are_typed_like_the_space_and_checked(
    write_space: Callable[..., Path],
) -> None:
    """--params values become ints, floats, bools and names; the rest keep defaults."""
    space = load_space(write_space(DIGITS))
    given = parse_params(space, ["n_hidden=3", "optimizer=adam,dropout=0.1", "normalize=true"])
    assert given == {"n_hidden": 3, "optimizer": "adam", "dropout": 0.1, "normalize": True}
    assert isinstance(given["n_hidden"], int) and isinstance(given["dropout"], float)
    values = fixed_params(space, ["activation=tanh"])
    assert values["activation"] == "tanh"  # a fixed param may be overridden
    assert values["optimizer"] == "sgd" and values["n_neurons"] == 64  # first choice, default
    assert "learning_rate" not in values
    for bad in ("optimizer=rmsprop", "n_hidden=4", "n_neuron=8", "batch_size=big", "x"):
        with pytest.raises(SpaceError) as info:
            parse_params(space, [bad])
        assert info.value.field == "--params"


BAD_INPUTS = [
    (["--min-lr", "0.1", "--max-lr", "0.01"], "--max-lr: must be above --min-lr"),
    (["--min-lr", "0.1", "--max-lr", "0.1"], "--max-lr: must be above --min-lr"),
    (["--min-lr", "0"], "--min-lr: must be a number > 0"),
    (["--max-lr", "-1"], "--max-lr: must be a number > 0"),
    (["--steps", "0"], "--steps: must be at least"),
    (["--epochs", "0"], "--epochs: must be at least 1"),
    (["--params", "n_hiden=2"], "did you mean 'n_hidden'"),
    (["--params", "optimizer=rmsprop"], "not one of the space's choices"),
    (["--params", "n_hidden=two"], "n_hidden: expected an integer"),
    (["--params", "learning_rate=0.1"], "--params: learning_rate: the finder sweeps"),
    (["--params", "dropout"], "expected NAME=VALUE"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, write_space: Callable[..., Path], args: list[str], message: str
) -> None:
    """Bad flags and --params fail before any training: one error line, exit 2."""
    space = write_space(DIGITS)
    proc = hpsearch("lr-find", str(space), *args, "--tracking-uri", "sqlite:///m.db", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert message in lines[0]
    assert not (tmp_path / "reports").exists() and not (tmp_path / "m.db").exists()


def test_module_import_stays_light() -> None:
    """Importing hpsearch.lrfind pulls in none of tensorflow, matplotlib or mlflow."""
    code = f"import sys, hpsearch.lrfind; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# ----------------------------------------------------------------------------- training


@pytest.mark.slow
def test_lr_find_on_digits_writes_the_plot_and_logs_to_mlflow(
    tmp_path: Path, write_space: Callable[..., Path]
) -> None:
    """lr-find --json on digits: one JSON object, a real PNG in reports/<space>/lr-find,
    a suggestion inside [min_lr, max_lr], and an MLflow run with the PNG and the metric."""
    from mlflow.tracking import MlflowClient

    space = write_space(DIGITS)
    uri = f"sqlite:///{tmp_path}/m.db"
    args = ["--params", "optimizer=adam", "--min-lr", "1e-5", "--max-lr", "1", "--steps", "150"]
    proc = hpsearch("lr-find", str(space), *args, "--tracking-uri", uri, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    out = json.loads(lines[0])
    assert out["rule"] == STEEPEST
    assert 1e-5 <= out["suggestion"] <= 1 and 1e-5 <= out["min_lr_over_10"] <= 1
    assert out["stopped"], "adam's loss blows up below lr 1 on digits"
    png = tmp_path / out["png"]
    assert png.parent == tmp_path / "reports" / "digits-lr" / "lr-find"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    curve = (tmp_path / out["csv"]).read_text().splitlines()
    assert curve[0] == "step,lr,loss,smoothed_loss" and len(curve) == out["steps"] + 1

    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(out["run_id"])
    assert run.info.status == "FINISHED"
    assert run.info.run_name.startswith("lr-find-")
    assert run.data.tags["hpsearch.role"] == "lr-find"
    assert client.get_experiment(run.info.experiment_id).name == "digits-lr"
    assert run.data.metrics["suggested_lr"] == pytest.approx(out["suggestion"])
    assert run.data.params["optimizer"] == "adam" and run.data.params["n_neurons"] == "64"
    artifacts = {a.path for a in client.list_artifacts(out["run_id"])}
    assert {"lr_find.png", "lr_find_curve.csv", "lr_find.json"} <= artifacts
    assert len(client.get_metric_history(out["run_id"], "loss")) == out["steps"]


@pytest.mark.slow
def test_toy_linear_regression_suggestion_matches_the_analysis(
    tmp_path: Path, write_space: Callable[..., Path]
) -> None:
    """Linear regression (no hidden layer) with SGD on 4 standardized, independent
    features, y = x·w + 3 + noise(0.1): a quadratic loss whose rates are known.

    Keras's mse has Hessian 2Σ, Σ the second-moment matrix of [x, 1] on the train split;
    with standardized features its eigenvalues λ are all ≈ 1 (their mean is exactly 1,
    the largest ≈ 1.07 here). Each SGD step scales the error along λ by (1 - 2·lr·λ):
    * blow-up: stable only while lr < 1/λ_max ≈ 0.94; past it the error grows every step,
      so the loss must turn up around lr ≈ 1-2 (a 32-row batch's own Σ is noisier, which
      can bring it somewhat earlier), and min_lr_over_10 lands near 0.1;
    * steepest descent: with lr growing by e^Δ a step the loss is ≈ exp(-4·λ·lr/Δ), whose
      slope vs log lr is steepest at lr = Δ/(4λ) ≈ 0.029 for 100 steps over 1e-4..10
      (Δ = ln(1e5)/99); the smoothing lags by β/(1-β) steps, moving that to ≈ 0.046.
    So both figures must land in [1e-2, 1], the suggestion within 3x of Δ/(4λ)·e^(Δβ/(1-β))
    and the blow-up in [0.5, 4]/λ_max. Measured (seeds 0-5): suggestion 0.024-0.042,
    min_lr_over_10 0.10-0.14, blow-up at lr 1.4-2.0."""
    from hpsearch.data import load_dataset

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 4))
    y = x @ np.array([1.0, -2.0, 0.5, 1.5]) + 3.0 + 0.1 * rng.standard_normal(2000)
    rows = ["x0,x1,x2,x3,y", *(",".join(f"{v:.6f}" for v in row) for row in np.c_[x, y])]
    (tmp_path / "toy.csv").write_text("\n".join(rows) + "\n")
    space = load_space(write_space(TOY))

    result = lr_find(space, min_lr=1e-4, max_lr=10.0, steps=100)

    data = load_dataset(space.dataset, 0, tmp_path)
    xa = np.c_[data.x_train, np.ones(len(data.x_train))]
    lam = np.linalg.eigvalsh(xa.T @ xa / len(xa))
    assert np.mean(lam) == pytest.approx(1.0, abs=1e-3) and lam.max() < 1.2
    delta = math.log(result.max_lr / result.min_lr) / (result.planned_steps - 1)
    expected = delta / 4 * math.exp(delta * result.beta / (1 - result.beta))

    assert result.rule == STEEPEST
    assert 1e-2 <= result.suggestion <= 1, result.suggestion
    assert expected / 3 <= result.suggestion <= expected * 3, (result.suggestion, expected)
    assert 1e-2 <= result.min_lr_over_10 <= 1, result.min_lr_over_10
    assert result.stop_lr is not None, result.notes
    assert 0.5 / lam.max() <= result.stop_lr <= 4 / lam.max(), result.stop_lr
    assert result.min_loss < 0.01 * result.losses[0]  # it did learn the line


@pytest.mark.slow
def test_batch_losses_are_recovered_from_keras_running_means() -> None:
    """Keras logs the epoch's running mean at each batch's end; the callback turns it back
    into each batch's own loss (a short last batch included). With lr 0 the weights stay
    put, so every batch's loss can be computed directly and compared."""
    import keras

    from hpsearch.lrfind import _Sweep

    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 3)).astype("float32")
    y = (x @ np.array([1.0, 2.0, 3.0])).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer=keras.optimizers.SGD(0.0))
    sweep = _Sweep([0.0] * 8, 32, 100, 0.5, 1e9)
    model.fit(x, y, batch_size=32, epochs=5, shuffle=False, verbose=0, callbacks=[sweep.callback()])
    pred = model.predict(x, verbose=0)[:, 0]
    per_batch = [float(np.mean((pred[i : i + 32] - y[i : i + 32]) ** 2)) for i in range(0, 100, 32)]
    assert len(sweep.losses) == 8  # stopped after the planned steps, in epoch 2 of 5
    assert sweep.losses == pytest.approx(per_batch * 2, rel=1e-4)
