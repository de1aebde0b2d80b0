"""pre-commit hooks and the GitHub Action, run the way those tools run them."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from conftest import SCHEMAS

REPO = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
EXAMPLES = REPO / "examples"


def hooks() -> dict[str, dict]:
    return {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}


def run_hook(hook: dict, files: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """As pre-commit does: the entry, then the staged files that match `files`."""
    pattern = re.compile(hook["files"])
    chosen = [f for f in files if pattern.search(f)]
    argv = shlex.split(hook["entry"]) + hook.get("args", []) + chosen
    argv[0] = str(BIN / argv[0])
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True), chosen


def test_hook_definitions():
    found = hooks()
    assert set(found) == {"rofs-audit", "rofs-fix"}
    for hook in found.values():
        assert hook["language"] == "python" and hook["entry"].startswith("rofs ")


def test_audit_hook_selects_files_and_fails_on_findings(tmp_path: Path):
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "k8s", repo / "k8s")
    shutil.copy(EXAMPLES / "docker" / "Dockerfile", repo / "Dockerfile")
    (repo / "README.md").write_text("# app\n")
    (repo / "values.yaml").write_text("replicas: 2\n")
    files = ["k8s/shop.yaml", "Dockerfile", "README.md", "values.yaml"]
    result, chosen = run_hook(hooks()["rofs-audit"], files, repo)
    assert chosen == ["k8s/shop.yaml", "Dockerfile", "values.yaml"]
    assert result.returncode == 1 and "RO201" in result.stdout
    clean, _ = run_hook(hooks()["rofs-audit"], ["values.yaml"], repo)
    assert clean.returncode == 0


def test_fix_hook_rewrites_and_then_passes(tmp_path: Path):
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "k8s", repo / "k8s")
    first, _ = run_hook(hooks()["rofs-fix"], ["k8s/shop.yaml"], repo)
    assert first.returncode == 1, "files changed: pre-commit stops the commit so the diff can be reviewed"
    second, _ = run_hook(hooks()["rofs-fix"], ["k8s/shop.yaml"], repo)
    assert second.returncode == 0


def _substitute(text: str, inputs: dict[str, str]) -> str:
    text = text.replace("${{ github.action_path }}", str(REPO))
    return re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs[m.group(1)], text)


def test_action_runs_the_audit_and_writes_valid_sarif(tmp_path: Path):
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    inputs["paths"] = "k8s"
    steps = {s.get("id") or s.get("name"): s for s in action["runs"]["steps"]}
    upload = next(s for s in action["runs"]["steps"] if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert upload["with"]["sarif_file"] == "${{ inputs.sarif }}"
    work = tmp_path / "work"
    shutil.copytree(EXAMPLES / "k8s", work / "k8s")
    output = tmp_path / "github_output"
    script = _substitute(steps["audit"]["run"], inputs).replace("rofs audit", str(BIN / "rofs") + " audit", 1)
    done = subprocess.run(["bash", "-c", script], cwd=work, env={"GITHUB_OUTPUT": str(output), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert output.read_text().strip() == "exit-code=1", "findings at or above high: the last step fails the job"
    sarif = json.loads((work / "rofs.sarif").read_text())
    jsonschema.Draft7Validator(json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())).validate(sarif)
    run = sarif["runs"][0]
    for res in run["results"]:
        loc = res["locations"][0]["physicalLocation"]["artifactLocation"]
        assert loc["uriBaseId"] == "%SRCROOT%" and loc["uri"] == "k8s/shop.yaml"
        assert res["partialFingerprints"]["rofsFindingHash/v1"]
    assert all(r["help"]["markdown"] for r in run["tool"]["driver"]["rules"])


def test_sarif_fingerprints_survive_lines_moving(tmp_path: Path):
    """Code scanning matches alerts across commits by partialFingerprints: moving lines must not change them."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    text = (EXAMPLES / "k8s" / "shop.yaml").read_text()
    (tmp_path / "a" / "shop.yaml").write_text(text)
    (tmp_path / "b" / "shop.yaml").write_text("# a new comment\n# and another\n" + text)
    prints = []
    for d in ("a", "b"):
        subprocess.run([str(BIN / "rofs"), "audit", "shop.yaml", "--format", "sarif", "-o", "out.sarif"],
                       cwd=tmp_path / d, capture_output=True)
        run = json.loads((tmp_path / d / "out.sarif").read_text())["runs"][0]
        prints.append(sorted(r["partialFingerprints"]["rofsFindingHash/v1"] for r in run["results"]))
    assert prints[0] == prints[1] and prints[0]
