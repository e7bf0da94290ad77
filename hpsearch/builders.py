"""A space's ``builder: module:function``: checked without running anything, and the
``hp`` object a Keras Tuner style builder is handed on engines that are not Keras Tuner.

A space file names code to call. ``validate`` must be able to vouch for it without executing
it, so the module is found on the path the way Python's import system would find it, read as
source and parsed; nothing is imported and nothing is called. Only a function of the user's
own, written with ``def`` and taking one of the two forms hpsearch calls, passes:
hpsearch's ``build(params, input_shape, task)``, or Keras Tuner's ``build_model(hp)``.
"""

from __future__ import annotations

import ast
import contextlib
import sys
from collections.abc import Collection, Iterator, Sequence
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

from hpsearch.errors import BuilderError

#: The call hpsearch makes: ``fn(params, input_shape, task)``, plus ``n_outputs=`` if taken.
FORM = "def build(params, input_shape, task, n_outputs=1)"
#: Keras Tuner's form (the seed's 10.3, every Keras Tuner tutorial): ``fn(hp)``.
KT_FORM = "def build_model(hp)"
FORMS = f"{FORM}, or Keras Tuner's {KT_FORM}"
#: The ``hp`` methods a Keras Tuner builder may call to read a hyperparameter.
HP_METHODS = ("Int", "Float", "Choice", "Boolean", "Fixed")


def check_builder(
    spec: str, dirs: Sequence[str] = (), declared: Collection[str] | None = None
) -> str:
    """Raise BuilderError unless ``spec`` names a ``def`` function in a Python source module
    (found in ``dirs``, then on ``sys.path``) whose signature takes one of hpsearch's two
    calls. Returns the form: ``"params"`` or ``"hp"``. With ``declared`` (the space's
    hyperparameter names), an ``hp`` builder that reads a literal name the space does not
    declare is refused, naming it."""
    module_name, _, attr = spec.partition(":")
    top = module_name.split(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        raise BuilderError(
            f"'{module_name}' is a standard-library module; a builder is a function of your "
            f"own ({FORMS})"
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
        raise BuilderError(f"'{attr}' is async; a builder returns a model ({FORMS})")
    form = _check_signature(fn, module_name)
    if form == "hp" and declared is not None:
        for name in _hp_names(fn):
            if name not in declared:
                raise BuilderError(undeclared(name, declared))
    return form


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


def _check_signature(fn: ast.FunctionDef, module_name: str) -> str:
    """``fn`` must take one argument (``hp``: Keras Tuner's form), or three positional
    ones (params, input_shape, task) and perhaps ``n_outputs``, requiring nothing else."""
    args = fn.args
    positional = [*args.posonlyargs, *args.args]
    required = len(positional) - len(args.defaults)
    names = [a.arg for a in positional]
    kw_required = [
        a.arg
        for a, default in zip(args.kwonlyargs, args.kw_defaults, strict=False)
        if default is None and a.arg != "n_outputs"
    ]
    where = f"'{module_name}:{fn.name}({', '.join(names)})'"
    if len(positional) == 1 and required == 1 and args.vararg is None and not kw_required:
        return "hp"
    takes_three = len(positional) >= 3 or args.vararg is not None
    extra_required = [n for n in names[3:required] if n != "n_outputs"]
    if not takes_three or extra_required or kw_required:
        raise BuilderError(f"{where} takes neither of hpsearch's calls: {FORMS}")
    return "params"


def _hp_names(fn: ast.FunctionDef) -> list[str]:
    """The literal names an ``hp`` builder reads: ``hp.Int("units", ...)`` and the like
    (a name built at run time, such as an f-string, is checked when the builder runs)."""
    hp = fn.args.args[0].arg if fn.args.args else fn.args.posonlyargs[0].arg
    names = []
    for node in ast.walk(fn):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in HP_METHODS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == hp
        ):
            continue
        arg = (
            node.args[0]
            if node.args
            else next((k.value for k in node.keywords if k.arg == "name"), None)
        )
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names.append(arg.value)
    return names


def undeclared(name: str, declared: Collection[str]) -> str:
    """The one line for a builder that asks for a hyperparameter the space lacks."""
    from hpsearch.space import did_you_mean, short

    return (
        f"the builder asks for hyperparameter {short(name)}, which the space does not declare"
        f"{did_you_mean(name, declared)}: add it under hyperparameters: (the space decides "
        "every hyperparameter's range)"
    )


def builder_form(fn: Any) -> str:
    """``"hp"`` for a Keras Tuner style ``fn(hp)``, else ``"params"`` (an imported function)."""
    import inspect

    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return "params"
    if any(p.kind == p.VAR_POSITIONAL for p in params):  # as check_builder reads *args
        return "params"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [
        p
        for p in params
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    return "hp" if len(positional) == 1 and len(required) == 1 else "params"


class SampledHP:
    """What a Keras Tuner style builder gets where there is no Keras Tuner (Ray, the final
    refit, lr-find): ``hp.Int``/``Float``/``Choice``/``Boolean``/``Fixed`` return the trial's
    sampled values, whatever range the builder passes, since the space decides the ranges;
    a name the space does not declare is a BuilderError naming it."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = dict(values)

    @property
    def values(self) -> dict[str, Any]:
        return dict(self._values)

    def get(self, name: str) -> Any:
        return self._read(name)

    def _read(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name not in self._values:
            raise BuilderError(undeclared(name, list(self._values)))
        return self._values[name]

    Int = Float = Choice = Boolean = Fixed = _read

    def __contains__(self, name: object) -> bool:
        return name in self._values

    @contextlib.contextmanager
    def conditional_scope(self, *args: Any, **kwargs: Any) -> Iterator[None]:
        """Keras Tuner's conditions: here every declared value is simply there."""
        yield
