"""File intake: which reader claims a file, and how each format words a remedy.

The readers are registered here, once; ``rofs audit``, ``rofs fix`` and ``rofs explain
--manifest`` find and read files through this module.
"""

from __future__ import annotations

from rofs.model import SourceFormat
from rofs.remedy import Wording


def wordings() -> dict[SourceFormat, Wording]:
    """Each format's words for remedies, from its reader."""
    from rofs.sources import compose, dockerfile, kubernetes

    return {
        SourceFormat.KUBERNETES: kubernetes.WORDING,
        SourceFormat.COMPOSE: compose.WORDING,
        SourceFormat.DOCKERFILE: dockerfile.WORDING,
        SourceFormat.IMAGE: dockerfile.WORDING,
        SourceFormat.PROFILE: kubernetes.WORDING,
    }
