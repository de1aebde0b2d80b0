"""Turn a profile into a hardened workload in the one model.

Every output format (Kubernetes, Compose, docker run, Dockerfile) renders the
same :class:`Plan`, so the four agree on paths, volume kinds and sizes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rofs.model import (
    Container,
    EnvVar,
    Layout,
    Mount,
    Profile,
    SecuritySettings,
    SourceFormat,
    Volume,
    VolumeKind,
    Workload,
    WritablePath,
    mount_serves,
    path_covers,
    volume_name_for,
)

KINDS = ("Deployment", "StatefulSet", "Pod")


class PlanError(ValueError):
    """Options that cannot produce a manifest (bad size override, layout without image ...)."""


@dataclass(frozen=True)
class GenerateOptions:
    name: str | None = None
    image: str | None = None
    kind: str = "StatefulSet"  # StatefulSet when the app has persistent paths, else Deployment (see cli)
    layout: str | None = None
    storage_class: str | None = None
    namespace: str | None = None
    sizes: tuple[tuple[str, int], ...] = ()  # (path or volume name, bytes)
    include_optional: bool = True


@dataclass(frozen=True)
class PlannedPath:
    """One writable path of the plan: where, why, and the volume that serves it."""

    spec: WritablePath
    volume: Volume
    mount: Mount


@dataclass(frozen=True)
class Plan:
    profile: Profile
    layout: Layout
    options: GenerateOptions
    name: str
    image: str
    kind: str
    paths: tuple[PlannedPath, ...]
    workload: Workload
    env: tuple[EnvVar, ...] = field(default=())

    @property
    def uid(self) -> int | None:
        return self.workload.pod_security.run_as_user

    @property
    def gid(self) -> int | None:
        return self.workload.pod_security.run_as_group

    def by_kind(self, *kinds: VolumeKind) -> list[PlannedPath]:
        return [p for p in self.paths if p.volume.kind in kinds]


_NAME_RE = re.compile(r"[^a-z0-9-]+")


def dns_name(text: str) -> str:
    name = _NAME_RE.sub("-", text.lower()).strip("-")
    if not name:
        raise PlanError(f"cannot make a Kubernetes name from {text!r}")
    return name[:63].rstrip("-")


def _size_override(options: GenerateOptions, spec: WritablePath, vol_name: str) -> int | None:
    for key, size in options.sizes:
        if key == vol_name or (key.startswith("/") and key.rstrip("/") == spec.path):
            return size
    return spec.size


def check_size_keys(profile: Profile, layout: Layout, options: GenerateOptions) -> None:
    """Every ``--size`` key must name a path or volume of the plan (a typo is an error, not a no-op)."""
    specs = profile.paths_for(layout.id)
    known_paths = {p.path for p in specs}
    known_names = {p.name or volume_name_for(p.path) for p in specs}
    for key, _ in options.sizes:
        if key.rstrip("/") not in known_paths and key not in known_names:
            choices = ", ".join(sorted(known_paths | known_names)) or "(this profile has no writable paths)"
            raise PlanError(f"--size {key}: not a path or volume of {profile.name} (known: {choices})")


def build_plan(profile: Profile, options: GenerateOptions) -> Plan:
    """The hardened workload for *profile*: its layout's image, every writable path on a volume."""
    layout = _layout(profile, options)
    image = options.image or layout.image
    if not image:
        raise PlanError(
            f"layout {layout.id!r} of {profile.name} has no container image; pass --image or choose another --layout"
        )
    if options.kind not in KINDS:
        raise PlanError(f"--kind must be one of {', '.join(KINDS)}")
    check_size_keys(profile, layout, options)
    name = dns_name(options.name or profile.name)
    planned = _planned_paths(_path_specs(profile, layout, options), options, name)
    env = _merge_carriers(tuple(
        EnvVar(name=k.carrier or k.name, value=k.recommended)
        for k in profile.env_for(layout.id)
        if k.recommended is not None and k.type in ("env", "jvm-option")
    ))
    workload = _workload(profile, layout, options, name, image, planned, env)
    return Plan(
        profile=profile,
        layout=layout,
        options=options,
        name=name,
        image=image,
        kind=options.kind,
        paths=tuple(planned),
        workload=workload,
        env=env,
    )


def _layout(profile: Profile, options: GenerateOptions) -> Layout:
    try:
        return profile.layout(options.layout) if options.layout else _default_image_layout(profile)
    except KeyError as exc:
        raise PlanError(str(exc.args[0])) from None


