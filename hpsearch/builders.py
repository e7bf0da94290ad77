"""Checking a space's ``builder: module:function`` without running anything.

A space file names code to call. ``validate`` must be able to vouch for it without executing
it, so the module is found on the path the way Python's import system would find it, read as
source and parsed; nothing is imported and nothing is called. Only a function of the user's
own, written with ``def`` and taking the form hpsearch calls, passes.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Sequence
from importlib.machinery import PathFinder
from pathlib import Path

#: The call hpsearch makes: ``fn(params, input_shape, task)``, plus ``n_outputs=`` if taken.
FORM = "def build(params, input_shape, task, n_outputs=1)"


class BuilderError(ValueError):
    """A space's ``builder`` cannot be found, or is not a function of a supported form."""


def check_builder(spec: str, dirs: Sequence[str] = ()) -> None:
    """Raise BuilderError unless ``spec`` names a ``def`` function in a Python source module
    (found in ``dirs``, then on ``sys.path``) whose signature accepts hpsearch's call."""
    module_name, _, attr = spec.partition(":")
    top = module_name.split(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        raise BuilderError(
            f"'{module_name}' is a standard-library module; a builder is a function of your "
            f"own ({FORM})"
        )
    source = _find_source(module_name, [*dirs, *sys.path])
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
        raise BuilderError(f"cannot read '{module_name}' ({source}): {exc}") from None
    fn = next(
        (
            node
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == attr
        ),
        None,
    )
    if fn is None:
        raise BuilderError(f"'{module_name}' has no function '{attr}'")
    if isinstance(fn, ast.AsyncFunctionDef):
        raise BuilderError(f"'{attr}' is async; a builder returns a model ({FORM})")
    _check_signature(fn, module_name)


def _find_source(module_name: str, path: list[str]) -> Path:
    """The ``.py`` file of ``module_name``, found without importing it or its packages."""
    locations: list[str] | None = path
    origin: str | None = None
    for part in module_name.split("."):
        spec = PathFinder.find_spec(part, locations)
        if spec is None:
            raise BuilderError(f"cannot import '{module_name}': no module named '{part}'")
        origin = spec.origin
        locations = list(spec.submodule_search_locations or [])
    if not origin or not origin.endswith(".py"):
        raise BuilderError(f"'{module_name}' is not Python source; a builder must be")
    return Path(origin)


def _check_signature(fn: ast.FunctionDef, module_name: str) -> None:
    """``fn`` must take three positional arguments (params, input_shape, task), may take
    ``n_outputs``, and must require nothing else."""
    args = fn.args
    positional = [*args.posonlyargs, *args.args]
    required = len(positional) - len(args.defaults)
    takes_three = len(positional) >= 3 or args.vararg is not None
    names = [a.arg for a in positional]
    kw_required = [
        a.arg
        for a, default in zip(args.kwonlyargs, args.kw_defaults, strict=False)
        if default is None and a.arg != "n_outputs"
    ]
    where = f"'{module_name}:{fn.name}({', '.join(names)})'"
    if required == 1 and len(positional) == 1 and args.vararg is None:
        raise BuilderError(
            f"{where} takes one argument, as a Keras Tuner build_model(hp) does; hpsearch "
            f"passes the sampled values as a dict: {FORM}"
        )
    extra_required = [n for n in names[3:required] if n != "n_outputs"]
    if not takes_three or extra_required or kw_required:
        raise BuilderError(f"{where} does not accept hpsearch's call: {FORM}")
