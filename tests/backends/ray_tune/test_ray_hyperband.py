"""The Hyperband-on-Ray stall, replayed against the real scheduler object without a Ray.

Tune's HyperBandScheduler pauses a trial at its rung's milestone until its bracket catches
up. In two event orders nothing ever resumes or stops that trial, and the search waits
forever (README, "Reliability"). Each test replays one order through the scheduler the
strategy table builds, with real ``Trial`` objects and a controller that stops trials as
Tune's ``TuneController.stop_trial`` does; each fails with Tune's own scheduler.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpsearch.api import prepare
from hpsearch.backends.ray_tune.algorithms import plan_search
from hpsearch.space import parse_space
from tests.spaces import tiny_space_text

METRIC = "val_accuracy"


class Controller:
    """What the scheduler calls back on: ``stop_trial``, as Tune's controller does it (a
    waiting trial is removed, a running one completes; both end TERMINATED, a pause in
    flight dropped)."""

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.stopped: list[str] = []

    def stop_trial(self, trial: Any) -> None:
        from ray.tune.experiment import Trial

        if trial.status in (Trial.ERROR, Trial.TERMINATED):
            return
        self.stopped.append(trial.trial_id)
        if trial.status in (Trial.PENDING, Trial.PAUSED):
            self.scheduler.on_trial_remove(self, trial)
        else:
            self.scheduler.on_trial_complete(self, trial, trial.last_result)
        trial.temporary_state.saving_to = None
        trial.set_status(Trial.TERMINATED)


class Bracket:
    """Trials run through the scheduler the way Tune drives it."""

    def __init__(self, scheduler: Any, n: int, name: str = "t") -> None:
        from ray.tune.experiment import Trial

        self.scheduler, self.tune = scheduler, Controller(scheduler)
        self.trials = [Trial("__fake", stub=True, trial_id=f"{name}{i}") for i in range(n)]
        for trial in self.trials:
            scheduler.on_trial_add(self.tune, trial)
            trial.set_status(Trial.RUNNING)

    def report(self, i: int, epoch: int, score: float = 0.5) -> str:
        """Trial ``i`` reports an epoch; the scheduler's decision is carried out. A pause
        is left in flight (RUNNING, saving), as Tune's is until the actor's save returns."""
        from ray.tune.schedulers import TrialScheduler

        trial = self.trials[i]
        result = {"training_iteration": epoch, METRIC: score}
        action = self.scheduler.on_trial_result(self.tune, trial, result)
        trial.update_last_result(result)  # after the scheduler, as in Tune
        if action == TrialScheduler.PAUSE:
            trial.temporary_state.saving_to = object()
        elif action == TrialScheduler.STOP:
            self.tune.stop_trial(trial)
        return str(action)

    def saved(self, i: int) -> None:
        """Trial ``i``'s pause was saved: PAUSED, unless it was stopped meanwhile."""
        from ray.tune.experiment import Trial

        trial = self.trials[i]
        if trial.is_saving:
            trial.temporary_state.saving_to = None
            trial.set_status(Trial.PAUSED)

    def ends_early(self, i: int) -> None:
        """Trial ``i``'s function returns before the milestone (early stopping, a NaN):
        Tune turns that into STOP, which completes the trial."""
        self.tune.stop_trial(self.trials[i])

    def stuck(self) -> list[str]:
        """PAUSED trials the scheduler will never hand back to Tune nor stop: the stall."""
        from ray.tune.experiment import Trial

        return [
            t.trial_id
            for t in self.trials
            if t.status == Trial.PAUSED
            and t not in self.scheduler._trial_info[t][0].trials_to_unpause
        ]


def _scheduler(tmp_path: Path, max_epochs: int, factor: int) -> Any:
    text = tiny_space_text(
        objective=METRIC,
        training={"epochs": max_epochs, "patience": 0},
        search={"hyperband": {"max_epochs": max_epochs, "factor": factor}},
    )
    space = prepare(parse_space(text, source=tmp_path / "s.yaml"), strategy="hyperband")
    scheduler = plan_search(space, tmp_path, (), 2, "hb-test").scheduler
    scheduler.set_search_properties(METRIC, "max")  # as TuneConfig(metric, mode) does
    return scheduler


def _at_max_t(bracket: Bracket) -> None:
    """The first bracket of max_t 3 (factor 3): its 2 trials train to 3 side by side."""
    for epoch in (1, 2):
        assert bracket.report(0, epoch) == bracket.report(1, epoch) == "CONTINUE"
    assert bracket.report(0, 3) == "PAUSE"  # t1 is not there yet


def test_two_trials_reaching_max_t_together_both_end(tmp_path: Path) -> None:
    """t1 reaches max_t while t0's pause there is still being saved. Tune ended the bracket
    stopping only the PAUSED trials, so t0 turned PAUSED a moment later with nothing left
    to resume it: the CI stall (PAUSED at max_t, with a checkpoint)."""
    bracket = Bracket(_scheduler(tmp_path, 3, 3), 2)
    _at_max_t(bracket)
    assert bracket.report(1, 3) == "STOP"
    bracket.saved(0)
    assert bracket.stuck() == []
    assert bracket.tune.stopped == ["t0", "t1"]


def test_a_trial_ending_short_of_max_t_ends_the_one_paused_there(tmp_path: Path) -> None:
    """t0 waits at max_t for t1, which stops early at epoch 2. Tune did not process a
    bracket that a removal finished, so t0 stayed PAUSED."""
    bracket = Bracket(_scheduler(tmp_path, 3, 3), 2)
    _at_max_t(bracket)
    bracket.saved(0)
    bracket.ends_early(1)
    assert bracket.stuck() == []
    assert bracket.tune.stopped == ["t1", "t0"]


def test_a_trial_ending_short_of_a_later_rung_lets_the_paused_one_go_on(
    tmp_path: Path,
) -> None:
    """Max_t 4, factor 2: the third bracket trains 4 trials 1 epoch, the best 2 to 2, the
    best of those to 4. t3 waits at 2 for t2, which stops early. Tune processed a bracket
    on a removal only if it had never been halved before, so t3 stayed PAUSED."""
    from ray.tune.experiment import Trial

    scheduler = _scheduler(tmp_path, 4, 2)
    Bracket(scheduler, 3 + 3, name="f")  # the first two brackets (3 trials each) fill first
    bracket = Bracket(scheduler, 4)
    for i in range(4):
        bracket.report(i, 1, score=i / 10)
        bracket.saved(i)
    assert bracket.tune.stopped == ["t0", "t1"]  # halved: t2 and t3 go on to 2
    assert scheduler.choose_trial_to_run(bracket.tune) is bracket.trials[2]
    bracket.trials[2].set_status(Trial.RUNNING)
    assert bracket.report(3, 2, score=0.9) == "PAUSE"
    bracket.saved(3)
    bracket.ends_early(2)
    assert bracket.stuck() == []
    assert scheduler.choose_trial_to_run(bracket.tune) is bracket.trials[3]  # on to 4


def test_the_scheduler_survives_the_pickle_a_resume_reads(tmp_path: Path) -> None:
    """Tune saves the scheduler with the experiment, and --resume unpickles it."""
    from ray import cloudpickle

    scheduler = cloudpickle.loads(cloudpickle.dumps(_scheduler(tmp_path, 3, 3)))
    bracket = Bracket(scheduler, 2)
    _at_max_t(bracket)
    bracket.report(1, 3)
    bracket.saved(0)
    assert bracket.stuck() == []
