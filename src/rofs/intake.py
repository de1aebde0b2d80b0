"""File intake: which files rofs reads, how, and which reader reads them.

``rofs audit``, ``rofs fix`` and ``rofs explain --manifest`` all come through here, so they
agree on what a file is:

1. :func:`discover` walks the inputs (directories sorted, hidden ones and ``--exclude``
   skipped, links leaving the tree not followed); ``-`` is standard input.
2. :func:`take` decides, for one path, before parsing anything: not of interest, an error
   (a directory, a Helm chart template, unreadable, binary), a long stream to be read piece
   by piece, or bytes to read whole.
3. A :class:`Reader` says which files it claims by name and by content, what its format
   can express (the capabilities rules need) and how its format words a remedy.
   :func:`reader_for_text` and :func:`detect` pick the reader; :func:`open_source` reads a
   file into the model (a :class:`~rofs.sources.interface.SourceFile` and its workloads).

Adding a format is a reader here (a ``Reader`` entry with its source module), a fixer in
``rofs.fixers`` and fixtures.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import stat
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Literal

import pathspec
import yaml

from rofs.files import stamp
from rofs.model import Capability, SourceFormat, Workload
from rofs.remedy import Wording
from rofs.sources.interface import ReadError, SourceFile, comment_pragmas

STDIN = "-"
STDIN_NAME = "<stdin>"
YAML_SUFFIXES = (".yaml", ".yml", ".json")
MAX_BYTES = 256 << 20  # larger inputs are refused, not read
STREAM_BYTES = 4 << 20  # YAML files past this size are parsed from the file, not from a copy in memory


# --- the readers ---------------------------------------------------------------------------


def is_dockerfile_name(name: str) -> bool:
    """``Dockerfile``, ``Containerfile``, ``Dockerfile.*``, ``*.Dockerfile`` and the like."""
    return (
        name in ("Dockerfile", "Containerfile")
        or name.startswith(("Dockerfile.", "Containerfile."))
        or name.endswith((".Dockerfile", ".dockerfile", ".Containerfile"))
    )


def is_compose_name(name: str) -> bool:
    """``compose.yaml``, ``docker-compose.override.yml`` and the like: Compose by name alone
    (an empty override file is still a Compose file)."""
    low = name.lower()
    return low.endswith((".yaml", ".yml")) and low.startswith(("compose", "docker-compose"))


def _has_key(node: yaml.Node, key: str, value_type: type[yaml.Node] | None = None) -> bool:
    if not isinstance(node, yaml.MappingNode):
        return False
    return any(
        isinstance(k, yaml.ScalarNode) and k.value == key and (value_type is None or isinstance(v, value_type))
        for k, v in node.value
    )


def _kubernetes_content(documents: list[yaml.Node]) -> bool:
    return any(_has_key(d, "apiVersion") and _has_key(d, "kind") for d in documents)


def _compose_content(documents: list[yaml.Node]) -> bool:
    return bool(documents) and _has_key(documents[0], "services", yaml.MappingNode)


def _dockerfile_text(text: str) -> bool:
    from rofs.sources.dockerfile import looks_like_dockerfile

    return looks_like_dockerfile(text)


def _no_name(name: str) -> bool:
    return False


@dataclass(frozen=True)
class Reader:
    """One input format: the files it claims, what it can express, how it words remedies."""

    format: SourceFormat
    syntax: Literal["yaml", "text"]  # YAML documents, or text with its own grammar
    claims_name: Callable[[str], bool]  # a file of this format by its name alone
    capabilities: frozenset[Capability]  # what the format can express: rules need these
    source: str  # the module that reads it into the model
    claims_documents: Callable[[list[yaml.Node]], bool] | None = None  # YAML readers: by content
    claims_text: Callable[[str], bool] | None = None  # text readers: by content

    @property
    def wording(self) -> Wording:
        module = __import__(self.source, fromlist=["WORDING"])
        wording: Wording = module.WORDING
        return wording


_WORKLOAD = frozenset({Capability.CONTAINERS, Capability.COMMANDS, Capability.SUPPRESSIONS})

READERS: tuple[Reader, ...] = (
    Reader(
        SourceFormat.KUBERNETES, "yaml", _no_name,
        _WORKLOAD | {Capability.READ_ONLY_ROOT, Capability.MOUNTS, Capability.PRIVILEGES,
                     Capability.POD_SECURITY, Capability.NON_ROOT_POLICY},
        "rofs.sources.kubernetes", claims_documents=_kubernetes_content,
    ),
    Reader(
        SourceFormat.COMPOSE, "yaml", is_compose_name,
        _WORKLOAD | {Capability.READ_ONLY_ROOT, Capability.MOUNTS, Capability.PRIVILEGES},
        "rofs.sources.compose", claims_documents=_compose_content,
    ),
    Reader(
        SourceFormat.DOCKERFILE, "text", is_dockerfile_name,
        _WORKLOAD | {Capability.BUILD},
        "rofs.sources.dockerfile", claims_text=_dockerfile_text,
    ),
)


def reader(fmt: SourceFormat) -> Reader | None:
    """The reader of *fmt* (None for workloads made from images or profiles, which no file holds)."""
    return next((r for r in READERS if r.format is fmt), None)


def capabilities(fmt: SourceFormat | None) -> frozenset[Capability]:
    """What a workload read from *fmt* can express (nothing for images and profiles)."""
    found = reader(fmt) if fmt is not None else None
    return found.capabilities if found else frozenset()


def formats_with(needs: Iterable[Capability]) -> tuple[SourceFormat, ...]:
    """The formats whose readers can express everything in *needs* (where a rule applies)."""
    wanted = frozenset(needs)
    return tuple(r.format for r in READERS if wanted <= r.capabilities)


def wordings() -> dict[SourceFormat, Wording]:
    """Each format's words for remedies, from its reader (images and profiles: as Dockerfile and
    Kubernetes words them)."""
    words = {r.format: r.wording for r in READERS}
    words[SourceFormat.IMAGE] = words[SourceFormat.DOCKERFILE]
    words[SourceFormat.PROFILE] = words[SourceFormat.KUBERNETES]
    return words


def claimed_by_name(name: str) -> bool:
    """Is a file found by a directory walk worth opening (a YAML/JSON suffix, or a reader's name)?"""
    return name.lower().endswith(YAML_SUFFIXES) or any(r.claims_name(name) for r in READERS)


def text_reader(name: str, text: str) -> Reader | None:
    """The text reader (Dockerfile) of a file: by its name, or by its content when the name does
    not say YAML/JSON (standard input included)."""
    for candidate in READERS:
        if candidate.syntax != "text":
            continue
        if candidate.claims_name(name):
            return candidate
        if not name.lower().endswith(YAML_SUFFIXES) and candidate.claims_text and candidate.claims_text(text):
            return candidate
    return None


def detect(documents: list[yaml.Node], name: str = "") -> SourceFormat | None:
    """The format of a YAML file from its first documents, then from its *name* (a Compose file
    with no services yet, an empty override file)."""
    for candidate in READERS:  # by content first: a compose.yaml holding Kubernetes objects is Kubernetes
        if candidate.claims_documents and candidate.claims_documents(documents):
            return candidate.format
    if name and all(isinstance(d, yaml.MappingNode) for d in documents):
        for candidate in READERS:
            if candidate.syntax == "yaml" and candidate.claims_name(name):
                return candidate.format
    return None


# --- discovery -----------------------------------------------------------------------------


def discover(inputs: Iterable[str], exclude: tuple[str, ...] = (), gitignore: bool = True) -> Iterator[tuple[str, bool]]:
    """(path, named explicitly) for every file to look at; ``-`` is standard input.  A directory's
    walk leaves out what its repository's .gitignore files do (*gitignore* False: not)."""
    seen: set[str] = set()
    for item in inputs:
        if item == STDIN:
            yield STDIN, True
            continue
        path = Path(item)
        if path.is_dir():
            yield from _once(list(_walk(path, exclude, seen, GitIgnored(path) if gitignore else None)))
        elif str(path) not in seen and os.path.realpath(path) not in seen:
            seen.update((str(path), os.path.realpath(path)))  # `a.yaml` and `$PWD/a.yaml` are one file
            yield str(path), True


class Inputs:
    """The files to read: those *inputs* name or hold, then the files they include (Compose
    ``include:``), each file once, an included one right after the file that includes it."""

    def __init__(self, inputs: Iterable[str], exclude: tuple[str, ...] = (), gitignore: bool = True):
        inputs = list(inputs)
        self._found = discover(inputs, exclude, gitignore)
        self._more: deque[tuple[str, bool]] = deque()
        self._read: set[str] = set()
        self._named = {os.path.realpath(p) for p in inputs if p != STDIN and os.path.isfile(p)}  # read in turn

    def __iter__(self) -> Iterator[tuple[str, bool]]:
        for item in self._found:
            yield from self._first(item)
            while self._more:
                yield from self._first(self._more.popleft())

    def _first(self, item: tuple[str, bool]) -> Iterator[tuple[str, bool]]:
        path = item[0]
        real = path if path == STDIN else os.path.realpath(path)
        if real not in self._read:
            self._read.add(real)
            yield item

    def include(self, by: str, files: Iterable[str], within: str | None = None) -> list[str]:
        """Read the *files* that *by* includes next; with *within* (a directory), only those
        beneath it: a note for each of the others."""
        notes = []
        for path in files:
            real = os.path.realpath(path)
            if real in self._read or real in self._named:
                continue  # named too, or included by another file: read once
            if within is not None and not real.startswith(os.path.realpath(within) + os.sep):
                notes.append(f"the included {path} lies outside {within}/ (this file's directory), or leads out of"
                             " it through a link, so fix does not write it (the audit reads it); name it to fix it")
                continue
            self._more.append((path, True))
        return notes


def _once(found: list[tuple[str, bool]]) -> Iterator[tuple[str, bool]]:
    """Each file of a walk once: a link to a file the walk also found, or to one an earlier link
    named, is dropped (its findings would be reported twice, and fixed twice)."""
    real = {os.path.realpath(p) for p, _ in found if not os.path.islink(p)}
    for path, explicit in found:
        if os.path.islink(path):
            target = os.path.realpath(path)
            if target in real:
                continue
            real.add(target)
        yield path, explicit


class GitIgnored:
    """What the .gitignore files of a walk's repository leave out: those from the repository's root
    (the nearest directory above with a .git) down to the walked directory, and those found on the
    way down, each matched relative to its own directory (gitignore rules, by pathspec)."""

    def __init__(self, top: Path):
        self._specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []
        start = top.resolve()
        # the walk does not follow links to directories: a path it gives is the real one below its top
        self._top, self._real_top = os.path.normpath(str(top)), str(start)
        repo = next((d for d in (start, *start.parents) if (d / ".git").exists()), None)
        for d in reversed([start, *start.parents]):
            if d == start or (repo is not None and (d == repo or repo in d.parents)):
                self.enter(str(d))

    def enter(self, directory: str) -> None:
        try:
            with open(os.path.join(directory, ".gitignore"), encoding="utf-8", errors="replace") as handle:
                lines = handle.read(1 << 20).splitlines()
        except OSError:
            return
        self._specs.append((self._real(directory), pathspec.GitIgnoreSpec.from_lines(lines)))

    def _real(self, path: str) -> str:
        path = os.path.normpath(path)
        if path == self._top or path.startswith(self._top + os.sep):
            return self._real_top + path[len(self._top):]
        return os.path.realpath(path)

    def __call__(self, path: str, is_dir: bool) -> bool:
        if not self._specs:
            return False
        real = self._real(path)
        for base, spec in self._specs:
            if real.startswith(base + os.sep):
                rel = real[len(base) + 1:] + ("/" if is_dir else "")
                if spec.match_file(rel):
                    return True
        return False


def _walk(path: Path, exclude: tuple[str, ...], seen: set[str],
          ignored: GitIgnored | None = None) -> Iterator[tuple[str, bool]]:
    root = path.resolve()
    unreadable: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False, onerror=unreadable.append):
        while unreadable:  # a directory that cannot be listed: its reader reports why
            yield str(unreadable.pop(0).filename), True
        if ignored is not None and os.path.realpath(dirpath) != str(root):
            ignored.enter(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and not _excluded(os.path.join(dirpath, d), d, exclude)
            and not (ignored is not None and ignored(os.path.join(dirpath, d), True))
        )
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if _excluded(full, name, exclude) or full in seen or not _inside(full, root) \
                    or (ignored is not None and ignored(full, False)):
                continue
            seen.add(full)
            yield full, False
    for error in unreadable:
        yield str(error.filename), True


