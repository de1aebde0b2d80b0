"""Container image references and matching them to profile patterns.

A reference is ``[registry[:port]/]path[:tag][@digest]``.  The registry is the
first component when it looks like a host (has a ``.`` or ``:``, or is
``localhost``); Docker Hub names with one component live under ``library/``.

Profile patterns name a repository path without the registry (``library/postgres``,
``bitnami/kafka``, ``confluentinc/cp-kafka``).  A pattern matches when it equals the
last components of the image's path, compared component by component, so
``registry.example.com/team/bitnami/kafka`` matches ``bitnami/kafka`` and a mirror's
``mirror.example/library/redis`` matches ``library/redis``.  ``library/<name>``
(an official image) also matches a mirror that dropped the ``library/`` prefix
(``registry.example.com/postgres``).  Components may use ``*`` globs
(``distroless/java*``).  Nothing matches by substring: ``redis-exporter`` is not
``redis``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

DEFAULT_REGISTRY = "docker.io"

_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


class ImageRefError(ValueError):
    """An image reference that cannot be read."""


@dataclass(frozen=True)
class ImageRef:
    registry: str
    path: str  # e.g. library/postgres
    tag: str | None = None
    digest: str | None = None

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(self.path.split("/"))

    @property
    def name(self) -> str:
        """Last path component: ``postgres``."""
        return self.components[-1]

    def __str__(self) -> str:
        text = f"{self.registry}/{self.path}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


# A Compose variable with a default (`${VAR:-default}`, `${VAR-default}`) whose default is plain text:
# the image is read as that default (what runs when the variable is not set).
_COMPOSE_DEFAULT = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^${}]*)\}")


def parse_image(reference: str) -> ImageRef:
    """Parse an image reference.  Raises :class:`ImageRefError` on malformed input."""
    ref = reference.strip()
    if not ref:
        raise ImageRefError("empty image reference")
    ref = _COMPOSE_DEFAULT.sub(lambda m: m.group(1), ref)  # `${PG_IMAGE:-postgres:16}`: its default
    if "$" in ref or "{{" in ref:
        raise ImageRefError(f"image reference is a template, not a name: {reference!r}")
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise ImageRefError(f"bad digest in image reference: {reference!r}")
    parts = ref.split("/")
    registry = DEFAULT_REGISTRY
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry = parts.pop(0)
    tag = None
    if ":" in parts[-1]:
        parts[-1], tag = parts[-1].rsplit(":", 1)
        if not _TAG_RE.match(tag):
            raise ImageRefError(f"bad tag in image reference: {reference!r}")
    for part in parts:
        if not _COMPONENT_RE.match(part):
            raise ImageRefError(f"bad repository name {part!r} in image reference {reference!r}")
    if registry in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        registry = DEFAULT_REGISTRY
        if len(parts) == 1:
            parts.insert(0, "library")
    return ImageRef(registry=registry, path="/".join(parts), tag=tag, digest=digest)


def pattern_score(pattern: str, image: ImageRef) -> int:
    """How well *pattern* matches *image*: 0 for no match, else a specificity score.

    Exact component matches score higher than globs, longer patterns higher than
    shorter ones, so ``bitnami/postgresql`` beats a bare ``postgresql``.
    """
    pat = tuple(pattern.split("/"))
    comps = image.components
    score = _suffix_score(pat, comps)
    if score:
        return score
    # An official image mirrored without its library/ prefix: registry.example.com/postgres
    if pat[0] == "library" and len(pat) == 2 and image.registry != DEFAULT_REGISTRY and len(comps) == 1:
        return _suffix_score(pat[1:], comps)
    return 0


def _suffix_score(pat: tuple[str, ...], comps: tuple[str, ...]) -> int:
    if len(pat) > len(comps):
        return 0
    score = 0
    for want, have in zip(pat, comps[len(comps) - len(pat):]):
        if want == have:
            score += 10
        elif any(ch in want for ch in "*?[") and fnmatchcase(have, want):
            score += 5
        else:
            return 0
    return score
