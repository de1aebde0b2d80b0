"""Dockerfile -> model.

One :class:`Workload` per Dockerfile, for the stage that becomes the image: the
final stage.  Its container carries what the Dockerfile says about runtime:
image, USER, ENTRYPOINT/CMD, WORKDIR, ENV and VOLUME, each with the line that
set it.  When the final stage is built ``FROM`` an earlier stage of the same
file it inherits that stage's settings, as Docker does; settings inherited from
an external base image are not known here and stay ``None``.  ``args`` is
``()`` (known empty, not unknown) when the stage sets ENTRYPOINT without a CMD
before it: Docker then drops the base image's CMD.

Why a parser of our own: ``dockerfile-parse`` (the maintained PyPI library)
was evaluated and does not fit.  It reads the body of a heredoc
(``RUN <<EOF ... EOF``) as instructions, so a body line such as
``FROM x`` or ``USER root`` inside a script starts a stage or changes the user,
and it has no notion of a heredoc that never ends.  It handles continuations
and the escape directive, but a reader whose stage boundaries can be moved by
script text is not one rules can trust.  This module follows BuildKit's
parser instead:

* parser directives (``# syntax=``, ``# escape=``, ``# check=``) only in the
  leading run of ``# key=value`` comments; the first blank line, instruction or
  other comment (a ``# rofs: ignore=...`` pragma included) ends them;
* a line continues when it ends in the escape character (optionally followed
  by blanks) not itself escaped; comment and blank lines inside a continued
  instruction are skipped;
* heredocs on RUN, COPY, ADD (also after ONBUILD) in shell form: every word
  ``<<NAME``, ``<<-NAME``, ``<<"NAME"``, ``<<'NAME'`` opens one; its body runs
  to a line that is exactly NAME (leading tabs removed for ``<<-``);
* exec form is a JSON array of strings; anything else is shell form, as Docker
  treats it.  A CMD/ENTRYPOINT that was plainly meant as a JSON array but is
  not valid JSON (single quotes, a trailing comma) is reported as a
  :class:`ReadError` and read as shell form, which is what Docker will run;
* ``$VAR`` / ``${VAR}`` / ``${VAR:-default}`` are expanded in FROM (from ARGs
  declared before the first FROM), and in ENV, USER, WORKDIR and VOLUME (from
  the stage's ENV and ARG); a variable whose value is unknown here (set by the
  base image or at build time) is left as written.

The reader never raises: problems come back as ``ReadError`` with a line.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from dataclasses import dataclass, field

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
from rofs.sources.interface import ReadError, Source, SourceFile, comment_pragmas

INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL", "MAINTAINER",
    "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})
HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
DIRECTIVES = frozenset({"syntax", "escape", "check"})

_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_WHITESPACE_RE = re.compile(r"[\t\v\f\r ]+")
_HEREDOC_RE = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JSON_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"')
_WINDOWS_ABS_RE = re.compile(r"^[A-Za-z]:[\\/]")


class DockerfileError(Exception):
    """A problem at a line; ``fatal`` ones leave no workload to report."""

    def __init__(self, line: int | None, message: str, fatal: bool = False):
        super().__init__(message)
        self.line = line
        self.message = message
        self.fatal = fatal


# --- the scanner: physical lines -> instructions ----------------------------------------


@dataclass
class Instruction:
    """One instruction: a logical line (continuations joined), and its heredoc bodies."""

    keyword: str  # upper case
    word: str  # the keyword as written
    text: str  # the logical line, keyword included, continuation characters removed
    args_start: int  # offset in ``text`` where the arguments begin
    line: int  # first physical line, 1-based
    column: int
    end_line: int  # last physical line, heredoc bodies and terminators included
    end_column: int
    segments: list[tuple[int, int, int]]  # (offset in text, physical line, column of that offset)
    heredocs: list[tuple[str, str]] = field(default_factory=list)  # (name, body)

    @property
    def args(self) -> str:
        return self.text[self.args_start:].strip()

    def position(self, offset: int) -> tuple[int, int]:
        """(line, column) of the character at ``offset`` of ``text``."""
        line, column = self.line, self.column
        for start, seg_line, seg_column in self.segments:
            if start > offset:
                break
            line, column = seg_line, seg_column + (offset - start)
        return line, column

    def location(self, path: str) -> Location:
        return Location(path, self.line, self.column, self.end_line, self.end_column)

    def location_at(self, path: str, offset: int) -> Location:
        line, column = self.position(offset)
        return Location(path, line, column)


@dataclass
class Scan:
    instructions: list[Instruction]
    escape: str
    errors: list[DockerfileError]


def _continues(line: str, escape: str) -> tuple[str, bool]:
    """Strip a trailing line-continuation character; say whether there was one."""
    body = line.rstrip(" \t")
    if body.endswith(escape) and (len(body) == 1 or body[-2] != escape):
        return body[:-1], True
    return line, False


class _Cursor:
    """The physical lines of a Dockerfile (BOM and carriage returns removed), read one at a time."""

    def __init__(self, text: str):
        lines = text.split("\n")
        if lines and lines[0].startswith("\ufeff"):
            lines[0] = lines[0][1:]
        self.lines = [line.rstrip("\r") for line in lines]
        self.index = 0  # the next line to read (0-based)

    def more(self) -> bool:
        return self.index < len(self.lines)

    def peek(self) -> str:
        return self.lines[self.index]

    def take(self) -> tuple[str, int]:
        """The next line and its 1-based number."""
        self.index += 1
        return self.lines[self.index - 1], self.index


def scan(text: str) -> Scan:
    """Split a Dockerfile into instructions the way BuildKit does.  Never raises."""
    cursor = _Cursor(text)
    errors: list[DockerfileError] = []
    escape = _directives(cursor, errors)
    instructions: list[Instruction] = []
    while (ins := _next_instruction(cursor, escape)) is not None:
        instructions.append(ins)
        if not _read_heredocs(ins, cursor, escape, errors):
            break  # an unterminated heredoc swallows the rest of the file
    return Scan(instructions, escape, errors)


def _directives(cursor: _Cursor, errors: list[DockerfileError]) -> str:
    """Read the leading parser directives; the escape character they set (``\\`` by default).
    The first line that is not a directive is left for the instructions."""
    escape = "\\"
    seen: set[str] = set()
    while cursor.more():
        match = _DIRECTIVE_RE.match(cursor.peek().lstrip())
        key = match.group(1).lower() if match else None
        if match is None or key not in DIRECTIVES:
            break
        _, number = cursor.take()
        if key in seen:
            errors.append(DockerfileError(number, f"only one {key} parser directive can be used"))
        elif key == "escape":
            value = match.group(2)
            if value in ("\\", "`"):
                escape = value
            else:
                errors.append(DockerfileError(number, f"invalid escape token {value!r}: use ` or \\"))
        seen.add(key)
    return escape


def _next_instruction(cursor: _Cursor, escape: str) -> Instruction | None:
    """The next instruction, its continuation lines joined; None at the end of the file."""
    while cursor.more():
        raw, number = cursor.take()
        stripped = raw.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        column = len(raw) - len(stripped) + 1
        body, more = _continues(stripped, escape)
        text_line = body
        segments = [(0, number, column)]
        end_line, end_column = number, len(raw) + 1
        while more and cursor.more():
            raw, number = cursor.take()
            end_line, end_column = number, len(raw) + 1
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            body, more = _continues(raw, escape)
            segments.append((len(text_line), number, 1))
            text_line += body
        if not text_line.strip():
            continue  # a lone continuation character followed by nothing
        word = _WHITESPACE_RE.split(text_line.strip(), maxsplit=1)[0]
        args_start = len(text_line) - len(text_line.lstrip()) + len(word)
        while args_start < len(text_line) and text_line[args_start] in " \t\v\f\r":
            args_start += 1
        return Instruction(
            keyword=word.upper(),
            word=word,
            text=text_line,
            args_start=args_start,
            line=segments[0][1],
            column=column,
            end_line=end_line,
            end_column=end_column,
            segments=segments,
        )
    return None


def _read_heredocs(ins: Instruction, cursor: _Cursor, escape: str, errors: list[DockerfileError]) -> bool:
    """Read the bodies of the heredocs *ins* opens; False (and a fatal error) when one never ends."""
    for name, chomp in _heredoc_names(ins, escape):
        content: list[str] = []
        while cursor.more():
            raw, number = cursor.take()
            candidate = raw.lstrip("\t") if chomp else raw
            if candidate == name:
                ins.end_line, ins.end_column = number, len(raw) + 1
                break
            content.append(raw)
        else:
            errors.append(DockerfileError(ins.line, f"unterminated heredoc: no line {name!r} ends it", fatal=True))
            return False
        ins.heredocs.append((name, "\n".join(content)))
    return True


def _heredoc_names(ins: Instruction, escape: str) -> list[tuple[str, bool]]:
    """(name, chomp) of each heredoc the instruction opens, in order."""
    keyword, args = ins.keyword, ins.args
    if keyword == "ONBUILD":
        inner = _WHITESPACE_RE.split(args, maxsplit=1)
        keyword = inner[0].upper()
        args = inner[1] if len(inner) > 1 else ""
    if keyword not in HEREDOC_INSTRUCTIONS or "<<" not in args:
        return []
    _, rest = _split_flags(args)
    if _json_array(rest) is not None:
        return []
    found = []
    for word, _ in split_words(ins.text, "\\"):
        match = _HEREDOC_RE.match(word)
        if not match or not match.group(3):
            continue
        name_words = split_words(match.group(3), "\\")
        if len(name_words) != 1:
            continue
        name = unquote(name_words[0][0], "\\", None)
        if name:
            found.append((name, match.group(2) == "-"))
    return found


# --- words, quotes and variables ---------------------------------------------------------


def split_words(text: str, escape: str) -> list[tuple[str, int]]:
    """Split on blanks outside quotes; words keep their quotes and escapes.  (word, offset) pairs."""
    words: list[tuple[str, int]] = []
    start: int | None = None
    quote: str | None = None
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if quote is None and ch in " \t\v\f\r":
            if start is not None:
                words.append((text[start:i], start))
                start = None
            i += 1
            continue
        if start is None:
            start = i
        if quote == "'":
            if ch == "'":
                quote = None
        elif ch == escape and i + 1 < n:
            i += 1
        elif quote == '"':
            if ch == '"':
                quote = None
        elif ch in "'\"":
            quote = ch
        i += 1
    if start is not None:
        words.append((text[start:], start))
    return words


Vars = dict[str, "str | None"]  # name -> value; None: declared without a value (an ARG without default)


def unquote(word: str, escape: str, variables: Vars | None) -> str:
    """Remove quotes and escapes and expand variables (when ``variables`` is given), like Docker."""
    out: list[str] = []
    i, n = 0, len(word)
    while i < n:
        ch = word[i]
        if ch == "'":
            end = word.find("'", i + 1)
            end = n if end < 0 else end
            out.append(word[i + 1:end])
            i = end + 1
        elif ch == '"':
            i += 1
            while i < n and word[i] != '"':
                c = word[i]
                if c == escape and i + 1 < n and word[i + 1] in ('"', "$", escape):
                    out.append(word[i + 1])
                    i += 2
                elif c == "$" and variables is not None:
                    text, i = _expand(word, i, escape, variables)
                    out.append(text)
                else:
                    out.append(c)
                    i += 1
            i += 1
        elif ch == escape:
            if i + 1 < n:
                out.append(word[i + 1])
            i += 2
        elif ch == "$" and variables is not None:
            text, i = _expand(word, i, escape, variables)
            out.append(text)
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _expand(word: str, i: int, escape: str, variables: Vars) -> tuple[str, int]:
    """Expand the reference at ``word[i] == '$'``: (text, index after it)."""
    n = len(word)
    if i + 1 < n and word[i + 1] == "{":
        depth, j = 1, i + 2
        while j < n and depth:
            if word[j] == "{":
                depth += 1
            elif word[j] == "}":
                depth -= 1
            j += 1
        if depth:
            return word[i:], n
        inner = word[i + 2:j - 1]
        literal = word[i:j]
        match = _NAME_RE.match(inner)
        if not match:
            return literal, j
        name, rest = match.group(), inner[match.end():]
        value = variables.get(name)  # None: not set here (maybe by the base image or a build arg)
        if not rest:
            return (value if value is not None else literal), j
        for op in (":-", ":+", ":?", "-", "+", "?"):
            if rest.startswith(op):
                alt = unquote(rest[len(op):], escape, variables)
                is_set = bool(value) if op.startswith(":") else value is not None
                current = value if value is not None else ""  # what is_set stands for
                if op.endswith("-"):
                    return (current if is_set else alt), j
                if op.endswith("+"):
                    return (alt if is_set else ""), j
                return (current if is_set else literal), j
        return literal, j
    match = _NAME_RE.match(word, i + 1)
    if not match:
        return "$", i + 1
    name = match.group()
    value = variables.get(name)
    return (value if value is not None else word[i:match.end()]), match.end()


def _split_flags(args: str) -> tuple[list[str], str]:
    """Leading ``--flag[=value]`` words of an instruction, and the rest."""
    flags = []
    rest = args
    while rest.startswith("--"):
        parts = _WHITESPACE_RE.split(rest, maxsplit=1)
        flags.append(parts[0])
        rest = parts[1] if len(parts) > 1 else ""
    return flags, rest


def _json_array(args: str) -> list | None:
    """The parsed JSON array when ``args`` is one, else None."""
    if not args.startswith("["):
        return None
    try:
        value = json.loads(args)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def _meant_as_json(args: str) -> bool:
    """``['a', 'b']``, ``["a",]``: an attempt at exec form, not a shell test such as ``[ -f x ]``."""
    return bool(re.match(r"^\[\s*[\"'\]]", args)) and args.rstrip().endswith("]")


# --- detection ---------------------------------------------------------------------------


def _from_words(ins: Instruction) -> list[str]:
    _, rest = _split_flags(ins.args)
    return _WHITESPACE_RE.split(rest.strip()) if rest.strip() else []


def _well_formed_from(ins: Instruction) -> bool:
    words = _from_words(ins)
    return len(words) == 1 or (len(words) == 3 and words[1].lower() == "as")


def _not_a_dockerfile(instructions: list[Instruction]) -> tuple[int | None, str] | None:
    """Why these instructions are not a Dockerfile ((line, reason)), or None when they are."""
    if not instructions:
        return None, "no instructions: the file is empty or only comments"
    first = instructions[0]
    if first.keyword not in ("FROM", "ARG"):
        return first.line, f"not a Dockerfile: it starts with {first.word[:40]!r}, a Dockerfile with FROM or ARG"
    known = sum(1 for ins in instructions if ins.keyword in INSTRUCTIONS)
    if known * 2 <= len(instructions):
        return first.line, f"not a Dockerfile: only {known} of {len(instructions)} lines are Dockerfile instructions"
    first_from = next((ins for ins in instructions if ins.keyword == "FROM"), None)
    if first_from is None:
        return None, "no FROM instruction: a Dockerfile needs at least one stage"
    if not _well_formed_from(first_from):
        return first_from.line, "FROM takes an image and optionally `AS name`"
    return None


def looks_like_dockerfile(text: str) -> bool:
    """True when *text* reads as a Dockerfile: FROM or ARG first, and mostly instructions."""
    try:
        return _not_a_dockerfile(scan(text).instructions) is None
    except Exception:  # noqa: BLE001  # pragma: no cover - the scanner does not raise; detection must not either
        return False


# --- stages -------------------------------------------------------------------------------


@dataclass
class _Command:
    tokens: tuple[str, ...]
    shell: bool
    location: Location


@dataclass
class _Stage:
    name: str | None
    image: str
    location: Location
    user: tuple[str, Location] | None = None
    workdir: tuple[str, Location] | None = None
    entrypoint: _Command | None = None
    cmd: _Command | None = None
    cmd_reset: bool = False  # ENTRYPOINT in this stage cleared an inherited CMD
    cmd_set_here: bool = False
    env: dict[str, EnvVar] = field(default_factory=dict)
    args: Vars = field(default_factory=dict)
    volumes: dict[str, Location] = field(default_factory=dict)
    volumes_location: Location | None = None

    def variables(self) -> Vars:
        merged: Vars = dict(self.args)
        merged.update({name: var.value for name, var in self.env.items()})
        return merged

    def inherit(self, parent: _Stage) -> None:
        self.image = parent.image
        self.user = parent.user
        self.workdir = parent.workdir
        self.entrypoint = parent.entrypoint
        self.cmd = parent.cmd
        self.cmd_reset = parent.cmd_reset
        self.env = dict(parent.env)
        self.volumes = dict(parent.volumes)
        self.volumes_location = parent.volumes_location


def _is_absolute(path: str) -> bool:
    return path.startswith(("/", "\\")) or bool(_WINDOWS_ABS_RE.match(path))


def _clean(path: str) -> str:
    """``/a//b/../c/`` -> ``/a/c``, as Docker cleans WORKDIR and VOLUME paths; other paths as written."""
    if not path.startswith("/"):
        return path
    return posixpath.normpath("/" + path.lstrip("/"))


