"""`rofs policy`: the Gatekeeper Rego evaluated by a real Rego engine (regopy) on AdmissionReview
inputs from the corpus and from `rofs generate`; the Kyverno output checked for structure and its
JMESPath conditions evaluated."""

from __future__ import annotations

import json
from pathlib import Path

import jmespath
import pytest
import yaml
from regopy import Input, Interpreter

from conftest import CORPUS, CORPUS_REFUSED, require_path
from rofs import policy
from rofs.audit import AuditOptions, audit
from rofs.fix import fix_text
from rofs.generate import GenerateOptions, build_plan, render
from rofs.profiles import builtin_registry
from rofs.sources.kubernetes import POD_SPEC_PATHS
from test_cli import rofs

REGISTRY = builtin_registry()
EXAMPLES = Path(__file__).parent.parent / "examples"


def template_rego(template: dict) -> str:
    """The Rego of a ConstraintTemplate: the legacy `rego` field, or the Rego engine's `code` entry."""
    target = template["spec"]["targets"][0]
    return target["rego"] if "rego" in target else next(c["source"]["rego"] for c in target["code"] if c["engine"] == "Rego")


@pytest.fixture(scope="module", params=["v0", "v1"])
def gatekeeper(request):
    """Both forms: v0 (the `rego` field, every Gatekeeper 3.x) and v1 (the `code` field, >= 3.19)."""
    docs = policy.gatekeeper(list(REGISTRY), "enforce", request.param)
    templates = {d["metadata"]["name"]: template_rego(d) for d in docs if d["kind"] == "ConstraintTemplate"}
    constraints = {d["kind"]: d for d in docs if d["apiVersion"].startswith("constraints.")}
    return templates, constraints


SCHEMAS = Path(__file__).parent / "data" / "schemas" / "gatekeeper"


def crd_schema(name: str, version: str = "v1") -> dict:
    crd = yaml.safe_load((SCHEMAS / name).read_text())
    return next(v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v["name"] == version)


@pytest.mark.parametrize("rego_version", ["v0", "v1"])
def test_gatekeeper_documents_fit_its_crds(rego_version):
    """The ConstraintTemplates and Assign mutators against Gatekeeper's own CRD schemas (its
    repository, tests/data/schemas/gatekeeper); v0 Rego imports only what Gatekeeper admits
    (future.keywords: `import rego.v1` is refused in the `rego` field), v1 sits in `code`."""
    import jsonschema

    docs = policy.gatekeeper(list(REGISTRY), "audit", rego_version)
    template_schema = crd_schema("constrainttemplate-customresourcedefinition.yaml")
    assign_schema = crd_schema("assign-customresourcedefinition.yaml")
    templates = [d for d in docs if d["kind"] == "ConstraintTemplate"]
    assert len(templates) == 2
    for doc in templates:
        jsonschema.validate(doc, template_schema)
        (target,) = doc["spec"]["targets"]
        text = template_rego(doc)
        imports = [line.split()[1] for line in text.splitlines() if line.startswith("import ")]
        if rego_version == "v0":
            assert "code" not in target and imports == [f"future.keywords.{k}" for k in ("contains", "every", "if", "in")]
        else:
            assert "rego" not in target and imports == []
            assert target["code"] == [{"engine": "Rego", "source": {"version": "v1", "rego": text}}]
    assigns = [d for d in docs if d["kind"] == "Assign"]
    assert assigns
    for doc in assigns:
        jsonschema.validate(doc, assign_schema)


def test_every_generated_name_is_a_dns_label():
    """Object and volume names: DNS-1123 labels of at most 63 characters, for every profile (an
    Elasticsearch mutator was named with 65)."""
    import re

    label = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    names = []
    for docs in (policy.gatekeeper(list(REGISTRY), "audit"), policy.kyverno(list(REGISTRY), "audit")):
        for doc in docs:
            names.append(doc["metadata"]["name"])
            value = doc.get("spec", {}).get("parameters", {}).get("assign", {}).get("value", {})
            if "name" in value:
                names.append(value["name"])
    long = [n for n in names if len(n) > 63 or not label.match(n)]
    assert long == [] and len(names) > 40, long
    for docs in (policy.gatekeeper(list(REGISTRY), "audit"), policy.kyverno(list(REGISTRY), "audit")):
        objects = [(d["kind"], d["metadata"]["name"]) for d in docs]
        assert len(set(objects)) == len(objects), "no two objects of a kind share a name"


