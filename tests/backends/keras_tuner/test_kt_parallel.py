"""Parallel Keras Tuner (a chief oracle and worker processes) and its supervisor.

The first tests drive the supervisor with small fake children that speak the same event
protocol (fast, no TensorFlow); the ``slow`` ones run real two-worker searches on digits into
a real sqlite MLflow store, and kill a real worker with SIGKILL.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hpsearch.api import SearchSummary, prepare, run_search
from hpsearch.backends.keras_tuner import parallel as kt_parallel
from hpsearch.backends.keras_tuner.parallel import Supervisor
from hpsearch.backends.keras_tuner.spec import read_spec, write_spec
from hpsearch.gpus import WorkerSlot, assign_workers
from hpsearch.space import parse_space
from hpsearch.trials import SearchCallback, TrialResult
from tests.spaces import MLP, OMIT, tiny_space_text

#: A two-worker search on digits takes 25-40 s on a 2-core machine; past this it hangs.
LIMIT_S = 150.0

# ----------------------------------------------------------------------------- helpers


def _children_of(pid: int) -> dict[int, str]:
    """Live child processes of ``pid`` that run a search child: pid -> command line."""
    out: dict[int, str] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
            cmdline = Path(stat).with_name("cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == pid and state != "Z" and ("--role" in cmdline):
            out[int(stat.split("/")[2])] = cmdline
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Recorder(SearchCallback):
    """Records every event, the thread it came on, and the search children seen meanwhile."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.threads: set[int] = set()
        self.pids: set[int] = set()

    def _note(self, kind: str, payload: Any) -> None:
        self.events.append((kind, payload))
        self.threads.add(threading.get_ident())
        self.pids.update(_children_of(os.getpid()))

    def on_trial_begin(self, trial_id: str, params: dict[str, Any]) -> None:
        self._note("begin", trial_id)

    def on_epoch_end(self, trial_id: str, epoch: int, logs: dict[str, float]) -> None:
        self._note("epoch", (trial_id, epoch))

    def on_trial_end(self, result: TrialResult) -> None:
        self._note("end", result)


# ----------------------------------------------------------------------------- fake children

