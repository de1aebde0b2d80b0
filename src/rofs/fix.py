"""``rofs fix``: rewrite Kubernetes and Compose files so each container is read-only *and* runs.

For each file: read it, find what the fixable rules flag, turn that into text edits, apply
them, and check the result before anything is written: it must parse, and re-auditing it
must find none of the fixed findings.  Files are replaced atomically (temp file in the
same directory, fsync, rename), keeping their mode; a file that cannot be fully parsed is
never touched.
"""

from __future__ import annotations

import difflib
import io
import json
import os
import shutil
import tempfile
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from rofs.checks import active
from rofs.files import ConcurrentChange, Replacement, write_atomic
from rofs.files import stamp as file_stamp
from rofs.fixers.kubernetes import KubernetesFixer, existing_claims
from rofs.fixers.textedit import JSON_STYLE, EditConflict, apply
from rofs.intake import STDIN, Inputs, Taken, detect, take, text_reader, unreadable_text
from rofs.model import Finding, SourceFormat
from rofs.profiles import ProfileRegistry
from rofs.rules import RULES, Context, fixable
from rofs.rules.common import UNKNOWN_LEAVE
from rofs.sources.interface import ReadError, ReadFailed, comment_pragmas
from rofs.sources.kubernetes import ShapeError, yaml_error
from rofs.stream import chunks, gc_paused
from rofs.yamlnode import Loader

# The rules whose remedies `rofs fix` writes (the rules' metadata says which); the others' remedies
# are suggestions, shown for Dockerfiles by `rofs fix --diff`.
FIXABLE = frozenset(fixable())
ALL_RULES = frozenset(RULES)


@dataclass
class FileFix:
    path: str
    original: str = ""
    fixed: str = ""
    format: SourceFormat | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    suggested: str | None = None  # Dockerfiles: the fix plus what only the author can decide
    stamp: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) when read: to detect a concurrent change
    applied: list[Finding] = field(default_factory=list)  # the findings this fix resolves (as the audit words them)
    unprofiled: Counter[str] = field(default_factory=Counter)  # images left as they are, no profile: containers
    includes: list[str] = field(default_factory=list)  # the files a Compose `include:` names: fixed next
    absolute: bool = field(default_factory=lambda: ABSOLUTE_NAMES.get())  # its diff names files absolutely

    @property
    def changed(self) -> bool:
        return self.error is None and self.fixed != self.original

    def diff(self, suggested: bool = False) -> str:
        """The fix as a unified diff; with *suggested*, then what only the author can decide, as
        a second diff from the fixed text (so a change the fix makes is never labelled a suggestion)."""
        old, new = _diff_names(self.path, self.absolute)
        text = _unified(self.original, self.fixed, old, new) if self.changed else ""
        if suggested and self.suggested is not None and self.suggested != self.fixed:
            # commented out, so patch and git apply take only the fix; review it, then edit by hand
            more = _unified(self.fixed, self.suggested, new if self.changed else old, new)
            text += f"# {self.path}: suggested, not applied (what only you can decide; edit it in by hand):\n"
            text += "".join(f"# {line}\n" for line in more.splitlines())
        return text

    @property
    def has_suggestions(self) -> bool:
        return self.suggested is not None and self.suggested != self.fixed

    # Output: the command writes through these, so a file fixed piece by piece (StreamedFix)
    # goes out the same way without ever being held in memory.

    def write_diff(self, out: TextIO, suggested: bool = False) -> None:
        out.write(self.diff(suggested))

    def write_fixed(self, out: TextIO) -> None:
        out.write(self.fixed if self.error is None else self.original)

    def save(self) -> None:
        """Replace the file with the fixed text, atomically (ConcurrentChange if it changed meanwhile)."""
        write_atomic(self.path, self.fixed, expect=self.stamp)

    def discard(self) -> None:
        """Drop what was prepared and not saved."""


