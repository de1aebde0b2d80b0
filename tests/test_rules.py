"""Every rule against its fixtures: expectations sit on the lines they point at.

``# expect: RO201 RO201`` on a line means exactly those findings at that line;
``# expect-next: RO301`` on a comment line means them on the next line (Dockerfiles
have no trailing comments).  The column is where the line's content starts (after a
``- `` list marker), unless written as ``RO203@9``.  The comparison is the exact
multiset of (line, column, rule) per file, so a finding on the wrong line or column
fails, and so does a missing or extra one.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from rofs.audit import AuditOptions, audit
from rofs.profiles import builtin_registry
from rofs.rules import RULES

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
EXPECT = re.compile(r"#\s*expect(-next)?:\s*((?:RO\d{3}(?:@\d+)?\s*)+)")
SECTIONS = ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Fix")


def content_column(line: str) -> int:
    stripped = line.lstrip(" ")
    column = len(line) - len(stripped) + 1
    if stripped.startswith("- "):
        column += 2
    return column


def expectations(path: Path) -> Counter:
    found: Counter = Counter()
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        match = EXPECT.search(line)
        if match:
            target = number + 1 if match.group(1) else number
            for word in match.group(2).split():
                rule, _, col = word.partition("@")
                found[(target, int(col) if col else content_column(lines[target - 1]), rule)] += 1
    return found


def fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*") if p.is_file())


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rule_fixture(path: Path):
    rule = path.parent.name
    result = audit([str(path)], builtin_registry(), AuditOptions(select={rule}))
    assert not result.errors, result.errors
    assert len(result.files) == 1 and result.files[0].workload_count, "the fixture was read"
    actual = Counter((f.location.line, f.location.column, f.rule) for f in result.active)
    assert actual == expectations(path), "\n".join(str(f.location) + " " + f.message for f in result.active)
    lines = len(path.read_text().splitlines())
    for f in result.findings:
        assert 1 <= f.location.line <= lines and f.location.column >= 1, "no impossible positions"


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_every_rule_is_documented_and_has_fixtures(rule_id):
    module = RULES[rule_id]
    meta = module.META
    doc = module.__doc__ or ""
    for section in SECTIONS:
        assert section in doc, f"{rule_id} docstring lacks {section}"
    assert re.fullmatch(r"RO\d{3}", meta.id) and re.fullmatch(r"[a-z]+(-[a-z]+)*", meta.name)
    assert meta.fix.endswith(".") and meta.title and meta.rationale
    files = list((FIXTURES / rule_id).glob("*"))
    assert files, f"{rule_id} has no fixture folder"
    fires = sum(sum(expectations(f).values()) for f in files)
    assert fires > 0, f"{rule_id}: no firing case"
    text = "".join(f.read_text() for f in files)
    assert "dont-fire" in text or "ok." in " ".join(f.name for f in files) or rule_id in ("RO303", "RO901"), (
        f"{rule_id}: no non-firing case"
    )


def test_rule_ids_and_names_are_unique():
    names = [m.META.name for m in RULES.values()]
    assert len(set(names)) == len(names)


def test_ro302_knows_bases_that_already_run_as_non_root():
    """opentelemetry-demo's services build on distroless :nonroot (UID 65532) and set no USER of their
    own: they do not run as root, and RO302 says so at low severity instead of flagging root."""
    from conftest import CORPUS
    from rofs.audit import AuditOptions, audit
    from rofs.profiles import builtin_registry

    demo = CORPUS / "open-telemetry__opentelemetry-demo" / "src"
    result = audit([str(demo)], builtin_registry(), AuditOptions(select={"RO302"}))
    low = sorted(Path(f.location.path).parent.name for f in result.findings if f.severity.value == "low")
    assert low == ["checkout", "fraud-detection", "frontend", "payment", "product-catalog", "shipping"]
    for f in result.findings:
        if f.severity.value == "low":
            assert "runs as UID 65532 (distroless :nonroot" in f.message and "set USER 65532" in f.message
        else:
            assert "runs as UID" not in f.message