def _inside(full: str, root: Path) -> bool:
    """Links are followed only to files inside the tree walked."""
    if not os.path.islink(full):
        return True
    try:
        target = Path(full).resolve()
    except (OSError, RuntimeError):  # a link loop
        return False
    return target.is_file() and root in target.parents


def _excluded(path: str, name: str, patterns: tuple[str, ...]) -> bool:
    norm = path.removeprefix("./")
    return any(fnmatch.fnmatch(norm, p) or fnmatch.fnmatch(name, p) or fnmatch.fnmatch(norm, f"*/{p}") for p in patterns)


# --- taking one file -----------------------------------------------------------------------


@dataclass
class Taken:
    """What intake decided about one path, before anything is parsed.

    Exactly one of *error*, *skipped*, *stream* and *data* is set: the file is an error, skipped
    (found by a walk, and not text), a long YAML stream to read piece by piece from the file
    *stream* names, or its bytes to read whole.
    """

    path: str  # as given (``-`` for standard input)
    display: str  # as reports name it (``<stdin>`` for standard input)
    explicit: bool  # named on the command line (not found by a directory walk)
    error: ReadError | None = None
    skipped: str | None = None
    stream: str | None = None
    data: bytes | None = None
    stamp: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) before reading (a fix checks it)
    regular: bool = True  # a regular file (a FIFO named on the command line, as from <(helm template), is read)

    def text(self, keep_endings: bool = False) -> tuple[str | None, ReadError | None, str | None]:
        """(text, error, skip reason) of *data*: a named file that is not text is an error, one
        found by a walk is skipped.  Readers get the text without a BOM and with ``\\n`` line
        ends; a fix keeps them exactly (*keep_endings*)."""
        text, skip = decode(self.data or b"", keep_endings)
        if skip and self.explicit:
            return None, ReadError(self.display, None, unreadable_text(skip)), None
        return text, None, skip


