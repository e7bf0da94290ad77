"""The hpsearch command: output, exit codes, one-line errors, and lazy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpsearch import __version__
from hpsearch.cli import app

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "search_spaces" / "digits.yaml"
CONSOLE_SCRIPT = Path(sys.executable).with_name("hpsearch")

BASE = "name: t\ndataset:\n  name: digits\nhyperparameters:\n  n_hidden: {int: [1, 3]}\n"
FINITE = BASE + (
    "  n_neurons: {int: [16, 128], step: 16}\n"
    "  optimizer: {choice: [sgd, adam, nadam]}\n"
    "  dropout: {float: [0.0, 0.3], step: 0.1}\n"
    "  normalize: {bool: false}\n"
)
HEAVY = ("tensorflow", "keras", "keras_tuner", "ray", "mlflow", "sklearn", "pandas")

runner = CliRunner()


def hpsearch(*args: str, cwd: Path = ROOT, module: bool = False) -> subprocess.CompletedProcess:
    """Run the installed command (or ``python -m hpsearch.cli``) in a real process."""
    use_module = module or not CONSOLE_SCRIPT.exists()
    cmd = [sys.executable, "-m", "hpsearch.cli"] if use_module else [str(CONSOLE_SCRIPT)]
    env = os.environ | {"COLUMNS": "100"}
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def assert_one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# ----------------------------------------------------------------------------- CliRunner


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("validate", "run", "ui"):
        assert command in result.stdout


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"hpsearch {__version__}\n"


def test_validate_prints_the_table_and_size(write_space: Callable[..., Path]) -> None:
    path = write_space(FINITE)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}: ok — t on digits, maximise val_accuracy"
    rows = {line.split()[0]: line.split(None, 1)[1] for line in lines[1:] if line.startswith("  ")}
    assert rows["n_hidden"] == "int [1, 3]"
    assert rows["n_neurons"] == "int [16, 128] step 16"
    assert rows["optimizer"] == "choice sgd, adam, nadam"
    assert rows["activation"] == "fixed 'relu'"
    assert "space size: 576 configurations" in lines
    assert "search: random on keras-tuner, 10 trials, 10 epochs, seed 42" in lines


def test_validate_shipped_digits_is_continuous() -> None:
    result = runner.invoke(app, ["validate", str(DIGITS)])
    assert result.exit_code == 0, result.output
    assert "space size: continuous" in result.stdout
    assert "maximise val_accuracy" in result.stdout


@pytest.mark.parametrize(
    ("max_trials", "budget"),
    [(100, "30 trials (schedule 30,"), (12, "12 trials (schedule 30,")],
)
def test_validate_shows_the_hyperband_schedule(
    write_space: Callable[..., Path], max_trials: int, budget: str
) -> None:
    text = BASE + (
        f"search:\n  strategy: hyperband\n  max_trials: {max_trials}\n"
        "  hyperband: {max_epochs: 10, factor: 3}\n"
    )
    result = runner.invoke(app, ["validate", str(write_space(text))])
    assert result.exit_code == 0, result.output
    assert f"search: hyperband on keras-tuner, {budget}" in result.stdout


def test_validate_says_what_the_pruner_does(write_space: Callable[..., Path]) -> None:
    text = BASE + "search:\n  pruner: {warmup_epochs: 1}\n"
    result = runner.invoke(app, ["validate", str(write_space(text))])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "pruner: median: a trial stops when its best val_accuracy is worse than the median of "
        "the other trials' at the same epoch, after 1 warm-up epoch(s), once 3 other trial(s) "
        "reached it"
    )
    plain = runner.invoke(app, ["validate", str(write_space(BASE, "plain.yaml"))])
    assert "pruner" not in plain.stdout


def test_validate_json(write_space: Callable[..., Path]) -> None:
    result = runner.invoke(app, ["validate", "--json", str(write_space(FINITE))])
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.stdout)
    assert (parsed["name"], parsed["dataset"], parsed["size"]) == ("t", "digits", 576)
    assert parsed["objective"] == {"metric": "val_accuracy", "direction": "max"}
    assert parsed["params"]["n_hidden"]["kind"] == "IntRange"
    assert parsed["params"]["learning_rate"] == {"value": 0.001, "kind": "Fixed"}


def test_validate_bad_file_is_one_line(write_space: Callable[..., Path]) -> None:
    path = write_space(BASE + "  n_neuron: 32\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    line = assert_one_error_line(result.stderr)
    assert line.startswith(f"error: {path}:6: hyperparameters.n_neuron: unknown hyperparameter")


# ----------------------------------------------------------------------------- real processes


def test_process_help_and_version() -> None:
    help_ = hpsearch("--help")
    assert help_.returncode == 0, help_.stderr
    assert "Usage: hpsearch" in help_.stdout and "validate" in help_.stdout
    version = hpsearch("--version", module=True)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"hpsearch {__version__}"


def test_process_validate_good_file() -> None:
    result = hpsearch("validate", str(DIGITS))
    assert result.returncode == 0, result.stderr
    assert "space size: continuous" in result.stdout
    assert "n_neurons" in result.stdout
    assert result.stderr == ""


def test_process_bare_command_shows_help() -> None:
    result = hpsearch()
    assert result.returncode == 2
    assert "Usage: hpsearch" in result.stderr
    assert "Traceback" not in result.stderr


BAD_SPACES = [
    pytest.param(BASE + "  n_neuron: 32\n", ":6: hyperparameters.n_neuron:", id="unknown-hparam"),
    pytest.param(BASE + "  dropout: a: b\n", ":6: invalid YAML", id="yaml-syntax"),
    pytest.param(BASE + "  dropout: 1.0\n", ":6: hyperparameters.dropout:", id="dropout"),
    pytest.param("", ":1: the file is empty", id="empty-file"),
    pytest.param(None, ": no such file", id="missing-file"),
]


@pytest.mark.parametrize(("text", "where"), BAD_SPACES)
def test_process_validate_bad_file_exits_2_with_one_line(
    tmp_path: Path, write_space: Callable[..., Path], text: str | None, where: str
) -> None:
    path = write_space(text) if text is not None else tmp_path / "absent.yaml"
    result = hpsearch("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    line = assert_one_error_line(result.stderr)
    assert line.startswith(f"error: {path}{where}"), line


def test_process_validate_directory(tmp_path: Path) -> None:
    result = hpsearch("validate", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    expected = f"error: {tmp_path}: is a directory, expected a YAML file"
    assert assert_one_error_line(result.stderr) == expected


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["run", str(DIGITS), "--strategy", "bogus"], "--strategy: unknown strategy 'bogus'"),
        (["run", str(DIGITS), "--max-trials", "abc"], "--max-trials"),
        (["run", str(DIGITS), "--max-trials", "0"], "--max-trials"),
        (["run", str(DIGITS), "--epochs", "0"], "--epochs"),
        (["run", "absent.yaml"], "absent.yaml: no such file"),
        (["validate"], "Missing argument"),
        (["validate", str(DIGITS), "--bogus"], "No such option"),
        (["frobnicate"], "No such command"),
    ],
    ids=[
        "strategy",
        "max-trials-abc",
        "max-trials-0",
        "epochs-0",
        "run-missing-file",
        "missing-argument",
        "unknown-option",
        "unknown-command",
    ],
)
def test_process_usage_errors_exit_2_with_one_line(
    tmp_path: Path, args: list[str], phrase: str
) -> None:
    # cwd is a scratch folder: if a search started by mistake, nothing lands in the repo.
    result = hpsearch(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert phrase in assert_one_error_line(result.stderr)
    assert not (tmp_path / "mlflow.db").exists()


# ----------------------------------------------------------------------------- lazy imports

_IMPORT_PROBE = """
import json, sys
from hpsearch.cli import main
sys.argv = ["hpsearch", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = {heavy!r}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
print(json.dumps({{"code": code, "loaded": loaded}}))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["validate", "search_spaces/digits.yaml"],
        ["validate", "--json", "search_spaces/digits.yaml"],
        ["validate", "search_spaces/absent.yaml"],
    ],
    ids=["help", "version", "validate", "validate-json", "validate-missing"],
)
def test_help_and_validate_import_no_heavy_library(args: list[str]) -> None:
    probe = _IMPORT_PROBE.format(heavy=HEAVY)
    proc = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["code"] == (2 if "search_spaces/absent.yaml" in args else 0)
    assert report["loaded"] == []


def test_validate_data_loads_the_data_without_tensorflow_or_mlflow() -> None:
    """`validate --data` reads the dataset (pandas, sklearn) but never the training stack."""
    probe = _IMPORT_PROBE.format(heavy=("tensorflow", "keras", "keras_tuner", "ray", "mlflow"))
    args = ["validate", "--data", "search_spaces/penguins.yaml"]
    proc = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert "data: penguins" in lines and "  rows: 333 used of 344" in lines
    report = json.loads(lines[-1])
    assert (report["code"], report["loaded"]) == (0, [])
