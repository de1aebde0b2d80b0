"""``rofs trace``: learn the writable paths of a program nobody has profiled.

The program runs with every path writable, but on a throw-away copy-on-write layer: the
host's root is the lower layer of an overlayfs mounted in a private mount namespace, and
its writes land in a scratch upper directory that is removed afterwards (``--keep`` keeps
it).  strace records every write-intent call of the program and its children; the scratch
layer tells how many bytes each place holds.  The result is an inventory: the directories
a mount would need, each classified persistent / ephemeral / memory with the reason, the
bytes written and the peak size seen, the processes, and a suggested size; written as a
profile in the same format as the built-in ones.
"""

from __future__ import annotations

import datetime
import os
import re
import shlex
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING

from rofs.diagnose.placement import refused
from rofs.model import VolumeKind, path_covers, scratch_reason, volume_name_for
from rofs.runtime import confine, hostpath, tracer
from rofs.runtime.confine import Confinement
from rofs.runtime.sandbox import (
    DEFAULT_MAX_PROCS,
    DEFAULT_SHM,
    DEVICES_DIR,
    ChildSetup,
    SandboxError,
    SandboxSpec,
    Supervisor,
    bwrap_argv,
    check_command,
    expected_execs,
    require,
    resolve_in_root,
)
from rofs.runtime.users import Identity
from rofs.terminal import printable
from rofs.units import format_quantity

if TYPE_CHECKING:
    from rofs.runtime.image import ImageBundle

NOISE_PREFIXES = ("/proc", "/sys", "/dev")
MIB = 1 << 20
SAMPLE_EVERY = 0.5  # seconds between measurements of the scratch layer (peak sizes), at least
SAMPLE_SHARE = 0.1  # ... and at most this share of one core: a big layer is walked less often
DESCRIPTORS_EVERY = 0.05  # seconds between reads of the open descriptors (files deleted while open) meanwhile


@dataclass
class TracedPath:
    path: str
    kind: VolumeKind
    reason: str
    bytes_written: int = 0
    peak_bytes: int = 0
    processes: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    hidden_files: int = 0  # files the host already has there: a mount would hide them

    @property
    def suggested_size(self) -> int:
        seen = max(self.bytes_written, self.peak_bytes)
        floor = (1 << 30) if self.kind is VolumeKind.PERSISTENT else 16 * MIB
        size = floor
        while size < seen * 2:  # headroom: twice what was seen, in powers of two
            size *= 2
        return size


@dataclass
class TraceResult:
    command: list[str]
    returncode: int | None
    duration: float
    paths: list[TracedPath]
    events: int
    scratch: str | None = None
    notes: list[str] = field(default_factory=list)
    peak_procs: int | None = None  # most processes at once, where a pids cgroup counted them
    refused_forks: int | None = None  # forks refused at the process limit
    identity: Identity | None = None
    confinement: Confinement = field(default_factory=Confinement)
    stopped: bool = False  # rofs stopped the program (end of --duration or --exercise, a signal to rofs)


# --- running ---------------------------------------------------------------------------

DEFAULT_SCRATCH = 4 << 30  # the scratch layer holds at most this much (--scratch-size): it lives in memory
SCRATCH = "/dev/shm"  # a tmpfs of rofs trace's own is mounted over it, in its private mount namespace


@dataclass(frozen=True)
class Layer:
    """One lower file system of the scratch overlay: where it is, and how it is layered."""

    point: str  # its mount point on the host ("/" for the root file system)
    kind: str  # dir: an overlay of its own; file: a file mount (a copy of it is bound there)
    index: int


