"""Dockerfiles: turn the rules' remedies into edits; rewrite only what cannot change behaviour.

Applied in place (``rofs fix``):
  * RO301's exec form, when the shell-form command is plain words (no variables, quotes,
    redirections, globs or operators): the same words, no shell.
Suggested (shown by ``rofs fix --diff``, never written):
  * RO301 for a command that needs a shell: ``["/bin/sh", "-c", "..."]`` keeps it working but
    still makes the shell PID 1, so the real fix is the author's;
  * RO302's non-root ``USER`` (the profile's UID when the base image is known), after making
    the directories the app writes and giving them to that user;
  * RO303 and other advice: a note.
"""

from __future__ import annotations

import json

from rofs.fixers.textedit import Lines, TextEdit
from rofs.model import Finding
from rofs.remedy import Applicability, ExecForm, NonRootUser, Suggestion


class DockerfileFixer:
    """Edits for one Dockerfile, from the (unsuppressed) findings of its final stage."""

    def __init__(self) -> None:
        self.applied: list[Finding] = []  # the findings whose remedies were written

    def fix(self, text: str, findings: list[Finding]) -> tuple[list[TextEdit], list[TextEdit], list[str]]:
        """(edits applied in place, edits only suggested, notes)."""
        lines = Lines(text)
        applied: list[TextEdit] = []
        suggested: list[TextEdit] = []
        notes: list[str] = []
        tail: list[str] = []
        for finding in findings:
            for remedy in finding.remedies:
                if isinstance(remedy, ExecForm):
                    if self._exec_form(remedy, finding, lines, applied, suggested, notes):
                        self.applied.append(finding)
                elif isinstance(remedy, NonRootUser):
                    tail += _user_lines(remedy)
                elif isinstance(remedy, Suggestion) and finding.rule == "RO303":
                    notes.append(f"line {finding.location.line}: {remedy.text}")
        if tail:
            prefix = "" if text.endswith("\n") else lines.newline
            suggested.append(TextEdit(len(text), len(text), prefix + lines.newline.join(tail) + lines.newline, 1))
        return applied, suggested, notes

    @staticmethod
    def _exec_form(remedy: ExecForm, finding: Finding, lines: Lines, applied: list[TextEdit],
                   suggested: list[TextEdit], notes: list[str]) -> bool:
        """Edit for an exec-form remedy: applied (True) or only suggested."""
        loc = finding.location
        start, end = lines.start_of(loc.line - 1), lines.start_of(loc.end_line or loc.line)
        word = remedy.instruction
        if remedy.words is not None and Applicability(finding.applicability).applied:
            applied.append(TextEdit(start, end, f"{word} {json.dumps(list(remedy.words))}{lines.newline}"))
            notes.append(f"{word} on line {loc.line} is now in exec form (plain words: same command, no shell).")
            return True
        suggested.append(TextEdit(start, end, f"{word} {json.dumps(['/bin/sh', '-c', remedy.command])}{lines.newline}"))
        notes.append(
            f"{word} on line {loc.line} needs a shell ({remedy.command!r}); suggested an explicit /bin/sh -c,"
            " better: an entrypoint script or plain words."
        )
        return False


def _user_lines(remedy: NonRootUser) -> list[str]:
    out = []
    if remedy.dirs:
        out.append("# rofs: directories the app writes, owned by its user, to be mounted as volumes")
        out.append("USER root")
        out.append(f"RUN mkdir -p {' '.join(remedy.dirs)} && chown {remedy.owner} {' '.join(remedy.dirs)}")
    if not remedy.known:
        out.append("# rofs: create this user (and give it the app's files) before switching to it")
    out.append(f"USER {remedy.owner}")
    return out
