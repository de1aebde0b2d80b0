"""``rofs fix``: rewrite Kubernetes and Compose files so each container is read-only *and* runs.

For each file: read it, find what the fixable rules flag, turn that into text edits, apply
them, and check the result before anything is written: it must parse, and re-auditing it
must find none of the fixed findings.  Files are replaced atomically (temp file in the
same directory, fsync, rename), keeping their mode; a file that cannot be fully parsed is
never touched.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rofs.audit import STDIN, detect, discover, read_text
from rofs.files import ConcurrentChange, write_atomic
from rofs.files import stamp as file_stamp
from rofs.fixers.kubernetes import FIXABLE as MANIFEST_FIXABLE
from rofs.fixers.kubernetes import KubernetesFixer
from rofs.fixers.textedit import EditConflict, apply
from rofs.model import SourceFormat
from rofs.profiles import ProfileRegistry
from rofs.rules import Context
from rofs.sources.interface import comment_pragmas
from rofs.sources.kubernetes import ShapeError, _Loader, yaml_error


DOCKERFILE_RULES = ("RO301", "RO302", "RO303")
FIXABLE = MANIFEST_FIXABLE + DOCKERFILE_RULES


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

    @property
    def changed(self) -> bool:
        return self.error is None and self.fixed != self.original

    def diff(self, suggested: bool = False) -> str:
        name = self.path
        old, new = (name, name) if name.startswith("/") or name == "<stdin>" else (f"a/{name}", f"b/{name}")
        target = self.suggested if suggested and self.suggested is not None else self.fixed
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(keepends=True),
                target.splitlines(keepends=True),
                fromfile=old,
                tofile=new + (" (suggested, not applied)" if suggested else ""),
            )
        )

    @property
    def has_suggestions(self) -> bool:
        return self.suggested is not None and self.suggested != self.fixed


def fix_text(text: str, path: str, registry: ProfileRegistry, selected: set[str]) -> FileFix:
    """Fix one file's text (nothing is written here)."""
    result = FileFix(path=path, original=text, fixed=text)
    body = text[1:] if text.startswith("\ufeff") else text
    bom = text[: len(text) - len(body)]
    if _is_dockerfile(path, body):
        return _fix_dockerfile(result, body, bom, registry, selected)
    try:
        documents = [d for d in yaml.compose_all(body, Loader=_Loader) if d is not None]
    except yaml.YAMLError as exc:
        result.error = str(yaml_error(path, exc, body))
        return result
    kind = detect(documents)
    if kind is None and Path(path).name.lower().startswith(("compose", "docker-compose")):
        kind = SourceFormat.COMPOSE
    result.format = kind
    if kind is None:
        return result
    ctx = Context(registry)
    pragmas = comment_pragmas(body, path)
    try:
        if kind is SourceFormat.KUBERNETES:
            edits, notes = KubernetesFixer(ctx, selected).fix(body, path, pragmas)
        else:
            from rofs.fixers.compose import ComposeFixer

            edits, notes = ComposeFixer(ctx, selected).fix(body, path, pragmas)
        fixed = bom + apply(body, edits)
    except ShapeError as exc:
        result.error = f"{path}:{exc.node.start_mark.line + 1}: cannot fix: {exc}"
        return result
    except (EditConflict, ValueError) as exc:
        result.error = f"{path}: cannot fix: {exc}"
        return result
    try:
        list(yaml.compose_all(fixed[len(bom):], Loader=_Loader))
    except yaml.YAMLError as exc:  # a bug in a fixer must never reach the user's file
        result.error = f"{path}: internal error: the fixed text does not parse ({exc}); nothing written"
        return result
    result.fixed = fixed
    result.notes = notes
    return result


def _is_dockerfile(path: str, text: str) -> bool:
    from rofs.audit import is_dockerfile_name
    from rofs.sources.dockerfile import looks_like_dockerfile

    name = os.path.basename(path)
    if is_dockerfile_name(name):
        return True
    return not name.lower().endswith((".yaml", ".yml", ".json")) and looks_like_dockerfile(text)


def _fix_dockerfile(result: FileFix, body: str, bom: str, registry: ProfileRegistry, selected: set[str]) -> FileFix:
    from rofs.fixers.dockerfile import DockerfileFixer

    result.format = SourceFormat.DOCKERFILE
    try:
        applied, suggested, notes = DockerfileFixer(Context(registry), selected).fix(
            body, result.path, comment_pragmas(body, result.path)
        )
        result.fixed = bom + apply(body, applied)
        result.suggested = bom + apply(body, applied + suggested)
    except (EditConflict, ValueError) as exc:
        result.error = f"{result.path}: cannot fix: {exc}"
        return result
    result.notes = notes
    return result


def fix_paths(inputs, registry: ProfileRegistry, selected: set[str], exclude=()) -> list[FileFix]:
    out = []
    for path, explicit in discover(inputs, exclude):
        name = os.path.basename(path)
        from rofs.audit import is_dockerfile_name

        if path != STDIN and not explicit and not (
            name.lower().endswith((".yaml", ".yml", ".json")) or is_dockerfile_name(name)
        ):
            continue
        stamp = file_stamp(path) if path != STDIN else None
        text, error, skip = read_text_raw(path)
        if error:
            out.append(FileFix(path=path, error=f"{path}: {error}"))
            continue
        if skip:
            continue
        result = fix_text(text, "<stdin>" if path == STDIN else path, registry, selected)
        result.stamp = stamp
        out.append(result)
    return out


def read_text_raw(path: str) -> tuple[str | None, str | None, str | None]:
    """Like ``audit.read_text`` but keeps line endings exactly (a fix must not change them)."""
    if path == STDIN:
        text, error, skip = read_text(path)
        return text, error, skip
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}", None
    if b"\x00" in data[:8192]:
        return None, None, "binary"
    try:
        return data.decode("utf-8"), None, None
    except UnicodeDecodeError as exc:
        return None, None, f"not UTF-8 (byte {exc.start})"


__all__ = ["FIXABLE", "ConcurrentChange", "FileFix", "fix_paths", "fix_text", "write_atomic"]
