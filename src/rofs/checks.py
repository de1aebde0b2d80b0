"""The rule runner: run the selected rules on a workload, and match suppressions.

``rofs audit`` and ``rofs fix`` both get their findings here, so the fix changes exactly
what the audit reports.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from fnmatch import fnmatchcase

from rofs.images import ImageRefError, parse_image
from rofs.intake import capabilities
from rofs.model import Finding, Location, Suppression, Workload
from rofs.rules import RULES, SUPPRESSION_RULE, Context


def check_workload(workload: Workload, ctx: Context, selected: set[str]) -> Iterator[Finding]:
    """Findings of the *selected* rules whose needs the workload's format can express."""
    has = capabilities(workload.format)
    for rule_id in sorted(selected):
        module = RULES[rule_id]
        if module.META.needs <= has:
            yield from module.check(workload, ctx)


def suppressed_by(finding: Finding, suppressions: Iterable[Suppression]) -> Suppression | None:
    """The suppression that hides *finding*, if one does."""
    for sup in suppressions:
        if sup.matches(finding.rule, finding.name, finding.container, finding.location.line, finding.location.path):
            return sup
    return None


def with_suppression(finding: Finding, sup: Suppression) -> Finding:
    return replace(finding, suppressed=sup.reason or "(no reason given)")


def checked(workload: Workload, ctx: Context, selected: set[str], suppressions: Iterable[Suppression] = ()) -> list[Finding]:
    """Every finding of the workload, suppressed ones marked (``.suppressed`` holds the reason)."""
    own = list(workload.suppressions) + list(suppressions)
    exempt = {c.name: glob for c in workload.containers
              if ctx.exempt_images and (glob := exempt_glob(c.image, ctx.exempt_images))}
    out = []
    for finding in check_workload(workload, ctx, selected):
        sup = suppressed_by(finding, own)
        if sup is None and finding.container in exempt:
            finding = replace(finding, suppressed=f"exempt image (settings exempt-images: {exempt[finding.container]})")
        out.append(finding if sup is None else with_suppression(finding, sup))
    return out


def exempt_glob(image: str | None, globs: Iterable[str]) -> str | None:
    """The first of *globs* (as Gatekeeper's exemptImages: ``registry.example.com/legacy/*``) that
    *image* matches, as written or with Docker Hub's full name."""
    if not image:
        return None
    try:
        ref = parse_image(image)
        names = {image, f"{ref.registry}/{ref.path}" + (f":{ref.tag}" if ref.tag else "")}
    except ImageRefError:
        names = {image}
    return next((g for g in globs if any(fnmatchcase(n, g) for n in names)), None)


def active(workload: Workload, ctx: Context, selected: set[str], suppressions: Iterable[Suppression] = ()) -> list[Finding]:
    """The workload's findings that no suppression hides: what ``rofs fix`` works from."""
    return [f for f in checked(workload, ctx, selected, suppressions) if f.suppressed is None]


def reasonless(suppressions: Iterable[Suppression], workload: Workload | None, path: str = "") -> list[Finding]:
    """RO901's findings: the suppressions that give no reason."""
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


__all__ = ["Context", "active", "check_workload", "checked", "reasonless", "suppressed_by", "with_suppression"]
