"""Compose files -> model.

Each service becomes a ``Workload(kind="service")`` holding one container.  Reads
with the same PyYAML C composer as the Kubernetes reader, so every object keeps
its line and column.  YAML merge keys (``<<: *defaults``) are followed by hand,
because composed nodes are not constructed.

Volumes:

* ``tmpfs:`` entries and ``type: tmpfs`` mounts: an ephemeral ``tmpfs:<path>`` volume;
* bind mounts (a source that is a path or holds ``${...}``): a host volume ``bind:<target>``;
* anonymous volumes (a target alone): a persistent volume ``anonymous:<target>``;
* named volumes: a persistent volume under the volume's name, ephemeral when the
  top-level declaration makes it a tmpfs (``driver_opts: {type: tmpfs}``).  A named
  volume that the top-level ``volumes:`` does not declare gets its mount but no
  ``Volume``, so a rule can report it as undefined.

``${VAR}`` interpolation is left as written; a boolean or size written as an
interpolation reads as "not set" instead of an error.
"""

from __future__ import annotations

import os

import yaml

from rofs.model import (
    Container,
    ContainerRole,
    EnvVar,
    Location,
    Mount,
    SecuritySettings,
    SourceFormat,
    Suppression,
    Volume,
    VolumeKind,
    Workload,
)
from rofs.sources.compose_project import VOLUME_MODES, Layers, Project, ProjectError, included
from rofs.sources.interface import ReadError, Source, SourceFile, comment_pragmas, parse_suppression_text
from rofs.units import SizeError, parse_docker_size
from rofs.yamlnode import (
    Loader,
    ShapeError,
    as_bool,
    as_map,
    as_scalar,
    as_seq,
    describe,
    duplicate_key_error,
    is_null,
    key_text,
    location,
    merged_get,
    merged_key_node,
    merged_pairs,
    split_colons,
    yaml_error,
)

IGNORE_KEY = "x-rofs-ignore"
# Container field_locations: Compose keys recorded when present.
MODEL_FIELD = {"entrypoint": "command", "command": "args"}
CONTAINER_FIELDS = (
    "image", "command", "entrypoint", "user", "working_dir", "read_only", "security_opt", "privileged",
    "cap_drop", "cap_add", "tmpfs", "volumes", "environment",
)
ROOT_USERS = frozenset(("root", "0"))


FRAGMENT = "service fragment"  # an override of a service defined in a file not found beside it
WITH_BASE = "service read with its base"  # an override's service, read in the base's reading


def _interpolated(node: yaml.Node | None) -> bool:
    return isinstance(node, yaml.ScalarNode) and "${" in node.value


def _cbool(node: yaml.Node | None) -> bool | None:
    """A boolean; an interpolated value (``${RO:-true}``) is not known here and reads as None."""
    if _interpolated(node):
        return None
    return as_bool(node)


def _size(node: yaml.Node | None, text: str | None = None) -> int | None:
    """A Docker size in *node* (or *text*, found in *node*); None when absent or interpolated."""
    if node is None:
        return None
    if text is None:
        text = as_scalar(node)
    if text is None or "${" in text:
        return None
    try:
        return parse_docker_size(text.strip())
    except SizeError as exc:
        raise ShapeError(node, str(exc)) from None


def _text_list(node: yaml.Node | None, what: str) -> tuple[str, ...]:
    """A list of strings, or a single string taken as a one-item list."""
    if is_null(node):
        return ()
    if isinstance(node, yaml.ScalarNode):
        return (node.value,)
    return tuple(as_scalar(item) or "" for item in as_seq(node, what))


def _options(text: str) -> dict[str, str]:
    """``size=64m,mode=1777,noexec`` -> {"size": "64m", "mode": "1777", "noexec": ""}."""
    out = {}
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        if name:
            out[name.strip()] = value.strip()
    return out