def violations(rego: str, package: str, obj: dict, parameters: dict | None = None) -> list[str]:
    interpreter = Interpreter()
    interpreter.add_module(package, rego)
    interpreter.set_input(Input({"review": {"object": obj}, "parameters": parameters or {}}))
    out = json.loads(str(interpreter.query(f"data.{package}.violation")))
    return sorted(v["msg"] for v in out["expressions"][0])


def test_gatekeeper_documents(gatekeeper):
    templates, constraints = gatekeeper
    assert set(templates) == {"k8srofsreadonlyroot", "k8srofswritablepaths"}
    for constraint in constraints.values():
        assert constraint["spec"]["enforcementAction"] == "deny"
    audit_mode = policy.gatekeeper(list(REGISTRY), "audit")
    assert {d["spec"]["enforcementAction"] for d in audit_mode if "enforcementAction" in d.get("spec", {})} == {"dryrun"}


def test_rego_read_only_rule_agrees_with_rofs_on_the_corpus(gatekeeper):
    """For every pod-bearing object of the corpus, the containers the Rego rejects are exactly
    the ones rofs' RO101 reports (init and ephemeral containers included)."""
    require_path(CORPUS, "the corpus")
    templates, _ = gatekeeper
    rego = templates["k8srofsreadonlyroot"]
    checked = failing = 0
    refused = {CORPUS / name for name, _, _ in CORPUS_REFUSED}  # rofs, kubectl and kustomize refuse to read them
    for path in sorted(CORPUS.rglob("*.yaml")):
        if path in refused:
            continue
        try:
            docs = [d for d in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue
        result = audit([str(path)], REGISTRY, AuditOptions(select={"RO101"}))
        expected = {}
        for f in result.findings:
            expected.setdefault(f.object.split("/")[-1], set()).add(f.container)
        for doc in docs:
            if doc.get("kind") not in POD_SPEC_PATHS:
                continue
            meta = doc.get("metadata") or {}
            name = meta.get("name") or meta.get("generateName")
            got = violations(rego, "k8srofsreadonlyroot", doc)
            names = {m.split(" ")[2].rstrip(":") for m in got}
            assert names == expected.get(name, set()), (path, name, got)
            checked += 1
            failing += bool(got)
    assert checked > 300 and failing > 200


def test_rego_profile_rules_on_unhardened_and_fixed(gatekeeper):
    templates, constraints = gatekeeper
    rego = templates["k8srofswritablepaths"]
    params = constraints["K8sRofsWritablePaths"]["spec"]["parameters"]
    text = (EXAMPLES / "k8s" / "shop.yaml").read_text()
    db = next(d for d in yaml.safe_load_all(text) if d["metadata"]["name"] == "shop-db")
    got = violations(rego, "k8srofswritablepaths", db, params)
    assert got == [
        ("RO201 container postgres (postgres/official profile): /var/run/postgresql must be writable"
         " (unix socket .s.PGSQL.5432 and its lock file (Debian also writes an external PID file here));"
         " mount a writable volume there (profile kind: ephemeral)"),
        "RO202 container postgres (postgres/official profile): /var/lib/postgresql holds data that must persist but volume data is an emptyDir",
        "RO203 volume data: emptyDir without sizeLimit",
    ], got
    # the read-only-root policy wants every container read-only: images without a profile too
    fixed = fix_text(text, "shop.yaml", REGISTRY, {"RO101", "RO102", "RO201", "RO202", "RO203", "RO204"},
                     unknown_images="read-only").fixed
    for doc in yaml.safe_load_all(fixed):
        if doc and doc["kind"] == "Deployment":
            assert violations(rego, "k8srofswritablepaths", doc, params) == [], doc["metadata"]["name"]
            assert violations(templates["k8srofsreadonlyroot"], "k8srofsreadonlyroot", doc) == []


@pytest.mark.parametrize("profile", [p for p in REGISTRY if any(l.image for l in p.layouts)], ids=lambda p: p.name)
def test_generated_manifests_pass_both_templates(profile, gatekeeper):
    templates, constraints = gatekeeper
    params = constraints["K8sRofsWritablePaths"]["spec"]["parameters"]
    for layout in [l for l in profile.layouts if l.image]:
        for kind in ("StatefulSet", "Deployment", "Pod"):
            docs = [d for d in yaml.safe_load_all(render(build_plan(profile, GenerateOptions(layout=layout.id, kind=kind)), "k8s")) if d]
            obj = docs[0]
            assert violations(templates["k8srofsreadonlyroot"], "k8srofsreadonlyroot", obj) == []
            assert violations(templates["k8srofswritablepaths"], "k8srofswritablepaths", obj, params) == [], (layout.id, kind)


@pytest.mark.parametrize("image, expected", [
    ("postgres:16-alpine", "postgres/official"),
    ("docker.io/library/postgres@sha256:" + "0" * 64, "postgres/official"),
    ("registry.example.com/team/bitnami/kafka:3.7", "kafka/bitnami"),
    ("confluentinc/cp-kafka:7.5-ubi8", "kafka/confluent"),
    ("registry.example.com/postgres:16", "postgres/official"),
    ("oliver006/redis_exporter:v1.62", None),
])
def test_rego_image_matching_agrees_with_rofs(image, expected, gatekeeper):
    templates, constraints = gatekeeper
    params = constraints["K8sRofsWritablePaths"]["spec"]["parameters"]
    interpreter = Interpreter()
    interpreter.add_module("k8srofswritablepaths", templates["k8srofswritablepaths"])
    interpreter.set_input(Input({"review": {"object": {}}, "parameters": params}))
    raw = str(interpreter.query(f'data.k8srofswritablepaths.profile_of({{"image": "{image}"}}).name'))
    got = json.loads(raw)["expressions"][0] if raw.startswith("{") else None  # "undefined": no profile
    assert got == expected
    match = REGISTRY.match_image(image)
    assert (f"{match.profile.name}/{match.layout.id}" if match else None) == expected


def test_kyverno_policies():
    docs = policy.kyverno([REGISTRY.get("postgres"), REGISTRY.get("nginx")], "enforce")
    assert [d["metadata"]["name"] for d in docs] == ["rofs-read-only-root", "rofs-writable-paths", "rofs-add-writable-paths"]
    for doc in docs:
        assert doc["apiVersion"] == "kyverno.io/v1" and doc["kind"] == "ClusterPolicy"
        for rule in doc["spec"]["rules"]:
            assert rule["match"]["any"][0]["resources"]["kinds"] == ["Pod"]
            assert ("validate" in rule) != ("mutate" in rule)
    ro = docs[0]["spec"]
    assert "validationFailureAction" not in ro and {r["validate"]["failureAction"] for r in ro["rules"]} == {"Enforce"}
    legacy = policy.kyverno([REGISTRY.get("postgres")], "audit", legacy=True)
    assert legacy[0]["spec"]["validationFailureAction"] == "Audit"
    assert not any("failureAction" in r.get("validate", {}) for d in legacy for r in d["spec"]["rules"])
    lists = [next(iter(r["validate"]["pattern"]["spec"])) for r in ro["rules"]]
    assert lists == ["containers", "=(initContainers)", "=(ephemeralContainers)"], "init and ephemeral containers too"
    # The JMESPath of the profile rule: 0 when the path has no mount, more when it has one.
    rule = next(r for r in docs[1]["spec"]["rules"] if r["name"] == "postgres-official-writable-paths")
    foreach = rule["validate"]["foreach"][0]
    assert "postgres:*" in foreach["preconditions"]["any"][0]["value"]
    condition = next(c for c in foreach["deny"]["conditions"]["any"] if "/var/run/postgresql" in c["message"])
    expression = jmespath.compile(condition["key"].strip("{} "))
    bare = {"element": {"name": "db", "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql"}]}}
    mounted = {"element": {"name": "db", "volumeMounts": [{"name": "run", "mountPath": "/var/run/postgresql"}]}}
    assert expression.search(bare) == 0 and expression.search(mounted) == 1
    mutate = docs[2]["spec"]["rules"][0]["mutate"]["foreach"][0]["patchStrategicMerge"]["spec"]
    assert {"name": "rofs-var-run-postgresql", "emptyDir": {"sizeLimit": "1Mi"}} in mutate["volumes"]


