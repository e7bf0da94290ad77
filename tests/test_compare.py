"""hpsearch.compare: which pairs run, the options and reproduce command each search gets,
and what compare does around its searches. No training: run_search, the engine session and
the report are stand-ins here; real comparisons run end to end in the e2e tests."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hpsearch import compare as compare_module
from hpsearch.compare import COMPARISON_TAG, Comparison, _command, _options_for, compare, plan
from hpsearch.errors import ClusterRefused, SearchFailed, SpaceError, UsageError
from hpsearch.space import Space, parse_space
from hpsearch.trials import SearchCallback
from tests.spaces import OMIT, tiny_space_text

#: The tiny space with one range, 4 epochs and no max_trials.
CMP: dict[str, Any] = {
    "name": "cmp-space",
    "hyperparameters": {"n_hidden": {"int": [1, 3]}},
    "training": {"epochs": 4},
    "search": {"max_trials": OMIT, "seed": 11},
}
SPACE = tiny_space_text(CMP)


def _space(text: str = SPACE, source: Path | None = Path("spaces/cmp.yaml")) -> Space:
    return parse_space(text, source=source)


# --- plan ------------------------------------------------------------------------------------


def test_plan_runs_every_pair_backend_by_backend_and_skips_ray_only_ones_on_keras_tuner() -> None:
    pairs, skipped = plan(["random", "asha", "tpe"], ["keras-tuner", "ray"])
    assert pairs == [("random", "keras-tuner"), ("random", "ray"), ("asha", "ray"), ("tpe", "ray")]
    assert skipped == [
        "asha on keras-tuner (a Ray-only strategy)",
        "tpe on keras-tuner (a Ray-only strategy)",
    ]


def test_plan_collapses_duplicates_keeping_the_first_order() -> None:
    pairs, skipped = plan(["bayesian", "random", "bayesian"], ["ray", "keras-tuner", "ray"])
    assert pairs == [
        ("bayesian", "ray"),
        ("random", "ray"),
        ("bayesian", "keras-tuner"),
        ("random", "keras-tuner"),
    ]
    assert skipped == []


def test_plan_refuses_an_unknown_strategy_naming_the_flag() -> None:
    with pytest.raises(SpaceError) as caught:
        plan(["random", "evolution"], ["ray"])
    assert caught.value.field == "--strategies"
    assert str(caught.value) == (
        "--strategies: unknown strategy 'evolution' "
        "(choose from random, grid, hyperband, bayesian, asha, tpe, bohb, i-epoch)"
    )
    assert isinstance(caught.value, UsageError) and caught.value.exit_code == 2


def test_plan_refuses_an_unknown_backend_naming_the_flag() -> None:
    with pytest.raises(SpaceError) as caught:
        plan(["random"], ["keras-tuner", "optuna"])
    assert caught.value.field == "--backends"
    assert (
        str(caught.value) == "--backends: unknown backend 'optuna' (choose from keras-tuner, ray)"
    )


def test_plan_names_a_bad_strategy_before_a_bad_backend() -> None:
    with pytest.raises(SpaceError, match=r"^--strategies: unknown strategy 'x'"):
        plan(["x"], ["y"])


@pytest.mark.parametrize(
    ("strategies", "backends"),
    [(["asha", "tpe"], ["keras-tuner"]), ([], ["ray"]), (["random"], [])],
)
def test_plan_refuses_when_nothing_can_run(strategies: list[str], backends: list[str]) -> None:
    with pytest.raises(SpaceError) as caught:
        plan(strategies, backends)
    assert str(caught.value) == "--strategies: no strategy can run on the backends given"


# --- _options_for ----------------------------------------------------------------------------


def test_each_engine_gets_only_the_options_it_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    given = {
        "address": "10.0.0.1:6379",
        "max_concurrent": 2,
        "cpus_per_trial": 1.5,
        "time_budget_s": None,
        "workers": 3,
        "retries": 1,
        "unknown_to_all": "x",
    }
    assert _options_for("keras-tuner", given) == {"workers": 3, "retries": 1}
    assert _options_for("ray", given) == {
        "address": "10.0.0.1:6379",
        "max_concurrent": 2,
        "cpus_per_trial": 1.5,
        "retries": 1,
    }
    assert _options_for("ray", {}) == {}


def test_options_an_engine_takes_are_still_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(SpaceError, match=r"^--retries: must be >= 0$"):
        _options_for("keras-tuner", {"retries": -1, "address": "h:1"})
    with pytest.raises(SpaceError, match=r"^--max-concurrent: must be at least 1$"):
        _options_for("ray", {"max_concurrent": 0, "workers": 0})
    # a bad value for the other engine's option never reaches this one's check
    assert _options_for("keras-tuner", {"max_concurrent": 0}) == {}


# --- _command --------------------------------------------------------------------------------


def test_the_command_repeats_one_search_with_its_budget() -> None:
    s = _space().with_overrides(strategy="random", backend="ray")
    assert _command(s, 30, None, "exp") == (
        "hpsearch run spaces/cmp.yaml --strategy random --backend ray --epochs 4 --seed 11 "
        "--experiment exp --budget-epochs 30"
    )
    assert _command(s, None, 90.0, "exp").endswith("--experiment exp --budget-time 90")
    assert _command(s, None, 1.5, "exp").endswith("--experiment exp --budget-time 1.5")
    assert _command(s, 8, 60.0, "exp").endswith("--budget-epochs 8 --budget-time 60")
    assert "--budget" not in _command(s, None, None, "exp")


def test_the_command_passes_epochs_only_where_it_repeats_the_search() -> None:
    def command(max_epochs: int) -> str:
        text = tiny_space_text(CMP, search={"hyperband": {"max_epochs": max_epochs}})
        s = _space(text).with_overrides(strategy="hyperband", backend="keras-tuner")
        return _command(s, 20, None, "exp")

    # --epochs sets max_epochs too: only where they were equal does the flag repeat the search
    assert "--epochs" not in command(9)
    assert command(4) == (
        "hpsearch run spaces/cmp.yaml --strategy hyperband --backend keras-tuner --epochs 4 "
        "--seed 11 --experiment exp --budget-epochs 20"
    )


def test_the_command_of_a_space_without_a_file_names_a_placeholder() -> None:
    s = _space(source=None).with_overrides(seed=5)
    assert _command(s, 3, None, "e") == (
        "hpsearch run SPACE.yaml --strategy random --backend keras-tuner --epochs 4 --seed 5 "
        "--experiment e --budget-epochs 3"
    )


def test_the_command_quotes_a_path_and_an_experiment_with_spaces() -> None:
    s = _space(source=Path("my spaces/cmp space.yaml"))
    argv = shlex.split(_command(s, 5, None, "my exp"))
    assert argv[2] == "my spaces/cmp space.yaml"
    assert argv[argv.index("--experiment") + 1] == "my exp"


# --- compare ---------------------------------------------------------------------------------


class _Stand:
    """Stand-ins for what compare calls: each call is logged, nothing trains or writes."""

    def __init__(
        self, fail: frozenset[tuple[str, str]] = frozenset(), session_fails: bool = False
    ) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.runs: list[tuple[Space, dict[str, Any]]] = []
        self.report: dict[str, Any] = {}
        self.fail, self.session_fails = fail, session_fails

    def run_search(self, space: Space, **kw: Any) -> str:
        pair = (space.search.strategy, space.search.backend)
        self.log.append(("run", *pair))
        self.runs.append((space, kw))
        if pair in self.fail:
            raise SearchFailed("2 trials failed", trials_csv=Path("t.csv"), parent_run_id="p")
        return f"summary {pair[0]}/{pair[1]}"

    def session(self, backend: str, verbose: bool = False, **options: Any) -> Any:
        if self.session_fails:
            raise RuntimeError("no Ray here")

        @contextmanager
        def held() -> Iterator[None]:
            self.log.append(("hold", backend, verbose, options))
            yield
            self.log.append(("release", backend))

        return held()

    def make_report(self, **kw: Any) -> str:
        self.log.append(("report",))
        self.report = kw
        return "the report"


def _install(monkeypatch: pytest.MonkeyPatch, stand: _Stand) -> None:
    monkeypatch.setattr(compare_module, "run_search", stand.run_search)
    monkeypatch.setattr(compare_module, "session", stand.session)
    monkeypatch.setattr(compare_module, "make_report", stand.make_report)


def _refuses_untouched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, message: str, **kw: Any
) -> None:
    stand = _Stand()
    _install(monkeypatch, stand)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpaceError) as caught:
        compare(_space(), output=tmp_path / "out", report_dir=tmp_path / "rep", **kw)
    assert str(caught.value) == message
    assert stand.log == []
    assert list(tmp_path.iterdir()) == []


def test_compare_without_a_budget_is_refused_before_anything_is_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _refuses_untouched(
        monkeypatch,
        tmp_path,
        "--budget-epochs: give --budget-epochs or --budget-time",
        strategies=["random"],
        backends=["keras-tuner"],
    )


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"strategies": ["nope"], "backends": ["ray"], "budget_epochs": 5},
            "--strategies: unknown",
        ),
        ({"strategies": ["asha"], "backends": ["keras-tuner"], "budget_epochs": 5}, "--strategies"),
        ({"strategies": ["random"], "backends": ["ray"], "budget_epochs": 0}, "--budget-epochs"),
        ({"strategies": ["random"], "backends": ["ray"], "budget_seconds": -1.0}, "--budget-time"),
    ],
)
def test_compare_refuses_bad_input_before_anything_is_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kw: dict[str, Any], message: str
) -> None:
    stand = _Stand()
    _install(monkeypatch, stand)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpaceError, match=f"^{re.escape(message)}"):
        compare(_space(), output=tmp_path / "out", **kw)
    assert stand.log == []
    assert list(tmp_path.iterdir()) == []


def test_compare_runs_each_pair_at_one_budget_and_seed_under_one_id(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    stand = _Stand(fail=frozenset({("random", "ray")}))
    _install(monkeypatch, stand)
    started: list[tuple[str, str]] = []
    callbacks = [SearchCallback()]
    result = compare(
        _space(),
        strategies=["random", "asha", "hyperband"],
        backends=["keras-tuner", "ray"],
        budget_epochs=12,
        seed=3,
        tracking_uri="sqlite:///x.db",
        output=tmp_path / "out",
        report_dir=tmp_path / "rep",
        callbacks=callbacks,
        ray_options={"max_concurrent": 2, "workers": 2},
        on_start=lambda strategy, backend: started.append((strategy, backend)),
    )
    assert isinstance(result, Comparison)
    assert re.fullmatch(r"cmp-\d{8}-\d{6}-[0-9a-f]{4}", result.comparison_id)
    assert result.experiment == "cmp-space"
    assert result.skipped == ["asha on keras-tuner (a Ray-only strategy)"]
    assert result.failed == ["random on ray: 2 trials failed"]
    assert result.runs == [
        "summary random/keras-tuner",
        "summary hyperband/keras-tuner",
        "summary asha/ray",
        "summary hyperband/ray",
    ]
    order = [
        ("random", "keras-tuner"),
        ("hyperband", "keras-tuner"),
        ("random", "ray"),
        ("asha", "ray"),
        ("hyperband", "ray"),
    ]
    assert started == order
    # each engine held once, across its searches; all released before the report
    assert stand.log == [
        ("hold", "keras-tuner", False, {"workers": 2}),
        *[("run", *p) for p in order[:2]],
        ("hold", "ray", False, {"max_concurrent": 2}),
        *[("run", *p) for p in order[2:]],
        ("release", "ray"),
        ("release", "keras-tuner"),
        ("report",),
    ]
    cid = result.comparison_id
    for (space, kw), (strategy, backend) in zip(stand.runs, order, strict=True):
        assert (space.search.strategy, space.search.backend) == (strategy, backend)
        assert space.search.seed == 3 and space.search.max_trials == 12
        assert kw["tags"] == {COMPARISON_TAG: cid}
        assert kw["experiment"] == "cmp-space" and kw["tracking_uri"] == "sqlite:///x.db"
        assert kw["budget_epochs"] == 12 and kw["budget_seconds"] is None
        assert kw["callbacks"] is callbacks and kw["output"] == tmp_path / "out"
        assert kw["options"] == (
            {"workers": 2} if backend == "keras-tuner" else {"max_concurrent": 2}
        )
        assert kw["command"] == _command(space, 12, None, "cmp-space")
    assert stand.report == {
        "experiment": "cmp-space",
        "tracking_uri": "sqlite:///x.db",
        "output": tmp_path / "rep",
        "title": "hpsearch compare: cmp-space at a budget of 12 epochs",
        "tags": {COMPARISON_TAG: cid},
    }
    assert result.report == "the report"


def test_the_pruner_goes_to_the_prunable_strategies_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    stand = _Stand()
    _install(monkeypatch, stand)
    pruned = tiny_space_text(CMP, search={"pruner": {"warmup_epochs": 1}})  # the file's, kept
    for space, flag in ((_space(), "median"), (_space(pruned), None)):
        stand.runs.clear()
        compare(
            space,
            strategies=["random", "hyperband", "bayesian"],
            backends=["keras-tuner"],
            budget_epochs=12,
            output=tmp_path / "out",
            report_dir=tmp_path / "rep",
            baseline=True,
            pruner=flag,
        )
        ran = {s.search.strategy: (s, kw["command"]) for s, kw in stand.runs}
        assert sorted(ran) == ["bayesian", "hyperband", "i-epoch", "random"]
        for strategy, (s, command) in ran.items():
            prunes = strategy in ("random", "bayesian")
            assert (s.search.pruner is not None) is prunes, strategy
            assert command.endswith("--pruner median" if prunes else "--pruner none")
        warmup = ran["random"][0].search.pruner.warmup_epochs  # type: ignore[union-attr]
        assert warmup == (2 if flag else 1)
    stand.runs.clear()
    compare(_space(), strategies=["random"], backends=["keras-tuner"], budget_epochs=4,
            output=tmp_path / "out", report_dir=tmp_path / "rep")  # fmt: skip
    assert stand.runs[0][0].search.pruner is None
    assert "--pruner" not in stand.runs[0][1]["command"]


def test_compare_by_time_reports_in_seconds_into_its_own_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stand = _Stand()
    _install(monkeypatch, stand)
    result = compare(
        _space(),
        strategies=["random"],
        backends=["keras-tuner"],
        budget_seconds=90.0,
        experiment="mine",
    )
    assert result.experiment == "mine" and result.runs == ["summary random/keras-tuner"]
    assert stand.report["title"] == "hpsearch compare: mine at a budget of 90 s"
    assert stand.report["output"] == Path("reports") / f"mine-{result.comparison_id}"
    assert stand.runs[0][1]["command"].endswith("--experiment mine --budget-time 90")


def test_an_engine_that_cannot_be_held_is_left_to_each_search(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stand = _Stand(session_fails=True)
    _install(monkeypatch, stand)
    result = compare(
        _space(),
        strategies=["random", "tpe"],
        backends=["ray"],
        budget_epochs=2,
        report_dir=tmp_path,
    )
    assert stand.log == [("run", "random", "ray"), ("run", "tpe", "ray"), ("report",)]
    assert result.failed == [] and len(result.runs) == 2


def test_a_cluster_that_refuses_this_client_stops_compare_before_any_search(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Keras Tuner pairs run first, so the Ray cluster's refusal must come before them:
    every engine is asked (preflight) before the first search creates a run."""
    stand = _Stand()
    _install(monkeypatch, stand)
    asked: list[tuple[str, dict[str, Any]]] = []

    def refuse(backend: str, options: dict[str, Any]) -> None:
        asked.append((backend, options))
        if backend == "ray":
            raise ClusterRefused("ray: the cluster at head:6379 refused this client's token")

    monkeypatch.setattr(compare_module, "preflight", refuse)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ClusterRefused, match="refused this client's token"):
        compare(
            _space(),
            strategies=["random"],
            backends=["keras-tuner", "ray"],
            budget_epochs=4,
            output=tmp_path / "out",
            ray_options={"address": "head:6379"},
        )
    assert [b for b, _ in asked] == ["keras-tuner", "ray"]
    assert asked[1][1]["address"] == "head:6379" and "address" not in asked[0][1]
    assert stand.log == []
    assert list(tmp_path.iterdir()) == []


