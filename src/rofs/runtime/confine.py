"""What holds the program in: a container runtime's defaults, as bubblewrap options.

The facts live in ``container.yaml`` beside this module (capabilities, read-only and masked
``/proc`` and ``/sys`` paths, the seccomp policy); this module turns them into bubblewrap
options.  The seccomp policy is compiled with libseccomp (its Python bindings, ``seccomp`` from
Debian's python3-seccomp, or ``pyseccomp`` from PyPI, which has the same interface) into BPF
programs that bubblewrap loads last, just before it starts the program.
"""

from __future__ import annotations

import errno
import os
import platform
import stat
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from rofs.runtime.errors import SandboxError

NETWORKS = ("host", "none")
DEFAULT_NETWORK = "host"
SECCOMP_MODES = ("default", "unconfined")


@dataclass(frozen=True)
class Confinement:
    """How tightly the program is held, beyond the file system: said in every report."""

    network: str = DEFAULT_NETWORK  # host: this machine's network namespace; none: its own, loopback only
    seccomp: str = "default"  # default: the container policy; unconfined: only the untraced calls refused

    @property
    def capabilities(self) -> tuple[str, ...]:
        caps = tuple(defaults()["capabilities"])
        if self.network == "host":
            caps = tuple(c for c in caps if c != "CAP_NET_RAW")
        return caps

    def effective(self, uid: int | None) -> tuple[str, ...]:
        """What the program really holds: the container set as root, nothing as another user."""
        return self.capabilities if not uid else ()

    def describe(self) -> str:
        net = ("host (the program shares this machine's network; --network none isolates it)"
               if self.network == "host" else "none (its own namespace, loopback only)")
        sec = "container default" if self.seccomp == "default" else (
            "unconfined (--seccomp unconfined: no container policy; only calls the tracer cannot see refused)")
        return f"network {net}; seccomp {sec}"


@lru_cache(maxsize=1)
def defaults() -> dict[str, Any]:
    import yaml

    text = resources.files("rofs.runtime").joinpath("container.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def proc_sys_args(sys_visible: bool = True, empty: str | None = None) -> list[str]:
    """Read-only and masked paths, as runc applies them (only those this kernel has).

    Read-only paths are bind-mounted onto themselves read-only; a masked file gets the empty
    file *empty* over it, read-only (or /dev/null, read-only, where rofs made no devices of its
    own), a masked directory an empty read-only tmpfs.  Sources are the host's /proc and /sys:
    their contents do not depend on the PID namespace of the reader.
    """
    data = defaults()
    args: list[str] = []
    for path in data["read_only"]:
        if os.path.lexists(path) and (sys_visible or not path.startswith("/sys/")):
            args += ["--ro-bind", path, path]
    for path in data["masked"]:
        if not os.path.lexists(path) or (path.startswith("/sys/") and not sys_visible):
            continue
        if os.path.isdir(path):
            args += ["--tmpfs", path, "--remount-ro", path]
        else:
            args += ["--ro-bind", empty or "/dev/null", path]
    return args


# Where a machine keeps the unix sockets of its services (the Docker and containerd sockets,
# systemd's private socket, D-Bus, ssh and gpg agents, tmux and X11, LXD, the kubelet), and how deep
# to look: a container's root has none of them.
SOCKET_DIRS = ("/run", "/var/run", "/tmp", "/var/tmp")
# Where services keep their sockets, and how deep: snap's LXD (/var/snap/lxd/common/lxd/unix.socket),
# the kubelet's CSI plugins (/var/lib/kubelet/plugins/DRIVER/csi.sock), /opt and /srv daemons.
SOCKET_PLACES = (("/run", 12), ("/var/run", 12), ("/tmp", 12), ("/var/tmp", 12), ("/root", 2), ("/home", 3),
                 ("/var/lib", 6), ("/var/snap", 6), ("/snap", 4), ("/opt", 5), ("/srv", 5), ("/etc", 4),
                 ("/var/spool", 4), ("/var/cache", 3), ("/mnt", 3), ("/media", 3))
CROWD = 4096  # a directory with more entries than this is not looked into one by one
SOCKET_SCAN_LIMIT = 300_000  # entries looked at, at most


def host_sockets(root: str = "/") -> list[str]:
    """Unix sockets of this machine in SOCKET_PLACES (links to directories followed, each
    directory once): masked in the sandbox, because root inside could connect to them (a
    read-only mount does not stop connect()), and a service behind one may run anything as
    root.  A crowded directory anyone may write in (someone's 50,000 files in /run/lock) is
    returned as a directory, to be masked whole."""
    found: list[str] = []
    crowds: list[str] = []
    seen = 0
    visited: set[tuple[int, int]] = set()
    for top, depth in SOCKET_PLACES:
        start = os.path.join(root, top.lstrip("/"))
        stack = [(start, 0, False)]
        while stack and seen < SOCKET_SCAN_LIMIT:
            path, level, shared = stack.pop()
            try:
                st = os.stat(path)  # links to directories are followed, once each
            except OSError:
                continue
            if not stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) in visited:
                continue
            visited.add((st.st_dev, st.st_ino))
            shared = shared or bool(st.st_mode & stat.S_IWOTH)
            try:
                with os.scandir(path) as entries:
                    names = []
                    for count, entry in enumerate(entries):
                        if count > CROWD:
                            break
                        names.append(entry)
            except OSError:
                continue
            seen += len(names)
            if len(names) > CROWD:
                if shared:
                    crowds.append(_rel(path, root))
                continue
            for entry in names:
                try:
                    if entry.is_file(follow_symlinks=False):
                        continue  # most entries, known from the directory itself (no stat)
                    est = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISSOCK(est.st_mode):
                    found.append(_rel(os.path.realpath(entry.path), root))
                elif (stat.S_ISDIR(est.st_mode) or stat.S_ISLNK(est.st_mode)) and level < depth:
                    stack.append((entry.path, level + 1, shared))
    return sorted(set(found)) + [CROWD_MARK + c for c in sorted(set(crowds))]


