"""The public API as the README shows it: ``import hpsearch`` then run, load_trials,
make_report, best and load_space, on a real (tiny) search against a temporary store."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


def test_import_hpsearch_loads_no_heavy_library() -> None:
    code = (
        "import sys, hpsearch; hpsearch.SearchSpace; hpsearch.load_space;"
        "print(sorted(m for m in ('tensorflow', 'keras', 'keras_tuner', 'ray', 'mlflow', 'optuna')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_readme_python_api_on_a_real_search(
    tiny_space: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hpsearch

    monkeypatch.chdir(tmp_path)  # reports/ lands here, as in the README
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    path = tiny_space(name="api-test", training={"epochs": 1}, search={"max_trials": 2})
    space = hpsearch.load_space(path)
    assert isinstance(space, hpsearch.SearchSpace) and space.name == "api-test"

    frame = hpsearch.run(path, strategy="bayesian", max_trials=2, epochs=1, tracking_uri=uri)
    assert len(frame) == 2 and set(frame["status"]) == {"FINISHED"}
    assert frame.attrs["best_value"] == frame["objective"].max()
    parent = frame.attrs["parent_run_id"]

    trials = hpsearch.load_trials("api-test", tracking_uri=uri)
    assert sorted(trials["trial_id"]) == sorted(frame["trial_id"])
    assert set(trials["parent_run_id"]) == {parent}

    report = hpsearch.make_report(experiment="api-test", tracking_uri=uri)
    folder = tmp_path / "reports" / "api-test"
    assert Path(report.html).resolve() == (folder / "index.html").resolve()
    assert (folder / "report.md").is_file() and (folder / "trials.csv").is_file()

    top = hpsearch.best(experiment="api-test", tracking_uri=uri)
    assert top["parent_run_id"] == parent and top["value"] == frame.attrs["best_value"]
    assert top["params"] == frame.attrs["best_params"] and top["model_uri"]
