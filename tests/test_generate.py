"""`rofs generate`: every output validates and carries exactly the profile's paths."""

from __future__ import annotations

import json
import shlex

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import SCHEMAS
from rofs.generate import FORMATS, GenerateOptions, PlanError, build_plan, render
from rofs.generate.docker_run import argv
from rofs.model import VolumeKind
from rofs.profiles import builtin_registry

K8S_VERSION = kubernetes_validate.latest_version()
PROFILES = list(builtin_registry())


def image_layouts(profile):
    return [layout for layout in profile.layouts if layout.image]


CASES = [(p, lay.id) for p in PROFILES for lay in image_layouts(p)]
CASE_IDS = [f"{p.name}-{lay}" for p, lay in CASES]


@pytest.fixture(scope="module")
def compose_schema():
    return json.loads((SCHEMAS / "compose-spec.json").read_text())


def k8s_docs(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def mounted_kinds(docs: list[dict]) -> dict[str, str]:
    """mountPath -> persistent | ephemeral | memory, read back from rendered Kubernetes objects."""
    main = docs[0]
    pod = main["spec"] if main["kind"] == "Pod" else main["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    templates = {t["metadata"]["name"] for t in main.get("spec", {}).get("volumeClaimTemplates", [])}
    claims = {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
    out = {}
    for mount in pod["containers"][0].get("volumeMounts", []):
        vol = volumes.get(mount["name"])
        if vol is None:
            assert mount["name"] in templates, f"{mount['name']} has no volume and no claim template"
            out[mount["mountPath"]] = "persistent"
        elif "persistentVolumeClaim" in vol:
            assert vol["persistentVolumeClaim"]["claimName"] in claims, "the claim document is emitted too"
            out[mount["mountPath"]] = "persistent"
        elif vol["emptyDir"].get("medium") == "Memory":
            assert "sizeLimit" in vol["emptyDir"]
            out[mount["mountPath"]] = "memory"
        else:
            assert "sizeLimit" in vol["emptyDir"], f"{mount['mountPath']}: emptyDir without sizeLimit"
            out[mount["mountPath"]] = "ephemeral"
    return out


def expected_kinds(profile, layout_id):
    """Every profile path gets a mount, unless a path above it has one of the same kind or a persistent
    one, or it is optional and the generated env moves the write elsewhere (KAFKA_LOG_DIRS)."""
    knobs = {k.name: k for k in profile.env_for(layout_id)}
    paths = [
        p for p in profile.paths_for(layout_id)
        if p.required or not (p.env in knobs and knobs[p.env].recommended and knobs[p.env].type in ("env", "jvm-option")
                              and not knobs[p.env].recommended.startswith(p.path))
    ]

    def served(inner):
        return any(
            inner.path.startswith(outer.path.rstrip("/") + "/") and (outer.kind == inner.kind or outer.kind.value == "persistent")
            for outer in paths
        )

    return {p.path: p.kind.value for p in paths if not served(p)}


@pytest.mark.parametrize("kind", ["StatefulSet", "Deployment", "Pod"])
@pytest.mark.parametrize("profile, layout", CASES, ids=CASE_IDS)
def test_kubernetes_output_validates_and_mounts_the_profile(profile, layout, kind):
    plan = build_plan(profile, GenerateOptions(kind=kind, layout=layout, storage_class="fast"))
    docs = k8s_docs(render(plan, "k8s"))
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert mounted_kinds(docs) == expected_kinds(profile, layout)
    main = docs[0]
    pod = main["spec"] if kind == "Pod" else main["spec"]["template"]["spec"]
    for container in pod["containers"] + pod.get("initContainers", []):
        ctx = container["securityContext"]
        assert ctx["readOnlyRootFilesystem"] is True, "set on the container, where Kubernetes reads it"
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"]["drop"] == ["ALL"]
        assert ctx.get("capabilities", {}).get("add", []) == list(profile.capabilities_add)
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
        assert ctx["runAsNonRoot"] is True
    assert "readOnlyRootFilesystem" not in pod["securityContext"], "pod level would be ignored"
    uid = profile.layout(layout).user.uid
    if uid:
        assert pod["securityContext"]["runAsUser"] == uid
        assert pod["securityContext"]["fsGroup"] not in (None, 0)
    if kind == "StatefulSet":
        for claim in main["spec"].get("volumeClaimTemplates", []):
            assert claim["spec"]["storageClassName"] == "fast"


@pytest.mark.parametrize("profile, layout", CASES, ids=CASE_IDS)
def test_compose_output_validates_against_the_compose_spec(profile, layout, compose_schema):
    plan = build_plan(profile, GenerateOptions(layout=layout))
    doc = yaml.safe_load(render(plan, "compose"))
    jsonschema.Draft7Validator(compose_schema).validate(doc)  # the spec says draft-07
    svc = doc["services"][plan.name]
    assert svc["read_only"] is True
    assert svc["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in svc["security_opt"]
    seen = {}
    for vol in svc.get("volumes", []):
        if vol["type"] == "tmpfs":
            assert vol["tmpfs"]["size"] > 0, "every tmpfs is bounded"
            seen[vol["target"]] = "tmpfs"
        else:
            assert vol["source"] in doc["volumes"], "named volumes are declared at top level"
            seen[vol["target"]] = "volume"
    for path, kind in expected_kinds(profile, layout).items():
        if path == "/dev/shm":
            assert "shm_size" in svc
        elif kind == "persistent":
            assert seen[path] == "volume", f"{path} must survive a restart"
        else:
            spec = next(p for p in profile.paths_for(layout) if p.path == path)
            assert seen[path] == ("volume" if spec.populated else "tmpfs")


@pytest.mark.parametrize("profile, layout", CASES, ids=CASE_IDS)
def test_docker_run_and_dockerfile(profile, layout):
    plan = build_plan(profile, GenerateOptions(layout=layout))
    args = argv(plan)
    assert args[:2] == ["docker", "run"] and "--read-only" in args and args[-1] == plan.image
    text = render(plan, "docker-run")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert shlex.split(" ".join(line.rstrip("\\") for line in lines)) == args, "the printed command is the argv"
    tmpfs = {a.split(":")[0] for i, a in enumerate(args) if i and args[i - 1] == "--tmpfs"}
    volumes = {a.split(":")[1] for i, a in enumerate(args) if i and args[i - 1] == "-v"}
    for p in plan.paths:
        if p.mount.path == "/dev/shm":
            assert "--shm-size" in args
        elif p.volume.kind is VolumeKind.PERSISTENT or p.spec.populated:
            assert p.mount.path in volumes
        else:
            assert p.mount.path in tmpfs
    dockerfile = render(plan, "dockerfile")
    assert f"FROM {plan.image}" in dockerfile
    if plan.uid:
        assert f"\nUSER {plan.uid}" in dockerfile
    for p in plan.paths:
        if p.mount.path != "/dev/shm":
            assert p.mount.path in dockerfile.split("RUN mkdir -p", 1)[1]
    for line in dockerfile.splitlines():
        if line.startswith(("ENTRYPOINT", "CMD")):
            json.loads(line.split(" ", 1)[1])  # exec form


# For each app of the seed guide: the writable paths and volume kinds rofs must generate
# for its default image, read back from the rendered Kubernetes manifest.
SEED_EXPECTED = {
    # /dev/shm beyond Docker's 64 MiB; no /tmp (it is never written).
    "postgres": {"/var/lib/postgresql": "persistent", "/var/run/postgresql": "ephemeral", "/dev/shm": "memory"},
    # Only its dir; Redis does not write /tmp.
    "redis": {"/data": "persistent"},
    # apache/kafka: data moved out of /tmp by KAFKA_LOG_DIRS; config rendered at start; GC log dir.
    "kafka": {
        "/var/lib/kafka/data": "persistent",
        "/opt/kafka/config": "ephemeral",
        "/opt/kafka/logs": "ephemeral",
        "/tmp": "ephemeral",
    },
    # Temp dirs, the PID file in /run, conf.d rendered from templates; logs go to stdout, no /tmp.
    "nginx": {"/var/cache/nginx": "ephemeral", "/run": "ephemeral", "/etc/nginx/conf.d": "ephemeral"},
    "python": {"/tmp": "ephemeral", "/var/cache/app": "ephemeral"},
    "node": {"/tmp": "ephemeral", "/home/node/.npm": "ephemeral"},
    # hsperfdata and java.io.tmpdir; heap dumps sent there by JAVA_TOOL_OPTIONS.
    "java": {"/tmp": "ephemeral"},
    "go": {"/tmp": "ephemeral"},
    "rust": {"/tmp": "ephemeral"},
}


@pytest.mark.parametrize("app", sorted(SEED_EXPECTED))
def test_seed_apps_generate_the_right_mounts(app):
    profile = builtin_registry().get(app)
    docs = k8s_docs(render(build_plan(profile, GenerateOptions()), "k8s"))
    assert mounted_kinds(docs) == SEED_EXPECTED[app]


def test_kafka_log_dirs_is_moved_out_of_tmp():
    kafka = builtin_registry().get("kafka")
    docs = k8s_docs(render(build_plan(kafka, GenerateOptions(layout="apache")), "k8s"))
    env = {e["name"]: e["value"] for e in docs[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"


def test_java_heap_dumps_go_to_a_mounted_path():
    java = builtin_registry().get("java")
    plan = build_plan(java, GenerateOptions())
    opts = {v.name: v.value for v in plan.env}["JAVA_TOOL_OPTIONS"]
    assert "-XX:HeapDumpPath=/tmp" in opts


def test_kafka_data_is_never_ephemeral():
    kafka = builtin_registry().get("kafka")
    # Where each layout keeps the log segments: the image's data dir, and for apache/kafka
    # also the default log.dirs of its bundled server.properties, which is under /tmp.
    expected = {
        "apache": {"/var/lib/kafka/data", "/tmp/kraft-combined-logs"},
        "confluent": {"/var/lib/kafka/data"},
        "bitnami": {"/bitnami/kafka"},
    }
    assert {layout.id for layout in kafka.layouts} == set(expected)
    for layout in kafka.layouts:
        data = [p for p in kafka.paths_for(layout.id) if p.path in expected[layout.id]]
        assert {p.path for p in data} == expected[layout.id]
        for p in data:
            assert p.kind is VolumeKind.PERSISTENT, f"{layout.id}: {p.path} holds the log, it must persist"
        if not layout.image:
            continue
        for fmt_kind in ("StatefulSet", "Deployment"):
            docs = k8s_docs(render(build_plan(kafka, GenerateOptions(layout=layout.id, kind=fmt_kind)), "k8s"))
            kinds = mounted_kinds(docs)
            pod = docs[0]["spec"]["template"]["spec"]
            env = {e["name"]: e["value"] for e in pod["containers"][0].get("env", [])}
            # Where the broker really writes: log.dirs as the generated env sets it, else the image default.
            written = [env["KAFKA_LOG_DIRS"]] if "KAFKA_LOG_DIRS" in env else [p.path for p in data if p.required]
            for path in written:
                covering = [m for m in kinds if path == m or path.startswith(m + "/")]
                assert covering, f"{layout.id}/{fmt_kind}: nothing mounted at {path}"
                innermost = max(covering, key=len)  # the mount that actually holds the files
                assert kinds[innermost] == "persistent", f"{layout.id}/{fmt_kind}: {path} on {innermost}"
        compose = yaml.safe_load(render(build_plan(kafka, GenerateOptions(layout=layout.id)), "compose"))
        svc = next(iter(compose["services"].values()))
        for vol in svc["volumes"]:
            if any(p.path == vol["target"] for p in data):
                assert vol["type"] == "volume", "never tmpfs for the Kafka log"


def test_size_overrides_by_path_and_by_volume_name():
    pg = builtin_registry().get("postgres")
    plan = build_plan(pg, GenerateOptions(sizes=(("/dev/shm", 1 << 30), ("data", 50 << 30))))
    docs = k8s_docs(render(plan, "k8s"))
    pod = docs[0]["spec"]["template"]["spec"]
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Gi"}
    claim = docs[0]["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"


def test_unknown_size_key_is_an_error():
    with pytest.raises(PlanError, match="not a path or volume of postgres"):
        build_plan(builtin_registry().get("postgres"), GenerateOptions(sizes=(("/nope", 1),)))


def test_deployment_with_data_gets_a_claim_document_and_recreate():
    pg = builtin_registry().get("postgres")
    text = render(build_plan(pg, GenerateOptions(kind="Deployment", name="db")), "k8s")
    docs = k8s_docs(text)
    assert [d["kind"] for d in docs] == ["Deployment", "PersistentVolumeClaim"]
    assert docs[0]["spec"]["strategy"] == {"type": "Recreate"}
    assert docs[1]["metadata"]["name"] == "db-data"
    assert "a StatefulSet (--kind StatefulSet) is usually better" in text


def test_comments_explain_each_mount():
    pg = builtin_registry().get("postgres")
    text = render(build_plan(pg, GenerateOptions()), "k8s")
    assert "mountPath: /dev/shm  # memory: POSIX shared memory" in text


def test_populated_paths_are_seeded_by_an_init_container():
    pg = builtin_registry().get("postgres")
    docs = k8s_docs(render(build_plan(pg, GenerateOptions(layout="bitnami")), "k8s"))
    pod = docs[0]["spec"]["template"]["spec"]
    (seed,) = pod["initContainers"]
    assert seed["image"] == "bitnami/postgresql:17"
    assert "cp -a /opt/bitnami/postgresql/conf/. /rofs-seed/postgres-conf/" in seed["command"][-1]


def test_every_format_is_tested():
    assert set(FORMATS) == {"k8s", "compose", "docker-run", "dockerfile"}


@pytest.mark.parametrize("profile, layout", CASES, ids=CASE_IDS)
def test_generated_output_passes_the_audit(profile, layout, tmp_path):
    """What rofs generates, rofs audit accepts: no finding of any rule, in any format."""
    from rofs.audit import AuditOptions, audit

    plan_sts = build_plan(profile, GenerateOptions(layout=layout))
    (tmp_path / "app.yaml").write_text(render(plan_sts, "k8s"))
    (tmp_path / "deploy.yaml").write_text(render(build_plan(profile, GenerateOptions(layout=layout, kind="Deployment")), "k8s"))
    (tmp_path / "pod.yaml").write_text(render(build_plan(profile, GenerateOptions(layout=layout, kind="Pod")), "k8s"))
    (tmp_path / "compose.yaml").write_text(render(plan_sts, "compose"))
    (tmp_path / "Dockerfile").write_text(render(plan_sts, "dockerfile"))
    result = audit([str(tmp_path)], builtin_registry(), AuditOptions())
    assert not result.errors
    assert sorted(f.format.value for f in result.files) == ["compose", "dockerfile", "kubernetes", "kubernetes", "kubernetes"]
    assert [(f.rule, str(f.location), f.message) for f in result.findings] == []
