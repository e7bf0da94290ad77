"""Field paths and their lines: how an error found anywhere names its place in the file.

A field is written ``hyperparameters.n_hidden.int[0]``; its path is the tuple of keys and
indexes the YAML line map is keyed by. pydantic's errors arrive as such paths too.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from hpsearch.space.params import did_you_mean, short


def path_of(field: str) -> tuple[Any, ...]:
    """'hyperparameters.n_hidden.int[0]' -> ('hyperparameters', 'n_hidden', 'int', 0)."""
    out: list[Any] = []
    for part in field.split("."):
        m = re.fullmatch(r"([^\[]*)((?:\[\d+\])*)", part)
        head, idx = (m.group(1), m.group(2)) if m else (part, "")
        if head:
            out.append(head)
        out.extend(int(i) for i in re.findall(r"\[(\d+)\]", idx))
    return tuple(out)


def line_for(lines: dict[tuple[Any, ...], int], path: tuple[Any, ...]) -> int | None:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def field_name(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def clean_msg(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def pydantic_error(exc: ValidationError, model: type[BaseModel]) -> tuple[tuple[Any, ...], str]:
    """The first pydantic error as (path, message), with a hint for misspelt keys."""
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    if err["type"] == "extra_forbidden":
        owner: Any = model
        for part in loc[:-1]:
            ann = owner.model_fields.get(part) if hasattr(owner, "model_fields") else None
            owner = ann.annotation if ann else None
        known = list(owner.model_fields) if hasattr(owner, "model_fields") else []
        return loc, f"unknown key '{loc[-1]}'{did_you_mean(loc[-1], known)}"
    if err["type"] == "missing":
        return loc, "is required"
    if err["type"] == "int_parsing_size":
        return loc, f"too large for an integer setting, got {short(err.get('input'))}"
    msg = clean_msg(err["msg"])
    if err["type"].endswith("_type") or err["type"].endswith("_parsing"):
        msg += f", got {short(err.get('input'))}"
    return loc, msg
