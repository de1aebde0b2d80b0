"""Run a real server under bubblewrap with a read-only root and chosen writable paths.

A small helper for ``test_profiles_real.py`` (plain functions and one class, no
pytest fixtures).  The sandbox is::

    bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid --as-pid-1 --die-with-parent ...

plus, for each writable path, a size-limited tmpfs (mode 1777, like an emptyDir or
``docker run --tmpfs``) or a bind of a host directory (a persistent volume).  Every
other path is read-only.  The network is shared with the host, so clients in the
test reach the server on 127.0.0.1 and a port from :func:`free_port`.

Inside the sandbox a tiny Python supervisor is pid 1 (``--as-pid-1``: bwrap's own
reaper would be left behind as a zombie when bwrap exits).  It starts the server (as another user
through ``setpriv`` when asked), forwards SIGTERM/SIGINT/SIGQUIT/SIGHUP to it, and
when the server has exited prints the files named in ``dump`` (log files that
live on a tmpfs and vanish with the sandbox) before exiting with the server's
status.  The supervisor only reads; it writes nothing but its own output.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rofs.model import Profile, VolumeKind

# Started inside the sandbox as ``python -I -c SUPERVISOR SPEC_JSON``.
SUPERVISOR = r"""
import json, signal, subprocess, sys
spec = json.loads(sys.argv[1])
child = subprocess.Popen(spec["argv"])
def forward(signum, frame):
    try:
        child.send_signal(signum)
    except ProcessLookupError:
        pass
for name in ("SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP"):
    signal.signal(getattr(signal, name), forward)
rc = child.wait()
sys.stdout.flush()
for path in spec["dump"]:
    try:
        with open(path, "rb") as fh:
            data = fh.read().decode("utf-8", "replace")
    except OSError as exc:
        data = "(not readable: %s)\n" % exc
    sys.stderr.write("\n=== rofs-dump %s ===\n%s=== end %s ===\n" % (path, data, path))
sys.stderr.flush()
sys.exit(rc if rc >= 0 else 128 - rc)
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Mount:
    """One mount in the sandbox.

    kind: ``tmpfs`` (writable, ``size`` bytes), ``ro-tmpfs`` (an empty read-only
    tmpfs, for paths under the sandbox's own writable /dev), ``bind`` (host
    directory ``source``, writable) or ``ro-bind``.
    """

    path: str
    kind: str
    source: Path | None = None
    size: int | None = None


def host_path(path: str) -> str:
    """*path* with symlinks on the host resolved (/var/run/x -> /run/x); bwrap needs real paths."""
    return os.path.realpath(path)


def layout_mounts(
    profile: Profile,
    layout: str,
    volumes: Mapping[str, Path],
    *,
    leave_out: str | None = None,
) -> list[Mount]:
    """Mounts that make the *required* paths of *layout* writable, the way the profile says.

    Ephemeral and memory paths become a tmpfs of the profile's size; persistent
    paths bind the host directory given in *volumes* (keyed by the profile path).
    The path *leave_out* stays read-only: a persistent one is bound read-only (the
    server sees its data but cannot write), one under /dev gets an empty read-only
    tmpfs (bwrap's own /dev is writable), anything else is simply not mounted, so
    it is whatever the read-only host root has there.
    """
    mounts: list[Mount] = []
    for item in profile.paths_for(layout):
        if not item.required:
            continue
        target = item.path
        if item.kind is VolumeKind.PERSISTENT:
            if target not in volumes:
                raise KeyError(f"no host directory given for persistent path {target}")
            kind = "ro-bind" if target == leave_out else "bind"
            mounts.append(Mount(target, kind, source=volumes[target]))
        elif target == leave_out:
            if host_path(target) == "/dev" or host_path(target).startswith("/dev/"):
                mounts.append(Mount(target, "ro-tmpfs"))
        else:
            mounts.append(Mount(target, "tmpfs", size=item.size))
    return mounts


def bwrap_args(mounts: Iterable[Mount]) -> list[str]:
    """The bwrap options for *mounts* (sorted so parents are mounted before children).

    A mount point missing on the host cannot be created in the read-only root, so
    its nearest existing ancestor is shadowed: an empty tmpfs, the ancestor's
    entries bound back read-only, the mount point created, and the tmpfs made
    read-only again at the end.
    """
    args: list[str] = []
    remount: list[str] = []
    writable: list[str] = []  # sandbox paths that are writable while we build
    ordered = sorted(mounts, key=lambda m: (host_path(m.path).count("/"), host_path(m.path)))
    for mount in ordered:
        target = host_path(mount.path)
        if not os.path.lexists(target) and not any(_under(target, w) for w in writable):
            ancestor = os.path.dirname(target)
            while not os.path.exists(ancestor):
                ancestor = os.path.dirname(ancestor)
            args += _shadow(ancestor)
            writable.append(ancestor)
            remount.append(ancestor)
        if mount.kind in ("tmpfs", "ro-tmpfs"):
            args += ["--perms", "1777"]
            if mount.size:
                args += ["--size", str(mount.size)]
            args += ["--tmpfs", target]
            if mount.kind == "ro-tmpfs":
                remount.append(target)
            else:
                writable.append(target)
        elif mount.kind == "bind":
            args += ["--bind", str(mount.source), target]
            writable.append(target)
        elif mount.kind == "ro-bind":
            args += ["--ro-bind", str(mount.source), target]
        else:
            raise ValueError(f"unknown mount kind {mount.kind!r}")
    for path in reversed(remount):
        args += ["--remount-ro", path]
    return args


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _shadow(directory: str) -> list[str]:
    args = ["--tmpfs", directory]
    for entry in sorted(os.listdir(directory)):
        src = os.path.join(directory, entry)
        if os.path.islink(src):
            args += ["--symlink", os.readlink(src), src]
        else:
            args += ["--ro-bind", src, src]
    return args


