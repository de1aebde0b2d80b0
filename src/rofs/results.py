"""What an audit produces: each file's report and the whole run's result.

``rofs.audit`` builds them; the output formats (``rofs.formats``) and the CLI read them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rofs.model import Finding, Severity
from rofs.sources.interface import ReadError, SourceFile


@dataclass
class FileReport:
    """One file's outcome: the SourceFile (counts, errors) and its findings, sorted by position."""

    source: SourceFile
    findings: list[Finding]


@dataclass
class AuditResult:
    """What an audit found.  Counters are kept even when findings are not (streamed text output)."""

    files: list[SourceFile] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # suppressed ones included, with .suppressed set
    counts: Counter[Severity] = field(default_factory=Counter)  # active findings by severity
    suppressed: int = 0

    def add(self, report: FileReport, keep_findings: bool = True) -> None:
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
        """2 when an input could not be read, 1 when a finding reaches *fail_on*, else 0."""
        if self.errors:
            return 2
        return 1 if any(n and sev.rank >= fail_on.rank for sev, n in self.counts.items()) else 0

    def summary(self) -> dict[str, Any]:
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
