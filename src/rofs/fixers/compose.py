"""Fix Compose files: ``read_only: true`` plus the mounts each service's app needs.

Ephemeral paths become tmpfs mounts in the long syntax (the only one that carries a size),
``/dev/shm`` becomes ``shm_size``, persistent paths become named volumes declared at top
level.  Short ``tmpfs:`` entries that lack a size, or that hold data which must persist,
are moved to the long syntax or to a named volume.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass, field

import yaml

from rofs.checks import active
from rofs.fixers.editor import Editor
from rofs.fixers.naming import unique_name
from rofs.fixers.textedit import Lines, dash_column, flow, is_flow, last_line, render_block
from rofs.model import Finding, SourceFormat, VolumeKind, Workload, path_covers, volume_name_for
from rofs.remedy import (
    DEFAULT_EPHEMERAL,
    AddMount,
    Applicability,
    BoundVolume,
    MakePersistent,
    ReadOnlyRoot,
    unprofiled_images,
)
from rofs.rules import Context, fixable
from rofs.rules.common import RUNTIME_SHM, RUNTIME_SHM_SIZE, minimal
from rofs.sources.compose import ComposeSource
from rofs.sources.compose_project import Layers, volume_target
from rofs.sources.interface import ReadFailed
from rofs.units import format_docker_size
from rofs.yamlnode import MERGE_TAG, Loader, get, key_node, merged_get, shared_nodes


class _Editor(Editor):
    """The Editor, knowing that an alias's node carries its anchor's position: a block list of
    aliases that ends a mapping (`<<:` then `- *a`, `- *b`) ends further down than its nodes say,
    so new keys go after the mapping's last line as the text has it."""

    def _emit_map_add(self, mapping: yaml.MappingNode, items: dict) -> None:
        if is_flow(mapping):
            # as the Editor does, but a string holding `,` (`/run:size=1m,mode=1777`) is quoted:
            # in a flow collection the comma would split it
            end = mapping.end_mark.index - 1
            body = ", ".join(f"{_flow_value(k)}: {_flow_value(v)}" for k, v in items.items())
            self._edit(end, end, self.flow_separator(end, bool(mapping.value)) + body)
            return
        if not mapping.value:
            return super()._emit_map_add(mapping, items)
        column = mapping.value[0][0].start_mark.column
        end = max(last_line(mapping), _text_end_line(self.lines, mapping.value[0][0].start_mark.line, column))
        offset, prefix = self.lines.after(self.lines.comments_after(end, column))
        self._edit(offset, offset, prefix + render_block(items, column, self.seq_offset, self.nl), column)


def _flow_value(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow_value(k)}: {_flow_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow_value(v) for v in value) + "]"
    if isinstance(value, str) and any(c in value for c in ",[]{}"):
        return json.dumps(value)  # a double-quoted scalar
    return flow(value)


def _text_end_line(lines: Lines, first: int, column: int) -> int:
    """The last line of the block mapping whose keys sit at *column* from line *first*: what follows
    at that column or deeper, up to a line less indented or the end of the document."""
    end = first
    for n in range(first + 1, len(lines.starts)):
        line = lines.line_text(n)
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        if indent < column or (indent == 0 and stripped.startswith(("---", "..."))):
            break
        end = n
    return end


