"""Loading a space file: the text read safely, the YAML composed with a line map, and the
schema validated, so every problem is one ``file:line: field: problem`` SpaceError."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hpsearch.errors import SpaceError
from hpsearch.space.columns import check_model
from hpsearch.space.fields import field_name, line_for, path_of, pydantic_error
from hpsearch.space.params import BUILTIN_DATASETS, VOCABULARY, Fixed, Param, parse_param
from hpsearch.space.schema import Objective, _SpaceFile, check_objective
from hpsearch.space.searchspace import Space

M = TypeVar("M", bound=BaseModel)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 floats such as ``1e-4`` (1.1 reads a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _line_map(
    node: yaml.Node, path: tuple[Any, ...] = (), active: frozenset[int] = frozenset()
) -> dict[tuple[Any, ...], int]:
    """Map every key path in a composed YAML document to its 1-based line.

    Raises _YamlProblem for a key repeated in one mapping (PyYAML silently keeps the last)
    and for an alias that contains itself (``&a [*a]``), which no setting can mean."""
    if id(node) in active:
        raise _YamlProblem(path, node.start_mark.line + 1, "an alias refers to itself")
    active = active | {id(node)}
    lines: dict[tuple[Any, ...], int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            sub = (*path, key.value)
            line = key.start_mark.line + 1
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise _YamlProblem(
                        sub, line, f"duplicate key '{key.value}' (first on line {seen[key.value]})"
                    )
                seen[key.value] = line
            lines.update(_line_map(value, sub, active))
            lines[sub] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(_line_map(item, (*path, i), active))
    return lines


class _YamlProblem(Exception):
    """Valid YAML that cannot be a space file, found while mapping lines."""

    def __init__(self, path: tuple[Any, ...], line: int, problem: str) -> None:
        super().__init__(problem)
        self.path, self.line, self.problem = path, line, problem


def load_space(path: str | Path) -> Space:
    """Read and validate a space file; every problem raises SpaceError with file:line."""
    return parse_space(read_text(path), source=Path(path))


def read_text(path: str | Path) -> str:
    """A YAML file's text; a missing, unreadable or non-UTF-8 file is a SpaceError."""
    path = Path(path)
    label = str(path)
    if not path.exists():
        raise SpaceError("no such file", file=label)
    if path.is_dir():
        raise SpaceError("is a directory, expected a YAML file", file=label)
    if not path.is_file():  # a FIFO would block, /dev/zero never end
        raise SpaceError("not a regular file (a pipe, device or socket): refused", file=label)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_CHARS * 4 + 1)  # UTF-8: at most 4 bytes a character
    except OSError as exc:
        raise SpaceError(f"cannot read: {exc.strerror or exc}", file=label) from None
    if len(data) > MAX_FILE_CHARS * 4:
        raise _too_large(f"over {MAX_FILE_CHARS * 4:,} bytes", label)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpaceError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded; save the file "
            "as UTF-8",
            file=label,
            line=line,
        ) from None
    return text


#: Space and sweep files are a few KB; past this a file is refused before it is parsed
#: (PyYAML is pure Python here: a 5 MB space file once took 66 s).
MAX_FILE_CHARS = 128 * 1024
#: Deepest nesting of mappings and lists (a space file needs about 5).
MAX_DEPTH = 64
#: Most nodes the document may expand to, aliases counted as copies ("billion laughs").
MAX_NODES = 100_000


def _too_large(size: str, label: str) -> SpaceError:
    return SpaceError(
        f"the file has {size}; a space or sweep file may have at most {MAX_FILE_CHARS:,} "
        "characters",
        file=label,
    )


def _check_shape(text: str, label: str) -> None:
    """Refuse deep nesting and alias bombs from the event stream, before anything is
    composed: PyYAML's composer recurses per level, and an alias costs nothing to parse
    but its whole subtree to walk."""
    sizes: dict[str, int] = {}  # anchor -> nodes under it, aliases expanded
    stack: list[list[Any]] = []  # open collections: [anchor, nodes so far]
    total = 0

    def add(count: int, event: yaml.Event) -> None:
        nonlocal total
        if stack:
            stack[-1][1] += count
        else:
            total += count
        if (stack[-1][1] if stack else total) > MAX_NODES:  # sums only grow towards the root
            raise SpaceError(
                f"the document expands to more than {MAX_NODES:,} values (aliases counted as "
                "copies): refused",
                file=label,
                line=event.start_mark.line + 1 if event.start_mark else None,
            )

    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(stack) >= MAX_DEPTH:
                raise SpaceError(
                    f"nested more than {MAX_DEPTH} levels deep: refused",
                    file=label,
                    line=event.start_mark.line + 1 if event.start_mark else None,
                )
            stack.append([event.anchor, 1])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, count = stack.pop()
            if anchor:
                sizes[anchor] = count
            add(count, event)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                sizes[event.anchor] = 1
            add(1, event)
        elif isinstance(event, yaml.AliasEvent):
            add(sizes.get(event.anchor or "", 1), event)


