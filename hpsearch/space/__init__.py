"""Search-space files: the vocabulary and parameter types, the schema, and loading with
``file:line`` errors.

The pipeline reads top to bottom: ``params`` (what a hyperparameter may be) <- ``fields``
(where in the file a problem is) <- ``schema`` (the pydantic settings) <- ``searchspace``
(the validated ``Space``) <- ``loading`` (YAML in, ``Space`` out). The package is a leaf: it
imports only yaml, pydantic, ``hpsearch.errors`` and the backend registry, so ``hpsearch
validate`` and the CLI's start-up never pay for tensorflow, keras_tuner, ray or mlflow.
Every name callers used from the old ``hpsearch.space`` module is re-exported here.
"""

from __future__ import annotations

from hpsearch.backends import BACKENDS, STRATEGIES, only_on, runs_on
from hpsearch.errors import MAX_ERROR_CHARS, SpaceError, one_line
from hpsearch.space.columns import BUILTIN_COLUMNS, ModelSpec, resolve_selection
from hpsearch.space.loading import (
    MAX_DEPTH,
    MAX_FILE_CHARS,
    MAX_NODES,
    compose_yaml,
    load_space,
    parse_logged,
    parse_space,
    read_text,
    validate_yaml,
)
from hpsearch.space.params import (
    ACTIVATIONS,
    ARCHITECTURES,
    BUILTIN_DATASETS,
    CLASS_WEIGHTS,
    FILE_PREFIXES,
    INITIALIZERS,
    LAYER_SHAPES,
    LR_SCHEDULES,
    MAX_PER_LAYER,
    OPTIMIZERS,
    TASK_METRICS,
    VOCABULARY,
    Bool,
    Choice,
    Fixed,
    FloatRange,
    HParamInfo,
    IntRange,
    Param,
    did_you_mean,
    label,
    parse_param,
    short,
)
from hpsearch.space.schema import (
    BUILTIN_INPUTS,
    MAX_EPOCHS,
    MAX_SEED,
    MAX_TRIALS,
    MAX_WEIGHTS,
    OWN_TEST_SPLIT,
    BayesianSpec,
    DatasetSpec,
    HyperbandSpec,
    Objective,
    SearchSpec,
    SplitSpec,
    TrainingSpec,
    check_choice,
    check_objective,
)
from hpsearch.space.searchspace import Space, epochs_flag_repeats, hyperband_trials, run_command

__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURES",
    "BACKENDS",
    "BUILTIN_COLUMNS",
    "BUILTIN_DATASETS",
    "BUILTIN_INPUTS",
    "CLASS_WEIGHTS",
    "FILE_PREFIXES",
    "INITIALIZERS",
    "LAYER_SHAPES",
    "LR_SCHEDULES",
    "MAX_DEPTH",
    "MAX_EPOCHS",
    "MAX_ERROR_CHARS",
    "MAX_FILE_CHARS",
    "MAX_NODES",
    "MAX_PER_LAYER",
    "MAX_SEED",
    "MAX_TRIALS",
    "MAX_WEIGHTS",
    "OPTIMIZERS",
    "OWN_TEST_SPLIT",
    "STRATEGIES",
    "TASK_METRICS",
    "VOCABULARY",
    "BayesianSpec",
    "Bool",
    "Choice",
    "DatasetSpec",
    "Fixed",
    "FloatRange",
    "HParamInfo",
    "HyperbandSpec",
    "IntRange",
    "ModelSpec",
    "Objective",
    "Param",
    "SearchSpec",
    "Space",
    "SpaceError",
    "SplitSpec",
    "TrainingSpec",
    "check_choice",
    "check_objective",
    "compose_yaml",
    "did_you_mean",
    "epochs_flag_repeats",
    "hyperband_trials",
    "label",
    "load_space",
    "one_line",
    "only_on",
    "parse_logged",
    "parse_param",
    "parse_space",
    "read_text",
    "resolve_selection",
    "run_command",
    "runs_on",
    "short",
    "validate_yaml",
]