FAKE_CHILD = textwrap.dedent(
    """
    import json, os, signal, sys, time
    from hpsearch.backends.keras_tuner import events as kt_events
    from hpsearch.trials import TrialResult

    args = sys.argv[1:]
    name = args[args.index("--tuner-id") + 1]
    plan = json.loads(os.environ["FAKE_PLAN"])[name]
    events = kt_events.EventWriter(kt_events.open_event_stream())
    print("chatter on stdout must land in the log, not in the event stream")

    def on_command(cmd):
        with open(os.environ["FAKE_COMMANDS"], "a") as fh:
            fh.write(json.dumps(cmd) + "\\n")
        if cmd["cmd"] == "fail" and plan.get("reply"):
            events.send("trial_failed", trial_id=plan["reply"], params={"x": 99},
                        worker=cmd["tuner_id"])
        if cmd["cmd"] == "verdict":  # as child.py hands it on
            events.hear_verdict(cmd["trial_id"], cmd["epoch"], cmd["prune"])

    kt_events.watch_parent(on_command)
    do = plan["do"]
    if do == "serve":
        time.sleep(plan.get("for", 3600))
        sys.exit(plan.get("code", 0))
    if do == "crash":
        time.sleep(plan.get("after", 0))
        print("Traceback (most recent call last):", file=sys.stderr)
        print("ValueError: " + plan["say"], file=sys.stderr)
        sys.exit(1)
    if do == "sigkill":
        time.sleep(plan.get("after", 0))
        os.kill(os.getpid(), signal.SIGKILL)
    events.verdicts = plan.get("verdicts", False)
    for tid in plan.get("ids", []):
        events.on_trial_begin(tid, {"x": int(tid)})
        events.on_epoch_end(tid, 1, {"loss": 0.5, "val_accuracy": float("nan")})
        status = "PRUNED" if events.prune(tid) else "FINISHED"  # as the tuner asks
        time.sleep(plan.get("pause", 0))
        events.on_trial_end(TrialResult(tid, status, {"x": int(tid)}, 0.5, 1, 0.01,
                                        history={"loss": [0.5]}, worker=name))
    if do == "hang":
        events.on_trial_begin(plan["id"], {"x": 7})
        events.on_epoch_end(plan["id"], 1, {"loss": 0.25})
        time.sleep(3600)
    """
)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A supervisor factory whose children run FAKE_CHILD with a per-child plan."""
    script = tmp_path / "fake_child.py"
    script.write_text(FAKE_CHILD)
    commands = tmp_path / "commands.jsonl"
    monkeypatch.setenv("FAKE_COMMANDS", str(commands))

    def make(
        plan: dict[str, Any], callbacks: SearchCallback, grace: float = 10.0, **kw: Any
    ) -> Supervisor:
        monkeypatch.setenv("FAKE_PLAN", json.dumps(plan))
        workers = [WorkerSlot(n) for n in plan if n != "chief"]
        return Supervisor(
            [sys.executable, str(script)],
            workers,
            callbacks,
            log_dir=tmp_path / "logs",
            verbose=False,
            failed_fields={"strategy": "random", "backend": "keras-tuner", "seed": 3},
            chief_grace_s=grace,
            **kw,
        )

    make.commands = commands  # type: ignore[attr-defined]
    return make


def test_events_from_every_worker_reach_the_callbacks_on_one_thread(fake: Any) -> None:
    rec = Recorder()
    plan = {
        "chief": {"do": "serve"},
        "tuner0": {"do": "trials", "ids": ["0000", "0002"]},
        "tuner1": {"do": "trials", "ids": ["0001", "0003"]},
    }
    run = fake(plan, rec).run()
    assert [r.trial_id for r in run.results] == ["0000", "0001", "0002", "0003"]
    assert {r.worker for r in run.results} == {"tuner0", "tuner1"}
    assert run.warnings == []
    assert rec.threads == {threading.get_ident()}  # callbacks are not thread-safe
    begins = [p for k, p in rec.events if k == "begin"]
    ends = [p.trial_id for k, p in rec.events if k == "end"]
    assert sorted(begins) == sorted(ends) == ["0000", "0001", "0002", "0003"]
    assert ("epoch", ("0003", 1)) in rec.events
    assert len(run.pids) == 3 and not any(_alive(p) for p in run.pids)
    assert _children_of(os.getpid()) == {}
    log = (Path(fake.commands).parent / "logs" / "tuner0.log").read_text()
    assert "chatter on stdout" in log  # a child's prints go to its log, not the event stream


def test_a_crashed_worker_is_reported_and_the_others_carry_on(fake: Any) -> None:
    rec = Recorder()
    plan = {
        "chief": {"do": "serve", "reply": "0005"},
        "tuner0": {"do": "trials", "ids": ["0000", "0001"], "pause": 0.3},
        "tuner1": {"do": "crash", "say": "no such dataset"},
    }
    run = fake(plan, rec).run()
    assert len(run.warnings) == 1
    warning = run.warnings[0]
    assert warning.startswith("worker tuner1 exited with code 1")
    assert "ValueError: no such dataset" in warning and "tuner1.log" in warning
    # The chief was told, and reported the trial it had handed the dead worker.
    commands = [json.loads(ln) for ln in Path(fake.commands).read_text().splitlines()]
    assert {"cmd": "fail", "tuner_id": "tuner1"}.items() <= commands[0].items()
    by_id = {r.trial_id: r for r in run.results}
    assert by_id["0000"].status == by_id["0001"].status == "FINISHED"
    lost = by_id["0005"]
    assert lost.status == "FAILED" and lost.params == {"x": 99}
    assert lost.error is not None and lost.error.startswith("WorkerDied: worker tuner1")
    assert (lost.strategy, lost.backend, lost.seed) == ("random", "keras-tuner", 3)
    assert not any(_alive(p) for p in run.pids)


def test_a_worker_killed_mid_trial_fails_that_trial(fake: Any) -> None:
    rec = Recorder()
    plan = {
        "chief": {"do": "serve"},
        "tuner0": {"do": "trials", "ids": ["0000"]},
        "tuner1": {"do": "hang", "id": "0001"},
    }
    supervisor = fake(plan, rec)
    killer = threading.Thread(target=_kill_when_hanging, args=(rec,), daemon=True)
    killer.start()
    run = supervisor.run()
    by_id = {r.trial_id: r for r in run.results}
    failed = by_id["0001"]
    assert failed.status == "FAILED" and failed.worker == "tuner1" and failed.epochs == 1
    assert failed.history == {"loss": [0.25]} and failed.params == {"x": 7}
    assert failed.error == "WorkerDied: worker tuner1 was killed by SIGKILL during trial 0001"
    assert run.warnings[0].startswith("worker tuner1 was killed by SIGKILL during trial 0001")
    assert by_id["0000"].status == "FINISHED"


def _kill_when_hanging(rec: Recorder) -> None:
    """Wait until tuner1 has reported its epoch, then SIGKILL it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ("epoch", ("0001", 1)) in rec.events:
            for pid, cmd in _children_of(os.getpid()).items():
                if cmd.rstrip().endswith("--tuner-id tuner1"):
                    os.kill(pid, signal.SIGKILL)
                    return
        time.sleep(0.05)


