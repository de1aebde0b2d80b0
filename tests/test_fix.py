"""`rofs fix`: fixed files run (re-audit clean, schemas), lose nothing, and are written safely."""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import stat
import sys
from collections import Counter
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import CORPUS, CORPUS_REFUSED, SCHEMAS, require_path
from rofs.audit import AuditOptions, audit
from rofs.fix import ALL_RULES, FIXABLE, fix_paths, fix_text
from rofs.profiles import builtin_registry
from rofs.rules.common import UNKNOWN_LEAVE, UNKNOWN_READ_ONLY
from test_cli import rofs

EXAMPLES = Path(__file__).parent.parent / "examples"
FIXTURES = Path(__file__).parent / "fixtures" / "fix"
K8S_VERSION = kubernetes_validate.latest_version()
SELECTED = set(ALL_RULES)
# What a fix may remove or rewrite in place: the settings it corrects, never anything else.
REMOVABLE = re.compile(
    r"readOnlyRootFilesystem|securityContext:|emptyDir|sizeLimit|medium:|tmpfs|^\s*- /|volumes:|^\s*- name:|\{|\["
    r"|^(CMD|ENTRYPOINT) "
)


def fixed(text: str, name: str = "file.yaml", unknown_images: str = UNKNOWN_READ_ONLY) -> str:
    """The fixed text; images without a profile get a read-only root and /tmp, as with
    --unknown-images read-only, since most tests here are about how edits are made."""
    result = fix_text(text, name, builtin_registry(), SELECTED, unknown_images=unknown_images)
    assert result.error is None, result.error
    return result.fixed


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.yaml") if ".fixed." not in p.name))
def test_fixture_is_fixed_exactly_as_expected(name):
    source = FIXTURES / name
    expected = source.with_name(source.name.replace(".yaml", ".fixed.yaml"))
    out = fixed(source.read_text(), name, UNKNOWN_LEAVE)  # the default: images without a profile left alone
    assert out == expected.read_text()
    assert fixed(out, name, UNKNOWN_LEAVE) == out, "a second run changes nothing"
    docs = [d for d in yaml.safe_load_all(out) if d]
    if "services" in docs[0]:
        compose = jsonschema.Draft7Validator(json.loads((SCHEMAS / "compose-spec.json").read_text()))
        assert not list(compose.iter_errors(docs[0]))
    else:
        for doc in docs:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    result = audit([str(expected)], builtin_registry(), AuditOptions(select=set(FIXABLE)))
    # what is left is what only the author can do (an image without a profile, ...)
    assert [(f.rule, str(f.location)) for f in result.active if f.applicability != "suggestion"] == []


@pytest.fixture(scope="module")
def corpus_fix(tmp_path_factory):
    require_path(CORPUS, "the shared corpus")
    root = tmp_path_factory.mktemp("corpus")
    copy = root / "corpus"
    shutil.copytree(CORPUS, copy)
    for path in copy.rglob("*"):
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    before = {p: p.read_text() for p in copy.rglob("*") if p.is_file() and p.name not in ("LICENSE", "NOTICE")}
    results = fix_paths([str(copy)], builtin_registry(), SELECTED)
    return copy, before, results


def test_corpus_every_file_fixes_or_says_why(corpus_fix):
    copy, before, results = corpus_fix
    errors = [r.error for r in results if r.error]
    assert errors == [f"{copy / name}:{line}: cannot fix: {message}" for name, line, message in CORPUS_REFUSED]
    outcome = Counter((r.format.value, r.changed, r.has_suggestions) for r in results)
    assert outcome == {
        # images without a profile are left as they are by default (--unknown-images leave): 1005
        # Kubernetes files and 33 Compose files hold nothing else to fix (with read-only: 501 and 55
        # files changed)
        ("kubernetes", True, False): 94, ("kubernetes", False, False): 1005,
        ("compose", True, False): 23, ("compose", False, False): 33,
        # Dockerfiles: 4 plain-word commands rewritten; 96 have suggestions to review; 16 are fine (the
        # directories-owned-by-the-user suggestion comes with RO302 only: three images that end as
        # their own non-root user no longer get it)
        # (six opentelemetry-demo images built on distroless :nonroot run as UID 65532: their RO302 is low,
        # with no remedy to suggest)
        ("dockerfile", True, True): 4, ("dockerfile", False, True): 86, ("dockerfile", False, False): 22,
    }
    for r in results:
        if r.changed:
            assert r.fixed != before[Path(r.path)]


