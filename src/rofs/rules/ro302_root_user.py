"""
## What it does
Flags a Dockerfile whose final stage has no `USER`, or whose last `USER` is root (`root`
or UID `0`). A final stage with no `USER` on a base image that already runs as a non-root
user (distroless `:nonroot`, Chainguard, Bitnami, nginx-unprivileged: `rules/nonroot_bases.yaml`,
each with its source) is not root: it is reported at low severity, saying which UID the base
runs as, so the image can state it itself.

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

import dataclasses
from collections.abc import Iterator
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources

import yaml

from rofs.images import ImageRefError, parse_image
from rofs.model import Capability, Container, Finding, RuleMeta, Severity, VolumeKind, Workload
from rofs.remedy import NonRootUser
from rofs.rules.common import CIS_DOCKER_4_1, RUNTIME_SHM, Context

META = RuleMeta(
    id="RO302",
    name="root-user",
    severity=Severity.MEDIUM,
    title="Image runs as root",
    rationale="Without a non-root USER the container runs as UID 0 unless the platform overrides it.",
    fix="Add a numeric non-root USER at the end of the final stage.",
    needs=frozenset({Capability.BUILD}),
    refs=(CIS_DOCKER_4_1,),
    cwe="CWE-250",
)

ROOT = {"root", "0"}
FALLBACK_UID = 10001
# World-writable (sticky) in every base image: never chowned to one user.
SHARED_DIRS = {RUNTIME_SHM, "/tmp", "/var/tmp"}


def remedy(container: Container, ctx: Context) -> NonRootUser:
    """A numeric non-root USER: the profile's when the base image is known, owning the
    directories the app writes (empty volumes mounted there inherit the ownership)."""
    match = ctx.match(container)
    uid = match.layout.user.uid if match and match.layout.user.uid else None
    gid = match.layout.user.gid if match and match.layout.user.gid else uid
    owner = f"{uid}:{gid}" if uid else f"{FALLBACK_UID}:{FALLBACK_UID}"
    dirs: tuple[str, ...] = ()
    if match is not None:
        dirs = tuple(p.path for p in match.profile.paths_for(match.layout.id)
                     if p.required and p.kind is not VolumeKind.MEMORY and p.path not in SHARED_DIRS)
    return NonRootUser(owner, dirs, known=uid is not None)


@lru_cache(maxsize=1)
def _bases() -> tuple[dict, ...]:
    text = resources.files("rofs.rules").joinpath("nonroot_bases.yaml").read_text("utf-8")
    return tuple(yaml.safe_load(text)["bases"])


def nonroot_base(image: str | None, ctx: Context, container: Container) -> tuple[int, str] | None:
    """The non-root UID the base image *image* runs as, and how that is known; None when it runs as
    root or nothing says."""
    if not image:
        return None
    try:
        ref = parse_image(image)
    except ImageRefError:
        return None
    full = f"{ref.registry}/{ref.path}:{ref.tag or 'latest'}"
    for base in _bases():
        if fnmatchcase(full, base["image"]) and not (base.get("not") and fnmatchcase(full, base["not"])):
            return int(base["uid"]), base["source"]
    return None


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    for container in workload.containers:
        if container.user is None:
            known = nonroot_base(container.image, ctx, container)
            if known is not None:  # not root: said, at low severity, with the reason
                uid, why = known
                message = (f"the final stage sets no USER; its base image {container.image} runs as UID {uid} ({why}):"
                           f" not root, but set USER {uid} so the image says so itself and runAsNonRoot can check it")
                finding = ctx.finding(META, workload, workload.location, message, container)
                yield dataclasses.replace(finding, severity=Severity.LOW)
                continue
            message = "the final stage sets no USER: the image runs as root unless its base image sets one"
            yield ctx.finding(META, workload, workload.location, message, container, remedies=(remedy(container, ctx),))
            continue
        name = container.user.split(":", 1)[0].strip()
        if name in ROOT:
            yield ctx.finding(
                META, workload, container.where("user"), f"the last USER is {container.user!r} (root)", container,
                remedies=(remedy(container, ctx),),
            )
