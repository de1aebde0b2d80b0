"""The Compose reader: each syntax mapped onto the model, with exact values and locations."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest
import yaml

from conftest import CORPUS, require_path
from rofs.model import (
    Container,
    ContainerRole,
    EnvVar,
    Location,
    Mount,
    SecuritySettings,
    SourceFormat,
    Volume,
    VolumeKind,
)
from rofs.sources.compose import ComposeSource
from rofs.sources.interface import ReadError

P = "compose.yaml"


def read(text: str):
    return ComposeSource().read(textwrap.dedent(text).lstrip("\n"), P)


def one(text: str):
    result = read(text)
    assert result.errors == []
    assert len(result.workloads) == 1
    return result.workloads[0]


def at(loc: Location | None) -> tuple[int, int] | None:
    return None if loc is None else (loc.line, loc.column)


def fields(obj) -> dict[str, tuple[int, int]]:
    return {key: (loc.line, loc.column) for key, loc in obj.field_locations}


def bare(objs):
    """Model objects without their locations, to compare values; locations are checked with `at`."""
    return tuple(replace(o, location=None, field_locations=()) for o in objs)


# --- services and containers ------------------------------------------------------------


def test_service_maps_to_one_workload_with_one_container():
    result = read(
        """
        services:
          web:
            image: nginx:1.27
            command: ["nginx", "-g", "daemon off;"]
            working_dir: /srv
          builder:
            build: ./app
        """
    )
    assert result.errors == []
    assert result.format is SourceFormat.COMPOSE
    assert result.objects == 2
    web, builder = result.workloads
    assert (web.kind, web.name, web.format) == ("service", "web", SourceFormat.COMPOSE)
    assert at(web.location) == (2, 3)
    assert web.location == Location(P, 2, 3, 2, 6)
    (c,) = web.containers
    assert c.name == "web" and c.image == "nginx:1.27" and c.role is ContainerRole.MAIN
    assert c.args == ("nginx", "-g", "daemon off;") and c.command is None and c.shell_form is False
    assert c.working_dir == "/srv"
    assert at(c.location) == (2, 3)
    assert fields(c) == {"image": (3, 5), "args": (4, 5), "working_dir": (5, 5)}
    # build-only service: no image
    assert builder.containers[0].image is None
    assert at(builder.location) == (6, 3)
    assert builder.containers[0] == Container(name="builder", image=None, location=builder.location,
                                              security=SecuritySettings(location=builder.location))


def test_string_command_alone_is_shell_form():
    c = one(
        '''
        services:
          app:
            image: python:3.12
            command: sh -c "pip install -r requirements.txt && python app.py"
        '''
    ).containers[0]
    assert c.shell_form is True and c.command is None
    assert c.args == ('sh -c "pip install -r requirements.txt && python app.py"',)


def test_string_command_with_exec_entrypoint():
    w = one(
        """
        services:
          db:
            image: postgres
            command: postgres -c shared_preload_libraries=pg_stat_statements
            entrypoint: ["docker-entrypoint.sh"]
        """
    )
    c = w.containers[0]
    # The model speaks Kubernetes: Compose `entrypoint` is `command`, Compose `command` is `args`.
    assert c.args == ("postgres -c shared_preload_libraries=pg_stat_statements",)
    assert c.command == ("docker-entrypoint.sh",)
    assert c.shell_form is False, "the entrypoint is a list: Compose splits the string command into words"
    assert fields(c) == {"image": (3, 5), "args": (4, 5), "command": (5, 5)}


def test_interpolation_is_kept_as_written():
    w = one(
        """
        services:
          app:
            image: ${IMAGE_NAME}:${DEMO_VERSION:-latest}-app
            environment:
              - URL=http://${HOST}:${PORT:-8080}
            read_only: ${READ_ONLY:-true}
            volumes:
              - ${DATA_DIR:-./data}:/data:ro
        """
    )
    c = w.containers[0]
    assert c.image == "${IMAGE_NAME}:${DEMO_VERSION:-latest}-app"
    assert c.env == (EnvVar("URL", "http://${HOST}:${PORT:-8080}", location=c.env[0].location),)
    assert c.security.read_only_root_fs is None  # not known before interpolation
    assert c.mounts[0].path == "/data" and c.mounts[0].read_only is True
    vol = w.volume(c.mounts[0].volume)
    assert vol.kind is VolumeKind.HOST and vol.source == "${DATA_DIR:-./data}"


def test_empty_service_reads_as_no_settings():
    result = read(
        """
        services:
          cache:
        """
    )
    assert result.errors == [] and result.objects == 1
    assert result.workloads[0].containers[0].image is None


def test_merge_keys_are_followed():
    w = one(
        """
        x-hardened: &hardened
          read_only: true
          cap_drop: [ALL]
          user: "1000"
        services:
          api:
            <<: *hardened
            image: api
            user: "2000"
        """
    )
    sec = w.containers[0].security
    assert sec.read_only_root_fs is True
    assert sec.capabilities_drop == ("ALL",)
    assert sec.run_as_user == 2000  # the service's own key wins over the merged one
    assert at(sec.where("read_only_root_fs")) == (2, 3)  # written in the anchor


# --- security ----------------------------------------------------------------------------


def test_security_settings_and_their_locations():
    w = one(
        """
        services:
          app:
            image: app
            read_only: true
            privileged: false
            security_opt:
              - no-new-privileges:true
              - seccomp:unconfined
            cap_drop:
              - ALL
            cap_add: [NET_BIND_SERVICE]
            user: "1000:2000"
        """
    )
    c = w.containers[0]
    sec = c.security
    assert sec == SecuritySettings(
        read_only_root_fs=True,
        run_as_non_root=True,
        run_as_user=1000,
        run_as_group=2000,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities_add=("NET_BIND_SERVICE",),
        capabilities_drop=("ALL",),
        seccomp_profile="Unconfined",
        location=w.location,
        field_locations=sec.field_locations,
    )
    assert at(sec.location) == (2, 3)
    assert fields(sec) == {
        "read_only_root_fs": (4, 5),
        "privileged": (5, 5),
        "capabilities_drop": (9, 5),
        "capabilities_add": (11, 5),
        "allow_privilege_escalation": (7, 9),
        "seccomp_profile": (8, 9),
        "security_opt": (6, 5),
        "run_as_user": (12, 5),
        "run_as_group": (12, 5),
        "run_as_non_root": (12, 5),
    }
    assert c.user == "1000:2000"
    assert fields(c) == {
        "image": (3, 5), "user": (12, 5), "read_only": (4, 5), "security_opt": (6, 5), "privileged": (5, 5),
        "cap_drop": (9, 5), "cap_add": (11, 5),
    }


@pytest.mark.parametrize(
    "opt, expected",
    [
        ("no-new-privileges", False),
        ("no-new-privileges:true", False),
        ("no-new-privileges=true", False),
        ("no-new-privileges:false", True),
        ("apparmor:unconfined", None),
    ],
)
def test_no_new_privileges_spellings(opt, expected):
    w = one(f"services:\n  app:\n    image: app\n    security_opt: [\"{opt}\"]\n")
    assert w.containers[0].security.allow_privilege_escalation is expected


def test_missing_settings_are_none_and_point_at_the_service():
    w = one(
        """
        services:
          app:
            image: app
        """
    )
    sec = w.containers[0].security
    assert (sec.read_only_root_fs, sec.allow_privilege_escalation, sec.run_as_non_root, sec.privileged) == (
        None, None, None, None,
    )
    assert sec.where("read_only_root_fs") == w.location
    assert w.containers[0].where("read_only") == w.location


@pytest.mark.parametrize(
    "user, uid, gid, non_root",
    [
        ('"1000"', 1000, None, True),
        ('"1000:1000"', 1000, 1000, True),
        ("postgres", None, None, True),
        ("nobody:nogroup", None, None, True),
        ("root", None, None, False),
        ("0:0", 0, 0, False),  # YAML 1.1 would read this as a base-60 number: the text is kept
        ('"0"', 0, None, False),
        ('"${UID}:${GID}"', None, None, None),
    ],
)
def test_user(user, uid, gid, non_root):
    w = one(f"services:\n  app:\n    image: app\n    user: {user}\n")
    sec = w.containers[0].security
    assert (sec.run_as_user, sec.run_as_group, sec.run_as_non_root) == (uid, gid, non_root)


# --- tmpfs -------------------------------------------------------------------------------


def test_tmpfs_short_syntax_list_and_string():
    result = read(
        """
        services:
          a:
            image: a
            tmpfs:
              - /tmp
              - /run:size=64m,mode=1777
          b:
            image: b
            tmpfs: /cache:size=1g
        """
    )
    assert result.errors == []
    a, b = result.workloads
    assert bare(a.containers[0].mounts) == (Mount("/tmp", "tmpfs:/tmp"), Mount("/run", "tmpfs:/run"))
    assert [at(m.location) for m in a.containers[0].mounts] == [(5, 9), (6, 9)]
    assert bare(a.volumes) == (
        Volume("tmpfs:/tmp", VolumeKind.EPHEMERAL, type="tmpfs"),
        Volume("tmpfs:/run", VolumeKind.EPHEMERAL, size_limit=64 * 2**20, type="tmpfs"),
    )
    assert [at(v.location) for v in a.volumes] == [(5, 9), (6, 9)]
    assert a.volumes[0].field_locations == ()
    assert at(a.volumes[1].where("size_limit")) == (6, 9)
    assert fields(a.containers[0]) == {"image": (3, 5), "tmpfs": (4, 5)}
    (mount,) = b.containers[0].mounts
    assert (mount.path, mount.volume, at(mount.location)) == ("/cache", "tmpfs:/cache", (9, 12))
    assert b.volume("tmpfs:/cache").size_limit == 2**30


# --- volumes -----------------------------------------------------------------------------


def test_volume_short_syntax():
    w = one(
        """
        services:
          db:
            image: postgres
            volumes:
              - db-data:/var/lib/postgresql/data
              - ./init.sql:/docker-entrypoint-initdb.d/init.sql:ro
              - /var/run/docker.sock:/var/run/docker.sock
              - ~/logs:/logs:rw,z
              - /scratch
              - undeclared:/backup:ro
        volumes:
          db-data:
        """
    )
    c = w.containers[0]
    assert bare(c.mounts) == (
        Mount("/var/lib/postgresql/data", "db-data"),
        Mount("/docker-entrypoint-initdb.d/init.sql", "bind:/docker-entrypoint-initdb.d/init.sql", read_only=True),
        Mount("/var/run/docker.sock", "bind:/var/run/docker.sock"),
        Mount("/logs", "bind:/logs"),
        Mount("/scratch", "anonymous:/scratch"),
        Mount("/backup", "undeclared", read_only=True),
    )
    assert [at(m.location) for m in c.mounts] == [(5, 9), (6, 9), (7, 9), (8, 9), (9, 9), (10, 9)]
    assert c.mounts[0].location == Location(P, 5, 9, 5, 41)  # the whole list item
    assert bare(w.volumes) == (
        Volume("db-data", VolumeKind.PERSISTENT, type="volume"),
        Volume("bind:/docker-entrypoint-initdb.d/init.sql", VolumeKind.HOST, source="./init.sql", type="bind",
               read_only=True),
        Volume("bind:/var/run/docker.sock", VolumeKind.HOST, source="/var/run/docker.sock", type="bind"),
        Volume("bind:/logs", VolumeKind.HOST, source="~/logs", type="bind"),
        Volume("anonymous:/scratch", VolumeKind.PERSISTENT, type="anonymous"),
    )
    # a declared named volume is located at its top-level declaration, inline ones at the list item
    assert [at(v.location) for v in w.volumes] == [(12, 3), (6, 9), (7, 9), (8, 9), (9, 9)]
    # An undeclared named volume: the mount names it, the workload holds no Volume (rule RO205).
    assert w.volume("undeclared") is None
    assert fields(c) == {"image": (3, 5), "volumes": (4, 5)}


def test_volume_long_syntax():
    w = one(
        """
        services:
          app:
            image: app
            volumes:
              - type: bind
                source: ./nginx.conf
                target: /etc/nginx/nginx.conf
                read_only: true
              - type: tmpfs
                target: /var/cache/nginx
                tmpfs:
                  size: 67108864
              - type: tmpfs
                target: /run
                tmpfs:
                  size: 16m
              - type: volume
                source: data
                target: /data
                volume:
                  nocopy: true
                  subpath: app
              - type: volume
                target: /anon
        volumes:
          data: {}
        """
    )
    c = w.containers[0]
    assert bare(c.mounts) == (
        Mount("/etc/nginx/nginx.conf", "bind:/etc/nginx/nginx.conf", read_only=True),
        Mount("/var/cache/nginx", "tmpfs:/var/cache/nginx"),
        Mount("/run", "tmpfs:/run"),
        Mount("/data", "data", sub_path="app"),
        Mount("/anon", "anonymous:/anon"),
    )
    assert [at(m.location) for m in c.mounts] == [(5, 9), (9, 9), (13, 9), (17, 9), (23, 9)]
    assert bare(w.volumes) == (
        Volume("bind:/etc/nginx/nginx.conf", VolumeKind.HOST, source="./nginx.conf", type="bind", read_only=True),
        Volume("tmpfs:/var/cache/nginx", VolumeKind.EPHEMERAL, size_limit=64 * 2**20, type="tmpfs"),
        Volume("tmpfs:/run", VolumeKind.EPHEMERAL, size_limit=16 * 2**20, type="tmpfs"),
        Volume("data", VolumeKind.PERSISTENT, type="volume"),
        Volume("anonymous:/anon", VolumeKind.PERSISTENT, type="anonymous"),
    )
    assert [at(v.location) for v in w.volumes] == [(5, 9), (9, 9), (13, 9), (26, 3), (23, 9)]
    assert at(w.volumes[1].where("size_limit")) == (12, 17)
    assert at(w.volumes[2].where("size_limit")) == (16, 17)


def test_top_level_tmpfs_volume_is_ephemeral_with_its_size():
    result = read(
        """
        services:
          app:
            image: app
            volumes:
              - scratch:/scratch
              - scratch:/scratch2
              - hostdir:/host
        volumes:
          scratch:
            driver: local
            driver_opts:
              type: tmpfs
              device: tmpfs
              o: "size=100m,uid=1000"
          hostdir:
            driver_opts:
              type: none
              o: bind
              device: /srv/data
          unused:
        """
    )
    assert result.errors == []
    w = result.workloads[0]
    assert [m.volume for m in w.containers[0].mounts] == ["scratch", "scratch", "hostdir"]
    # one Volume per name even when mounted twice; unused declared volumes are not the service's
    assert bare(w.volumes) == (
        Volume("scratch", VolumeKind.EPHEMERAL, size_limit=100 * 2**20, type="tmpfs"),
        Volume("hostdir", VolumeKind.HOST, source="/srv/data", type="bind"),
    )
    scratch, hostdir = w.volumes
    assert at(scratch.location) == (9, 3) and at(hostdir.location) == (15, 3)
    assert fields(scratch) == {"driver_opts": (11, 5), "size_limit": (14, 10)}
    assert fields(hostdir) == {"driver_opts": (16, 5)}


# --- environment -------------------------------------------------------------------------


def test_environment_list():
    w = one(
        """
        services:
          app:
            image: app
            environment:
              - A=1
              - B
              - C=
              - D=x=y
        """
    )
    env = w.containers[0].env
    assert bare(env) == (EnvVar("A", "1"), EnvVar("B", None), EnvVar("C", ""), EnvVar("D", "x=y"))
    assert [at(e.location) for e in env] == [(5, 9), (6, 9), (7, 9), (8, 9)]


def test_environment_mapping():
    w = one(
        """
        services:
          app:
            image: app
            environment:
              A: one
              B:
              PORT: 8080
              DEBUG: true
              RATIO: 0.5
        """
    )
    c = w.containers[0]
    assert [(e.name, e.value) for e in c.env] == [
        ("A", "one"), ("B", None), ("PORT", "8080"), ("DEBUG", "true"), ("RATIO", "0.5"),
    ]
    assert [at(e.location) for e in c.env] == [(5, 7), (6, 7), (7, 7), (8, 7), (9, 7)]
    assert c.env_value("PORT") == "8080"
    assert fields(c) == {"image": (3, 5), "environment": (4, 5)}


# --- suppressions ------------------------------------------------------------------------


def test_x_rofs_ignore_mapping_list_and_string():
    result = read(
        """
        services:
          a:
            image: a
            x-rofs-ignore:
              RO101: legacy image writes to /etc
              RO203,RO204:
          b:
            image: b
            x-rofs-ignore:
              - "RO101: reason b"
              - RO205
          c:
            image: c
            x-rofs-ignore: "RO301: c reason; RO302: other"
        """
    )
    assert result.errors == []
    a, b, c = result.workloads
    assert [(s.rules, s.reason, at(s.location)) for s in a.suppressions] == [
        (("RO101",), "legacy image writes to /etc", (4, 5)),
        (("RO203", "RO204"), None, (4, 5)),
    ]
    assert [(s.rules, s.reason, at(s.location)) for s in b.suppressions] == [
        (("RO101",), "reason b", (9, 5)),
        (("RO205",), None, (9, 5)),
    ]
    assert [(s.rules, s.reason, at(s.location)) for s in c.suppressions] == [
        (("RO301",), "c reason", (14, 5)),
        (("RO302",), "other", (14, 5)),
    ]
    assert all(s.container is None and s.line is None for s in a.suppressions + b.suppressions + c.suppressions)
    assert at(a.where("x-rofs-ignore")) == (4, 5)


def test_comment_pragmas():
    result = read(
        """
        services:
          app:
            image: app
            # rofs: ignore=RO101 -- vendor image
            read_only: false
        """
    )
    (s,) = result.suppressions
    assert (s.rules, s.reason, s.line, at(s.location)) == (("RO101",), "vendor image", 4, (4, 5))


# --- errors ------------------------------------------------------------------------------


def test_invalid_yaml_is_an_error_with_its_line():
    result = read(
        """
        services:
          app:
            image: app
           bad: [
        """
    )
    assert result.workloads == []
    (err,) = result.errors
    assert err.path == P and err.line == 4 and err.message.startswith("invalid YAML")


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("- a\n- b\n", 1, "a Compose file should be a mapping, found a list"),
        ("services:\n  - web\n", 2, "services should be a mapping, found a list"),
        ("volumes:\n  - data\nservices: {}\n", 2, "volumes should be a mapping, found a list"),
    ],
)
def test_wrong_top_level_types(text, line, message):
    result = ComposeSource().read(text, P)
    assert result.errors == [ReadError(P, line, message)]
    assert result.workloads == []


def test_wrong_types_in_a_service_skip_that_service_only():
    result = read(
        """
        services:
          a:
            image: a
            volumes: /data
          b: [oops]
          c:
            image: c
            environment: 5
          d:
            image: d
            read_only: maybe
          e:
            image: e
            tmpfs:
              - /tmp:size=lots
          f:
            image: f
            volumes:
              - a:b:c:d
          ok:
            image: ok
            security_opt: [no-new-privileges:perhaps]
        """
    )
    assert result.objects == 7
    assert [(e.line, e.message) for e in result.errors] == [
        (4, "service a: volumes should be a list, found a value ('/data')"),
        (5, "service b should be a mapping, found a list"),
        (8, "service c: environment should be a list or a mapping, found a value ('5')"),
        (11, "service d: expected true or false, found 'maybe'"),
        (15, "service e: not a size: 'lots' (use e.g. 64m, 1g)"),
        (19, "service f: cannot read volume 'a:b:c:d' (expected SOURCE:TARGET[:MODE])"),
        (22, "service ok: security_opt: no-new-privileges takes true or false, found 'perhaps'"),
    ]
    assert result.workloads == []


def test_errors_do_not_stop_other_services():
    result = read(
        """
        services:
          bad:
            image: [a, b, c
              ]
          good:
            image: good
            read_only: true
        """
    )
    assert [(e.line, e.message) for e in result.errors] == [
        (3, "service bad: expected a single value, found a list"),
    ]
    (good,) = result.workloads
    assert good.name == "good" and good.containers[0].security.read_only_root_fs is True
    assert result.objects == 2


def test_read_documents_uses_composed_nodes():
    text = "services:\n  app:\n    image: app\n"
    documents = list(yaml.compose_all(text, Loader=yaml.CSafeLoader))
    result = ComposeSource().read_documents(documents, text, P)
    assert [w.name for w in result.workloads] == ["app"] and result.objects == 1


def test_file_without_services():
    result = ComposeSource().read("# only comments\n", P)
    assert (result.errors, result.workloads, result.objects) == ([], [], 0)


# --- the corpus --------------------------------------------------------------------------


def compose_files():
    return sorted(
        p for p in CORPUS.rglob("*")
        if p.is_file() and p.suffix in (".yml", ".yaml") and p.name.startswith(("compose", "docker-compose"))
    )


def test_corpus_reads_without_errors():
    require_path(CORPUS, "the shared corpus")
    files = compose_files()
    assert len(files) == 56
    services = 0
    read_only = set()
    for path in files:
        result = ComposeSource().read(path.read_text(encoding="utf-8"), str(path))
        assert result.errors == [], path
        assert result.objects == len(result.workloads)  # override fragments are read with their base
        services += result.objects
        for w in result.workloads:
            assert len(w.containers) == 1 and w.location is not None
            if w.containers[0].security.read_only_root_fs:
                read_only.add((str(path.relative_to(CORPUS)), w.name))
    assert services == 152
    otel = "open-telemetry__opentelemetry-demo/compose.yaml"
    # compose.full.yaml's checkout is a fragment laid over compose.yaml's, which is read-only
    full = "open-telemetry__opentelemetry-demo/compose.full.yaml"
    assert read_only == {(otel, "checkout"), (otel, "product-catalog"), (otel, "shipping"), (full, "checkout")}
