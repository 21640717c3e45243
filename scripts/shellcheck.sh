#!/usr/bin/env bash
# Runs on a developer machine or CI: shellcheck over every shell script in the repository. Changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v shellcheck >/dev/null 2>&1; then
    if [ "${CI:-}" = "true" ]; then
        echo "shellcheck: not installed (scripts/setup-testbed.sh installs it)" >&2
        exit 1
    fi
    echo "shellcheck: not installed, shell scripts NOT checked (apt-get install shellcheck)" >&2
    exit 0
fi
mapfile -t scripts < <(git ls-files -co --exclude-standard '*.sh' .ci/run)
shellcheck -x "${scripts[@]}"
echo "shellcheck: ${#scripts[@]} scripts clean"
