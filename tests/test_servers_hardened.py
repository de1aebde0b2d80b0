"""Real servers under the hardened sandbox (container capabilities, seccomp, namespaces): they
still run, and when a path they need is left read-only, rofs' report lists exactly the refused
writes the server's own log complains about, no more, no less.

Each server is started by the test from its Debian package.  memcached and nginx's workers drop
their privileges themselves (memcached -u memcache; nginx's "user www-data"), the case where a
tracer without CAP_SYS_PTRACE over them used to lose the paths.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from conftest import require_path, require_tool
from realserver import free_port
from rofs.runtime.sandbox import resolve_in_root
from test_profiles_real import NGINX_CONF, _http, _redis_cli, scratch  # noqa: F401
from test_run import _start, _wait_port, need_sandbox, run

READ_ONLY = "Read-only file system"


def refused_paths(report: dict) -> set[str]:
    """The report's refusals, as the kernel resolves them (/var/run -> /run)."""
    return {resolve_in_root("/", r["path"]) for r in report["refused"] if r["path"] is not None}


def logged_paths(log: str, pattern: str) -> set[str]:
    """Paths the server's log names in a line that says the write was refused (read-only)."""
    out = set()
    for line in log.splitlines():
        if READ_ONLY in line:
            out |= {resolve_in_root("/", p) for p in re.findall(pattern, line)}
    return out


def test_memcached_drops_privileges_and_its_refusal_is_reported(tmp_path: Path):
    """memcached, started as root, gives itself to memcache and then writes its PID file: the
    refusal comes from a non-dumpable process of another user and is still reported, with the
    path its log names and the user it wrote as."""
    need_sandbox()
    memcached = require_tool("memcached", "memcached")
    port = free_port()
    pid_file = f"/run/memcached/rofs-{port}.pid"
    result, report = run("--timeout", "5", "--", memcached, "-u", "memcache", "-p", str(port), "-l", "127.0.0.1",
                         "-P", pid_file, timeout=60)
    log = result.stderr
    logged = logged_paths(log, r"pid file (\S+) for writing")
    assert logged == {pid_file + ".tmp"}, log
    assert refused_paths(report) == logged, report["refused"]
    memcache_uid = int(subprocess.run(["id", "-u", "memcache"], capture_output=True, text=True).stdout)
    assert {(r["process"], r["uid"]) for r in report["refused"]} == {("memcached", memcache_uid)}


def test_memcached_serves_under_its_profile(tmp_path: Path):
    need_sandbox()
    memcached = require_tool("memcached", "memcached")
    port = free_port()
    report_file = tmp_path / "report.json"
    # Without -P (the profile's PID file is optional) memcached writes nothing at all.
    proc = _start(["--profile", "memcached", "--", memcached, "-u", "memcache", "-p", str(port), "-l", "127.0.0.1"],
                  report_file)
    try:
        assert _wait_port(port, proc), proc.stdout.read() if proc.poll() is not None else "no port"
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"set k 0 0 2\r\nok\r\nget k\r\n")
            time.sleep(0.3)
            answer = conn.recv(4096)
        assert b"STORED" in answer and b"VALUE k 0 2\r\nok" in answer
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    report = json.loads(report_file.read_text())
    assert report["refused"] == [], report["refused"]


def test_nginx_logs_and_report_agree(scratch):  # noqa: F811
    """nginx with /var/log/nginx left read-only: the paths of its "open() ... failed (30:
    Read-only file system)" lines are exactly the report's refusals."""
    need_sandbox()
    nginx = require_tool("nginx", "nginx-light")
    require_path("/etc/nginx/mime.types", "Debian nginx config")
    port, upstream = free_port(), free_port()
    conf = scratch / "nginx.conf"
    conf.write_text(NGINX_CONF.format(port=port, upstream=upstream))
    result, report = run("--profile", "nginx", "--keep-read-only", "/var/log/nginx", "--", nginx, "-c", str(conf),
                         "-g", "daemon off;", timeout=60)
    assert result.returncode != 0
    logged = logged_paths(result.stderr, r'open\(\) "([^"]+)"')
    assert logged and all(p.startswith("/var/log/nginx/") for p in logged), result.stderr
    assert refused_paths(report) == logged, (report["refused"], result.stderr)


