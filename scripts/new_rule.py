#!/usr/bin/env python3
"""Start a new rule: its module, its fixtures, its registry entry and its docs.

    .venv/bin/python scripts/new_rule.py RO206 volume-mounted-twice \\
        --title "Two mounts at one path" --severity medium --needs mounts

writes
    src/rofs/rules/ro206_volume_mounted_twice.py   META and an empty check() to fill in
    tests/fixtures/rules/RO206/pod.yaml            a fixture: mark lines with `# expect: RO206`
and adds the module to the registry (src/rofs/rules/__init__.py), then regenerates docs/rules.md.
tests/test_rules.py runs every rule against its fixtures, so the new rule is tested from the
start; write the check, mark the lines it must flag, and run the tests.

A rule that `rofs fix` can fix builds remedies (rofs.remedy) in check() and says
``applicability="safe"`` or ``"review"`` in META; the format fixers apply them.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RULES_DIR = REPO / "src" / "rofs" / "rules"
FIXTURES = REPO / "tests" / "fixtures" / "rules"
SEVERITIES = ("low", "medium", "high", "critical")
CAPABILITIES = {
    "containers": "CONTAINERS", "commands": "COMMANDS", "suppressions": "SUPPRESSIONS",
    "read-only-root": "READ_ONLY_ROOT", "mounts": "MOUNTS", "privileges": "PRIVILEGES",
    "pod-security": "POD_SECURITY", "non-root-policy": "NON_ROOT_POLICY", "build": "BUILD",
}

MODULE = '''"""
## What it does
{title}.

## Why is this bad?
TODO: what breaks, or what an attacker gains, when this is left as it is.

## Example
```yaml
TODO: a container that this rule flags
```

## Use instead
```yaml
TODO: the same container, fixed
```

## Fix
{fix}
"""

from __future__ import annotations

from collections.abc import Iterator

from rofs.model import Capability, Finding, RuleMeta, Severity, Workload
from rofs.rules.common import Context

META = RuleMeta(
    id="{id}",
    name="{name}",
    severity=Severity.{severity},
    title="{title}",
    rationale="TODO: why it matters, one sentence.",
    fix="{fix}",
    needs=frozenset({{{needs}}}),
)


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    """Yield ``ctx.finding(META, workload, location, message, container, remedies=(...))`` for
    each problem; with no remedies the finding suggests META.fix."""
    for container in workload.containers:
        problem: str | None = None  # TODO: what is wrong with this container, or None
        if problem:
            yield ctx.finding(META, workload, container.location, problem, container)
'''

FIXTURE = """\
# Fixtures for {id}: end each line the rule must flag with an "expect" comment naming {id}
# (the syntax is in tests/test_rules.py); lines without one must not be flagged.
apiVersion: v1
kind: Pod
metadata:
  name: dont-fire
spec:
  containers:
    - name: app
      image: nginx:1.27
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("id", help="the new rule's ID, e.g. RO206 (never reused, never changed)")
    parser.add_argument("name", help="its name in kebab-case, e.g. volume-mounted-twice")
    parser.add_argument("--title", required=True, help="one line: what the rule finds")
    parser.add_argument("--severity", choices=SEVERITIES, default="medium")
    parser.add_argument("--needs", default="containers",
                        help=f"comma-separated capabilities the format must have: {', '.join(CAPABILITIES)}")
    parser.add_argument("--fix", default="TODO: what fixes it, one sentence.", help="the general fix, one sentence")
    parser.add_argument("--no-docs", action="store_true", help="do not regenerate docs/rules.md")
    args = parser.parse_args(argv)

    rule_id, name = args.id.upper(), args.name.lower()
    if not re.fullmatch(r"RO\d{3}", rule_id):
        parser.error(f"the ID must look like RO206, not {args.id!r}")
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name):
        parser.error(f"the name must be kebab-case (lower-case words and dashes), not {args.name!r}")
    needs = [n.strip() for n in args.needs.split(",") if n.strip()]
    unknown = [n for n in needs if n not in CAPABILITIES]
    if unknown or not needs:
        parser.error(f"unknown capability {', '.join(unknown) or '(none given)'}; choose from {', '.join(CAPABILITIES)}")
    for text in (args.title, args.fix):
        if '"' in text or "\\" in text or "\n" in text:
            parser.error("--title and --fix are one line without double quotes or backslashes")

    module_name = f"{rule_id.lower()}_{name.replace('-', '_')}"
    module_path = RULES_DIR / f"{module_name}.py"
    registry = RULES_DIR / "__init__.py"
    registry_text = registry.read_text()
    if any(p.name.startswith(rule_id.lower() + "_") for p in RULES_DIR.glob("ro*.py")):
        parser.error(f"{rule_id} exists already")
    if f'name="{name}"' in "".join(p.read_text() for p in RULES_DIR.glob("ro*.py")):
        parser.error(f"a rule named {name} exists already")

    caps = ", ".join(f"Capability.{CAPABILITIES[n]}" for n in needs)
    module_path.write_text(MODULE.format(id=rule_id, name=name, title=args.title, fix=args.fix,
                                         severity=args.severity.upper(), needs=caps))
    fixture_dir = FIXTURES / rule_id
    fixture_dir.mkdir(parents=True, exist_ok=True)
    (fixture_dir / "pod.yaml").write_text(FIXTURE.format(id=rule_id))
    registry.write_text(_register(registry_text, module_name))
    print(f"wrote {module_path.relative_to(REPO)}")
    print(f"wrote {(fixture_dir / 'pod.yaml').relative_to(REPO)}")
    print(f"registered {module_name} in {registry.relative_to(REPO)}")
    if not args.no_docs:
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}  # this checkout's rofs, the new rule included
        docs = subprocess.run([sys.executable, "-c", "from rofs.cli import main; main()", "rules", "--format", "markdown"],
                              capture_output=True, text=True, check=True, env=env)
        (REPO / "docs" / "rules.md").write_text(docs.stdout)
        print("regenerated docs/rules.md")
    print(f"next: write check() in {module_path.relative_to(REPO)}, add a fixture it flags and mark that line;"
          f" until then tests/test_rules.py fails with '{rule_id}: no firing case'")
    return 0


def _register(text: str, module_name: str) -> str:
    """The registry with *module_name* in its import list and its tuple, both kept sorted."""
    out = text
    for pattern in (r"(from rofs\.rules import \(\n)((?:    ro\w+,\n)+)(\))", r"(    for module in \(\n)((?:        ro\w+,\n)+)(    \))"):
        match = re.search(pattern, out)
        if match is None:
            raise SystemExit(f"new_rule: cannot find the rule list in the registry (pattern {pattern!r})")
        indent = "    " if match.group(1).startswith("from") else "        "
        names = sorted({line.strip().rstrip(",") for line in match.group(2).splitlines()} | {module_name})
        out = out[: match.start(2)] + "".join(f"{indent}{n},\n" for n in names) + out[match.end(2):]
    return out


if __name__ == "__main__":
    sys.exit(main())
