"""Render a :class:`Plan` as a ``docker run`` command line (Podman takes the same flags)."""

from __future__ import annotations

import shlex

from rofs.generate.compose import user_string
from rofs.generate.kubernetes import header
from rofs.generate.plan import Plan
from rofs.model import VolumeKind
from rofs.units import format_docker_size


def argv(plan: Plan, engine: str = "docker") -> list[str]:
    """The command as a list of arguments (what ``rofs run --engine`` executes)."""
    args = [engine, "run", "--rm", "--name", plan.name, "--read-only"]
    user = user_string(plan)
    if user:
        args += ["--user", user]
    args += ["--cap-drop", "ALL"]
    for cap in plan.profile.capabilities_add:
        args += ["--cap-add", cap]
    args += ["--security-opt", "no-new-privileges"]
    for p in plan.paths:
        vol = p.volume
        if p.mount.path == "/dev/shm":
            if vol.size_limit:
                args += ["--shm-size", format_docker_size(vol.size_limit)]
        elif vol.kind is VolumeKind.PERSISTENT or p.spec.populated:
            # populated: a named volume starts as a copy of the image's files; tmpfs would hide them
            args += ["-v", f"{plan.name}-{vol.name}:{p.mount.path}"]
        else:
            opts = "rw,mode=1777"
            if vol.size_limit:
                opts += f",size={format_docker_size(vol.size_limit)}"
            args += ["--tmpfs", f"{p.mount.path}:{opts}"]
    for var in plan.env:
        args += ["-e", f"{var.name}={var.value}"]
    for port in plan.layout.ports:
        args += ["-p", f"{port}:{port}"]
    args.append(plan.image)
    return args


def render(plan: Plan) -> str:
    args = argv(plan)
    lines: list[str] = []
    current = " ".join(shlex.quote(a) for a in args[:5])
    rest = args[5:-1]
    i = 0
    while i < len(rest):
        flag = rest[i]
        if flag.startswith("-") and i + 1 < len(rest) and not rest[i + 1].startswith("-"):
            lines.append(current)
            current = f"  {shlex.quote(flag)} {shlex.quote(rest[i + 1])}"
            i += 2
        else:
            lines.append(current)
            current = f"  {shlex.quote(flag)}"
            i += 1
    lines.append(current)
    lines.append(f"  {shlex.quote(args[-1])}")
    return header(plan) + " \\\n".join(lines) + "\n"