def test_corpus_fix_is_idempotent_and_reaudits_clean(corpus_fix):
    copy, before, results = corpus_fix
    for r in results:
        if r.changed:
            Path(r.path).write_text(r.fixed)
    again = fix_paths([str(copy)], builtin_registry(), SELECTED)
    assert [r.path for r in again if r.changed or r.error] == [str(copy / name) for name, _, _ in CORPUS_REFUSED]
    result = audit([str(copy)], builtin_registry(), AuditOptions(select=set(FIXABLE)))
    # what is left is what fix only suggests (RO301 for a command that needs a shell)
    assert [(f.rule, str(f.location)) for f in result.active if f.applicability != "suggestion"] == []
    assert [e.path for e in result.errors] == [str(copy / name) for name, _, _ in CORPUS_REFUSED]


def test_corpus_fix_changes_only_the_lines_it_needs(corpus_fix):
    copy, before, results = corpus_fix
    for r in results:
        if not r.changed:
            continue
        old, new = r.original.splitlines(), r.fixed.splitlines()
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
            if tag in ("replace", "delete"):
                # a line may move onto a list item's dash line (`- name: x` after `- emptyDir:` went)
                kept = {line.strip().removeprefix("- ") for line in new[j1:j2]}
                for line in old[i1:i2]:
                    assert REMOVABLE.search(line) or line.strip() in kept, f"{r.path}: removed {line!r}"


def test_corpus_fixed_objects_still_validate(corpus_fix):
    """Objects that validated before the fix validate after it (kubernetes-validate), and every
    fixed Compose file still validates against the Compose spec."""
    copy, before, results = corpus_fix
    compose_schema = jsonschema.Draft7Validator(json.loads((SCHEMAS / "compose-spec.json").read_text()))
    checked = 0
    for r in results:
        if not r.changed:
            continue
        if r.format.value == "dockerfile":
            continue
        new_docs = [d for d in yaml.safe_load_all(r.fixed) if isinstance(d, dict)]
        if r.format.value == "compose":
            old_doc = yaml.safe_load(r.original)
            if not list(compose_schema.iter_errors(old_doc)):  # valid before the fix
                assert not list(compose_schema.iter_errors(new_docs[0])), r.path
                checked += 1
            continue
        old_docs = {(d.get("kind"), (d.get("metadata") or {}).get("name")): d for d in yaml.safe_load_all(r.original) if isinstance(d, dict)}
        for doc in new_docs:
            key = (doc.get("kind"), (doc.get("metadata") or {}).get("name"))
            if key in old_docs:
                try:
                    kubernetes_validate.validate(old_docs[key], K8S_VERSION, strict=False)
                except Exception:  # noqa: BLE001, S112 - the validator raises many types
                    continue  # invalid (or a CRD we have no schema for) before the fix: not ours to judge
            kubernetes_validate.validate(doc, K8S_VERSION, strict=False)
            checked += 1
    assert checked > 100


def test_nothing_to_fix_is_byte_identical_and_untouched(tmp_path: Path):
    src = CORPUS / "GoogleCloudPlatform__microservices-demo" / "kubernetes-manifests" / "frontend.yaml"
    require_path(src, "microservices-demo frontend.yaml")
    f = tmp_path / "install.yaml"
    shutil.copy(src, f)
    os.utime(f, (1_000_000, 1_000_000))
    result = rofs("fix", str(f))
    assert result.returncode == 0, result.stderr
    assert f.read_bytes() == src.read_bytes() and f.stat().st_mtime == 1_000_000


def test_fix_in_place_keeps_mode_and_leaves_no_temp_files(tmp_path: Path):
    f = tmp_path / "shop.yaml"
    shutil.copy(EXAMPLES / "k8s" / "shop.yaml", f)
    f.chmod(0o640)
    result = rofs("fix", "--unknown-images", "read-only", str(f))
    assert result.returncode == 1, result.stderr
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.yaml"]
    assert "fixed " + str(f) in result.stderr
    assert rofs("fix", "--unknown-images", "read-only", str(f)).returncode == 0, "second run: nothing left to fix"
    audit_after = rofs("audit", "--unknown-images", "read-only", str(f), "--select", ",".join(sorted(FIXABLE)))
    assert audit_after.returncode == 0, audit_after.stdout


