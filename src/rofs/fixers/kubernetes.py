"""Fix Kubernetes manifests: turn the rules' remedies into text edits.

The findings come from the same rule runner as ``rofs audit`` (RO101, RO102, RO201-RO204 carry
the remedies applied here); each remedy becomes splices at node positions (see
``rofs.fixers.editor``): read-only roots, mounts on new emptyDirs, claims or claim templates,
volumes made persistent or bounded, and an init container that fills volumes which must hold the
image's files.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import yaml

from rofs.checks import active
from rofs.fixers.editor import Editor, seq_offset_of
from rofs.fixers.naming import unique_name
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
    unprofiled_images,
)
from rofs.rules import Context, fixable
from rofs.rules.common import minimal
from rofs.sources.kubernetes import ROLES, KubernetesSource, PodWorkload
from rofs.units import format_quantity
from rofs.yamlnode import Loader, ShapeError, get, key_node, scalar_text, shared_nodes

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
    def of(cls, workload: Workload, findings: list[Finding]) -> Remedies:
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
        self.unprofiled: Counter[str] = Counter()
        self.shared: set[int] = set()  # ids of the nodes of the document at hand reached more than once  # images left as they are, for want of a profile: containers

    def fix(self, text: str, path: str, suppressions: list, documents: list | None = None,
            pvc_names: set[str] | None = None, append: bool = True) -> tuple[list, list[str]]:
        """Edits for the whole file, and notes for the user.  Raises ShapeError / YAMLError on bad input.

        A stream fixed piece by piece passes each piece's *documents* (already composed), one
        *pvc_names* set for all pieces (claims found or added so far), and ``append=False``: the
        claims to add are then left in ``self.appended`` (text) for the end of the stream.
        """
        if documents is None:
            documents = [d for d in yaml.compose_all(text, Loader=Loader) if d is not None]
        source = KubernetesSource()
        editor: Editor | None = None
        notes: list[str] = []
        if pvc_names is None:
            pvc_names = set()
        pvc_names |= existing_claims(documents)
        self.appended = ""
        self.appended_docs: list[dict] = []
        for doc in documents:
            self.shared = shared_nodes(doc) if "&" in text else set()  # anchors used more than once
            for pod in source.pod_workloads(doc, path):
                every = active(pod.workload, self.ctx, self.selected, suppressions)
                self.unprofiled.update(unprofiled_images(every))
                findings = [f for f in every if Applicability(f.applicability).applied]
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
        """Write one pod's remedies: mounts, read-only roots, bounded or persistent volumes."""
        fx = PodFix.of(editor, pod, todo, notes, pvc_names)
        for ci in sorted(todo.mounts):
            _add_mounts(fx, ci)
        for ci in sorted(todo.read_only):
            _set_read_only(fx, ci, self.shared)
        if todo.remove_pod_read_only:
            _remove_pod_read_only(fx)
        _bound_volumes(fx)
        for vname, size in todo.persist.items():
            _persist_volume(fx, vname, size)
        _add_new_volumes(fx)


@dataclass
class PodFix:
    """One pod's fix in progress: its nodes, what it asks for, and what the fix adds so far."""

    editor: Editor
    pod: PodWorkload
    todo: Remedies
    notes: list[str]
    pvc_names: set[str]  # claims of the whole file (or stream): found, and added so far
    cnodes: list[yaml.MappingNode]  # the container nodes, in the order of workload.containers
    vseq: yaml.SequenceNode | None  # the pod's `volumes:` list
    volume_nodes: dict[str, yaml.MappingNode]  # its items, by name
    taken: set[str]  # volume names the pod has (claim templates included) or the fix adds
    planned: dict[tuple[str, VolumeKind], str] = field(default_factory=dict)  # (path, kind) -> new volume
    new_volumes: list[dict] = field(default_factory=list)
    new_templates: list[dict] = field(default_factory=list)
    seeds: list[tuple[str, str]] = field(default_factory=list)  # (path, volume) to fill from the image

    @classmethod
    def of(cls, editor: Editor, pod: PodWorkload, todo: Remedies, notes: list[str], pvc_names: set[str]) -> PodFix:
        spec = pod.spec
        cnodes = [c for key, _ in ROLES for c in _items(get(spec, key)) if isinstance(c, yaml.MappingNode)]
        assert len(cnodes) == len(pod.workload.containers)
        vseq = get(spec, "volumes")
        vseq = vseq if isinstance(vseq, yaml.SequenceNode) else None
        volume_nodes = {
            scalar_text(get(item, "name")) or "": item for item in _items(vseq) if isinstance(item, yaml.MappingNode)
        }
        return cls(editor, pod, todo, notes, pvc_names, cnodes, vseq, volume_nodes,
                   taken={v.name for v in pod.workload.volumes})

    @property
    def workload(self) -> Workload:
        return self.pod.workload

    @property
    def label(self) -> str:
        return f"{self.pod.kind} {self.workload.display_name}"

    @property
    def statefulset(self) -> bool:
        return self.pod.kind == "StatefulSet"

    def new_claim(self, vname: str) -> str:
        """A name for a new PersistentVolumeClaim of volume *vname*, unique in the file."""
        claim = unique_name(f"{self.workload.name.split(' ')[0]}-{vname}", self.pvc_names)
        self.pvc_names.add(claim)
        return claim