def _unified(before: str, after: str, old: str, new: str) -> str:
    """A unified diff that patch and git apply take: a last line without a newline is marked so."""
    out = []
    for line in difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True), old, new):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _diff_names(name: str, absolute: bool = False) -> tuple[str, str]:
    """The ---/+++ names of a file's diff, as git writes them: a/ and b/ before a relative path
    (normalised: ``./x`` is ``x``), a tab after a name with a space, C quotes around one with a
    quote, a backslash or a control character (patch and git apply read all three)."""
    if name == "<stdin>":
        return name, name
    if absolute or outside(name):  # patch and git apply refuse `a/../x` (see ABSOLUTE_HINT)
        return _quoted(os.path.abspath(name)), _quoted(os.path.abspath(name))
    path = os.path.normpath(name)
    return _quoted(f"a/{path}"), _quoted(f"b/{path}")


# Set for a run that names a file outside the current directory: then every file of its diff is
# named by its absolute path, so one command applies the whole diff.
ABSOLUTE_NAMES: ContextVar[bool] = ContextVar("ABSOLUTE_NAMES", default=False)


def outside(name: str) -> bool:
    """Is *name* absolute, or above the current directory?  A diff names such a file by its
    absolute path."""
    path = os.path.normpath(name)
    return os.path.isabs(path) or path == ".." or path.startswith("../")


ABSOLUTE_HINT = ("the diff names {what} by absolute path (named so, or above the current directory, where"
                 " patch and git apply refuse a relative name): apply it with `patch -p1 -d / < FILE` or"
                 " `git apply --unsafe-paths -p0 FILE`")


def _quoted(name: str) -> str:
    if any(c in name for c in '"\\') or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        named = {"\n": "\\n", "\t": "\\t", '"': '\\"', "\\": "\\\\"}
        return '"' + "".join(named.get(c) or (f"\\{ord(c):03o}" if ord(c) < 0x20 or ord(c) == 0x7F else c)
                             for c in name) + '"'
    return name + "\t" if " " in name else name


def fix_text(text: str, path: str, registry: ProfileRegistry, selected: set[str],
             unknown_images: str = UNKNOWN_LEAVE) -> FileFix:
    """Fix one file's text (nothing is written here).  *unknown_images*: what to do with images
    that have no profile (see rofs.rules.common.UNKNOWN_IMAGES)."""
    return _fix_text_in(text, path, Context(registry, unknown_images), selected)


def _fix_text_in(text: str, path: str, ctx: Context, selected: set[str]) -> FileFix:
    with gc_paused():
        return _fix_text(text, path, ctx, selected)


def _fix_text(text: str, path: str, ctx: Context, selected: set[str]) -> FileFix:
    result = FileFix(path=path, original=text, fixed=text)
    body = text.removeprefix("\ufeff")
    bom = text[: len(text) - len(body)]
    if text_reader(os.path.basename(path), body) is not None:
        return _fix_dockerfile(result, body, bom, ctx, selected)
    try:
        documents = [d for d in yaml.compose_all(body, Loader=Loader) if d is not None]
    except yaml.YAMLError as exc:
        result.error = str(yaml_error(path, exc, body))
        return result
    kind = detect(documents, os.path.basename(path))
    result.format = kind
    if kind is None:
        return result
    pragmas = comment_pragmas(body, path)
    as_json = _json_text(body)
    style = JSON_STYLE.set(as_json)
    try:
        if kind is SourceFormat.KUBERNETES:
            fixer = KubernetesFixer(ctx, selected)
            edits, notes = fixer.fix(body, path, pragmas, append=not as_json)
            result.applied = fixer.applied
            result.unprofiled = fixer.unprofiled
        else:
            from rofs.fixers.compose import ComposeFixer

            compose = ComposeFixer(ctx, selected)
            fixer = None
            edits, notes = compose.fix(body, path, pragmas)
            result.applied = compose.applied
            result.unprofiled = compose.unprofiled
            result.includes = compose.includes
        fixed = bom + apply(body, edits)
        if as_json and fixer is not None and fixer.appended_docs:
            fixed = bom + _json_with(fixed[len(bom):], fixer.appended_docs, body)
            notes.append("the claims it needs are in the same file now: it holds a List of the objects and the claims")
    except ShapeError as exc:
        result.error = f"{path}:{exc.node.start_mark.line + 1}: cannot fix: {exc}"
        return result
    except ReadFailed as exc:
        result.error = _refused(exc.error, path, 0)
        return result
    except (EditConflict, ValueError) as exc:
        result.error = f"{path}: cannot fix: {exc}"
        return result
    finally:
        JSON_STYLE.reset(style)
    try:
        if as_json:
            json.loads(fixed[len(bom):])
        list(yaml.compose_all(fixed[len(bom):], Loader=Loader))
    except (yaml.YAMLError, ValueError) as exc:  # a bug in a fixer must never reach the user's file
        result.error = f"{path}: internal error: the fixed text does not parse ({exc}); nothing written"
        return result
    result.fixed = fixed
    result.notes = notes
    return result


