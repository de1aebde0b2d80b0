"""Writing files safely: one writer for reports, generated files and fixed manifests.

A regular file is replaced atomically (temp file in the same directory, fsync, rename), so a
crash or a full disk leaves the old file whole. A device or pipe (``-o /dev/null``,
``-o /dev/stdout``) is written to directly, never replaced.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


class ConcurrentChange(OSError):
    """The file changed between rofs reading it and writing it back."""


def stamp(path: str) -> tuple[int, int, int] | None:
    """(inode, mtime_ns, size) of *path*, or None when it cannot be read: to detect a concurrent change."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def write_atomic(path: str | Path, text: str, expect: tuple[int, int, int] | None = None) -> None:
    """Replace *path* with *text*, keeping its mode (a new file gets 0666 less the umask).

    With *expect* (the file's stamp when it was read), a file that changed meanwhile (another
    `rofs fix`, an editor) is not overwritten: ConcurrentChange is raised and nothing is written.
    Raises OSError when the file cannot be written; nothing is left behind then.
    """
    target = Path(path)
    if _is_special(target):
        with open(target, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        return
    handle, tmp = temp_beside(target)
    try:
        with handle:
            handle.write(text)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    replace_with(tmp, target, expect)


def _is_special(target: Path) -> bool:
    try:
        return not stat.S_ISREG(target.stat().st_mode)
    except FileNotFoundError:
        return False


def temp_beside(target: Path):
    """(an open text handle, its path): a temp file in *target*'s directory, for ``replace_with``.
    Line endings are written as given."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.rofs-", dir=target.parent)
    return os.fdopen(fd, "w", encoding="utf-8", newline=""), tmp


def replace_with(tmp: str, path: str | Path, expect: tuple[int, int, int] | None = None) -> None:
    """Put the finished temp file *tmp* (same directory) in place of *path*, atomically: fsync,
    the old file's mode, a last check that nobody changed *path* (*expect*), rename, fsync of the
    directory.  On any failure *tmp* is removed and *path* is left as it was."""
    target = Path(path)
    try:
        try:
            perms = stat.S_IMODE(target.stat().st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            perms = 0o666 & ~umask
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, perms)
        if expect is not None and stamp(str(path)) != expect:
            raise ConcurrentChange(f"{path} changed while rofs was fixing it; nothing written, run rofs fix again")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dirfd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except OSError:
        pass
