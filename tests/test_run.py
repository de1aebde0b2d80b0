"""`rofs run`: the sandbox holds, sizes are enforced, signals and exit codes pass through,
nothing is left behind, and refused writes of real servers are reported with their path."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, in_ci, require_path, require_tool
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
        "echo x > /etc/rofs-test; echo x > /usr/rofs-test; echo x > /rofs-test; mkdir -p /var/lib/rofs-test/cache; mkdir /var/cache/rofs-test; "
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
    assert "/var/lib/rofs-test" in added and not added & {"/", "/etc", "/usr"}, "no volume over a system directory"
    kinds = {a["path"]: (a["kind"], a["kind_known"]) for a in report["add"]}
    assert kinds["/var/lib/rofs-test"] == ("persistent", False), "nothing says it is scratch: it may be data"
    assert kinds["/var/cache/rofs-test"] == ("ephemeral", True), "a cache may be lost"
    volumes = {v["name"]: v for v in report["snippets"]["kubernetes"]["volumes"]}
    assert volumes["var-lib-rofs-test"] == {"name": "var-lib-rofs-test",
                                            "persistentVolumeClaim": {"claimName": "var-lib-rofs-test"}}
    assert volumes["var-cache-rofs-test"] == {"name": "var-cache-rofs-test", "emptyDir": {"sizeLimit": "256Mi"}}
    assert "var-lib-rofs-test:/var/lib/rofs-test" in report["snippets"]["compose"]["volumes"]
    problems = "\n".join(report["problems"])
    assert "/etc/rofs-test, in the image's configuration under /etc" in problems
    assert "/usr/rofs-test, among the image's programs and libraries" in problems
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
    proc = subprocess.Popen([ROFS, "run", "--no-trace", "--", "sh", "-c",
                             "trap 'exit 42' INT; echo ready; while :; do sleep 0.1; done"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the signal goes once the program has its trap (a fixed sleep raced the sandbox's start)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
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
    for option in ("--writable", "--tmpfs"):
        result, _ = run(option, "/tmp/../etc", "--", "true")
        assert result.returncode == 2 and "no '.' or '..' in the path" in result.stderr, result.stderr


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
        proc.send_signal(signal.SIGQUIT)  # nginx's graceful stop
        assert proc.wait(timeout=20) == 0
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


# --- images without a daemon ----------------------------------------------------------------

SCRIPT = """#!/bin/sh
echo "hello from the image $FOO in $(pwd)"
echo x > /tmp/ok && echo tmp-ok
echo x > /etc/x
echo x > /data/state
exit 3
"""


@pytest.fixture(scope="module")
def oci_image(tmp_path_factory):
    """A real OCI image, built here with umoci from Debian's static busybox and a script."""
    umoci = require_tool("umoci", "umoci")
    busybox = require_path("/bin/busybox", "static busybox (apt-get install -y busybox-static)")
    root = tmp_path_factory.mktemp("image")
    layout, bundle = root / "oci", root / "bundle"

    def sh(*args):
        subprocess.run(args, check=True, capture_output=True, text=True)

    sh(umoci, "init", "--layout", str(layout))
    sh(umoci, "new", "--image", f"{layout}:latest")
    sh(umoci, "unpack", "--image", f"{layout}:latest", str(bundle))
    rootfs = bundle / "rootfs"
    for d in ("bin", "app", "data", "etc", "tmp"):
        (rootfs / d).mkdir(exist_ok=True)
    # As real images have them: /tmp world-writable (sticky), the VOLUME owned by the image's user.
    (rootfs / "tmp").chmod(0o1777)
    os.chown(rootfs / "data", 1000, 1000)
    (rootfs / "bin" / "busybox").write_bytes(Path(busybox).read_bytes())
    (rootfs / "bin" / "busybox").chmod(0o755)
    for applet in ("sh", "echo", "pwd", "mkdir"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    (rootfs / "app" / "start.sh").write_text(SCRIPT)
    (rootfs / "app" / "start.sh").chmod(0o755)
    sh(umoci, "repack", "--image", f"{layout}:latest", str(bundle))
    sh(umoci, "config", "--image", f"{layout}:latest", "--config.entrypoint", "/app/start.sh",
       "--config.volume", "/data", "--config.env", "FOO=bar", "--config.env", "PATH=/bin",
       "--config.workingdir", "/app", "--config.user", "1000:1000")
    return layout


def test_an_oci_image_runs_and_its_refused_writes_are_reported(oci_image, tmp_path: Path):
    need_sandbox()
    cache = tmp_path / "cache"
    result, report = run("--image", f"{oci_image}:latest", "--image-cache", str(cache), "--writable", "/tmp:1m")
    assert result.returncode == 3, result.stderr
    assert result.stdout == "hello from the image bar in /app\ntmp-ok\n", "Entrypoint, Env and WorkingDir applied"
    refused = {(r["errno"], r["path"]) for r in report["refused"]}
    assert {("EROFS", "/etc/x"), ("EROFS", "/data/state")} == refused
    assert report["image_volumes"] == ["/data"]
    added = {a["path"]: a["kind"] for a in report["add"]}
    assert added == {"/data": "persistent"}, "a VOLUME is data (and /etc no place for a volume)"
    assert [a["kind_known"] for a in report["add"]] == [True], "the image's VOLUME says so"
    assert any("/etc/x, in the image's configuration under /etc" in p for p in report["problems"])
    digests = list(cache.iterdir())
    assert len(digests) == 1 and digests[0].name.startswith("sha256-"), "cache keyed by digest"
    # Second run: same cache entry.
    run("--image", f"{oci_image}:latest", "--image-cache", str(cache), "--writable", "/tmp:1m")
    assert list(cache.iterdir()) == digests


def test_env_sets_variables_over_the_environment(oci_image, tmp_path: Path):
    """--env NAME=VALUE reaches the program, over the image's Env (as docker run -e); a value may
    be empty or hold '='; a malformed one is refused before anything runs."""
    need_sandbox()
    done = subprocess.run([ROFS, "run", "-e", "GREETING=a=b", "--env", "EMPTY=", "--no-trace", "--",
                           "sh", "-c", 'printf "%s|%s|%s" "$GREETING" "${EMPTY-unset}" "${HOME:+home}"'],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "a=b||home"
    result, _ = run("--image", f"{oci_image}:latest", "--image-cache", str(tmp_path / "cache"), "--writable", "/tmp:1m",
                    "-e", "FOO=override")
    assert result.stdout.startswith("hello from the image override in /app\ntmp-ok\n"), result.stdout
    for bad in ("NOEQUALS", "=value"):
        refused = subprocess.run([ROFS, "run", "-e", bad, "--", "true"], capture_output=True, text=True, timeout=30)
        assert refused.returncode == 2 and "give NAME=VALUE" in refused.stderr


def test_a_docker_save_archive_runs(oci_image, tmp_path: Path):
    need_sandbox()
    skopeo = require_tool("skopeo", "skopeo")
    archive = tmp_path / "image.tar"
    subprocess.run([skopeo, "--insecure-policy", "copy", f"oci:{oci_image}:latest", f"docker-archive:{archive}:rofs/test:1"],
                   check=True, capture_output=True)
    result, report = run("--image", str(archive), "--image-cache", str(tmp_path / "cache"),
                         "--writable", "/tmp:1m", "--persist", f"/data={tmp_path / 'data'}")
    assert result.returncode == 3
    assert {r["path"] for r in report["refused"]} == {"/etc/x"}
    assert (tmp_path / "data" / "state").read_text() == "x\n"


def test_image_errors_are_clear(tmp_path: Path):
    need_sandbox()
    result, _ = run("--image", str(tmp_path / "nothing"), "--", "true")
    assert result.returncode == 2 and "image not found" in result.stderr
    bad = tmp_path / "bad.tar"
    bad.write_text("not a tar")
    result, _ = run("--image", str(bad))
    assert result.returncode == 2 and "not a docker save archive" in result.stderr
    layout = tmp_path / "layout"
    layout.mkdir()
    (layout / "oci-layout").write_text("{}")
    (layout / "index.json").write_text("{not json")
    result, _ = run("--image", str(layout))
    assert result.returncode == 2 and "corrupt image index" in result.stderr


def test_engine_command_line():
    """No engine runs on this machine: this checks the exact command line rofs would run."""
    from rofs.profiles import builtin_registry
    from rofs.runtime.engine import engine_argv
    from rofs.runtime.run import declare

    redis = builtin_registry().get("redis")
    declared = declare(redis, "official", [("/tmp", 64 << 20)], [], [("/data", "/srv/redis")], Path("/state"))
    assert engine_argv("docker", "redis:7.2", declared, ["redis-server", "--appendonly", "yes"]) == [
        "docker", "run", "--rm", "--read-only",
        "-v", "/srv/redis:/data",
        "--tmpfs", "/tmp:rw,mode=1777,size=64m",
        "redis:7.2", "redis-server", "--appendonly", "yes",
    ]
    pg = builtin_registry().get("postgres")
    declared = declare(pg, "official", [], [], [], Path("/state"))
    argv = engine_argv("podman", "postgres:16", declared, [], user="999:999", env={"POSTGRES_PASSWORD": "a b=c"})
    assert argv == [
        "podman", "run", "--rm", "--read-only", "--read-only-tmpfs=false",
        "--shm-size", "256m",
        "-v", "/state/postgres/data:/var/lib/postgresql",
        "--tmpfs", "/var/run/postgresql:rw,mode=1777,size=1m",
        "--user", "999:999", "-e", "POSTGRES_PASSWORD=a b=c", "postgres:16",
    ]
    from rofs.runtime.confine import Confinement

    isolated = engine_argv("docker", "redis:7.2", [], [], confinement=Confinement(network="none", seccomp="unconfined"))
    assert isolated == ["docker", "run", "--rm", "--read-only", "--network", "none", "--security-opt",
                        "seccomp=unconfined", "redis:7.2"]


def test_a_root_program_cannot_remount_the_root_read_write():
    """Programs get a container's capabilities, not root's: no CAP_SYS_ADMIN, so no remount."""
    need_sandbox()
    marker = Path("/etc/rofs-remount-test")
    result, report = run("--", "sh", "-c", f"mount -o remount,rw / && echo x > {marker}; mount -t tmpfs none /mnt")
    assert result.returncode != 0
    assert not marker.exists(), "the host was written through a remount"
    assert "permission denied" in result.stderr.lower()


def test_a_fork_bomb_is_bounded_and_cleaned_up():
    need_sandbox()
    from rofs.runtime.sandbox import ProcessLimit

    probe = ProcessLimit(8)
    available = probe.path is not None
    probe.close()
    if not available:
        message = "no writable pids cgroup on this host: rofs run cannot bound processes here"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    start = time.monotonic()
    # The shell replaces itself with sleep (exec: no fork needed), so the program
    # still runs when the timeout hits however fast the bomb fills the limit.
    report_file = Path(f"/tmp/rofs-bomb-{os.getpid()}-{time.monotonic_ns()}.json")
    proc = subprocess.Popen([ROFS, "run", "--format", "json", "--report", str(report_file), "--no-trace",
                             "--max-procs", "64", "--timeout", "3", "--", "sh", "-c", "f() { f | f & }; f; exec sleep 31.7"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.communicate(timeout=60)
    report = json.loads(report_file.read_text())
    report_file.unlink()
    assert time.monotonic() - start < 20
    assert report["timed_out"] is True
    assert 1 < report["peak_processes"] <= 64
    time.sleep(0.5)
    assert subprocess.run(["pgrep", "-f", "^sleep 31.7$"], capture_output=True).stdout == b""
    mine = [p for root in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")) for p in root.glob(f"rofs-{proc.pid}-*")]
    assert mine == [], "cgroup removed"


# --- users, sizes, ownership, host directories ------------------------------------------------


def test_user_names_resolve_to_uid_gid_groups_and_home(tmp_path: Path):
    """--user nobody (Debian's group is nogroup, not nobody) runs as 65534:65534 with HOME from the
    user database, said in the report; the processes are named after the program, not setpriv."""
    need_sandbox()
    result, report = run("--user", "nobody", "--", "sh", "-c", 'id -u; id -g; echo "$HOME"; echo x > /etc/rofs-user; true')
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["65534", "65534", "/nonexistent"]
    assert report["sandbox"]["user"] == {"spec": "nobody", "uid": 65534, "gid": 65534, "groups": [],
                                         "name": "nobody", "home": "/nonexistent"}
    assert [(r["process"], r["uid"]) for r in report["refused"]] == [("sh", 65534)]
    text = subprocess.run([ROFS, "run", "--user", "nobody", "--", "true"], capture_output=True, text=True).stderr
    assert "user nobody (uid 65534, gid 65534), HOME=/nonexistent" in text
    bad, _ = run("--user", "no-such-user-rofs", "--", "true")
    assert bad.returncode == 2 and "no user 'no-such-user-rofs' on this machine" in bad.stderr


@pytest.mark.parametrize("value", ["/srv:0", "/srv:0.5", "/srv:-1m", "/srv:", "/srv:abc"])
def test_sizes_that_are_not_positive_are_refused(value: str):
    need_sandbox()
    result, _ = run("--writable", value, "--", "true")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"rofs: error: --writable {value!r}")


def test_a_server_that_drops_privileges_meets_a_root_owned_state_dir(tmp_path: Path):
    """A program that starts as root and gives itself to another user (as mosquitto and memcached
    do) cannot write the state directory rofs made root-owned: reported as an ownership problem
    with who owns it and the fix."""
    need_sandbox()
    state = tmp_path / "state"
    program = "import os; os.setgid(65534); os.setuid(65534); open('/srv/data.db', 'w')"
    result, report = run("--persist", f"/srv={state}", "--", "python3", "-c", program)
    assert result.returncode != 0
    assert [(r["path"], r["errno"], r["uid"]) for r in report["refused"]] == [("/srv/data.db", "EACCES", 65534)]
    (problem,) = report["problems"]
    assert problem.startswith("/srv is writable but not for python3 (uid 65534): its openat /srv/data.db"
                              " failed with EACCES, owned by root (uid 0, gid 0, mode 0755) on the host")
    assert f"chown 65534 {state}" in problem and report["add"] == []


def test_refusals_after_a_privilege_drop_are_reported(tmp_path: Path):
    """setuid() makes a process non-dumpable: the tracer (outside, with CAP_SYS_PTRACE over it)
    still reads its paths; the refusal is reported with the path, and ENOSPC under another
    user too."""
    need_sandbox()
    program = ("import os; os.setgid(65534); os.setuid(65534); "
               "f = open('/dev/shm/fill', 'wb')\n"
               "try:\n    f.write(b'x' * (2 << 20)); f.flush()\nexcept OSError: pass\n"
               "open('/etc/x', 'w')")
    result, report = run("--tmpfs", "/dev/shm:1m", "--", "python3", "-c", program)
    assert {(r["syscall"], r["path"], r["errno"]) for r in report["refused"]} >= {
        ("openat", "/etc/x", "EROFS"), ("write", "/dev/shm/fill", "ENOSPC")}
    assert all(r["uid"] == 65534 for r in report["refused"])


def test_persist_never_follows_a_planted_link_nor_chowns_what_exists(tmp_path: Path):
    """--persist into a world-writable place: a symlink planted there is refused (the directory it
    points at stays as it was); an existing directory is bound as it is, never chowned."""
    need_sandbox()
    victim = tmp_path / "victim"
    victim.mkdir()
    public = tmp_path / "public"
    public.mkdir()
    public.chmod(0o1777)
    (public / "data").symlink_to(victim)
    result, _ = run("--user", "nobody", "--persist", f"/mnt={public / 'data'}", "--", "true")
    assert result.returncode == 2 and "is a symbolic link; rofs does not follow links here" in result.stderr
    assert victim.stat().st_uid == 0 and list(victim.iterdir()) == []
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    result, _ = run("--user", "nobody", "--persist", f"/mnt={existing}", "--", "sh", "-c", "touch /mnt/x")
    assert existing.stat().st_uid == 0, "an existing directory is not given away"
    made = tmp_path / "made" / "here"
    result, _ = run("--user", "nobody", "--persist", f"/mnt={made}", "--", "sh", "-c", "touch /mnt/x")
    assert result.returncode == 0, result.stderr
    assert made.stat().st_uid == 65534 and made.parent.stat().st_uid == 0, "only the directory rofs made is given"


def test_reports_never_follow_a_link_planted_in_a_shared_directory(scratch):  # noqa: F811
    """Another user plants /tmp/x/report.json -> a file of root's (or a disk): rofs run --report,
    rofs trace --out and rofs audit -o refuse it before running anything; a device is refused;
    a missing directory is an error before the run, not after it."""
    need_sandbox()
    tmp_path = scratch  # reachable by nobody (pytest's own directories are root's alone)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    victim = tmp_path / "victim"
    victim.write_text("root's\n")
    link = shared / "report.json"
    subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "ln", "-s", str(victim), str(link)],
                   check=True)
    for argv in ([ROFS, "run", "--report", str(link), "--", "true"],
                 [ROFS, "trace", "--out", str(link), "--", "true"],
                 [ROFS, "audit", "-o", str(link), "--format", "json", str(REPO / "examples" / "k8s")],
                 [ROFS, "audit", "-o", str(link), str(REPO / "examples" / "k8s")]):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and "another user could have made: not followed" in result.stderr, (argv, result.stderr)
        assert victim.read_text() == "root's\n"
    # A link as a directory on the way (in a shared place, or in a directory of theirs): the same.
    rootonly = tmp_path / "rootonly"
    rootonly.mkdir(mode=0o700)
    (rootonly / "victim.txt").write_text("root's\n")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    for link in (shared / "reports", theirs / "out"):
        subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "ln", "-s", str(rootonly), str(link)],
                       check=True)
        result = subprocess.run([ROFS, "run", "--report", str(link / "victim.txt"), "--", "true"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and "not followed" in result.stderr, result.stderr
        assert (rootonly / "victim.txt").read_text() == "root's\n"
    disk = next((d for d in ("/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/loop0") if os.path.exists(d)), None)
    if disk:
        result = subprocess.run([ROFS, "run", "--report", disk, "--", "true"], capture_output=True, text=True)
        assert result.returncode == 2 and "is a device or file rofs does not write reports to" in result.stderr
    start = time.monotonic()
    result = subprocess.run([ROFS, "run", "--report", str(tmp_path / "missing" / "r.json"), "--", "sleep", "5"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "does not exist" in result.stderr and time.monotonic() - start < 4


def test_an_image_cache_others_can_write_is_refused(oci_image, scratch):  # noqa: F811
    """Another user plants an "unpacked image" (its rootfs a link to /, its config running what
    they like) in a shared --image-cache: rofs refuses the cache rather than run it as root."""
    need_sandbox()
    shared = scratch / "cache"
    shared.mkdir()
    shared.chmod(0o1777)
    result = subprocess.run([ROFS, "run", "--image", f"{oci_image}:latest", "--image-cache", str(shared)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "others may write in it" in result.stderr, result.stderr
    mine = scratch / "mine"
    ok = subprocess.run([ROFS, "run", "--image", f"{oci_image}:latest", "--image-cache", str(mine), "--writable", "/tmp:1m"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 3, ok.stderr  # the image's own exit status
    (entry,) = list(mine.iterdir())
    os.chown(entry / "config.json", 65534, 65534)  # as if someone else had put it there
    again = subprocess.run([ROFS, "run", "--image", f"{oci_image}:latest", "--image-cache", str(mine)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "not an image rofs unpacked" in again.stderr


def test_the_runtime_name_files_stay_inside_the_image(tmp_path: Path):
    """The host's /etc/hosts, /etc/hostname and /etc/resolv.conf are bound into an image as a
    runtime binds them: a link in the image that climbs out is resolved inside rofs' unpacked
    copy (nothing is made on the host), and a directory there stays the image's own."""
    need_sandbox()
    umoci = require_tool("umoci", "umoci")
    busybox = require_path("/bin/busybox", "static busybox (apt-get install -y busybox-static)")
    layout, bundle, outside = tmp_path / "oci", tmp_path / "bundle", tmp_path / "outside"
    for args in (["init", "--layout", str(layout)], ["new", "--image", f"{layout}:t"],
                 ["unpack", "--image", f"{layout}:t", str(bundle)]):
        subprocess.run([umoci, *args], check=True, capture_output=True)
    rootfs = bundle / "rootfs"
    (rootfs / "bin").mkdir()
    (rootfs / "etc" / "hosts").mkdir(parents=True)  # a directory where the runtime binds a file
    (rootfs / "bin" / "busybox").write_bytes(Path(busybox).read_bytes())
    (rootfs / "bin" / "busybox").chmod(0o755)
    (rootfs / "bin" / "sh").symlink_to("busybox")
    (rootfs / "etc" / "resolv.conf").symlink_to("../" * 12 + str(outside).lstrip("/"))
    subprocess.run([umoci, "repack", "--image", f"{layout}:t", str(bundle)], check=True, capture_output=True)
    subprocess.run([umoci, "config", "--image", f"{layout}:t", "--config.entrypoint", "/bin/busybox"],
                   check=True, capture_output=True)
    cache = tmp_path / "cache"
    done = subprocess.run([ROFS, "run", "--image", f"{layout}:t", "--image-cache", str(cache), "--no-trace", "--",
                           "sh", "-c", "cat /etc/resolv.conf; [ -d /etc/hosts ] && echo hosts-dir"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == Path("/etc/resolv.conf").read_text() + "hosts-dir\n"
    assert not outside.exists(), "the image's link was followed out of its unpacked copy"


def _layout_copy(oci_image, tmp_path: Path) -> tuple[Path, dict, dict]:
    layout = tmp_path / "layout"
    shutil.copytree(oci_image, layout, symlinks=True)
    desc = json.loads((layout / "index.json").read_text())["manifests"][0]
    manifest = json.loads((layout / "blobs" / "sha256" / desc["digest"][7:]).read_bytes())
    return layout, desc, manifest


def _put_blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return "sha256:" + digest


def test_a_digest_that_is_a_path_is_refused_before_anything_is_touched(oci_image, tmp_path: Path):
    """index.json naming its manifest by a path (and by a good digest under a key only Go's
    case-blind JSON decoding reads) must not make rofs replace a directory outside its cache."""
    layout, desc, _ = _layout_copy(oci_image, tmp_path)
    victim = tmp_path / "victim"
    (victim / "VICTIM").mkdir(parents=True)
    (victim / "VICTIM" / "precious.txt").write_text("data\n")
    (layout / "blobs" / "x" / "y").mkdir(parents=True)
    shutil.copy(layout / "blobs" / "sha256" / desc["digest"][7:], layout / "blobs" / "x" / "y" / "VICTIM")
    (layout / "blobs" / "x-y").symlink_to(victim)
    evil = dict(desc, digest=f"{layout}/blobs/x:y/VICTIM", Digest=desc["digest"])
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [evil]}))
    cache = tmp_path / "cache"
    result = subprocess.run([ROFS, "run", "--image", str(layout), "--image-cache", str(cache), "--", "true"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "corrupt image" in result.stderr and "only by case" in result.stderr, result.stderr
    assert (victim / "VICTIM" / "precious.txt").read_text() == "data\n"
    assert sorted(p.name for p in (victim / "VICTIM").iterdir()) == ["precious.txt"]
    # the same digest without the second key: refused for its form
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [dict(desc, digest=evil["digest"])]}))
    result = subprocess.run([ROFS, "run", "--image", str(layout), "--image-cache", str(cache), "--", "true"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "is not sha256:<64 hex>" in result.stderr, result.stderr
    assert sorted(p.name for p in (victim / "VICTIM").iterdir()) == ["precious.txt"]


@pytest.mark.parametrize("damage, message", [
    ("index-list", "not an object with a manifests list"),
    ("no-digest", "digest None is not"),
    ("manifest-no-config", "config: a descriptor is not an object"),
    ("config-list", "is not a JSON object"),
    ("blob-changed", "does not match its digest"),
    # umoci reads keys ignoring case and takes the last: it would unpack the other list's image
    ("index-case-twins", "keys 'manifests' and 'Manifests' differ only by case"),
])
def test_a_malformed_image_is_a_clear_error(oci_image, tmp_path: Path, damage: str, message: str):
    layout, desc, manifest = _layout_copy(oci_image, tmp_path)
    index_path = layout / "index.json"
    if damage == "index-list":
        index_path.write_text("[]")
    elif damage == "no-digest":
        index_path.write_text(json.dumps({"schemaVersion": 2, "manifests": [{k: v for k, v in desc.items() if k != "digest"}]}))
    elif damage == "index-case-twins":
        index_path.write_text(json.dumps({"schemaVersion": 2, "manifests": [desc], "Manifests": [desc]}))
    elif damage in ("manifest-no-config", "config-list"):
        if damage == "manifest-no-config":
            del manifest["config"]
        else:
            manifest["config"] = dict(manifest["config"], digest=_put_blob(layout, b"[1, 2]"), size=6)
        data = json.dumps(manifest).encode()
        new = dict(desc, digest=_put_blob(layout, data), size=len(data))
        index_path.write_text(json.dumps({"schemaVersion": 2, "manifests": [new]}))
    else:
        (layout / "blobs" / "sha256" / desc["digest"][7:]).write_bytes(json.dumps(dict(manifest, extra=1)).encode())
    result = subprocess.run([ROFS, "run", "--image", str(layout), "--image-cache", str(tmp_path / "cache"), "--", "true"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_refused_writes_beyond_the_listed_kinds_are_counted(tmp_path: Path):
    """A flood of distinct refused writes: the first MAX_DISTINCT are listed with their counts, the
    rest only counted - and the totals say all of them, not the listed ones."""
    need_sandbox()
    from rofs.runtime.tracer import MAX_DISTINCT

    extra = 37
    script = f"i=0; while [ $i -lt {MAX_DISTINCT + extra} ]; do true > /etc/rofs-flood-$i 2>/dev/null; i=$((i+1)); done"
    text = tmp_path / "report.txt"
    result, report = run("--", "sh", "-c", script, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(report["refused"]) == MAX_DISTINCT
    assert (report["refused_total"], report["refused_unlisted"]) == (MAX_DISTINCT + extra, extra)
    assert f"{extra} more refused writes of {MAX_DISTINCT}+ other kinds are not listed" in report["problems"]
    done = subprocess.run([ROFS, "run", "--report", str(text), "--", "sh", "-c", script], capture_output=True, text=True,
                          timeout=300)
    header = next(line for line in text.read_text().splitlines() if line.startswith("refused writes:"))
    assert header == (f"refused writes: {MAX_DISTINCT + extra} ({MAX_DISTINCT} of {MAX_DISTINCT} kinds listed below;"
                      f" {extra} more of other kinds not listed)"), done.stderr[-500:]


def test_a_refused_setxattr_is_reported():
    """setxattr starts with "set", as the calls that change who a process runs as do: it was taken
    for one of them and dropped from the report."""
    need_sandbox()
    script = ("import os\ntry:\n    os.setxattr('/etc/hostname', 'user.rofs', b'1')\nexcept OSError as e:\n"
              "    print(e.strerror)\n")
    result, report = run("--", "python3", "-c", script)
    assert result.stdout == "Read-only file system\n", result.stderr[-500:]
    assert [(r["syscall"], r["path"], r["errno"]) for r in report["refused"]] == [("setxattr", "/etc/hostname", "EROFS")]


def test_an_images_user_database_that_is_no_plain_file_is_not_opened_as_one(tmp_path: Path):
    """An image's /etc/passwd made a FIFO (rofs would block reading it) or a device node (rofs would
    open the host's device): read as no records."""
    from rofs.runtime.users import _records

    fifo = tmp_path / "passwd"
    os.mkfifo(fifo)
    assert _records(fifo) == []
    assert _records(Path("/dev/zero")) == []
    plain = tmp_path / "group"
    plain.write_text("root:x:0:\napp:x:1000:\n")
    assert _records(plain) == [["root", "x", "0", ""], ["app", "x", "1000", ""]]
