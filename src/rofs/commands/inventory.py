"""``rofs profiles``, ``rofs policy`` and ``rofs generate``: the writable-path inventory, and the
policies and manifests made from it.

The work is ``rofs.profiles`` (``show`` renders it), ``rofs.policy`` (``export``) and
``rofs.generate`` (``options`` turns the command line into a plan's options).
"""

from __future__ import annotations

import json

import click

from rofs.commands import OrderedGroup, profile_by_name, profile_file_option, registry_with
from rofs.output import emit


@click.command("policy", short_help="Export Kyverno or Gatekeeper policies for the cluster.")
@click.argument("engine", type=click.Choice(["kyverno", "gatekeeper"]))
@click.option("--profiles", "names", metavar="APP,...", help="Profiles to enforce (default: all).")
@click.option("--mode", type=click.Choice(["audit", "enforce"]), default="audit", show_default=True,
              help="audit reports violations (Kyverno Audit, Gatekeeper dryrun); enforce rejects them.")
@click.option("--rego", "rego_version", type=click.Choice(["v0", "v1"]), default="v0", show_default=True,
              help="Gatekeeper: v0 puts the Rego in the `rego` field every Gatekeeper 3.x accepts; v1 puts it in"
                   " the `code` field as Rego v1, which Gatekeeper 3.19 and later accept.")
@click.option("--kyverno-before-1.13", "kyverno_legacy", is_flag=True,
              help="Kyverno: the failure action for the whole policy (spec.validationFailureAction), as Kyverno"
                   " before 1.13 needs; by default each rule carries its own (validate.failureAction).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE.")
@profile_file_option
def policy_cmd(engine, names, mode, rego_version, kyverno_legacy, output, profile_files):
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
    from rofs.policy.export import export

    registry = registry_with(profile_files)
    if names:
        chosen = [profile_by_name(registry, n.strip()) for n in names.split(",") if n.strip()]
    else:
        chosen = list(registry)
    emit(export(engine, chosen, mode, rego_version, kyverno_legacy), output)


@click.group(cls=OrderedGroup, short_help="The writable-path inventory: what each app writes, and why.")
def profiles() -> None:
    """Show the writable-path inventory: which paths each app writes, and why."""


@profiles.command("list", short_help="Every known app and its writable paths.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "yaml"]), default="table", show_default=True)
@profile_file_option
def profiles_list(fmt: str, profile_files: tuple[str, ...]) -> None:
    """List every known app with its writable paths (default layout)."""
    from rofs.profiles.show import list_profiles

    list_profiles(registry_with(profile_files), fmt)


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
    from rofs.profiles import show

    registry = registry_with(profile_files)
    if app is None:
        show.show_all(registry, fmt)
        return
    show.show_profile(profile_by_name(registry, app), layout, fmt)


@profiles.command("match", short_help="Which profile and layout each image gets, and why (or why none).")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@profile_file_option
def profiles_match(images: tuple[str, ...], fmt: str, profile_files: tuple[str, ...]) -> None:
    """Say which profile and layout rofs uses for each IMAGE, and why: its layout's image, an
    image built on it (PostGIS on PostgreSQL's official image), or why none fits (an exporter
    named after an app is not the app).

    \b
    Examples:
      rofs profiles match postgis/postgis:16-3.4 valkey/valkey:8 oliver006/redis_exporter
      rofs profiles match ghcr.io/acme/postgres:16 --format json

    \b
    Exit codes: 0 every image has a profile, 1 some have none, 2 bad usage.
    """
    from rofs.profiles import match_report
    from rofs.terminal import printable

    registry = registry_with(profile_files)
    reports = [match_report(registry, image) for image in images]
    if fmt == "json":
        click.echo(json.dumps(reports, indent=2))
    else:
        for r in reports:
            got = f"{r['profile']} ({r['layout']})" if r["profile"] else "no profile"
            click.echo(printable(f"{r['image']}: {got}; {r['why']}"))
    raise SystemExit(0 if all(r["profile"] for r in reports) else 1)


@click.command(short_help="Hardened K8s, Compose, docker run or Dockerfile for an app.")
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
    from rofs.generate.options import generate_text, options_for

    registry = registry_with(profile_files)
    profile = profile_by_name(registry, app)
    options = options_for(registry, profile, name=name, image=image, kind=kind, layout=layout,
                          storage_class=storage_class, namespace=namespace, sizes=sizes, required_only=required_only)
    emit(generate_text(profile, options, fmt), output)
