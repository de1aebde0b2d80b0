"""``rofs generate`` from the command line: its options as GenerateOptions, and the manifest."""

from __future__ import annotations

from rofs.errors import fail
from rofs.generate import GenerateOptions, PlanError, build_plan, render
from rofs.model import Profile, VolumeKind
from rofs.profiles import ProfileRegistry
from rofs.units import SizeError, parse_size


def parse_sizes(values: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """``--size PATH=SIZE`` or ``VOLUME=SIZE`` values, the sizes in bytes; exit 2 on a bad one."""
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


def options_for(
    registry: ProfileRegistry,
    profile: Profile,
    *,
    name: str | None = None,
    image: str | None = None,
    kind: str | None = None,
    layout: str | None = None,
    storage_class: str | None = None,
    namespace: str | None = None,
    sizes: tuple[str, ...] = (),
    required_only: bool = False,
) -> GenerateOptions:
    """The options, with the defaults the command line leaves open: the layout the image matches,
    and a StatefulSet for an app that keeps persistent data (else a Deployment)."""
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
    return GenerateOptions(
        name=name,
        image=image,
        kind=kind,
        layout=layout,
        storage_class=storage_class,
        namespace=namespace,
        sizes=parse_sizes(sizes),
        include_optional=not required_only,
    )


def generate_text(profile: Profile, options: GenerateOptions, fmt: str) -> str:
    """The manifest (or Dockerfile) in *fmt*; exit 2 when the options do not fit the profile."""
    try:
        return render(build_plan(profile, options), fmt)
    except PlanError as exc:
        fail(str(exc))