# --- the i-epoch baseline --------------------------------------------------------------------


def test_the_baseline_runs_once_after_the_keras_tuner_searches() -> None:
    pairs, skipped = plan(["random", "asha"], ["keras-tuner", "ray"], baseline=True)
    assert pairs == [
        ("random", "keras-tuner"),
        ("i-epoch", "keras-tuner"),
        ("random", "ray"),
        ("asha", "ray"),
    ]
    assert skipped == ["asha on keras-tuner (a Ray-only strategy)"]
    # listed as well: still once, and not "skipped on ray"
    listed, skipped = plan(["i-epoch", "random"], ["keras-tuner", "ray"], baseline=True)
    assert listed == pairs[:3] and skipped == []
    assert plan(["i-epoch"], ["keras-tuner"], baseline=True)[0] == [("i-epoch", "keras-tuner")]


def test_the_baseline_runs_on_keras_tuner_when_the_backends_leave_it_out() -> None:
    pairs, skipped = plan(["tpe", "i-epoch"], ["ray"], baseline=True)
    assert pairs == [("tpe", "ray"), ("i-epoch", "keras-tuner")] and skipped == []
    # without the baseline i-epoch is a Keras Tuner-only strategy like any other
    pairs, skipped = plan(["tpe", "i-epoch"], ["ray"])
    assert pairs == [("tpe", "ray")]
    assert skipped == ["i-epoch on ray (a Keras Tuner-only strategy)"]


