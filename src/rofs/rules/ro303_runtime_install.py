"""
## What it does
Flags a container command (Dockerfile `CMD`/`ENTRYPOINT`, Kubernetes `command`/`args`,
Compose `command`/`entrypoint`) that installs packages when the container starts:
`pip install`, `npm install`/`ci`, `yarn add`/`install`, `apt-get install`, `apk add`,
`gem install` and the like.

## Why is this bad?
Installing at start writes into the image's own directories, so it cannot work with a
read-only root; it also makes every start depend on a package registry and run code that
was never scanned.

## Example
```dockerfile
CMD ["sh", "-c", "pip install -r requirements.txt && python app.py"]
```

## Use instead
```dockerfile
RUN pip install --no-cache-dir -r requirements.txt
CMD ["python", "app.py"]
```

## Fix
Install at build time (`RUN`), start the app only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rofs.model import Capability, Finding, RuleMeta, Severity, Workload
from rofs.rules.common import Context

META = RuleMeta(
    id="RO303",
    name="runtime-install",
    severity=Severity.HIGH,
    title="Packages installed when the container starts",
    rationale="Installing at start writes into the image and cannot work on a read-only root.",
    fix="Install packages at build time (RUN) and start only the app.",
    needs=frozenset({Capability.COMMANDS}),
    cwe="CWE-494",
)

INSTALL = re.compile(
    r"(?:^|[\s;&|(`])(?:sudo\s+)?"
    r"(?P<tool>pip3?|python3?\s+-m\s+pip|npm|pnpm|yarn|apt-get|apt|apk|gem|dnf|yum|microdnf|zypper|conda|bundle|composer)"
    r"\s+(?:-\S+\s+)*(?P<verb>install|add|ci|i)\b"
)


def check(workload: Workload, ctx: Context) -> Iterator[Finding]:
    for container in workload.containers:
        for field_name in ("command", "args"):
            words = getattr(container, field_name)
            if not words:
                continue
            text = " ".join(words)
            match = INSTALL.search(text)
            if match is None:
                continue
            tool = " ".join(match.group("tool").split())
            yield ctx.finding(
                META,
                workload,
                container.where(field_name),
                f"the start command runs `{tool} {match.group('verb')}`: it writes into the image at every start",
                container,
            )
            break
