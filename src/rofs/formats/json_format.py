"""Machine output.  Schema ``rofs-audit/1`` (stable; fields are only ever added):

{
  "schema": "rofs-audit/1",
  "findings": [{"rule", "name", "severity", "file", "line", "column", "kind", "object",
                "container", "path", "message", "fix", "suppressed",
                "applicability": "safe" | "review" | "suggestion",
                "remedies": [{"type", ...its fields}]}],
  "errors": [{"file", "line", "message"}],
  "summary": {"files": {...}, "skipped": {...}, "errors", "objects", "workloads",
              "containers", "findings": {"critical", "high", "medium", "low"}, "suppressed"}
}
"""

from __future__ import annotations

import json

from rofs.remedy import as_dict
from rofs.results import AuditResult

SCHEMA = "rofs-audit/1"


def finding_dict(f) -> dict:
    return {
        "rule": f.rule,
        "name": f.name,
        "severity": f.severity.value,
        "file": f.location.path,
        "line": f.location.line,
        "column": f.location.column,
        "kind": f.kind,
        "object": f.object,
        "container": f.container,
        "path": f.path,
        "message": f.message,
        "fix": f.fix,
        "suppressed": f.suppressed,
        "applicability": f.applicability,
        "remedies": [as_dict(r) for r in f.remedies],
    }


def render(result: AuditResult) -> str:
    data = {
        "schema": SCHEMA,
        "findings": [finding_dict(f) for f in result.findings],
        "errors": [{"file": e.path, "line": e.line, "message": e.message} for e in result.errors],
        "summary": result.summary(),
    }
    return json.dumps(data, indent=2) + "\n"
