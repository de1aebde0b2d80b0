"""What rules share: the check context and the writable-coverage helpers.

Rules never import a parser: they read the model and the profiles only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from rofs.model import (
    Container,
    ContainerRole,
    SourceFormat,
    Finding,
    Location,
    Mount,
    Ref,
    RuleMeta,
    Volume,
    VolumeKind,
    WritablePath,
    Workload,
    path_covers,
)
from rofs.profiles import ProfileMatch, ProfileRegistry

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


@dataclass
class Context:
    """Everything a rule may consult besides the workload itself."""

    registry: ProfileRegistry
    _matches: dict[str, ProfileMatch | None] = field(default_factory=dict)

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
    ) -> Finding:
        where = location or (container.location if container else None) or workload.location
        assert where is not None, "readers give every workload a location"
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
            fix=meta.fix,
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


def needed_path(spec: WritablePath, container: Container, match: ProfileMatch) -> str:
    """Where the app really writes this path: moved when the container sets the knob's env var."""
    if spec.env:
        knob = next((k for k in match.profile.env_for(match.layout.id) if k.name == spec.env), None)
        if knob is not None and knob.type == "env":
            value = container.env_value(knob.name)
            if value and value.startswith("/") and "$" not in value:
                return value.rstrip("/") or "/"
    return spec.path


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


def describe_volume(kind: VolumeKind, size: int | None, fmt: SourceFormat = SourceFormat.KUBERNETES) -> str:
    """The volume to add, in the platform's words: ``emptyDir (sizeLimit 1Mi)``, ``tmpfs (size 1m)``."""
    from rofs.units import format_docker_size, format_quantity

    if fmt is SourceFormat.COMPOSE:
        label = {VolumeKind.PERSISTENT: "named volume"}.get(kind, "tmpfs")
        return f"{label}, size {format_docker_size(size)}" if size and label == "tmpfs" else label
    label = {
        VolumeKind.PERSISTENT: "PersistentVolumeClaim",
        VolumeKind.MEMORY: "emptyDir medium: Memory",
    }.get(kind, "emptyDir")
    if not size:
        return label
    return f"{label}, {'storage' if kind is VolumeKind.PERSISTENT else 'sizeLimit'} {format_quantity(size)}"
