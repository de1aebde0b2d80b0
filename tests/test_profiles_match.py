"""Images people run that are built on a profiled app's image get its profile, and say so; images
merely named after an app (exporters, admin UIs, operators, proxies) do not."""

from __future__ import annotations

import json
import subprocess

import pytest

from rofs.audit import AuditOptions, audit
from rofs.profiles import builtin_registry, match_report
from test_cli import ROFS

REGISTRY = builtin_registry()


@pytest.mark.parametrize("image, profile, layout, via", [
    ("postgis/postgis:16-3.4", "postgres", "official", "postgis/postgis"),
    ("timescale/timescaledb:latest-pg16", "postgres", "official", "timescale/timescaledb"),
    ("pgvector/pgvector:pg16", "postgres", "official", "pgvector/pgvector"),
    ("ghcr.io/immich-app/postgres:14-vectorchord0.4.3", "postgres", "official", "immich-app/postgres"),
    # a project's own image named postgres is taken as built on the official one, and says so
    ("team/postgres:1", "postgres", "official", "team/postgres"),
    ("bitnamilegacy/postgresql:16", "postgres", "bitnami", "bitnamilegacy/postgresql"),
    ("valkey/valkey:8.1", "redis", "official", "valkey/valkey"),
    ("bitnamilegacy/redis:7.4", "redis", "bitnami", "bitnamilegacy/redis"),
    ("eqalpha/keydb:x86_64_v6.3.4", "redis", "official", "eqalpha/keydb"),
])
def test_derived_images_get_the_layout_they_are_built_on(image, profile, layout, via):
    match = REGISTRY.match_image(image)
    assert match is not None and (match.profile.name, match.layout.id, match.via) == (profile, layout, via)
    assert match.derived is not None and match.derived.sources
    assert match.label == f"{match.profile.title} [{profile} via {via}]"


@pytest.mark.parametrize("image", [
    "oliver006/redis_exporter:v1.62.0", "prometheuscommunity/postgres-exporter:v0.15.0", "bitnami/postgres-exporter",
    "rediscommander/redis-commander:latest", "dpage/pgadmin4:8", "quay.io/opstree/redis-operator:v0.18.0",
    "ghcr.io/acme/postgres-operator:1.0", "edoburu/pgbouncer:1.22", "timescale/timescaledb-ha:pg16",
    "redis/redisinsight:2", "redis/redis-stack:7.2.0-v10", "percona/percona-xtradb-cluster:8.0",
    "percona/mongodb_exporter:0.40", "percona/percona-server-mysql-operator:0.8", "haproxytech/haproxy-ingress", "nginx/nginx-ingress:3.5", "nginx/nginx-prometheus-exporter",
])
def test_look_alikes_get_no_profile(image):
    report = match_report(REGISTRY, image)
    assert report["profile"] is None, report


@pytest.mark.parametrize("image, profile, layout, uid, paths", [
    # wire-compatible servers whose images lay their files out their own way get their own layout
    ("percona/percona-server:8.0", "mysql", "percona", 1001,
     ["/tmp", "/usr/local/percona/telemetry", "/var/lib/mysql", "/var/run/mysqld"]),
    ("percona:8.0", "mysql", "percona", 1001,
     ["/tmp", "/usr/local/percona/telemetry", "/var/lib/mysql", "/var/run/mysqld"]),
    ("redis/redis-stack-server:7.2.0-v10", "redis", "stack", 0, ["/data"]),
])
def test_compatible_servers_get_their_own_layout(image, profile, layout, uid, paths):
    match = REGISTRY.match_image(image)
    assert match is not None and (match.profile.name, match.layout.id) == (profile, layout)
    assert match.derived is None and match.layout.user.uid == uid
    assert sorted(p.path for p in match.profile.paths_for(layout)) == paths


def test_percona_says_its_own_uid(tmp_path):
    path = tmp_path / "pod.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: db}\n"
                    "spec:\n  containers:\n    - name: db\n      image: percona/percona-server:8.0\n")
    messages = [f.message for f in audit([str(path)], REGISTRY, AuditOptions(select={"RO104"})).findings]
    assert messages and all("UID 999" not in m for m in messages), messages
    assert any("UID 1001" in m for m in messages), messages