class Scratch(ChildSetup):
    """The copy-on-write root of ``rofs trace``, built between fork and exec in a private mount
    namespace (so nothing of it is on the host's disk or in the host's mount table):

    a tmpfs over SCRATCH (/dev/shm: the sandbox gets a /dev/shm of its own anyway); the lower
    root (the host's /, or an image) and every other real file system of the host bound
    non-recursively to SCRATCH/l/N, each under an overlay with its own upper layer at
    SCRATCH/u/N, stacked at SCRATCH/root; file mounts (Docker's /etc/hosts is one) copied to
    SCRATCH/f/N and bound over their place; /dev/shm at SCRATCH/shm.  The upper layers are handed
    to rofs as descriptors (SCM_RIGHTS), so it reads them after the namespace is gone.  Mount
    options only ever name rofs' own scratch paths: mount points with ',' or ':' are reached
    through their bind."""

    what = "rofs trace could not build its scratch layer"

    def __init__(self, lower_root: str, layers: list[Layer], shm_size: int, size: int = DEFAULT_SCRATCH):
        super().__init__()
        self.size = size
        self.lower_root = lower_root
        self.layers = layers
        self.shm_size = shm_size
        self.parent, self.child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.fds: list[int] = []

    @property
    def root(self) -> str:
        return f"{SCRATCH}/root"

    @property
    def shm(self) -> str:
        return f"{SCRATCH}/shm"

    def build(self) -> None:
        """In the child, before exec (the tracer): build it all."""
        from rofs.runtime import linux

        linux.private_mount_namespace()
        linux.mount("rofs-scratch", SCRATCH, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, f"mode=0700,size={self.size}")
        for sub in ("l", "u", "w", "f", "root", "shm"):
            os.mkdir(f"{SCRATCH}/{sub}", 0o700)
        os.mkdir(DEVICES_DIR, 0o755)
        linux.make_devices(DEVICES_DIR)
        linux.mount("rofs-shm", self.shm, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV,
                     f"mode=1777,size={int(self.shm_size)}")
        handed = []
        for layer in self.layers:
            source = self.lower_root if layer.point == "/" else layer.point
            target = self.root if layer.point == "/" else self.root + layer.point
            if layer.kind == "file":
                copy = f"{SCRATCH}/f/{layer.index}"
                with open(source, "rb") as fin, open(copy, "wb") as fout:
                    fout.write(fin.read(64 << 20))
                linux.mount(copy, target, None, linux.MS_BIND)
                continue
            lower, upper, work = (f"{SCRATCH}/{d}/{layer.index}" for d in ("l", "u", "w"))
            for d in (lower, upper, work):
                os.mkdir(d, 0o755)
            linux.mount(source, lower, None, linux.MS_BIND)  # non-recursive: this file system only
            linux.mount("overlay", target, "overlay", 0, f"lowerdir={lower},upperdir={upper},workdir={work}")
            handed.append(os.open(upper, os.O_RDONLY | os.O_DIRECTORY))
        handed.append(os.open(f"{SCRATCH}/f", os.O_RDONLY | os.O_DIRECTORY))
        handed.append(os.open(self.shm, os.O_RDONLY | os.O_DIRECTORY))
        socket.send_fds(self.child, [b"rofs"], handed)

    def started(self) -> None:
        """In rofs, once the child ran: its error if the setup failed, else take the descriptors."""
        self.child.close()
        try:
            self.check()
        except SandboxError:
            self.parent.close()
            raise
        _, self.fds, _, _ = socket.recv_fds(self.parent, 64, 64)
        self.parent.close()

    def views(self) -> list[tuple[str, Path]]:
        """(where on the host, the upper layer as rofs sees it) for each overlay, then /dev/shm."""
        dirs = [layer for layer in self.layers if layer.kind == "dir"]
        out = [(layer.point, Path(f"/proc/self/fd/{fd}")) for layer, fd in zip(dirs, self.fds)]
        if len(self.fds) >= len(dirs) + 2:
            out.append(("/dev/shm", Path(f"/proc/self/fd/{self.fds[len(dirs) + 1]}")))
        return out

    def changed_files(self, process: str) -> list[tracer.WriteEvent]:
        """File mounts whose copy the program changed."""
        out: list[tracer.WriteEvent] = []
        if len(self.fds) < 2:
            return out
        copies = Path(f"/proc/self/fd/{self.fds[-2]}")
        for layer in self.layers:
            if layer.kind != "file":
                continue
            try:
                with open(layer.point, "rb") as handle:
                    original = handle.read(64 << 20)
                now = (copies / str(layer.index)).read_bytes()
            except OSError:
                continue
            if now != original:
                out.append(tracer.WriteEvent(0, process, "write-layer", layer.point, None, len(now), ""))
        return out

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


@dataclass(frozen=True)
class Stopping:
    """When rofs trace stops the program: once *ready* (polled for *ready_timeout* seconds) succeeded
    and *exercise* ran, or after *duration* seconds; with none of them, when it ends by itself."""

    duration: float | None = None
    ready: list[str] | None = None
    ready_timeout: float = 60.0
    exercise: list[str] | None = None


def run_traced(
    command: list[str],
    *,
    user: str | None = None,
    env: dict[str, str] | None = None,
    duration: float | None = None,
    ready: list[str] | None = None,
    ready_timeout: float = 60.0,
    exercise: list[str] | None = None,
    keep: str | None = None,
    shm_size: int = DEFAULT_SHM,
    image: ImageBundle | None = None,
    max_procs: int = DEFAULT_MAX_PROCS,
    confinement: Confinement | None = None,
    trace_opens: bool = False,
    scratch_size: int = DEFAULT_SCRATCH,
) -> TraceResult:
    """Run *command* on a scratch layer under strace; stop it after the exercise or *duration*.

    Opens are not traced unless *trace_opens*: they are most of a program's calls (reads too), the
    scratch layer holds every file opened for writing anyway, and only an open the program's
    permissions refuse is missed without them.

    The sandbox is ``rofs run``'s (container capabilities, seccomp, namespaces, /proc), with every
    path writable on the throw-away layer.  With *image*, the image's unpacked root is the
    lower layer instead of the host's, and the program runs as the image's user with its Env
    and WorkingDir.  SIGINT or SIGTERM to rofs stops the program and still gives the report.
    """
    from rofs.runtime.run import make_mount_points, program_env, resolve_identity

    strace = _require_trace_tools()
    confinement = confinement or Confinement()
    identity = resolve_identity(user, image)
    keep_dir = os.path.normpath(os.path.join(os.getcwd(), keep)) if keep else None
    lower_root = str(image.rootfs) if image is not None else "/"
    if image is not None:
        make_mount_points(image.rootfs, [])
    env = program_env(env, identity, image)
    cwd = image.cwd if image is not None else "/"
    search = (env if env is not None else os.environ).get("PATH")
    check_command(lower_root, command[0], search, cwd, "in the image" if image is not None else "on this machine")
    # --keep's directory is made (and held open) now, so no one can put theirs in its place.
    keep_host = hostpath.new_private_dir(keep_dir, "--keep") if keep_dir else None
    layers = [Layer("/", "dir", 0)] + ([] if image is not None else _submounts())
    scratch = Scratch(lower_root, layers, shm_size, scratch_size)
    spec = SandboxSpec(command=list(command), root=scratch.root, bind_root=True, shm_source=scratch.shm,
                       identity=identity, confinement=confinement, image=image is not None, sysfs=True,
                       env=env, cwd=cwd, devices=DEVICES_DIR)
    run = TracedRun(list(command), spec, scratch, lower_root, shm_size, keep_host)
    outputs = inherited_outputs()
    run.trace(strace, trace_opens, max_procs, Stopping(duration, ready, ready_timeout, exercise),
              host_env=image is None)
    return run.result(outputs, max_procs, keep_dir)


