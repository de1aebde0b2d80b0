"""Run a command with the whole root read-only and only declared paths writable (bubblewrap).

The local equivalent of ``docker run --read-only --tmpfs ... -v ...``: no daemon, no image
needed.  What holds the program is what a container runtime's defaults hold
(``rofs.runtime.confine``): its own PID, IPC, UTS and cgroup namespaces (network on request),
a fresh ``/proc`` with runc's read-only and masked paths, a minimal ``/dev``, a ``/dev/shm`` of a
set size, the container capability set with no_new_privs, the default seccomp policy, no
file descriptor of rofs, no controlling terminal, and nothing left after any signal to rofs.

The process tree: rofs -> strace (outside the sandbox; optional) -> bubblewrap -> bubblewrap's
init (PID 1 of the sandbox) -> the program (PID 2), through ``setpriv`` (host) or ``gosu`` (an
image's root) when it runs as another user.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rofs.runtime import confine
from rofs.runtime.confine import Confinement
from rofs.runtime.errors import SandboxError
from rofs.runtime.users import Identity

__all__ = ["SandboxError"]

DEFAULT_SHM = 64 << 20  # what Docker and Kubernetes give /dev/shm unless told otherwise
# Signals rofs passes on to the program (nginx stops gracefully on SIGQUIT, reopens logs on SIGUSR1).
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
# Where an image's sandbox finds the static user-switch helper (bound read-only from the host;
# Docker puts its init at /sbin/docker-init the same way).  /dev is bubblewrap's own tmpfs.
IMAGE_SWITCH = "/dev/.rofs/gosu"
# rofs' own device nodes, in its private mount namespace (see rofs.runtime.linux.make_devices).
DEVICES_DIR = "/dev/shm/rofs-dev"


def require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise SandboxError(f"{tool} is not installed: apt-get install -y {package}")
    return path


@dataclass(frozen=True)
class SandboxMount:
    path: str  # where, inside the sandbox
    kind: str  # tmpfs | bind | ro-bind
    size: int | None = None  # tmpfs size in bytes
    source: str | None = None  # host directory for bind mounts (rofs' /proc/PID/fd/N of it)
    label: str = ""  # why it is there (profile purpose, --writable ...)


@dataclass
class SandboxSpec:
    command: list[str]
    mounts: list[SandboxMount] = field(default_factory=list)
    root: str = "/"  # host directory that becomes / (read-only)
    env: dict[str, str] | None = None  # None: keep the caller's environment
    cwd: str | None = None
    identity: Identity | None = None  # run as this user (None: as rofs' own user)
    shm_size: int = DEFAULT_SHM
    confinement: Confinement = field(default_factory=Confinement)
    image: bool = False  # root is an unpacked image: the user switch uses IMAGE_SWITCH
    bind_root: bool = False  # root is bound read-write (rofs trace: its scratch overlay)
    shm_source: str | None = None  # bind this directory at /dev/shm instead of a tmpfs
    devices: str | None = None  # rofs' own device nodes here (a private mount namespace): bound over bubblewrap's
    lower_root: str = "/"  # where the root's files are on the host (rofs trace: under its overlay)
    sysfs: bool = False  # bind the host's /sys read-only (a root other than / has none of its own)


class ChildSetup:
    """Work done in the child between fork and exec (a private mount namespace and what is mounted
    in it); a failure is written to a pipe, and :meth:`check` raises it in rofs as one line."""

    what = "rofs could not prepare the sandbox"

    def __init__(self) -> None:
        self.err_r, self.err_w = os.pipe()

    def build(self) -> None:
        from rofs.runtime import linux

        linux.private_mount_namespace()
        linux.mount("rofs-private", "/dev/shm", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "mode=0700,size=1m")
        os.mkdir(DEVICES_DIR, 0o755)
        linux.make_devices(DEVICES_DIR)

    def setup(self) -> None:
        try:
            self.build()
        except BaseException as exc:  # noqa: BLE001 - reported to rofs, which exits 2 with it
            os.write(self.err_w, str(exc).encode("utf-8", "replace")[:4000] or b"setup failed")
            os._exit(125)

    def check(self) -> None:
        """In rofs, once the child ran: raise its error, if it had one."""
        os.close(self.err_w)
        message = os.read(self.err_r, 8192).decode("utf-8", "replace")
        os.close(self.err_r)
        if message:
            raise SandboxError(f"{self.what}: {message}")


def bwrap_argv(spec: SandboxSpec, status_fd: int | None = None, seccomp_fds: list[int] | None = None) -> list[str]:
    """The bubblewrap command line for *spec* (the program last)."""
    bwrap = require("bwrap", "bubblewrap")
    argv = [bwrap, "--bind" if spec.bind_root else "--ro-bind", spec.root, "/"]
    sys_dir = spec.root == "/" or spec.sysfs
    if spec.root != "/" and spec.sysfs:
        argv += ["--ro-bind", "/sys", "/sys"]  # as a runtime mounts sysfs read-only (cgroup limits, CPUs)
    argv += ["--dev", "/dev"]
    if spec.devices:
        # bubblewrap's /dev binds the host's own device inodes: root inside could chmod them.
        from rofs.runtime.linux import DEVICES

        for name, _, _ in DEVICES:
            argv += ["--dev-bind", f"{spec.devices}/{name}", f"/dev/{name}"]
    argv += ["--proc", "/proc", *confine.proc_sys_args(sys_visible=sys_dir,
                                                        empty=f"{spec.devices}/empty" if spec.devices else None)]
    if spec.devices and not spec.image:
        argv += confine.socket_mask_args(f"{spec.devices}/empty", spec.lower_root)
    if spec.shm_source:
        argv += ["--bind", spec.shm_source, "/dev/shm"]
    else:
        argv += ["--perms", "1777", "--size", str(spec.shm_size), "--tmpfs", "/dev/shm"]
    argv += [*confine.namespace_args(spec.confinement), "--die-with-parent", *confine.capability_args(spec.confinement)]
    check_mount_points(spec.root, [m.path for m in spec.mounts], spec.mounts)
    resolved = [(resolve_in_root(spec.root, m.path), m) for m in spec.mounts]
    for dest, mount in sorted(resolved, key=lambda item: (item[0].count("/"), item[0])):
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
    if spec.image:
        for name in RUNTIME_FILES:  # what a runtime gives every container (the host's, as with --network host)
            dest = resolve_in_root(spec.root, name)
            target = Path(spec.root, dest.lstrip("/"))
            # only over a plain file of the image (one rofs made when it had none); a directory,
            # FIFO or device there stays the image's own
            if os.path.isfile(name) and target.is_file() and not target.is_symlink():
                argv += ["--ro-bind", name, dest]
    if spec.image and spec.identity is not None and spec.identity.uid != 0:
        argv += ["--ro-bind", require("gosu", "gosu"), IMAGE_SWITCH]
    if spec.env is not None:
        argv.append("--clearenv")
        for key, value in spec.env.items():
            argv += ["--setenv", key, value]
    if spec.cwd:
        argv += ["--chdir", spec.cwd]
    if status_fd is not None:
        argv += ["--json-status-fd", str(status_fd)]
    argv += confine.seccomp_args(seccomp_fds or [])
    argv.append("--")
    return argv + switch_user(spec) + list(spec.command)


def check_mount_points(root: str, paths: list[str], mounts: list[SandboxMount] | None = None) -> None:
    """Every mount point exists in the root (or inside another declared tmpfs, where bubblewrap
    makes it); checked before anything is created on the host."""
    declared = mounts if mounts is not None else [SandboxMount(p, "tmpfs") for p in paths]
    for path in paths:
        dest = resolve_in_root(root, path)
        if not (Path(root) / dest.lstrip("/")).exists() and not _under_declared(dest, declared):
            raise SandboxError(f"cannot mount at {path}: it does not exist in the root filesystem"
                               " (create it at build time, or mount its parent)")


def switch_user(spec: SandboxSpec) -> list[str]:
    """What runs the program as its user, after bubblewrap has built the sandbox.

    On the host, util-linux's setpriv (numeric ids, resolved by rofs); it also trims the
    capability bounding set to the container's.  In an image, the static gosu bound in at
    IMAGE_SWITCH, given the USER as the image spells it so it reads the image's own user
    database, as a runtime does.  Root in an image needs neither.
    """
    ident = spec.identity
    if spec.image:
        if ident is None or ident.uid == 0:
            return []
        return [IMAGE_SWITCH, ident.spec or f"{ident.uid}:{ident.gid}"]
    if os.geteuid() != 0:
        return []
    setpriv = require("setpriv", "util-linux")
    bounding = ",".join(["-all"] + ["+" + c.removeprefix("CAP_").lower() for c in spec.confinement.capabilities])
    args = [setpriv, f"--bounding-set={bounding}", "--inh-caps=-all"]
    if ident is not None:
        args += [f"--reuid={ident.uid}", f"--regid={ident.gid}"]
        args += [f"--groups={','.join(map(str, ident.groups))}"] if ident.groups else ["--clear-groups"]
    return args + ["--"]


def expected_execs(spec: SandboxSpec) -> int:
    """Programs bubblewrap's child runs before the command itself is running (the user switch)."""
    return 2 if switch_user(spec) else 1


