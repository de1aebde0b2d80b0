"""Human and machine views of profiles (``rofs profiles list|show``)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rofs.model import Profile, VolumeKind, WritablePath
from rofs.profiles import ProfileRegistry
from rofs.units import format_quantity, human

VOLUME_TYPE = {
    VolumeKind.PERSISTENT: "PVC / named volume",
    VolumeKind.EPHEMERAL: "emptyDir / tmpfs",
    VolumeKind.MEMORY: "emptyDir Memory / shm",
}
KIND_STYLE = {VolumeKind.PERSISTENT: "bold red", VolumeKind.EPHEMERAL: "green", VolumeKind.MEMORY: "cyan"}


def _image_layout(profile: Profile):
    for layout in profile.layouts:
        if layout.images:
            return layout
    return profile.default_layout


def path_dict(path: WritablePath) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": path.path,
        "purpose": path.purpose,
        "kind": path.kind.value,
        "size": format_quantity(path.size) if path.size else None,
        "required": path.required,
        "breaks": path.breaks,
    }
    if path.name:
        out["volume"] = path.name
    if path.condition:
        out["condition"] = path.condition
    if path.populated:
        out["populated"] = True
    if path.env:
        out["env"] = path.env
    if path.signatures:
        out["signatures"] = list(path.signatures)
    out["sources"] = list(path.sources)
    return out


def profile_summary(profile: Profile) -> dict[str, Any]:
    layout = _image_layout(profile)
    return {
        "name": profile.name,
        "title": profile.title,
        "category": profile.category,
        "layouts": [lay.id for lay in profile.layouts],
        "images": [pattern for lay in profile.layouts for pattern in lay.images],
        "default_layout": layout.id,
        "paths": [path_dict(p) for p in profile.paths_for(layout.id)],
    }


def profile_detail(profile: Profile, layout_id: str | None = None) -> dict[str, Any]:
    layouts = [lay for lay in profile.layouts if layout_id in (None, lay.id)]
    return {
        "name": profile.name,
        "title": profile.title,
        "description": profile.description,
        "category": profile.category,
        "aliases": list(profile.aliases),
        "layouts": [
            {
                "id": lay.id,
                "description": lay.description,
                "images": list(lay.images),
                **({"derived": [{"image": d.pattern, "via": d.via, "sources": list(d.sources)} for d in lay.derived]}
                   if lay.derived else {}),
                **({"package": lay.package} if lay.package else {}),
                **({"image": lay.image} if lay.image else {}),
                "user": {k: v for k, v in vars(lay.user).items() if v is not None},
                "paths": [path_dict(p) for p in profile.paths_for(lay.id)],
                "env": [
                    {k: v for k, v in vars(knob).items() if v not in (None, ())}
                    for knob in profile.env_for(lay.id)
                ],
            }
            for lay in layouts
        ],
        "capabilities_add": list(profile.capabilities_add),
        "notes": list(profile.notes),
        "sources": [{k: v for k, v in vars(src).items() if v is not None} for src in profile.sources],
    }


def console() -> Console:
    """A console for tables: the terminal's width on a TTY, wide enough for files and pipes."""
    probe = Console()
    return probe if probe.is_terminal else Console(width=160)


def print_profile_list(console: Console, registry: ProfileRegistry) -> None:
    table = Table(
        title="Writable paths each app needs under a read-only root (default image layout)",
        box=box.SIMPLE_HEAD,
        show_lines=False,
    )
    table.add_column("App", style="bold")
    table.add_column("Path")
    table.add_column("Purpose", ratio=3)
    table.add_column("Kind")
    table.add_column("Size", justify="right")
    table.add_column("Req.")
    for profile in registry:
        layout = _image_layout(profile)
        paths = profile.paths_for(layout.id)
        label = f"{profile.name}\n[dim]{layout.id}[/dim]"
        if not paths:
            table.add_row(label, "[dim](none)[/dim]", "writes nothing under a read-only root", "", "", "", end_section=True)
            continue
        for i, p in enumerate(paths):
            table.add_row(
                label if i == 0 else "",
                p.path,
                escape(p.purpose),
                f"[{KIND_STYLE[p.kind]}]{p.kind.value}[/]",
                human(p.size),
                "yes" if p.required else "no",
                end_section=i == len(paths) - 1,
            )
    console.print(table)
    console.print(
        f"{len(registry)} apps. Other layouts (Bitnami, Debian package ...): rofs profiles show APP.\n"
        "persistent = PVC / named volume; ephemeral = emptyDir / tmpfs; memory = emptyDir medium Memory / shm."
    )


