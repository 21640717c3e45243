#!/usr/bin/env bash
# slurm-sync-from-shared — runs on the Slurm login node as root, from slurm-sync.service (oneshot) that
# slurm-sync.timer starts at boot and every minute; /etc/default/slurm-sync sets SLURM_SYNC_SOURCE.
# Changes: $MUNGE_KEY_FILE (/etc/munge/munge.key, owner munge, 0400) and the Slurm config files in
# $SLURM_CONF_DIR (/etc/slurm: slurm.conf and the files it includes, 0644 root), copied atomically from
# the files the scheduler seeded into $SLURM_SYNC_SOURCE (/shared/apps/slurm/<cluster>); restarts munge
# ($MUNGE_RESTART_CMD) when the key changed; keeps a marker ($SLURM_SYNC_STATE) while verification fails.
# Nothing else, and nothing at all when nothing changed.
# Then it verifies: local munge round trip, installed key == seeded key, and the controller accepts our
# credentials. `--check` only verifies. Never prints key material.
#
# Exit status: 0 ok, or waiting for the seeded files, or (sync only) controller not reachable yet;
#              1 error (usage, local munge broken, install failed, files not synced in --check);
#              2 munge key mismatch (installed != seeded, or the controller rejects our credentials);
#              3 (--check only) the controller did not answer.
#
# Environment (all optional except SLURM_SYNC_SOURCE; the defaults are the production paths):
#   SLURM_SYNC_SOURCE     seeded directory, e.g. /shared/apps/slurm/<cluster>       (required)
#   SLURM_CONF_DIR        where the Slurm client reads its config                    (/etc/slurm)
#   MUNGE_KEY_FILE        munged's key file                                           (/etc/munge/munge.key)
#   MUNGE_USER            owner of the key file                                       (munge)
#   MUNGE_RESTART_CMD     run by bash when the key changed                            (systemctl restart munge)
#   MUNGE_SOCKET          munged socket for the round trip; empty = munge's default   ()
#   SLURM_SYNC_LOCK       lock file serialising concurrent runs                       (/run/lock/slurm-sync.lock)
#   SLURM_SYNC_TIMEOUT    seconds to wait for the controller's answer                 (30)
#   SLURM_SYNC_STATE      marker: the last verification did not pass, so the next run  (/run/slurm-sync.recheck)
#                         verifies again even when nothing changed
set -euo pipefail

readonly PROG=slurm-sync
SOURCE=${SLURM_SYNC_SOURCE:-}
CONF_DIR=${SLURM_CONF_DIR:-/etc/slurm}
KEY_FILE=${MUNGE_KEY_FILE:-/etc/munge/munge.key}
MUNGE_OWNER=${MUNGE_USER:-munge}
RESTART_CMD=${MUNGE_RESTART_CMD:-systemctl restart munge}
SOCKET=${MUNGE_SOCKET:-}
LOCK_FILE=${SLURM_SYNC_LOCK:-/run/lock/slurm-sync.lock}
TIMEOUT=${SLURM_SYNC_TIMEOUT:-30}
STATE_FILE=${SLURM_SYNC_STATE:-/run/slurm-sync.recheck}
VERIFY_PENDING=0

TMP_FILE=""

log() { echo "$PROG: $*"; }
err() { echo "$PROG: ERROR: $*" >&2; }
die() {
    err "$1"
    exit "${2:-1}"
}
cleanup() {
    if [[ -n $TMP_FILE && -e $TMP_FILE ]]; then
        rm -f -- "$TMP_FILE"
    fi
}

usage() {
    echo "usage: slurm-sync-from-shared [--check]   (SLURM_SYNC_SOURCE=/shared/apps/slurm/<cluster>)"
}

# Names of the files named by `Include` lines of a Slurm config file (base names, one per line).
include_names() {
    local line keyword target
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%%#*}
        read -r keyword target _ <<<"$line" || true
        if [[ ${keyword,,} == include && -n ${target:-} ]]; then
            target=${target%\"}
            target=${target#\"}
            printf '%s\n' "${target##*/}"
        fi
    done <"$1"
}

sha256_of() {
    local sum
    sum=$(sha256sum <"$1")
    printf '%s' "${sum%% *}"
}

# The config files to install: every *.conf the seed put next to slurm.conf, then slurm.conf last
# (so a client that reads the new slurm.conf also finds what it includes).
config_files() {
    local f
    for f in "$SOURCE"/*.conf; do
        if [[ -f $f && ${f##*/} != slurm.conf ]]; then
            printf '%s\n' "${f##*/}"
        fi
    done
    echo slurm.conf
}