class ComposeFixer:
    format = SourceFormat.COMPOSE

    def __init__(self, ctx: Context, selected: set[str]):
        self.ctx = ctx
        self.selected = set(selected) & fixable()
        self.applied: list[Finding] = []  # the findings whose remedies were written
        self.unprofiled: Counter[str] = Counter()  # images left as they are, for want of a profile: services
        self.includes: list[str] = []  # the files the Compose file includes (fixed in turn)

    def fix(self, text: str, path: str, suppressions: list) -> tuple[list, list[str]]:
        documents = [d for d in yaml.compose_all(text, Loader=Loader) if d is not None]
        if not documents or not isinstance(documents[0], yaml.MappingNode):
            return [], []
        root = documents[0]
        source = ComposeSource().read_documents(documents, text, path)
        if source.errors:
            raise ReadFailed(source.errors[0])
        self.includes = source.includes
        services = get(root, "services")
        if not isinstance(services, yaml.MappingNode):
            return [], source.notes
        nodes = {k.value: v for k, v in services.value if isinstance(v, yaml.MappingNode)}
        editor = _Editor(text, _seq_offset(text, services))
        notes: list[str] = list(source.notes)
        top_volumes = get(root, "volumes")
        declared = {k.value for k, _ in top_volumes.value} if isinstance(top_volumes, yaml.MappingNode) else set()
        new_top: dict[str, dict] = {}
        done: set[int] = set()
        shared = shared_nodes(root)
        self._merged_into, owns = _merge_sources(root)
        plans = []
        others = [s for s in source.suppressions if s.location.path != path]  # a base's or override's comments
        completed: list[str] = []
        for workload in source.workloads:
            node = nodes.get(workload.name)
            if node is None or id(node) in done:
                continue  # `other: *service` is the same mapping: fixed once, for both
            done.add(id(node))
            layers = source.layers.get(workload.name) or Layers()
            every = active(workload, self.ctx, self.selected, list(suppressions) + others)
            findings = [f for f in every if Applicability(f.applicability).applied]
            if layers.base:  # an override's fragment: the service is defined in its base, and fixed there
                if findings:
                    completed.append(workload.name)
                continue
            self.unprofiled.update(unprofiled_images(every))
            findings = _decided_here(findings, workload, node, layers, path, notes)
            remedies = [r for f in findings for r in f.remedies]
            if id(node) in owns:  # what it will set itself: what it merges no longer decides those
                if any(isinstance(r, ReadOnlyRoot) for r in remedies):
                    owns[id(node)].add("read_only")
                if any(isinstance(r, AddMount) and r.path != RUNTIME_SHM for r in remedies):
                    owns[id(node)].add("volumes")
            plans.append((workload, node, findings))
        for workload, node, findings in plans:
            if findings:
                for key in ("tmpfs", "volumes"):
                    if id(get(node, key)) in shared:
                        # an edit at the anchor would change every user of it, and the alias has no place to edit
                        raise ValueError(f"service {workload.name}: its {key} is an anchor or alias shared with"
                                         " another part of the file; write it out in each service first")
                skipped: set[int] = set()
                self._fix_service(editor, node, workload, findings, notes, declared, new_top, skipped,
                                  (source.layers.get(workload.name) or Layers()).override)
                self.applied += [f for f in findings if not any(id(r) in skipped for r in f.remedies)]
        if completed:
            bases = sorted({source.layers[n].base or "" for n in completed})
            notes.append(f"service{'s' if len(completed) > 1 else ''} {', '.join(completed)}: laid over"
                         f" {' and '.join(bases)} (docker compose -f BASE -f {path}), where"
                         f" {'they are' if len(completed) > 1 else 'it is'} defined; not fixed here: fix"
                         f" {' '.join(bases)}, then audit this file again")
        if new_top:
            if isinstance(top_volumes, yaml.MappingNode) and (is_flow(top_volumes) or top_volumes.value):
                editor.add_keys(top_volumes, new_top)  # a flow mapping too: what it declares stays as written
            elif top_volumes is None:
                editor.add_keys(root, {"volumes": new_top})
            else:
                editor.replace_value(root, "volumes", new_top)  # `volumes:` with nothing declared
        return editor.finish(), notes

    def _fix_service(self, editor: _Editor, node: yaml.MappingNode, workload: Workload, findings: list[Finding],
                     notes: list[str], declared: set[str], new_top: dict[str, dict], skipped: set[int],
                     override: str | None = None) -> None:
        """Apply the service's remedies; the ids of those that cannot be applied go to *skipped*."""
        todo = ServiceRemedies.of(findings)
        fx = ServiceFix.of(editor, node, workload, notes, declared, new_top, skipped, self._merged_into)
        fx.override = override
        for mount in workload.containers[0].mounts:
            vol = workload.volume(mount.volume)
            if vol is None or vol.type != "tmpfs" or mount.path in fx.handled:
                continue
            if mount.path in todo.persist:
                _persist_tmpfs(fx, mount.path)
            elif mount.path in todo.bound:
                _bound_tmpfs(fx, mount.path, todo.bound[mount.path])
        _take_out_moved(fx)
        for need in _writable_needs(fx, todo.needs):
            _add_mount(fx, need)
        if todo.make_ro:
            fx.refuse_if_merged(None, "read_only")
            editor.set_value(node, ["read_only"], True)
            _note_mounts_elsewhere(fx)
        if "volumes" in fx.inherited and (fx.entries or fx.handled):
            editor.add_keys(node, {"volumes": fx.inherited["volumes"] + fx.entries})
            notes.append(f"{fx.label}: its volumes came from a merge (<<); it has its own copy of them now, with the"
                         " new mounts, since editing the merged ones would change every service that merges them"
                         " (a later change to the merged list no longer reaches it)")
        elif fx.entries:
            fx.refuse_if_merged(str(fx.entries[0]["target"]), "volumes")
            editor.extend_list(node, "volumes", fx.entries)

    @staticmethod
    def _remove_tmpfs(editor: Editor, node: yaml.MappingNode, paths: set[str], sized: dict[str, str]) -> None:
        """Remove the entries of *paths* from the service's own `tmpfs:`, and give those that stay
        their new text (*sized*, by path) in the same edit where they share a line."""
        value = get(node, "tmpfs")
        knode = key_node(node, "tmpfs")
        if knode is None or value is None:
            return  # no `tmpfs:` of its own

        def remove_key() -> None:
            if _inherits(node, "tmpfs"):  # without the key, the merged `tmpfs:` would apply: keep it, empty
                if isinstance(value, yaml.SequenceNode) and not is_flow(value):
                    editor.delete_pair_lines(knode, value)
                    editor.add_keys(node, {"tmpfs": []})
                else:
                    editor.replace_value(node, "tmpfs", [])
            elif not is_flow(node):
                editor.delete_pair_lines(knode, value)
            elif not editor.delete_key(node, "tmpfs"):  # in a flow mapping: just the pair, not its lines
                editor.replace_value(node, "tmpfs", [])

        if isinstance(value, yaml.ScalarNode):
            if value.value.split(":", 1)[0].rstrip("/") in paths:
                remove_key()
            return
        if not isinstance(value, yaml.SequenceNode):
            return
        def entry_path(item: yaml.Node) -> str | None:
            return item.value.split(":", 1)[0].rstrip("/") if isinstance(item, yaml.ScalarNode) else None

        keep = [i for i in value.value if entry_path(i) not in paths]
        if not keep:
            remove_key()
        elif is_flow(value):
            texts = [sized.get(entry_path(i) or "", editor.source(i)) for i in keep]
            editor.replace(value, "[" + ", ".join(texts) + "]")
        else:
            for item in value.value:
                if item not in keep:
                    editor.delete_lines(item.start_mark.line, last_line(item), item)
                elif entry_path(item) in sized:
                    editor.replace(item, sized[entry_path(item) or ""])