def _is_host_path(source: str) -> bool:
    return (
        source.startswith(("/", ".", "~", "\\"))
        or "${" in source
        or (len(source) > 1 and source[0].isalpha() and source[1] == ":")
    )


# --- the reader --------------------------------------------------------------------------


class ComposeSource(Source):
    format = SourceFormat.COMPOSE

    def read(self, text: str, path: str) -> SourceFile:
        try:
            documents = list(yaml.compose_all(text, Loader=Loader))
        except yaml.YAMLError as exc:
            result = SourceFile(path=path, format=self.format)
            result.errors.append(yaml_error(path, exc, text))
            return result
        return self.read_documents(documents, text, path)

    def read_documents(self, documents: list[yaml.Node], text: str, path: str) -> SourceFile:
        """Read already-composed documents (a Compose file is one document; more are read in turn)."""
        result = SourceFile(path=path, format=self.format)
        result.suppressions.extend(comment_pragmas(text, path))
        for doc in documents:
            if doc is None:
                continue
            self._read_document(doc, text, path, result)
        return result

    def _read_document(self, doc: yaml.Node, text: str, path: str, result: SourceFile) -> None:
        """The services of one document; a service with no image and no build of its own is part of
        a service another file defines (an override, or `extends:`): not read alone."""
        if not isinstance(doc, yaml.MappingNode):
            result.errors.append(
                ReadError(path, doc.start_mark.line + 1, f"a Compose file should be a mapping, found a {describe(doc)}")
            )
            return
        twice = duplicate_key_error(path, doc, "docker compose refuses")
        if twice is not None:
            result.errors.append(twice)
            return
        try:
            top = merged_pairs(doc)
        except ShapeError as exc:
            result.errors.append(ReadError(path, exc.node.start_mark.line + 1, str(exc)))
            return
        root = yaml.MappingNode(doc.tag, top, doc.start_mark, doc.end_mark)
        declared = self._declared_volumes(merged_get(root, "volumes"), path, result)
        self._includes(root, path, result)
        services = merged_get(root, "services")
        if is_null(services):
            return
        if not isinstance(services, yaml.MappingNode):
            result.errors.append(
                ReadError(path, services.start_mark.line + 1, f"services should be a mapping, found a {describe(services)}")
            )
            return
        try:
            entries = merged_pairs(services)
        except ShapeError as exc:
            result.errors.append(ReadError(path, exc.node.start_mark.line + 1, f"services: {exc}"))
            return
        project = Project(path, {key_text(k) or "": v for k, v in entries})
        self._read_services(entries, project, declared, path, text, result)
        if not (result.workloads or result.errors) and entries:
            skipped = result.skipped_kinds
            if skipped[WITH_BASE] == len(entries) and project.belongs_to:
                result.skipped = (f"an override of {project.belongs_to}: read with it (rofs audit"
                                  f" {project.belongs_to})")
            elif skipped[FRAGMENT] + skipped[WITH_BASE] == len(entries):
                result.skipped = (f"{FRAGMENT}s only, and no base beside it that defines them: read them with the"
                                  " file they extend (docker compose -f BASE -f THIS config | rofs audit -)")

    def _read_services(self, entries: list, project: Project, declared: dict[str, Volume], path: str, text: str,
                       result: SourceFile) -> None:
        """Each service, put together as docker compose runs it (see rofs.sources.compose_project)."""
        first = len(result.errors)
        pending = []
        for knode, vnode in entries:
            name = key_text(knode)
            result.objects += 1
            if name is None:
                result.errors.append(ReadError(path, knode.start_mark.line + 1, "a service name should be a string"))
                continue
            if not is_null(vnode) and not isinstance(vnode, yaml.MappingNode):
                result.errors.append(
                    ReadError(path, vnode.start_mark.line + 1, f"service {name} should be a mapping, found a {describe(vnode)}")
                )
                continue
            try:
                if project.left_to_base(name):
                    result.skipped_kinds[WITH_BASE] += 1
                    continue
                node, layers = (vnode, Layers()) if is_null(vnode) else project.assemble(name, vnode)
            except ProjectError as exc:
                result.errors.append(ReadError(exc.path, exc.line, exc.message))
                continue
            except ShapeError as exc:
                result.errors.append(ReadError(location(path, exc.node).path, exc.node.start_mark.line + 1,
                                               f"service {name}: {exc}"))
                continue
            if node is None:
                result.skipped_kinds[FRAGMENT] += 1
                continue
            pending.append((name, layers.key or knode, node, layers))
        result.notes.extend(project.notes)
        for other, root in project.roots.items():  # what the other files say counts too
            if other in project.layered:  # and what a base or override declares (not a file extended from)
                declared = {**self._declared_volumes(merged_get(root, "volumes"), other, SourceFile(other, None)),
                            **declared}
            result.suppressions.extend(comment_pragmas(project.texts[other], other))
        for name, knode, node, layers in pending:
            try:
                result.workloads.append(self._service(name, knode, node, declared, path, text))
                if layers.merged:
                    result.layers[name] = layers
            except ShapeError as exc:
                result.errors.append(ReadError(location(path, exc.node).path, exc.node.start_mark.line + 1,
                                               f"service {name}: {exc}"))
        # in the order of the file (a service's shape is checked before the services are read)
        result.errors[first:] = sorted(result.errors[first:], key=lambda e: (e.path != path, e.line or 0))

    @staticmethod
    def _includes(root: yaml.Node, path: str, result: SourceFile) -> None:
        """The files `include:` names are read too (by the caller, as files of their own)."""
        if path.startswith("<") or not os.path.isfile(path):
            return
        files, notes = included(root, path)
        result.notes.extend(notes)
        for name, line in files:
            if os.path.isfile(name):
                result.includes.append(name)
            else:
                result.errors.append(ReadError(path, line, f"include: {name} is not a file"))

    # --- top-level volumes -----------------------------------------------------------

    def _declared_volumes(self, node: yaml.Node | None, path: str, result: SourceFile) -> dict[str, Volume]:
        declared: dict[str, Volume] = {}
        if is_null(node):
            return declared
        if not isinstance(node, yaml.MappingNode):
            result.errors.append(
                ReadError(path, node.start_mark.line + 1, f"volumes should be a mapping, found a {describe(node)}")
            )
            return declared
        try:
            entries = merged_pairs(node)
        except ShapeError as exc:
            result.errors.append(ReadError(path, exc.node.start_mark.line + 1, f"volumes: {exc}"))
            return declared
        for knode, vnode in entries:
            name = key_text(knode)
            if name is None:
                continue
            loc = location(path, knode)
            try:
                volume = _declared_volume(name, vnode, loc, path)
            except ShapeError as exc:
                result.errors.append(ReadError(path, exc.node.start_mark.line + 1, f"volume {name}: {exc}"))
                volume = Volume(name=name, kind=VolumeKind.PERSISTENT, type="volume", location=loc)
            declared[name] = volume
        return declared

    # --- services --------------------------------------------------------------------

    def _service(
        self, name: str, knode: yaml.Node, vnode: yaml.Node, declared: dict[str, Volume], path: str, text: str
    ) -> Workload:
        # A service written as `name:` alone has no settings: read it as an empty mapping.
        service = yaml.MappingNode("tag:yaml.org,2002:map", merged_pairs(vnode), vnode.start_mark, vnode.end_mark)
        loc = location(path, knode)
        fields = []
        for key in CONTAINER_FIELDS:
            key_node = merged_key_node(service, key)
            if key_node is not None:
                # The model speaks Kubernetes: entrypoint is `command`, command is `args`.
                fields.append((MODEL_FIELD.get(key, key), location(path, key_node)))

        entry_node = merged_get(service, "entrypoint")
        command_node = merged_get(service, "command")
        written = entry_node if not is_null(entry_node) else command_node
        shell_form = isinstance(written, yaml.ScalarNode) and not is_null(written)
        entrypoint = None if is_null(entry_node) else _text_list(entry_node, "entrypoint")
        command = None if is_null(command_node) else _text_list(command_node, "command")
        user = as_scalar(merged_get(service, "user"))

        volumes: list[Volume] = []
        mounts: list[Mount] = []
        for item in _text_items(merged_get(service, "tmpfs"), "tmpfs"):
            mount, volume = _tmpfs_short(item, path)
            mounts.append(mount)
            if all(v.name != volume.name for v in volumes):
                volumes.append(volume)
        for entry in as_seq(merged_get(service, "volumes"), "volumes"):
            mount, named = _service_volume(entry, declared, path)
            mounts.append(mount)
            if named is not None and all(v.name != named.name for v in volumes):
                volumes.append(named)

        ignore_key = merged_key_node(service, IGNORE_KEY)
        suppressions: list[Suppression] = []
        if ignore_key is not None:
            suppressions = _suppressions(merged_get(service, IGNORE_KEY), location(path, ignore_key))

        container = Container(
            name=name,
            image=_image(merged_get(service, "image"), text),
            role=ContainerRole.MAIN,
            command=entrypoint,
            args=command,
            shell_form=shell_form,
            user=user,
            working_dir=as_scalar(merged_get(service, "working_dir")),
            security=_security(service, user, loc, path),
            mounts=tuple(mounts),
            env=_environment(merged_get(service, "environment"), path),
            location=loc,
            field_locations=tuple(fields),
        )
        workload_fields = ((IGNORE_KEY, location(path, ignore_key)),) if ignore_key is not None else ()
        return Workload(
            kind="service",
            name=name,
            format=SourceFormat.COMPOSE,
            containers=(container,),
            volumes=tuple(volumes),
            suppressions=tuple(suppressions),
            location=loc,
            field_locations=workload_fields,
        )


