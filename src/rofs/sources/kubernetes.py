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

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

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
from rofs.sources import peers
from rofs.sources.interface import ReadError, ReadFailed, Source, SourceFile, comment_pragmas, parse_suppression_text
from rofs.units import SizeError, parse_quantity
from rofs.yamlnode import (
    Loader,
    ShapeError,
    as_bool,
    as_int,
    as_map,
    as_scalar,
    as_seq,
    as_strings,
    duplicate_key_error,
    expect_map,
    get,
    key_node,
    location,
    yaml_error,
)

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
NO_PODS = frozenset({
    "Service", "ConfigMap", "Secret", "ServiceAccount", "Role", "RoleBinding", "ClusterRole",
    "ClusterRoleBinding", "PersistentVolumeClaim", "PersistentVolume", "StorageClass", "Namespace", "Ingress",
    "IngressClass", "NetworkPolicy", "HorizontalPodAutoscaler", "PodDisruptionBudget", "PriorityClass",
    "CustomResourceDefinition", "APIService", "Endpoints", "EndpointSlice", "LimitRange", "ResourceQuota",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "CSIDriver", "PodSecurityPolicy", "Lease", "Event",
})
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


# A pod spec found in an object: its node, its template's metadata node, its dotted path.
PodSpec = tuple[yaml.MappingNode, yaml.Node | None, str]


@dataclass(frozen=True)
class PodWorkload:
    """A pod spec as a fixer needs it: the object's and the spec's nodes, and the model."""

    obj: yaml.MappingNode
    kind: str
    spec: yaml.MappingNode
    workload: Workload


# who refuses a key written twice: kubectl's default strict field validation and kustomize's reader
KUBECTL_REFUSES = "kubectl (strict field validation, its default) and kustomize refuse"


