"""What every reader returns: a :class:`SourceFile` with workloads, counts and errors."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from rofs.model import Location, SourceFormat, Suppression, Workload


@dataclass(frozen=True)
class ReadError:
    """Input that could not be read: reported with file and line, exit code 2, the run goes on."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


class ReadFailed(ValueError):
    """A fixer met input the reader refuses: *error* says where and why."""

    def __init__(self, error: ReadError):
        self.error = error
        super().__init__(str(error))


@dataclass
class SourceFile:
    path: str
    format: SourceFormat | None
    workloads: list[Workload] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)  # comment pragmas, by line
    errors: list[ReadError] = field(default_factory=list)
    objects: int = 0  # K8s objects / Compose services / Dockerfile stages read
    skipped_kinds: Counter = field(default_factory=Counter)  # kinds that hold no containers
    skipped: str | None = None  # why the whole file was skipped (not a config file, binary ...)
    notes: list[str] = field(default_factory=list)  # what was not read, and why (an include of a URL)
    includes: list[str] = field(default_factory=list)  # files this one brings in (Compose `include:`): read too
    layers: dict = field(default_factory=dict)  # Compose: service -> how it was put together from other files
    workload_count: int = 0  # counted by the audit as workloads stream past
    container_count: int = 0


class Source(ABC):
    """A reader for one format."""

    format: SourceFormat

    @abstractmethod
    def read(self, text: str, path: str) -> SourceFile:
        """Parse *text* (the content of *path*) into a SourceFile.  Never raises on bad input."""


# `# rofs: ignore=RO301,RO203 -- reason`, in YAML and Dockerfiles.
PRAGMA_RE = re.compile(r"#\s*rofs:\s*ignore\s*=\s*([A-Za-z0-9_,\- ]+?)\s*(?:--\s*([^#]*?))?\s*(?:#.*)?$")


def comment_pragmas(text: str | Iterable[str], path: str) -> list[Suppression]:
    """Every ``# rofs: ignore=...`` comment of a file (its text, or its lines), keyed to its line."""
    if isinstance(text, str):
        if "rofs:" not in text:
            return []
        text = text.splitlines()
    found = []
    for number, line in enumerate(text, start=1):
        if "rofs:" not in line:
            continue
        match = PRAGMA_RE.search(line)
        if not match:
            continue
        rules = tuple(r.strip() for r in match.group(1).split(",") if r.strip())
        reason = (match.group(2) or "").strip() or None
        found.append(
            Suppression(rules=rules, reason=reason, location=Location(path, number, match.start() + 1), line=number)
        )
    return found


def parse_suppression_text(text: str, location: Location, container: str | None = None) -> list[Suppression]:
    """``"RO203: bounded by namespace quota; RO101: reason"`` (annotation and x-rofs-ignore values)."""
    out = []
    for part in re.split(r"[;\n]", text):
        part = part.strip()
        if not part:
            continue
        ids, _, reason = part.partition(":")
        rules = tuple(r.strip() for r in ids.split(",") if r.strip())
        out.append(Suppression(rules=rules, reason=reason.strip() or None, location=location, container=container))
    return out
