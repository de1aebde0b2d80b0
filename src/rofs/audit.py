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

from rofs.model import Finding, Severity, SourceFormat, Workload
from rofs.profiles import ProfileRegistry
from rofs.checks import checked, reasonless
from rofs.rules import RULES, SUPPRESSION_RULE, Context
from rofs.stream import documents as stream_documents
from rofs.stream import has_list_items
from rofs.sources.interface import ReadError, SourceFile, comment_pragmas
from rofs.sources.kubernetes import KubernetesSource, _Loader, yaml_error

YAML_SUFFIXES = (".yaml", ".yml", ".json")
MAX_BYTES = 256 << 20  # larger inputs are refused, not read
STREAM_BYTES = 4 << 20  # YAML files past this size are parsed from the file, not from a copy in memory
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
    keep_workloads: bool = False  # keep the model of every file in the result (tests, fix)


@dataclass
class AuditResult:
    """What an audit found.  Counters are kept even when findings are not (streamed text output)."""

    files: list[SourceFile] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # suppressed ones included, with .suppressed set
    counts: Counter = field(default_factory=Counter)  # active findings by severity
    suppressed: int = 0

    def add(self, report: "FileReport", keep_findings: bool = True) -> None:
        self.files.append(report.source)
        for finding in report.findings:
            if finding.suppressed is None:
                self.counts[finding.severity] += 1
            else:
                self.suppressed += 1
        if keep_findings:
            self.findings += report.findings

    @property
    def errors(self) -> list[ReadError]:
        return [e for f in self.files for e in f.errors]

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if f.suppressed is None]

    def exit_code(self, fail_on: Severity) -> int:
        if self.errors:
            return 2
        return 1 if any(n and sev.rank >= fail_on.rank for sev, n in self.counts.items()) else 0

    def summary(self) -> dict:
        read = Counter(f.format.value for f in self.files if f.format is not None and not f.skipped)
        skipped = Counter(f.skipped for f in self.files if f.skipped)
        return {
            "files": dict(sorted(read.items())),
            "skipped": dict(sorted(skipped.items())),
            "errors": len(self.errors),
            "objects": sum(f.objects for f in self.files),
            "workloads": sum(f.workload_count for f in self.files),
            "containers": sum(f.container_count for f in self.files),
            "findings": {s.value: self.counts.get(s, 0) for s in reversed(Severity)},
            "suppressed": self.suppressed,
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
            unreadable: list[OSError] = []
            for dirpath, dirnames, filenames in os.walk(path, followlinks=False, onerror=unreadable.append):
                while unreadable:  # a directory that cannot be listed: its reader reports why
                    yield unreadable.pop(0).filename, True
                dirnames[:] = sorted(
                    d for d in dirnames
                    if not d.startswith(".") and not _excluded(os.path.join(dirpath, d), d, exclude)
                )
                for name in sorted(filenames):
                    full = os.path.join(dirpath, name)
                    if _excluded(full, name, exclude) or full in seen:
                        continue
                    if os.path.islink(full):
                        try:
                            target = Path(full).resolve()
                        except (OSError, RuntimeError):  # a link loop
                            continue
                        if not target.is_file() or root not in target.parents:
                            continue  # links that leave the tree or go nowhere are not followed
                    seen.add(full)
                    yield full, False
            for error in unreadable:
                yield error.filename, True
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
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}", None
    return decode(data)


def decode(data: bytes) -> tuple[str | None, str | None, str | None]:
    """(text, error, skip reason) of a file's bytes."""
    if len(data) > MAX_BYTES:
        return None, f"larger than {MAX_BYTES >> 20} MiB", None
    if b"\x00" in data[:8192]:
        return None, None, "binary"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, None, f"not UTF-8 (byte {exc.start})"
    return text.replace("\r\n", "\n"), None, None


_SPOOLED: list = []  # standard input spooled to unnamed temp files, kept open while read


