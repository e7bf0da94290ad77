"""Tracking helpers, and commands that read a store: never making one."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpsearch.tracking import EXPERIMENT_KIND_TAG, MODEL_TRAINING, ensure_experiment, redact_uri
from tests.in_process import hpsearch


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://bob:s3cr3t@mlflow.example:5000/", "https://***@mlflow.example:5000/"),
        ("hpsearch run x --tracking-uri http://tok@h:5000 --seed 1",
         "hpsearch run x --tracking-uri http://***@h:5000 --seed 1"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("sqlite:///data/a@b.db", "sqlite:///data/a@b.db"),  # a path, not credentials
        ("databricks://profile", "databricks://profile"),
    ],
)  # fmt: skip
def test_redact_uri_hides_credentials_embedded_in_a_uri(text: str, expected: str) -> None:
    assert redact_uri(text) == expected


# ------------------------------------------------------------------ reading a store, not making one


@pytest.mark.parametrize("command", [["best"], ["report"], ["refit", "0123abcd"]])
def test_readers_in_the_wrong_folder_create_nothing_and_say_where_they_looked(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`best`, `report` and `refit` where no search ran: exit 2, one line naming the store
    they looked for (with its absolute path), and no mlflow.db or lock file left behind."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = [*command] if command[0] == "refit" else [*command, "--experiment", "digits-mlp"]
    done = hpsearch(*args, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no MLflow store at"), lines
    assert str(tmp_path / "mlflow.db") in lines[0] and "--tracking-uri" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_experiment_names_the_store_and_the_close_name(tmp_path: Path) -> None:
    """A typo in --experiment: the store it looked in, a "did you mean", and what is there;
    the experiments hpsearch creates open on the runs table in MLflow 3's UI."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = MlflowClient(uri)
    for name in ("digits-mlp", "penguins-mlp"):
        ensure_experiment(client, name)
    assert client.get_experiment_by_name("digits-mlp").tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING
    before = sorted(tmp_path.iterdir())
    for command in ("best", "report"):
        done = hpsearch(command, "--experiment", "digits-mpl", "--tracking-uri", uri, cwd=tmp_path)
        assert done.returncode == 2, (done.stdout, done.stderr)
        (line,) = done.stderr.strip().splitlines()
        assert f"no MLflow experiment named 'digits-mpl' at {uri}" in line
        assert "(did you mean 'digits-mlp'?)" in line and "penguins-mlp" in line
    assert sorted(tmp_path.iterdir()) == before


def test_ensure_experiment_marks_an_existing_experiment(tmp_path: Path) -> None:
    """An experiment made elsewhere (untagged: MLflow 3 shows it as GenAI) becomes a
    model-training one when hpsearch writes to it; its id is kept."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'm.db'}")
    exp_id = client.create_experiment("made-by-hand")
    assert ensure_experiment(client, "made-by-hand") == exp_id
    assert client.get_experiment(exp_id).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING


def test_ui_page_links_the_experiment_and_marks_older_ones(tmp_path: Path) -> None:
    """`hpsearch ui`'s link: a named experiment's runs in the model-training view; with two
    experiments and no name, the list. An experiment an older hpsearch wrote (untagged, one
    search) is marked model-training; one without searches is left alone. A name the store
    lacks is one line with a "did you mean", before any UI starts."""
    from mlflow.tracking import MlflowClient

    from hpsearch.tracking import NoSearches, ui_page

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    assert ui_page(uri, None) == "#/" and not (tmp_path / "m.db").exists()
    client = MlflowClient(uri)
    digits = ensure_experiment(client, "digits-mlp")
    older = client.create_experiment("penguins-mlp")
    client.create_run(older, tags={"hpsearch.role": "search"})
    other = client.create_experiment("someone-else")
    assert ui_page(uri, None) == "#/"
    assert client.get_experiment(older).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING
    assert EXPERIMENT_KIND_TAG not in client.get_experiment(other).tags
    page = f"#/experiments/{digits}/runs?workflowType=machine_learning"
    assert ui_page(uri, "digits-mlp") == page
    with pytest.raises(NoSearches, match=r"did you mean 'digits-mlp'"):
        ui_page(uri, "digits-mpl")
    done = hpsearch("ui", "--tracking-uri", uri, "--experiment", "digits-mpl", "--port", "1",
                    cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and "did you mean 'digits-mlp'" in done.stderr
