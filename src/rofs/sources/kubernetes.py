"""Kubernetes YAML/JSON -> model.

Reads with PyYAML's C composer: nodes carry line/column marks at close to parse
cost, and nothing is constructed that the model does not need.  Tags are not
constructed either, so YAML 1.2 quirks that break PyYAML's SafeLoader (an
unquoted ``=`` in a CRD enum) do not stop the read.

Pod specs are found where each workload kind keeps them; in custom resources
(and kinds not known here) by walking the object for mappings whose
``containers`` is a list of mappings with ``image`` or ``name``.
CustomResourceDefinitions are not walked: their schemas describe containers,
they do not run any.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import yaml

from rofs.model import (
    Container,
    ContainerRole,
    EnvVar,
    Location,
    Mount,
    SecuritySettings,
    SourceFormat,
    Volume,
    VolumeKind,
    Workload,
)
from rofs.sources.interface import ReadError, Source, SourceFile, comment_pragmas, parse_suppression_text
from rofs.units import SizeError, parse_quantity

try:  # the C composer; the pure-Python one gives the same nodes, slower
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

# kind -> path (keys) from the object to its pod spec
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "DeploymentConfig": ("spec", "template", "spec"),
    "PodTemplate": ("template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# Kinds known to hold no containers: counted and skipped without a walk.
NO_PODS = frozenset(
    """Service ConfigMap Secret ServiceAccount Role RoleBinding ClusterRole ClusterRoleBinding
    PersistentVolumeClaim PersistentVolume StorageClass Namespace Ingress IngressClass NetworkPolicy
    HorizontalPodAutoscaler PodDisruptionBudget PriorityClass CustomResourceDefinition APIService
    Endpoints EndpointSlice LimitRange ResourceQuota ValidatingWebhookConfiguration
    MutatingWebhookConfiguration ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding
    CSIDriver PodSecurityPolicy Lease Event""".split()
)
IGNORE_ANNOTATION = "rofs.dev/ignore"
ROLES = (
    ("containers", ContainerRole.MAIN),
    ("initContainers", ContainerRole.INIT),
    ("ephemeralContainers", ContainerRole.EPHEMERAL),
)
PERSISTENT_TYPES = {
    "persistentVolumeClaim", "nfs", "csi", "cephfs", "rbd", "iscsi", "glusterfs", "awsElasticBlockStore",
    "gcePersistentDisk", "azureDisk", "azureFile", "cinder", "fc", "flexVolume", "flocker", "portworxVolume",
    "quobyte", "scaleIO", "storageos", "vsphereVolume", "photonPersistentDisk",
}
CONFIG_TYPES = {"configMap", "secret", "downwardAPI", "projected", "image", "gitRepo"}


class ShapeError(Exception):
    """A value of the wrong type where the model needs a mapping, list or scalar."""

    def __init__(self, node: yaml.Node, message: str):
        self.node = node
        if looks_like_template(node):
            message += f"; {HELM_HINT}"
        super().__init__(message)


HELM_HINT = "this looks like an unrendered Helm template ({{ ... }}): render it with `helm template` first"


def looks_like_template(node: yaml.Node) -> bool:
    """``{{ .Values.x }}`` read as YAML: a flow mapping whose only key is a flow mapping."""
    return (
        isinstance(node, yaml.MappingNode)
        and node.flow_style is True
        and len(node.value) == 1
        and isinstance(node.value[0][0], yaml.MappingNode)
    )


def _loc(path: str, node: yaml.Node) -> Location:
    start, end = node.start_mark, node.end_mark
    return Location(path, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for knode, vnode in node.value:
        if isinstance(knode, yaml.ScalarNode) and knode.value == key:
            return vnode
    return None


def _key_node(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for knode, _ in node.value:
        if isinstance(knode, yaml.ScalarNode) and knode.value == key:
            return knode
    return None


def _is_null(node: yaml.Node | None) -> bool:
    return node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"))


def _scalar(node: yaml.Node | None) -> str | None:
    if _is_null(node):
        return None
    if not isinstance(node, yaml.ScalarNode):
        raise ShapeError(node, "expected a single value, found a " + _what(node))
    return node.value


def _bool(node: yaml.Node | None) -> bool | None:
    value = _scalar(node)
    if value is None:
        return None
    low = value.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    raise ShapeError(node, f"expected true or false, found {value!r}")


def _int(node: yaml.Node | None) -> int | None:
    value = _scalar(node)
    if value is None:
        return None
    try:
        return int(value, 0) if value.lower().startswith(("0x", "0o")) else int(value)
    except ValueError:
        raise ShapeError(node, f"expected a number, found {value!r}") from None


def _map(node: yaml.Node | None, what: str) -> yaml.MappingNode | None:
    if _is_null(node):
        return None
    if not isinstance(node, yaml.MappingNode):
        raise ShapeError(node, f"{what} should be a mapping, found a {_what(node)}")
    return node


def _seq(node: yaml.Node | None, what: str) -> list[yaml.Node]:
    if _is_null(node):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise ShapeError(node, f"{what} should be a list, found a {_what(node)}")
    return node.value


def _what(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    if isinstance(node, yaml.SequenceNode):
        return "list"
    return f"value ({node.value!r})" if len(node.value) < 40 else "value"


def _strings(node: yaml.Node | None, what: str) -> tuple[str, ...] | None:
    if _is_null(node):
        return None
    return tuple(_scalar(item) or "" for item in _seq(node, what))


@dataclass(frozen=True)
class PodWorkload:
    """A pod spec as a fixer needs it: the object's and the spec's nodes, and the model."""

    obj: yaml.MappingNode
    kind: str
    spec: yaml.MappingNode
    workload: Workload


class KubernetesSource(Source):
    format = SourceFormat.KUBERNETES

    def read(self, text: str, path: str) -> SourceFile:
        result = SourceFile(path=path, format=self.format)
        documents = yaml.compose_all(text, Loader=_Loader)
        result.workloads.extend(self.iter_workloads(documents, text, path, result))
        return result

    def read_documents(self, documents: Iterable[yaml.Node], text: str, path: str) -> SourceFile:
        """Read already-composed documents (the dispatcher composes to detect the type)."""
        result = SourceFile(path=path, format=self.format)
        result.workloads.extend(self.iter_workloads(documents, text, path, result))
        return result

    def iter_workloads(
        self, documents: Iterable[yaml.Node], text: str, path: str, result: SourceFile, pragmas: bool = True
    ) -> Iterator[Workload]:
        """Workloads one at a time, as the documents are composed: memory stays flat on long streams.

        Counts, skipped kinds and errors go to *result*; a YAML error ends the file there.
        ``pragmas=False`` when the caller collected the comment pragmas itself (a streamed file).
        """
        if pragmas:
            result.suppressions.extend(comment_pragmas(text, path))
        try:
            for doc in documents:
                if doc is None:
                    continue
                for obj in self.objects(doc):
                    yield from self._read_object(obj, path, result)
        except yaml.YAMLError as exc:
            result.errors.append(yaml_error(path, exc, text))
        except RecursionError:
            result.errors.append(ReadError(path, None, "YAML nested too deeply"))
        except UnicodeDecodeError as exc:
            result.errors.append(ReadError(path, None, f"not UTF-8 (byte {exc.start} of a read block)"))

    @staticmethod
    def objects(doc: yaml.Node) -> Iterator[yaml.MappingNode]:
        """The objects of a document: itself, or the items of a ``*List``."""
        if not isinstance(doc, yaml.MappingNode):
            return
        kind = _get(doc, "kind")
        items = _get(doc, "items")
        if (
            isinstance(kind, yaml.ScalarNode)
            and kind.value.endswith("List")
            and isinstance(items, yaml.SequenceNode)
        ):
            for item in items.value:
                if isinstance(item, yaml.MappingNode):
                    yield item
            return
        yield doc

    def _read_object(self, obj: yaml.MappingNode, path: str, result: SourceFile) -> Iterator[Workload]:
        kind_node, api_node = _get(obj, "kind"), _get(obj, "apiVersion")
        if not (isinstance(kind_node, yaml.ScalarNode) and isinstance(api_node, yaml.ScalarNode)):
            return
        kind = kind_node.value
        result.objects += 1
        try:
            meta = _map(_get(obj, "metadata"), "metadata")
            name = _scalar(_get(meta, "name")) or _scalar(_get(meta, "generateName")) or "(unnamed)"
            namespace = _scalar(_get(meta, "namespace"))
            specs = self._pod_specs(obj, kind)
            if not specs:
                result.skipped_kinds[kind] += 1
                return
            workloads = [
                self._workload(obj, kind, name, namespace, meta, template_meta, spec_node, where, path)
                for spec_node, template_meta, where in specs
            ]
        except ShapeError as exc:
            result.errors.append(
                ReadError(path, exc.node.start_mark.line + 1, f"{kind} {_safe_name(obj)}: {exc}")
            )
            return
        yield from workloads

    def pod_workloads(self, doc: yaml.Node, path: str) -> Iterator[PodWorkload]:
        """For a fixer: every pod spec of a document's objects, with its nodes and its model.
        Raises ShapeError where the model needs another type."""
        for obj in self.objects(doc):
            kind_node, api_node = _get(obj, "kind"), _get(obj, "apiVersion")
            if not (isinstance(kind_node, yaml.ScalarNode) and isinstance(api_node, yaml.ScalarNode)):
                continue
            kind = kind_node.value
            meta = _get(obj, "metadata")
            name = _scalar(_get(meta, "name")) or "(unnamed)"
            namespace = _scalar(_get(meta, "namespace"))
            for spec, template_meta, where in self._pod_specs(obj, kind):
                workload = self._workload(obj, kind, name, namespace, meta, template_meta, spec, where, path)
                yield PodWorkload(obj, kind, spec, workload)

    def _pod_specs(self, obj: yaml.MappingNode, kind: str) -> list[tuple[yaml.MappingNode, yaml.Node | None, str]]:
        """(pod spec node, its template's metadata node, dotted path) for each pod spec in the object."""
        if kind in NO_PODS:
            return []
        known = POD_SPEC_PATHS.get(kind)
        if known is not None:
            node: yaml.Node | None = obj
            parent: yaml.Node | None = None
            for key in known:
                parent = node
                node = _map(_get(node, key), ".".join(known[: known.index(key) + 1]))
                if node is None:
                    return []
            template_meta = _get(parent, "metadata") if kind != "Pod" else None
            return [(node, template_meta, ".".join(known))]
        found: list[tuple[yaml.MappingNode, yaml.Node | None, str]] = []
        seen: set[int] = set()
        for knode, vnode in obj.value:
            if knode.value not in ("apiVersion", "kind", "metadata", "status"):
                self._walk(vnode, knode.value, obj, found, 0, seen)
        return found

    def _walk(self, node, where: str, parent, found: list, depth: int, seen: set[int] | None = None) -> None:
        """Look for pod specs in an object of a kind not known here.

        YAML aliases make the node graph a DAG: each node is visited once, so an alias bomb
        ("billion laughs") costs its size on disk, not its expanded size.
        """
        if depth > 40:
            return
        if seen is None:
            seen = set()
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            containers = _get(node, "containers")
            if isinstance(containers, yaml.SequenceNode) and containers.value and all(
                isinstance(c, yaml.MappingNode) and (_get(c, "image") or _get(c, "name")) for c in containers.value
            ):
                found.append((node, _get(parent, "metadata") if parent is not None else None, where))
                return
            for knode, vnode in node.value:
                self._walk(vnode, f"{where}.{knode.value}", node, found, depth + 1, seen)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, f"{where}[{i}]", None, found, depth + 1, seen)

    def _workload(self, obj, kind, name, namespace, meta, template_meta, spec, where, path) -> Workload:
        known = kind in POD_SPEC_PATHS
        display = name if known else f"{name} ({where})"
        obj_loc = _loc(path, obj)
        annotations = _annotations(meta, path) + _annotations(_map(template_meta, "template metadata"), path)
        suppressions = []
        for key, value, key_loc in annotations:
            if key == IGNORE_ANNOTATION:
                suppressions += parse_suppression_text(value, key_loc)
            elif key.startswith(IGNORE_ANNOTATION + "."):
                suppressions += parse_suppression_text(value, key_loc, container=key[len(IGNORE_ANNOTATION) + 1:])
        pod_sec = _security(_map(_get(spec, "securityContext"), "securityContext"), path, spec, pod_level=True)
        volumes = [_volume(v, path) for v in _seq(_get(spec, "volumes"), "volumes")]
        if kind == "StatefulSet":
            for claim in _seq(_get(_get(obj, "spec"), "volumeClaimTemplates"), "volumeClaimTemplates"):
                cmeta = _map(_get(claim, "metadata"), "metadata")
                cname = _scalar(_get(cmeta, "name"))
                if cname:
                    size = _storage_request(_get(claim, "spec"))
                    volumes.append(
                        Volume(name=cname, kind=VolumeKind.PERSISTENT, size_limit=size, type="volumeClaimTemplate",
                               location=_loc(path, claim))
                    )
        containers = []
        for key, role in ROLES:
            for cnode in _seq(_get(spec, key), key):
                containers.append(_container(_map(cnode, f"{key} item"), role, path))
        return Workload(
            kind=kind,
            name=display,
            format=SourceFormat.KUBERNETES,
            containers=tuple(containers),
            volumes=tuple(volumes),
            pod_security=pod_sec,
            namespace=namespace,
            annotations=tuple((k, v) for k, v, _ in annotations),
            suppressions=tuple(suppressions),
            location=obj_loc,
            field_locations=(("pod_spec", _loc(path, spec)),),
        )


