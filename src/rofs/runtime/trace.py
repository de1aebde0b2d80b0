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
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from rofs.generate.plan import volume_name_for
from rofs.model import VolumeKind, path_covers
from rofs.runtime import tracer
from rofs.runtime.sandbox import (
    DEFAULT_MAX_PROCS,
    DEFAULT_SHM,
    ProcessLimit,
    SandboxError,
    _end_orphans,
    _signal_group,
    _signal_program,
    cap_args,
    kill_sandbox,
    require,
    setpriv_args,
)
from rofs.units import format_quantity

if TYPE_CHECKING:
    from rofs.runtime.image import ImageBundle

NOISE_PREFIXES = ("/proc", "/sys", "/dev")
EPHEMERAL_TOPS = ("/tmp", "/var/tmp", "/run", "/var/run", "/var/cache", "/var/log", "/var/lock")
EPHEMERAL_WORDS = ("cache", "tmp", "temp", "log", "logs", "run", "lock", "sock")
MIB = 1 << 20
SAMPLE_EVERY = 0.5  # seconds between measurements of the scratch layer (peak sizes)


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


# --- running ---------------------------------------------------------------------------


def run_traced(
    command: list[str],
    *,
    user: str | None = None,
    duration: float | None = None,
    ready: list[str] | None = None,
    ready_timeout: float = 60.0,
    exercise: list[str] | None = None,
    keep: str | None = None,
    shm_size: int = DEFAULT_SHM,
    image: "ImageBundle | None" = None,
    max_procs: int = DEFAULT_MAX_PROCS,
) -> TraceResult:
    """Run *command* on a scratch layer under strace; stop it after the exercise or *duration*.

    With *image*, the image's unpacked root is the lower layer instead of the host's, the
    program runs as the image's user with its Env and WorkingDir, and strace watches from
    outside the sandbox (the image has no strace; bubblewrap's own calls are left out).

    The scratch layer is a tmpfs mounted in the private mount namespace (an upper layer on the
    same disk as the host root made PostgreSQL's start-up twice as slow), so rofs looks at it
    through ``/proc/PID/root`` while the namespace lives, and ``--keep`` copies it out.
    ``/dev/shm`` is a tmpfs of its own, *shm_size* bytes, as in ``rofs run``; the whole tree
    (wrapper, bubblewrap, strace, the program) is in a pids cgroup of *max_procs* processes.
    """
    if os.geteuid() != 0:
        raise SandboxError("rofs trace mounts an overlay in a private mount namespace: run it as root")
    unshare = require("unshare", "util-linux")
    bwrap = require("bwrap", "bubblewrap")
    strace = require("strace", "strace")
    base = Path(tempfile.mkdtemp(prefix="rofs-trace-", dir="/var/tmp"))  # a mount point; stays empty on disk
    keep_dir = Path(keep).resolve() if keep else None
    if keep_dir is not None:
        keep_dir.mkdir(parents=True, exist_ok=True)
    # The root file system, then every other real file system mounted under it (/run, /tmp,
    # /home ... when they are separate), each with its own upper layer; /dev/shm as well.
    lower_root = str(image.rootfs) if image is not None else "/"
    submounts = [] if image is not None else _submounts(base)
    layers = [("/", base / "upper")] + [(m, base / "layers" / str(i) / "upper") for i, m in enumerate(submounts)]
    shm = base / "shm"
    script = ["set -e", f"mount -t tmpfs -o mode=0755 rofs-scratch '{base}'", f"mkdir -p '{base}/root' '{shm}'",
              f"mount -t tmpfs -o mode=1777,size={int(shm_size)} rofs-shm '{shm}'"]
    for point, layer_upper in layers:
        layer_work = layer_upper.parent / "work"
        target = base / "root" if point == "/" else base / "root" / point.lstrip("/")
        script.append(f"mkdir -p '{layer_upper}' '{layer_work}'")
        lower = lower_root if point == "/" else point
        script.append(f"mount -t overlay overlay -o 'lowerdir={lower},upperdir={layer_upper},workdir={layer_work}' '{target}'")
    status_r, status_w = os.pipe()
    release_r, release_w = os.pipe()
    script += [
        "trap : INT TERM HUP QUIT",  # a handler, not SIG_IGN: the program still gets default signals
        "set +e",
        '"$@"',
        "rc=$?",
        f'echo "$rc" >&{status_w}',
        f"read _ <&{release_r} || true",
    ]
    if keep_dir is not None:
        script.append(f"cp -a '{base}/upper' '{shm}' '{keep_dir}/' && if [ -d '{base}/layers' ]; then cp -a '{base}/layers' '{keep_dir}/'; fi")
    script.append('exit "$rc"')
    notes: list[str] = []
    outputs = inherited_outputs()

    def exists(path: str) -> bool:  # in the lower layer: the image's root, or the host's
        return os.path.lexists(lower_root.rstrip("/") + path)

    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as log:
        strace_args = tracer.strace_argv(strace, log.fileno(), tracer.TRACED_STRUCTURE)
        box = [bwrap, "--bind", str(base / "root"), "/", "--dev", "/dev", "--proc", "/proc",
               "--bind", str(shm), "/dev/shm", "--unshare-pid", "--die-with-parent"]
        if image is None:
            box += cap_args()
        if image is not None:
            from rofs.runtime.run import _ids

            uid, gid = _ids(user) if user else (image.uid, image.gid)
            box += ["--unshare-user", "--uid", str(uid), "--gid", str(gid), "--chdir", image.cwd, "--clearenv"]
            for key, value in image.env.items():
                box += ["--setenv", key, value]
            sandbox = [*strace_args, *box, "--", *command]
        else:
            box += ["--chdir", "/"]
            sandbox = [*box, "--", *strace_args, *(setpriv_args(user) if user else []), *command]
        argv = [unshare, "--mount", "--propagation", "private", "--", "sh", "-c", "\n".join(script), "sh", *sandbox]
        peak: dict[str, int] = {}
        start = time.monotonic()
        limit = ProcessLimit(max_procs)
        try:
            proc = subprocess.Popen(argv, pass_fds=(log.fileno(), status_w, release_r), start_new_session=True,
                                    preexec_fn=limit.enter)
        except BaseException:
            limit.close()
            raise
        os.close(status_w)
        os.close(release_r)
        view = Path(f"/proc/{proc.pid}/root")
        views = [(point, view / str(upper).lstrip("/")) for point, upper in layers] + [("/dev/shm", view / str(shm).lstrip("/"))]
        status = _Status(status_r)
        returncode: int | None = None
        written: list[tracer.WriteEvent] = []
        final = {}
        is_dir: set[str] = set()
        try:
            _drive(proc, status, views, peak, duration, ready, ready_timeout, exercise, notes)
            returncode = status.wait(30)
            final: dict[str, int] = {}
            _sample(views, final)
            for key, value in final.items():
                peak[key] = max(peak.get(key, 0), value)
            notes += _full_notes(views, shm_size)
            written = written_files(views, os.path.basename(command[0]), exists)
            is_dir = {e.path for e in written if _is_dir_in_layers(e.path, views)}
        finally:
            os.close(release_w)
            status.close()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                kill_sandbox(proc)
                _signal_group(proc, 9)
                proc.wait()
            peak_procs, refused_forks = limit.peak(), limit.refused()
            limit.close()
            try:
                base.rmdir()
            except OSError:
                pass
        elapsed = time.monotonic() - start
        log.seek(0)
        seen = [e for e in tracer.events(log) if e.process != "bwrap"]
    from rofs.runtime.run import mount_refused

    for event in [e for e in seen if e.syscall in tracer.MOUNT_CALLS]:
        if event.errno and mount_refused(event) not in notes:
            notes.append(mount_refused(event))
    seen = [e for e in seen if e.syscall not in tracer.MOUNT_CALLS]
    paths = inventory(seen + written, None, peak, inherited=outputs, dirs=is_dir, final=final, exists=exists,
                      root=lower_root)
    if refused_forks:
        notes.append(f"the program reached the process limit ({max_procs} processes): forks beyond it failed (EAGAIN)")
    result = TraceResult(list(command), returncode if returncode is not None else proc.returncode, elapsed, paths,
                         len(seen), str(keep_dir) if keep_dir else None, notes, peak_procs, refused_forks)
    return result


