"""``rofs explain``: from a log line to the mount that is missing.

Lines are first unwrapped (``kubectl logs --timestamps/--prefix``, ``docker logs -t``,
journal lines, JSON-lines logs), then matched against the failure classes of
``patterns.yaml`` and against the log signatures each profile carries (gathered by running
the apps).  The path comes from the line when it has one; a relative one (PostgreSQL's
``postmaster.pid``) is placed with the app's profile; the mount is the profile's path that
covers it, with its kind and size, or the directory of the file.
"""

from __future__ import annotations

import fnmatch
import io
import json
import posixpath
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import BinaryIO, TextIO

import yaml

from rofs.diagnose import placement
from rofs.model import Profile, VolumeKind, WritablePath, path_covers, resolved, scratch_reason, volume_name_for
from rofs.profiles import ProfileRegistry
from rofs.units import format_docker_size, format_quantity

DEFAULT_SIZE = 256 << 20


@dataclass(frozen=True)
class Cause:
    id: str
    title: str
    kind: VolumeKind
    patterns: tuple[re.Pattern, ...]


@dataclass(frozen=True)
class Diagnosis:
    line: int
    text: str  # the message, unwrapped
    cause: str
    title: str
    path: str | None  # what the program wrote
    app: str | None
    mount: str | None  # the directory to make writable
    kind: VolumeKind
    size: int | None
    advice: str
    kind_known: bool = True  # False: no profile says whether the mount holds data; kind is the safe choice

    def key(self) -> tuple:
        return (self.cause, self.mount or self.path or "", self.app or "", self.advice)


@lru_cache(maxsize=1)
def _patterns() -> dict:
    return yaml.safe_load(resources.files("rofs.diagnose").joinpath("patterns.yaml").read_text("utf-8"))


def _unnamed(signature: str, app_known: bool) -> bool:
    """A signature that must not name its app (patterns.yaml follow_on, any_program)."""
    data = _patterns()
    return any(p in signature for p in data.get("follow_on", ())) or (
        not app_known and any(p in signature for p in data.get("any_program", ())))


@lru_cache(maxsize=1)
def causes() -> tuple[Cause, ...]:
    data = _patterns()
    return tuple(
        Cause(c["id"], c["title"], VolumeKind(c["kind"]), tuple(re.compile(p) for p in c["patterns"]))
        for c in data["causes"]
    )


# --- unwrapping log formats ------------------------------------------------------------

_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)\s+")
_KUBECTL_PREFIX = re.compile(r"^\[pod/[^\]]+\]\s+")
_COMPOSE_PREFIX = re.compile(r"^[\w.-]+\s+\|\s")  # docker compose logs / up: `db_1   | message`
_JOURNAL = re.compile(r"^[A-Z][a-z]{2}\s+\d+\s+\d\d:\d\d:\d\d\s+\S+\s+[^:\[]+(?:\[\d+\])?:\s+")
MESSAGE_KEYS = ("msg", "message", "MESSAGE", "log", "error", "err", "Message", "text")


def unwrap(line: str) -> str:
    text = line.rstrip("\r\n")
    for _ in range(3):  # prefixes stack: kubectl --prefix --timestamps
        before = text
        text = _KUBECTL_PREFIX.sub("", text)
        text = _COMPOSE_PREFIX.sub("", text)
        text = _TIMESTAMP.sub("", text)
        text = _JOURNAL.sub("", text)
        if text == before:
            break
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return text
        if isinstance(data, dict):
            parts = [str(data[k]) for k in MESSAGE_KEYS if k in data and isinstance(data[k], (str, int, float))]
            if parts:
                return " ".join(parts)
    return text


# --- paths ------------------------------------------------------------------------------

_QUOTED = re.compile(r"""['"‘’“”`](/[^'"‘’“”`]*)['"‘’“”`]""")
_BARE = re.compile(r"(?<![\w/.:-])(/(?:[\w.@+-]+/?)+)")
_RELATIVE_QUOTED = re.compile(r"""["']([\w.-]+(?:/[\w.-]+)*)["']""")


