"""Who the program runs as: ``--user`` (or an image's USER) resolved to numbers.

On the host, names come from this machine's user database; for an image, from the image's own
``/etc/passwd`` and ``/etc/group``, as a container runtime reads them.  The rules are Docker's:
``NAME`` takes the user's primary group and the groups that list it; ``NAME:GROUP`` or
``UID:GID`` takes exactly that group; a bare UID with no entry runs with GID = 0 for images (the
runtime default) and GID = UID on the host (no group to fall back on).  HOME is the user's home
directory, or ``/`` when there is none.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from rofs.runtime.errors import SandboxError


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    groups: tuple[int, ...]  # supplementary groups
    home: str
    name: str | None = None  # the user's name, where the user database has one
    spec: str = ""  # as given (--user, or the image's USER)

    def describe(self) -> str:
        who = f"{self.name} " if self.name else ""
        groups = f", groups {','.join(map(str, self.groups))}" if self.groups else ""
        return f"{who}(uid {self.uid}, gid {self.gid}{groups}), HOME={self.home}"


def _split(spec: str) -> tuple[str, str | None]:
    user, sep, group = spec.partition(":")
    if not user or (sep and not group):
        raise SandboxError(f"--user {spec!r}: expected USER, UID, USER:GROUP or UID:GID")
    return user, group if sep else None


def host_identity(spec: str) -> Identity:
    """*spec* on this machine (pwd and grp)."""
    user, group = _split(spec)
    entry = None
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        if not user.isdigit():
            raise SandboxError(f"--user {spec!r}: no user {user!r} on this machine") from None
    uid = int(user) if user.isdigit() else entry.pw_uid  # type: ignore[union-attr]
    if group is not None:
        if group.isdigit():
            gid = int(group)
        else:
            try:
                gid = grp.getgrnam(group).gr_gid
            except KeyError:
                raise SandboxError(f"--user {spec!r}: no group {group!r} on this machine") from None
        groups: tuple[int, ...] = ()
    elif entry is not None:
        gid = entry.pw_gid
        groups = tuple(g for g in os.getgrouplist(entry.pw_name, gid) if g != gid)
    else:
        gid, groups = uid, ()
    home = entry.pw_dir if entry is not None and entry.pw_dir else "/"
    return Identity(uid, gid, groups, home, entry.pw_name if entry else None, spec)


def _records(path: Path) -> list[list[str]]:
    """The records of a user database file of the image; none when it is not a plain file (an
    image's /etc/passwd made a FIFO or a device node must not block rofs nor open the host's device)."""
    try:
        # the caller resolved *path* inside the image, links and all
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        with os.fdopen(fd, "rb", closefd=False) as handle:
            text = handle.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        return []
    finally:
        os.close(fd)
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def image_identity(spec: str, passwd: Path, group_file: Path) -> Identity:
    """*spec* (an image's USER, or --user for an image) in the image's own user database."""
    if not spec:
        spec = "0"
    user, group = _split(spec)
    users = [r for r in _records(passwd) if len(r) >= 7]
    groups_db = [r for r in _records(group_file) if len(r) >= 4]
    entry = next((r for r in users if (r[2] == user if user.isdigit() else r[0] == user)), None)
    if entry is None and not user.isdigit():
        raise SandboxError(f"user {user!r}: not in the image's /etc/passwd")
    uid = int(user) if user.isdigit() else int(entry[2])  # type: ignore[index]
    if group is not None:
        if group.isdigit():
            gid = int(group)
        else:
            match = next((g for g in groups_db if g[0] == group), None)
            if match is None:
                raise SandboxError(f"group {group!r}: not in the image's /etc/group")
            gid = int(match[2])
        extra: tuple[int, ...] = ()
    elif entry is not None:
        gid = int(entry[3]) if entry[3].isdigit() else 0
        extra = tuple(sorted({int(g[2]) for g in groups_db
                              if entry[0] in g[3].split(",") and g[2].isdigit() and int(g[2]) != gid}))
    else:
        gid, extra = 0, ()
    home = entry[5] if entry is not None and entry[5] else "/"
    return Identity(uid, gid, extra, home, entry[0] if entry else None, spec)
