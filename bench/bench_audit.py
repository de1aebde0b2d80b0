#!/usr/bin/env python3
"""Benchmark ``rofs audit``: speed and memory against a parsing floor and a peer.

Run from the repository root with the project's virtual environment:

    .venv/bin/python bench/bench_audit.py            # full run
    .venv/bin/python bench/bench_audit.py --quick    # fewer repetitions, smaller synthetic streams
    .venv/bin/python bench/bench_audit.py --no-checkov

Part 1 audits the shared corpus (../shared/corpus: Kubernetes YAML, Compose files, Dockerfiles)
and compares rofs with

* the floor: PyYAML's C (libyaml) loader parsing the same YAML files, texts read beforehand;
* the peer: checkov, running only CKV_K8S_22 (read-only root filesystem) on the same
  Kubernetes files.  checkov is installed from PyPI into bench/.venv-checkov on first use.

Part 2 generates long multi-document Kubernetes streams and checks that ``rofs audit`` time
grows linearly with the number of objects and that its memory stays flat with streamed (text)
output.

Every process figure is measured on a fresh child process, started by a bare launcher process
(see LAUNCHER): wall time with a monotonic clock, peak RSS and CPU time from ``os.wait4`` (Linux
reports ru_maxrss in KiB).  Medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data" / "corpus"  # real files from public projects (see its SOURCES.md)
CHECKOV_VENV = REPO / "bench" / ".venv-checkov"
CHECKOV_REQUIREMENT = "checkov>=3.2"
CHECKOV_INSTALL_RECORD = CHECKOV_VENV / "bench-install.json"  # how long the first install took

# Targets (see the task that asked for this benchmark).
TARGET_FLOOR_RATIO = 2.0  # rofs in-process time / PyYAML C load time: at most
TARGET_PEER_RATIO = 10.0  # checkov time / rofs wall time: at least
TARGET_RSS_MB = 150.0  # rofs peak RSS on the corpus: at most (decimal MB)

MB = 1_000_000


# --- measuring ----------------------------------------------------------------------


@dataclass
class Run:
    """One child process: wall seconds, CPU seconds (user + system) and peak RSS in bytes."""

    wall: float
    cpu: float
    rss: int
    exit_code: int


# The measured command is started by this small launcher, not by the benchmark itself.  Linux
# carries a process's peak RSS across exec, and a child forked (or vforked) from the benchmark
# starts out with the benchmark's own resident pages, so its ru_maxrss could never fall below
# the benchmark's size (tens of MB once the corpus is loaded).  The launcher is a bare
# interpreter (-I -S: no site, nothing imported beyond os, json and time), about 10 MB,
# which is below any figure measured here.  It spawns the command, waits for it with wait4
# (the rusage covers the command and the children it waited for) and prints the figures as JSON.
LAUNCHER = """
import json, os, sys, time
out, err, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
actions = [
    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
    (os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    (os.POSIX_SPAWN_OPEN, 2, err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
]
start = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss": usage.ru_maxrss * 1024, "exit_code": os.waitstatus_to_exitcode(status)}))
"""


def run_child(argv: Sequence[str], stdout_path: str | None = None, ok_codes: tuple[int, ...] = (0, 1),
              env: dict[str, str] | None = None) -> Run:
    """Run *argv* to completion through the launcher; its standard output goes to *stdout_path*."""
    with tempfile.NamedTemporaryFile(prefix="rofs-bench-stderr-") as err:
        launched = subprocess.run(
            [sys.executable, "-I", "-S", "-c", LAUNCHER, stdout_path or os.devnull, err.name, *argv],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, check=True,
        )
        run = Run(**json.loads(launched.stdout))
        if run.exit_code not in ok_codes:
            tail = Path(err.name).read_text("utf-8", "replace")[-3000:]
            raise RuntimeError(f"{argv[0]} exited {run.exit_code}:\n{tail}")
    return run


def repeat_child(times: int, argv: Sequence[str], **kwargs) -> list[Run]:
    return [run_child(argv, **kwargs) for _ in range(times)]


def median_run(runs: list[Run]) -> Run:
    """Median of each figure separately."""
    return Run(
        wall=statistics.median(r.wall for r in runs),
        cpu=statistics.median(r.cpu for r in runs),
        rss=int(statistics.median(r.rss for r in runs)),
        exit_code=runs[-1].exit_code,
    )


def time_call(times: int, func: Callable[[], object]) -> tuple[float, object]:
    """Median seconds of *times* calls of *func*, and the last call's result."""
    seconds, result = [], None
    for _ in range(times):
        start = time.perf_counter()
        result = func()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A plain text table; *align* gives 'l' or 'r' per column (default: first left, rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def find_rofs() -> str:
    """The rofs console script of the interpreter running this benchmark."""
    beside = Path(sys.executable).with_name("rofs")
    found = str(beside) if beside.exists() else shutil.which("rofs")
    if not found:
        sys.exit("bench_audit: no rofs executable beside this Python or on PATH (install rofs first)")
    return found


# --- part 1: the corpus -------------------------------------------------------------


def read_like_rofs(path: str) -> str:
    """A file's text as rofs reads it (UTF-8 with optional BOM, CRLF folded)."""
    with open(path, "rb") as handle:
        return handle.read().decode("utf-8-sig").replace("\r\n", "\n")


class FloorLoader(yaml.CSafeLoader):
    """CSafeLoader plus the one constructor a corpus file needs (an unquoted ``=`` scalar,
    which PyYAML's YAML 1.1 resolver tags ``tag:yaml.org,2002:value``)."""


FloorLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def pyyaml_floor(texts: list[str], times: int) -> tuple[float, float]:
    """Median seconds to load, and to compose only, every text with libyaml."""

    def load() -> int:
        return sum(len(list(yaml.load_all(t, Loader=FloorLoader))) for t in texts)

    def compose() -> int:
        return sum(len(list(yaml.compose_all(t, Loader=yaml.CSafeLoader))) for t in texts)

    load_s, _ = time_call(times, load)
    compose_s, _ = time_call(times, compose)
    return load_s, compose_s


def checkov_executable(allow_install: bool) -> tuple[str | None, str]:
    """Path to checkov in bench/.venv-checkov, installing it on first use; and a note on the install."""
    exe = CHECKOV_VENV / "bin" / "checkov"
    if exe.exists():
        note = "already installed"
        if CHECKOV_INSTALL_RECORD.exists():
            record = json.loads(CHECKOV_INSTALL_RECORD.read_text())
            note = f"installed earlier ({record['requirement']}) in {record['seconds']:.0f} s"
        return str(exe), note
    if not allow_install:
        return None, "not installed"
    print(f"  installing {CHECKOV_REQUIREMENT} into {CHECKOV_VENV.relative_to(REPO)} (first use) ...",
          file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True)
        with open(CHECKOV_VENV / "install.log", "w") as log:
            subprocess.run(
                [str(CHECKOV_VENV / "bin" / "pip"), "install", CHECKOV_REQUIREMENT],
                check=True, stdout=log, stderr=subprocess.STDOUT,
            )
    except subprocess.CalledProcessError as exc:
        log_text = (CHECKOV_VENV / "install.log").read_text() if (CHECKOV_VENV / "install.log").exists() else ""
        shutil.rmtree(CHECKOV_VENV, ignore_errors=True)  # no half-made venv for the next run
        print(f"  checkov install failed ({exc}); last lines:\n{log_text[-2000:]}", file=sys.stderr)
        return None, "install failed"
    seconds = time.perf_counter() - start
    CHECKOV_INSTALL_RECORD.write_text(json.dumps({"requirement": CHECKOV_REQUIREMENT, "seconds": seconds}))
    return str(exe), f"installed now ({CHECKOV_REQUIREMENT}) in {seconds:.0f} s"


def checkov_version(exe: str) -> str:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "?"


def checkov_counts(report_path: str) -> dict:
    """Resources, files and results that checkov's JSON report names."""
    with open(report_path) as handle:
        data = json.load(handle)
    reports = data if isinstance(data, list) else [data]
    counts = {"resources": 0, "passed": 0, "failed": 0, "parsing_errors": 0, "files": set()}
    for report in reports:
        summary = report.get("summary", {})
        counts["resources"] += summary.get("resource_count", 0)
        counts["passed"] += summary.get("passed", 0)
        counts["failed"] += summary.get("failed", 0)
        counts["parsing_errors"] += summary.get("parsing_errors", 0)
        results = report.get("results", {})
        for key in ("passed_checks", "failed_checks"):
            counts["files"].update(r.get("file_path") for r in results.get(key, []))
    counts["files"] = len(counts["files"])
    return counts


def corpus_part(args: argparse.Namespace, rofs_exe: str, tmp: Path) -> None:
    import rofs.audit
    import rofs.intake
    import rofs.profiles
    from rofs.model import SourceFormat

    runs = 3 if args.quick else 5
    print(f"== 1. Corpus: {CORPUS}")

    # In-process: the registry is loaded once (lru_cache), then only the audit is timed.
    start = time.perf_counter()
    registry = rofs.profiles.builtin_registry()
    registry_s = time.perf_counter() - start
    inproc_s, result = time_call(runs, lambda: rofs.audit.audit([str(CORPUS)], registry))
    by_format: dict[SourceFormat, list] = {}
    for source in result.files:
        by_format.setdefault(source.format, []).append(source)
    k8s = by_format.get(SourceFormat.KUBERNETES, [])
    compose = by_format.get(SourceFormat.COMPOSE, [])
    summary = result.summary()
    print(f"  rofs read: {summary['files']}, skipped {summary['skipped']}, errors {summary['errors']};"
          f" {summary['objects']} objects, {summary['workloads']} workloads, {summary['containers']} containers;"
          f" {sum(summary['findings'].values())} findings")
    k8s_workloads = sum(s.workload_count for s in k8s)
    k8s_objects = sum(s.objects for s in k8s)
    print(f"  Kubernetes files alone: {len(k8s)} files, {k8s_objects} objects, {k8s_workloads} workloads,"
          f" {sum(s.container_count for s in k8s)} containers")

    # The CLI, in fresh processes: start-up included.
    report = tmp / "rofs-corpus.json"
    cli_runs = repeat_child(runs, [rofs_exe, "audit", str(CORPUS), "--format", "json", "-o", str(report)])
    cli = median_run(cli_runs)
    cli_summary = json.loads(report.read_text())["summary"]
    if cli_summary != summary:
        print("  WARNING: the CLI's JSON summary differs from the in-process result")

    # The floor: libyaml over the same YAML files (Kubernetes and Compose), texts read first.
    yaml_paths = [s.path for s in k8s + compose if s.path.lower().endswith(rofs.intake.YAML_SUFFIXES)]
    texts = [read_like_rofs(p) for p in yaml_paths]
    load_s, compose_s = pyyaml_floor(texts, runs)
    print(f"  PyYAML {yaml.__version__} (libyaml {'yes' if yaml.__with_libyaml__ else 'NO'}):"
          f" {len(texts)} YAML files, {sum(len(t) for t in texts) / MB:.1f} MB of text")

    # The peer: checkov on a directory that holds exactly the Kubernetes files.
    peer: Run | None = None
    peer_counts: dict | None = None
    if args.no_checkov:
        print("  checkov: skipped (--no-checkov)")
    else:
        exe, note = checkov_executable(allow_install=True)
        print(f"  checkov: {note}" + (f"; version {checkov_version(exe)}" if exe else ""))
        if exe:
            peer_dir = tmp / "k8s"
            for source in k8s:
                target = peer_dir / Path(source.path).relative_to(CORPUS)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source.path, target)
            peer_report = tmp / "checkov.json"
            argv = [exe, "-d", str(peer_dir), "--framework", "kubernetes", "--check", "CKV_K8S_22",
                    "--compact", "--skip-download", "-o", "json"]
            env = dict(os.environ, BC_SKIP_MAPPING="TRUE")  # no look-ups on the Prisma Cloud platform
            peer = median_run(repeat_child(1 if args.quick else 3, argv, stdout_path=str(peer_report), env=env))
            peer_counts = checkov_counts(str(peer_report))
            print(f"  checkov reported: {peer_counts['resources']} resources in {peer_counts['files']} files"
                  f" (of {len(k8s)} given); CKV_K8S_22 passed {peer_counts['passed']},"
                  f" failed {peer_counts['failed']}; parsing errors {peer_counts['parsing_errors']}")
            print(f"  (rofs, same files: {k8s_objects} objects, {k8s_workloads} workloads, every rule)")

    print()
    rows = [
        ["rofs audit, CLI wall (json to file)", f"{cli.wall:.3f}", f"{cli.cpu:.3f}", f"{cli.rss / MB:.1f}", runs],
        ["rofs audit, in-process audit()", f"{inproc_s:.3f}", "", "", runs],
        ["  (profile registry load, first call)", f"{registry_s:.3f}", "", "", 1],
        ["PyYAML C load_all (floor)", f"{load_s:.3f}", "", "", runs],
        ["PyYAML C compose_all", f"{compose_s:.3f}", "", "", runs],
    ]
    if peer:
        rows.append(["checkov CKV_K8S_22 (Kubernetes files)", f"{peer.wall:.3f}", f"{peer.cpu:.3f}",
                     f"{peer.rss / MB:.1f}", 1 if args.quick else 3])
    print(table(["corpus", "wall s", "cpu s", "peak RSS MB", "runs"], rows))
    print(f"  (medians; CLI peak RSS over the {runs} runs: {min(r.rss for r in cli_runs) / MB:.1f}"
          f"-{max(r.rss for r in cli_runs) / MB:.1f} MB)")

    print()
    floor_ratio = inproc_s / load_s
    rows = [["rofs in-process / PyYAML C load", f"{floor_ratio:.2f}x", f"<= {TARGET_FLOOR_RATIO:g}x",
             verdict(floor_ratio <= TARGET_FLOOR_RATIO)]]
    if peer:
        peer_ratio = peer.wall / cli.wall
        rows.append(["checkov / rofs CLI wall", f"{peer_ratio:.1f}x", f">= {TARGET_PEER_RATIO:g}x",
                     verdict(peer_ratio >= TARGET_PEER_RATIO)])
    else:
        rows.append(["checkov / rofs CLI wall", "skipped", f">= {TARGET_PEER_RATIO:g}x", "-"])
    rows.append(["rofs CLI peak RSS", f"{cli.rss / MB:.1f} MB", f"<= {TARGET_RSS_MB:g} MB",
                 verdict(cli.rss / MB <= TARGET_RSS_MB)])
    print(table(["target", "measured", "target", "verdict"], rows, align="lrrl"))
    print(f"  for reference: rofs in-process / PyYAML C compose = {inproc_s / compose_s:.2f}x;"
          f" CLI start-up + registry + output = {cli.wall - inproc_s:.3f} s of the CLI wall")


# --- part 2: synthetic streams ------------------------------------------------------

# One "unit" of four objects: a hardened Deployment, a Service, a Deployment with findings and
# a ConfigMap.  Units alternate between an image rofs has a profile for (nginx) and an in-house
# image it knows nothing about, so both the profile path and the generic path run.

HARDENED = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: bench
  labels: {{app: {name}}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 101
        seccompProfile: {{type: RuntimeDefault}}
      containers:
        - name: main
          image: {image}
          ports:
            - containerPort: 8080
          securityContext:
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            runAsNonRoot: true
            capabilities: {{drop: [ALL]}}
          volumeMounts:
{mounts}\
            - {{name: tmp, mountPath: /tmp}}
            - {{name: conf, mountPath: /etc/app/conf.d, readOnly: true}}
      volumes:
{volumes}\
        - {{name: tmp, emptyDir: {{sizeLimit: 64Mi}}}}
        - {{name: conf, configMap: {{name: {name}-conf}}}}
---
"""

WITH_FINDINGS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: bench
  labels: {{app: {name}}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: main
          image: {image}
          ports:
            - containerPort: 80
          env:
            - {{name: LOG_LEVEL, value: info}}
          volumeMounts:
            - {{name: cache, mountPath: /var/cache/app}}
            - {{name: conf, mountPath: /etc/app/conf.d}}
      volumes:
        - {{name: cache, emptyDir: {{}}}}
        - {{name: conf, configMap: {{name: {name}-conf}}}}
---
"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: bench
spec:
  selector: {{app: {name}}}
  ports:
    - {{name: http, port: 80, targetPort: 8080}}
---
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-conf
  namespace: bench
data:
  app.conf: |
    listen 8080;
    worker_connections 1024;
---
"""

# Per image: the extra writable mounts a hardened deployment of it carries.
IMAGES = [
    ("nginx:1.27", [("cache", "/var/cache/nginx", "256Mi"), ("run", "/run", "1Mi")]),
    ("registry.example.com/shop/api:2.4.1", [("data", "/var/lib/api", "1Gi")]),
]


def unit_text(unit: int) -> list[str]:
    """The four documents of one unit, in stream order."""
    image, extra = IMAGES[unit % len(IMAGES)]
    mounts = "".join(f"            - {{name: {v}, mountPath: {p}}}\n" for v, p, _ in extra)
    volumes = "".join(f"        - {{name: {v}, emptyDir: {{sizeLimit: {s}}}}}\n" for v, _, s in extra)
    return [
        HARDENED.format(name=f"hard-{unit}", image=image, mounts=mounts, volumes=volumes),
        SERVICE.format(name=f"hard-{unit}"),
        WITH_FINDINGS.format(name=f"open-{unit}", image=image),
        CONFIGMAP.format(name=f"open-{unit}"),
    ]


def write_stream(path: Path, objects: int) -> None:
    """A multi-document stream of exactly *objects* Kubernetes objects."""
    with open(path, "w") as out:
        written, unit = 0, 0
        while written < objects:
            for doc in unit_text(unit)[: objects - written]:
                out.write(doc)
                written += 1
            unit += 1


def synthetic_part(args: argparse.Namespace, rofs_exe: str, tmp: Path) -> None:
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    print(f"== 2. Synthetic streams: N = {', '.join(f'{n:,}' for n in sizes)} objects in one file"
          " (per 4 objects: hardened Deployment, Service, Deployment with findings, ConfigMap)")

    # Start-up: the same command on a one-unit stream.
    tiny = tmp / "stream-4.yaml"
    write_stream(tiny, 4)
    startup = median_run(repeat_child(3, [rofs_exe, "audit", str(tiny), "--format", "text", "-o", os.devnull]))
    print(f"  start-up baseline (4 objects, text): {startup.wall:.3f} s, peak RSS {startup.rss / MB:.1f} MB")

    rows, measured = [], {}
    for n in sizes:
        path = tmp / f"stream-{n}.yaml"
        write_stream(path, n)
        reps = 1 if args.quick or n > 10_000 else 3
        text = median_run(repeat_child(reps, [rofs_exe, "audit", str(path), "--format", "text", "-o", os.devnull]))
        report = tmp / f"stream-{n}.json"
        js = run_child([rofs_exe, "audit", str(path), "--format", "json", "-o", str(report)])
        summary = json.loads(report.read_text())["summary"]
        report.unlink()
        if summary["objects"] != n:
            print(f"  WARNING: rofs read {summary['objects']} objects from the {n}-object stream")
        measured[n] = (text, js)
        net_us = (text.wall - startup.wall) / n * 1e6
        rows.append([
            f"{n:,}", f"{path.stat().st_size / MB:.1f}", f"{text.wall:.2f}", f"{text.wall / n * 1e6:.0f}",
            f"{net_us:.0f}", f"{text.rss / MB:.1f}", f"{js.wall:.2f}", f"{js.rss / MB:.1f}",
            f"{sum(summary['findings'].values()):,}", reps,
        ])
        path.unlink()
    print()
    print(table(["N objects", "input MB", "text wall s", "us/object", "net us/obj", "text RSS MB",
                 "json wall s", "json RSS MB", "findings", "runs"], rows, align="r" * 10))
    print("  net us/obj: (wall - start-up baseline) / N.  JSON output collects every finding before"
          " writing,\n  so its memory is expected to grow with N; text output streams.")

    big, mid, small = sizes[-1], sizes[-2], sizes[0]
    t_ratio = measured[big][0].wall / measured[mid][0].wall
    t_net = (measured[big][0].wall - startup.wall) / (measured[mid][0].wall - startup.wall)
    rss_ratio = measured[big][0].rss / measured[small][0].rss
    json_ratio = measured[big][1].rss / measured[small][1].rss
    print()
    print(table(["scaling", "measured", "expected"], [
        [f"text time({big:,}) / time({mid:,})", f"{t_ratio:.2f}x", f"~{big // mid}x (linear)"],
        ["  same, start-up subtracted", f"{t_net:.2f}x", f"~{big // mid}x (linear)"],
        [f"text peak RSS({big:,}) / RSS({small:,})", f"{rss_ratio:.2f}x", "~1x (flat)"],
        [f"json peak RSS({big:,}) / RSS({small:,})", f"{json_ratio:.2f}x", "grows (collects findings)"],
    ], align="lrr"))


# --- main ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, synthetic N up to 10,000")
    parser.add_argument("--no-checkov", action="store_true", help="skip the checkov comparison")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"bench_audit: no corpus at {CORPUS}")

    import rofs

    rofs_exe = find_rofs()
    print(f"rofs {rofs.__version__} ({rofs_exe}); Python {platform.python_version()};"
          f" PyYAML {yaml.__version__}; {platform.machine()}, {os.cpu_count()} CPUs;"
          f" {'quick' if args.quick else 'full'} run")
    floor = run_child(["true"])
    print(f"RSS floor of the measurement (launcher running /bin/true): {floor.rss / MB:.1f} MB")
    print()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rofs-bench-") as tmp:
        corpus_part(args, rofs_exe, Path(tmp))
        print()
        synthetic_part(args, rofs_exe, Path(tmp))
    print()
    print(f"benchmark took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
