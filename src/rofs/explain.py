"""``rofs explain``: a log's failed writes, each once, with the mount to add; and a patch for the
workload's manifest.

``rofs.diagnose`` reads the log and recognises the messages; this module is the command around
it: the app (from ``--app``, the manifest's images or the messages), the report (text or JSON,
all at the end or, with ``--follow``, each diagnosis as it is seen) and the manifest patch, made
by the same engine as ``rofs fix``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

import click

from rofs import diagnose
from rofs.diagnose import Diagnosis, snippets
from rofs.errors import fail
from rofs.model import Profile
from rofs.profiles import ProfileRegistry
from rofs.terminal import printable


@dataclasses.dataclass
class Diagnosed:
    """Each diagnosis once (the first line it was seen on), with every line it was seen on."""

    found: dict[tuple, Diagnosis] = dataclasses.field(default_factory=dict)
    lines_of: dict[tuple, list[int]] = dataclasses.field(default_factory=dict)

    def add(self, d: Diagnosis) -> bool:
        """Record *d*; True when it is new."""
        key = d.key()
        self.lines_of.setdefault(key, []).append(d.line)
        if key in self.found:
            return False
        self.found[key] = d
        return True

    @property
    def results(self) -> list[Diagnosis]:
        return list(self.found.values())

    def lines(self, d: Diagnosis) -> list[int]:
        return self.lines_of[d.key()]


def explain(source: str, registry: ProfileRegistry, profile: Profile | None, *, layout: str | None = None,
            manifest: str | None = None, follow: bool = False, fmt: str = "text") -> int:
    """The whole command: read *source* (a file, or - for stdin), print what failed and the patch
    for *manifest*; the exit code (1: something was diagnosed, 0: not; bad input exits 2)."""
    images: list[str] = []
    if manifest:
        profile, layout, images = from_manifest(manifest, registry, profile, layout)
    seen = Diagnosed()

    def show(d: Diagnosis) -> None:  # with --follow: each diagnosis as soon as it is seen
        click.echo(explain_text(d, []) if fmt == "text" else json.dumps(explain_dict(d, [])))

    read(source, registry, profile, layout, follow, seen, show if follow else None)
    results = seen.results
    if not follow:
        print_report(seen, fmt)
    if manifest and results:
        patch = manifest_patch(manifest, results, registry, profile, images)
        if patch:
            click.echo(patch, nl=False)
    return 1 if results else 0


def from_manifest(manifest: str, registry: ProfileRegistry, profile: Profile | None,
                  layout: str | None) -> tuple[Profile | None, str | None, list[str]]:
    """The manifest's images, and the profile (and layout) its containers run, when that is one
    app (with *profile* given: only that profile).  A manifest of several apps (a database and a
    web server) names none: each line then says which app printed it, and the patch goes to that
    app's container only."""
    from rofs.intake import read_file as read_source

    parsed = read_source(manifest, True)
    if parsed is None or parsed.errors:
        fail(str(parsed.errors[0]) if parsed and parsed.errors else
             f"{manifest}: not a manifest ({parsed.skipped if parsed else 'nothing to read'})")
    images = [c.image for w in parsed.workloads for c in w.containers if c.image]
    matches = [m for m in (registry.match_image(i) for i in images) if m is not None]
    if profile is not None:
        match = next((m for m in matches if m.profile.name == profile.name), None)
        return profile, layout or (match.layout.id if match else None), images
    apps = {m.profile.name for m in matches}
    if len(apps) == 1 and len(matches) == len(images):
        return matches[0].profile, layout or matches[0].layout.id, images
    return None, layout, images


def read(source: str, registry: ProfileRegistry, profile: Profile | None, layout: str | None, follow: bool,
         seen: Diagnosed, on_new: Callable[[Diagnosis], None] | None = None) -> None:
    """Diagnose the log (*follow*: as it grows) into *seen*, calling *on_new* with each new
    diagnosis.  Ctrl-C ends the reading (what was seen is kept); an unreadable log exits 2."""
    try:
        raw = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115 - read to the end of the command
    except OSError as exc:
        fail(f"{source}: cannot read: {exc.strerror}")
    lines = diagnose.read_log(raw, "<stdin>" if source == "-" else source, follow=follow and source != "-")
    try:
        for d in diagnose.diagnose(lines, registry, profile, layout=layout):
            if seen.add(d) and on_new is not None:
                on_new(d)
    except KeyboardInterrupt:
        pass
    except diagnose.LogError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{source}: cannot read: {exc.strerror or exc}")


