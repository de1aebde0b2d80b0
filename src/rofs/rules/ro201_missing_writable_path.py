"""
## What it does
For a container with a read-only root whose image matches an application profile, flags
every path the profile says the app must write that no writable mount covers.

## Why is this bad?
The app crashes or misbehaves at the first write: PostgreSQL exits at start without its
socket directory, nginx without its temp directories, a JVM app fails on every temp
file. This is why teams turn the flag on, see the pod crash-loop, and turn it off again.

## Example
```yaml
containers:
  - name: db
    image: postgres:16
    securityContext: {readOnlyRootFilesystem: true}
    volumeMounts:
      - {name: data, mountPath: /var/lib/postgresql}
```

## Use instead
```yaml
    volumeMounts:
      - {name: data, mountPath: /var/lib/postgresql}
      - {name: postgres-run, mountPath: /var/run/postgresql}   # emptyDir, sizeLimit 1Mi
      - {name: dshm, mountPath: /dev/shm}                      # emptyDir medium Memory
```

Profile rules apply to the containers that run the app: main containers, and init or
ephemeral containers that keep the image's command. An init container with a command of
its own (a copy step) is not held to the app's paths.

## Fix
Add each missing mount with the profile's volume kind and size
(`rofs profiles show APP` lists them and says what breaks without each).
"""

from __future__ import annotations

from collections.abc import Iterator

from rofs.model import Capability, Finding, RuleMeta, Severity, Workload
from rofs.remedy import Applicability
from rofs.rules.common import (
    NSA_CISA,
    RUNTIME_SHM,
    Context,
    mount_for,
    mount_remedies,
    required_paths,
    root_is_read_only,
    serving_mount,
)

META = RuleMeta(
    id="RO201",
    name="missing-writable-path",
    severity=Severity.CRITICAL,
    title="Read-only root, but a path the app must write has no writable mount",
    rationale="The application writes this path; with a read-only root and no mount it fails at run time.",
    fix="Mount a volume of the profile's kind and size at the path.",
    needs=frozenset({Capability.READ_ONLY_ROOT, Capability.MOUNTS}),
    refs=(NSA_CISA,),
    applicability=Applicability.REVIEW,
)


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    for container in workload.containers:
        if not root_is_read_only(container):
            continue
        match = ctx.match(container)
        if match is None:
            continue
        for spec, path in required_paths(container, match):
            if path == RUNTIME_SHM or serving_mount(workload, container, spec, path) is not None:
                continue  # every container runtime mounts a writable /dev/shm of its own
            message = (
                f"{match.label} writes {path} ({spec.purpose}) and nothing writable is mounted there"
                f" (without it: {spec.breaks})"
            )
            yield ctx.finding(META, workload, container.location, message, container, path=path,
                              remedies=tuple(mount_remedies(workload, container, [mount_for(container, spec, path)])))
