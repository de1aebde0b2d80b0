"""The option values of ``rofs run`` and ``rofs trace``, checked and turned into what the
runtime takes: sizes in bytes, the profile's layout, and the declared writable paths.

A bad value ends the command with exit code 2 and a message naming the option
(``rofs.errors.fail``), before anything runs.
"""

from __future__ import annotations

import os
from pathlib import Path

from rofs.errors import fail
from rofs.model import Profile
from rofs.runtime.run import Declared, declare
from rofs.units import SizeError, parse_size

POSITIVE = "the size must be positive (at least 1 byte; e.g. 64Mi)"


def positive_size(value: str, option: str) -> int:
    """A size such as ``4Gi``, at least one byte."""
    try:
        size = parse_size(value)
    except SizeError as exc:
        fail(f"{option} {value!r}: {exc}")
    if size < 1:
        fail(f"{option} {value!r}: {POSITIVE}")
    return size


def env_pairs(values: tuple[str, ...]) -> dict[str, str]:
    """``--env NAME=VALUE`` values: a name (no ``=``, no NUL) and its value, which may be empty."""
    out: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name or "\0" in value or name != name.strip():
            fail(f"--env {value!r}: give NAME=VALUE (e.g. --env POSTGRES_PASSWORD=secret)")
        out[name] = text
    return out


def path_size(values: tuple[str, ...], option: str) -> list[tuple[str, int | None]]:
    """``PATH[:SIZE]`` values (``--writable``, ``--tmpfs``): absolute paths, sizes in bytes or None."""
    out = []
    for value in values:
        path, sep, size = value.rpartition(":") if ":" in value else (value, "", "")
        if not path.startswith("/"):
            fail(f"{option} {value!r}: the path must be absolute")
        if any(part in (".", "..") for part in path.split("/")):
            fail(f"{option} {value!r}: no '.' or '..' in the path (name the directory itself)")
        if sep and not size:
            fail(f"{option} {value!r}: no size after ':' (e.g. {path}:64Mi)")
        try:
            bytes_ = parse_size(size) if size else None
        except SizeError as exc:
            fail(f"{option} {value!r}: {exc}")
        if bytes_ is not None and bytes_ < 1:
            fail(f"{option} {value!r}: {POSITIVE}")
        out.append((path.rstrip("/") or "/", bytes_))
    return out


def persist_paths(values: tuple[str, ...]) -> list[tuple[str, str]]:
    """``--persist /PATH=HOSTDIR`` values: (path, absolute host directory)."""
    persists = []
    for value in values:
        path, sep, host = value.partition("=")
        if not sep or not path.startswith("/") or not host:
            fail(f"--persist {value!r}: expected /PATH=HOSTDIR")
        persists.append((path.rstrip("/"), os.path.normpath(os.path.join(os.getcwd(), host))))
    return persists


def layout_for(profile: Profile | None, layout: str | None) -> str | None:
    """The profile's layout: *layout* (which it must have), else its distribution-package layout
    when it has one, else its first."""
    if profile is None:
        return None
    if layout:
        if layout not in [lay.id for lay in profile.layouts]:
            fail(f"{profile.name} has no layout {layout!r}; layouts: {', '.join(lay.id for lay in profile.layouts)}")
        return layout
    return next((lay.id for lay in profile.layouts if lay.package), profile.layouts[0].id)


def state_path(state_dir: str | None) -> Path:
    """Where persistent profile paths live: *state_dir*, else $XDG_STATE_HOME/rofs/run."""
    if state_dir:
        return Path(state_dir)
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "rofs" / "run"


def declared_paths(
    profile: Profile | None,
    layout_id: str | None,
    *,
    writable: tuple[str, ...] = (),
    tmpfs: tuple[str, ...] = (),
    persist: tuple[str, ...] = (),
    keep_read_only: tuple[str, ...] = (),
    state_dir: str | None = None,
) -> list[Declared]:
    """The writable paths of a run: the profile's required ones, then ``--writable``, ``--tmpfs``
    and ``--persist`` (a later one of the same path wins), less those ``--keep-read-only`` names."""
    persists = persist_paths(persist)
    state = state_path(state_dir)
    declared = declare(profile, layout_id, path_size(writable, "--writable"), path_size(tmpfs, "--tmpfs"), persists,
                       state)
    dropped = {p.rstrip("/") for p in keep_read_only}
    unknown = dropped - {d.path for d in declared}
    if unknown:
        fail(f"--keep-read-only {min(unknown)}: not a writable path of this run"
             f" ({', '.join(d.path for d in declared) or 'none'})")
    return [d for d in declared if d.path not in dropped]
