"""A built-in dataset's rows as a client sends them to a logged model: its own columns."""

from __future__ import annotations

from typing import Any

import pandas as pd


def raw_rows(name: str, data: Any, split: str) -> pd.DataFrame:
    """The raw rows behind ``data.x_<split>``, in order (penguins or an sklearn dataset)."""
    if name == "penguins":
        from palmerpenguins import load_penguins

        frame = load_penguins()
    else:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{name}")()
        frame = pd.DataFrame(bunch.data, columns=bunch.feature_names)
    return frame.iloc[data.rows[split]].reset_index(drop=True)
