"""Command line: parse arguments, wire the pieces, set the exit code.

Exit codes, for every command:
  0  success (nothing to report)
  1  findings (later commands: audit, fix, run)
  2  usage error or bad input (unknown app, broken profile file, bad option value)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import click
import yaml

from rofs import __version__
from rofs.profiles import ProfileError, ProfileRegistry, builtin_registry
from rofs.units import SizeError, parse_size

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class RofsError(click.ClickException):
    """A one-line error for the user; exit code 2."""

    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:  # noqa: D102 - one line, no "Usage:" block
        click.echo(f"rofs: error: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    raise RofsError(message)


def registry_with(profile_files: tuple[str, ...]) -> ProfileRegistry:
    try:
        return builtin_registry().with_files(profile_files) if profile_files else builtin_registry()
    except ProfileError as exc:
        fail(str(exc))


def profile_by_name(registry: ProfileRegistry, name: str):
    profile = registry.get(name)
    if profile is None:
        fail(f"unknown app {name!r}; known apps: {', '.join(registry.names())}")
    return profile


profile_file_option = click.option(
    "--profile-file",
    "profile_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Extra profile YAML (e.g. written by `rofs trace`); may be repeated. Same name replaces a built-in.",
)


ORDER = ("audit", "fix", "run", "trace", "explain", "policy", "generate", "profiles", "rules", "rule")


class OrderedGroup(click.Group):
    """Commands in the order a newcomer meets them (the rest as defined)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = list(self.commands)
        return sorted(names, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER) + names.index(n))


@click.group(
    cls=OrderedGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", "-V", prog_name="rofs")
def main() -> None:
    """Run containers with a read-only root filesystem without breaking them.

    rofs knows which paths each application must write (its profiles), and
    turns that into hardened manifests.

    \b
    Start here:
      rofs profiles list                 the writable-path inventory
      rofs profiles show postgres        one app: paths, why, what breaks
      rofs generate postgres --format k8s
    """


# --- audit -----------------------------------------------------------------------------

SEVERITIES = ["low", "medium", "high", "critical"]


@main.command(short_help="Check K8s, Compose, Dockerfiles for read-only root problems.")
@click.argument("paths", nargs=-1, required=True, metavar="PATH... | -")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True,
    help="text for people, json (schema rofs-audit/1) for scripts, sarif for code scanning.",
)
@click.option("--select", "select", multiple=True, metavar="RULES", help="Only these rules: IDs, names or prefixes (RO2). Repeatable.")
@click.option("--ignore", "ignore", multiple=True, metavar="RULES", help="Leave out these rules. Repeatable.")
@click.option(
    "--fail-on", type=click.Choice(SEVERITIES), default=None,
    help="Exit 1 only for findings at or above this severity. Default: low (any finding).",
)
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip files and directories matching GLOB. Repeatable.")
@click.option("--show-suppressed", is_flag=True, help="Also list suppressed findings (text format).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Settings file (default: .rofs.yaml or [tool.rofs] in pyproject.toml).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write the report to FILE.")
@profile_file_option
def audit(
    paths: tuple[str, ...],
    fmt: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    fail_on: str | None,
    exclude: tuple[str, ...],
    show_suppressed: bool,
    config_file: str | None,
    output: str | None,
    profile_files: tuple[str, ...],
) -> None:
    """Report every container that is not read-only, every path its app must write that has no
    writable mount, data on ephemeral storage, unbounded emptyDirs and more.

    PATH is a file, a directory (searched recursively) or - for standard input.

    \b
    Examples:
      rofs audit k8s/ compose.yaml Dockerfile
      helm template ./chart | rofs audit -
      kubectl get deploy,sts -A -o yaml | rofs audit - --fail-on high
      rofs audit . --format sarif -o rofs.sarif

    \b
    Exit codes: 0 no findings at or above --fail-on, 1 findings, 2 bad usage or a file that
    could not be read (the others are still checked).
    """
    from rofs import config as config_mod
    from rofs import rules as rules_mod
    from rofs.audit import AuditOptions
    from rofs.audit import audit as run_audit
    from rofs.model import Severity

    try:
        settings = config_mod.load(config_file)
    except config_mod.ConfigError as exc:
        fail(str(exc))
    registry = registry_with(tuple(settings.profile_files) + profile_files)
    try:
        chosen = rules_mod.resolve(list(select)) if select else (
            rules_mod.resolve(settings.select) if settings.select is not None else None
        )
        ignored = rules_mod.resolve(list(ignore) + settings.ignore)
    except KeyError as exc:
        fail(f"unknown rule {exc.args[0]!r}; see `rofs rules`")
    threshold = Severity(fail_on or settings.fail_on or "low") if (fail_on or settings.fail_on or "low") in SEVERITIES else None
    if threshold is None:
        fail(f"fail-on must be one of {', '.join(SEVERITIES)}")
    for path in paths:
        if path != "-" and not os.path.exists(path):
            fail(f"{path}: no such file or directory")
    options = AuditOptions(select=chosen, ignore=ignored, exclude=tuple(settings.exclude) + exclude, fail_on=threshold)
    progress = _progress_printer() if fmt == "text" and sys.stderr.isatty() and not output else None
    if fmt == "text":
        from rofs.audit import stream_audit
        from rofs.formats import text as text_format

        from rofs.files import Replacement, open_parent, open_special

        replacement = None
        try:
            if output:
                dirfd, name = open_parent(output)
                try:
                    fd = open_special(dirfd, name, output)
                    if fd is None:
                        replacement = Replacement(output, (dirfd, name))
                        handle = replacement.handle
                    else:
                        handle = open(fd, "w", encoding="utf-8")
                finally:
                    os.close(dirfd)
            else:
                handle = sys.stdout
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
        color = not output and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        try:
            result = text_format.render(stream_audit(paths, registry, options, progress), handle, color, show_suppressed)
        except BaseException:
            if replacement is not None:
                replacement.discard()
            raise
        if replacement is not None:
            try:
                replacement.commit()
            except OSError as exc:
                fail(f"cannot write {output}: {exc.strerror or exc}")
        elif output:
            handle.close()
    else:
        from rofs.formats import FORMATS

        result = run_audit(paths, registry, options, progress=progress)
        text = FORMATS[fmt](result)
        if output:
            _write_atomic(Path(output), text)
        else:
            click.echo(text, nl=False)
    if progress:
        progress(None)
    named = {"<stdin>" if p == "-" else p for p in paths}
    for source in result.files:
        if source.skipped and source.path in named:  # asked for, and nothing in it to check: say so
            click.echo(f"rofs: {source.path}: skipped: {source.skipped}", err=True)
    for error in result.errors:
        click.echo(f"rofs: error: {error}", err=True)
    raise SystemExit(result.exit_code(threshold))


