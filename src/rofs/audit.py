"""``rofs audit``: find the files, read them into the model, run the rules.

Files come in through ``rofs.intake`` (which files, which reader); the rules run through
``rofs.checks``; the result types are in ``rofs.results``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from rofs.checks import checked, reasonless
from rofs.intake import Inputs, open_source
from rofs.model import Finding, Severity, SourceFormat, Workload
from rofs.profiles import ProfileRegistry
from rofs.results import AuditResult, FileReport
from rofs.rules import RULES, SUPPRESSION_RULE, Context
from rofs.rules.common import UNKNOWN_LEAVE
from rofs.sources.interface import SourceFile

__all__ = ["AuditOptions", "AuditResult", "FileReport", "audit", "iter_audit", "stream_audit"]


@dataclass
class AuditOptions:
    select: set[str] | None = None  # rule IDs; None = all
    ignore: set[str] = field(default_factory=set)
    exclude: tuple[str, ...] = ()
    gitignore: bool = True  # leave out what the repository's .gitignore files do (--no-ignore: False)
    exempt_images: tuple[str, ...] = ()  # settings exempt-images
    fail_on: Severity = Severity.LOW
    keep_workloads: bool = False  # keep the model of every file in the result (tests, fix)
    unknown_images: str = UNKNOWN_LEAVE  # what the fix of an image without a profile is (rules.common)


# --- checking ---------------------------------------------------------------------


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
    ctx = Context(registry, options.unknown_images, tuple(options.exempt_images))
    files = Inputs(inputs, options.exclude, options.gitignore)
    elsewhere: set[tuple] = set()  # Compose findings: each once, though a base is read with each override
    for path, explicit in files:
        if progress:
            progress(path)
        opened = open_source(path, explicit)
        if opened is None:
            continue
        source, workloads = opened
        files.include(source.path, source.includes)
        yield source, _file_findings(source, workloads, ctx, selected, options.keep_workloads, elsewhere)


def _file_findings(
    source: SourceFile, workloads: Iterable[Workload], ctx: Context, selected: set[str], keep: bool,
    elsewhere: set[tuple],
) -> Iterator[Finding]:
    compose = source.format is SourceFormat.COMPOSE
    for finding in _all_findings(source, workloads, ctx, selected, keep):
        if compose:  # a base read alone and with each file laid over it says what it holds once
            key = (finding.rule, finding.location, finding.object, finding.container, finding.message)
            if key in elsewhere:
                continue
            elsewhere.add(key)
        yield finding


def _all_findings(
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
