"""The tiny search space the suite trains on, written once.

Most tests need a digits space of a few small ranges, 2 epochs and 2 trials; each used to
spell its own YAML. ``tiny_space_text(*bases, **sections)`` gives that space with a test's
own values: ``dataset``, ``training`` and ``search`` merge into the defaults key by key,
every other section (``hyperparameters`` included) replaces its default, and ``OMIT``
leaves a section or a key out. ``bases`` are a file's own sections (dicts) applied first,
so a variant states only what it changes: ``tiny_space_text(SEARCH, search={"seed": 8})``.
The ``tiny_space`` fixture (conftest) writes the text into the test's tmp_path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import yaml


class _Omit:
    """The type of OMIT, so that a leftover sentinel reads as such in a failure."""

    def __repr__(self) -> str:
        return "OMIT"


#: Leaves a section (``training=OMIT``) or a key (``search={"max_trials": OMIT}``) out.
OMIT: Final = _Omit()

#: Digits, two small ranges and a fixed batch size, 2 epochs, 2 trials, a seed.
DEFAULTS: Final[dict[str, Any]] = {
    "name": "tiny",
    "dataset": {"name": "digits"},
    "hyperparameters": {
        "n_neurons": {"int": [16, 64]},
        "learning_rate": {"float": [1.0e-3, 1.0e-2], "log": True},
        "batch_size": 64,
    },
    "training": {"epochs": 2},
    "search": {"max_trials": 2, "seed": 1},
}

#: The five-way MLP space the engine tests search (depth, width, rate, optimizer).
MLP: Final[dict[str, Any]] = {
    "n_hidden": {"int": [1, 2]},
    "n_neurons": {"int": [16, 64], "log": True},
    "learning_rate": {"float": [1e-3, 1e-2], "log": True},
    "optimizer": {"choice": ["adam", "sgd"]},
    "batch_size": 64,
}

#: Wide int and float ranges on a log scale: where Keras Tuner's edge cases live.
EDGES: Final[dict[str, Any]] = {
    "n_neurons": {"int": [16, 256], "log": True},
    "n_hidden": {"int": [1, 3]},
    "learning_rate": {"float": [1e-4, 1e-2], "log": True},
}

#: Sections whose overrides merge into the defaults key by key.
MERGED: Final = ("dataset", "training", "search")

#: The order the space files are written in; other sections follow in the order given.
ORDER: Final = ("name", "builder", "dataset", "objective", "hyperparameters", "training", "search")


def _flow(value: Any) -> str:
    """One value as YAML on one line (flow style: ``{int: [16, 64]}``)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1_000_000)
    return text.rstrip("\n").removesuffix("\n...")


def _sections(layers: tuple[Mapping[str, Any], ...]) -> dict[str, Any]:
    """The defaults with each layer applied in turn (merged or replaced), OMITs dropped."""
    out: dict[str, Any] = dict(DEFAULTS)
    for layer in layers:
        for key, value in layer.items():
            base = out.get(key)
            if key in MERGED and isinstance(value, Mapping) and isinstance(base, Mapping):
                value = {**base, **value}
            out[key] = value
    return {
        key: {k: v for k, v in value.items() if v is not OMIT}
        if key in MERGED and isinstance(value, Mapping)
        else value
        for key, value in out.items()
        if value is not OMIT
    }


def tiny_space_text(*bases: Mapping[str, Any], **sections: Any) -> str:
    """The tiny space as YAML text: the defaults, then ``bases``, then ``sections``.

    One line per section and one per hyperparameter, after a blank first line as in the
    triple-quoted texts it replaced, so the line numbers that error tests assert (such as
    ``s:8: training.cv``) are those of the space files the tests used to spell out.
    """
    chosen = _sections((*bases, sections))
    keys = [k for k in ORDER if k in chosen] + [k for k in chosen if k not in ORDER]
    lines = [""]
    for key in keys:
        value = chosen[key]
        if key == "hyperparameters":
            lines += ["hyperparameters:", *(f"  {k}: {_flow(v)}" for k, v in value.items())]
        else:
            lines.append(f"{key}: {_flow(value)}")
    return "\n".join(lines) + "\n"
