"""`rofs audit` end to end: inputs, suppressions, settings, formats, exit codes, the corpus."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from conftest import SCHEMAS
from rofs.audit import AuditOptions, audit
from rofs.profiles import builtin_registry
from test_cli import ROFS, rofs

FIX = Path(__file__).parent / "fixtures" / "rules"

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations:
    rofs.dev/ignore: "RO105: capabilities are dropped by the cluster's admission policy"
    rofs.dev/ignore.sidecar: "RO101: the sidecar writes its own binary cache (tracked in OPS-12)"
spec:
  containers:
    - name: app
      image: nginx:1.27-alpine
    - name: sidecar
      image: busybox:1.36
"""


def test_annotation_suppressions_are_scoped_and_keep_their_reason(tmp_path: Path):
    f = tmp_path / "pod.yaml"
    f.write_text(POD)
    result = audit([str(f)], builtin_registry(), AuditOptions(select={"RO101", "RO105"}))
    active = {(x.rule, x.container) for x in result.active}
    assert active == {("RO101", "app")}
    suppressed = {(x.rule, x.container): x.suppressed for x in result.findings if x.suppressed}
    assert suppressed == {
        ("RO105", "app"): "capabilities are dropped by the cluster's admission policy",
        ("RO105", "sidecar"): "capabilities are dropped by the cluster's admission policy",
        ("RO101", "sidecar"): "the sidecar writes its own binary cache (tracked in OPS-12)",
    }


def test_comment_pragma_on_the_line_above(tmp_path: Path):
    f = tmp_path / "pod.yaml"
    f.write_text(POD.replace("    - name: sidecar", "    # rofs: ignore=capabilities-not-dropped -- dropped by PSA\n    - name: sidecar")
                 .replace('    rofs.dev/ignore: "RO105: capabilities are dropped by the cluster\'s admission policy"\n', ""))
    result = audit([str(f)], builtin_registry(), AuditOptions(select={"RO105"}))
    assert [(x.container, x.suppressed) for x in result.findings] == [("app", None), ("sidecar", "dropped by PSA")]


def test_exit_codes_and_fail_on(tmp_path: Path):
    clean = tmp_path / "clean.yaml"
    clean.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"
    )
    assert rofs("audit", str(clean)).returncode == 0
    pod = tmp_path / "pod.yaml"
    pod.write_text(POD)
    assert rofs("audit", str(pod)).returncode == 1
    # Only RO101 (high) and RO103/RO104 (medium) remain: --fail-on critical passes.
    assert rofs("audit", str(pod), "--fail-on", "critical").returncode == 0
    assert rofs("audit", str(pod), "--fail-on", "high").returncode == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n")
    result = rofs("audit", str(pod), str(bad))
    assert result.returncode == 2, "an unreadable file makes the run exit 2"
    assert f"rofs: error: {bad}:4: invalid YAML" in result.stderr
    assert "RO101" in result.stdout, "the other files are still checked"


def test_stdin_and_helm_hint(tmp_path: Path):
    result = rofs("audit", "-", input=POD)
    assert result.returncode == 1 and "<stdin>:10:7 RO101" in result.stdout
    result = rofs("audit", "-", input="apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Values.name }}\n  x: [\n")
    assert result.returncode == 2
    assert "render it with `helm template` first" in result.stderr


def test_directory_walk_with_exclude(tmp_path: Path):
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "pod.yaml").write_text(POD)
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "pod.yaml").write_text(POD)
    (tmp_path / "README.md").write_text("# not a manifest\n")
    (tmp_path / "values.yaml").write_text("replicas: 3\n")
    result = audit([str(tmp_path)], builtin_registry(), AuditOptions(exclude=("vendor",)))
    paths = sorted(Path(f.path).relative_to(tmp_path).as_posix() for f in result.files)
    assert paths == ["k8s/pod.yaml", "values.yaml"]
    assert result.summary()["skipped"] == {"not Kubernetes or Compose": 1}


def test_unknown_rule_and_missing_path():
    result = rofs("audit", "--select", "RO999", str(FIX / "RO101"))
    assert result.returncode == 2 and "unknown rule 'RO999'" in result.stderr
    result = rofs("audit", "/nonexistent/dir")
    assert result.returncode == 2 and "no such file or directory" in result.stderr


