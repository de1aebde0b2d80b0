"""``rofs policy``: the same checks for the cluster's own policy engine (Gatekeeper, Kyverno).

Across a fleet, enforcement belongs to the admission controller a cluster already runs.  rofs
writes policies for it: every container (init and ephemeral ones too) read-only at container
level; for images that match a profile, the profile's paths mounted writable, data off emptyDir,
emptyDirs bounded; and (Kyverno) mutations that add a profile's emptyDir mounts.
"""

from __future__ import annotations

from importlib import resources

from rofs.generate.plan import volume_name_for
from rofs.model import Profile, VolumeKind
from rofs.units import format_quantity

LISTS = ("containers", "initContainers", "ephemeralContainers")
POD_KINDS = ["Pod"]
WORKLOAD_KINDS = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "ReplicationController"]


# Rego v1's keywords, imported one by one: Gatekeeper parses the legacy `rego:` field as Rego v0
# and admits only data.lib.* and future.* imports, so `import rego.v1` is refused there
# (open-policy-agent/gatekeeper#3907); these imports make v0 read the same text.
FUTURE_KEYWORDS = ("contains", "every", "if", "in")
REGO_VERSIONS = ("v0", "v1")


def rego(name: str, version: str = "v1") -> str:
    """A policy's Rego: as written (v1, for a Rego v1 engine or Gatekeeper's `code` field, which
    needs no `import rego.v1`), or as v0 with the future keywords (Gatekeeper's `rego` field)."""
    text = resources.files("rofs.policy").joinpath(f"{name}.rego").read_text("utf-8")
    if version == "v0":
        return text.replace("import rego.v1\n", "".join(f"import future.keywords.{k}\n" for k in FUTURE_KEYWORDS))
    return text.replace("import rego.v1\n\n", "").replace("import rego.v1\n", "")


def dns_name(*parts: str) -> str:
    """A Kubernetes object name (DNS-1123 subdomain label rules, at most 63 characters) from
    *parts*: joined with '-', and when longer, cut and ended with a hash of the whole, so two long
    names stay apart."""
    import hashlib
    import re

    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:54].rstrip('-')}-{digest}"


def profile_parameters(profiles: list[Profile]) -> list[dict]:
    """What the policies need of each profile: image patterns and required paths, per layout."""
    out = []
    for profile in profiles:
        for layout in profile.layouts:
            if not layout.images:
                continue
            paths = [
                {"path": p.path, "kind": p.kind.value, "purpose": p.purpose,
                 **({"sizeLimit": format_quantity(p.size)} if p.size else {}),
                 **({"accepts": list(p.accepts)} if p.accepts else {})}
                for p in profile.paths_for(layout.id) if p.required
            ]
            if paths:
                out.append({"name": f"{profile.name}/{layout.id}", "images": list(layout.images), "paths": paths})
    return out


# --- Gatekeeper ---------------------------------------------------------------------------


