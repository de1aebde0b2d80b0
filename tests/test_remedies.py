"""One fix engine: `rofs fix` changes exactly what `rofs audit` reports, with the same remedy text.

Each finding carries typed remedies (rofs.remedy) built where the rule finds the problem; the
fixers only turn them into edits.  These tests hold the audit and the fix to each other on every
rule fixture and on the cases where they used to disagree.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from rofs.intake import READERS, detect, formats_with, is_compose_name
from rofs.model import SourceFormat
from rofs.remedy import REMEDY_TYPES
from rofs.rules import RULES, fixable
from test_cli import rofs

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
FIXED = re.compile(r"^rofs: (?P<file>.+?):(?P<line>\d+):(?P<column>\d+) (?P<rule>RO\d{3}) fixed: (?P<fix>.*)$")


def audit_json(*paths: Path, select: str | None = None) -> list[dict]:
    args = ["audit", *map(str, paths), "--format", "json"]
    if select:
        args += ["--select", select]
    result = rofs(*args)
    assert result.returncode in (0, 1), result.stderr
    return [f for f in json.loads(result.stdout)["findings"] if f["suppressed"] is None]


def fixed_lines(stderr: str) -> set[tuple[str, int, int, str, str]]:
    out = set()
    for line in stderr.splitlines():
        match = FIXED.match(line)
        if match:
            out.add((match["file"], int(match["line"]), int(match["column"]), match["rule"], match["fix"]))
    return out


def fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*") if p.is_file() and not p.name.startswith("."))


@pytest.mark.parametrize("fixture", fixture_files(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fix_applies_exactly_what_the_audit_reports_with_the_same_words(fixture: Path, tmp_path: Path):
    copy = tmp_path / fixture.name
    shutil.copyfile(fixture, copy)
    before = audit_json(copy)
    expected = {
        (f["file"], f["line"], f["column"], f["rule"], f["fix"])
        for f in before if f["applicability"] in ("safe", "review")
    }
    for finding in before:  # the applicability of a finding is its rule's, or a suggestion
        assert finding["applicability"] in (RULES[finding["rule"]].META.applicability, "suggestion")
        assert all(r["type"] in REMEDY_TYPES.values() for r in finding["remedies"]), finding
    result = rofs("fix", str(copy))
    assert result.returncode in (0, 1), result.stderr  # 1: files were changed
    assert fixed_lines(result.stderr) == expected
    after = audit_json(copy)
    fixed_rules = {(rule, line) for _, line, _, rule, _ in expected}
    left = {(f["rule"], f["line"]) for f in after if f["applicability"] in ("safe", "review")}
    assert not left, f"still reported after the fix: {left} (fixed: {fixed_rules})"


def test_one_place_says_what_is_fixable():
    from rofs.fix import FIXABLE

    assert FIXABLE == frozenset(fixable()) == frozenset(
        rid for rid, module in RULES.items() if module.META.applicability in ("safe", "review"))
    assert "RO301" in FIXABLE and RULES["RO301"].META.fixable
    assert "RO103" not in FIXABLE  # a suggestion: the author decides
    listed = {line.split()[0] for line in rofs("rules").stdout.splitlines() if line.strip().startswith("RO")}
    assert listed == set(RULES)
    help_text = rofs("fix", "--help").stdout
    assert "RO301" not in help_text  # --help points to the rules' metadata instead of keeping its own list


def test_postgres_data_at_pgdata_gets_no_second_volume_in_compose(tmp_path: Path):
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        "services:\n  db:\n    image: postgres:16\n    volumes:\n      - pgdata:/var/lib/postgresql/data\n"
        "volumes:\n  pgdata:\n")
    findings = audit_json(compose, select="RO101,RO201,RO202")
    assert [f["path"] for f in findings if f["rule"] == "RO201"] == []
    (ro101,) = [f for f in findings if f["rule"] == "RO101"]
    assert "/var/lib/postgresql " not in ro101["fix"] + " "
    assert rofs("fix", str(compose)).returncode == 1
    data = yaml.safe_load(compose.read_text())
    assert set(data["volumes"]) == {"pgdata"}
    targets = [v if isinstance(v, str) else v["target"] for v in data["services"]["db"]["volumes"]]
    assert "/var/lib/postgresql" not in [t.split(":")[-1] for t in targets]
    assert data["services"]["db"]["read_only"] is True


def test_postgres_data_at_pgdata_gets_one_claim_in_kubernetes(tmp_path: Path):
    manifest = tmp_path / "db.yaml"
    manifest.write_text("""\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
        - name: postgres
          image: postgres:16
          volumeMounts:
            - name: data
              mountPath: /var/lib/postgresql/data
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: 10Gi
""")
    assert rofs("fix", str(manifest)).returncode == 1
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    assert [d["kind"] for d in docs] == ["StatefulSet"]  # no claim added beside the template
    spec = docs[0]["spec"]
    assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["data"]
    mounts = [m["mountPath"] for m in spec["template"]["spec"]["containers"][0]["volumeMounts"]]
    assert "/var/lib/postgresql" not in mounts and "/var/lib/postgresql/data" in mounts


def test_kafka_config_dir_is_what_the_audit_said(tmp_path: Path):
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  kafka:\n    image: confluentinc/cp-kafka:7.6.0\n")
    (ro101,) = audit_json(compose, select="RO101")
    assert "mount /etc/kafka as a named volume" in ro101["fix"]
    (mount,) = [r for r in ro101["remedies"] if r.get("path") == "/etc/kafka"]
    assert mount["type"] == "add-mount" and mount["populated"] is True
    result = rofs("fix", str(compose))
    assert f"RO101 fixed: {ro101['fix']}" in result.stderr
    data = yaml.safe_load(compose.read_text())
    (etc,) = [v for v in data["services"]["kafka"]["volumes"] if v["target"] == "/etc/kafka"]
    assert etc["type"] == "volume"  # named, so Docker fills it with the image's files
    assert etc["source"] in data["volumes"]


def test_ro102_removes_the_pod_setting_and_ro101_sets_the_containers(tmp_path: Path):
    pod = tmp_path / "pod.yaml"
    pod.write_text("""\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  securityContext:
    readOnlyRootFilesystem: true
  containers:
    - name: app
      image: nginx:1.27
