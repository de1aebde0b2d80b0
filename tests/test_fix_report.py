"""What `rofs fix` says and what it leaves on disk when a file cannot simply be replaced:
owners kept, hard links refused, names escaped, every fixed finding listed, counts that add up,
and a diff that never labels a change the fix makes as a suggestion."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import require_tool
from test_cli import ROFS, rofs

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
    fix_part, _, suggestion_part = cli.stdout.partition("suggested, not applied")
    # the exec-form CMD is the fix (applied by `rofs fix`), in the first diff, unlabelled
    assert '+CMD ["python", "-m", "app", "--port", "8000"]' in fix_part
    assert "+++ " in fix_part and "suggested" not in fix_part
    # the USER is only suggested: a second diff, from the fixed text, commented out so that
    # patch and git apply take the fix alone
    assert "# +USER " in suggestion_part and "+CMD" not in suggestion_part
    assert all(line.startswith("# ") for line in suggestion_part.splitlines()[1:])
    stdin = rofs("fix", "-", input=DOCKERFILE)
    assert stdin.returncode == 1
    assert "rofs fix --diff - < FILE" in stdin.stderr


COMPOSE = "services:\n  web:\n    image: nginx:1.27\n"


def test_a_path_through_a_link_and_back_writes_the_file_that_was_read(tmp_path: Path):
    """`lnk/../app.yaml` is the app.yaml beside the link's target, as the kernel reads it: the fix
    goes there, and the file the name would give as text is left alone."""
    (tmp_path / "real" / "sub").mkdir(parents=True)
    pod = tmp_path / "real" / "app.yaml"
    pod.write_text(REDIS.format(name="cache"))
    other = tmp_path / "app.yaml"
    other.write_text(COMPOSE)
    (tmp_path / "lnk").symlink_to("real/sub")
    cli = subprocess.run([ROFS, "fix", "lnk/../app.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert cli.returncode == 1, cli.stderr
    assert other.read_text() == COMPOSE
    assert "readOnlyRootFilesystem: true" in pod.read_text()


def test_extended_attributes_and_acls_survive_a_fix(tmp_path: Path):
    setfacl = require_tool("setfacl", "acl")
    getfacl = require_tool("getfacl", "acl")
    f = tmp_path / "pod.yaml"
    f.write_text(REDIS.format(name="cache"))
    f.chmod(0o640)
    os.setxattr(f, "user.note", b"reviewed")
    subprocess.run([setfacl, "-m", "u:nobody:rw", str(f)], check=True)
    acl_before = subprocess.run([getfacl, "-c", str(f)], capture_output=True, text=True, check=True).stdout
    ino = f.stat().st_ino
    cli = rofs("fix", str(f))
    assert cli.returncode == 1, cli.stderr
    assert f.stat().st_ino != ino and "readOnlyRootFilesystem: true" in f.read_text()  # a new file, replaced
    assert os.getxattr(f, "user.note") == b"reviewed"
    assert subprocess.run([getfacl, "-c", str(f)], capture_output=True, text=True, check=True).stdout == acl_before
    assert "user:nobody:rw-" in acl_before


def test_an_append_only_directory_is_refused_and_left_clean(tmp_path: Path):
    chattr = require_tool("chattr", "e2fsprogs")
    d = tmp_path / "ad"
    d.mkdir()
    f = d / "pod.yaml"
    text = REDIS.format(name="cache")
    f.write_text(text)
    if subprocess.run([chattr, "+a", str(d)], capture_output=True).returncode != 0:
        pytest.skip("this file system has no append-only flag")
    try:
        cli = rofs("fix", str(f))
        names = sorted(p.name for p in d.iterdir())
    finally:
        subprocess.run([chattr, "-a", str(d)], check=True)
    assert cli.returncode == 2 and "append-only or immutable" in cli.stderr
    assert names == ["pod.yaml"] and f.read_text() == text


def test_the_longest_file_name_can_be_fixed(tmp_path: Path):
    f = tmp_path / ("p" * 250 + ".yaml")  # 255 bytes, the limit of a name
    f.write_text(REDIS.format(name="cache"))
    cli = rofs("fix", str(f))
    assert cli.returncode == 1, cli.stderr
    assert "readOnlyRootFilesystem: true" in f.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f.name]


def test_a_full_standard_output_is_an_error_not_a_traceback():
    with open("/dev/full", "w") as full:
        for args in (["fix", "-"], ["audit", "-"], ["fix", "--diff", "-"]):
            cli = subprocess.run([ROFS, *args], input=REDIS.format(name="c"), stdout=full, stderr=subprocess.PIPE,
                                 text=True)
            assert cli.returncode == 2, (args, cli.stderr)
            assert cli.stderr.strip().splitlines()[-1] == "rofs: error: cannot write the output: No space left on device"
            assert "Traceback" not in cli.stderr


def test_one_file_named_twice_is_fixed_once(tmp_path: Path):
    f = tmp_path / "pod.yaml"
    f.write_text(REDIS.format(name="cache"))
    cli = subprocess.run([ROFS, "fix", "pod.yaml", str(f)], cwd=tmp_path, capture_output=True, text=True)
    assert cli.returncode == 1, cli.stderr
    assert "rofs fix: changed 1 of 1 files" in cli.stderr


def test_audit_errors_on_stderr_are_escaped(tmp_path: Path):
    bad = tmp_path / "bad\x1b[31m\n.yaml"
    bad.write_text("a: [\n")
    cli = rofs("audit", str(bad))
    assert cli.returncode == 2
    assert "\x1b" not in cli.stderr and "bad\\x1b[31m\\n.yaml" in cli.stderr


def test_patch_applies_the_fix_and_not_the_suggestion(tmp_path: Path):
    patch = require_tool("patch")
    f = tmp_path / "Dockerfile"
    f.write_text(DOCKERFILE)
    diff = subprocess.run([ROFS, "fix", "--diff", "Dockerfile"], cwd=tmp_path, capture_output=True, text=True)
    assert diff.returncode == 1
    subprocess.run([patch, "-p1"], cwd=tmp_path, input=diff.stdout, text=True, check=True, capture_output=True)
    assert f.read_text() == DOCKERFILE.replace("CMD python -m app --port 8000",
                                               'CMD ["python", "-m", "app", "--port", "8000"]')


@pytest.mark.parametrize("tool", ["patch", "git"])
def test_a_diff_of_a_file_above_the_current_directory_applies(tmp_path: Path, tool: str):
    """`a/../x` is refused by patch and git apply: such a file is named by its absolute path, and
    stderr says how to apply it."""
    exe = require_tool(tool)
    (tmp_path / "app").mkdir()
    (tmp_path / "here").mkdir()
    f = tmp_path / "app" / "compose.yaml"
    f.write_text("services:\n  cache:\n    image: redis:7.4\n")
    diff = subprocess.run([ROFS, "fix", "--diff", "../app/compose.yaml"], cwd=tmp_path / "here",
                          capture_output=True, text=True)
    assert diff.returncode == 1, diff.stderr
    assert diff.stdout.startswith(f"--- {f}\n+++ {f}\n")
    assert "`patch -p1 -d / < FILE` or `git apply --unsafe-paths -p0 FILE`" in diff.stderr
    args = [exe, "-p1", "-d", "/"] if tool == "patch" else [exe, "apply", "--unsafe-paths", "-p0"]
    subprocess.run(args, cwd=tmp_path / "here", input=diff.stdout, text=True, check=True, capture_output=True)
    assert yaml.safe_load(f.read_text())["services"]["cache"]["read_only"] is True
