"""Writing files safely: one writer for reports, generated files and fixed manifests.

A regular file is replaced atomically (temp file in the same directory, fsync, rename), so a
crash or a full disk leaves the old file whole; a symbolic link given as the target is replaced,
not followed. A pipe, a socket, a terminal or /dev/null (``-o /dev/null``, ``-o /dev/stdout``) is
written to directly, never replaced; any other device is refused. rofs often runs as root: a link
someone else planted in a shared directory such as /tmp is never followed (the rule of the
kernel's fs.protected_symlinks, which not every machine turns on).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class ConcurrentChange(OSError):
    """The file changed between rofs reading it and writing it back."""


class Unreplaceable(OSError):
    """Putting a new file in place of this one would change more than its text (its other hard
    links, its owner): nothing is written."""


def stamp(path: str) -> tuple[int, int, int] | None:
    """(inode, mtime_ns, size) of *path*, or None when it cannot be read: to detect a concurrent change."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def check_output(path: str | Path) -> bool:
    """Whether *path* is to be written in place (a pipe, socket, terminal or /dev/null) rather than
    replaced; OSError for a target rofs must not write (a device, a link another user could have
    planted, on the way or at the end)."""
    dirfd, name = open_parent(path)
    try:
        return open_special(dirfd, name, str(path)) is not None
    finally:
        os.close(dirfd)


def _trusted_link(st: os.stat_result, dir_st: os.stat_result) -> bool:
    """A symbolic link only root or we could have made, and no one else could have put there: owned
    by root or us, in a directory of root's or ours that others may not write (or, sticky, may not
    replace others' entries in)."""
    mine = (0, os.geteuid())
    others_write = dir_st.st_mode & 0o022 and not dir_st.st_mode & stat.S_ISVTX
    return st.st_uid in mine and dir_st.st_uid in mine and not others_write


def open_parent(path: str | Path, _depth: int = 0) -> tuple[int, str]:
    """(descriptor of the directory that holds *path*, its last name), resolved one component at a
    time from "/": a symbolic link is followed only when it is trusted (see _trusted_link), so a
    link another user planted, anywhere on the way, is refused rather than followed as root."""
    # not normalised as text: `link/../x` is the x beside the link's target, as the kernel reads it
    absolute = os.path.join(os.getcwd(), str(path))
    parts = [p for p in absolute.split("/") if p and p != "."]
    if not parts or parts[-1] == "..":
        raise OSError(f"{path}: not a file")
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, part in enumerate(parts[:-1]):
            if part == "..":  # the parent of the directory reached, which the kernel knows
                parent = os.open("..", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
                os.close(fd)
                fd = parent
                continue
            st = os.stat(part, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                if not _trusted_link(st, os.fstat(fd)) or _depth > 40:
                    raise OSError(f"{path}: /{'/'.join(parts[:i + 1])} is a symbolic link another user could have"
                                  " made: not followed")
                target = os.readlink(part, dir_fd=fd)
                here = os.readlink(f"/proc/self/fd/{fd}")  # the directory reached (parts may hold ..)
                rest = "/".join(parts[i + 1:])
                os.close(fd)
                fd = -1
                return open_parent(os.path.join(here, target, rest), _depth + 1)
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = child
        return fd, parts[-1]
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise


def open_special(dirfd: int, name: str, shown: str) -> int | None:
    """An open descriptor to write to when the target is a pipe, socket, terminal or /dev/null
    (None: a file to replace, or none yet); OSError for anything else."""
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        if not _trusted_link(st, os.fstat(dirfd)):
            raise OSError(f"{shown} is a symbolic link another user could have made: not followed")
        try:
            target = os.stat(name, dir_fd=dirfd)
        except FileNotFoundError:
            return None
        if stat.S_ISREG(target.st_mode):
            return None  # replaced (the link with it), not written through
        if not _writable_special(target):
            raise OSError(_REFUSED.format(shown))
        fd = os.open(name, os.O_WRONLY | os.O_CLOEXEC, dir_fd=dirfd)  # a trusted link: /dev/stdout
    elif stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return None
    elif not _writable_special(st):
        raise OSError(_REFUSED.format(shown))
    else:
        fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dirfd)
    if not _writable_special(os.fstat(fd)):  # what was opened, not what was looked at a moment before
        os.close(fd)
        raise OSError(_REFUSED.format(shown))
    os.set_blocking(fd, True)
    return fd


_REFUSED = "{} is a device or file rofs does not write reports to (only files it replaces, pipes, terminals, /dev/null)"


def _writable_special(st: os.stat_result) -> bool:
    mode = st.st_mode
    return bool(stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode) and (
        st.st_rdev == os.makedev(1, 3) or os.major(st.st_rdev) in (4, 5, 136, 137)))