@pytest.mark.parametrize("legacy", [False, True])
def test_kyverno_policies_fit_its_crd_and_carry_its_annotations(legacy):
    """Against Kyverno's ClusterPolicy CRD schema (its repository, tests/data/schemas/kyverno), with
    the annotations its policy reports and library show."""
    import jsonschema

    crd = yaml.load((Path(__file__).parent / "data" / "schemas" / "kyverno" / "kyverno.io_clusterpolicies.yaml")
                    .read_text(), Loader=yaml.CSafeLoader)
    schema = next(v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v["name"] == "v1")
    docs = policy.kyverno(list(REGISTRY), "enforce", legacy=legacy)
    for doc in docs:
        jsonschema.validate(doc, schema)
        annotations = doc["metadata"]["annotations"]
        for key in ("title", "category", "severity", "subject", "minversion", "description"):
            assert annotations[f"policies.kyverno.io/{key}"], key
        assert annotations["policies.kyverno.io/minversion"] == ("1.10.0" if legacy else "1.13.0")
    bad = dict(docs[0], spec=dict(docs[0]["spec"], rules=[dict(docs[0]["spec"]["rules"][0], validate={
        **docs[0]["spec"]["rules"][0]["validate"], "failureAction": "Block"})]))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)  # the schema is really checked