CROWD_MARK = "crowd:"


def _rel(path: str, root: str) -> str:
    return "/" + os.path.relpath(path, root) if root != "/" else path


MAX_MASKS = 2000  # bubblewrap takes at most 9,000 arguments: beyond this, whole directories are masked
GROUP = 8  # a directory (not one of SOCKET_DIRS itself) with more sockets than this is masked whole


def socket_masks(root: str = "/") -> tuple[list[str], list[str]]:
    """(sockets to mask one by one, directories to mask whole): a directory full of sockets (an
    X11 or tmux directory, thousands made by someone to exhaust bubblewrap's arguments) is hidden
    as a whole; past MAX_MASKS, so is the top directory that holds the most."""
    sockets = host_sockets(root)
    dirs = [p[len(CROWD_MARK):] for p in sockets if p.startswith(CROWD_MARK)]
    sockets = [p for p in sockets if not p.startswith(CROWD_MARK)]
    by_parent: dict[str, list[str]] = {}
    for path in sockets:
        by_parent.setdefault(os.path.dirname(path), []).append(path)
    files: list[str] = []
    for parent, found in sorted(by_parent.items()):
        if len(found) > GROUP and parent not in SOCKET_DIRS:
            dirs.append(parent)
        else:
            files += found
    dirs = [d for d in dirs if not any(d.startswith(o + "/") for o in dirs)]
    files = [f for f in files if not any(f.startswith(d + "/") for d in dirs)]
    while len(files) + len(dirs) > MAX_MASKS:
        top = max(SOCKET_DIRS, key=lambda t: sum(f.startswith(t + "/") for f in files))
        dirs = [d for d in dirs if not d.startswith(top + "/")] + [top]
        files = [f for f in files if not f.startswith(top + "/")]
    return files, dirs


def socket_mask_args(empty: str, root: str = "/") -> list[str]:
    files, dirs = socket_masks(root)
    args: list[str] = []
    for path in dirs:
        args += ["--tmpfs", path, "--remount-ro", path]
    for path in files:
        args += ["--ro-bind", empty, path]
    return args


def capability_args(confinement: Confinement) -> list[str]:
    """Drop every capability but the container's (root in the sandbox is not root of the host)."""
    if os.geteuid() != 0:
        return []  # bubblewrap already starts the program with none
    args = ["--cap-drop", "ALL"]
    for cap in confinement.capabilities:
        args += ["--cap-add", cap]
    return args


def namespace_args(confinement: Confinement) -> list[str]:
    args = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if confinement.network == "none":
        args.append("--unshare-net")
    return args


# --- seccomp -----------------------------------------------------------------------------


def _bindings() -> Any:
    try:
        import seccomp  # Debian's python3-seccomp (libseccomp's own)
    except ImportError:
        try:
            import pyseccomp as seccomp  # the same interface, from PyPI
        except (ImportError, OSError) as exc:
            raise SandboxError(
                f"the seccomp filters need libseccomp's Python bindings ({exc}): pip install pyseccomp"
                " (or apt-get install python3-seccomp)"
            ) from None
    return seccomp


