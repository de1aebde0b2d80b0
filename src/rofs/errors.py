"""The exit codes every command shares (see ``rofs.cli``), and the one-line error that ends a
command with exit code 2: ``fail("...")`` anywhere a command's work finds bad input."""

from __future__ import annotations

from typing import IO, Any, NoReturn

import click

from rofs.terminal import printable

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class RofsError(click.ClickException):
    """A one-line error for the user; exit code 2."""

    exit_code = EXIT_USAGE

    def show(self, file: IO[Any] | None = None) -> None:  # one line, no "Usage:" block
        # a file name in the message may hold a newline or an escape sequence
        click.echo(f"rofs: error: {printable(self.format_message())}", err=True)


def fail(message: str) -> NoReturn:
    """Stop the command: ``rofs: error: MESSAGE`` on stderr, exit code 2."""
    raise RofsError(message)
