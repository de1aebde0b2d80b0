"""GitHub Actions workflow commands: one annotation per finding, shown on the pull request's
changed lines (``::error file=F,line=L,col=C,title=T::message``).  Critical and high findings
are errors, medium warnings, low notices; an unreadable file is an error.  Values are escaped as
the runner's command syntax wants (``%``, CR and LF everywhere; ``:`` and ``,`` in properties).
"""

from __future__ import annotations

from rofs.model import Severity
from rofs.results import AuditResult

LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render(result: AuditResult) -> str:
    lines = []
    for f in result.active:
        where = f"file={_property(f.location.path)},line={f.location.line},col={f.location.column}"
        if f.location.end_line:
            where += f",endLine={f.location.end_line}"
        title = _property(f"{f.rule} {f.name}")
        message = f.message + (f" (fix: {f.fix})" if f.fix else "")
        lines.append(f"::{LEVEL[f.severity]} {where},title={title}::{_data(message)}")
    for error in result.errors:
        where = f"file={_property(error.path)}" + (f",line={error.line}" if error.line else "")
        lines.append(f"::error {where},title=rofs%3A unreadable::{_data(error.message)}")
    return "\n".join(lines) + ("\n" if lines else "")
