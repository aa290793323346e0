#!/usr/bin/env bash
# Create .venv in the repository and install typemux with its dev tools and the real
# backends (pyright with its own Node, basedpyright, ty, pyrefly), all from PyPI, plus
# Claude Code's CLI (npm) that the plugin tests validate with.
# Also the environment managers typemux discovers (envtools extra: Poetry, PDM, Hatch,
# Pipenv, virtualenv, uv). Needs network access to PyPI (and the npm registry when npm is
# present) and ~1 GB: ~750 MB for .venv plus ~235 MB for Claude Code's CLI.
# A second run does nothing when pyproject.toml has not changed (a stamp of its hash).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
CLAUDE_CODE_VERSION=2.1.197
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.typemux-setup-stamp
claude=.venv/claude-code/node_modules/.bin/claude
want="$(sha256sum pyproject.toml | cut -d' ' -f1) claude-code=$CLAUDE_CODE_VERSION"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && .venv/bin/python -c "import typemux" 2>/dev/null \
        && { [ -x "$claude" ] || ! command -v npm >/dev/null 2>&1; }; then
    exit 0
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev,backends,envtools]"
complete=yes
if command -v npm >/dev/null 2>&1; then
    if ! npm install --silent --no-audit --no-fund --prefix .venv/claude-code \
            "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" >/dev/null; then
        echo "setup: could not install Claude Code's CLI with npm; the plugin tests will fail in CI and be skipped elsewhere" >&2
        complete=no
    fi
else
    echo "setup: npm not found; the Claude Code plugin validation tests will be skipped" >&2
fi
# Only a complete setup is stamped: an incomplete one is retried on the next run.
if [ "$complete" = yes ]; then
    echo "$want" > "$stamp"
fi