_ARCHES = {"x86_64": "X86_64", "x86": "X86", "x32": "X32", "aarch64": "AARCH64", "arm": "ARM"}


def _names(lines: list[str]) -> list[str]:
    return [name for line in lines for name in line.split()]


def _arg(sc: Any, index: int, op: str, value: int, mask: int | None = None) -> Any:
    ops = {"eq": sc.EQ, "ne": sc.NE, "lt": sc.LT, "le": sc.LE, "gt": sc.GT, "ge": sc.GE, "masked_eq": sc.MASKED_EQ}
    if op == "masked_eq":
        return sc.Arg(index, ops[op], int(mask or 0), int(value))
    return sc.Arg(index, ops[op], int(value))


def _add(flt: Any, action: int, name: str, *args: Any) -> None:
    try:
        flt.add_rule(action, name, *args)
    except (RuntimeError, OSError, ValueError):
        pass  # a call this architecture (or this libseccomp) does not know: nothing to allow or refuse


def _with_arches(sc: Any, flt: Any) -> None:
    for arch in defaults()["seccomp"].get("extra_architectures", {}).get(platform.machine(), []):
        try:
            flt.add_arch(getattr(sc.Arch, _ARCHES[arch]))
        except (RuntimeError, OSError, ValueError, KeyError, AttributeError):
            continue


def compile_policy() -> list[Any]:
    """The container policy as libseccomp filters: the allow list, then the refusals stacked on it."""
    sc = _bindings()
    policy = defaults()["seccomp"]
    eperm = sc.ERRNO(getattr(errno, policy.get("default_errno", "EPERM")))
    main = sc.SyscallFilter(eperm)
    _with_arches(sc, main)
    for name in _names(policy["allow"]) + list(policy.get("deviations", {}).get("allow", [])):
        _add(main, sc.ALLOW, name)
    for name, *spec in policy.get("allow_if", []):
        _add(main, sc.ALLOW, name, _arg(sc, *spec))
    for name, code in policy.get("errno", {}).items():
        _add(main, sc.ERRNO(getattr(errno, code)), name)
    numbered = _untraced(sc, main)
    extra = sc.SyscallFilter(sc.ALLOW)
    _with_arches(sc, extra)
    for name, *spec in policy.get("deny_if", []):
        conditions = spec if isinstance(spec[0], list) else [spec]  # several: all must hold
        _add(extra, eperm, name, *(_arg(sc, *c) for c in conditions))
    return [main, extra, *numbered]


def _untraced(sc: Any, flt: Any) -> list[Any]:
    """ENOSYS in *flt* for the calls that write where the tracer cannot see (container.yaml
    ``untraced``) that this libseccomp knows by name.  Those it does not know go by number into a
    filter of the native architecture only (libseccomp takes a bare number nowhere else), which
    lets other architectures' calls through (the other filters judge them), returned to be
    installed last, so that its answer is the one the kernel gives."""
    enosys = sc.ERRNO(errno.ENOSYS)
    numbered = None
    for name, number in defaults()["seccomp"]["untraced"].items():
        try:
            known = sc.resolve_syscall(sc.Arch.NATIVE, name) >= 0
        except (RuntimeError, OSError, ValueError):
            known = False
        if known:
            _add(flt, enosys, name)
            continue
        if numbered is None:
            numbered = sc.SyscallFilter(sc.ALLOW)
            numbered.set_attr(sc.Attr.ACT_BADARCH, sc.ALLOW)
        numbered.add_rule(enosys, int(number))
    return [numbered] if numbered is not None else []


def compile_untraced() -> list[Any]:
    """--seccomp unconfined: no container policy, only the calls the tracer cannot see refused."""
    sc = _bindings()
    flt = sc.SyscallFilter(sc.ALLOW)
    _with_arches(sc, flt)
    return [flt, *_untraced(sc, flt)]


def seccomp_fds(confinement: Confinement) -> list[int]:
    """Unnamed files holding the compiled BPF programs, for ``--add-seccomp-fd`` (bubblewrap reads
    and closes its copies; the caller passes them on and then closes its own)."""
    fds = []
    for flt in compile_untraced() if confinement.seccomp == "unconfined" else compile_policy():
        fd = os.memfd_create("rofs-seccomp", 0)
        with open(fd, "wb", closefd=False) as handle:
            flt.export_bpf(handle)
        os.lseek(fd, 0, os.SEEK_SET)
        fds.append(fd)
    return fds


def seccomp_args(fds: list[int]) -> list[str]:
    args: list[str] = []
    for fd in fds:
        args += ["--add-seccomp-fd", str(fd)]
    return args
