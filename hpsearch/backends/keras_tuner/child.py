"""What a parallel search's chief and worker processes run (``python -m
hpsearch.backends.keras_tuner``, see ``__main__``): the same tuner, rebuilt from the spec."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpsearch.backends.keras_tuner import events as protocol
from hpsearch.backends.keras_tuner.hypermodel import search_kwargs
from hpsearch.backends.keras_tuner.spec import read_spec
from hpsearch.backends.keras_tuner.tuner import CHILD_MODULE, build_tuner, four_digits
from hpsearch.gpus import enable_memory_growth
from hpsearch.model import quiet_tensorflow, settle_heap
from hpsearch.trials import plain

#: Seconds a worker waits before asking again while Hyperband waits on another worker's
#: trial (Keras Tuner itself asks again at once, in a busy loop against the chief).
_IDLE_POLL_S = 0.2


def child_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of a parallel search's chief and worker processes.

    Each rebuilds the same tuner from the spec the parent wrote and loads the dataset once.
    The chief serves the oracle (``tuner.search`` blocks in Keras Tuner's gRPC server) and
    takes commands on stdin; a worker runs trials and streams their events to the parent.
    """
    import argparse

    from hpsearch.data import load_dataset

    parser = argparse.ArgumentParser(prog=f"python -m {CHILD_MODULE}")
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--role", choices=("chief", "worker"), required=True)
    parser.add_argument("--tuner-id", required=True)
    args = parser.parse_args(argv)

    events = protocol.EventWriter(protocol.open_event_stream())
    space, workdir, verbose = read_spec(args.spec)
    chief = args.role == "chief"
    events.verdicts = not chief and space.search.pruner is not None  # the parent prunes
    oracle: dict[str, Any] = {}  # filled once the chief's tuner exists

    def on_command(cmd: dict[str, Any]) -> None:
        if cmd.get("cmd") == "fail" and "oracle" in oracle:
            _fail_worker_trial(oracle["oracle"], events, str(cmd["tuner_id"]), str(cmd["error"]))
        elif cmd.get("cmd") == "verdict":  # a worker: the pruner's word on an epoch
            events.hear_verdict(str(cmd["trial_id"]), int(cmd["epoch"]), bool(cmd["prune"]))

    protocol.watch_parent(on_command)  # before the slow imports
    quiet_tensorflow(verbose)
    if not chief:
        enable_memory_growth()
    import keras
    import keras_tuner as kt

    base_dir = space.source.parent if space.source else None
    data = load_dataset(space.dataset, space.search.seed, base_dir)
    worker = None if chief else args.tuner_id
    tuner = build_tuner(kt, keras, space, data, workdir, events, overwrite=False, worker=worker)
    if chief:
        oracle["oracle"] = tuner.oracle
    else:
        _poll_gently(tuner)
        protocol.wait_for_chief()
    settle_heap()
    tuner.search(data.x_train, data.y_train, **search_kwargs(keras, space, data, verbose))
    return 0


def _poll_gently(tuner: Any) -> None:
    """Sleep a little between a worker's requests while the oracle answers IDLE."""
    ask = tuner.oracle.create_trial

    def create_trial(tuner_id: str) -> Any:
        trial = ask(tuner_id)
        if str(trial.status) == "IDLE":
            time.sleep(_IDLE_POLL_S)
        return trial

    tuner.oracle.create_trial = create_trial


def _fail_worker_trial(oracle: Any, events: Any, tuner_id: str, error: str) -> None:
    """In the chief: end a dead worker's running trial as FAILED and forget the worker.

    Without this the oracle waits for that trial forever: Hyperband answers IDLE to the
    other workers, and the chief's server never sees all its tuners leave.
    """
    import keras_tuner as kt

    def fail(oracle: Any) -> None:
        trial = oracle.ongoing_trials.get(tuner_id)
        if trial is not None:
            trial.status = "FAILED"
            trial.message = error
            oracle.end_trial(trial)
            params = {
                k: plain(v)
                for k, v in trial.hyperparameters.values.items()
                if not k.startswith("tuner/")
            }
            events.send(
                "trial_failed", trial_id=four_digits(trial.trial_id), params=params, worker=tuner_id
            )
        oracle.tuner_ids.discard(tuner_id)

    kt.synchronized(fail)(oracle)  # under the oracle's lock, as its gRPC handlers run
