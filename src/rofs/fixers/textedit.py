"""Text edits at node positions: how fixers change a file without re-writing it.

A round-trip dump re-formats whole files (indentation, flow style, line width); rofs
instead splices new text in at the positions PyYAML's composer reports, so every line
the fix did not need stays byte for byte as it was: comments, quoting, key order,
document separators, line endings.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache

import yaml


@dataclass(frozen=True, order=True)
class TextEdit:
    start: int  # character offset in the original text
    end: int  # end offset (== start for an insertion)
    new: str
    order: int = 0  # for several insertions at one offset: lower first


class EditConflict(ValueError):
    pass


def apply(text: str, edits: list[TextEdit]) -> str:
    """Apply non-overlapping edits (insertions at the same offset keep their order)."""
    ordered = sorted(edits, key=lambda e: (e.start, e.end, e.order))
    out = []
    pos = 0
    for edit in ordered:
        if edit.start < pos:
            raise EditConflict(f"overlapping edits at offset {edit.start}")
        out.append(text[pos:edit.start])
        out.append(edit.new)
        pos = edit.end
    out.append(text[pos:])
    return "".join(out)


class Lines:
    """Line arithmetic over a text (0-based lines, offsets of line starts)."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self.starts.append(i + 1)
        self.newline = "\r\n" if "\r\n" in text else "\n"

    def start_of(self, line: int) -> int:
        """Offset where *line* starts; past the end: the end of the text."""
        if line < len(self.starts):
            return self.starts[line]
        return len(self.text)

    def after(self, line: int) -> tuple[int, str]:
        """Where to insert whole lines after *line*, and a prefix needed when the text lacks a final newline."""
        offset = self.start_of(line + 1)
        if line + 1 >= len(self.starts) and not self.text.endswith("\n"):
            return len(self.text), self.newline
        return offset, ""

    def is_comment(self, line: int) -> bool:
        """Whether *line* holds a comment and nothing else."""
        return line < len(self.starts) and self.line_text(line).lstrip().startswith("#")

    def comments_after(self, line: int, column: int) -> int:
        """The last line of the comment lines right after *line* indented deeper than *column*:
        they belong to what ends at *line* (a commented-out entry), so new lines go after them."""
        while self.is_comment(line + 1):
            text = self.line_text(line + 1)
            if len(text) - len(text.lstrip()) <= column:
                break
            line += 1
        return line

    def line_text(self, line: int) -> str:
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        return self.text[self.starts[line]:end].rstrip("\r")


def last_line(node: yaml.Node) -> int:
    """0-based line of the last character that belongs to *node*."""
    if isinstance(node, yaml.ScalarNode):
        end = node.end_mark
        if node.style in ("|", ">") and end.column == 0:
            return end.line - 1
        return end.line
    if getattr(node, "flow_style", False):
        return node.end_mark.line
    if isinstance(node, yaml.MappingNode) and node.value:
        key, value = node.value[-1]
        return max(last_line(key), last_line(value))
    if isinstance(node, yaml.SequenceNode) and node.value:
        return last_line(node.value[-1])
    return node.end_mark.line


def dash_column(text: str, item: yaml.Node) -> int:
    """Column of the ``-`` that introduces a block sequence item."""
    i = item.start_mark.index - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    if i >= 0 and text[i] == "-":
        line_start = text.rfind("\n", 0, i) + 1
        return i - line_start
    return max(item.start_mark.column - 2, 0)


def is_flow(node: yaml.Node) -> bool:
    return bool(getattr(node, "flow_style", False))


def scalar_text(value: object) -> str:
    """A scalar as YAML text, quoted only when it must be."""
    try:
        return _scalar_text_cached(value)
    except TypeError:  # not hashable
        return _scalar_text(value)


@lru_cache(maxsize=8192, typed=True)  # typed: True and 1 are different scalars
def _scalar_text_cached(value: object) -> str:
    # The same names, paths and sizes come back in every workload of a long stream; the
    # emitter behind them costs ~70 us a call (a third of a long fix).
    return _scalar_text(value)


def _scalar_text(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    if text.endswith(("\n...", "...")):
        text = text.rsplit("\n", 1)[0].strip()
    return text


def render_block(obj: object, indent: int, seq_offset: int = 2, newline: str = "\n") -> str:
    """Render a dict/list as block YAML lines at column *indent*.

    Lists are indented *seq_offset* columns under their key (0 or 2, to match the file).
    """
    lines: list[str] = []

    def emit(value: object, col: int, first_prefix: str | None = None) -> None:
        if isinstance(value, dict):
            for i, (key, item) in enumerate(value.items()):
                prefix = first_prefix if (i == 0 and first_prefix is not None) else " " * col
                key_text = scalar_text(key)
                if isinstance(item, dict) and item:
                    lines.append(f"{prefix}{key_text}:")
                    emit(item, col + 2)
                elif isinstance(item, list) and item:
                    lines.append(f"{prefix}{key_text}:")
                    emit(item, col + seq_offset)
                else:
                    lines.append(f"{prefix}{key_text}: {_flow(item)}")
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and item:
                    emit(item, col + 2, first_prefix=" " * col + "- ")
                else:
                    lines.append(" " * col + "- " + _flow(item))
        else:  # pragma: no cover - callers pass containers
            lines.append(" " * col + _flow(value))

    emit(obj, indent)
    return "".join(line + newline for line in lines)


# Set while a JSON file is fixed: what is spliced into it must be JSON too.
JSON_STYLE: ContextVar[bool] = ContextVar("JSON_STYLE", default=False)


def _flow(value: object) -> str:
    if JSON_STYLE.get():
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow_scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _flow_scalar(value)


def _flow_scalar(value: object) -> str:
    text = scalar_text(value)
    if isinstance(value, str) and text[:1] not in ("'", '"') and any(c in text for c in ",[]{}"):
        return json.dumps(value)  # plain at the top level, but not inside [ ] or { }
    return text


def flow(value: object) -> str:
    return _flow(value)