def test_the_baseline_alone_is_no_comparison() -> None:
    with pytest.raises(SpaceError, match="no strategy can run on the backends given"):
        plan(["asha"], ["keras-tuner"], baseline=True)


def test_compare_runs_the_baseline_with_as_many_configurations_as_the_budget_pays_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """B = 12 epochs, E = 4, i = 1, keep = 0.2: N = floor(12 / 1.6) = 7 configurations."""
    stand = _Stand()
    _install(monkeypatch, stand)
    result = compare(
        _space(),
        strategies=["random"],
        backends=["ray"],
        budget_epochs=12,
        report_dir=tmp_path,
        baseline=True,
    )
    assert [(s.search.strategy, s.search.backend) for s, _ in stand.runs] == [
        ("random", "ray"),
        ("i-epoch", "keras-tuner"),
    ]
    (random_space, _), (iepoch, kw) = stand.runs
    assert random_space.search.max_trials == 12
    assert iepoch.search.max_trials == 7 and iepoch.hyperband_cap()[0] == 7 + 2
    assert kw["budget_epochs"] == 12 and kw["options"] == {}
    assert kw["command"].startswith("hpsearch run spaces/cmp.yaml --strategy i-epoch ")
    assert result.skipped == []


def test_a_space_that_cannot_run_the_baseline_skips_it_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stand = _Stand()
    _install(monkeypatch, stand)
    text = tiny_space_text(CMP, training={"epochs": 4, "cv": 3})
    result = compare(
        _space(text),
        strategies=["random"],
        backends=["keras-tuner"],
        budget_epochs=6,
        report_dir=tmp_path,
        baseline=True,
    )
    assert [s.search.strategy for s, _ in stand.runs] == ["random"]
    assert len(result.skipped) == 1
    assert result.skipped[0].startswith("the i-epoch baseline (i-epoch stops and resumes trials")


