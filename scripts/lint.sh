#!/usr/bin/env bash
# Lint and type-check: ruff (its default rules, see [tool.ruff] in pyproject.toml) on the package,
# tests, benchmarks and scripts, mypy (check_untyped_defs) on the package, and the code's shape
# (no function over 80 lines, no import of another module's private names). Any finding fails.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check src tests bench scripts
.venv/bin/mypy
.venv/bin/python scripts/metrics.py src/rofs >/dev/null || .venv/bin/python scripts/metrics.py src/rofs
