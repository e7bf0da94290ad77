"""The package's shape, held by a test: no import circle, one home per heavy library, no
catch-all module, no long function. A change that breaks one of these fails here, naming
the module, instead of the layout drifting back (issue 18)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "hpsearch"
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 80
#: library -> the package (or module) that alone may import it
HOMES = {
    "mlflow": "hpsearch.tracking",
    "keras_tuner": "hpsearch.backends.keras_tuner",
    "ray": "hpsearch.backends.ray_tune",
    "optuna": "hpsearch.study",
    "tensorboard": "hpsearch.tracking.tensorboard",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, int]]:
    """Every module ``name`` imports, at any level (function bodies and TYPE_CHECKING too),
    with the line: a lazy import still closes a circle when it runs."""
    out = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
            out += [(s, node.lineno) for s in subs] if subs else [(base, node.lineno)]
    return out


def _graph() -> dict[str, set[str]]:
    return {
        name: {m for m, _ in _imports(name, path) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }


def test_the_package_is_laid_out_as_the_readme_says() -> None:
    for folder in ("space", "tracking", "backends", "backends/keras_tuner", "backends/ray_tune"):
        assert (ROOT / folder / "__init__.py").is_file(), folder
    assert (ROOT / "errors.py").is_file() and (ROOT / "plan.py").is_file()


def test_no_import_circle() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circle = [*stack[stack.index(nxt) :], nxt]
                pytest.fail("import circle: " + " -> ".join(circle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("library", sorted(HOMES))
def test_each_heavy_library_has_one_home(library: str) -> None:
    home = HOMES[library]
    outside = [
        f"{name}:{line}"
        for name, path in MODULES.items()
        if not (name == home or name.startswith(home + "."))
        for module, line in _imports(name, path)
        if module == library or module.startswith(library + ".")
    ]
    assert outside == [], f"{library} imported outside {home}: {outside}"


def test_heavy_libraries_are_imported_lazily() -> None:
    """At a module's top level, none of them: `--help` and `validate` must not load them."""
    heavy = (*HOMES, "tensorflow", "keras")
    eager = []
    for name, path in MODULES.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                eager += [f"{name}: {n}" for n in names if n.split(".")[0] in heavy]
    # served_model.py is MLflow's models-from-code file: it runs inside the logged model
    assert [e for e in eager if not e.startswith("hpsearch.tracking.served_model")] == []


def test_no_catch_all_module() -> None:
    long = {
        name: n
        for name, path in MODULES.items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_long_function() -> None:
    """A body (docstring excluded) of at most 80 lines; Typer's option declarations sit in
    the signature and are not counted."""
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                docstring = isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], "value", None), ast.Constant
                )
                first = body[1] if docstring and len(body) > 1 else body[0]
                length = (node.end_lineno or node.lineno) - first.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {length}")
    assert long == []