def _require_trace_tools() -> str:
    """What rofs trace needs of this machine; the path of strace."""
    if os.geteuid() != 0:
        raise SandboxError("rofs trace mounts an overlay in a private mount namespace: run it as root")
    require("bwrap", "bubblewrap")
    strace = require("strace", "strace")
    if not os.path.isdir("/dev/shm"):
        raise SandboxError("rofs trace builds its scratch layer over /dev/shm, which this machine lacks")
    return strace


class TracedRun:
    """One run of the program on the scratch layer under strace, and what it left: how it ended,
    the sizes sampled, the files on the scratch layer and the traced calls."""

    def __init__(self, command: list[str], spec: SandboxSpec, scratch: Scratch, lower_root: str, shm_size: int,
                 keep_host: hostpath.HostDir | None):
        self.command = command
        self.spec = spec
        self.scratch = scratch
        self.lower_root = lower_root
        self.shm_size = shm_size
        self.keep_host = keep_host
        self.notes: list[str] = []
        self.stop: list[int] = []  # the signals rofs was sent (it stops the program, then reports)
        self.sup: Supervisor | None = None
        self.start = time.monotonic()
        self.returncode: int | None = None
        self.peak_procs: int | None = None
        self.refused_forks: int | None = None
        self.stopped = False  # rofs stopped the program
        self.peak: dict[str, int] = {}
        self.final: dict[str, int] = {}
        self.written: list[tracer.WriteEvent] = []
        self.unnamed: list[Unnamed] = []  # files deleted while open, the largest each was seen
        self.is_dir: set[str] = set()
        self.seen: list[tracer.WriteEvent] = []
        self.stats: dict = {}

    def exists(self, path: str) -> bool:
        """In the lower layer: the image's root, or the host's."""
        return os.path.lexists(self.lower_root.rstrip("/") + path)

    def on_signal(self, signum: int, frame: object) -> None:
        """SIGINT/SIGTERM/SIGHUP to rofs: stop the program, then report."""
        self.stop.append(signum)
        if self.sup is not None:
            self.sup.signal_program(signum)

    def trace(self, strace: str, trace_opens: bool, max_procs: int, stopping: Stopping, host_env: bool) -> None:
        """Run the program to its end (or rofs' stop), measure the scratch layer, read the log."""
        confinement = self.spec.confinement
        status_r, status_w = os.pipe()
        seccomp = confine.seccomp_fds(confinement)
        previous = {s: signal.signal(s, self.on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        with tempfile.TemporaryFile(mode="w+b") as log:
            calls = tracer.TRACED_NO_DATA if trace_opens else tracer.TRACED_STRUCTURE
            argv = tracer.strace_argv(strace, f"/proc/{os.getpid()}/fd/{log.fileno()}", calls)
            argv += bwrap_argv(self.spec, status_w, seccomp)
            try:
                sup = Supervisor(argv, max_procs=max_procs, pass_fds=(status_w, *seccomp), status_r=status_r,
                                 env=self.spec.env if host_env else None, setup=self.scratch.setup, log=log.fileno())
                self.sup, self.start = sup, sup.start
                try:
                    self._supervise(sup, stopping)
                finally:
                    sup.finish()
                    self.scratch.close()
                    if self.keep_host is not None:
                        self.keep_host.close()
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
            if self.stop:
                self.notes.append(f"stopped by {signal.Signals(self.stop[0]).name} to rofs: the program was stopped"
                                  " and this is what it wrote until then")
            self._read_log(log)

    def _supervise(self, sup: Supervisor, stopping: Stopping) -> None:
        self.scratch.started()
        views = self.scratch.views()
        full: set[str] = set()  # layers seen full while the program ran
        unnamed: dict[str, Unnamed] = {}
        self.stopped = _drive(sup, views, self.peak, stopping, self.notes, self.stop, self.spec.confinement, full,
                              unnamed)
        self.unnamed = list(unnamed.values())
        self.returncode, self.peak_procs, self.refused_forks = sup.finish()
        if sup.aborted:
            raise SandboxError(f"{sup.aborted}: a trace missing what came after would not be the truth, so"
                               " there is none")
        if not ("exit-code" in sup.status or sup.seen_program):
            raise SandboxError("the sandbox did not start the program (bubblewrap's or the tracer's message is"
                               " above); nothing was traced, so there is no report")
        self._measure(views, full)
        if self.keep_host is not None:
            self.notes += _keep(self.scratch, self.keep_host)

    def _measure(self, views: list[tuple[str, Path]], full: set[str]) -> None:
        """The scratch layer at the end: sizes, fullness, and every file and directory written."""
        _sample(views, self.final)
        for key, value in self.final.items():
            self.peak[key] = max(self.peak.get(key, 0), value)
        _fullness(views, full)
        self.notes += _full_notes(views, self.shm_size, full)
        process = os.path.basename(self.command[0])
        self.written = written_files(views, process, self.exists) + self.scratch.changed_files(process) + [
            tracer.WriteEvent(0, f.process, "write-layer", f.path, None, None, "") for f in self.unnamed]
        self.notes += _unnamed_notes(self.unnamed)
        self.is_dir = {e.path for e in self.written if _is_dir_in_layers(e.path, views)}

    def _read_log(self, log: IO[bytes]) -> None:
        log.seek(0)
        stats: dict = {}
        lines = (line.decode("utf-8", "surrogateescape") for line in log)
        self.seen = list(tracer.events(lines, sandboxed=True, stats=stats,
                                       resolve=lambda path: resolve_in_root(self.lower_root, path)))
        if stats["execs"] < expected_execs(self.spec):
            raise SandboxError(f"{self.command[0]} was not started (the message above says why); nothing was traced,"
                               " so there is no report")
        self.stats = stats

    def result(self, outputs: set[str], max_procs: int, keep_dir: str | None) -> TraceResult:
        """The inventory and the notes (*outputs*: rofs' own stdin/stdout/stderr, not the program's paths)."""
        from rofs.runtime.run import left_behind, mount_refused

        notes = self.notes
        for event in [e for e in self.seen if e.syscall in tracer.MOUNT_CALLS]:
            if event.errno and mount_refused(event) not in notes:
                notes.append(mount_refused(event))
        seen = [e for e in self.seen if e.syscall not in tracer.MOUNT_CALLS]
        notes += refused_notes(seen)
        if self.stats["left"] and not self.stop:
            notes.append(left_behind(self.stats["left"]))
        paths = inventory(seen + self.written, None, self.peak, inherited=outputs, dirs=self.is_dir, final=self.final,
                          exists=self.exists, root=self.lower_root, notes=notes)
        if self.refused_forks:
            notes.append(f"the program reached the process limit ({max_procs} processes): forks beyond it failed"
                         " (EAGAIN)")
        return TraceResult(list(self.command), self.returncode, time.monotonic() - self.start, paths, len(seen),
                           keep_dir, notes, self.peak_procs, self.refused_forks, self.spec.identity,
                           self.spec.confinement, self.stopped or bool(self.stop))


def refused_notes(events: list[tracer.WriteEvent]) -> list[str]:
    """Writes refused although every path is writable on the scratch layer: permissions (the user
    the program runs as may not write there), a full /dev/shm or scratch layer, unreadable paths."""
    out: list[str] = []
    grouped: dict[tuple[str, str], list[tracer.WriteEvent]] = {}
    for event in events:
        if event.errno in tracer.REFUSALS and not _noise(event.path):
            grouped.setdefault((event.errno, event.path), []).append(event)
    for (errno, path), hits in sorted(grouped.items()):
        first = hits[0]
        who = f"{first.process} (uid {first.uid})" if first.uid is not None else first.process
        what = "its path could not be read" if path == tracer.UNREADABLE else path
        note = f"refused: {who}'s {first.syscall} {what}: {tracer.REFUSALS[errno]}"
        if errno in ("EACCES", "EPERM"):
            note += " (the user it runs as may not write there: an ownership or permission problem, not a read-only one)"
        out.append(note + (f" ({len(hits)} times)" if len(hits) > 1 else ""))
    return out


def _keep(scratch: Scratch, keep: hostpath.HostDir) -> list[str]:
    """Copy the scratch layers out (plain files only; nothing special reaches the host)."""
    notes = []
    names = {"/": "upper", "/dev/shm": "shm"}
    layers_fd = None
    try:
        for i, (point, view) in enumerate(scratch.views()):
            fd = os.open(view, os.O_RDONLY | os.O_DIRECTORY)
            try:
                if point not in names and not os.listdir(fd):
                    continue  # a file system the program did not write
                if point in names:
                    parent, name = keep.fd, names[point]
                else:
                    if layers_fd is None:
                        os.mkdir("layers", 0o700, dir_fd=keep.fd)
                        layers_fd = os.open("layers", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=keep.fd)
                    parent, name = layers_fd, str(i)
                    notes.append(f"kept {point} as {keep.path}/layers/{i}")
                copied = hostpath.copy_out(fd, parent, name, f"{keep.path}/{name}", prefix=point.rstrip("/"))
            finally:
                os.close(fd)
            notes += [f"--keep: {d}" for d in copied.dropped]
            if copied.deleted:
                notes.append(f"--keep: the program removed {len(copied.deleted)} path(s) (overlay whiteouts, not copied):"
                             f" {', '.join(copied.deleted[:5])}{' ...' if len(copied.deleted) > 5 else ''}")
    finally:
        if layers_fd is not None:
            os.close(layers_fd)
    return notes


PSEUDO_FS = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "mqueue", "securityfs", "debugfs", "tracefs", "bpf",
    "pstore", "fusectl", "configfs", "binfmt_misc", "hugetlbfs", "autofs", "efivarfs", "nsfs", "rpc_pipefs",
    "overlay", "fuse.lxcfs"
})


