#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite, end-to-end runs included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest -q "$@"