def _join_workdir(current: str | None, path: str) -> str:
    if _is_absolute(path) or current is None:
        return _clean(path)
    if _WINDOWS_ABS_RE.match(current) or "\\" in current:
        return current.rstrip("\\/") + "\\" + path
    return _clean(posixpath.join(current, path))


class DockerfileSource(Source):
    format = SourceFormat.DOCKERFILE

    def read(self, text: str, path: str) -> SourceFile:
        result = SourceFile(path=path, format=self.format)
        try:
            self._read(text, path, result)
        except Exception as exc:  # noqa: BLE001  # pragma: no cover - a bug here must not stop the run
            result.workloads.clear()
            result.errors.append(ReadError(path, None, f"could not read Dockerfile: {exc}"))
        return result

    def _read(self, text: str, path: str, result: SourceFile) -> None:
        scanned = scan(text)
        result.suppressions.extend(comment_pragmas(text, path))
        errors = list(scanned.errors)
        fatal = [e for e in errors if e.fatal]
        if fatal:
            result.errors.extend(ReadError(path, e.line, e.message) for e in fatal)
            return
        why = _not_a_dockerfile(scanned.instructions)
        if why is not None:
            line, reason = why
            result.errors.append(ReadError(path, line, reason))
            return
        stages = self._stages(scanned, path, errors)
        result.objects = len(stages)
        result.errors.extend(ReadError(path, e.line, e.message) for e in errors)
        if not stages:
            return
        result.workloads.append(self._workload(stages[-1], path))

    def _stages(self, scanned: Scan, path: str, errors: list[DockerfileError]) -> list[_Stage]:
        escape = scanned.escape
        global_args: Vars = {}
        stages: list[_Stage] = []
        by_name: dict[str, _Stage] = {}
        for ins in scanned.instructions:
            keyword = ins.keyword
            if keyword not in INSTRUCTIONS:
                errors.append(DockerfileError(ins.line, f"unknown instruction: {ins.word[:40]}"))
                continue
            if keyword == "FROM":
                stage = self._from(ins, path, escape, global_args, by_name, errors)
                if stage is None:
                    continue
                stages.append(stage)
                if stage.name:
                    by_name[stage.name.lower()] = stage
                continue
            if not stages:
                if keyword == "ARG":
                    self._arg(ins, escape, global_args, global_args, errors)
                else:
                    message = f"{keyword} before the first FROM; only ARG may come first"
                    errors.append(DockerfileError(ins.line, message))
                continue
            try:
                self._dispatch(stages[-1], ins, path, escape, global_args, errors)
            except DockerfileError as exc:
                errors.append(exc)
        return stages

    def _from(self, ins, path, escape, global_args, by_name, errors) -> _Stage | None:
        words = _from_words(ins)
        if not words:
            errors.append(DockerfileError(ins.line, "FROM without an image"))
            return None
        if not (len(words) == 1 or (len(words) == 3 and words[1].lower() == "as")):
            errors.append(DockerfileError(ins.line, "FROM takes an image and optionally `AS name`"))
        image = unquote(words[0], escape, global_args)
        name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
        stage = _Stage(name=name, image=image, location=ins.location(path))
        parent = by_name.get(image.lower())
        if parent is not None:
            stage.inherit(parent)
        return stage

    def _arg(self, ins: Instruction, escape: str, target: Vars, lookup: Vars, errors, global_args=None) -> None:
        """Declare ARGs in ``target``; ``ARG NAME`` in a stage takes the global default."""
        for word, _ in split_words(ins.args, escape):
            name, eq, value = word.partition("=")
            if not name:
                errors.append(DockerfileError(ins.line, f"ARG {word!r} has no name"))
                continue
            if eq:
                target[name] = unquote(value, escape, lookup)
            elif global_args is not None and name in global_args:
                target[name] = global_args[name]
            else:
                target.setdefault(name, None)

    def _dispatch(self, stage: _Stage, ins: Instruction, path: str, escape: str, global_args: Vars, errors) -> None:
        keyword = ins.keyword
        if keyword == "ARG":
            self._arg(ins, escape, stage.args, stage.variables(), errors, global_args)
        elif keyword == "ENV":
            for var in self._env(ins, path, escape, stage.variables()):
                stage.env.pop(var.name, None)
                stage.env[var.name] = var
        elif keyword == "USER":
            if not ins.args:
                raise DockerfileError(ins.line, "USER needs a user name")
            stage.user = (unquote(ins.args, escape, stage.variables()), ins.location(path))
        elif keyword == "WORKDIR":
            if not ins.args:
                raise DockerfileError(ins.line, "WORKDIR needs a path")
            value = unquote(ins.args, escape, stage.variables())
            current = stage.workdir[0] if stage.workdir else None
            stage.workdir = (_join_workdir(current, value), ins.location(path))
        elif keyword in ("CMD", "ENTRYPOINT"):
            command = self._command(ins, path, errors)
            if keyword == "CMD":
                stage.cmd, stage.cmd_set_here, stage.cmd_reset = command, True, False
            else:
                stage.entrypoint = command
                if not stage.cmd_set_here:
                    # Docker: ENTRYPOINT resets a CMD inherited from the base; CMD set
                    # earlier in the same stage is kept.
                    stage.cmd, stage.cmd_reset = None, True
        elif keyword == "VOLUME":
            for volume_path, offset in self._volume_paths(ins, escape, stage.variables()):
                stage.volumes.setdefault(_clean(volume_path), ins.location_at(path, offset))
            if stage.volumes_location is None and stage.volumes:
                stage.volumes_location = ins.location(path)

    def _env(self, ins: Instruction, path: str, escape: str, variables: Vars) -> list[EnvVar]:
        words = split_words(ins.args, escape)
        if not words:
            raise DockerfileError(ins.line, "ENV needs a name and a value")
        base = ins.args_start
        first, first_offset = words[0]
        if "=" not in first:
            # legacy form: ENV NAME the rest of the line
            parts = _WHITESPACE_RE.split(ins.args, maxsplit=1)
            if len(parts) < 2:
                raise DockerfileError(ins.line, f"ENV {first} has no value (write ENV {first}=value)")
            value = unquote(parts[1], escape, variables)
            return [EnvVar(name=first, value=value, location=ins.location_at(path, base + first_offset))]
        found = []
        for word, offset in words:
            name, eq, value = word.partition("=")
            if not eq or not name:
                raise DockerfileError(ins.line, f"ENV {word!r} is not NAME=value")
            # Every value is expanded against the environment as it was before this ENV
            # (``ENV a=1 b=$a`` sets b from the earlier a), as Docker does.
            value = unquote(value, escape, variables)
            found.append(EnvVar(name=name, value=value, location=ins.location_at(path, base + offset)))
        return found

    def _command(self, ins: Instruction, path: str, errors: list[DockerfileError]) -> _Command:
        args = ins.args
        parsed = _json_array(args)
        location = ins.location(path)
        if parsed is not None:
            if all(isinstance(item, str) for item in parsed):
                return _Command(tuple(parsed), False, location)
            errors.append(DockerfileError(ins.line, f"{ins.keyword} exec form must be a JSON array of strings"))
        elif _meant_as_json(args):
            errors.append(
                DockerfileError(
                    ins.line,
                    f"{ins.keyword} {args[:60]} is not a valid JSON array (use double quotes, no trailing comma); "
                    "Docker runs it in shell form",
                )
            )
        return _Command((args,), True, location)

    def _volume_paths(self, ins: Instruction, escape: str, variables: Vars) -> list[tuple[str, int]]:
        args = ins.args
        base = ins.args_start
        parsed = _json_array(args)
        out = []
        if parsed is not None and all(isinstance(item, str) for item in parsed):
            offsets = [m.start() for m in _JSON_STRING_RE.finditer(args)]
            for k, item in enumerate(parsed):
                offset = offsets[k] + 1 if k < len(offsets) else 0
                value = unquote(item, escape, variables) if "$" in item else item
                out.append((value, base + offset))
        else:
            for word, offset in split_words(args, escape):
                out.append((unquote(word, escape, variables), base + offset))
        if not out:
            raise DockerfileError(ins.line, "VOLUME needs at least one path")
        for value, _ in out:
            if not value:
                raise DockerfileError(ins.line, "VOLUME path can not be empty")
        return out

    def _workload(self, stage: _Stage, path: str) -> Workload:
        fields: list[tuple[str, Location]] = [("image", stage.location)]
        if stage.user:
            fields.append(("user", stage.user[1]))
        if stage.entrypoint:
            fields.append(("command", stage.entrypoint.location))
        if stage.cmd:
            fields.append(("args", stage.cmd.location))
        if stage.workdir:
            fields.append(("working_dir", stage.workdir[1]))
        if stage.volumes_location:
            fields.append(("volumes", stage.volumes_location))
        if stage.entrypoint is not None:
            shell_form = stage.entrypoint.shell
        else:
            shell_form = stage.cmd.shell if stage.cmd is not None else False
        args = stage.cmd.tokens if stage.cmd is not None else (() if stage.cmd_reset else None)
        mounts = tuple(
            Mount(path=vpath, volume=f"VOLUME:{vpath}", location=loc) for vpath, loc in stage.volumes.items()
        )
        volumes = tuple(
            Volume(name=f"VOLUME:{vpath}", kind=VolumeKind.PERSISTENT, type="VOLUME", location=loc)
            for vpath, loc in stage.volumes.items()
        )
        container = Container(
            name=stage.name or "final",
            image=stage.image,
            role=ContainerRole.MAIN,
            command=stage.entrypoint.tokens if stage.entrypoint else None,
            args=args,
            shell_form=shell_form,
            user=stage.user[0] if stage.user else None,
            working_dir=stage.workdir[0] if stage.workdir else None,
            security=SecuritySettings(location=stage.location),
            mounts=mounts,
            env=tuple(stage.env.values()),
            location=stage.location,
            field_locations=tuple(fields),
        )
        return Workload(
            kind="Dockerfile",
            name=stage.name or os.path.basename(path) or path,
            format=SourceFormat.DOCKERFILE,
            containers=(container,),
            volumes=volumes,
            pod_security=SecuritySettings(location=stage.location),
            location=stage.location,
        )


class DockerfileWording:
    """How remedies read for a Dockerfile (storage is the runtime's: said in general words)."""

    def read_only(self) -> str:
        return "a read-only root where the image runs"

    def volume(self, kind: VolumeKind, size: int | None, populated: bool = False) -> str:
        from rofs.units import format_quantity

        what = "persistent volume" if kind is VolumeKind.PERSISTENT else "writable ephemeral volume"
        return f"{what} of {format_quantity(size)}" if size else what

    def mount(self, path: str, kind: VolumeKind, size: int | None, populated: bool = False) -> str:
        return f"mount {path} as {self.volume(kind, size, populated)}"


WORDING = DockerfileWording()
