"""
## What it does
Flags containers whose root filesystem is writable: a Kubernetes container (init and
ephemeral containers too) without `securityContext.readOnlyRootFilesystem: true`, or a
Compose service without `read_only: true`.

## Why is this bad?
A writable root lets an attacker who gets code execution drop tools, backdoors or
modified binaries into the image's directories and keep them for the container's life.
A read-only root makes the image immutable at run time and turns such attempts into
visible "Read-only file system" errors.

## Example
```yaml
containers:
  - name: db
    image: postgres:16
```

## Use instead
```yaml
containers:
  - name: db
    image: postgres:16
    securityContext:
      readOnlyRootFilesystem: true
    volumeMounts:                       # the paths the app writes, from its profile
      - {name: data, mountPath: /var/lib/postgresql}
      - {name: postgres-run, mountPath: /var/run/postgresql}
```

## Fix
Set the flag on the container and mount every path the app's profile needs writable
(`rofs generate APP` shows them); for an image without a profile, start with a bounded
`/tmp` and find the rest with `rofs trace`.
"""

from __future__ import annotations

from typing import Iterator

from rofs.model import Finding, RuleMeta, Severity, SourceFormat, Workload
from rofs.rules._common import RUNTIME_SHM, READ_ONLY_REFS, Context, describe_volume, required_paths, serving_mount

META = RuleMeta(
    id="RO101",
    name="writable-root-filesystem",
    severity=Severity.HIGH,
    title="Container root filesystem is writable",
    rationale="A writable root lets a compromised process change the image's files at run time.",
    fix="Set readOnlyRootFilesystem: true on the container (Compose: read_only: true) and mount the paths the app writes.",
    formats=(SourceFormat.KUBERNETES, SourceFormat.COMPOSE),
    refs=READ_ONLY_REFS,
    fixable=True,
    cwe="CWE-732",
)


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    setting = "read_only: true" if workload.format is SourceFormat.COMPOSE else "readOnlyRootFilesystem: true"
    for container in workload.containers:
        if container.security.read_only_root_fs is True:
            continue
        state = "set to false" if container.security.read_only_root_fs is False else "not set"
        message = f"root filesystem is writable ({setting} {state})"
        match = ctx.match(container)
        if match is not None:
            adds = [
                f"{path} ({describe_volume(spec.kind, spec.size, workload.format)})"
                for spec, path in required_paths(container, match)
                if path != RUNTIME_SHM and serving_mount(workload, container, spec, path) is None
            ]
            if adds:
                message += f"; {match.profile.title} then needs writable " + ", ".join(adds)
            else:
                message += f"; every path {match.profile.title} writes is already mounted"
        elif container.image:
            message += "; no profile for this image: find its writable paths with `rofs trace`"
        yield ctx.finding(META, workload, container.security.where("read_only_root_fs"), message, container)
