"""Names for what a fix adds: volumes, claims."""

from __future__ import annotations

MAX_NAME = 63  # a Kubernetes name (DNS label); Compose volume names keep to it too


def unique_name(base: str, taken: set[str]) -> str:
    """*base* cut to 63 characters, or with ``-2``, ``-3`` ... when that name is in *taken*."""
    name, n = base[:MAX_NAME].rstrip("-"), 2
    while name in taken:
        suffix = f"-{n}"
        name = base[: MAX_NAME - len(suffix)].rstrip("-") + suffix
        n += 1
    return name
