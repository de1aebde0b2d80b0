"""The real-app check for `rofs fix`: a Compose file fixed by rofs gives the mounts with which
the real program (Debian's redis-server) starts and serves under a read-only root.

The service's image is a stand-in whose profile is the built-in Redis profile's Debian layout
(there is no container engine here); the fixed service's volumes are then mounted the way
Compose would (named volume -> a host directory, tmpfs -> a tmpfs of that size) under bwrap
with the rest of the root read-only.  (Once `rofs run` exists, this goes through it.)
"""

from __future__ import annotations

import signal

import yaml

from conftest import require_path, require_tool
from realserver import Mount, Sandboxed, free_port
from rofs.fix import fix_text
from rofs.profiles import builtin_registry, load_profile_text
from test_profiles_real import _owned_dir, _redis_cli, _require_sandbox, _tail, _wait_bgsave, scratch  # noqa: F401


def debian_redis_as_image_profile() -> str:
    """The built-in Debian layout of Redis, offered as a profile for the image test/redis-debian."""
    redis = builtin_registry().get("redis")
    paths = [
        {
            "path": p.path, "purpose": p.purpose, "kind": p.kind.value, "required": p.required,
            "breaks": p.breaks, "sources": ["builtin"], **({"size": f"{p.size}"} if p.size else {}),
        }
        for p in redis.paths_for("debian")
    ]
    doc = {
        "name": "redis-debian-test",
        "title": "Redis (Debian package, as an image)",
        "description": "The built-in redis profile's debian layout, matched to a test image name.",
        "layouts": [{"id": "image", "description": "stand-in image", "images": ["test/redis-debian"]}],
        "paths": paths,
        "sources": [{"id": "builtin", "title": "rofs' redis profile", "ref": "src/rofs/profiles/data/redis.yaml"}],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def test_fixed_compose_file_runs_redis_read_only(scratch):  # noqa: F811
    _require_sandbox()
    require_tool("redis-server", "redis-server")
    cli = require_tool("redis-cli", "redis-tools")
    require_path("/etc/redis/redis.conf", "Debian redis.conf (apt-get install -y redis-server)")
    port = free_port()
    compose = f"""\
# The cache of an app; someone asked for a read-only root.
services:
  cache:
    image: test/redis-debian:7
    command: ["redis-server", "/etc/redis/redis.conf", "--daemonize", "no", "--port", "{port}", "--appendonly", "yes"]
    user: redis
"""
    registry = builtin_registry().with_files([])
    registry.add(load_profile_text(debian_redis_as_image_profile(), "redis-debian-test.yaml"))
    result = fix_text(compose, "compose.yaml", registry, {"RO101", "RO201", "RO202", "RO203", "RO204"})
    assert result.error is None and result.changed
    service = yaml.safe_load(result.fixed)["services"]["cache"]
    assert service["read_only"] is True
    volumes = {v["target"]: v for v in service["volumes"]}
    assert volumes["/var/lib/redis"]["type"] == "volume", "Redis data must persist: a named volume"
    assert volumes["/var/log/redis"]["type"] == "tmpfs" and volumes["/var/log/redis"]["tmpfs"]["size"] > 0
    assert "/tmp" not in volumes, "Redis does not write /tmp"

    data = _owned_dir(scratch, "cache-data", "redis")
    mounts = []
    for target, volume in volumes.items():
        if volume["type"] == "volume":
            mounts.append(Mount(target, "bind", source=data))
        else:
            mounts.append(Mount(target, "tmpfs", size=volume["tmpfs"]["size"]))
    argv = service["command"]
    with Sandboxed(argv, mounts, user="redis", dump=["/var/log/redis/redis-server.log"]) as box:
        assert box.wait_port(port), _tail(box.output())
        assert _redis_cli(cli, port, "SET", "fixed", "by-rofs") == "OK"
        assert _redis_cli(cli, port, "GET", "fixed") == "by-rofs"
        assert "Background saving started" in _redis_cli(cli, port, "BGSAVE")
        assert "rdb_last_bgsave_status:ok" in _wait_bgsave(cli, port)
        stopped = box.stop(signal.SIGTERM)
    assert stopped.returncode == 0, _tail(stopped.output)
    assert (data / "dump.rdb").is_file() and (data / "appendonlydir").is_dir()