# Name resolution files a container runtime puts into every container: images rarely carry
# them (a build leaves none), and a server that resolves its own host name (RabbitMQ's Erlang
# node name) needs them.  Bound read-only; the image's own are hidden, as a runtime hides them.
RUNTIME_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def resolve_in_root(root: str, path: str, _depth: int = 0) -> str:
    """*path* with symlinks resolved as the sandbox will see them (``/var/run`` -> ``/run``).

    bubblewrap does not follow symlinks when it makes mount points, and an image's links
    point inside the image, not into the host.
    """
    if _depth > 40:
        raise SandboxError(f"{path}: too many levels of symbolic links in the root filesystem")
    parts = [p for p in path.split("/") if p]
    out: list[str] = []
    for i, part in enumerate(parts):
        candidate = Path(root, *out, part)
        if candidate.is_symlink():
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


def check_command(root: str, command: str, env_path: str | None, cwd: str, where: str) -> None:
    """The command the sandbox is to run exists and can be run: else one line, before anything starts."""
    if which_in_root(root, command, env_path, cwd) is not None:
        return
    if "/" in command:
        path = command if command.startswith("/") else os.path.join(cwd, command)
        real = Path(root) / resolve_in_root(root, path).lstrip("/")
        if real.is_dir():
            raise SandboxError(f"{command}: is a directory, not a program")
        if real.exists():
            raise SandboxError(f"{command}: is not executable")
        raise SandboxError(f"{command}: no such file {where}")
    raise SandboxError(f"{command}: command not found {where} (PATH={env_path or ''})")


