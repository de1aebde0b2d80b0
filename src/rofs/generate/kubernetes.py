"""Render a :class:`Plan` as Kubernetes YAML (StatefulSet, Deployment or Pod, plus PVCs)."""

from __future__ import annotations

import io

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from rofs import __version__
from rofs.generate.plan import Plan
from rofs.model import Probe, VolumeKind
from rofs.units import format_quantity


def _probe(probe: Probe) -> CommentedMap:
    out = CommentedMap()
    if probe.exec:
        out["exec"] = CommentedMap(command=list(probe.exec))
    elif probe.tcp:
        out["tcpSocket"] = CommentedMap(port=probe.tcp)
    elif probe.http_path is not None:
        out["httpGet"] = CommentedMap(path=probe.http_path, port=probe.http_port)
    if probe.initial_delay is not None:
        out["initialDelaySeconds"] = probe.initial_delay
    if probe.period is not None:
        out["periodSeconds"] = probe.period
    return out


def _security_context(plan: Plan) -> CommentedMap:
    sec = plan.workload.containers[0].security
    ctx = CommentedMap()
    ctx["readOnlyRootFilesystem"] = True
    ctx["allowPrivilegeEscalation"] = False
    ctx["privileged"] = False
    if sec.run_as_non_root:
        ctx["runAsNonRoot"] = True
    if sec.run_as_user is not None:
        ctx["runAsUser"] = sec.run_as_user
    if sec.run_as_group is not None:
        ctx["runAsGroup"] = sec.run_as_group
    caps = CommentedMap(drop=["ALL"])
    if sec.capabilities_add:
        caps["add"] = list(sec.capabilities_add)
        if plan.profile.capabilities_reason:
            caps.yaml_add_eol_comment(plan.profile.capabilities_reason, "add")
    ctx["capabilities"] = caps
    ctx["seccompProfile"] = CommentedMap(type="RuntimeDefault")
    return ctx


def _pod_security_context(plan: Plan) -> CommentedMap:
    sec = plan.workload.pod_security
    ctx = CommentedMap()
    if sec.run_as_non_root:
        ctx["runAsNonRoot"] = True
    if sec.run_as_user is not None:
        ctx["runAsUser"] = sec.run_as_user
    if sec.run_as_group is not None:
        ctx["runAsGroup"] = sec.run_as_group
    if sec.fs_group is not None:
        ctx["fsGroup"] = sec.fs_group
    ctx["seccompProfile"] = CommentedMap(type="RuntimeDefault")
    return ctx


def _container(plan: Plan) -> CommentedMap:
    container = plan.workload.containers[0]
    c = CommentedMap()
    c["name"] = container.name
    c["image"] = container.image
    if container.command and not plan.layout.images:
        c["command"] = list(container.command)
    if plan.layout.ports:
        c["ports"] = [CommentedMap(containerPort=port, protocol="TCP") for port in plan.layout.ports]
    if container.env:
        c["env"] = [CommentedMap(name=v.name, value=v.value) for v in container.env]
    c["securityContext"] = _security_context(plan)
    if plan.paths:
        mounts = CommentedSeq()
        for p in plan.paths:
            mount = CommentedMap(name=p.volume.name, mountPath=p.mount.path)
            mount.yaml_add_eol_comment(f"{p.spec.kind.value}: {p.spec.purpose}", "mountPath")
            mounts.append(mount)
        c["volumeMounts"] = mounts
    for which in ("startup", "liveness", "readiness"):
        probe = plan.profile.probe(which)
        if probe:
            c[f"{which}Probe"] = _probe(probe)
    resources = dict(plan.profile.resources)
    if resources:
        c["resources"] = CommentedMap(
            (section, CommentedMap(values)) for section, values in resources.items()
        )
    return c


SEED_ROOT = "/rofs-seed"


def _seed_container(plan: Plan) -> CommentedMap | None:
    """An init container that copies the image's files into emptyDirs mounted over them.

    An empty volume hides what the image ships in that directory (generated config,
    default files); the copy runs as the same user with the same read-only root.
    """
    seeded = [p for p in plan.paths if p.spec.populated and p.volume.kind is not VolumeKind.PERSISTENT]
    if not seeded:
        return None
    script = " && ".join(f"cp -a {p.mount.path}/. {SEED_ROOT}/{p.volume.name}/" for p in seeded)
    c = CommentedMap()
    c["name"] = "seed-writable-dirs"
    c["image"] = plan.image
    c["command"] = ["/bin/sh", "-c", script]
    c["securityContext"] = _security_context(plan)
    c["volumeMounts"] = [
        CommentedMap(name=p.volume.name, mountPath=f"{SEED_ROOT}/{p.volume.name}") for p in seeded
    ]
    c.yaml_set_start_comment("Copies the image's files into the emptyDirs that would hide them.", indent=8)
    return c