def print_profile(console: Console, profile: Profile, layout_id: str | None = None) -> None:
    console.print(f"[bold]{escape(profile.title)}[/bold] ({profile.name}) - {escape(profile.description)}")
    for layout in profile.layouts:
        if layout_id not in (None, layout.id):
            continue
        user = layout.user
        who = ", ".join(
            part for part in (user.name and f"user {user.name}", user.uid is not None and f"uid {user.uid}",
                              user.gid is not None and f"gid {user.gid}") if part
        )
        images = ", ".join(layout.images) or (f"package {layout.package}" if layout.package else "-")
        console.print()
        console.print(f"[bold]Layout {layout.id}[/bold]: {escape(layout.description)}")
        console.print(escape(f"  matches: {images}" + (f"; runs as {who}" if who else "")))
        for derived in layout.derived:
            console.print(escape(f"  and {derived.pattern}: {derived.via}"))
        paths = profile.paths_for(layout.id)
        if not paths:
            console.print("  writes nothing outside what the platform already provides.")
            continue
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("Path", style="bold")
        table.add_column("Purpose", ratio=3)
        table.add_column("Kind")
        table.add_column("Volume")
        table.add_column("Size", justify="right")
        table.add_column("Req.")
        table.add_column("Without it", ratio=3)
        for p in paths:
            purpose = escape(p.purpose)
            if p.condition:
                purpose += f" [dim]({escape(p.condition)})[/dim]"
            if p.populated:
                purpose += " [yellow](image has files here: copy them in, an empty mount hides them)[/yellow]"
            table.add_row(
                p.path,
                purpose,
                f"[{KIND_STYLE[p.kind]}]{p.kind.value}[/]",
                VOLUME_TYPE[p.kind],
                human(p.size),
                "yes" if p.required else "no",
                escape(p.breaks),
            )
        console.print(table)
        knobs = profile.env_for(layout.id)
        if knobs:
            console.print("  [bold]Settings that move writes:[/bold]")
            for knob in knobs:
                extra = f" -> recommended {knob.recommended!r}" if knob.recommended else ""
                carrier = f" (in {knob.carrier})" if knob.carrier else ""
                console.print(escape(f"    {knob.name}{carrier} [{knob.type}]: {knob.description}{extra}"))
    if profile.capabilities_add:
        console.print(f"\nCapabilities added back: {', '.join(profile.capabilities_add)}"
                      + (f" - {profile.capabilities_reason}" if profile.capabilities_reason else ""))
    if profile.notes:
        console.print("\n[bold]Notes[/bold]")
        for note in profile.notes:
            console.print(escape(f"  - {note}"))
    console.print("\n[bold]Sources[/bold]")
    for src in profile.sources:
        where = src.url or src.ref
        console.print(
            escape(f"  [{src.id}] {src.title}\n      {where}" + (f"\n      verified: {src.verified}" if src.verified else "")),
            soft_wrap=True,
        )


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def profile_markdown(profile: Profile) -> str:
    """One profile as Markdown: the inventory the seed guide's table tried to be, with sources."""
    out = [f"## {profile.title} (`{profile.name}`)", "", _md(profile.description), ""]
    for layout in profile.layouts:
        images = ", ".join(f"`{i}`" for i in layout.images) or (f"Debian package `{layout.package}`" if layout.package else "-")
        user = layout.user
        who = " ".join(p for p in (user.name and f"user `{user.name}`", user.uid is not None and f"uid {user.uid}",
                                   user.gid is not None and f"gid {user.gid}") if p)
        out += [f"### Layout `{layout.id}`: {_md(layout.description)}", "", f"Matches: {images}." + (f" Runs as {who}." if who else ""), ""]
        if layout.derived:
            out += [f"Also images built on it: {'; '.join(f'`{d.pattern}` ({_md(d.via)})' for d in layout.derived)}.", ""]
        paths = profile.paths_for(layout.id)
        if not paths:
            out += ["Writes nothing outside what the platform provides.", ""]
            continue
        out += ["| path | kind | size | required | purpose | without it | sources |", "|---|---|---|---|---|---|---|"]
        for p in paths:
            purpose = _md(p.purpose) + (f" ({_md(p.condition)})" if p.condition else "")
            if p.populated:
                purpose += " — the image has files here: copy them in"
            out.append(f"| `{p.path}` | {p.kind.value} | {human(p.size)} | {'yes' if p.required else 'no'} | {purpose}"
                       f" | {_md(p.breaks)} | {', '.join(p.sources)} |")
        out.append("")
        knobs = profile.env_for(layout.id)
        if knobs:
            out += ["Settings that move writes:", ""]
            for k in knobs:
                rec = f" Recommended: `{_md(k.recommended)}`." if k.recommended else ""
                out.append(f"- `{k.name}` ({k.type}{', in ' + k.carrier if k.carrier else ''}): {_md(k.description)}.{rec}")
            out.append("")
    if profile.notes:
        out += ["Notes:", ""] + [f"- {_md(n)}" for n in profile.notes] + [""]
    out += ["Sources:", ""]
    for src in profile.sources:
        where = src.url or src.ref
        out.append(f"- `{src.id}`: {_md(src.title)} — {where}" + (f" ({_md(src.verified)})" if src.verified else ""))
    return "\n".join(out) + "\n"


def profiles_markdown(registry: ProfileRegistry) -> str:
    head = [
        "# rofs profiles: what each app writes under a read-only root",
        "",
        "Generated by `rofs profiles show --format markdown`; do not edit by hand.",
        "",
        "| app | layouts | writable paths (first image layout) |",
        "|---|---|---|",
    ]
    for profile in registry:
        layout = _image_layout(profile)
        paths = ", ".join(f"`{p.path}` ({p.kind.value})" for p in profile.paths_for(layout.id)) or "none"
        head.append(f"| [{profile.title}](#{profile.name}) | {', '.join(l.id for l in profile.layouts)} | {paths} |")
    body = "\n".join(f'<a id="{p.name}"></a>\n\n' + profile_markdown(p) for p in registry)
    return "\n".join(head) + "\n\n" + body
