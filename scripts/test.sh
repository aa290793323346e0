#!/usr/bin/env bash
# Set up everything the tests need (./scripts/setup.sh), then run the whole suite,
# real backends included. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
    echo "pytest collected no tests" >&2
    exit 1
fi
exit "$code"
