#!/usr/bin/env bash
# Set up .venv (./scripts/setup.sh), then run a short scripted session through typemux with
# real pyright on a generated two-project monorepo (demo-monorepo/, gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
