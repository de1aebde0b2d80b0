"""`rofs explain`: real programs fail under `rofs run` in the ways users see, and every line
they print is diagnosed with the right cause and mount."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import require_path, require_tool
from rofs.diagnose import diagnose, unwrap
from rofs.profiles import builtin_registry
from test_cli import ROFS, rofs
from test_run import need_sandbox

REGISTRY = builtin_registry()


def run_program(*args: str, timeout: float = 60) -> str:
    """Run under `rofs run` (no tracing: only the program's own words count) and return its output."""
    done = subprocess.run([ROFS, "run", "--no-trace", "--report", "/dev/null", *args],
                          capture_output=True, text=True, timeout=timeout, cwd="/")
    return done.stdout + done.stderr


def explain(text: str, app: str | None = None, layout: str | None = None) -> list[tuple[str, str | None]]:
    profile = REGISTRY.get(app) if app else None
    return [(d.cause, d.mount) for d in diagnose(text.splitlines(), REGISTRY, profile, layout=layout)]


@pytest.mark.parametrize("wrapped", [
    'could not create lock file "/var/run/postgresql/.s.PGSQL.5432.lock": Read-only file system',
    '2026-11-27T10:00:00.123456789Z could not create lock file "/var/run/postgresql/.s.PGSQL.5432.lock": Read-only file system',
    '[pod/db-0/postgres] 2026-11-27T10:00:00Z could not create lock file "/var/run/postgresql/.s.PGSQL.5432.lock": Read-only file system',
    'Nov 27 10:00:00 node1 postgres[123]: could not create lock file "/var/run/postgresql/.s.PGSQL.5432.lock": Read-only file system',
    '{"ts": "2026-11-27", "level": "fatal", "msg": "could not create lock file \\"/var/run/postgresql/.s.PGSQL.5432.lock\\": Read-only file system"}',
])
def test_log_formats_are_unwrapped(wrapped):
    assert explain(wrapped) == [("read-only", "/var/run/postgresql")]
    assert "could not create lock file" in unwrap(wrapped)


def test_unknown_lines_are_ignored_and_a_clean_log_exits_0(tmp_path: Path):
    log = tmp_path / "ok.log"
    log.write_text("starting\nready to accept connections\n")
    result = rofs("explain", str(log))
    assert result.returncode == 0 and result.stdout == ""
    result = rofs("explain", str(tmp_path / "missing.log"))
    assert result.returncode == 2 and "cannot read" in result.stderr


# --- real programs ---------------------------------------------------------------------


def test_python_read_only_tmp_cache_and_full_tmpfs():
    need_sandbox()
    py = os.path.realpath(sys.executable)
    # No writable temp dir at all (cwd / is read-only too): tempfile gives up.
    out = run_program("--", py, "-c", "import tempfile; tempfile.mkstemp()")
    assert "No usable temporary directory" in out
    assert ("no-temp-dir", "/tmp") in explain(out, "python")
    # The trap: with a writable working directory Python falls back to it silently.
    quiet = run_program("--writable", "/var/tmp:1m", "--", "sh", "-c", f"cd /var/tmp && {py} -c 'import tempfile; print(tempfile.mkstemp()[1])'")
    assert "/var/tmp/" in quiet and explain(quiet, "python") == [], "nothing in the log: rofs run's report is the tool for this one"
    out = run_program("--", py, "-c", "open('/var/cache/rofs-state.json', 'w')")
    assert "[Errno 30] Read-only file system: '/var/cache/rofs-state.json'" in out
    assert explain(out) == [("read-only", "/var/cache")]
    out = run_program("--writable", "/tmp:1m", "--", py, "-c", "open('/tmp/big', 'wb').write(b'0' * (4 << 20))")
    assert "[Errno 28] No space left on device" in out
    assert [c for c, _ in explain(out)] == ["no-space"]


def test_node_recursive_mkdir_and_full_tmpfs():
    need_sandbox()
    node = require_tool("node", "nodejs")
    out = run_program("--", node, "-e", "require('fs').mkdirSync('/tmp/uploads/2026', {recursive: true})")
    assert "ENOENT: no such file or directory, mkdir '/tmp/uploads/2026'" in out, out
    assert explain(out, "node")[0] == ("read-only-as-enoent", "/tmp")
    out = run_program("--", node, "-e", "require('fs').writeFileSync('/var/cache/rofs-node.json', '{}')")
    assert "EROFS: read-only file system, open '/var/cache/rofs-node.json'" in out
    assert explain(out)[0] == ("read-only", "/var/cache")
    out = run_program("--writable", "/tmp:1m", "--", node, "-e",
                      "require('fs').writeFileSync('/tmp/big', Buffer.alloc(4 << 20))")
    assert "ENOSPC" in out
    assert explain(out)[0][0] == "no-space"


def test_java_temp_file_and_heap_dump(tmp_path: Path):
    need_sandbox()
    java = require_tool("java", "default-jdk-headless")
    javac = require_tool("javac", "default-jdk-headless")
    src = tmp_path / "Writes.java"
    src.write_text(
        "public class Writes { public static void main(String[] a) throws Exception {"
        " if (a[0].equals(\"tmp\")) java.io.File.createTempFile(\"rofs\", \".tmp\");"
        " else { java.util.List<long[]> l = new java.util.ArrayList<>(); while (true) l.add(new long[1 << 20]); } } }"
    )
    subprocess.run([javac, "-d", str(tmp_path), str(src)], check=True, capture_output=True)
    os.chmod(tmp_path, 0o755)
    out = run_program("--", java, "-cp", str(tmp_path), "Writes", "tmp")
    assert "java.io.IOException: Read-only file system" in out
    assert explain(out, "java")[0] == ("read-only", "/tmp")
    out = run_program("--", java, "-Xmx16m", "-XX:+HeapDumpOnOutOfMemoryError", "-cp", str(tmp_path), "Writes", "oom")
    assert "Unable to create java_pid" in out and ".hprof: Read-only file system" in out
    causes = explain(out, "java")
    assert causes[0][0] == "heap-dump"


@pytest.mark.parametrize("app, path, command", [
    ("redis", "/var/log/redis", ["redis-server", "/etc/redis/redis.conf", "--daemonize", "no", "--port", "0", "--appendonly", "yes"]),
    # logging to stdout, as in a container: the data dir's message reaches the log
    ("redis", "/var/lib/redis", ["redis-server", "/etc/redis/redis.conf", "--daemonize", "no", "--port", "0", "--appendonly", "yes",
                                 "--logfile", ""]),
    ("nginx", "/var/lib/nginx", ["nginx", "-g", "daemon off;"]),
    ("nginx", "/var/log/nginx", ["nginx", "-g", "daemon off;"]),
    ("nginx", "/run", ["nginx", "-g", "daemon off;"]),
])
def test_servers_each_path_left_out(app, path, command, tmp_path: Path):
    need_sandbox()
    require_tool(command[0])
    from realserver import free_port

    command = [str(free_port()) if c == "0" else c for c in command]  # a real port: Redis exits early on 0
    user = ["--user", "redis"] if app == "redis" else []
    out = run_program("--profile", app, *user, "--state-dir", str(tmp_path), "--keep-read-only", path, "--timeout", "10",
                      "--", *command)
    diagnosed = explain(out, app, layout="debian")
    assert any(mount == path for _, mount in diagnosed), (out[-1500:], diagnosed)
    assert all(cause != "no-space" for cause, _ in diagnosed)


def test_postgres_socket_dir_left_out(tmp_path: Path):
    need_sandbox()
    pg = Path("/usr/lib/postgresql/15/bin")
    require_path(pg / "postgres", "postgres")
    state = tmp_path / "state"
    common = ["--profile", "postgres", "--user", "postgres", "--state-dir", str(state)]
    subprocess.run([ROFS, "run", "--no-trace", *common, "--", str(pg / "initdb"), "-D", "/var/lib/postgresql/15/main",
                    "-U", "postgres", "--auth=trust", "--no-sync"], check=True, capture_output=True, cwd="/")
    from realserver import free_port

    out = run_program(*common, "--keep-read-only", "/var/run/postgresql", "--timeout", "10", "--",
                      str(pg / "postgres"), "-D", "/var/lib/postgresql/15/main", "-c", f"port={free_port()}")
    assert ("read-only", "/var/run/postgresql") in explain(out, "postgres"), out[-1500:]
    # And without --app: the signature names PostgreSQL.
    assert ("read-only", "/var/run/postgresql") in explain(out)
    # A 1 MiB /dev/shm: the server cannot size its shared memory.
    out = run_program(*common, "--tmpfs", "/dev/shm:1m", "--timeout", "10", "--",
                      str(pg / "postgres"), "-D", "/var/lib/postgresql/15/main", "-c", f"port={free_port()}")
    assert ("shm-too-small", "/dev/shm") in explain(out, "postgres"), out[-1500:]


def test_redis_working_in_root_is_told_its_dir_setting(tmp_path: Path):
    """Redis started in `dir /` (a config that forgot `dir`): the final save fails in /, which is no
    place for a volume; the answer is its `dir` pointed at the profile's data path, mounted."""
    need_sandbox()
    require_tool("redis-server")
    from realserver import free_port

    out = run_program("--profile", "redis", "--user", "redis", "--state-dir", str(tmp_path), "--timeout", "4", "--",
                      "redis-server", "--port", str(free_port()), "--dir", "/", "--logfile", "")
    assert "(in server root dir /) for saving: Read-only file system" in out, out[-1500:]
    found = [d for d in diagnose(out.splitlines(), REGISTRY, REGISTRY.get("redis"), layout="debian")
             if "server root dir" in d.text]
    assert [(d.mount, d.app) for d in found] == [("/var/lib/redis", "redis")], found
    assert "because its dir points at /: set dir to /var/lib/redis" in found[0].advice
    # Without --app the line still names Redis (its snapshot wording), and never a mount at /.
    assert [(d.mount, d.app) for d in diagnose(out.splitlines(), REGISTRY) if "server root dir" in d.text] == \
        [("/data", "redis")]


@pytest.mark.parametrize(("line", "found"), [
    # relative names through the app's data directory (PostgreSQL quotes them relative to PGDATA)
    ('PANIC:  could not write to file "pg_wal/xlogtemp.25": Read-only file system', [("/var/lib/postgresql", "postgres")]),
    ('ERROR:  could not create file "base/16384/16385": Read-only file system', [("/var/lib/postgresql", "postgres")]),
    # Redis names the file and its directory apart
    ("Failed opening the RDB file dump.rdb (in server root dir /srv/redis) for saving: Read-only file system",
     [("/srv/redis", "redis")]),
    # another error than the causes: not a read-only root, even though Redis' signature starts the line
    ("Failed opening the temp RDB file temp-9.rdb (in server root dir unknown) for saving: No such file or directory",
     []),
    # a relative name no profile keeps names no app
    ('could not write to file "base/cache.bin": Read-only file system', [(None, None)]),
])
def test_relative_and_joined_paths(line: str, found: list[tuple[str | None, str | None]]):
    assert [(d.mount, d.app) for d in diagnose([line], REGISTRY)] == found


def test_permission_denied_on_a_mounted_volume():
    line = "Error: EACCES: permission denied, open '/data/uploads/a.png'"
    (d,) = diagnose([line], REGISTRY)
    assert (d.cause, d.mount) == ("permission", "/data/uploads")
    assert "fsGroup" in d.advice


def test_cli_json_and_follow(tmp_path: Path):
    log = tmp_path / "pod.log"
    line = 'nginx: [emerg] mkdir() "/var/lib/nginx/body" failed (30: Read-only file system)\n'
    log.write_text(line * 3)
    result = rofs("explain", str(log), "--format", "json")
    assert result.returncode == 1
    (d,) = json.loads(result.stdout)
    assert {k: d[k] for k in ("line", "cause", "path", "app", "mount", "kind", "size")} == {
        "line": 1, "cause": "read-only", "path": "/var/lib/nginx/body", "app": "nginx",
        "mount": "/var/lib/nginx", "kind": "ephemeral", "size": 1 << 30,
    }
    assert d["lines"] == [1, 2, 3]
    assert d["snippets"]["docker-run"] == "--tmpfs /var/lib/nginx:rw,mode=1777,size=1g"
    # --follow: new diagnoses are printed once, as the log grows.
    grow = tmp_path / "grow.log"
    grow.write_text("")
    proc = subprocess.Popen([ROFS, "explain", "--follow", str(grow), "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    with grow.open("a") as f:
        f.write(line)
        f.write(line)
        f.write("OSError: [Errno 30] Read-only file system: '/var/cache/app/x.db'\n")
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 1
    printed = [json.loads(l)["mount"] for l in out.splitlines()]
    assert printed == ["/var/lib/nginx", "/var/cache/app"]


def test_escape_sequences_in_a_log_never_reach_the_terminal(tmp_path: Path):
    """A log line can carry ESC/OSC sequences (a title change, colours, a bell): explain's text shows
    them escaped; JSON keeps the exact path."""
    log = tmp_path / "evil.log"
    log.write_bytes(b'open() "/var/cache/nginx/\x1b]0;pwned\x07x\x1b[31mred" failed (30: Read-only file system)\n')
    text = subprocess.run([ROFS, "explain", str(log)], capture_output=True, text=True)
    assert text.returncode == 1
    assert "\x1b" not in text.stdout and "\x07" not in text.stdout
    assert "/var/cache/nginx/\\x1b]0;pwned\\x07x\\x1b[31mred" in text.stdout
    data = json.loads(subprocess.run([ROFS, "explain", "--format", "json", str(log)], capture_output=True, text=True).stdout)
    assert data[0]["path"] == "/var/cache/nginx/\x1b]0;pwned\x07x\x1b[31mred"


# Real lines (zalando/postgres-operator#2023, CrunchyData/postgres-operator#2564): a database's
# data directory that no profile knows.  An emptyDir there loses the database on every restart.
UNKNOWN_DATA = [
    "mkdir: cannot create directory '/home/postgres/pgdata/pgroot': Read-only file system",
    "OSError: [Errno 30] Read-only file system: '/pgdata/sm-db-hglo/patroni.dynamic.jsonwt1ccbtu'",
]
RATINGS = Path(__file__).parent / "data" / "corpus" / "istio__istio" / "samples" / "bookinfo" / "platform" / "kube" \
    / "bookinfo-ratings.yaml"


def test_a_directory_no_profile_knows_is_not_given_an_empty_dir(tmp_path: Path):
    found = list(diagnose(UNKNOWN_DATA + ["OSError: [Errno 30] Read-only file system: '/var/cache/app/x.db'"], REGISTRY))
    assert [(d.mount, d.kind.value, d.kind_known) for d in found] == [
        ("/home/postgres/pgdata", "persistent", False),
        ("/pgdata/sm-db-hglo", "persistent", False),
        ("/var/cache/app", "ephemeral", True),
    ]
    assert "no profile says what it holds" in found[0].advice and "persistent volume" in found[0].advice
    log = tmp_path / "crash.log"
    log.write_text("\n".join(UNKNOWN_DATA[1:]) + "\nOSError: [Errno 30] Read-only file system: '/var/cache/app/x.db'\n")
    manifest = tmp_path / "ratings.yaml"
    manifest.write_bytes(RATINGS.read_bytes())
    result = rofs("explain", str(log), "--manifest", str(manifest))
    assert result.returncode == 1, result.stderr
    patch = result.stdout[result.stdout.index("\n--- "):]
    assert "+          mountPath: /var/cache/app" in patch and "pgdata" not in patch, patch
    assert "not in the patch: /pgdata/sm-db-hglo (line 1): no profile says whether it holds data" in result.stderr
    assert manifest.read_bytes() == RATINGS.read_bytes(), "explain prints the patch, it does not write"
    (unknown, cache) = json.loads(rofs("explain", str(log), "--format", "json").stdout)
    assert (unknown["kind"], unknown["kind_known"], cache["kind_known"]) == ("persistent", False, True)
    assert unknown["snippets"]["kubernetes"]["volumes"] == [
        {"name": "pgdata-sm-db-hglo", "persistentVolumeClaim": {"claimName": "pgdata-sm-db-hglo"}}]


def test_alpine_nginx_gets_its_temp_directory_not_its_prefix():
    # jgeusebroek/docker-privatebin#10: Alpine's nginx package; /var/lib/nginx there holds the
    # links to its modules, logs and run directories, which a mount at /var/lib/nginx would hide.
    (d,) = diagnose(['nginx: [emerg] mkdir() "/var/lib/nginx/tmp/client_body" failed (30: Read-only file system)'],
                    REGISTRY)
    assert (d.app, d.mount, d.kind.value, d.size) == ("nginx", "/var/lib/nginx/tmp", "ephemeral", 1 << 30)
    # Debian's package keeps its temp directories in /var/lib/nginx itself (checked by a real run).
    (d,) = diagnose(['nginx: [emerg] mkdir() "/var/lib/nginx/body" failed (30: Read-only file system)'], REGISTRY)
    assert d.mount == "/var/lib/nginx"


@pytest.mark.parametrize("args, message", [
    (("--layout", "nosuch"), "--layout 'nosuch': no profile has a layout of that name; layouts: "),
    (("--app", "nginx", "--layout", "stack"), "--layout 'stack': nginx has no such layout; layouts: alpine, bitnami,"),
])
def test_an_unknown_layout_is_refused(args, message):
    result = rofs("explain", *args, "-", input='nginx: [emerg] mkdir() "/var/lib/nginx/body" failed (30: Read-only file system)\n')
    assert result.returncode == 2 and message in result.stderr and result.stdout == "", result.stderr


@pytest.mark.parametrize("line, cause, mount, process_named", [
    # Erlang's errno atom, in a tuple and after a colon (as file:make_dir/1 errors are logged)
    ('{error,{failed_to_start_child,store,{erofs,"/opt/app/mnesia"}}}', "read-only", "/opt/app/mnesia", None),
    ("[error] <0.123.0> Error when creating directory /srv/app/data: erofs", "read-only", "/srv/app/data", None),
    # sysctl names a kernel setting by its key: the file is /proc/sys/..., no volume serves it
    ('sysctl: setting key "vm.max_map_count": Read-only file system', "not-a-mount", None, "sysctl writes /proc/sys/vm/"),
    # a Java exception's class is not the program that wrote
    ("java.lang.IllegalStateException: Failed to create /usr/share/app/x.jar: Read-only file system",
     "not-a-mount", None, "/usr/share/app/x.jar, among the image's programs"),
    # docker compose's service prefix is not part of the message
    ("db_1        | mkdir: cannot create directory '/etc/app': Read-only file system", "not-a-mount", None,
     "mkdir writes /etc/app"),
])
def test_more_shapes_of_lines(line, cause, mount, process_named):
    (d,) = diagnose([line], REGISTRY)
    assert (d.cause, d.mount) == (cause, mount), d
    if process_named:
        assert process_named in d.advice and "IllegalStateException writes" not in d.advice, d.advice


SHOP = Path(__file__).parent.parent / "examples" / "k8s" / "shop.yaml"


def test_the_patch_goes_to_the_container_of_the_app_that_printed_the_line(tmp_path: Path):
    """shop.yaml runs postgres, nginx and an API: an nginx line (nginx/docker-nginx-unprivileged#17)
    patches the nginx container with nginx's paths, and nothing else; before, the first profiled
    image (postgres) was taken for the log's app and got nginx's mount."""
    log = tmp_path / "web.log"
    log.write_text('[emerg] 1#1: mkdir() "/var/cache/nginx/proxy_temp" failed (30: Read-only file system)\n')
    result = rofs("explain", str(log), "--manifest", str(SHOP))
    assert result.returncode == 1, result.stderr
    assert "  nginx: mount an ephemeral volume (emptyDir / tmpfs) at /var/cache/nginx, 1Gi" in result.stdout
    patch = result.stdout[result.stdout.index("\n--- "):]
    added = [line for line in patch.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert added[:6] == ["+          volumeMounts:", "+            - name: nginx-cache",
                         "+              mountPath: /var/cache/nginx", "+            - name: nginx-run",
                         "+              mountPath: /run", "+          securityContext:"], added
    assert not any("postgres" in line or "api" in line for line in added), added
    assert "@@ -51," in patch, "the hunk is the nginx container's (line 51 of shop.yaml)"


def test_a_line_of_an_app_the_manifest_does_not_run_is_not_patched(tmp_path: Path):
    log = tmp_path / "db.log"
    log.write_text('FATAL:  could not create lock file "/var/run/postgresql/.s.PGSQL.5432.lock": Read-only file system\n')
    bookinfo = RATINGS.parent / "bookinfo.yaml"  # six images, none known as postgres
    result = rofs("explain", str(log), "--manifest", str(bookinfo))
    assert result.returncode == 1 and "\n--- " not in result.stdout, result.stdout
    assert ("not in the patch: /var/run/postgresql (line 1): no container of the manifest is known to run postgres:"
            " give --app" in result.stderr), result.stderr
    # one container: the log is its own, whatever its image is known as; only the log's path is added
    result = rofs("explain", str(log), "--manifest", str(RATINGS))
    added = [line for line in result.stdout.splitlines() if line.startswith("+ ")]
    assert added and all("postgresql" in line or "emptyDir" in line or "sizeLimit" in line or "volume" in line
                         or "securityContext" in line or "readOnlyRootFilesystem" in line for line in added), added
