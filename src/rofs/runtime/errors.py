"""The one error the runtime raises for the user: a sandbox that cannot be built or observed."""

from __future__ import annotations


class SandboxError(RuntimeError):
    """A sandbox that cannot be built (tool missing, bad mount, a run rofs could not observe);
    one line for the user, exit 2."""
