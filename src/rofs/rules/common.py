"""What rules share: the check context and the writable-coverage helpers.

Rules never import a parser: they read the model and the profiles only.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field

from rofs.model import (
    Container,
    ContainerRole,
    EnvVar,
    Finding,
    Location,
    Mount,
    Ref,
    RuleMeta,
    SourceFormat,
    Volume,
    VolumeKind,
    Workload,
    WritablePath,
    mount_serves,
    path_covers,
)
from rofs.profiles import ProfileMatch, ProfileRegistry
from rofs.remedy import (
    DEFAULT_EPHEMERAL,
    SUGGESTION_ONLY,
    AddMount,
    Applicability,
    ExecForm,
    Remedy,
    Suggestion,
    Wording,
    describe,
)

# Compliance references, as the standards number them (see docs/rules.md and shared/REFERENCES.md).
CIS_DOCKER_5_13 = Ref(
    standard="CIS Docker Benchmark", edition="v1.6.0", control="5.13",
    title="Ensure that the container's root filesystem is mounted as read only",
)
NIST_800_190 = Ref(
    standard="NIST SP 800-190", control="4.4.4",
    title="Containers should be run with their root filesystems in read-only mode",
)
DISA_SRG = Ref(
    standard="DISA Container Platform SRG", control="V-270876 / SRG-APP-000380-CTR-000340",
    title="The container root filesystem must be mounted as read-only",
)
NSA_CISA = Ref(
    standard="NSA/CISA Kubernetes Hardening Guidance", edition="v1.0 (2021)", control="Immutable container file systems",
    title="Mount secondary writable file systems only for the directories the application must write",
)
CIS_K8S_5_7_3 = Ref(
    standard="CIS Kubernetes Benchmark", edition="v1.10", control="5.7.3",
    title="Apply Security Context to Your Pods and Containers",
)
CIS_DOCKER_5_25 = Ref(
    standard="CIS Docker Benchmark", edition="v1.6.0", control="5.25",
    title="Ensure that the container is restricted from acquiring additional privileges",
)
CIS_DOCKER_4_1 = Ref(
    standard="CIS Docker Benchmark", edition="v1.6.0", control="4.1",
    title="Ensure that a user for the container has been created",
)
CIS_DOCKER_5_3 = Ref(
    standard="CIS Docker Benchmark", edition="v1.6.0", control="5.3",
    title="Ensure that Linux kernel capabilities are restricted within containers",
)
READ_ONLY_REFS = (CIS_DOCKER_5_13, NIST_800_190, DISA_SRG, NSA_CISA)

# /dev/shm is mounted writable by every container runtime, 64 MiB unless told otherwise.
RUNTIME_SHM = "/dev/shm"
RUNTIME_SHM_SIZE = 64 << 20


def _reader_wordings() -> dict[SourceFormat, Wording]:
    from rofs.intake import wordings

    return wordings()


# What `rofs fix` does with a container whose image has no profile (``--unknown-images``).
UNKNOWN_LEAVE = "leave"  # left as it is, with how to learn its paths: a guess would crash it
UNKNOWN_READ_ONLY = "read-only"  # made read-only with a bounded /tmp only (the user asked for it)
UNKNOWN_IMAGES = (UNKNOWN_LEAVE, UNKNOWN_READ_ONLY)


@dataclass
class Context:
    """Everything a rule may consult besides the workload itself: the profiles, how each format
    words a remedy (from its reader), and what to do with images that have no profile."""

    registry: ProfileRegistry
    unknown_images: str = UNKNOWN_LEAVE
    exempt_images: tuple[str, ...] = ()  # image globs (settings exempt-images): their containers are not flagged
    wordings: dict[SourceFormat, Wording] = field(default_factory=_reader_wordings)
    _matches: dict[str, ProfileMatch | None] = field(default_factory=dict)

    def words(self, fmt: SourceFormat) -> Wording:
        return self.wordings[fmt]

    def match(self, container: Container) -> ProfileMatch | None:
        image = container.image
        if not image:
            return None
        if image not in self._matches:
            self._matches[image] = self.registry.match_image(image)
        return self._matches[image]

    def finding(
        self,
        meta: RuleMeta,
        workload: Workload,
        location: Location | None,
        message: str,
        container: Container | None = None,
        path: str | None = None,
        remedies: tuple[Remedy, ...] = (),
    ) -> Finding:
        """A finding of rule *meta*, with the *remedies* that fix it (none: the rule's general
        fix, as a suggestion).  Its fix text is the remedies in the workload format's words."""
        where = location or (container.location if container else None) or workload.location
        assert where is not None, "readers give every workload a location"
        if not remedies:
            remedies = (Suggestion(meta.fix),)
        applicability = Applicability(meta.applicability)
        if any(isinstance(r, SUGGESTION_ONLY) or (isinstance(r, ExecForm) and r.words is None) for r in remedies):
            applicability = Applicability.SUGGESTION
        return Finding(
            rule=meta.id,
            name=meta.name,
            severity=meta.severity,
            message=message,
            location=where,
            kind=workload.kind,
            object=workload.display_name,
            container=container.name if container else None,
            path=path,
            fix=describe(remedies, self.words(workload.format)),
            remedies=remedies,
            applicability=applicability.value,
        )