def path_in(text: str) -> str | None:
    """The file system path the line is about, if it names one, normalised (``//``, ``.`` and
    ``..`` resolved as the kernel would: ``/var/lib/pg/../../../etc/x`` is ``/etc/x``)."""
    found = _path_in(_PROGRAM_PREFIX.sub("", text, count=1))
    return posixpath.normpath("/" + found.lstrip("/")) if found else found


def _path_in(text: str) -> str | None:
    for match in _QUOTED.finditer(text):
        candidate = match.group(1).rstrip("/.:,;")
        if len(candidate) > 1 and " " not in candidate:
            return candidate
    for match in _BARE.finditer(text):
        candidate = match.group(1).rstrip("/.:,;")
        if text[match.end():match.end() + 1] == "(":  # `[/usr/sbin/haproxy.main()]`: a function, not a path
            continue
        if len(candidate) > 1:
            return candidate
    return None


def mount_dir(path: str, cause: str, made: bool = False) -> str:
    """Where to mount: the directory a file is in; a directory the program failed to make (*made*):
    the one it was made in (nginx makes client_temp in /var/cache/nginx), unless that is no place
    for a volume (``/.pm2``: itself)."""
    if cause in ("read-only-as-enoent",) or path.endswith("/") or path in ("/tmp", "/var/tmp", "/run", "/dev/shm"):
        return path.rstrip("/") or "/"
    if made:
        parent = posixpath.dirname(path) or "/"
        return parent if placement.area_of(parent, path) is None else path
    parts = path.split("/")
    dotted = next((i for i, part in enumerate(parts) if part.startswith(".") and part not in (".", "..")), None)
    if dotted is not None and dotted < len(parts) - 1:
        return "/".join(parts[:dotted + 1])  # a tool's own dot-directory (~/.cache, /app/.npm): mount it whole
    last = path.rsplit("/", 1)[-1]
    if "." in last or last.endswith(("pid", "lock", "sock", "log")) or last.startswith(("tmp", ".")) or "XXXXXX" in last:
        return path.rsplit("/", 1)[0] or "/"
    return path


# --- matching ----------------------------------------------------------------------------


GENERIC_CAUSES = ("read-only", "no-space", "permission")
NOT_A_MOUNT = "not-a-mount"  # the write is one no volume should make work (placement.yaml)
NO_MOUNT_CAUSES = ("host-mount-source", "in-place-edit")  # what a volume of the container cannot answer
SHARED_PLACES = ("/tmp", "/var/tmp", "/run", "/var/run", "/dev/shm", "/var/log", "/var/cache", "/home", "/root")
# `/bin/sh: 1: cannot create /x` and `/docker-entrypoint.sh: line 12: ...`: the program, not the path
_PROGRAM_PREFIX = re.compile(r"^\s*/[\w./-]+: (?:\d+: |line \d+: )")
# the line says the path is a file: mount the directory it is in
_FILE = re.compile(r"cannot touch|^touch: /|regular file|rb_sysopen|file_put_contents\(|fopen\(|open\(\) \"|\bopen '")
_MKDIR = re.compile(r"\bmkdir(?:\(\)| \S| all)|cannot create directory|mkdir failed on directory")
_SHM_NAME = re.compile(r"/[^/\s]+")
_SHM_WORDS = re.compile(r"shared memory|shm_open|sem_open|semaphore", re.IGNORECASE)
_PROCESS = re.compile(r"^([a-z][\w.+-]{1,30}):\s")
_CLASS_NAME = re.compile(r"^(?:[a-z_]\w*\.)+[A-Z]\w*$")  # java.lang.IllegalStateException: a class, not a program
# `sysctl: setting key "vm.max_map_count": ...` and `sysctl: cannot stat /proc/sys/...`: the kernel setting's file
_SYSCTL_KEY = re.compile(r"""sysctl: (?:setting key|permission denied on key|cannot set) ["']?([a-z][\w.-]*)""")


