"""Profiles load, validate, and reject broken files with file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rofs.model import VolumeKind
from rofs.profiles import ProfileError, builtin_registry, load_profile_file, load_profile_text

SEED_APPS = ["postgres", "redis", "kafka", "nginx", "python", "node", "java", "go", "rust"]
MORE_APPS = [
    "mysql", "mariadb", "mongodb", "elasticsearch", "rabbitmq", "memcached",
    "grafana", "prometheus", "traefik", "caddy", "haproxy", "php-fpm", "dotnet",
]

GOOD = textwrap.dedent(
    """\
    name: demo
    title: Demo
    description: a demo app
    layouts:
      - id: official
        description: demo image
        images: [acme/demo]
        user: {uid: 1000, gid: 1000}
    paths:
      - path: /tmp
        purpose: temp files
        kind: ephemeral
        size: 64Mi
        required: true
        breaks: crashes
        sources: [doc]
    sources:
      - id: doc
        title: the docs
        url: https://example.com/docs
    """
)


def test_every_app_the_issue_names_has_a_profile():
    names = builtin_registry().names()
    missing = [app for app in SEED_APPS + MORE_APPS if app not in names]
    assert not missing, f"no profile for {missing}"


@pytest.mark.parametrize("profile", list(builtin_registry()), ids=lambda p: p.name)
def test_builtin_profiles_are_complete(profile):
    assert profile.sources, "every profile names its sources"
    assert any(layout.images for layout in profile.layouts), "at least one layout matches images"
    for path in profile.paths:
        assert path.sources and path.purpose and path.breaks
        for sid in path.sources:
            assert profile.source(sid) is not None
        if path.kind in (VolumeKind.EPHEMERAL, VolumeKind.MEMORY):
            assert path.size, f"{path.path} needs a default size"
    for src in profile.sources:
        assert src.url or src.ref


def test_good_profile_loads():
    profile = load_profile_text(GOOD, "demo.yaml")
    assert profile.name == "demo"
    assert profile.paths[0].size == 64 << 20
    assert profile.paths[0].kind is VolumeKind.EPHEMERAL


@pytest.mark.parametrize(
    "old, new, line, field, reason",
    [
        ("kind: ephemeral", "kind: scratch", 12, "paths[0].kind", "is not one of"),
        ("size: 64Mi", "size: lots", 13, "paths[0].size", "does not match"),
        ("required: true", "required: maybe", 14, "paths[0].required", "is not of type 'boolean'"),
        ("    purpose: temp files\n", "", 10, "paths[0]", "'purpose' is a required property"),
        ("sources: [doc]", "sources: [nowhere]", 16, "paths[0].sources[0]", "unknown source 'nowhere'"),
        ("  - path: /tmp", "  - path: tmp", 10, "paths[0].path", "does not match"),
        ("title: Demo", "title: Demo\ncolour: blue", 3, "colour", "unknown field"),
        ("    size: 64Mi\n", "", 10, "paths[0]", "needs a default size"),
    ],
)
def test_broken_profile_names_file_line_and_field(old, new, line, field, reason):
    text = GOOD.replace(old, new)
    assert text != GOOD
    with pytest.raises(ProfileError) as info:
        load_profile_text(text, "broken.yaml")
    err = info.value
    assert err.origin == "broken.yaml"
    assert err.field == field
    assert reason in err.reason
    assert abs(err.line - line) <= 1, str(err)
    assert str(err).startswith("broken.yaml:")
    assert "\n" not in str(err)


def test_invalid_yaml_gives_its_line():
    with pytest.raises(ProfileError) as info:
        load_profile_text(GOOD + "  - [unclosed\n", "bad.yaml")
    assert info.value.line is not None and info.value.line >= 18
    assert "not valid YAML" in str(info.value)


def test_not_a_mapping():
    with pytest.raises(ProfileError, match="a profile is a YAML mapping"):
        load_profile_text("- just\n- a list\n", "list.yaml")


def test_missing_and_unreadable_files(tmp_path: Path):
    with pytest.raises(ProfileError, match="no such file"):
        load_profile_file(tmp_path / "nope.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile_file(binary)


def test_duplicate_path_in_a_layout_is_an_error():
    second = (
        "  - path: /tmp/\n    purpose: again\n    kind: ephemeral\n    size: 1Mi\n"
        "    required: false\n    breaks: x\n    sources: [doc]\n"
    )
    text = GOOD.replace("sources:\n  - id: doc", second + "sources:\n  - id: doc")
    with pytest.raises(ProfileError, match="path /tmp/ listed twice") as info:
        load_profile_text(text, "dup.yaml")
    assert info.value.line == 17


def test_profile_file_overrides_builtin(tmp_path: Path):
    override = GOOD.replace("name: demo", "name: postgres")
    path = tmp_path / "postgres.yaml"
    path.write_text(override)
    registry = builtin_registry().with_files([path])
    assert registry.get("postgres").origin == str(path)
    assert registry.match_image("acme/demo:1").profile.origin == str(path)
    assert builtin_registry().get("postgres").origin != str(path), "the built-in registry is not changed"


def test_aliases():
    assert builtin_registry().get("postgresql").name == "postgres"
    assert builtin_registry().get("PG").name == "postgres"
    assert builtin_registry().get("oracle") is None


# What the seed guide got wrong, pinned (see shared/GROUND_TRUTH.md and tests/test_profiles_real.py).
def test_postgres_facts_beyond_the_seed():
    pg = builtin_registry().get("postgres")
    official = {p.path: p for p in pg.paths_for("official")}
    assert official["/dev/shm"].kind is VolumeKind.MEMORY and official["/dev/shm"].required
    assert official["/dev/shm"].size > 64 << 20, "Docker's 64 MiB default is too small for parallel queries"
    assert "/tmp" not in official, "PostgreSQL does not write /tmp"
    debian = {p.path for p in pg.paths_for("debian")}
    assert "/tmp" not in debian
    data = [p for p in pg.paths_for("debian") if p.kind is VolumeKind.PERSISTENT]
    assert [p.path for p in data] == ["/var/lib/postgresql/15/main"]
    assert any("postmaster.pid" in s for s in data[0].signatures), "the PID file lives in PGDATA"