def _items(node: yaml.Node | None) -> list[yaml.Node]:
    return node.value if isinstance(node, yaml.SequenceNode) else []


def _add_mounts(fx: PodFix, ci: int) -> None:
    """Mount what container *ci* needs, on volumes it shares or the fix adds."""
    container = fx.workload.containers[ci]
    mounts: list[dict] = []
    for need in minimal(fx.todo.mounts[ci]):
        if need.guess:
            _note_once(fx.notes, f"{fx.label} [{container.name}]: no profile for {container.image}; added a"
                       " bounded /tmp only. Its other writable paths are unknown: find them with"
                       " `rofs trace`, then pass the profile with --profile-file.")
        vname = fx.planned.get((need.path, need.kind)) or _reuse(fx.workload, container, need, fx.todo.bound)
        if vname is None:
            vname = _new_volume(fx, need)
        mounts.append({"name": vname, "mountPath": need.path})
    if mounts:
        fx.editor.extend_list(fx.cnodes[ci], "volumeMounts", mounts)


def _new_volume(fx: PodFix, need: AddMount) -> str:
    """Plan a new volume for *need* (an emptyDir, a claim template, or a claim); its name."""
    vname = unique_name(need.name or volume_name_for(need.path), fx.taken)
    fx.taken.add(vname)
    fx.planned[(need.path, need.kind)] = vname
    if need.kind is VolumeKind.PERSISTENT:
        size = need.size or (10 << 30)
        if fx.statefulset:
            fx.new_templates.append(_claim_template(vname, size))
        else:
            claim = fx.new_claim(vname)
            fx.new_volumes.append({"name": vname, "persistentVolumeClaim": {"claimName": claim}})
            fx.editor.append_document(_pvc(claim, fx.workload.namespace, size))
            fx.notes.append(
                f"{fx.label}: {need.path} must persist; added PersistentVolumeClaim {claim}."
                f" A {fx.workload.kind} with persistent data usually wants to be a StatefulSet"
                " (one claim per replica, stable identity)." + _rolling_note(fx)
            )
    else:
        empty = {"medium": "Memory"} if need.kind is VolumeKind.MEMORY else {}
        empty["sizeLimit"] = format_quantity(need.size or DEFAULT_EPHEMERAL)
        fx.new_volumes.append({"name": vname, "emptyDir": empty})
        if need.populated:
            fx.seeds.append((need.path, vname))
    return vname


def _rolling_note(fx: PodFix) -> str:
    """For a Deployment that rolls its pods: a ReadWriteOnce claim and a rolling update stall (the new
    pod waits for the claim the old one holds: a Multi-Attach error on another node)."""
    if fx.pod.kind != "Deployment":
        return ""
    strategy = scalar_text(get(get(get(fx.pod.obj, "spec"), "strategy"), "type"))
    if strategy == "Recreate":
        return ""
    return (" The claim is ReadWriteOnce and the Deployment rolls its pods (strategy "
            f"{strategy or 'RollingUpdate, the default'}): the new pod waits for the claim the old one holds, on another"
            " node for ever (Multi-Attach); set strategy: {type: Recreate}, or make it a StatefulSet.")


def _remove_pod_read_only(fx: PodFix) -> None:
    """Drop the pod-level readOnlyRootFilesystem (it has no effect there), its securityContext too if it empties."""
    psc = get(fx.pod.spec, "securityContext")
    if isinstance(psc, yaml.MappingNode) and not fx.editor.delete_key(psc, "readOnlyRootFilesystem"):
        fx.editor.delete_pair(fx.pod.spec, "securityContext")


def _bound_volumes(fx: PodFix) -> None:
    for vname, size in fx.todo.bound.items():
        if vname in fx.todo.persist:
            continue  # it becomes a claim: no emptyDir left to bound
        item = fx.volume_nodes.get(vname)
        if item is not None:
            fx.editor.set_value(item, ["emptyDir", "sizeLimit"], format_quantity(size))


