"""
## What it does
Flags a Dockerfile whose final stage has no `USER`, or whose last `USER` is root (`root`
or UID `0`).

## Why is this bad?
The image runs as root unless every platform that runs it overrides the user. Kubernetes'
`runAsNonRoot` can only verify a numeric non-zero `USER`.

## Example
```dockerfile
FROM python:3.12-slim
COPY app.py /app/
CMD ["python", "/app/app.py"]
```

## Use instead
```dockerfile
FROM python:3.12-slim
RUN useradd --uid 10001 --no-create-home app
COPY app.py /app/
USER 10001
CMD ["python", "/app/app.py"]
```

## Fix
End the final stage with a numeric non-root `USER`.
"""

from __future__ import annotations

from typing import Iterator

from rofs.model import Finding, RuleMeta, Severity, SourceFormat, Workload
from rofs.rules._common import CIS_DOCKER_4_1, Context

META = RuleMeta(
    id="RO302",
    name="root-user",
    severity=Severity.MEDIUM,
    title="Image runs as root",
    rationale="Without a non-root USER the container runs as UID 0 unless the platform overrides it.",
    fix="Add a numeric non-root USER at the end of the final stage.",
    formats=(SourceFormat.DOCKERFILE,),
    refs=(CIS_DOCKER_4_1,),
    cwe="CWE-250",
)

ROOT = {"root", "0"}


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    for container in workload.containers:
        if container.user is None:
            message = "the final stage sets no USER: the image runs as root unless its base image sets one"
            yield ctx.finding(META, workload, workload.location, message, container)
            continue
        name = container.user.split(":", 1)[0].strip()
        if name in ROOT:
            yield ctx.finding(
                META, workload, container.where("user"), f"the last USER is {container.user!r} (root)", container
            )
