"""The spec file a parallel search's parent writes and each child reads: the space with every
override applied, the tuner's folder and the verbosity, so every process builds one tuner."""

from __future__ import annotations

import json
from pathlib import Path

from hpsearch.space import (
    Bool,
    Choice,
    DatasetSpec,
    Fixed,
    FloatRange,
    IntRange,
    ModelSpec,
    Objective,
    Param,
    SearchSpec,
    Space,
    TrainingSpec,
)

_PARAM_KINDS: dict[str, type[Param]] = {
    c.__name__: c for c in (Fixed, IntRange, FloatRange, Choice, Bool)
}


def write_spec(path: Path, space: Space, *, workdir: Path, verbose: bool) -> Path:
    """Write everything a child needs to rebuild the same tuner: the space with every
    override applied (not just its YAML text), the tuner's folder and the verbosity."""
    spec = {
        "name": space.name,
        "description": space.description,
        "source": str(space.source) if space.source else None,
        "text": space.text,
        "dataset": space.dataset.model_dump(mode="json"),
        "objective": space.objective.model_dump(mode="json"),
        "training": space.training.model_dump(mode="json"),
        "search": space.search.model_dump(mode="json"),
        "model": space.model.model_dump(mode="json") if space.model else None,
        "builder": space.builder,  # a worker trains the user's model, not hpsearch's MLP
        "objective_given": space.objective_given,
        "params": {
            name: {"kind": type(p).__name__, **p.model_dump(mode="json")}
            for name, p in space.params.items()
        },
        "workdir": str(workdir),
        "verbose": verbose,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return path


def read_spec(path: Path) -> tuple[Space, Path, bool]:
    """The space, workdir and verbosity a parent wrote with write_spec."""
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    params: dict[str, Param] = {}
    for name, raw in spec["params"].items():
        kind = _PARAM_KINDS[raw.pop("kind")]
        params[name] = kind.model_validate(raw)
    space = Space(
        name=spec["name"],
        dataset=DatasetSpec.model_validate(spec["dataset"]),
        objective=Objective.model_validate(spec["objective"]),
        params=params,
        training=TrainingSpec.model_validate(spec["training"]),
        search=SearchSpec.model_validate(spec["search"]),
        description=spec["description"],
        source=Path(spec["source"]) if spec["source"] else None,
        text=spec["text"],
        model=ModelSpec.model_validate(spec["model"]) if spec.get("model") else None,
        builder=spec.get("builder"),
        objective_given=spec.get("objective_given", True),
    )
    return space, Path(spec["workdir"]), bool(spec["verbose"])
