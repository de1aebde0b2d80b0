"""Escape attempts against `rofs run`, `rofs run --image` and `rofs trace`, each checked from outside.

An attacker program (tests/escape/probe.c, built static here, so the same binary runs on the
host's root and inside a busybox image) tries one thing per run; the test then looks at the
host: its files, the hostname of a private UTS namespace standing in for the host's, SysV IPC,
the keyrings, mounts, listeners on loopback, the cached image.  The probe's own verdict (exit 0
"blocked" / 99 "ESCAPED") is checked too, but never alone where the host can be looked at.

Every attempt carries its own marker (a random name), so nothing here depends on what other
runs left on the machine.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import socket
import stat
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import require_tool
from test_cli import ROFS
from test_run import mountinfo, need_sandbox

HERE = Path(__file__).resolve().parent
MODES = ("run", "image", "trace")


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    gcc = require_tool("gcc", "gcc")
    require_tool("umoci", "umoci")
    out = tmp_path_factory.mktemp("probe") / "probe"
    subprocess.run([gcc, "-static", "-O1", "-pthread", "-o", str(out), str(HERE / "escape" / "probe.c")], check=True,
                   capture_output=True)
    return out


@pytest.fixture(scope="module")
def image(probe, tmp_path_factory) -> Path:
    """An OCI image (umoci, Debian's static busybox and the probe), running as root."""
    umoci = require_tool("umoci", "umoci")
    busybox = Path("/bin/busybox")
    root = tmp_path_factory.mktemp("escape-image")
    layout, bundle = root / "oci", root / "bundle"

    def sh(*args):
        subprocess.run(args, check=True, capture_output=True, text=True)

    sh(umoci, "init", "--layout", str(layout))
    sh(umoci, "new", "--image", f"{layout}:latest")
    sh(umoci, "unpack", "--image", f"{layout}:latest", str(bundle))
    rootfs = bundle / "rootfs"
    for d in ("bin", "etc", "tmp", "data"):
        (rootfs / d).mkdir(exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)
    shutil.copy(busybox, rootfs / "bin" / "busybox")
    for applet in ("sh", "echo", "mount", "cat", "ls", "id", "touch"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    shutil.copy(probe, rootfs / "probe")
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\napp:x:1000:\n")
    sh(umoci, "repack", "--image", f"{layout}:latest", str(bundle))
    sh(umoci, "config", "--image", f"{layout}:latest", "--config.env", "PATH=/bin", "--config.workingdir", "/")
    return layout


@dataclass
class Outcome:
    result: subprocess.CompletedProcess
    report: dict
    cache: Path | None = None

    @property
    def probe_says(self) -> str:
        return self.result.stdout

    def refused(self) -> set[tuple[str, str]]:
        return {(r["path"], r["errno"]) for r in self.report.get("refused", [])}


def attempt(mode: str, probe: Path, image: Path | None, tmp: Path, *args: str, options: tuple[str, ...] = (),
            pass_fds: tuple[int, ...] = (), wrap: list[str] | None = None, timeout: float = 60) -> Outcome:
    """Run the probe with *args* under rofs in *mode*; the JSON report is read from a file."""
    report = tmp / f"report-{uuid.uuid4().hex}.json"
    cache = tmp / "cache"
    if mode == "run":
        argv = [ROFS, "run", "--format", "json", "--report", str(report), *options, "--", str(probe), *args]
    elif mode == "image":
        argv = [ROFS, "run", "--format", "json", "--report", str(report), "--image", f"{image}:latest",
                "--image-cache", str(cache), *options, "--", "/probe", *args]
    else:
        argv = [ROFS, "trace", "--format", "json", "--report", str(report), *options, "--", str(probe), *args]
    result = subprocess.run((wrap or []) + argv, capture_output=True, text=True, timeout=timeout, pass_fds=pass_fds)
    data = json.loads(report.read_text()) if report.exists() else {}
    assert data, f"no report: {result.stderr[-2000:]}"
    return Outcome(result, data, cache)


def blocked(outcome: Outcome) -> None:
    """The probe was refused (and the program really ran: a report exists)."""
    assert "ESCAPED" not in outcome.probe_says, outcome.probe_says
    assert "blocked:" in outcome.probe_says, (outcome.probe_says, outcome.result.stderr[-1000:])


def marker() -> str:
    return f"rofs-escape-{uuid.uuid4().hex[:12]}"


# --- the table ------------------------------------------------------------------------------


@dataclass
class Attack:
    name: str
    modes: tuple[str, ...]
    args: Callable[[str], list[str]]  # the probe's arguments, from a fresh marker
    outside: Callable[[str, Outcome, str], None] = lambda m, o, mode: None  # the check from outside
    options: tuple[str, ...] = ()
    why: str = ""
    contained: bool = False  # allowed inside (its own IPC namespace, the scratch layer): only the host is checked


def host_file_absent(path_of: Callable[[str], str]) -> Callable[[str, Outcome, str], None]:
    def check(m: str, outcome: Outcome, mode: str) -> None:
        assert not os.path.lexists(path_of(m)), f"{path_of(m)} reached the host"
    return check


def key_absent(m: str, outcome: Outcome, mode: str) -> None:
    assert m not in Path("/proc/keys").read_text(), "the key is in a keyring of the host"


def ipc_absent(kind: str) -> Callable[[str, Outcome, str], None]:
    def check(m: str, outcome: Outcome, mode: str) -> None:
        key = str(ipc_key(m))
        rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        assert all(row.split()[0] != key for row in rows), f"the SysV {kind} with key {key} is on the host"
    return check


def ipc_key(m: str) -> int:
    return int(m[-8:], 16) & 0x7FFFFFFF


def mounts_unchanged(before: list[str]) -> Callable[[str, Outcome, str], None]:
    def check(m: str, outcome: Outcome, mode: str) -> None:
        assert mountinfo() == before
    return check


def cached_image_clean(m: str, outcome: Outcome, mode: str) -> None:
    if mode != "image":
        return
    rootfs = [p / "rootfs" for p in outcome.cache.iterdir()]
    assert rootfs and all(not (r / m).exists() for r in rootfs), "the cached image was written"


def reported_write(path_of: Callable[[str], str]) -> Callable[[str, Outcome, str], None]:
    """The tracer saw the write (run: a refusal; trace: the path on the scratch layer), and it did
    not reach the host."""
    def check(m: str, outcome: Outcome, mode: str) -> None:
        path = path_of(m)
        assert not os.path.lexists(path), f"{path} reached the host"
        if mode == "trace":
            paths = [p["path"] for p in outcome.report["profile"]["paths"]]
            # a write to a system directory (/etc) is seen too, and named in a note: no volume goes there
            noted = any(path in note for note in outcome.report["notes"])
            assert noted or any(path == p or path.startswith(p + "/") for p in paths), (path, paths)
        else:
            assert (path, "EROFS") in outcome.refused(), (path, outcome.report["refused"])
    return check


ATTACKS = [
    Attack("proc-sys-core-pattern", MODES, lambda m: ["open-write", "/proc/sys/kernel/core_pattern"],
           why="/proc/sys is read-only (runc's readonlyPaths)"),
    Attack("proc-sys-ip-forward", ("run", "image"), lambda m: ["open-write", "/proc/sys/net/ipv4/ip_forward"]),
    Attack("proc-keys-masked", ("run", "image"), lambda m: ["read", "/proc/keys"]),
    Attack("proc-timer-list-masked", ("run",), lambda m: ["read", "/proc/timer_list"]),
    Attack("sys-firmware-masked", ("run", "image"), lambda m: ["list", "/sys/firmware"]),
    Attack("sethostname", MODES, lambda m: ["sethostname", m]),
    Attack("remount-root-rw", MODES, lambda m: ["remount-rw"], outside=cached_image_clean),
    Attack("mount-proc", ("run",), lambda m: ["mount-proc"]),
    Attack("unshare-user", MODES, lambda m: ["unshare-user"]),
    Attack("unshare-mount", ("run",), lambda m: ["unshare-mount"]),
    Attack("clone-newuser", ("run", "trace"), lambda m: ["clone-newuser"]),
    Attack("setns-mount", ("run",), lambda m: ["setns-mnt", "1"]),
    Attack("pivot-root", ("run", "image"), lambda m: ["pivot-root"]),
    Attack("add-key", MODES, lambda m: ["add-key", m], outside=key_absent),
    Attack("keyctl-join", ("run",), lambda m: ["keyctl-join", m], outside=key_absent),
    Attack("request-key", ("run",), lambda m: ["request-key", m]),
    Attack("bpf", ("run", "image"), lambda m: ["bpf"]),
    Attack("perf-event-open", ("run",), lambda m: ["perf-event-open"]),
    Attack("kexec-load", ("run",), lambda m: ["kexec-load"]),
    Attack("init-module", ("run",), lambda m: ["init-module"]),
    Attack("open-by-handle-at", ("run", "image"), lambda m: ["open-by-handle"]),
    Attack("ptrace-host-process", ("run", "trace"), lambda m: ["ptrace-attach", str(os.getpid())]),
    Attack("proc-host-pid-root", ("run",), lambda m: ["write", f"/proc/{os.getpid()}/root/etc/{m}"],
           outside=host_file_absent(lambda m: f"/etc/{m}")),
    Attack("proc-1-root", ("run", "image"), lambda m: ["write", f"/proc/1/root/etc/{m}"],
           outside=host_file_absent(lambda m: f"/etc/{m}")),
    Attack("mknod-host-disk", MODES, lambda m: ["mknod-disk", f"{os.major(os.stat('/').st_dev)}:{os.minor(os.stat('/').st_dev)}",
                                                 f"/dev/shm/{m}"], why="writable mounts are nodev"),
    Attack("chroot-escape", ("run", "image"), lambda m: ["chroot-escape", f"/etc/{m}"],
           outside=host_file_absent(lambda m: f"/etc/{m}")),
    # rofs trace lets every write through, onto its scratch layer: the escaped chroot writes there.
    Attack("chroot-escape-scratch", ("trace",), lambda m: ["chroot-escape", f"/etc/{m}"],
           outside=lambda m, o, mode: reported_write(lambda m: f"/etc/{m}")(m, o, "trace"), contained=True),
    Attack("tiocsti-high-bits", ("run",), lambda m: ["tiocsti-high"]),
    Attack("vsock", ("run",), lambda m: ["vsock"]),
    Attack("io-uring", ("run", "image", "trace"), lambda m: ["io-uring"],
           why="its opens and writes would not pass the tracer"),
    Attack("raw-socket-host-network", ("run",), lambda m: ["raw-socket"], why="CAP_NET_RAW is dropped with --network host"),
    Attack("packet-socket-host-network", ("run", "trace"), lambda m: ["packet-socket"]),
    Attack("personality", ("run",), lambda m: ["personality"]),
    Attack("shm-left-behind", ("run", "trace"), lambda m: ["shmget", str(ipc_key(m))], outside=ipc_absent("shm"),
           contained=True),
    Attack("msg-left-behind", ("run", "trace"), lambda m: ["msgget", str(ipc_key(m))], outside=ipc_absent("msg"),
           contained=True),
    Attack("clone-untraced", ("run", "trace"), lambda m: ["clone-untraced", f"/etc/{m}"],
           outside=host_file_absent(lambda m: f"/etc/{m}"), why="a child the tracer could not follow"),
    Attack("cgroup-write", ("run",), lambda m: ["write", "/sys/fs/cgroup/pids/cgroup.procs"]),
    # The sandbox's device nodes are rofs' own: a chmod there does not reach the host's.
    Attack("chmod-dev-zero", MODES, lambda m: ["chmod-device", "/dev/zero"], contained=True,
           outside=lambda m, o, mode: _mode_is("/dev/zero", 0o666)),
    Attack("chmod-dev-null", MODES, lambda m: ["chmod-device", "/dev/null"], contained=True,
           outside=lambda m, o, mode: _mode_is("/dev/null", 0o666)),
    Attack("chmod-masked-proc-keys", ("run", "trace"), lambda m: ["chmod-device", "/proc/keys"],
           outside=lambda m, o, mode: _mode_is("/dev/null", 0o666)),
]


def _mode_is(path: str, mode: int) -> None:
    assert stat.S_IMODE(os.stat(path).st_mode) == mode, f"{path} changed on the host"


@pytest.mark.parametrize("attack,mode", [(a, m) for a in ATTACKS for m in a.modes],
                         ids=lambda v: v.name if isinstance(v, Attack) else v)
def test_attempt_is_contained(attack: Attack, mode: str, probe, image, tmp_path: Path):
    need_sandbox()
    before = mountinfo()
    m = marker()
    outcome = attempt(mode, probe, image, tmp_path, *attack.args(m), options=attack.options)
    if not attack.contained:
        blocked(outcome)
    attack.outside(m, outcome, mode)
    assert mountinfo() == before, "a mount was left on the host"


# --- attempts that need more than one run or a prepared host ------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_hostname_of_the_host_is_not_changed(mode: str, probe, image, tmp_path: Path):
    """Writing /proc/sys/kernel/hostname: rofs runs in a private UTS namespace whose hostname
    stands in for the host's; it is the same after the run."""
    need_sandbox()
    unshare = require_tool("unshare", "util-linux")
    m = marker()[:40]
    report = tmp_path / "report.json"
    inner = {"run": [ROFS, "run", "--format", "json", "--report", str(report), "--", str(probe)],
             "image": [ROFS, "run", "--format", "json", "--report", str(report), "--image", f"{image}:latest",
                       "--image-cache", str(tmp_path / "cache"), "--", "/probe"],
             "trace": [ROFS, "trace", "--format", "json", "--report", str(report), "--", str(probe)]}[mode]
    host_name = socket.gethostname()
    script = (f'hostname {m}; "$@" write /proc/sys/kernel/hostname; echo "after=$(hostname)"; '
              f'echo "proc=$(cat /proc/sys/kernel/hostname)"')
    result = subprocess.run([unshare, "--uts", "--", "sh", "-c", script, "sh", *inner], capture_output=True, text=True,
                            timeout=60)
    assert f"after={m}" in result.stdout and f"proc={m}" in result.stdout, result.stdout + result.stderr
    assert "blocked:" in result.stdout and "ESCAPED" not in result.stdout
    assert socket.gethostname() == host_name


def test_an_image_cannot_write_its_cached_root(image, tmp_path: Path, probe):
    """busybox remounts / read-write, then writes: refused, and a second run of the same image
    does not see the file (the cached rootfs is never writable from inside)."""
    need_sandbox()
    m = marker()
    cache = tmp_path / "cache"
    report = tmp_path / "r.json"
    argv = [ROFS, "run", "--format", "json", "--report", str(report), "--image", f"{image}:latest",
            "--image-cache", str(cache), "--", "sh", "-c",
            f"mount -o remount,rw,bind /; mount -o remount,rw /; echo x > /{m}; cat /{m}"]
    first = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert "permission denied" in first.stderr.lower(), first.stderr
    (rootfs,) = [p / "rootfs" for p in cache.iterdir()]
    assert not (rootfs / m).exists()
    data = json.loads(report.read_text())
    assert (f"/{m}", "EROFS") in {(r["path"], r["errno"]) for r in data["refused"]}
    second = subprocess.run([*argv[:-1], f"cat /{m}"], capture_output=True, text=True, timeout=60)
    assert second.returncode != 0 and "No such file" in second.stderr


@pytest.mark.parametrize("mode", ("run", "trace"))
def test_tiocsti_cannot_type_into_the_terminal(mode: str, probe, tmp_path: Path):
    """The program pushes 'echo pwned' into the terminal rofs was started from (its controlling
    terminal): refused, and nothing arrives on the terminal's input."""
    need_sandbox()
    master, slave = pty.openpty()
    report = tmp_path / "r.json"
    sub = "run" if mode == "run" else "trace"
    argv = [ROFS, sub, "--format", "json", "--report", str(report), "--", str(probe), "tiocsti", "echo pwned-by-rofs\n"]

    def controlling_terminal():
        os.setsid()
        import fcntl
        import termios
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(argv, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=controlling_terminal, text=True)  # noqa: PLW1509 - no threads here
    os.close(slave)
    out, err = proc.communicate(timeout=60)
    typed = b""
    while select.select([master], [], [], 0.3)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        typed += chunk
    os.close(master)
    assert "blocked: TIOCSTI" in out, (out, err)
    assert b"pwned-by-rofs" not in typed, typed


@pytest.mark.parametrize("mode", MODES)
def test_no_descriptor_of_rofs_or_of_its_caller_reaches_the_program(mode: str, probe, image, tmp_path: Path):
    """rofs is started with a host directory open (as a careless caller would leave one): the
    program sees only 0, 1 and 2 (not rofs' strace log, status pipe or seccomp programs either),
    and nothing is written into the directory."""
    need_sandbox()
    host = tmp_path / "host-dir"
    host.mkdir()
    fd = os.open(host, os.O_RDONLY | os.O_DIRECTORY)
    try:
        outcome = attempt(mode, probe, image, tmp_path, "inherited-fds", pass_fds=(fd,))
    finally:
        os.close(fd)
    assert outcome.probe_says.strip() == "blocked: no descriptor beyond 0, 1, 2", outcome.probe_says
    assert list(host.iterdir()) == []


@pytest.mark.parametrize("mode", MODES)
def test_stdout_redirected_to_a_host_file_cannot_be_made_setuid(mode: str, probe, image, tmp_path: Path):
    """rofs' stdout is a file of the host (`rofs run ... > out`): the program only gets a pipe, so
    fchown/fchmod through its stdout change nothing on the host (before: a setuid-root file)."""
    need_sandbox()
    out = tmp_path / "out.bin"
    report = tmp_path / "r.json"
    image_args = ["--image", f"{image}:latest", "--image-cache", str(tmp_path / "cache")] if mode == "image" else []
    sub = "trace" if mode == "trace" else "run"
    binary = "/probe" if mode == "image" else str(probe)
    with open(out, "wb") as handle:
        subprocess.run([ROFS, sub, "--format", "json", "--report", str(report), *image_args, "--", binary, "stdio-suid"],
                       stdout=handle, stderr=subprocess.PIPE, timeout=60)
    st = out.stat()
    assert stat.S_IMODE(st.st_mode) & 0o7000 == 0 and stat.S_IMODE(st.st_mode) == 0o644, oct(st.st_mode)
    assert "fchown/fchmod of stdout" in out.read_text(), "the program's output still reaches the file"


@pytest.mark.parametrize("mode", ("run", "trace"))
def test_killing_everything_it_sees_does_not_stop_the_tracer(mode: str, probe, image, tmp_path: Path):
    """kill -1 SIGKILL from inside reaches only the sandbox: the tracer still records the write
    that comes after it."""
    need_sandbox()
    m = marker()
    outcome = attempt(mode, probe, image, tmp_path, "kill-all", f"/etc/{m}")
    reported_write(lambda m: f"/etc/{m}")(m, outcome, mode)


@pytest.mark.parametrize("mode", ("run", "trace"))
def test_a_child_asking_to_be_traced_is_still_traced(mode: str, probe, image, tmp_path: Path):
    """PTRACE_TRACEME in a child (to take it from the tracer) fails; its write is reported."""
    need_sandbox()
    m = marker()
    outcome = attempt(mode, probe, image, tmp_path, "traceme-child", f"/etc/{m}")
    assert "blocked: PTRACE_TRACEME" in outcome.probe_says, outcome.probe_says
    reported_write(lambda m: f"/etc/{m}")(m, outcome, mode)


@pytest.mark.parametrize("network,mode", [("none", "run"), ("none", "trace"), ("none", "image")])
def test_no_network_reaches_nothing_on_this_machine(network: str, mode: str, probe, image, tmp_path: Path):
    """--network none: a TCP listener on 127.0.0.1 and an abstract unix socket of the host are
    out of reach (the listeners see no connection)."""
    need_sandbox()
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    tcp.settimeout(0.5)
    m = marker()
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + m)
    abstract.listen(1)
    abstract.settimeout(0.5)
    try:
        for args in (["connect-tcp", str(tcp.getsockname()[1])], ["connect-abstract", m]):
            outcome = attempt(mode, probe, image, tmp_path, *args, options=("--network", network))
            blocked(outcome)
        for listener in (tcp, abstract):
            with pytest.raises(socket.timeout):
                listener.accept()
    finally:
        tcp.close()
        abstract.close()


@pytest.mark.parametrize("mode", ("run", "trace"))
@pytest.mark.parametrize("where", ("/run", "/tmp", "/var/snap/{m}/common/lxd", "/var/lib/kubelet-{m}/plugins/csi.x"))
def test_unix_sockets_of_the_host_are_out_of_reach(mode: str, where: str, probe, image, tmp_path: Path):
    """A service's socket in /run (as Docker's, systemd's or D-Bus's are), /tmp (an ssh agent), snap's
    LXD or a kubelet CSI plugin: root inside would connect through the read-only mount; rofs masks
    them, with either network."""
    need_sandbox()
    m = marker()
    where = where.format(m=m)
    # what this test makes is removed after, and only that: the highest directory that was not there
    made = next((p for p in reversed(Path(where).parents) if not p.exists()), None) if not Path(where).exists() else None
    if made is None and not Path(where).exists():
        made = Path(where)
    Path(where).mkdir(parents=True, exist_ok=True)
    path = f"{where}/{m}.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.settimeout(0.5)
    try:
        for network in ("host", "none"):
            outcome = attempt(mode, probe, image, tmp_path, "connect-unix", path, options=("--network", network))
            blocked(outcome)
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()
        os.unlink(path)
        if made is not None:
            shutil.rmtree(made)


def test_with_the_host_network_a_server_is_reachable_but_raw_sockets_are_not(probe, image, tmp_path: Path):
    """The documented default: --network host reaches 127.0.0.1 (a test client can talk to a server
    in the sandbox), raw and packet sockets are refused."""
    need_sandbox()
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    try:
        outcome = attempt("run", probe, image, tmp_path, "connect-tcp", str(tcp.getsockname()[1]))
        assert "ESCAPED: connect 127.0.0.1" in outcome.probe_says
        assert outcome.report["sandbox"]["network"] == "host"
        assert "CAP_NET_RAW" not in outcome.report["sandbox"]["capabilities"]
    finally:
        tcp.close()


# --- capabilities, no_new_privs, setuid -------------------------------------------------------

CONTAINER_CAPS = 0xA80425FB  # Docker's 14 capabilities
NET_RAW = 1 << 13


def _status(outcome: Outcome) -> dict[str, str]:
    return dict(line.split(":", 1) for line in outcome.probe_says.splitlines() if ":" in line)


@pytest.mark.parametrize("mode,options,uid,caps", [
    ("run", (), 0, CONTAINER_CAPS & ~NET_RAW),
    ("run", ("--network", "none"), 0, CONTAINER_CAPS),
    ("run", ("--user", "nobody"), 65534, 0),
    ("image", (), 0, CONTAINER_CAPS & ~NET_RAW),
    ("image", ("--user", "1000:1000"), 1000, 0),
    ("trace", (), 0, CONTAINER_CAPS & ~NET_RAW),
])
def test_capabilities_and_no_new_privs(mode, options, uid, caps, probe, image, tmp_path: Path):
    """The program gets a container's capabilities (none as another user), no_new_privs and the
    seccomp filter, in every mode: an image's root is not more root than the host's."""
    need_sandbox()
    outcome = attempt(mode, probe, image, tmp_path, "caps", options=options)
    status = _status(outcome)
    assert int(status["CapEff"], 16) == caps and int(status["CapPrm"], 16) == caps, status
    assert int(status["CapAmb"], 16) == 0 if uid else True
    assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2"
    assert status["Uid"].split() == [str(uid)] * 4
    if mode == "run":
        assert int(status["CapBnd"], 16) == caps if caps else int(status["CapBnd"], 16) == CONTAINER_CAPS & ~NET_RAW


def test_seccomp_unconfined_is_said_in_the_report(probe, image, tmp_path: Path):
    need_sandbox()
    confined = attempt("run", probe, image, tmp_path, "caps")
    outcome = attempt("run", probe, image, tmp_path, "caps", options=("--seccomp", "unconfined"))
    # The tracer's own filter (strace --seccomp-bpf) stays; the container policy's two are replaced by
    # the one that refuses what the tracer cannot see.
    assert int(_status(confined)["Seccomp_filters"]) - int(_status(outcome)["Seccomp_filters"]) == 1
    assert outcome.report["sandbox"]["seccomp"] == "unconfined"
    text = subprocess.run([ROFS, "run", "--seccomp", "unconfined", "--", "true"], capture_output=True, text=True)
    assert "seccomp unconfined (--seccomp unconfined: no container policy; only calls the tracer cannot see" \
        " refused)" in text.stderr


@pytest.mark.parametrize("options", [(), ("--seccomp", "unconfined")])
def test_32_bit_calls_still_run(options, probe, image, tmp_path: Path):
    """The filters that refuse what the tracer cannot see are per architecture: an i386 call (int
    0x80) is not killed by SIGSYS, with the container policy or without it."""
    need_sandbox()
    outcome = attempt("run", probe, image, tmp_path, "int80-getpid", options=options)
    assert outcome.probe_says == "int80 getpid: ok\n" and outcome.result.returncode == 0, outcome.result.stderr[-500:]


@pytest.mark.parametrize("mode, options", [("run", ()), ("run", ("--seccomp", "unconfined")), ("trace", ()),
                                           ("image", ("--seccomp", "unconfined"))])
@pytest.mark.parametrize("call", ["fchmodat2", "setxattrat", "io-uring-setup"])
def test_writes_the_tracer_cannot_see_are_not_there(mode, options, call, probe, image, tmp_path: Path):
    """fchmodat2 and setxattrat have no name in strace 6.1 and io_uring writes with no call at all:
    a refused one would be missing from a clean-looking report.  They answer ENOSYS in every mode,
    so C libraries fall back to calls the tracer sees (before: EROFS, unseen, with --seccomp
    unconfined; EPERM from the container policy otherwise)."""
    need_sandbox()
    target = "/etc/hostname" if mode != "image" else "/etc/passwd"
    outcome = attempt(mode, probe, image, tmp_path, call, target, options=options)
    name = call.replace("-", "_")
    assert outcome.probe_says == f"blocked: {name}: Function not implemented\n", outcome.probe_says


def test_a_setuid_root_binary_gives_nothing(probe, image, tmp_path: Path):
    """A setuid-root copy of the probe, run as nobody: its euid stays nobody's (nosuid mounts and
    no_new_privs)."""
    need_sandbox()
    suid = tmp_path / "suid-probe"
    shutil.copy(probe, suid)
    os.chown(suid, 0, 0)
    suid.chmod(0o4755)
    tmp_path.chmod(0o755)
    outcome = Outcome(subprocess.run([ROFS, "run", "--format", "json", "--report", str(tmp_path / "r.json"),
                                      "--user", "nobody", "--", str(suid), "euid"], capture_output=True, text=True,
                                     timeout=60), {})
    assert outcome.result.stdout.strip() == "euid 65534", outcome.result.stdout + outcome.result.stderr


def test_a_hard_link_from_a_persistent_path_to_a_host_file_fails(probe, tmp_path: Path):
    """ln /etc/passwd into the bound host directory: the link crosses mounts (EXDEV); the host
    file keeps its link count."""
    need_sandbox()
    state = tmp_path / "state"
    links = os.stat("/etc/passwd").st_nlink
    result = subprocess.run([ROFS, "run", "--report", "/dev/null", "--persist", f"/mnt={state}", "--",
                             "sh", "-c", "ln /etc/passwd /mnt/passwd"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "cross-device" in result.stderr.lower(), result.stderr
    assert os.stat("/etc/passwd").st_nlink == links and list(state.iterdir()) == []


def test_odd_devices_are_absent(probe, tmp_path: Path):
    """/dev holds the container set (null, zero, full, random, urandom, tty, its own pts and shm),
    no disk."""
    need_sandbox()
    outcome = attempt("run", probe, None, tmp_path, "list", "/dev")
    entries = {line.split(": ", 1)[1] for line in outcome.probe_says.splitlines() if line.startswith("entry: ")}
    assert entries <= {"null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "fd", "stdin",
                       "stdout", "stderr", "core"}, entries
    assert not any(e.startswith(("sd", "vd", "nvme", "loop", "mem", "kmsg")) for e in entries)


def test_the_readme_lists_every_attempt():
    """The README's security table names every attempt of the table above (it cannot drift)."""
    readme = (HERE.parent / "README.md").read_text()
    section = readme[readme.index("## Security"):readme.index("## Where it fits")]
    missing = [a.name for a in ATTACKS if f"`{a.name}`" not in section]
    assert missing == []


# --- the report tells the truth ----------------------------------------------------------------


@pytest.mark.parametrize("attempt_args,expected", [
    (lambda m: ["vfork-fork", f"/etc/{m}"], lambda m: {("openat", f"/etc/{m}", "EROFS")}),
    (lambda m: ["thread-chdir", m], lambda m: {("mkdir", f"/etc/{m}", "EROFS")}),
    (lambda m: ["dotdot", m], lambda m: {("mkdir", f"/etc/{m}", "EROFS")}),
    (lambda m: ["openat2-in-root", m], lambda m: {("openat2", f"/var/log/{m}", "EROFS")}),
    (lambda m: ["metadata", "/etc/hostname"], lambda m: {("fchmod", "/etc/hostname", "EROFS"),
                                                         ("fchown", "/etc/hostname", "EROFS"),
                                                         ("fsetxattr", "/etc/hostname", "EROFS")}),
], ids=["vfork-then-fork", "a-thread-changed-directory", "dotdot-after-a-link", "openat2-resolve-in-root",
        "metadata-of-a-file"])
def test_refusals_are_reported_with_the_path_the_kernel_meant(attempt_args, expected, probe, image, tmp_path: Path):
    """Refusals a tracer reading the log naively would drop or misplace: a vfork child's child
    (its lines come before the vfork returns), a relative path after another thread's chdir,
    '..' after a symbolic link, openat2's RESOLVE_IN_ROOT, fchmod/fchown/xattrs."""
    need_sandbox()
    m = marker()
    outcome = attempt("run", probe, image, tmp_path, *attempt_args(m))
    got = {(r["syscall"], r["path"], r["errno"]) for r in outcome.report["refused"]}
    assert expected(m) <= got, (expected(m), got)
    assert all(not r["path"] or not r["path"].startswith(("/var/etc", "/log/")) for r in outcome.report["refused"])


def test_a_full_tmpfs_is_reported_whatever_call_fills_it(probe, image, tmp_path: Path):
    need_sandbox()
    outcome = attempt("run", probe, image, tmp_path, "enospc-calls", "/mnt", options=("--writable", "/mnt:1m"))
    got = {(r["syscall"], r["path"], r["errno"]) for r in outcome.report["refused"]}
    assert got == {("pwritev2", "/mnt/pwritev2", "ENOSPC"), ("sendfile", "/mnt/sendfile", "ENOSPC"),
                   ("splice", "/mnt/splice", "ENOSPC")}, got


def test_posix_spawn_with_a_file_action_is_reported(tmp_path: Path):
    """posix_spawn (vfork inside the C library) opening a file for the child: refused, reported."""
    need_sandbox()
    program = ("import os\n"
               "os.posix_spawn('/bin/true', ['true'], {}, file_actions=[(os.POSIX_SPAWN_OPEN, 1,"
               " '/var/log/rofs-spawn.log', os.O_WRONLY | os.O_CREAT, 0o644)])\n")
    report = tmp_path / "r.json"
    subprocess.run([ROFS, "run", "--format", "json", "--report", str(report), "--", "python3", "-c", program],
                   capture_output=True, timeout=60)
    data = json.loads(report.read_text())
    assert ("/var/log/rofs-spawn.log", "EROFS") in {(r["path"], r["errno"]) for r in data["refused"]}


def test_many_sockets_cannot_exhaust_bubblewrap(tmp_path: Path, probe):
    """Thousands of sockets made by someone (bubblewrap takes 9,000 arguments): a directory full of
    them is masked whole, and the run goes on; past the limit in /tmp itself, /tmp is masked whole."""
    need_sandbox()
    from rofs.runtime import confine

    crowd = Path(f"/tmp/rofs-crowd-{uuid.uuid4().hex[:8]}")
    crowd.mkdir()
    held = []
    try:
        for i in range(3100):
            s = socket.socket(socket.AF_UNIX)
            s.bind(str(crowd / f"s{i}"))
            held.append(s)
        outcome = attempt("run", probe, None, tmp_path, "list", str(crowd))
        assert "blocked:" in outcome.probe_says and "empty" in outcome.probe_says, outcome.probe_says
    finally:
        for s in held:
            s.close()
        shutil.rmtree(crowd)
    fake = tmp_path / "root"
    (fake / "tmp").mkdir(parents=True)
    for i in range(confine.MAX_MASKS + 5):
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(fake / "tmp" / f"s{i}"))
        held.append(s)
    try:
        files, dirs = confine.socket_masks(str(fake))
        assert files == [] and dirs == ["/tmp"]
    finally:
        for s in held:
            s.close()


@pytest.mark.parametrize("case", ["other-fs-under-run", "var-lib", "link-under-run", "behind-a-crowd"])
def test_sockets_where_a_first_scan_missed_them(case: str, probe, tmp_path: Path):
    """A service socket on another file system under /run (as /run/user/UID is), in /var/lib (LXD,
    the kubelet), behind a link under /run, and one in /tmp after someone filled /run/lock with
    thousands of files: all masked."""
    need_sandbox()
    unshare = require_tool("unshare", "util-linux")
    m = marker()
    base = {"other-fs-under-run": f"/run/{m}", "var-lib": f"/var/lib/{m}", "link-under-run": f"/var/lib/{m}",
            "behind-a-crowd": f"/tmp/{m}"}[case]
    setup = f'mkdir -p "{base}"'
    target = f"{base}/svc.sock"
    connect_to = target
    if case == "other-fs-under-run":
        setup += f' && mount -t tmpfs rofs-test "{base}"'
    if case == "link-under-run":
        setup += f' && ln -s "{base}" "/run/{m}-link"'
        connect_to = f"/run/{m}-link/svc.sock"
    if case == "behind-a-crowd":
        setup += f' && mkdir -p /run/lock/{m} && cd /run/lock/{m} && python3 -c "[open(str(i), \'w\') for i in range(5000)]"'
    listen = (f'python3 -c "import socket,time; s=socket.socket(socket.AF_UNIX); s.bind(\'{target}\'); s.listen(1);'
              f' time.sleep(30)" >/dev/null 2>&1 & listener=$!;')
    report = tmp_path / "r.json"
    script = (f'{setup} && {listen} sleep 0.5; "$@"; rc=$?; kill $listener; rm -rf "{base}" "/run/{m}-link" "/run/lock/{m}";'
              ' exit $rc')
    result = subprocess.run([unshare, "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
                             ROFS, "run", "--format", "json", "--report", str(report), "--", str(probe), "connect-unix",
                             connect_to], capture_output=True, text=True, timeout=90)
    assert "blocked: connect to a host socket" in result.stdout, result.stdout + result.stderr