""")
    only_ro102 = rofs("fix", str(pod), "--select", "RO102")
    assert only_ro102.returncode == 1, only_ro102.stderr
    data = yaml.safe_load(pod.read_text())
    assert data["spec"].get("securityContext") in (None, {})
    assert "securityContext" not in data["spec"]["containers"][0]  # RO102 only removes; RO101 sets
    rofs("fix", str(pod))
    data = yaml.safe_load(pod.read_text())
    assert data["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_audit_text_shows_the_remedy_fix_prints(tmp_path: Path):
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  cache:\n    image: redis:7\n")
    text = rofs("audit", str(compose), "--select", "RO101").stdout
    (fix_line,) = [line.strip() for line in text.splitlines() if line.strip().startswith("fix")]
    assert fix_line.startswith("fix (review): set read_only: true")
    printed = rofs("fix", str(compose)).stderr
    assert f"RO101 fixed: {fix_line.removeprefix('fix (review): ')}" in printed


# --- one intake ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name, compose", [
    ("compose.yaml", True), ("docker-compose.override.yml", True), ("Compose.YML", True),
    ("compose.txt", False), ("composer.json", False), ("docker-compose", False), ("values.yaml", False),
])
def test_a_file_is_compose_by_name_in_one_place(name: str, compose: bool, tmp_path: Path):
    assert is_compose_name(name) is compose
    empty = yaml.compose("x-common: {}\n")
    assert detect([empty], name) is (SourceFormat.COMPOSE if compose else None)
    f = tmp_path / name
    f.write_text("x-common: {}\n")
    audited = rofs("audit", str(f))
    fixed = rofs("fix", str(f))
    if compose:  # an override file without services: Compose to both, nothing to do
        assert audited.returncode == 0 and "1 compose" in audited.stdout
        assert fixed.returncode == 0
    else:  # named on the command line and not a format rofs reads: both say so the same way
        assert "not Kubernetes or Compose" in audited.stdout + audited.stderr
        assert fixed.returncode == 0 and "changed 0 of" in fixed.stderr + fixed.stdout
    assert f.read_text() == "x-common: {}\n"


def test_a_dockerfile_on_standard_input_is_read_by_audit_and_fix():
    text = "FROM debian:12\nUSER 1000\nCMD /srv/app --port 80\n"
    audited = rofs("audit", "-", "--select", "RO301", input=text)
    assert audited.returncode == 1 and "RO301" in audited.stdout
    fixed = rofs("fix", "-", input=text)
    assert fixed.stdout == 'FROM debian:12\nUSER 1000\nCMD ["/srv/app", "--port", "80"]\n'


def test_rules_apply_where_the_format_expresses_what_they_need():
    assert {r.format for r in READERS} == {SourceFormat.KUBERNETES, SourceFormat.COMPOSE, SourceFormat.DOCKERFILE}
    applies = {rid: set(formats_with(module.META.needs)) for rid, module in RULES.items()}
    k8s, compose, dockerfile = SourceFormat.KUBERNETES, SourceFormat.COMPOSE, SourceFormat.DOCKERFILE
    assert applies["RO101"] == {k8s, compose}
    assert applies["RO102"] == {k8s}  # only Kubernetes has a pod-level setting to misplace
    assert applies["RO104"] == {k8s}
    assert applies["RO301"] == applies["RO302"] == {dockerfile}
    assert applies["RO303"] == applies["RO901"] == {k8s, compose, dockerfile}


def test_a_volume_moved_to_persistent_storage_is_not_also_bounded(tmp_path: Path):
    manifest = tmp_path / "cart.yaml"
    manifest.write_text("""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
spec:
  selector:
    matchLabels: {app: cart}
  template:
    metadata:
      labels: {app: cart}
    spec:
      containers:
        - name: redis
          image: redis:7
          volumeMounts:
            - name: data
              mountPath: /data
      volumes:
        - name: data
          emptyDir: {}
""")
    findings = audit_json(manifest, select="RO202,RO203")
    assert [(f["rule"], f["path"]) for f in findings] == [("RO202", "/data")]  # was: RO203 "bound /data" too
    result = rofs("fix", str(manifest), "--select", "RO202,RO203")
    assert {rule for *_, rule, _ in fixed_lines(result.stderr)} == {"RO202"}