def test_official_images_say_their_layout():
    assert match_report(REGISTRY, "postgres:16") == {
        "image": "postgres:16", "profile": "postgres", "layout": "official", "pattern": "library/postgres",
        "why": "the official layout's image (library/postgres)"}


def test_findings_name_the_image_a_profile_came_through(tmp_path):
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  db:\n    image: postgis/postgis:16-3.4\n")
    [finding] = audit([str(path)], REGISTRY, AuditOptions(select={"RO101"})).findings
    assert "PostgreSQL [postgres via postgis/postgis] then needs writable /var/lib/postgresql" in finding.message


def test_the_command_says_why_and_exits_by_whether_all_matched():
    done = subprocess.run([ROFS, "profiles", "match", "valkey/valkey:8", "oliver006/redis_exporter"],
                          capture_output=True, text=True)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("valkey/valkey:8: redis (official); valkey/valkey: Valkey, the wire-compatible fork")
    assert lines[1].startswith("oliver006/redis_exporter: no profile; named like redis, but no layout of redis lists"
                               " this image: it may be another build of redis (its own user and paths) or a tool")
    done = subprocess.run([ROFS, "profiles", "match", "postgres:16", "--format", "json"], capture_output=True, text=True)
    assert done.returncode == 0 and json.loads(done.stdout)[0]["layout"] == "official"


def test_servers_that_must_start_as_root_are_not_made_non_root():
    """HAProxy's chroot and the PHP-FPM master start as root and step down themselves: the layout
    says "starts as" apart from "runs as", and generate sets no runAsNonRoot for them."""
    haproxy = REGISTRY.get("haproxy")
    debian = next(lay for lay in haproxy.layouts if lay.id == "debian")
    assert debian.starts_as is not None and debian.starts_as.root and debian.user.name == "haproxy"
    fpm = next(lay for lay in REGISTRY.get("php-fpm").layouts if lay.id == "debian")
    assert fpm.starts_as is not None and fpm.starts_as.root and fpm.user.name == "www-data"
    done = subprocess.run([ROFS, "generate", "haproxy", "--layout", "haproxytech", "--image",
                           "haproxytech/haproxy-debian:3.0", "--format", "k8s"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "runAsNonRoot:" not in done.stdout and "# Starts as root and runs as root" in done.stdout
    official = subprocess.run([ROFS, "generate", "haproxy", "--format", "k8s"], capture_output=True, text=True)
    assert "runAsNonRoot: true" in official.stdout and "runAsUser: 99" in official.stdout


def test_one_image_under_another_registrys_name_gets_its_layout():
    # docker-nginx-unprivileged's README: the same image on Docker Hub (nginxinc/) and Amazon ECR (nginx/)
    for image in ("nginxinc/nginx-unprivileged:1.27", "public.ecr.aws/nginx/nginx-unprivileged:stable"):
        match = REGISTRY.match_image(image)
        assert match is not None and (match.profile.name, match.layout.id) == ("nginx", "unprivileged"), image


@pytest.mark.parametrize("image, alike", [
    ("mysql/mysql-server:8.0", "mysql"), ("ghcr.io/cloudnative-pg/postgresql:16", "postgres"),
])
def test_a_real_server_no_layout_lists_is_not_called_a_tool(image, alike):
    """Oracle's MySQL image and CloudNativePG's operand are the servers, built their own way: no
    profile, and a reason that does not call them exporters."""
    report = match_report(REGISTRY, image)
    assert report["profile"] is None
    assert report["why"].startswith(f"named like {alike}, but no layout of {alike} lists this image: it may be"
                                    f" another build of {alike} (its own user and paths) or a tool around it")
    assert f"`rofs profiles show {alike}` lists the layouts" in report["why"]


def test_a_mirror_match_says_it_is_taken_as_one():
    """registry.k8s.io/redis is FROM alpine with apk's redis (kubernetes test/images/redis), not
    library/redis: a bare name on another registry is taken as a mirror, and the reason says so."""
    report = match_report(REGISTRY, "registry.k8s.io/redis:e2e")
    assert (report["profile"], report["layout"]) == ("redis", "official")
    assert "taken as a mirror of it on registry.k8s.io" in report["why"] and "--profile-file" in report["why"]
    assert "mirror" not in match_report(REGISTRY, "redis:7")["why"]
    assert "mirror" not in match_report(REGISTRY, "public.ecr.aws/docker/library/redis:7")["why"]
