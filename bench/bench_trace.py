"""Cost of `rofs trace` on a real server start: PostgreSQL initdb + start + query + stop.

Runs the same script bare and under `rofs trace` (overlay scratch layer + strace
--seccomp-bpf + size sampling), median of repeated runs, and prints the ratio.
Target: traced / untraced <= 1.5x.

    .venv/bin/python bench/bench_trace.py [--runs N]      (as root; needs postgresql-15)
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def script(data: str, port: int) -> str:
    return (
        f"set -e; {PG}/initdb -D {data} -U postgres --auth=trust --no-sync >/dev/null; "
        f"{PG}/pg_ctl -D {data} -o '-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=' -w start >/dev/null; "
        f"psql -X -qAt -h 127.0.0.1 -p {port} -U postgres -d postgres -c 'CREATE TABLE t AS SELECT generate_series(1,100000) x' "
        f"-c 'SELECT count(*) FROM t' >/dev/null; "
        f"{PG}/pg_ctl -D {data} -m fast -w stop >/dev/null"
    )


def bare(runs: int, where: str | None) -> list[float]:
    out = []
    for _ in range(runs):
        tmp = Path(tempfile.mkdtemp(prefix="rofs-bench-pg-", dir=where))
        shutil.chown(tmp, "postgres", "postgres")
        start = time.perf_counter()
        subprocess.run(["runuser", "-u", "postgres", "--", "sh", "-c", script(str(tmp / "data"), free_port())], check=True)
        out.append(time.perf_counter() - start)
        shutil.rmtree(tmp)
    return out


def traced(runs: int) -> list[float]:
    rofs = str(Path(sys.executable).with_name("rofs"))
    out = []
    for _ in range(runs):
        data = f"/var/lib/postgresql/rofs-bench-{time.monotonic_ns()}"
        start = time.perf_counter()
        subprocess.run([rofs, "trace", "--user", "postgres", "--format", "json", "--", "sh", "-c", script(data, free_port())],
                       check=True, stdout=subprocess.DEVNULL)
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    disk, memory, t = [], [], []
    for _ in range(args.runs):  # interleaved, so a slow moment of the machine hits all three
        disk += bare(1, None)
        memory += bare(1, "/dev/shm")
        t += traced(1)
    b, m, t = statistics.median(disk), statistics.median(memory), statistics.median(t)
    print(f"PostgreSQL 15 initdb + start + 100k-row query + stop, median of {args.runs} interleaved runs")
    print(f"  bare, data on disk     {b:6.2f} s")
    print(f"  bare, data on tmpfs    {m:6.2f} s   (the storage rofs trace's scratch layer uses)")
    print(f"  rofs trace             {t:6.2f} s   ratio {t / b:4.2f}x over disk, {t / m:4.2f}x over tmpfs"
          f" (includes rofs' start-up)")
    print(f"  target: traced <= 1.5x untraced (on disk, as the script runs without rofs): {'PASS' if t / b <= 1.5 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