class _CliStand(_Stand):
    def make_report(self, **kw: Any) -> Any:
        from types import SimpleNamespace

        super().make_report(**kw)
        return SimpleNamespace(verdict=["(verdict)"], html=Path("report.html"))


@pytest.mark.parametrize(
    ("flags", "runs"),
    [
        ([], [("random", "ray"), ("tpe", "ray"), ("i-epoch", "keras-tuner")]),
        (["--no-baseline"], [("random", "ray"), ("tpe", "ray")]),
        (["--baseline", "--epochs", "1"], [("random", "ray"), ("tpe", "ray")]),
    ],
)
def test_hpsearch_compare_adds_the_baseline_unless_told_not_to(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flags: list[str], runs: list[Any]
) -> None:
    """By default; not with --no-baseline; and not when the epochs leave the baseline
    nothing to continue (said on stderr as skipped)."""
    from tests.in_process import hpsearch

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    stand = _CliStand()
    _install(monkeypatch, stand)
    (tmp_path / "cmp.yaml").write_text(SPACE)
    done = hpsearch("compare", "cmp.yaml", "--strategies", "random,tpe", "--backends", "ray",
                    "--budget-epochs", "8", *flags, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [entry[1:] for entry in stand.log if entry[0] == "run"] == runs
    assert f"{len(runs)} searches" in done.stdout
    skipped = "skipped: the i-epoch baseline (i_epoch.epochs (1) must be below the full epochs (1)"
    assert (skipped in done.stderr) == ("1" in flags)


@pytest.mark.parametrize(
    ("target", "extra", "phrase"),
    [
        ("species", "", "target column 'species' not found"),
        (
            "target",
            "  architecture: {choice: [mlp, wide_deep]}\nmodel: {wide_features: [petal_lenght]}\n",
            "petal_lenght",
        ),
    ],
    ids=["no-target", "wide-deep-name"],
)
def test_bad_data_is_one_line_before_any_search_starts(
    tmp_path: Path, target: str, extra: str, phrase: str
) -> None:
    """What only the data can tell (a CSV without its target, a Wide & Deep column it does
    not have) is one line and exit 2 before the first search's progress line, with no
    store, run or folder made: compare loads the data before any search (cached for them)."""
    from sklearn.datasets import load_iris

    from tests.in_process import hpsearch

    frame = load_iris(as_frame=True).frame
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    frame.to_csv(tmp_path / "iris.csv", index=False)
    (tmp_path / "cmp.yaml").write_text(
        f'name: cmp-data\ndataset: {{name: "csv:iris.csv", target: {target}}}\n'
        "hyperparameters:\n  n_neurons: {choice: [8, 16]}\n" + extra
    )
    before = set(tmp_path.iterdir())
    done = hpsearch("compare", "cmp.yaml", "--budget-epochs", "4", "--tracking-uri",
                    f"sqlite:///{tmp_path / 'm.db'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cmp.yaml:") and phrase in lines[0], lines
    assert set(tmp_path.iterdir()) == before  # no m.db, no reports/, no search folder


def test_an_unreachable_server_is_found_before_the_data_is_read(tmp_path: Path) -> None:
    """As `run` does: the server first (seconds), then the data (maybe a download)."""
    import socket

    from tests.in_process import hpsearch

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the socket is
    (tmp_path / "cmp.yaml").write_text(
        'name: cmp-data\ndataset: {name: "csv:absent.csv", target: y}\n'
        "hyperparameters:\n  n_neurons: {choice: [8, 16]}\n"
    )
    done = hpsearch("compare", "cmp.yaml", "--budget-epochs", "4", "--tracking-uri",
                    f"http://127.0.0.1:{port}", cwd=tmp_path)  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "absent.csv" not in lines[0], lines
