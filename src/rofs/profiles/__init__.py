"""Application profiles: the writable-path inventory, kept as data.

Built-in profiles are ``profiles/data/<app>.yaml`` inside the package, read through
:mod:`importlib.resources`.  Extra profiles (``--profile-file``, the output of
``rofs trace``) are read from any path.  Every file is checked against
``profile.schema.json`` and a few cross-field rules; a broken file raises
:class:`ProfileError` naming the file, the line and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs: types-jsonschema is not in the test extra
import yaml

from rofs.images import ImageRef, ImageRefError, parse_image, pattern_score
from rofs.model import (
    DerivedImage,
    EnvKnob,
    Layout,
    Probe,
    Profile,
    SourceRef,
    UserSpec,
    VolumeKind,
    WritablePath,
)
from rofs.units import parse_quantity

__all__ = [
    "ProfileError",
    "ProfileMatch",
    "ProfileRegistry",
    "builtin_registry",
    "load_profile_file",
    "load_profile_text",
]


class ProfileError(ValueError):
    """A profile file that cannot be used.  ``str()`` is one line: file:line: field: reason."""

    def __init__(self, origin: str, message: str, line: int | None = None, field: str | None = None):
        self.origin = origin
        self.line = line
        self.field = field
        self.reason = message
        where = f"{origin}:{line}" if line else origin
        what = f"{field}: " if field else ""
        super().__init__(f"{where}: {what}{message}")


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    text = resources.files("rofs.profiles").joinpath("profile.schema.json").read_text("utf-8")
    return json.loads(text)


class _NoDatesLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader (libyaml's parser) that keeps timestamps as strings (``verified: 2026-11-27``)."""


_NoDatesLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schema())


def _compose_and_construct(text: str) -> tuple[yaml.Node | None, Any]:
    """Parse once: the node tree (for error lines) and the data built from it."""
    loader = _NoDatesLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return root, data


