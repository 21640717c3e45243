#!/usr/bin/env bash
# Runs on the CI machine (Debian 12, as root) before `npm test`, called by .ci/run.
# Installs the Debian packages the real-system tests need (munge, Slurm 22.05 daemons and
# client, OpenSSH, cloud-init, shellcheck, iproute2, sudo) WITHOUT starting any service: it makes
# sure /usr/sbin/policy-rc.d exits 101 first. Changes only the package set (and policy-rc.d
# if it was missing). Idempotent; returns within a second when everything is installed.
set -euo pipefail

PACKAGES=(munge slurmctld slurmd slurm-client openssh-server openssh-client cloud-init shellcheck iproute2 sudo)

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
    exit 0
fi

echo "setup-testbed: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-testbed: installed ${missing[*]}"
