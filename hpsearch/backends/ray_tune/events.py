"""Driver side: Tune's trial events become hpsearch's SearchCallback events.

``_Bridge`` turns them into TrialResults; in process a ``tune.Callback`` feeds it, and under
Ray Client (where the Tuner runs on the cluster) ``_Relay`` carries the events back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hpsearch.backends.ray_tune.stall import StallWatch
from hpsearch.backends.trial import error_line, objective_of
from hpsearch.space import Space
from hpsearch.trials import FAILED, FINISHED, NAN_ERROR, PRUNED, SearchCallback, TrialResult

#: The engine's name in every record (RayTuneBackend.name).
NAME = "ray"
#: Bridges by key, for the pruning stopper: Tune keeps its stopper with the Tuner's state,
#: which must not hold the callbacks (as algorithms._STOP_CHECKS).
_BRIDGES: dict[str, _Bridge] = {}


def _ray_trial_index(ray_id: str) -> str | None:
    """``ab12c_00007`` -> ``0007``; None for a searcher's hex id."""
    tail = ray_id.rsplit("_", 1)[-1]
    return f"{int(tail):04d}" if "_" in ray_id and tail.isdigit() else None


class _Bridge:
    """Turns Tune's trial hooks into SearchCallback events and TrialResults."""

    def __init__(
        self,
        events: SearchCallback,
        space: Space,
        fixed: dict[str, Any],
        metric_names: list[str],
        done: frozenset[str] = frozenset(),
    ) -> None:
        self.done = done  # trials an interrupted earlier run had already reported
        self.events, self.space, self.fixed = events, space, fixed
        self.metric_names = metric_names
        self.metric, self.direction = space.objective.metric, space.objective.direction
        self.history: dict[str, dict[str, list[float]]] = {}
        self.last: dict[str, dict[str, Any]] = {}
        self.results: dict[str, TrialResult] = {}
        self.ids: dict[str, str] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.pruned: set[str] = set()  # hpsearch ids the pruner stopped
        self._taken: dict[str, dict[str, Any]] = {}  # the result verdict() handled, by trial

    def tid(self, ray_id: str, index: int | None = None) -> str:
        """Ray's ids become 0000, 0001, ...: the counter in ``ab12c_00007`` (random and the
        schedulers' trials, stable across a restore), else the trial's position in Tune's
        trial list, which is creation order (searchers' hex ids)."""
        if ray_id not in self.ids:
            known = _ray_trial_index(ray_id)
            fallback = f"{len(self.ids) if index is None else index:04d}"
            self.ids[ray_id] = known or fallback
        return self.ids[ray_id]

    def start(self, ray_id: str, config: dict[str, Any], index: int | None = None) -> None:
        """Tune started the trial: fix its id now (creation order). The trial begins for
        hpsearch at its first result, as Tune may start an actor well before it trains."""
        self.tid(ray_id, index)
        self.configs.setdefault(ray_id, config)

    def _begin(self, ray_id: str, config: dict[str, Any]) -> str | None:
        tid = self.tid(ray_id)
        if tid in self.done:  # a restored run's trial that ended before
            return None
        if tid not in self.history:
            self.history[tid] = {}
            self.configs[ray_id] = config
            self.events.on_trial_begin(tid, self.params(config))
        return tid

    def result(self, ray_id: str, config: dict[str, Any], result: dict[str, Any]) -> None:
        if "epoch" not in result or self._taken.get(ray_id) is result:
            return  # not an epoch, or one verdict() reported already
        tid = self._begin(ray_id, config)
        if tid is None:
            return
        logs = {
            k: float(v)
            for k, v in result.items()
            if k in self.metric_names or (k.startswith("cv_") and isinstance(v, (int, float)))
        }
        for k, v in logs.items():
            self.history[tid].setdefault(k, []).append(v)
        self.last[tid] = result
        self.events.on_epoch_end(tid, int(result["epoch"]), logs)

    def verdict(self, ray_id: str, result: dict[str, Any]) -> bool:
        """Whether the pruner stops the trial after this result (the pruning stopper asks).

        Tune asks its stopper before it hands the result to callbacks, so the epoch is
        reported to the callbacks here, first, and the callback later skips the same result
        (the same dict): the pruner judges the epoch that just ended, not the one before."""
        config = self.configs.get(ray_id)
        if config is None or "epoch" not in result:
            return False
        self.result(ray_id, config, result)
        self._taken[ray_id] = result
        tid = self.tid(ray_id)
        if tid in self.history and self.events.prune(tid):
            self.pruned.add(tid)
        return tid in self.pruned

    def params(self, config: dict[str, Any]) -> dict[str, Any]:
        """A trial's params as recorded: fixed ones too, unused per-layer widths not."""
        return self.space.active_params({**self.fixed, **config})

    def close_open(self) -> None:
        """End trials Tune stopped without a completion hook (a budget's stop_all does):
        they keep the epochs they trained."""
        for ray_id, config in list(self.configs.items()):
            if self.tid(ray_id) in self.history:
                self.end(ray_id, config, None)

    def end(self, ray_id: str, config: dict[str, Any], error: str | None) -> None:
        tid = self.tid(ray_id)
        if tid in self.results or tid in self.done:
            return  # already reported, or a trial a restored run had finished before
        if tid not in self.history:
            if error is None and self.events.stop_reason():
                return  # stopped by a budget before its first epoch: it trained nothing
            self._begin(ray_id, config)  # failed before its first epoch: record it
        history = self.history[tid]
        objective = objective_of(history.get(self.metric, []), self.direction)
        if error is None and objective is None:
            error = NAN_ERROR
        cv_mean = history.get(f"cv_mean_{self.metric}")
        if cv_mean and objective is not None:  # k-fold: the mean of each fold's best, as on KT
            objective = cv_mean[-1]
        last = self.last.get(tid, {})
        search = self.space.search
        self._taken.pop(ray_id, None)
        result = TrialResult(
            trial_id=tid,
            status=FAILED if error is not None else PRUNED if tid in self.pruned else FINISHED,
            params=self.params(config),
            objective=objective if error is None else None,
            epochs=len(history.get(self.metric, [])),
            seconds=float(last.get("time_total_s", 0.0)),
            history=history,
            first_epoch=int(last.get("epoch", 0)) - len(history.get(self.metric, [])),
            strategy=search.strategy,
            backend=NAME,
            seed=search.seed,
            worker=last.get("node_id"),
            error=error_line(error) if error else None,
            traceback=error if error and "\n" in error else None,
        )
        self.results[tid] = result
        self.events.on_trial_end(result)