def test_diff_writes_nothing(tmp_path: Path):
    f = tmp_path / "compose.yaml"
    shutil.copy(EXAMPLES / "compose" / "compose.yaml", f)
    before = f.read_bytes()
    result = rofs("fix", "--diff", "--unknown-images", "read-only", str(f))
    assert result.returncode == 1
    assert result.stdout.startswith(f"--- {f}\n+++ {f}\n")
    assert "+    read_only: true" in result.stdout
    assert f.read_bytes() == before


def test_stdin_to_stdout():
    text = (EXAMPLES / "k8s" / "shop.yaml").read_text()
    result = rofs("fix", "-", input=text)
    assert result.returncode == 1
    assert result.stdout == fixed(text, unknown_images=UNKNOWN_LEAVE)
    clean = rofs("fix", "-", input=result.stdout)
    assert clean.returncode == 0 and clean.stdout == result.stdout


def test_unparseable_file_is_never_touched(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n")
    good = tmp_path / "good.yaml"
    shutil.copy(EXAMPLES / "k8s" / "shop.yaml", good)
    result = rofs("fix", str(tmp_path))
    assert result.returncode == 2
    assert bad.read_text() == "apiVersion: v1\nkind: Pod\nmetadata: {name: x\n"
    assert good.read_text() != (EXAMPLES / "k8s" / "shop.yaml").read_text(), "the other files are still fixed"
    assert f"{bad}:4: invalid YAML" in result.stderr


def test_select_limits_what_is_fixed():
    text = (EXAMPLES / "k8s" / "shop.yaml").read_text()
    result = fix_text(text, "shop.yaml", builtin_registry(), {"RO102"})
    diff = [l for l in result.diff().splitlines() if l.startswith(("+", "-")) and not l.startswith(("+++", "---"))]
    assert diff[0].strip().startswith("-        readOnlyRootFilesystem: true")
    assert not any("emptyDir" in l or "volumeMounts" in l for l in diff)


def test_suppressed_findings_are_left_alone():
    text = (EXAMPLES / "k8s" / "shop.yaml").read_text().replace(
        "  name: shop-web\n", '  name: shop-web\n  annotations:\n    rofs.dev/ignore: "RO101: tracked in OPS-7"\n'
    )
    out = fixed(text)
    web = out.split("name: shop-web", 1)[1]
    assert "readOnlyRootFilesystem" not in web.split("---")[0]


def test_crlf_and_comments_survive():
    text = (EXAMPLES / "k8s" / "shop.yaml").read_text().replace("\n", "\r\n")
    out = fixed(text)
    assert "\n" not in out.replace("\r\n", "")
    assert "# A small shop as teams often write it" in out


DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM python:3.12-slim
WORKDIR /app
COPY . .
CMD python -m app --port 8000
"""


def test_dockerfile_plain_words_become_exec_form_and_the_rest_is_suggested(tmp_path: Path):
    f = tmp_path / "Dockerfile"
    f.write_text(DOCKERFILE)
    result = fix_text(DOCKERFILE, str(f), builtin_registry(), SELECTED)
    assert result.fixed == DOCKERFILE.replace("CMD python -m app --port 8000", 'CMD ["python", "-m", "app", "--port", "8000"]')
    # The USER is only suggested: the author decides who owns the app's files.
    assert result.suggested == result.fixed + "USER 1000:1000\n"
    cli = rofs("fix", str(f))
    assert cli.returncode == 1 and f.read_text() == result.fixed
    assert "suggestions that only you can make" in cli.stderr
    after = rofs("audit", str(f), "--select", "RO301")
    assert after.returncode == 0


def test_dockerfile_commands_that_need_a_shell_are_never_rewritten(tmp_path: Path):
    text = DOCKERFILE.replace("CMD python -m app --port 8000", 'CMD python -m app --port "$PORT"') + "USER 10001\n"
    f = tmp_path / "app.Dockerfile"
    f.write_text(text)
    result = fix_text(text, str(f), builtin_registry(), SELECTED)
    assert result.fixed == text and not result.changed
    assert '["/bin/sh", "-c", "python -m app --port \\"$PORT\\""]' in result.suggested
    diff = rofs("fix", "--diff", str(f))
    assert "suggested, not applied" in diff.stdout and f.read_text() == text


def test_dockerfile_suggestion_makes_the_profile_directories(tmp_path: Path):
    text = "FROM nginx:1.27-alpine\nCOPY site /usr/share/nginx/html\n"
    result = fix_text(text, str(tmp_path / "Dockerfile"), builtin_registry(), SELECTED)
    assert not result.changed
    assert result.suggested.endswith(
        "USER root\nRUN mkdir -p /var/cache/nginx /run && chown 101:101 /var/cache/nginx /run\nUSER 101:101\n"
    )


def test_interrupted_write_leaves_the_old_file(tmp_path: Path, monkeypatch):
    """A failure between writing the temp file and the rename: the old file, whole, and no debris."""
    import rofs.fix as fix_mod

    f = tmp_path / "shop.yaml"
    shutil.copy(EXAMPLES / "k8s" / "shop.yaml", f)
    before = f.read_bytes()
    result = fix_text(f.read_text(), str(f), builtin_registry(), SELECTED)

    def broken_replace(src, dst, **dir_fds):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fix_mod.os, "replace", broken_replace)
    with pytest.raises(OSError):
        fix_mod.write_atomic(str(f), result.fixed)
    assert f.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.yaml"]
    monkeypatch.undo()
    fix_mod.write_atomic(str(f), result.fixed)
    assert f.read_text() == result.fixed


def test_a_file_changed_meanwhile_is_not_overwritten(tmp_path: Path):
    """Concurrent `rofs fix` (or an editor) on the same file: detected, nothing lost."""
    import rofs.fix as fix_mod

    f = tmp_path / "shop.yaml"
    shutil.copy(EXAMPLES / "k8s" / "shop.yaml", f)
    (result,) = fix_mod.fix_paths([str(f)], builtin_registry(), SELECTED)
    f.write_text(f.read_text() + "# someone else's edit\n")
    with pytest.raises(fix_mod.ConcurrentChange):
        fix_mod.write_atomic(str(f), result.fixed, expect=result.stamp)
    assert f.read_text().endswith("# someone else's edit\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.yaml"]


@pytest.mark.parametrize("copies, runs", [(1, 30), (3, 15)], ids=["whole", "streamed"])
def test_sigkill_at_random_points_leaves_old_or_new(tmp_path: Path, copies: int, runs: int):
    """rofs fix killed with SIGKILL at random moments on a large multi-document file: the file is
    always the complete old or the complete new version, never a mix, and nothing is left beside
    it.  Three copies of the file (5.6 MB) take the streamed path (past rofs.intake.STREAM_BYTES)."""
    import random
    import signal as sig
    import subprocess as sp
    import time as t

    from rofs.intake import STREAM_BYTES

    src = CORPUS / "argoproj__argo-cd" / "manifests" / "install.yaml"
    require_path(src, "argo-cd install.yaml")
    one = src.read_text()
    old = one + "".join("---\n" + one for _ in range(copies - 1))
    assert (len(old.encode()) > STREAM_BYTES) == (copies > 1)
    new = fix_text(old, "install.yaml", builtin_registry(), SELECTED, unknown_images=UNKNOWN_READ_ONLY).fixed
    assert new != old
    # How long a whole run takes here, so the kills spread over reading, fixing and writing.
    start = t.monotonic()
    probe = tmp_path / "probe" / "install.yaml"
    probe.parent.mkdir()
    probe.write_text(old)
    sp.run([str(Path(sys.executable).with_name("rofs")), "fix", "--unknown-images", "read-only", str(probe)], stdout=sp.DEVNULL, stderr=sp.DEVNULL)
    whole = t.monotonic() - start
    assert probe.read_text() == new, "the streamed fix gives what the whole-file fix gives"
    rng = random.Random(7)
    outcomes = Counter()
    for i in range(runs):
        f = tmp_path / f"run{i}" / "install.yaml"
        f.parent.mkdir()
        f.write_text(old)
        proc = sp.Popen([str(Path(sys.executable).with_name("rofs")), "fix", "--unknown-images", "read-only", str(f)], stdout=sp.DEVNULL, stderr=sp.DEVNULL)
        # Up to twice the measured time: some runs end before the kill (new), most are killed
        # while reading, fixing or writing; a machine busier than at the probe still gets both.
        t.sleep(rng.uniform(0.4 * whole, 2.0 * whole))
        proc.send_signal(sig.SIGKILL)
        proc.wait()
        content = f.read_text()
        assert content in (old, new), f"run {i}: a mix of old and new"
        assert os.listdir(f.parent) == ["install.yaml"], f"run {i}: left behind: {os.listdir(f.parent)}"
        outcomes["new" if content == new else "old"] += 1
    assert outcomes["old"] and outcomes["new"], outcomes


# --- Compose regressions found by the property tests (tests/test_properties.py) ------------------


def audited(text: str, name: str) -> list:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text)
        return audit([str(path)], builtin_registry()).active


def _compose_fix(text: str):
    return fix_text(text, "compose.yaml", builtin_registry(), SELECTED)


def _mount_targets(service: dict) -> list[str]:
    tmpfs = service.get("tmpfs") or []
    out = [t.split(":")[0] for t in ([tmpfs] if isinstance(tmpfs, str) else tmpfs)]
    for item in service.get("volumes") or []:
        out.append(item["target"] if isinstance(item, dict) else item.split(":")[1 if ":" in item else 0])
    return out


def test_compose_flow_top_level_volumes_keep_their_declarations():
    text = ("services:\n  db:\n    image: redis:7\n    volumes: [cache:/cache]\n"
            "volumes: {cache: {driver: local, labels: {a: b}}}\n")
    doc = yaml.safe_load(fixed(text, "compose.yaml"))
    assert doc["volumes"]["cache"] == {"driver": "local", "labels": {"a": "b"}}  # was rewritten as `cache: {}`
    assert "db-data" in doc["volumes"]


def test_compose_service_written_as_an_alias_is_fixed_once():
    text = "services:\n  db: &db\n    image: busybox\n    volumes: []\n  replica: *db\n"
    out = fixed(text, "compose.yaml")  # was: the same mapping fixed twice, /tmp mounted twice
    doc = yaml.safe_load(out)
    assert doc["services"]["db"] == doc["services"]["replica"]
    assert _mount_targets(doc["services"]["db"]) == ["/tmp"]
    assert fixed(out, "compose.yaml") == out


def test_compose_flow_service_loses_only_its_tmpfs_pair():
    text = "{services: {db: {image: busybox, tmpfs: [/tmp], volumes: []}}}\n"
    out = fixed(text, "compose.yaml")  # was: "overlapping edits" (the tmpfs line was deleted whole)
    service = yaml.safe_load(out)["services"]["db"]
    # the short entry keeps its form and gets a size
    assert service["tmpfs"] == ["/tmp:size=256m"] and service["image"] == "busybox" and service["read_only"] is True
    assert service["volumes"] == []


def test_compose_merged_tmpfs_and_volumes_are_copied_not_lost():
    text = (
        "x-defaults: &defaults\n  tmpfs: [/tmp]\n  volumes:\n    - ./conf:/etc/app:ro\n"
        "services:\n"
        "  app:\n    <<: *defaults\n    image: busybox\n"  # inherits both; the fix adds its own `volumes:`
        "  web:\n    <<: *defaults\n    image: busybox\n    tmpfs: [/scratch]\n"  # own tmpfs hides the merged one
    )
    out = fixed(text, "compose.yaml")
    doc = yaml.safe_load(out)
    assert doc["x-defaults"] == {"tmpfs": ["/tmp"], "volumes": ["./conf:/etc/app:ro"]}  # untouched
    app, web = doc["services"]["app"], doc["services"]["web"]
    assert sorted(_mount_targets(app)) == ["/etc/app", "/tmp"]  # was: the bind mount lost
    # web's own `tmpfs: [/scratch]` gets its size in place (it hides the merged /tmp, so /tmp comes
    # as a tmpfs of its own, beside the merged bind mount)
    assert web["tmpfs"] == ["/scratch:size=256m"] and sorted(_mount_targets(web)) == ["/etc/app", "/scratch", "/tmp"]
    result = audit_text(out)
    assert result == []
    assert fixed(out, "compose.yaml") == out


def audit_text(text: str) -> list:
    from rofs.checks import check_workload
    from rofs.rules import Context
    from rofs.sources.compose import ComposeSource

    source = ComposeSource().read(text, "compose.yaml")
    assert source.errors == []
    ctx = Context(builtin_registry())
    return [(w.name, f.rule, f.path) for w in source.workloads for f in check_workload(w, ctx, set(FIXABLE))]


def test_compose_named_volume_declared_as_tmpfs_holding_data_becomes_a_named_volume():
    text = (
        "services:\n  db:\n    image: postgres:16\n    volumes:\n      - pg:/var/lib/postgresql\n"
        "volumes:\n  pg:\n    driver_opts: {type: tmpfs, device: tmpfs, o: size=64m}\n"
    )
    result = _compose_fix(text)
    assert result.error is None
    db = yaml.safe_load(result.fixed)["services"]["db"]
    assert {"type": "volume", "source": "db-var-lib-postgresql", "target": "/var/lib/postgresql"} in db["volumes"]
    assert "pg:/var/lib/postgresql" not in db["volumes"]  # was: a note saying so, and nothing changed
    assert audit_text(result.fixed) == []


def test_compose_no_second_mount_at_or_beneath_a_read_only_mount():
    text = ("services:\n  cache:\n    image: redis:7\n    environment: [TMPDIR=/data/tmp]\n"
            "    volumes:\n      - ./data:/data:ro\n")
    result = _compose_fix(text)
    assert result.error is None
    # was: a second /data mount, and /data/tmp beneath the read-only one.  The rule sees the
    # read-only mount and suggests changing it; read_only: true alone would crash Redis, so
    # nothing is written.
    assert result.fixed == text
    findings = audited(text, "compose.yaml")
    (ro101,) = [f for f in findings if f.rule == "RO101"]
    assert ro101.applicability == "suggestion"
    assert ro101.fix == "set read_only: true; make the mount at /data writable (it is read-only)"
    # /data/tmp lies in /data, which serves it once writable: one suggestion, not two
    assert not [f for f in findings if f.rule == "RO204"]


def test_compose_refuses_to_change_mounts_other_services_share():
    merged = ("services:\n  db: &db\n    image: postgres:16\n    tmpfs: [/var/lib/postgresql]\n"
              "  copy:\n    <<: *db\n    image: redis:7\n")
    result = _compose_fix(merged)  # was: db's tmpfs removed, so `copy` silently lost it
    assert result.error is not None and "other services merge it (<<)" in result.error
    assert result.fixed == merged
    aliased = "services:\n  a:\n    image: nginx:1.27\n    tmpfs: &t [/run]\n  b:\n    image: nginx:1.27\n    tmpfs: *t\n"
    result = _compose_fix(aliased)  # was: "internal error: the fixed text does not parse"
    assert result.error is not None and "shared with another part of the file" in result.error


def test_compose_keys_added_after_a_block_list_of_merged_aliases():
    text = ("x-base: &base\n  build: ./app\nservices:\n  db: &db\n    image: busybox\n"
            "  web:\n    image: busybox\n    <<:\n    - *base\n    - *db\n")
    out = fixed(text, "compose.yaml")  # was: read_only and volumes inserted between `<<:` and its `- *base`
    web = yaml.safe_load(out)["services"]["web"]
    assert web["read_only"] is True and web["build"] == "./app"
    assert "    <<:\n    - *base\n    - *db\n    read_only: true\n" in out


def test_compose_tmpfs_options_with_commas_are_quoted_in_a_flow_service():
    text = ("x-base: &base {tmpfs: [/tmp, '/data:size=1g,mode=1777']}\n"
            "services: {db: {<<: *base, image: busybox}}\n")
    out = fixed(text, "compose.yaml")  # was: `tmpfs: [/data:size=1g,mode=1777]`, which reads as two entries
    db = yaml.safe_load(out)["services"]["db"]
    assert db["tmpfs"] == ["/tmp:size=256m", "/data:size=1g,mode=1777"]  # its own copy, /tmp bounded
    assert audit_text(out) == []


@pytest.mark.parametrize("copies", [1, 3], ids=["whole", "streamed"])
def test_concurrent_fixes_of_one_file_detect_each_other(tmp_path: Path, copies: int):
    """Four `rofs fix` at once on one file: rofs detects (it does not lock) a file changed since
    it was read; the file ends as the complete fixed version, each process either wrote it, found
    nothing to do, or said the file changed under it (exit 2), and nothing is left beside it."""
    import subprocess as sp

    src = CORPUS / "argoproj__argo-cd" / "manifests" / "install.yaml"
    require_path(src, "argo-cd install.yaml")
    one = src.read_text()
    old = one + "".join("---\n" + one for _ in range(copies - 1))
    new = fix_text(old, "install.yaml", builtin_registry(), SELECTED, unknown_images=UNKNOWN_READ_ONLY).fixed
    f = tmp_path / "install.yaml"
    f.write_text(old)
    exe = str(Path(sys.executable).with_name("rofs"))
    procs = [sp.Popen([exe, "fix", "--unknown-images", "read-only", str(f)], stdout=sp.DEVNULL, stderr=sp.PIPE, text=True) for _ in range(4)]
    outcomes = []
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert "Traceback" not in err
        if proc.returncode == 2:
            assert f"rofs: error: cannot write {f}: {f} changed while rofs was fixing it; nothing written, run rofs fix again" in err
        outcomes.append(proc.returncode)
    assert f.read_text() == new
    assert os.listdir(tmp_path) == ["install.yaml"]
    assert 1 in outcomes and set(outcomes) <= {0, 1, 2}, outcomes
    print("outcomes", sorted(outcomes))


@pytest.mark.parametrize("tail", ["", "\n", "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"])
def test_a_key_with_nothing_after_it_gets_its_value_after_a_space(tail: str):
    """`volumeMounts:` with no value (a null with no text of its own): the C loader reports its
    style as "" where the Python loader says None; both must get `volumeMounts: [...]`."""
    text = ("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n    - name: web\n"
            "      image: registry.example.com/web:1\n      volumeMounts:" + tail)
    result = fix_text(text, "pod.yaml", builtin_registry(), SELECTED, unknown_images=UNKNOWN_READ_ONLY)
    assert result.error is None, result.error
    pod = next(yaml.safe_load_all(result.fixed))
    assert pod["spec"]["containers"][0]["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert "volumeMounts: [" in result.fixed


def test_the_same_note_for_many_workloads_is_one_line(tmp_path: Path):
    docs = [DEPLOY_UNKNOWN.format(name=f"api-{i}") for i in range(5)]
    f = tmp_path / "apis.yaml"
    f.write_text("---\n".join(docs))
    result = rofs("fix", "--unknown-images", "read-only", str(f))
    notes = [line for line in result.stderr.splitlines() if "no profile for" in line]
    assert notes == [(f"rofs: {f}: Deployment api-0 [api], Deployment api-1 [api], Deployment api-2 [api] and 2 more:"
                      " no profile for registry.example.com/shop/api:2; added a bounded /tmp only. Its other writable"
                      " paths are unknown: find them with `rofs trace`, then pass the profile with --profile-file.")]


DEPLOY_UNKNOWN = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  template:
    spec:
      containers:
        - name: api
          image: registry.example.com/shop/api:2
"""


def test_a_mount_added_to_a_service_others_merge_would_change_them_so_it_is_refused(tmp_path: Path):
    """`web` takes `volumes:` from `db` through `<<`: a tmpfs appended to db's list would be
    mounted in web too (found by the property test)."""
    text = ("services:\n  db: &db\n    build: ./app\n    volumes: []\n"
            "  web:\n    build: ./app\n    tmpfs:\n    - /tmp:size=64m\n    <<: *db\n")
    result = fix_text(text, str(tmp_path / "compose.yaml"), builtin_registry(), SELECTED, unknown_images=UNKNOWN_READ_ONLY)
    assert result.error is not None and "other services merge it (<<)" in result.error
    assert "would change for them too" in result.error
    # the same, once web sets its own volumes: db's list is db's alone, and the fix goes ahead
    own = text.replace("    <<: *db\n", "    volumes: []\n    <<: *db\n")
    fixed = fix_text(own, str(tmp_path / "compose.yaml"), builtin_registry(), SELECTED, unknown_images=UNKNOWN_READ_ONLY)
    assert fixed.error is None
    after = yaml.safe_load(fixed.fixed)["services"]
    assert after["db"]["volumes"] == [{"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 268435456}}]
    assert after["web"]["volumes"] == [] and after["web"]["tmpfs"] == ["/tmp:size=64m"]
