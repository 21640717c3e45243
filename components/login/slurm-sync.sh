#!/usr/bin/env bash
# slurm-sync-from-shared — runs on the Slurm login node as root, from slurm-sync.service (oneshot) that
# slurm-sync.timer starts at boot and every minute; /etc/default/slurm-sync sets SLURM_SYNC_SOURCE.
# Changes: $MUNGE_KEY_FILE (/etc/munge/munge.key, owner munge, 0400) and the Slurm config files in
# $SLURM_CONF_DIR (/etc/slurm: slurm.conf and the files its Include lines name, recursively; 0644 root),
# copied atomically from the files the scheduler seeded into $SLURM_SYNC_SOURCE (/shared/apps/slurm/<cluster>);
# restarts munge ($MUNGE_RESTART_CMD) when the key changed, and again on every run until a restart succeeded;
# keeps a marker ($SLURM_SYNC_STATE) while a restart or the verification is outstanding.
# Nothing else, and nothing at all when nothing changed.
# Then it verifies: local munge round trip, installed key == seeded key, and the controller accepts our
# credentials (sinfo, run as $SLURM_SYNC_CHECK_USER, never as root). `--check` only verifies.
#
# Trust: /shared is an NFS share. Everything read from it is checked first, with one helper (trusted, of
# /usr/local/lib/shared-trust/trust-lib.sh, which this script checks and sources; the seed uses the same one): the
# mount point (SLURM_SYNC_SOURCE minus /apps/slurm/<cluster>), every directory below it and every file must be
# a real directory / regular file (never a symlink, which is not followed), owned by root, not group- or
# world-writable; munge.key 32..1024 bytes (munge's accepted key lengths) and not readable by group/others;
# config files at most 1 MiB. Only files named by Include lines (plain names, no '/' or leading '.') are
# read. Each file is opened, checked to be the inode that was checked, and copied to a private staging
# directory; only when every file passed is anything installed. A refusal names the path and the reason,
# changes nothing and exits 4.
# Residual risk: root on any NFS client of the share can write there as root (no root squash), and such
# files pass these checks; who can be an NFS client is limited by the network rules (NFS only from the
# subnets that mount it), not by this script.
# Never prints key material and never puts it on a command line (files are copied by redirection).
#
# Exit status: 0 ok, or waiting for the seeded files, or (sync only) controller not reachable yet;
#              1 error (usage, local munge broken, install or munge restart failed, files not synced in --check,
#                its trust check /usr/local/lib/shared-trust/trust-lib.sh missing or not root's alone);
#              2 munge key mismatch (installed != seeded, or the controller rejects our credentials);
#              3 (--check only) the controller did not answer;
#              4 refused: a path in /shared is not trustworthy (named on stderr); nothing was changed.
#
# Environment (all optional except SLURM_SYNC_SOURCE; the defaults are the production paths):
#   SLURM_SYNC_SOURCE     seeded directory, <shared mount>/apps/slurm/<cluster>      (required)
#   SLURM_CONF_DIR        where the Slurm client reads its config                    (/etc/slurm)
#   MUNGE_KEY_FILE        munged's key file                                           (/etc/munge/munge.key)
#   MUNGE_USER            owner of the key file                                       (munge)
#   MUNGE_RESTART_CMD     run by bash when the key changed                            (systemctl restart munge)
#   MUNGE_SOCKET          munged socket for the round trip; empty = munge's default   ()
#   SLURM_SYNC_CHECK_USER unprivileged account that runs sinfo for the controller check (nobody)
#   SLURM_SYNC_LOCK       lock file serialising concurrent runs                       (/run/lock/slurm-sync.lock)
#   SLURM_SYNC_TIMEOUT    seconds to wait for the controller's answer                 (30)
#   SLURM_SYNC_STATE      marker: a munge restart or the last verification did not    (/run/slurm-sync.recheck)
#                         succeed, so the next run retries even when nothing changed
set -euo pipefail

