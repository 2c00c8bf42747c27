"""The documentation is true: every command in docs/*.md runs, and docs/cli.md is what --help says."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from flipspike.gen.cli import cli_reference

DOCS = Path(__file__).resolve().parent.parent / "docs"


def doc_commands(path: Path) -> list[str]:
    """The ``$ ...`` lines of ```console blocks, in order."""
    blocks = re.findall(r"```console\n(.*?)```", path.read_text(), re.S)
    return [line[2:].strip() for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_cli_reference_is_current():
    assert (DOCS / "cli.md").read_text() == cli_reference(), "docs/cli.md is stale: run `make docs`"


def test_only_flipspike_commands_in_docs():
    for path in DOCS.glob("*.md"):
        for cmd in doc_commands(path):
            assert cmd.startswith("flipspike "), f"{path.name}: {cmd}"


@pytest.mark.slow
def test_tutorial_commands_run(tmp_path, build_root):
    commands = doc_commands(DOCS / "tutorial.md")
    assert len(commands) >= 10
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for cmd in commands:
        args = shlex.split(cmd)[1:]
        if args[0] == "cosim":
            args += ["--build-dir", str(build_root)]              # reuse the suite's Verilator builds
        done = subprocess.run([sys.executable, "-m", "flipspike.gen.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"`{cmd}` failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert (tmp_path / "runs" / "report.md").is_file()
    assert "nothing approximated" in subprocess.run(
        [sys.executable, "-m", "flipspike.gen.cli", "import", "runs/mlp/net.nir", "--out", "x.json"],
        cwd=tmp_path, capture_output=True, text=True).stdout
