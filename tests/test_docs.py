"""The documentation is true: every command in docs/*.md runs, and docs/cli.md is what --help says."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from flipspike.cli import cli_reference

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
        done = subprocess.run([sys.executable, "-m", "flipspike.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"`{cmd}` failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert (tmp_path / "runs" / "report.md").is_file()
    assert "nothing approximated" in subprocess.run(
        [sys.executable, "-m", "flipspike.cli", "import", "runs/mlp/net.nir", "--out", "x.json"],
        cwd=tmp_path, capture_output=True, text=True).stdout


PACKAGE_NAMES = r"(?:flipspike\.)?(?:ir|sw|hw|gen|sim|host|api|cli)"
DOTTED = re.compile(rf"^(?!.*\.(?:py|md)$){PACKAGE_NAMES}(?:\.[A-Za-z_]\w*)+(?:\(\))?$")
REPO_PATH = re.compile(r"^(?:(?:ir|sw|hw|gen|sim|host|bench|tests|docs|examples)/[\w./-]+|api|cli)\.(?:py|md|cpp|vlt|json)$")


def quoted_names(text: str) -> tuple[list[str], list[str]]:
    """(dotted names, repository paths) quoted in backticks in ``text``."""
    spans = re.findall(r"`([^`\n]+)`", text)
    return [s for s in spans if DOTTED.match(s)], [s for s in spans if REPO_PATH.match(s)]


def resolves(name: str) -> bool:
    """Whether ``name`` (flipspike.x.y..., the prefix optional) is a module or an attribute of one."""
    import importlib
    parts = name.removesuffix("()").split(".")
    if parts[0] != "flipspike":
        parts.insert(0, "flipspike")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_every_quoted_name_and_path_exists():
    """Docs cannot drift from the code: each dotted name (`gen.estimate.COEFFICIENTS`) and repository path
    (`ir/formats.py`) that README.md and docs/*.md quote exists."""
    root = DOCS.parent
    missing = []
    for path in [root / "README.md", *sorted(DOCS.glob("*.md"))]:
        names, files = quoted_names(path.read_text())
        missing += [f"{path.name}: {n}" for n in names if not resolves(n)]
        missing += [f"{path.name}: {f}" for f in files if not (root / f).exists()]
    assert not missing, "quoted in the docs but not in the code:\n" + "\n".join(missing)


def test_the_name_check_can_fail():
    assert resolves("ir.plan.LayerPlan") and resolves("flipspike.gen.estimate.COEFFICIENTS")
    assert not resolves("ir.plan.NoSuchThing") and not resolves("flipspike.formats")
    assert quoted_names("`hw.verilog.generate()` and `ir/plan.py` and `api.py` and `x.y`") == (
        ["hw.verilog.generate()"], ["ir/plan.py", "api.py"])
