"""Sandbox start overhead of `rofs run`: the same command bare and under the sandbox.

Prints the median of repeated runs (absolute milliseconds and the ratio), for the
bubblewrap sandbox alone (the cost every run pays) and with the strace tracer on.
Target: sandbox start <= 50 ms over the bare command.

    .venv/bin/python bench/bench_run.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rofs.runtime import tracer
from rofs.runtime.run import declare, sandbox_mounts
from rofs.runtime.sandbox import SandboxSpec, bwrap_argv, require

COMMAND = ["/bin/true"]


def timed(argv: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    declared = declare(None, None, [("/tmp", 64 << 20)], [], [], Path("/tmp/rofs-bench-state"))
    mounts, shm = sandbox_mounts(declared, None)
    spec = SandboxSpec(command=COMMAND, mounts=mounts, shm_size=shm, cwd="/")
    sandbox = bwrap_argv(spec, COMMAND)
    traced = bwrap_argv(spec, tracer.strace_argv(require("strace", "strace"), 1) + COMMAND)
    timed(COMMAND, 5)  # warm the page cache
    bare = statistics.median(timed(COMMAND, args.runs))
    boxed = statistics.median(timed(sandbox, args.runs))
    with_trace = statistics.median(timed(traced, args.runs))
    print(f"rofs run sandbox start, median of {args.runs} runs of {' '.join(COMMAND)} (one 64 MiB tmpfs declared)")
    print(f"  bare command            {bare * 1000:8.2f} ms")
    print(f"  bubblewrap sandbox      {boxed * 1000:8.2f} ms   overhead {(boxed - bare) * 1000:6.2f} ms   ratio {boxed / bare:5.1f}x")
    print(f"  sandbox + strace        {with_trace * 1000:8.2f} ms   overhead {(with_trace - bare) * 1000:6.2f} ms   ratio {with_trace / bare:5.1f}x")
    rofs = str(Path(sys.executable).with_name("rofs"))
    cli = statistics.median(timed([rofs, "run", "--writable", "/tmp:64m", "--report", "/dev/null", "--", *COMMAND],
                                  max(5, args.runs // 5)))
    print(f"  rofs run CLI, end to end {cli * 1000:7.2f} ms   (Python start-up, profiles, strace, report)")
    verdict = "PASS" if (boxed - bare) * 1000 <= 50 else "FAIL"
    print(f"  target: sandbox overhead <= 50 ms: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
