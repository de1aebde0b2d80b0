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
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass

# Calls that create, change or remove files; execve (to name processes); fork and chdir (to
# follow processes and their directories); the set*id calls (who a process runs as); and the
# write family (to see a tmpfs filling up: ENOSPC comes from write, not from open).
_STRUCTURE = (
    "execve,execveat,clone,clone3,fork,vfork,chdir,fchdir,setuid,setreuid,setresuid,setgid,setregid,setresgid,"
    "mkdir,mkdirat,mknod,mknodat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat,rmdir,"
    "truncate,ftruncate,chmod,fchmod,fchmodat,chown,fchown,lchown,fchownat,utime,utimes,futimesat,utimensat,"
    "setxattr,lsetxattr,fsetxattr,removexattr,lremovexattr,fremovexattr,bind,fallocate,mount,umount2,chroot,"
    # the names of 32-bit calls a 64-bit program can make too (int 0x80)
    "chown32,lchown32,fchown32,truncate64,ftruncate64"
)
_OPENS = "open,openat,openat2,creat"
_WRITES = "write,pwrite64,writev,pwritev,pwritev2,copy_file_range,sendfile,sendfile64,splice"
TRACED = f"{_STRUCTURE},{_OPENS},{_WRITES}"
# Without the write family: enough to see every file and directory a program creates or
# changes; sizes then come from the files themselves (rofs trace's scratch layer).
TRACED_NO_DATA = f"{_STRUCTURE},{_OPENS}"
# rofs trace as root: opens are most of a program's system calls (reads too: a seccomp filter
# cannot tell by flags; tracing them doubles PostgreSQL's start-up), and the scratch layer already
# holds every file opened for writing.  creat only ever writes, so it stays.
TRACED_STRUCTURE = f"{_STRUCTURE},creat"

# Attempts to change the mounts (remount / read-write, unmount it): refused without CAP_SYS_ADMIN,
# reported as such, never turned into a mount to add.
MOUNT_CALLS = frozenset({"mount", "umount2"})
# Who a process runs as (setxattr starts with "set" too, and is a write)
IDENTITY_CALLS = frozenset({"setuid", "setreuid", "setresuid", "setgid", "setregid", "setresgid"})
REFUSALS = {"EROFS": "read-only file system", "ENOSPC": "no space left", "EDQUOT": "quota exceeded",
            "EACCES": "permission denied", "EPERM": "operation not permitted"}
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND", "O_TMPFILE")
WRITE_FAMILY = frozenset(_WRITES.split(",")) | {"fallocate", "ftruncate", "ftruncate64"}
# Calls about the file behind a descriptor, and which argument holds it.
FD_CALLS = {**{c: 0 for c in WRITE_FAMILY}, "copy_file_range": 2, "splice": 2, "fchmod": 0, "fchown": 0,
            "fchown32": 0, "ftruncate64": 0, "fsetxattr": 0, "fremovexattr": 0}
BYTES_WRITTEN = frozenset({"write", "pwrite64", "writev", "pwritev", "pwritev2"})
UNREADABLE = "<path not readable>"


def strace_argv(strace: str, log_path: str, calls: str = TRACED) -> list[str]:
    """strace in front of a command, logging to *log_path* (``/proc/<rofs>/fd/<n>``: strace opens
    its own descriptor with close-on-exec, so nothing of the log reaches the program)."""
    # -q, not -qq: the "+++ exited" lines tell which processes outlived the main one.  -A: the log
    # is appended to, so the space rofs reserved ahead of it is kept (see Supervisor._guard).
    return [strace, "-f", "--seccomp-bpf", "--pidns-translation", "-q", "-e", "signal=none", "-y", "-xx", "-s", "0",
            "-A", "-e", f"trace={calls}", "-o", log_path, "--"]


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
    """A write the kernel refused (the first of *count* alike: same call, path, error, process, user)."""

    pid: int
    process: str
    syscall: str
    path: str
    errno: str  # EROFS, ENOSPC, EACCES ...
    line: str  # the first such line of the log, as strace wrote it
    uid: int | None = None
    count: int = 1
    flags: str = ""  # O_TMPFILE: the path is the directory the unnamed file was to be made in

    @property
    def reason(self) -> str:
        return REFUSALS.get(self.errno, self.errno)

    @property
    def readable(self) -> bool:
        return self.path != UNREADABLE


_LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<call>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>-?\d+|\?|0x[0-9a-f]+)(?:<[^>]*>)?"
                   r"(?:\s+(?P<errno>E[A-Z0-9]+))?")
_HOST_PID = re.compile(r"/\* (\d+) in strace's PID NS \*/")
_PID = re.compile(r"^(\d+)\s")
_AT_FDCWD = re.compile(r"AT_FDCWD<((?:[^>\\]|\\.)*)>")
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


class LogReader:
    """Reads an ``strace -f -y`` log into write events, one line at a time.

    Processes are named by their last execve, follow their parent's name, user and working
    directory (shared with CLONE_FS, as threads share it), and, in rofs' own logs (*sandboxed*),
    are bubblewrap's until a program runs: bubblewrap's calls set the sandbox up and are left out.
    A process whose first line comes before its parent's fork returns (vfork, or a race of two
    CPUs) waits until it is known; whatever is still unknown at the end is taken for the
    program's, so that a refusal is never dropped.  *resolve* turns a path with ``..`` into the
    one the kernel meant (``..`` after a symbolic link).
    """

    def __init__(self, cwd: str = "/", sandboxed: bool = False, resolve: Callable[[str], str] | None = None):
        self.cwd = cwd
        self.sandboxed = sandboxed
        self.resolve = resolve
        self.stats: dict = {"execs": 0, "left": []}
        self.names: dict[int, str] = {}
        self.cwds: dict[int, list[str]] = {}  # a cell per file-system context (threads share one)
        self.roots: dict[int, str] = {}  # after chroot: where the process' "/" is
        self.uids: dict[int, int] = {}
        self.program: dict[int, bool] = {}
        self.known: set[int] = set()
        self.waiting: dict[int, list[str]] = {}  # lines of processes not known yet, oldest first
        self.unclaimed: list[tuple[int, str]] = []  # births inside the sandbox whose PID was not translated
        self.pending: dict[int, str] = {}
        self.alive: set[int] = set()  # the program's processes not seen to end
        self.main: int | None = None  # the program's first process
        self.started = False  # the first execve (bubblewrap's own, in rofs' logs) was seen

    def read(self, lines: Iterable[str]) -> Iterator[WriteEvent]:
        for raw in lines:
            yield from self.feed(raw.rstrip("\n"))
        yield from self.finish()

    def finish(self) -> Iterator[WriteEvent]:
        for pid in sorted(self.waiting):
            self.known.add(pid)
            self.program.setdefault(pid, self.main is not None or not self.sandboxed)
            for line in self.waiting.pop(pid):
                yield from self.feed(line)

    def feed(self, line: str) -> Iterator[WriteEvent]:
        head = _PID.match(line)
        if head is None:
            return
        pid = int(head.group(1))
        if pid not in self.known and not (yield from self._admit(pid, line)):
            return
        whole = self._complete(pid, line)
        if whole is None:
            return
        m = _LINE.match(whole)
        if not m:
            return
        call, args, ret = m.group("call"), m.group("args"), m.group("ret")
        if call in ("clone", "clone3", "fork", "vfork"):
            yield from self._forked(pid, args, ret, whole)
            return
        if call in ("chdir", "fchdir", "execve", "execveat", "chroot") or call in IDENTITY_CALLS:
            if ret == "0":
                self._changed(pid, call, args)
            return
        if self.sandboxed and not self.program.get(pid) and self.main is None:
            return  # bubblewrap making the sandbox (once the program runs, every process counts)
        if call in ("open", "openat", "openat2") and not any(flag in args for flag in WRITE_FLAGS):
            return  # a read
        cwd_seen = _AT_FDCWD.search(args)
        if cwd_seen:
            self._cwd(pid)[0] = unescape(cwd_seen.group(1))  # the kernel's view, exact
        root = self.roots.get(pid, "")
        paths = [_path_of(call, args, self._cwd(pid)[0], root)]
        if call in ("rename", "renameat", "renameat2") and (m.group("errno") or "RENAME_EXCHANGE" in args):
            paths.append(_source_of(call, args, self._cwd(pid)[0], root))  # both directories change
        for path in paths:
            yield from self._event(pid, call, args, ret, m.group("errno"), path, whole)

    def _admit(self, pid: int, line: str) -> Generator[WriteEvent, None, bool]:
        """A process seen for the first time: known from now on (True), or its line waits until it
        is (False)."""
        if not self.known:
            self.known.add(pid)  # strace's own child: bubblewrap (rofs' logs) or the program
            self.program[pid] = not self.sandboxed
            self.cwds[pid] = [self.cwd]
        elif self.sandboxed and self.unclaimed and pid not in self.waiting:
            parent, args = self.unclaimed.pop(0)  # a birth whose PID strace could not translate
            yield from self._born(parent, pid, args)
        elif self.sandboxed:
            self.waiting.setdefault(pid, []).append(line)
            return False
        else:
            self.known.add(pid)
            self.program[pid] = True
        return True

    def _complete(self, pid: int, line: str) -> str | None:
        """The whole call of *line* (an unfinished call joined with its resumption); None when there
        is none yet, or the line is the process' end."""
        if _EXIT.match(line):
            self.alive.discard(pid)
            if pid == self.main and not self.stats["left"]:
                self.stats["left"] = sorted(self.names.get(p, f"pid {p}") for p in self.alive)
            return None
        unfinished = _UNFINISHED.match(line)
        if unfinished:
            self.pending[pid] = unfinished.group(2)
            return None
        resumed = _RESUMED.match(line)
        if resumed:
            return f"{pid} {self.pending.pop(pid, resumed.group(2) + '(')}{resumed.group(3)}"
        return line

    def _forked(self, pid: int, args: str, ret: str, line: str) -> Iterator[WriteEvent]:
        if ret.isdigit() and ret != "0":
            # Inside the sandbox's PID namespace the call returns the namespace's PID; strace
            # adds the one its log uses (--pidns-translation).
            host = _HOST_PID.search(line)
            if host or not self.sandboxed or int(ret) in self.known or self.main is None:
                yield from self._born(pid, int(host.group(1)) if host else int(ret), args)
            elif self.waiting:  # the child ended before strace could translate its PID: it waits
                yield from self._born(pid, next(iter(self.waiting)), args)
            else:
                self.unclaimed.append((pid, args))  # the next unknown process is that child

    def _changed(self, pid: int, call: str, args: str) -> None:
        """A successful call that changes the process: its directory, program, root or user."""
        if call in ("chdir", "fchdir"):
            target = _fd_path(args) if call == "fchdir" else next(iter(_strings(args)), None)
            if target is not None:
                cell = self._cwd(pid)
                cell[0] = self._clean(target if target.startswith("/") else cell[0] + "/" + target)
        elif call in ("execve", "execveat"):
            strings = _strings(args)
            if strings:
                self.names[pid] = os.path.basename(strings[0]) or strings[0]
            if not self.sandboxed or self.started:
                self.stats["execs"] += 1
                self.program[pid] = True
                self.alive.add(pid)
                if self.main is None:
                    self.main = pid
            self.started = True
        elif call == "chroot":
            target = next(iter(_strings(args)), None)
            if target is not None:
                base = self.roots.get(pid, "")
                self.roots[pid] = self._clean(base + (target if target.startswith("/") else
                                                      self._cwd(pid)[0] + "/" + target)).rstrip("/")
        elif call.endswith("uid"):  # set*uid (set*gid are passed over)
            values = [int(v) for v in re.findall(r"-?\d+", args)]
            effective = {"setuid": 0, "setreuid": 1, "setresuid": 1}.get(call, 0)
            if len(values) > effective and values[effective] != -1:
                self.uids[pid] = values[effective]

    def _event(self, pid: int, call: str, args: str, ret: str, errno: str | None, path: str | None,
               line: str) -> Iterator[WriteEvent]:
        if path is None:
            return
        if path != UNREADABLE:
            path = _proc_self(path, pid, self._cwd(pid)[0])
        if "/../" in path + "/" and self.resolve is not None and path != UNREADABLE:
            path = self.resolve(path)
        elif path != UNREADABLE:
            path = _normalise(path)
        result = int(ret) if ret.lstrip("-").isdigit() else None
        if errno is None and result is not None and result < 0:
            errno = "E?"
        flags = "O_TMPFILE" if "O_TMPFILE" in args else ""
        yield WriteEvent(pid, self.names.get(pid, f"pid {pid}"), call, path, errno, result, line, self.uids.get(pid),
                         flags)

    def _born(self, parent: int, child: int, args: str) -> Iterator[WriteEvent]:
        if parent in self.names:
            self.names[child] = self.names[parent]
        if parent in self.uids:
            self.uids[child] = self.uids[parent]
        self.program[child] = self.program.get(parent, False)
        self.cwds[child] = self._cwd(parent) if "CLONE_FS" in args else [self._cwd(parent)[0]]
        if parent in self.roots:
            self.roots[child] = self.roots[parent]
        self.known.add(child)
        if self.program[child] and "CLONE_THREAD" not in args:
            self.alive.add(child)  # a process (threads end with theirs)
        for line in self.waiting.pop(child, []):
            yield from self.feed(line)

    def _cwd(self, pid: int) -> list[str]:
        return self.cwds.setdefault(pid, [self.cwd])

    def _clean(self, path: str) -> str:
        if "/../" in path + "/" and self.resolve is not None:
            return self.resolve(path)
        return _normalise(path)


