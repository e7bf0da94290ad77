"""``Space``: a validated search space (``hpsearch.SearchSpace``), and what it answers.

Its size and grid, its defaults, which params a trial uses, whether a recorded trial lies
in it, why a strategy or a model cannot go with it, and a copy with the CLI's flags applied.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hpsearch.backends import BRACKETED, engine
from hpsearch.errors import SpaceError
from hpsearch.space.columns import ModelSpec
from hpsearch.space.fields import clean_msg, line_for, path_of
from hpsearch.space.params import (
    BUILTIN_DATASETS,
    MAX_PER_LAYER,
    VOCABULARY,
    Choice,
    Fixed,
    FloatRange,
    IntRange,
    Param,
)
from hpsearch.space.schema import (
    BUILTIN_INPUTS,
    MAX_TRIALS,
    MAX_WEIGHTS,
    DatasetSpec,
    Objective,
    SearchSpec,
    TrackingSpec,
    TrainingSpec,
    check_objective,
)


@dataclass
class Space:
    """A validated search space: what to search, on which data, with which budget."""

    name: str
    dataset: DatasetSpec
    objective: Objective
    params: dict[str, Param]
    training: TrainingSpec
    search: SearchSpec
    description: str | None = None
    source: Path | None = None
    text: str = ""
    #: 1-based line of every key path in the file, to place errors found after loading.
    lines: dict[tuple[Any, ...], int] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )
    builder: str | None = None  # ``module:function``, replacing hpsearch's MLP builder
    #: False when the file names no objective: it then follows the data's task.
    objective_given: bool = True
    #: The ``model:`` section: Wide & Deep's columns (see space.columns).
    model: ModelSpec | None = None
    #: The ``tracking:`` section (``tracking.tensorboard``).
    tracking: TrackingSpec = dataclasses.field(default_factory=TrackingSpec)

    def for_task(self, task: str) -> Space:
        """This space once the data's task is known (a file's is inferred when read): the
        default objective follows the task; a written one must be reported by it."""
        if not self.objective_given:
            metric = "val_loss" if task == "regression" else "val_accuracy"
            if metric != self.objective.metric:
                return dataclasses.replace(self, objective=Objective.infer(metric))
            return self
        try:
            check_objective(self.objective.metric, task)
        except SpaceError as exc:
            # a built-in dataset's task was known, and checked, when the file was parsed
            field = "dataset.task" if self.dataset.task else "dataset.target"
            other = "regression" if task != "regression" else "classification"
            raise self.error_at(
                field,
                f"the target was read as {task}, and {exc.problem}; if it is {other}, set "
                f"dataset.task: {other}",
            ) from None
        return self

    def builder_dirs(self) -> list[str]:
        """Where a builder's module is looked up first: the space file's folder, the cwd."""
        import os

        dirs = [str(self.source.resolve().parent)] if self.source else []
        return [*dirs, os.getcwd()]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def task(self) -> str | None:
        """The task when the dataset is built in; files are inferred when loaded."""
        return BUILTIN_DATASETS.get(self.dataset.name)

    def size(self) -> int | None:
        """Number of distinct configurations, or None for a continuous space."""
        total = 1
        for p in self.params.values():
            n = p.count()
            if n is None:
                return None
            total *= n
        return total

    def error_at(self, field: str, problem: str) -> SpaceError:
        """A SpaceError at ``field``'s line in the source file, for problems found later
        (a CSV without its target column, an objective the data's task does not report)."""
        return SpaceError(
            problem,
            file=str(self.source) if self.source else None,
            line=line_for(self.lines, path_of(field)),
            field=field,
        )

    def searched_names(self) -> list[str]:
        """Every name a search decides, in the file's order: the searched params, then the
        per-layer widths ``layer_shape: per_layer`` adds (what a reader wants first)."""
        return [*self.searched(), *self.per_layer_names()]

    def per_layer_names(self) -> list[str]:
        """``n_neurons_1`` ... for the deepest net, when ``layer_shape`` may be per_layer."""
        shape = self.params.get("layer_shape")
        possible = shape is not None and "per_layer" in (shape.values() or [])
        if not possible:
            return []
        depth = self.params.get("n_hidden")
        deepest = max(depth.values() or [VOCABULARY["n_hidden"].default]) if depth else 2
        return [f"n_neurons_{i + 1}" for i in range(min(int(deepest), MAX_PER_LAYER))]

    def active_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` without the per-layer widths the sampled net does not use (conditional
        params, as Keras Tuner's: a width for layer 3 means nothing in a 2-layer net)."""
        per_layer = params.get("layer_shape", self.default_of_or("layer_shape")) == "per_layer"
        depth = int(params.get("n_hidden", self.default_of_or("n_hidden")))

        def active(name: str) -> bool:
            if not name.startswith("n_neurons_"):
                return True
            index = name.removeprefix("n_neurons_")
            return per_layer and index.isdigit() and int(index) <= depth

        return {k: v for k, v in params.items() if active(k)}

    def default_of_or(self, name: str) -> Any:
        """default_of for a declared param, else the vocabulary's default."""
        return self.default_of(name) if name in self.params else VOCABULARY[name].default

    def contains(self, params: dict[str, Any]) -> bool:
        """Whether a trial's params lie in this space: each searched value inside its range
        or among its choices, each fixed value equal (a warm start keeps only those)."""
        for name, p in self.params.items():
            if name not in params:  # not recorded then (an older vocabulary): fixed is fine
                if isinstance(p, Fixed):
                    continue
                return False
            v = params[name]
            if isinstance(p, Fixed):
                if v != p.value:
                    return False
            elif isinstance(p, (IntRange, FloatRange)):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    return False
                if not p.min <= v <= p.max:
                    return False
            elif isinstance(p, Choice):
                if v not in p.options:
                    return False
            elif not isinstance(v, bool):
                return False
        return True

    def cv_problem(self) -> str | None:
        """Why ``training.cv`` cannot go with this search, or None."""
        if self.training.cv and self.search.strategy in BRACKETED:
            return (
                f"{self.search.strategy} stops and resumes trials on their objective epoch by "
                "epoch, but a cross-validated objective exists only once every fold has "
                "trained: use random, grid, bayesian or tpe with cv"
            )
        if self.training.cv and self.search.pruner:
            return (
                "a pruner judges trials epoch by epoch, but a cross-validated objective "
                "exists only once every fold has trained: drop the pruner (--pruner none) "
                "or training.cv"
            )
        return None

    def grid_problem(self) -> str | None:
        """Why this space cannot be searched by grid, or None: every searched param must be
        finite (a choice, a bool, or an int/float range with a step), and the grid no larger
        than a search may run."""
        continuous = [
            f"{k} ({p.describe()})"
            for k, p in self.searched().items()
            if isinstance(p, (IntRange, FloatRange)) and p.step is None
        ]
        if continuous:
            return (
                "grid needs every hyperparameter finite (a choice, a bool, or a range with a "
                f"step); continuous: {', '.join(continuous)}"
            )
        size = self.size() or 0
        if size > MAX_TRIALS:
            sides = " x ".join(f"{k} {p.count()}" for k, p in self.searched().items())
            return (
                f"the grid has {size:,} configurations ({sides}); a search runs at most "
                f"{MAX_TRIALS:,} trials: use larger steps or fewer choices, or another strategy"
            )
        return None

    def model_problem(self, input_width: int | None = None) -> str | None:
        """Why the largest model of this space is too big to build, or None.

        Counts the weights of the widest, deepest MLP the space allows (hpsearch's own
        builder; a custom builder's models are its own business)."""
        if self.builder:
            return None
        width = input_width or BUILTIN_INPUTS.get(self.dataset.name, 1)
        depth = int(_largest(self.params.get("n_hidden"), VOCABULARY["n_hidden"].default))
        neurons = int(_largest(self.params.get("n_neurons"), VOCABULARY["n_neurons"].default))
        layers = [width] + [neurons] * depth + [1]
        weights = sum((a + 1) * b for a, b in itertools.pairwise(layers))
        if weights <= MAX_WEIGHTS:
            return None
        return (
            f"the largest model here ({depth} hidden layers of {neurons} on {width} inputs) "
            f"has about {weights:.1e} weights, over the limit of {MAX_WEIGHTS:.0e}: narrow "
            "n_neurons or n_hidden"
        )

    def grid(self) -> dict[str, list[Any]]:
        """Every searched param's values, for a grid search."""
        return {k: list(p.values() or []) for k, p in self.searched().items()}

    def searched(self) -> dict[str, Param]:
        """The hyperparameters that vary."""
        return {k: p for k, p in self.params.items() if not isinstance(p, Fixed)}

    def default_of(self, name: str) -> Any:
        """The value a param takes when a search does not choose it."""
        p = self.params[name]
        if isinstance(p, Fixed):
            return p.value
        if p.default is not None:
            return p.default
        if isinstance(p, Choice):
            return p.options[0]
        if isinstance(p, (IntRange, FloatRange)):
            return p.min
        return VOCABULARY[name].default

    def hyperband_schedule(self) -> int | None:
        """Trials in one full Hyperband schedule, by Keras Tuner's bracket arithmetic (None
        for other strategies)."""
        if self.search.strategy not in ("hyperband", "bohb"):
            return None
        hb = self.search.hyperband
        max_epochs = hb.max_epochs or self.training.epochs
        return hyperband_trials(max_epochs, hb.factor, hb.iterations, hb.min_epochs or 1)

    def hyperband_cap(self) -> tuple[int, str | None]:
        """The trials Keras Tuner's Hyperband will run (max_trials may cut its bracket
        schedule), and a warning when it does: said before the search, as it changes it."""
        search = self.search
        if search.strategy == "i-epoch":  # max_trials sampled, then the best k continued
            return sum(self.i_epoch_rounds()), None
        full = self.hyperband_schedule() if engine(search.backend).hyperband_schedule else None
        if full is None or full <= search.max_trials:
            return search.max_trials if full is None else full, None
        return search.max_trials, (
            f"hyperband: max_trials={search.max_trials} cuts the bracket schedule of {full} "
            "trials; raise --max-trials to run it whole"
        )

    def full_epochs(self) -> int:
        """The epochs a trial that runs to the end trains: Hyperband's (and the i-epoch
        baseline's) max_epochs, else training.epochs."""
        return self.search.hyperband.max_epochs or self.training.epochs

    def i_epoch_rounds(self) -> tuple[int, int]:
        """The i-epoch baseline's two rounds: max_trials configurations trained
        i_epoch.epochs each, then the best ceil(keep * max_trials) continued."""
        sampled = self.search.max_trials
        return sampled, i_epoch_kept(sampled, self.search.i_epoch.keep)

    def i_epoch_problem(self) -> str | None:
        """Why the i-epoch baseline cannot run with these epochs, or None."""
        i, full = self.search.i_epoch.epochs, self.full_epochs()
        if self.search.strategy == "i-epoch" and i >= full:
            return (
                f"i_epoch.epochs ({i}) must be below the full epochs ({full}): the best "
                "configurations would have nothing left to train"
            )
        return None

    def with_overrides(self, *, epochs: int | None = None, **search: Any) -> Space:
        """A copy with search settings replaced: CLI flags win over the file. ``epochs``
        caps every trial, so it is Hyperband's and ASHA's ``max_epochs`` too."""
        changes = {k: v for k, v in search.items() if v is not None}
        try:
            training = self.training
            if epochs is not None:  # checked first: a bad value is --epochs', not Hyperband's
                training = TrainingSpec.model_validate(
                    self.training.model_dump() | {"epochs": epochs}
                )
                if self.search.hyperband.max_epochs is not None:
                    hyperband = changes.get("hyperband") or self.search.hyperband.model_dump()
                    changes["hyperband"] = dict(hyperband) | {"max_epochs": epochs}
            new_search = SearchSpec.model_validate(self.search.model_dump() | changes)
        except ValidationError as exc:
            err = exc.errors()[0]
            flag = "--" + str(err["loc"][0] if err["loc"] else "strategy").replace("_", "-")
            if flag == "--hyperband" and epochs is not None:  # --epochs set max_epochs there
                flag = "--epochs"
            raise SpaceError(clean_msg(err["msg"]), field=flag) from None
        new = dataclasses.replace(self, search=new_search, training=training)
        if new_search.strategy == "grid" and self.search.strategy != "grid":
            problem = new.grid_problem()
            if problem:
                raise SpaceError(problem, field="--strategy")
        problem = new.cv_problem()
        if problem:
            raise SpaceError(problem, field="--strategy")
        problem = new.i_epoch_problem()
        if problem:
            raise SpaceError(problem, field="--epochs" if epochs is not None else "--strategy")
        return new


def _largest(p: Param | None, default: Any) -> Any:
    """The largest value a param may take (its only value when fixed)."""
    if p is None:
        return default
    if isinstance(p, (IntRange, FloatRange)):
        return p.max
    if isinstance(p, Choice):
        numbers = [v for v in p.options if isinstance(v, (int, float))]
        return max(numbers) if numbers else default
    return p.value if isinstance(p, Fixed) else default


def epochs_flag_repeats(epochs: Any, max_epochs: Any) -> bool:
    """Whether ``--epochs <epochs>`` repeats a search whose space set Hyperband's (and
    ASHA's) ``max_epochs``: the flag sets both, so only when they were equal or max_epochs
    unset. Otherwise a reproduce command leaves both to the space file."""
    return max_epochs in (None, "None", "") or str(max_epochs) == str(epochs)


def run_command(
    space_file: Any,
    *,
    strategy: Any,
    backend: Any,
    seed: Any,
    experiment: Any,
    epochs: Any,
    max_epochs: Any,
    max_trials: Any = None,
    budget_epochs: Any = None,
    budget_seconds: Any = None,
    pruner: Any = None,
) -> str:
    """The ``hpsearch run`` that repeats one search, as a shell line (compare logs it on each
    search, the report prints it). Values are shell-quoted, so a path or an experiment with a
    space runs as written; ``?`` stands for a value the record lacks."""

    def q(value: Any) -> str:
        return "?" if value == "?" else shlex.quote(str(value))

    parts = ["hpsearch run", q(space_file), f"--strategy {q(strategy)}", f"--backend {q(backend)}"]
    if max_trials is not None:
        parts.append(f"--max-trials {q(max_trials)}")
    if epochs_flag_repeats(epochs, max_epochs):
        parts.append(f"--epochs {q(epochs)}")
    parts += [f"--seed {q(seed)}", f"--experiment {q(experiment)}"]
    if budget_epochs is not None:
        parts.append(f"--budget-epochs {q(budget_epochs)}")
    if budget_seconds is not None:
        parts.append(f"--budget-time {q(budget_seconds)}")
    if pruner is not None:  # median, or none where the space file's pruner must be off
        parts.append(f"--pruner {q(pruner)}")
    return " ".join(parts)


def i_epoch_kept(sampled: int, keep: float) -> int:
    """How many of ``sampled`` configurations the i-epoch baseline continues: ceil(keep *
    sampled), at least one (a hair under, so that 0.1 * 30 is 3, not 4)."""
    return max(1, math.ceil(keep * sampled - 1e-9))


def hyperband_brackets(max_epochs: int, factor: int, min_epochs: int = 1) -> int:
    """Brackets in one Hyperband iteration, by Keras Tuner's own arithmetic, less those
    whose first rung (ceil(max_epochs / factor**b) epochs) trains fewer than
    ``min_epochs`` (hyperband.min_epochs); at least one, the bracket that trains every
    trial max_epochs."""
    n_brackets, epochs = 0, float(max_epochs)
    while epochs >= 1:
        epochs /= factor
        n_brackets += 1
    kept = sum(math.ceil(max_epochs / factor**b) >= min_epochs for b in range(n_brackets))
    return max(1, kept)


def hyperband_trials(max_epochs: int, factor: int, iterations: int, min_epochs: int = 1) -> int:
    """Trials in a full Hyperband schedule, by Keras Tuner's own bracket arithmetic."""
    n_brackets = hyperband_brackets(max_epochs, factor, min_epochs)
    end_size = math.ceil(1 + math.log(max_epochs, factor))
    per_iteration = sum(
        math.ceil(end_size / (b + 1) * factor ** (b - r))
        for b in range(n_brackets)
        for r in range(b + 1)
    )
    return per_iteration * iterations