def _submounts() -> list[Layer]:
    """Real file systems mounted below / (outside /proc, /sys and /dev), parents first: directories
    get an overlay each, file mounts a writable copy."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    points: dict[str, str] = {}
    for line in lines:
        fields = line.split(" ")
        sep = fields.index("-")
        point, fstype = _octal(fields[4]), fields[sep + 1]
        if point == "/" or fstype in PSEUDO_FS or any(point == p or point.startswith(p + "/") for p in NOISE_PREFIXES):
            continue  # /proc, /sys and /dev (with /dev/shm, where the scratch layer lives) are the sandbox's own
        try:
            st = os.lstat(point)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            points[point] = "dir"
        elif stat.S_ISREG(st.st_mode):
            points[point] = "file"
        # a socket, FIFO or device mounted over a file (Docker's socket in a CI container): left as
        # it is under the overlay (the socket masks cover sockets)
    ordered = sorted(points, key=lambda p: (p.count("/"), p))
    # A file system mounted over another at the same place: only the top one is seen.
    return [Layer(point, points[point], i + 1) for i, point in enumerate(ordered)]


def _octal(field: str) -> str:
    """A mountinfo path: spaces, tabs, newlines and backslashes are octal escapes there."""
    return os.fsdecode(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), os.fsencode(field)))


def _drive(sup: Supervisor, layers: list[tuple[str, Path]], peak: dict[str, int], stopping: Stopping,
           notes: list[str], stop: list[int], confinement: Confinement, full: set[str],
           unnamed: dict[str, Unnamed]) -> bool:
    """Wait for readiness, exercise, then stop the program; sample the scratch layer meanwhile, and
    the files deleted while open (*unnamed*, the largest each was seen).
    True when rofs stopped it (False: it ended by itself)."""
    duration, ready, ready_timeout, exercise = stopping.duration, stopping.ready, stopping.ready_timeout, stopping.exercise

    def ended() -> bool:
        sup.read_status()
        return bool(stop) or "exit-code" in sup.status or sup.proc.poll() is not None

    pause = [SAMPLE_EVERY]
    due = [0.0]
    walked: list[dict[str, int]] = [{}]

    def held() -> list[Unnamed]:
        now = unnamed_files(descendants(sup.proc.pid), layers)
        for file in now:
            if file.size >= unnamed.get(file.path, Unnamed(file.path, -1, "")).size:
                unnamed[file.path] = file
        return now

    def sample() -> None:
        start = time.monotonic()
        walked[0] = _sample(layers, peak, held())
        _fullness(layers, full)
        pause[0] = max(SAMPLE_EVERY, (time.monotonic() - start) / SAMPLE_SHARE)
        due[0] = time.monotonic() + pause[0]

    def tick() -> None:  # while an exercise runs: the layers as often as their size allows, descriptors always
        if time.monotonic() >= due[0]:
            sample()
        else:
            _raise_with(peak, walked[0], held())

    def alive_for(seconds: float, until: Callable[[], bool] | None = None) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if ended():
                return False
            if until is not None and until():
                return True
            if until is None:
                tick()
                sup.read_status(min(DESCRIPTORS_EVERY, max(0.0, end - time.monotonic())))
            else:
                sample()
                sup.read_status(SAMPLE_EVERY)
        return until is None

    ok = True
    if ready:
        ok = alive_for(ready_timeout, lambda: _helper(sup, ready, confinement, stop) == 0)
        if not ok and not stop:
            notes.append("the program exited before it was ready" if ended() else
                         f"the program never became ready (--ready did not succeed within {ready_timeout:g} s):"
                         " --exercise was not run")
    if exercise and ok and not ended():
        code = _helper(sup, exercise, confinement, stop, notes=notes, tick=tick)
        if code not in (0, None):
            notes.append(f"the exercise command exited {code}")
        sample()
    if duration is not None:
        alive_for(duration)
    elif not (ready or exercise):
        while not ended():  # no stop condition: trace until the program ends
            sample()
            sup.read_status(pause[0])
    return _stop(sup, stop, notes)


def _stop(sup: Supervisor, stop: list[int], notes: list[str]) -> bool:
    """Stop the program (SIGTERM, then everything in the sandbox 10 s later); True when rofs stopped
    it (False: it had ended by itself)."""
    if "exit-code" in sup.status or sup.proc.poll() is not None:
        return bool(stop)
    if not stop:
        sup.signal_program(signal.SIGTERM)
    end = time.monotonic() + 10
    while sup.read_status(0.2).get("exit-code") is None and sup.proc.poll() is None and time.monotonic() < end:
        pass
    if sup.status.get("exit-code") is None and sup.proc.poll() is None:
        notes.append("the program did not stop on SIGTERM within 10 s: killed")
        # Everything in the sandbox's PID namespace at once: a shell, a daemon in its own
        # session or a fork bomb is not missed by a list of processes taken a moment before.
        sup.kill()
    return True


def _helper(sup: Supervisor, argv: list[str], confinement: Confinement, stop: list[int],
            notes: list[str] | None = None, tick: Callable[[], None] | None = None) -> int | None:
    """Run --ready or --exercise on the host (in the program's network namespace with --network
    none); it ends when the program does or rofs is told to stop.  *tick* is called while it runs
    (the sizes are sampled during an exercise, when spill files come and go)."""
    if confinement.network == "none":
        pid = sup.program_pid()
        if pid is None:
            return None
        argv = [require("nsenter", "util-linux"), f"--net=/proc/{pid}/ns/net", "--", *argv]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
        while proc.poll() is None:
            if stop or "exit-code" in sup.read_status(DESCRIPTORS_EVERY) or sup.proc.poll() is not None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return None
            if tick is not None:
                tick()
        err.seek(0)
        said = err.read()[-4000:].decode("utf-8", "replace").strip().splitlines()
    if proc.returncode and notes is not None and said:
        notes.append(f"the exercise command said: {' | '.join(line.strip() for line in said[-2:])[-300:]}")
    return proc.returncode


def _fullness(layers: list[tuple[str, Path]], full: set[str]) -> None:
    """Note the scratch file systems that have (next to) no room left now."""
    for point, upper in layers:
        try:
            stat_ = os.statvfs(upper)
        except OSError:
            continue
        if stat_.f_bavail * stat_.f_frsize < 64 << 10:
            full.add("/dev/shm" if point == "/dev/shm" else "scratch")


def _unnamed_notes(files: list[Unnamed]) -> list[str]:
    """Where the program held files deleted while open: their bytes are in the place's peak."""
    by_dir: dict[str, list[Unnamed]] = {}
    for file in files:
        by_dir.setdefault(os.path.dirname(file.path) or "/", []).append(file)
    return [f"{directory}: {len(held)} file(s) deleted while open or made with no name (spill files of"
            f" {', '.join(sorted({f.process for f in held}))}, up to {_human(max(f.size for f in held))} each) are"
            " counted in its peak: no listing of the directory shows them"
            for directory, held in sorted(by_dir.items())]