def _image(node: yaml.Node | None, text: str) -> str | None:
    """The image; a one-line flow value (``image: {$IMAGE}``, a template placeholder) keeps its text."""
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.start_mark.line == node.end_mark.line:
        lines = text.splitlines()
        if node.start_mark.line < len(lines):
            written = lines[node.start_mark.line][node.start_mark.column:node.end_mark.column].strip()
            if written:
                return written
    return as_scalar(node)


def _text_items(node: yaml.Node | None, what: str) -> list[yaml.ScalarNode]:
    """Scalar items of a string-or-list field, as nodes (for their locations)."""
    if is_null(node):
        return []
    if isinstance(node, yaml.ScalarNode):
        return [node]
    items: list[yaml.ScalarNode] = []
    for item in as_seq(node, what):
        if not isinstance(item, yaml.ScalarNode):
            raise ShapeError(item, f"{what} items should be strings, found a {describe(item)}")
        if not is_null(item):
            items.append(item)
    return items


# --- security ------------------------------------------------------------------------------


def _security(service: yaml.MappingNode, user: str | None, loc: Location, path: str) -> SecuritySettings:
    values: dict = {}
    fields: list[tuple[str, Location]] = []

    def present(key: str, attr: str) -> yaml.Node | None:
        key_node = merged_key_node(service, key)
        if key_node is None:
            return None
        fields.append((attr, location(path, key_node)))
        return merged_get(service, key)

    node = present("read_only", "read_only_root_fs")
    if node is not None:
        values["read_only_root_fs"] = _cbool(node)
        if _interpolated(node):
            values["interpolated"] = (("read_only_root_fs", node.value),)
    node = present("privileged", "privileged")
    if node is not None:
        values["privileged"] = _cbool(node)
    node = present("cap_drop", "capabilities_drop")
    if node is not None:
        values["capabilities_drop"] = _text_list(node, "cap_drop")
    node = present("cap_add", "capabilities_add")
    if node is not None:
        values["capabilities_add"] = _text_list(node, "cap_add")

    opts_key = merged_key_node(service, "security_opt")
    for item in _text_items(merged_get(service, "security_opt"), "security_opt"):
        text = item.value.strip()
        name, value = text, None
        for sep in (":", "="):
            if sep in text:
                name, _, value = text.partition(sep)
                break
        name = name.strip().lower()
        if name == "no-new-privileges":
            flag = (value or "true").strip().lower()
            if "${" in flag:
                continue
            if flag in ("true", "yes", "1", "on"):
                values["allow_privilege_escalation"] = False
            elif flag in ("false", "no", "0", "off"):
                values["allow_privilege_escalation"] = True
            else:
                raise ShapeError(item, f"security_opt: no-new-privileges takes true or false, found {value!r}")
            fields.append(("allow_privilege_escalation", location(path, item)))
        elif name == "seccomp" and value:
            values["seccomp_profile"] = "Unconfined" if value.strip() == "unconfined" else "Localhost"
            fields.append(("seccomp_profile", location(path, item)))
    if opts_key is not None:
        opts_loc = location(path, opts_key)
        fields.append(("security_opt", opts_loc))
        # A setting missing from a written security_opt belongs in that list: point there.
        for attr in ("allow_privilege_escalation", "seccomp_profile"):
            if attr not in values:
                fields.append((attr, opts_loc))

    user_key = merged_key_node(service, "user")
    if user is not None and user_key is not None and "${" not in user and user.strip():
        uid, _, gid = user.strip().partition(":")
        user_loc = location(path, user_key)
        if uid.isdigit():
            values["run_as_user"] = int(uid)
            fields.append(("run_as_user", user_loc))
        if gid.isdigit():
            values["run_as_group"] = int(gid)
            fields.append(("run_as_group", user_loc))
        if uid:
            values["run_as_non_root"] = uid not in ROOT_USERS and not (uid.isdigit() and int(uid) == 0)
            fields.append(("run_as_non_root", user_loc))
    return SecuritySettings(**values, location=loc, field_locations=tuple(fields))


