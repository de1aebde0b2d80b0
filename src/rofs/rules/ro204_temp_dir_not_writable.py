"""
## What it does
For a container with a read-only root, flags environment variables that send writes to a
path no writable mount covers: `TMPDIR`, `TMP`, `TEMP`, `-Djava.io.tmpdir=` in
`JAVA_OPTS`, `JAVA_TOOL_OPTIONS` or `_JAVA_OPTIONS`, `npm_config_cache`,
`XDG_CACHE_HOME` and `HOME`.

## Why is this bad?
These variables decide where temp files and caches go. Pointing one at a read-only path
makes every temp file fail (Python falls back to the working directory, which hides the
problem until that is read-only too).

## Example
```yaml
env:
  - {name: TMPDIR, value: /scratch}     # nothing mounted at /scratch
```

## Use instead
```yaml
env:
  - {name: TMPDIR, value: /tmp}
volumeMounts:
  - {name: tmp, mountPath: /tmp}
```

## Fix
Mount a bounded emptyDir at the path the variable names, or point the variable at one.
"""

from __future__ import annotations

from collections.abc import Iterator

from rofs.model import Capability, Finding, RuleMeta, Severity, Workload
from rofs.remedy import Applicability
from rofs.rules.common import (
    JAVA_VARS,
    Context,
    covering_mount,
    env_paths,
    mount_remedies,
    root_is_read_only,
    temp_mount,
)

META = RuleMeta(
    id="RO204",
    name="temp-dir-not-writable",
    severity=Severity.HIGH,
    title="Temp or cache directory set by env is not writable",
    rationale="The variable sends temp or cache writes to a read-only path, so they fail at run time.",
    fix="Mount a bounded emptyDir at the path the variable names, or point the variable at a mounted path.",
    needs=frozenset({Capability.READ_ONLY_ROOT, Capability.MOUNTS}),
    applicability=Applicability.SAFE,
)

def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    for container in workload.containers:
        if not root_is_read_only(container):
            continue
        for var, path in env_paths(container):
            if covering_mount(workload, container, path) is not None:
                continue
            what = "java.io.tmpdir" if var.name in JAVA_VARS else var.name
            yield ctx.finding(
                META,
                workload,
                var.location,
                f"{what} points at {path}, which no writable volume covers (the root is read-only)",
                container,
                path=path,
                remedies=tuple(mount_remedies(workload, container, [temp_mount(container, path)])),
            )
