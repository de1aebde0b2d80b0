"""A Compose service as docker compose builds it from several files.

docker compose reads a project from more than one file: a base and the files layered on it
(``-f compose.yaml -f compose.prod.yaml``, and ``compose.override.yaml``, which it loads by
itself), services that ``extends:`` another, and files an ``include:`` names.  A service read
from one of them alone is not what runs.  This module finds the other files and merges the
service's nodes as docker compose merges them (the rules of the Compose specification's
"merge" section: mappings merged key by key, ``volumes:`` by target, ``tmpfs:`` by path, other
lists appended, ``command``/``entrypoint`` replaced, ``!reset`` and ``!override`` obeyed).

Which files, for a file F:

* F is ``NAME.override.EXT`` beside ``NAME.EXT`` (``compose.override.yaml``): F belongs to that
  base, whose reading merges it; F's reading leaves the services the base also has to it.
* F is a base with ``NAME.override.EXT`` beside it: each of its services is read with that
  override's service of the same name laid over it, as ``docker compose up`` runs it.
* A service of F with neither image nor build (a fragment, meant for ``-f BASE -f F``) is laid
  over the service of the same name in the base beside F (``compose.yaml``, ``compose.yml``,
  ``docker-compose.yaml``, ``docker-compose.yml``), or in the directory above.
* ``extends:`` is followed (same file, or ``file:``), under the service that extends.
* ``include:``: the local files it names are read as files of their own (see :func:`included`).

Every node keeps the file it was read from (its mark's name), so a finding points at the file
and line that hold what it is about.
"""

from __future__ import annotations

import io
import os
import re
import stat
from dataclasses import dataclass, field

import yaml

from rofs.yamlnode import Loader, ShapeError, as_scalar, get, is_null, key_text, merged_pairs, split_colons

# The names docker compose looks for when given no -f, in its order of preference (compose-go's
# cli.DefaultFileNames and DefaultOverrideFileNames): the first base found, with the first override.
BASE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_NAMES = ("compose.override.yml", "compose.override.yaml", "docker-compose.override.yml",
                  "docker-compose.override.yaml")
MAX_BYTES = 8 * 1024 * 1024  # a companion file larger than this is not read
MAX_DEPTH = 64  # extends: chains longer than this are refused (docker compose has no limit; rofs needs one)
VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^${}]*))?\}")
OVERRIDE_RE = re.compile(r"^(?P<name>.+)\.override\.(?P<ext>ya?ml)$")
RESET_TAG = "!reset"
OVERRIDE_TAG = "!override"
REPLACED = frozenset(("command", "entrypoint"))  # lists an override replaces, not extends
BY_TARGET = frozenset(("volumes", "devices"))  # lists merged by the path each item mounts
# Short-syntax volume access modes and mount options.
VOLUME_MODES = frozenset(
    ["ro", "rw", "z", "Z", "nocopy", "shared", "slave", "private", "rshared", "rslave", "rprivate", "cached", "delegated", "consistent"]
)
REMOTE = ("http://", "https://", "git@", "oci://", "ssh://", "git://")


class Unresolved(Exception):
    """A name written with a variable that has no default: only docker compose knows the file."""


class ProjectError(Exception):
    """A file another file needs cannot be read (missing, not a file, too big, bad YAML)."""

    def __init__(self, path: str, line: int | None, message: str):
        super().__init__(message)
        self.path, self.line, self.message = path, line, message


@dataclass
class Layers:
    """How one service was put together, for the fixer: which of its settings live elsewhere."""

    base: str | None = None  # the service is a fragment laid over this file's service: it is defined there
    above: dict[str, str] = field(default_factory=dict)  # key -> the override that sets it (it wins over this file)
    below: dict[str, str] = field(default_factory=dict)  # key -> where an extended service sets it
    replaced: set[str] = field(default_factory=set)  # keys the override replaces or removes (!override, !reset)
    files: list[str] = field(default_factory=list)  # the other files read for it
    key: yaml.Node | None = None  # a fragment's: the base's key of the service (where it is defined)
    override: str | None = None  # the override laid over it (docker compose's, or NAME.override.yaml)

    @property
    def merged(self) -> bool:
        return bool(self.base or self.above or self.below or self.files)


class _Named(io.StringIO):
    """Text with a name, so every mark the parser makes says which file it is in."""

    def __init__(self, text: str, name: str):
        super().__init__(text)
        self.name = name


