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
(`rofs generate APP` shows them). An image without a profile is left as it is, since a
read-only root with a guessed `/tmp` crashes most servers at start: learn its paths with
`rofs trace` (or `rofs run --image`) and pass the profile with `--profile-file`, or opt into
a read-only root with a bounded `/tmp` alone with `--unknown-images read-only`.
"""

from __future__ import annotations

from collections.abc import Iterator

from rofs.model import Capability, Finding, RuleMeta, Severity, Workload
from rofs.remedy import Applicability, LearnPaths, ReadOnlyRoot, Remedy, Suggestion
from rofs.rules.common import READ_ONLY_REFS, UNKNOWN_LEAVE, Context, missing_mounts, mount_remedies, runs_the_app

META = RuleMeta(
    id="RO101",
    name="writable-root-filesystem",
    severity=Severity.HIGH,
    title="Container root filesystem is writable",
    rationale="A writable root lets a compromised process change the image's files at run time.",
    fix="Set readOnlyRootFilesystem: true on the container (Compose: read_only: true) and mount the paths the app writes.",
    needs=frozenset({Capability.CONTAINERS, Capability.READ_ONLY_ROOT}),
    refs=READ_ONLY_REFS,
    applicability=Applicability.REVIEW,
    cwe="CWE-732",
)


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    words = ctx.words(workload.format)
    for container in workload.containers:
        if container.security.read_only_root_fs is True:
            continue
        variable = dict(container.security.interpolated).get("read_only_root_fs")
        if variable is not None:  # the user's decision, made where it runs: reported, never rewritten
            yield ctx.finding(
                META, workload, container.security.where("read_only_root_fs"),
                f"{words.read_only().split(':')[0]} is set by a variable ({variable}) that rofs does not resolve,"
                " so the root may be writable", container,
                remedies=(Suggestion(f"make sure {variable} is true where this runs; to check the resolved"
                                     " file: docker compose config | rofs audit -"),))
            continue
        state = "set to false" if container.security.read_only_root_fs is False else "not set"
        message = f"root filesystem is writable ({words.read_only()} {state})"
        match = ctx.match(container)
        own_command = match is not None and not runs_the_app(container)
        if own_command:
            match = None  # the profile describes the app's process, not a copy or prepare step
        mounts = missing_mounts(workload, container, match)
        if match is not None:
            needed = [m for m in mounts if m.purpose != "temp dir set by env"]
            if needed:
                message += f"; {match.label} then needs writable " + ", ".join(m.path for m in needed)
            else:
                message += f"; every path {match.label} writes is already mounted"
        elif own_command:
            message += "; it runs a command of its own with the app's image, so the paths it writes are unknown"
        else:
            message += f"; no profile for {'this image' if container.image else 'this build'}, so the paths it writes are unknown"
        remedies: tuple[Remedy, ...] = (ReadOnlyRoot(container.name), *mount_remedies(workload, container, mounts))
        if match is None and ctx.unknown_images == UNKNOWN_LEAVE:
            remedies = (LearnPaths(f"{container.image} (own command)" if own_command else container.image),)  # a read-only root with a guessed /tmp crashes most servers
        yield ctx.finding(META, workload, container.security.where("read_only_root_fs"), message, container,
                          remedies=remedies)
