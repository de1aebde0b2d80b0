#!/usr/bin/env bash
# Set up, lint and type-check, then run the whole test suite (real servers included).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/lint.sh
exec .venv/bin/python -m pytest "$@"
