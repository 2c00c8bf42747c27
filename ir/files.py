"""Writing a user's files: always write, then rename, so a failure never leaves half a file or a
temporary one behind, and never loses the file that was there before."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import OutputPathError


#: Errors writing a file that the user, not flipspike, can fix: no permission, a read-only file system,
#: a full disk or quota.
USER_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT)


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (a directory) if need be and return it; an error that names it and the fix where it
    cannot be written (a file in the way, no permission, a read-only file system)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
    except (FileExistsError, NotADirectoryError):
        raise OutputPathError(f"cannot write into {path}: a file of that name is in the way; choose another "
                              "output path") from None
    except OSError as exc:
        raise OutputPathError(f"cannot write into {path}: {exc.strerror or exc}; choose a writable output "
                              "path") from None
    return path


@contextlib.contextmanager
def _user_errors(path: Path):
    """OSErrors the user can fix (USER_ERRNOS) as an OutputPathError naming ``path``; others unchanged."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in USER_ERRNOS:
            raise
        raise OutputPathError(f"cannot write {path}: {exc.strerror}; free some space or choose another "
                              "output path") from None


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None], suffix: str = "") -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``. On any
    failure (an exception, an interrupt) the temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{path} is a directory; give a file name to write")
    ensure_dir(path.parent)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        with _user_errors(path):
            write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)                     # mkstemp makes 0600; give a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_bytes(data))


def fill_dir_atomic(out_dir: str | os.PathLike, fill: Callable[[Path], None]) -> Path:
    """Call ``fill(staging)`` on a temporary directory beside ``out_dir``, then swap it into place: an
    existing ``out_dir`` is replaced only once the new one is complete, and a failure leaves nothing."""
    final = Path(out_dir).resolve()
    if final.exists() and not final.is_dir():
        raise OutputPathError(f"{final} exists and is not a directory; choose another output directory")
    ensure_dir(final.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        with _user_errors(final):
            fill(staging)
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(staging, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def write_dir_atomic(out_dir: str | os.PathLike, files: dict[str, str]) -> Path:
    """Write text ``files`` (name -> text) into ``out_dir`` as one step (see :func:`fill_dir_atomic`)."""
    def fill(staging: Path) -> None:
        for name, text in files.items():
            (staging / name).write_text(text)
    return fill_dir_atomic(out_dir, fill)