def _pruning_stopper(bridge: _Bridge) -> Any:
    """A Tune Stopper whose per-trial call is the pruner's verdict (search.pruner): the trial
    stops after the epoch it just reported, TERMINATED for Tune, PRUNED for hpsearch.

    A stopper, not a scheduler: Tune asks it first for every result, whatever scheduler
    the strategy runs (bohb's), and it needs no say in pausing or promoting trials."""
    from ray.tune.stopper import Stopper

    key = _register(bridge)

    class PruningStopper(Stopper):  # type: ignore[misc]
        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            bridge = _bridge(key)
            return bool(bridge and bridge.verdict(trial_id, result))

        def stop_all(self) -> bool:
            return False

    return PruningStopper()


def _register(bridge: _Bridge) -> str:
    """The bridge's key in ``_BRIDGES``: what Tune pickles with its state holds the key, not
    the bridge, whose callbacks hold threads, locks and store clients."""
    key = f"{os.getpid()}-{id(bridge)}"
    _BRIDGES[key] = bridge
    return key


def _bridge(key: str) -> _Bridge | None:
    """The bridge of ``key``. The pickled callbacks call this module's function (which
    cloudpickle keeps by reference) instead of reading ``_BRIDGES``, whose contents
    cloudpickle would copy into the pickle of a class defined in a function."""
    return _BRIDGES.get(key)


