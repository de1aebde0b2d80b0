"""Sandbox start overhead of `rofs run`: the same command bare and under the sandbox.

Prints the median of repeated runs (absolute milliseconds and the ratio), for the hardened
bubblewrap sandbox alone (rofs' private mount namespace with its own device nodes, namespaces,
/proc read-only and masked paths, the host's sockets masked, capabilities, the two seccomp
programs, the setpriv step: the cost every run pays), with the strace tracer in front
of it, and the whole CLI.  Compiling the seccomp policy with libseccomp is timed apart: the CLI
pays it once per run.
Target: sandbox start <= 50 ms over the bare command.

    .venv/bin/python bench/bench_run.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rofs.runtime import confine, tracer
from rofs.runtime.run import declare, sandbox_mounts
from rofs.runtime.sandbox import DEVICES_DIR, ChildSetup, SandboxSpec, bwrap_argv, require

COMMAND = ["/bin/true"]


def timed(build, runs: int, private: bool = False) -> list[float]:
    """Run the command line *build(seccomp_fds)* makes, *runs* times; the seccomp programs are
    compiled before the clock starts (see compile_time).  *private*: in rofs' private mount
    namespace with its own device nodes, as rofs run does as root."""
    out = []
    for _ in range(runs):
        fds = confine.seccomp_fds(confine.Confinement())
        argv = build(fds)
        setup = ChildSetup() if private else None
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=tuple(fds),
                       preexec_fn=setup.setup if setup else None)
        out.append(time.perf_counter() - start)
        if setup:
            setup.check()
        for fd in fds:
            os.close(fd)
    return out


def compile_time(runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for fd in confine.seccomp_fds(confine.Confinement()):
            os.close(fd)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    declared = declare(None, None, [("/tmp", 64 << 20)], [], [], Path("/tmp/rofs-bench-state"))
    mounts, shm = sandbox_mounts(declared, None)
    spec = SandboxSpec(command=COMMAND, mounts=mounts, shm_size=shm, cwd="/", devices=DEVICES_DIR)
    strace = tracer.strace_argv(require("strace", "strace"), "/dev/null")
    timed(lambda fds: COMMAND, 5)  # warm the page cache
    bare = statistics.median(timed(lambda fds: COMMAND, args.runs))
    boxed = statistics.median(timed(lambda fds: bwrap_argv(spec, None, fds), args.runs, private=True))
    with_trace = statistics.median(timed(lambda fds: strace + bwrap_argv(spec, None, fds), args.runs, private=True))
    policy = compile_time(args.runs)
    print(f"rofs run sandbox start, median of {args.runs} runs of {' '.join(COMMAND)} (one 64 MiB tmpfs declared)")
    print(f"  bare command            {bare * 1000:8.2f} ms")
    print(f"  hardened sandbox        {boxed * 1000:8.2f} ms   overhead {(boxed - bare) * 1000:6.2f} ms   ratio {boxed / bare:5.1f}x")
    print(f"  sandbox + strace        {with_trace * 1000:8.2f} ms   overhead {(with_trace - bare) * 1000:6.2f} ms   ratio {with_trace / bare:5.1f}x")
    print(f"  seccomp policy compile  {policy * 1000:8.2f} ms   (libseccomp; once per rofs run)")
    rofs = str(Path(sys.executable).with_name("rofs"))
    cli = statistics.median(timed(lambda fds: [rofs, "run", "--writable", "/tmp:64m", "--report", "/dev/null", "--", *COMMAND],
                                  max(5, args.runs // 5)))
    print(f"  rofs run CLI, end to end {cli * 1000:7.2f} ms   (Python start-up, profiles, policy, strace, report)")
    verdict = "PASS" if (boxed - bare) * 1000 <= 50 else "FAIL"
    print(f"  target: sandbox overhead <= 50 ms: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
