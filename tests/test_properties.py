"""Property-based tests: generated Kubernetes and Compose documents, odd but valid YAML included.

`audit` never crashes; `fix` output always re-parses, re-audits clean for the rules it fixes, and
a second `fix` changes nothing.  ROFS_PROPERTY_EXAMPLES sets the number of cases (default 5000 each: 10,000 per run).
"""

from __future__ import annotations

import os

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rofs.audit import AuditOptions, iter_audit
from rofs.fix import MANIFEST_FIXABLE, fix_text
from rofs.profiles import builtin_registry
from rofs.sources.kubernetes import KubernetesSource

REGISTRY = builtin_registry()
EXAMPLES = int(os.environ.get("ROFS_PROPERTY_EXAMPLES", "5000"))  # 10,000 cases per run in all
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

IMAGES = ["postgres:16", "redis:7", "nginx:1.27-alpine", "confluentinc/cp-kafka:7.5.0", "python:3.12",
          "registry.example.com/app:1", "bitnami/postgresql:16", "busybox", "eclipse-temurin:17"]
PATHS = ["/tmp", "/data", "/var/lib/postgresql", "/var/lib/postgresql/data", "/var/run/postgresql", "/var/cache/nginx",
         "/run", "/var/lib/kafka/data", "/cache", "/dev/shm"]
names = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@st.composite
def volume(draw, name):
    kind = draw(st.sampled_from(["emptyDir", "emptyDirSized", "memory", "pvc", "configMap", "hostPath"]))
    if kind == "emptyDir":
        return {"name": name, "emptyDir": {}}
    if kind == "emptyDirSized":
        return {"name": name, "emptyDir": {"sizeLimit": draw(st.sampled_from(["1Mi", "64Mi", "1Gi"]))}}
    if kind == "memory":
        return {"name": name, "emptyDir": {"medium": "Memory"}}
    if kind == "pvc":
        return {"name": name, "persistentVolumeClaim": {"claimName": name}}
    if kind == "configMap":
        return {"name": name, "configMap": {"name": name}}
    return {"name": name, "hostPath": {"path": "/srv/" + name}}


@st.composite
def container(draw, volumes):
    c = {"name": draw(names), "image": draw(st.sampled_from(IMAGES))}
    sec = draw(st.sampled_from([None, {}, {"readOnlyRootFilesystem": True}, {"readOnlyRootFilesystem": False},
                                {"runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}]))
    if sec is not None:
        c["securityContext"] = sec
    if volumes and draw(st.booleans()):
        c["volumeMounts"] = [{"name": v["name"], "mountPath": draw(st.sampled_from(PATHS))}
                             for v in draw(st.lists(st.sampled_from(volumes), max_size=3, unique_by=lambda v: v["name"]))]
    if draw(st.booleans()):
        c["env"] = [{"name": "TMPDIR", "value": draw(st.sampled_from(["/tmp", "/scratch", "/var/tmp"]))}]
    return c


@st.composite
def workload(draw):
    vnames = draw(st.lists(names, max_size=3, unique=True))
    volumes = [draw(volume(n)) for n in vnames]
    containers = draw(st.lists(container(volumes), min_size=1, max_size=2, unique_by=lambda c: c["name"]))
    pod = {"containers": containers}
    if volumes:
        pod["volumes"] = volumes
    if draw(st.booleans()):
        pod["initContainers"] = [draw(container(volumes))]
        pod["initContainers"][0]["name"] = "init-" + pod["initContainers"][0]["name"]
    if draw(st.booleans()):
        pod["securityContext"] = draw(st.sampled_from([{"runAsNonRoot": True}, {"readOnlyRootFilesystem": True}, {}]))
    kind = draw(st.sampled_from(["Pod", "Deployment", "StatefulSet", "Job"]))
    meta = {"name": draw(names)}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod}
    spec = {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}, "spec": pod}}
    if kind == "StatefulSet":
        spec["serviceName"] = "x"
    return {"apiVersion": "batch/v1" if kind == "Job" else "apps/v1", "kind": kind, "metadata": meta, "spec": spec}


@st.composite
def document(draw):
    docs = draw(st.lists(workload(), min_size=1, max_size=2))
    style = draw(st.sampled_from(["block", "flow", "indented-lists", "crlf", "comments"]))
    if style == "flow":
        text = yaml.safe_dump_all(docs, default_flow_style=True, width=60)
    elif style == "indented-lists":
        class Indented(yaml.SafeDumper):
            def increase_indent(self, flow=False, indentless=False):
                return super().increase_indent(flow, False)
        text = yaml.dump_all(docs, Dumper=Indented, sort_keys=False)
    else:
        text = yaml.safe_dump_all(docs, sort_keys=False)
    if style == "comments":
        text = "# a comment\n" + text.replace("\n  ", "  # note\n  ", 1)
    if style == "crlf":
        text = text.replace("\n", "\r\n")
    return text


@SETTINGS
@given(document())
def test_fix_output_parses_reaudits_clean_and_is_idempotent(text):
    result = fix_text(text, "gen.yaml", REGISTRY, set(MANIFEST_FIXABLE))
    assert result.error is None, result.error
    list(yaml.safe_load_all(result.fixed))  # parses
    fixed = KubernetesSource().read(result.fixed, "gen.yaml")
    assert not fixed.errors
    again = fix_text(result.fixed, "gen.yaml", REGISTRY, set(MANIFEST_FIXABLE))
    assert again.fixed == result.fixed, "a second fix changes nothing"
    from rofs.audit import check_workload
    from rofs.rules import Context

    ctx = Context(REGISTRY)
    for w in fixed.workloads:
        left = [f for f in check_workload(w, ctx, set(MANIFEST_FIXABLE))]
        assert left == [], [(f.rule, f.message) for f in left]


@SETTINGS
@given(st.one_of(document(), st.text(max_size=300)))
def test_audit_never_crashes(text):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "x.yaml"
        f.write_bytes(text.encode("utf-8", "surrogatepass"))
        for report in iter_audit([str(f)], REGISTRY, AuditOptions()):
            assert report.source is not None
