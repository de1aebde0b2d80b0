"""
## What it does
Flags containers that keep the runtime's default capabilities: `capabilities.drop`
(Compose: `cap_drop`) does not contain `ALL`.

## Why is this bad?
The default set includes CHOWN, DAC_OVERRIDE, FOWNER, SETUID and others that let a
process rewrite file ownership and permissions in every writable mount.

## Example
```yaml
securityContext:
  capabilities:
    drop: [NET_RAW]
```

## Use instead
```yaml
securityContext:
  capabilities:
    drop: [ALL]
    add: [NET_BIND_SERVICE]   # only what the app needs, with a reason
```

## Fix
Drop `ALL` and add back only the capabilities the app needs.
"""

from __future__ import annotations

from collections.abc import Iterator

from rofs.model import Capability, Finding, RuleMeta, Severity, SourceFormat, Workload
from rofs.rules.common import CIS_DOCKER_5_3, CIS_K8S_5_7_3, Context

META = RuleMeta(
    id="RO105",
    name="capabilities-not-dropped",
    severity=Severity.LOW,
    title="Container keeps the default Linux capabilities",
    rationale="Default capabilities let a process change ownership and permissions of what it can write.",
    fix="Drop ALL capabilities (Compose: cap_drop: [ALL]) and add back only what the app needs.",
    needs=frozenset({Capability.PRIVILEGES}),
    refs=(CIS_DOCKER_5_3, CIS_K8S_5_7_3),
    cwe="CWE-250",
)


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    key = "cap_drop" if workload.format is SourceFormat.COMPOSE else "capabilities.drop"
    for container in workload.containers:
        dropped = {c.upper() for c in container.security.capabilities_drop}
        if "ALL" in dropped:
            continue
        message = f"{key} does not include ALL" if dropped else f"{key} is not set: default capabilities are kept"
        location = container.security.where("capabilities_drop")
        yield ctx.finding(META, workload, location, message, container)
