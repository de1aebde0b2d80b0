"""`rofs fix` on files from public repositories nobody here wrote (tests/realworld, sources in
SOURCES.md): for every file, what a reviewer would check before merging the diff.

Each file is fixed alone, with the defaults.  The checks: the fix succeeds (exit 0 or 1); a
second fix changes nothing; the result parses and validates as well as the original did
(kubernetes-validate strict, the Compose spec); no comment line is lost; no noexec, nosuid,
nodev or ${...} is lost; persistent storage is added only where the audit asked for it; no
persistent volume is nested in another; containers whose image has no profile, and Compose
override fragments (a service with no image or build), are left exactly as they were.  Ten
files are also compared with reviewed expected outputs (tests/realworld/expected).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import SCHEMAS
from rofs.fix import ALL_RULES, fix_paths, fix_text
from rofs.model import VolumeKind, path_covers
from rofs.profiles import builtin_registry
from rofs.remedy import AddMount, MakePersistent

ROOT = Path(__file__).parent / "realworld"
EXPECTED = ROOT / "expected"
FILES = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.suffix in (".yml", ".yaml")
               and EXPECTED not in p.parents)
REGISTRY = builtin_registry()
K8S = kubernetes_validate.latest_version()
COMPOSE = jsonschema.Draft7Validator(json.loads((SCHEMAS / "compose-spec.json").read_text()))
KEPT_WORDS = ("noexec", "nosuid", "nodev", "${")
REVIEWED = [
    "compose/dockersamples__example-voting-app__docker-compose.yml",
    "compose/getredash__redash__compose.yaml",
    "compose/langfuse__langfuse__docker-compose.yml",
    "compose/mattermost__docker/docker-compose.yml",
    "compose/Kong__docker-kong__compose__docker-compose.yml",
    "compose/frappe__frappe_docker/overrides/compose.redis.yaml",
    "compose/mailcow__mailcow-dockerized/docker-compose.yml",
    "kubernetes/Azure-Samples__aks-store-demo__aks-store-all-in-one.yaml",
    "kubernetes/keycloak__keycloak-quickstarts__kubernetes__keycloak.yaml",
    "kubernetes/n8n-io__n8n-hosting__kubernetes__postgres-deployment.yaml",
    "kubernetes/Yolean__kubernetes-kafka__kafka__50kafka.yml",
]


def test_the_set_is_large_and_every_file_has_its_source():
    sources = (ROOT / "SOURCES.md").read_text()
    rows = [line.split("|") for line in sources.splitlines() if line.startswith("| ") and "/" in line]
    listed = {row[1].strip().strip("`") for row in rows}
    assert set(FILES) <= listed, sorted(set(FILES) - listed)
    repos = {row[2].strip() for row in rows}
    assert len(FILES) >= 40 and len(repos) >= 25
    assert all(re.fullmatch(r"`?[0-9a-f]{40}`?", row[3].strip()) for row in rows)


@pytest.fixture(scope="module")
def fixes():
    out = {}
    for name in FILES:
        [result] = fix_paths([str(ROOT / name)], REGISTRY, set(ALL_RULES), show_diff=True)
        out[name] = result
    return out


def _docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def _comments(text: str) -> Counter:
    return Counter(line.strip() for line in text.splitlines() if line.strip().startswith("#"))


@pytest.mark.parametrize("name", FILES)
def test_fix_is_one_a_reviewer_would_take(fixes, name):
    result = fixes[name]
    assert result.error is None, result.error
    before, after = result.original, result.fixed
    again = fix_text(after, name, REGISTRY, set(ALL_RULES))
    assert again.error is None and again.fixed == after, "a second fix changes nothing"
    assert _comments(after) == _comments(before), "no comment line lost"
    for word in KEPT_WORDS:
        assert after.count(word) >= before.count(word), f"{word} lost"
    old, new = _docs(before), _docs(after)
    if result.format.value == "compose":
        assert len(list(COMPOSE.iter_errors(new[0]))) <= len(list(COMPOSE.iter_errors(old[0])))
        _compose_checks(old[0], new[0], result)
    else:
        _kubernetes_checks(old, new, result)


def _persistent_remedies(result) -> list[str]:
    """Paths the fix was asked to give storage that outlives the container: persistent data, and
    (Compose) files of the image a named volume is filled with."""
    return [r.path for f in result.applied for r in f.remedies
            if isinstance(r, MakePersistent) or (isinstance(r, AddMount) and (r.kind is VolumeKind.PERSISTENT
                                                                              or r.populated))]


def _compose_checks(old: dict, new: dict, result) -> None:
    added = set(new.get("volumes") or {}) - set(old.get("volumes") or {})
    assert len(added) <= len(_persistent_remedies(result)), f"named volumes nobody asked for: {added}, {_persistent_remedies(result)}"
    for name, service in (old.get("services") or {}).items():
        service = service or {}
        fixed = (new.get("services") or {}).get(name) or {}
        if "image" not in service and "build" not in service:
            assert fixed == service, f"override fragment {name} changed"
        elif service.get("image") and REGISTRY.match_image(str(service["image"])) is None:
            assert fixed == service, f"service {name} ({service['image']}, no profile) changed"
        elif "image" not in service:
            assert fixed == service, f"service {name} (built from source, no profile) changed"
        named = [v for v in fixed.get("volumes") or [] if _named(v)]
        targets = [_target(v) for v in named]
        for a in targets:
            for b in targets:
                assert a == b or not path_covers(a, b), f"service {name}: persistent {b} nested in {a}"


def _named(item) -> bool:
    if isinstance(item, dict):
        return item.get("type") == "volume"
    source = str(item).split(":")[0]
    return ":" in str(item) and not source.startswith((".", "/", "~", "$"))


def _target(item) -> str:
    return item["target"] if isinstance(item, dict) else str(item).split(":")[1]


def _pod_specs(doc: dict):
    spec = doc.get("spec") or {}
    if doc.get("kind") == "Pod":
        yield doc.get("metadata", {}).get("name"), spec, spec
    template = (spec.get("jobTemplate") or {}).get("spec", spec).get("template") or {}
    if template.get("spec"):
        yield doc.get("metadata", {}).get("name"), template["spec"], spec


def _kubernetes_checks(old: list[dict], new: list[dict], result) -> None:
    key = lambda d: (d.get("kind"), (d.get("metadata") or {}).get("namespace"), (d.get("metadata") or {}).get("name"))
    before = {key(d): d for d in old}
    claims = [d for d in new if d.get("kind") == "PersistentVolumeClaim" and key(d) not in before]
    templates = sum(len(spec.get("volumeClaimTemplates") or []) for d in new for _, _, spec in _pod_specs(d)) - sum(
        len(spec.get("volumeClaimTemplates") or []) for d in old for _, _, spec in _pod_specs(d))
    asked = _persistent_remedies(result)
    assert len(claims) + templates <= len(asked), f"claims nobody asked for: {[key(c) for c in claims]}, {asked}"
    for doc in new:
        k = key(doc)
        if k not in before:
            continue
        try:
            kubernetes_validate.validate(before[k], K8S, strict=True)
        except Exception:  # noqa: BLE001, S112 - invalid (or a CRD with no schema) before: not ours to judge
            continue
        kubernetes_validate.validate(doc, K8S, strict=True)
        old_pods = {n: s for n, s, _ in _pod_specs(before[k])}
        for name, spec, outer in _pod_specs(doc):
            old_spec = old_pods.get(name) or {}
            old_containers = {c.get("name"): c for c in (old_spec.get("containers") or []) + (old_spec.get("initContainers") or [])}
            for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                was = old_containers.get(c.get("name"))
                if was and REGISTRY.match_image(str(was.get("image"))) is None:
                    assert c == was, f"{k} [{c.get('name')}]: {was.get('image')} has no profile, yet changed"
            persistent = {v["name"] for v in spec.get("volumes") or [] if "persistentVolumeClaim" in v}
            persistent |= {t["metadata"]["name"] for t in outer.get("volumeClaimTemplates") or []}
            for c in spec.get("containers") or []:
                paths = [m["mountPath"] for m in c.get("volumeMounts") or [] if m.get("name") in persistent]
                for a in paths:
                    for b in paths:
                        assert a == b or not path_covers(a, b), f"{k}: persistent {b} nested in {a}"


@pytest.mark.parametrize("name", REVIEWED)
def test_reviewed_files_are_fixed_as_expected(fixes, name):
    """The diffs of these files were read line by line; a change to any of them is a change of
    behaviour to review again (write the new expected file only after reading the diff)."""
    expected = EXPECTED / name
    assert fixes[name].fixed == expected.read_text(), f"diff {ROOT / name} {expected}"


def test_the_set_in_figures(fixes):
    changed = [n for n, r in fixes.items() if r.changed]
    applied = sum(len(r.applied) for r in fixes.values())
    unprofiled = sum(sum(r.unprofiled.values()) for r in fixes.values())
    print(f"realworld: {len(FILES)} files, {len(changed)} changed, {applied} findings fixed, "
          f"{unprofiled} containers left for want of a profile")
    assert changed and applied
