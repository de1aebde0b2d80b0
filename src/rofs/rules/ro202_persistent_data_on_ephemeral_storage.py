"""
## What it does
Flags a path that the app's profile marks persistent (database files, a Kafka log, a
certificate store) when the mount that holds it is an emptyDir or a tmpfs.

## Why is this bad?
emptyDir and tmpfs are wiped when the pod is rescheduled or the container restarts.
The app starts happily on an empty directory: every message, table or certificate is
gone, without an error.

## Example
```yaml
volumes:
  - name: kafka-data
    emptyDir: {}          # mounted at /var/lib/kafka/data
```

## Use instead
```yaml
volumeClaimTemplates:
  - metadata: {name: kafka-data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 100Gi}}}
```

## Fix
Move the path to persistent storage (a PVC, `volumeClaimTemplates` in a
StatefulSet, a named volume in Compose).
"""

from __future__ import annotations

from collections.abc import Iterator

from rofs.model import Capability, Finding, RuleMeta, Severity, Workload
from rofs.remedy import DEFAULT_PERSISTENT, Applicability, MakePersistent
from rofs.rules.common import Context, persistent_data_on_ephemeral

META = RuleMeta(
    id="RO202",
    name="persistent-data-on-ephemeral-storage",
    severity=Severity.CRITICAL,
    title="Data that must persist is on emptyDir or tmpfs",
    rationale="emptyDir and tmpfs are wiped on restart or rescheduling: the app starts on an empty data directory.",
    fix="Put the path on a PersistentVolumeClaim (StatefulSet: volumeClaimTemplates; Compose: a named volume).",
    needs=frozenset({Capability.MOUNTS}),
    applicability=Applicability.REVIEW,
    cwe="CWE-404",
)


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    for container, match, spec, path, mount, volume in persistent_data_on_ephemeral(workload, ctx):
        kind = volume.type or volume.kind.value
        yield ctx.finding(
            META,
            workload,
            mount.location,
            f"{match.label} keeps data that must persist in {path} ({spec.purpose}),"
            f" but volume {volume.name!r} is {kind}: it is wiped on every restart",
            container,
            path=path,
            remedies=(MakePersistent(volume.name, mount.path, spec.size or DEFAULT_PERSISTENT),),
        )