class _Status:
    """The wrapper's report that the program ended (its exit code), read without blocking."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buf = b""
        self.code: int | None = None

    def done(self) -> bool:
        import select

        if self.code is None:
            ready, _, _ = select.select([self.fd], [], [], 0)
            if ready:
                chunk = os.read(self.fd, 64)
                self.buf += chunk
                if b"\n" in self.buf or not chunk:
                    text = self.buf.decode().strip()
                    self.code = int(text) if text.lstrip("-").isdigit() else -1
        return self.code is not None

    def wait(self, timeout: float) -> int | None:
        end = time.monotonic() + timeout
        while not self.done() and time.monotonic() < end:
            time.sleep(0.05)
        return self.code

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


PSEUDO_FS = frozenset(
    "proc sysfs devtmpfs devpts cgroup cgroup2 mqueue securityfs debugfs tracefs bpf pstore fusectl configfs "
    "binfmt_misc hugetlbfs autofs efivarfs nsfs rpc_pipefs overlay fuse.lxcfs".split()
)


def _submounts(scratch: Path) -> list[str]:
    """Real file systems mounted below / (outside /proc, /sys, /dev and the scratch dir), parents first."""
    points = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split(" ")
        sep = fields.index("-")
        point, fstype = fields[4].replace("\\040", " "), fields[sep + 1]
        if point == "/" or fstype in PSEUDO_FS or _noise(point) or point.startswith(str(scratch)):
            continue
        if any(ch in point for ch in "'\n"):
            continue
        points.append(point)
    return sorted(set(points), key=lambda p: (p.count("/"), p))


def _drive(proc, status: "_Status", layers, peak: dict[str, int], duration, ready, ready_timeout, exercise, notes) -> None:
    """Wait for readiness, exercise, then stop the program; sample the scratch layer meanwhile."""
    def alive_for(seconds: float, until: Callable[[], bool] | None = None) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if status.done() or proc.poll() is not None:
                return False
            if until is not None and until():
                return True
            _sample(layers, peak)
            _pause(status, SAMPLE_EVERY)
        return until is None

    if ready:
        ok = alive_for(ready_timeout, lambda: subprocess.run(ready, capture_output=True).returncode == 0)
        if not ok:
            notes.append("the program exited before it was ready" if status.done() else "the program never became ready")
    if exercise and not status.done():
        done = subprocess.run(exercise, capture_output=True, text=True)
        if done.returncode != 0:
            notes.append(f"the exercise command exited {done.returncode}: {done.stderr.strip()[-200:]}")
        _sample(layers, peak)
    if duration is not None:
        alive_for(duration)
    elif not (ready or exercise):
        while not status.done() and proc.poll() is None:  # no stop condition: trace until the program ends
            _sample(layers, peak)
            _pause(status, SAMPLE_EVERY)
    if not status.done():
        _signal_program(proc, 15)
        end = time.monotonic() + 10
        while status.wait(0.2) is None and time.monotonic() < end:
            _end_orphans(proc)  # the program ended: what it left behind goes with it, as in rofs run
        if status.wait(0) is None:
            notes.append("the program did not stop on SIGTERM within 10 s: killed")
            # Everything in the sandbox's PID namespace at once: a shell, a daemon in its own
            # session or a fork bomb is not missed by a list of processes taken a moment before.
            kill_sandbox(proc)


def _full_notes(layers: list[tuple[str, Path]], shm_size: int) -> list[str]:
    """A note for each scratch file system the program filled (its writes then failed with ENOSPC)."""
    notes, seen = [], set()
    for point, upper in layers:
        try:
            stat = os.statvfs(upper)
            device = os.stat(upper).st_dev
        except OSError:
            continue
        if device in seen or stat.f_bavail > 0:
            continue
        seen.add(device)
        if point == "/dev/shm":
            notes.append(f"/dev/shm is full ({format_quantity(shm_size)}): writes there beyond its size failed"
                         " with ENOSPC; give it more room")
        else:
            notes.append(f"the scratch layer is full ({_human(stat.f_blocks * stat.f_frsize)}): writes failed with ENOSPC")
    return notes


def _pause(status: "_Status", seconds: float) -> None:
    """Sleep, but wake as soon as the program ends."""
    import select

    if status.code is None:
        select.select([status.fd], [], [], seconds)


def _sample(layers: list[tuple[str, Path]], peak: dict[str, int]) -> None:
    """Bytes now held under every directory of the scratch layers (for the peak sizes)."""
    sizes: dict[str, int] = {}
    for point, upper in layers:
        for dirpath, _, files in os.walk(upper):
            total = 0
            for name in files:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_size
                except OSError:
                    pass
            rel = os.path.relpath(dirpath, upper)
            node = _normalise_join(point, "" if rel == "." else rel)
            while True:
                sizes[node] = sizes.get(node, 0) + total
                if node == "/":
                    break
                node = node.rsplit("/", 1)[0] or "/"
    for key, value in sizes.items():
        if value > peak.get(key, 0):
            peak[key] = value


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


def collapse_all(points: Iterable[str]) -> list[str]:
    """Merge siblings up the tree until nothing changes (base/1, base/16384 -> base -> PGDATA)."""
    current = tracer.collapse(points)
    while True:
        merged = tracer.collapse(current)
        if merged == current:
            return current
        current = merged


def classify(point: str, files: list[str], sockets: bool) -> tuple[VolumeKind, str]:
    if point == "/dev/shm" or point.startswith("/dev/shm/"):
        return VolumeKind.MEMORY, "POSIX shared memory (/dev/shm)"
    for top in EPHEMERAL_TOPS:
        if point == top or point.startswith(top + "/"):
            return VolumeKind.EPHEMERAL, f"under {top}: temporary, cache, log or runtime files"
    words = set(point.lower().replace("_", "-").replace(".", "-").split("/")[-1].split("-"))
    if words & set(EPHEMERAL_WORDS):
        return VolumeKind.EPHEMERAL, f"named like a temp/cache/log/run directory ({point.rsplit('/', 1)[-1]})"
    if files and all(f.endswith((".pid", ".lock", ".sock")) or "/." in f for f in files) or sockets and not files:
        return VolumeKind.EPHEMERAL, "only sockets, PID and lock files"
    return VolumeKind.PERSISTENT, "files the program keeps (not a temp, cache, log or runtime location): persist them"


def inventory(events: list[tracer.WriteEvent], layers: list[tuple[str, Path]] | None, peak: dict[str, int],
              exists: Callable[[str], bool] = os.path.lexists, inherited: set[str] = frozenset(),
              dirs: set[str] = frozenset(), final: dict[str, int] | None = None,
              root: str = "/") -> list[TracedPath]:
    """The directories a mount needs.  Bytes written: from traced write calls when the log has
    them (``--from-strace``), else what the scratch layer holds at the end; the peak is the
    largest size sampled while the program ran."""
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
    for point in collapse_all(p for p in points if p != "/"):
        hits = [e for p, es in points.items() if path_covers(point, p) for e in es]
        files = sorted({e.path for e in hits if e.syscall not in ("mkdir", "mkdirat", "bind")})
        sockets = any(e.syscall == "bind" for e in hits)
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
            processes=sorted({e.process for e in hits if e.pid} or {e.process for e in hits}),
            calls=sorted({e.syscall for e in hits} - {"write-layer"}) or ["open for writing"], hidden_files=hidden,
        ))
    return out


def written_files(layers: list[tuple[str, Path]], process: str,
                  exists: Callable[[str], bool] = os.path.lexists) -> list[tracer.WriteEvent]:
    """Everything the scratch layers hold, as write events: files created, changed or deleted
    (overlayfs whiteouts), and directories the program created."""
    out = []
    for point, upper in layers:
        for dirpath, dirnames, files in os.walk(upper):
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


def render_text(result: TraceResult) -> str:
    lines = [f"rofs trace: {' '.join(result.command)}: {result.events} write calls in {result.duration:.1f} s"]
    if not result.paths:
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
    return "\n".join(lines) + "\n"


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