def _decided_here(findings: list[Finding], workload: Workload, node: yaml.MappingNode, layers: Layers, path: str,
                  notes: list[str]) -> list[Finding]:
    """The findings whose remedies an edit of this file can apply: not those about a setting an
    override laid over this file decides (it would win over the edit), nor about a mount written
    in another file."""
    if not layers.merged and all(m.location is None or m.location.path == path
                                 for m in workload.containers[0].mounts):
        return findings
    mounts = {m.path: m for m in workload.containers[0].mounts}
    own = set(_short_tmpfs_paths(merged_get(node, "tmpfs"))) | set(_volume_items(merged_get(node, "volumes")))
    kept = []
    for finding in findings:
        why = None
        for remedy in finding.remedies:
            why = why or _elsewhere(remedy, mounts, own, layers, path)
        if why is None:
            kept.append(finding)
            continue
        note = f"service {workload.name}: {why}; not fixed (change it there by hand)"
        if note not in notes:
            notes.append(note)
    return kept


def _elsewhere(remedy: object, mounts: dict, own: set[str], layers: Layers, path: str) -> str | None:
    """Why *remedy* cannot be applied in this file, if it cannot."""
    if isinstance(remedy, ReadOnlyRoot) and "read_only" in layers.above:
        return f"read_only is set in {layers.above['read_only']}, which docker compose lays over this file"
    if isinstance(remedy, AddMount):
        if remedy.path == RUNTIME_SHM and "shm_size" in layers.above:
            return f"shm_size is set in {layers.above['shm_size']}, which docker compose lays over this file"
        replaced = sorted(layers.replaced & {"tmpfs", "volumes"})
        if remedy.path != RUNTIME_SHM and replaced:
            return (f"{' and '.join(replaced)} {'are' if len(replaced) > 1 else 'is'} replaced (!override or !reset)"
                    f" in {layers.above[replaced[0]]}, so a mount added here would not reach the container")
    if isinstance(remedy, (BoundVolume, MakePersistent)) and remedy.path in mounts:
        where = mounts[remedy.path].location
        if where is not None and where.path != path:
            return f"its mount at {remedy.path} is written in {where.path}"
        if remedy.path not in own:
            source = layers.below.get("volumes") or layers.below.get("tmpfs") or "the service it extends"
            return f"its mount at {remedy.path} comes from {source}, which it extends"
    return None


