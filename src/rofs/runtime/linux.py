"""The few Linux calls Python 3.11 does not wrap (prctl, unshare, mount), through libc.

They run in the child between fork and exec (``preexec_fn``): libc is loaded before the fork,
and every failure raises OSError with the call and its errno.
"""

from __future__ import annotations

import ctypes
import os
import signal

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
_libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
_libc.unshare.argtypes = (ctypes.c_int,)
_libc.fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long)

PR_SET_PDEATHSIG = 1
FALLOC_FL_KEEP_SIZE = 1
CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """The calling process gets *sig* when the process that forked it ends (even by SIGKILL)."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def private_mount_namespace() -> None:
    """A mount namespace of its own, nothing propagating back to the host."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")


def mount(source: str, target: str, fstype: str | None, flags: int = 0, options: str | None = None) -> None:
    _check(_libc.mount(os.fsencode(source), os.fsencode(target), fstype.encode() if fstype else None, flags,
                       options.encode() if options is not None else None),
           f"mount {fstype or 'bind'} {source} on {target}")


# The device nodes a container gets, made by rofs (its own inodes: a chmod or chown inside the
# sandbox cannot reach the host's /dev/null), with an empty file to mask /proc files with.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))


def make_devices(directory: str) -> None:
    """A tmpfs at *directory* (device nodes allowed) holding DEVICES and an empty file ``empty``."""
    mount("rofs-dev", directory, "tmpfs", MS_NOSUID, "mode=0755,size=64k")
    for name, major, minor in DEVICES:
        path = f"{directory}/{name}"
        os.mknod(path, 0o666 | 0o020000, os.makedev(major, minor))  # S_IFCHR
        os.chmod(path, 0o666)
    fd = os.open(f"{directory}/empty", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    os.close(fd)


def reserve(fd: int, offset: int, length: int) -> None:
    """Allocate disk space for *fd* from *offset* on, without changing its size: writes appended
    there cannot fail for lack of space (OSError ENOSPC when the space is not there now)."""
    _check(_libc.fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length), "fallocate")