def spool_stdin(limit: int) -> tuple[bytes | None, str | None]:
    """Standard input: (its bytes) when it is at most *limit* bytes, else (None, a path to a
    temp file holding it), so a long ``helm template`` or ``kubectl get`` stream is read like a
    file.  The temp file has no name (a process killed meanwhile leaves nothing behind): the
    path is its ``/proc/self/fd`` entry."""
    import shutil
    import tempfile

    head = sys.stdin.buffer.read(limit + 1)
    if len(head) <= limit:
        return head, None
    spool = tempfile.TemporaryFile(prefix="rofs-stdin-")
    spool.write(head)
    shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
    spool.flush()
    _SPOOLED.append(spool)
    path = f"/proc/self/fd/{spool.fileno()}"
    if os.path.exists(path):
        return None, path
    named = tempfile.NamedTemporaryFile(prefix="rofs-stdin-", suffix=".yaml")  # no /proc: a named one
    spool.seek(0)
    shutil.copyfileobj(spool, named, 1 << 20)
    named.flush()
    _SPOOLED.append(named)
    return None, named.name


Opened = tuple[SourceFile, Iterable[Workload]]


def read_file(path: str, explicit: bool) -> SourceFile | None:
    """Read one whole file into a SourceFile (workloads listed); None for files of no interest."""
    opened = open_source(path, explicit)
    if opened is None:
        return None
    source, workloads = opened
    if workloads is not source.workloads:
        source.workloads.extend(workloads)
    return source


def open_source(path: str, explicit: bool) -> Opened | None:
    """A SourceFile and its workloads, streamed where the format allows (long Kubernetes streams).

    None for files of no interest found by a directory walk.  Counts and errors land in the
    SourceFile as the workloads are consumed.
    """
    name = os.path.basename(path)
    dockerfile_name = is_dockerfile_name(name)
    yaml_name = name.lower().endswith(YAML_SUFFIXES)
    if not (explicit or dockerfile_name or yaml_name):
        return None
    display = "<stdin>" if path == STDIN else path
    if path != STDIN and os.path.isdir(path):
        return _done(SourceFile(path=path, format=None, errors=[ReadError(path, None, directory_error(path))]))
    chart = chart_of(path) if path != STDIN and yaml_name else None
    if chart:
        template = template_line(path)
        if template:
            why = f"a template of the Helm chart in {chart}: render it with `helm template` first"
            if explicit:
                return _done(SourceFile(path=path, format=None, errors=[ReadError(path, template, why)]))
            return _done(SourceFile(path=path, format=None, skipped="Helm chart template (render it with helm template)"))
    if path == STDIN:
        try:
            data, spooled = spool_stdin(STREAM_BYTES)
        except OSError as exc:
            return _done(SourceFile(path=display, format=None, errors=[ReadError(display, None, f"cannot read: {exc.strerror or exc}")]))
        if spooled:
            return _open_yaml_stream(spooled, explicit, display)
        text, error, skip = decode(data or b"")
    elif not dockerfile_name and (yaml_name or explicit) and _size(path) > STREAM_BYTES:
        return _open_yaml_stream(path, explicit)
    else:
        text, error, skip = read_text(path)
    if error:
        return _done(SourceFile(path=display, format=None, errors=[ReadError(display, None, error)]))
    if skip and explicit:  # named on the command line, and cannot be read as text: an error
        return _done(SourceFile(path=display, format=None, errors=[ReadError(display, None, unreadable_text(skip))]))
    if skip:
        return _done(SourceFile(path=display, format=None, skipped=skip))
    assert text is not None
    if dockerfile_name:
        return _done(_read_dockerfile(text, display))
    if not yaml_name and path != STDIN:
        from rofs.sources.dockerfile import looks_like_dockerfile

        if looks_like_dockerfile(text):
            return _done(_read_dockerfile(text, display))
    return _open_yaml(text, display, explicit)


def unreadable_text(skip: str) -> str:
    """The error for a file named on the command line that is not text rofs can read."""
    return f"{skip}: not read (rofs reads UTF-8 text: YAML, JSON, Dockerfiles)"


def directory_error(path: str) -> str:
    try:
        os.listdir(path)
    except OSError as exc:
        return f"cannot read directory: {exc.strerror or exc}"
    return "is a directory"