def which_in_root(root: str, command: str, env_path: str | None, cwd: str) -> str | None:
    """Where the sandbox would find *command* (None: it would not)."""
    def runnable(path: str) -> bool:
        real = Path(root) / resolve_in_root(root, path).lstrip("/")
        return real.is_file() and os.access(real, os.X_OK)

    if "/" in command:
        return command if runnable(command if command.startswith("/") else os.path.join(cwd, command)) else None
    for directory in (env_path or "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(":"):
        if directory and runnable(os.path.join(directory, command)):
            return os.path.join(directory, command)
    return None


# --- the processes -------------------------------------------------------------------------


@dataclass
class RunResult:
    returncode: int
    timed_out: bool = False
    interrupted: bool = False
    duration: float = 0.0
    peak_procs: int | None = None  # most processes at once, where a pids cgroup counted them
    refused_forks: int | None = None  # forks the pids cgroup refused (the limit was reached)
    started: bool = True  # bubblewrap reported that it started the program
    killed: bool = False  # still running STOP_GRACE s after the stop signal rofs passed on: killed


DEFAULT_MAX_PROCS = 4096
MAX_LOG = 4 << 30  # the tracer's log, at most
LOG_AHEAD = 256 << 20  # disk space kept allocated beyond the end of the tracer's log


def reserve_log(fd: int, offset: int) -> None:
    from rofs.runtime import linux

    linux.reserve(fd, offset, LOG_AHEAD)
PIDS_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))


class ProcessLimit:
    """A pids cgroup for the sandbox (v1 ``pids`` hierarchy or v2 with the pids controller): a fork
    bomb inside stops at *limit* processes.  Where no such cgroup can be made, there is no limit.

    A janitor process (forked here, in its own session, holding only a pipe from rofs) removes
    the cgroup and kills what is left in it as soon as rofs ends, however it ends: SIGKILL
    included."""

    def __init__(self, limit: int):
        self.path: Path | None = None
        self._janitor: int | None = None
        self._pipe: int | None = None
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
        if self.path is not None:
            self._start_janitor()

    def _start_janitor(self) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the janitor: wait for rofs to go, then clean up
            try:
                os.setsid()
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
                    signal.signal(sig, signal.SIG_IGN)
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.closerange(3, read)
                os.closerange(read + 1, 1 << 16)
                while os.read(read, 64):
                    pass
                _remove_cgroup(self.path)
            finally:
                os._exit(0)
        os.close(read)
        os.set_inheritable(write, False)
        self._janitor, self._pipe = pid, write

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
        if self.path is not None:
            _remove_cgroup(self.path)
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self._janitor is not None:
            for _ in range(100):
                if os.waitpid(self._janitor, os.WNOHANG)[0]:
                    break
                time.sleep(0.01)
            self._janitor = None