def _safe_name(obj: yaml.Node) -> str:
    try:
        return _scalar(_get(_get(obj, "metadata"), "name")) or "(unnamed)"
    except ShapeError:
        return "(unnamed)"


def _annotations(meta: yaml.Node | None, path: str) -> list[tuple[str, str, Location]]:
    ann = _map(_get(meta, "annotations"), "annotations")
    out = []
    if ann is None:
        return out
    for knode, vnode in ann.value:
        if isinstance(knode, yaml.ScalarNode) and isinstance(vnode, yaml.ScalarNode):
            out.append((knode.value, vnode.value, Location(path, knode.start_mark.line + 1, knode.start_mark.column + 1)))
    return out


def _storage_request(spec: yaml.Node | None) -> int | None:
    storage = _get(_get(_get(spec, "resources"), "requests"), "storage")
    try:
        return parse_quantity(_scalar(storage)) if _scalar(storage) else None
    except SizeError:
        return None


def _volume(node: yaml.Node, path: str) -> Volume:
    vmap = _map(node, "volumes item")
    name = _scalar(_get(vmap, "name")) or ""
    loc = _loc(path, vmap)
    for knode, vnode in vmap.value:
        vtype = knode.value
        if vtype == "name":
            continue
        fields = ((vtype, _loc(path, knode)),)
        if vtype == "emptyDir":
            body = _map(vnode, "emptyDir")
            medium = _scalar(_get(body, "medium"))
            size_node = _get(body, "sizeLimit")
            size = None
            if _scalar(size_node):
                try:
                    size = parse_quantity(_scalar(size_node))
                except SizeError as exc:
                    raise ShapeError(size_node, str(exc)) from None
                fields += (("size_limit", _loc(path, size_node)),)
            kind = VolumeKind.MEMORY if medium == "Memory" else VolumeKind.EPHEMERAL
            return Volume(name=name, kind=kind, size_limit=size, type="emptyDir", location=loc, field_locations=fields)
        if vtype == "ephemeral":
            size = _storage_request(_get(_get(vnode, "volumeClaimTemplate"), "spec"))
            return Volume(name=name, kind=VolumeKind.EPHEMERAL, size_limit=size, type="ephemeral", location=loc,
                          field_locations=fields)
        if vtype == "persistentVolumeClaim":
            claim = _scalar(_get(vnode, "claimName"))
            read_only = bool(_bool(_get(vnode, "readOnly")))
            return Volume(name=name, kind=VolumeKind.PERSISTENT, source=claim, type=vtype, read_only=read_only,
                          location=loc, field_locations=fields)
        if vtype == "hostPath":
            return Volume(name=name, kind=VolumeKind.HOST, source=_scalar(_get(vnode, "path")), type=vtype,
                          location=loc, field_locations=fields)
        if vtype in CONFIG_TYPES:
            return Volume(name=name, kind=VolumeKind.CONFIG, type=vtype, read_only=True, location=loc,
                          field_locations=fields)
        if vtype in PERSISTENT_TYPES:
            return Volume(name=name, kind=VolumeKind.PERSISTENT, type=vtype, location=loc, field_locations=fields)
    # No recognised type: Kubernetes defaults a volume without a source to emptyDir.
    return Volume(name=name, kind=VolumeKind.EPHEMERAL, type="emptyDir", location=loc)


