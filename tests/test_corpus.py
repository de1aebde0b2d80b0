"""The whole shared corpus: read with no crash, no error, no file silently dropped.

The counts are those of shared/corpus/STATS.md: files per type, Kubernetes objects,
containers per list and their readOnlyRootFilesystem values, Compose services.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from conftest import CORPUS, CORPUS_REFUSED, require_path
from rofs.audit import AuditOptions, audit
from rofs.model import ContainerRole, SourceFormat
from rofs.profiles import builtin_registry


@pytest.fixture(scope="module")
def result():
    require_path(CORPUS, "the shared corpus")
    return audit([str(CORPUS)], builtin_registry(), AuditOptions(keep_workloads=True))


def by_format(result, fmt):
    return [f for f in result.files if f.format is fmt and not f.skipped]


def test_no_errors_and_nothing_dropped(result):
    assert [(e.path, e.line, e.message) for e in result.errors] == [
        (str(CORPUS / name), line, message) for name, line, message in CORPUS_REFUSED]
    skipped = [f.path for f in result.files if f.skipped]
    assert skipped == [], "every YAML/JSON file of the corpus is Kubernetes or Compose"


def test_file_counts_match_stats(result):
    assert len(by_format(result, SourceFormat.KUBERNETES)) == 1099
    assert len(by_format(result, SourceFormat.COMPOSE)) == 56
    assert len(by_format(result, SourceFormat.DOCKERFILE)) == 112


def test_kubernetes_objects_and_containers_match_stats(result):
    k8s = by_format(result, SourceFormat.KUBERNETES)
    assert sum(f.objects for f in k8s) == 2004
    roles = Counter()
    values = Counter()
    for f in k8s:
        for w in f.workloads:
            for c in w.containers:
                roles[c.role] += 1
                values[(c.role, c.security.read_only_root_fs)] += 1
    # 667 containers in the corpus; the 3 of CORPUS_REFUSED (a key written twice) are not read
    assert roles == {ContainerRole.MAIN: 664, ContainerRole.INIT: 25}
    assert values == {
        (ContainerRole.MAIN, True): 73, (ContainerRole.MAIN, False): 1, (ContainerRole.MAIN, None): 590,
        (ContainerRole.INIT, True): 6, (ContainerRole.INIT, None): 19,
    }


def test_compose_services_match_stats(result):
    compose = by_format(result, SourceFormat.COMPOSE)
    services = [w for f in compose for w in f.workloads]
    # 152 services in the files; the 6 override fragments (no image, no build) are read with the
    # base beside them (compose.yaml of the OpenTelemetry demo), as docker compose -f reads them
    assert len(services) == 152
    assert sum(f.skipped_kinds["service fragment"] for f in compose) == 0
    fragments = sorted((f.path.split("corpus/")[1], w.name) for f in compose for w in f.workloads
                       if any(loc.path != f.path for c in w.containers for _, loc in c.field_locations))
    otel = "open-telemetry__opentelemetry-demo/"
    assert fragments == [(otel + "compose.agent.yaml", "frontend-proxy"), (otel + "compose.full.yaml", "checkout"), (otel + "compose.full.yaml", "otel-collector"),
                         (otel + "compose.observability.yaml", "cart"),
                         (otel + "compose.observability.yaml", "frontend-proxy"),
                         (otel + "compose.observability.yaml", "otel-collector")]
    read_only = sorted(
        (f.path.split("corpus/")[1], w.name) for f in compose for w in f.workloads
        if w.containers[0].security.read_only_root_fs is True
    )
    assert read_only == [
        ("open-telemetry__opentelemetry-demo/compose.full.yaml", "checkout"),  # laid over compose.yaml's
        ("open-telemetry__opentelemetry-demo/compose.yaml", "checkout"),
        ("open-telemetry__opentelemetry-demo/compose.yaml", "product-catalog"),
        ("open-telemetry__opentelemetry-demo/compose.yaml", "shipping"),
    ]


def test_the_yaml_1_2_file_is_read(result):
    name = "prometheus-operator__kube-prometheus/manifests/setup/0alertmanagerConfigCustomResourceDefinition.yaml"
    (f,) = [f for f in result.files if f.path.endswith(name)]
    assert f.objects == 1 and not f.errors


def test_the_only_explicit_false_is_found(result):
    findings = [
        f for f in result.active
        if f.rule == "RO101" and "set to false" in f.message
        and f.location.path.startswith(str(CORPUS / "kubernetes__ingress-nginx"))
    ]
    assert [(f.object, f.container) for f in findings] == [("ingress-nginx/ingress-nginx-controller", "controller")]
    line = Path(findings[0].location.path).read_text().splitlines()[findings[0].location.line - 1]
    assert "readOnlyRootFilesystem: false" in line, "the finding points at the setting itself"


def test_hardened_sources_have_no_ro101(result):
    for repo in ("GoogleCloudPlatform__microservices-demo/kubernetes-manifests", "argoproj__argo-cd"):
        hits = [f for f in result.active if f.rule == "RO101" and f"/{repo}/" in f.location.path + "/"]
        assert hits == [], repo
