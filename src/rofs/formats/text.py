"""Human output: grouped by file, ``file:line:col RULE message``, colour on a TTY."""

from __future__ import annotations

from itertools import groupby

from rich.console import Console
from rich.markup import escape

from rofs.audit import AuditResult

STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def render(result: AuditResult, console: Console, show_suppressed: bool = False) -> None:
    findings = [f for f in result.findings if show_suppressed or f.suppressed is None]
    for error in result.errors:
        console.print(f"[bold red]error[/] {escape(str(error))}", soft_wrap=True)
    for path, group in groupby(findings, key=lambda f: f.location.path):
        items = list(group)
        console.print(f"\n[bold underline]{escape(path)}[/]", soft_wrap=True)
        for f in items:
            who = f"{f.kind}/{f.object}" + (f" [{f.container}]" if f.container else "")
            line = (
                f"{escape(str(f.location))} [{STYLE[f.severity.value]}]{f.rule}[/] "
                f"{escape(f.message)} [dim]({escape(who)}; {f.name}, {f.severity.value})[/]"
            )
            if f.suppressed is not None:
                line = f"[dim]{line} suppressed: {escape(f.suppressed)}[/]"
            console.print(line, soft_wrap=True, highlight=False)
    console.print()
    console.print(summary_line(result), soft_wrap=True, highlight=False)


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
