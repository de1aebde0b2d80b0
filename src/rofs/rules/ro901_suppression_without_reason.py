"""
## What it does
Flags a suppression (`# rofs: ignore=RO301`, a `rofs.dev/ignore` annotation, an
`x-rofs-ignore` entry) that gives no reason.

## Why is this bad?
A suppression hides a finding from every later review. Without a reason nobody can tell
an accepted risk from a shortcut.

## Example
```yaml
# rofs: ignore=RO203
```

## Use instead
```yaml
# rofs: ignore=RO203 -- bounded by the namespace's ephemeral-storage quota
```

## Fix
Add the reason after `--` (comments) or `:` (annotations, x-rofs-ignore).
"""

from __future__ import annotations

from collections.abc import Iterator

from rofs.model import Capability, Finding, RuleMeta, Severity, Workload
from rofs.rules.common import Context

# Checked by the engine, which sees every suppression (rofs.audit); kept as a rule for its ID,
# its docs and --select/--ignore.
META = RuleMeta(
    id="RO901",
    name="suppression-without-reason",
    severity=Severity.LOW,
    title="Suppression without a reason",
    rationale="A suppression without a reason cannot be reviewed.",
    fix="Give the reason after -- (comments) or : (annotations, x-rofs-ignore).",
    needs=frozenset({Capability.SUPPRESSIONS}),
)


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    """Nothing: the engine reports RO901."""
    return iter(())
