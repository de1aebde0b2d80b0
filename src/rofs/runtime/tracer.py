"""See every write a program attempts, with strace, and pick out the refused ones.

strace runs *outside* the sandbox, as the user who started rofs (root, with CAP_SYS_PTRACE
over everything in it), in front of bubblewrap: the program can neither reach its log (an
unnamed file only rofs holds; strace opens it through rofs' ``/proc/PID/fd``, so no
descriptor of it is inherited) nor stop it from reading a process that dropped its
privileges (setuid makes a process non-dumpable; a tracer without CAP_SYS_PTRACE would then
log addresses instead of paths).  ``--seccomp-bpf`` stops the program only at the traced
calls; ``-y`` names the file behind each descriptor and the working directory of ``*at``
calls; ``-xx`` prints every string as hex, so a path is exactly the kernel's bytes.

The log holds bubblewrap's own calls too (making the sandbox): a process is bubblewrap's until
it (or the process it was forked from) runs a program after bubblewrap itself started.  A
program can never become bubblewrap's, whatever it calls itself.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable, Iterator

# Calls that create, change or remove files; execve (to name processes); fork and chdir (to
# follow processes and their directories); the set*id calls (who a process runs as); and the
# write family (to see a tmpfs filling up: ENOSPC comes from write, not from open).
_STRUCTURE = (
    "execve,execveat,clone,clone3,fork,vfork,chdir,fchdir,setuid,setreuid,setresuid,setgid,setregid,setresgid,"
    "mkdir,mkdirat,mknod,mknodat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat,rmdir,"
    "truncate,ftruncate,chmod,fchmodat,chown,lchown,fchownat,utimensat,bind,fallocate,mount,umount2"
)
_OPENS = "open,openat,openat2,creat"
_WRITES = "write,pwrite64,writev,pwritev"
TRACED = ",".join((_STRUCTURE, _OPENS, _WRITES))
# Without the write family: enough to see every file and directory a program creates or
# changes; sizes then come from the files themselves (rofs trace's scratch layer).
TRACED_NO_DATA = ",".join((_STRUCTURE, _OPENS))
# rofs trace as root: opens are most of a program's system calls (reads too: a seccomp filter
# cannot tell by flags; tracing them doubles PostgreSQL's start-up), and the scratch layer already
# holds every file opened for writing.  creat only ever writes, so it stays.
TRACED_STRUCTURE = ",".join((_STRUCTURE, "creat"))

# Attempts to change the mounts (remount / read-write, unmount it): refused without CAP_SYS_ADMIN,
# reported as such, never turned into a mount to add.
MOUNT_CALLS = frozenset({"mount", "umount2"})
REFUSALS = {"EROFS": "read-only file system", "ENOSPC": "no space left", "EDQUOT": "quota exceeded",
            "EACCES": "permission denied", "EPERM": "operation not permitted"}
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND", "O_TMPFILE")
WRITE_FAMILY = frozenset(_WRITES.split(",")) | {"fallocate", "ftruncate"}
UNREADABLE = "<path not readable>"


def strace_argv(strace: str, log_path: str, calls: str = TRACED) -> list[str]:
    """strace in front of a command, logging to *log_path* (``/proc/<rofs>/fd/<n>``: strace opens
    its own descriptor with close-on-exec, so nothing of the log reaches the program)."""
    # -q, not -qq: the "+++ exited" lines tell which processes outlived the main one.
    return [strace, "-f", "--seccomp-bpf", "--pidns-translation", "-q", "-e", "signal=none", "-y", "-xx", "-s", "0",
            "-e", f"trace={calls}", "-o", log_path, "--"]


@dataclass(frozen=True)
class WriteEvent:
    """One write-intent system call, successful or not."""

    pid: int
    process: str
    syscall: str
    path: str  # absolute path the call was about (UNREADABLE when the tracer could not read it)
    errno: str | None  # None: it succeeded
    result: int | None  # return value (bytes written for the write family)
    line: str
    uid: int | None = None  # the process' effective uid at the time, where the log tells
    flags: str = ""  # open flags (O_TMPFILE: an unnamed file in the directory *path*)


@dataclass(frozen=True)
class Refusal:
    """One write the kernel refused."""

    pid: int
    process: str
    syscall: str
    path: str
    errno: str  # EROFS, ENOSPC, EACCES ...
    line: str
    uid: int | None = None

    @property
    def reason(self) -> str:
        return REFUSALS.get(self.errno, self.errno)

    @property
    def readable(self) -> bool:
        return self.path != UNREADABLE


_LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<call>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>-?\d+|\?|0x[0-9a-f]+)(?:<[^>]*>)?"
                   r"(?:\s+(?P<errno>E[A-Z0-9]+))?")
_HOST_PID = re.compile(r"/\* (\d+) in strace's PID NS \*/")
_EXIT = re.compile(r"^(\d+)\s+\+\+\+ (?:exited with -?\d+|killed by \w+)")
_UNFINISHED = re.compile(r"^(\d+)\s+(.*) <unfinished \.\.\.>$")
_RESUMED = re.compile(r"^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$")
# A quoted string (strace escapes every special byte inside it) or an address strace could not read.
_STR = re.compile(r'"((?:[^"\\]|\\.)*)"')
# A descriptor with its path: 3</tmp/x>, AT_FDCWD</srv> (inside <>, strace escapes > and specials).
_FD = re.compile(r"^\s*(?:-?\d+|AT_FDCWD)<((?:[^>\\]|\\.)*)>")
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)")
_SIMPLE = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"v": b"\v", b"f": b"\f", b"a": b"\a", b"b": b"\b", b"e": b"\x1b"}


def unescape(text: str) -> str:
    """The kernel's bytes behind a string strace printed (``-xx`` hex, or C escapes and octal as
    plain strace prints them), as a file name: undecodable bytes kept (surrogateescape)."""
    raw = text.encode("utf-8", "surrogateescape")
    if b"\\" not in raw:
        return text

    def one(m: re.Match[bytes]) -> bytes:
        code = m.group(1)
        if code[:1] in (b"x", b"X") and len(code) == 3:
            return bytes([int(code[1:], 16)])
        if code[:1].isdigit():
            return bytes([int(code, 8) & 0xFF])
        return _SIMPLE.get(code, code)

    return os.fsdecode(_ESCAPE.sub(one, raw))


def _strings(args: str) -> list[str]:
    return [unescape(s) for s in _STR.findall(args)]


def _fd_path(args: str) -> str | None:
    m = _FD.match(args)
    return unescape(m.group(1)) if m else None


def events(lines: Iterable[str], cwd: str = "/", sandboxed: bool = False,
           stats: dict[str, int] | None = None) -> Iterator[WriteEvent]:
    """Every write-intent call of an ``strace -f -y`` log, with processes named and paths absolute.

    *sandboxed*: the log is of bubblewrap starting the program (rofs' own logs): bubblewrap's
    calls are left out.  Otherwise (``--from-strace``) every process is the program's.  *stats*
    gets ``execs``: the programs started after bubblewrap (the user switch, then the program), and
    ``left``: the names of the program's processes still running when its main process ended.
    """
    stats = {} if stats is None else stats
    stats["execs"] = 0
    stats["left"] = []
    alive: set[int] = set()  # the program's processes not seen to end
    main: list[int] = []  # the program's first process
    names: dict[int, str] = {}
    cwds: dict[int, str] = {}  # per process: relative paths resolve against it (mkdir -p chdirs)
    uids: dict[int, int] = {}
    program: dict[int, bool] = {}  # pid -> runs the program (not bubblewrap setting up)
    started = False  # the first execve (bubblewrap's own) was seen
    pending: dict[int, str] = {}
    for raw in lines:
        line = raw.rstrip("\n")
        ended = _EXIT.match(line)
        if ended:
            pid = int(ended.group(1))
            alive.discard(pid)
            if main and pid == main[0] and not stats["left"]:
                stats["left"] = sorted(names.get(p, f"pid {p}") for p in alive)
            continue
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
        ok = ret == "0"
        if call in ("clone", "clone3", "fork", "vfork"):
            if ret.isdigit() and ret != "0":
                # Inside the sandbox's PID namespace the call returns the namespace's PID; strace
                # adds the one its log uses (--pidns-translation).
                host = _HOST_PID.search(line)
                child = int(host.group(1)) if host else int(ret)
                for table in (names, cwds, uids, program):
                    if pid in table:
                        table[child] = table[pid]  # type: ignore[index]
                if program.get(child) and "CLONE_THREAD" not in args:
                    alive.add(child)  # a process (threads end with theirs)
            continue
        if call in ("chdir", "fchdir"):
            if ok:
                target = _fd_path(args) if call == "fchdir" else next(iter(_strings(args)), None)
                if target is not None:
                    cwds[pid] = _normalise(target if target.startswith("/") else cwds.get(pid, cwd) + "/" + target)
            continue
        if call in ("execve", "execveat"):
            if ok:
                strings = _strings(args)
                if strings:
                    names[pid] = os.path.basename(strings[0]) or strings[0]
                if not sandboxed or started:
                    program[pid] = True
                    stats["execs"] += 1
                    alive.add(pid)
                    if not main:
                        main.append(pid)
                started = True
            continue
        if call.startswith("set") and call.endswith("uid"):
            if ok:
                values = [int(v) for v in re.findall(r"-?\d+", args)]
                effective = {"setuid": 0, "setreuid": 1, "setresuid": 1}.get(call, 0)
                if len(values) > effective and values[effective] != -1:
                    uids[pid] = values[effective]
            continue
        if call.startswith("set"):
            continue
        if sandboxed and not program.get(pid):
            continue  # bubblewrap making the sandbox
        if call in ("open", "openat", "openat2") and not any(flag in args for flag in WRITE_FLAGS):
            continue  # a read
        path = _path_of(call, args, cwds.get(pid, cwd))
        if path is None:
            continue
        errno = m.group("errno")
        result = int(ret) if ret.lstrip("-").isdigit() else None
        if errno is None and result is not None and result < 0:
            errno = "E?"
        flags = "O_TMPFILE" if "O_TMPFILE" in args else ""
        yield WriteEvent(pid, names.get(pid, f"pid {pid}"), call, path, errno, result, line, uids.get(pid), flags)


def parse(lines: Iterable[str], cwd: str = "/", sandboxed: bool = False,
          stats: dict[str, int] | None = None) -> Iterator[Refusal]:
    """Refused writes from an ``strace -f -y`` log (``PID call(args) = -1 ERRNO ...`` lines)."""
    for event in events(lines, cwd, sandboxed, stats):
        if event.errno in REFUSALS:
            yield Refusal(event.pid, event.process, event.syscall, event.path, event.errno, event.line, event.uid)


# Where the path is among a call's arguments: (index of the directory descriptor or None, index
# of the path).  The target of rename/link/symlink is what is being created.
_WHERE = {
    "open": (None, 0), "creat": (None, 0), "mkdir": (None, 0), "mknod": (None, 0), "unlink": (None, 0),
    "rmdir": (None, 0), "truncate": (None, 0), "chmod": (None, 0), "chown": (None, 0), "lchown": (None, 0),
    "umount2": (None, 0), "rename": (None, 1), "link": (None, 1), "symlink": (None, 1), "mount": (None, 1),
    "openat": (0, 1), "openat2": (0, 1), "mkdirat": (0, 1), "mknodat": (0, 1), "unlinkat": (0, 1),
    "fchmodat": (0, 1), "fchownat": (0, 1), "utimensat": (0, 1),
    "renameat": (2, 3), "renameat2": (2, 3), "linkat": (2, 3), "symlinkat": (1, 2),
}


def _path_of(call: str, args: str, cwd: str) -> str | None:
    """The absolute path a call is about; UNREADABLE when strace printed an address instead."""
    parts = _split_args(args)
    if call in WRITE_FAMILY:
        path = _fd_path(parts[0]) if parts else None
        return path if path and path.startswith("/") else None
    if call == "bind":
        m = re.search(r'sun_path=(@?)"((?:[^"\\]|\\.)*)"', args)
        if not m or m.group(1):  # not a unix socket, or an abstract one (no file)
            return None
        path, base = unescape(m.group(2)), cwd
    else:
        dir_index, index = _WHERE.get(call, (None, 0))
        base = cwd
        if dir_index is not None and dir_index < len(parts):
            dirfd = _fd_path(parts[dir_index])
            base = dirfd if dirfd and dirfd.startswith("/") else cwd
        arg = parts[index] if index < len(parts) else ""
        strings = _strings(arg) if arg.startswith('"') else []
        if not strings:
            if arg == "NULL" and call == "utimensat" and base != cwd:
                return _normalise(base)  # utimensat(fd, NULL, ...): the file behind the descriptor
            return UNREADABLE if re.match(r"^0x[0-9a-f]+$", arg) else None
        path = strings[0]
    if not path.startswith("/"):
        path = base.rstrip("/") + "/" + path
    return _normalise(path)


def _split_args(args: str) -> list[str]:
    """Top-level arguments of a call (commas inside strings, [] and {} left alone)."""
    out: list[str] = []
    cur: list[str] = []
    depth, in_str, esc = 0, False, False
    for ch in args:
        if in_str:
            cur.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "[{<":
            depth += 1
        elif ch in "]}>":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if cur:
        out.append("".join(cur).strip())
    return out


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