# Prints the first file slurm.conf (recursively) includes that is not in the source, if any.
missing_include() {
    local -a queue=(slurm.conf)
    local -A seen=([slurm.conf]=1)
    local f name
    while ((${#queue[@]} > 0)); do
        f=${queue[0]}
        queue=("${queue[@]:1}")
        while IFS= read -r name; do
            [[ -n ${seen[$name]:-} ]] && continue
            seen[$name]=1
            if [[ ! -f $SOURCE/$name ]]; then
                printf '%s\n' "$name"
                return 0
            fi
            queue+=("$name")
        done < <(include_names "$SOURCE/$f")
    done
}

# install_file SRC DEST MODE OWNER GROUP: atomic copy unless DEST has the content, mode and owner.
# Sets INSTALLED=1 when it wrote or fixed something.
INSTALLED=0
install_file() {
    local src=$1 dest=$2 mode=$3 owner=$4 group=$5 dir want
    dir=$(dirname -- "$dest")
    want="${mode#0} $(id -u "$owner") $(getent group "$group" | cut -d: -f3)"
    if [[ -f $dest && ! -L $dest ]] && cmp -s -- "$src" "$dest"; then
        if [[ $(stat -c '%a %u %g' -- "$dest") != "$want" ]]; then
            chown "$owner:$group" -- "$dest"
            chmod "$mode" -- "$dest"
            INSTALLED=1
        fi
        return 0
    fi
    TMP_FILE=$(mktemp -- "$dir/.${dest##*/}.sync.XXXXXX")
    cat -- "$src" >"$TMP_FILE"
    chown "$owner:$group" -- "$TMP_FILE"
    chmod "$mode" -- "$TMP_FILE"
    mv -f -- "$TMP_FILE" "$dest"
    TMP_FILE=""
    INSTALLED=1
}

munge_args=()
munge_round_trip() {
    local out i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        if out=$(munge -n "${munge_args[@]}" 2>&1 | unmunge "${munge_args[@]}" 2>&1 >/dev/null); then
            return 0
        fi
        ((i < 10)) && sleep 0.5
    done
    err "local munge round trip failed (munge -n | unmunge${SOCKET:+ -S $SOCKET}): ${out:-no output}"
    err "hint: is munged running with $KEY_FILE? (systemctl status munge; journalctl -u munge)"
    return 1
}

# Verification shared by sync and --check. Returns the exit status described at the top.
verify() {
    local check_only=$1 out rc name

    munge_round_trip || return 1
    log "munge round trip OK"

    if [[ ! -f $KEY_FILE ]]; then
        err "munge key mismatch: $KEY_FILE is missing (seeded key: $SOURCE/munge.key); run slurm-sync-from-shared to install it"
        return 2
    fi
    if [[ $(sha256_of "$KEY_FILE") != "$(sha256_of "$SOURCE/munge.key")" ]]; then
        err "munge key mismatch: $KEY_FILE differs from the seeded $SOURCE/munge.key (sha256 differs);" \
            "run slurm-sync-from-shared without --check to install the seeded key"
        return 2
    fi
    log "installed munge key matches the seeded key (sha256)"

    if [[ $check_only == 1 ]]; then
        for name in $(config_files); do
            if ! cmp -s -- "$SOURCE/$name" "$CONF_DIR/$name"; then
                err "$CONF_DIR/$name is not in sync with $SOURCE/$name; run slurm-sync-from-shared without --check"
                return 1
            fi
        done
    fi

    # Ask the controller for something that needs an authenticated RPC.
    rc=0
    out=$(SLURM_CONF=$CONF_DIR/slurm.conf timeout "$TIMEOUT" sinfo --noheader --summarize 2>&1 </dev/null) || rc=$?
    if ((rc == 0)); then
        log "controller accepts this node's munge credentials (sinfo OK)"
        return 0
    fi
    out=$(tr -s '\n' ' ' <<<"$out")
    out=${out% }
    if grep -qiE 'zero bytes were transmitted|invalid credential|authentication|munge|credential' <<<"$out"; then
        err "munge key mismatch with the scheduler: slurmctld rejects this node's munge credentials ($out)."
        err "hint: the key seeded in $SOURCE/munge.key is not the scheduler's current key, or munged still runs" \
            "with an old key. Re-seed /shared from the scheduler (re-run the seed command: pulumi up, or" \
            "seed-shared.sh on the scheduler), then run slurm-sync-from-shared on this node."
        return 2
    fi
    if [[ $check_only == 1 ]]; then
        err "Slurm controller did not answer (rc=$rc): $out"
        return 3
    fi
    log "WARNING: Slurm controller not reachable yet (rc=$rc): $out; the files are installed, the timer will check again"
    VERIFY_PENDING=1
    return 0
}

# verify, and remember a failed (or unfinished) verification so that the next run re-checks.
verify_and_record() {
    local rc=0
    verify 0 || rc=$?
    if ((rc == 0 && VERIFY_PENDING == 0)); then
        rm -f -- "$STATE_FILE"
    else
        mkdir -p -- "$(dirname -- "$STATE_FILE")"
        : >"$STATE_FILE"
    fi
    return "$rc"
}

main() {
    local check_only=0
    case ${1:-} in
        "") ;;
        --check) check_only=1 ;;
        -h | --help)
            usage
            return 0
            ;;
        *)
            usage >&2
            return 1
            ;;
    esac
    (($# <= 1)) || {
        usage >&2
        return 1
    }
    [[ -n $SOURCE ]] || die "SLURM_SYNC_SOURCE is not set (it belongs in /etc/default/slurm-sync, e.g. /shared/apps/slurm/<cluster>)"
    [[ $SOURCE == /* && $CONF_DIR == /* && $KEY_FILE == /* ]] ||
        die "SLURM_SYNC_SOURCE, SLURM_CONF_DIR and MUNGE_KEY_FILE must be absolute paths"
    [[ $TIMEOUT =~ ^[0-9]+$ ]] || die "SLURM_SYNC_TIMEOUT must be a number of seconds"
    if [[ -n $SOCKET ]]; then
        munge_args=(-S "$SOCKET")
    fi

    local f
    for f in munge.key slurm.conf; do
        if [[ ! -f $SOURCE/$f ]]; then
            if [[ $check_only == 1 ]]; then
                die "cannot verify: $SOURCE/$f is missing (not seeded yet?)"
            fi
            log "waiting for $SOURCE/$f (seeded from the scheduler once the cluster is up)"
            return 0
        fi
    done
    local missing
    missing=$(missing_include)
    if [[ -n $missing ]]; then
        [[ $check_only == 1 ]] && die "cannot verify: $SOURCE/$missing (included by slurm.conf) is missing"
        log "waiting for $SOURCE/$missing (included by slurm.conf, not seeded yet)"
        return 0
    fi

    if [[ $check_only == 1 ]]; then
        local rc=0
        verify 1 || rc=$?
        return "$rc"
    fi

    # One run at a time (timer and boot, or an admin by hand).
    mkdir -p -- "$(dirname -- "$LOCK_FILE")"
    exec 9>"$LOCK_FILE"
    flock -w 120 9 || die "another slurm-sync run holds $LOCK_FILE"

    id -u "$MUNGE_OWNER" >/dev/null 2>&1 || die "user '$MUNGE_OWNER' (MUNGE_USER) does not exist; install munge first"
    local munge_group
    munge_group=$(id -gn "$MUNGE_OWNER")

    umask 077
    trap cleanup EXIT
    local key_dir changed_conf=() key_changed=0 name
    key_dir=$(dirname -- "$KEY_FILE")
    if [[ ! -d $key_dir ]]; then
        mkdir -p -- "$key_dir"
        chown "$MUNGE_OWNER:$munge_group" -- "$key_dir"
        chmod 0700 -- "$key_dir"
    fi
    if [[ ! -d $CONF_DIR ]]; then
        mkdir -p -- "$CONF_DIR"
        chmod 0755 -- "$CONF_DIR"
    fi

    # Key first, then the included files, slurm.conf last.
    INSTALLED=0
    install_file "$SOURCE/munge.key" "$KEY_FILE" 0400 "$MUNGE_OWNER" "$munge_group"
    if ((INSTALLED == 1)); then
        key_changed=1
        log "installed munge key $KEY_FILE (owner $MUNGE_OWNER, 0400)"
    fi
    local -a names
    mapfile -t names < <(config_files)
    for name in "${names[@]}"; do
        INSTALLED=0
        install_file "$SOURCE/$name" "$CONF_DIR/$name" 0644 root root
        if ((INSTALLED == 1)); then
            changed_conf+=("$name")
        fi
    done
    if ((${#changed_conf[@]} > 0)); then
        log "installed ${changed_conf[*]} into $CONF_DIR"
    fi

    if ((key_changed == 0 && ${#changed_conf[@]} == 0)); then
        if [[ -e $STATE_FILE ]]; then
            log "nothing changed in $SOURCE; verifying again (the last verification did not pass)"
            local rc=0
            verify_and_record || rc=$?
            return "$rc"
        fi
        log "up to date with $SOURCE"
        return 0
    fi

    if ((key_changed == 1)); then
        log "munge key changed: restarting munge ($RESTART_CMD)"
        # fd 9 (the lock) closed: a daemon started by the command must not keep holding it.
        bash -c "$RESTART_CMD" </dev/null 9>&- || die "munge restart failed: $RESTART_CMD"
    fi

    local rc=0
    verify_and_record || rc=$?
    return "$rc"
}

main "$@"
