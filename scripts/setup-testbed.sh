#!/usr/bin/env bash
# Runs on the CI machine (Debian 12, as root) before `npm test`, called by .ci/run.
# Installs what the real-system tests need WITHOUT starting any service (it makes sure
# /usr/sbin/policy-rc.d exits 101 first): Debian's munge, OpenSSH, cloud-init, shellcheck, iproute2,
# sudo, strace, and Slurm 25.11.5 - the release the cluster runs (cyclecloud-slurm 4.0.9) - under
# /opt/slurm-25.11.5 from ../shared/testbed (install-slurm.sh, built from SchedMD's source: BUILD.md
# there). Debian's own Slurm (slurm-wlm 22.05) is not installed and not used: the test hosts run the
# 25.11.5 daemons and clients only (test/support/netns.ts). Changes only the package set, /opt/slurm-25.11.5
# (and policy-rc.d if it was missing). Idempotent; returns within seconds when everything is installed.
# Env: SLURM_TESTBED_DIR (default ../shared/testbed next to the repository).
set -euo pipefail

PACKAGES=(munge openssh-server openssh-client cloud-init shellcheck iproute2 sudo strace zstd)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
testbed=${SLURM_TESTBED_DIR:-$repo/../shared/testbed}

if [[ $(id -u) -ne 0 ]]; then
    echo "setup-testbed: must run as root (it installs Debian packages)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    echo "setup-testbed: needs a Debian-based system with apt-get" >&2
    exit 1
fi

# Never let package installation start daemons on this machine.
policy=/usr/sbin/policy-rc.d
if [[ ! -x $policy ]] || ! grep -qx 'exit 101' "$policy"; then
    printf '#!/bin/sh\n# Installed by scripts/setup-testbed.sh: packages must not start services here.\nexit 101\n' >"$policy.tmp.$$"
    chmod 0755 "$policy.tmp.$$"
    mv -f "$policy.tmp.$$" "$policy"
    echo "setup-testbed: wrote $policy (exit 101)"
fi

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    if [[ $status != installed ]]; then
        missing+=("$p")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "setup-testbed: all packages present (${PACKAGES[*]})"
else
    echo "setup-testbed: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    echo "setup-testbed: installed ${missing[*]}"
fi

# Slurm 25.11.5 (checksummed archive; idempotent: says so and returns when it is already in place).
if [[ ! -f $testbed/install-slurm.sh ]]; then
    echo "setup-testbed: $testbed/install-slurm.sh not found (set SLURM_TESTBED_DIR to the shared testbed directory)" >&2
    exit 1
fi
bash "$testbed/install-slurm.sh"
