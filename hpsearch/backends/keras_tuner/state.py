"""Keras Tuner's state files (oracle.json, trial.json, tuner0.json), written atomically so a
stop mid-write never leaves a state that --resume cannot read."""

from __future__ import annotations

import json
import os
from typing import Any


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: into a temporary file beside it, then
    one rename. A stop (Ctrl+C, SIGTERM) raised mid-write leaves the old file as it was."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_state_files() -> None:
    """Keras Tuner writes its state (oracle.json, trial.json, tuner0.json) with a plain
    open-and-write (keras-tuner 1.4.8 ``utils.save_json``); a SIGTERM landing in one left an
    empty oracle.json, and --resume then died on a JSONDecodeError. Local files are written
    atomically instead, once per process."""
    from keras_tuner.src import utils

    if getattr(utils.save_json, "hpsearch_atomic", False):
        return
    original = utils.save_json

    def save_json(path: Any, obj: Any) -> str:
        if "://" in str(path):  # a remote store (gs://): Keras Tuner's own writer
            return str(original(path, obj))
        text = json.dumps(obj)
        write_atomically(str(path), text)
        return text

    save_json.hpsearch_atomic = True  # type: ignore[attr-defined]
    utils.save_json = save_json
