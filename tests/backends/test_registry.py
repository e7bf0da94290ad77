"""The backend registry: what each engine can do, declared once and asked by everyone."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hpsearch import backends
from hpsearch.errors import SpaceError
from hpsearch.plan import backend_options
from hpsearch.space import load_space


def test_every_strategy_runs_somewhere_and_the_ray_only_ones_are_ray_only() -> None:
    for strategy in backends.STRATEGIES:
        assert backends.engines_for(strategy), strategy
    assert backends.only_on("asha") == "ray" and backends.only_on("tpe") == "ray"
    assert backends.only_on("random") is None
    assert backends.runs_on("hyperband", "keras-tuner") and not backends.runs_on(
        "tpe", "keras-tuner"
    )


def test_an_option_names_the_engine_and_flag_that_own_it() -> None:
    assert backends.option_owner("workers") == ("keras-tuner", "--workers")
    assert backends.option_owner("max_concurrent") == ("ray", "--max-concurrent")
    with pytest.raises(KeyError):
        backends.option_owner("nope")


def test_options_for_another_engine_are_refused_by_their_flag() -> None:
    with pytest.raises(SpaceError, match=r"--workers: applies to --backend keras-tuner, not ray"):
        backend_options("ray", workers=2)
    with pytest.raises(SpaceError, match=r"--address: applies to --backend ray"):
        backend_options("keras-tuner", address="ray://x:1")
    assert backend_options("ray", max_concurrent=2, address=None) == {"max_concurrent": 2}


def test_gpus_on_a_cluster_are_the_clusters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    with pytest.raises(SpaceError, match="--gpus-per-trial"):
        backend_options("ray", gpus=[0])
    monkeypatch.delenv("RAY_ADDRESS")
    assert backend_options("ray", gpus=[0]) == {"gpus": [0]}


def test_the_schema_asks_the_registry(write_space) -> None:  # type: ignore[no-untyped-def]
    path = write_space(
        "name: x\ndataset: {name: digits}\nhyperparameters: {n_neurons: {int: [8, 16]}}\n"
        "search: {strategy: asha}\n"
    )
    with pytest.raises(SpaceError, match=r"strategy 'asha' runs on Ray only; set backend: ray"):
        load_space(path)


def test_asking_the_registry_imports_no_engine() -> None:
    """The CLI's --help and validate ask it: in a fresh interpreter, asking every question
    but load/session/borrowed imports no engine package and no heavy library."""
    code = (
        "import sys; from hpsearch import backends as b;"
        "b.runs_on('tpe', 'ray'); b.only_on('asha'); b.option_owner('workers');"
        "b.engine('ray').clustered; b.engines_for('grid');"
        "print(sorted(m for m in sys.modules if m.startswith(('hpsearch.backends.', 'ray',"
        " 'keras_tuner', 'tensorflow', 'mlflow', 'optuna'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ray_borrows_keras_tuners_bayesian_oracle() -> None:
    assert backends.engine("ray").borrows == {"bayesian": "keras-tuner"}
    oracle = backends.borrowed("bayesian", "ray")
    assert oracle.__name__ == "OracleSuggester"


def test_an_engine_without_a_session_gets_a_null_one_without_importing_it() -> None:
    code = (
        "import sys; from hpsearch import backends as b;"
        "cm = b.session('keras-tuner', verbose=False, workers=2);"
        "print(type(cm).__name__, 'hpsearch.backends.keras_tuner' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["nullcontext", "False"]
    assert [e.name for e in backends.ENGINES.values() if e.keeps_session] == ["ray"]