# --- environment ---------------------------------------------------------------------------


def _environment(node: yaml.Node | None, path: str) -> tuple[EnvVar, ...]:
    if is_null(node):
        return ()
    env = []
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in merged_pairs(node):
            name = as_scalar(knode)
            if name is None:
                continue
            if not is_null(vnode) and not isinstance(vnode, yaml.ScalarNode):
                raise ShapeError(vnode, f"environment {name} should be a single value, found a {describe(vnode)}")
            env.append(EnvVar(name=name, value=as_scalar(vnode), location=location(path, knode)))
        return tuple(env)
    if not isinstance(node, yaml.SequenceNode):
        raise ShapeError(node, f"environment should be a list or a mapping, found a {describe(node)}")
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode):
            raise ShapeError(item, f"environment items should be NAME=value strings, found a {describe(item)}")
        if is_null(item):
            continue
        name, sep, value = item.value.partition("=")
        env.append(EnvVar(name=name, value=value if sep else None, location=location(path, item)))
    return tuple(env)


# --- suppressions --------------------------------------------------------------------------


def _suppressions(node: yaml.Node | None, loc: Location) -> list[Suppression]:
    texts: list[str] = []
    if is_null(node):
        return []
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in merged_pairs(node):
            rules = as_scalar(knode)
            if not rules:
                continue
            reason = as_scalar(vnode)
            texts.append(f"{rules}: {reason}" if reason else rules)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            text = as_scalar(item)
            if text:
                texts.append(text)
    else:
        texts.append(node.value)
    out: list[Suppression] = []
    for text in texts:
        out.extend(parse_suppression_text(text, loc))
    return out


