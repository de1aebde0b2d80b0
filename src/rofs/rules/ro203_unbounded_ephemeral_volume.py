"""
## What it does
Flags emptyDir volumes (either medium) without `sizeLimit`, and Compose tmpfs mounts
without a size. A volume that holds an app's data that must persist is RO202's: its remedy
makes it persistent, so it is not bounded here.

## Why is this bad?
An unbounded emptyDir fills the node's disk (or, with `medium: Memory`, its RAM) until
the kubelet evicts pods; an unbounded tmpfs takes up to half the host's memory. Read-only
setups add several such volumes per pod, so bounding them matters.

## Example
```yaml
volumes:
  - name: tmp
    emptyDir: {}
```

## Use instead
```yaml
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 256Mi
```

## Fix
Add the size from the app's profile (`rofs profiles show APP`), or one that fits the data.
"""

from __future__ import annotations

from collections.abc import Iterator

from rofs.model import Capability, Finding, RuleMeta, Severity, VolumeKind, Workload
from rofs.remedy import DEFAULT_EPHEMERAL, DEFAULT_MEMORY, Applicability, BoundVolume, Remedy, Suggestion
from rofs.rules.common import UNKNOWN_LEAVE, Context, persistent_data_on_ephemeral, profile_size, runs_the_app

META = RuleMeta(
    id="RO203",
    name="unbounded-ephemeral-volume",
    severity=Severity.MEDIUM,
    title="emptyDir or tmpfs without a size limit",
    rationale="An unbounded ephemeral volume can fill the node's disk or memory and get pods evicted.",
    fix="Set emptyDir.sizeLimit (Compose: tmpfs size) from the app's profile.",
    needs=frozenset({Capability.MOUNTS}),
    applicability=Applicability.REVIEW,
    cwe="CWE-400",
)


EPHEMERAL_KINDS = (VolumeKind.EPHEMERAL, VolumeKind.MEMORY)


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    moving = {volume.name for *_, volume in persistent_data_on_ephemeral(workload, ctx)}  # RO202 makes them persistent
    for volume in workload.volumes:
        if volume.kind not in (VolumeKind.EPHEMERAL, VolumeKind.MEMORY) or volume.size_limit is not None:
            continue
        if volume.name in moving:
            continue
        if volume.type not in ("emptyDir", "tmpfs"):
            continue
        users = [c for c in workload.containers if any(m.volume == volume.name for m in c.mounts)]
        paths = sorted({m.path for c in users for m in c.mounts if m.volume == volume.name})
        if volume.type == "tmpfs":
            message = f"tmpfs {paths[0] if paths else volume.name} has no size"
        else:
            medium = " (medium: Memory)" if volume.kind is VolumeKind.MEMORY else ""
            at = f" mounted at {', '.join(paths)}" if paths else ""
            message = f"emptyDir {volume.name!r}{medium}{at} has no sizeLimit"
        size = next((found for c in users for m in c.mounts if m.volume == volume.name
                     if (found := profile_size(c, ctx.match(c), m.path, EPHEMERAL_KINDS))), None)
        remedy: Remedy
        if size is None and users and ctx.unknown_images == UNKNOWN_LEAVE and all(ctx.match(c) is None or not runs_the_app(c) for c in users):
            # what an app without a profile writes there is unknown: a guessed limit could get it evicted
            what = ", ".join(sorted({c.image or "this build" for c in users}))
            remedy = Suggestion(f"give it a size once you know how much {what} writes there (rofs trace measures it):"
                                " past its limit the pod is evicted")
        else:
            size = size or (DEFAULT_MEMORY if volume.kind is VolumeKind.MEMORY else DEFAULT_EPHEMERAL)
            remedy = BoundVolume(volume.name, paths[0] if paths else None, size, volume.kind)
        yield ctx.finding(
            META,
            workload,
            volume.where(volume.type) if volume.type == "emptyDir" else volume.location,
            message,
            users[0] if len(users) == 1 else None,
            path=paths[0] if paths else None,
            remedies=(remedy,),
        )
