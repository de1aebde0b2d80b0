"""Run a command with the whole root read-only and only declared paths writable (bubblewrap).

The local equivalent of ``docker run --read-only --tmpfs ... -v ...``: no daemon, no image
needed.  The sandbox has its own PID namespace (so nothing outlives it), a fresh ``/proc``,
a minimal ``/dev`` and a writable ``/dev/shm`` of a set size, as Kubernetes gives a pod.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SHM = 64 << 20
# The capabilities a container gets by default (Docker's set). Everything else, CAP_SYS_ADMIN
# first (remounting / read-write), is dropped even when rofs runs as root.
CONTAINER_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)


def cap_args() -> list[str]:
    """bwrap options that leave the program a container's capabilities, not root's."""
    if os.geteuid() != 0:
        return []  # bwrap already runs the program without capabilities
    args = ["--cap-drop", "ALL"]
    for cap in CONTAINER_CAPS:
        args += ["--cap-add", cap]
    return args
# Signals rofs passes on to the program (nginx stops gracefully on SIGQUIT, reopens logs on SIGUSR1).
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)  # what Docker and Kubernetes give /dev/shm unless told otherwise


class SandboxError(RuntimeError):
    """A sandbox that cannot be built (tool missing, bad mount); one line for the user."""


@dataclass(frozen=True)
class SandboxMount:
    path: str  # where, inside the sandbox
    kind: str  # tmpfs | bind | ro-bind
    size: int | None = None  # tmpfs size in bytes
    source: str | None = None  # host directory for bind mounts
    label: str = ""  # why it is there (profile purpose, --writable ...)


@dataclass
class SandboxSpec:
    command: list[str]
    mounts: list[SandboxMount] = field(default_factory=list)
    root: str = "/"  # host directory that becomes / (read-only)
    env: dict[str, str] | None = None  # None: keep the caller's environment
    cwd: str | None = None
    user: str | None = None  # run as this user (name or uid[:gid]); callers put setpriv_args in the command
    shm_size: int = DEFAULT_SHM
    userns: tuple[int, int] | None = None  # (uid, gid) in a user namespace: images without setpriv


def require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise SandboxError(f"{tool} is not installed: apt-get install -y {package}")
    return path


def bwrap_argv(spec: SandboxSpec, inner: list[str]) -> list[str]:
    """The bubblewrap command line for *spec*, running *inner* inside."""
    bwrap = require("bwrap", "bubblewrap")
    argv = [bwrap, "--ro-bind", spec.root, "/", "--dev", "/dev", "--proc", "/proc"]
    argv += ["--perms", "1777", "--size", str(spec.shm_size), "--tmpfs", "/dev/shm"]
    argv += ["--unshare-pid", "--unshare-ipc", "--die-with-parent"]
    if spec.userns is None:
        argv += cap_args()
    if spec.userns is not None:
        argv += ["--unshare-user", "--uid", str(spec.userns[0]), "--gid", str(spec.userns[1])]
    resolved = [(resolve_in_root(spec.root, m.path), m) for m in spec.mounts]
    for dest, mount in sorted(resolved, key=lambda item: (item[0].count("/"), item[0])):
        target = Path(spec.root) / dest.lstrip("/")
        if not target.exists() and not _under_declared(dest, spec.mounts):
            raise SandboxError(
                f"cannot mount at {mount.path}: it does not exist in the root filesystem"
                " (create it at build time, or mount its parent)"
            )
        if mount.kind == "tmpfs":
            argv += ["--perms", "1777"]
            if mount.size:
                argv += ["--size", str(mount.size)]
            argv += ["--tmpfs", dest]
        elif mount.kind == "bind":
            argv += ["--bind", str(mount.source), dest]
        elif mount.kind == "ro-bind":
            argv += ["--ro-bind", str(mount.source), dest]
        else:  # pragma: no cover - programming error
            raise ValueError(mount.kind)
    if spec.cwd:
        argv += ["--chdir", spec.cwd]
    argv.append("--")
    return argv + inner


def resolve_in_root(root: str, path: str, _depth: int = 0) -> str:
    """*path* with symlinks resolved as the sandbox will see them (``/var/run`` -> ``/run``).

    bubblewrap does not follow symlinks when it makes mount points, and an image's links
    point inside the image, not into the host.
    """
    parts = [p for p in path.split("/") if p]
    out: list[str] = []
    for i, part in enumerate(parts):
        candidate = Path(root, *out, part)
        if candidate.is_symlink() and _depth < 40:
            link = os.readlink(candidate)
            base = link if link.startswith("/") else "/" + "/".join(out + [link])
            rest = "/".join(parts[i + 1:])
            return resolve_in_root(root, base.rstrip("/") + ("/" + rest if rest else ""), _depth + 1)
        if part == "..":
            if out:
                out.pop()
        elif part != ".":
            out.append(part)
    return "/" + "/".join(out)


def _under_declared(path: str, mounts: list[SandboxMount]) -> bool:
    """A mount point inside another declared mount is created by bwrap in that tmpfs."""
    return any(m.kind == "tmpfs" and path.startswith(m.path.rstrip("/") + "/") for m in mounts)


def setpriv_args(user: str) -> list[str]:
    """Run the rest of the command line as *user* (the tracer stays root, in front of it)."""
    setpriv = require("setpriv", "util-linux")
    name, _, group = user.partition(":")
    args = [setpriv, f"--reuid={name}"]
    if group:
        args += [f"--regid={group}", "--clear-groups"]
    elif name.isdigit():
        args += [f"--regid={name}", "--clear-groups"]
    else:
        args += [f"--regid={name}", "--init-groups"]
    return args + ["--"]


@dataclass
class RunResult:
    returncode: int
    timed_out: bool = False
    interrupted: bool = False
    duration: float = 0.0
    peak_procs: int | None = None  # most processes at once, where a pids cgroup counted them
    refused_forks: int | None = None  # forks the pids cgroup refused (the limit was reached)


DEFAULT_MAX_PROCS = 4096
PIDS_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))


class ProcessLimit:
    """A pids cgroup for the sandbox (v1 ``pids`` hierarchy or v2 with the pids controller): a fork
    bomb inside stops at *limit* processes.  Where no such cgroup can be made, there is no limit."""

    def __init__(self, limit: int):
        self.path: Path | None = None
        for root in PIDS_ROOTS:
            if not (root / "cgroup.procs").exists() or (root == PIDS_ROOTS[1] and not _v2_has_pids(root)):
                continue
            candidate = root / f"rofs-{os.getpid()}-{time.monotonic_ns()}"
            try:
                candidate.mkdir()
                (candidate / "pids.max").write_text(str(limit))
            except OSError:
                try:
                    candidate.rmdir()
                except OSError:
                    pass
                continue
            self.path = candidate
            break

    def enter(self) -> None:
        """In the child, before exec: join the cgroup (children follow)."""
        if self.path is not None:
            with open(self.path / "cgroup.procs", "w") as procs:
                procs.write(str(os.getpid()))

    def peak(self) -> int | None:
        try:
            return int((self.path / "pids.peak").read_text()) if self.path else None
        except (OSError, ValueError):
            return None

    def refused(self) -> int | None:
        """How many forks the limit refused (``pids.events``: ``max N``)."""
        try:
            for line in (self.path / "pids.events").read_text().splitlines() if self.path else ():
                key, _, value = line.partition(" ")
                if key == "max":
                    return int(value)
        except (OSError, ValueError):
            return None
        return None

    def close(self) -> None:
        """Remove the cgroup; whatever still runs in it belongs to the sandbox and is killed first."""
        if self.path is None:
            return
        for _ in range(50):
            try:
                for pid in (self.path / "cgroup.procs").read_text().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (OSError, ValueError):
                        pass
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.05)


def _v2_has_pids(root: Path) -> bool:
    try:
        return "pids" in (root / "cgroup.subtree_control").read_text().split()
    except OSError:
        return False


def run(argv: list[str], timeout: float | None = None, env: dict[str, str] | None = None,
        pass_fds: tuple[int, ...] = (), stdout=None, stderr=None, max_procs: int = DEFAULT_MAX_PROCS) -> RunResult:
    """Run the sandbox; signals are passed on, the timeout stops it, nothing survives it.

    The sandbox runs in its own session so the whole process tree can be signalled; SIGINT and
    SIGTERM sent to rofs are forwarded.  After the timeout: SIGTERM, then SIGKILL 5 s later.  The
    sandbox's PID namespace ends with its first process, taking daemons and children with it.
    """
    start = time.monotonic()
    limit = ProcessLimit(max_procs)
    proc = subprocess.Popen(argv, env=env, pass_fds=pass_fds, start_new_session=True, stdout=stdout, stderr=stderr,
                            preexec_fn=limit.enter)
    forwarded: list[int] = []

    def forward(signum, frame):  # noqa: ARG001
        forwarded.append(signum)
        _signal_program(proc, signum)

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    timed_out = False
    try:
        if not _wait_program(proc, timeout):
            timed_out = True
            _signal_program(proc, signal.SIGTERM)
            if not _wait_program(proc, 5):
                kill_sandbox(proc)
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if proc.poll() is None:  # rofs itself is going away: take the sandbox with it
            kill_sandbox(proc)
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        peak, refused = limit.peak(), limit.refused()
        limit.close()
    code = proc.returncode
    if code < 0:
        code = 128 - code
    return RunResult(code, timed_out, bool(forwarded), time.monotonic() - start, peak, refused)


def _wait_program(proc: subprocess.Popen, timeout: float | None) -> bool:
    """Wait for the sandbox to end (False: still running after *timeout*), in slices: an strace in
    front of the program would outlive it with its daemons (see :func:`_end_orphans`)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
        try:
            proc.wait(timeout=step)
            return True
        except subprocess.TimeoutExpired:
            _end_orphans(proc)
            if deadline is not None and time.monotonic() >= deadline:
                return False


