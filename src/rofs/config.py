"""Settings from ``.rofs.yaml`` or ``[tool.rofs]`` in ``pyproject.toml``.

Looked up in the working directory (``--config FILE`` names one explicitly).  Keys:
``select``, ``ignore`` (lists of rule IDs, names or prefixes), ``fail-on`` (severity),
``profile-files`` (list of paths, relative to the config file), ``exclude`` (globs),
``unknown-images`` (``leave`` or ``read-only``: what a fix does with an image without a profile).
Command-line options win over the file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

KEYS = {"select", "ignore", "fail-on", "profile-files", "exclude", "unknown-images", "exempt-images"}
UNKNOWN_IMAGES = ("leave", "read-only")  # as rofs.rules.common.UNKNOWN_IMAGES


class ConfigError(ValueError):
    pass


@dataclass
class Settings:
    source: str | None = None
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    fail_on: str | None = None
    profile_files: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    unknown_images: str | None = None
    exempt_images: list[str] = field(default_factory=list)  # image globs whose containers no rule flags


def load(explicit: str | None = None, cwd: Path | None = None) -> Settings:
    cwd = cwd or Path.cwd()
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        return _from_file(path)
    for directory in _up_to_repository_root(cwd.resolve()):
        for name in (".rofs.yaml", ".rofs.yml"):
            if (directory / name).is_file():
                return _from_file(directory / name)
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text("utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{pyproject}: {exc}") from None
            section = data.get("tool", {}).get("rofs")
            if section is not None:
                return _settings(section, pyproject)
    return Settings()


def _up_to_repository_root(cwd: Path) -> list[Path]:
    """Where settings are looked for, nearest first: the working directory and, inside a git
    repository, each directory above it up to the repository's root (as ruff finds its
    configuration from a subdirectory); outside one, the working directory only."""
    chain = [cwd, *cwd.parents]
    root = next((i for i, d in enumerate(chain) if (d / ".git").exists()), None)
    return chain[: root + 1] if root is not None else [cwd]


def _from_file(path: Path) -> Settings:
    try:
        text = path.read_text("utf-8")
        if path.suffix == ".toml":
            data = tomllib.loads(text).get("tool", {}).get("rofs", {})
        else:
            data = yaml.safe_load(text) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None
    return _settings(data, path)


def _settings(data: object, path: Path) -> Settings:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: rofs settings must be a mapping")
    unknown = set(data) - KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown setting {min(unknown)!r} (known: {', '.join(sorted(KEYS))})")

    def strings(key: str) -> list[str]:
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: {key} must be a list of strings")
        return value

    fail_on = data.get("fail-on")
    if fail_on is not None and not isinstance(fail_on, str):
        raise ConfigError(f"{path}: fail-on must be one of low, medium, high, critical")
    unknown_images = data.get("unknown-images")
    if unknown_images is not None and unknown_images not in UNKNOWN_IMAGES:
        raise ConfigError(f"{path}: unknown-images must be one of {', '.join(UNKNOWN_IMAGES)}")
    return Settings(
        source=str(path),
        select=strings("select") if "select" in data else None,
        ignore=strings("ignore"),
        fail_on=fail_on,
        profile_files=[str(path.parent / p) for p in strings("profile-files")],
        exclude=strings("exclude"),
        unknown_images=unknown_images,
        exempt_images=strings("exempt-images"),
    )
