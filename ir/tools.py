"""External tools (yosys, nextpnr, the model checker, the solver): where they are, and the environment
they run in."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .errors import MissingFileError


def find_tool(name: str, fix: str) -> str:
    """The executable ``name``: on PATH, else beside this Python (a virtual environment's bin/); else an
    error that says what needs it and how to install it (``fix``)."""
    path = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(path).is_file():
        raise MissingFileError(f"{name} not found: {fix}")
    return path


def scratch_env(directory: str | os.PathLike, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a tool run inside ``directory`` (a temporary one of flipspike's): ``base`` (the
    process's environment) with TMPDIR there too, so whatever the tool leaves when it is killed goes
    with it."""
    scratch = Path(directory) / ".tmp"
    scratch.mkdir(exist_ok=True)
    return {**(os.environ if base is None else base), "TMPDIR": str(scratch)}