def take(path: str, explicit: bool, stream_json: bool = True, special: bool = True) -> Taken | None:
    """Decide how to read *path*; None for files of no interest found by a directory walk.

    Long YAML files (past STREAM_BYTES) and long standard input are left to be read as streams;
    with *stream_json* False a JSON file is always read whole (a fix must keep it one value).
    With *special* False a FIFO or device named on the command line is not read at all (a fix
    has nowhere to write back to, and reading could wait for a writer for ever).
    """
    name = os.path.basename(path)
    if path != STDIN and not explicit and not claimed_by_name(name):
        return None
    display = STDIN_NAME if path == STDIN else path
    taken = Taken(path, display, explicit)
    if path == STDIN:
        return _take_stdin(taken)
    if os.path.isdir(path):
        taken.error = ReadError(path, None, directory_error(path))
        return taken
    taken.regular = _regular(path)
    if not taken.regular and not explicit:
        return None  # a FIFO, socket or device found by a walk: reading it could block for ever
    if not taken.regular and not special:
        return taken
    if _helm_template(taken, name) or _kustomize_patch(taken, name):
        return taken
    text_name = any(r.syntax == "text" and r.claims_name(name) for r in READERS)
    yaml_name = name.lower().endswith(YAML_SUFFIXES)
    long = not text_name and (yaml_name or explicit) and file_size(path) > STREAM_BYTES
    if long and (stream_json or not _starts_json(path)) and not _aliases(path):
        taken.stream = path
        return taken
    taken.stamp = stamp(path)
    try:
        with open(path, "rb") as handle:
            taken.data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        taken.error = ReadError(display, None, f"cannot read: {exc.strerror or exc}")
        return taken
    if len(taken.data) > MAX_BYTES:
        taken.data = None
        taken.error = ReadError(display, None, f"larger than {MAX_BYTES >> 20} MiB")
    return taken


