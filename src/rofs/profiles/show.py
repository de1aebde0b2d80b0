"""``rofs profiles list`` and ``rofs profiles show``: the inventory as a table, JSON, YAML or
Markdown (``rofs.report`` renders it)."""

from __future__ import annotations

import click

from rofs import report
from rofs.errors import fail
from rofs.model import Profile
from rofs.output import dump
from rofs.profiles import ProfileRegistry


def list_profiles(registry: ProfileRegistry, fmt: str) -> None:
    """Every app with its writable paths (default layout): a table, or JSON/YAML."""
    if fmt == "table":
        report.print_profile_list(report.console(), registry)
    else:
        dump([report.profile_summary(p) for p in registry], fmt)


def show_all(registry: ProfileRegistry, fmt: str) -> None:
    """Every profile: only as Markdown (docs/profiles.md)."""
    if fmt != "markdown":
        fail("name an app (rofs profiles list shows them), or use --format markdown for all of them")
    click.echo(report.profiles_markdown(registry), nl=False)


def show_profile(profile: Profile, layout: str | None, fmt: str) -> None:
    """One app: every writable path of *layout* (None: all), as a table, JSON, YAML or Markdown."""
    if fmt == "markdown":
        click.echo(report.profile_markdown(profile), nl=False)
        return
    if layout is not None and layout not in [lay.id for lay in profile.layouts]:
        fail(f"{profile.name} has no layout {layout!r}; layouts: {', '.join(lay.id for lay in profile.layouts)}")
    if fmt == "table":
        report.print_profile(report.console(), profile, layout)
    else:
        dump(report.profile_detail(profile, layout), fmt)
