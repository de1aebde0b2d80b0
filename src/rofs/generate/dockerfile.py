"""Render a :class:`Plan` as a Dockerfile that prepares the image for a read-only root.

Directories the app writes are created at build time and owned by the runtime
user: on a read-only root ``mkdir`` of an existing directory succeeds (EEXIST),
and an empty volume mounted there inherits the ownership.  The image runs as a
non-root numeric ``USER`` and, where the profile knows the command, starts it in
exec form.
"""

from __future__ import annotations

import json

from rofs.generate.kubernetes import header
from rofs.generate.plan import Plan


def render(plan: Plan) -> str:
    lines = [header(plan).rstrip("\n"), f"FROM {plan.image}", ""]
    dirs = [p.mount.path for p in plan.paths if p.mount.path != "/dev/shm"]
    uid, gid = plan.uid, plan.gid
    owner = None if uid is None else (f"{uid}:{gid}" if gid is not None else str(uid))
    if dirs:
        lines.append("# Writable paths from the profile, made at build and owned by the runtime user;")
        lines.append("# each is mounted as a volume at run time (see `rofs generate --format k8s`).")
        for p in plan.paths:
            if p.mount.path != "/dev/shm":
                lines.append(f"#   {p.mount.path}: {p.spec.kind.value}, {p.spec.purpose}")
        lines.append("USER root")
        cmd = "RUN mkdir -p " + " ".join(dirs)
        if owner:
            cmd += " \\\n && chown " + owner + " " + " ".join(dirs)
        lines.append(cmd)
        lines.append("")
    for var in plan.env:
        lines.append(f"ENV {var.name}={json.dumps(var.value)}")
    if plan.env:
        lines.append("")
    if owner:
        lines.append("# Numeric, so runAsNonRoot can verify it.")
        lines.append(f"USER {owner}")
    else:
        lines.append(f"# {plan.profile.title}: the profile names no UID; set a non-root numeric USER here.")
    if plan.layout.command:
        lines.append(f"ENTRYPOINT {json.dumps(list(plan.layout.command))}")
        if plan.layout.args:
            lines.append(f"CMD {json.dumps(list(plan.layout.args))}")
    else:
        lines.append("# ENTRYPOINT and CMD are inherited from the base image; if you override them, use exec form.")
    return "\n".join(lines) + "\n"
