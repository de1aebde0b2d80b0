"""Dockerfiles: rewrite only what cannot change behaviour; suggest the rest.

Applied in place (``rofs fix``):
  * RO301: a shell-form ``CMD``/``ENTRYPOINT`` made of plain words (no variables, quotes,
    redirections, globs or operators) becomes the same words in exec form.

Suggested (shown by ``rofs fix --diff``, never written):
  * RO301 for commands that need a shell: ``["/bin/sh", "-c", "..."]`` keeps them working
    but still makes the shell PID 1, so the real fix is the author's;
  * RO302: a numeric non-root ``USER`` (the profile's UID when the base image is known);
  * the profile's writable directories made and owned at build, so empty volumes mounted
    there inherit the ownership;
  * RO303: install at build time instead of at start.
"""

from __future__ import annotations

import json
import re
import shlex

from rofs.fixers.textedit import Lines, TextEdit
from rofs.model import VolumeKind, Workload
from rofs.rules import Context
from rofs.rules._common import RUNTIME_SHM
from rofs.sources.dockerfile import DockerfileSource

SHELL_FEATURES = re.compile(r"""[$`&|;<>()*?\[\]~{}\\'"#!=\n]""")
FALLBACK_UID = 10001
# World-writable (sticky) in every base image: never chown them to one user.
SHARED_DIRS = {RUNTIME_SHM, "/tmp", "/var/tmp"}


def _plain_words(command: str) -> list[str] | None:
    if SHELL_FEATURES.search(command):
        return None
    words = shlex.split(command)
    return words or None


class DockerfileFixer:
    def __init__(self, ctx: Context, selected: set[str]):
        self.ctx = ctx
        self.selected = selected

    def fix(self, text: str, path: str, suppressions: list) -> tuple[list[TextEdit], list[TextEdit], list[str]]:
        """(edits applied in place, edits only suggested, notes)."""
        source = DockerfileSource().read(text, path)
        if source.errors:
            raise ValueError(str(source.errors[0]))
        if not source.workloads:
            return [], [], []
        from rofs.fixers.kubernetes import findings_for

        workload: Workload = source.workloads[0]
        container = workload.containers[0]
        lines = Lines(text)
        applied: list[TextEdit] = []
        suggested: list[TextEdit] = []
        notes: list[str] = []
        rules = {"RO301", "RO302", "RO303"} & self.selected
        findings = findings_for(workload, self.ctx, rules, suppressions + list(source.suppressions))
        found = {f.rule for f in findings}

        if "RO301" in found:
            field = "command" if container.command else "args"
            word = "ENTRYPOINT" if field == "command" else "CMD"
            loc = container.where(field)
            raw = (container.command or container.args or ("",))[0]
            start, end = lines.start_of(loc.line - 1), lines.start_of((loc.end_line or loc.line))
            words = _plain_words(raw)
            if words is not None:
                applied.append(TextEdit(start, end, f"{word} {json.dumps(words)}{lines.newline}"))
                notes.append(f"{word} on line {loc.line} is now in exec form (plain words: same command, no shell).")
            else:
                suggested.append(
                    TextEdit(start, end, f"{word} {json.dumps(['/bin/sh', '-c', raw])}{lines.newline}")
                )
                notes.append(
                    f"{word} on line {loc.line} needs a shell ({raw!r}); suggested an explicit /bin/sh -c,"
                    " better: an entrypoint script or plain words."
                )

        match = self.ctx.match(container)
        uid = match.layout.user.uid if match and match.layout.user.uid else None
        gid = match.layout.user.gid if match and match.layout.user.gid else uid
        owner = f"{uid}:{gid}" if uid else f"{FALLBACK_UID}:{FALLBACK_UID}"
        end_of_file = len(text)
        tail: list[str] = []
        if match is not None:
            dirs = [p.path for p in match.profile.paths_for(match.layout.id)
                    if p.required and p.kind is not VolumeKind.MEMORY and p.path not in SHARED_DIRS]
            if dirs:
                tail.append("# rofs: directories the app writes, owned by its user, to be mounted as volumes")
                tail.append("USER root")
                tail.append(f"RUN mkdir -p {' '.join(dirs)} && chown {owner} {' '.join(dirs)}")
        if "RO302" in found or tail:
            if "RO302" in found and uid is None:
                tail.append("# rofs: create this user (and give it the app's files) before switching to it")
            tail.append(f"USER {owner}")
        if tail:
            prefix = "" if text.endswith("\n") else lines.newline
            suggested.append(TextEdit(end_of_file, end_of_file, prefix + lines.newline.join(tail) + lines.newline, 1))
        if "RO303" in found:
            notes.append("the start command installs packages: move the install into a RUN instruction (build time).")
        return applied, suggested, notes
