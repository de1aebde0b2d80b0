"""Render a :class:`Plan` as a Compose file.

Ephemeral paths become tmpfs mounts with a size (long syntax, so the size is
explicit and checkable), ``/dev/shm`` becomes ``shm_size``, persistent paths
become named volumes declared at top level.  Docker tmpfs mounts live in RAM,
so large ephemeral paths are flagged in a comment.
"""

from __future__ import annotations

import io

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString as Quoted

from rofs.generate.kubernetes import header
from rofs.generate.plan import Plan
from rofs.model import VolumeKind
from rofs.units import format_docker_size

LARGE_TMPFS = 1 << 30


def user_string(plan: Plan) -> str | None:
    uid, gid = plan.uid, plan.gid
    if uid is None:
        return None
    return f"{uid}:{gid}" if gid is not None else str(uid)


def render_document(plan: Plan) -> CommentedMap:
    svc = CommentedMap()
    svc["image"] = plan.image
    user = user_string(plan)
    if user:
        # Quoted: a YAML 1.1 reader takes an unquoted 999:999 for a base-60 number.
        svc["user"] = Quoted(user)
    svc["read_only"] = True
    svc["security_opt"] = ["no-new-privileges:true"]
    svc["cap_drop"] = ["ALL"]
    if plan.profile.capabilities_add:
        svc["cap_add"] = list(plan.profile.capabilities_add)
    if plan.layout.ports:
        svc["ports"] = [Quoted(f"{port}:{port}") for port in plan.layout.ports]
    if plan.env:
        svc["environment"] = CommentedMap((v.name, v.value) for v in plan.env)
    volumes = CommentedSeq()
    top_volumes = CommentedMap()
    for p in plan.paths:
        vol = p.volume
        if p.mount.path == "/dev/shm":
            if vol.size_limit:
                svc["shm_size"] = format_docker_size(vol.size_limit)
                svc.yaml_add_eol_comment(f"/dev/shm: {p.spec.purpose}", "shm_size")
            continue
        if vol.kind is VolumeKind.PERSISTENT or p.spec.populated:
            # A named volume starts as a copy of the image's directory; tmpfs would hide its files.
            entry = CommentedMap(type="volume", source=vol.name, target=p.mount.path)
            top_volumes[vol.name] = None
        else:
            entry = CommentedMap(type="tmpfs", target=p.mount.path)
            opts = CommentedMap()
            if vol.size_limit:
                opts["size"] = vol.size_limit
            opts["mode"] = 0o1777
            # Decimal: YAML 1.1 and 1.2 readers disagree on what a leading 0 means.
            opts.yaml_add_eol_comment("octal 1777: world-writable, sticky", "mode")
            entry["tmpfs"] = opts
        note = f"{p.spec.kind.value}: {p.spec.purpose}"
        if p.spec.populated and vol.kind is not VolumeKind.PERSISTENT:
            note += " (named volume: Docker copies the image's files into it)"
        if vol.kind is not VolumeKind.PERSISTENT and (vol.size_limit or 0) >= LARGE_TMPFS:
            note += " (tmpfs is RAM: counts against memory)"
        entry.yaml_add_eol_comment(note, "target")
        volumes.append(entry)
    if volumes:
        svc["volumes"] = volumes
    probe = plan.profile.probe("readiness") or plan.profile.probe("liveness")
    if probe and probe.exec:
        hc = CommentedMap(test=["CMD", *probe.exec])
        if probe.period:
            hc["interval"] = f"{probe.period}s"
        if probe.initial_delay:
            hc["start_period"] = f"{probe.initial_delay}s"
        svc["healthcheck"] = hc
    doc = CommentedMap()
    doc["services"] = CommentedMap({plan.name: svc})
    if top_volumes:
        doc["volumes"] = top_volumes
    return doc


def render(plan: Plan) -> str:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    yaml.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", ""))
    out = io.StringIO()
    out.write(header(plan))
    yaml.dump(render_document(plan), out)
    return out.getvalue()