def _json_text(text: str) -> bool:
    """Is the file JSON (then what a fix adds must be JSON too)?"""
    if not text.lstrip().startswith(("{", "[")):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _json_with(fixed: str, documents: list[dict], original: str) -> str:
    """A JSON file and the objects a fix adds (claims): one List holding them all, since a JSON
    file holds one value.  Indented as the original was."""
    value = json.loads(fixed)
    if isinstance(value, dict) and str(value.get("kind", "")).endswith("List") and isinstance(value.get("items"), list):
        value["items"].extend(documents)
    else:
        value = {"apiVersion": "v1", "kind": "List", "items": [value, *documents]}
    second = original.split("\n", 2)[1] if original.count("\n") >= 2 else ""
    indent = len(second) - len(second.lstrip(" ")) or 2
    return json.dumps(value, indent=indent) + "\n"


def _fix_dockerfile(result: FileFix, body: str, bom: str, ctx: Context, selected: set[str]) -> FileFix:
    from rofs.fixers.dockerfile import DockerfileFixer
    from rofs.sources.dockerfile import DockerfileSource

    result.format = SourceFormat.DOCKERFILE
    source = DockerfileSource().read(body, result.path)
    if source.errors:
        result.error = f"{result.path}: cannot fix: {source.errors[0]}"
        return result
    findings = [f for w in source.workloads
                for f in active(w, ctx, selected, comment_pragmas(body, result.path) + source.suppressions)]
    fixer = DockerfileFixer()
    try:
        applied, suggested, notes = fixer.fix(body, findings)
        result.applied = fixer.applied
        result.fixed = bom + apply(body, applied)
        result.suggested = bom + apply(body, applied + suggested)
    except (EditConflict, ValueError) as exc:
        result.error = f"{result.path}: cannot fix: {exc}"
        return result
    result.notes = notes
    return result


def fix_paths(inputs, registry: ProfileRegistry, selected: set[str], exclude=(), show_diff: bool = False,
              unknown_images: str = UNKNOWN_LEAVE, gitignore: bool = True,
              exempt_images: tuple[str, ...] = ()) -> list[FileFix]:
    """Fix every file of *inputs* (nothing is written here: see FileFix.save).  Files past
    STREAM_BYTES, and long standard input, are fixed piece by piece (``fix_stream``)."""
    ctx = Context(registry, unknown_images, exempt_images)
    out: list[FileFix] = []
    inputs = list(inputs)
    files = Inputs(inputs, exclude, gitignore)
    token = ABSOLUTE_NAMES.set(any(p != STDIN and outside(p) for p in inputs))
    try:
        _fix_all(files, ctx, selected, show_diff, out)
    finally:
        ABSOLUTE_NAMES.reset(token)
    return out