# --- volumes -------------------------------------------------------------------------------


def _declared_volume(name: str, node: yaml.Node | None, loc: Location, path: str) -> Volume:
    body = as_map(node, "the declaration")
    source = as_scalar(merged_get(body, "name"))
    external = merged_get(body, "external")
    if isinstance(external, yaml.MappingNode):  # legacy `external: {name: x}`
        source = as_scalar(merged_get(external, "name")) or source
    opts = as_map(merged_get(body, "driver_opts"), "driver_opts")
    opts_key = merged_key_node(body, "driver_opts")
    if opts is not None and opts_key is not None:
        fields: tuple[tuple[str, Location], ...] = (("driver_opts", location(path, opts_key)),)
        fstype = (as_scalar(merged_get(opts, "type")) or "").strip()
        device = as_scalar(merged_get(opts, "device"))
        o_node = merged_get(opts, "o")
        options = _options(as_scalar(o_node) or "")
        if fstype == "tmpfs" or device == "tmpfs":
            size = _size(o_node, options["size"]) if options.get("size") else None
            if size is not None and o_node is not None:
                fields += (("size_limit", location(path, o_node)),)
            return Volume(name=name, kind=VolumeKind.EPHEMERAL, size_limit=size, source=source, type="tmpfs",
                          location=loc, field_locations=fields)
        if "bind" in options or "rbind" in options:
            return Volume(name=name, kind=VolumeKind.HOST, source=device, type="bind", location=loc,
                          field_locations=fields)
    return Volume(name=name, kind=VolumeKind.PERSISTENT, source=source, type="volume", location=loc)