def events(lines: Iterable[str], cwd: str = "/", sandboxed: bool = False,
           stats: dict | None = None, resolve: Callable[[str], str] | None = None) -> Iterator[WriteEvent]:
    """Every write-intent call of an ``strace -f -y`` log, with processes named and paths absolute
    (see LogReader).  *stats* gets ``execs`` (programs run after bubblewrap: the user switch, then
    the program) and ``left`` (the program's processes still running when its main one ended)."""
    reader = LogReader(cwd, sandboxed, resolve)
    yield from reader.read(lines)
    if stats is not None:
        stats.update(reader.stats)


MAX_DISTINCT = 10_000  # distinct refusals kept (each with its count); beyond, only counted


def parse(lines: Iterable[str], cwd: str = "/", sandboxed: bool = False,
          stats: dict | None = None, resolve: Callable[[str], str] | None = None) -> list[Refusal]:
    """Refused writes from an ``strace -f -y`` log (``PID call(args) = -1 ERRNO ...`` lines), alike
    ones counted together, in the order of their first occurrence; at most MAX_DISTINCT kinds
    (*stats* ``more``: how many refusals beyond those), so memory stays bounded however many
    refusals a program makes."""
    seen: dict[tuple, Refusal] = {}
    more = 0
    for event in events(lines, cwd, sandboxed, stats, resolve):
        if event.errno not in REFUSALS:
            continue
        key = (event.syscall, event.path, event.errno, event.process, event.uid)
        first = seen.get(key)
        if first is not None:
            seen[key] = Refusal(first.pid, first.process, first.syscall, first.path, first.errno, first.line,
                                first.uid, first.count + 1, first.flags)
        elif len(seen) < MAX_DISTINCT:
            seen[key] = Refusal(event.pid, event.process, event.syscall, event.path, event.errno, event.line,
                                event.uid, flags=event.flags)
        else:
            more += 1
    if stats is not None:
        stats["more"] = more
    return list(seen.values())