def _fix_all(files: Inputs, ctx: Context, selected: set[str], show_diff: bool, out: list[FileFix]) -> None:
    for path, explicit in files:
        taken = take(path, explicit, stream_json=False, special=False)  # JSON is fixed whole
        if taken is None or taken.skipped:
            continue
        fixed = _fix_taken(taken, ctx, selected, show_diff)
        if fixed is not None:
            out.append(fixed)
            # an included file is fixed too, if it lies beneath the file's directory (never elsewhere)
            fixed.notes += files.include(fixed.path, fixed.includes, within=os.path.dirname(fixed.path) or ".")


def _fix_taken(taken: Taken, ctx: Context, selected: set[str], show_diff: bool) -> FileFix | None:
    if taken.error:
        return FileFix(path=taken.display, error=str(taken.error))
    if taken.path != STDIN and os.path.islink(taken.path):
        return FileFix(path=taken.display, error=f"{taken.display}: a symbolic link; nothing written (a fix replaces"
                       f" the file it names): fix its target, {os.path.realpath(taken.path)}")
    if not taken.regular:
        return FileFix(path=taken.display, error=f"{taken.display}: not a regular file, so there is nothing to write"
                       " the fix back to: pipe it in instead (rofs fix - < FILE > FIXED)")
    if taken.stream:
        target = Path(taken.path) if taken.path != STDIN else None
        return _fix_stream_in(taken.stream, taken.display, ctx, selected, target, show_diff)
    text, error, skip = taken.text(keep_endings=True)
    if error:
        return FileFix(path=taken.display, error=str(error))
    if skip or text is None:
        return None
    result = _fix_text_in(text, taken.display, ctx, selected)
    result.stamp = taken.stamp
    return result


def read_text_raw(path: str) -> tuple[str | None, str | None, str | None]:
    """(text, error, skip reason) of a file, its line endings and BOM kept exactly (a fix must
    not change them)."""
    from rofs.intake import decode

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}", None
    text, skip = decode(data, keep_endings=True)
    return text, None, skip


# --- long files, piece by piece ---------------------------------------------------------


@dataclass
class StreamedFix(FileFix):
    """A long Kubernetes stream fixed piece by piece: the fixed text and the diff live in temp
    files, never whole in memory."""

    source: str = ""  # the file read (a temp copy for standard input)
    replacement: Replacement | None = None  # the fixed text, beside the file, until saved
    fixed_temp: TextIO | None = None  # the fixed text, for standard output (an unnamed temp file)
    diff_temp: TextIO | None = None  # the diff (an unnamed temp file)
    was_changed: bool = False
    noted: set[str] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return self.error is None and self.was_changed

    def diff(self, suggested: bool = False) -> str:
        buffer = io.StringIO()
        self.write_diff(buffer)
        return buffer.getvalue()

    def write_diff(self, out: TextIO, suggested: bool = False) -> None:
        if self.diff_temp is not None and self.was_changed:
            self.diff_temp.seek(0)
            shutil.copyfileobj(self.diff_temp, out, 1 << 20)

    def write_fixed(self, out: TextIO) -> None:
        if self.fixed_temp is not None and self.changed:
            self.fixed_temp.seek(0)
            shutil.copyfileobj(self.fixed_temp, out, 1 << 20)
            return
        with open(self.source, encoding="utf-8", newline="") as handle:
            shutil.copyfileobj(handle, out, 1 << 20)

    def save(self) -> None:
        assert self.replacement is not None
        pending, self.replacement = self.replacement, None
        pending.commit(self.stamp)

    def discard(self) -> None:
        if self.replacement is not None:
            self.replacement.discard()
            self.replacement = None
        for temp in (self.fixed_temp, self.diff_temp):
            if temp is not None:
                temp.close()
        self.fixed_temp = self.diff_temp = None


class _Collision(Exception):
    """A claim this fix added has the name of one found further down the stream."""


