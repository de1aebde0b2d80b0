"""Human output: grouped by file, ``file:line:col RULE message``, colour on a TTY."""

from __future__ import annotations

from typing import Iterable

from rich.console import Console
from rich.markup import escape

from rofs.audit import AuditResult
from rofs.model import Finding
from rofs.sources.interface import SourceFile

STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def render(
    files: Iterable[tuple[SourceFile, Iterable[Finding]]], console: Console, show_suppressed: bool = False
) -> AuditResult:
    """Print findings as they are found (see ``rofs.audit.stream_audit``); returns the tally only."""
    result = AuditResult()
    for source, findings in files:
        header = False
        counted = []
        for f in findings:
            counted.append(f.severity if f.suppressed is None else None)
            if f.suppressed is not None and not show_suppressed:
                continue
            if not header:
                console.print(f"\n[bold underline]{escape(source.path)}[/]", soft_wrap=True)
                header = True
            console.print(_line(f), soft_wrap=True, highlight=False)
        result.files.append(source)
        for sev in counted:
            if sev is None:
                result.suppressed += 1
            else:
                result.counts[sev] += 1
        for error in source.errors:
            console.print(f"[bold red]error[/] {escape(str(error))}", soft_wrap=True)
    console.print()
    console.print(summary_line(result), soft_wrap=True, highlight=False)
    return result


def _line(f: Finding) -> str:
    who = f"{f.kind}/{f.object}" + (f" [{f.container}]" if f.container else "")
    line = (
        f"{escape(str(f.location))} [{STYLE[f.severity.value]}]{f.rule}[/] "
        f"{escape(f.message)} [dim]({escape(who)}; {f.name}, {f.severity.value})[/]"
    )
    if f.suppressed is not None:
        line = f"[dim]{line} suppressed: {escape(f.suppressed)}[/]"
    return line


def summary_line(result: AuditResult) -> str:
    s = result.summary()
    files = ", ".join(f"{n} {kind}" for kind, n in s["files"].items()) or "no files"
    counts = ", ".join(f"{n} {sev}" for sev, n in s["findings"].items() if n) or "no findings"
    parts = [
        f"read {files}",
        f"{s['objects']} objects, {s['containers']} containers",
        counts,
    ]
    if s["suppressed"]:
        parts.append(f"{s['suppressed']} suppressed")
    if s["skipped"]:
        parts.append("skipped " + ", ".join(f"{n} ({why})" for why, n in s["skipped"].items()))
    if s["errors"]:
        parts.append(f"{s['errors']} unreadable")
    return escape("; ".join(parts))