readonly PROG=slurm-sync
SOURCE=${SLURM_SYNC_SOURCE:-}
CONF_DIR=${SLURM_CONF_DIR:-/etc/slurm}
KEY_FILE=${MUNGE_KEY_FILE:-/etc/munge/munge.key}
MUNGE_OWNER=${MUNGE_USER:-munge}
RESTART_CMD=${MUNGE_RESTART_CMD:-systemctl restart munge}
SOCKET=${MUNGE_SOCKET:-}
CHECK_USER=${SLURM_SYNC_CHECK_USER:-nobody}
LOCK_FILE=${SLURM_SYNC_LOCK:-/run/lock/slurm-sync.lock}
TIMEOUT=${SLURM_SYNC_TIMEOUT:-30}
STATE_FILE=${SLURM_SYNC_STATE:-/run/slurm-sync.recheck}
VERIFY_PENDING=0

# Size bounds (bytes): munge's key lengths (munge_defs.h MUNGE_KEY_LEN_MIN_BYTES / MUNGE_KEY_LEN_MAX_BYTES;
# munged refuses keys shorter than 32 bytes), and a generous bound for one Slurm config file.
readonly KEY_MIN=32 KEY_MAX=1024 CONF_MAX=1048576 MAX_FILES=64

TMP_FILE=""
STAGE=""

