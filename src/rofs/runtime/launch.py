"""``rofs run`` and ``rofs trace`` from the command line: the program's command (from the image
when one is given), the run or the trace itself, and the report.

The sandbox, the tracer and the reports are ``run``, ``trace`` and ``sandbox``; a SandboxError
(a missing tool, an image that cannot be opened, a sandbox that did not start) ends the
command with exit code 2 and its message.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from rofs.errors import fail
from rofs.model import Profile
from rofs.output import write_atomic
from rofs.runtime import run as run_mod
from rofs.runtime import trace as trace_mod
from rofs.runtime.confine import Confinement
from rofs.runtime.options import positive_size
from rofs.runtime.sandbox import SandboxError

if TYPE_CHECKING:
    from rofs.runtime.image import ImageBundle

PROFILE_HEADER = "# Written by rofs trace; check it, then use it with --profile-file.\n"


def open_bundle(image: str, image_cache: str | None) -> ImageBundle:
    """The image, unpacked (or from the cache)."""
    from rofs.runtime.image import open_image

    return open_image(image, Path(image_cache) if image_cache else None)


def image_argv(image: str, bundle: ImageBundle, command: list[str]) -> list[str]:
    """What runs in the image: its Entrypoint with *command*, else its Entrypoint and Cmd."""
    argv = (bundle.entrypoint + command) if command else bundle.entrypoint_and_cmd
    if not argv:
        fail(f"{image}: the image has no Entrypoint or Cmd; give -- CMD")
    return argv


def with_env(bundle: ImageBundle | None, extra: dict[str, str] | None) -> dict[str, str] | None:
    """The program's environment with --env's variables over it: the image's Env, or rofs' own
    (None: unchanged)."""
    if not extra:
        return None
    return {**(bundle.env if bundle is not None else os.environ), **extra}


# --- rofs run ----------------------------------------------------------------------------


def run_with_engine(engine: str, image: str | None, declared: list[run_mod.Declared], command: list[str],
                    user: str | None, confinement: Confinement, env: dict[str, str] | None = None) -> int:
    """``--engine``: the image under docker or podman, with the same mounts; the engine's exit code."""
    from rofs.runtime.engine import engine_argv, require_engine

    if not image:
        fail("--engine runs an image: give --image REFERENCE")
    try:
        argv = engine_argv(engine, image, declared, command, user, confinement, env)
        argv[0] = require_engine(engine)
    except SandboxError as exc:
        fail(str(exc))
    click.echo("rofs run: " + " ".join(argv), err=True)
    return subprocess.run(argv, check=False).returncode


def run_sandboxed(command: list[str], declared: list[run_mod.Declared], *, image: str | None = None,
                  image_cache: str | None = None, user: str | None = None, env: dict[str, str] | None = None,
                  timeout: float | None = None,
                  trace: bool = True, profile: Profile | None = None, layout: str | None = None,
                  max_procs: int = run_mod.DEFAULT_MAX_PROCS, confinement: Confinement | None = None,
                  ) -> run_mod.RunReport:
    """The program (or the image) in the sandbox, traced unless *trace* is False."""
    bundle = None
    try:
        if image:
            bundle = open_bundle(image, image_cache)
            argv = image_argv(image, bundle, command)
        else:
            argv = list(command)
        return run_mod.execute(argv, declared, user=user, timeout=timeout, trace=trace, profile=profile, layout=layout,
                               env=with_env(bundle, env),
                               image=bundle, max_procs=max_procs, confinement=confinement)
    except SandboxError as exc:
        fail(str(exc))


def run_report(report: run_mod.RunReport, fmt: str) -> str:
    """The report of a run: JSON, or text for people."""
    return json.dumps(run_mod.to_dict(report), indent=2) + "\n" if fmt == "json" else run_mod.render_text(report)


# --- rofs trace --------------------------------------------------------------------------


def trace_log(from_strace: str, command: list[str], name: str | None) -> trace_mod.TraceResult:
    """``--from-strace``: the inventory of an existing ``strace -f`` log (nothing runs)."""
    with open(from_strace, encoding="utf-8", errors="replace") as handle:
        events = list(trace_mod.tracer.events(handle))
    notes: list[str] = []
    paths = trace_mod.inventory(events, None, {}, notes=notes)
    return trace_mod.TraceResult(list(command) or [name or Path(from_strace).stem], None, 0.0, paths, len(events),
                                 notes=notes)


def trace_program(command: list[str], *, image: str | None = None, image_cache: str | None = None,
                  user: str | None = None, env: dict[str, str] | None = None, duration: float | None = None, ready: str | None = None,
                  ready_timeout: float = 60.0, exercise: str | None = None, keep: str | None = None,
                  max_procs: int = run_mod.DEFAULT_MAX_PROCS, confinement: Confinement | None = None,
                  trace_opens: bool = False, scratch_size: str = "4Gi") -> trace_mod.TraceResult:
    """The program (or the image) traced on a scratch layer; *ready* and *exercise* are shell commands."""
    try:
        bundle = None
        argv = list(command)
        if image:
            bundle = open_bundle(image, image_cache)
            argv = image_argv(image, bundle, argv)
        return trace_mod.run_traced(
            argv, user=user, env=with_env(bundle, env), duration=duration,
            ready=["sh", "-c", ready] if ready else None, ready_timeout=ready_timeout,
            exercise=["sh", "-c", exercise] if exercise else None, keep=keep, image=bundle,
            max_procs=max_procs, confinement=confinement,
            trace_opens=trace_opens, scratch_size=positive_size(scratch_size, "--scratch-size"),
        )
    except SandboxError as exc:
        fail(str(exc))


def trace_report(result: trace_mod.TraceResult, name: str | None, out_file: str | None, fmt: str) -> str:
    """Write the profile to *out_file* (when given); the report: JSON with the profile, or text
    (followed by the profile when it is not written to a file)."""
    profile = trace_mod.as_profile(result, name)
    text = yaml.safe_dump(profile, sort_keys=False, width=100, allow_unicode=True)
    if out_file:
        write_atomic(Path(out_file), PROFILE_HEADER + text)
    if fmt != "json":
        return trace_mod.render_text(result) + ("" if out_file else text)
    report: dict[str, Any] = {
        "returncode": result.returncode, "duration": round(result.duration, 3), "events": result.events,
        "notes": result.notes, "peak_processes": result.peak_procs, "refused_forks": result.refused_forks,
        "sandbox": trace_mod.sandbox_dict(result), "profile": profile,
    }
    return json.dumps(report, indent=2) + "\n"