def print_report(seen: Diagnosed, fmt: str) -> None:
    """Everything diagnosed, at the end of the log: a JSON list or the text of each."""
    results = seen.results
    if fmt == "json":
        click.echo(json.dumps([explain_dict(d, seen.lines(d)) for d in results], indent=2))
        return
    for d in results:
        click.echo(explain_text(d, seen.lines(d)))
    if not results:
        click.echo("rofs explain: no failed write found in the log", err=True)


def explain_dict(d: Diagnosis, lines: list[int]) -> dict[str, Any]:
    """One diagnosis for ``--format json``."""
    return {
        "line": d.line, "lines": lines or [d.line], "cause": d.cause, "title": d.title, "path": d.path,
        "app": d.app, "mount": d.mount, "kind": d.kind.value, "kind_known": d.kind_known, "size": d.size,
        "advice": d.advice,
        "message": d.text, "snippets": snippets(d),
    }


def explain_text(d: Diagnosis, lines: list[int]) -> str:
    """One diagnosis for people: where, what, the advice and the snippets."""
    more = f" (also lines {', '.join(map(str, lines[1:6]))}{'...' if len(lines) > 6 else ''})" if len(lines) > 1 else ""
    out = [f"line {d.line}{more}: {d.title}", f"  {d.text[:300]}"]
    who = f"{d.app}: " if d.app else ""
    out.append(f"  {who}{d.advice}")
    snip = snippets(d)
    if snip:
        out.append("  Kubernetes: " + json.dumps(snip["kubernetes"]))
        out.append("  Compose:    " + json.dumps(snip["compose"]))
        out.append("  docker run: " + str(snip["docker-run"]))
    return "\n".join(printable(line) for line in out) + "\n"


def manifest_patch(manifest: str, results: Iterable[Diagnosis], registry: ProfileRegistry, profile: Profile | None,
                   images: list[str]) -> str:
    """The mounts the log asks for, added to the containers of the app that printed each line, with
    the rest of that app's profile (its next failure would be the next path it lists), by the same
    engine as `rofs fix`; no other container of the manifest changes."""
    from rofs.fix import fix_text, read_text_raw
    from rofs.images import parse_image
    from rofs.model import Layout, SourceRef, WritablePath

    wanted: dict[str, list[Diagnosis]] = {}
    targets: dict[str, Profile] = {}
    running = {m.profile.name for m in (registry.match_image(i) for i in images) if m is not None}
    for d in results:
        if not d.mount or d.cause in ("no-space", "permission"):
            continue
        if not d.kind_known:  # an emptyDir over data loses it on restart; a claim is the user's to make
            _not_patched(d, "no profile says whether it holds data; add a persistent volume if it does, an emptyDir"
                            " if it is scratch")
            continue
        owner = registry.get(d.app) if d.app else profile
        if owner is not None and owner.name not in running:
            if len(set(images)) != 1:  # the app the line names is not what any image is known as
                _not_patched(d, f"no container of the manifest is known to run {owner.name}: give --app")
                continue
            owner = None  # one container: the log is its (an app built on python, say), with the log's paths only
        if owner is None:
            if len(set(images)) != 1:
                _not_patched(d, "the line does not say which container printed it: give --app")
                continue
            owner = Profile(name="from-log", title="from the log", description="paths seen failing in a log",
                            layouts=(Layout(id="image", description="the manifest's image",
                                            images=(parse_image(images[0]).path,)),),
                            paths=(), sources=(SourceRef(id="log", title="rofs explain", ref="log"),))
        targets[owner.name] = owner
        wanted.setdefault(owner.name, []).append(d)
    if not wanted:
        return ""
    only = ProfileRegistry()
    for name, found in wanted.items():
        owner = targets[name]
        paths: dict[str, WritablePath] = {}
        for d in found:
            assert d.mount is not None  # left out above otherwise
            paths.setdefault(d.mount, WritablePath(
                path=d.mount, purpose=f"failed in the log: {d.title}", kind=d.kind, required=True,
                breaks=d.text[:200], sources=("log",), size=d.size,
                layouts=tuple(lay.id for lay in owner.layouts)))
        known = {spec.path for spec in owner.paths}  # the app's profile knows the next path it would fail on
        only.add(dataclasses.replace(owner, paths=owner.paths + tuple(p for p in paths.values() if p.path not in known),
                                     sources=owner.sources + (SourceRef(id="log", title="rofs explain", ref="log"),)))
    text, error, _ = read_text_raw(manifest)
    if error or text is None:
        return ""
    result = fix_text(text, manifest, only, {"RO101", "RO201"})  # only these mounts (and a read-only root)
    return result.diff() if result.changed else ""


def _not_patched(d: Diagnosis, why: str) -> None:
    click.echo(f"rofs explain: not in the patch: {d.mount} (line {d.line}): {why}", err=True)