# the line is about a file the image has: the program deletes or replaces it
_REPLACES = re.compile(r"(?i)\b(?:unable to (?:delete|remove)|failed to (?:delete|remove)|cannot (?:delete|remove)|"
                       r"could not (?:delete|remove)|can't (?:delete|remove))\b")


def _image_file_advice(process: str | None, path: str, mount: str) -> str:
    who = process or "the program"
    return (f"{who} deletes or replaces {path}, a file the image has: an empty volume at {mount} would hide the"
            f" image's files there; make the change at build time (a program that rebuilds itself at start has a"
            f" pre-built mode: Keycloak's `kc.sh build` in the image, then `start --optimized`), or fill the volume"
            f" with the image's files first (an init container copying {mount})")


def _process(text: str) -> str | None:
    """The program a line names first (``addgroup: /etc/group: ...``)."""
    match = _PROCESS.match(text.strip())
    return match.group(1) if match and not _CLASS_NAME.match(match.group(1)) else None


def specific(signature: str) -> bool:
    """A signature names its app only if something is left once the errno wording is taken out
    ("Read-only file system (os error 30)" could be any Rust program)."""
    rest = signature
    for cause in causes():
        if cause.id in GENERIC_CAUSES:
            for pattern in cause.patterns:
                rest = pattern.sub("", rest)
    return len(re.sub(r"[^A-Za-z]", "", rest)) >= 8


@lru_cache(maxsize=1)
def _any_cause() -> re.Pattern:
    """One pattern for every cause: most lines match none, and one search says so."""
    return re.compile("|".join(f"(?:{p.pattern})" for c in causes() for p in c.patterns))


@lru_cache(maxsize=1)
def _other_error() -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in _patterns().get("other_errors", ())) or r"(?!)")


def _signature_screen(profiles: list[Profile]) -> re.Pattern:
    """One pattern for every signature of *profiles*: most log lines carry none, and one search
    in C answers that (a 200 MB access log: 109 us -> a few us per line)."""
    signatures = sorted({sig for p in profiles for spec in p.paths for sig in spec.signatures
                         if sig and not _unnamed(sig, len(profiles) == 1)}, key=len)
    return re.compile("|".join(map(re.escape, signatures)) or r"(?!)")


def _profile_for_signature(text: str, profiles: list[Profile], any_signature: bool = False,
                           layout: str | None = None, screen: re.Pattern | None = None
                           ) -> tuple[Profile, WritablePath] | None:
    if screen is not None and not screen.search(text):
        return None
    for profile in profiles:
        ids = [lay.id for lay in profile.layouts]
        if layout in ids:  # the layout the caller knows (from --layout or the manifest's image) first
            ids.remove(layout)
            ids.insert(0, layout)
        ordered = [s for lid in ids for s in profile.paths_for(lid)]
        for spec in ordered:
            for signature in spec.signatures:
                if signature and signature in text and (any_signature or specific(signature)) \
                        and not _unnamed(signature, any_signature):
                    return profile, spec
    return None


