#!/usr/bin/env bash
# Create .venv in the repository and install typemux with its dev tools and the real
# backends (pyright with its own Node, basedpyright, ty, pyrefly), all from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev,backends,envtools]"