def test_policy_cli():
    result = rofs("policy", "gatekeeper", "--profiles", "postgres,redis", "--mode", "enforce")
    assert result.returncode == 0
    docs = list(yaml.safe_load_all(result.stdout))
    kinds = [d["kind"] for d in docs]
    assert kinds[:3] == ["ConstraintTemplate", "ConstraintTemplate", "K8sRofsReadOnlyRoot"] and kinds[-1] == "K8sRofsWritablePaths"
    assigns = [d for d in docs if d["kind"] == "Assign"]
    assert {a["spec"]["location"] for a in assigns} == {
        "spec.volumes[name:rofs-var-run-postgresql]", "spec.containers[name:*].volumeMounts[name:rofs-var-run-postgresql]",
    }, "Redis' official image needs no emptyDir; PostgreSQL's socket dir is one"
    assert all(a["spec"]["match"]["labelSelector"]["matchLabels"]["rofs.dev/profile"] == "postgres" for a in assigns)
    names = [p["name"] for p in docs[-1]["spec"]["parameters"]["profiles"]]
    assert names and all(n.split("/")[0] in ("postgres", "redis") for n in names)
    assert "rego: |" in result.stdout, "Rego is written as a readable block"
    assert rofs("policy", "kyverno", "--profiles", "oracle").returncode == 2


@pytest.mark.parametrize("engine", ["kyverno", "gatekeeper"])
def test_the_policy_files_hold_no_yaml_aliases(engine):
    """A value used twice (the kinds a rule matches) is written out twice: `kinds: &id001` and
    `*id001` puzzle a reviewer, and not every tool that reads policies takes aliases."""
    result = rofs("policy", engine)
    assert result.returncode == 0
    events = list(yaml.parse(result.stdout))
    assert not any(isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None) for e in events)
    assert len(list(yaml.safe_load_all(result.stdout))) > 2