def fix_stream(source: str, display: str, registry: ProfileRegistry, selected: set[str],
               target: Path | None, show_diff: bool, unknown_images: str = UNKNOWN_LEAVE) -> FileFix:
    """Fix a long Kubernetes stream piece by piece (see rofs.stream): memory stays flat.

    The fixed text goes to a temp file beside *target* (ready for ``save``), or to a private
    temp file (standard input); with *show_diff* only the diff is kept.  Claims added for
    persistent paths are written once, after the last document, as for a whole file.  A file
    that turns out not to be Kubernetes is fixed whole, as usual.
    """
    return _fix_stream_in(source, display, Context(registry, unknown_images), selected, target, show_diff)


def _fix_stream_in(source: str, display: str, ctx: Context, selected: set[str], target: Path | None,
                   show_diff: bool) -> FileFix:
    stamp = file_stamp(source) if target is not None else None
    try:
        with open(source, "rb") as probe:
            if b"\x00" in probe.read(8192):
                return FileFix(path=display, error=f"{display}: {unreadable_text('binary')}")
        return _fix_stream_pass(source, display, ctx, selected, target, show_diff, stamp, set())
    except _Collision as again:
        return _fix_stream_pass(source, display, ctx, selected, target, show_diff, stamp, again.args[0])
    except OSError as exc:
        return FileFix(path=display, error=f"{display}: cannot read: {exc.strerror or exc}")


class _StreamDiff:
    """A unified diff written as the pieces of a stream come: hunks carry their full context
    across piece boundaries (as ``patch`` expects), and memory holds at most one hunk."""

    def __init__(self, out: TextIO, context: int = 3):
        self.out, self.n = out, context
        self.old_no = self.new_no = 1  # numbers of the next line, old and new
        self.hunk: list[str] | None = None
        self.start = (1, 1)  # the open hunk's first old and new line
        self.gap: list[str] = []  # equal lines after the last change (open hunk) or before the next one

    def piece(self, old: str, new: str) -> None:
        a, b = old.splitlines(True), new.splitlines(True)
        if old == new:
            self._equal(a)
            return
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
            if tag == "equal":
                self._equal(a[i1:i2])
            else:
                self._change(a[i1:i2], b[j1:j2])

    def _equal(self, lines: list[str]) -> None:
        for line in lines:
            self.gap.append(line)
            self.old_no += 1
            self.new_no += 1
            if self.hunk is not None and len(self.gap) > 2 * self.n:
                self._close()
            elif self.hunk is None and len(self.gap) > self.n:
                del self.gap[0]

    def _change(self, removed: list[str], added: list[str]) -> None:
        if self.hunk is None:
            before = len(self.gap)
            self.start = (self.old_no - before, self.new_no - before)
            self.hunk = [" " + x for x in self.gap]
        else:
            self.hunk.extend(" " + x for x in self.gap)
        self.gap = []
        self.hunk.extend("-" + x for x in removed)
        self.hunk.extend("+" + x for x in added)
        self.old_no += len(removed)
        self.new_no += len(added)

    def _close(self) -> None:
        assert self.hunk is not None
        lines = self.hunk + [" " + x for x in self.gap[: self.n]]
        old_len = sum(1 for x in lines if x[0] in " -")
        new_len = sum(1 for x in lines if x[0] in " +")
        self.out.write(f"@@ -{_range(self.start[0], old_len)} +{_range(self.start[1], new_len)} @@\n")
        self.out.writelines(x if x.endswith("\n") else x + "\n\\ No newline at end of file\n" for x in lines)
        self.hunk = None
        self.gap = self.gap[max(0, len(self.gap) - self.n):]  # the next hunk's leading context

    def finish(self) -> None:
        if self.hunk is not None:
            self._close()


def _range(start: int, length: int) -> str:
    # As difflib writes it: "5" for one line, "4,0" (the line before) for none.
    if length == 1:
        return str(start)
    return f"{start - 1 if length == 0 else start},{length}"


