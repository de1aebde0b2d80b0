"""The official-image layouts, run: each image rebuilt from its Dockerfile (tests/official/),
started through its real entrypoint with `rofs run --image` under the official layout's
profile and nothing else writable.

For each image: first start (the entrypoint's init included), a client writes and reads,
a clean stop, a restart that finds the data, no refused write; then each required path of
the profile left read-only in turn: the server fails the way the profile's "without it"
text says, with one of the profile's signatures in its output, the run report names the
path, and `rofs explain` on that output points at it.

Builds are cached outside the checkout (tests/official/build.py); a build that cannot run
fails under CI=true.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import REPO, in_ci, require_tool
from realserver import free_port, port_open
from test_cli import ROFS

sys.path.insert(0, str(REPO / "tests" / "official"))
import build

pytestmark = pytest.mark.realserver


@dataclass
class Server:
    """How a test drives one official image."""
    name: str
    port: int
    args: list[str] = field(default_factory=list)  # after the entrypoint (the image's CMD, with a port)
    env: dict[str, str] = field(default_factory=dict)
    stop: signal.Signals = signal.SIGTERM
    start_timeout: float = 60


def _need_image(name: str) -> tuple[str, build.Recipe]:
    for tool, package in (("bwrap", "bubblewrap"), ("strace", "strace"), ("umoci", "umoci"),
                          ("mmdebstrap", "mmdebstrap")):
        require_tool(tool, package)
    if os.geteuid() != 0:
        (pytest.fail if in_ci() else pytest.skip)("official images are built and run as root")
    try:
        layout, recipe = build.image(name)
    except build.BuildError as exc:
        (pytest.fail if in_ci() else pytest.skip)(f"cannot build the {name} image: {exc}")
    return f"{layout}:{recipe.tag}", recipe


def _cache() -> str:
    path = build.cache_root() / "unpacked"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(path)


def _rofs_run(ref: str, app: str, state: Path, report: Path, args: list[str], env: dict[str, str],
              keep: str | None = None, timeout: float | None = None) -> list[str]:
    argv = [ROFS, "run", "--image", ref, "--image-cache", _cache(), "--profile", app, "--layout", "official",
            "--state-dir", str(state), "--format", "json", "--report", str(report)]
    for name, value in env.items():
        argv += ["--env", f"{name}={value}"]
    if keep:
        argv += ["--keep-read-only", keep]
    if timeout:
        argv += ["--timeout", str(timeout)]
    return argv + ["--", *args]


def _in_image(ref: str, *command: str, env: dict[str, str] | None = None) -> str:
    """A client run from the image itself (read-only, nothing writable unless --persist comes
    first in *command*), on this machine's network."""
    argv = [ROFS, "run", "--image", ref, "--image-cache", _cache(), "--no-trace"]
    if command[0] == "--persist":
        argv += command[:2]
        command = command[2:]
    for name, value in (env or {}).items():
        argv += ["--env", f"{name}={value}"]
    done = subprocess.run([*argv, "--", *command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


class Started:
    """The image running under rofs, its output collected."""

    def __init__(self, argv: list[str], server: Server):
        self.server = server
        self.log = Path(argv[argv.index("--report") + 1]).with_suffix(".log")
        self.proc = subprocess.Popen(argv, stdout=self.log.open("w"), stderr=subprocess.STDOUT)

    def ready(self) -> None:
        deadline = time.monotonic() + self.server.start_timeout
        while time.monotonic() < deadline:
            if port_open(self.server.port):
                return
            if self.proc.poll() is not None:
                pytest.fail(f"{self.server.name} ended at start (exit {self.proc.returncode}):\n{self.output()[-3000:]}")
            time.sleep(0.2)
        pytest.fail(f"{self.server.name} did not listen on {self.server.port}:\n{self.output()[-3000:]}")

    def stop(self) -> int:
        self.proc.send_signal(self.server.stop)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


# --- clients --------------------------------------------------------------------------------


def _redis(port: int, *words: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"*{len(words)}\r\n".encode() + b"".join(f"${len(w)}\r\n{w}\r\n".encode() for w in words))
        return sock.recv(65536).decode()


def _memcached(port: int, line: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(line.encode())
        return sock.recv(65536).decode()


def _mariadb(server: Server, ref: str, sql: str) -> str:
    return _in_image(ref, "mariadb", "-h127.0.0.1", f"-P{server.port}", "-uroot", "-profs", "-N", "-B", "-e", sql)


def _rabbitmqctl(server: Server, ref: str, state: Path, *args: str) -> str:
    """rabbitmqctl from the image, with the node's data directory (its Erlang cookie) mounted."""
    return _in_image(ref, "--persist", f"/var/lib/rabbitmq={state / 'rabbitmq' / 'data'}", "rabbitmqctl", *args)


def _write_and_read(server: Server, ref: str, state: Path) -> None:
    """A client write and read; the data of the first start, for the restart to find."""
    port = server.port
    if server.name == "mariadb":
        out = _mariadb(server, ref, "CREATE DATABASE d; CREATE TABLE d.t (x int); INSERT INTO d.t VALUES (40), (2);"
                                    " SELECT SUM(x) FROM d.t")
        assert out.strip() == "42", out
    elif server.name == "rabbitmq":
        _rabbitmqctl(server, ref, state, "add_vhost", "rofs-test")
        assert "rofs-test" in _rabbitmqctl(server, ref, state, "list_vhosts")
    elif server.name == "postgres":
        out = _in_image(ref, "psql", "-X", "-qAt", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                        "-c", "CREATE TABLE t (x integer)", "-c", "INSERT INTO t VALUES (40), (2)",
                        "-c", "SELECT sum(x) FROM t", env={"PGPASSWORD": "rofs"})
        assert out.strip() == "42", out
    elif server.name == "redis":
        assert _redis(port, "SET", "k", "v") == "+OK\r\n"
        assert _redis(port, "GET", "k") == "$1\r\nv\r\n"
        assert _redis(port, "SAVE") == "+OK\r\n", "the RDB snapshot is written into /data"
    elif server.name == "memcached":
        assert _memcached(port, "set k 0 0 1\r\nv\r\n") == "STORED\r\n"
        assert _memcached(port, "get k\r\n") == "VALUE k 0 1\r\nv\r\nEND\r\n"
    elif server.name == "nginx":
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200 and b"nginx" in response.read()
        # a request body larger than client_body_buffer_size is buffered in /var/cache/nginx/client_temp
        request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=b"x" * (1 << 20), method="POST")
        try:
            urllib.request.urlopen(request, timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == 405, exc  # static files take no POST; the body was read (not a 500)


def _read_again(server: Server, ref: str, state: Path) -> None:
    """After the restart: the data is there (the image's persistent path survived)."""
    if server.name == "mariadb":
        assert _mariadb(server, ref, "SELECT SUM(x) FROM d.t").strip() == "42"
    elif server.name == "rabbitmq":
        assert "rofs-test" in _rabbitmqctl(server, ref, state, "list_vhosts")
    elif server.name == "postgres":
        out = _in_image(ref, "psql", "-X", "-qAt", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
                        "-c", "SELECT sum(x) FROM t", env={"PGPASSWORD": "rofs"})
        assert out.strip() == "42", out
    elif server.name == "redis":
        assert _redis(server.port, "GET", "k") == "$1\r\nv\r\n"


SERVERS = {
    "postgres": lambda: Server("postgres", free_port(), ["postgres", "-p", "{port}"], {"POSTGRES_PASSWORD": "rofs"},
                               stop=signal.SIGINT),
    "redis": lambda: Server("redis", free_port(), ["redis-server", "--port", "{port}"]),
    "mariadb": lambda: Server("mariadb", free_port(), ["mariadbd", "--port={port}"], {"MARIADB_ROOT_PASSWORD": "rofs"},
                              start_timeout=180),
    "rabbitmq": lambda: Server("rabbitmq", 5672, ["rabbitmq-server"], start_timeout=180),
    "memcached": lambda: Server("memcached", free_port(), ["memcached", "-p", "{port}"]),
    # the image's default.conf listens on 80, as the image does
    "nginx": lambda: Server("nginx", 80, ["nginx", "-g", "daemon off;"], stop=signal.SIGQUIT),
}

# What each image's entrypoint is known to try on a read-only root and handles by itself:
# (errno, path) of the refused write, the line the image prints about it, and what the run
# report says instead of a mount (the image keeps files there: an empty volume would hide them).
HANDLED = {
    "nginx": {("EROFS", "/etc/nginx/conf.d/default.conf"):
              ("can not modify /etc/nginx/conf.d/default.conf (read-only file system?)",
               ("writes /etc/nginx/conf.d/default.conf, in /etc/nginx/conf.d (server blocks rendered by the"
                " entrypoint's envsubst script), where the image keeps its own files: a plain volume there would"
                " hide them"))},
}


def _server(name: str) -> Server:
    server = SERVERS[name]()
    server.args = [a.replace("{port}", str(server.port)) for a in server.args]
    if not port_open(server.port):
        return server
    pytest.fail(f"port {server.port} is taken on this machine: the {name} image listens there")


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_the_official_image_runs_read_only_under_its_profile(name: str, tmp_path: Path):
    ref, recipe = _need_image(name)
    server = _server(name)
    state = tmp_path / "state"
    first = Started(_rofs_run(ref, name, state, tmp_path / "first.json", server.args, server.env), server)
    first.ready()
    _write_and_read(server, ref, state)
    assert first.stop() == 0, first.output()[-3000:]
    report = json.loads((tmp_path / "first.json").read_text())
    refused = {(r["errno"], r["path"]) for r in report["refused"]}
    handled = HANDLED.get(name, {})
    assert refused == set(handled), report["refused"]
    for line, problem in handled.values():
        assert line in first.output(), "the entrypoint says it went on without the write"
        assert any(problem in p for p in report["problems"]), report["problems"]
    assert report["add"] == [], report["add"]

    again = Started(_rofs_run(ref, name, state, tmp_path / "again.json", server.args, server.env), server)
    again.ready()
    if name == "postgres":
        assert "Skipping initialization" in again.output(), "the restart finds the database"
    _read_again(server, ref, state)
    assert again.stop() == 0, again.output()[-3000:]
    assert {(r["errno"], r["path"]) for r in json.loads((tmp_path / "again.json").read_text())["refused"]} == refused


def _required(name: str) -> list:
    from rofs.profiles import builtin_registry

    profile = builtin_registry().get(name)
    return [p for p in profile.paths_for("official") if p.required]


# Runs in which a required path left read-only shows its failure: the image's command, or
# the setting the profile's "without it" text names (Redis fails at start only with appendonly).
BREAK_ARGS = {("redis", "/data"): ["redis-server", "--port", "{port}", "--appendonly", "yes"]}

# /dev/shm is left out: a container always has one (the runtime's, 64 MiB by default), so
# what the profile asks of it is a size, not a writable path.
CASES = [(name, path.path) for name in sorted(SERVERS) for path in _required(name) if path.path != "/dev/shm"]


@pytest.mark.parametrize(("name", "path"), CASES, ids=[f"{n}:{p}" for n, p in CASES])
def test_each_required_path_left_read_only_fails_as_the_profile_says(name: str, path: str, tmp_path: Path):
    ref, _ = _need_image(name)
    server = _server(name)
    spec = next(p for p in _required(name) if p.path == path)
    args = [a.replace("{port}", str(server.port)) for a in BREAK_ARGS.get((name, path), server.args)]
    report_file = tmp_path / "report.json"
    run = subprocess.run(_rofs_run(ref, name, tmp_path / "state", report_file, args, server.env, keep=path,
                                   timeout=90), capture_output=True, text=True, timeout=150)
    output = run.stdout + run.stderr
    report = json.loads(report_file.read_text())
    assert any(words in spec.breaks for words in ("exits at start", "aborts at start", "does not boot", "stops with")), \
        f"{name} {path}: the profile says it breaks at start ({spec.breaks})"
    assert not report["timed_out"] and run.returncode != 0, f"{name} started without {path}:\n{output[-3000:]}"
    signatures = [s for s in spec.signatures if s in output]
    assert signatures, f"none of the profile's signatures {spec.signatures} in the output:\n{output[-3000:]}"
    added = {a["path"] for a in report["add"]}
    assert path in added, (report["add"], report["problems"])
    explained = subprocess.run([ROFS, "explain", "--app", name, "--layout", "official", "--format", "json", "-"],
                               input=output, capture_output=True, text=True, timeout=60)
    found = json.loads(explained.stdout)
    mounts = {f.get("mount") for f in found}
    assert path in mounts, explained.stdout[-3000:]
    record = os.environ.get("ROFS_RECORD_LINES")  # tests/official/record_lines.py: the lines, for the scored set
    if record:
        with open(record, "a", encoding="utf-8") as out:
            for f in found:
                if f.get("mount") == path:
                    out.write(json.dumps({"image": name, "path": path, "line": f["message"], "cause": f["cause"]}) + "\n")
