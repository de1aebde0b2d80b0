"""Fix Kubernetes manifests: turn the rules' remedies into text edits.

The findings come from the same rule runner as ``rofs audit`` (RO101, RO102, RO201-RO204 carry
the remedies applied here); each remedy becomes splices at node positions (see
``rofs.fixers.editor``): read-only roots, mounts on new emptyDirs, claims or claim templates,
volumes made persistent or bounded, and an init container that fills volumes which must hold the
image's files.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from rofs.checks import active
from rofs.fixers.editor import Editor, get, is_null, seq_offset_of
from rofs.fixers.textedit import flow, is_flow
from rofs.model import Container, Finding, SourceFormat, VolumeKind, Workload, volume_name_for
from rofs.remedy import (
    DEFAULT_EPHEMERAL,
    AddMount,
    Applicability,
    BoundVolume,
    MakePersistent,
    ReadOnlyRoot,
    RemovePodSetting,
)
from rofs.rules import Context, fixable
from rofs.rules._common import minimal
from rofs.sources.kubernetes import ROLES, KubernetesSource, PodWorkload, ShapeError, _Loader
from rofs.units import format_quantity

SEED = "seed-writable-dirs"
SEED_ROOT = "/rofs-seed"


@dataclass
class Remedies:
    """What one pod's findings ask for, gathered by kind."""

    read_only: set[int]
    mounts: dict[int, list[AddMount]]
    persist: dict[str, int]  # volume -> size
    bound: dict[str, int]  # volume -> size
    remove_pod_read_only: bool = False

    @classmethod
    def of(cls, workload: Workload, findings: list[Finding]) -> "Remedies":
        index = {c.name: i for i, c in enumerate(workload.containers)}
        out = cls(set(), {}, {}, {})
        for finding in findings:
            for remedy in finding.remedies:
                if isinstance(remedy, ReadOnlyRoot) and remedy.container in index:
                    out.read_only.add(index[remedy.container])
                elif isinstance(remedy, AddMount) and remedy.container in index:
                    out.mounts.setdefault(index[remedy.container], []).append(remedy)
                elif isinstance(remedy, MakePersistent):
                    out.persist[remedy.volume] = remedy.size
                elif isinstance(remedy, BoundVolume):
                    out.bound[remedy.volume] = remedy.size
                elif isinstance(remedy, RemovePodSetting):
                    out.remove_pod_read_only = True
        return out


