"""`rofs fix` on the shapes real repositories have, each from a minimal file: what a reviewer
would reject is never written (settings lost or overwritten, comments deleted, storage nobody
asked for, images without a profile made read-only), and what Kubernetes or Compose would refuse
is said."""

from __future__ import annotations

from pathlib import Path

import yaml

from rofs.fix import ALL_RULES, fix_text
from rofs.profiles import builtin_registry

REGISTRY = builtin_registry()


def fix(text: str, name: str = "pod.yaml", **options):
    result = fix_text(text, name, REGISTRY, set(ALL_RULES), **options)
    assert result.error is None, result.error
    again = fix_text(result.fixed, name, REGISTRY, set(ALL_RULES), **options)
    assert again.fixed == result.fixed, "a second fix changes nothing"
    return result


POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
    - name: c
      image: {image}
{extra}"""

REDIS_DATA = """\
      volumeMounts:
        - {name: data, mountPath: /data}
  volumes:
    - name: data
      persistentVolumeClaim: {claimName: d}
"""


def audit_text_findings(text: str, name: str) -> list:
    """Every finding of *text* (read as a file called *name*)."""
    import tempfile
    from pathlib import Path

    from rofs.audit import AuditOptions, audit

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text)
        result = audit([str(path)], REGISTRY, AuditOptions())
        assert result.errors == [], result.errors
        return list(result.findings)


def container(text: str) -> dict:
    return next(d for d in yaml.safe_load_all(text) if d["kind"] == "Pod")["spec"]["containers"][0]


# --- images without a profile -------------------------------------------------------


def test_an_image_without_a_profile_is_left_as_it_is_by_default():
    text = POD.format(image="registry.example.com/shop/api:2", extra="")
    result = fix(text)
    assert not result.changed and result.unprofiled == {"registry.example.com/shop/api:2": 1}
    opted = fix(text, unknown_images="read-only")
    assert container(opted.fixed)["securityContext"] == {"readOnlyRootFilesystem": True}
    assert container(opted.fixed)["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


def test_the_volumes_only_an_unprofiled_image_mounts_keep_their_size():
    text = POD.format(image="registry.example.com/shop/api:2", extra=(
        "      volumeMounts:\n        - {name: scratch, mountPath: /scratch}\n"
        "  volumes:\n    - name: scratch\n      emptyDir: {}\n"))
    assert not fix(text).changed  # a guessed limit could get the pod evicted


def test_a_compose_image_with_a_default_is_read_as_the_default():
    text = "services:\n  cache:\n    image: ${REDIS_IMAGE:-redis:7.4}\n    volumes: [data:/data]\nvolumes: {data: {}}\n"
    result = fix(text, "compose.yaml")
    assert yaml.safe_load(result.fixed)["services"]["cache"]["read_only"] is True
    assert "${REDIS_IMAGE:-redis:7.4}" in result.fixed


# --- settings kept ---------------------------------------------------------------------


def test_short_tmpfs_entries_keep_every_option_and_get_a_size():
    text = "services:\n  cache:\n    image: redis:7.4\n    read_only: true\n    tmpfs:\n      - /tmp:rw,noexec,nosuid\n" \
           "    volumes: [data:/data]\nvolumes: {data: {}}\n"
    result = fix(text, "compose.yaml")
    assert yaml.safe_load(result.fixed)["services"]["cache"]["tmpfs"] == ["/tmp:rw,noexec,nosuid,size=256m"]


def test_read_only_from_a_variable_is_reported_and_left():
    text = "services:\n  cache:\n    image: redis:7.4\n    read_only: ${RO:-true}\n    volumes: [data:/data]\n" \
           "volumes: {data: {}}\n"
    result = fix(text, "compose.yaml")
    assert not result.changed
    [ro101] = [f for f in audit_text_findings(text, "compose.yaml") if f.rule == "RO101"]
    assert "read_only is set by a variable (${RO:-true})" in ro101.message and ro101.applicability == "suggestion"


def test_a_security_context_built_with_a_merge_key_keeps_what_it_merges():
    extra = "      securityContext:\n        <<: &sec\n          runAsUser: 999\n          runAsNonRoot: true\n" + REDIS_DATA
    result = fix(POD.format(image="redis:7.4", extra=extra))
    assert container(result.fixed)["securityContext"] == {
        "runAsUser": 999, "runAsNonRoot": True, "readOnlyRootFilesystem": True}


def test_an_alias_shared_with_the_pod_security_context_is_not_written_through():
    text = ("x-sec: &sec\n  runAsUser: 999\n  runAsNonRoot: true\n"
            + POD.format(image="redis:7.4", extra="      securityContext: *sec\n" + REDIS_DATA)
            ).replace("spec:\n  containers:", "spec:\n  securityContext: *sec\n  containers:")
    result = fix(text)
    doc = yaml.safe_load(result.fixed)
    assert doc["spec"]["securityContext"] == {"runAsUser": 999, "runAsNonRoot": True}  # the pod's: no such field
    assert doc["spec"]["containers"][0]["securityContext"] == {
        "runAsUser": 999, "runAsNonRoot": True, "readOnlyRootFilesystem": True}
    assert "securityContext: {<<: *sec, readOnlyRootFilesystem: true}" in result.fixed


def test_a_key_written_twice_is_refused_as_kubectl_and_compose_refuse_it():
    # kubectl's strict field validation and kustomize refuse the Pod, docker compose the file: a fix of
    # either copy would change something other than what runs (or nothing that ever runs)
    extra = "      securityContext:\n        runAsUser: 1\n      securityContext:\n        runAsUser: 999\n" + REDIS_DATA
    text = POD.format(image="redis:7.4", extra=extra)
    result = fix_text(text, "pod.yaml", REGISTRY, set(ALL_RULES))
    line = text.splitlines().index("      securityContext:", text.splitlines().index("      securityContext:") + 1) + 1
    assert result.error == (f"pod.yaml:{line}: cannot fix: key 'securityContext' is written twice in one mapping"
                            f" (first at line {line - 2}): kubectl (strict field validation, its default) and kustomize"
                            " refuse such a file; keep one")
    assert result.fixed == text
    compose = "services:\n  web:\n    image: nginx:1.27\n  db:\n    image: redis:7.4\n  web:\n    image: postgres:16\n"
    result = fix_text(compose, "compose.yaml", REGISTRY, set(ALL_RULES))
    assert result.error == ("compose.yaml:6: cannot fix: key 'web' is written twice in one mapping (first at line 2):"
                            " docker compose refuses such a file; keep one") and result.fixed == compose


def test_a_flow_mapping_ending_in_a_comma_takes_a_new_key():
    extra = "      securityContext: {runAsNonRoot: true, }\n" + REDIS_DATA
    result = fix(POD.format(image="redis:7.4", extra=extra))
    assert "securityContext: {runAsNonRoot: true, readOnlyRootFilesystem: true}" in result.fixed


def test_every_quantity_kubernetes_accepts_is_read():
    for quantity, limit in (("1e3", 1000), ("1.5e9", 1_500_000_000), ("500m", 1), ("1E6", 10**6)):
        extra = ("      volumeMounts:\n        - {name: data, mountPath: /data}\n"
                 f"  volumes:\n    - name: data\n      emptyDir: {{sizeLimit: {quantity}}}\n")
        findings = audit_text_findings(POD.format(image="redis:7.4", extra=extra), "pod.yaml")
        assert not any(f.rule == "RO203" for f in findings), quantity  # bounded: read, not an error
        assert any(f.rule == "RO202" for f in findings), quantity  # and the workload was read
        assert limit


# --- comments ----------------------------------------------------------------------------


def test_no_comment_line_is_deleted_and_new_keys_go_after_commented_entries():
    text = ("services:\n  db:\n    image: redis:7.4\n    environment:\n      A: b\n      # B: c\n"
            "  cache:\n    image: redis:7.4\n    tmpfs:\n      # scratch space\n      - /data\n      # end\n")
    result = fix(text, "compose.yaml")
    comments = [line.strip() for line in result.fixed.splitlines() if line.strip().startswith("#")]
    assert comments == ["# B: c", "# scratch space", "# end"]
    # uncommenting `# B: c` must still put B under environment
    assert "      A: b\n      # B: c\n    read_only: true\n" in result.fixed
    uncommented = yaml.safe_load(result.fixed.replace("# B: c", "B: c"))
    assert uncommented["services"]["db"]["environment"] == {"A": "b", "B": "c"}


def test_comments_survive_removing_a_pod_setting_and_converting_an_emptydir():
    text = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: db\nspec:\n  template:\n    spec:\n"
            "      securityContext:\n        # only this\n        readOnlyRootFilesystem: true\n"
            "      containers:\n        - name: db\n          image: postgres:16\n"
            "          volumeMounts:\n            - {name: data, mountPath: /var/lib/postgresql}\n"
            "      volumes:\n        - name: data\n          # scratch for now\n          emptyDir:\n"
            "            # no limit\n            medium: \"\"\n          # keep\n")
    result = fix(text, "deploy.yaml")
    for comment in ("# only this", "# scratch for now", "# no limit", "# keep"):
        assert comment in result.fixed
    assert "persistentVolumeClaim" in result.fixed


# --- what Kubernetes would refuse ----------------------------------------------------------


def test_claim_templates_added_to_a_statefulset_come_with_the_warning():
    text = ("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: cache\nspec:\n  serviceName: cache\n"
            "  selector: {matchLabels: {app: cache}}\n  template:\n    metadata: {labels: {app: cache}}\n"
            "    spec:\n      containers:\n        - name: redis\n          image: redis:7.4\n")
    result = fix(text, "sts.yaml")
    assert yaml.safe_load(result.fixed)["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    [note] = [n for n in result.notes if "volumeClaimTemplates" in n]
    assert "cannot be changed once it exists" in note
    assert "kubectl delete statefulset cache --cascade=orphan" in note


def test_var_run_and_run_are_one_place():
    text = ("services:\n  db:\n    image: mysql:8.4\n    volumes:\n      - data:/var/lib/mysql\n"
            "      - sock:/var/run/mysqld\nvolumes: {data: {}, sock: {}}\n")
    result = fix(text, "compose.yaml")
    service = yaml.safe_load(result.fixed)["services"]["db"]
    targets = [v if isinstance(v, str) else v["target"] for v in service["volumes"]]
    assert not any(t.startswith("/run/mysqld") for t in targets), targets  # /var/run/mysqld serves it


# --- files taken for what they are ----------------------------------------------------------


def test_an_override_fragment_is_not_read_as_a_whole_service(tmp_path):
    """A service with no image and no build (`docker compose -f base.yaml -f override.yaml`) is
    part of one another file defines: not audited alone, never fixed, and a file of nothing else
    says how to read it."""
    override = "services:\n  web:\n    ports: ['8080:80']\n    environment: {DEBUG: '1'}\n"
    assert not fix(override, "compose.override.yaml").changed
    assert audit_text_findings(override, "compose.override.yaml") == []
    from rofs.audit import AuditOptions, audit

    path = tmp_path / "compose.override.yaml"
    path.write_text(override)
    [source] = audit([str(path)], REGISTRY, AuditOptions()).files
    assert source.skipped is not None and "docker compose -f BASE -f THIS config | rofs audit -" in source.skipped
    mixed = override + "  cache:\n    image: redis:7.4\n"
    result = fix(mixed, "compose.yaml")
    services = yaml.safe_load(result.fixed)["services"]
    assert services["web"] == {"ports": ["8080:80"], "environment": {"DEBUG": "1"}}
    assert services["cache"]["read_only"] is True


def test_a_long_list_with_an_alias_across_items_is_read_whole(tmp_path, monkeypatch):
    """`kubectl get -o yaml` Lists past the streaming size: an anchor in one item and its alias in
    another would be "undefined" in separate pieces, so such a file is read whole."""
    from rofs import intake
    from rofs.audit import AuditOptions, audit
    from rofs.fix import fix_paths

    item = ("- apiVersion: v1\n  kind: Pod\n  metadata: {{name: p{i}, labels: {labels}}}\n"
            "  spec:\n    containers:\n      - {{name: c, image: redis:7.4}}\n")
    text = "apiVersion: v1\nkind: List\nitems:\n" + "".join(
        item.format(i=i, labels="&l {app: x}" if i == 0 else "*l") for i in range(3))
    path = tmp_path / "list.yaml"
    path.write_text(text)
    monkeypatch.setattr(intake, "STREAM_BYTES", 100)
    result = audit([str(path)], REGISTRY, AuditOptions())
    assert result.errors == [] and result.summary()["objects"] == 3
    [fixed] = fix_paths([str(path)], REGISTRY, set(ALL_RULES))
    assert fixed.error is None and fixed.fixed.count("readOnlyRootFilesystem: true") == 3


def test_an_init_container_running_its_own_command_with_the_app_image_is_not_the_app():
    """The nginx profile describes nginx, not a `cp` step in an init container of the same image:
    such a container is one whose writes are unknown, left by default, and with --unknown-images
    read-only it gets the /tmp every other unknown container gets."""
    text = ("apiVersion: v1\nkind: Pod\nmetadata: {name: app}\nspec:\n  initContainers:\n"
            "    - name: prepare\n      image: nginx:1.27\n      command: [sh, -c, 'cp -r /etc/nginx/. /work/']\n"
            "      volumeMounts: [{name: work, mountPath: /work}]\n"
            "  containers:\n    - {name: web, image: nginx:1.27}\n  volumes:\n    - {name: work, emptyDir: {}}\n")
    [ro101] = [f for f in audit_text_findings(text, "pod.yaml") if f.rule == "RO101" and f.container == "prepare"]
    assert "runs a command of its own" in ro101.message and ro101.applicability == "suggestion"
    result = fix(text)
    doc = yaml.safe_load(result.fixed)
    assert doc["spec"]["initContainers"][0] == yaml.safe_load(text)["spec"]["initContainers"][0]
    assert {"name": "work", "emptyDir": {}} in doc["spec"]["volumes"]  # only prepare mounts it: no guessed size
    assert result.unprofiled == {"nginx:1.27 (own command)": 1}
    opted = yaml.safe_load(fix(text, unknown_images="read-only").fixed)["spec"]["initContainers"][0]
    assert opted["securityContext"] == {"readOnlyRootFilesystem": True}
    assert {"name": "tmp", "mountPath": "/tmp"} in opted["volumeMounts"]


def test_volumes_merged_from_an_anchor_are_copied_with_a_note():
    text = ("x-common: &common\n  volumes:\n    - ./conf:/usr/local/etc/redis:ro\n"
            "services:\n  a:\n    <<: *common\n    image: redis:7.4\n  b:\n    <<: *common\n    image: redis:7.4\n")
    result = fix(text, "compose.yaml")
    doc = yaml.safe_load(result.fixed)
    assert doc["x-common"] == {"volumes": ["./conf:/usr/local/etc/redis:ro"]}  # shared by both: untouched
    for name in ("a", "b"):  # each its own /data: one volume for two servers would be shared by them
        targets = [v if isinstance(v, str) else v["target"] for v in doc["services"][name]["volumes"]]
        assert targets == ["./conf:/usr/local/etc/redis:ro", "/data"]
    assert [n for n in result.notes if "came from a merge" in n] == [
        f"service {name}: its volumes came from a merge (<<); it has its own copy of them now, with the new mounts,"
        " since editing the merged ones would change every service that merges them (a later change to the"
        " merged list no longer reaches it)" for name in ("a", "b")]


def test_no_persistent_volume_is_nested_over_one_already_there():
    """RabbitMQ's mnesia directory already on a claim: a claim at /var/lib/rabbitmq would hold it
    inside another one (and a new 10Gi per replica); which holds the data is the author's call."""
    text = ("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: rabbitmq\nspec:\n  serviceName: rabbitmq\n"
            "  selector: {matchLabels: {app: rabbitmq}}\n  template:\n    metadata: {labels: {app: rabbitmq}}\n"
            "    spec:\n      containers:\n        - name: rabbitmq\n          image: rabbitmq:3.13-management\n"
            "          volumeMounts:\n            - {name: data, mountPath: /var/lib/rabbitmq/mnesia}\n"
            "  volumeClaimTemplates:\n    - metadata: {name: data}\n"
            "      spec: {storageClassName: local-storage, accessModes: [ReadWriteOnce], resources: {requests: {storage: 3Gi}}}\n")
    assert not fix(text, "sts.yaml").changed
    [ro101] = [f for f in audit_text_findings(text, "sts.yaml") if f.rule == "RO101"]
    assert ro101.applicability == "suggestion"
    assert "persistent volume 'data' is mounted beneath it at /var/lib/rabbitmq/mnesia" in ro101.fix


def test_a_rolling_deployment_given_a_claim_is_told_of_the_multi_attach_stall():
    """A ReadWriteOnce claim in a Deployment that rolls its pods: the new pod waits for the claim the
    old one holds (Multi-Attach on another node); the note says so and how to avoid it, and says
    nothing once the strategy is Recreate."""
    text = (Path(__file__).parent.parent / "examples" / "k8s" / "shop.yaml").read_text()
    notes = " ".join(fix_text(text, "shop.yaml", REGISTRY, set(ALL_RULES)).notes)
    assert "The claim is ReadWriteOnce and the Deployment rolls its pods (strategy RollingUpdate, the default)" in notes
    assert "set strategy: {type: Recreate}, or make it a StatefulSet" in notes
    recreate = text.replace("  name: shop-db\n  namespace: shop\nspec:\n", "  name: shop-db\n  namespace: shop\nspec:\n"
                            "  strategy: {type: Recreate}\n", 1)
    assert recreate != text
    assert "Multi-Attach" not in " ".join(fix_text(recreate, "shop.yaml", REGISTRY, set(ALL_RULES)).notes)
