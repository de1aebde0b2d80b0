"""Container images without a daemon: unpack an OCI layout or a ``docker save`` archive.

umoci unpacks the image into a cache keyed by the manifest digest (a second run reuses it)
and writes an OCI runtime config with the image's Entrypoint/Cmd, Env, User and WorkingDir;
a ``docker save`` archive is first copied into an OCI layout with skopeo.  Both are Debian
packages.  The image's ``VOLUME``s are read from its config, as candidate writable paths.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rofs.runtime.errors import SandboxError
from rofs.runtime.sandbox import require


@dataclass
class ImageBundle:
    ref: str
    digest: str
    rootfs: Path
    entrypoint_and_cmd: list[str]
    env: dict[str, str]
    cwd: str
    uid: int
    gid: int
    volumes: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    user: str = ""  # the image's USER as written (resolved in the image's own /etc/passwd)


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rofs" / "images"


def open_image(ref: str, cache: Path | None = None) -> ImageBundle:
    """Unpack (or reuse) *ref*: ``DIR[:TAG]`` of an OCI layout, or a ``docker save`` tar."""
    cache = _trusted_cache(cache or default_cache())
    path, tag = _split(ref)
    if Path(path).is_file():
        return _from_archive(ref, Path(path), cache)
    layout = Path(path)
    if not (layout / "index.json").is_file() or not (layout / "oci-layout").is_file():
        raise SandboxError(f"{ref}: not an OCI image layout (no index.json / oci-layout) nor a docker save archive")
    return _from_layout(ref, layout, tag, cache)


def _split(ref: str) -> tuple[str, str | None]:
    if Path(ref).exists():
        return ref, None
    head, sep, tag = ref.rpartition(":")
    if sep and head and Path(head).exists() and "/" not in tag:
        return head, tag
    raise SandboxError(f"{ref}: image not found (give an OCI layout directory[:tag] or a docker save archive)")


UNPACK_TIMEOUT = 900  # seconds for umoci to unpack an image: it reads the image's /etc/passwd, and a FIFO there blocks


class _CaseTwins(ValueError):
    """Two keys of one JSON object that differ only by case."""


def _pairs(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys are unique ignoring case: umoci (Go's decoder) matches keys
    case-insensitively and takes the last, so `"manifests"` beside `"Manifests"` would make it
    unpack another image than the one rofs checked (and cache it under the checked digest)."""
    seen: dict[str, str] = {}
    for key, _ in pairs:
        twin = seen.setdefault(key.lower(), key)
        if twin != key:
            raise _CaseTwins(f"keys {twin!r} and {key!r} differ only by case")
    return dict(pairs)


def _json(text: str | bytes) -> object:
    """JSON of the image, refused when an object has keys that differ only by case."""
    return json.loads(text, object_pairs_hook=_pairs)