def _progress_printer():
    count = [0]

    def show(path: str | None) -> None:
        if path is None:
            click.echo("\r\033[K", nl=False, err=True)
            return
        count[0] += 1
        if count[0] % 25 == 0:
            click.echo(f"\r\033[Kreading {count[0]} files: {path[-60:]}", nl=False, err=True)

    return show


@main.command("rules", short_help="List every rule: ID, name, severity, title.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
def rules_cmd(fmt: str) -> None:
    """List every audit rule. IDs are public and never change."""
    from rofs import ruledocs

    if fmt == "table":
        ruledocs.print_table(report_console())
    elif fmt == "json":
        click.echo(json.dumps(ruledocs.as_dicts(), indent=2))
    else:
        click.echo(ruledocs.markdown(), nl=False)


@main.command("rule", short_help="Explain one rule: what, why, example, fix, references.")
@click.argument("rule_id", metavar="RULE")
def rule_cmd(rule_id: str) -> None:
    """Explain one rule, by ID (RO201) or name (missing-writable-path)."""
    from rofs import ruledocs
    from rofs import rules as rules_mod

    module = rules_mod.get(rule_id)
    if module is None:
        fail(f"unknown rule {rule_id!r}; known: {', '.join(rules_mod.RULES)}")
    click.echo(ruledocs.markdown_for(module), nl=False)


def report_console():
    from rofs import report

    return report.console()


# --- fix -------------------------------------------------------------------------------


@main.command(short_help="Make K8s and Compose files read-only and still running.")
@click.argument("paths", nargs=-1, required=True, metavar="PATH... | -")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff and write nothing.")
@click.option("--select", "select", multiple=True, metavar="RULES", help="Fix only these rules (IDs, names or prefixes). `rofs rules` says which each"
              " one does: fixed (safe, or review: read the diff) or suggested only.")
@click.option("--ignore", "ignore", multiple=True, metavar="RULES", help="Do not fix these rules.")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip files and directories matching GLOB.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Settings file (as for audit).")
@profile_file_option
def fix(
    paths: tuple[str, ...],
    show_diff: bool,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    exclude: tuple[str, ...],
    config_file: str | None,
    profile_files: tuple[str, ...],
) -> None:
    """Rewrite Kubernetes and Compose files so every container has a read-only root AND the
    writable mounts its app needs: persistent paths on claims (volumeClaimTemplates in a
    StatefulSet) or named volumes, temp paths on bounded emptyDir or tmpfs, /dev/shm in memory.
    Comments, key order, quoting and layout are kept; only the lines the fix needs change.

    Dockerfiles: only what cannot change behaviour is rewritten (a shell-form command of plain
    words becomes exec form); --diff also shows a suggested patch (non-root USER, directories
    made and owned at build) for you to review.

    \b
    Examples:
      rofs fix --diff k8s/            show what would change
      rofs fix k8s/ compose.yaml      rewrite in place (atomically)
      helm template ./chart | rofs fix - > fixed.yaml

    \b
    Exit codes: 0 nothing to fix, 1 files were (or would be) changed or have suggestions to
    review, 2 bad input (that file is left untouched; the others are still fixed).
    """
    from rofs import config as config_mod
    from rofs import rules as rules_mod
    from rofs.fix import ALL_RULES, fix_paths

    try:
        settings = config_mod.load(config_file)
    except config_mod.ConfigError as exc:
        fail(str(exc))
    registry = registry_with(tuple(settings.profile_files) + profile_files)
    try:
        chosen = rules_mod.resolve(list(select)) if select else set(ALL_RULES)
        ignored = rules_mod.resolve(list(ignore) + settings.ignore)
    except KeyError as exc:
        fail(f"unknown rule {exc.args[0]!r}; see `rofs rules`")
    selected = chosen - ignored
    for path in paths:
        if path != "-" and not os.path.exists(path):
            fail(f"{path}: no such file or directory")
    results = fix_paths(paths, registry, selected, tuple(settings.exclude) + exclude, show_diff=show_diff)
    out = click.get_text_stream("stdout")
    changed = errors = pending = 0
    try:
        for result in results:
            if result.error:
                errors += 1
                click.echo(f"rofs: error: {result.error}", err=True)
                continue
            if result.has_suggestions:
                pending += 1
                if show_diff:
                    result.write_diff(out, suggested=True)
                else:
                    click.echo(f"rofs: {result.path}: suggestions that only you can make: rofs fix --diff {result.path}", err=True)
            if not result.changed:
                if result.path == "<stdin>":
                    result.write_fixed(out)
                continue
            changed += 1
            for line in _fixed_findings(result.applied):
                click.echo(f"rofs: {line}", err=True)
            for note in _grouped_notes(result.notes):
                click.echo(f"rofs: {result.path}: {note}", err=True)
            if show_diff:
                if not result.has_suggestions:
                    result.write_diff(out)
            elif result.path == "<stdin>":
                result.write_fixed(out)
            else:
                try:
                    result.save()
                except OSError as exc:
                    errors += 1
                    click.echo(f"rofs: error: cannot write {result.path}: {exc.strerror or exc}", err=True)
                    continue
                click.echo(f"fixed {result.path}", err=True)
        out.flush()
    finally:
        for result in results:
            result.discard()
    verb = "would change" if show_diff else "changed"
    summary = f"rofs fix: {verb} {changed} of {len(results)} files"
    if pending:
        summary += f"; {pending} with suggestions to review (--diff)"
    if errors:
        summary += f"; {errors} not fixable"
    click.echo(summary, err=True)
    raise SystemExit(2 if errors else (1 if changed or pending else 0))


def _fixed_findings(findings, shown: int = 20) -> list[str]:
    """What a fix resolves, finding by finding, in the audit's words (the first *shown* of a file)."""
    out = [f"{f.location} {f.rule} fixed: {f.fix}" for f in findings[:shown]]
    if len(findings) > shown:
        out.append(f"... and {len(findings) - shown} more findings fixed (rofs audit lists them before the fix)")
    return out


def _grouped_notes(notes: list[str], shown: int = 3) -> list[str]:
    """Notes that say the same of many workloads ("Deployment a [main]: no profile for X ..."),
    once, naming the first few: a long stream of one in-house image is one line, not thousands."""
    groups: dict[str, list[str]] = {}
    order: list[str] = []
    for note in notes:
        label, sep, text = note.partition(": ")
        key = text if sep else note
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(label if sep else "")
    out = []
    for key in order:
        labels = [x for x in groups[key] if x]
        if len(labels) <= 1:
            out.append(f"{labels[0]}: {key}" if labels else key)
            continue
        more = f" and {len(labels) - shown} more" if len(labels) > shown else ""
        out.append(f"{', '.join(labels[:shown])}{more}: {key}")
    return out


# --- run -------------------------------------------------------------------------------


def _positive_size(value: str, option: str) -> int:
    try:
        size = parse_size(value)
    except SizeError as exc:
        fail(f"{option} {value!r}: {exc}")
    if size < 1:
        fail(f"{option} {value!r}: the size must be positive (at least 1 byte; e.g. 64Mi)")
    return size


def _path_size(values: tuple[str, ...], option: str) -> list[tuple[str, int | None]]:
    out = []
    for value in values:
        path, sep, size = value.rpartition(":") if ":" in value else (value, "", "")
        if not path.startswith("/"):
            fail(f"{option} {value!r}: the path must be absolute")
        if sep and not size:
            fail(f"{option} {value!r}: no size after ':' (e.g. {path}:64Mi)")
        try:
            bytes_ = parse_size(size) if size else None
        except SizeError as exc:
            fail(f"{option} {value!r}: {exc}")
        if bytes_ is not None and bytes_ < 1:
            fail(f"{option} {value!r}: the size must be positive (at least 1 byte; e.g. 64Mi)")
        out.append((path.rstrip("/") or "/", bytes_))
    return out


@main.command(
    "run",
    short_help="Run a program with a read-only root; report every refused write.",
    context_settings={"allow_interspersed_args": False},
)
@click.option("--profile", "app", metavar="APP", help="Make the app's profile paths writable (e.g. redis, postgres).")
@click.option("--layout", help="Profile layout (default: the distribution-package layout when there is one).")
@click.option("--writable", multiple=True, metavar="PATH[:SIZE]", help="Also writable: a tmpfs at PATH (default 256Mi).")
@click.option("--tmpfs", "tmpfs_paths", multiple=True, metavar="PATH[:SIZE]", help="Also writable: a memory tmpfs at PATH.")
@click.option("--persist", multiple=True, metavar="PATH=HOSTDIR", help="Bind a host directory (created if missing) at PATH.")
@click.option("--keep-read-only", "keep_ro", multiple=True, metavar="PATH", help="Leave this profile path read-only (to see what breaks without it).")
@click.option("--state-dir", type=click.Path(file_okay=False), help="Where persistent profile paths live (default: ~/.local/state/rofs/run).")
@click.option("--user", metavar="USER[:GROUP]", help="Run as this user (name or uid; root needed to switch). With --image:"
              " a user of the image (default: its USER).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Stop the program after S seconds (SIGTERM, then SIGKILL 5 s later).")
@click.option("--network", type=click.Choice(["host", "none"]), default="host", show_default=True,
              help="host: the program shares this machine's network (reach it on 127.0.0.1; no raw sockets);"
                   " none: its own network namespace with loopback only.")
@click.option("--seccomp", "seccomp_mode", type=click.Choice(["default", "unconfined"]), default="default",
              show_default=True, help="default: the container seccomp policy; unconfined: no filter (said in the report).")
@click.option("--max-procs", type=click.IntRange(1), default=4096, show_default=True, metavar="N",
              help="At most N processes in the sandbox (a pids cgroup, where the host offers one).")
@click.option("--no-trace", is_flag=True, help="Do not trace (no report of refused writes; no strace needed).")
@click.option("--image", metavar="DIR[:TAG]|ARCHIVE", help="Run an image: OCI layout directory or docker save archive (no daemon needed).")
@click.option("--image-cache", type=click.Path(file_okay=False), help="Where unpacked images are kept (default: ~/.cache/rofs/images).")
@click.option("--engine", type=click.Choice(["docker", "podman"]), help="Run --image (a registry reference) with this engine instead of bubblewrap.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Report format.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False), help="Write the report to FILE instead of stderr.")
@profile_file_option
@click.argument("command", nargs=-1, metavar="-- CMD [ARGS...]")
def run_cmd(app, layout, writable, tmpfs_paths, persist, keep_ro, state_dir, user, timeout, network, seccomp_mode,
            max_procs, no_trace, image, image_cache, engine, fmt, report_file, profile_files, command):
    """Run CMD with the whole root filesystem read-only and only the declared paths writable:
    the local equivalent of `docker run --read-only --tmpfs ... -v ...`, with no daemon
    (bubblewrap).

    The sandbox holds what a container runtime's defaults hold: its own PID, IPC and UTS
    namespaces; a fresh /proc with /proc/sys and the like read-only; a minimal /dev; a 64 MiB
    /dev/shm; a container's capabilities (root inside is not root of this machine) with
    no_new_privs; the default seccomp policy.  The network is this machine's by default
    (--network host: a server in it is reachable on 127.0.0.1; no raw sockets), or none.
    Nothing of it is left after rofs ends, however it ends.  It is not a boundary against
    kernel exploits.

    Every write the kernel refuses (read-only file system, full tmpfs, permission denied) is
    recorded with strace and reported with the path, the call and the process, followed by
    the mounts to add (as profile paths, Kubernetes and Compose snippets).  The exit code is
    the program's.

    \b
    Examples:
      rofs run --profile redis -- redis-server --port 6380
      rofs run --writable /tmp:64Mi -- python3 app.py
      rofs run --profile postgres --persist /var/lib/postgresql/15/main=./pgdata -- \\
          /usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main
    """
    from rofs.runtime import run as run_mod
    from rofs.runtime.sandbox import SandboxError

    if not command and not image:
        fail("nothing to run: give -- CMD [ARGS...] or --image")
    _check_destination(report_file, "--report")
    profile = None
    if app:  # the built-in inventory is read only when a profile is asked for
        profile = profile_by_name(registry_with(profile_files), app)
    elif profile_files:
        from rofs.profiles import load_profile_file

        profile = load_profile_file(profile_files[-1])
    layout_id = None
    if profile is not None:
        if layout:
            if layout not in [lay.id for lay in profile.layouts]:
                fail(f"{profile.name} has no layout {layout!r}; layouts: {', '.join(l.id for l in profile.layouts)}")
            layout_id = layout
        else:
            layout_id = next((lay.id for lay in profile.layouts if lay.package), profile.layouts[0].id)
    persists = []
    for value in persist:
        path, sep, host = value.partition("=")
        if not sep or not path.startswith("/") or not host:
            fail(f"--persist {value!r}: expected /PATH=HOSTDIR")
        persists.append((path.rstrip("/"), os.path.normpath(os.path.join(os.getcwd(), host))))
    state = Path(state_dir) if state_dir else Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "rofs" / "run"
    declared = run_mod.declare(
        profile, layout_id, _path_size(writable, "--writable"), _path_size(tmpfs_paths, "--tmpfs"), persists, state
    )
    dropped = {p.rstrip("/") for p in keep_ro}
    unknown = dropped - {d.path for d in declared}
    if unknown:
        fail(f"--keep-read-only {sorted(unknown)[0]}: not a writable path of this run ({', '.join(d.path for d in declared) or 'none'})")
    declared = [d for d in declared if d.path not in dropped]
    if engine:
        from rofs.runtime.engine import engine_argv, require_engine

        if not image:
            fail("--engine runs an image: give --image REFERENCE")
        try:
            from rofs.runtime.confine import Confinement

            argv = engine_argv(engine, image, declared, list(command), user,
                               Confinement(network=network, seccomp=seccomp_mode))
            argv[0] = require_engine(engine)
        except SandboxError as exc:
            fail(str(exc))
        click.echo("rofs run: " + " ".join(argv), err=True)
        raise SystemExit(subprocess.run(argv).returncode)
    bundle = None
    try:
        if image:
            from rofs.runtime.image import open_image

            bundle = open_image(image, Path(image_cache) if image_cache else None)
            argv = (bundle.entrypoint + list(command)) if command else bundle.entrypoint_and_cmd
            if not argv:
                fail(f"{image}: the image has no Entrypoint or Cmd; give -- CMD")
        else:
            argv = list(command)
        from rofs.runtime.confine import Confinement

        report = run_mod.execute(argv, declared, user=user, timeout=timeout, trace=not no_trace,
                                 profile=profile, layout=layout_id, image=bundle, max_procs=max_procs,
                                 confinement=Confinement(network=network, seccomp=seccomp_mode))
    except SandboxError as exc:
        fail(str(exc))
    text = json.dumps(run_mod.to_dict(report), indent=2) + "\n" if fmt == "json" else run_mod.render_text(report)
    if report_file:
        _write_atomic(Path(report_file), text)
    else:
        click.echo(text, nl=False, err=True)
    raise SystemExit(report.returncode)


# --- trace -----------------------------------------------------------------------------


@main.command(
    "trace",
    short_help="Learn an unprofiled app's writable paths; write its profile.",
    context_settings={"allow_interspersed_args": False},
)
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Write the profile (YAML) to FILE.")
@click.option("--name", help="Profile name (default: the command's name).")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Stop the program after S seconds (after --exercise): SIGTERM, then SIGKILL 10 s later.")
@click.option("--ready", metavar="CMD", help="Shell command that succeeds once the program is ready (polled).")
@click.option("--ready-timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True, metavar="S",
              help="Give up waiting for --ready after S seconds (a note says so; --exercise then does not run).")
@click.option("--exercise", metavar="CMD", help="Shell command run against the program once it is ready.")
@click.option("--user", metavar="USER[:GROUP]", help="Run the program as this user (with --image: a user of the image).")
@click.option("--network", type=click.Choice(["host", "none"]), default="host", show_default=True,
              help="host: the program shares this machine's network (--ready/--exercise reach it on 127.0.0.1);"
                   " none: its own namespace, loopback only (--ready/--exercise then run inside it).")
@click.option("--seccomp", "seccomp_mode", type=click.Choice(["default", "unconfined"]), default="default",
              show_default=True, help="default: the container seccomp policy; unconfined: no filter (said in the report).")
@click.option("--keep", type=click.Path(file_okay=False), metavar="DIR",
              help="Copy the files written into the new directory DIR (plain files: no setuid bits, no device nodes).")
@click.option("--scratch-size", metavar="SIZE", default="4Gi", show_default=True,
              help="At most this much is written on the scratch layer (it is held in memory); beyond, writes fail with"
                   " ENOSPC and the report says so.")
@click.option("--trace-opens", is_flag=True,
              help="Also trace every open, so writes refused at open (the user lacks permission) are reported;"
                   " about twice the cost on open-heavy programs (what it wrote is seen either way).")
@click.option("--max-procs", type=click.IntRange(1), default=4096, show_default=True, metavar="N",
              help="At most N processes in the sandbox (a pids cgroup, where the host offers one).")
@click.option("--from-strace", "from_strace", type=click.Path(exists=True, dir_okay=False),
              help="Read an existing `strace -f` log instead of running anything.")
@click.option("--image", metavar="DIR[:TAG]|ARCHIVE", help="Trace an image (OCI layout or docker save archive), as rofs run does.")
@click.option("--image-cache", type=click.Path(file_okay=False), help="Where unpacked images are kept.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--report", "report_file", type=click.Path(dir_okay=False),
              help="Write the report to FILE (the program's own output stays on stdout).")
@click.argument("command", nargs=-1, metavar="-- CMD [ARGS...]")
def trace_cmd(out_file, name, duration, ready, ready_timeout, exercise, user, network, seccomp_mode, keep, scratch_size,
              trace_opens, max_procs, from_strace, image, image_cache, fmt, report_file, command):
    """Run CMD with every write allowed but landing on a throw-away copy-on-write layer (the
    host is not changed), record every write of the program and its children with strace,
    and turn them into an inventory: the directories a mount needs, each persistent,
    ephemeral or memory with the reason, bytes written, peak size and a suggested size.
    The result is a profile that `rofs run`, `rofs fix` and `rofs generate` take with
    --profile-file.

    \b
    Examples:
      rofs trace --out myapp.yaml --ready 'curl -sf localhost:8080/health' \\
          --exercise 'curl -sf -d @big.json localhost:8080/api' -- ./myapp --port 8080
      rofs trace --from-strace app.strace --out myapp.yaml
    """
    import yaml as _yaml

    from rofs.runtime import trace as trace_mod
    from rofs.runtime.sandbox import SandboxError

    _check_destination(report_file, "--report")
    _check_destination(out_file, "--out")
    if from_strace:
        with open(from_strace, encoding="utf-8", errors="replace") as handle:
            events = list(trace_mod.tracer.events(handle))
        result = trace_mod.TraceResult(list(command) or [name or Path(from_strace).stem], None, 0.0,
                                       trace_mod.inventory(events, None, {}), len(events))
    else:
        if not command and not image:
            fail("nothing to trace: give -- CMD [ARGS...], --image or --from-strace FILE")
        try:
            bundle = None
            argv = list(command)
            if image:
                from rofs.runtime.image import open_image

                bundle = open_image(image, Path(image_cache) if image_cache else None)
                argv = (bundle.entrypoint + argv) if argv else bundle.entrypoint_and_cmd
                if not argv:
                    fail(f"{image}: the image has no Entrypoint or Cmd; give -- CMD")
            from rofs.runtime.confine import Confinement

            result = trace_mod.run_traced(
                argv, user=user, duration=duration,
                ready=["sh", "-c", ready] if ready else None, ready_timeout=ready_timeout,
                exercise=["sh", "-c", exercise] if exercise else None, keep=keep, image=bundle,
                max_procs=max_procs, confinement=Confinement(network=network, seccomp=seccomp_mode),
                trace_opens=trace_opens, scratch_size=_positive_size(scratch_size, "--scratch-size"),
            )
        except SandboxError as exc:
            fail(str(exc))
    profile = trace_mod.as_profile(result, name)
    text = _yaml.safe_dump(profile, sort_keys=False, width=100, allow_unicode=True)
    if out_file:
        _write_atomic(Path(out_file), "# Written by rofs trace; check it, then use it with --profile-file.\n" + text)
    if fmt == "json":
        report = json.dumps({"returncode": result.returncode, "duration": round(result.duration, 3),
                             "events": result.events, "notes": result.notes, "peak_processes": result.peak_procs,
                             "refused_forks": result.refused_forks, "sandbox": trace_mod.sandbox_dict(result),
                             "profile": profile}, indent=2) + "\n"
    else:
        report = trace_mod.render_text(result) + ("" if out_file else text)
    if report_file:
        _write_atomic(Path(report_file), report)
    else:
        click.echo(report, nl=False)
    if not from_strace and not result.stopped and result.returncode:
        raise SystemExit(result.returncode)  # the program failed by itself: so does the trace


# --- explain ---------------------------------------------------------------------------


@main.command("explain", short_help="Turn crash logs into the missing mount and a ready snippet.")
@click.argument("source", required=False, default="-", metavar="[FILE | -]")
@click.option("--app", metavar="APP", help="The app the log comes from (else found from --manifest or the messages).")
@click.option("--layout", help="The app's layout (official, bitnami, debian ...), when the log cannot tell.")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False), help="The workload's manifest: app from its image, and a patch for it.")
@click.option("--follow", "-f", is_flag=True, help="Keep reading as the log grows (a rollout watch); Ctrl-C to stop.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@profile_file_option
def explain_cmd(source, app, layout, manifest, follow, fmt, profile_files):
    """Read logs (plain, `kubectl logs` with or without --timestamps/--prefix, `docker logs`,
    journal, JSON lines) and say, for each failed write: which path, why, the app, and the mount
    to add (kind and size from the app's profile: never an emptyDir for data that must persist),
    with snippets for Kubernetes, Compose and `docker run`.  Lines it does not understand are
    skipped.  Exit 1 when something was diagnosed, 0 when not, 2 on unreadable input.

    \b
    Examples:
      kubectl logs deploy/db --previous | rofs explain - --app postgres
      rofs explain crash.log --manifest k8s/db.yaml
      kubectl logs -f deploy/web | rofs explain --follow -
    """
    from rofs import diagnose

    registry = registry_with(profile_files)
    profile = profile_by_name(registry, app) if app else None
    images: list[str] = []
    if manifest:
        from rofs.audit import read_file as read_source

        parsed = read_source(manifest, True)
        if parsed is None or parsed.errors:
            fail(str(parsed.errors[0]) if parsed and parsed.errors else f"{manifest}: not a manifest ({parsed.skipped if parsed else 'nothing to read'})")
        images = [c.image for w in parsed.workloads for c in w.containers if c.image]
        for image in images:
            match = registry.match_image(image)
            if match and (profile is None or match.profile.name == profile.name):
                profile = match.profile
                layout = layout or match.layout.id
                break
    try:
        raw = sys.stdin.buffer if source == "-" else open(source, "rb")
    except OSError as exc:
        fail(f"{source}: cannot read: {exc.strerror}")
    handle = diagnose.read_log(raw, "<stdin>" if source == "-" else source, follow=follow and source != "-")
    found: dict[tuple, diagnose.Diagnosis] = {}
    order: list[tuple] = []
    lines_of: dict[tuple, list[int]] = {}

    def record(d) -> bool:
        key = d.key()
        lines_of.setdefault(key, []).append(d.line)
        if key in found:
            return False
        found[key] = d
        order.append(key)
        return True

    try:
        if follow:
            for d in diagnose.diagnose(handle, registry, profile, layout=layout):
                if record(d):
                    click.echo(_explain_text(d, []) if fmt == "text" else json.dumps(_explain_dict(d, [])))
        else:
            for d in diagnose.diagnose(handle, registry, profile, layout=layout):
                record(d)
    except KeyboardInterrupt:
        pass
    except diagnose.LogError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{source}: cannot read: {exc.strerror or exc}")
    results = [found[k] for k in order]
    if not follow:
        if fmt == "json":
            click.echo(json.dumps([_explain_dict(d, lines_of[d.key()]) for d in results], indent=2))
        else:
            for d in results:
                click.echo(_explain_text(d, lines_of[d.key()]))
            if not results:
                click.echo("rofs explain: no failed write found in the log", err=True)
    if manifest and results:
        patch = _manifest_patch(manifest, results, registry, profile, images)
        if patch:
            click.echo(patch, nl=False)
    raise SystemExit(1 if results else 0)


def _explain_dict(d, lines: list[int]) -> dict:
    from rofs.diagnose import snippets

    return {
        "line": d.line, "lines": lines or [d.line], "cause": d.cause, "title": d.title, "path": d.path,
        "app": d.app, "mount": d.mount, "kind": d.kind.value, "size": d.size, "advice": d.advice,
        "message": d.text, "snippets": snippets(d),
    }


def _explain_text(d, lines: list[int]) -> str:
    from rofs.diagnose import snippets

    from rofs.terminal import printable

    more = f" (also lines {', '.join(map(str, lines[1:6]))}{'...' if len(lines) > 6 else ''})" if len(lines) > 1 else ""
    out = [f"line {d.line}{more}: {d.title}", f"  {d.text[:300]}"]
    who = f"{d.app}: " if d.app else ""
    out.append(f"  {who}{d.advice}")
    snip = snippets(d)
    if snip:
        out.append("  Kubernetes: " + json.dumps(snip["kubernetes"]))
        out.append("  Compose:    " + json.dumps(snip["compose"]))
        out.append("  docker run: " + snip["docker-run"])
    return "\n".join(printable(line) for line in out) + "\n"


def _manifest_patch(manifest: str, results, registry, profile, images: list[str]) -> str:
    """The mounts the log asks for, added to the manifest by the same engine as `rofs fix`."""
    import dataclasses

    from rofs.fix import FIXABLE, fix_text
    from rofs.fix import read_text_raw
    from rofs.images import parse_image
    from rofs.model import Layout, Profile, SourceRef, WritablePath
    from rofs.profiles import ProfileRegistry

    extra = tuple(
        WritablePath(path=d.mount, purpose=f"failed in the log: {d.title}", kind=d.kind, required=True,
                     breaks=d.text[:200], sources=("log",), size=d.size)
        for d in results if d.mount and d.cause not in ("no-space", "permission")
    )
    if not extra:
        return ""
    if profile is not None:
        known = {p.path for p in profile.paths}
        patched = dataclasses.replace(profile, paths=profile.paths + tuple(p for p in extra if p.path not in known))
    else:
        patterns = tuple(parse_image(i).path for i in images)
        patched = Profile(name="from-log", title="from the log", description="paths seen failing in a log",
                          layouts=(Layout(id="image", description="the manifest's image", images=patterns),),
                          paths=extra, sources=(SourceRef(id="log", title="rofs explain", ref="log"),))
    merged = ProfileRegistry(registry)
    merged.add(patched)
    text, error, _ = read_text_raw(manifest)
    if error or text is None:
        return ""
    result = fix_text(text, manifest, merged, set(FIXABLE))
    return result.diff() if result.changed else ""


# --- policy ------------------------------------------------------------------------------


@main.command("policy", short_help="Export Kyverno or Gatekeeper policies for the cluster.")
@click.argument("engine", type=click.Choice(["kyverno", "gatekeeper"]))
@click.option("--profiles", "names", metavar="APP,...", help="Profiles to enforce (default: all).")
@click.option("--mode", type=click.Choice(["audit", "enforce"]), default="audit", show_default=True,
              help="audit reports violations (Kyverno Audit, Gatekeeper dryrun); enforce rejects them.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE.")
@profile_file_option
def policy_cmd(engine, names, mode, output, profile_files):
    """Write ready-to-apply policies for the cluster's admission controller:

    \b
    - every container, initContainer and ephemeralContainer has readOnlyRootFilesystem: true
      at container level (published policies often miss init containers);
    - for images matching a profile: its paths mounted writable, data not on emptyDir,
      emptyDirs bounded;
    - Kyverno: mutate rules that add a profile's emptyDir mounts to matching containers.

    \b
    Examples:
      rofs policy gatekeeper --mode enforce | kubectl apply -f -
      rofs policy kyverno --profiles postgres,redis,nginx -o rofs-policies.yaml
    """
    from rofs import policy

    registry = registry_with(profile_files)
    if names:
        chosen = [profile_by_name(registry, n.strip()) for n in names.split(",") if n.strip()]
    else:
        chosen = list(registry)
    docs = policy.gatekeeper(chosen, mode) if engine == "gatekeeper" else policy.kyverno(chosen, mode)
    header = f"# Generated by rofs {__version__}: rofs policy {engine} --mode {mode}\n"
    text = header + yaml.dump_all(docs, Dumper=_BlockDumper, sort_keys=False, width=120)
    if output:
        _write_atomic(Path(output), text)
    else:
        click.echo(text, nl=False)


# --- profiles --------------------------------------------------------------------------


@main.group(cls=OrderedGroup, short_help="The writable-path inventory: what each app writes, and why.")
def profiles() -> None:
    """Show the writable-path inventory: which paths each app writes, and why."""


@profiles.command("list", short_help="Every known app and its writable paths.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "yaml"]), default="table", show_default=True)
@profile_file_option
def profiles_list(fmt: str, profile_files: tuple[str, ...]) -> None:
    """List every known app with its writable paths (default layout)."""
    from rofs import report

    registry = registry_with(profile_files)
    if fmt == "table":
        report.print_profile_list(report.console(), registry)
    else:
        data = [report.profile_summary(p) for p in registry]
        _dump(data, fmt)


@profiles.command("show", short_help="One app: paths, volume kinds, sizes, what breaks, sources.")
@click.argument("app", required=False)
@click.option("--layout", help="Only this layout (e.g. official, bitnami, debian). Default: all.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "yaml", "markdown"]), default="table", show_default=True,
    help="markdown without APP writes every profile (docs/profiles.md).",
)
@profile_file_option
def profiles_show(app: str, layout: str | None, fmt: str, profile_files: tuple[str, ...]) -> None:
    """Show one app: every writable path, its volume kind and size, and what breaks without it.

    \b
    Example:
      rofs profiles show redis --layout debian
    """
    from rofs import report

    registry = registry_with(profile_files)
    if app is None:
        if fmt != "markdown":
            fail("name an app (rofs profiles list shows them), or use --format markdown for all of them")
        click.echo(report.profiles_markdown(registry), nl=False)
        return
    profile = profile_by_name(registry, app)
    if fmt == "markdown":
        click.echo(report.profile_markdown(profile), nl=False)
        return
    if layout is not None and layout not in [lay.id for lay in profile.layouts]:
        fail(f"{profile.name} has no layout {layout!r}; layouts: {', '.join(l.id for l in profile.layouts)}")
    if fmt == "table":
        report.print_profile(report.console(), profile, layout)
    else:
        _dump(report.profile_detail(profile, layout), fmt)


# --- generate --------------------------------------------------------------------------


def _parse_sizes(values: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    sizes = []
    for value in values:
        key, sep, size = value.partition("=")
        if not sep or not key or not size:
            fail(f"--size {value!r}: expected PATH=SIZE or VOLUME=SIZE, e.g. /tmp=2Gi or data=50Gi")
        try:
            sizes.append((key, parse_size(size)))
        except SizeError as exc:
            fail(f"--size {value!r}: {exc}")
    return tuple(sizes)


@main.command(short_help="Hardened K8s, Compose, docker run or Dockerfile for an app.")
@click.argument("app")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["k8s", "compose", "docker-run", "dockerfile"]),
    default="k8s",
    show_default=True,
    help="What to write.",
)
@click.option("--name", help="Object/service name. Default: the app name.")
@click.option("--image", help="Image to use. Default: the layout's image.")
@click.option(
    "--kind",
    type=click.Choice(["Deployment", "StatefulSet", "Pod"]),
    help="Kubernetes kind. Default: StatefulSet when the app keeps persistent data, else Deployment.",
)
@click.option("--layout", help="Profile layout (official, bitnami, ...). Default: chosen from --image, else the first.")
@click.option("--storage-class", help="storageClassName for the persistent volume claims.")
@click.option("--namespace", help="metadata.namespace for the Kubernetes objects.")
@click.option(
    "--size",
    "sizes",
    multiple=True,
    metavar="PATH=SIZE",
    help="Override a volume size, by path or volume name: --size /tmp=2Gi --size data=50Gi. Repeatable.",
)
@click.option("--required-only", is_flag=True, help="Leave out the paths the profile marks optional.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
@profile_file_option
def generate(
    app: str,
    fmt: str,
    name: str | None,
    image: str | None,
    kind: str | None,
    layout: str | None,
    storage_class: str | None,
    namespace: str | None,
    sizes: tuple[str, ...],
    required_only: bool,
    output: str | None,
    profile_files: tuple[str, ...],
) -> None:
    """Write a hardened manifest for APP: read-only root plus exactly the mounts it needs.

    \b
    Examples:
      rofs generate postgres --format k8s --storage-class fast-ssd --size data=50Gi
      rofs generate redis --format compose
      rofs generate nginx --format docker-run --image nginx:1.27-alpine
      rofs generate kafka --format dockerfile
    """
    from rofs.generate import GenerateOptions, PlanError, build_plan, render
    from rofs.model import VolumeKind

    registry = registry_with(profile_files)
    profile = profile_by_name(registry, app)
    if image and not layout:
        match = registry.match_image(image)
        if match and match.profile.name == profile.name:
            layout = match.layout.id
    if kind is None:
        try:
            chosen = profile.layout(layout)
        except KeyError as exc:
            fail(str(exc.args[0]))
        has_data = any(p.kind is VolumeKind.PERSISTENT for p in profile.paths_for(chosen.id))
        kind = "StatefulSet" if has_data else "Deployment"
    options = GenerateOptions(
        name=name,
        image=image,
        kind=kind,
        layout=layout,
        storage_class=storage_class,
        namespace=namespace,
        sizes=_parse_sizes(sizes),
        include_optional=not required_only,
    )
    try:
        text = render(build_plan(profile, options), fmt)
    except PlanError as exc:
        fail(str(exc))
    if output:
        _write_atomic(Path(output), text)
    else:
        click.echo(text, nl=False)


@main.command(short_help="Print the shell completion script (bash, zsh or fish).")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  rofs completion bash > ~/.local/share/bash-completion/completions/rofs
    zsh:   rofs completion zsh > "${fpath[1]}/_rofs"
    fish:  rofs completion fish > ~/.config/fish/completions/rofs.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    click.echo(cls(main, {}, "rofs", "_ROFS_COMPLETE").source())


# --- helpers ---------------------------------------------------------------------------


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (Rego) as literal blocks, readable in the policy files."""


_BlockDumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None),
)


def _dump(data: object, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False, width=100), nl=False)


def _check_destination(path: str | None, option: str) -> None:
    """Before a long run: the report or profile can be written where asked (exit 2 now, not after)."""
    if not path:
        return
    from rofs.files import check_output

    parent = os.path.dirname(os.path.abspath(path)) or "/"
    if not os.path.isdir(parent):
        fail(f"{option} {path}: the directory {parent} does not exist")
    try:
        special = check_output(path)
    except OSError as exc:
        fail(f"{option} {path}: {exc.strerror or exc}")
    if not special and not os.access(parent, os.W_OK):
        fail(f"{option} {path}: cannot write in {parent}")


def _write_atomic(path: Path, text: str) -> None:
    """Write a report or generated file (see ``rofs.files.write_atomic``); exit 2 when it cannot be written."""
    from rofs.files import write_atomic

    try:
        write_atomic(path, text)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")