def chart_of(path: str) -> str | None:
    """The Helm chart directory when *path* is one of its templates (``CHART/templates/...``)."""
    for parent in Path(path).parents:
        if parent.name == "templates" and (parent.parent / "Chart.yaml").is_file():
            return str(parent.parent)
    return None


def template_line(path: str) -> int | None:
    """The first line with a ``{{`` template action (comments aside), or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if "{{" in line and not line.lstrip().startswith("#"):
                    return number
    except OSError:
        return None
    return None


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _open_yaml_stream(path: str, explicit: bool, display: str | None = None) -> Opened:
    """A large YAML file, parsed as it is read: memory does not grow with the file.

    Kubernetes streams (``helm template``, ``kubectl get -o yaml`` dumps) are the case that
    matters; the type is decided on the first documents, as for small files.
    """
    shown = display or path
    try:
        with open(path, "rb") as probe:
            head = probe.read(8192)
        if b"\x00" in head:
            if explicit:
                return _done(SourceFile(path=shown, format=None, errors=[ReadError(shown, None, unreadable_text("binary"))]))
            return _done(SourceFile(path=shown, format=None, skipped="binary"))
        handle = open(path, encoding="utf-8-sig", errors="strict")
    except OSError as exc:
        return _done(SourceFile(path=shown, format=None, errors=[ReadError(shown, None, f"cannot read: {exc.strerror or exc}")]))
    if has_list_items(path):
        stream = stream_documents(handle, _Loader)
    else:  # no List to cut: compose straight from the file (positions are the file's already)
        stream = (doc for doc in yaml.compose_all(handle, Loader=_Loader) if doc is not None)
    seen: list[yaml.Node] = []
    kind = None
    try:
        for doc in stream:
            seen.append(doc)
            kind = detect(seen)
            if kind is not None:
                break
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        handle.close()
        if isinstance(exc, UnicodeDecodeError):
            if explicit:
                return _done(SourceFile(path=shown, format=None, errors=[ReadError(shown, None, unreadable_text("not UTF-8"))]))
            return _done(SourceFile(path=shown, format=None, skipped="not UTF-8"))
        return _done(SourceFile(path=shown, format=None, errors=[yaml_error(shown, exc)]))
    if kind is not SourceFormat.KUBERNETES:
        handle.close()
        text, error, skip = read_text(path)  # a large Compose file: read it whole, as usual
        if error or skip:
            return _done(SourceFile(path=shown, format=None, errors=[ReadError(shown, None, error)] if error else [], skipped=skip))
        return _open_yaml(text, shown, explicit)
    result = SourceFile(path=shown, format=kind)
    with open(path, encoding="utf-8-sig", errors="replace") as lines:
        result.suppressions.extend(comment_pragmas(lines, shown))

    def documents() -> Iterator[yaml.Node]:
        try:
            yield from seen
            yield from stream
        finally:
            handle.close()

    return result, KubernetesSource().iter_workloads(documents(), "", shown, result, pragmas=False)


def _done(source: SourceFile) -> Opened:
    return source, source.workloads


def _read_dockerfile(text: str, path: str) -> SourceFile:
    from rofs.sources.dockerfile import DockerfileSource

    return DockerfileSource().read(text, path)


def is_compose_name(name: str) -> bool:
    low = name.lower()
    return low.endswith((".yaml", ".yml")) and (low.startswith("compose") or low.startswith("docker-compose"))


def _open_yaml(text: str, path: str, explicit: bool) -> Opened:
    stream = yaml.compose_all(text, Loader=_Loader)
    seen: list[yaml.Node] = []
    kind: SourceFormat | None = None
    try:
        for doc in stream:  # compose until the type is known; the rest is streamed
            if doc is None:
                continue
            seen.append(doc)
            kind = detect(seen)
            if kind is not None:
                break
    except yaml.YAMLError as exc:
        if not seen and not explicit and "{{" not in text and not _looks_like_config(text):
            return _done(SourceFile(path=path, format=None, skipped="not Kubernetes or Compose"))
        if kind is None and not seen:
            return _done(SourceFile(path=path, format=None, errors=[yaml_error(path, exc, text)]))
        stream = _raising(exc)
    except RecursionError:
        return _done(SourceFile(path=path, format=None, errors=[ReadError(path, None, "YAML nested too deeply")]))
    if kind is None and is_compose_name(os.path.basename(path)) and all(
        isinstance(d, yaml.MappingNode) for d in seen
    ):
        kind = SourceFormat.COMPOSE  # by name: an empty override file is still a Compose file
    if kind is SourceFormat.KUBERNETES:
        source = KubernetesSource()
        result = SourceFile(path=path, format=kind)
        return result, source.iter_workloads(_chain(seen, stream), text, path, result)
    if kind is SourceFormat.COMPOSE:
        from rofs.sources.compose import ComposeSource

        try:
            documents = seen + [d for d in stream if d is not None]
        except yaml.YAMLError as exc:
            return _done(SourceFile(path=path, format=kind, errors=[yaml_error(path, exc, text)]))
        return _done(ComposeSource().read_documents(documents, text, path))
    return _done(SourceFile(path=path, format=None, skipped="not Kubernetes or Compose" if any(map(_has_content, seen)) else "empty"))


def _has_content(node: yaml.Node) -> bool:
    return not (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null")


def _chain(first: list[yaml.Node], rest: Iterable[yaml.Node]) -> Iterator[yaml.Node]:
    yield from first
    yield from rest


def _raising(exc: Exception) -> Iterator[yaml.Node]:
    raise exc
    yield  # pragma: no cover - makes this a generator


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


# --- checking ---------------------------------------------------------------------


@dataclass
class FileReport:
    """One file's outcome: the SourceFile (counts, errors) and its findings, sorted by position."""

    source: SourceFile
    findings: list[Finding]


