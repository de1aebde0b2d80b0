#!/usr/bin/env bash
# Lint and type-check: ruff (its default rules, see [tool.ruff] in pyproject.toml) on the package,
# tests, benchmarks and scripts, and mypy (check_untyped_defs) on the package. Any finding fails.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check src tests bench scripts
.venv/bin/mypy
