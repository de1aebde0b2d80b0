"""Where a command's output goes: stdout (or stderr), or a file written atomically.

Every report, profile or manifest rofs writes to a file goes through here: the file is
replaced in one step once the text is complete (``rofs.files``), a pipe, terminal or /dev/null
is written to instead, and a destination that cannot be written ends the command with exit
code 2 (``rofs.errors.fail``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import click
import yaml

from rofs.errors import fail


class BlockDumper(yaml.SafeDumper):
    """Multi-line strings (Rego) as literal blocks, readable in the policy files; a value used twice
    is written out twice, never as an anchor and alias (`kinds: &id001` puzzles readers, and some
    tools that read policies take no aliases)."""

    def ignore_aliases(self, data: object) -> bool:
        return True


BlockDumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None),
)


def dump(data: object, fmt: str) -> None:
    """*data* on stdout as JSON (*fmt* ``json``) or YAML (anything else)."""
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False, width=100), nl=False)


def check_destination(path: str | None, option: str) -> None:
    """Before a long run: the report or profile can be written where asked (exit 2 now, not after)."""
    if not path:
        return
    from rofs.files import check_output

    parent = os.path.dirname(os.path.abspath(path)) or "/"
    if not os.path.isdir(parent):
        fail(f"{option} {path}: the directory {parent} does not exist")
    try:
        special = check_output(path)
    except OSError as exc:
        fail(f"{option} {path}: {exc.strerror or exc}")
    if not special and not os.access(parent, os.W_OK):
        fail(f"{option} {path}: cannot write in {parent}")


def write_atomic(path: str | Path, text: str) -> None:
    """Write a report or generated file (see ``rofs.files.write_atomic``); exit 2 when it cannot be written."""
    from rofs.files import write_atomic as replace_file

    try:
        replace_file(Path(path), text)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")


def emit(text: str, path: str | None, err: bool = False) -> None:
    """*text* to the file *path* (atomically), else to stdout (stderr with *err*)."""
    if path:
        write_atomic(Path(path), text)
    else:
        click.echo(text, nl=False, err=err)


@contextmanager
def report_stream(output: str | None) -> Iterator[TextIO]:
    """Where a report is written as it is made: stdout, or *output*, which is replaced in one step
    once the report is complete (a pipe, terminal or /dev/null is written to as it comes).  Nothing
    is left behind when the report fails half-way."""
    if not output:
        yield sys.stdout
        return
    from rofs.files import Replacement, open_parent, open_special

    replacement = None
    try:
        dirfd, name = open_parent(output)
        try:
            fd = open_special(dirfd, name, output)
            if fd is None:
                replacement = Replacement(output, (dirfd, name))
                handle: TextIO = replacement.handle
            else:
                handle = open(fd, "w", encoding="utf-8")  # noqa: SIM115 - closed below, once the report is written
        finally:
            os.close(dirfd)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    try:
        yield handle
    except BaseException:
        if replacement is not None:
            replacement.discard()
        raise
    if replacement is not None:
        try:
            replacement.commit()
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}")
    else:
        handle.close()


def progress_printer() -> Callable[[str | None], None]:
    """A progress line on stderr, every 25 files read; called with None, it clears the line."""
    count = [0]

    def show(path: str | None) -> None:
        if path is None:
            click.echo("\r\033[K", nl=False, err=True)
            return
        count[0] += 1
        if count[0] % 25 == 0:
            click.echo(f"\r\033[Kreading {count[0]} files: {path[-60:]}", nl=False, err=True)

    return show