def gatekeeper(profiles: list[Profile], mode: str, rego_version: str = "v0") -> list[dict]:
    """ConstraintTemplates, constraints and Assign mutators.  *rego_version* v0: the Rego in the
    `rego` field every Gatekeeper 3.x reads; v1: in the `code` field as Rego v1 (Gatekeeper >= 3.19)."""
    action = "deny" if mode == "enforce" else "dryrun"
    kinds = [{"apiGroups": [""], "kinds": POD_KINDS},
             {"apiGroups": ["apps", "batch", ""], "kinds": WORKLOAD_KINDS}]
    templates = [
        ("K8sRofsReadOnlyRoot", "k8srofsreadonlyroot", "readonly_root", None),
        ("K8sRofsWritablePaths", "k8srofswritablepaths", "writable_paths", {
            "type": "object",
            "properties": {"profiles": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
        }),
    ]
    docs: list[dict] = []
    for kind, package, source, schema in templates:
        crd_spec: dict = {"names": {"kind": kind}}
        if schema:
            crd_spec["validation"] = {"openAPIV3Schema": schema}
        docs.append({
            "apiVersion": "templates.gatekeeper.sh/v1",
            "kind": "ConstraintTemplate",
            "metadata": {"name": package, "annotations": {"rofs.dev/generated-by": "rofs policy gatekeeper"}},
            "spec": {"crd": {"spec": crd_spec}, "targets": [_target(source, rego_version)]},
        })
    docs.append({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "K8sRofsReadOnlyRoot",
        "metadata": {"name": "rofs-read-only-root"},
        "spec": {"enforcementAction": action, "match": {"kinds": kinds}},
    })
    docs += gatekeeper_mutations(profiles)
    docs.append({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "K8sRofsWritablePaths",
        "metadata": {"name": "rofs-writable-paths"},
        "spec": {"enforcementAction": action, "match": {"kinds": kinds},
                 "parameters": {"profiles": profile_parameters(profiles)}},
    })
    return docs


def _target(source: str, rego_version: str) -> dict:
    target = "admission.k8s.gatekeeper.sh"
    if rego_version == "v1":
        return {"target": target, "code": [{"engine": "Rego", "source": {"version": "v1", "rego": rego(source, "v1")}}]}
    return {"target": target, "rego": rego(source, "v0")}


PROFILE_LABEL = "rofs.dev/profile"


def gatekeeper_mutations(profiles: list[Profile]) -> list[dict]:
    """Assign mutations adding a profile's emptyDir mounts.

    Gatekeeper's mutators cannot select containers by image, so these apply to pods labelled
    ``rofs.dev/profile: <app>`` (every container of such a pod gets the mounts).
    """
    docs = []
    labelled: dict[str, str] = {}  # one layout per app can carry the label: the first (the official image's)
    for params in profile_parameters(profiles):
        app, layout = params["name"].split("/")
        if labelled.setdefault(app, layout) != layout:
            continue
        for p in params["paths"]:
            if p["kind"] == VolumeKind.PERSISTENT.value or p["path"] == "/dev/shm":
                continue
            vname = dns_name("rofs", volume_name_for(p["path"]))
            common = {
                "applyTo": [{"groups": [""], "kinds": ["Pod"], "versions": ["v1"]}],
                "match": {"scope": "Namespaced", "kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
                          "labelSelector": {"matchLabels": {PROFILE_LABEL: app}}},
            }
            empty = {**({"medium": "Memory"} if p["kind"] == "memory" else {}), "sizeLimit": p.get("sizeLimit", "256Mi")}
            base = ("rofs", params["name"].replace("/", "-"), volume_name_for(p["path"]))
            docs.append({
                "apiVersion": "mutations.gatekeeper.sh/v1", "kind": "Assign",
                "metadata": {"name": dns_name(*base, "volume")},
                "spec": {**common, "location": f"spec.volumes[name:{vname}]",
                         "parameters": {"assign": {"value": {"name": vname, "emptyDir": empty}}}},
            })
            docs.append({
                "apiVersion": "mutations.gatekeeper.sh/v1", "kind": "Assign",
                "metadata": {"name": dns_name(*base, "mount")},
                "spec": {**common, "location": f"spec.containers[name:*].volumeMounts[name:{vname}]",
                         "parameters": {"assign": {"value": {"name": vname, "mountPath": p["path"]}}}},
            })
    return docs


# --- Kyverno ------------------------------------------------------------------------------


def _image_globs(patterns: list[str]) -> list[str]:
    """Kyverno wildcard forms of a rofs image pattern: with or without a registry, any tag."""
    out = []
    for pattern in patterns:
        repo = pattern.removeprefix("library/") if pattern.startswith("library/") else pattern
        for base in {pattern, repo}:
            out += [f"{base}:*", f"{base}@*", f"*/{base}:*", f"*/{base}@*", base, f"*/{base}"]
    return sorted(set(out))


def _match_pods() -> dict:
    """A rule's `match:` for pods (a new mapping each time: a shared one would be dumped as a YAML alias)."""
    return {"any": [{"resources": {"kinds": POD_KINDS}}]}


# What Kyverno's policy reports and its policy library show for a policy (its annotations)
KYVERNO_MINVERSION = "1.13.0"  # validate.failureAction per rule came in 1.13 (spec.validationFailureAction is deprecated)


def _kyverno_meta(name: str, title: str, severity: str, description: str, legacy: bool) -> dict:
    return {"name": name, "annotations": {
        "policies.kyverno.io/title": title,
        "policies.kyverno.io/category": "Pod Security, rofs",
        "policies.kyverno.io/severity": severity,
        "policies.kyverno.io/subject": "Pod",
        "policies.kyverno.io/minversion": "1.10.0" if legacy else KYVERNO_MINVERSION,
        "policies.kyverno.io/description": description,
        "rofs.dev/generated-by": "rofs policy kyverno",
    }}


def _kyverno_spec(rules: list[dict], action: str, legacy: bool) -> dict:
    """A ClusterPolicy's spec: the failure action per validate rule (Kyverno >= 1.13), or for the whole
    policy (*legacy*: older Kyverno, where the spec-level field is the only one)."""
    if legacy:
        return {"validationFailureAction": action, "background": True, "rules": rules}
    for rule in rules:
        if "validate" in rule:
            rule["validate"] = {"failureAction": action, **rule["validate"]}
    return {"background": True, "rules": rules}


def kyverno(profiles: list[Profile], mode: str, legacy: bool = False) -> list[dict]:
    """ClusterPolicies: read-only roots everywhere; the profiles' writable paths; mutations adding
    emptyDirs.  *legacy*: the failure action at spec level, for Kyverno before 1.13."""
    action = "Enforce" if mode == "enforce" else "Audit"
    rules: list[dict] = []
    mutate: list[dict] = []
    for params in profile_parameters(profiles):
        safe = params["name"].replace("/", "-")
        globs = _image_globs(params["images"])
        validate = _kyverno_writable_paths_rule(params, safe, globs)
        if validate is not None:
            rules.append(validate)
        ephemeral = [p for p in params["paths"] if p["kind"] != VolumeKind.PERSISTENT.value and p["path"] != "/dev/shm"]
        if ephemeral:
            mutate.append(_kyverno_emptydir_mutation(safe, globs, ephemeral))
    rules.append({
        "name": "bounded-emptydirs",
        "match": _match_pods(),
        "validate": {
            "message": "RO203: every emptyDir needs a sizeLimit",
            "pattern": {"spec": {"=(volumes)": [{"=(emptyDir)": {"sizeLimit": "?*"}}]}},
        },
    })
    paths_policy = {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": _kyverno_meta(
            "rofs-writable-paths", "Writable paths from rofs profiles", "high",
            "A container whose image matches a rofs profile has a writable volume at each path the app must write"
            " (rofs rule RO201), and every emptyDir is bounded (RO203).", legacy),
        "spec": _kyverno_spec(rules, action, legacy),
    }
    docs = [_kyverno_read_only_policy(action, legacy), paths_policy]
    if mutate:
        docs.append({
            "apiVersion": "kyverno.io/v1",
            "kind": "ClusterPolicy",
            "metadata": _kyverno_meta(
                "rofs-add-writable-paths", "Add the emptyDir mounts rofs profiles need", "medium",
                "Adds the bounded emptyDir mounts a rofs profile lists to the containers running its images.", legacy),
            "spec": {"rules": mutate},
        })
    return docs


