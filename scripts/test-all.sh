#!/usr/bin/env bash
# Runs on a developer machine or CI (Debian-based, as root; re-runs itself through sudo when started as another
# user): `npm run test:all`, the README's test command. Installs what the tests need (node_modules with `npm ci`
# when absent; the test bed's Debian packages with scripts/setup-testbed.sh, which starts no service), then runs
# every mocha suite with CI=true, so a real-system suite whose prerequisite is missing fails instead of skipping.
# Changes: node_modules (only when absent) and the Debian package set; extra arguments go to mocha.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "test-all: the real-system tests need root (network namespaces, sshd, munge, Slurm daemons); run as root" >&2
        exit 1
    fi
    echo "test-all: the real-system tests need root; re-running through sudo" >&2
    # sudo's secure_path may not hold node/npm: pass this PATH on explicitly.
    exec sudo -- env "PATH=$PATH" bash "$0" "$@"
fi

if [[ ! -d node_modules/.bin ]]; then
    npm ci --no-audit --no-fund
fi
bash scripts/setup-testbed.sh
export CI=true
exec npx --no-install mocha "$@"
