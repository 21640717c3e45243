#!/usr/bin/env bash
# Runs on every CycleCloud cluster node (scheduler, compute nodearrays, login nodearray) as root at every boot, as a
# cluster-init script (jetpack). Installs the account-registry apply script (/usr/local/sbin/cluster-accounts-apply),
# writes /etc/default/cluster-accounts (spec defaults, ACCOUNTS_* from the environment override, plus this node's
# ACCOUNTS_ROLE), installs cluster-accounts.service/.timer (3 s on the scheduler, 60 s elsewhere) and the Slurm prolog
# /etc/slurm/prolog.d/10-cluster-accounts.sh, then applies the registry once. Idempotent.
set -euo pipefail
umask 022

files=${CYCLECLOUD_SPEC_PATH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}/files
settings=${ACCOUNTS_SETTINGS:-/etc/default/cluster-accounts}

role=${ACCOUNTS_ROLE:-}
if [[ -z $role ]]; then
    role=$( (jetpack config slurm.role || /opt/cycle/jetpack/bin/jetpack config slurm.role) 2>/dev/null || echo execute)
fi
case $role in scheduler | execute | login) ;; *) echo "010-cluster-accounts: unknown slurm.role '$role', treating as execute"; role=execute ;; esac

install -D -m 0755 -o root -g root "$files/apply-accounts.sh" /usr/local/sbin/cluster-accounts-apply

# Settings: data lines; a value from the environment (tests, or an operator's override) replaces the default.
tmp=$(mktemp "$settings.XXXXXX")
while IFS='=' read -r key value; do
    [[ $key =~ ^ACCOUNTS_[A-Z_]+$|^SHARED_HOME$ ]] || continue
    if [[ -n ${!key:-} ]]; then value=${!key}; fi
    printf '%s=%s\n' "$key" "$value"
done <"$files/cluster-accounts.defaults" >"$tmp"
[[ -n ${ACCOUNTS_STATE_DIR:-} ]] && printf 'ACCOUNTS_STATE_DIR=%s\n' "$ACCOUNTS_STATE_DIR" >>"$tmp"
printf 'ACCOUNTS_ROLE=%s\n' "$role" >>"$tmp"
chmod 0644 "$tmp"
if cmp -s "$tmp" "$settings"; then rm -f "$tmp"; else mv -fT "$tmp" "$settings"; fi

install -D -m 0755 -o root -g root "$files/prolog-cluster-accounts.sh" /etc/slurm/prolog.d/10-cluster-accounts.sh

install -D -m 0644 "$files/cluster-accounts.service" /etc/systemd/system/cluster-accounts.service
install -D -m 0644 "$files/cluster-accounts.timer" /etc/systemd/system/cluster-accounts.timer
dropin=/etc/systemd/system/cluster-accounts.timer.d/interval.conf
if [[ $role == scheduler ]]; then
    rm -f "$dropin"
else
    install -d -m 0755 "${dropin%/*}"
    printf '[Timer]\nOnUnitActiveSec=\nOnUnitActiveSec=60s\n' >"$dropin"
fi
if [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
    systemctl enable --now cluster-accounts.timer
else
    echo "010-cluster-accounts: systemd is not running; cluster-accounts.timer installed but not started"
fi

# A registry problem must not fail the node's boot: the timer and the prolog try again, and the error is logged.
/usr/local/sbin/cluster-accounts-apply || echo "010-cluster-accounts: warning: applying the account registry failed (logged; retried by the timer)"
