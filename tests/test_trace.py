"""`rofs trace`: real servers traced on a scratch layer; the host is not changed; the profile
it writes is the one `rofs run` then starts the server with."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from conftest import require_path, require_tool
from realserver import free_port
from rofs.profiles import load_profile_file
from rofs.runtime import trace as trace_mod
from test_cli import ROFS
from test_profiles_real import NGINX_CONF, _http, scratch  # noqa: F401
from test_run import _start, _wait_port, need_sandbox

NOISE = ("/proc", "/sys", "/dev/null", "/dev/pts", "/dev/tty")


def trace(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, dict]:
    result = subprocess.run([ROFS, "trace", "--format", "json", *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result, json.loads(result.stdout)


def paths_of(profile: dict) -> dict[str, str]:
    return {p["path"]: p["kind"] for p in profile["paths"]}


def assert_no_noise(profile: dict) -> None:
    for p in profile["paths"]:
        assert not p["path"].startswith(NOISE), p["path"]


def test_the_host_is_not_changed(tmp_path: Path):
    need_sandbox()
    marker = f"rofs-trace-{os.getpid()}"
    script = (f"echo changed > /etc/{marker}; echo changed >> /etc/hostname; mkdir -p /var/lib/{marker}/data;"
              f" dd if=/dev/zero of=/var/lib/{marker}/data/blob bs=1k count=64 2>/dev/null; rm -f /etc/fstab")
    hostname, fstab = Path("/etc/hostname").read_bytes(), Path("/etc/fstab").exists()
    _, data = trace("--", "sh", "-c", script)
    assert not Path(f"/etc/{marker}").exists() and not Path(f"/var/lib/{marker}").exists()
    assert Path("/etc/hostname").read_bytes() == hostname and Path("/etc/fstab").exists() == fstab
    found = {p["path"]: p for p in data["profile"]["paths"]}
    assert found[f"/var/lib/{marker}"]["kind"] == "persistent"
    assert found[f"/var/lib/{marker}"]["observed"]["bytes_written"] == 65536
    assert "/etc" not in found, "writing into /etc: no volume there (it would hide the image's files)"
    assert any("in the image's configuration under /etc" in note for note in data["notes"]), data["notes"]
    assert_no_noise(data["profile"])


def test_keep_keeps_the_scratch_layer(tmp_path: Path):
    need_sandbox()
    keep = tmp_path / "scratch"
    trace("--keep", str(keep), "--", "sh", "-c", "echo kept > /etc/rofs-kept")
    assert (keep / "upper" / "etc" / "rofs-kept").read_text() == "kept\n"
    assert not Path("/etc/rofs-kept").exists()


def test_redis_trace_and_the_closed_loop(tmp_path: Path):
    need_sandbox()
    require_tool("redis-server", "redis-server")
    require_tool("redis-cli", "redis-tools")
    require_path("/etc/redis/redis.conf", "Debian redis.conf")
    port = free_port()
    out = tmp_path / "redis.yaml"
    cli = f"redis-cli -p {port}"
    command = ["redis-server", "/etc/redis/redis.conf", "--daemonize", "no", "--port", str(port), "--appendonly", "yes"]
    _, data = trace("--out", str(out), "--name", "traced-redis", "--user", "redis",
                    "--ready", f"{cli} ping | grep -q PONG",
                    "--exercise", f"{cli} set k v && {cli} bgsave && sleep 1.5", "--", *command)
    found = paths_of(data["profile"])
    assert found.get("/var/lib/redis") == "persistent", found
    assert found.get("/var/log/redis") == "ephemeral", found
    assert "/tmp" not in found, "Redis does not write /tmp"
    assert_no_noise(data["profile"])
    profile = load_profile_file(out)  # the written file is a valid profile
    assert {p.path for p in profile.paths} == set(found)

    # The closed loop: rofs run with the traced profile starts the same server read-only.
    report_file = tmp_path / "run.json"
    proc = _start(["--profile-file", str(out), "--user", "redis", "--state-dir", str(tmp_path / "state"), "--", *command],
                  report_file)
    try:
        assert _wait_port(port, proc)
        assert subprocess.run(["redis-cli", "-p", str(port), "set", "k", "v"], capture_output=True, text=True).stdout.strip() == "OK"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads(report_file.read_text())["refused"] == []


def test_nginx_trace(scratch):  # noqa: F811
    need_sandbox()
    nginx = require_tool("nginx", "nginx-light")
    port, upstream = free_port(), free_port()
    conf = scratch / "nginx.conf"
    conf.write_text(NGINX_CONF.format(port=port, upstream=upstream))
    body = scratch / "body.bin"
    body.write_bytes(os.urandom(1 << 20))
    exercise = (f"python3 -c \"import http.client;c=http.client.HTTPConnection('127.0.0.1',{port});"
                f"c.request('POST','/upload',open('{body}','rb').read());r=c.getresponse();assert r.status==200\"")
    out = scratch / "nginx-traced.yaml"
    command = [nginx, "-c", str(conf), "-g", "daemon off;"]
    _, data = trace("--out", str(out), "--ready", f"python3 -c \"import socket;socket.create_connection(('127.0.0.1',{port}))\"",
                    "--exercise", exercise, "--", *command)
    found = paths_of(data["profile"])
    assert found.get("/var/lib/nginx") == "ephemeral" or found.get("/var/lib/nginx/body") == "ephemeral" or any(
        p.startswith("/var/lib/nginx") for p in found), found
    assert "/var/log/nginx" in found and "/run" in found, found
    assert_no_noise(data["profile"])

    # The closed loop: the traced profile is enough for the same POST under a read-only root.
    report_file = scratch / "run.json"
    proc = _start(["--profile-file", str(out), "--", *command], report_file)
    try:
        assert _wait_port(port, proc)
        assert _http(port, "POST", "/upload", body.read_bytes()) == (200, b"stored\n")
        proc.send_signal(signal.SIGQUIT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads(report_file.read_text())["refused"] == []


def test_postgres_trace(scratch):  # noqa: F811
    need_sandbox()
    pg_bin = Path("/usr/lib/postgresql/15/bin")
    require_path(pg_bin / "initdb", "initdb (apt-get install -y postgresql-15)")
    psql = require_tool("psql", "postgresql-client-15")
    data_dir = "/var/lib/postgresql/15/rofs-traced"
    port = free_port()
    script = (
        f"{pg_bin}/initdb -D {data_dir} -U postgres --auth=trust --no-sync >/dev/null && "
        f"exec {pg_bin}/postgres -D {data_dir} -c port={port} -c listen_addresses=127.0.0.1"
    )
    query = f"{psql} -X -qAt -h 127.0.0.1 -p {port} -U postgres -d postgres -c 'CREATE TABLE t (x int)' -c 'SELECT 1'"
    _, data = trace("--user", "postgres", "--ready", f"{psql} -h 127.0.0.1 -p {port} -U postgres -c 'select 1' postgres",
                    "--exercise", query, "--", "sh", "-c", script, timeout=180)
    found = paths_of(data["profile"])
    assert found.get(data_dir) == "persistent", found
    assert found.get("/var/run/postgresql", found.get("/run/postgresql")) == "ephemeral", found
    assert found.get("/dev/shm") == "memory", found
    assert_no_noise(data["profile"])
    assert not Path(data_dir).exists(), "initdb wrote to the scratch layer only"


def test_from_strace_reads_an_existing_log(tmp_path: Path):
    log = tmp_path / "app.strace"
    log.write_text(
        '101 execve("/usr/bin/myapp", ["myapp"], 0x7ffd /* 5 vars */) = 0\n'
        '101 openat(AT_FDCWD, "/var/lib/myapp/state.db", O_RDWR|O_CREAT, 0644) = 3\n'
        '101 openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 4\n'
        '101 openat(AT_FDCWD, "/tmp/tmpa8f3k2", O_RDWR|O_CREAT|O_EXCL, 0600) = 5\n'
        '101 openat(AT_FDCWD, "/dev/null", O_WRONLY) = 6\n'
        '101 mkdir("/dev/shm/myapp", 0700) = 0\n'
        '101 write(3</var/lib/myapp/state.db>, "x"..., 4096) = 4096\n'
        '101 bind(7<socket:[1]>, {sa_family=AF_UNIX, sun_path="/run/myapp/api.sock"}, 110) = 0\n'
        '101 openat(AT_FDCWD, "/proc/self/oom_score_adj", O_WRONLY) = 8\n'
    )
    result = subprocess.run([ROFS, "trace", "--from-strace", str(log), "--format", "json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    found = paths_of(json.loads(result.stdout)["profile"])
    assert found == {"/var/lib/myapp": "persistent", "/tmp": "ephemeral", "/dev/shm/myapp": "memory", "/run/myapp": "ephemeral"}


def test_mount_points_and_collapse():
    exists = {"/", "/var", "/var/lib", "/var/lib/postgresql", "/var/lib/postgresql/15", "/tmp"}.__contains__
    assert trace_mod.mount_for("/tmp/tmpa8f3k2", False, exists) == "/tmp"
    assert trace_mod.mount_for("/var/lib/app/data/x", False, exists) == "/var/lib/app"
    assert trace_mod.mount_for("/var/lib/postgresql/15/main", True, exists) == "/var/lib/postgresql/15/main"
    points = ["/var/lib/postgresql/15/main/base/1", "/var/lib/postgresql/15/main/base/16384",
              "/var/lib/postgresql/15/main/global", "/var/lib/postgresql/15/main/pg_wal"]
    assert trace_mod.collapse_all(points) == ["/var/lib/postgresql/15/main"]
    assert trace_mod.collapse_all(["/var/lib/a", "/var/lib/b"]) == ["/var/lib/a", "/var/lib/b"], "never all of /var/lib"


from test_run import oci_image  # noqa: F401 - the image built with umoci, shared with the run tests


def test_an_image_is_traced_on_a_scratch_layer(oci_image, tmp_path: Path):  # noqa: F811
    need_sandbox()
    cache = tmp_path / "cache"
    report = tmp_path / "report.json"
    result = subprocess.run([ROFS, "trace", "--image", f"{oci_image}:latest", "--image-cache", str(cache),
                             "--format", "json", "--report", str(report)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr  # the image's program ends by itself with 3: so does the trace
    assert result.stdout.startswith("hello from the image bar"), "the program's own output is left alone"
    data = json.loads(report.read_text())
    assert paths_of(data["profile"]) == {"/tmp": "ephemeral", "/data": "persistent"}
    assert data["notes"] == [], "opens are not traced by default: the refused one is not seen"
    # The image's user (1000) may not write root's /etc: with --trace-opens the refusal is said.
    result = subprocess.run([ROFS, "trace", "--trace-opens", "--image", f"{oci_image}:latest", "--image-cache", str(cache),
                             "--format", "json", "--report", str(report)], capture_output=True, text=True, timeout=120)
    data = json.loads(report.read_text())
    assert ("refused: start.sh (uid 1000)'s openat /etc/x: permission denied (the user it runs as may not write there:"
            " an ownership or permission problem, not a read-only one)") in data["notes"]
    assert paths_of(data["profile"]) == {"/tmp": "ephemeral", "/data": "persistent"}
    (rootfs,) = [p / "rootfs" for p in cache.iterdir()]
    assert not (rootfs / "etc" / "x").exists() and not (rootfs / "data" / "state").exists(), "the unpacked image is not changed"


def test_keep_takes_any_name_and_brings_back_plain_files_only(tmp_path: Path):
    """--keep is never pasted into a shell (a name with quotes and a command in it is just a name),
    and what it copies out are plain files: setuid/setgid bits dropped, device nodes and FIFOs
    left out and said, links kept as links (never followed)."""
    need_sandbox()
    pwned = Path(f"/tmp/rofs-pwned-{os.getpid()}")
    keep = tmp_path / f"bob's trace'; touch {pwned}; '"
    script = ("cp /bin/true /var/tmp/rofs-suid && chmod 6755 /var/tmp/rofs-suid; "
              "mknod /var/tmp/rofs-null c 1 3; mkfifo /var/tmp/rofs-fifo; ln -s /etc/shadow /var/tmp/rofs-link; "
              "echo kept > /etc/rofs-kept2")
    _, data = trace("--keep", str(keep), "--", "sh", "-c", script)
    assert not pwned.exists(), "the name ran as a command"
    upper = keep / "upper"
    assert (upper / "etc" / "rofs-kept2").read_text() == "kept\n"
    suid = upper / "var" / "tmp" / "rofs-suid"
    assert suid.is_file() and suid.stat().st_mode & 0o7777 == 0o755, oct(suid.stat().st_mode)
    assert not (upper / "var" / "tmp" / "rofs-null").exists() and not (upper / "var" / "tmp" / "rofs-fifo").exists()
    link = upper / "var" / "tmp" / "rofs-link"
    assert link.is_symlink() and os.readlink(link) == "/etc/shadow"
    assert {"--keep: /var/tmp/rofs-suid: setuid/setgid/sticky bits dropped",
            "--keep: /var/tmp/rofs-null: device node not copied",
            "--keep: /var/tmp/rofs-fifo: FIFO not copied"} <= set(data["notes"])
    again = subprocess.run([ROFS, "trace", "--keep", str(keep), "--", "true"], capture_output=True, text=True)
    assert again.returncode == 2 and "give a new directory (this one is not empty" in again.stderr


def test_a_failure_of_the_scratch_layer_is_an_error_not_a_clean_run(tmp_path: Path):
    """The machinery cannot be set up (here: a file mount of the host, as Docker has for /etc/hosts,
    is fine; a program that is not there is not): exit 2 with the reason, never "it wrote nothing"."""
    need_sandbox()
    result = subprocess.run([ROFS, "trace", "--", "/nonexistent/rofs-program"], capture_output=True, text=True)
    assert result.returncode == 2 and "/nonexistent/rofs-program: no such file on this machine" in result.stderr
    assert "wrote nothing" not in result.stdout + result.stderr


def test_file_mounts_and_odd_mount_points_of_the_host_are_layered(tmp_path: Path):
    """A file bind-mounted over /etc/hostname-like files and a directory mount point with ',' and
    ':' in its name (both broke the scratch layer before): traced, and writes to them seen."""
    need_sandbox()
    unshare = require_tool("unshare", "util-linux")
    odd = tmp_path / "odd,dir:name"
    odd.mkdir()
    (odd / "inside").write_text("host\n")
    source = tmp_path / "hosts-file"
    source.write_text("127.0.0.1 localhost\n")
    target = tmp_path / "bound-file"
    target.write_text("")
    report = tmp_path / "report.json"
    script = (f'mount --bind "{odd}" "{odd}" && mount --bind "{source}" "{target}" && "$@"')
    result = subprocess.run([unshare, "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
                             ROFS, "trace", "--format", "json", "--report", str(report), "--", "sh", "-c",
                             f'echo changed >> "{target}"; echo new > "{odd}/new"; cat "{odd}/inside"'],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "host" in result.stdout
    data = json.loads(report.read_text())
    paths = [p["path"] for p in data["profile"]["paths"]]
    covered = [p for p in paths if str(odd).startswith(p) and str(target).startswith(p)]
    assert covered, paths  # both written (siblings, so one mount of their parent is proposed)
    assert source.read_text() == "127.0.0.1 localhost\n" and not (odd / "new").exists()


def test_deep_directories_sparse_files_and_a_full_scratch_layer(tmp_path: Path):
    """Directories 1,100 deep (os.walk of Python 3.11 recursed into a crash), a 50 GB sparse file
    (copied by --keep as a sparse file, not 50 GB of zeros), a scratch layer filled to its size."""
    need_sandbox()
    keep = tmp_path / "keep"
    script = ("truncate -s 50G /var/tmp/rofs-sparse; echo hello > /var/tmp/rofs-small; cd /var/tmp; i=0;"
              " while [ $i -lt 1100 ]; do mkdir d; cd d; i=$((i+1)); done")
    result = subprocess.run([ROFS, "trace", "--keep", str(keep), "--format", "json", "--", "sh", "-c", script],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    sparse = keep / "upper" / "var" / "tmp" / "rofs-sparse"
    assert sparse.stat().st_size == 50 << 30 and sparse.stat().st_blocks * 512 < 1 << 20
    assert (keep / "upper" / "var" / "tmp" / "rofs-small").read_text() == "hello\n"
    notes = json.loads(result.stdout)["notes"]
    assert any("deeper than 200 directories, not copied" in n for n in notes)
    full = subprocess.run([ROFS, "trace", "--format", "json", "--scratch-size", "8m", "--", "sh", "-c",
                           "dd if=/dev/zero of=/var/tmp/rofs-big bs=1M count=20 2>/dev/null"], capture_output=True, text=True)
    assert full.returncode == 1, "dd failed (the layer is full), and so does the trace"
    assert "the scratch layer is full (8.0 MiB): writes failed with ENOSPC" in json.loads(full.stdout)["notes"]


def test_keep_refuses_a_directory_others_could_change(scratch):  # noqa: F811
    need_sandbox()
    theirs = scratch / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    result = subprocess.run([ROFS, "trace", "--keep", str(theirs), "--", "true"], capture_output=True, text=True)
    assert result.returncode == 2 and "not yours, or others may write in it" in result.stderr


def test_a_log_that_would_fill_its_disk_stops_the_run(tmp_path: Path):
    """The tracer's log (in TMPDIR) is not allowed to fill its file system: the program is stopped
    and the run is an error (exit 2), never a report with its end missing."""
    need_sandbox()
    unshare = require_tool("unshare", "util-linux")
    small = tmp_path / "small"
    small.mkdir()
    flood = "import os\nwhile True:\n    try:\n        os.mkdir('/etc/rofs-flood-' + 'a' * 200)\n    except OSError:\n        pass\n"
    script = f'mount -t tmpfs -o size=300m rofs-test "{small}" && TMPDIR="{small}" "$@"'
    for mode in ("run", "trace"):
        result = subprocess.run([unshare, "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
                                 ROFS, mode, "--report", str(tmp_path / "r.json"), "--", "python3", "-c", flood],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr[-2000:]
        assert "no room is left for the tracer's log" in result.stderr and "so there is none" in result.stderr
        assert not (tmp_path / "r.json").exists()


FILL_THEN_FREE = """
import os
fd = os.open("/srv/filler", os.O_WRONLY | os.O_CREAT)
size = 1 << 30
while size >= 4096:
    try:
        os.posix_fallocate(fd, os.fstat(fd).st_size, size)
    except OSError:
        size //= 2
