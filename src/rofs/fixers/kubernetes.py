"""Fix Kubernetes manifests: read-only root *and* the mounts the app needs.

Driven by the audit's findings (RO101, RO102, RO201, RO202, RO203, RO204) on the model,
applied as text splices at node positions (see ``rofs.fixers.editor``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from rofs.fixers.editor import Editor, get, is_null, seq_offset_of
from rofs.fixers.textedit import flow, is_flow
from rofs.generate.plan import volume_name_for
from rofs.model import Container, Finding, SourceFormat, VolumeKind, Workload, WritablePath, mount_serves
from rofs.rules import Context
from rofs.rules.ro204_temp_dir_not_writable import env_temp_paths
from rofs.rules._common import RUNTIME_SHM, RUNTIME_SHM_SIZE, required_paths, runs_the_app, serving_mount
from rofs.sources.kubernetes import ROLES, KubernetesSource, ShapeError, _Loader
from rofs.units import format_quantity

FIXABLE = ("RO101", "RO102", "RO201", "RO202", "RO203", "RO204")
DEFAULT_EPHEMERAL = 256 << 20
DEFAULT_MEMORY = 64 << 20
SEED = "seed-writable-dirs"
SEED_ROOT = "/rofs-seed"


@dataclass
class Need:
    """A path one container must be able to write."""

    path: str
    kind: VolumeKind
    size: int | None
    name: str | None = None
    populated: bool = False
    why: str = ""


@dataclass
class WorkloadFix:
    notes: list[str] = field(default_factory=list)


def findings_for(workload: Workload, ctx: Context, selected: set[str], suppressions: list) -> list[Finding]:
    from rofs.audit import _suppressed_by, check_workload

    out = []
    for finding in check_workload(workload, ctx, selected):
        if _suppressed_by(finding, list(workload.suppressions) + suppressions) is None:
            out.append(finding)
    return out


class KubernetesFixer:
    format = SourceFormat.KUBERNETES

    def __init__(self, ctx: Context, selected: set[str]):
        self.ctx = ctx
        self.selected = set(selected) & set(FIXABLE)

    def fix(self, text: str, path: str, suppressions: list, documents: list | None = None,
            pvc_names: set[str] | None = None, append: bool = True) -> tuple[list, list[str]]:
        """Edits for the whole file, and notes for the user.  Raises ShapeError / YAMLError on bad input.

        A stream fixed piece by piece passes each piece's *documents* (already composed), one
        *pvc_names* set for all pieces (claims found or added so far), and ``append=False``: the
        claims to add are then left in ``self.appended`` (text) for the end of the stream.
        """
        if documents is None:
            documents = [d for d in yaml.compose_all(text, Loader=_Loader) if d is not None]
        source = KubernetesSource()
        editor: Editor | None = None
        notes: list[str] = []
        if pvc_names is None:
            pvc_names = set()
        pvc_names |= _existing_pvcs(documents)
        self.appended = ""
        self.appended_docs: list[dict] = []
        for doc in documents:
            for obj in source._objects(doc):
                kind_node, api_node = get(obj, "kind"), get(obj, "apiVersion")
                if not (isinstance(kind_node, yaml.ScalarNode) and isinstance(api_node, yaml.ScalarNode)):
                    continue
                kind = kind_node.value
                meta = get(obj, "metadata")
                name = _scalar(get(meta, "name")) or "(unnamed)"
                namespace = _scalar(get(meta, "namespace"))
                for spec, template_meta, where in source._pod_specs(obj, kind):
                    workload = source._workload(obj, kind, name, namespace, meta, template_meta, spec, where, path)
                    findings = findings_for(workload, self.ctx, self.selected, suppressions)
                    if not findings:
                        continue
                    if editor is None:
                        editor = Editor(text, seq_offset_of(text, spec))
                    self._fix_workload(editor, obj, kind, name, namespace, spec, workload, findings, notes, pvc_names)
        if editor is None:
            return [], notes
        edits = editor.finish(append)
        if not append:
            self.appended = editor.appended_text()
            self.appended_docs = editor.appended_docs
        return edits, notes

    # ---------------------------------------------------------------------------------

    def _fix_workload(self, editor, obj, kind, name, namespace, spec, workload, findings, notes, pvc_names):
        label = f"{kind} {workload.display_name}"
        cnodes = [c for key, _ in ROLES for c in (get(spec, key).value if isinstance(get(spec, key), yaml.SequenceNode) else [])]
        assert len(cnodes) == len(workload.containers)
        index = {c.name: i for i, c in enumerate(workload.containers)}
        volume_nodes = {}
        vseq = get(spec, "volumes")
        if isinstance(vseq, yaml.SequenceNode):
            for item in vseq.value:
                if isinstance(item, yaml.MappingNode):
                    volume_nodes[_scalar(get(item, "name")) or ""] = item
        statefulset = kind == "StatefulSet"

        need_ro: set[int] = set()
        needs: dict[int, list[Need]] = {}
        to_persist: dict[str, int | None] = {}
        to_bound: dict[str, int] = {}
        remove_pod_ro = False
        for f in findings:
            ci = index.get(f.container) if f.container is not None else None
            container = workload.containers[ci] if ci is not None else None
            if f.rule == "RO101" and container is not None:
                need_ro.add(ci)
                needs.setdefault(ci, []).extend(self._profile_needs(workload, container, label, notes))
            elif f.rule == "RO102":
                remove_pod_ro = True
                for i, c in enumerate(workload.containers):
                    if c.security.read_only_root_fs is not True:
                        need_ro.add(i)
            elif f.rule == "RO201" and container is not None and f.path:
                needs.setdefault(ci, []).extend(n for n in self._profile_needs(workload, container, label, notes) if n.path == f.path)
            elif f.rule == "RO204" and container is not None and f.path:
                needs.setdefault(ci, []).append(Need(f.path, VolumeKind.EPHEMERAL, DEFAULT_EPHEMERAL, why="temp dir set by env"))
            elif f.rule == "RO202" and container is not None and f.path:
                volume = self._serving_volume(workload, container, f.path)
                if volume is not None:
                    to_persist[volume] = self._profile_size(container, f.path) or (10 << 30)
            elif f.rule == "RO203":
                for vol in workload.volumes:
                    if vol.type == "emptyDir" and vol.size_limit is None and vol.where("emptyDir") == f.location:
                        to_bound[vol.name] = self._size_for_volume(workload, vol.name, vol.kind)

        # A container made read-only here also needs the temp dirs its env names (what RO204
        # would report on the next run).
        if "RO204" in self.selected:
            for ci in need_ro:
                for path in env_temp_paths(workload.containers[ci]):
                    needs.setdefault(ci, []).append(Need(path, VolumeKind.EPHEMERAL, DEFAULT_EPHEMERAL, why="temp dir set by env"))

        # Volumes the pod has (and claim templates), and those this fix adds.
        taken = {v.name for v in workload.volumes}
        planned: dict[tuple[str, VolumeKind], str] = {}
        new_volumes: list[dict] = []
        new_templates: list[dict] = []
        seeds: list[tuple[str, str]] = []
        for ci in sorted(needs):
            container = workload.containers[ci]
            mounts: list[dict] = []
            chosen: list[Need] = []
            for need in _dedupe(needs[ci]):
                if serving_mount(workload, container, _spec(need), need.path) is not None:
                    continue
                if any(_serves(o, need) for o in chosen):
                    continue
                chosen.append(need)
            for need in chosen:
                vname = planned.get((need.path, need.kind)) or self._reuse(workload, container, need)
                if vname is None:
                    vname = _unique(need.name or volume_name_for(need.path), taken)
                    taken.add(vname)
                    planned[(need.path, need.kind)] = vname
                    if need.kind is VolumeKind.PERSISTENT:
                        size = need.size or (10 << 30)
                        if statefulset:
                            new_templates.append(_claim_template(vname, size))
                        else:
                            claim = _unique(f"{workload.name.split(' ')[0]}-{vname}", pvc_names)
                            pvc_names.add(claim)
                            new_volumes.append({"name": vname, "persistentVolumeClaim": {"claimName": claim}})
                            editor.append_document(_pvc(claim, namespace, size))
                            notes.append(
                                f"{label}: {need.path} must persist; added PersistentVolumeClaim {claim}."
                                f" A {workload.kind} with persistent data usually wants to be a StatefulSet"
                                " (one claim per replica, stable identity)."
                            )
                    else:
                        empty = {"medium": "Memory"} if need.kind is VolumeKind.MEMORY else {}
                        empty["sizeLimit"] = format_quantity(need.size or DEFAULT_EPHEMERAL)
                        new_volumes.append({"name": vname, "emptyDir": empty})
                        if need.populated:
                            seeds.append((need.path, vname))
                mounts.append({"name": vname, "mountPath": need.path})
            if mounts:
                editor.extend_list(cnodes[ci], "volumeMounts", mounts)

        for ci in sorted(need_ro):
            editor.set_value(cnodes[ci], ["securityContext", "readOnlyRootFilesystem"], True)

        if remove_pod_ro:
            psc = get(spec, "securityContext")
            if isinstance(psc, yaml.MappingNode) and not editor.delete_key(psc, "readOnlyRootFilesystem"):
                editor.delete_pair(spec, "securityContext")

        for vname, size in to_bound.items():
            if vname in to_persist:
                continue  # it becomes a claim: no emptyDir left to bound
            item = volume_nodes.get(vname)
            if item is not None:
                editor.set_value(item, ["emptyDir", "sizeLimit"], format_quantity(size))

        for vname, size in to_persist.items():
            item = volume_nodes.get(vname)
            if item is None:
                continue
            if get(item, "emptyDir") is None:
                continue  # an ephemeral volume of another type (generic ephemeral): left to the user
            if statefulset:
                self._drop_volume(editor, spec, vseq, item, keep_key=bool(new_volumes))
                new_templates.append(_claim_template(vname, size))
            else:
                claim = _unique(f"{workload.name.split(' ')[0]}-{vname}", pvc_names)
                pvc_names.add(claim)
                replacement = {"persistentVolumeClaim": {"claimName": claim}}
                if is_flow(item):
                    editor.replace(item, "{" + f"{flow('name')}: {editor.source(get(item, 'name'))}, {flow('persistentVolumeClaim')}: {flow(replacement['persistentVolumeClaim'])}" + "}")
                else:
                    editor.delete_key(item, "emptyDir")
                    editor.add_keys(item, replacement)
                editor.append_document(_pvc(claim, namespace, size))
                notes.append(f"{label}: volume {vname} held data that must persist; it is now PersistentVolumeClaim {claim}.")

        if new_volumes:
            editor.extend_list(spec, "volumes", new_volumes)
        if new_templates:
            editor.extend_list(get(obj, "spec"), "volumeClaimTemplates", new_templates)
        if seeds:
            owner = workload.containers[min(needs)]
            editor.extend_list(spec, "initContainers", [_seed_container(owner, seeds)])
            notes.append(
                f"{label}: added init container {SEED} that copies the image's files into "
                + ", ".join(p for p, _ in seeds) + " (an empty volume would hide them)."
            )

    # --- helpers --------------------------------------------------------------------

    def _profile_needs(self, workload: Workload, container: Container, label: str, notes: list[str]) -> list[Need]:
        return profile_needs(self.ctx, container, f"{label} [{container.name}]", container.image, notes)

    def _profile_size(self, container: Container, path: str) -> int | None:
        match = self.ctx.match(container)
        if match is None:
            return None
        for spec, needed in required_paths(container, match):
            if needed == path or path in spec.accepts:
                return spec.size
        return None

    def _size_for_volume(self, workload: Workload, vname: str, kind: VolumeKind) -> int:
        for container in workload.containers:
            for mount in container.mounts:
                if mount.volume == vname:
                    size = self._profile_size(container, mount.path)
                    if size:
                        return size
        return DEFAULT_MEMORY if kind is VolumeKind.MEMORY else DEFAULT_EPHEMERAL

    def _serving_volume(self, workload: Workload, container: Container, path: str) -> str | None:
        """The volume RO202 found holding *path* (the same lookup the rule makes)."""
        match = self.ctx.match(container)
        if match is None:
            return None
        for spec in match.profile.paths_for(match.layout.id):
            found = serving_mount(workload, container, spec, path)
            if found is not None and found[1].kind in (VolumeKind.EPHEMERAL, VolumeKind.MEMORY):
                return found[1].name
        return None

    def _reuse(self, workload: Workload, container: Container, need: Need) -> str | None:
        """A pod volume another container already mounts at this path, of a fitting kind."""
        for other in workload.containers:
            if other is container:
                continue
            for mount in other.mounts:
                volume = workload.volume(mount.volume)
                if mount.path == need.path and volume is not None and not mount.read_only and volume.kind == need.kind:
                    return volume.name
        return None

    @staticmethod
    def _drop_volume(editor: Editor, spec, vseq, item, keep_key: bool) -> None:
        """Remove a volume (it becomes a claim template); the list goes too when it empties and
        nothing is added to it."""
        if len(vseq.value) == 1 and not keep_key:
            editor.delete_pair(spec, "volumes")
        else:
            editor.remove_item(vseq, item)


def profile_needs(ctx: Context, container: Container, label: str, what: str | None, notes: list[str]) -> list[Need]:
    """The paths the container's app must write: its profile's required paths, or, for an image
    without a profile, a bounded /tmp and a note that the rest is unknown."""
    match = ctx.match(container)
    if match is None:
        if not runs_the_app(container) or what is None:
            return []
        note = (
            f"{label}: no profile for {what}; added a bounded /tmp only. Its other writable paths are"
            " unknown: find them with `rofs trace`, then pass the profile with --profile-file."
        )
        if note not in notes:
            notes.append(note)
        return [Need("/tmp", VolumeKind.EPHEMERAL, DEFAULT_EPHEMERAL, "tmp", why="unknown app")]
    out = []
    for spec, path in required_paths(container, match):
        if path == RUNTIME_SHM and (spec.size or 0) <= RUNTIME_SHM_SIZE:
            continue
        out.append(Need(path, spec.kind, spec.size, spec.name, spec.populated and path == spec.path, spec.purpose))
    return out


def _scalar(node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) and not is_null(node) else None


def _spec(need: Need) -> WritablePath:
    return WritablePath(path=need.path, purpose=need.why, kind=need.kind, required=True, breaks="", sources=())


def _serves(outer: Need, inner: Need) -> bool:
    return mount_serves(outer.path, outer.kind, inner.path, inner.kind)


def _dedupe(needs: list[Need]) -> list[Need]:
    seen: set[str] = set()
    out = []
    for need in needs:
        if need.path not in seen:
            seen.add(need.path)
            out.append(need)
    return out


def _unique(base: str, taken: set[str]) -> str:
    name, n = base[:63].rstrip("-"), 2
    while name in taken:
        suffix = f"-{n}"
        name = base[: 63 - len(suffix)].rstrip("-") + suffix
        n += 1
    return name


def _claim_template(name: str, size: int) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": format_quantity(size)}}},
    }


def _pvc(name: str, namespace: str | None, size: int) -> dict:
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta,
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": format_quantity(size)}}},
    }


def _existing_pvcs(documents) -> set[str]:
    names = set()
    for doc in documents:
        if isinstance(doc, yaml.MappingNode) and _scalar(get(doc, "kind")) == "PersistentVolumeClaim":
            name = _scalar(get(get(doc, "metadata"), "name"))
            if name:
                names.add(name)
    return names


def _seed_container(owner: Container, seeds: list[tuple[str, str]]) -> dict:
    script = " && ".join(f"cp -a {path}/. {SEED_ROOT}/{vname}/" for path, vname in seeds)
    security: dict = {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    if owner.security.run_as_user is not None:
        security["runAsUser"] = owner.security.run_as_user
    if owner.security.run_as_non_root is not None:
        security["runAsNonRoot"] = owner.security.run_as_non_root
    return {
        "name": SEED,
        "image": owner.image,
        "command": ["/bin/sh", "-c", script],
        "securityContext": security,
        "volumeMounts": [{"name": vname, "mountPath": f"{SEED_ROOT}/{vname}"} for _, vname in seeds],
    }


__all__ = ["FIXABLE", "KubernetesFixer", "ShapeError"]