# Where the path is among a call's arguments: (index of the directory descriptor or None, index
# of the path).  The target of rename/link/symlink is what is being created.
_WHERE = {
    "open": (None, 0), "creat": (None, 0), "mkdir": (None, 0), "mknod": (None, 0), "unlink": (None, 0),
    "rmdir": (None, 0), "truncate": (None, 0), "chmod": (None, 0), "chown": (None, 0), "lchown": (None, 0),
    "truncate64": (None, 0), "chown32": (None, 0), "lchown32": (None, 0),
    "umount2": (None, 0), "rename": (None, 1), "link": (None, 1), "symlink": (None, 1), "mount": (None, 1),
    "openat": (0, 1), "openat2": (0, 1), "mkdirat": (0, 1), "mknodat": (0, 1), "unlinkat": (0, 1),
    "fchmodat": (0, 1), "fchownat": (0, 1), "utimensat": (0, 1), "futimesat": (0, 1),
    "utime": (None, 0), "utimes": (None, 0), "setxattr": (None, 0), "lsetxattr": (None, 0),
    "removexattr": (None, 0), "lremovexattr": (None, 0),
    "renameat": (2, 3), "renameat2": (2, 3), "linkat": (2, 3), "symlinkat": (1, 2),
}


def _path_of(call: str, args: str, cwd: str, root: str = "") -> str | None:
    """The absolute path a call is about; UNREADABLE when strace printed an address (or a
    descriptor it could not name) instead.  *root*: where the process' "/" is after chroot (an
    absolute name it gives is under it; strace names descriptors from the host's "/")."""
    parts = _split_args(args)
    if call in FD_CALLS:
        index = FD_CALLS[call]
        arg = parts[index] if index < len(parts) else ""
        path = _fd_path(arg)
        if path is None:
            return UNREADABLE if re.fullmatch(r"-?\d+", arg.strip()) else None  # a descriptor without a name
        return path if path.startswith("/") else None  # pipe:[...], socket:[...]
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
        if call == "openat2" and "RESOLVE_IN_ROOT" in args and path.startswith("/"):
            path = base.rstrip("/") + path  # an absolute path inside the directory given
        elif path.startswith("/") and root:
            path = root + path
    if not path.startswith("/"):
        path = base.rstrip("/") + "/" + path
    return path


