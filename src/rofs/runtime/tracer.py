"""See every write a program attempts, with strace, and pick out the refused ones.

strace runs inside the sandbox, in front of the command, with ``--seccomp-bpf`` so only the
traced system calls stop the program.  It follows every child (``-f``), prints the path
behind file descriptors (``-y``), and writes to a descriptor rofs passes in, so the sandbox
needs no writable place for the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

# Calls that create, change or remove files, plus execve (to name processes) and the
# write family (to see a tmpfs filling up: ENOSPC comes from write, not from open).
TRACED = (
    "execve,execveat,clone,clone3,fork,vfork,chdir,fchdir,open,openat,openat2,creat,mkdir,mkdirat,mknod,mknodat,rename,renameat,renameat2,"
    "link,linkat,symlink,symlinkat,unlink,unlinkat,rmdir,truncate,ftruncate,chmod,fchmodat,chown,lchown,"
    "fchownat,utimensat,bind,write,pwrite64,writev,pwritev,fallocate,mount,umount2"
)
# Attempts to change the mounts (remount / read-write, unmount it): refused without CAP_SYS_ADMIN,
# reported as such, never turned into a mount to add.
MOUNT_CALLS = frozenset({"mount", "umount2"})
REFUSALS = {"EROFS": "read-only file system", "ENOSPC": "no space left", "EDQUOT": "quota exceeded",
            "EACCES": "permission denied", "EPERM": "operation not permitted"}
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND", "O_TMPFILE")


# Without the write family: enough to see every file and directory a program creates or
# changes; sizes then come from the files themselves (rofs trace's scratch layer).
TRACED_NO_DATA = ",".join(c for c in TRACED.split(",") if c not in ("write", "pwrite64", "writev", "pwritev"))
# rofs trace: opens are most of a program's system calls (reads too: a seccomp filter cannot
# tell by flags), and the scratch layer already holds every file opened for writing.
TRACED_STRUCTURE = ",".join(c for c in TRACED_NO_DATA.split(",") if c not in ("open", "openat", "openat2"))


def strace_argv(strace: str, fd: int, calls: str = TRACED) -> list[str]:
    return [strace, "-f", "--seccomp-bpf", "-qq", "-y", "-s", "256", "-e", f"trace={calls}", "-o", f"/proc/self/fd/{fd}", "--"]


@dataclass(frozen=True)
class Refusal:
    """One write the kernel refused."""

    pid: int
    process: str
    syscall: str
    path: str  # absolute path the call was about
    errno: str  # EROFS, ENOSPC, EACCES ...
    line: str  # the raw strace line

    @property
    def reason(self) -> str:
        return REFUSALS.get(self.errno, self.errno)


_LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<call>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>-?\d+|\?)(?:\s+(?P<errno>E[A-Z]+))?")
_UNFINISHED = re.compile(r"^(\d+)\s+(.*) <unfinished \.\.\.>$")
_RESUMED = re.compile(r"^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$")
_STR = re.compile(r'"((?:[^"\\]|\\.)*)"')
_FD_PATH = re.compile(r"^\d+<(?P<path>[^>]*)>")


@dataclass(frozen=True)
class WriteEvent:
    """One write-intent system call, successful or not."""

    pid: int
    process: str
    syscall: str
    path: str
    errno: str | None  # None: it succeeded
    result: int | None  # return value (bytes written for the write family)
    line: str


WRITE_CALLS = frozenset(
    "open openat openat2 creat mkdir mkdirat mknod mknodat rename renameat renameat2 link linkat symlink symlinkat "
    "unlink unlinkat rmdir truncate ftruncate chmod fchmodat chown lchown fchownat utimensat bind write pwrite64 "
    "writev pwritev fallocate".split()
) | MOUNT_CALLS


def events(lines: Iterable[str], cwd: str = "/") -> Iterator[WriteEvent]:
    """Every write-intent call of an ``strace -f [-y]`` log, with processes named and paths absolute."""
    names: dict[int, str] = {}
    cwds: dict[int, str] = {}  # per process: relative paths resolve against it (mkdir -p chdirs)
    pending: dict[int, str] = {}
    for raw in lines:
        line = raw.rstrip("\n")
        unfinished = _UNFINISHED.match(line)
        if unfinished:
            pending[int(unfinished.group(1))] = unfinished.group(2)
            continue
        resumed = _RESUMED.match(line)
        if resumed:
            pid = int(resumed.group(1))
            line = f"{pid} {pending.pop(pid, resumed.group(2) + '(')}{resumed.group(3)}"
        m = _LINE.match(line)
        if not m:
            continue
        pid, call, args = int(m.group("pid")), m.group("call"), m.group("args")
        ret = m.group("ret")
        if call in ("clone", "clone3", "fork", "vfork"):
            if ret.isdigit():
                if pid in names:
                    names[int(ret)] = names[pid]  # a forked child carries its parent's name until it execs
                if pid in cwds:
                    cwds[int(ret)] = cwds[pid]
            continue
        if call in ("chdir", "fchdir"):
            if ret == "0":
                if call == "fchdir":
                    fd = _FD_PATH.match(args)
                    if fd and fd.group("path").startswith("/"):
                        cwds[pid] = fd.group("path")
                else:
                    target = _STR.findall(args)
                    if target:
                        cwds[pid] = _normalise(target[0] if target[0].startswith("/") else cwds.get(pid, cwd) + "/" + target[0])
            continue
        if call in ("execve", "execveat"):
            if ret == "0":
                strings = _STR.findall(args)
                if strings:
                    names[pid] = strings[0].rsplit("/", 1)[-1]
            continue
        if call not in WRITE_CALLS:
            continue
        if call in ("open", "openat", "openat2") and not any(flag in args for flag in WRITE_FLAGS):
            continue  # a read
        path = _path_of(call, args, cwds.get(pid, cwd))
        if path is None:
            continue
        errno = m.group("errno")
        result = int(ret) if ret.lstrip("-").isdigit() else None
        if errno is None and result is not None and result < 0:
            errno = "E?"
        yield WriteEvent(pid, names.get(pid, f"pid {pid}"), call, path, errno, result, line)


def parse(lines: Iterable[str], cwd: str = "/") -> Iterator[Refusal]:
    """Refused writes from an ``strace -f -y`` log (``PID call(args) = -1 ERRNO ...`` lines)."""
    for event in events(lines, cwd):
        if event.errno in REFUSALS:
            yield Refusal(event.pid, event.process, event.syscall, event.path, event.errno, event.line)


def _path_of(call: str, args: str, cwd: str) -> str | None:
    if call in ("write", "pwrite64", "writev", "pwritev", "fallocate", "ftruncate"):
        m = _FD_PATH.match(args)
        return m.group("path") if m and m.group("path").startswith("/") else None
    strings = _STR.findall(args)
    if not strings:
        return None
    if call == "mount":  # mount(source, target, ...): the source may be NULL
        strings = strings[1:] if args.startswith('"') else strings
        if not strings:
            return None
    # renameat/linkat/symlink: the target (last string) is what is being created
    path = strings[-1] if call in ("rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat") else strings[0]
    path = bytes(path, "utf-8").decode("unicode_escape") if "\\" in path else path
    if call == "bind":
        m = re.search(r'sun_path="((?:[^"\\]|\\.)*)"', args)
        if not m:
            return None
        path = m.group(1)
    if not path.startswith("/"):
        dirfd = _FD_PATH.match(args)
        base = dirfd.group("path") if dirfd and dirfd.group("path").startswith("/") else cwd
        path = base.rstrip("/") + "/" + path
    return _normalise(path)


_PROC_ROOT = re.compile(r"^/proc/(?:self|thread-self|\d+)/root(?=/|$)")


def _normalise(path: str) -> str:
    path = _PROC_ROOT.sub("", path) or "/"  # the same file, seen through /proc
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def mount_point(refusal: Refusal) -> str:
    """Where a writable mount would let this call succeed: the directory being written in."""
    if refusal.syscall in ("mkdir", "mkdirat", "rmdir"):
        return refusal.path
    if refusal.syscall in ("write", "pwrite64", "writev", "pwritev", "fallocate", "ftruncate"):
        return refusal.path.rsplit("/", 1)[0] or "/"
    return refusal.path.rsplit("/", 1)[0] or "/"


# Directories that hold many apps' data: never suggested as one mount for several children.
SYSTEM_DIRS = frozenset(
    "/ /bin /boot /dev /etc /home /lib /lib64 /media /mnt /opt /proc /root /run /sbin /srv /sys /tmp /usr"
    " /usr/bin /usr/lib /usr/local /usr/share /var /var/cache /var/lib /var/log /var/run /var/spool /var/tmp".split()
)


def collapse(points: Iterable[str]) -> list[str]:
    """Fewest directories covering *points*: drop those beneath another, and merge siblings
    (two or more under one parent that is not a system directory such as /var/lib).
    ``/`` itself is never a mount point: callers report writes there separately."""
    unique = sorted({p for p in points if p != "/"})
    kept = [p for p in unique if not any(o != p and p.startswith(o.rstrip("/") + "/") for o in unique)]
    by_parent: dict[str, list[str]] = {}
    for p in kept:
        by_parent.setdefault(p.rsplit("/", 1)[0] or "/", []).append(p)
    out: set[str] = set()
    for parent, children in by_parent.items():
        if len(children) >= 2 and parent not in SYSTEM_DIRS:
            out.add(parent)
        else:
            out.update(children)
    return sorted(p for p in out if not any(o != p and p.startswith(o.rstrip("/") + "/") for o in out))
