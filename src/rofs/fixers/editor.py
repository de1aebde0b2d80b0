"""Structural edits on a YAML text, expressed at composed-node positions.

Fixers say what they want ("add these keys to this mapping", "append these items to
that list", "set this scalar") and the editor turns it into text splices that follow
the file's own layout: block or flow style, the indentation of sibling keys, whether
lists sit under their key or are indented, the file's line endings.
"""

from __future__ import annotations

from typing import Any

import yaml

from rofs.fixers.textedit import Lines, TextEdit, dash_column, flow, is_flow, last_line, render_block
from rofs.yamlnode import get, is_null, key_node


class Editor:
    def __init__(self, text: str, seq_offset: int = 2):
        self.text = text
        self.lines = Lines(text)
        self.nl = self.lines.newline
        self.seq_offset = seq_offset
        self.edits: list[TextEdit] = []
        self._map_adds: dict[int, tuple[yaml.MappingNode, dict]] = {}
        self._seq_adds: dict[int, tuple[yaml.SequenceNode, list]] = {}
        self._appended_docs: list[dict] = []
        self._removed: dict[int, int] = {}  # items removed per sequence (flow lists: comma handling)
        self._order = 0

    # --- primitive splices ------------------------------------------------------------

    def _edit(self, start: int, end: int, new: str, column: int = 0) -> None:
        """Several insertions at one offset go deepest first: text for a nested list must come
        before the text that continues its parent (a new key of the enclosing mapping)."""
        self._order += 1
        self.edits.append(TextEdit(start, end, new, (10_000 - column) * 100_000 + self._order))

    def replace_span(self, start: int, end: int, new: str) -> None:
        """Replace the text from offset *start* to *end* (what no node covers: an alias's ``*name``)."""
        self._edit(start, end, new)

    def replace(self, node: yaml.Node, new: str) -> None:
        self._edit(node.start_mark.index, node.end_mark.index, new)

    def source(self, node: yaml.Node) -> str:
        return self.text[node.start_mark.index:node.end_mark.index]

    def delete_lines(self, first: int, last: int, *nodes: yaml.Node) -> None:
        """Delete lines *first* to *last*, except the comment lines among them: a comment is the
        author's and stays where it was (the lines of a block scalar in *nodes* are text, not
        comments, and go)."""
        text_lines = _scalar_lines(nodes)
        kept = [n for n in range(first, last + 1) if n not in text_lines and self.lines.is_comment(n)]
        start = first
        for line in [*kept, last + 1]:
            if line > start:
                self._edit(self.lines.start_of(start), self.lines.start_of(line), "")
            start = line + 1

    # --- structural operations ------------------------------------------------------

    def add_keys(self, mapping: yaml.MappingNode, items: dict) -> None:
        """Add key/value pairs at the end of a mapping (several calls merge)."""
        if id(mapping) in self._map_adds:
            self._map_adds[id(mapping)][1].update(items)
        else:
            self._map_adds[id(mapping)] = (mapping, dict(items))

    def append_items(self, seq: yaml.SequenceNode, items: list) -> None:
        if id(seq) in self._seq_adds:
            self._seq_adds[id(seq)][1].extend(items)
        else:
            self._seq_adds[id(seq)] = (seq, list(items))

    def set_value(self, mapping: yaml.MappingNode, path: list[str], value: Any) -> None:
        """Set ``mapping[path...] = value``, creating the mappings on the way."""
        key = path[0]
        child = get(mapping, key)
        if len(path) == 1:
            if child is None:
                self.add_keys(mapping, {key: value})
            else:
                self.replace_value(mapping, key, value)
            return
        if child is None:
            self.add_keys(mapping, {key: _nest(path[1:], value)})
        elif isinstance(child, yaml.MappingNode):
            self.set_value(child, path[1:], value)
        else:
            self.replace_value(mapping, key, _nest(path[1:], value))

    def replace_value(self, mapping: yaml.MappingNode, key: str, value: Any) -> None:
        """Replace the value of an existing key (scalar, null, or a whole collection) in flow style."""
        knode = key_node(mapping, key)
        vnode = get(mapping, key)
        assert knode is not None and vnode is not None
        text = flow(value)
        if isinstance(vnode, yaml.ScalarNode) and vnode.value == "" and not vnode.style:  # None (Python loader) or "" (C loader): plain
            # `key:` with nothing after it: the null has no text of its own.
            colon = self.text.index(":", knode.end_mark.index)
            self._edit(colon + 1, colon + 1, " " + text, column=10_000)  # before anything else added there
        else:
            self.replace(vnode, text)

    def extend_list(self, mapping: yaml.MappingNode, key: str, items: list) -> None:
        """Append to ``mapping[key]`` (a list), creating the key when absent."""
        child = get(mapping, key)
        if child is None:
            self.add_keys(mapping, {key: items})
        elif isinstance(child, yaml.SequenceNode):
            self.append_items(child, items)
        elif is_null(child):
            self.replace_value(mapping, key, items)
        else:
            raise ValueError(f"{key} is not a list")

    def delete_key(self, mapping: yaml.MappingNode, key: str) -> bool:
        """Remove a key.  False when it is the mapping's only key (the caller removes the mapping)."""
        if len(mapping.value) == 1:
            return False
        pairs = mapping.value
        if is_flow(mapping):
            # Cut just this pair and one separating comma, so edits elsewhere in the mapping stay valid.
            i = next(n for n, (k, _) in enumerate(pairs) if k.value == key)
            if i + 1 < len(pairs):
                self._edit(pairs[i][0].start_mark.index, pairs[i + 1][0].start_mark.index, "")
            else:
                self._edit(pairs[i - 1][1].end_mark.index, pairs[i][1].end_mark.index, "")
            return True
        i = next(n for n, (k, _) in enumerate(pairs) if k.value == key)
        knode, vnode = pairs[i]
        if i == 0 and self._shares_line_with_dash(knode):
            # `- emptyDir: {}` then `  name: x`: pull the next key up onto the dash's line.
            self._edit(knode.start_mark.index, pairs[1][0].start_mark.index, "")
        else:
            self.delete_lines(knode.start_mark.line, last_line(vnode), vnode)
        return True

    def remove_item(self, seq: yaml.SequenceNode, item: yaml.Node) -> None:
        """Remove one item of a list; in a flow list only its text and one separating comma."""
        items = seq.value
        i = next(n for n, node in enumerate(items) if node is item)
        self._removed[id(seq)] = self._removed.get(id(seq), 0) + 1
        if not is_flow(seq):
            self.delete_lines(item.start_mark.line, last_line(item), item)
        elif i + 1 < len(items):
            self._edit(item.start_mark.index, items[i + 1].start_mark.index, "")
        elif i > 0:
            self._edit(items[i - 1].end_mark.index, item.end_mark.index, "")
        else:
            self._edit(item.start_mark.index, item.end_mark.index, "")

    def delete_pair(self, mapping: yaml.MappingNode, key: str) -> None:
        """Remove *key* from *mapping* (its lines), whatever its position."""
        if not self.delete_key(mapping, key):
            knode, vnode = key_node(mapping, key), get(mapping, key)
            if knode is None or vnode is None:
                raise KeyError(key)
            self.delete_lines(knode.start_mark.line, last_line(vnode), vnode)

    def _shares_line_with_dash(self, knode: yaml.Node) -> bool:
        line_start = self.lines.start_of(knode.start_mark.line)
        return self.text[line_start:knode.start_mark.index].strip().startswith("-")

    def delete_pair_lines(self, knode: yaml.Node, vnode: yaml.Node) -> None:
        self.delete_lines(knode.start_mark.line, last_line(vnode), vnode)

    def append_document(self, doc: dict) -> None:
        self._appended_docs.append(doc)

    # --- output ---------------------------------------------------------------------

    def finish(self, append: bool = True) -> list[TextEdit]:
        """The edits; with *append* False, new documents are left for ``appended_text`` (a
        stream fixed piece by piece gets them once, at its very end)."""
        for mapping, pairs in self._map_adds.values():
            self._emit_map_add(mapping, pairs)
        for seq, items in self._seq_adds.values():
            self._emit_seq_add(seq, items)
        if self._appended_docs and append:
            tail = "" if self.text.endswith("\n") or not self.text else self.nl
            self._edit(len(self.text), len(self.text), tail + self.appended_text(), column=-1)
        return self.edits

    @property
    def appended_docs(self) -> list[dict]:
        """The documents to add after the file (claims), as data."""
        return list(self._appended_docs)

    def appended_text(self) -> str:
        """The documents to add after the file, as text (each starting with ``---``)."""
        return "".join("---" + self.nl + render_block(doc, 0, self.seq_offset, self.nl) for doc in self._appended_docs)

    def flow_separator(self, end: int, has_items: bool) -> str:
        """What goes before a new entry added at *end* (a flow collection's closing bracket): a
        comma, unless the collection is empty or already ends with one (``{a: 1, }``)."""
        if not has_items or self.text[:end].rstrip().endswith(","):
            return " " if has_items and not self.text[:end].endswith((" ", "\n")) else ""
        return ", "

    def _emit_map_add(self, mapping: yaml.MappingNode, items: dict) -> None:
        if is_flow(mapping):
            end = mapping.end_mark.index - 1  # the closing brace
            body = ", ".join(f"{flow(k)}: {flow(v)}" for k, v in items.items())
            self._edit(end, end, self.flow_separator(end, bool(mapping.value)) + body)
            return
        column = mapping.value[0][0].start_mark.column
        offset, prefix = self.lines.after(self.lines.comments_after(last_line(mapping), column))
        self._edit(offset, offset, prefix + render_block(items, column, self.seq_offset, self.nl), column)

    def _emit_seq_add(self, seq: yaml.SequenceNode, items: list) -> None:
        if is_flow(seq):
            end = seq.end_mark.index - 1  # the closing bracket
            body = ", ".join(flow(v) for v in items)
            remaining = len(seq.value) - self._removed.get(id(seq), 0)
            self._edit(end, end, self.flow_separator(end, remaining > 0) + body)
            return
        column = dash_column(self.text, seq.value[0])
        offset, prefix = self.lines.after(self.lines.comments_after(last_line(seq), column))
        # +1: a list's items sit deeper than a sibling key at the dash's column
        self._edit(offset, offset, prefix + render_block(items, column, self.seq_offset, self.nl), column + 1)


def _scalar_lines(nodes: tuple[yaml.Node, ...]) -> set[int]:
    """The lines inside multi-line scalars of *nodes*: text there that starts with # is not a comment."""
    out: set[int] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.end_mark.line > node.start_mark.line:
                out.update(range(node.start_mark.line, node.end_mark.line + 1))
        elif isinstance(node, yaml.MappingNode):
            stack.extend(x for pair in node.value for x in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return out


def _nest(path: list[str], value: Any) -> Any:
    for key in reversed(path):
        value = {key: value}
    return value


def seq_offset_of(text: str, mapping: yaml.MappingNode | None, key: str = "containers") -> int:
    """How far this file indents list items under their key (0 or 2, usually)."""
    knode, vnode = key_node(mapping, key), get(mapping, key)
    if knode is None or not isinstance(vnode, yaml.SequenceNode) or not vnode.value or is_flow(vnode):
        return 2
    return max(dash_column(text, vnode.value[0]) - knode.start_mark.column, 0)