_SEC_FIELDS = {
    "readOnlyRootFilesystem": "read_only_root_fs",
    "runAsNonRoot": "run_as_non_root",
    "runAsUser": "run_as_user",
    "runAsGroup": "run_as_group",
    "fsGroup": "fs_group",
    "allowPrivilegeEscalation": "allow_privilege_escalation",
    "privileged": "privileged",
}


def _security(node: yaml.MappingNode | None, path: str, owner: yaml.Node, pod_level: bool = False) -> SecuritySettings:
    if node is None:
        return SecuritySettings(location=_loc(path, owner))
    values: dict = {}
    fields = []
    for knode, vnode in node.value:
        key = knode.value
        attr = _SEC_FIELDS.get(key)
        if attr:
            if attr in ("run_as_user", "run_as_group", "fs_group"):
                values[attr] = _int(vnode)
            else:
                values[attr] = _bool(vnode)
            fields.append((attr, _loc(path, knode)))
        elif key == "capabilities":
            caps = _map(vnode, "capabilities")
            values["capabilities_add"] = _strings(_get(caps, "add"), "capabilities.add") or ()
            values["capabilities_drop"] = _strings(_get(caps, "drop"), "capabilities.drop") or ()
            fields.append(("capabilities", _loc(path, knode)))
            drop_key = _key_node(caps, "drop")
            if drop_key is not None:
                fields.append(("capabilities_drop", _loc(path, drop_key)))
        elif key == "seccompProfile":
            values["seccomp_profile"] = _scalar(_get(_map(vnode, "seccompProfile"), "type"))
            fields.append(("seccomp_profile", _loc(path, knode)))
    return SecuritySettings(**values, location=_loc(path, node), field_locations=tuple(fields))