def _volumes(plan: Plan) -> CommentedSeq:
    vols = CommentedSeq()
    for p in plan.paths:
        vol = p.volume
        if vol.kind is VolumeKind.PERSISTENT:
            if plan.kind == "StatefulSet":
                continue  # served by volumeClaimTemplates
            entry = CommentedMap(name=vol.name, persistentVolumeClaim=CommentedMap(claimName=vol.source))
        else:
            empty = CommentedMap()
            if vol.kind is VolumeKind.MEMORY:
                empty["medium"] = "Memory"
            if vol.size_limit:
                empty["sizeLimit"] = format_quantity(vol.size_limit)
            entry = CommentedMap(name=vol.name, emptyDir=empty)
        vols.append(entry)
    return vols


def _pvc_spec(plan: Plan, size: int | None) -> CommentedMap:
    spec = CommentedMap()
    spec["accessModes"] = ["ReadWriteOnce"]
    if plan.options.storage_class:
        spec["storageClassName"] = plan.options.storage_class
    spec["resources"] = CommentedMap(requests=CommentedMap(storage=format_quantity(size or 1 << 30)))
    return spec


def _metadata(plan: Plan, name: str) -> CommentedMap:
    meta = CommentedMap(name=name)
    if plan.options.namespace:
        meta["namespace"] = plan.options.namespace
    meta["labels"] = CommentedMap({"app.kubernetes.io/name": plan.name})
    return meta


def render_documents(plan: Plan) -> list[CommentedMap]:
    """The Kubernetes objects of the plan, as round-trip maps (comments included)."""
    labels = CommentedMap({"app.kubernetes.io/name": plan.name})
    pod_spec = CommentedMap()
    pod_spec["automountServiceAccountToken"] = False
    pod_spec["securityContext"] = _pod_security_context(plan)
    seed = _seed_container(plan)
    if seed is not None:
        pod_spec["initContainers"] = [seed]
    pod_spec["containers"] = [_container(plan)]
    volumes = _volumes(plan)
    if volumes:
        pod_spec["volumes"] = volumes

    persistent = plan.by_kind(VolumeKind.PERSISTENT)
    main = CommentedMap()
    if plan.kind == "Pod":
        main["apiVersion"] = "v1"
        main["kind"] = "Pod"
        main["metadata"] = _metadata(plan, plan.name)
        main["spec"] = pod_spec
    else:
        main["apiVersion"] = "apps/v1"
        main["kind"] = plan.kind
        main["metadata"] = _metadata(plan, plan.name)
        spec = CommentedMap()
        if plan.kind == "StatefulSet":
            spec["serviceName"] = plan.name
        spec["replicas"] = 1
        if plan.kind == "Deployment" and persistent:
            # A ReadWriteOnce claim cannot be attached to two pods during a rolling update.
            spec["strategy"] = CommentedMap(type="Recreate")
        spec["selector"] = CommentedMap(matchLabels=labels)
        spec["template"] = CommentedMap(metadata=CommentedMap(labels=CommentedMap(labels)), spec=pod_spec)
        if plan.kind == "StatefulSet" and persistent:
            spec["volumeClaimTemplates"] = [
                CommentedMap(
                    metadata=CommentedMap(name=p.volume.name),
                    spec=_pvc_spec(plan, p.volume.size_limit),
                )
                for p in persistent
            ]
        main["spec"] = spec

    docs = [main]
    if plan.kind != "StatefulSet":
        for p in persistent:
            pvc = CommentedMap()
            pvc["apiVersion"] = "v1"
            pvc["kind"] = "PersistentVolumeClaim"
            pvc["metadata"] = _metadata(plan, p.volume.source or p.volume.name)
            pvc["spec"] = _pvc_spec(plan, p.volume.size_limit)
            docs.append(pvc)
    return docs


def header(plan: Plan, comment: str = "#") -> str:
    lines = [
        f"Generated by rofs {__version__} from profile {plan.profile.name!r} (layout {plan.layout.id!r}).",
        f"Root filesystem read-only; writable paths from `rofs profiles show {plan.profile.name}`.",
    ]
    if plan.kind == "Deployment" and plan.by_kind(VolumeKind.PERSISTENT):
        lines.append("Warning: persistent data in a Deployment; a StatefulSet (--kind StatefulSet) is usually better.")
    starts = plan.layout.starts_as
    if starts is not None and starts.root:
        user = plan.layout.user
        how = "and runs as root" if user.root else f"and steps down to {user.name or 'its worker user'} itself"
        lines.append(f"Starts as root {how} (layout {plan.layout.id!r}), so neither runAsNonRoot nor runAsUser"
                     " is set; every capability it does not need is dropped.")
    for note in plan.profile.notes:
        lines.append(f"Note: {note}")
    return "".join(f"{comment} {line}\n" for line in lines)


def render(plan: Plan) -> str:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    out = io.StringIO()
    out.write(header(plan))
    for i, doc in enumerate(render_documents(plan)):
        if i:
            out.write("---\n")
        yaml.dump(doc, out)
    return out.getvalue()
