"""Host directories rofs hands to the sandbox or fills from it, without following symbolic links.

rofs runs as root; the directories it is given (``--persist PATH=HOSTDIR``, ``--keep DIR``, the
state directory) may sit in places others can write (/tmp).  Every component is opened with
O_NOFOLLOW relative to its parent's descriptor, missing ones are created with mkdirat, and the
sandbox gets the directory through rofs' own descriptor (``/proc/<rofs>/fd/N``), so a link
planted between the check and the mount cannot redirect it.  Only directories rofs created are
given to the program's user.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from rofs.runtime.errors import SandboxError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class HostDir:
    """An open host directory (close it when the run is over)."""

    path: str
    fd: int
    created: list[str] = field(default_factory=list)  # components rofs made, outermost first

    @property
    def proc_path(self) -> str:
        """The directory as any process of this machine can name it while rofs holds it open."""
        return f"/proc/{os.getpid()}/fd/{self.fd}"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_dir(path: str, *, create: bool = True, what: str = "--persist") -> HostDir:
    """Open (and with *create*, make) the directory *path* component by component, refusing links."""
    absolute = os.path.normpath(os.path.join(os.getcwd(), path))
    fd = os.open("/", _DIR_FLAGS)
    created: list[str] = []
    walked = ""
    try:
        for part in [p for p in absolute.split("/") if p]:
            walked += "/" + part
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise SandboxError(f"{what} {path}: {walked} does not exist") from None
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                    created.append(walked)
                except FileExistsError:
                    pass  # made meanwhile; opened (and checked) below
                except OSError as exc:
                    raise SandboxError(f"cannot create {walked} for {what}: {exc.strerror or exc}") from None
                child = _open_checked(part, fd, walked, path, what)
            except OSError as exc:
                child = _refuse(exc, walked, path, what)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return HostDir(absolute, fd, created)


def _open_checked(part: str, parent: int, walked: str, path: str, what: str) -> int:
    try:
        return os.open(part, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        return _refuse(exc, walked, path, what)


def _refuse(exc: OSError, walked: str, path: str, what: str) -> int:
    link = exc.errno in (errno.ELOOP, errno.EMLINK)
    if exc.errno == errno.ENOTDIR:  # O_DIRECTORY | O_NOFOLLOW on a link says ENOTDIR
        try:
            link = stat.S_ISLNK(os.lstat(walked).st_mode)
        except OSError:
            link = False
    if link:
        real = os.path.realpath(walked)
        raise SandboxError(f"{what} {path}: {walked} is a symbolic link; rofs does not follow links here:"
                           f" give the directory itself ({real})") from None
    if exc.errno == errno.ENOTDIR:
        raise SandboxError(f"{what} {path}: {walked} is not a directory") from None
    raise SandboxError(f"{what} {path}: cannot open {walked}: {exc.strerror or exc}") from None


def give(host: HostDir, uid: int, gid: int) -> None:
    """Hand the directory to uid:gid, if (and only if) rofs created it for this run."""
    if host.created and host.created[-1] == host.path and os.geteuid() == 0:
        os.fchown(host.fd, uid, gid)


def owner_note(host_path: str) -> str:
    """``owned by root (uid 0, gid 0, mode 0755)``: what the program met, for ownership problems."""
    try:
        st = os.stat(host_path, follow_symlinks=False)
    except OSError:
        return ""
    try:
        import pwd

        name = pwd.getpwuid(st.st_uid).pw_name
    except (KeyError, ImportError):
        name = str(st.st_uid)
    return f"owned by {name} (uid {st.st_uid}, gid {st.st_gid}, mode {stat.S_IMODE(st.st_mode):04o})"


# --- copying out of the sandbox -----------------------------------------------------------


@dataclass
class CopyReport:
    files: int = 0
    dirs: int = 0
    links: int = 0
    dropped: list[str] = field(default_factory=list)  # what was left out, and why
    deleted: list[str] = field(default_factory=list)  # overlay whiteouts: paths the program removed


MAX_DEPTH = 200  # directories deeper than this are not copied (and said)


def copy_out(source_fd: int, parent_fd: int, name: str, shown: str, prefix: str = "") -> CopyReport:
    """Copy the tree under *source_fd* into the new directory *name* of the directory *parent_fd*
    (rofs' own, held open since before the run: no one can swap it meanwhile), as plain data:
    regular files (setuid, setgid and sticky bits dropped; holes kept as holes), directories and
    symbolic links (kept as links, never followed); device nodes, FIFOs and sockets are left out
    and listed.  Nothing outside it is written, whatever the tree holds."""
    report = CopyReport()
    try:
        os.mkdir(name, 0o700, dir_fd=parent_fd)
    except FileExistsError:
        raise SandboxError(f"--keep: {shown} exists already; give a new directory") from None
    top = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    try:
        _copy_tree(os.dup(source_fd), top, prefix, report)
    except OSError as exc:
        raise SandboxError(f"--keep: copying into {shown} stopped ({exc.strerror or exc}); what was copied is there") from None
    return report


def new_private_dir(path: str, what: str) -> HostDir:
    """*path* as a directory of rofs' own, open: made 0700 now if missing, else it must be empty,
    rofs' user's and writable by no one else."""
    parent, name = os.path.split(os.path.normpath(os.path.join(os.getcwd(), path)))
    base = open_dir(parent, what=what)
    try:
        try:
            os.mkdir(name, 0o700, dir_fd=base.fd)
        except FileExistsError:
            pass
        fd = _open_checked(name, base.fd, path, path, what)
    finally:
        base.close()
    st = os.fstat(fd)
    if os.listdir(fd) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        os.close(fd)
        raise SandboxError(f"{what} {path}: give a new directory (this one is not empty, not yours, or others may"
                           " write in it)")
    return HostDir(path, fd)


def _copy_tree(src: int, dst: int, rel: str, report: CopyReport) -> None:
    """Depth first, one directory's descriptors per level (closed when the level is done)."""
    stack: list[tuple[int, int, str, int]] = [(src, dst, rel, 0)]
    while stack:
        src, dst, rel, depth = stack.pop()
        try:
            for entry in sorted(os.listdir(src)):
                path = f"{rel}/{entry}"
                st = os.stat(entry, dir_fd=src, follow_symlinks=False)
                mode = st.st_mode
                if stat.S_ISDIR(mode):
                    if depth >= MAX_DEPTH:
                        report.dropped.append(f"{path}: deeper than {MAX_DEPTH} directories, not copied")
                        continue
                    os.mkdir(entry, stat.S_IMODE(mode) & 0o777 | 0o700, dir_fd=dst)
                    stack.append((os.open(entry, _DIR_FLAGS, dir_fd=src), os.open(entry, _DIR_FLAGS, dir_fd=dst),
                                  path, depth + 1))
                    report.dirs += 1
                elif stat.S_ISREG(mode):
                    _copy_file(entry, src, dst, st)
                    if stat.S_IMODE(mode) & 0o7000:
                        report.dropped.append(f"{path}: setuid/setgid/sticky bits dropped")
                    report.files += 1
                elif stat.S_ISLNK(mode):
                    os.symlink(os.readlink(entry, dir_fd=src), entry, dir_fd=dst)
                    report.links += 1
                elif stat.S_ISCHR(mode) and st.st_rdev == 0:
                    report.deleted.append(path)  # an overlayfs whiteout: the program removed this path
                else:
                    kind = ("device node" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                            else "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "special file")
                    report.dropped.append(f"{path}: {kind} not copied")
        except BaseException:
            for s_fd, d_fd, _, _ in stack:
                os.close(s_fd)
                os.close(d_fd)
            raise
        finally:
            os.close(src)
            os.close(dst)


def _copy_file(name: str, src: int, dst: int, st: os.stat_result) -> None:
    """The file's bytes, its holes left as holes (a sparse 50 GB file stays small)."""
    fin = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
    try:
        fout = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                       stat.S_IMODE(st.st_mode) & 0o777, dir_fd=dst)
        try:
            offset = 0
            while offset < st.st_size:
                try:
                    start = os.lseek(fin, offset, os.SEEK_DATA)
                    end = os.lseek(fin, start, os.SEEK_HOLE)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:
                        break  # nothing but a hole up to the end
                    start, end = offset, st.st_size  # no SEEK_DATA on this file system: copy it all
                os.lseek(fin, start, os.SEEK_SET)
                os.lseek(fout, start, os.SEEK_SET)
                left = end - start
                while left > 0 and (chunk := os.read(fin, min(left, 1 << 20))):
                    while chunk:
                        written = os.write(fout, chunk)
                        left -= written
                        chunk = chunk[written:]
                offset = max(end, offset + 1) if end > start else st.st_size
            os.ftruncate(fout, st.st_size)
            os.fchmod(fout, stat.S_IMODE(st.st_mode) & 0o777)
        finally:
            os.close(fout)
    finally:
        os.close(fin)