def compose_file(path: str) -> tuple[yaml.MappingNode | None, str]:
    """The first document of the Compose file at *path*, its marks named after it, and its text;
    (None, "") when the file is not there.  ProjectError when it is there and cannot be read."""
    if "\x00" in path:
        raise ProjectError(path.replace("\x00", "\\0"), None, "a file name cannot hold a NUL byte")
    try:
        info = os.stat(path)
    except OSError:
        return None, ""
    if not stat.S_ISREG(info.st_mode):
        raise ProjectError(path, None, "not a regular file")
    if info.st_size > MAX_BYTES:
        raise ProjectError(path, None, f"larger than {MAX_BYTES // (1024 * 1024)} MiB: not read")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        docs = [d for d in yaml.compose_all(_Named(text.removeprefix("\ufeff"), path), Loader=Loader) if d is not None]
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(path, None, f"cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ProjectError(path, mark.line + 1 if mark else None, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not docs:
        return None, text
    if not isinstance(docs[0], yaml.MappingNode):
        raise ProjectError(path, docs[0].start_mark.line + 1, "a Compose file should be a mapping")
    return docs[0], text


def services_of(root: yaml.MappingNode | None) -> dict[str, yaml.Node]:
    """The services of a composed file, by name (the last of a name written twice)."""
    services = _merged(root).get("services")
    if not isinstance(services, yaml.MappingNode):
        return {}
    return {name: node for name, node in _merged(services).items() if isinstance(node, yaml.MappingNode)}


def _service_keys(root: yaml.MappingNode | None) -> dict[str, yaml.Node]:
    services = _merged(root).get("services")
    return {key_text(k) or "": k for k, _ in merged_pairs(services)} if isinstance(services, yaml.MappingNode) else {}


def _merged(node: yaml.Node | None) -> dict[str, yaml.Node]:
    out: dict[str, yaml.Node] = {}
    for knode, vnode in merged_pairs(node):
        name = key_text(knode)
        if name is not None:
            out[name] = vnode
    return out


def is_fragment(node: yaml.Node) -> bool:
    """No image and no build: the rest of the service is written in another file."""
    if is_null(node):
        return False
    keys = _merged(node)
    return "image" not in keys and "build" not in keys


def _first(folder: str, names: tuple[str, ...]) -> str | None:
    for name in names:
        candidate = os.path.join(folder, name) if folder else name
        if os.path.isfile(candidate):
            return candidate
    return None


def default_base(folder: str) -> str | None:
    """The base docker compose picks in *folder* when given no -f."""
    return _first(folder, BASE_NAMES)


def override_base(path: str) -> str | None:
    """The base an override belongs to: the default base beside the override docker compose loads
    with it (``compose.override.yaml``), or, by the same naming, ``NAME.yaml`` beside
    ``NAME.override.yaml`` (read together with ``-f NAME.yaml -f NAME.override.yaml``)."""
    folder, name = os.path.dirname(path), os.path.basename(path)
    if name in OVERRIDE_NAMES:
        loaded = _first(folder, OVERRIDE_NAMES)
        base = default_base(folder)
        return base if base and loaded and _same(loaded, path) else None
    match = OVERRIDE_RE.match(name)
    if not match or f"{match['name']}.yaml" in BASE_NAMES:
        return None
    return _first(folder, (f"{match['name']}.yaml", f"{match['name']}.yml"))


def auto_override(path: str) -> str | None:
    """The override read with a base: docker compose's for the default base, NAME.override.yaml
    for NAME.yaml."""
    folder, name = os.path.dirname(path), os.path.basename(path)
    if name in BASE_NAMES:
        base = default_base(folder)
        return _first(folder, OVERRIDE_NAMES) if base and _same(base, path) else None
    stem, ext = os.path.splitext(name)
    if ext not in (".yaml", ".yml") or OVERRIDE_RE.match(name):
        return None
    return _first(folder, (f"{stem}.override.yaml", f"{stem}.override.yml"))


def bases_near(path: str) -> list[str]:
    """The bases a fragment in *path* may complete: the default base of its directory, then of the
    directory above (named in the style *path* is: ``./x``, ``x`` or absolute)."""
    folder = os.path.dirname(path)
    found = []
    for where in (folder, os.path.join(folder, "..") if folder else ".."):
        base = default_base(where)
        if base is None or _same(base, path):
            continue
        if os.path.isabs(path):
            base = os.path.abspath(base)
        else:
            base = os.path.normpath(base)
            if path.startswith("./") and not base.startswith("../"):
                base = "./" + base
        found.append(base)
    return found


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # not there; a name with a NUL byte
        return False


# --- merging ---------------------------------------------------------------------------------


def merge(base: yaml.Node | None, over: yaml.Node, key: str | None = None) -> yaml.Node:
    """*over* laid on *base* as docker compose merges a service's value (``!reset``: a null)."""
    if over.tag == RESET_TAG:  # removed: a null where it was written, so a finding points there
        return yaml.ScalarNode("tag:yaml.org,2002:null", "", over.start_mark, over.end_mark)
    if over.tag == OVERRIDE_TAG or base is None:
        return over
    if is_null(over):  # `key:` with no value changes nothing (compose-go keeps the base's value)
        return base
    if isinstance(base, yaml.MappingNode) and isinstance(over, yaml.MappingNode):
        return _merge_maps(base, over)
    if isinstance(base, yaml.SequenceNode) and isinstance(over, yaml.SequenceNode) and key not in REPLACED:
        return _merge_lists(base, over, key)
    if key == "environment" and isinstance(over, (yaml.MappingNode, yaml.SequenceNode)):
        return _merge_lists(_as_env_list(base), _as_env_list(over), key)
    if key == "tmpfs" and isinstance(base, (yaml.ScalarNode, yaml.SequenceNode)) and not is_null(base):
        return _merge_lists(_as_list(base), _as_list(over), key)
    return over


def _merge_maps(base: yaml.MappingNode, over: yaml.MappingNode) -> yaml.MappingNode:
    pairs = {key_text(k) or f"#{i}": (k, v) for i, (k, v) in enumerate(merged_pairs(base))}
    for i, (knode, vnode) in enumerate(merged_pairs(over)):
        name = key_text(knode) or f"#o{i}"
        below = pairs.get(name)
        value = merge(below[1] if below else None, vnode, name)
        kept = below is not None and value is below[1]  # the base's value stands: so does where it is written
        pairs[name] = (below[0] if below is not None and kept else knode, value)
    return yaml.MappingNode("tag:yaml.org,2002:map", list(pairs.values()), over.start_mark, over.end_mark)


def _merge_lists(base: yaml.SequenceNode, over: yaml.SequenceNode, key: str | None) -> yaml.SequenceNode:
    items: dict[str, yaml.Node] = {}
    for i, item in enumerate([*base.value, *over.value]):
        items[_identity(item, key) or f"#{i}"] = item  # a later item with the same identity replaces
    return yaml.SequenceNode("tag:yaml.org,2002:seq", list(items.values()), over.start_mark, over.end_mark)


def _identity(item: yaml.Node, key: str | None) -> str | None:
    """What makes two items of a list the same item, for the merge."""
    if key in BY_TARGET:
        if isinstance(item, yaml.MappingNode):
            return f"target:{as_scalar(get(item, 'target')) or ''}".rstrip("/")
        if isinstance(item, yaml.ScalarNode):
            return f"target:{volume_target(item.value)}".rstrip("/")
        return None
    if key == "tmpfs" and isinstance(item, yaml.ScalarNode):
        return "path:" + item.value.split(":", 1)[0].strip().rstrip("/")
    if key == "environment" and isinstance(item, yaml.ScalarNode):
        return "env:" + item.value.split("=", 1)[0]
    if isinstance(item, yaml.ScalarNode):
        return "text:" + item.value
    return None


def volume_target(text: str) -> str:
    """The path a short-syntax volume (``SOURCE:TARGET[:MODE]``, ``TARGET``, ``TARGET:MODE``) mounts."""
    parts = split_colons(text.strip())
    if len(parts) == 2 and parts[0].startswith("/") and set(parts[1].split(",")) <= VOLUME_MODES:
        return parts[0]
    return parts[1] if len(parts) >= 2 else parts[0]


def _as_list(node: yaml.Node) -> yaml.SequenceNode:
    if isinstance(node, yaml.SequenceNode):
        return node
    return yaml.SequenceNode("tag:yaml.org,2002:seq", [node], node.start_mark, node.end_mark)


def _as_env_list(node: yaml.Node) -> yaml.SequenceNode:
    """``environment:`` as a list of ``NAME=value`` items (a mapping is turned into one)."""
    if isinstance(node, yaml.SequenceNode):
        return node
    items: list[yaml.Node] = []
    for knode, vnode in merged_pairs(node):
        name = key_text(knode)
        if name is None:
            continue
        text = name if is_null(vnode) else f"{name}={as_scalar(vnode) or ''}"
        items.append(yaml.ScalarNode("tag:yaml.org,2002:str", text, knode.start_mark, vnode.end_mark))
    return yaml.SequenceNode("tag:yaml.org,2002:seq", items, node.start_mark, node.end_mark)


def _keys(node: yaml.Node) -> list[str]:
    return [k for k in _merged(node) if k != "extends"]


# --- a file's project ------------------------------------------------------------------------


class Project:
    """The files a Compose file at *path* is read with; what each of its services becomes."""

    def __init__(self, path: str, own: dict[str, yaml.Node]):
        self.path = path
        self.own = own
        self.on_disk = os.path.isfile(path)
        self._files: dict[str, dict[str, yaml.Node]] = {}
        self._key_nodes: dict[str, dict[str, yaml.Node]] = {}
        self.notes: list[str] = []  # what could not be followed, and why
        # the files laid over or under this one (one project: their top-level volumes count); a file
        # only extended from is not among them (extends does not bring its volume declarations)
        self.layered: set[str] = set()
        self.roots: dict[str, yaml.MappingNode] = {}  # companions read, by path: their volumes count too
        self.texts: dict[str, str] = {}  # and their texts (their `# rofs: ignore` comments count too)
        self.belongs_to = override_base(path) if self.on_disk else None
        self.override = auto_override(path) if self.on_disk and not self.belongs_to else None

    def services(self, path: str) -> dict[str, yaml.Node]:
        """The services of another file (read once)."""
        if path not in self._files:
            root, text = compose_file(path)
            if root is not None:
                self.roots[path] = root
                self.texts[path] = text
            self._files[path] = services_of(root)
            self._key_nodes[path] = _service_keys(root)
        return self._files[path]

    def left_to_base(self, name: str) -> str | None:
        """The base that reads this service with this file (an override's service the base has)."""
        if self.belongs_to and name in self.services(self.belongs_to):
            return self.belongs_to
        return None

    def assemble(self, name: str, node: yaml.Node) -> tuple[yaml.Node | None, Layers]:
        """The service as docker compose runs it, and how it was put together; None for a fragment
        with no base to complete it."""
        layers = Layers()
        try:
            node = self._extended(node, self.path, self.own, layers, [(self.path, name)])
        except Unresolved as exc:
            self.notes.append(f"service {name}: {exc}")
            node = yaml.MappingNode(node.tag, [(k, v) for k, v in merged_pairs(node) if key_text(k) != "extends"],
                                    node.start_mark, node.end_mark)
        if is_fragment(node):
            base = self._base_for(name)
            if base is None:
                return None, layers
            try:
                below = self._extended(self.services(base)[name], base, self.services(base), Layers(), [(base, name)])
            except Unresolved:
                below = self.services(base)[name]
            node = merge(below, node)
            layers.base = base
            layers.key = self._key_nodes[base][name]  # where the service is defined: its findings point there
            layers.files.append(base)
            self.layered.add(base)
        if self.override and name in self.services(self.override):
            over = self.services(self.override)[name]
            layers.above.update({key: self.override for key in _keys(over)})
            for key in ("tmpfs", "volumes"):
                value = _merged(over).get(key)
                if value is not None and value.tag in (RESET_TAG, OVERRIDE_TAG):
                    layers.replaced.add(key)
            node = merge(node, self._extended(over, self.override, self.services(self.override), Layers(),
                                              [(self.override, name)]))
            layers.files.append(self.override)
            layers.override = self.override
            self.layered.add(self.override)
        return node, layers

    def _base_for(self, name: str) -> str | None:
        """The base this file's fragment *name* is laid over; not one that extends this file (then
        this file holds what the base's services extend, and is not laid over it)."""
        for base in bases_near(self.path) if self.on_disk else ():
            services = self.services(base)
            if name in services and not is_fragment(services[name]) and not self._extends_me(base, services):
                return base
        return None

    def _extends_me(self, base: str, services: dict[str, yaml.Node]) -> bool:
        for node in services.values():
            ext = _merged(node).get("extends")
            if not isinstance(ext, yaml.MappingNode):
                continue
            file = as_scalar(_merged(ext).get("file"))
            try:
                file = _resolved(file, ext) if file else None
            except Unresolved:
                continue
            if file and _same(os.path.join(os.path.dirname(base), file), self.path):
                return True
        return False

    def _extended(self, node: yaml.Node, path: str, services: dict[str, yaml.Node], layers: Layers,
                  chain: list[tuple[str, str]]) -> yaml.Node:
        """*node* with the service it extends merged under it (followed to the end of the chain)."""
        ext = _merged(node).get("extends")
        if ext is None:
            return node
        if isinstance(ext, yaml.ScalarNode):
            target, where = _resolved(ext.value, ext), path
        elif isinstance(ext, yaml.MappingNode):
            target = _resolved(as_scalar(_merged(ext).get("service")) or "", ext)
            file = _resolved(as_scalar(_merged(ext).get("file")) or "", ext)
            if "\x00" in file:
                raise ShapeError(ext, "extends: a file name cannot hold a NUL byte")
            if file.startswith(REMOTE):
                raise ShapeError(ext, f"extends: {file} is not a local file")
            where = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        else:
            raise ShapeError(ext, "extends should be a service name or a mapping with service (and file)")
        if not target:
            raise ShapeError(ext, "extends needs the name of a service")
        if any((where == p or _same(where, p)) and s == target for p, s in chain):
            names = " -> ".join([*(s for _, s in chain), target])
            raise ShapeError(ext, f"extends: a loop ({names}); docker compose refuses it too")
        if len(chain) > MAX_DEPTH:
            raise ShapeError(ext, f"extends: a chain of more than {MAX_DEPTH} services; rofs follows no longer ones")
        if where != path and not _same(where, path):
            try:
                others = self.services(where) if os.path.exists(where) else None
            except ProjectError as exc:
                raise ShapeError(ext, f"extends: {exc.path}: {exc.message}") from None
            if others is None:
                raise ShapeError(ext, f"extends: file {where} is not there")
            layers.files.append(where)
        else:
            others = services
        if target not in others:
            raise ShapeError(ext, f"extends: no service {target} in {where}")
        below = self._extended(others[target], where, others, layers, [*chain, (where, target)])
        for key in _keys(below):
            layers.below.setdefault(key, f"{where} (service {target})")
        own = yaml.MappingNode(node.tag, [(k, v) for k, v in merged_pairs(node) if key_text(k) != "extends"],
                               node.start_mark, node.end_mark)
        return merge(below, own)


def _resolved(text: str, node: yaml.Node) -> str:
    """A name with its variables' defaults put in (``${COMMON:-common.yaml}``); Unresolved when a
    variable has none."""
    def default(match: re.Match) -> str:
        if match.group(1) is None:
            raise Unresolved(f"line {node.start_mark.line + 1}: extends names {text}, set by a variable with no"
                             " default: read without what it extends (docker compose config | rofs audit - reads"
                             " the resolved service)")
        return match.group(1)

    return VARIABLE.sub(default, text)


def included(root: yaml.Node, path: str) -> tuple[list[tuple[str, int]], list[str]]:
    """The local files an ``include:`` names (paths relative to this file's directory, with the
    line naming each), and a note for each it does not read (remote ones)."""
    entries = _merged(root).get("include")
    if entries is None or not isinstance(entries, yaml.SequenceNode):
        return [], []
    files: list[tuple[str, int]] = []
    notes: list[str] = []
    for item in entries.value:
        names: list[yaml.Node] = []
        if isinstance(item, yaml.ScalarNode):
            names = [item]
        elif isinstance(item, yaml.MappingNode):
            value = _merged(item).get("path")
            names = list(value.value) if isinstance(value, yaml.SequenceNode) else [value] if value is not None else []
            if len(names) > 1:
                notes.append(f"line {item.start_mark.line + 1}: include merges {len(names)} files into one model;"
                             " each is read on its own (to read them merged: docker compose config | rofs audit -)")
        for name in names:
            text = as_scalar(name)
            if not text:
                continue
            if text.startswith(REMOTE) or "${" in text:
                notes.append(f"line {name.start_mark.line + 1}: include {text}: not a local file, not read")
                continue
            files.append((os.path.normpath(os.path.join(os.path.dirname(path), text)), name.start_mark.line + 1))
    return files, notes
