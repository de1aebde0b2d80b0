"""The command line, run as a user runs it: the installed `rofs` script in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rofs import __version__
from rofs.profiles import builtin_registry

ROFS = shutil.which("rofs", path=str(Path(sys.executable).parent)) or "rofs"


def rofs(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([ROFS, *args], capture_output=True, text=True, input=input, timeout=60)


def test_version():
    result = rofs("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"rofs, version {__version__}"


def test_help_lists_every_command_with_one_line():
    result = rofs("--help")
    assert result.returncode == 0
    commands = result.stdout.split("Commands:")[1].strip("\n").splitlines()
    names = [line.split()[0] for line in commands]
    assert names == ["audit", "fix", "run", "trace", "explain", "policy", "generate", "profiles", "rules", "rule", "completion"], "one line per command, nothing wrapped"
    for name in names:
        sub = rofs(name, "--help")
        assert sub.returncode == 0 and "Usage: rofs " + name in sub.stdout


@pytest.mark.parametrize("args", [["generate", "oracle-db"], ["profiles", "show", "oracle"]])
def test_unknown_app_is_one_line_listing_the_known_ones(args):
    result = rofs(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"rofs: error: unknown app {args[-1]!r}; known apps: ")
    for name in builtin_registry().names():
        assert name in lines[0]
    assert result.stdout == ""


def test_profiles_list_table_names_every_app_and_path():
    result = rofs("profiles", "list")
    assert result.returncode == 0
    for profile in builtin_registry():
        assert profile.name in result.stdout
    assert "/var/run/postgresql" in result.stdout and "/dev/shm" in result.stdout


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_profiles_list_machine_formats(fmt):
    result = rofs("profiles", "list", "--format", fmt)
    assert result.returncode == 0
    data = json.loads(result.stdout) if fmt == "json" else yaml.safe_load(result.stdout)
    by_name = {entry["name"]: entry for entry in data}
    assert set(by_name) == set(builtin_registry().names())
    pg_paths = {p["path"]: p["kind"] for p in by_name["postgres"]["paths"]}
    assert pg_paths == {"/var/lib/postgresql": "persistent", "/var/run/postgresql": "ephemeral", "/dev/shm": "memory"}


def test_profiles_show_one_layout_as_json():
    result = rofs("profiles", "show", "postgresql", "--layout", "debian", "--format", "json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert [lay["id"] for lay in data["layouts"]] == ["debian"]
    paths = {p["path"] for p in data["layouts"][0]["paths"]}
    assert "/var/lib/postgresql/15/main" in paths and "/tmp" not in paths
    assert any(src["id"] == "debian-run" for src in data["sources"])


def test_profiles_show_table_has_what_breaks_and_sources():
    result = rofs("profiles", "show", "postgres")
    assert result.returncode == 0
    assert "Without it" in result.stdout
    assert "[dockerfile-official]" in result.stdout
    assert "Layout debian" in result.stdout


def test_profiles_show_bad_layout():
    result = rofs("profiles", "show", "postgres", "--layout", "nope")
    assert result.returncode == 2
    assert "postgres has no layout 'nope'; layouts: official, bitnami, debian" in result.stderr


def test_generate_defaults_to_statefulset_for_data():
    result = rofs("generate", "postgres")
    assert result.returncode == 0
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert docs[0]["kind"] == "StatefulSet"


def test_generate_picks_the_layout_from_the_image():
    result = rofs("generate", "postgres", "--image", "registry.example.com/bitnami/postgresql:16", "--format", "compose")
    assert result.returncode == 0
    svc = yaml.safe_load(result.stdout)["services"]["postgres"]
    targets = {v["target"] for v in svc["volumes"]}
    assert "/bitnami/postgresql" in targets and "/var/lib/postgresql" not in targets
    assert svc["image"] == "registry.example.com/bitnami/postgresql:16"


def test_generate_writes_a_file(tmp_path: Path):
    out = tmp_path / "pg.yaml"
    result = rofs("generate", "postgres", "--kind", "Deployment", "--name", "db", "-o", str(out))
    assert result.returncode == 0 and result.stdout == ""
    kinds = [d["kind"] for d in yaml.safe_load_all(out.read_text()) if d]
    assert kinds == ["Deployment", "PersistentVolumeClaim"]
    assert [p.name for p in tmp_path.iterdir()] == ["pg.yaml"], "no temp file left behind"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "tmp"], "--size 'tmp': expected PATH=SIZE"),
        (["--size", "/dev/shm=lots"], "--size '/dev/shm=lots': not a size"),
        (["--size", "/nope=1Gi"], "--size /nope: not a path or volume of postgres"),
        (["--layout", "debian"], "layout 'debian' of postgres has no container image"),
        (["--kind", "Job"], "Invalid value for '--kind'"),
    ],
)
def test_generate_bad_options(args, message, tmp_path: Path):
    out = tmp_path / "never.yaml"
    result = rofs("generate", "postgres", *args, "-o", str(out))
    assert result.returncode == 2
    assert message in result.stderr
    assert not out.exists(), "nothing written on bad input"


def test_profile_file_error_is_one_line(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntitle: X\n")
    result = rofs("generate", "x", "--profile-file", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"rofs: error: {bad}:")
    assert "description" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_generate_from_a_profile_file(tmp_path: Path):
    text = (Path(__file__).parent / "fixtures" / "profiles" / "inhouse.yaml").read_text()
    path = tmp_path / "inhouse.yaml"
    path.write_text(text)
    result = rofs("generate", "inhouse", "--profile-file", str(path), "--format", "docker-run")
    assert result.returncode == 0, result.stderr
    assert "--tmpfs /var/cache/inhouse:rw,mode=1777,size=128m" in result.stdout
    assert "-v inhouse-state:/var/lib/inhouse" in result.stdout


def test_output_to_a_device_writes_to_it_and_never_replaces_it(tmp_path: Path):
    import os
    import stat

    before = os.stat("/dev/null")
    result = rofs("generate", "postgres", "-o", "/dev/null")
    assert result.returncode == 0, result.stderr
    result = rofs("audit", str(Path(__file__).parent / "fixtures" / "rules" / "RO101"), "--format", "json", "-o", "/dev/null")
    assert result.returncode == 1
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_output_file_gets_normal_permissions(tmp_path: Path):
    import stat

    out = tmp_path / "pg.yaml"
    assert rofs("generate", "postgres", "-o", str(out)).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~_umask()
    out.chmod(0o640)
    assert rofs("generate", "redis", "-o", str(out)).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640, "an existing file keeps its mode"


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_unwritable_output_is_a_one_line_error(fmt, tmp_path: Path):
    target = tmp_path / "missing-dir" / "report.out"
    result = rofs("audit", str(Path(__file__).parent / "fixtures" / "rules" / "RO101"), "--format", fmt, "-o", str(target))
    assert result.returncode == 2
    assert result.stderr.strip() == f"rofs: error: cannot write {target}: No such file or directory"
    assert not (tmp_path / "missing-dir").exists()


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_docs_profiles_md_is_generated_and_current():
    committed = (Path(__file__).parent.parent / "docs" / "profiles.md").read_text()
    assert committed == rofs("profiles", "show", "--format", "markdown").stdout, (
        "run: rofs profiles show --format markdown > docs/profiles.md"
    )


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion(shell):
    result = rofs("completion", shell)
    assert result.returncode == 0 and "_ROFS_COMPLETE" in result.stdout
    if shell == "bash":
        check = subprocess.run(["bash", "-n"], input=result.stdout, capture_output=True, text=True)
        assert check.returncode == 0, check.stderr


def test_completion_completes_commands_and_apps():
    env = dict(os.environ, _ROFS_COMPLETE="bash_complete", COMP_WORDS="rofs au", COMP_CWORD="1")
    done = subprocess.run([ROFS], env=env, capture_output=True, text=True)
    assert "audit" in done.stdout


def test_the_readmes_fix_example_is_what_fix_prints():
    """The README shows `rofs fix --diff examples/k8s/shop.yaml` with its output: it cannot drift."""
    repo = Path(__file__).resolve().parent.parent
    readme = (repo / "README.md").read_text()
    start = readme.index("$ rofs fix --diff examples/k8s/shop.yaml\n") + len("$ rofs fix --diff examples/k8s/shop.yaml\n")
    shown = readme[start:readme.index("```", start)]
    done = subprocess.run([ROFS, "fix", "--diff", "examples/k8s/shop.yaml"], capture_output=True, text=True, cwd=repo,
                          timeout=60)
    assert done.returncode == 1
    assert shown == done.stderr + done.stdout


def test_ci_conventions_of_audit(tmp_path: Path):
    """The options CI linters share (ruff, kube-linter): -f, --exit-zero, -q, --no-color / NO_COLOR /
    FORCE_COLOR, and --format github (annotations on the pull request)."""
    repo = Path(__file__).resolve().parent.parent
    shop = "examples/k8s/shop.yaml"
    done = subprocess.run([ROFS, "audit", "-f", "github", shop], capture_output=True, text=True, cwd=repo)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines and all(line.startswith(("::error file=", "::warning file=", "::notice file=")) for line in lines)
    assert ("::error file=examples/k8s/shop.yaml,line=21,col=11,endLine=33,title=RO201 missing-writable-path::"
            "PostgreSQL writes /var/run/postgresql") in done.stdout
    # a path with a comma and a message with a newline are escaped, not split
    from rofs.formats.github import _data, _property
    assert _property("a,b:c%") == "a%2Cb%3Ac%25" and _data("x\ny") == "x%0Ay"
    done = subprocess.run([ROFS, "audit", "--exit-zero", "-q", shop], capture_output=True, text=True, cwd=repo)
    assert done.returncode == 0 and "RO201" in done.stdout and "read 1 kubernetes" not in done.stdout
    env = dict(os.environ, FORCE_COLOR="1")
    env.pop("NO_COLOR", None)
    forced = subprocess.run([ROFS, "audit", shop], capture_output=True, text=True, cwd=repo, env=env)
    assert "\x1b[" in forced.stdout, "FORCE_COLOR colours a log that is no terminal"
    plain = subprocess.run([ROFS, "audit", "--no-color", shop], capture_output=True, text=True, cwd=repo, env=env)
    assert "\x1b[" not in plain.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n")
    done = subprocess.run([ROFS, "audit", "--exit-zero", "-f", "github", str(bad)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout.startswith(f"::error file={bad},line=4,title=rofs%3A unreadable::")


def test_junit_report(tmp_path: Path):
    """--format junit: one suite per file, a failing case per finding, a passing case for a clean
    file, an error case for an unreadable one; names with control bytes still make valid XML."""
    from xml.etree import ElementTree as ET

    repo = Path(__file__).resolve().parent.parent
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n")
    odd = tmp_path / "odd.yaml"
    odd.write_text('apiVersion: v1\nkind: Pod\nmetadata: {name: "a\\u001b[31mb"}\nspec:\n  containers:\n'
                   '  - {name: c, image: redis:7, securityContext: {readOnlyRootFilesystem: true}}\n')
    clean = tmp_path / "svc.yaml"
    clean.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n")
    done = subprocess.run([ROFS, "audit", "-f", "junit", str(repo / "examples/k8s/shop.yaml"), str(bad), str(odd),
                           str(clean)], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    root = ET.fromstring(done.stdout)
    suites = {s.get("name"): s for s in root}
    shop = suites[str(repo / "examples/k8s/shop.yaml")]
    assert shop.get("failures") == shop.get("tests") == str(len(shop)) and len(shop) == 11
    assert any(c.get("name") == "RO201 missing-writable-path: Deployment/shop/shop-db [postgres]" for c in shop)
    assert suites[str(bad)].get("errors") == "1" and suites[str(bad)][0].find("error") is not None
    assert suites[str(clean)].get("failures") == "0" and suites[str(clean)][0].get("name") == "no finding"
    assert "\x1b" not in done.stdout
    assert root.get("tests") == str(sum(int(s.get("tests")) for s in root))
