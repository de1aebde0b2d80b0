"""`rofs run`: the sandbox holds, sizes are enforced, signals and exit codes pass through,
nothing is left behind, and refused writes of real servers are reported with their path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import in_ci, require_path, require_tool
from realserver import free_port, port_open
from test_cli import ROFS
from test_profiles_real import NGINX_CONF, _http, _redis_cli, _wait_bgsave, scratch  # noqa: F401


def need_sandbox() -> None:
    require_tool("bwrap", "bubblewrap")
    require_tool("strace", "strace")
    if os.geteuid() != 0:
        message = "rofs run tests switch users: they need root"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def run(*args: str, timeout: float = 60, env=None) -> tuple[subprocess.CompletedProcess, dict]:
    report = Path(f"/tmp/rofs-run-report-{os.getpid()}-{time.monotonic_ns()}.json")
    result = subprocess.run([ROFS, "run", "--format", "json", "--report", str(report), *args],
                            capture_output=True, text=True, timeout=timeout, env=env)
    data = json.loads(report.read_text()) if report.exists() else {}
    report.unlink(missing_ok=True)
    return result, data


def mountinfo() -> list[str]:
    return sorted(line.split(" ", 4)[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())


def test_the_sandbox_holds_and_refusals_are_reported(tmp_path: Path):
    need_sandbox()
    before = mountinfo()
    script = (
        "echo ok > /tmp/allowed && cat /tmp/allowed; "
        "echo x > /etc/rofs-test; echo x > /usr/rofs-test; echo x > /rofs-test; mkdir -p /var/lib/rofs-test/cache; "
        "echo x > /proc/self/root/etc/rofs-test2; exit 0"
    )
    result, report = run("--writable", "/tmp:1m", "--", "sh", "-c", script)
    assert result.returncode == 0
    assert result.stdout == "ok\n"
    refused = {(r["errno"], r["path"]) for r in report["refused"]}
    assert {("EROFS", "/etc/rofs-test"), ("EROFS", "/usr/rofs-test"), ("EROFS", "/rofs-test"),
            ("EROFS", "/var/lib/rofs-test"), ("EROFS", "/etc/rofs-test2")} <= refused
    for path in ("/etc/rofs-test", "/usr/rofs-test", "/rofs-test", "/var/lib/rofs-test", "/tmp/allowed"):
        assert not os.path.exists(path), f"{path} reached the host"
    added = {a["path"] for a in report["add"]}
    assert {"/etc", "/usr", "/var/lib/rofs-test"} <= added
    assert mountinfo() == before, "no mount left behind"


def test_declared_tmpfs_size_is_enforced(tmp_path: Path):
    need_sandbox()
    result, report = run("--writable", "/tmp:1m", "--", "sh", "-c", "dd if=/dev/zero of=/tmp/big bs=64k count=64")
    assert result.returncode != 0
    assert any(r["errno"] == "ENOSPC" and r["path"] == "/tmp/big" for r in report["refused"])
    assert report["problems"] == ["/tmp is full (1Mi): dd could not write /tmp/big; give it more room"]


def test_exit_codes_and_signals_pass_through():
    need_sandbox()
    assert run("--", "sh", "-c", "exit 7")[0].returncode == 7
    assert run("--", "sh", "-c", "kill -TERM $$")[0].returncode == 128 + signal.SIGTERM


def test_timeout_stops_programs_that_ignore_sigterm_or_daemonise():
    need_sandbox()
    marker = "313.25"
    start = time.monotonic()
    result, report = run("--timeout", "1", "--", "sh", "-c",
                         f"trap '' TERM; (setsid sleep {marker} &); sleep {marker}", timeout=30)
    assert time.monotonic() - start < 15
    assert report["timed_out"] is True
    time.sleep(0.3)
    left = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True).stdout.split()
    assert left == [], "nothing keeps running after rofs run"


def test_ctrl_c_stops_the_program_not_just_rofs():
    need_sandbox()
    proc = subprocess.Popen([ROFS, "run", "--no-trace", "--", "sh", "-c", "trap 'exit 42' INT; while :; do sleep 0.1; done"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 42


def test_persist_creates_the_host_directory(tmp_path: Path):
    need_sandbox()
    host = tmp_path / "state" / "data"
    result, report = run("--persist", f"/mnt={host}", "--", "sh", "-c", "echo kept > /mnt/file")
    assert result.returncode == 0 and (host / "file").read_text() == "kept\n"
    bad, _ = run("--persist", "/mnt=/proc/rofs-cannot", "--", "true")
    assert bad.returncode == 2 and "cannot create /proc/rofs-cannot" in bad.stderr


def test_clear_errors():
    need_sandbox()
    result, _ = run("--profile", "oracle", "--", "true")
    assert result.returncode == 2 and "unknown app 'oracle'" in result.stderr
    env = dict(os.environ, PATH="/nonexistent")
    result, _ = run("--", "true", env=env)
    assert result.returncode == 2 and "bwrap is not installed: apt-get install -y bubblewrap" in result.stderr
    result, _ = run("--writable", "/nonexistent-dir", "--", "true")
    assert result.returncode == 2 and "does not exist in the root filesystem" in result.stderr


# --- real servers under their Debian-layout profiles ---------------------------------------


def _start(args: list[str], report: Path) -> subprocess.Popen:
    return subprocess.Popen([ROFS, "run", "--format", "json", "--report", str(report), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def test_redis_under_its_profile(tmp_path: Path):
    need_sandbox()
    require_tool("redis-server", "redis-server")
    cli = require_tool("redis-cli", "redis-tools")
    require_path("/etc/redis/redis.conf", "Debian redis.conf")
    port = free_port()
    report_file = tmp_path / "report.json"
    state = tmp_path / "state"
    argv = ["--profile", "redis", "--user", "redis", "--state-dir", str(state), "--",
            "redis-server", "/etc/redis/redis.conf", "--daemonize", "no", "--port", str(port), "--appendonly", "yes"]
    proc = _start(argv, report_file)
    try:
        assert _wait_port(port, proc), proc.stdout.read() if proc.poll() is not None else "no port"
        assert _redis_cli(cli, port, "SET", "k", "v") == "OK"
        assert _redis_cli(cli, port, "GET", "k") == "v"
        assert "Background saving started" in _redis_cli(cli, port, "BGSAVE")
        assert "rdb_last_bgsave_status:ok" in _wait_bgsave(cli, port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    report = json.loads(report_file.read_text())
    assert report["refused"] == [] and report["add"] == []
    assert (state / "redis" / "data" / "dump.rdb").is_file(), "persistent path on the state dir"

    # Each required path left read-only in turn: the report names it.
    for path in ("/var/lib/redis", "/var/log/redis"):
        cut = argv.index("--")
        result, report = run(*argv[:cut], "--keep-read-only", path, *argv[cut:], timeout=60)
        assert result.returncode != 0
        added = {a["path"]: a for a in report["add"]}
        assert path in added, (path, report["add"], report["refused"])
        assert added[path]["kind"] == ("persistent" if path == "/var/lib/redis" else "ephemeral"), "kind from the profile"


def test_nginx_under_its_profile(scratch):  # noqa: F811
    need_sandbox()
    nginx = require_tool("nginx", "nginx-light")
    require_path("/etc/nginx/mime.types", "Debian nginx config")
    port, upstream = free_port(), free_port()
    conf = scratch / "nginx.conf"
    conf.write_text(NGINX_CONF.format(port=port, upstream=upstream))
    argv = ["--profile", "nginx", "--", nginx, "-c", str(conf), "-g", "daemon off;"]
    report_file = scratch / "report.json"
    proc = _start(argv, report_file)
    try:
        assert _wait_port(port, proc)
        assert _http(port, "POST", "/upload", os.urandom(1 << 20)) == (200, b"stored\n")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    report = json.loads(report_file.read_text())
    assert report["refused"] == [], report["refused"]
    for path in ("/var/lib/nginx", "/var/log/nginx", "/run"):
        cut = argv.index("--")
        result, report = run(*argv[:cut], "--keep-read-only", path, *argv[cut:], timeout=60)
        assert result.returncode != 0
        assert any(a["path"] == path or a["path"].startswith(path + "/") for a in report["add"]), (path, report["add"])


def test_postgres_under_its_profile(scratch):  # noqa: F811
    need_sandbox()
    pg_bin = Path("/usr/lib/postgresql/15/bin")
    require_path(pg_bin / "postgres", "postgres (apt-get install -y postgresql-15)")
    require_path("/etc/postgresql/15/main/postgresql.conf", "Debian cluster config")
    psql = require_tool("psql", "postgresql-client-15")
    data_path = "/var/lib/postgresql/15/main"
    state = scratch / "state"
    common = ["--profile", "postgres", "--user", "postgres", "--state-dir", str(state)]
    # initdb itself runs read-only too: only the profile's paths are writable.
    result, report = run(*common, "--", str(pg_bin / "initdb"), "-D", data_path, "-U", "postgres",
                         "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert report["refused"] == [], report["refused"]
    port = free_port()
    server = [str(pg_bin / "postgres"), "-D", data_path, "-c", "config_file=/etc/postgresql/15/main/postgresql.conf",
              "-c", f"port={port}", "-c", "listen_addresses=127.0.0.1",
              "-c", f"hba_file={data_path}/pg_hba.conf", "-c", f"ident_file={data_path}/pg_ident.conf"]
    report_file = scratch / "report.json"
    proc = _start([*common, "--", *server], report_file)
    try:
        assert _wait_port(port, proc, timeout=30)
        query = subprocess.run(
            [psql, "-X", "-qAt", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres",
             "-c", "CREATE TABLE t (x integer)", "-c", "INSERT INTO t VALUES (40), (2)", "-c", "SELECT sum(x) FROM t"],
            capture_output=True, text=True, timeout=30)
        assert query.stdout.strip() == "42", query.stderr
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    report = json.loads(report_file.read_text())
    assert report["add"] == [], report["add"]
    for path in (data_path, "/var/run/postgresql"):
        result, report = run(*common, "--keep-read-only", path, "--", *server, timeout=60)
        assert result.returncode != 0
        assert path in {a["path"] for a in report["add"]}, (path, report["add"], report["problems"])