@dataclass
class ServiceRemedies:
    """What one service's findings ask for, gathered by kind."""

    needs: list[AddMount] = field(default_factory=list)
    make_ro: bool = False
    persist: set[str] = field(default_factory=set)  # mount paths on tmpfs that must become named volumes
    bound: dict[str, int] = field(default_factory=dict)  # tmpfs mount paths that need a size, and the size

    @classmethod
    def of(cls, findings: list[Finding]) -> ServiceRemedies:
        out = cls()
        for finding in findings:
            for remedy in finding.remedies:
                if isinstance(remedy, ReadOnlyRoot):
                    out.make_ro = True
                elif isinstance(remedy, AddMount):
                    out.needs.append(remedy)
                elif isinstance(remedy, MakePersistent):
                    out.persist.add(remedy.path)
                elif isinstance(remedy, BoundVolume) and remedy.path:
                    out.bound[remedy.path] = remedy.size
        return out


@dataclass
class ServiceFix:
    """One service's fix in progress: its node and mounts as written, and what the fix changes."""

    editor: _Editor
    node: yaml.MappingNode
    workload: Workload
    notes: list[str]
    declared: set[str]  # named volumes the top level declares
    new_top: dict[str, dict]  # named volumes the fix declares
    skipped: set[int]  # ids of the remedies not applied
    merged_into: dict[int, list[set[str]]]  # id of a mapping others merge (`<<: *db`) -> their own keys
    short: dict[str, yaml.ScalarNode]  # the short `tmpfs:` entries, by path
    long_items: dict[str, yaml.MappingNode]  # `type: tmpfs` items of `volumes:`, by target
    volume_items: dict[str, yaml.Node]  # every item of `volumes:`, by target
    inherited: dict[str, list]  # `tmpfs:` / `volumes:` that come from a merge key, as plain values
    entries: list[dict] = field(default_factory=list)  # long-syntax items to add to `volumes:`
    moved: set[str] = field(default_factory=set)  # short `tmpfs:` entries to take out (they move to `volumes:`)
    handled: set[str] = field(default_factory=set)  # tmpfs paths made persistent or bounded
    resized: bool = False  # an inherited short `tmpfs:` entry got a size: the service needs its own copy
    sized: dict[str, str] = field(default_factory=dict)  # own short `tmpfs:` entries, by path: their new text
    override: str | None = None  # the override docker compose lays over this file, if any

    @classmethod
    def of(cls, editor: _Editor, node: yaml.MappingNode, workload: Workload, notes: list[str], declared: set[str],
           new_top: dict[str, dict], skipped: set[int], merged_into: dict[int, list[set[str]]]) -> ServiceFix:
        volumes = merged_get(node, "volumes")
        # `tmpfs:` / `volumes:` that come from a merge key (`<<: *defaults`) are not edited in place
        # (that would change every service sharing them): the service gets its own copy instead.
        inherited = {
            key: _inherited_copy(node, key) for key in ("tmpfs", "volumes")
            if get(node, key) is None and merged_get(node, key) is not None
        }
        return cls(editor, node, workload, notes, declared, new_top, skipped, merged_into,
                   short=_short_tmpfs_paths(merged_get(node, "tmpfs")), long_items=_long_tmpfs_items(volumes),
                   volume_items=_volume_items(volumes), inherited=inherited)

    @property
    def label(self) -> str:
        return f"service {self.workload.name}"

    def named(self, base: str) -> str:
        """Declare a new named volume for this service; its name."""
        name = unique_name(f"{self.workload.name}-{base}", self.declared | set(self.new_top))
        self.new_top[name] = {}
        return name

    def refuse_if_merged(self, path: str | None, key: str) -> None:
        """*key* (`tmpfs:`, `volumes:`, `read_only:`) of a service that others merge (`<<: *db`) and
        do not set themselves is not changed in place: it would change theirs too."""
        if any(key not in own for own in self.merged_into.get(id(self.node), ())):
            what = f"its mount at {path}" if path else f"its {key}"
            raise ValueError(f"{self.label}: other services merge it (<<), and {what} would change for"
                             f" them too; give those services their own {key} first")