def _manifest(layout: Path, tag: str | None) -> tuple[str, dict]:
    try:
        index = _json((layout / "index.json").read_text())
    except (OSError, ValueError) as exc:
        raise SandboxError(f"{layout}: corrupt image index: {exc}") from None
    if not isinstance(index, dict) or not isinstance(index.get("manifests", []), list):
        raise SandboxError(f"{layout}: corrupt image index: not an object with a manifests list")
    manifests = [_descriptor(layout, m, "index.json manifests") for m in index.get("manifests", [])]
    chosen = [m for m in manifests if tag is None or m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
    if not chosen:
        tags = [m.get("annotations", {}).get("org.opencontainers.image.ref.name") for m in manifests]
        raise SandboxError(f"{layout}: no image tagged {tag!r} (tags: {', '.join(t for t in tags if t) or 'none'})")
    if len(chosen) > 1:
        raise SandboxError(f"{layout}: several images; name one with {layout}:TAG")
    return chosen[0]["digest"], chosen[0]


# The digests rofs accepts (OCI image spec, descriptor.md: the registered algorithms).  A digest
# names a blob file and rofs' cache entry, so anything else is refused before it touches a path.
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
_KEYS = ("mediaType", "digest", "size", "annotations", "urls", "platform", "artifactType", "data")


def _descriptor(layout: Path, desc: object, where: str) -> dict:
    """A content descriptor whose digest is well formed, and with no key that differs from a
    known one only by case: Go's JSON decoder (umoci's) matches keys case-insensitively, so a
    second ``Digest`` would make umoci unpack another manifest than the one rofs read."""
    if not isinstance(desc, dict):
        raise SandboxError(f"{layout}: corrupt image ({where}: a descriptor is not an object)")
    for key in desc:
        known = [k for k in _KEYS if k.lower() == str(key).lower()]
        if known and key != known[0]:
            raise SandboxError(f"{layout}: corrupt image ({where}: key {key!r} differs from {known[0]!r} only by case)")
    digest = desc.get("digest")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise SandboxError(f"{layout}: corrupt image ({where}: digest {digest!r} is not sha256:<64 hex> or sha512:<128 hex>)")
    return desc


def _blob(layout: Path, digest: str) -> dict:
    """The JSON blob *digest* names, checked against its digest (so it is what umoci reads too)."""
    if not _DIGEST.fullmatch(digest):
        raise SandboxError(f"{layout}: corrupt image (digest {digest!r} is not sha256:<64 hex> or sha512:<128 hex>)")
    algo, _, hexdigest = digest.partition(":")
    try:
        data = (layout / "blobs" / algo / hexdigest).read_bytes()
    except OSError as exc:
        raise SandboxError(f"{layout}: corrupt image (blob {digest}): {exc}") from None
    if hashlib.new(algo, data).hexdigest() != hexdigest:
        raise SandboxError(f"{layout}: corrupt image (blob {digest} does not match its digest)")
    try:
        blob = _json(data)
    except ValueError as exc:
        raise SandboxError(f"{layout}: corrupt image (blob {digest}): {exc}") from None
    if not isinstance(blob, dict):
        raise SandboxError(f"{layout}: corrupt image (blob {digest} is not a JSON object)")
    return blob


def _from_layout(ref: str, layout: Path, tag: str | None, cache: Path) -> ImageBundle:
    digest, desc = _manifest(layout, tag)
    manifest = _blob(layout, digest)
    config_desc = _descriptor(layout, manifest.get("config"), f"manifest {digest} config")
    layers = manifest.get("layers", [])
    if not isinstance(layers, list):
        raise SandboxError(f"{layout}: corrupt image (manifest {digest}: layers is not a list)")
    for layer in layers:
        _descriptor(layout, layer, f"manifest {digest} layers")
    config = _blob(layout, config_desc["digest"]).get("config", {}) or {}
    if not isinstance(config, dict):
        raise SandboxError(f"{layout}: corrupt image (the image configuration's config is not an object)")
    target = cache / digest.replace(":", "-")
    if os.path.lexists(target):
        _trusted_entry(target)
    if not (target / "rootfs").is_dir():
        umoci = require("umoci", "umoci")
        cache.mkdir(parents=True, exist_ok=True)
        _remove_stale(cache)
        work = Path(tempfile.mkdtemp(prefix=f".unpack-{os.getpid()}-", dir=cache))
        with _removed_when_stopped(work):
            _unpack(ref, umoci, layout, tag, desc, work, target)
    runtime = json.loads((target / "config.json").read_text())

    process = runtime.get("process", {})
    env = dict(item.split("=", 1) for item in process.get("env", []) if "=" in item)
    user = process.get("user", {})
    return ImageBundle(
        ref=ref,
        digest=digest,
        rootfs=target / "rootfs",
        entrypoint_and_cmd=list(process.get("args", [])),
        env=env,
        cwd=process.get("cwd", "/") or "/",
        uid=int(user.get("uid", 0)),
        gid=int(user.get("gid", 0)),
        volumes=sorted((config.get("Volumes") or {}).keys()),
        entrypoint=list(config.get("Entrypoint") or []),
        user=str(config.get("User") or ""),
    )


def _from_archive(ref: str, archive: Path, cache: Path) -> ImageBundle:
    if not tarfile.is_tarfile(archive):
        raise SandboxError(f"{ref}: not a docker save archive (not a tar file)")
    skopeo = require("skopeo", "skopeo")
    cache.mkdir(parents=True, exist_ok=True)
    _remove_stale(cache)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".archive-{os.getpid()}-", dir=cache))
    with _removed_when_stopped(tmp_dir):
        tmp = str(tmp_dir)
        layout = Path(tmp) / "layout"
        done = subprocess.run([skopeo, "--insecure-policy", "copy", f"docker-archive:{archive}", f"oci:{layout}:image"],
                              capture_output=True, text=True, preexec_fn=_die_with_rofs, check=False)
        if done.returncode != 0:
            message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "skopeo failed"
            raise SandboxError(f"{ref}: cannot read the archive: {message}")
        return _from_layout(ref, layout, "image", cache)


