"""Command line: parse arguments, wire the pieces, set the exit code.

Exit codes, for every command:
  0  success (nothing to report)
  1  findings (later commands: audit, fix, run)
  2  usage error or bad input (unknown app, broken profile file, bad option value)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

import click
import yaml

from rofs import __version__
from rofs.profiles import ProfileError, ProfileRegistry, builtin_registry, load_profile_file
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


class OrderedGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


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
@click.argument("app")
@click.option("--layout", help="Only this layout (e.g. official, bitnami, debian). Default: all.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "yaml"]), default="table", show_default=True
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
    profile = profile_by_name(registry, app)
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


# --- helpers ---------------------------------------------------------------------------


def _dump(data: object, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False, width=100), nl=False)


def _write_atomic(path: Path, text: str) -> None:
    import os
    import tempfile

    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        fail(f"cannot write {path}: {exc.strerror}")