HELPERS = ("bwrap", "strace", "setpriv")


def _signal_program(proc: subprocess.Popen, signum: int) -> None:
    """Signal the program and its children, not the sandbox's own helpers.

    bubblewrap and strace would die of the signal and hide the program's own exit status;
    they end on their own when the program does.
    """
    for pid in _descendants(proc.pid):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            if comm not in HELPERS:
                os.kill(pid, signum)
        except (OSError, ValueError):
            continue


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            out.append(child)
            todo.append(child)
    return out


def _end_orphans(proc: subprocess.Popen) -> None:
    """The program has ended but what it left behind still runs: kill that.

    With strace inside the sandbox (bwrap's init -> strace -> the program), bubblewrap waits for
    strace, and strace for every process it follows: a daemon would keep the run going after
    the program's exit.  strace's only child is the program (orphans go to the namespace's
    init), so strace with no child left means the program is gone: everything else in the
    namespace is then killed, strace ends and passes on the program's exit status.
    """
    children: dict[int, list[int]] = {}
    for pid in _descendants(proc.pid):
        try:
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(pid)

    def below(pid: int) -> list[int]:
        out, todo = [], [pid]
        while todo:
            for child in children.get(todo.pop(), []):
                out.append(child)
                todo.append(child)
        return out

    for init in [pid for pids in children.values() for pid in pids if _ns_init(pid)]:
        tracers = [pid for pid in children.get(init, []) if _comm(pid) == "strace"]
        if len(tracers) != 1 or children.get(tracers[0]):
            continue
        for pid in below(init):
            if pid != tracers[0]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _ns_init(pid: int) -> bool:
    """The first process of a PID namespace below ours (bubblewrap's init)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                fields = line.split()
                return len(fields) > 2 and fields[-1] == "1"
    except OSError:
        pass
    return False


def kill_sandbox(proc: subprocess.Popen) -> None:
    """SIGKILL the first process of every PID namespace below *proc* (bubblewrap's init): the
    kernel then kills everything in the namespace at once, whatever its name, session or
    signal handlers, and however fast it forks."""
    for pid in _descendants(proc.pid):
        if _ns_init(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass
