"""No advice is dangerous: rofs never suggests a volume at /, at a system directory or at a file
of one, and says instead what to do (src/rofs/diagnose/placement.yaml).  Log lines from the
shapes real programs print; `rofs run` and `rofs trace` on real programs in the sandbox."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rofs.diagnose import diagnose
from rofs.diagnose.placement import areas, refused
from rofs.profiles import builtin_registry
from test_cli import ROFS
from test_run import need_sandbox

REGISTRY = builtin_registry()


def explained(line: str, app: str | None = None) -> list[tuple[str, str | None, str | None]]:
    profile = REGISTRY.get(app) if app else None
    return [(d.cause, d.mount, d.app) for d in diagnose([line], REGISTRY, profile)]


def test_every_refused_place_is_refused_and_app_directories_are_not():
    for area in areas():
        for place in area.at:
            assert refused(place) is not None, place
    for fine in ("/tmp", "/run", "/var/run", "/dev/shm", "/var/cache/nginx", "/var/lib/postgresql", "/var/log/app",
                 "/var/cache", "/opt/app/data", "/home/app/.cache", "/usr/local/apache2/logs"):
        assert refused(fine) is None, fine
    assert refused("/var/lib", "/var/lib/x.db") is not None  # a file of a system directory
    assert refused("/etc/nginx/conf.d", "/etc/nginx/conf.d/default.conf") is not None  # the image's configuration


@pytest.mark.parametrize("line, expected", [
    # a shell's here-document: $TMPDIR, whatever script or app prints it
    ("/docker-entrypoint.sh: line 12: cannot create temp file for here-document: Read-only file system",
     ("no-temp-dir", "/tmp", None)),
    ("mktemp: failed to create file via template '/tmp/tmp.XXXXXX': Read-only file system",
     ("no-temp-dir", "/tmp", None)),
    # users created at start, /etc edited: no mount
    ("addgroup: /etc/group: Read-only file system", ("not-a-mount", None, None)),
    ("useradd: cannot lock /etc/passwd; try again later.", None),
    ("mkdir: cannot create directory '/etc/x': Read-only file system", ("not-a-mount", None, None)),
    ("sed: couldn't open temporary file /etc/nginx/conf.d/sedX8k: Read-only file system", ("in-place-edit", None, None)),
    ("touch: cannot touch '/usr/local/bin/.ready': Read-only file system", ("not-a-mount", None, None)),
    ("cp: cannot create regular file '/var/lib/state.json': Read-only file system", ("not-a-mount", None, None)),
    # a log file directly in /var/log: a volume there hides every program's log directory
    ("open /var/log/app.log: read-only file system", ("not-a-mount", None, None)),
    ('nginx: [emerg] open() "/var/log/nginx/error.log" failed (30: Read-only file system)',
     ("read-only", "/var/log/nginx", "nginx")),
    # a ConfigMap's, Secret's or projected volume's ..data (hightouchio/injecto#5, helm/charts#4156): read-only by
    # design, and a volume over the service account token breaks in-cluster auth
    ("remove /var/run/secrets/kubernetes.io/serviceaccount/..data: read-only file system", ("not-a-mount", None, None)),
    ("chown: changing ownership of '/var/lib/grafana/dashboards/..data': Read-only file system",
     ("not-a-mount", None, "grafana")),
    # a passwd file anywhere (sclorg/s2i-nodejs-container#525): a user database, not a mount
    ("/opt/app-root/etc/generate_container_user: line 10: /opt/app-root/etc/passwd: Read-only file system",
     ("not-a-mount", None, None)),
    # files: busybox touch (gogs/gogs#5377) and a shell's redirect get their directory, not a volume at the file
    ("touch: /app/gogs/docker/s6/crond/down: Read-only file system", ("read-only", "/app/gogs/docker/s6/crond", None)),
    ("/entrypoint.sh: line 5: /app/settings: Read-only file system", ("read-only", "/app", None)),
    # an app's own working directory beneath /usr/share is a place (its charts mount one there):
    # filebeat's logs (elastic/cloud-on-k8s#8605), jenkins' plugins (helm/charts#11585); its static files are not
    ("open /usr/share/filebeat/logs/filebeat-events-data-20240101.ndjson: read-only file system",
     ("read-only", "/usr/share/filebeat/logs", None)),
    ("mkdir: cannot create directory '/usr/share/jenkins/ref/plugins': Read-only file system",
     ("read-only", "/usr/share/jenkins/ref/plugins", None)),
    ("touch: cannot touch '/usr/share/nginx/html/index.html': Read-only file system", ("not-a-mount", None, None)),
    # a file the image has, deleted at start (keycloak/keycloak#44632): an empty volume there hides the build
    (("2025-12-03 11:48:27,527 DEBUG [io.quarkus.bootstrap.util.IoUtils] (build-80) Unable to delete file"
     " /opt/keycloak/lib/quarkus/build-system.properties: java.nio.file.FileSystemException: build-system.properties:"
     " Read-only file system"), ("not-a-mount", None, None)),
    # POSIX shared memory names live in /dev/shm
    ('FATAL:  could not open shared memory segment "/PostgreSQL.1234": Read-only file system',
     ("read-only", "/dev/shm", "postgres")),
    # a function name on the line is not the path
    ("[ALERT]    (1) : [/usr/sbin/haproxy.main()] Cannot create pidfile /run/haproxy.pid",
     ("read-only", "/run", "haproxy")),
    # follow-on lines name neither an app nor a path
    ("ERROR: FPM initialization failed", None),
    ("BOOT FAILED", None),
])
def test_log_lines_never_get_a_dangerous_mount(line, expected):
    found = explained(line)
    assert found == ([expected] if expected else []), found
    for _, mount, _ in found:
        assert mount is None or refused(mount) is None


def test_the_advice_says_what_to_do_instead():
    [d] = diagnose(["addgroup: /etc/group: Read-only file system"], REGISTRY)
    assert d.advice.startswith("addgroup changes the user database (/etc/group) at start")
    assert "build time" in d.advice and "runAsUser" in d.advice
    [d] = diagnose(["sed: couldn't open temporary file /etc/nginx/conf.d/sedX8k: Read-only file system"], REGISTRY)
    assert d.advice.startswith("sed -i rewrites a file in /etc/nginx/conf.d through a temporary file beside it")
    [d] = diagnose(["mkdir: cannot create directory '/etc/x': Read-only file system"], REGISTRY)
    assert "subPath" in d.advice and "/etc/x" in d.advice
    [d] = diagnose(["open /var/log/app.log: read-only file system"], REGISTRY)
    assert "writes /var/log/app.log directly in /var/log" in d.advice and "/var/log/APP" in d.advice


def _run(args: list[str], tmp_path: Path) -> dict:
    need_sandbox()
    report = tmp_path / "report.json"
    subprocess.run([ROFS, "run", "--format", "json", "--report", str(report), *args], capture_output=True, text=True,
                   timeout=120)
    return json.loads(report.read_text())


def test_rofs_run_never_suggests_a_system_directory(tmp_path: Path):
    """Writes to /etc, /usr/local/bin and a file in /var/lib: problems saying what to do, no mount."""
    script = ("echo x > /etc/rofs-test.conf; echo y > /usr/local/bin/rofs-ready; echo z > /var/lib/rofs.db;"
              " echo t > /tmp/ok; true")
    report = _run(["--", "sh", "-c", script], tmp_path)
    suggested = [s["path"] for s in report["add"]]
    assert suggested == ["/tmp"], report
    problems = "\n".join(report["problems"])
    assert "/etc/rofs-test.conf, in the image's configuration under /etc" in problems
    assert "/usr/local/bin/rofs-ready, among the image's programs" in problems
    assert "a volume over /var/lib would hide" in problems


def test_rofs_trace_never_offers_a_system_directory(tmp_path: Path):
    need_sandbox()
    out = tmp_path / "profile.yaml"
    done = subprocess.run([ROFS, "trace", "--out", str(out), "--", "sh", "-c",
                           "echo x > /etc/rofs-test.conf; echo y > /tmp/f"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    import yaml

    paths = [p["path"] for p in yaml.safe_load(out.read_text())["paths"]]
    assert paths == ["/tmp"], paths
    assert "in the image's configuration under /etc" in done.stdout + done.stderr


def test_a_file_in_a_hidden_directory_is_data_not_a_lock():
    """Caddy keeps its CA keys under ~/.local/share/caddy: not "only sockets, PID and lock files"."""
    from rofs.model import VolumeKind
    from rofs.runtime.trace import classify

    kind, _ = classify("/root/.local/share/caddy", ["/root/.local/share/caddy/pki/authorities/local/root.key"], False)
    assert kind is VolumeKind.PERSISTENT
    kind, why = classify("/srv/pg", ["/srv/pg/.s.PGSQL.5432.lock", "/srv/pg/postmaster.pid"], True)
    assert kind is VolumeKind.EPHEMERAL and why == "only sockets, PID and lock files"


@pytest.mark.parametrize("line, cause, mount, path", [
    # `..` is resolved before anything is decided: this write is to /etc/x, whatever profile's path it spells
    ("mkdir: cannot create directory '/var/lib/postgresql/../../../etc/x': Read-only file system",
     "not-a-mount", None, "/etc/x"),
    ("touch: cannot touch '/var/lib/../../x': Read-only file system", "not-a-mount", None, "/x"),
    # the line says it is a file: its directory, or nothing when that is a system directory
    ("touch: cannot touch '/app/Makefile': Read-only file system", "read-only", "/app", "/app/Makefile"),
    ("install: cannot create regular file '/opt/app': Read-only file system", "not-a-mount", None, "/opt/app"),
    # the program's own path before the message is not the path written
    ("/bin/sh: 1: cannot create /var/run/app.pid: Read-only file system", "read-only", "/var/run", "/var/run/app.pid"),
    # configuration under /usr/local/etc is the image's too
    ("Error: EROFS: read-only file system, open '/usr/local/etc/php/conf.d/x.ini'", "not-a-mount", None,
     "/usr/local/etc/php/conf.d/x.ini"),
])
def test_paths_are_read_as_the_kernel_would(line, cause, mount, path):
    [d] = diagnose([line], REGISTRY, REGISTRY.get("postgres") if "postgresql" in line else None)
    assert (d.cause, d.mount, d.path) == (cause, mount, path)