def _full_notes(layers: list[tuple[str, Path]], shm_size: int, full: set[str]) -> list[str]:
    """A note for each scratch file system the program filled, now or at a moment it was sampled
    (its writes then failed with ENOSPC, even if it freed the room later)."""
    notes = []
    if "/dev/shm" in full:
        notes.append(f"/dev/shm is full ({format_quantity(shm_size)}): writes there beyond its size failed"
                     " with ENOSPC; give it more room")
    if "scratch" in full:
        sizes = [os.statvfs(upper) for point, upper in layers if point == "/"]
        total = _human(sizes[0].f_blocks * sizes[0].f_frsize) if sizes else "its size"
        notes.append(f"the scratch layer is full ({total}): writes failed with ENOSPC")
    return notes


def descendants(pid: int) -> list[int]:
    """*pid* and every process below it, from /proc (the sandbox's processes, seen from the host)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat_ = f.read()
        except OSError:
            continue
        fields = stat_[stat_.rfind(b")") + 2:].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, ()))
    return out


@dataclass(frozen=True)
class Unnamed:
    """A file a process holds open after deleting it, or made with no name (O_TMPFILE)."""
    path: str  # as the process sees it (``/var/tmp/#1234``: O_TMPFILE's)
    size: int  # bytes it holds
    process: str


def unnamed_files(pids: Iterable[int], layers: list[tuple[str, Path]]) -> list[Unnamed]:
    """The files the processes keep open after deleting them, or made with no name (O_TMPFILE):
    spill files (MariaDB's sort files and temporary tables in its tmpdir, Java's and Python's
    TemporaryFile) that no walk of the scratch layer sees.  Only files under a traced place count."""
    seen: set[tuple[int, int]] = set()
    out: list[Unnamed] = []
    points = [point for point, _ in layers]
    pids = list(pids)
    try:  # the first is rofs' own tracer, outside the sandbox: only the sandbox's mount namespace counts
        outside = os.readlink(f"/proc/{pids[0]}/ns/mnt") if pids else ""
    except OSError:
        outside = ""
    for pid in pids:
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") == outside:
                continue
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if not target.endswith(" (deleted)") or not target.startswith("/") or target.startswith("/memfd:"):
                    continue
                st = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            path = target[: -len(" (deleted)")]
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in seen or path.startswith(("/proc/", "/dev/")) \
                    and not path.startswith("/dev/shm/"):
                continue
            if not any(path_covers(point, path) for point in points):
                continue
            seen.add((st.st_dev, st.st_ino))
            try:
                with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
                    process = f.read().strip()
            except OSError:
                process = f"pid {pid}"
            out.append(Unnamed(_normalise_join("/", path), min(st.st_size, st.st_blocks * 512), process))
    return out


def _sample(layers: list[tuple[str, Path]], peak: dict[str, int], unnamed: Iterable[Unnamed] = ()) -> dict[str, int]:
    """Bytes now held under every directory of the scratch layers (for the peak sizes), with the
    *unnamed* files (deleted while open) the walk cannot see; returns what the walk found (for
    :func:`_raise_with`, between walks)."""
    walked: dict[str, int] = {}
    for point, upper in layers:
        for dirpath, _, files in walk(upper):
            total = 0
            for name in files:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_size
                except OSError:
                    pass
            rel = os.path.relpath(dirpath, upper)
            _add_up(walked, _normalise_join(point, "" if rel == "." else rel), total)
    _raise_with(peak, walked, unnamed)
    return walked


def _raise_with(peak: dict[str, int], walked: dict[str, int], unnamed: Iterable[Unnamed]) -> None:
    """Raise *peak* to what the layers held at the last walk plus the *unnamed* files held now: the
    open descriptors are cheap to read, so they are read far more often than the layers are walked
    (a sort's spill files live for a second or two)."""
    sizes = dict(walked)
    for file in unnamed:
        _add_up(sizes, os.path.dirname(file.path) or "/", file.size)
    for key, value in sizes.items():
        if value > peak.get(key, 0):
            peak[key] = value


def _add_up(sizes: dict[str, int], node: str, amount: int) -> None:
    """*amount* bytes held in directory *node*: counted there and in every directory above it."""
    while True:
        sizes[node] = sizes.get(node, 0) + amount
        if node == "/":
            break
        node = node.rsplit("/", 1)[0] or "/"


def walk(top: str | Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """os.walk without recursion (Python 3.11's recurses: a program that makes directories 1,000
    deep would crash it) and without following links; unreadable directories are skipped."""
    stack = [str(top)]
    while stack:
        path = stack.pop()
        dirs: list[str] = []
        files: list[str] = []
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    try:
                        (dirs if entry.is_dir(follow_symlinks=False) else files).append(entry.name)
                    except OSError:
                        files.append(entry.name)
        except OSError:
            continue
        yield path, dirs, files
        stack.extend(os.path.join(path, d) for d in reversed(dirs))


def _normalise_join(point: str, rel: str) -> str:
    return ("/" + "/".join(p for p in (point.strip("/"), rel.strip("/")) if p)) if (point != "/" or rel) else "/"


# --- the inventory ------------------------------------------------------------------


def _noise(path: str) -> bool:
    if path.startswith("/dev/shm/") or path == "/dev/shm":
        return False
    return any(path == p or path.startswith(p + "/") for p in NOISE_PREFIXES)


def inherited_outputs() -> set[str]:
    """Where rofs' own stdin/stdout/stderr point: the program inherits them, they are not its paths."""
    out = set()
    for fd in (0, 1, 2):
        try:
            out.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return out


def mount_for(path: str, is_dir: bool, exists: Callable[[str], bool] = os.path.lexists) -> str:
    """The directory a mount needs so that this write works with a read-only root.

    A file written into a directory the image has: that directory.  Something created in a
    directory the program made first: the first directory it made (the mount point)."""
    parts = path.strip("/").split("/")
    existing = "/"
    for i in range(len(parts)):
        candidate = "/" + "/".join(parts[: i + 1])
        if not exists(candidate):
            created = candidate
            if created == path and not is_dir:
                return existing
            return created
        existing = candidate
    return path if is_dir else (path.rsplit("/", 1)[0] or "/")


def collapse_all(points: Iterable[str], root: str | None = None) -> list[str]:
    """Merge siblings up the tree until nothing changes (base/1, base/16384 -> base -> PGDATA).
    With the image's *root*, siblings are merged only into a parent whose files in the image are
    all among them (mosquitto's /var/log/mosquitto stays apart from /var/log's other entries)."""
    mergeable = None if root is None else partial(_only_these, root)
    current = tracer.collapse(points, mergeable)
    while True:
        merged = tracer.collapse(current, mergeable)
        if merged == current:
            return current
        current = merged


def _only_these(root: str, parent: str, children: list[str]) -> bool:
    """Whether the image has nothing in *parent* but *children* (or no such directory)."""
    try:
        entries = os.listdir(root.rstrip("/") + parent)
    except OSError:
        return True
    names = {c.rsplit("/", 1)[-1] for c in children}
    return all(name in names for name in entries)


def _runtime_file(path: str) -> bool:
    """A PID file, a lock or a socket (``.s.PGSQL.5432`` and its ``.lock``); a file in a hidden
    directory (``~/.local/share/caddy/pki/...``) is not one for that alone."""
    name = path.rsplit("/", 1)[-1]
    return name.endswith((".pid", ".lock", ".sock")) or name.startswith(".s.")


def classify(point: str, files: list[str], sockets: bool) -> tuple[VolumeKind, str]:
    if point == "/dev/shm" or point.startswith("/dev/shm/"):
        return VolumeKind.MEMORY, "POSIX shared memory (/dev/shm)"
    reason = scratch_reason(point)
    if reason is not None:
        return VolumeKind.EPHEMERAL, reason
    if files and all(_runtime_file(f) for f in files) or sockets and not files:
        return VolumeKind.EPHEMERAL, "only sockets, PID and lock files"
    return VolumeKind.PERSISTENT, "files the program keeps (not a temp, cache, log or runtime location): persist them"


def inventory(events: list[tracer.WriteEvent], layers: list[tuple[str, Path]] | None, peak: dict[str, int],
              exists: Callable[[str], bool] = os.path.lexists, inherited: AbstractSet[str] = frozenset(),
              dirs: AbstractSet[str] = frozenset(), final: dict[str, int] | None = None,
              root: str = "/", notes: list[str] | None = None) -> list[TracedPath]:
    """The directories a mount needs.  Bytes written: from traced write calls when the log has
    them (``--from-strace``), else what the scratch layer holds at the end; the peak is the
    largest size sampled while the program ran.  A place no volume may go (/, /etc, /usr ...:
    rofs.diagnose.placement) is no path of the result: what to do instead goes to *notes*."""
    if final is None:
        final = {}
        if layers:
            _sample(layers, final)
    points: dict[str, list[tracer.WriteEvent]] = {}
    writes = ("write", "pwrite64", "writev", "pwritev")
    for event in events:
        if event.errno is not None or _noise(event.path) or (event.syscall in writes and event.path in inherited):
            continue
        is_dir = event.syscall in ("mkdir", "mkdirat") or event.path in dirs or _is_dir_in_layers(event.path, layers)
        points.setdefault(mount_for(event.path, is_dir, exists), []).append(event)
    out = []
    for point in collapse_all((p for p in points if p != "/"), root):
        hits = [e for p, es in points.items() if path_covers(point, p) for e in es]
        files = sorted({e.path for e in hits if e.syscall not in ("mkdir", "mkdirat", "bind")})
        sockets = any(e.syscall == "bind" for e in hits)
        processes = sorted({e.process for e in hits if e.pid} or {e.process for e in hits})
        why = refused(point, files[0] if files else point, ", ".join(processes))
        if why is not None:
            if notes is not None and why not in notes:
                notes.append(why + (f" ({len(files)} files there)" if len(files) > 1 else ""))
            continue
        kind, reason = classify(point, files, sockets)
        traced_bytes = sum(e.result or 0 for e in hits if e.syscall in ("write", "pwrite64", "writev", "pwritev"))
        written = traced_bytes or final.get(point, 0)
        hidden = 0
        conventional = any(point == top for top in ("/tmp", "/var/tmp", "/run", "/var/run"))  # empty in images
        on_disk = root.rstrip("/") + point
        if not conventional and exists(point) and os.path.isdir(on_disk) and kind is not VolumeKind.MEMORY:
            try:
                hidden = len(os.listdir(on_disk))
            except OSError:
                hidden = 0
        out.append(TracedPath(
            path=point, kind=kind, reason=reason, bytes_written=written, peak_bytes=peak.get(point, 0),
            processes=processes,
            calls=sorted({e.syscall for e in hits} - {"write-layer"}) or ["open for writing"], hidden_files=hidden,
        ))
    return out


def written_files(layers: list[tuple[str, Path]], process: str,
                  exists: Callable[[str], bool] = os.path.lexists) -> list[tracer.WriteEvent]:
    """Everything the scratch layers hold, as write events: files created, changed or deleted
    (overlayfs whiteouts), and directories the program created."""
    out = []
    for point, upper in layers:
        for dirpath, dirnames, files in walk(upper):
            rel = os.path.relpath(dirpath, upper)
            base = _normalise_join(point, "" if rel == "." else rel)
            for name in files:
                out.append(tracer.WriteEvent(0, process, "write-layer", f"{base.rstrip('/')}/{name}", None, None, ""))
            for name in dirnames:
                path = f"{base.rstrip('/')}/{name}"
                if not exists(path):
                    out.append(tracer.WriteEvent(0, process, "mkdir", path, None, None, ""))
    return out


def _is_dir_in_layers(path: str, layers: list[tuple[str, Path]] | None) -> bool:
    for point, upper in sorted(layers or [], key=lambda layer: -len(layer[0])):
        if path_covers(point, path):
            rel = path[len(point.rstrip("/")):].lstrip("/")
            return (upper / rel).is_dir()
    return False


def as_profile(result: TraceResult, name: str | None = None) -> dict:
    base = name or os.path.basename(result.command[0]) or "app"
    name = "".join(ch if ch.isalnum() else "-" for ch in base.lower()).strip("-") or "app"
    paths = []
    for p in result.paths:
        item = {
            "path": p.path,
            "name": volume_name_for(p.path),
            "purpose": f"written by {', '.join(p.processes)} ({', '.join(p.calls)})",
            "kind": p.kind.value,
            "size": format_quantity(p.suggested_size),
            "required": True,
            "breaks": "writes fail with EROFS under a read-only root (seen by rofs trace)",
            "sources": ["rofs-trace"],
            "observed": {"bytes_written": p.bytes_written, "peak_bytes": p.peak_bytes,
                         "processes": p.processes, "reason": p.reason},
        }
        if p.hidden_files:
            item["populated"] = True
        paths.append(item)
    return {
        "name": name,
        "title": name,
        "description": f"Writable paths of `{' '.join(result.command)}`, learnt by rofs trace.",
        "generated_by": "rofs trace",
        "layouts": [{"id": "host", "description": "the program as traced on this host"}],
        "paths": paths,
        "sources": [{
            "id": "rofs-trace",
            "title": f"rofs trace of {' '.join(result.command)} on {datetime.date.today().isoformat()}"
                     f" ({result.events} write calls)",
            "ref": "rofs trace",
        }],
    }


def sandbox_dict(result: TraceResult) -> dict:
    ident = result.identity
    return {
        "network": result.confinement.network,
        "seccomp": result.confinement.seccomp,
        "capabilities": list(result.confinement.effective(ident.uid if ident else os.geteuid())),
        "bounding": list(result.confinement.capabilities),
        "user": None if ident is None else {"spec": ident.spec, "uid": ident.uid, "gid": ident.gid,
                                            "groups": list(ident.groups), "name": ident.name, "home": ident.home},
    }


def render_text(result: TraceResult) -> str:
    how = ("stopped by rofs" if result.stopped else "ended by itself") if result.returncode is not None else "not run"
    state = f"exit {result.returncode} ({how})" if result.returncode is not None else how
    lines = [(f"rofs trace: {shlex.join(result.command)}: {state} after {result.duration:.1f} s;"
              f" {len(result.paths)} path(s) written, {result.events} traced write calls")]
    who = result.identity.describe() if result.identity else f"rofs' own user (uid {os.geteuid()})"
    if result.duration or result.returncode is not None:
        lines.append(f"sandbox: {result.confinement.describe()}; user {who}")
    if not result.paths and any(n.startswith("refused: ") for n in result.notes):
        lines.append("it wrote nothing it was allowed to write: see the refused writes below")
    elif not result.paths and result.returncode not in (0, None) and not result.stopped:
        lines.append(f"it wrote nothing outside /proc, /sys and /dev, and it failed (exit {result.returncode}):"
                     " see its own output above")
    elif not result.paths:
        lines.append("it wrote nothing outside /proc, /sys and /dev: it runs with a read-only root as it is")
    else:
        width = max(len(p.path) for p in result.paths)
        lines.append(f"  {'path':<{width}}  {'kind':<10} {'written':>9} {'peak':>9} {'suggest':>8}  processes / why")
        for p in result.paths:
            lines.append(
                f"  {p.path:<{width}}  {p.kind.value:<10} {_human(p.bytes_written):>9} {_human(p.peak_bytes):>9}"
                f" {format_quantity(p.suggested_size):>8}  {', '.join(p.processes)}; {p.reason}"
            )
            if p.hidden_files:
                lines.append(f"  {'':<{width}}  ! the image has {p.hidden_files} entries here: a mount hides them"
                             " (copy them in with an init step, or mount a narrower path)")
    lines += [f"note: {n}" for n in result.notes]
    if result.scratch:
        lines.append(f"scratch layer kept at {result.scratch}")
    return "\n".join(printable(line) for line in lines) + "\n"


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