def _note_mounts_elsewhere(fx: ServiceFix) -> None:
    """A root made read-only here that relies on writable mounts the override laid over this file
    gives: run without that file and the service lacks them."""
    path = fx.workload.location.path if fx.workload.location else ""
    others: dict[str, list[str]] = {}
    for mount in fx.workload.containers[0].mounts:
        if mount.location is not None and mount.location.path == fx.override and not mount.read_only:
            others.setdefault(mount.location.path, []).append(mount.path)
    for other, paths in sorted(others.items()):
        fx.notes.append(f"{fx.label}: made read-only with the mounts {other} gives it ({', '.join(paths)}): started"
                        f" without that file (docker compose -f {path}), it lacks them")


def _persist_tmpfs(fx: ServiceFix, path: str) -> None:
    """The tmpfs at *path* holds data that must persist: a named volume instead."""
    vname = fx.named(volume_name_for(path))
    entry = {"type": "volume", "source": vname, "target": path}
    if path in fx.short:
        fx.moved.add(path)
        fx.entries.append(entry)
    elif path in fx.volume_items:  # `type: tmpfs`, or a named volume declared as a tmpfs
        item = fx.volume_items[path]
        if "volumes" in fx.inherited:
            fx.inherited["volumes"] = [i for i in fx.inherited["volumes"] if _item_target(i) != path]
            fx.entries.append(entry)
        elif isinstance(item, yaml.ScalarNode) or is_flow(item):
            fx.refuse_if_merged(path, "volumes")
            fx.editor.replace(item, "{" + ", ".join(f"{k}: {v}" for k, v in entry.items()) + "}")
        else:
            fx.refuse_if_merged(path, "volumes")
            fx.editor.delete_lines(item.start_mark.line, last_line(item), item)
            fx.entries.append(entry)
    fx.handled.add(path)
    fx.notes.append(f"{fx.label}: {path} held data that must persist; it is now named volume {vname}.")


