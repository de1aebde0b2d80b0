"""The Debian layouts of the built-in profiles, proved by running the real servers.

Each test starts the server from its Debian package under bubblewrap with the
whole root read-only and only the profile's *required* paths for layout
``debian`` writable (tmpfs of the profile's size for ephemeral and memory
paths, a host directory for persistent ones).  The server must then do real
work for a real client.  Then every required path in turn is left read-only,
and the server must fail with one of the profile's ``signatures`` for that
path.  Finally every signature listed for those paths must have been seen in
one of the runs, so the profile never carries a log line nobody observed.

Needs root (bwrap mounts, setpriv to the service user), bubblewrap and the
packages.  Outside CI a missing piece skips; under CI=true it fails.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import rofs.profiles
from conftest import in_ci, require_path, require_tool
from realserver import (
    Mount,
    Outcome,
    Sandboxed,
    chown_tree,
    free_port,
    layout_mounts,
    matching_signatures,
    run_until_exit,
)
from rofs.model import Profile, VolumeKind
from rofs.profiles import load_profile_file

pytestmark = pytest.mark.realserver

DATA = Path(rofs.profiles.__file__).resolve().parent / "data"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _profile(name: str) -> Profile:
    # Load the one file, not the whole registry: another profile's problem must not hide this one.
    return load_profile_file(DATA / f"{name}.yaml")


def _require_root() -> None:
    if os.geteuid() != 0:
        message = "needs root: bwrap mounts and setpriv to the service user"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def _require_sandbox() -> None:
    _require_root()
    require_tool("bwrap", "bubblewrap")
    require_tool("setpriv", "util-linux")


@pytest.fixture
def scratch():
    """A directory the service users can reach (pytest's tmp_path is 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="rofs-real-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _owned_dir(parent: Path, name: str, user: str) -> Path:
    path = parent / name
    path.mkdir(mode=0o700)
    chown_tree(path, user)
    return path


def _required(profile: Profile, layout: str):
    return [p for p in profile.paths_for(layout) if p.required]


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _assert_fails_with_signature(outcome: Outcome, item, what: str) -> None:
    assert outcome.returncode is not None and outcome.returncode != 0, (
        f"{what}: expected the server to fail with {item.path} read-only, "
        f"got exit status {outcome.returncode}\n{_tail(outcome.output)}"
    )
    assert matching_signatures(outcome.output, item.signatures), (
        f"{what}: none of the signatures for {item.path} {list(item.signatures)} in the output:\n"
        f"{_tail(outcome.output)}"
    )


def _assert_all_signatures_seen(profile: Profile, layout: str, seen: str) -> None:
    """Every signature the profile lists for the layout's required paths was printed by some run."""
    missing = [
        (item.path, sig)
        for item in _required(profile, layout)
        for sig in item.signatures
        if sig not in seen and sig not in item.other_versions  # another version's wording, from its source
    ]
    assert not missing, f"signatures in {profile.name}.yaml that no run printed: {missing}"


# --- PostgreSQL ---------------------------------------------------------------------------


def test_postgres_debian_layout(scratch):
    _require_sandbox()
    postgres = require_path(PG_BIN / "postgres", "postgres (apt-get install -y postgresql-15)")
    initdb = require_path(PG_BIN / "initdb", "initdb (apt-get install -y postgresql-15)")
    psql = require_tool("psql", "postgresql-client-15")
    require_path("/etc/postgresql/15/main/postgresql.conf", "Debian cluster config (apt-get install -y postgresql-15)")

    profile = _profile("postgres")
    layout = profile.layout("debian")
    assert layout.command and layout.command[0] == str(postgres)
    data_path = next(p.path for p in _required(profile, "debian") if p.kind is VolumeKind.PERSISTENT)

    data = _owned_dir(scratch, "data", "postgres")
    init = subprocess.run(
        ["runuser", "-u", "postgres", "--", str(initdb), "-D", str(data), "-U", "postgres",
         "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
        capture_output=True, text=True, timeout=120,
    )
    assert init.returncode == 0, init.stdout + init.stderr

    port = free_port()
    # The Debian config as the profile starts it; the cluster from initdb brings its own
    # trust-auth pg_hba.conf, and TCP on 127.0.0.1 lets psql reach into the sandbox.
    argv = list(layout.command) + [
        "-c", f"port={port}",
        "-c", "listen_addresses=127.0.0.1",
        "-c", f"hba_file={data_path}/pg_hba.conf",
        "-c", f"ident_file={data_path}/pg_ident.conf",
    ]
    volumes = {data_path: data}
    seen = ""

    # 1. Only the required paths writable: a real query works and the server stops cleanly.
    mounts = layout_mounts(profile, "debian", volumes)
    with Sandboxed(argv, mounts, user="postgres") as box:
        assert box.wait_port(port, timeout=30), _tail(box.output())
        query = subprocess.run(
            [psql, "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port),
             "-U", "postgres", "-d", "postgres",
             "-c", "CREATE TABLE rofs_check (x integer)",
             "-c", "INSERT INTO rofs_check VALUES (1), (2), (39)",
             "-c", "SELECT sum(x) FROM rofs_check"],
            capture_output=True, text=True, timeout=30,
        )
        assert query.returncode == 0, query.stderr + _tail(box.output())
        assert query.stdout.strip() == "42"
        stopped = box.stop(signal.SIGINT, timeout=30)
    assert stopped.returncode == 0, _tail(stopped.output)
    assert "database system is shut down" in stopped.output
    seen += stopped.output

    # 2. Each required path read-only in turn: the server exits with that path's signature.
    for item in _required(profile, "debian"):
        outcome = run_until_exit(argv, layout_mounts(profile, "debian", volumes, leave_out=item.path),
                                 user="postgres", timeout=30)
        _assert_fails_with_signature(outcome, item, "postgres")
        seen += outcome.output

    # 3. What GROUND_TRUTH.md says about the edges, and where the other signatures come from:
    #    with the Unix socket off, a read-only socket directory only costs Debian's external
    #    PID file (logged, keeps running) ...
    mounts = layout_mounts(profile, "debian", volumes, leave_out="/var/run/postgresql")
    with Sandboxed(argv + ["-c", "unix_socket_directories="], mounts, user="postgres") as box:
        assert box.wait_port(port, timeout=30), _tail(box.output())
        stopped = box.stop(signal.SIGINT, timeout=30)
    assert stopped.returncode == 0, _tail(stopped.output)
    assert "could not write external PID file" in stopped.output
    seen += stopped.output

    #    ... and a /dev/shm of 1 MiB is too small: the server exits.
    tiny = [m if m.path != "/dev/shm" else Mount("/dev/shm", "tmpfs", size=1 << 20)
            for m in layout_mounts(profile, "debian", volumes)]
    outcome = run_until_exit(argv, tiny, user="postgres", timeout=30)
    assert outcome.returncode not in (0, None), _tail(outcome.output)
    assert "could not resize shared memory segment" in outcome.output
    seen += outcome.output

    _assert_all_signatures_seen(profile, "debian", seen)


# --- Redis --------------------------------------------------------------------------------


def _redis_cli(cli: str, port: int, *args: str) -> str:
    done = subprocess.run([cli, "-p", str(port), *args], capture_output=True, text=True, timeout=15)
    return (done.stdout + done.stderr).strip()


def _wait_bgsave(cli: str, port: int, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    info = ""
    while time.monotonic() < deadline:
        info = _redis_cli(cli, port, "INFO", "persistence")
        if "rdb_bgsave_in_progress:0" in info:
            break
        time.sleep(0.05)
    return info


def test_redis_debian_layout(scratch):
    _require_sandbox()
    require_tool("redis-server", "redis-server")
    cli = require_tool("redis-cli", "redis-tools")
    require_path("/etc/redis/redis.conf", "Debian redis.conf (apt-get install -y redis-server)")

    profile = _profile("redis")
    layout = profile.layout("debian")
    required = {p.path: p for p in _required(profile, "debian")}
    assert set(required) == {"/var/lib/redis", "/var/log/redis"}
    log = "/var/log/redis/redis-server.log"
    port = free_port()
    argv = list(layout.command) + ["--port", str(port), "--appendonly", "yes"]
    data = _owned_dir(scratch, "data", "redis")
    volumes = {"/var/lib/redis": data}
    seen = ""

    # 1. Fresh, empty data directory read-only: with appendonly the server exits at start.
    outcome = run_until_exit(argv, layout_mounts(profile, "debian", volumes, leave_out="/var/lib/redis"),
                             user="redis", dump=[log], timeout=15)
    _assert_fails_with_signature(outcome, required["/var/lib/redis"], "redis, empty data dir")
    seen += outcome.output

    # 2. Only the required paths writable (the PID directory /run/redis is not: Redis does not
    #    need it): SET, GET, BGSAVE, the AOF, and a clean SIGTERM shutdown.
    mounts = layout_mounts(profile, "debian", volumes)
    with Sandboxed(argv, mounts, user="redis", dump=[log]) as box:
        assert box.wait_port(port), _tail(box.output())
        assert _redis_cli(cli, port, "SET", "rofs", "read-only-root") == "OK"
        assert _redis_cli(cli, port, "GET", "rofs") == "read-only-root"
        assert "Background saving started" in _redis_cli(cli, port, "BGSAVE")
        assert "rdb_last_bgsave_status:ok" in _wait_bgsave(cli, port)
        stopped = box.stop(signal.SIGTERM)
    assert stopped.returncode == 0, _tail(stopped.output)
    assert "ready to exit, bye bye" in stopped.dumped(log)
    assert (data / "dump.rdb").is_file()
    assert (data / "appendonlydir").is_dir()
    seen += stopped.output

    # The data survived: a restart on the same volume still has the key.
    with Sandboxed(argv, mounts, user="redis", dump=[log]) as box:
        assert box.wait_port(port), _tail(box.output())
        assert _redis_cli(cli, port, "GET", "rofs") == "read-only-root"
        stopped = box.stop(signal.SIGTERM)
    assert stopped.returncode == 0, _tail(stopped.output)

    # 3. Each required path read-only in turn (the data directory now holds an AOF).
    for path, item in required.items():
        outcome = run_until_exit(argv, layout_mounts(profile, "debian", volumes, leave_out=path),
                                 user="redis", dump=[log], timeout=15)
        _assert_fails_with_signature(outcome, item, "redis")
        seen += outcome.output

    # 4. GROUND_TRUTH.md: without appendonly a read-only data directory does not stop the start.
    #    Redis serves, BGSAVE fails, writes get MISCONF, and SIGTERM is refused because the final
    #    save fails - the server has to be killed.
    no_aof = list(layout.command) + ["--port", str(port), "--appendonly", "no"]
    mounts = layout_mounts(profile, "debian", volumes, leave_out="/var/lib/redis")
    with Sandboxed(no_aof, mounts, user="redis", dump=[log]) as box:
        assert box.wait_port(port), _tail(box.output())
        assert _redis_cli(cli, port, "GET", "rofs") == "read-only-root"
        _redis_cli(cli, port, "BGSAVE")
        assert "rdb_last_bgsave_status:err" in _wait_bgsave(cli, port)
        refused = _redis_cli(cli, port, "SET", "rofs", "lost")
        assert refused.startswith("MISCONF"), refused
        seen += refused + "\n"
        box.send(signal.SIGTERM)
        assert box.wait(3) is None, "redis exited on SIGTERM although it could not save"
        deadline = time.monotonic() + 5
        inside = box.read_file(log)
        while "can't exit" not in inside and time.monotonic() < deadline:
            time.sleep(0.05)
            inside = box.read_file(log)
        seen += inside
    assert "Error trying to save the DB, can't exit." in inside

    _assert_all_signatures_seen(profile, "debian", seen)


# --- nginx --------------------------------------------------------------------------------

NGINX_CONF = """\
# The Debian nginx.conf's paths (user, pid, logs; temp paths compiled in under /var/lib/nginx),
# on free ports, with a proxy so a request body is really read and buffered.
user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log /var/log/nginx/access.log;
    client_max_body_size 8m;
    server {{
        listen 127.0.0.1:{port};
        location = / {{ return 200 "ok\\n"; }}
        location = /upload {{ proxy_pass http://127.0.0.1:{upstream}/sink; }}
    }}
    server {{
        listen 127.0.0.1:{upstream};
        location = /sink {{ return 200 "stored\\n"; }}
    }}
}}
"""


def _http(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/octet-stream"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_nginx_debian_layout(scratch):
    _require_sandbox()
    nginx = require_tool("nginx", "nginx-light")
    require_path("/etc/nginx/mime.types", "Debian nginx config (apt-get install -y nginx-light)")

    profile = _profile("nginx")
    layout = profile.layout("debian")
    required = {p.path: p for p in _required(profile, "debian")}
    assert set(required) == {"/var/lib/nginx", "/var/log/nginx", "/run"}
    port, upstream = free_port(), free_port()
    conf = scratch / "nginx.conf"
    conf.write_text(NGINX_CONF.format(port=port, upstream=upstream))
    command = list(layout.command)
    assert Path(command[0]).resolve() == Path(nginx).resolve()
    argv = [command[0], "-c", str(conf), *command[1:]]
    logs = ["/var/log/nginx/error.log", "/var/log/nginx/access.log"]
    body = os.urandom(1 << 20)  # far above client_body_buffer_size: spooled to /var/lib/nginx/body
    seen = ""

    # 1. Only the required paths writable: a 1 MiB POST is buffered to a temp file and proxied.
    mounts = layout_mounts(profile, "debian", {})
    with Sandboxed(argv, mounts, dump=logs) as box:
        assert box.wait_port(port), _tail(box.output())
        assert _http(port, "POST", "/upload", body) == (200, b"stored\n")
        assert box.read_file("/run/nginx.pid").strip().isdigit()
        stopped = box.stop(signal.SIGQUIT)
    assert stopped.returncode == 0, _tail(stopped.output)
    assert "a client request body is buffered to a temporary file /var/lib/nginx/body/" in stopped.dumped(logs[0])
    assert '"POST /upload HTTP/1.1" 200' in stopped.dumped(logs[1])
    seen += stopped.output

    # 2. Each required path read-only in turn: nginx exits at start with the signature.
    for path, item in required.items():
        outcome = run_until_exit(argv, layout_mounts(profile, "debian", {}, leave_out=path),
                                 dump=logs, timeout=15)
        _assert_fails_with_signature(outcome, item, "nginx")
        seen += outcome.output

    # 3. GROUND_TRUTH.md: temp directories created beforehand (owned by www-data) but read-only -
    #    nginx starts, and the large POST gets 500.
    precreated = scratch / "var-lib-nginx"
    precreated.mkdir()
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        _owned_dir(precreated, name, "www-data")
    mounts = [m for m in layout_mounts(profile, "debian", {}) if m.path != "/var/lib/nginx"]
    mounts.append(Mount("/var/lib/nginx", "ro-bind", source=precreated))
    with Sandboxed(argv, mounts, dump=logs) as box:
        assert box.wait_port(port), _tail(box.output())
        status, _ = _http(port, "POST", "/upload", body)
        assert status == 500
        stopped = box.stop(signal.SIGQUIT)
    assert stopped.returncode == 0, _tail(stopped.output)
    assert matching_signatures(stopped.output, required["/var/lib/nginx"].signatures)
    seen += stopped.output

    # 4. The official image's way out for logs: access.log and error.log as symlinks to
    #    /dev/stdout and /dev/stderr work in a read-only /var/log/nginx.
    linked = scratch / "var-log-nginx"
    linked.mkdir()
    (linked / "access.log").symlink_to("/dev/stdout")
    (linked / "error.log").symlink_to("/dev/stderr")
    mounts = [m for m in layout_mounts(profile, "debian", {}) if m.path != "/var/log/nginx"]
    mounts.append(Mount("/var/log/nginx", "ro-bind", source=linked))
    with Sandboxed(argv, mounts) as box:
        assert box.wait_port(port), _tail(box.output())
        assert _http(port, "GET", "/") == (200, b"ok\n")
        stopped = box.stop(signal.SIGQUIT)
    assert stopped.returncode == 0, _tail(stopped.output)
    assert '"GET / HTTP/1.1" 200' in stopped.output

    _assert_all_signatures_seen(profile, "debian", seen)


def test_redis_without_persistence_writes_nothing():
    """The profile's `unneeded_with`: `--save "" --appendonly no` needs no writable path at all."""
    _require_root()
    bwrap = require_tool("bwrap", "bubblewrap")
    server = require_tool("redis-server")
    cli = require_tool("redis-cli", "redis-tools")
    profile = _profile("redis")
    words = ("--save", "", "--appendonly", "no")
    data = next(p for p in profile.paths_for("debian") if p.path == "/var/lib/redis")
    assert data.unneeded_for(words) and not data.unneeded_for(("--appendonly", "yes"))
    port = free_port()
    proc = subprocess.Popen(
        [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid", "--die-with-parent",
         "--as-pid-1", "--", server, "--port", str(port), "--bind", "127.0.0.1", "--dir", "/var/lib/redis",
         "--daemonize", "no", "--logfile", "", *words],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ping = subprocess.run([cli, "-p", str(port), "ping"], capture_output=True, text=True)
            if ping.stdout.strip() == "PONG":
                break
            time.sleep(0.1)
        assert subprocess.run([cli, "-p", str(port), "set", "k", "v"], capture_output=True, text=True).stdout.strip() == "OK"
        assert subprocess.run([cli, "-p", str(port), "get", "k"], capture_output=True, text=True).stdout.strip() == "v"
        subprocess.run([cli, "-p", str(port), "shutdown"], capture_output=True, text=True)
        assert proc.wait(timeout=10) == 0, "stops cleanly: there is nothing to save"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
