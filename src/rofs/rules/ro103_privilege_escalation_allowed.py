"""
## What it does
Flags containers that may gain privileges: Kubernetes containers without
`allowPrivilegeEscalation: false`, Compose services without `no-new-privileges`.

## Why is this bad?
Without the no_new_privs bit a process can gain privileges through setuid binaries or
file capabilities, which undoes running as non-root and dropping capabilities.

## Example
```yaml
securityContext:
  readOnlyRootFilesystem: true
```

## Use instead
```yaml
securityContext:
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
```

## Fix
Set `allowPrivilegeEscalation: false` (Compose: `security_opt: [no-new-privileges:true]`).
"""

from __future__ import annotations

from collections.abc import Iterator

from rofs.model import Capability, Finding, RuleMeta, Severity, SourceFormat, Workload
from rofs.rules.common import CIS_DOCKER_5_25, CIS_K8S_5_7_3, Context

META = RuleMeta(
    id="RO103",
    name="privilege-escalation-allowed",
    severity=Severity.MEDIUM,
    title="Container may gain privileges (no_new_privs not set)",
    rationale="setuid binaries and file capabilities can raise the privileges of a process that may escalate.",
    fix="Set allowPrivilegeEscalation: false (Compose: security_opt: [no-new-privileges:true]).",
    needs=frozenset({Capability.PRIVILEGES}),
    refs=(CIS_DOCKER_5_25, CIS_K8S_5_7_3),
    cwe="CWE-250",
)


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    compose = workload.format is SourceFormat.COMPOSE
    for container in workload.containers:
        if container.security.allow_privilege_escalation is False:
            continue
        if compose:
            message = "no-new-privileges is not set in security_opt"
        elif container.security.allow_privilege_escalation is True:
            message = "allowPrivilegeEscalation is true"
        else:
            message = "allowPrivilegeEscalation is not set to false"
        yield ctx.finding(META, workload, container.security.where("allow_privilege_escalation"), message, container)