def _node_line(root: yaml.Node | None, path: Iterable[Any]) -> int | None:
    """1-based line of the node at *path* (keys and indexes), or of its nearest parent."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == step:
                    node = value
                    line = key.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _field_name(path: Iterable[Any]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text or "(top level)"


def load_profile_text(text: str, origin: str) -> Profile:
    """Parse and validate one profile document."""
    try:
        root, data = _compose_and_construct(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ProfileError(origin, f"not valid YAML: {reason}", line=line) from None
    if not isinstance(data, dict):
        raise ProfileError(origin, "a profile is a YAML mapping (name:, title:, layouts:, paths: ...)", line=1)

    errors = sorted(_validator().iter_errors(data), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        path = list(err.absolute_path)
        message = err.message
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = err.schema.get("properties", {})
            extra = [key for key in err.instance if key not in allowed]
            if extra:
                path.append(extra[0])
            message = f"unknown field (allowed: {', '.join(allowed)})"
        raise ProfileError(origin, message, line=_node_line(root, path), field=_field_name(path))

    def fail(path: list[Any], message: str) -> None:
        raise ProfileError(origin, message, line=_node_line(root, path), field=_field_name(path))

    source_ids = [s["id"] for s in data["sources"]]
    for i, sid in enumerate(source_ids):
        if source_ids.index(sid) != i:
            fail(["sources", i, "id"], f"duplicate source id {sid!r}")
    layout_ids = [lay["id"] for lay in data["layouts"]]
    for i, lid in enumerate(layout_ids):
        if layout_ids.index(lid) != i:
            fail(["layouts", i, "id"], f"duplicate layout id {lid!r}")
    knob_names = {k["name"] for k in data.get("env", [])}

    def check_refs(base: list[Any], item: dict[str, Any]) -> None:
        for j, sid in enumerate(item.get("sources", [])):
            if sid not in source_ids:
                fail(base + ["sources", j], f"unknown source {sid!r} (declared: {', '.join(source_ids)})")
        for j, lid in enumerate(item.get("layouts", [])):
            if lid not in layout_ids:
                fail(base + ["layouts", j], f"unknown layout {lid!r} (declared: {', '.join(layout_ids)})")

    for i, lay in enumerate(data["layouts"]):
        check_refs(["layouts", i], {"sources": lay.get("sources", [])})
        for j, derived in enumerate(lay.get("derived", [])):
            check_refs(["layouts", i, "derived", j], derived)
        for j, pattern in enumerate(lay.get("images", [])):
            if "//" in pattern or pattern.endswith("/"):
                fail(["layouts", i, "images", j], f"bad image pattern {pattern!r}")
    seen: set[tuple[str, str]] = set()
    names: set[tuple[str, str]] = set()
    for i, item in enumerate(data["paths"]):
        check_refs(["paths", i], item)
        for lid in item.get("layouts") or layout_ids:
            key = (lid, item["path"].rstrip("/") or "/")
            if key in seen:
                fail(["paths", i, "path"], f"path {item['path']} listed twice for layout {lid!r}")
            seen.add(key)
            if "name" in item:
                if (lid, item["name"]) in names:
                    fail(["paths", i, "name"], f"volume name {item['name']!r} used twice in layout {lid!r}")
                names.add((lid, item["name"]))
        for j, sig in enumerate(item.get("signatures", [])):
            if isinstance(sig, dict) and sig["source"] not in source_ids:
                fail(["paths", i, "signatures", j, "source"], f"unknown source {sig['source']!r} (declared: {', '.join(source_ids)})")
        for j, alt in enumerate(item.get("accepts", [])):
            if not alt.startswith(item["path"].rstrip("/") + "/"):
                fail(["paths", i, "accepts", j], f"{alt} is not beneath {item['path']}")
        if item.get("env") and item["env"] not in knob_names:
            fail(["paths", i, "env"], f"no env knob named {item['env']!r} in env:")
        if item["kind"] in ("ephemeral", "memory") and "size" not in item:
            fail(["paths", i], f"{item['kind']} path needs a default size (it becomes a sizeLimit)")
    for i, knob in enumerate(data.get("env", [])):
        check_refs(["env", i], knob)

    return _build(data, origin)


def _text(value: str) -> str:
    """Profile prose on one line: folded YAML strings end up in comments and table cells."""
    return " ".join(value.split())


def _optional_text(value: str | None) -> str | None:
    return _text(value) if value is not None else None


def _tup(value: Any) -> tuple:
    return tuple(value) if value else ()


def _size(value: str | None) -> int | None:
    return parse_quantity(value) if value is not None else None


# The builders below read data the schema has checked: required fields are there, with their types.


def _build(data: dict[str, Any], origin: str) -> Profile:
    caps = data.get("capabilities", {})
    resources_ = tuple(
        (section, tuple(sorted(values.items()))) for section, values in data.get("resources", {}).items()
    )
    return Profile(
        name=data["name"],
        title=data["title"],
        description=_text(data["description"]),
        layouts=tuple(_layout(lay) for lay in data["layouts"]),
        paths=tuple(_writable_path(item) for item in data["paths"]),
        sources=tuple(SourceRef(**s) for s in data["sources"]),
        category=data.get("category", "other"),
        aliases=_tup(data.get("aliases")),
        env=tuple(_knob(k) for k in data.get("env", [])),
        probes=tuple((which, _probe(p)) for which, p in data.get("probes", {}).items()),
        capabilities_add=_tup(caps.get("add")),
        capabilities_reason=_optional_text(caps.get("reason")),
        resources=resources_,
        notes=tuple(_text(n) for n in data.get("notes", ())),
        generated_by=data.get("generated_by"),
        origin=origin,
    )


def _layout(lay: dict[str, Any]) -> Layout:
    return Layout(
        id=lay["id"],
        description=_text(lay["description"]),
        images=_tup(lay.get("images")),
        derived=tuple(DerivedImage(d["image"], _text(d["via"]), _tup(d.get("sources"))) for d in lay.get("derived", [])),
        package=lay.get("package"),
        image=lay.get("image"),
        user=UserSpec(**lay.get("user", {})),
        starts_as=UserSpec(**lay["starts_as"]) if "starts_as" in lay else None,
        command=tuple(lay["command"]) if "command" in lay else None,
        args=tuple(lay["args"]) if "args" in lay else None,
        ports=_tup(lay.get("ports")),
        sources=_tup(lay.get("sources")),
    )


def _writable_path(item: dict[str, Any]) -> WritablePath:
    return WritablePath(
        path=item["path"].rstrip("/") or "/",
        purpose=_text(item["purpose"]),
        kind=VolumeKind(item["kind"]),
        required=item["required"],
        breaks=_text(item["breaks"]),
        sources=tuple(item["sources"]),
        size=_size(item.get("size")),
        name=item.get("name"),
        layouts=_tup(item.get("layouts")),
        condition=_optional_text(item.get("condition")),
        populated=item.get("populated", False),
        env=item.get("env"),
        accepts=tuple(a.rstrip("/") for a in item.get("accepts", ())),
        unneeded_with=tuple(
            tuple(tuple(seq) for seq in alternative) for alternative in item.get("unneeded_with", ())
        ),
        signatures=tuple(s if isinstance(s, str) else s["text"] for s in item.get("signatures", ())),
        other_versions=tuple(s["text"] for s in item.get("signatures", ()) if not isinstance(s, str)),
        relative_names=_tup(item.get("relative_names")),
        observed=tuple(sorted(item.get("observed", {}).items())),
    )


def _knob(k: dict[str, Any]) -> EnvKnob:
    return EnvKnob(
        name=k["name"],
        type=k["type"],
        description=_text(k["description"]),
        carrier=k.get("carrier"),
        moves=_tup(k.get("moves")),
        default=k.get("default"),
        recommended=k.get("recommended"),
        layouts=_tup(k.get("layouts")),
        sources=_tup(k.get("sources")),
    )


def _probe(p: dict[str, Any]) -> Probe:
    return Probe(
        exec=tuple(p["exec"]) if "exec" in p else None,
        tcp=p.get("tcp"),
        http_path=p.get("http", {}).get("path"),
        http_port=p.get("http", {}).get("port"),
        initial_delay=p.get("initial_delay"),
        period=p.get("period"),
    )


def load_profile_file(path: str | Path) -> Profile:
    """Load a profile from a file (``--profile-file``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(str(path), "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(str(path), f"cannot read: {exc}") from None
    return load_profile_text(text, str(path))


@dataclass(frozen=True)
class ProfileMatch:
    """An image resolved to a profile and the layout whose pattern matched."""

    profile: Profile
    layout: Layout
    image: ImageRef
    pattern: str
    derived: DerivedImage | None = None  # matched as an image built on the layout's, and why

    @property
    def label(self) -> str:
        """The app as findings name it: ``PostgreSQL``, or ``PostgreSQL [postgres via postgis/postgis]``."""
        if self.derived is None:
            return self.profile.title
        return f"{self.profile.title} [{self.profile.name} via {self.via}]"

    @property
    def via(self) -> str:
        """The pattern that matched; for a glob (``*/postgres``), the image's own name."""
        return self.pattern if "*" not in self.pattern else "/".join(self.image.components)


class ProfileRegistry:
    """A set of profiles, looked up by name, alias or image."""

    def __init__(self, profiles: Iterable[Profile] = ()):
        self._profiles: dict[str, Profile] = {}
        for profile in profiles:
            self.add(profile)

    def add(self, profile: Profile) -> None:
        """Add a profile; one with the same name replaces the built-in (a user's override)."""
        self._profiles[profile.name] = profile

    def __iter__(self) -> Iterator[Profile]:
        return iter(sorted(self._profiles.values(), key=lambda p: p.name))

    def __len__(self) -> int:
        return len(self._profiles)

    def names(self) -> list[str]:
        return sorted(self._profiles)

    def get(self, name: str) -> Profile | None:
        key = name.strip().lower()
        if key in self._profiles:
            return self._profiles[key]
        for profile in self._profiles.values():
            if key in profile.aliases:
                return profile
        return None

    def match_image(self, image: str | ImageRef) -> ProfileMatch | None:
        """The profile whose image pattern fits *image* best, or None.  Never guesses."""
        if isinstance(image, str):
            try:
                ref = parse_image(image)
            except ImageRefError:
                return None
        else:
            ref = image
        best: tuple[int, ProfileMatch] | None = None
        for profile in self:
            for layout in profile.layouts:
                candidates = [(p, None) for p in layout.images] + [(d.pattern, d) for d in layout.derived]
                for pattern, derived in candidates:
                    score = pattern_score(pattern, ref)
                    if score and (best is None or score > best[0]):
                        best = (score, ProfileMatch(profile, layout, ref, pattern, derived))
        return best[1] if best else None

    def with_files(self, paths: Iterable[str | Path]) -> ProfileRegistry:
        """A copy with extra profile files added (``--profile-file``)."""
        registry = ProfileRegistry(self)
        for path in paths:
            registry.add(load_profile_file(path))
        return registry


def match_report(registry: ProfileRegistry, image: str) -> dict[str, Any]:
    """What `rofs profiles match` says of one image: the profile and layout it gets and why, or
    why it gets none."""
    out: dict[str, Any] = {"image": image, "profile": None, "layout": None, "pattern": None, "why": ""}
    try:
        ref = parse_image(image)
    except ImageRefError as exc:
        out["why"] = f"not an image reference: {exc}"
        return out
    match = registry.match_image(ref)
    if match is not None:
        out.update(profile=match.profile.name, layout=match.layout.id, pattern=match.pattern)
        out["why"] = (f"{match.via}: {match.derived.via}" if match.derived is not None
                      else f"the {match.layout.id} layout's image ({match.pattern})")
        if match.derived is None and match.pattern.startswith("library/") and ref.registry != "docker.io" \
                and "/" not in ref.path:
            out["why"] += (f", taken as a mirror of it on {ref.registry} (the name says no more: if it is a build"
                           " of its own, check its Dockerfile and give it a profile with --profile-file)")
        return out
    words = set(re.split(r"[-_.]", ref.components[-1])) if ref.components else set()
    alike = next((p for p in registry if words & ({p.name} | set(p.aliases)) and ref.components[-1] != p.name), None)
    if alike is not None:
        out["why"] = (f"named like {alike.name}, but no layout of {alike.name} lists this image: it may be another"
                      f" build of {alike.name} (its own user and paths) or a tool around it (an exporter, admin UI,"
                      " operator or proxy, which writes other paths), and rofs does not guess; if it is"
                      f" {alike.name} laid out as one of its layouts, say so in a profile file (--profile-file;"
                      f" `rofs profiles show {alike.name}` lists the layouts)")
    else:
        out["why"] = ("no profile's image fits: learn its paths with rofs trace (or rofs run --image), then give"
                      " them with --profile-file")
    return out


@lru_cache(maxsize=1)
def builtin_registry() -> ProfileRegistry:
    """Every profile shipped with rofs."""
    folder = resources.files("rofs.profiles").joinpath("data")
    profiles = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            profile = load_profile_text(entry.read_text("utf-8"), f"rofs/profiles/data/{entry.name}")
            expected = entry.name.removesuffix(".yaml")
            if profile.name != expected:
                raise ProfileError(profile.origin, f"name {profile.name!r} does not match the file name", field="name")
            profiles.append(profile)
    return ProfileRegistry(profiles)