def test_every_worker_failing_is_an_error_naming_the_cause(fake: Any) -> None:
    plan = {
        "chief": {"do": "serve"},
        "tuner0": {"do": "crash", "say": "bad spec"},
        "tuner1": {"do": "crash", "say": "bad spec", "after": 0.2},
    }
    supervisor = fake(plan, Recorder())
    with pytest.raises(
        RuntimeError,
        match=r"every Keras Tuner worker failed; tuner0 exited "
        r"with code 1: ValueError: bad spec \(log: .*tuner0\.log\)",
    ):
        supervisor.run()
    assert _children_of(os.getpid()) == {}


def test_a_chief_that_cannot_start_is_named_as_the_cause(fake: Any) -> None:
    plan = {
        "chief": {"do": "crash", "say": "address already in use"},
        "tuner0": {"do": "serve"},
        "tuner1": {"do": "serve"},
    }
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="failed; chief exited with code 1: ValueError: addr"):
        fake(plan, Recorder(), grace=0.5).run()
    assert time.monotonic() - start < 30
    assert _children_of(os.getpid()) == {}


def test_a_dead_chief_stops_the_workers_after_a_grace_period(fake: Any) -> None:
    rec = Recorder()
    plan = {
        "chief": {"do": "serve", "for": 1.0, "code": 3},
        "tuner0": {"do": "hang", "id": "0000"},
        "tuner1": {"do": "hang", "id": "0001"},
    }
    start = time.monotonic()
    run = fake(plan, rec, grace=0.5).run()
    assert time.monotonic() - start < 30
    assert run.warnings[0].startswith("the Keras Tuner chief oracle exited with code 3")
    assert sorted(r.trial_id for r in run.results) == ["0000", "0001"]
    for r in run.results:
        assert r.status == "FAILED"
        assert r.error == (
            f"WorkerDied: worker {r.worker} stopped after the chief oracle exited "
            f"during trial {r.trial_id}"
        )
    assert not any(_alive(p) for p in run.pids)


def test_an_interrupt_kills_every_child(fake: Any) -> None:
    class Interrupt(Recorder):
        def on_trial_begin(self, trial_id: str, params: dict[str, Any]) -> None:
            super().on_trial_begin(trial_id, params)
            raise KeyboardInterrupt

    rec = Interrupt()
    plan = {
        "chief": {"do": "serve"},
        "tuner0": {"do": "hang", "id": "0000"},
        "tuner1": {"do": "hang", "id": "0001"},
    }
    supervisor = fake(plan, rec)
    with pytest.raises(KeyboardInterrupt):
        supervisor.run()
    assert len(rec.pids) == 3
    assert not any(_alive(p) for p in rec.pids)
    assert _children_of(os.getpid()) == {}