def compose_yaml(
    text: str, label: str
) -> tuple[
    dict[str, Any], dict[tuple[Any, ...], int], Callable[[tuple[Any, ...], str], SpaceError]
]:
    """Parse YAML into a mapping, its key paths' line numbers, and ``fail(path, message)``
    that makes a SpaceError pointing at the line of ``path`` (how every hpsearch YAML file
    reports errors)."""
    if len(text) > MAX_FILE_CHARS:
        raise _too_large(f"{len(text):,} characters", label)
    try:
        _check_shape(text, label)
        node = yaml.compose(text, Loader=_Loader)
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark else None
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start is not None and start.line + 1 != line:
            problem += f" ({context} started on line {start.line + 1})"
        raise SpaceError(f"invalid YAML: {problem}", file=label, line=line) from None
    if raw is None:
        raise SpaceError("the file is empty", file=label, line=1)
    if not isinstance(raw, dict):
        raise SpaceError("expected a mapping of settings at the top level", file=label, line=1)
    try:
        lines = _line_map(node) if node is not None else {}
    except _YamlProblem as exc:
        raise SpaceError(
            exc.problem, file=label, line=exc.line, field=field_name(exc.path) or None
        ) from None

    def fail(path: tuple[Any, ...], message: str) -> SpaceError:
        return SpaceError(
            message, file=label, line=line_for(lines, path), field=field_name(path) or None
        )

    return raw, lines, fail


def validate_yaml(raw: dict[str, Any], model: type[M], fail: Callable[..., SpaceError]) -> M:
    """``model.model_validate(raw)``, its first error raised through ``fail`` (file:line)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        loc, msg = pydantic_error(exc, model)
        raise fail(loc, msg) from None


@functools.lru_cache(maxsize=64)
def parse_logged(text: str | None) -> Space | None:
    """The space file a search logged, parsed once (reports and ``best`` ask for it many
    times); None when there is none or it no longer parses."""
    if not text:
        return None
    try:
        return parse_space(text, source=Path("space.yaml"))
    except SpaceError:
        return None


def parse_space(text: str, *, source: Path | None = None) -> Space:
    """Validate the text of a space file (see load_space)."""
    label = str(source) if source else "<space>"
    raw, lines, fail = compose_yaml(text, label)
    spec = validate_yaml(raw, _SpaceFile, fail)
    if not isinstance(spec.hyperparameters, dict) or not spec.hyperparameters:
        raise fail(("hyperparameters",), "declare at least one hyperparameter")
    params: dict[str, Param] = {}
    for name, entry in spec.hyperparameters.items():
        try:
            params[name] = parse_param(
                str(name), entry, f"hyperparameters.{name}", custom=spec.builder is not None
            )
        except SpaceError as exc:
            raise fail(path_of(exc.field or ""), exc.problem) from None
    for name, info in VOCABULARY.items():
        params.setdefault(name, Fixed(value=info.default))

    objective = _objective(spec, fail)
    space = Space(
        name=spec.name,
        dataset=spec.dataset,
        objective=objective,
        params=params,
        training=spec.training,
        search=spec.search,
        description=spec.description,
        source=source,
        text=text,
        lines=lines,
        builder=spec.builder,
        objective_given=spec.objective is not None,
        model=spec.model,
        tracking=spec.tracking,
    )
    if spec.search.strategy == "grid":
        problem = space.grid_problem()
        if problem:
            raise fail(("search", "strategy"), problem)
    problem = space.cv_problem()
    if problem:
        raise fail(("training", "cv"), problem)
    problem = space.i_epoch_problem()
    if problem:
        raise fail(("search", "i_epoch", "epochs"), problem)
    problem = space.model_problem()
    if problem:
        where = "n_neurons" if "n_neurons" in spec.hyperparameters else "n_hidden"
        raise fail(("hyperparameters", where), problem)
    architectures = space.params["architecture"].values() or []
    try:
        check_model(
            spec.model, architectures=architectures, builder=spec.builder, dataset=spec.dataset
        )
    except SpaceError as exc:
        raise fail(path_of(exc.field or "model"), exc.problem) from None
    return space


def _objective(spec: _SpaceFile, fail: Any) -> Objective:
    """Resolve the objective and check that the dataset's task produces it."""
    task = BUILTIN_DATASETS.get(spec.dataset.name)
    if task is None and spec.dataset.task == "regression":
        task = "regression"
    raw = spec.objective
    if raw is None:
        raw = "val_loss" if task == "regression" else "val_accuracy"
    try:
        if isinstance(raw, dict):
            unknown = set(raw) - {"metric", "direction"}
            if unknown:
                raise ValueError(f"unknown key '{sorted(unknown)[0]}'; use metric and direction")
            if "metric" not in raw:
                raise ValueError("needs a metric")
            objective = (
                Objective(metric=raw["metric"], direction=raw["direction"])  # type: ignore[arg-type]
                if "direction" in raw
                else Objective.infer(raw["metric"])
            )
        else:
            objective = Objective.infer(raw)
    except (ValueError, ValidationError) as exc:
        msg = pydantic_error(exc, Objective)[1] if isinstance(exc, ValidationError) else str(exc)
        raise fail(("objective",), msg) from None
    if task is not None:
        check_objective(objective.metric, task, fail)
    return objective