def _unpack(ref: str, umoci: str, layout: Path, tag: str | None, desc: dict, work: Path, target: Path) -> None:
    bundle = work / "bundle"
    name = tag or desc.get("annotations", {}).get("org.opencontainers.image.ref.name")
    if name is None:  # umoci needs a tag: give the manifest one in a private copy of the index
        name = "rofs"
        tagged = work / "layout"
        shutil.copytree(layout, tagged, symlinks=True)
        index = json.loads((tagged / "index.json").read_text())
        index["manifests"] = [dict(desc, annotations={"org.opencontainers.image.ref.name": name})]
        (tagged / "index.json").write_text(json.dumps(index))
        layout = tagged
    try:
        done = subprocess.run([umoci, "unpack", "--image", f"{layout}:{name}", str(bundle)],
                              capture_output=True, text=True, preexec_fn=_die_with_rofs, check=False,
                              timeout=UNPACK_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SandboxError(f"{ref}: cannot unpack: umoci did not finish within {UNPACK_TIMEOUT // 60} min (an image"
                           " whose /etc/passwd is a FIFO blocks it)") from None
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "umoci failed"
        raise SandboxError(f"{ref}: cannot unpack: {message}")
    if target.exists():
        shutil.rmtree(target)
    os.replace(bundle, target)


@contextlib.contextmanager
def _removed_when_stopped(work: Path) -> Iterator[None]:
    """*work* is removed however the unpacking ends: done, failed, or SIGINT/SIGTERM/SIGHUP to rofs
    (after SIGKILL, the next run with this cache removes it)."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(work, ignore_errors=True)


def _trusted_cache(cache: Path) -> Path:
    """The image cache is where rofs runs images from as root: it must be rofs' user's and no one
    else may write in it (a planted entry would be run as the image).  Made 0700 when missing."""
    from rofs.runtime import hostpath

    hostpath.open_dir(str(cache), what="--image-cache").close()
    st = os.lstat(cache)
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise SandboxError(f"--image-cache {cache}: it is not yours, or others may write in it: an entry planted there"
                           " would be run as the image; give a directory of your own")
    if os.geteuid() == 0 and st.st_mode & 0o077:
        os.chmod(cache, 0o700)
    return cache


def _trusted_entry(target: Path) -> None:
    """An unpacked image in the cache: rofs' own (a directory and its rootfs, not links)."""
    for path in (target, target / "rootfs", target / "config.json"):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue  # half there: unpacked again
        # the rootfs' mode is the image's own "/" (left as it is); the rest is rofs' own
        loose = st.st_mode & 0o022 and path.name != "rootfs"
        if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid() or loose:
            raise SandboxError(f"{path}: not an image rofs unpacked (a link, or not its own): remove {target}")


def _die_with_rofs() -> None:
    """umoci and skopeo end with rofs (SIGKILL of rofs included): nothing keeps unpacking."""
    from rofs.runtime import linux

    linux.die_with_parent()


def _remove_stale(cache: Path) -> None:
    """Half-unpacked images of rofs runs that were killed (their pid is in the name, and gone)."""
    for entry in cache.glob(".*-*-*"):
        parts = entry.name.split("-")
        if (entry.name.startswith((".unpack-", ".archive-")) and len(parts) > 2 and parts[1].isdigit()
                and not Path(f"/proc/{parts[1]}").exists()):
            shutil.rmtree(entry, ignore_errors=True)
