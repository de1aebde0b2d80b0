"""What ``rofs fix`` says and writes once the files are fixed (``rofs.fix`` fixes them, in memory).

For each file: the findings it resolves and the notes on stderr; the diff (``--diff``) or the
fixed text (standard input) on stdout, else the file replaced in place; then a summary line and
the exit code: 0 nothing to fix, 1 files were (or would be) changed or have suggestions to
review, 2 a file could not be fixed or written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO, cast

import click

from rofs.remedy import BUILT_FROM_SOURCE
from rofs.terminal import printable

if TYPE_CHECKING:
    from rofs.fix import FileFix
    from rofs.model import Finding


@dataclass
class Tally:
    files: int
    changed: int = 0
    errors: int = 0
    pending: int = 0  # files with suggestions only you can make

    def summary(self, show_diff: bool) -> str:
        verb = "would change" if show_diff else "changed"
        text = f"rofs fix: {verb} {self.changed} of {self.files} files"
        if self.pending:
            text += f"; {self.pending} with suggestions to review (--diff)"
        if self.errors:
            text += f"; {self.errors} not fixable"
        return text

    @property
    def exit_code(self) -> int:
        """2 bad input, 1 a file changed (or would, with --diff), else 0: suggestions only you can make
        are shown but do not fail (a pre-commit hook goes green once its fixes are committed)."""
        return 2 if self.errors else (1 if self.changed else 0)


def report(results: list[FileFix], show_diff: bool) -> int:
    """Write, show or save every result (each is discarded after); print the summary; the exit code."""
    # click 8.5 deprecates get_text_stream and serves it through a module __getattr__ typed
    # ``object``; it is still the stream click.echo writes to (a misconfigured locale corrected).
    text_stream = cast(Callable[[str], TextIO], click.get_text_stream)
    out = text_stream("stdout")
    tally = Tally(len(results))
    try:
        for result in results:
            _report_one(result, out, show_diff, tally)
        out.flush()
    finally:
        for result in results:
            result.discard()
    from rofs.fix import ABSOLUTE_HINT, outside

    changed = [r for r in results if show_diff and r.changed and r.path != "<stdin>"]
    if changed and any(r.absolute or outside(r.path) for r in changed):
        names = [r.path for r in changed]
        _say("rofs: " + ABSOLUTE_HINT.format(what=names[0] if len(names) == 1 else f"its {len(names)} files"))
    for line in unprofiled_lines(results):
        _say(line)
    click.echo(tally.summary(show_diff), err=True)
    return tally.exit_code


def _say(line: str) -> None:
    click.echo(printable(line), err=True)  # file and object names may hold control bytes


def _report_one(result: FileFix, out: TextIO, show_diff: bool, tally: Tally) -> None:
    if result.error:
        tally.errors += 1
        _say(f"rofs: error: {result.error}")
        return
    if result.has_suggestions:
        tally.pending += 1
        if show_diff:
            result.write_diff(out, suggested=True)
        else:
            _say(f"rofs: {result.path}: suggestions that only you can make: {diff_command(result.path)}")
    if not result.changed:
        if result.path == "<stdin>":
            result.write_fixed(out)
        for note in grouped_notes(result.notes):  # what it left, and why
            _say(f"rofs: {result.path}: {note}")
        return
    if show_diff:
        if not result.has_suggestions:
            result.write_diff(out)
    elif result.path == "<stdin>":
        result.write_fixed(out)
    else:
        try:
            result.save()
        except OSError as exc:
            tally.errors += 1  # nothing was changed: the findings are still there
            _say(f"rofs: error: cannot write {result.path}: {exc.strerror or exc}")
            return
    tally.changed += 1
    for line in fixed_findings(result.applied):
        _say(f"rofs: {line}")
    for note in grouped_notes(result.notes):
        _say(f"rofs: {result.path}: {note}")
    if not show_diff and result.path != "<stdin>":
        _say(f"fixed {result.path}")


def unprofiled_lines(results: list[FileFix], shown: int = 12) -> list[str]:
    """Once for the whole run: the images left as they are for want of a profile (with how many
    containers each), and once how to learn what they write."""
    containers: Counter[str] = Counter()
    for result in results:
        if result.error is None:
            containers.update(result.unprofiled)
    if not containers:
        return []
    names = [f"{'images built from source' if image == BUILT_FROM_SOURCE else image}" + (f" ({n})" if n > 1 else "")
             for image, n in sorted(containers.items(), key=lambda kv: (-kv[1], kv[0]))]
    more = f" and {len(names) - shown} more (rofs audit --select RO101 lists them)" if len(names) > shown else ""
    total = sum(containers.values())
    return [
        (f"rofs: left as they are, for want of a profile: {total} container{'s' if total > 1 else ''} of"
        f" {len(names)} image{'s' if len(names) > 1 else ''}: {', '.join(names[:shown])}{more}"),
        ("rofs: learn what an image writes with `rofs trace -- COMMAND` (or `rofs run --image saved-image.tar`)"
        " and fix again with --profile-file; or give them a read-only root with a bounded /tmp only:"
        " --unknown-images read-only"),
    ]


def diff_command(path: str) -> str:
    """The command that shows a file's suggestions (standard input is piped in again)."""
    return "rofs fix --diff - < FILE" if path == "<stdin>" else f"rofs fix --diff {path}"


def fixed_findings(findings: list[Finding]) -> list[str]:
    """What a fix resolves, finding by finding, in the audit's words (every one: a reviewer reads
    what changed here, not in a second audit)."""
    return [f"{f.location} {f.rule} fixed: {f.fix}" for f in findings]


def grouped_notes(notes: list[str], shown: int = 3) -> list[str]:
    """Notes that say the same of many workloads ("Deployment a [main]: no profile for X ..."),
    once, naming the first few: a long stream of one in-house image is one line, not thousands."""
    groups: dict[str, list[str]] = {}
    order: list[str] = []
    for note in notes:
        label, sep, text = note.partition(": ")
        key = text if sep else note
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(label if sep else "")
    out = []
    for key in order:
        labels = [x for x in groups[key] if x]
        if len(labels) <= 1:
            out.append(f"{labels[0]}: {key}" if labels else key)
            continue
        more = f" and {len(labels) - shown} more" if len(labels) > shown else ""
        out.append(f"{', '.join(labels[:shown])}{more}: {key}")
    return out
