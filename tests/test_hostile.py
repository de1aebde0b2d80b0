"""Hostile programs under `rofs run` and `rofs trace`: each is contained and reported, and
after rofs exits nothing of it is left running or mounted, checked from outside.

Every program carries a unique marker in its command line (``31.6x``) so that ``pgrep -f``
finds exactly its processes; the cgroup checked is the one named after the rofs process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import in_ci
from test_cli import ROFS
from test_run import mountinfo, need_sandbox

MODES = ("run", "trace")
LIMIT_MESSAGE = "the program reached the process limit (64 processes): forks beyond it failed (EAGAIN)"
NO_SYS_ADMIN = "refused with EPERM, the sandbox gives a container's capabilities (no CAP_SYS_ADMIN)"
CGROUP_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))


def rofs(mode: str, *args: str, stop: float | None = None, timeout: float = 90) -> tuple[subprocess.CompletedProcess, dict, int]:
    """rofs run/trace with a JSON report; *stop*: --timeout (run) or --duration (trace).
    Returns the result, the report and the pid of rofs (its cgroup is named after it)."""
    report = Path(f"/tmp/rofs-hostile-{os.getpid()}-{time.monotonic_ns()}.json")
    cut = args.index("--")
    options = list(args[:cut])
    if stop is not None:
        options += ["--timeout" if mode == "run" else "--duration", str(stop)]
    argv = [ROFS, mode, "--format", "json", "--report", str(report), *options, *args[cut:]]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"rofs {mode} did not end within {timeout} s")
    data = json.loads(report.read_text()) if report.exists() else {}
    report.unlink(missing_ok=True)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), data, proc.pid


def snapshot() -> list[str]:
    return mountinfo()


def assert_nothing_left(before: list[str], marker: str, rofs_pid: int) -> None:
    """From outside: no process with *marker* in its command line, the same mounts as before, no
    cgroup of this rofs process."""
    deadline = time.monotonic() + 1.0  # the kernel reaps a dead PID namespace asynchronously
    while True:
        left = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True).stdout.strip()
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left == "", f"still running after rofs exited: {left}"
    assert mountinfo() == before, "a mount was left behind"
    cgroups = [p for root in CGROUP_ROOTS for p in root.glob(f"rofs-{rofs_pid}-*")]
    assert cgroups == [], f"cgroup left behind: {cgroups}"
    # the scratch layer is a tmpfs of the sandbox's own mount namespace: the mount table above covers it
    # (a look for rofs-trace-* directories machine-wide also saw other rofs runs' ones)


def need_pids_cgroup() -> None:
    from rofs.runtime.sandbox import ProcessLimit

    probe = ProcessLimit(8)
    available = probe.path is not None
    probe.close()
    if not available:
        message = "no writable pids cgroup on this host: rofs cannot bound processes here"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def refused(report: dict) -> set[tuple[str, str, str]]:
    return {(r["syscall"], r["path"], r["errno"]) for r in report["refused"]}


# --- processes -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_fork_bomb_is_bounded(mode: str):
    need_sandbox()
    need_pids_cgroup()
    before = snapshot()
    marker = "sleep 31.61"
    # The shell forks once (the bomb), then becomes sleep (exec: no fork needed), so the program
    # is still there when the time is up however fast the bomb fills the limit.
    start = time.monotonic()
    result, report, pid = rofs(mode, "--max-procs", "64", "--", "sh", "-c",
                               f"f() {{ f | f & }}; f; exec {marker}", stop=3)
    elapsed = time.monotonic() - start
    assert 1 < report["peak_processes"] <= 64
    assert report["refused_forks"] > 0, "the bomb hit the limit"
    if mode == "run":
        # SIGTERM ends sleep (143) unless the namespace's leftovers are killed first (137): on a
        # loaded machine the bomb's 60 traced processes make either order possible.
        assert report["timed_out"] is True and report["returncode"] in (143, 137), "sleep ended at the timeout"
        assert LIMIT_MESSAGE + "; raise --max-procs if it really needs more" in report["problems"]
        assert elapsed < 20
    else:
        assert result.returncode == 0, result.stderr[-2000:]
        assert report["returncode"] in (143, 137), "sleep ended at the end of --duration (SIGTERM or the namespace kill)"
        assert LIMIT_MESSAGE in report["notes"]
        assert elapsed < 30
    assert_nothing_left(before, marker, pid)


@pytest.mark.parametrize("mode", MODES)
def test_a_program_ignoring_sigterm_is_killed(mode: str):
    """A shell that ignores SIGTERM and keeps going (its children do not matter: it forks new ones)."""
    need_sandbox()
    before = snapshot()
    marker = "31.62"
    start = time.monotonic()
    result, report, pid = rofs(mode, "--", "sh", "-c", f"trap '' TERM; while :; do sleep 0.2; done; : {marker}", stop=1)
    elapsed = time.monotonic() - start
    assert report["returncode"] == 137, "SIGKILL after the grace period"
    if mode == "run":
        assert report["timed_out"] is True
        assert elapsed < 5 + 1 + 8, "timeout, 5 s grace, SIGKILL"
    else:
        assert result.returncode == 0, result.stderr[-2000:]
        assert report["notes"] == ["the program did not stop on SIGTERM within 10 s: killed"]
        assert elapsed < 10 + 1 + 8, "duration, 10 s grace, SIGKILL (not the 90 s of waiting it took before)"
    assert_nothing_left(before, marker, pid)


@pytest.mark.parametrize("mode", MODES)
def test_a_daemon_is_stopped_with_its_program(mode: str):
    """Double fork and setsid: a daemon in its own session, ignoring SIGTERM and SIGHUP,
    reparented away from the program; the program itself is a plain sleep."""
    need_sandbox()
    before = snapshot()
    daemon = "trap '' TERM HUP; while :; do sleep 0.2; done; : 31.63"
    script = f"(setsid sh -c \"{daemon}\" &); exec sleep 31.64"
    result, report, pid = rofs(mode, "--", "sh", "-c", script, stop=1)
    if mode == "run":
        assert report["timed_out"] is True
        assert report["returncode"] == 143, "sleep ended by SIGTERM; the daemon ends with the PID namespace"
    else:
        assert result.returncode == 0, result.stderr[-2000:]
        assert report["returncode"] == 143 and report["notes"] == [], "the daemon went with the program, as in run"
    assert_nothing_left(before, "31.6[34]", pid)


def test_a_daemon_left_behind_by_a_program_that_exits_is_stopped():
    """rofs run ends with the program: a daemon it started does not outlive it."""
    need_sandbox()
    before = snapshot()
    start = time.monotonic()
    result, report, pid = rofs("run", "--", "sh", "-c", "(setsid sh -c \"trap '' TERM HUP; exec sleep 31.65\" &); exit 5")
    assert result.returncode == 5 and report["returncode"] == 5 and report["timed_out"] is False
    assert time.monotonic() - start < 10
    assert_nothing_left(before, "sleep 31.65", pid)


# --- the file system -------------------------------------------------------------------------


def test_filling_a_declared_tmpfs_is_refused_and_reported():
    need_sandbox()
    before = snapshot()
    result, report, pid = rofs("run", "--writable", "/mnt:1m", "--", "sh", "-c",
                               "dd if=/dev/zero of=/mnt/fill-31.66 bs=64k count=64 2>/dev/null; exit 0")
    assert result.returncode == 0
    assert refused(report) == {("write", "/mnt/fill-31.66", "ENOSPC")}
    assert report["problems"] == ["/mnt is full (1Mi): dd could not write /mnt/fill-31.66; give it more room"]
    assert report["add"] == [], "a full declared path is not a mount to add"
    assert_nothing_left(before, "31.66", pid)


@pytest.mark.parametrize("mode,declared", [("run", None), ("run", "1Mi"), ("trace", None)])
def test_dev_shm_beyond_its_size(mode: str, declared: str | None):
    need_sandbox()
    before = snapshot()
    size = 1 << 20 if declared else 64 << 20
    args = ["--tmpfs", f"/dev/shm:{declared}"] if declared else []
    count = size // (1 << 20) + 1  # one MiB more than it holds
    result, report, pid = rofs(mode, *args, "--", "sh", "-c",
                               f"dd if=/dev/zero of=/dev/shm/fill-31.67 bs=1M count={count} 2>/dev/null; exit 0")
    assert result.returncode == 0, result.stderr[-2000:]
    if mode == "run":
        assert refused(report) == {("write", "/dev/shm/fill-31.67", "ENOSPC")}
        assert report["problems"] == [
            f"/dev/shm is full ({declared or '64Mi'}): dd could not write /dev/shm/fill-31.67; give it more room"]
        assert report["add"] == [], "/dev/shm is there already: it is full, not missing"
    else:
        assert report["notes"] == ["/dev/shm is full (64Mi): writes there beyond its size failed with ENOSPC; give it more room"]
        shm = {p["path"]: p for p in report["profile"]["paths"]}["/dev/shm"]
        assert shm["kind"] == "memory" and shm["observed"]["bytes_written"] == size, "it held exactly its size"
    assert_nothing_left(before, "31.67", pid)


@pytest.mark.parametrize("mode", MODES)
def test_remounting_the_root_read_write_is_refused(mode: str):
    need_sandbox()
    before = snapshot()
    marker = Path("/etc/rofs-hostile-31.68")
    script = f"mount -o remount,rw /; mount -t tmpfs none /mnt; umount -l /; echo x > {marker}; exit 0"
    had_utab = os.path.isdir("/run/mount")
    result, report, pid = rofs(mode, "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "permission denied" in result.stderr.lower() and "must be superuser to unmount" in result.stderr
    expected = [f"mount tried to mount on / (mount): {NO_SYS_ADMIN}", f"mount tried to mount on /mnt (mount): {NO_SYS_ADMIN}",
                f"umount tried to unmount / (umount2): {NO_SYS_ADMIN}"]
    # mount(8) (util-linux) first makes /run/mount for its table of mounts where this machine has
    # none yet: a real write, reported as such.
    utab = [] if had_utab else ["/run/mount"]
    if mode == "run":
        assert refused(report) == {("mount", "/", "EPERM"), ("mount", "/mnt", "EPERM"), ("umount2", "/", "EPERM"),
                                   ("openat", str(marker), "EROFS")} | {("mkdir", p, "EROFS") for p in utab}
        assert report["problems"][:3] == expected
        assert [a["path"] for a in report["add"]] == utab, "the mount attempts are not mounts to add, nor is /etc"
        assert f"sh writes {marker}, in the image's configuration under /etc" in report["problems"][3]
    else:
        assert report["notes"][:3] == expected
        assert [p["path"] for p in report["profile"]["paths"]] == utab, "its writes landed on the scratch layer"
        assert any(f"writes {marker}, in the image's configuration under /etc" in n for n in report["notes"][3:])
    assert not marker.exists(), "the host was written"
    assert_nothing_left(before, "31.68", pid)


@pytest.mark.parametrize("mode", MODES)
def test_writing_through_proc_root_does_not_reach_the_host(mode: str):
    need_sandbox()
    before = snapshot()
    marker = Path("/etc/rofs-hostile-31.69")
    hostname = digest("/etc/hostname")
    script = f"echo x > /proc/self/root{marker}; echo x >> /proc/1/root/etc/hostname; exit 0"
    result, report, pid = rofs(mode, "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr[-2000:]
    if mode == "run":
        assert refused(report) == {("openat", str(marker), "EROFS"), ("openat", "/etc/hostname", "EROFS")}
        assert report["add"] == [], "no volume over /etc"
        assert any("in the image's configuration under /etc" in p for p in report["problems"])
    else:
        assert report["profile"]["paths"] == [], "no volume over /etc"
        assert any("in the image's configuration under /etc" in n for n in report["notes"]), "seen, on the scratch layer"
    assert not marker.exists() and digest("/etc/hostname") == hostname, "the host was written"
    assert_nothing_left(before, "31.69", pid)


@pytest.mark.parametrize("mode,planted", [("run", "before"), ("run", "by-program"), ("trace", "by-program")])
def test_a_symlink_out_of_a_writable_path_does_not_reach_the_host(mode: str, planted: str, tmp_path: Path):
    """A symlink in a writable path pointing at a host directory: followed inside the sandbox,
    where that directory is read-only (run) or on the scratch layer (trace)."""
    need_sandbox()
    before = snapshot()
    target = tmp_path / "host-dir"
    target.mkdir()
    (target / "victim").write_text("original\n")
    if planted == "before":  # e.g. left in the persistent directory by an earlier run
        state = tmp_path / "state"
        state.mkdir()
        (state / "escape").symlink_to(target)
        args, link, plant = ["--persist", f"/mnt={state}"], "/mnt/escape", ""
    elif mode == "run":
        args, link, plant = ["--writable", "/mnt:1m"], "/mnt/escape", f"ln -s {target} /mnt/escape; "
    else:
        link = f"/tmp/rofs-escape-{os.getpid()}"
        args, plant = [], f"ln -s {target} {link}; "
    script = f"{plant}echo pwned > {link}/victim; echo x > {link}/new-31.70; exit 0"
    result, report, pid = rofs(mode, *args, "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr[-2000:]
    if mode == "run":
        assert refused(report) == {("openat", "/mnt/escape/victim", "EROFS"), ("openat", "/mnt/escape/new-31.70", "EROFS")}
        assert report["problems"] == [
            f"/mnt is writable, but sh's openat {path} was refused as read-only: a symlink there leads out of it,"
            " to a read-only place" for path in ("/mnt/escape/victim", "/mnt/escape/new-31.70")]
        assert report["add"] == []
    else:
        assert str(target) in [p["path"] for p in report["profile"]["paths"]], "the write through the link is seen"
        assert not os.path.lexists(link), "the link itself stayed on the scratch layer"
    assert (target / "victim").read_text() == "original\n" and sorted(os.listdir(target)) == ["victim"], "the host was written"
    assert_nothing_left(before, "31.70", pid)


# --- signals to rofs itself -------------------------------------------------------------------


@pytest.mark.parametrize("mode,sig", [("run", "SIGKILL"), ("trace", "SIGKILL"), ("run", "SIGTERM"), ("trace", "SIGTERM"),
                                      ("trace", "SIGINT"), ("run", "SIGHUP")])
def test_nothing_is_left_after_any_signal_to_rofs(mode: str, sig: str, tmp_path: Path):
    """rofs is signalled while its program runs: whatever the signal, the program, the tracer,
    bubblewrap and the cgroup are gone (checked from outside); after SIGTERM or SIGINT the
    report is still written (trace: what the program wrote until then)."""
    import signal as signals

    need_sandbox()
    before = snapshot()
    marker = f"41.{os.getpid() % 1000}{len(sig)}{len(mode)}"
    report = tmp_path / "report.json"
    argv = [ROFS, mode, "--format", "json", "--report", str(report), "--", "sh", "-c",
            f"echo x > /etc/rofs-signal-{marker}; exec sleep {marker}"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    # The sandboxed program itself (rofs' own command line holds the same words, after "exec").
    while not subprocess.run(["pgrep", "-f", f"^sleep {marker}$"], capture_output=True).stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    proc.send_signal(getattr(signals, sig))
    out, err = proc.communicate(timeout=60)
    assert_nothing_left(before, f"sleep {marker}", proc.pid)
    assert not Path(f"/etc/rofs-signal-{marker}").exists()
    if sig == "SIGKILL":
        assert proc.returncode == -9
        return
    data = json.loads(report.read_text())
    if mode == "run":
        assert proc.returncode == 128 + getattr(signals, sig), "the program's exit status (sleep killed by it)"
        assert (f"/etc/rofs-signal-{marker}", "EROFS") in {(r["path"], r["errno"]) for r in data["refused"]}
    else:
        assert proc.returncode == 0, err[-2000:]
        assert data["notes"][0] == f"stopped by {sig} to rofs: the program was stopped and this is what it wrote until then"
        assert data["profile"]["paths"] == [] and "in the image's configuration under /etc" in data["notes"][1], \
            "its write to /etc was seen, and is no volume to add"


# --- odd names ---------------------------------------------------------------------------------

ODD_NAMES = [b"line\n  EROFS  openat forged", b"\x1b]0;pwned\x07esc", "café".encode(), b"bad\xff\xfebyte"]
ODD_PROGRAM = (
    "import os, sys\n"
    "base = os.fsencode(sys.argv[1])\n"
    f"for n in {ODD_NAMES!r}:\n"
    "    try:\n"
    "        os.makedirs(base, exist_ok=True)\n"
    "        os.close(os.open(base + b'/' + n, os.O_WRONLY | os.O_CREAT, 0o644))\n"
    "    except OSError:\n"
    "        pass\n"
)


def test_odd_names_are_reported_exactly_and_shown_safely(tmp_path: Path):
    """Paths are the kernel's bytes: JSON has them exactly (undecodable bytes as surrogate escapes,
    os.fsencode gives the bytes back), text shows control characters escaped (a newline cannot
    forge a report line, ESC/OSC never reaches the terminal), accented letters as they are."""
    need_sandbox()
    program = tmp_path / "odd.py"
    program.write_text(ODD_PROGRAM)
    result, data, _ = rofs("run", "--", "python3", str(program), "/etc")
    refused_paths = {os.fsencode(r["path"]) for r in data["refused"]}
    assert refused_paths == {b"/etc/" + n for n in ODD_NAMES}
    text = subprocess.run([ROFS, "run", "--", "python3", str(program), "/etc"], capture_output=True, text=True,
                          errors="surrogateescape").stderr
    lines = text.splitlines()
    assert not any(line.startswith("  EROFS  openat forged") for line in lines), "a newline forged a report line"
    assert "\x1b" not in text and "\x07" not in text
    assert "/etc/line\\n  EROFS  openat forged" in text and "/etc/\\x1b]0;pwned\\x07esc" in text
    assert "/etc/café" in text and "/etc/bad\\xff\\xfebyte" in text


def test_trace_lists_each_odd_directory_once(tmp_path: Path):
    need_sandbox()
    program = tmp_path / "odd.py"
    program.write_text(ODD_PROGRAM)
    base = f"/var/lib/rofs-odd-{os.getpid()}/café"
    _, data, _ = rofs("trace", "--", "python3", str(program), base)
    paths = [p["path"] for p in data["profile"]["paths"]]
    assert paths == [f"/var/lib/rofs-odd-{os.getpid()}"], paths
    assert not Path(base).exists()
