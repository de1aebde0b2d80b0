"""Where no volume goes: the mount points rofs never suggests, and what it says instead.

The data is ``placement.yaml``.  `rofs explain`, `rofs run` and `rofs trace` ask
:func:`refused` before they suggest a mount that no profile vouches for.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from rofs.model import WritablePath, path_covers


@dataclass(frozen=True)
class Area:
    id: str
    at: frozenset[str]  # never a mount point
    beneath: tuple[str, ...]  # a write beneath these gets the advice too
    advice: str
    names: re.Pattern | None = None  # a path with a component of this name, wherever it is
    own: re.Pattern | None = None  # beneath: an app's own directory of this name, two levels down, is a place


@lru_cache(maxsize=1)
def areas() -> tuple[Area, ...]:
    data = yaml.safe_load(resources.files("rofs.diagnose").joinpath("placement.yaml").read_text("utf-8"))
    return tuple(Area(a["id"], frozenset(a.get("at", ())), tuple(a.get("beneath", ())), " ".join(a["advice"].split()),
                      re.compile(a["names"]) if a.get("names") else None, re.compile(a["own"]) if a.get("own") else None)
                 for a in data["areas"])


def _clean(path: str) -> str:
    path = posixpath.normpath(path) if path else "/"
    return "/" + path.lstrip("/") if path != "/" else path


def area_of(mount: str, path: str | None = None) -> Area | None:
    """The area that refuses a volume at *mount* for a write to *path*, if one does."""
    mount = _clean(mount)
    path = _clean(path or mount)
    for area in areas():
        if mount in area.at or path in area.at:
            return area
        beneath = next((b for b in area.beneath if path_covers(b, path)), None)
        if beneath is not None and not _own_directory(area, beneath, mount, path):
            return area
        if _names(area, path):
            return area
    return None


def _own_directory(area: Area, beneath: str, mount: str, path: str) -> bool:
    """Is *mount* an app's own directory (``/usr/share/filebeat/logs``): two levels or more beneath
    *beneath*, named as the area allows, and holding the path written?"""
    if area.own is None or not path_covers(mount, path):
        return False
    rest = mount[len(beneath.rstrip("/")):].strip("/").split("/")
    return len(rest) >= 2 and bool(area.own.fullmatch(rest[-1]))


def _names(area: Area, path: str) -> bool:
    return area.names is not None and any(area.names.fullmatch(part) for part in path.split("/"))


def named_area(path: str) -> Area | None:
    """The area a component of *path* names (a ConfigMap's ``..data``, a ``passwd`` file), if any."""
    return next((a for a in areas() if _names(a, path)), None)


def refused(mount: str, path: str | None = None, process: str | None = None) -> str | None:
    """What to say instead of "mount a volume at *mount*" when that is no place for one; None
    when it is a place for one."""
    area = area_of(mount, path)
    if area is None:
        return None
    where = _clean(path or mount)
    root = next((b for b in sorted(area.beneath, key=len, reverse=True) if path_covers(b, where)), _clean(mount))
    if area.names is not None:  # the directory that holds the named component
        parts = where.split("/")
        hit = next((i for i, part in enumerate(parts) if area.names.fullmatch(part)), len(parts))
        root = "/".join(parts[:hit]) or "/"
    return area.advice.format(process=process or "the program", path=where, mount=_clean(mount), root=root)


def populated_advice(spec: WritablePath, path: str, process: str | None) -> str:
    """A write in a profile path where the image keeps files (``populated``): no plain volume."""
    who = process or "the program"
    move = f"move the write with {spec.env} to a mounted directory, or " if spec.env else ""
    return (f"{who} writes {path}, in {spec.path} ({spec.purpose}), where the image keeps its own files: a"
            f" plain volume there would hide them; {move}fill the volume with the image's files first"
            " (Compose: a named volume; Kubernetes: an init container that copies them)"
            + (f"; the profile needs it writable {spec.condition}" if spec.condition else ""))
