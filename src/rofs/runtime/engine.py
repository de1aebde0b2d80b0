"""``rofs run --engine docker|podman``: the same declaration as ``docker run --read-only``.

Used where an engine is reachable.  The command line is built here and executed as is; the
engine's exit code is passed through.  (No engine runs on rofs' own CI machine, so its tests
check the exact command line.)
"""

from __future__ import annotations

import shutil

from rofs.model import VolumeKind
from rofs.runtime.confine import Confinement
from rofs.runtime.errors import SandboxError
from rofs.runtime.run import Declared
from rofs.units import format_docker_size

ENGINES = ("docker", "podman")


def engine_argv(engine: str, image: str, declared: list[Declared], command: list[str], user: str | None = None,
                confinement: Confinement | None = None, env: dict[str, str] | None = None) -> list[str]:
    """The engine's command line; the engine's own defaults hold the container (its seccomp profile,
    capabilities, namespaces); ``--network none`` and ``--seccomp unconfined`` are passed on."""
    if engine not in ENGINES:
        raise SandboxError(f"unknown engine {engine!r} (docker or podman)")
    args = [engine, "run", "--rm", "--read-only"]
    if confinement is not None and confinement.network == "none":
        args += ["--network", "none"]
    if confinement is not None and confinement.seccomp == "unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    if engine == "podman":
        args.append("--read-only-tmpfs=false")  # podman adds writable /tmp, /var/tmp, /run otherwise
    for item in sorted(declared, key=lambda d: d.path):
        if item.path == "/dev/shm":
            args += ["--shm-size", format_docker_size(item.size or 64 << 20)]
        elif item.kind is VolumeKind.PERSISTENT:
            if not item.source:
                raise SandboxError(f"{item.path}: a persistent path needs a host directory (--persist)")
            args += ["-v", f"{item.source}:{item.path}"]
        else:
            opts = "rw,mode=1777"
            if item.size:
                opts += f",size={format_docker_size(item.size)}"
            args += ["--tmpfs", f"{item.path}:{opts}"]
    if user:
        args += ["--user", user]
    for name, value in (env or {}).items():
        args += ["-e", f"{name}={value}"]
    return args + [image, *command]


def require_engine(engine: str) -> str:
    path = shutil.which(engine)
    if path is None:
        raise SandboxError(f"{engine} is not installed (or not on PATH)")
    return path
