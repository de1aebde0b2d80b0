"""
## What it does
Flags a Kubernetes `volumeMount` whose `name` matches no volume of the pod (nor a
StatefulSet claim template), and a Compose service that mounts a named volume not
declared under the top-level `volumes:`.

## Why is this bad?
Kubernetes rejects the pod; Compose refuses to start the service. When this happens
while adding the mounts a read-only root needs, the rollout fails outright.

## Example
```yaml
volumeMounts:
  - {name: tmp, mountPath: /tmp}
volumes: []
```

## Use instead
```yaml
volumeMounts:
  - {name: tmp, mountPath: /tmp}
volumes:
  - name: tmp
    emptyDir: {sizeLimit: 256Mi}
```

## Fix
Declare the volume (pod `volumes:` or Compose top-level `volumes:`), or fix the name.
"""

from __future__ import annotations

from collections.abc import Iterator

from rofs.model import Capability, Finding, RuleMeta, Severity, SourceFormat, Workload
from rofs.remedy import DeclareVolume
from rofs.rules.common import Context

META = RuleMeta(
    id="RO205",
    name="undefined-volume",
    severity=Severity.HIGH,
    title="Mount refers to a volume that is not defined",
    rationale="The platform rejects a mount of an undefined volume, so the workload does not start.",
    fix="Declare the volume, or correct the mount's volume name.",
    needs=frozenset({Capability.MOUNTS}),
)


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    compose = workload.format is SourceFormat.COMPOSE
    for container in workload.containers:
        for mount in container.mounts:
            if workload.volume(mount.volume) is not None:
                continue
            if compose:
                message = f"named volume {mount.volume!r} is not declared under the top-level volumes:"
            else:
                message = f"volumeMount {mount.volume!r} ({mount.path}) names no volume of the pod"
            yield ctx.finding(META, workload, mount.location, message, container, path=mount.path or None,
                              remedies=(DeclareVolume(mount.volume),))