def diagnose_line(text: str, number: int, registry: ProfileRegistry, app: Profile | None,
                  layout: str | None = None, profiles: list[Profile] | None = None,
                  screen: re.Pattern | None = None) -> Diagnosis | None:
    """One line's diagnosis.  *profiles* (the app's, or the registry's) and their signature
    *screen* are worked out once per log by ``diagnose``."""
    cause = None
    if _any_cause().search(text):
        cause = next((c for c in causes() if any(p.search(text) for p in c.patterns)), None)
    signed = _profile_for_signature(text, profiles if profiles is not None else ([app] if app else list(registry)),
                                    any_signature=app is not None, layout=layout, screen=screen)
    if cause is None and (signed is None or _other_error().search(text)):
        return None
    cause_id = cause.id if cause else "read-only"
    title = cause.title if cause else "the app could not write a path its profile lists"
    kind = cause.kind if cause else VolumeKind.EPHEMERAL
    if cause_id in NO_MOUNT_CAUSES and app is None:
        signed = None  # a tool's line (sed, the Docker daemon): no app's signature
    path = _written_path(text, cause_id)
    profile = app or (signed[0] if signed else None)
    if profile is None and cause_id not in NO_MOUNT_CAUSES:
        # a path only one app keeps (nginx's /var/lib/nginx/tmp/...), a name only one writes (pg_wal/...)
        profile = _owner(registry, path) if path is not None else (_owner_by_name(registry, text) if cause else None)
    spec = _spec(profile, layout, path, signed, text)
    process = _process(text) or (profile.name if profile else None)
    refusal = None
    kind_known = True
    named = placement.named_area(path) if path is not None else None
    if named is not None:  # a ConfigMap's ..data, a passwd file: no volume, whatever profile covers it
        mount, size, refusal = None, None, placement.refused(path or "/", path, process)
    elif cause_id in NO_MOUNT_CAUSES:
        mount, size = None, None
    elif spec is not None and spec.populated and placement.area_of(spec.path, path) is not None:
        mount, size, refusal = None, None, placement.populated_advice(spec, path or spec.path, process)
    elif spec is not None:
        mount, kind, size = spec.path, spec.kind, spec.size
    elif path is not None:
        if path.startswith("/dev/shm"):
            mount = "/dev/shm"
        elif (_FILE.search(text) or _PROGRAM_PREFIX.match(text) and path in text) and not _MKDIR.search(text):  # a file, or a redirect
            mount = posixpath.dirname(path) or "/"
        else:
            mount = mount_dir(path, cause_id, bool(_MKDIR.search(text)))
        size = DEFAULT_SIZE
        if path.startswith("/dev/shm"):
            kind = VolumeKind.MEMORY
        elif kind is VolumeKind.EPHEMERAL and scratch_reason(mount) is None:
            kind_known = False  # /home/postgres/pgdata, /var/jenkins_home: may be data that must outlive the pod
        refusal = placement.refused(mount, path, process)
        if refusal is None and _REPLACES.search(text) and scratch_reason(mount) is None:
            refusal = _image_file_advice(process, path, mount)
        moved = _moved(signed, profile, path) if refusal is not None else None
        if moved is not None:  # Redis in `dir /`: its data path, once its setting points there
            refusal, spec = None, moved
            mount, kind, size = spec.path, spec.kind, spec.size
    else:
        mount, size = None, None
    if refusal is not None:  # / or a system directory: the program must not write there
        mount, size, cause_id = None, None, NOT_A_MOUNT
        title = "a write no mount should fix: the program must not write there"
    if cause_id == "shm-too-small":
        kind, mount = VolumeKind.MEMORY, "/dev/shm"
        if spec is None:
            size = 256 << 20
    if refusal is not None or mount is None or cause_id != "read-only":
        kind_known = True
    if not kind_known:
        kind = VolumeKind.PERSISTENT  # losing data on restart is worse than a claim a scratch directory did not need
    advice = refusal or (_unknown_kind_advice(mount, size) if not kind_known and mount else
                         _advice(cause_id, mount, kind, size, text, path))
    if spec is not None and path is not None and spec.env and not _covered(spec, path):
        advice = (f"{process} wrote {path} because its {spec.env} points at {posixpath.dirname(path)}:"
                  f" set {spec.env} to {spec.path} and {advice}")
    elif spec is not None and path is None and mount is not None and spec.env and layout is None:
        # the line names no path and the image is not known: the profile's path is where the image puts it
        where = " and ".join(spec.layouts) + " image" + ("s" if len(spec.layouts) > 1 else "") if spec.layouts else "image"
        advice = f"{advice} - where its {spec.env} points ({spec.path} in the {where}; mount the path it is set to)"
    return Diagnosis(number, text.strip(), cause_id, title, path, profile.name if profile else None,
                     mount, kind, size, advice, kind_known)