def test_with_a_pruner_each_epoch_is_answered_with_the_pruner_s_verdict(fake: Any) -> None:
    class PruneOdd(Recorder):
        def prune(self, trial_id: str) -> bool:
            return int(trial_id) % 2 == 1

    plan = {
        "chief": {"do": "serve"},
        "tuner0": {"do": "trials", "ids": ["0000", "0001", "0002"], "verdicts": True},
    }
    run = fake(plan, PruneOdd(), verdicts=True).run()
    assert [r.status for r in run.results] == ["FINISHED", "PRUNED", "FINISHED"]
    commands = [json.loads(ln) for ln in Path(fake.commands).read_text().splitlines()]
    verdicts = [c for c in commands if c["cmd"] == "verdict"]
    assert verdicts == [
        {"cmd": "verdict", "trial_id": tid, "epoch": 1, "prune": tid == "0001"}
        for tid in ("0000", "0001", "0002")
    ]
    plan["tuner0"]["verdicts"] = False
    fake(plan, PruneOdd()).run()  # no pruner: no verdicts, and workers never wait for one
    again = [json.loads(ln) for ln in Path(fake.commands).read_text().splitlines()]
    assert len([c for c in again if c["cmd"] == "verdict"]) == 3


def test_a_worker_waits_for_the_verdict_on_the_epoch_it_just_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from hpsearch.backends.keras_tuner import events as kt_events

    writer = kt_events.EventWriter(io.StringIO(), verdicts=True)
    writer.on_epoch_end("0003", 1, {"loss": 1.0})
    answer = threading.Timer(0.2, writer.hear_verdict, ("0003", 1, True))  # the command thread
    answer.start()
    started = time.monotonic()
    assert writer.prune("0003") is True
    assert 0.1 < time.monotonic() - started < 3
    writer.on_epoch_end("0004", 1, {"loss": 1.0})
    writer.hear_verdict("0004", 1, False)
    writer.on_epoch_end("0004", 2, {"loss": 1.0})  # its verdict on epoch 2 never comes
    monkeypatch.setattr(kt_events, "VERDICT_WAIT_S", 0.05)
    assert writer.prune("0004") is False  # it trains on; the next verdict may stop it
    assert kt_events.EventWriter(io.StringIO()).prune("0003") is False  # no pruner: no wait


def test_the_spec_round_trips_the_space_with_its_overrides(tmp_path: Path) -> None:
    space = prepare(
        parse_space(SPACE, source=tmp_path / "s.yaml"),
        strategy="bayesian",
        max_trials=9,
        epochs=5,
        seed=11,
    )
    path = write_spec(tmp_path / "w" / "spec.json", space, workdir=tmp_path, verbose=True)
    back, workdir, verbose = read_spec(path)
    assert back == space
    assert (workdir, verbose) == (tmp_path, True)


def test_the_spec_carries_a_custom_builder(tmp_path: Path) -> None:
    """A parallel worker trains the user's builder's model, not hpsearch's MLP."""
    text = tiny_space_text(
        builder="custom_builders:build",
        objective=OMIT,
        hyperparameters={"width_mult": {"choice": [1, 2]}},
    )
    space = parse_space(text, source=tmp_path / "s.yaml")
    assert space.builder == "custom_builders:build" and not space.objective_given
    back, _, _ = read_spec(
        write_spec(tmp_path / "spec.json", space, workdir=tmp_path, verbose=False)
    )
    assert back == space
    assert back.builder == space.builder and back.objective_given is False


def test_the_spec_carries_wide_deep_columns(tmp_path: Path) -> None:
    """A parallel worker builds the same Wide & Deep model: its columns travel too."""
    text = tiny_space_text(
        dataset={"name": "diabetes"},
        objective="val_mae",
        hyperparameters={"architecture": "wide_deep"},
        model={"wide_features": ["bmi", 0]},
    )
    space = parse_space(text, source=tmp_path / "s.yaml")
    back, _, _ = read_spec(
        write_spec(tmp_path / "spec.json", space, workdir=tmp_path, verbose=False)
    )
    assert back.model == space.model and back.model is not None


# ----------------------------------------------------------------------------- real searches

