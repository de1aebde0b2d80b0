"""
## What it does
Flags `readOnlyRootFilesystem` written in the pod-level `securityContext`.

## Why is this bad?
The field exists only in the container `securityContext`. At pod level Kubernetes drops
it (or rejects the object under strict validation), so the author believes the root is
read-only while it is not.

## Example
```yaml
spec:
  securityContext:
    readOnlyRootFilesystem: true
```

## Use instead
```yaml
spec:
  containers:
    - name: app
      securityContext:
        readOnlyRootFilesystem: true
```

## Fix
Move the setting into every container's `securityContext`.
"""

from __future__ import annotations

from collections.abc import Iterator

from rofs.model import Capability, Finding, RuleMeta, Severity, Workload
from rofs.remedy import Applicability, RemovePodSetting
from rofs.rules.common import READ_ONLY_REFS, Context

META = RuleMeta(
    id="RO102",
    name="misplaced-read-only-setting",
    severity=Severity.MEDIUM,
    title="readOnlyRootFilesystem set at pod level, where Kubernetes ignores it",
    rationale="The pod securityContext has no readOnlyRootFilesystem field; the setting has no effect there.",
    fix="Move readOnlyRootFilesystem into the securityContext of each container.",
    needs=frozenset({Capability.POD_SECURITY, Capability.READ_ONLY_ROOT}),
    refs=READ_ONLY_REFS,
    applicability=Applicability.SAFE,
)


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    value = workload.pod_security.read_only_root_fs
    if value is None:
        return
    yield ctx.finding(
        META,
        workload,
        workload.pod_security.where("read_only_root_fs"),
        f"readOnlyRootFilesystem: {str(value).lower()} is in the pod securityContext, where Kubernetes ignores it;"
        " set it on each container",
        remedies=(RemovePodSetting("readOnlyRootFilesystem"),),
    )