def _bound_tmpfs(fx: ServiceFix, path: str, size: int) -> None:
    """The tmpfs at *path* gets a size; a short entry keeps its form and every option it has
    (``/tmp:rw,noexec,nosuid`` -> ``/tmp:rw,noexec,nosuid,size=256m``)."""
    if path in fx.short and "tmpfs" in fx.inherited:
        fx.inherited["tmpfs"] = [_with_size(t, size) if _tmpfs_path(t) == path else t for t in fx.inherited["tmpfs"]]
        fx.resized = True
    elif path in fx.short:
        fx.refuse_if_merged(path, "tmpfs")
        node = fx.short[path]
        new = _with_size(node.value, size)
        listed = get(fx.node, "tmpfs")
        in_flow = listed is not None and is_flow(listed)
        fx.sized[path] = json.dumps(new) if node.style or in_flow else new  # written with the removals
    elif path in fx.long_items and "volumes" in fx.inherited:
        for i in fx.inherited["volumes"]:
            if _long_tmpfs_target(i) == path:
                i["tmpfs"] = {**(i.get("tmpfs") or {}), "size": size}
    elif path in fx.long_items:
        fx.refuse_if_merged(path, "volumes")
        fx.editor.set_value(fx.long_items[path], ["tmpfs", "size"], size)
    fx.handled.add(path)


def _take_out_moved(fx: ServiceFix) -> None:
    """Remove the short `tmpfs:` entries that moved to `volumes:`."""
    if (fx.moved or fx.resized) and "tmpfs" in fx.inherited:
        fx.editor.add_keys(fx.node, {"tmpfs": [t for t in fx.inherited["tmpfs"] if _tmpfs_path(t) not in fx.moved]})
    elif fx.moved:
        fx.refuse_if_merged(min(fx.moved), "tmpfs")
        ComposeFixer._remove_tmpfs(fx.editor, fx.node, fx.moved, fx.sized)
    else:
        for path, text in fx.sized.items():
            fx.editor.replace(fx.short[path], text)


def _writable_needs(fx: ServiceFix, needs: list[AddMount]) -> list[AddMount]:
    """The mounts to add: not already handled, nor beneath a mount that is not writable (noted, skipped)."""
    container = fx.workload.containers[0]
    chosen: list[AddMount] = []
    for need in minimal(needs):
        if need.path in fx.handled:
            continue
        if need.guess:
            what = container.image or "this build"
            note = (f"{fx.label}: no profile for {what}; added a bounded /tmp only. Its other writable paths are"
                    " unknown: find them with `rofs trace`, then pass the profile with --profile-file.")
            if note not in fx.notes:
                fx.notes.append(note)
        blocking = [m for m in container.mounts if need.path != RUNTIME_SHM and path_covers(m.path, need.path)]
        if blocking:
            # A mount that is not writable holds the path: a second mount at the same path is refused
            # by Compose, and one beneath a read-only mount cannot be created.  Left to the user.
            fx.skipped.update(id(n) for n in needs if n.path == need.path or path_covers(need.path, n.path))
            fx.notes.append(f"{fx.label}: the app writes {need.path}, but {blocking[-1].path} is mounted there and"
                            " is not writable; make that mount writable (not fixed).")
            continue
        chosen.append(need)
    return chosen


def _add_mount(fx: ServiceFix, need: AddMount) -> None:
    """``shm_size`` for /dev/shm; a named volume for persistent or populated paths; a bounded tmpfs otherwise."""
    if need.path == RUNTIME_SHM:
        if merged_get(fx.node, "shm_size") is None:
            fx.refuse_if_merged(None, "shm_size")
            fx.editor.add_keys(fx.node, {"shm_size": format_docker_size(need.size or RUNTIME_SHM_SIZE)})
        return
    if need.kind is VolumeKind.PERSISTENT or need.populated:
        # populated: Docker fills an empty named volume from the image; a tmpfs would hide its files
        vname = fx.named(need.name or volume_name_for(need.path))
        fx.entries.append({"type": "volume", "source": vname, "target": need.path})
    else:
        fx.entries.append({"type": "tmpfs", "target": need.path, "tmpfs": {"size": need.size or DEFAULT_EPHEMERAL}})


def _short_tmpfs_paths(value: yaml.Node | None) -> dict[str, yaml.ScalarNode]:
    """The entries of a service's `tmpfs:` value (a string or a list), by path."""
    items = [value] if isinstance(value, yaml.ScalarNode) else getattr(value, "value", []) or []
    return {i.value.split(":", 1)[0].rstrip("/"): i for i in items if isinstance(i, yaml.ScalarNode) and i.value}


