"""Turning TensorBoard files on from the command line: `--tensorboard` on run, compare and
sweep and `tracking.tensorboard` in a space, a bad folder refused in one line with nothing
made, a sweep's folder handed to every entry (the flag winning over the file), and the
commands that must not import tensorboard (hpsearch.plan, hpsearch.sweep, hpsearch.cli)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.in_process import hpsearch
from tests.spaces import tiny_space_text

REPO = Path(__file__).resolve().parents[2]


SWEEP = """
name: nightly
matrix: {{spaces: [space.yaml]}}
{extra}
"""


@pytest.mark.parametrize(
    ("args", "sweep", "space", "phrase"),
    [
        (["run", "space.yaml", "--tensorboard", "afile"], "", {}, "--tensorboard: afile is a file"),
        (["run", "space.yaml", "--tensorboard", "afile/tb"], "", {}, "afile/tb cannot be created"),
        (
            ["run", "space.yaml"],
            "",
            {"tracking": {"tensorboard": "afile"}},
            "space.yaml:10: tracking.tensorboard: afile is a file",
        ),
        (["run", "space.yaml"], "", {"tracking": {"tensorbord": "tb"}}, "tensorbord"),
        (
            ["compare", "space.yaml", "--budget-epochs", "2", "--tensorboard", "afile"],
            "",
            {},
            "--tensorboard: afile is a file",
        ),
        (
            ["compare", "space.yaml", "--budget-epochs", "2"],
            "",
            {"tracking": {"tensorboard": "afile"}},
            "tracking.tensorboard: afile is a file",
        ),
        (["sweep", "sweep.yaml"], "tensorboard: afile", {}, "sweep.yaml:4: tensorboard: afile"),
        (
            ["sweep", "sweep.yaml", "--tensorboard", "afile"],
            "",
            {},
            "--tensorboard: afile is a file",
        ),
        (["tensorboard", "absent"], "", {}, "absent does not exist"),
        (["tensorboard", "afile"], "", {}, "afile is not a folder"),
    ],
    ids=[
        "run-file",
        "run-under-file",
        "space-key",
        "space-typo",
        "compare",
        "compare-key",
        "sweep-key",
        "sweep-flag",
        "serve-absent",
        "serve-file",
    ],
)
def test_a_bad_folder_is_one_line_exit_2_and_nothing_is_made(
    tmp_path: Path, args: list[str], sweep: str, space: dict[str, Any], phrase: str
) -> None:
    (tmp_path / "space.yaml").write_text(tiny_space_text(**space))
    (tmp_path / "sweep.yaml").write_text(SWEEP.format(extra=sweep))
    (tmp_path / "afile").write_text("not a folder")
    before = sorted(p.name for p in tmp_path.iterdir())
    done = hpsearch(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert phrase in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no store, no folder


def test_a_sweep_hands_its_folder_to_every_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpsearch.sweep import load_sweep, run_command

    monkeypatch.chdir(tmp_path)
    (tmp_path / "space.yaml").write_text(tiny_space_text())
    (tmp_path / "other.yaml").write_text(tiny_space_text(name="other"))
    two = SWEEP.replace("[space.yaml]", "[space.yaml, other.yaml]")

    def folders(sweep: Any) -> list[str]:
        assert len(sweep.entries) == 2
        cmds = [run_command(sweep, entry, "sqlite:///m.db") for entry in sweep.entries]
        return [cmd[cmd.index("--tensorboard") + 1] for cmd in cmds]

    (tmp_path / "sweep.yaml").write_text(two.format(extra="tensorboard: boards"))
    sweep = load_sweep(tmp_path / "sweep.yaml")
    assert folders(sweep) == [str(tmp_path / "boards")] * 2  # cwd's, absolute
    assert not (tmp_path / "boards").exists()
    (tmp_path / "afile").write_text("")  # the file's value is wrong; --tensorboard wins
    (tmp_path / "sweep.yaml").write_text(two.format(extra="tensorboard: afile"))
    sweep = load_sweep(tmp_path / "sweep.yaml", tensorboard=Path("flagged"))
    assert folders(sweep) == [str(tmp_path / "flagged")] * 2


_PROBE = """
import json, sys
from hpsearch.cli import main
sys.argv = ["hpsearch", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "tensorboard"
                        or m == "hpsearch.tracking.tensorboard")))
"""


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["validate", "space.yaml"]])
def test_help_and_validate_import_no_tensorboard(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "space.yaml").write_text(tiny_space_text(tracking={"tensorboard": "tb"}))
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    if args == ["run", "--help"]:
        assert "--tensorboard" in done.stdout
    assert not (tmp_path / "tb").exists()