def write_atomic(path: str | Path, text: str, expect: tuple[int, int, int] | None = None) -> None:
    """Replace *path* with *text*, keeping its mode (a new file gets 0666 less the umask); a pipe,
    terminal or /dev/null is written to instead.

    With *expect* (the file's stamp when it was read), a file that changed meanwhile (another
    `rofs fix`, an editor) is not overwritten: ConcurrentChange is raised and nothing is written.
    Raises OSError when the file cannot be written; nothing is left behind then.
    """
    dirfd, name = open_parent(path)
    try:
        fd = open_special(dirfd, name, str(path))
        if fd is not None:
            with open(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            return
        pending = Replacement(path, (dirfd, name))
        try:
            pending.handle.write(text)
        except BaseException:
            pending.discard()
            raise
        pending.commit(expect)
    finally:
        os.close(dirfd)


class Replacement:
    """The next content of *target*, written to ``handle``, put in place by ``commit``.

    The text goes to a file in the target's directory that has no name yet (O_TMPFILE): a
    process killed while writing leaves nothing behind.  ``commit`` syncs it, gives it the old
    file's mode, checks that nobody changed the target meanwhile, names it and renames it over
    the target (one atomic step for readers), then syncs the directory.  Where the file system
    has no O_TMPFILE, a named temp file beside the target is used instead.  The directory is
    the one open_parent found (links someone else planted are not followed), held open.
    """

    def __init__(self, target: str | Path, parent: tuple[int, str] | None = None):
        self.target = Path(target)
        if parent is None:
            dirfd, self.leaf = open_parent(target)
        else:
            dirfd, self.leaf = os.dup(parent[0]), parent[1]
        self.dirfd = dirfd
        self.name: str | None = None
        try:
            fd = os.open(".", os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600, dir_fd=dirfd)
        except (AttributeError, OSError):
            self.name = _temp_name(self)
            fd = os.open(self.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dirfd)
        self.handle = os.fdopen(fd, "w", encoding="utf-8", newline="")

    def commit(self, expect: tuple[int, int, int] | None = None) -> None:
        try:
            self.handle.flush()
            fd = self.handle.fileno()
            os.fsync(fd)
            self._keep_identity(fd)
            if expect is not None and self._stamp() != expect:
                raise ConcurrentChange(f"{self.target} changed while rofs was fixing it; nothing written, run rofs fix again")
            if self.name is None:
                base = _temp_name(self)
                # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N: the way to name an O_TMPFILE file
                os.link(f"/proc/self/fd/{fd}", base, dst_dir_fd=self.dirfd, follow_symlinks=True)
                self.name = base
            os.replace(self.name, self.leaf, src_dir_fd=self.dirfd, dst_dir_fd=self.dirfd)
            self.name = None
        except BaseException:
            self.discard()
            raise
        self.handle.close()
        try:
            os.fsync(self.dirfd)
        except OSError:
            pass
        self._close_dir()

    def _stamp(self) -> tuple[int, int, int] | None:
        """The stamp of the file this replacement is about to replace (the one the name reached
        through the directory held open, which is what a stamp taken by name must match)."""
        try:
            st = os.stat(self.leaf, dir_fd=self.dirfd)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _keep_identity(self, fd: int) -> None:
        """Give the new file the old one's owner, group and mode (a new file: 0666 less the umask);
        refuse when the old one has other hard links, which a rename would leave unchanged."""
        _refuse_fixed_in_place(self.dirfd, self.leaf, str(self.target))
        try:
            old = os.stat(self.leaf, dir_fd=self.dirfd, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        if old is None or stat.S_ISLNK(old.st_mode):  # a link is replaced by a new file, not followed
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
            return
        if old.st_nlink > 1:
            raise Unreplaceable(errno.EMLINK, f"it has {old.st_nlink} hard links, and a new file put in its"
                                " place would leave the others unchanged; nothing written (to change them"
                                f" all, write the new text through this name: cat NEW > {self.target})")
        try:
            os.fchown(fd, old.st_uid, old.st_gid)  # as root, a rewrite must not hand the file to root
        except PermissionError:
            if old.st_uid != os.geteuid():
                raise Unreplaceable(errno.EPERM, f"it belongs to user {old.st_uid}, and a new file put in its"
                                    " place would belong to you; nothing written (run as its owner)") from None
            # our own file in a group we are not in: the group becomes ours, as with any editor
        os.fchmod(fd, stat.S_IMODE(old.st_mode))  # after chown, which clears set-id bits
        _copy_xattrs(self.dirfd, self.leaf, fd, str(self.target))  # ACLs too (after chmod: they set its group bits)

    def discard(self) -> None:
        self.handle.close()
        if self.name is not None:
            try:
                os.unlink(self.name, dir_fd=self.dirfd)
            except OSError:
                pass  # gone already, or a directory that refuses it (commit checked for those first)
            self.name = None
        self._close_dir()

    def _close_dir(self) -> None:
        if self.dirfd >= 0:
            os.close(self.dirfd)
            self.dirfd = -1


def _temp_name(replacement: object) -> str:
    """A name for the new file before it is renamed: short, so a target of 255 bytes still has room."""
    return f".rofs-{os.getpid()}-{id(replacement):x}.tmp"


_FS_IOC_GETFLAGS = 0x80086601  # linux/fs.h
_FS_APPEND_FL, _FS_IMMUTABLE_FL = 0x20, 0x10


def _inode_flags(fd: int) -> int:
    import array
    import fcntl

    buf = array.array("l", [0])
    try:
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, buf, True)
    except OSError:
        return 0  # a file system without inode flags
    return buf[0]


def _refuse_fixed_in_place(dirfd: int, leaf: str, shown: str) -> None:
    """An append-only or immutable directory (or file) cannot take a renamed file: refuse before
    anything is named there, so nothing is left behind."""
    if _inode_flags(dirfd) & (_FS_APPEND_FL | _FS_IMMUTABLE_FL):
        raise Unreplaceable(errno.EPERM, "its directory is append-only or immutable (chattr): nothing written")
    try:
        fd = os.open(leaf, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd)
    except OSError:
        return
    try:
        if _inode_flags(fd) & (_FS_APPEND_FL | _FS_IMMUTABLE_FL):
            raise Unreplaceable(errno.EPERM, f"{shown} is append-only or immutable (chattr): nothing written")
    finally:
        os.close(fd)


def _copy_xattrs(dirfd: int, leaf: str, new_fd: int, shown: str) -> None:
    """Extended attributes of the old file (POSIX ACLs, SELinux labels, user.*) onto the new one;
    one that cannot be copied stops the write (the file would lose it)."""
    try:
        old_fd = os.open(leaf, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd)
    except OSError:
        return
    try:
        try:
            names = os.listxattr(old_fd)
        except OSError:
            return  # a file system without extended attributes
        for name in names:
            try:
                os.setxattr(new_fd, name, os.getxattr(old_fd, name))
            except OSError as exc:
                raise Unreplaceable(exc.errno or errno.EPERM, f"its extended attribute {name} cannot be kept"
                                    f" ({exc.strerror}); nothing written") from None
    finally:
        os.close(old_fd)
