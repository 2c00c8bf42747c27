"""Writing a user's files: write, then rename; every failure leaves the old file and no temporary one."""

import errno

import pytest

from flipspike.ir.errors import OutputPathError
from flipspike.ir.files import fill_dir_atomic, write_atomic, write_text_atomic


def test_a_full_disk_is_a_user_error_and_keeps_the_old_file(tmp_path):
    path = write_text_atomic(tmp_path / "out.json", "old\n")

    def full(tmp):
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputPathError, match="No space left on device; free some space"):
        write_atomic(path, full)
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_bug_while_writing_keeps_its_traceback_and_leaves_nothing(tmp_path):
    def bug(tmp):
        tmp.write_text("half")
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        write_atomic(tmp_path / "out.json", bug)
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_of_a_directory(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(OutputPathError, match="a file of that name is in the way"):
        write_text_atomic(tmp_path / "taken" / "out.json", "y")
    with pytest.raises(OutputPathError, match="is a directory"):
        write_text_atomic(tmp_path, "y")


def test_a_failed_directory_keeps_the_previous_one(tmp_path):
    out = tmp_path / "rtl"
    fill_dir_atomic(out, lambda d: (d / "a.v").write_text("first"))

    def fails(d):
        (d / "a.v").write_text("second")
        raise RuntimeError("elaboration failed")

    with pytest.raises(RuntimeError):
        fill_dir_atomic(out, fails)
    assert (out / "a.v").read_text() == "first" and [p.name for p in tmp_path.iterdir()] == ["rtl"]


def test_an_unwritable_directory_is_a_user_error(tmp_path, monkeypatch, capsys):
    """(As root every directory is writable, so the permission is taken away where it is asked.)"""
    import os

    import numpy as np

    from flipspike.cli import main
    from helpers import random_desc

    net = random_desc(np.random.default_rng(0), [8, 6, 4], timesteps=2).save(tmp_path / "net.json")
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p) == str(locked) else real(p, mode, **k))
    with pytest.raises(OutputPathError, match="Permission denied; choose a writable output path"):
        write_text_atomic(locked / "out.json", "x")
    assert main(["generate", str(net), "--out", str(locked / "rtl")]) == 2
    assert "cannot write into" in capsys.readouterr().err and list(locked.iterdir()) == []


def test_a_full_disk_while_filling_a_directory_is_a_user_error(tmp_path):
    def full(d):
        (d / "a.v").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputPathError, match="cannot write .*rtl: No space left on device"):
        fill_dir_atomic(tmp_path / "rtl", full)
    assert list(tmp_path.iterdir()) == []