def _take_stdin(taken: Taken) -> Taken:
    try:
        data, spooled = spool_stdin(STREAM_BYTES)
    except OSError as exc:
        taken.error = ReadError(taken.display, None, f"cannot read: {exc.strerror or exc}")
        return taken
    if spooled:
        taken.stream = spooled
    else:
        taken.data = data or b""
    return taken


def _helm_template(taken: Taken, name: str) -> bool:
    """A template of a Helm chart: skipped (it is not YAML yet), saying how to check it when it was
    named (pre-commit names every staged file: a chart's templates among them must not fail it)."""
    chart = chart_of(taken.path) if name.lower().endswith(YAML_SUFFIXES) else None
    line = template_line(taken.path) if chart else None
    if not line:
        return False
    if taken.explicit:
        taken.skipped = (f"a template of the Helm chart in {chart} (line {line}): check the rendered chart,"
                         f" `helm template {chart} | rofs audit -`")
    else:
        taken.skipped = "Helm chart template (render it with helm template)"
    return True


def decode(data: bytes, keep_endings: bool = False) -> tuple[str | None, str | None]:
    """(text, skip reason) of a file's bytes: binary and non-UTF-8 files are not text."""
    if b"\x00" in data[:8192]:
        return None, "binary"
    try:
        text = data.decode("utf-8" if keep_endings else "utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (byte {exc.start})"
    return (text if keep_endings else text.replace("\r\n", "\n")), None


def unreadable_text(skip: str) -> str:
    """The error for a file named on the command line that is not text rofs can read."""
    return f"{skip}: not read (rofs reads UTF-8 text: YAML, JSON, Dockerfiles)"


def directory_error(path: str) -> str:
    try:
        os.listdir(path)
    except OSError as exc:
        return f"cannot read directory: {exc.strerror or exc}"
    return "is a directory"


KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def _kustomize_patch(taken: Taken, name: str) -> bool:
    """A patch a kustomization.yaml beside it applies (a partial object: a patch that sets only
    resources would get RO101-RO105 as if it were a workload): skipped, saying how to check the
    rendered overlay."""
    if not name.lower().endswith(YAML_SUFFIXES) or name in KUSTOMIZATION_NAMES:
        return False
    directory = os.path.dirname(os.path.abspath(taken.path))
    patches = kustomize_patches(directory)
    if not patches or os.path.realpath(taken.path) not in patches:
        return False
    where = os.path.dirname(taken.path) or "."
    taken.skipped = f"a Kustomize patch of {where} (check the rendered overlay: kubectl kustomize {where} | rofs audit -)"
    return True


@lru_cache(maxsize=256)
def kustomize_patches(directory: str) -> frozenset[str]:
    """The files the kustomization in *directory* applies as patches (patches[].path,
    patchesStrategicMerge, patchesJson6902[].path), by real path; empty when there is none."""
    for candidate in KUSTOMIZATION_NAMES:
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            break
    else:
        return frozenset()
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            data = yaml.load(handle.read(1 << 20), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return frozenset()
    if not isinstance(data, dict):
        return frozenset()
    names: list[str] = []
    for key in ("patches", "patchesJson6902"):
        for entry in data.get(key) or []:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                names.append(entry["path"])
    for entry in data.get("patchesStrategicMerge") or []:
        if isinstance(entry, str) and "\n" not in entry:  # an inline patch is no file
            names.append(entry)
    return frozenset(os.path.realpath(os.path.join(directory, n)) for n in names)


def chart_of(path: str) -> str | None:
    """The Helm chart directory when *path* is one of its templates (``CHART/templates/...``)."""
    for parent in Path(path).parents:
        if parent.name == "templates" and (parent.parent / "Chart.yaml").is_file():
            return str(parent.parent)
    return None


def template_line(path: str) -> int | None:
    """The first line with a ``{{`` template action (comments aside), or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if "{{" in line and not line.lstrip().startswith("#"):
                    return number
    except OSError:
        return None
    return None


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True  # reading it will say why


def file_size(path: str) -> int:
    """The size of *path* in bytes (0 when it cannot be stat'ed: reading it will say why)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


_ALIAS = re.compile(rb"(?:^|[\s\[{,:])\*[^\s,\[\]{}]+")


def _aliases(path: str) -> bool:
    """Whether a long YAML file uses aliases: one may name an anchor in another piece of the
    stream (a `kubectl get -o yaml` List), so the file is read whole instead (up to MAX_BYTES)."""
    try:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 24):
                if _ALIAS.search(block):
                    return True
    except OSError:
        return False
    return False


def _starts_json(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")
    except OSError:
        return False


_SPOOLED: list[IO[bytes]] = []  # standard input spooled to unnamed temp files, kept open while read


def spool_stdin(limit: int) -> tuple[bytes | None, str | None]:
    """Standard input: (its bytes) when it is at most *limit* bytes, else (None, a path to a
    temp file holding it), so a long ``helm template`` or ``kubectl get`` stream is read like a
    file.  The temp file has no name (a process killed meanwhile leaves nothing behind): the
    path is its ``/proc/self/fd`` entry."""
    head = sys.stdin.buffer.read(limit + 1)
    if len(head) <= limit:
        return head, None
    spool = tempfile.TemporaryFile(prefix="rofs-stdin-")  # noqa: SIM115 - kept open in _SPOOLED while read
    spool.write(head)
    shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
    spool.flush()
    _SPOOLED.append(spool)
    path = f"/proc/self/fd/{spool.fileno()}"
    if os.path.exists(path):
        return None, path
    named = tempfile.NamedTemporaryFile(prefix="rofs-stdin-", suffix=".yaml")  # noqa: SIM115 - no /proc: a named one, kept
    spool.seek(0)
    shutil.copyfileobj(spool, named, 1 << 20)
    named.flush()
    _SPOOLED.append(named)
    return None, named.name


# --- reading into the model ----------------------------------------------------------------

Opened = tuple[SourceFile, Iterable[Workload]]


def read_file(path: str, explicit: bool) -> SourceFile | None:
    """Read one whole file into a SourceFile (workloads listed); None for files of no interest."""
    opened = open_source(path, explicit)
    if opened is None:
        return None
    source, workloads = opened
    if workloads is not source.workloads:
        source.workloads.extend(workloads)
    return source


def open_source(path: str, explicit: bool) -> Opened | None:
    """A SourceFile and its workloads, streamed where the format allows (long Kubernetes streams).

    None for files of no interest found by a directory walk.  Counts and errors land in the
    SourceFile as the workloads are consumed.
    """
    taken = take(path, explicit)
    if taken is None:
        return None
    display = taken.display
    if taken.error:
        return _done(SourceFile(path=display, format=None, errors=[taken.error]))
    if taken.skipped:
        return _done(SourceFile(path=display, format=None, skipped=taken.skipped))
    if taken.stream:
        return _open_yaml_stream(taken.stream, explicit, display)
    text, error, skip = taken.text()
    if error:
        return _done(SourceFile(path=display, format=None, errors=[error]))
    if skip or text is None:
        return _done(SourceFile(path=display, format=None, skipped=skip))
    found = text_reader(os.path.basename(path) if path != STDIN else STDIN_NAME, text)
    if found is not None:
        return _done(_read_text_format(found, text, display))
    return _open_yaml(text, display, explicit)


def _read_text_format(found: Reader, text: str, path: str) -> SourceFile:
    from rofs.sources.dockerfile import DockerfileSource

    assert found.format is SourceFormat.DOCKERFILE
    return DockerfileSource().read(text, path)


def _done(source: SourceFile) -> Opened:
    return source, source.workloads


def _yaml_loader() -> type:
    from rofs.yamlnode import Loader

    return Loader


def _open_yaml_stream(path: str, explicit: bool, display: str) -> Opened:
    """A large YAML file, parsed as it is read: memory does not grow with the file.

    Kubernetes streams (``helm template``, ``kubectl get -o yaml`` dumps) are the case that
    matters; the type is decided on the first documents, as for small files.
    """
    from rofs.sources.kubernetes import KubernetesSource, yaml_error
    from rofs.stream import documents as stream_documents
    from rofs.stream import has_list_items

    loader = _yaml_loader()
    try:
        with open(path, "rb") as probe:
            head = probe.read(8192)
        if b"\x00" in head:
            return _done(_unreadable(display, explicit, "binary"))
        handle = open(path, encoding="utf-8-sig", errors="strict")  # noqa: SIM115 - closed when the stream ends
    except OSError as exc:
        return _done(SourceFile(path=display, format=None, errors=[ReadError(display, None, f"cannot read: {exc.strerror or exc}")]))
    if has_list_items(path):
        stream: Iterator[yaml.Node] = stream_documents(handle, loader)
    else:  # no List to cut: compose straight from the file (positions are the file's already)
        stream = (doc for doc in yaml.compose_all(handle, Loader=loader) if doc is not None)
    seen: list[yaml.Node] = []
    kind = None
    try:
        for doc in stream:
            seen.append(doc)
            kind = detect(seen)
            if kind is not None:
                break
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        handle.close()
        if isinstance(exc, UnicodeDecodeError):
            return _done(_unreadable(display, explicit, "not UTF-8"))
        return _done(SourceFile(path=display, format=None, errors=[yaml_error(display, exc)]))
    if kind is not SourceFormat.KUBERNETES:
        handle.close()
        return _open_whole(path, display, explicit)  # a large Compose file: read it whole, as usual
    result = SourceFile(path=display, format=kind)
    with open(path, encoding="utf-8-sig", errors="replace") as lines:
        result.suppressions.extend(comment_pragmas(lines, display))

    def documents() -> Iterator[yaml.Node]:
        try:
            yield from seen
            yield from stream
        finally:
            handle.close()

    return result, KubernetesSource().iter_workloads(documents(), "", display, result, pragmas=False)


def _unreadable(display: str, explicit: bool, why: str) -> SourceFile:
    if explicit:
        return SourceFile(path=display, format=None, errors=[ReadError(display, None, unreadable_text(why))])
    return SourceFile(path=display, format=None, skipped=why)


def _open_whole(path: str, display: str, explicit: bool) -> Opened:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        return _done(SourceFile(path=display, format=None, errors=[ReadError(display, None, f"cannot read: {exc.strerror or exc}")]))
    if len(data) > MAX_BYTES:
        return _done(SourceFile(path=display, format=None, errors=[ReadError(display, None, f"larger than {MAX_BYTES >> 20} MiB")]))
    text, skip = decode(data)
    if skip or text is None:
        return _done(_unreadable(display, explicit, skip or "binary"))
    return _open_yaml(text, display, explicit)


def _open_yaml(text: str, path: str, explicit: bool) -> Opened:
    from rofs.sources.kubernetes import yaml_error

    stream: Iterator[yaml.Node | None] = yaml.compose_all(text, Loader=_yaml_loader())
    seen: list[yaml.Node] = []
    kind: SourceFormat | None = None
    try:
        for doc in stream:  # compose until the type is known; the rest is streamed
            if doc is None:
                continue
            seen.append(doc)
            kind = detect(seen)
            if kind is not None:
                break
    except yaml.YAMLError as exc:
        if not seen and not explicit and "{{" not in text and not _looks_like_config(text):
            return _done(SourceFile(path=path, format=None, skipped="not Kubernetes or Compose"))
        if kind is None and not seen:
            return _done(SourceFile(path=path, format=None, errors=[yaml_error(path, exc, text)]))
        stream = _raising(exc)
    except RecursionError:
        return _done(SourceFile(path=path, format=None, errors=[ReadError(path, None, "YAML nested too deeply")]))
    if kind is None:
        kind = detect(seen, os.path.basename(path))
    return _read_yaml_format(kind, seen, stream, text, path)


def _read_yaml_format(
    kind: SourceFormat | None, seen: list[yaml.Node], stream: Iterator[yaml.Node | None], text: str, path: str
) -> Opened:
    from rofs.sources.kubernetes import KubernetesSource, yaml_error

    if kind is SourceFormat.KUBERNETES:
        result = SourceFile(path=path, format=kind)
        rest = (d for d in stream if d is not None)
        return result, KubernetesSource().iter_workloads(_chain(seen, rest), text, path, result)
    if kind is SourceFormat.COMPOSE:
        from rofs.sources.compose import ComposeSource

        try:
            documents = seen + [d for d in stream if d is not None]
        except yaml.YAMLError as exc:
            return _done(SourceFile(path=path, format=kind, errors=[yaml_error(path, exc, text)]))
        return _done(ComposeSource().read_documents(documents, text, path))
    skipped = "not Kubernetes or Compose" if any(map(_has_content, seen)) else "empty"
    return _done(SourceFile(path=path, format=None, skipped=skipped))


def _has_content(node: yaml.Node) -> bool:
    return not (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null")


def _chain(first: list[yaml.Node], rest: Iterable[yaml.Node]) -> Iterator[yaml.Node]:
    yield from first
    yield from rest


def _raising(exc: Exception) -> Iterator[yaml.Node]:
    raise exc
    yield  # pragma: no cover - makes this a generator


def _looks_like_config(text: str) -> bool:
    return "apiVersion:" in text or "services:" in text