def _tmpfs_short(item: yaml.ScalarNode, path: str) -> tuple[Mount, Volume]:
    """``/run`` or ``/run:size=64m,mode=1777``."""
    target, _, opts = item.value.strip().partition(":")
    if not target:
        raise ShapeError(item, "tmpfs entries need a path")
    options = _options(opts)
    size = _size(item, options["size"]) if options.get("size") else None
    loc = location(path, item)
    name = f"tmpfs:{target}"
    fields = (("size_limit", loc),) if size is not None else ()
    return (
        Mount(path=target, volume=name, read_only="ro" in options, location=loc),
        Volume(name=name, kind=VolumeKind.EPHEMERAL, size_limit=size, type="tmpfs", location=loc,
               field_locations=fields),
    )


def _named(source: str, declared: dict[str, Volume], vtype: str) -> Volume | None:
    """The workload's Volume for a named volume: only when the top level declares it."""
    vol = declared.get(source)
    if vol is None:
        return None
    if vtype != "volume" and vol.type == "volume":
        return Volume(name=vol.name, kind=vol.kind, size_limit=vol.size_limit, source=vol.source, type=vtype,
                      location=vol.location, field_locations=vol.field_locations)
    return vol


def _service_volume(item: yaml.Node, declared: dict[str, Volume], path: str) -> tuple[Mount, Volume | None]:
    if isinstance(item, yaml.MappingNode):
        return _long_volume(item, declared, path)
    if not isinstance(item, yaml.ScalarNode) or is_null(item):
        raise ShapeError(item, f"volumes items should be strings or mappings, found a {describe(item)}")
    loc = location(path, item)
    parts = split_colons(item.value.strip())
    modes: set[str] = set()
    if len(parts) == 1:
        source, target = None, parts[0]
    elif len(parts) == 2:
        if parts[0].startswith("/") and set(parts[1].split(",")) <= VOLUME_MODES:
            source, target, modes = None, parts[0], set(parts[1].split(","))
        else:
            source, target = parts
    elif len(parts) == 3:
        source, target = parts[0], parts[1]
        modes = {m.strip() for m in parts[2].split(",") if m.strip()}
    else:
        raise ShapeError(item, f"cannot read volume {item.value!r} (expected SOURCE:TARGET[:MODE])")
    if not target:
        raise ShapeError(item, f"volume {item.value!r} has no target path")
    read_only = "ro" in modes
    if source is None or source == "":
        name = f"anonymous:{target}"
        return (
            Mount(path=target, volume=name, read_only=read_only, location=loc),
            Volume(name=name, kind=VolumeKind.PERSISTENT, type="anonymous", location=loc),
        )
    if _is_host_path(source):
        name = f"bind:{target}"
        return (
            Mount(path=target, volume=name, read_only=read_only, location=loc),
            Volume(name=name, kind=VolumeKind.HOST, source=source, type="bind", read_only=read_only, location=loc),
        )
    return Mount(path=target, volume=source, read_only=read_only, location=loc), _named(source, declared, "volume")


