"""Rebuild an official image's layout without a registry or a container engine.

Each ``tests/official/NAME/recipe.yaml`` says how the official image is made, step by step
from its Dockerfile: the Debian packages (Debian's build of the same major version where
the upstream repository is not reachable), the users the Dockerfile creates (with its ids),
the official entrypoint scripts and config files (kept beside the recipe, with their
license), the Dockerfile's RUN steps that shape the filesystem, and its ENV, VOLUME, USER,
WORKDIR, ENTRYPOINT and CMD.  ``differences`` records where the rebuild is not the image
and how that was bridged.

The root filesystem is made with mmdebstrap and packed as an OCI image with umoci.  Builds
are cached outside the checkout (``$ROFS_TEST_CACHE``, default ``~/.cache/rofs-tests``),
keyed by the recipe, its files and this script, so a test run builds each image once and
the next run builds none.  A lock makes parallel test processes wait for one build.

    python tests/official/build.py [NAME...]     # build (or find cached) and print the layouts
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SUITE = "bookworm"


class BuildError(Exception):
    """The image could not be built (a missing tool, a failed step): the message says which."""


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: str = "/nonexistent"
    shell: str = "/usr/sbin/nologin"
    group: str = ""


@dataclass
class Recipe:
    name: str
    directory: Path
    source: dict
    packages: list[str]
    users: list[User]
    users_after_packages: bool
    before_packages: str
    files: list[dict]
    run: str
    config: dict
    differences: list[str] = field(default_factory=list)

    @property
    def tag(self) -> str:
        return self.name


def recipes() -> list[str]:
    return sorted(p.parent.name for p in HERE.glob("*/recipe.yaml"))


def load(name: str) -> Recipe:
    directory = HERE / name
    data = yaml.safe_load((directory / "recipe.yaml").read_text())
    users = [User(**u) for u in data.get("users", [])]
    return Recipe(name=data["name"], directory=directory, source=data["source"], packages=data["packages"],
                  users=users, users_after_packages=bool(data.get("users_after_packages")),
                  before_packages=data.get("before_packages", ""),
                  files=data.get("files", []), run=data.get("run", ""), config=data.get("config", {}),
                  differences=data.get("differences", []))


def cache_root() -> Path:
    base = os.environ.get("ROFS_TEST_CACHE") or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                                                   / "rofs-tests")
    return Path(base)


def key(recipe: Recipe) -> str:
    """What the image is made of: the recipe, the files it copies in, this script."""
    digest = hashlib.sha256()
    for path in sorted(recipe.directory.rglob("*")) + [Path(__file__)]:
        if path.is_file():
            digest.update(str(path.relative_to(HERE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def image(name: str) -> tuple[Path, Recipe]:
    """The OCI layout of recipe *name* (built now unless cached) and its recipe; use ``LAYOUT:NAME``."""
    recipe = load(name)
    target = cache_root() / "official" / f"{name}-{key(recipe)}"
    if (target / "done").is_file():
        return target / "oci", recipe
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "done").is_file():
            for stale in target.parent.glob(f"{name}-*"):
                shutil.rmtree(stale, ignore_errors=True)  # an older recipe's image
            _build(recipe, target)
    return target / "oci", recipe


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BuildError(f"{name} not found (apt-get install -y {package})")
    return path


def _sh(*args: str, what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise BuildError(f"{what} failed (exit {done.returncode}):\n{tail}")


def _user_lines(user: User) -> str:
    """Shell lines that make *user* (and its group) with the Dockerfile's ids, replacing an entry
    of the same name a package made."""
    group = user.group or user.name
    entries = {
        "passwd": f"{user.name}:x:{user.uid}:{user.gid}::{user.home}:{user.shell}",
        "group": f"{group}:x:{user.gid}:",
        "shadow": f"{user.name}:*:19000:0:99999:7:::",
        "gshadow": f"{group}:!::",
    }
    lines = []
    for db, line in entries.items():
        name = group if db in ("group", "gshadow") else user.name
        lines.append(f'if [ -f "$ROOT/etc/{db}" ]; then sed -i "/^{name}:/d" "$ROOT/etc/{db}";'
                     f' echo {shlex.quote(line)} >> "$ROOT/etc/{db}"; fi')
    return "\n".join(lines)


def _hooks(recipe: Recipe, work: Path) -> tuple[Path, Path]:
    users = "\n".join(_user_lines(u) for u in recipe.users)
    essential = work / "essential.sh"
    essential.write_text("set -eu\nROOT=$1\n" + ("" if recipe.users_after_packages else users) + "\n"
                         + recipe.before_packages + "\n")
    steps = work / "steps.sh"
    steps.write_text("set -eux\n" + recipe.run)
    copies = []
    for item in recipe.files:
        source = recipe.directory / "files" / item["from"]
        mode = str(item.get("mode", "0644"))
        copies.append(f'install -D -m {mode} {shlex.quote(str(source))} "$ROOT"{shlex.quote(item["to"])}')
    customize = work / "customize.sh"
    customize.write_text("\n".join([
        "set -eu", "ROOT=$1",
        users if recipe.users_after_packages else "",
        *copies,
        f'cp {shlex.quote(str(steps))} "$ROOT/rofs-build-steps.sh"',
        'chroot "$ROOT" /bin/sh /rofs-build-steps.sh',
        'rm -f "$ROOT/rofs-build-steps.sh"',
        # what a Docker build leaves out: package lists, caches, logs of the install
        ('rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/log/apt/* "$ROOT"/var/log/dpkg.log'
         ' "$ROOT"/run/adduser'),
    ]) + "\n")
    return essential, customize


def _build(recipe: Recipe, target: Path) -> None:
    mmdebstrap = _tool("mmdebstrap", "mmdebstrap")
    umoci = _tool("umoci", "umoci")
    work = Path(tempfile.mkdtemp(prefix=f".build-{recipe.name}-", dir=target.parent))
    try:
        layout, bundle = work / "oci", work / "bundle"
        ref = f"{layout}:{recipe.tag}"
        _sh(umoci, "init", "--layout", str(layout), what="umoci init")
        _sh(umoci, "new", "--image", ref, what="umoci new")
        _sh(umoci, "unpack", "--image", ref, str(bundle), what="umoci unpack")
        essential, customize = _hooks(recipe, work)
        _sh(mmdebstrap, "--quiet", "--variant=minbase", f"--include={','.join(recipe.packages)}",
            "--aptopt=APT::Install-Recommends \"false\"", "--skip=cleanup/run",  # the image keeps what its build made in /run
            f"--essential-hook=sh {shlex.quote(str(essential))} \"$1\"",
            f"--customize-hook=sh {shlex.quote(str(customize))} \"$1\"",
            SUITE, str(bundle / "rootfs"), what=f"mmdebstrap of {recipe.name}")
        _sh(umoci, "repack", "--image", ref, str(bundle), what="umoci repack")
        _sh(umoci, "config", "--image", ref, *_config_args(recipe.config), what="umoci config")
        shutil.rmtree(bundle)
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        os.replace(layout, target / "oci")
        (target / "done").write_text(recipe.name + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _config_args(config: dict) -> list[str]:
    """The Dockerfile's ENV, VOLUME, USER, WORKDIR, ENTRYPOINT, CMD and STOPSIGNAL as umoci flags."""
    args = ["--clear=config.entrypoint", "--clear=config.cmd"]
    for name, value in (config.get("env") or {}).items():
        args += ["--config.env", f"{name}={value}"]
    for volume in config.get("volumes") or []:
        args += ["--config.volume", volume]
    for port in config.get("ports") or []:
        args += ["--config.exposedports", f"{port}/tcp"]
    if config.get("user"):
        args += ["--config.user", str(config["user"])]
    if config.get("workdir"):
        args += ["--config.workingdir", config["workdir"]]
    for item in config.get("entrypoint") or []:
        args += ["--config.entrypoint", item]
    for item in config.get("cmd") or []:
        args += ["--config.cmd", item]
    if config.get("stopsignal"):
        args += ["--config.stopsignal", config["stopsignal"]]
    return args


if __name__ == "__main__":
    for wanted in sys.argv[1:] or recipes():
        try:
            oci, _ = image(wanted)
        except BuildError as exc:
            sys.exit(f"{wanted}: {exc}")
        print(f"{oci}:{wanted}")