def _source_of(call: str, args: str, cwd: str, root: str = "") -> str | None:
    """The old name of a rename (its directory changes too)."""
    parts = _split_args(args)
    if call == "rename":
        arg, base = (parts[0] if parts else ""), cwd
    else:
        dirfd = _fd_path(parts[0]) if parts else None
        base = dirfd if dirfd and dirfd.startswith("/") else cwd
        arg = parts[1] if len(parts) > 1 else ""
    strings = _strings(arg) if arg.startswith('"') else []
    if not strings:
        return None
    path = strings[0]
    return root + path if path.startswith("/") else base.rstrip("/") + "/" + path


_PROC_CWD = re.compile(r"^/proc/(?:self|thread-self|\d+)/cwd(?=/|$)")


def _proc_self(path: str, pid: int, cwd: str) -> str:
    """/proc/self/cwd/x is x in the working directory (a process' own, in the log's terms)."""
    return _PROC_CWD.sub(cwd.rstrip("/"), path, count=1) if path.startswith("/proc/") else path


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
    if refusal.syscall in ("mkdir", "mkdirat", "rmdir") or "O_TMPFILE" in refusal.flags:
        return refusal.path
    return refusal.path.rsplit("/", 1)[0] or "/"


# Directories that hold many apps' data: never suggested as one mount for several children.
SYSTEM_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/media", "/mnt", "/opt", "/proc", "/root",
    "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib", "/usr/local", "/usr/share", "/var",
    "/var/cache", "/var/lib", "/var/log", "/var/run", "/var/spool", "/var/tmp"
})


def collapse(points: Iterable[str], mergeable: Callable[[str, list[str]], bool] | None = None) -> list[str]:
    """Fewest directories covering *points*: drop those beneath another, and merge siblings
    (two or more under one parent that is not a system directory such as /var/lib, and that
    *mergeable* allows: a parent where the image keeps other files stays unmerged, since one
    mount there would hide them).  ``/`` itself is never a mount point: callers report writes
    there separately."""
    unique = sorted({p for p in points if p != "/"})
    kept = [p for p in unique if not any(o != p and p.startswith(o.rstrip("/") + "/") for o in unique)]
    by_parent: dict[str, list[str]] = {}
    for p in kept:
        by_parent.setdefault(p.rsplit("/", 1)[0] or "/", []).append(p)
    out: set[str] = set()
    for parent, children in by_parent.items():
        if len(children) >= 2 and parent not in SYSTEM_DIRS and (mergeable is None or mergeable(parent, children)):
            out.add(parent)
        else:
            out.update(children)
    return sorted(p for p in out if not any(o != p and p.startswith(o.rstrip("/") + "/") for o in out))