def _with_size(entry: object, size: int) -> str:
    """A short tmpfs entry with ``size=`` added (or replaced), its other options kept in order."""
    path, _, options = str(entry).partition(":")
    kept = [o for o in options.split(",") if o and not o.strip().startswith("size=")]
    return f"{path}:{','.join([*kept, 'size=' + format_docker_size(size)])}"


def _long_tmpfs_items(volumes: yaml.Node | None) -> dict[str, yaml.MappingNode]:
    """`type: tmpfs` items of a service's `volumes:` value, by target."""
    out = {}
    for item in getattr(volumes, "value", []) or []:
        if isinstance(item, yaml.MappingNode):
            kind, target = get(item, "type"), get(item, "target")
            if isinstance(kind, yaml.ScalarNode) and kind.value == "tmpfs" and isinstance(target, yaml.ScalarNode):
                out[target.value.rstrip("/")] = item
    return out


def _merge_sources(root: yaml.Node) -> tuple[dict[int, list[set[str]]], dict[int, set[str]]]:
    """For each mapping merged into others (the values of `<<` keys), by id: the keys each of
    those sets itself.  A key one of them does not set is taken from the merged mapping, now or
    once a fix adds it there (precedence between several merged mappings is ignored).  Second:
    the same sets by the id of the mapping that merges."""
    out: dict[int, list[set[str]]] = {}
    owns: dict[int, set[str]] = {}
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
            continue
        own = {k.value for k, _ in node.value if k.tag != MERGE_TAG and isinstance(k, yaml.ScalarNode)}
        owns[id(node)] = own
        for knode, vnode in node.value:
            if knode.tag == MERGE_TAG:
                for source in vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]:
                    if isinstance(source, yaml.MappingNode):
                        out.setdefault(id(source), []).append(own)
            stack.append(vnode)
    return out, owns


def _inherits(node: yaml.MappingNode, key: str) -> bool:
    """Whether a merge key (`<<`) of *node* provides *key*."""
    merges = [(k, v) for k, v in node.value if k.tag == MERGE_TAG]
    return merged_get(yaml.MappingNode(node.tag, merges, node.start_mark, node.end_mark), key) is not None


def _inherited_copy(node: yaml.MappingNode, key: str) -> list:
    """A service's `tmpfs:` or `volumes:` that comes from a merge key, as a list of plain values."""
    value = yaml.constructor.SafeConstructor().construct_document(copy.deepcopy(merged_get(node, key)))
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _tmpfs_path(entry: object) -> str:
    return str(entry).split(":", 1)[0].rstrip("/")


def _long_tmpfs_target(item: object) -> str | None:
    if isinstance(item, dict) and item.get("type") == "tmpfs" and isinstance(item.get("target"), str):
        return item["target"].rstrip("/")
    return None


def _item_target(item: object) -> str | None:
    """The target of a `volumes:` item (a plain value): `[SOURCE:]TARGET[:MODE]` or a mapping."""
    if isinstance(item, dict):
        target = item.get("target")
        return target.rstrip("/") if isinstance(target, str) else None
    if not isinstance(item, str):
        return None
    return volume_target(item).rstrip("/")


def _volume_items(volumes: yaml.Node | None) -> dict[str, yaml.Node]:
    """Items of a service's `volumes:` value, by target."""
    out = {}
    for item in getattr(volumes, "value", []) or []:
        if isinstance(item, yaml.ScalarNode):
            target = _item_target(item.value)
        elif isinstance(item, yaml.MappingNode):
            target_node = get(item, "target")
            target = target_node.value.rstrip("/") if isinstance(target_node, yaml.ScalarNode) else None
        else:
            continue
        if target:
            out[target] = item
    return out


def _seq_offset(text: str, services: yaml.MappingNode) -> int:
    for _, service in services.value:
        if not isinstance(service, yaml.MappingNode):
            continue
        for knode, vnode in service.value:
            if isinstance(vnode, yaml.SequenceNode) and vnode.value and not is_flow(vnode):
                return max(dash_column(text, vnode.value[0]) - knode.start_mark.column, 0)
    return 2