class _NotKubernetes(Exception):
    """The stream turned out to be another format: it is fixed whole instead."""


class _StreamPass:
    """One pass over a long Kubernetes stream: pieces parsed, fixed and written out in order;
    the claims the fix adds go after the last piece."""

    def __init__(self, source: str, display: str, ctx: Context, selected: set[str],
                 stamp: tuple[int, int, int] | None, preseed: set[str]):
        self.display = display
        self.result = StreamedFix(path=display, source=source, stamp=stamp, format=SourceFormat.KUBERNETES)
        self.fixer = KubernetesFixer(ctx, selected)
        self.result.applied = self.fixer.applied  # the same list: it grows piece by piece
        self.result.unprofiled = self.fixer.unprofiled
        self.taken = set(preseed)  # claim names found in the stream, or added by this fix
        self.existing: set[str] = set()  # claim names found in the stream
        self.appended: list[str] = []
        self.pending: tuple[str, str] | None = None  # the last piece (original, fixed): the claims go after it
        self.fixed_out: TextIO | None = None
        self.differ: _StreamDiff | None = None
        self.bom = ""

    def open_outputs(self, target: Path | None, show_diff: bool) -> None:
        result = self.result
        if show_diff:
            diff_out = result.diff_temp = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115 - kept by the result
            old, new = _diff_names(self.display, result.absolute)
            diff_out.write(f"--- {old}\n+++ {new}\n")
            self.differ = _StreamDiff(diff_out)
        elif target is not None:
            result.replacement = Replacement(target)
            self.fixed_out = result.replacement.handle
        else:
            self.fixed_out = result.fixed_temp = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115

    def emit(self, original: str, fixed: str) -> None:
        if self.fixed_out is not None:
            self.fixed_out.write(fixed)
        if self.differ is not None:
            self.differ.piece(original, fixed)

    def queue(self, original: str, fixed: str) -> None:
        """Write the piece before, hold this one (the claims may have to follow it)."""
        if self.pending is not None:
            self.emit(*self.pending)
        self.pending = (original, fixed)

    def parse(self, chunk: Any) -> tuple[str, list[yaml.Node]] | None:
        text = chunk.text
        if chunk.line == 1 and text.startswith("\ufeff"):
            self.bom, text = "\ufeff", text[1:]
        try:
            with gc_paused():
                return text, [d for d in yaml.compose_all(text, Loader=Loader) if d is not None]
        except yaml.YAMLError as exc:
            error = yaml_error(self.display, exc, "")
            line = f"{error.line + chunk.line - 1}:" if error.line else ""
            self.result.error = f"{self.display}:{line} {error.message}"
            return None

    def run(self, source: str) -> StreamedFix:
        kind: SourceFormat | None = None
        held: list[tuple[Any, str, list[yaml.Node]]] = []  # pieces read before the stream's type is known
        with open(source, encoding="utf-8", errors="strict", newline="") as handle:
            for chunk in chunks(handle):
                parsed = self.parse(chunk)
                if parsed is None:
                    return self.result
                if kind is None:
                    held.append((chunk, *parsed))
                    kind = detect([d for _, _, ds in held for d in ds])
                    if kind is None:
                        continue
                    if kind is not SourceFormat.KUBERNETES:
                        raise _NotKubernetes
                    todo, held = held, []
                else:
                    todo = [(chunk, *parsed)]
                if not all(self.fix_piece(*piece) for piece in todo):
                    return self.result
        for piece, _, _ in held:  # never found out what it is: left as it is
            self.queue(piece.restore(piece.text), piece.restore(piece.text))
        if kind is None:
            self.result.format = None
        self.finish()
        return self.result

    def fix_piece(self, piece: Any, body: str, docs: list[yaml.Node]) -> bool:
        found = existing_claims(docs)
        if found & (self.taken - self.existing):
            raise _Collision(self.existing | found)
        self.existing |= found
        with gc_paused():
            fixed = _fix_piece(self.fixer, piece, body, docs, self.display, self.taken, self.result)
        if fixed is None:
            return False
        self.appended.append(self.fixer.appended)
        self.queue(piece.restore(piece.text), (self.bom if piece.line == 1 else "") + fixed)
        return True

    def finish(self) -> None:
        tail = "".join(self.appended)
        if self.pending is not None:
            original, fixed = self.pending
            if tail:
                nl = "\r\n" if "\r\n" in original else "\n"
                fixed += ("" if fixed.endswith("\n") or not fixed else nl) + tail
            self.result.was_changed = self.result.was_changed or fixed != original
            self.emit(original, fixed)
        if self.differ is not None:
            self.differ.finish()

    def close(self) -> None:
        for out in (self.fixed_out, self.result.diff_temp):
            if out is not None and not out.closed:
                out.flush()
        if self.result.error:
            self.result.discard()