SPACE = tiny_space_text(
    name="digits-parallel",
    objective="val_accuracy",
    hyperparameters=MLP,
    training={"patience": None},
    search={"max_trials": 4, "seed": 7, "hyperband": {"max_epochs": 2, "factor": 2}},
)


@contextmanager
def _watchdog(limit: float) -> Iterator[None]:
    """SIGKILL this test's search children after ``limit`` seconds, so a search that would
    hang ends (and fails its time assertion) instead of blocking CI."""
    done = threading.Event()

    def watch() -> None:
        if not done.wait(limit):
            for pid in _children_of(os.getpid()):
                os.kill(pid, signal.SIGKILL)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


def _search(tmp: Path, strategy: str, callbacks: list[SearchCallback], **kw: Any) -> Any:
    space = prepare(parse_space(SPACE, source=tmp / "space.yaml"), strategy=strategy, **kw)
    with _watchdog(LIMIT_S):
        return run_search(
            space,
            tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}",
            output=tmp / "out",
            callbacks=callbacks,
            options={"workers": 2},
        )


def _children_runs(summary: SearchSummary) -> tuple[list[Any], list[Any], Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=summary.tracking_uri)
    exp = client.get_experiment_by_name(summary.experiment)
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == summary.parent_run_id]
    return parents, children, client


@pytest.fixture(scope="module")
def random2(tmp_path_factory: pytest.TempPathFactory) -> tuple[SearchSummary, Recorder, float]:
    rec = Recorder()
    start = time.monotonic()
    summary = _search(tmp_path_factory.mktemp("random2"), "random", [rec])
    return summary, rec, time.monotonic() - start


@pytest.mark.slow
def test_two_workers_land_as_children_of_one_parent(
    random2: tuple[SearchSummary, Recorder, float],
) -> None:
    summary, rec, _ = random2
    frame = summary.frame
    assert len(frame) == 4 and (frame["status"] == "FINISHED").all(), frame
    assert set(frame["worker"]) == {"tuner0", "tuner1"}  # both workers ran trials
    assert list(frame["trial_id"]) == ["0000", "0001", "0002", "0003"]
    assert summary.warnings == []
    parents, children, client = _children_runs(summary)
    assert [p.info.run_id for p in parents] == [summary.parent_run_id]
    assert len(children) == len(frame)
    rows = frame.set_index("trial_id")
    for run in children:
        row = rows.loc[run.data.tags["hpsearch.trial_id"]]
        sampled = {
            c.removeprefix("params."): row[c] for c in rows.columns if c.startswith("params.")
        }
        assert run.data.params == {k: str(v) for k, v in sampled.items()}
        assert run.info.status == "FINISHED"
        assert run.data.tags["hpsearch.worker"] == row["worker"]
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert sorted(m.step for m in history) == [1, 2]
        assert max(m.value for m in history) == pytest.approx(row["objective"])
    assert rec.threads == {threading.get_ident()}


@pytest.mark.slow
def test_the_best_parallel_model_reloads_and_scores_its_objective(
    random2: tuple[SearchSummary, Recorder, float],
) -> None:
    import mlflow.pyfunc
    import numpy as np

    from hpsearch.data import load_dataset

    summary, _, _ = random2
    assert summary.best is not None and summary.best_model_uri
    model = mlflow.pyfunc.load_model(summary.best_model_uri)
    data = load_dataset(parse_space(SPACE).dataset, 7)
    from tests.raw_rows import raw_rows

    probs = model.predict(raw_rows("digits", data, "valid"))[data.class_names].to_numpy()
    accuracy = float(np.mean(probs.argmax(axis=1) == data.y_valid))
    assert accuracy == pytest.approx(summary.best.objective, abs=1e-6)


@pytest.mark.slow
def test_no_process_is_left_behind(random2: tuple[SearchSummary, Recorder, float]) -> None:
    summary, rec, seconds = random2
    commands = rec.pids
    assert len(commands) == 3, commands  # the chief and two workers were seen running
    assert not any(_alive(p) for p in commands)
    assert _children_of(os.getpid()) == {}
    logs = summary.workdir / "workers"
    assert {p.name for p in logs.iterdir()} >= {"chief.log", "tuner0.log", "tuner1.log"}
    print(f"two-worker random search: {seconds:.1f} s")