def _unknown_kind_advice(mount: str, size: int | None) -> str:
    return (f"mount a volume at {mount}; no profile says what it holds. If it keeps data that must outlive the"
            f" container (a database's data directory, uploads, state), make it a persistent volume (PVC / named"
            f" volume); an emptyDir / tmpfs ({format_quantity(size or DEFAULT_SIZE)}) is enough only for scratch and"
            f" loses its contents on every restart. `rofs trace` shows what the program keeps there")


@lru_cache(maxsize=1)
def _joined_paths() -> tuple[re.Pattern, ...]:
    return tuple(re.compile(p) for p in _patterns().get("joined_paths", ()))


def _written_path(text: str, cause: str) -> str | None:
    """The path the failed write was to, as the line says it (or as the cause implies)."""
    for joined in _joined_paths():
        match = joined.search(text)
        if match:
            return posixpath.normpath(posixpath.join("/", match.group("dir"), match.group("name")))
    path = path_in(text)
    sysctl = _SYSCTL_KEY.search(text)
    if sysctl and path is None:
        return "/proc/sys/" + sysctl.group(1).replace(".", "/")
    if "here-document" in text:  # the shell's temp file, in $TMPDIR; the path on the line is the script's
        return "/tmp"
    if path is not None and _SHM_NAME.fullmatch(path) and _SHM_WORDS.search(text):
        return "/dev/shm" + path  # a POSIX shared memory or semaphore name lives in /dev/shm
    if cause == "no-temp-dir" and path is None:
        match = re.search(r"\[\s*'(/[^']+)'", text)  # Python: the first directory it tried
        path = match.group(1) if match else "/tmp"
        if "java.io.tmpdir is set to" in text:
            after = text.split("java.io.tmpdir is set to", 1)[1].strip().split()
            path = after[0] if after else "/tmp"
    if cause == "shm-too-small":
        path = path or "/dev/shm"
    return path


def _spec(profile: Profile | None, layout: str | None, path: str | None,
          signed: tuple[Profile, WritablePath] | None, text: str) -> WritablePath | None:
    """The profile's path the write belongs to: the one covering *path*, else the signature's, else
    the one whose signature holds the relative name the line quotes."""
    if profile is None:
        return None
    candidates = profile.paths_for(layout) if layout in [lay.id for lay in profile.layouts] else profile.paths
    if path is not None:
        return next((s for s in sorted(candidates, key=lambda s: -len(s.path))
                     if path_covers(s.path, path) or any(path_covers(a, path) for a in s.accepts)), None)
    if signed is not None and signed[0] is profile:
        return signed[1]
    relative = _relative_name(text)
    if relative:
        return next((s for s in candidates if any(relative in sig for sig in s.signatures)
                     or _names(s, relative)), None)
    return None


def _relative_name(text: str) -> str | None:
    """A relative name the line quotes (``"pg_wal/xlogtemp.25"``), if there is one."""
    match = _RELATIVE_QUOTED.search(text)
    return match.group(1) if match else None


def _names(spec: WritablePath, relative: str) -> bool:
    """Is *relative* one of the names the app writes beneath *spec* (its ``relative_names``)?"""
    return any(fnmatch.fnmatchcase(relative, g) or fnmatch.fnmatchcase(relative, g + "/*")
               for g in spec.relative_names)


def _owner_by_name(registry: ProfileRegistry, text: str) -> Profile | None:
    """The one app that writes the relative name the line quotes beneath one of its paths."""
    relative = _relative_name(text)
    if relative is None:
        return None
    owners = {p.name: p for p in registry for s in p.paths if _names(s, relative)}
    return next(iter(owners.values())) if len(owners) == 1 else None