def _forget_bridge(bridge: _Bridge) -> None:
    _BRIDGES.pop(f"{os.getpid()}-{id(bridge)}", None)


class _Relay:
    """Carries Tune's trial events from a remote Tuner (Ray Client) back to the driver."""

    def __init__(self) -> None:
        from ray import tune
        from ray.util.queue import Queue

        self.queue = Queue()
        queue = self.queue

        class Send(tune.Callback):  # type: ignore[misc]
            def on_trial_start(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
                queue.put(("start", trial.trial_id, trial.config, trials.index(trial)))

            def on_trial_result(
                self, iteration: int, trials: Any, trial: Any, result: Any, **info: Any
            ) -> None:
                queue.put(("result", trial.trial_id, trial.config, dict(result)))

            def on_trial_complete(
                self, iteration: int, trials: Any, trial: Any, **info: Any
            ) -> None:
                queue.put(("end", trial.trial_id, trial.config, None))

            def on_trial_error(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
                queue.put(
                    ("end", trial.trial_id, trial.config, str(trial.get_error() or "trial failed"))
                )

        self.callback = Send()

    def fit(self, tuner: Any, bridge: _Bridge, watch: StallWatch) -> Any:
        """Run ``tuner.fit`` in a thread; handle its events here until it returns (or the
        watch says it stalled: the remote Tuner ends with the Ray connection)."""
        import queue as std_queue
        import threading

        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["grid"] = tuner.fit()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the driver below
                box["error"] = exc

        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        while True:
            try:
                kind, ray_id, config, extra = self.queue.get(timeout=0.5)
            except std_queue.Empty:
                if not worker.is_alive() and self.queue.empty():
                    break
                watch.check()
                continue
            watch.beat(result=kind == "result")
            if kind == "start":
                bridge.start(ray_id, config, extra)
            elif kind == "result":
                bridge.result(ray_id, config, extra)
            else:
                bridge.end(ray_id, config, extra)
        worker.join()
        if "error" in box:
            raise box["error"]
        return box["grid"]


def _tune_callback(bridge: _Bridge, watch: StallWatch) -> Any:
    """A ``tune.Callback`` that forwards to the bridge and, every controller step, asks the
    watch whether the search stalled (defined lazily: ray is optional). Tune pickles its
    callbacks with its state: this one holds the bridge's key (see _register)."""
    from ray import tune

    key = _register(bridge)

    class Forward(tune.Callback):  # type: ignore[misc]
        def on_trial_start(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            watch.beat()
            if to := _bridge(key):
                to.start(trial.trial_id, trial.config, trials.index(trial))

        def on_trial_result(
            self, iteration: int, trials: Any, trial: Any, result: Any, **info: Any
        ) -> None:
            watch.beat(result=True)
            if to := _bridge(key):
                to.result(trial.trial_id, trial.config, result)

        def on_trial_complete(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            watch.beat()
            if to := _bridge(key):
                to.end(trial.trial_id, trial.config, None)

        def on_trial_error(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            watch.beat()
            if to := _bridge(key):
                to.end(trial.trial_id, trial.config, _trial_error(trial))

        def on_step_end(self, iteration: int, trials: Any, **info: Any) -> None:
            watch.check()  # raises out of tuner.fit: Tune stops its actors and re-raises

    return Forward()


def _trial_error(trial: Any) -> str:
    """The failed trial's traceback: Tune writes it to the trial's local error file before
    it calls on_trial_error, but get_error() reads the storage copy, synced later."""
    for attr in ("error_file",):
        path = getattr(trial, attr, None)
        try:
            if path and Path(path).exists():
                text = Path(path).read_text(errors="replace").strip()
                if text:
                    return text
        except (OSError, TypeError):
            pass
    return str(trial.get_error() or "trial failed")
