"""The commands of ``rofs``, one module per kind of work; ``rofs.cli`` puts them in the group.

  check.py      audit, fix, rules, rule: the manifests, Compose files and Dockerfiles
  runtime.py    run, trace, explain: a program under a read-only root, and its logs
  inventory.py  profiles, policy, generate: the writable-path inventory and what is made of it

A command parses its options, calls the module that does the work and prints the result;
this module holds what they share: ``--profile-file`` and the profile lookups.
"""

from __future__ import annotations

import errno
import os
import sys

import click

from rofs.errors import RofsError, fail
from rofs.model import Profile
from rofs.profiles import ProfileError, ProfileRegistry, builtin_registry

ORDER = ("audit", "fix", "run", "trace", "explain", "policy", "generate", "profiles", "rules", "rule")


class OrderedGroup(click.Group):
    """Commands in the order a newcomer meets them (the rest as defined)."""

    def invoke(self, ctx: click.Context):
        """The command, its output flushed before it ends: a full disk or quota on standard output
        is a one-line error and exit 2, never a traceback or an exit code that means "findings"."""
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
                raise
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - what is left in the buffer goes nowhere at exit
            where = f"{exc.filename}: " if exc.filename else "cannot write the output: "
            raise RofsError(f"{where}{exc.strerror or exc}") from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = list(self.commands)
        return sorted(names, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER) + names.index(n))


def registry_with(profile_files: tuple[str, ...]) -> ProfileRegistry:
    """The built-in profiles, and those of *profile_files* (the same name replaces a built-in)."""
    try:
        return builtin_registry().with_files(profile_files) if profile_files else builtin_registry()
    except ProfileError as exc:
        fail(str(exc))


def profile_by_name(registry: ProfileRegistry, name: str) -> Profile:
    """The app's profile; exit 2, naming the known apps, when there is none."""
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