def _covered(spec: WritablePath, path: str) -> bool:
    return path_covers(spec.path, path) or any(path_covers(a, path) for a in spec.accepts)


def _moved(signed: tuple[Profile, WritablePath] | None, profile: Profile | None, path: str) -> WritablePath | None:
    """The profile path a signed line's write belongs to when the app was pointed elsewhere (a
    setting that moves the path, ``env``), and elsewhere is no place for a volume."""
    if signed is None or signed[0] is not profile or not signed[1].env or signed[1].populated:
        return None
    return signed[1]


def _owner(registry: ProfileRegistry, path: str) -> Profile | None:
    """The one app whose own directory (two levels deep at least, and not itself a shared place like
    /tmp or /run: /run/postgresql and /var/cache/nginx are an app's own) holds *path*; None when
    none does, or when several do."""
    shared = {resolved(g) for g in SHARED_PLACES}
    owners = {p.name: p for p in registry for s in p.paths
              if s.path.count("/") >= 2 and resolved(s.path) not in shared and path_covers(s.path, path)}
    return next(iter(owners.values())) if len(owners) == 1 else None


def _advice(cause: str, mount: str | None, kind: VolumeKind, size: int | None, text: str,
            path: str | None = None) -> str:
    if cause == "host-mount-source":
        return (f"the Docker host could not create {path or 'the bind mount source'}, the source of a bind mount:"
                " the host's file system is read-only there (a snap-confined Docker, a read-only host path),"
                " not the container's root; create the directory on the host, or bind one the host can write")
    if cause == "in-place-edit":
        where = posixpath.dirname(path) if path else "its directory"
        return (f"sed -i rewrites a file in {where} through a temporary file beside it, so the directory must be"
                " writable and keep its files: make the edit at build time, or render the file into a mounted"
                " directory and point the program at it")
    if cause == "no-space":
        return "the volume is full: raise its sizeLimit (tmpfs size), or find what fills it"
    if cause == "permission":
        return ("the path is mounted but the container user may not write it: set the pod's fsGroup to the"
                " user's group (or runAsUser to the owner)")
    if cause == "heap-dump":
        return "the JVM writes heap dumps to its working directory: set -XX:HeapDumpPath to a mounted path (e.g. /tmp)"
    if cause == "read-only-as-enoent":
        return "Node's recursive mkdir says ENOENT when the real error is EROFS: mount the directory writable"
    if mount is None:
        return "a write to the read-only root failed; the line names no path: run the app under `rofs run` to see which"
    what = {VolumeKind.PERSISTENT: "a persistent volume (PVC / named volume)",
            VolumeKind.MEMORY: "a memory-backed volume",
            VolumeKind.EPHEMERAL: "an ephemeral volume (emptyDir / tmpfs)"}[kind]
    return f"mount {what} at {mount}" + (f", {format_quantity(size)}" if size else "")


# --- reading logs ------------------------------------------------------------------------

MAX_LINE = 64 << 10  # longer lines are cut here: failed-write messages are short


class LogError(ValueError):
    """The input is not a log rofs can read."""


def read_log(raw: BinaryIO, name: str, follow: bool = False) -> Iterator[str]:
    """The lines of a log, from its bytes: memory stays flat however long the log or its lines.

    Invalid UTF-8 is replaced (a log with some binary noise is still read); a BOM is dropped;
    Docker's multiplexed stream (what the Engine API's ``/logs`` endpoint returns without a TTY:
    8-byte frame headers) is unwrapped.  Other binary input (NUL bytes) raises LogError.
    With *follow*, the end of the file is waited at, for the lines still to be written.
    """
    head = raw.peek(8192)[:8192] if hasattr(raw, "peek") else b""
    if _docker_frames(head):
        payload = _Demux(raw)  # a raw stream: TextIOWrapper reads it as a buffer (its stubs want a buffered one)
        yield from _bounded(io.TextIOWrapper(payload, encoding="utf-8", errors="replace", newline=None), follow)  # type: ignore[type-var]
        return
    nul = head.find(b"\x00")
    if nul >= 0:
        raise LogError(f"{name}: binary file (a NUL byte at offset {nul}), not a log")
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline=None)
    for line in _bounded(text, follow):
        if "\x00" in line:
            line = line.replace("\x00", "")
        yield line