def _kyverno_read_only_policy(action: str, legacy: bool = False) -> dict:
    """RO101 for every container list of a pod."""
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": _kyverno_meta(
            "rofs-read-only-root", "Read-only root filesystem on every container", "high",
            "Every container, initContainer and ephemeralContainer sets readOnlyRootFilesystem: true in its own"
            " securityContext (rofs rule RO101; CIS Docker 5.13, NIST SP 800-190).", legacy),
        "spec": _kyverno_spec([{
                "name": f"read-only-{lst.lower()}",
                "match": _match_pods(),
                "validate": {
                    "message": f"RO101: every entry of {lst} must set securityContext.readOnlyRootFilesystem: true",
                    "pattern": {"spec": {
                        (lst if lst == "containers" else f"=({lst})"): [{"securityContext": {"readOnlyRootFilesystem": True}}]
                    }},
                },
            } for lst in LISTS], action, legacy),
    }


def _kyverno_writable_paths_rule(params: dict, safe: str, globs: list[str]) -> dict | None:
    """RO201 for the containers running one profile layout's images; None when it needs no path but /dev/shm."""
    conditions = []
    for p in params["paths"]:
        if p["path"] == "/dev/shm":
            continue
        conditions.append({
            "key": f"{{{{ length(element.volumeMounts[?starts_with('{p['path']}/', join('', [mountPath, '/']))] || `[]`) }}}}",
            "operator": "Equals",
            "value": 0,
            "message": f"{p['path']} must be writable ({p['purpose']})",
        })
    if not conditions:
        return None
    return {
        "name": f"{safe}-writable-paths",
        "match": _match_pods(),
        "validate": {
            "message": f"RO201: a container running {params['name']} needs writable mounts at "
                       + ", ".join(p["path"] for p in params["paths"] if p["path"] != "/dev/shm"),
            "foreach": [{
                "list": "request.object.spec.containers",
                "preconditions": {"any": [{"key": "{{ element.image }}", "operator": "AnyIn", "value": globs}]},
                "deny": {"conditions": {"any": conditions}},
            }],
        },
    }


def _kyverno_emptydir_mutation(safe: str, globs: list[str], ephemeral: list[dict]) -> dict:
    """A mutation adding the layout's ephemeral paths as bounded emptyDirs to the containers running its images."""
    return {
        "name": f"{safe}-add-emptydirs",
        "match": _match_pods(),
        "mutate": {
            "foreach": [{
                "list": "request.object.spec.containers",
                "preconditions": {"any": [{"key": "{{ element.image }}", "operator": "AnyIn", "value": globs}]},
                "patchStrategicMerge": {"spec": {
                    "containers": [{"(name)": "{{ element.name }}", "volumeMounts": [
                        {"name": dns_name("rofs", volume_name_for(p["path"])), "mountPath": p["path"]} for p in ephemeral
                    ]}],
                    "volumes": [
                        {"name": dns_name("rofs", volume_name_for(p["path"])),
                         "emptyDir": {**({"medium": "Memory"} if p["kind"] == "memory" else {}),
                                      "sizeLimit": p.get("sizeLimit", "256Mi")}}
                        for p in ephemeral
                    ],
                }},
            }],
        },
    }