def _fix_stream_pass(source: str, display: str, ctx: Context, selected: set[str], target: Path | None,
                     show_diff: bool, stamp: tuple[int, int, int] | None, preseed: set[str]) -> FileFix:
    fixing = _StreamPass(source, display, ctx, selected, stamp, preseed)
    result = fixing.result
    try:
        fixing.open_outputs(target, show_diff)
        return fixing.run(source)
    except _NotKubernetes:
        return _whole(source, display, ctx, selected, stamp, result)
    except UnicodeDecodeError as exc:
        result.error = f"{display}: not UTF-8 (byte {exc.start} of a block): nothing fixed"
        return result
    except BaseException:
        result.error = result.error or "interrupted"
        raise
    finally:
        fixing.close()


def _refused(error: ReadError, display: str, offset: int) -> str:
    """A reader's refusal as fix's error: where (the line *offset* into the file) and why."""
    where = f"{display}:{error.line + offset}" if error.line else display
    return f"{where}: cannot fix: {error.message}"


def _fix_piece(fixer, piece, body: str, docs, display: str, taken: set[str], result: StreamedFix) -> str | None:
    """One piece, fixed (the piece's text, dash of a List item back in place); None on error."""
    try:
        edits, notes = fixer.fix(body, display, comment_pragmas(body, display), documents=docs,
                                 pvc_names=taken, append=False)
        fixed = apply(body, edits)
    except ShapeError as exc:
        result.error = f"{display}:{exc.node.start_mark.line + piece.line}: cannot fix: {exc}"
        return None
    except ReadFailed as exc:
        result.error = _refused(exc.error, display, piece.line - 1)
        return None
    except (EditConflict, ValueError) as exc:
        result.error = f"{display}: cannot fix: {exc}"
        return None
    if fixed != body:
        try:
            list(yaml.compose_all(fixed, Loader=Loader))
        except yaml.YAMLError as exc:
            result.error = f"{display}: internal error: the fixed text does not parse ({exc}); nothing written"
            return None
        result.was_changed = True
    try:
        fixed = piece.restore(fixed)
    except ValueError as exc:
        result.error = f"{display}: cannot fix: {exc}"
        return None
    result.notes.extend(n for n in notes if n not in result.noted)
    result.noted.update(notes)
    return fixed


def _whole(source: str, display: str, ctx: Context, selected: set[str],
           stamp: tuple[int, int, int] | None, streamed: StreamedFix) -> FileFix:
    """A long file that is not Kubernetes (a Compose file): fixed whole, as usual."""
    streamed.discard()
    text, error, skip = read_text_raw(source)
    if error or skip or text is None:
        return FileFix(path=display, error=f"{display}: {error or skip}")
    result = _fix_text_in(text, display, ctx, selected)
    result.stamp = stamp
    return result


__all__ = ["ALL_RULES", "FIXABLE", "ConcurrentChange", "FileFix", "StreamedFix", "fix_paths", "fix_stream", "fix_text", "write_atomic"]
