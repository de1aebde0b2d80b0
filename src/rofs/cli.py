"""Command line: parse arguments, wire the pieces, set the exit code.

Exit codes, for every command:
  0  success (nothing to report)
  1  findings (later commands: audit, fix, run)
  2  usage error or bad input (unknown app, broken profile file, bad option value)

This module is the ``rofs`` group; the commands are in ``rofs.commands`` (one module per kind of
work), and each calls the module that does its work.
"""

from __future__ import annotations

import click

from rofs import __version__
from rofs.commands import OrderedGroup, check, inventory, runtime
from rofs.errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, RofsError, fail

__all__ = ["EXIT_FINDINGS", "EXIT_OK", "EXIT_USAGE", "RofsError", "fail", "main"]


@click.group(
    cls=OrderedGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", "-V", prog_name="rofs")
def main() -> None:
    """Run containers with a read-only root filesystem without breaking them.

    rofs knows which paths each application must write (its profiles), and
    turns that into hardened manifests.

    \b
    Start here:
      rofs profiles list                 the writable-path inventory
      rofs profiles show postgres        one app: paths, why, what breaks
      rofs generate postgres --format k8s
    """


COMMANDS = (
    check.audit, check.rules_cmd, check.rule_cmd, check.fix,
    runtime.run_cmd, runtime.trace_cmd, runtime.explain_cmd,
    inventory.policy_cmd, inventory.profiles, inventory.generate,
)
for _command in COMMANDS:
    main.add_command(_command)


@main.command(short_help="Print the shell completion script (bash, zsh or fish).")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  rofs completion bash > ~/.local/share/bash-completion/completions/rofs
    zsh:   rofs completion zsh > "${fpath[1]}/_rofs"
    fish:  rofs completion fish > ~/.config/fish/completions/rofs.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:  # the choices are the shells click completes
        fail(f"no completion for {shell}")
    click.echo(cls(main, {}, "rofs", "_ROFS_COMPLETE").source())
