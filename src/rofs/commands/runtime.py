"""``rofs run``, ``rofs trace`` and ``rofs explain``: a program under a read-only root, what it
writes, and what its logs say failed.

The work is ``rofs.runtime`` (``options`` checks the option values, ``launch`` runs or traces
the program and makes the report) and ``rofs.explain``.
"""

from __future__ import annotations

import click

from rofs.commands import profile_by_name, profile_file_option, registry_with
from rofs.errors import fail
from rofs.output import check_destination, emit


@click.command(
    "run",
    short_help="Run a program with a read-only root; report every refused write.",
    context_settings={"allow_interspersed_args": False},
)
@click.option("--profile", "app", metavar="APP", help="Make the app's profile paths writable (e.g. redis, postgres).")
@click.option("--layout", help="Profile layout (default: the distribution-package layout when there is one).")
@click.option("--writable", multiple=True, metavar="PATH[:SIZE]", help="Also writable: PATH, as an ephemeral volume (an emptyDir on disk in the profile this run"
                   " writes; a tmpfs here), default 256Mi.")
@click.option("--tmpfs", "tmpfs_paths", multiple=True, metavar="PATH[:SIZE]", help="Also writable: PATH, as a memory-backed volume (emptyDir medium: Memory in the profile, like"
                   " /dev/shm; a tmpfs here too).")
@click.option("--persist", multiple=True, metavar="PATH=HOSTDIR", help="Bind a host directory (created if missing) at PATH.")
@click.option("--keep-read-only", "keep_ro", multiple=True, metavar="PATH", help="Leave this profile path read-only (to see what breaks without it).")
@click.option("--state-dir", type=click.Path(file_okay=False), help="Where persistent profile paths live (default: ~/.local/state/rofs/run).")
@click.option("--user", metavar="USER[:GROUP]", help="Run as this user (name or uid; root needed to switch). With --image:"
              " a user of the image (default: its USER).")
@click.option("--env", "-e", "env_items", multiple=True, metavar="NAME=VALUE",
              help="Set this environment variable for the program (as docker run -e); may be repeated.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Stop the program after S seconds (SIGTERM, then SIGKILL 5 s later).")
@click.option("--network", type=click.Choice(["host", "none"]), default="host", show_default=True,
              help="host: the program shares this machine's network (reach it on 127.0.0.1; no raw sockets);"
                   " none: its own network namespace with loopback only.")
@click.option("--seccomp", "seccomp_mode", type=click.Choice(["default", "unconfined"]), default="default",
              show_default=True, help="default: the container seccomp policy; unconfined: none, except that calls the tracer cannot see (io_uring, fchmodat2 ...) answer ENOSYS (said in the report).")
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
def run_cmd(app, layout, writable, tmpfs_paths, persist, keep_ro, state_dir, user, env_items, timeout, network,
            seccomp_mode, max_procs, no_trace, image, image_cache, engine, fmt, report_file, profile_files, command):
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
    from rofs.runtime import launch
    from rofs.runtime import options as run_options
    from rofs.runtime.confine import Confinement

    if not command and not image:
        fail("nothing to run: give -- CMD [ARGS...] or --image")
    check_destination(report_file, "--report")
    profile = None
    if app:  # the built-in inventory is read only when a profile is asked for
        profile = profile_by_name(registry_with(profile_files), app)
    elif profile_files:
        from rofs.profiles import load_profile_file

        profile = load_profile_file(profile_files[-1])
    layout_id = run_options.layout_for(profile, layout)
    declared = run_options.declared_paths(profile, layout_id, writable=writable, tmpfs=tmpfs_paths, persist=persist,
                                          keep_read_only=keep_ro, state_dir=state_dir)
    confinement = Confinement(network=network, seccomp=seccomp_mode)
    env = run_options.env_pairs(env_items)
    if engine:
        raise SystemExit(launch.run_with_engine(engine, image, declared, list(command), user, confinement, env))
    report = launch.run_sandboxed(list(command), declared, image=image, image_cache=image_cache, user=user, env=env,
                                  timeout=timeout, trace=not no_trace, profile=profile, layout=layout_id,
                                  max_procs=max_procs, confinement=confinement)
    emit(launch.run_report(report, fmt), report_file, err=True)
    raise SystemExit(report.returncode)


@click.command(
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
@click.option("--env", "-e", "env_items", multiple=True, metavar="NAME=VALUE",
              help="Set this environment variable for the program (as docker run -e); may be repeated.")
@click.option("--network", type=click.Choice(["host", "none"]), default="host", show_default=True,
              help="host: the program shares this machine's network (--ready/--exercise reach it on 127.0.0.1);"
                   " none: its own namespace, loopback only (--ready/--exercise then run inside it).")
@click.option("--seccomp", "seccomp_mode", type=click.Choice(["default", "unconfined"]), default="default",
              show_default=True, help="default: the container seccomp policy; unconfined: none, except that calls the tracer cannot see (io_uring, fchmodat2 ...) answer ENOSYS (said in the report).")
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
def trace_cmd(out_file, name, duration, ready, ready_timeout, exercise, user, env_items, network, seccomp_mode, keep, scratch_size,
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
    from rofs.runtime import launch
    from rofs.runtime import options as run_options
    from rofs.runtime.confine import Confinement

    check_destination(report_file, "--report")
    check_destination(out_file, "--out")
    if from_strace:
        result = launch.trace_log(from_strace, list(command), name)
    else:
        if not command and not image:
            fail("nothing to trace: give -- CMD [ARGS...], --image or --from-strace FILE")
        result = launch.trace_program(
            list(command), image=image, image_cache=image_cache, user=user, env=run_options.env_pairs(env_items),
            duration=duration, ready=ready,
            ready_timeout=ready_timeout, exercise=exercise, keep=keep, max_procs=max_procs,
            confinement=Confinement(network=network, seccomp=seccomp_mode), trace_opens=trace_opens,
            scratch_size=scratch_size,
        )
    emit(launch.trace_report(result, name, out_file, fmt), report_file)
    if not from_strace and not result.stopped and result.returncode:
        raise SystemExit(result.returncode)  # the program failed by itself: so does the trace


@click.command("explain", short_help="Turn crash logs into the missing mount and a ready snippet.")
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
    from rofs import explain

    registry = registry_with(profile_files)
    profile = profile_by_name(registry, app) if app else None
    if layout:
        known = sorted({lay.id for p in ([profile] if profile else registry) for lay in p.layouts})
        if layout not in known:
            owner = f"{profile.name} has no such layout" if profile else "no profile has a layout of that name"
            fail(f"--layout {layout!r}: {owner}; layouts: {', '.join(known)}")
    raise SystemExit(explain.explain(source, registry, profile, layout=layout, manifest=manifest, follow=follow,
                                     fmt=fmt))
