"""``rofs audit``: find the files, read them into the model, run the rules.

Type detection is by content: a YAML/JSON document with ``apiVersion`` and ``kind``
is Kubernetes, one with a ``services`` mapping is Compose; Dockerfiles are known by
name (``Dockerfile``, ``Dockerfile.*``, ``*.Dockerfile``, ``Containerfile``) or, for
a file named on the command line, by content.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import yaml

from rofs.model import Finding, Location, Severity, SourceFormat, Suppression, Workload
from rofs.profiles import ProfileRegistry
from rofs.rules import RULES, SUPPRESSION_RULE, Context
from rofs.sources.interface import ReadError, SourceFile
from rofs.sources.kubernetes import KubernetesSource, _Loader, yaml_error

YAML_SUFFIXES = (".yaml", ".yml", ".json")
MAX_BYTES = 256 << 20
STDIN = "-"


def is_dockerfile_name(name: str) -> bool:
    return (
        name in ("Dockerfile", "Containerfile")
        or name.startswith(("Dockerfile.", "Containerfile."))
        or name.endswith((".Dockerfile", ".dockerfile", ".Containerfile"))
    )


@dataclass
class AuditOptions:
    select: set[str] | None = None  # rule IDs; None = all
    ignore: set[str] = field(default_factory=set)
    exclude: tuple[str, ...] = ()
    fail_on: Severity = Severity.LOW


@dataclass
class AuditResult:
    files: list[SourceFile] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # suppressed ones included, with .suppressed set

    @property
    def errors(self) -> list[ReadError]:
        return [e for f in self.files for e in f.errors]

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if f.suppressed is None]

    def exit_code(self, fail_on: Severity) -> int:
        if self.errors:
            return 2
        return 1 if any(f.severity.rank >= fail_on.rank for f in self.active) else 0

    def summary(self) -> dict:
        read = Counter(f.format.value for f in self.files if f.format is not None and not f.skipped)
        skipped = Counter(f.skipped for f in self.files if f.skipped)
        severities = Counter(f.severity.value for f in self.active)
        return {
            "files": dict(sorted(read.items())),
            "skipped": dict(sorted(skipped.items())),
            "errors": len(self.errors),
            "objects": sum(f.objects for f in self.files),
            "workloads": sum(len(f.workloads) for f in self.files),
            "containers": sum(f.containers for f in self.files),
            "findings": {s.value: severities.get(s.value, 0) for s in reversed(Severity)},
            "suppressed": sum(1 for f in self.findings if f.suppressed is not None),
        }


# --- discovery ----------------------------------------------------------------------


def discover(inputs: Iterable[str], exclude: tuple[str, ...] = ()) -> Iterator[tuple[str, bool]]:
    """(path, named explicitly) for every file to look at; ``-`` is standard input."""
    seen: set[str] = set()
    for item in inputs:
        if item == STDIN:
            yield STDIN, True
            continue
        path = Path(item)
        if path.is_dir():
            root = path.resolve()
            for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
                dirnames[:] = sorted(
                    d for d in dirnames
                    if not d.startswith(".") and not _excluded(os.path.join(dirpath, d), d, exclude)
                )
                for name in sorted(filenames):
                    full = os.path.join(dirpath, name)
                    if _excluded(full, name, exclude) or full in seen:
                        continue
                    if os.path.islink(full):
                        target = Path(full).resolve()
                        if not target.is_file() or root not in target.parents:
                            continue  # links that leave the tree or go nowhere are not followed
                    seen.add(full)
                    yield full, False
        else:
            if str(path) not in seen:
                seen.add(str(path))
                yield str(path), True


def _excluded(path: str, name: str, patterns: tuple[str, ...]) -> bool:
    norm = path[2:] if path.startswith("./") else path
    return any(fnmatch.fnmatch(norm, p) or fnmatch.fnmatch(name, p) or fnmatch.fnmatch(norm, f"*/{p}") for p in patterns)


# --- reading ------------------------------------------------------------------------


def read_text(path: str) -> tuple[str | None, str | None, str | None]:
    """(text, error, skip reason).  Binary files are skipped; unreadable ones are errors."""
    try:
        if path == STDIN:
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}", None
    if len(data) > MAX_BYTES:
        return None, f"larger than {MAX_BYTES >> 20} MiB", None
    if b"\x00" in data[:8192]:
        return None, None, "binary"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, None, f"not UTF-8 (byte {exc.start})"
    return text.replace("\r\n", "\n"), None, None


def read_file(path: str, explicit: bool) -> SourceFile | None:
    """Read one file into a SourceFile; None for files of no interest found by a directory walk."""
    name = os.path.basename(path)
    dockerfile_name = is_dockerfile_name(name)
    yaml_name = name.lower().endswith(YAML_SUFFIXES)
    if not (explicit or dockerfile_name or yaml_name):
        return None
    display = "<stdin>" if path == STDIN else path
    text, error, skip = read_text(path)
    if error:
        return SourceFile(path=display, format=None, errors=[ReadError(display, None, error)])
    if skip:
        return SourceFile(path=display, format=None, skipped=skip)
    assert text is not None
    if dockerfile_name:
        return _read_dockerfile(text, display)
    if not yaml_name and path != STDIN:
        from rofs.sources.dockerfile import looks_like_dockerfile

        if looks_like_dockerfile(text):
            return _read_dockerfile(text, display)
    return _read_yaml(text, display, explicit)


def _read_dockerfile(text: str, path: str) -> SourceFile:
    from rofs.sources.dockerfile import DockerfileSource

    return DockerfileSource().read(text, path)


def is_compose_name(name: str) -> bool:
    low = name.lower()
    return low.endswith((".yaml", ".yml")) and (low.startswith("compose") or low.startswith("docker-compose"))


def _read_yaml(text: str, path: str, explicit: bool) -> SourceFile:
    try:
        documents = [d for d in yaml.compose_all(text, Loader=_Loader) if d is not None]
    except yaml.YAMLError as exc:
        if not explicit and "{{" not in text and not _looks_like_config(text):
            return SourceFile(path=path, format=None, skipped="not Kubernetes or Compose")
        return SourceFile(path=path, format=None, errors=[yaml_error(path, exc, text)])
    except RecursionError:
        return SourceFile(path=path, format=None, errors=[ReadError(path, None, "YAML nested too deeply")])
    kind = detect(documents)
    if kind is None and is_compose_name(os.path.basename(path)) and all(
        isinstance(d, yaml.MappingNode) for d in documents
    ):
        kind = SourceFormat.COMPOSE  # by name: an empty override file is still a Compose file
    if kind is SourceFormat.KUBERNETES:
        return KubernetesSource().read_documents(documents, text, path)
    if kind is SourceFormat.COMPOSE:
        from rofs.sources.compose import ComposeSource

        return ComposeSource().read_documents(documents, text, path)
    return SourceFile(path=path, format=None, skipped="not Kubernetes or Compose")


def _looks_like_config(text: str) -> bool:
    return "apiVersion:" in text or "services:" in text


def detect(documents: list[yaml.Node]) -> SourceFormat | None:
    for doc in documents:
        if not isinstance(doc, yaml.MappingNode):
            continue
        keys = {k.value for k, _ in doc.value if isinstance(k, yaml.ScalarNode)}
        if "apiVersion" in keys and "kind" in keys:
            return SourceFormat.KUBERNETES
    first = documents[0] if documents else None
    if isinstance(first, yaml.MappingNode):
        for k, v in first.value:
            if isinstance(k, yaml.ScalarNode) and k.value == "services" and isinstance(v, yaml.MappingNode):
                return SourceFormat.COMPOSE
    return None


# --- checking -----------------------------------------------------------------------


def check_workload(workload: Workload, ctx: Context, selected: set[str]) -> Iterator[Finding]:
    for rule_id in sorted(selected):
        module = RULES[rule_id]
        if workload.format in module.META.formats:
            yield from module.check(workload, ctx)


def _suppressed_by(finding: Finding, suppressions: list[Suppression]) -> Suppression | None:
    for sup in suppressions:
        if sup.matches(finding.rule, finding.name, finding.container, finding.location.line):
            return sup
    return None


def audit(
    inputs: Iterable[str],
    registry: ProfileRegistry,
    options: AuditOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> AuditResult:
    options = options or AuditOptions()
    selected = set(options.select if options.select is not None else RULES) - options.ignore
    ctx = Context(registry)
    result = AuditResult()
    for path, explicit in discover(inputs, options.exclude):
        if progress:
            progress(path)
        source = read_file(path, explicit)
        if source is None:
            continue
        result.files.append(source)
        file_findings: list[Finding] = []
        for workload in source.workloads:
            own = list(workload.suppressions) + source.suppressions
            for finding in check_workload(workload, ctx, selected):
                sup = _suppressed_by(finding, own)
                if sup is not None:
                    finding = _with_suppression(finding, sup)
                file_findings.append(finding)
            if SUPPRESSION_RULE in selected:
                file_findings += _reasonless(workload.suppressions, workload)
        if SUPPRESSION_RULE in selected:
            file_findings += _reasonless(source.suppressions, None, source.path)
        result.findings += sorted(file_findings, key=lambda f: f.sort_key)
    return result


def _with_suppression(finding: Finding, sup: Suppression) -> Finding:
    from dataclasses import replace

    return replace(finding, suppressed=sup.reason or "(no reason given)")


def _reasonless(suppressions: Iterable[Suppression], workload: Workload | None, path: str = "") -> list[Finding]:
    meta = RULES[SUPPRESSION_RULE].META
    out = []
    for sup in suppressions:
        if sup.reason:
            continue
        out.append(
            Finding(
                rule=meta.id,
                name=meta.name,
                severity=meta.severity,
                message=f"suppression of {', '.join(sup.rules)} gives no reason",
                location=sup.location if sup.location.path else Location(path, sup.location.line, sup.location.column),
                kind=workload.kind if workload else "file",
                object=workload.display_name if workload else os.path.basename(path),
                container=sup.container,
                fix=meta.fix,
            )
        )
    return out
