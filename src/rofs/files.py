"""Writing files safely: one writer for reports, generated files and fixed manifests.

A regular file is replaced atomically (temp file in the same directory, fsync, rename), so a
crash or a full disk leaves the old file whole; a symbolic link given as the target is replaced,
not followed. A pipe, a socket, a terminal or /dev/null (``-o /dev/null``, ``-o /dev/stdout``) is
written to directly, never replaced; any other device is refused. rofs often runs as root: a link
someone else planted in a shared directory such as /tmp is never followed (the rule of the
kernel's fs.protected_symlinks, which not every machine turns on).
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


def check_output(path: str | Path) -> bool:
    """Whether *path* is to be written in place (a pipe, socket, terminal or /dev/null) rather than
    replaced; OSError for a target rofs must not write (a device, a link planted by another user)."""
    target = str(path)
    _refuse_planted_link(target)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return False
    mode = st.st_mode
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return False
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return True
    if stat.S_ISCHR(mode) and (st.st_rdev == os.makedev(1, 3) or os.major(st.st_rdev) in (4, 5, 136, 137)):
        return True  # /dev/null, or a terminal
    raise OSError(f"{target} is a device: rofs writes reports only to files, pipes, terminals and /dev/null")


def _refuse_planted_link(target: str) -> None:
    """A link in a sticky, world-writable directory (/tmp) owned neither by us nor by the
    directory's owner is refused: following it as root would write wherever its maker chose."""
    try:
        st = os.lstat(target)
    except OSError:
        return
    if not stat.S_ISLNK(st.st_mode):
        return
    parent = os.path.dirname(os.path.abspath(target)) or "/"
    try:
        dst = os.stat(parent)
    except OSError:
        return
    shared = dst.st_mode & stat.S_ISVTX and dst.st_mode & stat.S_IWOTH
    if shared and st.st_uid not in (os.geteuid(), dst.st_uid):
        raise OSError(f"{target} is a symbolic link another user made in a shared directory: not followed")


def write_atomic(path: str | Path, text: str, expect: tuple[int, int, int] | None = None) -> None:
    """Replace *path* with *text*, keeping its mode (a new file gets 0666 less the umask).

    With *expect* (the file's stamp when it was read), a file that changed meanwhile (another
    `rofs fix`, an editor) is not overwritten: ConcurrentChange is raised and nothing is written.
    Raises OSError when the file cannot be written; nothing is left behind then.
    """
    target = Path(path)
    if check_output(target):
        with open(target, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        return
    pending = Replacement(target)
    try:
        pending.handle.write(text)
    except BaseException:
        pending.discard()
        raise
    pending.commit(expect)


class Replacement:
    """The next content of *target*, written to ``handle``, put in place by ``commit``.

    The text goes to a file in the target's directory that has no name yet (O_TMPFILE): a
    process killed while writing leaves nothing behind.  ``commit`` syncs it, gives it the old
    file's mode, checks that nobody changed the target meanwhile, names it and renames it over
    the target (one atomic step for readers), then syncs the directory.  Where the file system
    has no O_TMPFILE, a named temp file beside the target is used instead.
    """

    def __init__(self, target: str | Path):
        self.target = Path(target)
        self.name: str | None = None
        try:
            fd = os.open(self.target.parent, os.O_TMPFILE | os.O_WRONLY, 0o600)
        except (AttributeError, OSError):
            fd, self.name = tempfile.mkstemp(prefix=f".{self.target.name}.rofs-", dir=self.target.parent)
        self.handle = os.fdopen(fd, "w", encoding="utf-8", newline="")

    def commit(self, expect: tuple[int, int, int] | None = None) -> None:
        try:
            self.handle.flush()
            fd = self.handle.fileno()
            os.fsync(fd)
            try:
                perms = stat.S_IMODE(self.target.stat().st_mode)
            except FileNotFoundError:
                umask = os.umask(0)
                os.umask(umask)
                perms = 0o666 & ~umask
            os.fchmod(fd, perms)
            if expect is not None and stamp(str(self.target)) != expect:
                raise ConcurrentChange(f"{self.target} changed while rofs was fixing it; nothing written, run rofs fix again")
            if self.name is None:
                base = f".{self.target.name}.rofs-{os.getpid()}-{id(self):x}"
                dirfd = os.open(self.target.parent, os.O_RDONLY | os.O_DIRECTORY)
                try:  # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N: the way to name an O_TMPFILE file
                    os.link(f"/proc/self/fd/{fd}", base, dst_dir_fd=dirfd, follow_symlinks=True)
                finally:
                    os.close(dirfd)
                self.name = os.path.join(self.target.parent, base)
            os.replace(self.name, self.target)
            self.name = None
        except BaseException:
            self.discard()
            raise
        self.handle.close()
        try:
            dirfd = os.open(self.target.parent, os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
        except OSError:
            pass

    def discard(self) -> None:
        self.handle.close()
        if self.name is not None:
            Path(self.name).unlink(missing_ok=True)
            self.name = None