def writable_mounts(workload: Workload, container: Container) -> Iterator[tuple[Mount, Volume]]:
    """The container's mounts that it can write: not read-only, on a defined, writable volume."""
    for mount in container.mounts:
        if mount.read_only or not mount.path:
            continue
        volume = workload.volume(mount.volume)
        if volume is None or volume.read_only or not volume.kind.writable_by_default:
            continue
        yield mount, volume


def covering_mount(workload: Workload, container: Container, path: str) -> tuple[Mount, Volume] | None:
    """The innermost writable mount at or above *path* (where the files really land)."""
    best = None
    for mount, volume in writable_mounts(workload, container):
        if path_covers(mount.path, path) and (best is None or len(mount.path) > len(best[0].path)):
            best = (mount, volume)
    return best


def serving_mount(
    workload: Workload, container: Container, spec: WritablePath, path: str
) -> tuple[Mount, Volume] | None:
    """The mount that holds the app's files for *spec*: at or above *path*, or at one of the
    narrower paths the profile accepts (PostgreSQL's PGDATA of a given version)."""
    found = covering_mount(workload, container, path)
    if found is not None or path != spec.path:
        return found
    for alt in spec.accepts:
        found = covering_mount(workload, container, alt)
        if found is not None:
            return found
    return None


def blocking_mount(workload: Workload, container: Container, path: str) -> Suggestion | None:
    """When a mount that is not writable holds *path* (read-only, on a read-only volume, or on a
    volume nobody declared), the remedy is to change that mount, not to add a second one at the
    same path (Compose and Kubernetes refuse two mounts at one path, and nothing can be mounted
    beneath a read-only mount).  None when no such mount is there."""
    holding = [m for m in container.mounts if m.path and path_covers(m.path, path)]
    if not holding:
        return None
    mount = max(holding, key=lambda m: len(m.path))
    volume = workload.volume(mount.volume)
    if volume is None:
        why = f"its volume {mount.volume!r} is not declared"
    elif mount.read_only or volume.read_only:
        why = "it is read-only"
    else:
        why = f"its volume {mount.volume!r} ({volume.kind.value}) is not writable"
    beneath = "" if mount.path == path else f": the app writes {path} beneath it"
    return Suggestion(f"make the mount at {mount.path} writable ({why}){beneath}")


def persistent_beneath(workload: Workload, container: Container, path: str) -> Suggestion | None:
    """A persistent volume already mounted beneath *path* (RabbitMQ's mnesia directory on a claim,
    /var/lib/rabbitmq asked for): a second persistent volume over it would nest one in the other,
    so which should hold the data is the author's decision."""
    for mount in container.mounts:
        volume = workload.volume(mount.volume)
        if (mount.path and mount.path.rstrip("/") != path.rstrip("/") and path_covers(path, mount.path)
                and volume is not None and volume.kind is VolumeKind.PERSISTENT):
            return Suggestion(f"{path} must be writable, and persistent volume {mount.volume!r} is mounted beneath it"
                              f" at {mount.path}: mount one persistent volume at {path} (moving the data of"
                              f" {mount.path} into it), or keep {mount.path} and give {path} an ephemeral volume if"
                              " nothing else there must survive a restart")
    return None


def needed_path(spec: WritablePath, container: Container, match: ProfileMatch) -> str:
    """Where the app really writes this path: moved when the container sets the knob's env var."""
    if spec.env:
        knob = next((k for k in match.profile.env_for(match.layout.id) if k.name == spec.env), None)
        if knob is not None and knob.type == "env":
            value = container.env_value(knob.name)
            if value and value.startswith("/") and "$" not in value:
                return value.rstrip("/") or "/"
    return spec.path


def persistent_data_on_ephemeral(
    workload: Workload, ctx: Context
) -> Iterator[tuple[Container, ProfileMatch, WritablePath, str, Mount, Volume]]:
    """Each place an app keeps data that must persist on an emptyDir or tmpfs (RO202's finding;
    RO203 leaves those volumes alone, since the remedy moves them to persistent storage)."""
    for container in workload.containers:
        match = ctx.match(container)
        if match is None or not runs_the_app(container):
            continue
        for spec in match.profile.paths_for(match.layout.id):
            if spec.kind is not VolumeKind.PERSISTENT:
                continue
            path = needed_path(spec, container, match)
            covered = serving_mount(workload, container, spec, path)
            if covered is not None and covered[1].kind in (VolumeKind.EPHEMERAL, VolumeKind.MEMORY):
                yield container, match, spec, path, covered[0], covered[1]


def runs_the_app(container: Container) -> bool:
    """Profile rules describe the app's own process.  An init or ephemeral container that runs a
    command of its own (a copy step, a debugger) with the app's image is not the app."""
    return container.role is ContainerRole.MAIN or container.command is None


