"""Human output: grouped by file, ``file:line:col RULE message``, colour on a TTY.

Lines are written as they are found (see ``rofs.audit.stream_audit``), with plain ANSI
styling: a long audit prints thousands of lines and pays for nothing it does not show.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

import click

from rofs.model import Finding
from rofs.remedy import fix_label
from rofs.results import AuditResult
from rofs.sources.interface import SourceFile
from rofs.terminal import printable

STYLE = {"critical": ("red", True), "high": ("red", False), "medium": ("yellow", False), "low": ("cyan", False)}


def render(
    files: Iterable[tuple[SourceFile, Iterable[Finding]]],
    out: IO[str],
    color: bool = False,
    show_suppressed: bool = False,
    quiet: bool = False,
) -> AuditResult:
    """Print findings as they are found (*quiet*: and nothing else); returns the tally only (no
    findings kept)."""

    def style(text: str, **kwargs) -> str:
        return click.style(text, **kwargs) if color else text

    result = AuditResult()
    for source, findings in files:
        header = False
        for f in findings:
            if f.suppressed is None:
                result.counts[f.severity] += 1
            else:
                result.suppressed += 1
                if not show_suppressed:
                    continue
            if not header:
                out.write("\n" + style(printable(source.path), bold=True, underline=True) + "\n")
                header = True
            out.write(_line(f, style) + "\n")
        result.files.append(source)
        for error in source.errors:
            out.write(style("error", fg="red", bold=True) + f" {printable(str(error))}\n")
    if not quiet:
        out.write("\n" + summary_line(result) + "\n")
    return result


def _line(f: Finding, style) -> str:
    fg, bold = STYLE[f.severity.value]
    # names come from the files: a newline or an escape sequence in one must not forge a line
    who = printable(f"{f.kind}/{f.object}" + (f" [{f.container}]" if f.container else ""))
    line = f"{printable(str(f.location))} {style(f.rule, fg=fg, bold=bold)} {printable(f.message)} " + style(
        f"({who}; {f.name}, {f.severity.value})", dim=True
    )
    if f.suppressed is not None:
        return style(f"{line} suppressed: {printable(f.suppressed)}", dim=True)
    if f.fix:
        line += "\n" + style(f"    {fix_label(f.applicability)}: {printable(f.fix)}", dim=True)
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
    return "; ".join(parts)