def _remove_cgroup(path: Path | None) -> None:
    if path is None:
        return
    for _ in range(100):
        try:
            for pid in (path / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


def _v2_has_pids(root: Path) -> bool:
    try:
        return "pids" in (root / "cgroup.subtree_control").read_text().split()
    except OSError:
        return False


class Supervisor:
    """Starts the process tree and holds it: process limit, signals, timeout, the end.

    *argv* is strace's or bubblewrap's command line; *setup* runs in the child before exec
    (after it joined the cgroup and was bound to rofs' life).  *pass_fds* are handed to the child
    and closed here once it runs.  ``--json-status-fd`` tells when bubblewrap started the program
    and with which status it ended.  Signals for the program that come before it exists are
    delivered as soon as it does.
    """

    def __init__(self, argv: list[str], *, max_procs: int, pass_fds: tuple[int, ...] = (), status_r: int | None = None,
                 env: dict[str, str] | None = None, setup: Callable[[], None] | None = None, stdout=None, stderr=None,
                 log: int | None = None):
        self.limit = ProcessLimit(max_procs)
        self.status_r = status_r
        self.status: dict = {}
        self._status_buf = b""
        self.pending: list[int] = []
        self.seen_program = False
        self.log = log  # the tracer's log: bounded, and always with room ahead (see _guard)
        self.aborted: str | None = None  # why rofs stopped the sandbox itself
        self._checked = 0.0
        self.reserved = 0
        if log is not None:
            try:
                reserve_log(log, 0)
            except OSError as exc:
                self.limit.close()
                raise SandboxError(f"no room for the tracer's log in TMPDIR ({exc.strerror or exc})") from None
            self.reserved = LOG_AHEAD
        self.start = time.monotonic()

        def preexec() -> None:
            from rofs.runtime import linux

            self.limit.enter()
            linux.die_with_parent()
            if setup is not None:
                setup()

        self.relays: list[threading.Thread] = []
        child_ends: list[int] = []
        stdio: dict[str, int | None] = {}
        for fd, name, given in ((0, "stdin", None), (1, "stdout", stdout), (2, "stderr", stderr)):
            stdio[name] = given if given is not None else self._stdio(fd, child_ends)
        try:
            # preexec_fn: the child joins the pids cgroup and is bound to rofs' life before it runs
            # anything (the relay threads of this sandbox start only after the fork).
            self.proc = subprocess.Popen(argv, env=env, pass_fds=pass_fds, start_new_session=True,
                                         preexec_fn=preexec,  # noqa: PLW1509
                                         stdin=stdio["stdin"], stdout=stdio["stdout"], stderr=stdio["stderr"])
        except BaseException:
            self.limit.close()
            raise
        finally:
            for fd in (*pass_fds, *child_ends):
                os.close(fd)
        for relay in self.relays:
            relay.start()

    def _stdio(self, fd: int, child_ends: list[int]) -> int | None:
        """What the program gets as *fd*: always a pipe of its own that rofs copies, never rofs' own
        descriptor (behind it may be a host file or terminal, which root inside could chmod or
        chown, and its flags are shared: O_NONBLOCK set by the program would break rofs' own
        output).  A terminal's input is not passed on at all: the program gets an empty stdin, as a
        container started without -i does."""
        try:
            os.fstat(fd)
        except OSError:
            return subprocess.DEVNULL  # rofs was started without it
        read, write = os.pipe()
        if fd == 0:
            child_ends.append(read)
            if os.isatty(0):
                os.close(write)  # end of file at once
            else:
                self.relays.append(threading.Thread(target=_copy, args=(0, write, True), daemon=True))
            return read
        child_ends.append(write)
        self.relays.append(threading.Thread(target=_copy, args=(read, fd, False), daemon=True))
        return write

    # -- what bubblewrap says ---------------------------------------------------------------

    def _guard(self) -> None:
        """The tracer's log always has room: rofs keeps LOG_AHEAD of disk space allocated beyond its
        end (strace appends into it, so a program that fills the file system cannot make the tracer
        lose lines); when the next reservation fails, or the log passes MAX_LOG, the sandbox is
        stopped and the run is an error, while the reserve still holds what was traced."""
        if self.log is None or self.aborted or time.monotonic() - self._checked < 0.2:
            return
        self._checked = time.monotonic()
        try:
            size = os.fstat(self.log).st_size
        except OSError:
            return
        reason = None
        if size > MAX_LOG:
            reason = f"the tracer's log passed {MAX_LOG >> 30} GiB"
        elif self.reserved - size < LOG_AHEAD // 2:
            try:
                reserve_log(self.log, self.reserved)
                self.reserved += LOG_AHEAD
            except OSError as exc:
                reason = f"no room is left for the tracer's log ({exc.strerror or exc}, in TMPDIR)"
        if reason:
            self.aborted = f"{reason}; rofs stopped the program"
            self.kill()

    def read_status(self, timeout: float = 0.0) -> dict:
        """Take in what bubblewrap wrote on its status descriptor (``child-pid``, ``exit-code``)."""
        import select

        self._guard()
        if self.status_r is None:
            return self.status
        end = time.monotonic() + timeout
        while self.status_r is not None:
            ready, _, _ = select.select([self.status_r], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                break
            chunk = os.read(self.status_r, 4096)
            if not chunk:
                os.close(self.status_r)
                self.status_r = None
                break
            self._status_buf += chunk
            while b"\n" in self._status_buf:
                line, self._status_buf = self._status_buf.split(b"\n", 1)
                try:
                    self.status.update(json.loads(line))
                except ValueError:
                    pass
        return self.status

    # -- the program -------------------------------------------------------------------------

    def program_pid(self) -> int | None:
        """The program: PID 2 of the sandbox's PID namespace (bubblewrap's init is PID 1)."""
        for pid, nspid in _namespaced(self.proc.pid):
            if nspid[-1] == 2:
                self.seen_program = True
                return pid
        return None

    def signal_program(self, signum: int, everyone: bool = False) -> None:
        """Signal the program as a runtime signals a container's main process (bubblewrap and
        strace would die of it and hide the program's own exit status); *everyone*: all the
        program's processes, as a terminal's Ctrl-C reaches its foreground processes."""
        if everyone and self.program_pid() is not None:
            for pid, nspid in _namespaced(self.proc.pid):
                if nspid[-1] != 1:
                    try:
                        os.kill(pid, signum)
                    except OSError:
                        pass
            return
        program = self.program_pid()
        if program is None:
            if self.proc.poll() is None and "exit-code" not in self.status and not self.seen_program:
                self.pending.append(signum)  # not started yet
            return
        try:
            os.kill(program, signum)
        except OSError:
            pass

    def _deliver(self) -> None:
        if self.pending and self.program_pid() is not None:
            pending, self.pending = self.pending, []
            for signum in pending:
                self.signal_program(signum)

    def kill(self) -> None:
        """SIGKILL the sandbox's init: the kernel then ends everything in its PID namespace at once,
        whatever its name, session or signal handlers, and however fast it forks."""
        for pid, nspid in _namespaced(self.proc.pid):
            if nspid[-1] == 1:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        # bubblewrap then reports the end and exits, and strace with it; only if they hang is
        # the whole group killed (the exit status is then lost).
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass

    def wait(self, timeout: float | None) -> bool:
        """Wait for the tree to end (False: still running after *timeout*)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
            self.read_status()
            if self.aborted:
                return True
            self._deliver()
            try:
                self.proc.wait(timeout=step)
                self.read_status(0.5)
                return True
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() >= deadline:
                    return False

    def finish(self) -> tuple[int, int | None, int | None]:
        """Make sure nothing is left; (the program's exit code, peak processes, refused forks)."""
        if self.proc.poll() is None:
            self.kill()
            self.proc.wait()
        self.read_status(0.2)
        peak, refused = self.limit.peak(), self.limit.refused()
        self.limit.close()
        for relay in self.relays:
            relay.join(timeout=5)  # the last output of the program reaches rofs' own
        if self.status_r is not None:
            os.close(self.status_r)
            self.status_r = None
        code = self.status.get("exit-code")
        if code is None:
            code = self.proc.returncode
            code = 128 - code if code < 0 else code
        return int(code), peak, refused



def _copy(source: int, target: int, close_target: bool) -> None:
    """Copy *source* to *target* until end of file (a relay of the program's stdio)."""
    try:
        while chunk := os.read(source, 1 << 16):
            while chunk:
                chunk = chunk[os.write(target, chunk):]
    except OSError:
        pass  # the other side went away: what is left is dropped, as a closed pipe would
    finally:
        os.close(source if not close_target else target)


def _namespaced(root: int) -> list[tuple[int, list[int]]]:
    """Descendants of *root* in a PID namespace below ours, with their NSpid chains."""
    out = []
    own_depth = _nspid_depth(os.getpid())
    for pid in _descendants(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("NSpid:"):
                    chain = [int(x) for x in line.split()[1:]]
                    if len(chain) > own_depth:
                        out.append((pid, chain))
                    break
        except (OSError, ValueError):
            continue
    return out


def _nspid_depth(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return len(line.split()) - 1
    except OSError:
        pass
    return 1


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


STOP_GRACE = 10.0  # seconds between the stop signal rofs passed on and SIGKILL, as `docker stop` gives
TIMEOUT_GRACE = 5.0  # after --timeout: SIGTERM, then SIGKILL this much later


def run(argv: list[str], timeout: float | None = None, env: dict[str, str] | None = None,
        pass_fds: tuple[int, ...] = (), status_r: int | None = None, stdout=None, stderr=None,
        max_procs: int = DEFAULT_MAX_PROCS, setup: ChildSetup | None = None, log: int | None = None) -> RunResult:
    """Run the sandbox; signals are passed on, the timeout stops it, nothing survives it.

    SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to rofs go to the program (SIGINT
    to all its processes, as a terminal's Ctrl-C goes to its foreground processes; the others to
    its main process, as a runtime signals a container).  A program still running STOP_GRACE s
    after SIGINT or SIGTERM, or at a second one, is killed.  After the timeout: SIGTERM, then
    SIGKILL of the whole sandbox TIMEOUT_GRACE s later.
    """
    forwarded: list[int] = []
    holder: list[Supervisor] = []
    kill_at: list[float] = []  # when the sandbox is killed (a stop signal or the timeout started it)

    def forward(signum, frame):
        forwarded.append(signum)
        if signum in (signal.SIGINT, signal.SIGTERM):
            # The first stop signal starts the grace period, a second one ends it.
            kill_at.append(time.monotonic() if kill_at else time.monotonic() + STOP_GRACE)
        if holder:
            holder[0].signal_program(signum, everyone=signum == signal.SIGINT)

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    timed_out = killed = False
    try:
        sup = Supervisor(argv, max_procs=max_procs, pass_fds=pass_fds, status_r=status_r, env=env,
                         stdout=stdout, stderr=stderr, setup=setup.setup if setup else None, log=log)
        holder.append(sup)
        if setup is not None:
            try:
                setup.check()
            except SandboxError:
                sup.finish()
                raise
        for signum in forwarded:  # arrived while the sandbox was starting
            sup.pending.append(signum)
        timeout_at = None if timeout is None else sup.start + timeout
        try:
            while True:
                due = [t for t in (timeout_at if not timed_out else None, min(kill_at) if kill_at else None)
                       if t is not None]
                # In slices: a stop signal may set a deadline while we wait.
                if sup.wait(min(0.5, max(0.0, min(due) - time.monotonic())) if due else 0.5):
                    break
                now = time.monotonic()
                if kill_at and now >= min(kill_at):
                    killed = True
                    sup.kill()
                    sup.proc.wait()
                    break
                if timeout_at is not None and not timed_out and now >= timeout_at:
                    timed_out = True
                    sup.signal_program(signal.SIGTERM)
                    kill_at.append(now + TIMEOUT_GRACE)
        finally:
            code, peak, refused = sup.finish()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    started = status_r is None or "exit-code" in sup.status or sup.seen_program
    result = RunResult(code, timed_out, bool(forwarded), time.monotonic() - sup.start, peak, refused, started)
    result.killed = killed and not timed_out
    if sup.aborted:
        raise SandboxError(f"{sup.aborted}: a report missing what came after would not be the truth, so there is none")
    return result