def test_nginx_workers_that_dropped_privileges_buffer_a_large_post(scratch):  # noqa: F811
    """Under its profile, nginx's www-data workers spool a 1 MiB body to /var/lib/nginx and proxy it:
    200, nothing refused."""
    need_sandbox()
    nginx = require_tool("nginx", "nginx-light")
    port, upstream = free_port(), free_port()
    conf = scratch / "nginx.conf"
    conf.write_text(NGINX_CONF.format(port=port, upstream=upstream))
    report_file = scratch / "report.json"
    proc = _start(["--profile", "nginx", "--", nginx, "-c", str(conf), "-g", "daemon off;"], report_file)
    try:
        assert _wait_port(port, proc)
        assert _http(port, "POST", "/upload", os.urandom(1 << 20)) == (200, b"stored\n")
        proc.send_signal(signal.SIGQUIT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads(report_file.read_text())["refused"] == []


def test_redis_logs_and_report_agree(tmp_path: Path):
    """Redis (Debian config, appendonly) with its data directory read-only: what its log says it
    could not write (the append-only directory under `dir`) is what the report refused."""
    need_sandbox()
    redis = require_tool("redis-server", "redis-server")
    require_path("/etc/redis/redis.conf", "Debian redis.conf")
    port = free_port()
    state = tmp_path / "state"
    result, report = run("--profile", "redis", "--user", "redis", "--state-dir", str(state),
                         "--keep-read-only", "/var/lib/redis", "--", redis, "/etc/redis/redis.conf", "--daemonize", "no",
                         "--port", str(port), "--appendonly", "yes", "--logfile", "", timeout=60)
    assert result.returncode != 0
    # Redis names the directory relative to `dir` (/var/lib/redis in Debian's config).
    logged = {resolve_in_root("/", "/var/lib/redis/" + p)
              for line in result.stdout.splitlines() + result.stderr.splitlines() if READ_ONLY in line
              for p in re.findall(r"append-only dir (\S+):", line)}
    assert logged == {"/var/lib/redis/appendonlydir"}, result.stdout + result.stderr
    assert refused_paths(report) == logged, report["refused"]


def test_postgres_logs_and_report_agree(scratch):  # noqa: F811
    """PostgreSQL with its socket directory read-only: the lock file its FATAL line names is the
    one refusal in the report."""
    need_sandbox()
    pg_bin = Path("/usr/lib/postgresql/15/bin")
    require_path(pg_bin / "postgres", "postgres (apt-get install -y postgresql-15)")
    data = scratch / "data"
    subprocess.run(["runuser", "-u", "postgres", "--", str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres",
                    "--auth=trust", "--no-sync"], check=True, capture_output=True) if _chown(scratch) else None
    port = free_port()
    result, report = run("--profile", "postgres", "--user", "postgres", "--persist", f"/var/lib/postgresql={scratch}",
                         "--keep-read-only", "/var/run/postgresql", "--", str(pg_bin / "postgres"),
                         "-D", f"/var/lib/postgresql/{data.name}", "-c", f"port={port}",
                         "-c", "listen_addresses=127.0.0.1", timeout=60)
    assert result.returncode != 0
    logged = logged_paths(result.stderr, r'"([^"]+)"')
    assert logged == {resolve_in_root("/", f"/var/run/postgresql/.s.PGSQL.{port}.lock")}, result.stderr
    assert refused_paths(report) == logged, report["refused"]


def _chown(path: Path) -> bool:
    import shutil

    shutil.chown(path, "postgres", "postgres")
    return True