def required_paths(container: Container, match: ProfileMatch) -> Iterator[tuple[WritablePath, str]]:
    """The profile's required paths this container writes, where it writes them."""
    if not runs_the_app(container):
        return
    words = (container.command or ()) + (container.args or ())
    for spec in match.profile.paths_for(match.layout.id):
        if spec.required and not spec.unneeded_for(words):
            yield spec, needed_path(spec, container, match)


def root_is_read_only(container: Container) -> bool:
    return container.security.read_only_root_fs is True


def mount_for(container: Container, spec: WritablePath, path: str) -> AddMount:
    """The remedy for a profile path the container writes at *path*."""
    return AddMount(
        container=container.name, path=path, kind=spec.kind, size=spec.size,
        populated=spec.populated and path == spec.path, name=spec.name, purpose=spec.purpose,
    )


def missing_mounts(workload: Workload, container: Container, match: ProfileMatch | None) -> list[AddMount]:
    """What the container needs mounted before its root can be read-only: the profile's required
    paths no writable mount serves (``/dev/shm`` only when the app needs more than the runtime's),
    the temp directories its env names, and, for an image without a profile, a bounded /tmp."""
    wanted: list[AddMount] = []
    if match is not None:
        for spec, path in required_paths(container, match):
            if path == RUNTIME_SHM and (spec.size or 0) <= RUNTIME_SHM_SIZE:
                continue
            if serving_mount(workload, container, spec, path) is None:
                wanted.append(mount_for(container, spec, path))
    elif covering_mount(workload, container, "/tmp") is None:  # a guess: every container gets it alike
        wanted.append(AddMount(container.name, "/tmp", VolumeKind.EPHEMERAL, DEFAULT_EPHEMERAL, name="tmp",
                               purpose="temp files", guess=True))
    for _, path in env_paths(container):
        if covering_mount(workload, container, path) is None:
            wanted.append(temp_mount(container, path))
    return minimal(wanted)


def mount_remedies(workload: Workload, container: Container, mounts: list[AddMount]) -> list[AddMount | Suggestion]:
    """*mounts* as remedies: a path a mount that is not writable holds gets a suggestion to change
    that mount instead (a second mount there would be refused)."""
    out: list[AddMount | Suggestion] = []
    for mount in mounts:
        blocked = blocking_mount(workload, container, mount.path) if mount.path != RUNTIME_SHM else None
        if blocked is None and mount.kind is VolumeKind.PERSISTENT:
            blocked = persistent_beneath(workload, container, mount.path)
        if blocked is None:
            out.append(mount)
        elif blocked not in out:
            out.append(blocked)
    return out


def temp_mount(container: Container, path: str) -> AddMount:
    """The remedy for a temp directory the container's env names."""
    return AddMount(container.name, path, VolumeKind.EPHEMERAL, DEFAULT_EPHEMERAL, purpose="temp dir set by env")


def minimal(mounts: list[AddMount]) -> list[AddMount]:
    """*mounts* without repeats and without those another one of them already serves."""
    out: list[AddMount] = []
    for mount in mounts:
        if any(o.container == mount.container and o.path == mount.path for o in out):
            continue
        if any(o.container == mount.container and mount_serves(o.path, o.kind, mount.path, mount.kind) for o in out):
            continue
        out = [o for o in out if not (o.container == mount.container
                                      and mount_serves(mount.path, mount.kind, o.path, o.kind))]
        out.append(mount)
    return out


def profile_size(container: Container, match: ProfileMatch | None, path: str,
                 kinds: tuple[VolumeKind, ...] = tuple(VolumeKind)) -> int | None:
    """The size the profile gives the path (where the app writes it, or a path it accepts), for a
    path of one of *kinds*."""
    if match is None:
        return None
    for spec in match.profile.paths_for(match.layout.id):
        if spec.kind in kinds and path in (spec.path, needed_path(spec, container, match)) or path in spec.accepts:
            return spec.size
    return None


# --- environment variables that name temp and cache directories ---------------------------

PATH_VARS = ("TMPDIR", "TMP", "TEMP", "npm_config_cache", "NPM_CONFIG_CACHE", "XDG_CACHE_HOME", "HOME")
JAVA_VARS = ("JAVA_OPTS", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS")
_TMPDIR_OPT = re.compile(r"^-Djava\.io\.tmpdir=(.+)$")


def _env_var_paths(name: str, value: str) -> list[str]:
    if name in JAVA_VARS:
        try:
            words = shlex.split(value)
        except ValueError:
            words = value.split()
        return [m.group(1) for w in words if (m := _TMPDIR_OPT.match(w))]
    return [value]


def env_paths(container: Container) -> Iterator[tuple[EnvVar, str]]:
    """(env var, absolute path) for every temp/cache location the container's env names."""
    for var in container.env:
        if var.name not in PATH_VARS + JAVA_VARS or not var.value:
            continue
        for path in _env_var_paths(var.name, var.value):
            if not path.startswith("/") or "$" in path:
                continue  # relative or still to be expanded: cannot judge
            yield var, path.rstrip("/") or "/"