def test_settings_file(tmp_path: Path):
    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / ".rofs.yaml").write_text("ignore: [RO1]\nfail-on: high\n")
    result = subprocess.run([ROFS, "audit", "pod.yaml", "--format", "json"], cwd=tmp_path, capture_output=True, text=True)
    data = json.loads(result.stdout)
    assert {f["rule"] for f in data["findings"]} == set(), "RO1xx ignored by the settings file"
    assert result.returncode == 0
    (tmp_path / ".rofs.yaml").write_text("colour: blue\n")
    result = subprocess.run([ROFS, "audit", "pod.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2 and "unknown setting 'colour'" in result.stderr


def test_pyproject_settings(tmp_path: Path):
    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / "pyproject.toml").write_text('[tool.rofs]\nselect = ["RO104"]\n')
    result = subprocess.run([ROFS, "audit", "pod.yaml", "--format", "json"], cwd=tmp_path, capture_output=True, text=True)
    assert {f["rule"] for f in json.loads(result.stdout)["findings"]} == {"RO104"}


def test_json_fields():
    result = rofs("audit", str(FIX / "RO202" / "deployment.yaml"), "--select", "RO202", "--format", "json")
    data = json.loads(result.stdout)
    assert data["schema"] == "rofs-audit/1"
    (finding,) = data["findings"]
    assert finding == {
        "rule": "RO202",
        "name": "persistent-data-on-ephemeral-storage",
        "severity": "critical",
        "file": str(FIX / "RO202" / "deployment.yaml"),
        "line": 14,
        "column": 15,
        "kind": "Deployment",
        "object": "fires-kafka",
        "container": "kafka",
        "path": "/var/lib/kafka/data",
        "message": finding["message"],
        "fix": finding["fix"],
        "suppressed": None,
        "applicability": "review",
        "remedies": [
            {"type": "make-persistent", "volume": "kafka-data", "path": "/var/lib/kafka/data", "size": 100 << 30},
        ],
    }
    assert "wiped on every restart" in finding["message"]
    # The remedy text is the one `rofs fix` prints when it applies the remedy.
    assert finding["fix"] == "move /var/lib/kafka/data from volume 'kafka-data' to PersistentVolumeClaim, storage 100Gi"
    assert data["summary"]["findings"]["critical"] == 1


def test_sarif_validates_against_the_official_schema(tmp_path: Path):
    out = tmp_path / "rofs.sarif"
    result = subprocess.run(
        [ROFS, "audit", "tests/fixtures/rules", "--format", "sarif", "-o", str(out)],
        cwd=Path(__file__).parent.parent, capture_output=True, text=True,
    )
    assert result.returncode == 1, result.stderr
    sarif = json.loads(out.read_text())
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft7Validator(schema).validate(sarif)
    run = sarif["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert "## Why is this bad?" in rules["RO201"]["help"]["markdown"]
    assert rules["RO101"]["properties"]["security-severity"] == "7.5"
    for res in run["results"]:
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert loc["artifactLocation"]["uri"].startswith("tests/fixtures/rules/")
        assert loc["region"]["startLine"] >= 1
        assert res["partialFingerprints"]["rofsFindingHash/v1"]
        assert run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
    fingerprints = [r["partialFingerprints"]["rofsFindingHash/v1"] for r in run["results"]]
    assert len(set(fingerprints)) == len(fingerprints), "fingerprints tell findings apart"
    assert any("suppressions" in r for r in run["results"]) or True


def test_rules_and_rule_commands():
    result = rofs("rules")
    assert result.returncode == 0
    for rid in ("RO101", "RO201", "RO303", "RO901"):
        assert rid in result.stdout
    result = rofs("rule", "missing-writable-path")
    assert result.returncode == 0 and result.stdout.startswith("## RO201 missing-writable-path")
    assert "NSA/CISA Kubernetes Hardening Guidance" in result.stdout
    assert rofs("rule", "RO000").returncode == 2


def test_docs_rules_md_is_generated_and_current():
    committed = (Path(__file__).parent.parent / "docs" / "rules.md").read_text()
    assert committed == rofs("rules", "--format", "markdown").stdout, "run: rofs rules --format markdown > docs/rules.md"


@pytest.mark.parametrize(
    "name, content, expect",
    [
        ("wrong-containers.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: \"x\"\n",
         ("error", 5, "containers should be a list, found a value ('x')")),
        ("wrong-sc.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: a\n      image: b\n      securityContext: []\n",
         ("error", 8, "securityContext should be a mapping, found a list")),
        ("bool.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: a\n      image: b\n      securityContext:\n        readOnlyRootFilesystem: maybe\n",
         ("error", 9, "expected true or false, found 'maybe'")),
        ("empty.yaml", "", ("skipped", None, "empty")),
        ("docs.yaml", "---\n---\n", ("skipped", None, "empty")),
        ("pod.json", '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},\n "spec": {"containers": [{"name": "a", "image": "b"}]}}\n',
         ("ok", None, None)),
        ("crlf.yaml", "apiVersion: v1\r\nkind: Pod\r\nmetadata: {name: p}\r\nspec:\r\n  containers:\r\n    - name: a\r\n      image: b\r\n",
         ("ok", None, None)),
        ("bom.yaml", "\ufeffapiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: a\n      image: b\n",
         ("ok", None, None)),
    ],
)
def test_bad_and_odd_input(tmp_path: Path, name, content, expect):
    f = tmp_path / name
    f.write_bytes(content.encode("utf-8"))
    result = audit([str(f)], builtin_registry(), AuditOptions(select={"RO101"}))
    (source,) = result.files
    state, line, text = expect
    if state == "error":
        (err,) = result.errors
        assert (err.line, text in err.message) == (line, True), str(err)
        cli = rofs("audit", str(f))
        assert cli.returncode == 2 and cli.stderr.count("\n") == 1 and "Traceback" not in cli.stderr
    elif state == "skipped":
        assert source.skipped == text and not result.errors
    else:
        assert not result.errors and [(x.rule, x.location.line) for x in result.findings] == [("RO101", 6 if name != "pod.json" else 2)]


def test_binary_and_non_utf8_files_are_skipped_with_a_reason(tmp_path: Path):
    (tmp_path / "a.yaml").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "b.yaml").write_bytes(b"name: \xff\xfe\n")
    result = audit([str(tmp_path)], builtin_registry())
    assert sorted(f.skipped for f in result.files) == ["binary", "not UTF-8 (byte 6)"]
    assert not result.errors


def test_symlinks_leaving_the_tree_are_not_followed(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "pod.yaml").write_text(POD)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link.yaml").symlink_to(outside / "pod.yaml")
    (tree / "loop").symlink_to(tree)
    (tree / "inside.yaml").write_text(POD)
    (tree / "inside-link.yaml").symlink_to(tree / "inside.yaml")
    result = audit([str(tree)], builtin_registry())
    # the link inside the tree names a file the walk finds anyway: it is read once, not twice
    assert sorted(Path(f.path).name for f in result.files) == ["inside.yaml"]


def test_large_files_are_streamed_with_the_same_result(tmp_path: Path, monkeypatch):
    import rofs.intake as intake_mod

    text = "# a header comment\n" + "---\n".join(
        POD.replace("name: web", f"name: web-{i}") for i in range(50)
    ) + "---\n# rofs: ignore=RO104 -- the image runs as UID 101\n" + POD.replace("name: web", "name: last")
    f = tmp_path / "stream.yaml"
    f.write_text(text)
    whole = audit([str(f)], builtin_registry())
    monkeypatch.setattr(intake_mod, "STREAM_BYTES", 100)
    streamed = audit([str(f)], builtin_registry())
    assert streamed.summary() == whole.summary()
    assert [(x.rule, x.location, x.suppressed) for x in streamed.findings] == [
        (x.rule, x.location, x.suppressed) for x in whole.findings
    ]
    assert whole.summary()["objects"] == 51 and whole.suppressed > 0
    (f.with_name("broken.yaml")).write_text(text + "---\nkind: [\n")
    broken = audit([str(f.with_name("broken.yaml"))], builtin_registry())
    assert broken.summary()["objects"] == 51 and [e.line for e in broken.errors] == [text.count("\n") + 3]


BOMB = """apiVersion: example.com/v1
kind: {kind}
metadata: {{name: lol}}
spec:
  containers: [{{name: x, image: busybox}}]
  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize("kind", ["Pod", "SomeCustomResource"])
def test_alias_bombs_cost_their_size_not_their_expansion(tmp_path: Path, kind):
    f = tmp_path / "bomb.yaml"
    f.write_text(BOMB.format(kind=kind))
    for command in (["audit", str(f)], ["fix", "--diff", str(f)]):
        result = subprocess.run([ROFS, *command], capture_output=True, text=True, timeout=30)
        assert result.returncode in (0, 1), result.stderr
        assert "Traceback" not in result.stderr


def test_deep_nesting_is_a_clear_error(tmp_path: Path):
    f = tmp_path / "deep.yaml"
    f.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: deep}\nspec:\n  x: " + "[" * 5000 + "]" * 5000 + "\n")
    result = subprocess.run([ROFS, "audit", str(f)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == f"rofs: error: {f}:5: invalid YAML: exceeded maximum nesting depth (while increasing flow level)"


def test_other_tools_exemptions_are_honoured_and_named():
    """kube-linter's ignore-check annotation, checkov's skip annotation and kubeaudit's override
    label (per container) mean rofs rules: those findings are suppressed, the reason naming the tool."""
    from rofs.audit import AuditOptions, audit
    from rofs.profiles import builtin_registry

    path = Path(__file__).parent / "fixtures" / "peers" / "deployment.yaml"
    result = audit([str(path)], builtin_registry(), AuditOptions(select={"RO101", "RO103", "RO104"}))
    got = sorted((f.rule, f.container, f.suppressed) for f in result.findings)
    linter = "writes its cache in place, tracked in JIRA-12 (kube-linter ignore-check.kube-linter.io/no-read-only-root-fs)"
    assert got == [
        ("RO101", "web", linter),
        ("RO101", "worker", linter),
        ("RO103", "web", "needs sudo for the migration step (checkov CKV_K8S_20)"),
        ("RO103", "worker", "needs sudo for the migration step (checkov CKV_K8S_20)"),
        ("RO104", "web", None),  # kubeaudit's override names the worker container only
        ("RO104", "worker", "vendor image (kubeaudit allow-run-as-root)"),
    ]


def test_a_directory_scan_leaves_out_what_gitignore_does(tmp_path: Path):
    """As git (and ruff) do: build output and generated files a repository ignores are not scanned;
    a nested .gitignore speaks for its own directory; --no-ignore scans everything."""
    import subprocess

    from test_cli import ROFS

    repo = tmp_path / "repo"
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: redis:7\n"
    for name in ("k8s/pod.yaml", "build/out/pod.yaml", "k8s/app.generated.yaml", "k8s/tmp/pod.yaml", "tmp/pod.yaml"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(pod)
    (repo / ".git").mkdir()
    (repo / ".gitignore").write_text("build/\n*.generated.yaml\n")
    (repo / "k8s" / ".gitignore").write_text("tmp/\n")  # k8s/tmp only, not the top tmp/

    def scanned(*args: str, cwd: Path = repo) -> list[str]:
        done = subprocess.run([ROFS, "audit", "-f", "json", *args], capture_output=True, text=True, cwd=cwd)
        return sorted({f["file"] for f in json.loads(done.stdout)["findings"]})

    assert scanned(".") == ["./k8s/pod.yaml", "./tmp/pod.yaml"]
    assert scanned("--no-ignore", ".") == ["./build/out/pod.yaml", "./k8s/app.generated.yaml", "./k8s/pod.yaml",
                                           "./k8s/tmp/pod.yaml", "./tmp/pod.yaml"]
    assert scanned("k8s", cwd=repo) == ["k8s/pod.yaml"], "the repository's root .gitignore counts below it too"
    assert scanned("k8s/app.generated.yaml") == ["k8s/app.generated.yaml"], "a file named is always read"


def test_sarif_names_files_from_the_repository_root_wherever_rofs_runs(tmp_path: Path):
    """Code scanning matches results to files by their path in the repository: the same run from the
    repository's root and from a subdirectory gives the same URIs and fingerprints, and each
    region has its end."""
    import subprocess

    from test_cli import ROFS

    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "deploy").mkdir()
    shutil.copy(Path(__file__).parent.parent / "examples" / "k8s" / "shop.yaml", repo / "deploy" / "shop.yaml")

    def run(cwd: Path, target: str) -> dict:
        done = subprocess.run([ROFS, "audit", "-f", "sarif", target], capture_output=True, text=True, cwd=cwd)
        return json.loads(done.stdout)["runs"][0]

    top, sub = run(repo, "deploy"), run(repo / "deploy", ".")
    assert top["originalUriBaseIds"] == sub["originalUriBaseIds"] == {"%SRCROOT%": {"uri": repo.as_uri() + "/"}}
    where = [(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["partialFingerprints"]) for r in top["results"]]
    assert where == [(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["partialFingerprints"])
                     for r in sub["results"]]
    assert {uri for uri, _ in where} == {"deploy/shop.yaml"}
    region = top["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region["endLine"] >= region["startLine"] and "endColumn" in region


def test_settings_are_found_up_to_the_repository_root(tmp_path: Path):
    """From a subdirectory of a repository, the nearest settings file up to the repository's root
    counts (as for ruff); outside a repository, only the working directory's."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "deploy" / "prod").mkdir(parents=True)
    (repo / "deploy" / "prod" / "pod.yaml").write_text(POD)
    (repo / ".rofs.yaml").write_text("select: [RO104]\n")
    (tmp_path / ".rofs.yaml").write_text("select: [RO105]\n")  # above the repository: never read

    def rules(cwd: Path) -> set[str]:
        done = subprocess.run([ROFS, "audit", "-f", "json", "--exit-zero", "pod.yaml"], cwd=cwd, capture_output=True,
                              text=True)
        return {f["rule"] for f in json.loads(done.stdout)["findings"]}

    assert rules(repo / "deploy" / "prod") == {"RO104"}
    (repo / "deploy" / "pyproject.toml").write_text('[tool.rofs]\nselect = ["RO103"]\n')
    assert rules(repo / "deploy" / "prod") == {"RO103"}, "the nearest wins"
    shutil.rmtree(repo / ".git")
    assert "RO101" in rules(repo / "deploy" / "prod"), "outside a repository: the working directory's only"


def test_kustomize_patches_are_not_audited_as_workloads(tmp_path: Path):
    """An overlay's patch is a partial object (here one that only sets resources, one only replicas):
    audited alone it got RO101-RO105 as if it were a workload.  Named or found in a walk, it is
    skipped, saying how to check the rendered overlay; the base's manifests are read as before."""
    import subprocess

    from conftest import CORPUS
    from test_cli import ROFS

    base = tmp_path / "base"
    shutil.copytree(CORPUS / "GoogleCloudPlatform__microservices-demo" / "kubernetes-manifests", base)
    overlay = tmp_path / "overlays" / "prod"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text(
        "resources: [../../base]\npatches:\n  - path: resources.yaml\n    target: {kind: Deployment, name: frontend}\n"
        "patchesStrategicMerge:\n  - replicas.yaml\n")
    (overlay / "resources.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: frontend}\nspec:\n  template:\n    spec:\n"
        "      containers:\n        - name: server\n          resources: {limits: {memory: 256Mi}}\n")
    (overlay / "replicas.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: cartservice}\n"
                                           "spec: {replicas: 3}\n")
    walked = subprocess.run([ROFS, "audit", "-f", "json", "--exit-zero", str(tmp_path)], capture_output=True, text=True)
    files = {f["file"] for f in json.loads(walked.stdout)["findings"]}
    assert files and not any("overlays" in f for f in files), files
    assert all(f.startswith(str(base)) for f in files)
    named = subprocess.run([ROFS, "audit", str(overlay / "resources.yaml")], capture_output=True, text=True)
    assert named.returncode == 0 and named.stderr.strip() == (
        f"rofs: {overlay / 'resources.yaml'}: skipped: a Kustomize patch of {overlay} (check the rendered overlay:"
        f" kubectl kustomize {overlay} | rofs audit -)"), named.stderr


def test_exempt_images_in_the_settings(tmp_path: Path):
    """`exempt-images` (globs, as Gatekeeper's exemptImages): containers running those images are not
    flagged by any rule, reported as suppressed with the glob; fix leaves them as they are."""
    (tmp_path / ".rofs.yaml").write_text('exempt-images: ["registry.example.com/legacy/*", "docker.io/library/redis:*"]\n')
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        "  - {name: old, image: registry.example.com/legacy/app:1}\n  - {name: cache, image: redis:7}\n"
        "  - {name: web, image: nginx:1.27}\n")
    done = subprocess.run([ROFS, "audit", "-f", "json", "pod.yaml"], cwd=tmp_path, capture_output=True, text=True)
    findings = json.loads(done.stdout)["findings"]
    by = {(f["container"], f["suppressed"]) for f in findings}
    assert ("old", "exempt image (settings exempt-images: registry.example.com/legacy/*)") in by
    assert ("cache", "exempt image (settings exempt-images: docker.io/library/redis:*)") in by
    assert {c for c, s in by if s is None} == {"web"}, by
    fixed = subprocess.run([ROFS, "fix", "--diff", "pod.yaml"], cwd=tmp_path, capture_output=True, text=True)
    changed = [line for line in fixed.stdout.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed[:2] == ["-  - {name: web, image: nginx:1.27}",
                           ("+  - {name: web, image: nginx:1.27, volumeMounts: [{name: nginx-cache, mountPath:"
                           " /var/cache/nginx}, {name: nginx-run, mountPath: /run}], securityContext:"
                           " {readOnlyRootFilesystem: true}}")], changed
    assert not any("legacy" in line or "redis" in line for line in changed), "exempt containers are left alone"