def _long_volume(item: yaml.MappingNode, declared: dict[str, Volume], path: str) -> tuple[Mount, Volume | None]:
    loc = location(path, item)
    target = as_scalar(merged_get(item, "target"))
    if not target:
        raise ShapeError(item, "a volume mapping needs a target")
    source = as_scalar(merged_get(item, "source"))
    type_node = merged_get(item, "type")
    vtype = as_scalar(type_node)
    if vtype is None:
        vtype = "volume" if not source or not _is_host_path(source) else "bind"
    read_only = bool(_cbool(merged_get(item, "read_only")))
    if vtype == "tmpfs":
        tmpfs = as_map(merged_get(item, "tmpfs"), "tmpfs")
        size_node = merged_get(tmpfs, "size")
        size = _size(size_node)
        fields = (("size_limit", location(path, size_node)),) if size is not None and size_node is not None else ()
        name = f"tmpfs:{target}"
        return (
            Mount(path=target, volume=name, read_only=read_only, location=loc),
            Volume(name=name, kind=VolumeKind.EPHEMERAL, size_limit=size, type="tmpfs", location=loc,
                   field_locations=fields),
        )
    if vtype in ("bind", "npipe"):
        name = f"{vtype}:{target}"
        return (
            Mount(path=target, volume=name, read_only=read_only, location=loc),
            Volume(name=name, kind=VolumeKind.HOST, source=source, type=vtype, read_only=read_only, location=loc),
        )
    if vtype == "image":
        name = f"image:{target}"
        return (
            Mount(path=target, volume=name, read_only=True, location=loc),
            Volume(name=name, kind=VolumeKind.CONFIG, source=source, type="image", read_only=True, location=loc),
        )
    if vtype not in ("volume", "cluster"):
        raise ShapeError(type_node or item, f"unknown volume type {vtype!r} (volume, bind, tmpfs, npipe, cluster, image)")
    sub_path = as_scalar(merged_get(as_map(merged_get(item, "volume"), "volume"), "subpath"))
    if not source:
        name = f"anonymous:{target}"
        return (
            Mount(path=target, volume=name, read_only=read_only, sub_path=sub_path, location=loc),
            Volume(name=name, kind=VolumeKind.PERSISTENT, type="anonymous", location=loc),
        )
    return (
        Mount(path=target, volume=source, read_only=read_only, sub_path=sub_path, location=loc),
        _named(source, declared, vtype),
    )


class ComposeWording:
    """How remedies read in a Compose file."""

    def read_only(self) -> str:
        return "read_only: true"

    def volume(self, kind: VolumeKind, size: int | None, populated: bool = False) -> str:
        from rofs.units import format_docker_size

        if kind is VolumeKind.PERSISTENT:
            return "a named volume"
        if populated:
            return "a named volume (Docker fills it with the image's files; a tmpfs would hide them)"
        return f"tmpfs, size {format_docker_size(size)}" if size else "tmpfs"

    def mount(self, path: str, kind: VolumeKind, size: int | None, populated: bool = False) -> str:
        from rofs.units import format_docker_size

        if path == "/dev/shm":  # every service has one: its size is a setting
            return f"set shm_size: {format_docker_size(size)}" if size else "keep the runtime's /dev/shm"
        return f"mount {path} as {self.volume(kind, size, populated)}"


WORDING = ComposeWording()
