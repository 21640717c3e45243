#!/usr/bin/env bash
# Runs on every CycleCloud cluster node (scheduler, compute nodearrays, login nodearray) as root, as a cluster-init
# script (jetpack): once per node (CycleCloud then leaves a marker under /mnt/cluster-init/.run and does not run it
# again at later converges or reboots of that node), and again on the running scheduler whenever `pulumi up` changes
# the spec (Command slurm-accounts-scheduler). Installs the account-registry apply script
# (/usr/local/sbin/cluster-accounts-apply) and the helpers it sources (/usr/local/lib/cluster-accounts/accounts-lib.sh,
# root 0644), writes /etc/default/cluster-accounts (spec defaults, ACCOUNTS_* from the
# environment override, plus this node's ACCOUNTS_ROLE), installs cluster-accounts.service/.timer (3 s on the
# scheduler, 60 s elsewhere) and the Slurm prolog 10-cluster-accounts.sh in /etc/slurm/prolog.d (see install_prolog),
# then applies the registry once. Idempotent.
set -euo pipefail
umask 022

files=${CYCLECLOUD_SPEC_PATH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}/files
settings=${ACCOUNTS_SETTINGS:-/etc/default/cluster-accounts}

role=${ACCOUNTS_ROLE:-}
if [[ -z $role ]]; then
    role=$( (jetpack config slurm.role || /opt/cycle/jetpack/bin/jetpack config slurm.role) 2>/dev/null || echo execute)
fi
case $role in scheduler | execute | login) ;; *) echo "010-cluster-accounts: unknown slurm.role '$role', treating as execute"; role=execute ;; esac

# The library first: the apply script (run by a timer, the prolog) is never in place without the helpers it sources.
install -d -m 0755 -o root -g root /usr/local/lib/cluster-accounts
install -m 0644 -o root -g root "$files/accounts-lib.sh" /usr/local/lib/cluster-accounts/accounts-lib.sh
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

# The Slurm prolog (slurm.conf: Prolog=/etc/slurm/prolog.d/*). cyclecloud-slurm 4.x makes /etc/slurm/prolog.d on every
# node a symlink to /sched/<cluster>/prolog.d (owned by slurm; azure-slurm-install/install.py), one directory that all
# nodes share: there only the scheduler writes, as cyclecloud-slurm's installer does with its own prolog scripts, so
# booting nodes never race to rewrite a file other nodes' slurmd may be running. A node whose prolog.d is a local
# directory installs its own copy. Written only when missing or different: a temporary file in the same directory
# (a dot name, which the Prolog glob does not match), root 0755, renamed over the old one; the link is never replaced.
# This script never creates /etc/slurm/prolog.d: cyclecloud-slurm's installer makes its link with os.symlink, which
# fails on an existing path. (Root writes into a slurm-owned directory here; the slurm user can already put any
# prolog there, so it gains nothing from racing this.)
install_prolog() {
    local dir=/etc/slurm/prolog.d name=10-cluster-accounts.sh src=$files/prolog-cluster-accounts.sh target tmp
    if [[ -L $dir ]]; then
        target=$(readlink -e -- "$dir") || { echo "010-cluster-accounts: $dir is a dangling symlink; Slurm prolog not installed"; return 0; }
        if [[ $role != scheduler ]]; then
            [[ -f $target/$name ]] || echo "010-cluster-accounts: $dir/$name not there yet (the scheduler installs it in the shared $target)"
            return 0
        fi
    elif [[ -d $dir ]]; then
        target=$dir
    else
        echo "010-cluster-accounts: $dir does not exist (cyclecloud-slurm creates it); Slurm prolog not installed, the timer applies accounts"
        return 0
    fi
    [[ -d $target && ! -L $target ]] || { echo "010-cluster-accounts: $target is not a directory; Slurm prolog not installed"; return 0; }
    if [[ -f $target/$name && ! -L $target/$name ]] && cmp -s -- "$src" "$target/$name" \
        && [[ $(stat -c '%u %g %a' -- "$target/$name") == "0 0 755" ]]; then
        return 0
    fi
    tmp=$(mktemp -- "$target/.$name.XXXXXX")
    if cat -- "$src" >"$tmp" && chown 0:0 -- "$tmp" && chmod 0755 -- "$tmp" && mv -fT -- "$tmp" "$target/$name"; then
        echo "010-cluster-accounts: installed the Slurm prolog $target/$name"
    else
        rm -f -- "$tmp"
        echo "010-cluster-accounts: warning: could not install the Slurm prolog in $target"
    fi
}
install_prolog

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
