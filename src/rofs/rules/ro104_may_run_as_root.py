"""
## What it does
Flags Kubernetes containers for which neither the pod nor the container sets
`runAsNonRoot: true` or a non-zero `runAsUser`.

## Why is this bad?
A process running as UID 0 owns every file of a writable mount, can chown them, and is
one kernel bug away from the node. Running as a non-root UID also makes the volume
ownership (`fsGroup`) that read-only setups rely on predictable.

## Example
```yaml
containers:
  - name: app
    image: nginx:1.27
```

## Use instead
```yaml
securityContext:
  runAsNonRoot: true
  runAsUser: 101
```

## Fix
Set `runAsNonRoot: true` and a `runAsUser` (rofs' profiles carry each image's UID).
"""

from __future__ import annotations

from collections.abc import Iterator

from rofs.model import Capability, Finding, RuleMeta, Severity, Workload
from rofs.rules.common import CIS_DOCKER_4_1, CIS_K8S_5_7_3, Context

META = RuleMeta(
    id="RO104",
    name="may-run-as-root",
    severity=Severity.MEDIUM,
    title="Container may run as root",
    rationale="Nothing stops the container from running as UID 0.",
    fix="Set runAsNonRoot: true and a non-zero runAsUser on the pod or the container.",
    needs=frozenset({Capability.NON_ROOT_POLICY}),
    refs=(CIS_K8S_5_7_3, CIS_DOCKER_4_1),
    cwe="CWE-250",
)


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    pod = workload.pod_security
    for container in workload.containers:
        sec = container.security
        user = sec.run_as_user if sec.run_as_user is not None else pod.run_as_user
        non_root = sec.run_as_non_root if sec.run_as_non_root is not None else pod.run_as_non_root
        if user == 0:
            message = "runAsUser is 0 (root)"
        elif non_root is True or (user is not None and user > 0):
            continue
        else:
            message = "neither the pod nor the container sets runAsNonRoot: true or a non-zero runAsUser"
            match = ctx.match(container)
            if match is not None and match.layout.user.uid:
                message += f" (rofs' {match.profile.name} profile runs it as UID {match.layout.user.uid})"
        yield ctx.finding(META, workload, sec.where("run_as_user"), message, container)
