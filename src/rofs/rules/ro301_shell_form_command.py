"""
## What it does
Flags a Dockerfile whose final stage starts the app with `CMD` or `ENTRYPOINT` in shell
form (`CMD python app.py` instead of `CMD ["python", "app.py"]`).

## Why is this bad?
Shell form runs `/bin/sh -c`: the shell becomes PID 1, signals (SIGTERM on shutdown) do
not reach the app, and the image needs a shell, whose presence and behaviour on a
read-only root (here-documents, temp files) are one more thing that can break.

## Example
```dockerfile
ENTRYPOINT java -jar /app.jar
```

## Use instead
```dockerfile
ENTRYPOINT ["java", "-jar", "/app.jar"]
```

## Fix
Write the command as a JSON array (exec form).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

from rofs.model import Capability, Finding, RuleMeta, Severity, Workload
from rofs.remedy import Applicability, ExecForm
from rofs.rules.common import Context

META = RuleMeta(
    id="RO301",
    name="shell-form-command",
    severity=Severity.MEDIUM,
    title="CMD or ENTRYPOINT in shell form",
    rationale="A shell as PID 1 does not forward signals and makes the image depend on /bin/sh.",
    fix="Write CMD/ENTRYPOINT in exec form: a JSON array of strings.",
    needs=frozenset({Capability.BUILD}),
    applicability=Applicability.SAFE,
)


# What makes a command need a shell: variables, quotes, redirections, globs, operators.
SHELL_FEATURES = re.compile(r"""[$`&|;<>()*?\[\]~{}\\'"#!=\n]""")


def plain_words(command: str) -> tuple[str, ...] | None:
    """The command's words when it is plain words (exec form runs it the same), else None."""
    if SHELL_FEATURES.search(command):
        return None
    words = tuple(shlex.split(command))
    return words or None


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    for container in workload.containers:
        if not container.shell_form:
            continue
        which = "command" if container.command else "args"
        word = "ENTRYPOINT" if container.command else "CMD"
        text = (container.command or container.args or ("",))[0]
        where = container.where(which)
        line = where.line if where is not None else 1
        yield ctx.finding(
            META, workload, where, f"{word} in shell form: {text!r}; use a JSON array", container,
            remedies=(ExecForm(word, line, text, plain_words(text)),),
        )