def _container(node: yaml.MappingNode, role: ContainerRole, path: str) -> Container:
    name = _scalar(_get(node, "name")) or "(unnamed)"
    image = _scalar(_get(node, "image"))
    fields = []
    for key in ("image", "command", "args", "securityContext", "volumeMounts", "env"):
        knode = _key_node(node, key)
        if knode is not None:
            fields.append((key, _loc(path, knode)))
    sec_node = _map(_get(node, "securityContext"), "securityContext")
    security = _security(sec_node, path, node)
    if sec_node is None:
        security = SecuritySettings(location=_loc(path, node))
    mounts = []
    for mnode in _seq(_get(node, "volumeMounts"), "volumeMounts"):
        m = _map(mnode, "volumeMounts item")
        mounts.append(
            Mount(
                path=_scalar(_get(m, "mountPath")) or "",
                volume=_scalar(_get(m, "name")) or "",
                read_only=bool(_bool(_get(m, "readOnly"))),
                sub_path=_scalar(_get(m, "subPath")) or _scalar(_get(m, "subPathExpr")),
                location=_loc(path, m),
            )
        )
    env = []
    for enode in _seq(_get(node, "env"), "env"):
        e = _map(enode, "env item")
        value_node = _get(e, "value")
        env.append(
            EnvVar(
                name=_scalar(_get(e, "name")) or "",
                value=_scalar(value_node) if value_node is not None else None,
                location=_loc(path, e),
            )
        )
    return Container(
        name=name,
        image=image,
        role=role,
        command=_strings(_get(node, "command"), "command"),
        args=_strings(_get(node, "args"), "args"),
        working_dir=_scalar(_get(node, "workingDir")),
        security=security,
        mounts=tuple(mounts),
        env=tuple(env),
        location=_loc(path, node),
        field_locations=tuple(fields),
    )


def yaml_error(path: str, exc: yaml.YAMLError, text: str = "") -> ReadError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    if "{{" in text:
        message += f"; {HELM_HINT}"
    return ReadError(path, line, message)



class KubernetesWording:
    """How remedies read in a Kubernetes manifest."""

    def read_only(self) -> str:
        return "readOnlyRootFilesystem: true"

    def volume(self, kind: VolumeKind, size: int | None, populated: bool = False) -> str:
        from rofs.units import format_quantity

        label = {VolumeKind.PERSISTENT: "PersistentVolumeClaim", VolumeKind.MEMORY: "emptyDir medium: Memory"}.get(
            kind, "emptyDir")
        if size:
            label += f", {'storage' if kind is VolumeKind.PERSISTENT else 'sizeLimit'} {format_quantity(size)}"
        if populated and kind is not VolumeKind.PERSISTENT:
            label += ", filled with the image's files by an init container"
        return label

    def mount(self, path: str, kind: VolumeKind, size: int | None, populated: bool = False) -> str:
        return f"mount {path} as {self.volume(kind, size, populated)}"


WORDING = KubernetesWording()