for i in range(200):
    try:
        open(f"/etc/rofs-hidden-{i}", "w")
    except OSError:
        pass
os.unlink("/srv/filler")
"""


def test_filling_the_logs_disk_and_freeing_it_hides_nothing(tmp_path: Path):
    """The program fills the file system of the tracer's log (a --persist directory on it), is
    refused 200 writes, then frees the room: every refusal is in the report (the log writes into
    space reserved ahead of it), or the run is an error; never a short report."""
    need_sandbox()
    unshare = require_tool("unshare", "util-linux")
    fs = tmp_path / "fs"
    fs.mkdir()
    program = tmp_path / "fill.py"
    program.write_text(FILL_THEN_FREE)
    report = tmp_path / "r.json"
    script = (f'mount -t tmpfs -o size=400m rofs-test "{fs}" && mkdir "{fs}/tmp" "{fs}/data" && TMPDIR="{fs}/tmp" "$@"')
    result = subprocess.run([unshare, "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
                             ROFS, "run", "--format", "json", "--report", str(report), "--persist", f"/srv={fs}/data",
                             "--", "python3", str(program)], capture_output=True, text=True, timeout=120)
    if result.returncode == 2:
        assert "no room is left for the tracer's log" in result.stderr
        return
    data = json.loads(report.read_text())
    hidden = {r["path"] for r in data["refused"] if "rofs-hidden" in r["path"]}
    assert hidden == {f"/etc/rofs-hidden-{i}" for i in range(200)}


def test_files_deleted_while_open_count_in_the_size(tmp_path: Path):
    """Spill files with no name (O_TMPFILE) or deleted while open (MariaDB's sort files) are in
    the place's peak and size: a walk of the scratch layer never sees them."""
    need_sandbox()
    script = ("import tempfile, os, time\n"
              "f = tempfile.TemporaryFile(dir='/var/tmp'); f.write(b'x' * (40 << 20)); f.flush()\n"
              "g = tempfile.NamedTemporaryFile(dir='/var/tmp', delete=False); os.unlink(g.name)\n"
              "g.write(b'y' * (24 << 20)); g.flush(); time.sleep(2.5)\n")
    _, out = trace("--", "python3", "-c", script)
    spec = next(p for p in out["profile"]["paths"] if p["path"] == "/var/tmp")
    assert spec["observed"]["peak_bytes"] >= 64 << 20 and spec["size"] == "128Mi", spec
    assert any(n.startswith("/var/tmp: 2 file(s) deleted while open") and "python3" in n for n in out["notes"]), out["notes"]
    assert not any("strace" in n for n in out["notes"]), "rofs' own tracer's files are not the program's"


def test_a_spill_during_the_exercise_counts_in_the_size(tmp_path: Path):
    """A server that spills only while it answers a request (a sort that merges through deleted temp
    files for a second): the --exercise makes the request, and the spill is in the peak.  (Before,
    nothing was measured while the exercise ran: MariaDB's traced /tmp came out 16Mi for a sort that
    held 134 MiB there.)"""
    need_sandbox()
    port = _free_port()
    server = ("import socket, tempfile, time\n"
              f"s = socket.create_server(('127.0.0.1', {port}))\n"
              "while True:\n"
              "    c, _ = s.accept()\n"
              "    if c.recv(10) == b'sort':\n"
              "        f = tempfile.TemporaryFile(dir='/var/tmp'); f.write(b'x' * (48 << 20)); f.flush()\n"
              "        time.sleep(1); f.close()\n"
              "    c.sendall(b'done'); c.close()\n")
    client = (f"import socket; c = socket.create_connection(('127.0.0.1', {port})); c.sendall(b'sort');"
              " assert c.recv(10) == b'done'")
    ready = f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port})).sendall(b'ping')\""
    _, out = trace("--ready", ready, "--exercise", f'python3 -c "{client}"', "--", "python3", "-c", server)
    spec = next(p for p in out["profile"]["paths"] if p["path"] == "/var/tmp")
    assert spec["observed"]["peak_bytes"] >= 48 << 20 and spec["size"] == "128Mi", spec
    assert not any("exercise command exited" in n for n in out["notes"]), out["notes"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_siblings_are_not_merged_over_a_directory_the_image_keeps_files_in(tmp_path: Path):
    """Two directories a program fills under its own directory are two mounts, not one over the
    parent, when the image keeps other files there (one mount would hide them)."""
    root = tmp_path / "root"
    (root / "opt/app/conf.d").mkdir(parents=True)
    (root / "opt/app/app.conf").write_text("")
    (root / "srv/db").mkdir(parents=True)
    points = ["/opt/app/logs", "/opt/app/data", "/srv/db/one", "/srv/db/two"]
    assert trace_mod.collapse_all(points) == ["/opt/app", "/srv/db"], "without the image, siblings merge"
    assert trace_mod.collapse_all(points, str(root)) == ["/opt/app/data", "/opt/app/logs", "/srv/db"]
    (root / "srv/db/one").mkdir()  # the image's own entries there are among the written ones: still one mount
    assert trace_mod.collapse_all(points, str(root)) == ["/opt/app/data", "/opt/app/logs", "/srv/db"]


def test_a_trace_keeps_the_images_files_in_the_parent_visible(tmp_path: Path):
    need_sandbox()
    app = Path(f"/opt/rofs-test-{os.getpid()}")
    (app / "conf.d").mkdir(parents=True)
    try:
        script = f"mkdir -p {app}/logs {app}/data; echo a > {app}/logs/a.log; echo b > {app}/data/b.db"
        _, data = trace("--", "sh", "-c", script)
    finally:
        (app / "conf.d").rmdir()
        app.rmdir()
    found = sorted(p["path"] for p in data["profile"]["paths"])
    assert found == [f"{app}/data", f"{app}/logs"], found
