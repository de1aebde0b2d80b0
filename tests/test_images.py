import pytest

from rofs.images import ImageRefError, parse_image
from rofs.profiles import builtin_registry


@pytest.mark.parametrize(
    "reference, registry, path, tag, digest",
    [
        ("nginx:1.27-alpine", "docker.io", "library/nginx", "1.27-alpine", None),
        ("docker.io/library/postgres@sha256:" + "ab" * 32, "docker.io", "library/postgres", None, "sha256:" + "ab" * 32),
        ("registry.example.com/team/bitnami/kafka:3.7", "registry.example.com", "team/bitnami/kafka", "3.7", None),
        ("localhost:5000/app", "localhost:5000", "app", None, None),
        ("confluentinc/cp-kafka:7.5-ubi8", "docker.io", "confluentinc/cp-kafka", "7.5-ubi8", None),
        ("quay.io/prometheus/prometheus:v2.53.0", "quay.io", "prometheus/prometheus", "v2.53.0", None),
        ("index.docker.io/redis", "docker.io", "library/redis", None, None),
    ],
)
def test_parse_image(reference, registry, path, tag, digest):
    ref = parse_image(reference)
    assert (ref.registry, ref.path, ref.tag, ref.digest) == (registry, path, tag, digest)


@pytest.mark.parametrize("bad", ["", "UPPER/Case", "nginx:bad tag", "x@sha256:zz", "${IMAGE}", "{{ .Values.image }}"])
def test_bad_references(bad):
    with pytest.raises(ImageRefError):
        parse_image(bad)


# The five references the issue names, plus the forks and mirrors users run.
@pytest.mark.parametrize(
    "image, app, layout",
    [
        ("nginx:1.27-alpine", "nginx", "official"),
        ("docker.io/library/postgres@sha256:" + "0" * 64, "postgres", "official"),
        ("registry.example.com/team/bitnami/kafka:3.7", "kafka", "bitnami"),
        ("confluentinc/cp-kafka:7.5-ubi8", "kafka", "confluent"),
        ("eclipse-temurin:17-jre-alpine", "java", None),
        ("postgres:16-alpine", "postgres", "official"),
        ("bitnami/postgresql:16", "postgres", "bitnami"),
        ("registry.example.com/postgres:16", "postgres", "official"),  # mirror without library/
        ("mirror.gcr.io/library/redis:7", "redis", "official"),
        ("nginxinc/nginx-unprivileged:1.27", "nginx", "unprivileged"),
        ("apache/kafka:3.7.0", "kafka", "apache"),
        ("python:3.11-slim", "python", None),
        ("node:20-alpine", "node", None),
    ],
)
def test_images_resolve_to_their_profile(image, app, layout):
    match = builtin_registry().match_image(image)
    assert match is not None, image
    assert match.profile.name == app
    if layout:
        assert match.layout.id == layout


@pytest.mark.parametrize(
    "image",
    [
        "oliver006/redis_exporter:v1.62",  # not redis
        "prometheuscommunity/postgres-exporter",  # not postgres
        "busybox",
        "ghcr.io/acme/redisinsight",
        "my-nginx-app:1.0",
        "gcr.io/google-samples/hello-app:1.0",
        "${REGISTRY}/app",
    ],
)
def test_unknown_images_resolve_to_none(image):
    assert builtin_registry().match_image(image) is None