class KubernetesSource(Source):
    format = SourceFormat.KUBERNETES

    def read(self, text: str, path: str) -> SourceFile:
        result = SourceFile(path=path, format=self.format)
        documents = yaml.compose_all(text, Loader=Loader)
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
        kind = get(doc, "kind")
        items = get(doc, "items")
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
        kind_node, api_node = get(obj, "kind"), get(obj, "apiVersion")
        if not (isinstance(kind_node, yaml.ScalarNode) and isinstance(api_node, yaml.ScalarNode)):
            return
        kind = kind_node.value
        result.objects += 1
        try:
            meta = as_map(get(obj, "metadata"), "metadata")
            name = as_scalar(get(meta, "name")) or as_scalar(get(meta, "generateName")) or "(unnamed)"
            namespace = as_scalar(get(meta, "namespace"))
            specs = self._pod_specs(obj, kind)
            if not specs:
                result.skipped_kinds[kind] += 1
                return
            twice = duplicate_key_error(path, obj, KUBECTL_REFUSES)  # only workloads: a big ConfigMap is not walked
            if twice is not None:
                result.errors.append(twice)
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
        Raises ShapeError where the model needs another type, ReadFailed where the reader refuses."""
        for obj in self.objects(doc):
            kind_node, api_node = get(obj, "kind"), get(obj, "apiVersion")
            if not (isinstance(kind_node, yaml.ScalarNode) and isinstance(api_node, yaml.ScalarNode)):
                continue
            kind = kind_node.value
            meta = get(obj, "metadata")
            name = as_scalar(get(meta, "name")) or "(unnamed)"
            namespace = as_scalar(get(meta, "namespace"))
            specs = self._pod_specs(obj, kind)
            twice = duplicate_key_error(path, obj, KUBECTL_REFUSES) if specs else None
            if twice is not None:
                raise ReadFailed(twice)
            for spec, template_meta, where in specs:
                workload = self._workload(obj, kind, name, namespace, meta, template_meta, spec, where, path)
                yield PodWorkload(obj, kind, spec, workload)

    def _pod_specs(self, obj: yaml.MappingNode, kind: str) -> list[PodSpec]:
        """(pod spec node, its template's metadata node, dotted path) for each pod spec in the object."""
        if kind in NO_PODS:
            return []
        known = POD_SPEC_PATHS.get(kind)
        if known is not None:
            node, parent = obj, obj
            for depth, key in enumerate(known):
                child = as_map(get(node, key), ".".join(known[: depth + 1]))
                if child is None:
                    return []
                node, parent = child, node
            template_meta = get(parent, "metadata") if kind != "Pod" else None
            return [(node, template_meta, ".".join(known))]
        found: list[PodSpec] = []
        seen: set[int] = set()
        for knode, vnode in obj.value:
            if knode.value not in ("apiVersion", "kind", "metadata", "status"):
                self._walk(vnode, knode.value, obj, found, 0, seen)
        return found

    def _walk(
        self,
        node: yaml.Node,
        where: str,
        parent: yaml.MappingNode | None,
        found: list[PodSpec],
        depth: int,
        seen: set[int] | None = None,
    ) -> None:
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
            containers = get(node, "containers")
            if isinstance(containers, yaml.SequenceNode) and containers.value and all(
                isinstance(c, yaml.MappingNode) and (get(c, "image") or get(c, "name")) for c in containers.value
            ):
                found.append((node, get(parent, "metadata") if parent is not None else None, where))
                return
            for knode, vnode in node.value:
                self._walk(vnode, f"{where}.{knode.value}", node, found, depth + 1, seen)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, f"{where}[{i}]", None, found, depth + 1, seen)

    def _workload(
        self,
        obj: yaml.MappingNode,
        kind: str,
        name: str,
        namespace: str | None,
        meta: yaml.Node | None,
        template_meta: yaml.Node | None,
        spec: yaml.MappingNode,
        where: str,
        path: str,
    ) -> Workload:
        known = kind in POD_SPEC_PATHS
        display = name if known else f"{name} ({where})"
        obj_loc = location(path, obj)
        template = as_map(template_meta, "template metadata")
        annotations = _annotations(meta, path) + _annotations(template, path)
        suppressions = []
        for key, value, key_loc in annotations:
            if key == IGNORE_ANNOTATION:
                suppressions += parse_suppression_text(value, key_loc)
            elif key.startswith(IGNORE_ANNOTATION + "."):
                suppressions += parse_suppression_text(value, key_loc, container=key[len(IGNORE_ANNOTATION) + 1:])
        # kube-linter's, checkov's and kubeaudit's exemptions that mean a rofs rule (kubeaudit's are labels too)
        suppressions += peers.suppressions(annotations + _annotations(meta, path, "labels")
                                           + _annotations(template, path, "labels"))
        pod_sec = _security(as_map(get(spec, "securityContext"), "securityContext"), path, spec, pod_level=True)
        volumes = [_volume(v, path) for v in as_seq(get(spec, "volumes"), "volumes")]
        if kind == "StatefulSet":
            for claim in as_seq(get(get(obj, "spec"), "volumeClaimTemplates"), "volumeClaimTemplates"):
                cmeta = as_map(get(claim, "metadata"), "metadata")
                cname = as_scalar(get(cmeta, "name"))
                if cname:
                    size = _storage_request(get(claim, "spec"))
                    volumes.append(
                        Volume(name=cname, kind=VolumeKind.PERSISTENT, size_limit=size, type="volumeClaimTemplate",
                               location=location(path, claim))
                    )
        containers = []
        for key, role in ROLES:
            for cnode in as_seq(get(spec, key), key):
                containers.append(_container(expect_map(cnode, f"{key} item"), role, path))
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
            field_locations=(("pod_spec", location(path, spec)),),
        )


def _safe_name(obj: yaml.Node) -> str:
    try:
        return as_scalar(get(get(obj, "metadata"), "name")) or "(unnamed)"
    except ShapeError:
        return "(unnamed)"


def _annotations(meta: yaml.Node | None, path: str, field: str = "annotations") -> list[tuple[str, str, Location]]:
    ann = as_map(get(meta, field), field)
    out: list[tuple[str, str, Location]] = []
    if ann is None:
        return out
    for knode, vnode in ann.value:
        if isinstance(knode, yaml.ScalarNode) and isinstance(vnode, yaml.ScalarNode):
            out.append((knode.value, vnode.value, Location(path, knode.start_mark.line + 1, knode.start_mark.column + 1)))
    return out


def _storage_request(spec: yaml.Node | None) -> int | None:
    storage = get(get(get(spec, "resources"), "requests"), "storage")
    text = as_scalar(storage)
    try:
        return parse_quantity(text) if text else None
    except SizeError:
        return None