@dataclass
class Outcome:
    returncode: int | None  # None: still running when the test gave up and killed it
    output: str

    def dumped(self, path: str) -> str:
        """Content of a file the supervisor printed at exit ('' if absent)."""
        start = f"=== rofs-dump {path} ===\n"
        end = f"=== end {path} ===\n"
        if start not in self.output:
            return ""
        return self.output.split(start, 1)[1].split(end, 1)[0]


class Sandboxed:
    """A server process in a bwrap sandbox.  Use as a context manager: it is always killed."""

    def __init__(
        self,
        argv: Sequence[str],
        mounts: Iterable[Mount],
        *,
        user: str | None = None,
        env: Mapping[str, str] | None = None,
        dump: Sequence[str] = (),
        bwrap: str = "bwrap",
    ):
        inner = list(argv)
        if user:
            inner = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"] + inner
        spec = json.dumps({"argv": inner, "dump": list(dump)})
        self.argv = (
            [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
             "--unshare-pid", "--as-pid-1", "--die-with-parent", "--chdir", "/"]
            + bwrap_args(mounts)
        )
        self.command = ["--", sys.executable, "-I", "-c", SUPERVISOR, spec]
        self.env = dict(env) if env is not None else {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        self._log = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 - closed in kill()
        self.proc: subprocess.Popen | None = None
        self.child_pid: int | None = None  # host pid of the supervisor, pid 1 of the sandbox
        self._status_r: int | None = None

    # -- lifecycle ------------------------------------------------------------------

    def __enter__(self) -> Sandboxed:  # noqa: PYI034 - the class is not subclassed
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.kill()

    def start(self, timeout: float = 10.0) -> None:
        status_r, status_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                self.argv + ["--json-status-fd", str(status_w)] + self.command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self.env,
                pass_fds=(status_w,),
                start_new_session=True,
            )
        finally:
            os.close(status_w)
        self._status_r = status_r
        deadline = time.monotonic() + timeout
        buf = b""
        while b"\n" not in buf and b"}" not in buf and time.monotonic() < deadline:
            ready, _, _ = select.select([status_r], [], [], 0.1)
            if ready:
                chunk = os.read(status_r, 4096)
                if not chunk:
                    break
                buf += chunk
        try:
            self.child_pid = json.loads(buf.split(b"}")[0].decode() + "}")["child-pid"]
        except (ValueError, KeyError):
            self.child_pid = None  # bwrap failed before starting the command; see output()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_port(self, port: int, timeout: float = 20.0) -> bool:
        """True once *port* accepts connections; False if the server exited or *timeout* passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_open(port):
                return True
            if not self.running():
                return False
            time.sleep(0.05)
        return False

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if still running after *timeout* seconds."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def send(self, signum: int) -> None:
        """Send *signum* to the supervisor, which passes it to the server."""
        if self.child_pid and self.running():
            try:
                os.kill(self.child_pid, signum)
            except ProcessLookupError:
                pass

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15.0) -> Outcome:
        """Ask the server to stop with *signum*; kill it if it has not exited after *timeout*."""
        self.send(signum)
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
        return Outcome(rc, self.output())

    def kill(self) -> None:
        """SIGKILL everything in the sandbox, then bwrap itself if it is still there.

        Killing the sandbox's pid 1 (the supervisor) takes the whole pid namespace down
        and lets bwrap reap it and exit; killing bwrap first would orphan the supervisor.
        """
        if self.proc is None or self.proc.poll() is not None:
            self._close()
            return
        if self.child_pid and _parent_of(self.child_pid) == self.proc.pid:
            try:
                os.kill(self.child_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._close()

    def _close(self) -> None:
        if self._status_r is not None:
            os.close(self._status_r)
            self._status_r = None

    # -- looking inside ----------------------------------------------------------------

    def output(self) -> str:
        """Everything bwrap, the supervisor and the server wrote to stdout and stderr so far."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def read_file(self, path: str) -> str:
        """A file as the sandbox sees it (only while it runs), through /proc/PID/root."""
        if not self.child_pid:
            return ""
        try:
            return Path(f"/proc/{self.child_pid}/root{host_path(path)}").read_text("utf-8", "replace")
        except OSError:
            return ""


def _parent_of(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def run_until_exit(
    argv: Sequence[str],
    mounts: Iterable[Mount],
    *,
    timeout: float = 15.0,
    **kwargs,
) -> Outcome:
    """Start a server that is expected to fail; wait up to *timeout* seconds for it to exit."""
    with Sandboxed(argv, mounts, **kwargs) as box:
        rc = box.wait(timeout)
        if rc is None:
            outcome = box.stop(signal.SIGTERM, timeout=5)
            return Outcome(None, outcome.output)
        return Outcome(rc, box.output())


def matching_signatures(text: str, signatures: Iterable[str]) -> list[str]:
    return [sig for sig in signatures if sig in text]


def chown_tree(path: Path, user: str) -> None:
    """Give *path* (one directory) to *user*, as fsGroup or a volume's owner would."""
    import pwd

    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