def _path_specs(profile: Profile, layout: Layout, options: GenerateOptions) -> list[WritablePath]:
    """The layout's paths the plan mounts: required ones (optional ones too unless left out), but
    not those written elsewhere by the plan's env, nor those another path's volume serves."""
    knobs = {k.name: k for k in profile.env_for(layout.id)}

    def moved_away(spec: WritablePath) -> bool:
        """An optional path whose knob the plan sets to a value elsewhere is not written at all."""
        knob = knobs.get(spec.env or "")
        return (
            not spec.required
            and knob is not None
            and knob.recommended is not None
            and knob.type in ("env", "jvm-option")
            and not path_covers(spec.path, knob.recommended)
        )

    specs = [
        p for p in profile.paths_for(layout.id) if (p.required or options.include_optional) and not moved_away(p)
    ]
    return [s for s in specs if not any(o is not s and _serves(o, s) for o in specs)]


def _planned_paths(specs: list[WritablePath], options: GenerateOptions, name: str) -> list[PlannedPath]:
    """A volume (names unique: ``-2``, ``-3`` ...) and a mount for each path."""
    used: set[str] = set()
    planned: list[PlannedPath] = []
    for spec in specs:
        base = spec.name or volume_name_for(spec.path)
        vol_name = base
        counter = 2
        while vol_name in used:
            vol_name = f"{base}-{counter}"
            counter += 1
        used.add(vol_name)
        size = _size_override(options, spec, vol_name)
        if spec.kind is VolumeKind.PERSISTENT:
            vtype = "persistentVolumeClaim"
            source: str | None = f"{vol_name}-{name}" if options.kind == "StatefulSet" else f"{name}-{vol_name}"
        else:
            vtype = "emptyDir"
            source = None
        volume = Volume(name=vol_name, kind=spec.kind, size_limit=size, source=source, type=vtype)
        planned.append(PlannedPath(spec=spec, volume=volume, mount=Mount(path=spec.path, volume=vol_name)))
    return planned


def _workload(profile: Profile, layout: Layout, options: GenerateOptions, name: str, image: str,
              planned: list[PlannedPath], env: tuple[EnvVar, ...]) -> Workload:
    """The one container, hardened, with the planned volumes; non-root when the layout knows its user."""
    uid = layout.user.uid or None  # 0 is root: never written as the runtime user
    # Group 0 (Bitnami's images) would hand the process the root group; use the UID's own group.
    gid = (layout.user.gid or uid) if uid else None
    root_start = layout.starts_as is not None and layout.starts_as.root  # it steps down to its user itself
    if root_start:
        uid = gid = None
    security = SecuritySettings(
        read_only_root_fs=True,
        run_as_non_root=None if root_start else True,
        run_as_user=uid,
        run_as_group=gid,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities_drop=("ALL",),
        capabilities_add=profile.capabilities_add,
        seccomp_profile="RuntimeDefault",
    )
    container = Container(
        name=name,
        image=image,
        command=layout.command,
        args=layout.args,
        security=security,
        mounts=tuple(p.mount for p in planned),
        env=env,
    )
    return Workload(
        kind=options.kind,
        name=name,
        format=SourceFormat.PROFILE,
        containers=(container,),
        volumes=tuple(p.volume for p in planned),
        pod_security=SecuritySettings(
            run_as_non_root=None if root_start else True,
            run_as_user=uid,
            run_as_group=gid,
            fs_group=gid,
            seccomp_profile="RuntimeDefault",
        ),
        namespace=options.namespace,
    )


def _serves(outer: WritablePath, inner: WritablePath) -> bool:
    return mount_serves(outer.path, outer.kind, inner.path, inner.kind)


def _default_image_layout(profile: Profile) -> Layout:
    for layout in profile.layouts:
        if layout.image or layout.images:
            return layout
    return profile.default_layout


def _merge_carriers(env: tuple[EnvVar, ...]) -> tuple[EnvVar, ...]:
    """Options that travel in one variable (JAVA_TOOL_OPTIONS) are joined with spaces."""
    merged: dict[str, list[str]] = {}
    for var in env:
        merged.setdefault(var.name, [])
        if var.value and var.value not in merged[var.name]:
            merged[var.name].append(var.value)
    return tuple(EnvVar(name=k, value=" ".join(v)) for k, v in merged.items())