def _volume(node: yaml.Node, path: str) -> Volume:
    vmap = expect_map(node, "volumes item")
    name = as_scalar(get(vmap, "name")) or ""
    loc = location(path, vmap)
    for knode, vnode in vmap.value:
        vtype = knode.value
        if vtype == "name":
            continue
        fields: tuple[tuple[str, Location], ...] = ((vtype, location(path, knode)),)
        if vtype == "emptyDir":
            body = as_map(vnode, "emptyDir")
            medium = as_scalar(get(body, "medium"))
            size_node = get(body, "sizeLimit")
            size = None
            size_text = as_scalar(size_node)
            if size_node is not None and size_text:
                try:
                    size = parse_quantity(size_text)
                except SizeError as exc:
                    raise ShapeError(size_node, str(exc)) from None
                fields += (("size_limit", location(path, size_node)),)
            kind = VolumeKind.MEMORY if medium == "Memory" else VolumeKind.EPHEMERAL
            return Volume(name=name, kind=kind, size_limit=size, type="emptyDir", location=loc, field_locations=fields)
        if vtype == "ephemeral":
            size = _storage_request(get(get(vnode, "volumeClaimTemplate"), "spec"))
            return Volume(name=name, kind=VolumeKind.EPHEMERAL, size_limit=size, type="ephemeral", location=loc,
                          field_locations=fields)
        if vtype == "persistentVolumeClaim":
            claim = as_scalar(get(vnode, "claimName"))
            read_only = bool(as_bool(get(vnode, "readOnly")))
            return Volume(name=name, kind=VolumeKind.PERSISTENT, source=claim, type=vtype, read_only=read_only,
                          location=loc, field_locations=fields)
        if vtype == "hostPath":
            return Volume(name=name, kind=VolumeKind.HOST, source=as_scalar(get(vnode, "path")), type=vtype,
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
        return SecuritySettings(location=location(path, owner))
    values: dict[str, Any] = {}
    fields = []
    for knode, vnode in node.value:
        key = knode.value
        attr = _SEC_FIELDS.get(key)
        if attr:
            if attr in ("run_as_user", "run_as_group", "fs_group"):
                values[attr] = as_int(vnode)
            else:
                values[attr] = as_bool(vnode)
            fields.append((attr, location(path, knode)))
        elif key == "capabilities":
            caps = as_map(vnode, "capabilities")
            values["capabilities_add"] = as_strings(get(caps, "add"), "capabilities.add") or ()
            values["capabilities_drop"] = as_strings(get(caps, "drop"), "capabilities.drop") or ()
            fields.append(("capabilities", location(path, knode)))
            drop_key = key_node(caps, "drop")
            if drop_key is not None:
                fields.append(("capabilities_drop", location(path, drop_key)))
        elif key == "seccompProfile":
            values["seccomp_profile"] = as_scalar(get(as_map(vnode, "seccompProfile"), "type"))
            fields.append(("seccomp_profile", location(path, knode)))
    return SecuritySettings(**values, location=location(path, node), field_locations=tuple(fields))


def _container(node: yaml.MappingNode, role: ContainerRole, path: str) -> Container:
    name = as_scalar(get(node, "name")) or "(unnamed)"
    image = as_scalar(get(node, "image"))
    fields = []
    for key in ("image", "command", "args", "securityContext", "volumeMounts", "env"):
        knode = key_node(node, key)
        if knode is not None:
            fields.append((key, location(path, knode)))
    sec_node = as_map(get(node, "securityContext"), "securityContext")
    security = _security(sec_node, path, node)
    if sec_node is None:
        security = SecuritySettings(location=location(path, node))
    mounts = []
    for mnode in as_seq(get(node, "volumeMounts"), "volumeMounts"):
        m = expect_map(mnode, "volumeMounts item")
        mounts.append(
            Mount(
                path=as_scalar(get(m, "mountPath")) or "",
                volume=as_scalar(get(m, "name")) or "",
                read_only=bool(as_bool(get(m, "readOnly"))),
                sub_path=as_scalar(get(m, "subPath")) or as_scalar(get(m, "subPathExpr")),
                location=location(path, m),
            )
        )
    env = []
    for enode in as_seq(get(node, "env"), "env"):
        e = expect_map(enode, "env item")
        value_node = get(e, "value")
        env.append(
            EnvVar(
                name=as_scalar(get(e, "name")) or "",
                value=as_scalar(value_node) if value_node is not None else None,
                location=location(path, e),
            )
        )
    return Container(
        name=name,
        image=image,
        role=role,
        command=as_strings(get(node, "command"), "command"),
        args=as_strings(get(node, "args"), "args"),
        working_dir=as_scalar(get(node, "workingDir")),
        security=security,
        mounts=tuple(mounts),
        env=tuple(env),
        location=location(path, node),
        field_locations=tuple(fields),
    )


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