def _persist_volume(fx: PodFix, vname: str, size: int) -> None:
    """Make emptyDir *vname* persistent: a claim template (StatefulSet) or a new claim."""
    item = fx.volume_nodes.get(vname)
    if item is None or fx.vseq is None:
        return
    if get(item, "emptyDir") is None:
        return  # an ephemeral volume of another type (generic ephemeral): left to the user
    editor = fx.editor
    if fx.statefulset:
        _drop_volume(editor, fx.pod.spec, fx.vseq, item, keep_key=bool(fx.new_volumes))
        fx.new_templates.append(_claim_template(vname, size))
        return
    claim = fx.new_claim(vname)
    replacement = {"persistentVolumeClaim": {"claimName": claim}}
    name_node = get(item, "name")
    if is_flow(item) and name_node is not None:
        editor.replace(item, "{" + f"{flow('name')}: {editor.source(name_node)}, {flow('persistentVolumeClaim')}:"
                       f" {flow(replacement['persistentVolumeClaim'])}" + "}")
    else:
        editor.delete_key(item, "emptyDir")
        editor.add_keys(item, replacement)
    editor.append_document(_pvc(claim, fx.workload.namespace, size))
    fx.notes.append(f"{fx.label}: volume {vname} held data that must persist; it is now PersistentVolumeClaim {claim}."
                    + _rolling_note(fx))


_ALIAS = re.compile(r"[ \t]*:[ \t]*(\*[^\s,\[\]{}]+)")


def _set_read_only(fx: PodFix, ci: int, shared: set[int]) -> None:
    """readOnlyRootFilesystem: true in the container's securityContext.  One written as an alias
    (``securityContext: *sec``, shared with the pod's, say) becomes ``{<<: *sec, readOnlyRootFilesystem:
    true}``: the alias stays, and nothing else that uses it changes."""
    cnode = fx.cnodes[ci]
    sc = get(cnode, "securityContext")
    if sc is None or id(sc) not in shared:
        fx.editor.set_value(cnode, ["securityContext", "readOnlyRootFilesystem"], True)
        return
    knode = key_node(cnode, "securityContext")
    assert knode is not None
    alias = _ALIAS.match(fx.editor.text, knode.end_mark.index)
    if alias is None:
        raise ValueError(f"{fx.label} [{scalar_text(get(cnode, 'name'))}]: its securityContext is an anchor that"
                         " another part of the file uses; write it out in each place first")
    fx.editor.replace_span(alias.start(1), alias.end(1), "{<<: " + alias.group(1) + ", readOnlyRootFilesystem: true}")


def _add_new_volumes(fx: PodFix) -> None:
    """Write the volumes, claim templates and seeding init container the fix planned."""
    editor, spec = fx.editor, fx.pod.spec
    if fx.new_volumes:
        editor.extend_list(spec, "volumes", fx.new_volumes)
    if fx.new_templates:
        obj_spec = get(fx.pod.obj, "spec")
        if not isinstance(obj_spec, yaml.MappingNode):  # the reader found the pod spec inside it
            raise ShapeError(fx.pod.obj, "a StatefulSet's spec should be a mapping")
        editor.extend_list(obj_spec, "volumeClaimTemplates", fx.new_templates)
        names = ", ".join(t["metadata"]["name"] for t in fx.new_templates)
        fx.notes.append(
            f"{fx.label}: added volumeClaimTemplates {names}. A StatefulSet's volumeClaimTemplates cannot be"
            " changed once it exists (the API server refuses the update): to apply this to a running one, delete"
            f" it keeping its pods (kubectl delete statefulset {fx.workload.name} --cascade=orphan) and apply, or add one"
            " PersistentVolumeClaim per replica by hand and mount it as a volume instead."
        )
    if fx.seeds:
        owner = fx.workload.containers[min(fx.todo.mounts)]
        editor.extend_list(spec, "initContainers", [_seed_container(owner, fx.seeds)])
        fx.notes.append(
            f"{fx.label}: added init container {SEED} that copies the image's files into "
            + ", ".join(p for p, _ in fx.seeds) + " (an empty volume would hide them)."
        )


def _drop_volume(editor: Editor, spec: yaml.MappingNode, vseq: yaml.SequenceNode, item: yaml.MappingNode,
                 keep_key: bool) -> None:
    """Remove a volume (it becomes a claim template); the list goes too when it empties and
    nothing is added to it."""
    if len(vseq.value) == 1 and not keep_key:
        editor.delete_pair(spec, "volumes")
    else:
        editor.remove_item(vseq, item)


def _note_once(notes: list[str], note: str) -> None:
    if note not in notes:
        notes.append(note)


def _reuse(workload: Workload, container: Container, need: AddMount, bounded: dict[str, int]) -> str | None:
    """A pod volume another container already mounts at this path, of a fitting kind.  Not one
    left without a size (its users have no profile): the app gets one of its own, with its size."""
    for other in workload.containers:
        if other is container:
            continue
        for mount in other.mounts:
            volume = workload.volume(mount.volume)
            if mount.path == need.path and volume is not None and not mount.read_only and volume.kind == need.kind:
                unsized = volume.size_limit is None and volume.kind is not VolumeKind.PERSISTENT
                if unsized and need.size is not None and volume.name not in bounded:
                    continue
                return volume.name
    return None


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
        if isinstance(doc, yaml.MappingNode) and scalar_text(get(doc, "kind")) == "PersistentVolumeClaim":
            name = scalar_text(get(get(doc, "metadata"), "name"))
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