def _docker_frames(head: bytes) -> bool:
    """Does *head* start with Docker stream frames (stream 0-2, three zero bytes, a length)?"""
    if len(head) < 8 or head[0] not in (0, 1, 2) or head[1:4] != b"\0\0\0":
        return False
    size = int.from_bytes(head[4:8], "big")
    return 0 < size <= (1 << 24)


class _Demux(io.RawIOBase):
    """The payload of a Docker multiplexed stream (stdout and stderr interleaved as written)."""

    def __init__(self, raw: BinaryIO):
        self.raw, self.left = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self.left == 0:
            header = self.raw.read(8)
            if len(header) < 8:
                return 0
            self.left = int.from_bytes(header[4:8], "big")
        data = self.raw.read(min(self.left, len(buffer)))
        self.left -= len(data)
        buffer[: len(data)] = data
        return len(data)


def _bounded(text: TextIO, follow: bool = False) -> Iterator[str]:
    while True:
        line = text.readline(MAX_LINE)
        if not line:
            if not follow:
                return
            time.sleep(0.5)
            continue
        if len(line) == MAX_LINE and not line.endswith("\n"):
            while True:  # skip the rest of an overlong line
                rest = text.readline(MAX_LINE)
                if not rest or rest.endswith("\n"):
                    break
        yield line


def diagnose(lines: Iterable[str], registry: ProfileRegistry, app: Profile | None = None,
             start: int = 1, layout: str | None = None) -> Iterator[Diagnosis]:
    profiles = [app] if app else list(registry)
    screen = _signature_screen(profiles)
    for number, line in enumerate(lines, start=start):
        text = unwrap(line)
        if not text.strip():
            continue
        found = diagnose_line(text, number, registry, app, layout, profiles, screen)
        if found is not None:
            yield found


def volume_snippet(mount: str, kind: VolumeKind, size: int) -> tuple[dict, str | dict[str, object]]:
    """The Kubernetes volume and the Compose volume entry for a mount at *mount*: a claim (a named
    volume) for what may be data, an emptyDir (a tmpfs) of *size* for the rest."""
    name = volume_name_for(mount)
    if kind is VolumeKind.PERSISTENT:
        return {"name": name, "persistentVolumeClaim": {"claimName": name}}, f"{name}:{mount}"
    empty: dict[str, str] = {"medium": "Memory"} if kind is VolumeKind.MEMORY else {}
    empty["sizeLimit"] = format_quantity(size)
    return {"name": name, "emptyDir": empty}, {"type": "tmpfs", "target": mount, "tmpfs": {"size": size}}


def snippets(d: Diagnosis) -> dict[str, object]:
    if d.mount is None:
        return {}
    name = volume_name_for(d.mount)
    size = d.size or DEFAULT_SIZE
    volume, compose = volume_snippet(d.mount, d.kind, size)
    if d.kind is VolumeKind.PERSISTENT:
        docker = f"-v {name}:{d.mount}"
    else:
        docker = (f"--shm-size {format_docker_size(size)}" if d.mount == "/dev/shm"
                  else f"--tmpfs {d.mount}:rw,mode=1777,size={format_docker_size(size)}")
    return {
        "kubernetes": {"volumeMounts": [{"name": name, "mountPath": d.mount}], "volumes": [volume]},
        "compose": {"volumes": [compose]},
        "docker-run": docker,
    }
