"""Shared test helpers.

Tests that need a system tool (bwrap, strace, a Debian server) call
:func:`require_tool`: outside CI a missing tool skips the test; under ``CI=true``
it fails, so a CI machine without the tool cannot go green by skipping.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Real files from public projects and the official schemas, copied into the repository with their
# sources and licenses (tests/data/*/SOURCES.md), so a clone anywhere runs every test.
DATA = REPO / "tests" / "data"
CORPUS = DATA / "corpus"
# Corpus files rofs refuses to read, as the platform does: (path in the corpus, line, message)
_TWICE = ("key 'selector' is written twice in one mapping (first at line {}): kubectl (strict field validation, its"
          " default) and kustomize refuse such a file; keep one")
CORPUS_REFUSED = [
    ("kubernetes__examples/_archived/openshift-origin/etcd-controller.yaml", 12, _TWICE.format(6)),
    ("kubernetes__examples/_archived/openshift-origin/etcd-discovery-controller.yaml", 12, _TWICE.format(6)),
    ("kubernetes__examples/_archived/openshift-origin/openshift-controller.yaml", 12, _TWICE.format(8)),
]
SCHEMAS = DATA / "schemas"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str, package: str | None = None) -> str:
    path = shutil.which(name) or (name if os.path.exists(name) else None)
    if path:
        return path
    message = f"{name} not found (apt-get install -y {package or name})"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def require_path(path: str | Path, what: str) -> Path:
    path = Path(path)
    if path.exists():
        return path
    message = f"{what} not found at {path}"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)
