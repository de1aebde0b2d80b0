"""What `rofs fix` says and what it leaves on disk when a file cannot simply be replaced:
owners kept, hard links refused, names escaped, every fixed finding listed, counts that add up,
and a diff that never labels a change the fix makes as a suggestion."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from test_cli import rofs

REDIS = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
    - name: cache
      image: redis:7.4
"""

DOCKERFILE = """\
FROM python:3.12-slim
WORKDIR /app
COPY . .
CMD python -m app --port 8000
"""


def fixed_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " fixed: " in line]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_fix_as_root_keeps_the_files_owner_group_and_mode(tmp_path: Path):
    f = tmp_path / "pod.yaml"
    f.write_text(REDIS.format(name="cache"))
    os.chown(f, 1234, 4321)
    f.chmod(0o640)
    cli = rofs("fix", str(f))
    assert cli.returncode == 1, cli.stderr
    st = f.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1234, 4321, 0o640)
    assert "readOnlyRootFilesystem: true" in f.read_text()


def test_a_hard_linked_file_is_refused_and_both_names_are_untouched(tmp_path: Path):
    text = REDIS.format(name="cache")
    f = tmp_path / "pod.yaml"
    f.write_text(text)
    other = tmp_path / "copy.yaml"
    os.link(f, other)
    cli = rofs("fix", str(f))
    assert cli.returncode == 2
    assert f"cannot write {f}: it has 2 hard links" in cli.stderr
    assert f.read_text() == text and other.read_text() == text and f.stat().st_ino == other.stat().st_ino
    # nothing was fixed, so nothing is said to be fixed and the count says so
    assert fixed_lines(cli.stderr) == []
    assert "rofs fix: changed 0 of 1 files; 1 not fixable" in cli.stderr
    assert f"fixed {f}" not in cli.stderr.splitlines()


def test_a_file_that_cannot_be_written_is_not_counted_as_changed(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(REDIS.format(name="good"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(REDIS.format(name="bad"))
    os.link(bad, tmp_path / "bad-link.yaml")
    cli = rofs("fix", str(good), str(bad))
    assert cli.returncode == 2
    assert "rofs fix: changed 1 of 2 files; 1 not fixable" in cli.stderr
    assert all(line.startswith(f"rofs: {good}:") for line in fixed_lines(cli.stderr)), cli.stderr
    assert fixed_lines(cli.stderr)


def test_every_fixed_finding_is_listed_however_many(tmp_path: Path):
    f = tmp_path / "many.yaml"
    f.write_text("---\n".join(REDIS.format(name=f"cache-{i}") for i in range(25)))
    audit = rofs("audit", "--format", "json", str(f))
    fixable = [x for x in json.loads(audit.stdout)["findings"] if x["applicability"] in ("safe", "review")]
    cli = rofs("fix", str(f))
    assert cli.returncode == 1
    assert len(fixable) > 20  # past the old cut-off of 20 lines
    assert len(fixed_lines(cli.stderr)) == len(fixable)
    assert "more findings fixed" not in cli.stderr


def test_names_with_control_characters_are_escaped_in_audit_and_fix(tmp_path: Path):
    name = "evil\n\x1b[2Jpod.yaml"
    f = tmp_path / name
    f.write_text(REDIS.format(name='"web\\x1b]0;owned\\x07"'))
    audit = rofs("audit", str(tmp_path))
    assert "\x1b" not in audit.stdout and "\x07" not in audit.stdout
    assert "evil\\n\\x1b[2Jpod.yaml" in audit.stdout
    assert "Pod/web\\x1b]0;owned\\x07" in audit.stdout
    fix = rofs("fix", "--diff", str(f))
    assert "\x1b" not in fix.stderr and "evil\\n\\x1b[2Jpod.yaml" in fix.stderr
    missing = rofs("audit", str(tmp_path / "gone\x1b[31m.yaml"))
    assert missing.returncode == 2 and "\x1b" not in missing.stderr and "gone\\x1b[31m.yaml" in missing.stderr


def test_dockerfile_diff_shows_the_fix_apart_from_the_suggestion(tmp_path: Path):
    f = tmp_path / "Dockerfile"
    f.write_text(DOCKERFILE)
    cli = rofs("fix", "--diff", str(f))
    assert cli.returncode == 1 and f.read_text() == DOCKERFILE
    fix_part, _, suggestion_part = cli.stdout.partition("(suggested, not applied)")
    # the exec-form CMD is the fix (applied by `rofs fix`), in the first diff, unlabelled
    assert '+CMD ["python", "-m", "app", "--port", "8000"]' in fix_part
    assert "+++ " in fix_part and "(suggested" not in fix_part.splitlines()[1]
    # the USER is only suggested, in a second diff made from the fixed text
    assert "+USER " in suggestion_part and "+CMD" not in suggestion_part
    stdin = rofs("fix", "-", input=DOCKERFILE)
    assert stdin.returncode == 1
    assert "rofs fix --diff - < FILE" in stdin.stderr
