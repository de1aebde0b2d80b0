"""PyYAML composed nodes: the one set of helpers the readers and the fixers share.

rofs composes YAML (:data:`Loader`) and never constructs it: nodes keep their line and
column, tags are not resolved into Python values, and a fixer can splice text at the
positions the reader reported.  These helpers read such nodes.

Semantics, the same for every caller:

* **Absent is null.**  :func:`is_null` is true for ``None`` (a key that is not there) and for
  a null scalar (``~``, ``null``, nothing after the colon); a quoted ``"null"`` is a string.
* **Own keys, first one wins.**  :func:`get` and :func:`key_node` look at the mapping's own
  pairs only; a ``<<`` merge key is an ordinary key to them.  A key written twice (YAML forbids
  it; Kubernetes and Compose reject such files) is refused by the readers (:func:`duplicate_key`);
  these helpers read the last, as YAML loaders do.  This is what the Kubernetes reader and the
  text editor need: an edit goes where the key is written.
* **Merged keys, for Compose.**  :func:`merged_pairs`, :func:`merged_get` and
  :func:`merged_key_node` apply ``<<`` merges as the YAML merge-key spec and Compose have
  them: the mapping's own keys win, then the merged mappings in the order written (the first
  that has a key wins), recursively.  A merge of anything but a mapping (or a list of
  mappings) raises :class:`ShapeError`.
* **Strict or lenient values.**  The ``as_*`` accessors return ``None`` (or ``()``/``[]``) for
  a null or absent value and raise :class:`ShapeError` when the node has another shape than
  asked for; :func:`scalar_text` never raises (``None`` for anything but a non-null scalar),
  for code that only looks (a fixer finding names, a sniffer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from rofs.model import Location
from rofs.sources.interface import ReadError

if TYPE_CHECKING:
    from typing_extensions import TypeIs

# The C composer when PyYAML has libyaml; the pure-Python one gives the same nodes, slower.
Loader: type[yaml.SafeLoader | yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MERGE_TAG = "tag:yaml.org,2002:merge"
HELM_HINT = "this looks like an unrendered Helm template ({{ ... }}): render it with `helm template` first"
MAX_MERGE_DEPTH = 20  # merges of merges followed this deep (an alias cycle stops here)

Pair = tuple[yaml.Node, yaml.Node]


class ShapeError(Exception):
    """A value of the wrong type where a mapping, list or scalar is needed; *node* is where."""

    def __init__(self, node: yaml.Node, message: str):
        self.node = node
        if looks_like_template(node):
            message += f"; {HELM_HINT}"
        super().__init__(message)


def looks_like_template(node: yaml.Node) -> bool:
    """``{{ .Values.x }}`` read as YAML: a flow mapping whose only key is a flow mapping."""
    return (
        isinstance(node, yaml.MappingNode)
        and node.flow_style is True
        and len(node.value) == 1
        and isinstance(node.value[0][0], yaml.MappingNode)
    )


def yaml_error(path: str, exc: yaml.YAMLError, text: str = "") -> ReadError:
    """A parse error as a ReadError: the line, the problem, and the Helm hint when *text* has ``{{``."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    if "{{" in text:
        message += f"; {HELM_HINT}"
    return ReadError(path, line, message)


# --- descriptions --------------------------------------------------------------------------


def location(path: str, node: yaml.Node) -> Location:
    """Where *node* is written: 1-based line and column of its start and of its end.  A node read
    from another file than *path* (a Compose base, see rofs.sources.compose_project) names it
    in its mark; the parser names text it was given ``<unicode string>``."""
    start, end = node.start_mark, node.end_mark
    name = start.name
    if name and name[0] != "<":
        path = name
    return Location(path, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def describe(node: yaml.Node) -> str:
    """What a node is, for a message: ``mapping``, ``list``, ``value ('x')`` (short values quoted)."""
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    if isinstance(node, yaml.SequenceNode):
        return "list"
    return f"value ({node.value!r})" if len(node.value) < 40 else "value"


# --- keys -------------------------------------------------------------------------------


def duplicate_key(node: yaml.Node) -> tuple[yaml.Node, yaml.Node] | None:
    """The first key written twice in one mapping anywhere in *node* (the second and the first
    key node), or None.  YAML forbids it and Kubernetes and Compose refuse such files, while the
    composer keeps both: a reader that took one of them would audit what the platform refuses.
    A ``<<`` merge key may repeat.  Each node is visited once, however many aliases name it."""
    seen_nodes: set[int] = set()
    todo = [node]
    while todo:
        current = todo.pop()
        if id(current) in seen_nodes:
            continue
        seen_nodes.add(id(current))
        if isinstance(current, yaml.MappingNode):
            keys: dict[str, yaml.Node] = {}
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != MERGE_TAG:
                    first = keys.setdefault(key.value, key)
                    if first is not key:
                        return key, first
                if not isinstance(value, yaml.ScalarNode):
                    todo.append(value)
        elif isinstance(current, yaml.SequenceNode):
            todo.extend(item for item in current.value if not isinstance(item, yaml.ScalarNode))
    return None


def duplicate_key_error(path: str, node: yaml.Node, refused_by: str) -> ReadError | None:
    """A ReadError at the second of a key written twice in *node* (*refused_by*: who refuses such
    a file, for the message), or None."""
    found = duplicate_key(node)
    if found is None:
        return None
    second, first = found
    return ReadError(path, second.start_mark.line + 1,
                     f"key {second.value!r} is written twice in one mapping (first at line {first.start_mark.line + 1}):"
                     f" {refused_by} such a file; keep one")




def is_null(node: yaml.Node | None) -> TypeIs[yaml.ScalarNode | None]:
    """True for an absent value (``None``) and a null scalar (``~``, ``null``, empty).

    (For the type checker: when false, *node* is a node.)"""
    return node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"))


def key_text(node: yaml.Node) -> str | None:
    """The text of a mapping key; None for a key that is a collection."""
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _own_pair(node: yaml.Node | None, key: str) -> Pair | None:
    if isinstance(node, yaml.MappingNode):
        for pair in reversed(node.value):  # a key written twice: the last, as every YAML loader keeps
            if isinstance(pair[0], yaml.ScalarNode) and pair[0].value == key:
                return pair
    return None


def get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value of *key* among the mapping's own keys (the last, if written twice); None when
    *node* is not a mapping or has no such key.  ``<<`` merges are not followed."""
    pair = _own_pair(node, key)
    return pair[1] if pair is not None else None


def key_node(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The key node of *key* (as :func:`get` finds it): where the key is written."""
    pair = _own_pair(node, key)
    return pair[0] if pair is not None else None


def merged_pairs(node: yaml.Node | None, depth: int = 0) -> list[Pair]:
    """Key/value pairs of a mapping with ``<<`` merges applied: the merged keys (the first merged
    mapping that has a key wins), then the mapping's own keys, which win over merged ones.

    [] for anything but a mapping.  Raises ShapeError for a merge of a scalar.
    """
    if not isinstance(node, yaml.MappingNode) or depth > MAX_MERGE_DEPTH:
        return []
    done = getattr(node, "_rofs_merged", None)
    if done is not None and done[0] == len(node.value):
        return done[1]  # an alias merged many times is expanded once (else `<<` of `<<` is exponential)
    if not any(k.tag == MERGE_TAG for k, _ in node.value):
        return list(node.value)
    pairs = _merge_pairs(node, depth)
    node._rofs_merged = (len(node.value), pairs)  # type: ignore[attr-defined]
    return pairs


def _merge_pairs(node: yaml.MappingNode, depth: int) -> list[Pair]:
    own: list[Pair] = []
    merged: list[Pair] = []
    for knode, vnode in node.value:
        if knode.tag == MERGE_TAG:
            sources = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise ShapeError(source, "a merge key (<<) needs a mapping or a list of mappings")
                merged.extend(merged_pairs(source, depth + 1))
        else:
            own.append((knode, vnode))
    if not merged:
        return own
    seen = {key_text(k) for k, _ in own}
    inherited = []
    for knode, vnode in merged:
        key = key_text(knode)
        if key not in seen:
            seen.add(key)
            inherited.append((knode, vnode))
    return inherited + own


def _merged_pair(node: yaml.Node | None, key: str) -> Pair | None:
    for pair in reversed(merged_pairs(node)):  # own keys (the last of a repeated one), then merged
        if key_text(pair[0]) == key:
            return pair
    return None


def merged_get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value of *key* with ``<<`` merges applied (see :func:`merged_pairs`)."""
    pair = _merged_pair(node, key)
    return pair[1] if pair is not None else None


def merged_key_node(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The key node of *key* with merges applied: in the merged mapping when it comes from there."""
    pair = _merged_pair(node, key)
    return pair[0] if pair is not None else None


def shared_nodes(root: yaml.Node) -> set[int]:
    """Ids of the collections reachable more than once (an anchor and its aliases)."""
    seen: set[int] = set()
    shared: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            continue
        if id(node) in seen:
            shared.add(id(node))
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(v for _, v in node.value)
        else:
            stack.extend(node.value)
    return shared


# --- values -----------------------------------------------------------------------------


def scalar_text(node: yaml.Node | None) -> str | None:
    """The text of a non-null scalar; None for anything else.  Never raises."""
    if isinstance(node, yaml.ScalarNode) and not is_null(node):
        return node.value
    return None


def as_scalar(node: yaml.Node | None) -> str | None:
    """The text of a scalar; None when null or absent.  Raises ShapeError for a collection."""
    if is_null(node):
        return None
    if not isinstance(node, yaml.ScalarNode):
        raise ShapeError(node, "expected a single value, found a " + describe(node))
    return node.value


def as_bool(node: yaml.Node | None) -> bool | None:
    """A YAML boolean, any case: ``true``/``yes``/``on``, ``false``/``no``/``off``; None when null.
    Raises ShapeError for any other value."""
    value = as_scalar(node)
    if node is None or value is None:
        return None
    low = value.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    raise ShapeError(node, f"expected true or false, found {value!r}")


def as_int(node: yaml.Node | None) -> int | None:
    """An integer (decimal, ``0x`` hex, ``0o`` octal); None when null.  Raises ShapeError otherwise."""
    value = as_scalar(node)
    if node is None or value is None:
        return None
    try:
        return int(value, 0) if value.lower().startswith(("0x", "0o")) else int(value)
    except ValueError:
        raise ShapeError(node, f"expected a number, found {value!r}") from None


def as_map(node: yaml.Node | None, what: str) -> yaml.MappingNode | None:
    """*node* as a mapping; None when null or absent.  Raises ShapeError naming *what* otherwise."""
    if is_null(node):
        return None
    if not isinstance(node, yaml.MappingNode):
        raise ShapeError(node, f"{what} should be a mapping, found a {describe(node)}")
    return node


def expect_map(node: yaml.Node, what: str) -> yaml.MappingNode:
    """*node* (a list item, say) as a mapping; raises ShapeError naming *what* for anything else,
    a null included: an item that is there must be a mapping."""
    if not isinstance(node, yaml.MappingNode):
        raise ShapeError(node, f"{what} should be a mapping, found a {describe(node)}")
    return node


def as_seq(node: yaml.Node | None, what: str) -> list[yaml.Node]:
    """The items of a list; [] when null or absent.  Raises ShapeError naming *what* otherwise."""
    if is_null(node):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise ShapeError(node, f"{what} should be a list, found a {describe(node)}")
    return node.value


def as_strings(node: yaml.Node | None, what: str) -> tuple[str, ...] | None:
    """A list of strings (a null item reads as ``""``); None when the list is null or absent."""
    if is_null(node):
        return None
    return tuple(as_scalar(item) or "" for item in as_seq(node, what))


# --- Compose short syntax ----------------------------------------------------------------


def split_colons(text: str) -> list[str]:
    """Split on ``:`` but not inside ``${...}`` (``${DATA:-./data}:/data``) nor after a drive
    letter (``C:\\data:/data``)."""
    parts: list[str] = []
    buf: list[str] = []
    depth = 0
    i = 0
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            buf.append("${")
            i += 2
            continue
        char = text[i]
        if char == "}" and depth:
            depth -= 1
        elif char == ":" and not depth:
            parts.append("".join(buf))
            buf = []
            i += 1
            continue
        buf.append(char)
        i += 1
    parts.append("".join(buf))
    if len(parts) > 1 and len(parts[0]) == 1 and parts[0].isalpha() and parts[1][:1] in ("\\", "/"):
        parts[:2] = [parts[0] + ":" + parts[1]]  # C:\data
    return parts


__all__ = [
    "HELM_HINT",
    "MERGE_TAG",
    "Loader",
    "Pair",
    "ShapeError",
    "as_bool",
    "as_int",
    "as_map",
    "as_scalar",
    "as_seq",
    "as_strings",
    "describe",
    "expect_map",
    "get",
    "is_null",
    "key_node",
    "key_text",
    "location",
    "looks_like_template",
    "merged_get",
    "merged_key_node",
    "merged_pairs",
    "scalar_text",
    "shared_nodes",
    "split_colons",
    "yaml_error",
]