def stream_audit(
    inputs: Iterable[str],
    registry: ProfileRegistry,
    options: AuditOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[tuple[SourceFile, Iterator[Finding]]]:
    """File by file: the SourceFile and an iterator of its findings, produced while the file is
    read.  Findings come in order within each workload; the SourceFile's counts are complete once
    its iterator is exhausted.  Nothing of a workload is kept after it is checked (unless
    ``options.keep_workloads``), so memory stays flat however long the input."""
    options = options or AuditOptions()
    selected = set(options.select if options.select is not None else RULES) - options.ignore
    ctx = Context(registry)
    for path, explicit in discover(inputs, options.exclude):
        if progress:
            progress(path)
        opened = open_source(path, explicit)
        if opened is None:
            continue
        source, workloads = opened
        yield source, _file_findings(source, workloads, ctx, selected, options.keep_workloads)


def _file_findings(
    source: SourceFile, workloads: Iterable[Workload], ctx: Context, selected: set[str], keep: bool
) -> Iterator[Finding]:
    kept: list[Workload] = []
    for workload in workloads:
        source.workload_count += 1
        source.container_count += len(workload.containers)
        if keep:
            kept.append(workload)
        found = checked(workload, ctx, selected, source.suppressions)
        if SUPPRESSION_RULE in selected:
            found += reasonless(workload.suppressions, workload)
        yield from sorted(found, key=lambda f: f.sort_key)
    if SUPPRESSION_RULE in selected:
        yield from reasonless(source.suppressions, None, source.path)
    source.workloads = kept


def iter_audit(
    inputs: Iterable[str],
    registry: ProfileRegistry,
    options: AuditOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[FileReport]:
    """File by file, each file's findings collected and sorted by position."""
    for source, findings in stream_audit(inputs, registry, options, progress):
        collected = sorted(findings, key=lambda f: f.sort_key)
        yield FileReport(source, collected)


def audit(
    inputs: Iterable[str],
    registry: ProfileRegistry,
    options: AuditOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> AuditResult:
    """Audit everything and collect the result (what JSON and SARIF need)."""
    result = AuditResult()
    for report in iter_audit(inputs, registry, options, progress):
        result.add(report)
    return result
