"""The one model every part of rofs speaks.

Readers (Kubernetes, Compose, Dockerfile, image config) fill these frozen
dataclasses; rules, fixers, generators and formats read them.  Nothing here
imports a parser: a rule that needs to know whether a container's root is
read-only asks ``container.security.read_only_root_fs`` and never looks at YAML.

Every object read from a file carries a :class:`Location`.  Fields can carry
their own location too (``field_locations``); ``where(field)`` answers with the
field's location when the field was present and with the owning object's
location when it was not, so a finding about a *missing* setting points at the
object that should hold it, never at line 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, order=True)
class Location:
    """A position in a source file.  Lines and columns are 1-based."""

    path: str
    line: int
    column: int = 1
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


FieldLocations = tuple[tuple[str, Location], ...]


class _Located:
    """Mixin for dataclasses with ``location`` and ``field_locations``."""

    location: Location | None
    field_locations: FieldLocations

    def where(self, name: str) -> Location | None:
        """Location of field *name* if it was written in the file, else of the object."""
        for key, loc in self.field_locations:
            if key == name:
                return loc
        return self.location


class VolumeKind(StrEnum):
    """What a writable path needs from the platform.

    persistent: must survive restarts (database files, a Kafka log): a PVC or named volume.
    ephemeral:  may be lost on restart (temp files, caches, sockets, PID files): emptyDir / tmpfs.
    memory:     ephemeral and in RAM (``/dev/shm``): emptyDir ``medium: Memory`` / tmpfs.
    config:     read-only data supplied by the platform (ConfigMap, Secret, bind of a config file).
    host:       a path of the node (hostPath, bind mount of a host directory).
    """

    PERSISTENT = "persistent"
    EPHEMERAL = "ephemeral"
    MEMORY = "memory"
    CONFIG = "config"
    HOST = "host"

    @property
    def writable_by_default(self) -> bool:
        return self is not VolumeKind.CONFIG

    @property
    def survives_restart(self) -> bool:
        return self in (VolumeKind.PERSISTENT, VolumeKind.HOST)


class SourceFormat(StrEnum):
    KUBERNETES = "kubernetes"
    COMPOSE = "compose"
    DOCKERFILE = "dockerfile"
    IMAGE = "image"
    PROFILE = "profile"


@dataclass(frozen=True)
class Volume(_Located):
    """A volume a workload declares (K8s ``volumes[]``, Compose top-level or inline volume)."""

    name: str
    kind: VolumeKind
    size_limit: int | None = None  # bytes; None = unbounded
    source: str | None = None  # claim name, host path, ConfigMap name, ...
    type: str | None = None  # the platform's own word: emptyDir, persistentVolumeClaim, tmpfs, bind ...
    read_only: bool = False
    location: Location | None = None
    field_locations: FieldLocations = ()


@dataclass(frozen=True)
class Mount(_Located):
    """A volume mounted into a container at ``path``."""

    path: str
    volume: str  # name of a Volume of the workload (Compose tmpfs: synthesised name)
    read_only: bool = False
    sub_path: str | None = None
    location: Location | None = None
    field_locations: FieldLocations = ()


@dataclass(frozen=True)
class EnvVar(_Located):
    name: str
    value: str | None  # None when it comes from a secret/configmap reference
    location: Location | None = None
    field_locations: FieldLocations = ()


@dataclass(frozen=True)
class SecuritySettings(_Located):
    """Security settings of one container, or of a pod (``pod_security``).

    ``None`` means "not set here", which is different from ``False``.
    """

    read_only_root_fs: bool | None = None
    run_as_non_root: bool | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    fs_group: int | None = None
    allow_privilege_escalation: bool | None = None  # Compose: no-new-privileges inverted
    privileged: bool | None = None
    capabilities_add: tuple[str, ...] = ()
    capabilities_drop: tuple[str, ...] = ()
    seccomp_profile: str | None = None
    # fields whose value is a variable the runtime fills in (Compose ``read_only: ${RO}``), and
    # the text as written: not known here, so neither true nor false
    interpolated: tuple[tuple[str, str], ...] = ()
    location: Location | None = None
    field_locations: FieldLocations = ()


class ContainerRole(StrEnum):
    MAIN = "container"
    INIT = "initContainer"
    EPHEMERAL = "ephemeralContainer"


@dataclass(frozen=True)
class Container(_Located):
    name: str
    image: str | None
    role: ContainerRole = ContainerRole.MAIN
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    shell_form: bool = False  # Dockerfile CMD/ENTRYPOINT written in shell form
    user: str | None = None  # Compose ``user:``, Dockerfile ``USER``
    working_dir: str | None = None
    security: SecuritySettings = field(default_factory=SecuritySettings)
    mounts: tuple[Mount, ...] = ()
    env: tuple[EnvVar, ...] = ()
    location: Location | None = None
    field_locations: FieldLocations = ()

    def env_value(self, name: str) -> str | None:
        for var in self.env:
            if var.name == name:
                return var.value
        return None


@dataclass(frozen=True)
class Suppression:
    """"Do not report these rules here", with the reason the author gave.

    From a Kubernetes annotation (``rofs.dev/ignore``, ``rofs.dev/ignore.<container>``), a Compose
    ``x-rofs-ignore`` field, or a ``# rofs: ignore=RO301 -- reason`` comment on the line above.
    ``rules`` holds IDs or names; ``container`` limits it to one container; ``line`` limits a
    comment pragma to the finding on the next line (or the same line).
    """

    rules: tuple[str, ...]
    reason: str | None
    location: Location
    container: str | None = None
    line: int | None = None

    def matches(self, rule_id: str, rule_name: str, container: str | None, line: int | None,
                path: str | None = None) -> bool:
        """Does it hide this finding?  A comment hides findings on its line and the next, of its own
        file (a Compose service read with its base holds findings of both files)."""
        if not any(r in (rule_id, rule_name, "all") for r in self.rules):
            return False
        if self.container is not None and self.container != container:
            return False
        if self.line is not None and path is not None and self.location.path and path != self.location.path:
            return False
        return self.line is None or line in (self.line, self.line + 1)


@dataclass(frozen=True)
class Workload(_Located):
    """Something that runs containers: a K8s pod-bearing object, a Compose service, a Dockerfile."""

    kind: str  # Deployment, StatefulSet, Pod, ..., "service" (Compose), "Dockerfile"
    name: str
    format: SourceFormat
    containers: tuple[Container, ...] = ()
    volumes: tuple[Volume, ...] = ()
    pod_security: SecuritySettings = field(default_factory=SecuritySettings)
    namespace: str | None = None
    annotations: tuple[tuple[str, str], ...] = ()
    suppressions: tuple[Suppression, ...] = ()
    location: Location | None = None
    field_locations: FieldLocations = ()

    @property
    def display_name(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def volume(self, name: str) -> Volume | None:
        for vol in self.volumes:
            if vol.name == name:
                return vol
        return None

    def all_containers(self) -> Iterator[Container]:
        yield from self.containers


# Links every mainstream base image has (Debian, Ubuntu, Alpine, UBI, distroless): a mount at
# /var/run/mysqld lands on /run/mysqld, since the runtime resolves links in the image.
RUNTIME_LINKS = (("/var/run", "/run"), ("/var/lock", "/run/lock"))


def resolved(path: str) -> str:
    """*path* as the container sees it once /var/run and /var/lock are followed to /run."""
    for link, target in RUNTIME_LINKS:
        if path == link or path.startswith(link + "/"):
            return target + path[len(link):]
    return path


# Places whose contents may be lost on restart: beneath one of these tops, or a directory named
# like one of these words.  Anything else a program without a profile writes may be its data.
SCRATCH_TOPS = ("/tmp", "/var/tmp", "/run", "/var/run", "/var/cache", "/var/log", "/var/lock", "/dev/shm")
SCRATCH_WORDS = frozenset({"cache", "caches", "tmp", "temp", "log", "logs", "run", "lock", "sock", "pids",
                           "pycache", "npm", "cacache", "yarn", "pnpm"})


def scratch_reason(point: str) -> str | None:
    """Why *point* holds only what may be lost on restart (temp files, caches, logs, runtime files),
    or None when nothing says so."""
    for top in SCRATCH_TOPS:
        if path_covers(top, point):
            return f"under {top}: temporary, cache, log or runtime files"
    name = point.rstrip("/").rsplit("/", 1)[-1]
    if set(name.lower().replace("_", "-").replace(".", "-").split("-")) & SCRATCH_WORDS:
        return f"named like a temp/cache/log/run directory ({name})"
    return None


def path_covers(mount_path: str, path: str) -> bool:
    """True when *path* is *mount_path* or lies beneath it (component-wise; /var/run is /run)."""
    mount = resolved(mount_path.rstrip("/")) or "/"
    target = resolved(path.rstrip("/")) or "/"
    if mount == "/":
        return True
    return target == mount or target.startswith(mount + "/")


def volume_name_for(path: str) -> str:
    """A readable DNS-label volume name for a path: ``/var/run/postgresql`` -> ``var-run-postgresql``."""
    name = re.sub(r"[^a-z0-9-]+", "-", path.strip("/").lower()).strip("-") or "root"
    return name[:63].rstrip("-")


def mount_serves(outer_path: str, outer_kind: VolumeKind, inner_path: str, inner_kind: VolumeKind) -> bool:
    """True when the mount for *outer_path* already serves *inner_path*, so it needs none of its own.

    A path beneath another is covered when the outer volume is at least as durable:
    Kafka's ``/tmp/kraft-combined-logs`` beneath an ephemeral ``/tmp`` still needs its
    own persistent volume, nested inside the emptyDir.
    """
    if resolved(outer_path) == resolved(inner_path) or not path_covers(outer_path, inner_path):
        return False
    return outer_kind is inner_kind or outer_kind is VolumeKind.PERSISTENT


# --- application profiles -------------------------------------------------------------
# A profile is data (``profiles/data/<app>.yaml``); these classes are its loaded form.


@dataclass(frozen=True)
class UserSpec:
    name: str | None = None
    uid: int | None = None
    gid: int | None = None

    @property
    def root(self) -> bool:
        return self.name == "root" or self.uid == 0


@dataclass(frozen=True)
class DerivedImage:
    """An image with a layout's files where the layout has them (built FROM it, or a fork that
    keeps them), and why rofs takes it so."""

    pattern: str
    via: str
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    """One way an app is packaged (official image, Bitnami, Debian package ...)."""

    id: str
    description: str
    images: tuple[str, ...] = ()
    derived: tuple[DerivedImage, ...] = ()
    package: str | None = None
    image: str | None = None
    user: UserSpec = UserSpec()  # who it runs as (the worker user)
    starts_as: UserSpec | None = None  # who it must start as, when not `user` (it steps down itself)
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    ports: tuple[int, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class WritablePath:
    path: str
    purpose: str
    kind: VolumeKind
    required: bool
    breaks: str
    sources: tuple[str, ...]
    size: int | None = None  # bytes
    name: str | None = None  # preferred volume name
    layouts: tuple[str, ...] = ()  # empty: every layout
    condition: str | None = None
    populated: bool = False
    env: str | None = None
    accepts: tuple[str, ...] = ()  # narrower paths where a mount also serves
    # Alternatives; each is token sequences that must all appear in command+args for the app
    # not to write the path (Redis with `--save "" --appendonly no` writes no /data).
    unneeded_with: tuple[tuple[tuple[str, ...], ...], ...] = ()
    signatures: tuple[str, ...] = ()
    other_versions: tuple[str, ...] = ()  # the signatures that are other versions' wording (not run here)
    relative_names: tuple[str, ...] = ()  # globs of names written beneath the path, as logs quote them
    observed: tuple[tuple[str, object], ...] = ()

    def applies_to(self, layout: str) -> bool:
        return not self.layouts or layout in self.layouts

    def unneeded_for(self, words: tuple[str, ...]) -> bool:
        """True when the command line (*words*) turns off what writes this path."""
        return any(all(_contains(words, seq) for seq in alternative) for alternative in self.unneeded_with)


def _contains(words: tuple[str, ...], seq: tuple[str, ...]) -> bool:
    n = len(seq)
    return any(words[i : i + n] == seq for i in range(len(words) - n + 1))


@dataclass(frozen=True)
class EnvKnob:
    name: str
    type: str  # env | jvm-option | config | flag
    description: str
    carrier: str | None = None
    moves: tuple[str, ...] = ()
    default: str | None = None
    recommended: str | None = None
    layouts: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def applies_to(self, layout: str) -> bool:
        return not self.layouts or layout in self.layouts


@dataclass(frozen=True)
class Probe:
    exec: tuple[str, ...] | None = None
    tcp: int | None = None
    http_path: str | None = None
    http_port: int | None = None
    initial_delay: int | None = None
    period: int | None = None


@dataclass(frozen=True)
class SourceRef:
    id: str
    title: str
    url: str | None = None
    ref: str | None = None
    verified: str | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    description: str
    layouts: tuple[Layout, ...]
    paths: tuple[WritablePath, ...]
    sources: tuple[SourceRef, ...]
    category: str = "other"
    aliases: tuple[str, ...] = ()
    env: tuple[EnvKnob, ...] = ()
    probes: tuple[tuple[str, Probe], ...] = ()
    capabilities_add: tuple[str, ...] = ()
    capabilities_reason: str | None = None
    resources: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    notes: tuple[str, ...] = ()
    generated_by: str | None = None
    origin: str = ""  # file the profile was loaded from

    @property
    def default_layout(self) -> Layout:
        return self.layouts[0]

    def layout(self, layout_id: str | None) -> Layout:
        if layout_id is None:
            return self.default_layout
        for layout in self.layouts:
            if layout.id == layout_id:
                return layout
        known = ", ".join(layout.id for layout in self.layouts)
        raise KeyError(f"profile {self.name!r} has no layout {layout_id!r} (known: {known})")

    def paths_for(self, layout_id: str | None = None) -> tuple[WritablePath, ...]:
        layout = self.layout(layout_id)
        return tuple(p for p in self.paths if p.applies_to(layout.id))

    def env_for(self, layout_id: str | None = None) -> tuple[EnvKnob, ...]:
        layout = self.layout(layout_id)
        return tuple(k for k in self.env if k.applies_to(layout.id))

    def probe(self, which: str) -> Probe | None:
        for key, probe in self.probes:
            if key == which:
                return probe
        return None

    def source(self, source_id: str) -> SourceRef | None:
        for src in self.sources:
            if src.id == source_id:
                return src
        return None


# --- findings ---------------------------------------------------------------------------


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return ("low", "medium", "high", "critical").index(self.value)


@dataclass(frozen=True)
class Ref:
    """A compliance control a rule helps with (structured, so reports can group by standard)."""

    standard: str
    control: str
    title: str = ""
    edition: str = ""
    url: str = ""


class Capability(StrEnum):
    """What an input format can express.  Rules say which they need; each reader
    (``rofs.intake.READERS``) says which its format has, and a rule runs on a workload whose
    format has all it needs."""

    CONTAINERS = "containers"  # containers with images
    COMMANDS = "commands"  # the commands containers run
    SUPPRESSIONS = "suppressions"  # rofs: ignore comments
    READ_ONLY_ROOT = "read-only-root"  # a per-container read-only root filesystem setting
    MOUNTS = "mounts"  # volumes and tmpfs mounted into containers
    PRIVILEGES = "privileges"  # privilege escalation and capability settings
    POD_SECURITY = "pod-security"  # settings shared by a group of containers (a pod)
    NON_ROOT_POLICY = "non-root-policy"  # a setting that refuses to start a root process
    BUILD = "build"  # image build instructions (USER, VOLUME, RUN, CMD)


@dataclass(frozen=True)
class RuleMeta:
    id: str  # RO101; public, never changes
    name: str  # writable-root-filesystem
    severity: Severity
    title: str  # one line
    rationale: str  # why it matters, one paragraph
    fix: str  # what fixes it, one sentence ending in a period
    needs: frozenset[Capability]  # what a format must express for the rule to apply to it
    refs: tuple[Ref, ...] = ()
    # What `rofs fix` may do with the rule's remedies (rofs.remedy.Applicability): "safe" and
    # "review" are written, "suggestion" only shown.  The one place that says what is fixable.
    applicability: str = "suggestion"
    cwe: str | None = None

    @property
    def fixable(self) -> bool:
        return self.applicability in ("safe", "review")


@dataclass(frozen=True)
class Finding:
    """One problem at one place.  Formats read these fields and compute nothing."""

    rule: str
    name: str
    severity: Severity
    message: str
    location: Location
    kind: str  # Deployment, service, Dockerfile ...
    object: str  # object name (namespace/name for namespaced K8s objects)
    container: str | None = None
    path: str | None = None  # the filesystem path concerned, when there is one
    fix: str | None = None  # the remedies in the format's words (else the rule's general fix)
    suppressed: str | None = None  # the reason, when a suppression matched
    remedies: tuple[Any, ...] = ()  # rofs.remedy objects: what `rofs fix` applies
    applicability: str = "suggestion"  # of the remedies here (rofs.remedy.Applicability)

    @property
    def sort_key(self) -> tuple:
        return (self.location.path, self.location.line, self.location.column, self.rule, self.path or "")