class KillOnBegin(Recorder):
    """SIGKILLs whichever worker runs ``trial_id`` as soon as that trial begins."""

    def __init__(self, out: Path, trial_id: str) -> None:
        super().__init__()
        self.out, self.trial_id = out, trial_id
        self.killed: str | None = None

    def on_trial_begin(self, trial_id: str, params: dict[str, Any]) -> None:
        super().on_trial_begin(trial_id, params)
        if trial_id != self.trial_id:
            return
        # The chief saves which tuner runs which trial before it hands the trial out.
        worker = _runner_of(self.out, int(trial_id))
        for pid, cmd in _children_of(os.getpid()).items():
            if cmd.rstrip().endswith(f"--tuner-id {worker}"):
                os.kill(pid, signal.SIGKILL)
                self.killed = worker


def _runner_of(out: Path, kt_trial: int) -> str:
    for _ in range(100):
        for path in glob.glob(str(out / "*" / "*" / "tuner" / "oracle.json")):
            try:
                ongoing = json.loads(Path(path).read_text())["ongoing_trials"]
            except (OSError, ValueError, KeyError):
                continue
            for tuner_id, trial in ongoing.items():
                if int(trial) == kt_trial:
                    return str(tuner_id)
        time.sleep(0.05)
    raise AssertionError(f"no worker runs trial {kt_trial}")


@pytest.mark.slow
def test_a_killed_worker_is_reported_and_hyperband_does_not_hang(tmp_path: Path) -> None:
    # max_epochs 2, factor 2 is a 5-trial schedule: trials 0 and 1 race in bracket 1, the
    # better continues in round 1, then bracket 0 runs two. With trial 1's worker dead,
    # Hyperband would wait for trial 1 forever unless the chief is told it failed.
    rec = KillOnBegin(tmp_path / "out", "0001")
    start = time.monotonic()
    summary = _search(tmp_path, "hyperband", [rec], max_trials=5)
    seconds = time.monotonic() - start
    assert seconds < LIMIT_S, seconds
    killed = rec.killed
    assert killed in ("tuner0", "tuner1")
    assert any(
        w.startswith(f"worker {killed} was killed by SIGKILL during trial 0001")
        for w in summary.warnings
    ), summary.warnings
    frame = summary.frame.set_index("trial_id")
    assert frame.loc["0001", "status"] == "FAILED"
    assert frame.loc["0001", "worker"] == killed
    assert frame.loc["0001", "error"].startswith("WorkerDied: worker ")
    rest = frame.drop(index="0001")
    assert len(rest) >= 2 and (rest["status"] == "FINISHED").all(), frame
    survivor = "tuner1" if killed == "tuner0" else "tuner0"
    after = [t for t in rest.index if t > "0001"]
    assert after and (rest.loc[after, "worker"] == survivor).all()  # the survivor carried on
    parents, children, _ = _children_runs(summary)
    assert len(parents) == 1 and len(children) == len(frame)
    statuses = {r.data.tags["hpsearch.trial_id"]: r.info.status for r in children}
    assert statuses["0001"] == "FAILED"
    assert not any(_alive(p) for p in rec.pids)
    assert _children_of(os.getpid()) == {}
    print(f"hyperband with a killed worker: {seconds:.1f} s")


def test_assignment_feeds_the_backend() -> None:
    from hpsearch.backends.keras_tuner import KerasTunerBackend

    backend = KerasTunerBackend(gpus=[0, 1])
    assert backend.workers == 2 and backend.slots == assign_workers(None, [0, 1])
    assert KerasTunerBackend().workers == 1
    assert KerasTunerBackend(workers=3, gpus=[1]).slots[2] == WorkerSlot("tuner2", 1)
    assert kt_parallel.describe_exit(-9) == "was killed by SIGKILL"
    assert kt_parallel.describe_exit(2) == "exited with code 2"
