"""``rofs run``: the sandbox plus the tracer, and a report of every refused write.

The declared writable paths come from a profile (its layout's required paths: ephemeral and
memory ones as tmpfs of the profile's size, persistent ones as host directories under a state
directory) and from ``--writable``/``--tmpfs``/``--persist``.  Everything else is read-only.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rofs.diagnose import volume_snippet
from rofs.diagnose.placement import populated_advice, refused
from rofs.model import Profile, VolumeKind, WritablePath, path_covers, scratch_reason, volume_name_for
from rofs.runtime import confine, hostpath, tracer
from rofs.runtime.confine import Confinement
from rofs.runtime.sandbox import (
    DEFAULT_MAX_PROCS,
    DEFAULT_SHM,
    DEVICES_DIR,
    RUNTIME_FILES,
    ChildSetup,
    SandboxError,
    SandboxMount,
    SandboxSpec,
    bwrap_argv,
    check_command,
    check_mount_points,
    expected_execs,
    require,
    resolve_in_root,
    run,
)
from rofs.runtime.users import Identity, host_identity, image_identity
from rofs.terminal import printable
from rofs.units import format_quantity

if TYPE_CHECKING:
    from rofs.runtime.image import ImageBundle

DEFAULT_WRITABLE = 256 << 20


@dataclass(frozen=True)
class Declared:
    """A writable path of the run, and why it is there."""

    path: str
    kind: VolumeKind
    size: int | None
    source: str | None  # host directory of a persistent path
    why: str


@dataclass(frozen=True)
class Suggestion:
    path: str
    kind: VolumeKind
    size: int | None
    reason: str
    refusals: int
    calls: tuple[str, ...]
    processes: tuple[str, ...]
    hidden: int = 0  # entries the root already has there: an empty mount would hide them
    kind_known: bool = True  # False: nothing says whether it holds data; persistent is the safe choice


@dataclass
class RunReport:
    command: list[str]
    returncode: int
    timed_out: bool
    duration: float
    declared: list[Declared]
    refusals: list[tracer.Refusal] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # full tmpfs, ownership on declared paths
    profile: Profile | None = None
    layout: str | None = None
    root: str = "/"
    image_volumes: list[str] = field(default_factory=list)
    peak_procs: int | None = None
    refused_forks: int | None = None  # forks refused at the process limit
    max_procs: int = DEFAULT_MAX_PROCS
    shm_size: int = DEFAULT_SHM  # the sandbox's /dev/shm, there whether declared or not
    identity: Identity | None = None  # None: rofs' own user
    confinement: Confinement = field(default_factory=Confinement)
    traced: bool = True
    host_sources: dict[str, str] = field(default_factory=dict)  # persistent path: the host directory mounted there
    unlisted: int = 0  # refused writes beyond the tracer.MAX_DISTINCT kinds kept: counted, not listed


def declare(
    profile: Profile | None,
    layout: str | None,
    writable: list[tuple[str, int | None]],
    tmpfs: list[tuple[str, int | None]],
    persist: list[tuple[str, str]],
    state_dir: Path,
) -> list[Declared]:
    out: list[Declared] = []
    if profile is not None:
        for spec in profile.paths_for(layout):
            if not spec.required:
                continue
            if spec.kind is VolumeKind.PERSISTENT:
                source = state_dir / profile.name / (spec.name or volume_name_for(spec.path))
                out.append(Declared(spec.path, spec.kind, spec.size, str(source), f"{profile.name}: {spec.purpose}"))
            elif spec.path == "/dev/shm":
                out.append(Declared(spec.path, VolumeKind.MEMORY, spec.size, None, f"{profile.name}: {spec.purpose}"))
            else:
                out.append(Declared(spec.path, spec.kind, spec.size, None, f"{profile.name}: {spec.purpose}"))
    for path, size in writable:
        out.append(Declared(path, VolumeKind.EPHEMERAL, size or DEFAULT_WRITABLE, None, "--writable"))
    for path, size in tmpfs:
        out.append(Declared(path, VolumeKind.MEMORY, size or DEFAULT_WRITABLE, None, "--tmpfs"))
    for path, host in persist:
        out.append(Declared(path, VolumeKind.PERSISTENT, None, host, "--persist"))
    # A later declaration of the same path wins (the command line over the profile).
    by_path: dict[str, Declared] = {}
    for item in out:
        by_path[item.path.rstrip("/") or "/"] = item
    return list(by_path.values())


def sandbox_mounts(declared: list[Declared], identity: Identity | None,
                   hostdirs: list[hostpath.HostDir] | None = None) -> tuple[list[SandboxMount], int]:
    """Mounts for the declared paths; persistent ones are host directories opened (and made,
    when missing) without following links, appended to *hostdirs* for the caller to close."""
    mounts = []
    shm = DEFAULT_SHM
    for item in declared:
        if item.path == "/dev/shm":
            shm = item.size or shm
            continue
        if item.kind is VolumeKind.PERSISTENT:
            host = hostpath.open_dir(item.source or "", what=f"persistent path {item.path}:")
            if hostdirs is not None:
                hostdirs.append(host)
            if identity is not None:
                hostpath.give(host, identity.uid, identity.gid)
            mounts.append(SandboxMount(item.path, "bind", source=host.proc_path, label=item.why))
        else:
            mounts.append(SandboxMount(item.path, "tmpfs", size=item.size, label=item.why))
    return mounts, shm


def resolve_identity(user: str | None, image: ImageBundle | None) -> Identity | None:
    """Who the program runs as: --user, else the image's USER (None: rofs' own user, on the host)."""
    if image is not None:
        root = str(image.rootfs)
        passwd = Path(root) / resolve_in_root(root, "/etc/passwd").lstrip("/")
        group = Path(root) / resolve_in_root(root, "/etc/group").lstrip("/")
        return image_identity(user or image.user, passwd, group)
    return host_identity(user) if user else None


def program_env(env: dict[str, str] | None, identity: Identity | None, image: ImageBundle | None) -> dict[str, str] | None:
    """The program's environment: the image's Env (or the caller's), with HOME, USER and LOGNAME
    of the user it runs as, as a runtime or login would set them."""
    if image is not None:
        out = dict(image.env) if env is None else dict(env)
        out.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        if identity is not None:
            out.setdefault("HOME", identity.home)
        return out
    if identity is None:
        return env
    out = dict(os.environ if env is None else env)
    out["HOME"] = identity.home
    if identity.name:
        out["USER"] = out["LOGNAME"] = identity.name
    return out


def execute(
    command: list[str],
    declared: list[Declared],
    *,
    user: str | None = None,
    timeout: float | None = None,
    trace: bool = True,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    profile: Profile | None = None,
    layout: str | None = None,
    image: ImageBundle | None = None,
    max_procs: int = DEFAULT_MAX_PROCS,
    confinement: Confinement | None = None,
) -> RunReport:
    require("bwrap", "bubblewrap")
    confinement = confinement or Confinement()
    identity = resolve_identity(user, image)
    root = str(image.rootfs) if image else "/"
    hostdirs: list[hostpath.HostDir] = []
    try:
        return _execute(command, declared, identity, hostdirs, timeout=timeout, trace=trace, cwd=cwd, env=env,
                        profile=profile, layout=layout, image=image, max_procs=max_procs, confinement=confinement,
                        root=root)
    finally:
        for host in hostdirs:
            host.close()


def _execute(command, declared, identity, hostdirs, *, timeout, trace, cwd, env, profile, layout, image, max_procs,
             confinement, root) -> RunReport:
    check_mount_points(root, [d.path for d in declared if d.path != "/dev/shm"])
    mounts, shm = sandbox_mounts(declared, identity, hostdirs)
    hiding = []  # an empty host directory mounted where the root has files: they are out of sight
    for item in declared:
        if item.kind is VolumeKind.PERSISTENT and item.source and item.path != "/dev/shm":
            entries = _entries(root, item.path)
            try:
                empty = not os.listdir(item.source)
            except OSError:
                empty = False
            if entries and empty:
                hiding.append(f"{item.path}: the empty host directory {item.source} is mounted there and hides the"
                              f" {entries} entries the root has at {item.path}; --persist {item.path}=HOSTDIR to"
                              " mount one of yours (or copy them in first)")
    spec = SandboxSpec(command=command, mounts=mounts, root=root, identity=identity, shm_size=shm,
                       confinement=confinement, image=image is not None, sysfs=image is not None)
    spec.env = program_env(env, identity, image)
    if image is not None:
        make_mount_points(image.rootfs, [m.path for m in mounts])
        spec.cwd = cwd or image.cwd
    else:
        spec.cwd = cwd or os.getcwd()
        hidden = any(m.kind == "tmpfs" and path_covers(m.path, spec.cwd) for m in mounts)
        if not Path(spec.cwd).is_dir() or (hidden and cwd is None):
            spec.cwd = "/"  # the working directory is hidden by a declared tmpfs: start in /
    search = (spec.env if spec.env is not None else os.environ).get("PATH")
    check_command(root, command[0], search, spec.cwd or "/", "in the image" if image is not None else "on this machine")
    setup = None
    if os.geteuid() == 0:  # rofs' own device nodes, in a private mount namespace
        setup = ChildSetup()
        spec.devices = DEVICES_DIR
    status_r, status_w = os.pipe()
    seccomp = confine.seccomp_fds(confinement)
    with tempfile.TemporaryFile(mode="w+b") as log:
        argv = bwrap_argv(spec, status_w, seccomp)
        if trace:
            argv = tracer.strace_argv(require("strace", "strace"), f"/proc/{os.getpid()}/fd/{log.fileno()}") + argv
        result = run(argv, timeout=timeout, pass_fds=(status_w, *seccomp), status_r=status_r, max_procs=max_procs,
                     env=spec.env if image is None else None, setup=setup, log=log.fileno() if trace else None)
        if not result.started:
            raise SandboxError("the sandbox did not start the program (bubblewrap's or the tracer's message is above);"
                               " nothing was run, so there is no report")
        log.seek(0)
        lines = (line.decode("utf-8", "surrogateescape") for line in log)
        stats: dict = {"execs": 0, "left": []}
        refusals = tracer.parse(lines, spec.cwd or "/", sandboxed=True, stats=stats,
                                resolve=lambda path: resolve_in_root(root, path)) if trace else []
        if trace and stats["execs"] < expected_execs(spec):
            raise SandboxError(f"{command[0]} was not started (the message above says why); nothing ran, so there is"
                               " no report")
    report = RunReport(command, result.returncode, result.timed_out, result.duration, declared, refusals,
                       profile=profile, layout=layout, root=root, identity=identity, confinement=confinement,
                       traced=trace)
    if image is not None:
        report.image_volumes = list(image.volumes)
    report.peak_procs, report.refused_forks = result.peak_procs, result.refused_forks
    report.max_procs, report.shm_size = max_procs, shm
    report.host_sources = {item.path: host.path for item, host in zip(
        [d for d in declared if d.kind is VolumeKind.PERSISTENT and d.path != "/dev/shm"], hostdirs)}
    analyse(report)
    report.problems += hiding
    if trace and stats["left"]:
        report.problems.append(left_behind(stats["left"]))
    if trace and stats.get("more"):
        report.unlisted = stats["more"]
        report.problems.append(f"{stats['more']} more refused writes of {tracer.MAX_DISTINCT}+ other kinds are not listed")
    if result.killed:
        report.problems.append("the program did not end within 10 s of the stop signal rofs passed on: killed (SIGKILL)")
    if result.returncode == 128 + 7:
        report.problems.append("the program was killed by SIGBUS: a write through mmap into a full file system (a"
                               " tmpfs of too small a size) ends so, and it is no system call the tracer sees;"
                               " give the declared paths more room if they were full")
    if result.refused_forks:
        report.problems.append(f"the program reached the process limit ({max_procs} processes): forks beyond it failed"
                               " (EAGAIN); raise --max-procs if it really needs more")
    return report


def make_mount_points(rootfs: Path, paths: list[str]) -> None:
    """Like a container runtime, make the mount points the image lacks (in rofs' own unpacked copy,
    never followed out of it: each path is resolved inside the image first)."""
    for path in ["/proc", "/dev", "/sys", "/tmp"] + paths:
        target = rootfs / resolve_in_root(str(rootfs), path).lstrip("/")
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass
    for name in RUNTIME_FILES:  # the runtime's name-resolution files are bound over these
        target = rootfs / resolve_in_root(str(rootfs), name).lstrip("/")
        if os.path.isfile(name) and not os.path.lexists(target):
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
            except OSError:
                pass


def analyse(report: RunReport) -> None:
    """Turn refusals into mounts to add and problems with declared mounts."""
    outside: dict[str, list[tracer.Refusal]] = {}
    # Where the app's profile knows the directory, the mount goes where the profile says, with
    # its kind and size (Redis' appendonlydir is inside its data directory, which must persist).
    known = report.profile.paths_for(report.layout) if report.profile is not None else ()
    declared = report.declared
    if not any(d.path.rstrip("/") == "/dev/shm" for d in declared):
        # The sandbox always has a /dev/shm (as a container does): a write failing there is
        # about its size, not a mount to add.
        declared = declared + [Declared("/dev/shm", VolumeKind.MEMORY, report.shm_size, None, "the sandbox's /dev/shm")]
    unreadable = [r for r in report.refusals if not r.readable]
    if unreadable:
        calls = ", ".join(sorted({f"{r.process}'s {r.syscall} ({r.errno})" for r in unreadable}))
        report.problems.append(f"{len(unreadable)} refused call(s) whose path the tracer could not read: {calls};"
                               " see the raw lines in --format json (refused[].line)")
    for refusal in report.refusals:
        if not refusal.readable:
            continue
        if refusal.syscall in tracer.MOUNT_CALLS:
            msg = mount_refused(refusal)
            if msg not in report.problems:
                report.problems.append(msg)
            continue
        inside = _declared_for(declared, refusal.path, report.root)
        if inside is not None:
            if refusal.errno in ("ENOSPC", "EDQUOT"):
                size = format_quantity(inside.size) if inside.size else "its size"
                msg = f"{inside.path} is full ({size}): {refusal.process} could not write {refusal.path}; give it more room"
            elif refusal.errno == "EROFS":
                # Writable, yet refused as read-only: a symlink in it leads out of the mount.
                msg = (f"{inside.path} is writable, but {refusal.process}'s {refusal.syscall} {refusal.path} was refused"
                       " as read-only: a symlink there leads out of it, to a read-only place")
            elif refusal.errno in ("EACCES", "EPERM"):
                msg = ownership_problem(inside, refusal)
            else:
                msg = f"{refusal.process}: {refusal.syscall} {refusal.path} failed with {refusal.errno} inside {inside.path}"
            if msg not in report.problems:
                report.problems.append(msg)
            continue
        if _runtime_owned(refusal.path):
            msg = (f"{refusal.process} could not write {refusal.path} ({refusal.errno}): /proc, /sys and /dev are the"
                   " runtime's own, as in a container, where the write is refused the same way; no mount to add")
            if msg not in report.problems:
                report.problems.append(msg)
            continue
        point = tracer.mount_point(refusal)
        spec = _known_for(known, point, refusal.path)
        if spec is not None and spec.populated:  # an empty volume there would hide the image's files
            why: str | None = populated_advice(spec, refusal.path, refusal.process)
        else:
            why = None if spec is not None else refused(point, refusal.path, refusal.process)
        if why is not None:  # / or a system directory: a volume there hides the image (placement.yaml)
            if why not in report.problems:
                report.problems.append(why)
            continue
        outside.setdefault(point, []).append(refusal)
    by_point: dict[str, list[tracer.Refusal]] = {}
    for point, refusals in outside.items():
        for item in refusals:
            spec = _known_for(known, point, item.path)
            by_point.setdefault(spec.path if spec else point, []).append(item)
    for point in tracer.collapse(by_point):
        hits = [r for p, rs in by_point.items() if path_covers(point, p) for r in rs]
        spec = next((p for p in known if p.path == point), None)
        report.suggestions.append(_suggestion(point, hits, spec, report))


def _suggestion(point: str, hits: list[tracer.Refusal], spec: WritablePath | None, report: RunReport) -> Suggestion:
    """The mount for the refused writes *hits*: the profile's kind and size when it lists the path;
    else persistent where the image declares a VOLUME (data) or nothing says it is scratch."""
    volume = any(path_covers(v, point) for v in report.image_volumes)
    guessed = spec is None and not volume and scratch_reason(point) is None
    if spec is not None:
        kind = spec.kind
    else:
        kind = VolumeKind.PERSISTENT if volume or guessed else VolumeKind.EPHEMERAL
    return Suggestion(
        path=point, kind=kind, kind_known=not guessed,
        size=spec.size if spec else DEFAULT_WRITABLE,
        reason="; ".join(sorted({r.reason for r in hits})),
        refusals=sum(r.count for r in hits),
        calls=tuple(sorted({r.syscall for r in hits})),
        processes=tuple(sorted({r.process for r in hits})),
        hidden=_entries(report.root, point),
    )


def _known_for(known: Iterable[WritablePath], point: str, path: str) -> WritablePath | None:
    """The profile path a refused write belongs to: the deepest covering the directory written in,
    or the path itself (a chmod of the profile's directory is that directory's)."""
    ranked = sorted(known, key=lambda p: -len(p.path))
    return next((p for p in ranked if path_covers(p.path, point)), None) or \
        next((p for p in ranked if path_covers(p.path, path)), None)


def _entries(root: str, path: str) -> int:
    """How many entries the root has at *path* (0: none, or not a directory; temp and runtime
    directories, empty in images, are not counted)."""
    if path in ("/tmp", "/var/tmp", "/run", "/var/run"):
        return 0
    try:
        return len(os.listdir(Path(root) / resolve_in_root(root, path).lstrip("/")))
    except (OSError, SandboxError):
        return 0


def _runtime_owned(path: str) -> bool:
    return any(path == top or path.startswith(top + "/") for top in ("/proc", "/sys", "/dev")) and not path_covers(
        "/dev/shm", path)


def left_behind(names: list[str]) -> str:
    """The main process ended while others ran on: the sandbox ended them, as a container's end does."""
    shown = ", ".join(sorted(set(names))[:5]) + (" ..." if len(set(names)) > 5 else "")
    return (f"the program's main process ended while {len(names)} of its processes still ran ({shown}): they were"
            " killed with the sandbox, as a container's are when its main process ends; a program that puts"
            " itself in the background must run in the foreground here (e.g. redis-server --daemonize no,"
            " postgres instead of pg_ctlcluster)")


def ownership_problem(inside: Declared, refusal: tracer.Refusal) -> str:
    """A declared path the program may not write: who it ran as, who owns the place, the fix."""
    who = f"{refusal.process} (uid {refusal.uid})" if refusal.uid is not None else refusal.process
    owner = ""
    if inside.kind is VolumeKind.PERSISTENT and inside.source:
        note = hostpath.owner_note(inside.source)
        owner = f", {note} on the host ({inside.source})" if note else ""
    uid = refusal.uid if refusal.uid is not None else "UID"
    if inside.source:
        fix = (f"give it to the user the program writes as: chown {uid} {inside.source} (a directory rofs makes is"
               f" given to --user; an existing one never is); Kubernetes: runAsUser/fsGroup; Compose: user:")
    else:
        fix = "the program's user may not write there: Kubernetes: runAsUser/fsGroup; Compose: user:"
    return (f"{inside.path} is writable but not for {who}: its {refusal.syscall} {refusal.path} failed with"
            f" {refusal.errno}{owner}: an ownership problem; {fix}")


def mount_refused(refusal: tracer.Refusal | tracer.WriteEvent) -> str:
    what = "unmount" if refusal.syscall == "umount2" else "mount on"
    return (f"{refusal.process} tried to {what} {refusal.path} ({refusal.syscall}): refused with {refusal.errno},"
            " the sandbox gives a container's capabilities (no CAP_SYS_ADMIN)")


def _declared_for(declared: list[Declared], path: str, root: str = "/") -> Declared | None:
    """The declared mount holding *path*, comparing paths as the kernel does (symlinks resolved:
    a write to /run/postgresql lands in a mount declared as /var/run/postgresql)."""
    real = resolve_in_root(root, path)
    best = None
    for item in declared:
        item_real = resolve_in_root(root, item.path)
        if (path_covers(item.path, path) or path_covers(item_real, real)) and (best is None or len(item.path) > len(best.path)):
            best = item
    return best


def cleanup_state(path: Path) -> None:  # pragma: no cover - convenience for callers
    shutil.rmtree(path, ignore_errors=True)


# --- the report ------------------------------------------------------------------------


def as_profile_paths(report: RunReport) -> list[dict]:
    """The mounts to add, in the profile format ``--profile-file`` accepts (its ``paths:``)."""
    out = []
    for s in report.suggestions:
        out.append({
            "path": s.path,
            "name": volume_name_for(s.path),
            "purpose": f"written by {', '.join(s.processes)} ({', '.join(s.calls)})",
            "kind": s.kind.value,
            "size": format_quantity(s.size or DEFAULT_WRITABLE),
            "required": True,
            "breaks": f"{s.refusals} refused write(s): {s.reason}",
            "sources": ["rofs-run"],
            **({"populated": True} if s.hidden else {}),
        })
    return out


def as_profile(report: RunReport) -> dict:
    """A whole profile (``--profile-file``): what was declared and used, plus what was refused."""
    import datetime

    name = os.path.basename(report.command[0]).lower()
    name = "".join(ch if ch.isalnum() else "-" for ch in name).strip("-") or "app"
    paths = [
        {
            "path": d.path, "name": volume_name_for(d.path), "purpose": d.why, "kind": d.kind.value,
            **({"size": format_quantity(d.size)} if d.size else ({} if d.kind is VolumeKind.PERSISTENT else {"size": "256Mi"})),
            "required": True, "breaks": "declared for this run", "sources": ["rofs-run"],
        }
        for d in report.declared
    ]
    known = {p["path"] for p in paths}
    paths += [p for p in as_profile_paths(report) if p["path"] not in known]
    return {
        "name": name,
        "title": name,
        "description": f"Writable paths of `{' '.join(report.command)}` under a read-only root, from rofs run.",
        "generated_by": "rofs run",
        "layouts": [{"id": "host", "description": "the program as run on this host"}],
        "paths": paths,
        "sources": [{
            "id": "rofs-run",
            "title": f"rofs run of {' '.join(report.command)} on {datetime.date.today().isoformat()}",
            "ref": "rofs run",
        }],
    }


def snippets(report: RunReport) -> dict[str, dict]:
    """The suggested mounts for Kubernetes and Compose: a claim (named volume) for what may be
    data, an emptyDir (tmpfs) for scratch."""
    mounts = [{"name": volume_name_for(s.path), "mountPath": s.path} for s in report.suggestions]
    pairs = [volume_snippet(s.path, s.kind, s.size or DEFAULT_WRITABLE) for s in report.suggestions]
    volumes = [volume for volume, _ in pairs]
    compose = [entry for _, entry in pairs]
    return {
        "kubernetes": {"volumeMounts": mounts, "volumes": volumes},
        "compose": {"volumes": compose},
    }


def to_dict(report: RunReport) -> dict:
    return {
        "command": report.command,
        "returncode": report.returncode,
        "timed_out": report.timed_out,
        "duration": round(report.duration, 3),
        "peak_processes": report.peak_procs,
        "max_processes": report.max_procs,
        "refused_forks": report.refused_forks,
        "writable": [
            {"path": d.path, "kind": d.kind.value, "size": d.size, "source": d.source, "why": d.why}
            for d in report.declared
        ],
        "sandbox": {
            "network": report.confinement.network,
            "seccomp": report.confinement.seccomp,
            "capabilities": list(report.confinement.effective(report.identity.uid if report.identity else os.geteuid())),
            "bounding": list(report.confinement.capabilities),
            "user": None if report.identity is None else {
                "spec": report.identity.spec, "uid": report.identity.uid, "gid": report.identity.gid,
                "groups": list(report.identity.groups), "name": report.identity.name, "home": report.identity.home},
            "traced": report.traced,
        },
        "refused": [
            {"pid": r.pid, "process": r.process, "uid": r.uid, "syscall": r.syscall,
             "path": r.path if r.readable else None, "errno": r.errno, "count": r.count, "line": r.line}
            for r in report.refusals
        ],
        "refused_total": sum(r.count for r in report.refusals) + report.unlisted,
        "refused_unlisted": report.unlisted,
        "problems": report.problems,
        "image_volumes": report.image_volumes,
        "add": [
            {"path": s.path, "kind": s.kind.value, "size": s.size, "reason": s.reason, "refusals": s.refusals,
             "calls": list(s.calls), "processes": list(s.processes), "hidden_entries": s.hidden,
             "kind_known": s.kind_known}
            for s in report.suggestions
        ],
        "profile_paths": as_profile_paths(report),
        "profile": as_profile(report),
        "snippets": snippets(report),
    }


def render_text(report: RunReport) -> str:
    import yaml

    lines = []
    state = "timed out, stopped" if report.timed_out else f"exit {report.returncode}"
    lines.append(f"rofs run: {shlex.join(report.command)}: {state} after {report.duration:.1f} s")
    who = report.identity.describe() if report.identity else f"rofs' own user (uid {os.geteuid()})"
    lines.append(f"sandbox: {report.confinement.describe()}; user {who}")
    lines.append("writable: " + (", ".join(
        f"{d.path} ({d.kind.value}{', ' + format_quantity(d.size) if d.size else ''}"
        f"{', on the host at ' + d.source if d.source else ''})" for d in report.declared
    ) or "nothing") + "; everything else read-only")
    if report.image_volumes:
        lines.append("the image declares VOLUMEs (candidate writable paths): " + ", ".join(report.image_volumes))
    if not report.traced:
        lines.append("not traced (--no-trace): refused writes are not known")
        lines += [f"problem: {problem}" for problem in report.problems]
        return "\n".join(printable(line) for line in lines) + "\n"
    if not report.refusals:
        lines.append("no write was refused")
        lines += [f"problem: {problem}" for problem in report.problems]  # the process limit
        return "\n".join(printable(line) for line in lines) + "\n"
    listed = sum(r.count for r in report.refusals)
    lines.append(f"refused writes: {listed + report.unlisted}" + (
        f" ({listed} of {len(report.refusals)} kinds listed below; {report.unlisted} more of other kinds not listed)"
        if report.unlisted else ""))
    for r in report.refusals:
        uid = f", uid {r.uid}" if r.uid is not None else ""
        times = f", {r.count} times" if r.count > 1 else ""
        lines.append(f"  {r.errno:<6} {r.syscall} {r.path}  ({r.process}, pid {r.pid}{uid}{times})")
    for problem in report.problems:
        lines.append(f"problem: {problem}")
    if report.suggestions:
        lines.append("mounts to add:")
        for s in report.suggestions:
            lines.append(f"  {s.path}  {s.kind.value}, {format_quantity(s.size or DEFAULT_WRITABLE)}"
                         f"  ({s.refusals} refused: {s.reason}; {', '.join(s.processes)})")
            if not s.kind_known:
                lines.append("    ? nothing says whether it holds data: persistent to be safe; an emptyDir (tmpfs)"
                             " is enough only if it is scratch (`rofs trace` shows what is kept there)")
            if s.hidden:
                lines.append(f"    ! the root has {s.hidden} entries at {s.path}: an empty mount there hides them"
                             " (copy them in with an init step, or mount a narrower path)")
        lines.append("as profile paths (the whole profile, for --profile-file, is in --format json: profile):")
        lines += ["  " + l for l in yaml.safe_dump({"paths": as_profile_paths(report)}, sort_keys=False).splitlines()]
        snip = snippets(report)
        lines.append("Kubernetes (container volumeMounts / pod volumes):")
        lines += ["  " + l for l in yaml.safe_dump(snip["kubernetes"], sort_keys=False).splitlines()]
        lines.append("Compose (service volumes):")
        lines += ["  " + l for l in yaml.safe_dump(snip["compose"], sort_keys=False).splitlines()]
    return "\n".join(printable(line) for line in lines) + "\n"