# The trust check (trusted, copy_trusted), shared with the scheduler's seed-shared.sh: sourced only from its installed
# absolute path, once that file and every directory above it are real (no symlink), root-owned and not group- or
# world-writable; never from /shared.
readonly TRUST_LIB=/usr/local/lib/shared-trust/trust-lib.sh
lib_problem() {
    local p=$1 owner mode
    [[ -f $p && ! -L $p ]] || { echo "$p is missing or not a regular file"; return; }
    while :; do
        [[ ! -L ${p:-/} ]] || { echo "${p:-/} is a symlink"; return; }
        read -r owner mode < <(stat -c '%u %a' -- "${p:-/}") || { echo "${p:-/} cannot be read"; return; }
        [[ $owner == 0 ]] || { echo "${p:-/} is owned by UID $owner, not root"; return; }
        (( (8#$mode & 8#022) == 0 )) || { echo "${p:-/} is group- or world-writable (mode $mode)"; return; }
        [[ -n $p ]] || return 0
        p=${p%/*}
    done
}
lib_why=$(lib_problem "$TRUST_LIB")
[[ -z $lib_why ]] || { echo "$PROG: ERROR: not using $TRUST_LIB: $lib_why" >&2; exit 1; }
# shellcheck source=components/shared-trust/trust-lib.sh
source "$TRUST_LIB"

log() { echo "$PROG: $*"; }
err() { echo "$PROG: ERROR: $*" >&2; }
die() {
    err "$1"
    exit "${2:-1}"
}
refuse() {
    err "refusing $1; nothing was changed"
    exit 4
}
cleanup() {
    if [[ -n $TMP_FILE && -e $TMP_FILE ]]; then
        rm -f -- "$TMP_FILE"
    fi
    if [[ -n $STAGE && -d $STAGE ]]; then
        rm -rf -- "$STAGE"
    fi
}

usage() {
    echo "usage: slurm-sync-from-shared [--check]   (SLURM_SYNC_SOURCE=<shared mount>/apps/slurm/<cluster>)"
}

# stage NAME MIN MAX [private]: checks $SOURCE/NAME (owner root), opens it, makes sure the opened file is the inode
# that was checked, and copies it into the private staging directory (copy_trusted). Refuses (exit 4) otherwise;
# a local error while writing the copy is an error (exit 1), not a refusal.
stage() {
    local name=$1 min=$2 max=$3 private=${4:-} src=$SOURCE/$1 rc=0
    copy_trusted "$src" "$STAGE/$name" 0 "$min" "$max" "$private" || rc=$?
    case $rc in
        0) ;;
        4) die "$src: $WHY" ;;
        *) refuse "$src: $WHY" ;;
    esac
}

# Names of the files named by `Include` lines of a (staged) Slurm config file, one per line.
# Slurm accepts "Include name" (case-insensitive keyword), names relative to slurm.conf's directory.
include_names() {
    local line keyword target
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%%#*}
        read -r keyword target _ <<<"$line" || true
        if [[ ${keyword,,} == include && -n ${target:-} ]]; then
            target=${target%\"}
            target=${target#\"}
            printf '%s\n' "$target"
        fi
    done <"$1"
}

sha256_of() {
    local sum
    sum=$(sha256sum <"$1")
    printf '%s' "${sum%% *}"
}

# Checks the path from the shared mount point down to $SOURCE, then stages munge.key, slurm.conf and the
# files slurm.conf includes (recursively). Sets CONF_NAMES (includes first, slurm.conf last).
# Sets WAITING_FOR when something is not seeded yet; refuses (exit 4) anything untrusted.
CONF_NAMES=()
WAITING_FOR=""
stage_sources() {
    local rel=${SOURCE#/} shared_root dir part rc
    shared_root=/${rel%/apps/slurm/*}
    [[ $SOURCE =~ ^/.+/apps/slurm/[^/]+$ && $shared_root/apps/slurm/${SOURCE##*/} == "$SOURCE" ]] ||
        die "SLURM_SYNC_SOURCE ($SOURCE) must be <shared mount point>/apps/slurm/<cluster>"
    dir=$shared_root
    for part in "" apps slurm "${SOURCE##*/}"; do
        dir=${dir}${part:+/$part}
        rc=0
        trusted "$dir" dir 0 || rc=$?
        if ((rc == 2)); then
            WAITING_FOR="$SOURCE/munge.key ($dir does not exist yet)"
            return 0
        fi
        ((rc == 0)) || refuse "$dir: $WHY"
    done
    local f
    for f in munge.key slurm.conf; do
        if [[ ! -e $SOURCE/$f && ! -L $SOURCE/$f ]]; then
            WAITING_FOR=$SOURCE/$f
            return 0
        fi
    done

    # Staged copies (the key among them) live in a 0700 directory on tmpfs (/run) when there is one.
    STAGE=$(mktemp -d -p /run slurm-sync.XXXXXX 2>/dev/null || mktemp -d -t slurm-sync.XXXXXX)
    stage munge.key "$KEY_MIN" "$KEY_MAX" private
    stage slurm.conf 1 "$CONF_MAX"
    local -a queue=(slurm.conf) files=()
    local -A seen=([slurm.conf]=1)
    local name
    while ((${#queue[@]} > 0)); do
        f=${queue[0]}
        queue=("${queue[@]:1}")
        while IFS= read -r name; do
            [[ $name =~ ^[A-Za-z0-9_-][A-Za-z0-9._-]*$ && $name != munge.key ]] ||
                refuse "$SOURCE/$f: Include '$name' (only plain file names in the same directory are allowed: no '/', no leading '.')"
            [[ -n ${seen[$name]:-} ]] && continue
            seen[$name]=1
            if [[ ! -e $SOURCE/$name && ! -L $SOURCE/$name ]]; then
                WAITING_FOR="$SOURCE/$name (included by $f)"
                return 0
            fi
            ((${#files[@]} < MAX_FILES)) || refuse "$SOURCE/slurm.conf: more than $MAX_FILES included files"
            stage "$name" 0 "$CONF_MAX"
            files+=("$name")
            queue+=("$name")
        done < <(include_names "$STAGE/$f")
    done
    CONF_NAMES=("${files[@]}" slurm.conf)
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

# The controller check runs as $CHECK_USER, not root: the Slurm client loads plugins from slurm.conf's
# PluginDir, so a slurm.conf written by whoever can write /shared as root must not give them root here.
CHECK_UID=""
CHECK_GID=""
controller_check() {
    timeout "$TIMEOUT" setpriv --reuid="$CHECK_UID" --regid="$CHECK_GID" --clear-groups --no-new-privs -- \
        env -i "PATH=$PATH" "SLURM_CONF=$CONF_DIR/slurm.conf" sinfo --noheader --summarize </dev/null
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
    if [[ $(sha256_of "$KEY_FILE") != "$(sha256_of "$STAGE/munge.key")" ]]; then
        err "munge key mismatch: $KEY_FILE differs from the seeded $SOURCE/munge.key (sha256 differs);" \
            "run slurm-sync-from-shared without --check to install the seeded key"
        return 2
    fi
    log "installed munge key matches the seeded key (sha256)"

    if [[ $check_only == 1 ]]; then
        for name in "${CONF_NAMES[@]}"; do
            if ! cmp -s -- "$STAGE/$name" "$CONF_DIR/$name"; then
                err "$CONF_DIR/$name is not in sync with $SOURCE/$name; run slurm-sync-from-shared without --check"
                return 1
            fi
        done
    fi

    # Ask the controller for something that needs an authenticated RPC.
    rc=0
    out=$(controller_check 2>&1) || rc=$?
    if ((rc == 0)); then
        log "controller accepts this node's munge credentials (sinfo as $CHECK_USER OK)"
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

# The marker: "restart" (munge must be restarted with the installed key) or "verify" (re-check).
mark() {
    mkdir -p -- "$(dirname -- "$STATE_FILE")"
    printf '%s\n' "$1" >"$STATE_FILE"
}

# verify, and remember a failed (or unfinished) verification so that the next run re-checks.
verify_and_record() {
    local rc=0
    verify 0 || rc=$?
    if ((rc == 0 && VERIFY_PENDING == 0)); then
        rm -f -- "$STATE_FILE"
    else
        mark verify
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
    if ! CHECK_UID=$(id -u "$CHECK_USER" 2>/dev/null) || ! CHECK_GID=$(id -g "$CHECK_USER" 2>/dev/null); then
        die "SLURM_SYNC_CHECK_USER '$CHECK_USER' does not exist"
    fi
    ((CHECK_UID != 0)) || die "SLURM_SYNC_CHECK_USER '$CHECK_USER' must not be root (sinfo loads plugins named by slurm.conf)"
    umask 077
    trap cleanup EXIT

    if [[ $check_only == 0 ]]; then
        # One run at a time (timer and boot, or an admin by hand).
        mkdir -p -- "$(dirname -- "$LOCK_FILE")"
        exec 9>"$LOCK_FILE"
        flock -w 120 9 || die "another slurm-sync run holds $LOCK_FILE"
    fi

    stage_sources
    if [[ -n $WAITING_FOR ]]; then
        [[ $check_only == 1 ]] && die "cannot verify: $WAITING_FOR is missing (not seeded yet?)"
        log "waiting for $WAITING_FOR (seeded from the scheduler once the cluster is up)"
        return 0
    fi

    if [[ $check_only == 1 ]]; then
        local rc=0
        verify 1 || rc=$?
        return "$rc"
    fi

    id -u "$MUNGE_OWNER" >/dev/null 2>&1 || die "user '$MUNGE_OWNER' (MUNGE_USER) does not exist; install munge first"
    local munge_group
    munge_group=$(id -gn "$MUNGE_OWNER")

    local key_dir changed_conf=() restart=0 name
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
    install_file "$STAGE/munge.key" "$KEY_FILE" 0400 "$MUNGE_OWNER" "$munge_group"
    if ((INSTALLED == 1)); then
        restart=1
        log "installed munge key $KEY_FILE (owner $MUNGE_OWNER, 0400)"
    elif [[ -f $STATE_FILE && $(<"$STATE_FILE") == restart ]]; then
        restart=1
        log "munge was not restarted with the installed key yet (the last restart failed); retrying"
    fi
    for name in "${CONF_NAMES[@]}"; do
        INSTALLED=0
        install_file "$STAGE/$name" "$CONF_DIR/$name" 0644 root root
        if ((INSTALLED == 1)); then
            changed_conf+=("$name")
        fi
    done
    if ((${#changed_conf[@]} > 0)); then
        log "installed ${changed_conf[*]} into $CONF_DIR"
    fi

    if ((restart == 0 && ${#changed_conf[@]} == 0)); then
        if [[ -e $STATE_FILE ]]; then
            log "nothing changed in $SOURCE; verifying again (the last verification did not pass)"
            local rc=0
            verify_and_record || rc=$?
            return "$rc"
        fi
        log "up to date with $SOURCE"
        return 0
    fi

    if ((restart == 1)); then
        # Recorded first: a failed (or interrupted) restart is retried, and reported, on every later run.
        mark restart
        log "munge key changed: restarting munge ($RESTART_CMD)"
        # fd 9 (the lock) closed: a daemon started by the command must not keep holding it.
        bash -c "$RESTART_CMD" </dev/null 9>&- ||
            die "munge restart failed: $RESTART_CMD (munged may still run with the old key; the next run retries)"
    fi

    local rc=0
    verify_and_record || rc=$?
    return "$rc"
}

main "$@"
