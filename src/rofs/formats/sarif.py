"""SARIF 2.1.0 output, as GitHub code scanning reads it.

Rules carry their full documentation as help text; results point at files relative to
``%SRCROOT%`` (the working directory) with line and column; ``partialFingerprints``
depend on what was found and where in the object, not on line numbers, so a finding
keeps its identity when lines above it move.  Suppressed findings are included with a
``suppressions`` entry carrying the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from rofs import __version__
from rofs.model import Severity
from rofs.results import AuditResult
from rofs.rules import RULES

LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note"}
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "7.5", Severity.MEDIUM: "5.0", Severity.LOW: "2.0"}
SRCROOT = "%SRCROOT%"


def rule_descriptor(module) -> dict:
    meta = module.META
    doc = (module.__doc__ or "").strip()
    tags = ["security", "read-only-root-filesystem"] + [f"{r.standard} {r.control}" for r in meta.refs]
    if meta.cwe:
        tags.append(meta.cwe)
    return {
        "id": meta.id,
        "name": meta.name,
        "shortDescription": {"text": meta.title},
        "fullDescription": {"text": meta.rationale},
        "help": {"text": f"{meta.rationale} {meta.fix}", "markdown": doc},
        "defaultConfiguration": {"level": LEVEL[meta.severity]},
        "properties": {
            "tags": tags,
            "precision": "high",
            "problem.severity": "error" if meta.severity.rank >= Severity.HIGH.rank else "warning",
            "security-severity": SECURITY_SEVERITY[meta.severity],
        },
    }


def _artifact(path: str, root: Path) -> dict:
    if path == "<stdin>":
        return {"uri": "stdin"}
    absolute = Path(path).resolve()
    try:
        relative = absolute.relative_to(root)
    except ValueError:
        return {"uri": absolute.as_uri()}
    return {"uri": relative.as_posix(), "uriBaseId": SRCROOT}


def fingerprint(f, uri: str | None = None) -> str:
    """What was found and where in the object, and the file as the repository names it (*uri*): not
    its line, nor the directory rofs ran in."""
    key = "\0".join([f.rule, uri or f.location.path, f.kind, f.object, f.container or "", f.path or "", f.message])
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def repository_root(start: Path) -> Path:
    """The nearest directory at or above *start* holding .git (code scanning names files relative to
    the repository's root), else *start*."""
    return next((d for d in (start, *start.parents) if (d / ".git").exists()), start)


def _region(location) -> dict:
    region = {"startLine": location.line, "startColumn": location.column}
    if location.end_line:
        region["endLine"] = location.end_line
        if location.end_column:
            region["endColumn"] = location.end_column
    return region


def render(result: AuditResult, root: str | None = None) -> str:
    base = Path(root).resolve() if root else repository_root(Path(os.getcwd()).resolve())
    ids = sorted(RULES)
    results = []
    for f in result.findings:
        artifact = _artifact(f.location.path, base)
        item = {
            "ruleId": f.rule,
            "ruleIndex": ids.index(f.rule),
            "level": LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": artifact,
                        "region": _region(f.location),
                    },
                    "logicalLocations": [
                        {"name": f.container or f.object, "fullyQualifiedName": _logical(f), "kind": "object"}
                    ],
                }
            ],
            "partialFingerprints": {"rofsFindingHash/v1": fingerprint(f, artifact["uri"])},
            "properties": {"fix": f.fix, "applicability": f.applicability},
        }
        if f.suppressed is not None:
            item["suppressions"] = [{"kind": "inSource", "justification": f.suppressed}]
        results.append(item)
    notifications = [
        {
            "level": "error",
            "message": {"text": e.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact(e.path, base),
                        **({"region": {"startLine": e.line}} if e.line else {}),
                    }
                }
            ],
        }
        for e in result.errors
    ]
    run = {
        "tool": {
            "driver": {
                "name": "rofs",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [rule_descriptor(RULES[i]) for i in ids],
            }
        },
        "originalUriBaseIds": {SRCROOT: {"uri": base.as_uri() + "/"}},
        "invocations": [{"executionSuccessful": not result.errors, "toolExecutionNotifications": notifications}],
        "results": results,
    }
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    }
    return json.dumps(doc, indent=2) + "\n"


def _logical(f) -> str:
    name = f"{f.kind}/{f.object}"
    return f"{name}/{f.container}" if f.container else name