class KubernetesFixer:
    format = SourceFormat.KUBERNETES

    def __init__(self, ctx: Context, selected: set[str]):
        self.ctx = ctx
        self.selected = set(selected) & fixable()
        self.applied: list[Finding] = []  # the findings whose remedies were written (all pieces of a stream)

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
        pvc_names |= existing_claims(documents)
        self.appended = ""
        self.appended_docs: list[dict] = []
        for doc in documents:
            for pod in source.pod_workloads(doc, path):
                findings = [f for f in active(pod.workload, self.ctx, self.selected, suppressions)
                            if Applicability(f.applicability).applied]
                if not findings:
                    continue
                if editor is None:
                    editor = Editor(text, seq_offset_of(text, pod.spec))
                self._fix_workload(editor, pod, Remedies.of(pod.workload, findings), notes, pvc_names)
                self.applied += findings
        if editor is None:
            return [], notes
        edits = editor.finish(append)
        if not append:
            self.appended = editor.appended_text()
            self.appended_docs = editor.appended_docs
        return edits, notes

    # ---------------------------------------------------------------------------------

    def _fix_workload(self, editor: Editor, pod: PodWorkload, todo: Remedies, notes: list[str],
                      pvc_names: set[str]) -> None:
        workload, spec = pod.workload, pod.spec
        label = f"{pod.kind} {workload.display_name}"
        cnodes = [c for key, _ in ROLES for c in (get(spec, key).value if isinstance(get(spec, key), yaml.SequenceNode) else [])]
        assert len(cnodes) == len(workload.containers)
        volume_nodes = {}
        vseq = get(spec, "volumes")
        if isinstance(vseq, yaml.SequenceNode):
            for item in vseq.value:
                if isinstance(item, yaml.MappingNode):
                    volume_nodes[_scalar(get(item, "name")) or ""] = item
        statefulset = pod.kind == "StatefulSet"

        # Volumes the pod has (and claim templates), and those this fix adds.
        taken = {v.name for v in workload.volumes}
        planned: dict[tuple[str, VolumeKind], str] = {}
        new_volumes: list[dict] = []
        new_templates: list[dict] = []
        seeds: list[tuple[str, str]] = []
        for ci in sorted(todo.mounts):
            container = workload.containers[ci]
            mounts: list[dict] = []
            for need in minimal(todo.mounts[ci]):
                if need.guess:
                    _note_once(notes, f"{label} [{container.name}]: no profile for {container.image}; added a"
                               " bounded /tmp only. Its other writable paths are unknown: find them with"
                               " `rofs trace`, then pass the profile with --profile-file.")
                vname = planned.get((need.path, need.kind)) or _reuse(workload, container, need)
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
                            editor.append_document(_pvc(claim, workload.namespace, size))
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

        for ci in sorted(todo.read_only):
            editor.set_value(cnodes[ci], ["securityContext", "readOnlyRootFilesystem"], True)

        if todo.remove_pod_read_only:
            psc = get(spec, "securityContext")
            if isinstance(psc, yaml.MappingNode) and not editor.delete_key(psc, "readOnlyRootFilesystem"):
                editor.delete_pair(spec, "securityContext")

        for vname, size in todo.bound.items():
            if vname in todo.persist:
                continue  # it becomes a claim: no emptyDir left to bound
            item = volume_nodes.get(vname)
            if item is not None:
                editor.set_value(item, ["emptyDir", "sizeLimit"], format_quantity(size))

        for vname, size in todo.persist.items():
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
                editor.append_document(_pvc(claim, workload.namespace, size))
                notes.append(f"{label}: volume {vname} held data that must persist; it is now PersistentVolumeClaim {claim}.")

        if new_volumes:
            editor.extend_list(spec, "volumes", new_volumes)
        if new_templates:
            editor.extend_list(get(pod.obj, "spec"), "volumeClaimTemplates", new_templates)
        if seeds:
            owner = workload.containers[min(todo.mounts)]
            editor.extend_list(spec, "initContainers", [_seed_container(owner, seeds)])
            notes.append(
                f"{label}: added init container {SEED} that copies the image's files into "
                + ", ".join(p for p, _ in seeds) + " (an empty volume would hide them)."
            )

    # --- helpers --------------------------------------------------------------------

    @staticmethod
    def _drop_volume(editor: Editor, spec, vseq, item, keep_key: bool) -> None:
        """Remove a volume (it becomes a claim template); the list goes too when it empties and
        nothing is added to it."""
        if len(vseq.value) == 1 and not keep_key:
            editor.delete_pair(spec, "volumes")
        else:
            editor.remove_item(vseq, item)


def _note_once(notes: list[str], note: str) -> None:
    if note not in notes:
        notes.append(note)


def _scalar(node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) and not is_null(node) else None


def _reuse(workload: Workload, container: Container, need: AddMount) -> str | None:
    """A pod volume another container already mounts at this path, of a fitting kind."""
    for other in workload.containers:
        if other is container:
            continue
        for mount in other.mounts:
            volume = workload.volume(mount.volume)
            if mount.path == need.path and volume is not None and not mount.read_only and volume.kind == need.kind:
                return volume.name
    return None


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


def existing_claims(documents) -> set[str]:
    """Names of the PersistentVolumeClaims the documents define."""
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


__all__ = ["KubernetesFixer", "ShapeError", "existing_claims"]
