#!/usr/bin/env bash
# seed-shared.sh — runs on the Slurm scheduler node as root, sent over SSH by the Pulumi remote
# Command (components/slurm/seed.ts: `bash -s -- <cluster> [sched-root] [shared-root]`, script on stdin).
# Not complete by itself: the Command's stdin is components/shared-trust/trust-lib.sh (trusted, copy_trusted: the
# trust check the login node's sync uses too) followed by this file (seedScriptText() in seed.ts). Nothing is
# installed on the scheduler and this script sources nothing.
# Changes: /shared/apps/slurm/<cluster>/ only (and creates /shared/apps, /shared/apps/slurm 0755 root when
# missing). It copies munge.key (0400 root:root) and slurm.conf plus the files its Include lines name,
# recursively (0644 root:root), from /sched/<cluster>/. Nothing else is copied: Include names must be plain
# file names in the same directory (no '/', no leading '.').
# Every file is written atomically (temp file in the destination + rename) and only when it differs,
# so a re-run changes nothing. Prints one line per file with its sha256; never key material, and the key
# is never on a command line (copied by redirection).
#
# Trust, checked by one helper (trusted, of trust-lib.sh) before anything is written:
#   - source: /sched and /sched/<cluster> are directories owned by root; munge.key is a regular file owned by
#     root or munge, slurm.conf and the included files regular files owned by root or slurm (cyclecloud-slurm
#     writes them as those accounts); none group- or world-writable; munge.key 32..1024 bytes (munge's key
#     lengths), config files at most 1 MiB. Symlinks are refused, never followed; each file is opened, checked
#     to be the inode that was checked, and copied to a private staging directory first.
#   - destination: /shared and each existing directory below it down to <cluster> is a directory owned by
#     root, not group- or world-writable, not a symlink.
# Any failure names the path and the reason, writes nothing to /shared and exits 1.
# Residual risk: /sched and /shared are NFS exports without root squash; root on any NFS client can write
# there as root and such files pass these checks. The network rules limit who can be an NFS client.
#
# Exit status: 0 published (or already up to date); 1 any error or refusal (nothing written).
# Usage: seed-shared.sh CLUSTER_CONFIG_DIR [SCHED_ROOT=/sched] [SHARED_ROOT=/shared]
set -euo pipefail

# Size bounds (bytes): munge's key lengths (munge_defs.h MUNGE_KEY_LEN_MIN_BYTES / MUNGE_KEY_LEN_MAX_BYTES;
# munged refuses keys shorter than 32 bytes), and a generous bound for one Slurm config file.
readonly KEY_MIN=32 KEY_MAX=1024 CONF_MAX=1048576 MAX_FILES=64

TMP_FILE=""
STAGE=""

die() {
    echo "seed-shared: ERROR: $*" >&2
    exit 1
}

cleanup() {
    if [[ -n $TMP_FILE && -e $TMP_FILE ]]; then
        rm -f -- "$TMP_FILE"
    fi
    if [[ -n $STAGE && -d $STAGE ]]; then
        rm -rf -- "$STAGE"
    fi
}

# uid_of NAME: the account's uid, or nothing when it does not exist.
uid_of() {
    id -u "$1" 2>/dev/null || true
}

# refuse PATH STATUS: dies naming PATH with the trust library's reason (WHY) for STATUS (its return status).
refuse() {
    case $2 in
        2 | 3) die "$1 $WHY; nothing was written" ;;
        4) die "$1: $WHY; nothing was written" ;;
        *) die "refusing $1: $WHY; nothing was written" ;;
    esac
}

# check PATH dir|file "UID..." [MIN MAX]: the library's trusted for every path this script reads or writes under
# (owned by one of the UIDs); dies naming PATH and the reason otherwise.
check() {
    local rc=0
    trusted "$@" || rc=$?
    if ((rc != 0)); then refuse "$1" "$rc"; fi
}

# stage NAME "UID..." MIN MAX: checks $SRC_DIR/NAME, opens it, makes sure the opened file is the inode
# that was checked, and copies it into the private staging directory (the library's copy_trusted).
stage() {
    local name=$1 owners=$2 min=$3 max=$4 src=$SRC_DIR/$1 rc=0
    copy_trusted "$src" "$STAGE/$name" "$owners" "$min" "$max" || rc=$?
    if ((rc != 0)); then refuse "$src" "$rc"; fi
}

# Prints the names given by `Include` lines of a (staged) Slurm config file, one per line.
# Slurm accepts "Include name" (case-insensitive keyword); relative names are relative to slurm.conf's directory.
include_names() {
    local file=$1 line keyword target
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%%#*}
        read -r keyword target _ <<<"$line" || true
        if [[ ${keyword,,} == include && -n ${target:-} ]]; then
            target=${target%\"}
            target=${target#\"}
            printf '%s\n' "$target"
        fi
    done <"$file"
}

sha256_of() {
    local sum
    sum=$(sha256sum <"$1")
    printf '%s' "${sum%% *}"
}

# install_file SRC DEST MODE: writes DEST (root:root, MODE) from SRC unless it already has that content.
install_file() {
    local src=$1 dest=$2 mode=$3 name state
    name=${dest##*/}
    if [[ -f $dest && ! -L $dest ]] && cmp -s -- "$src" "$dest"; then
        state=unchanged
        if [[ $(stat -c '%a %u %g' -- "$dest") != "${mode#0} 0 0" ]]; then
            chown 0:0 -- "$dest"
            chmod "$mode" -- "$dest"
            state="unchanged (mode/owner fixed)"
        fi
    else
        TMP_FILE=$(mktemp -- "$DEST_DIR/.${name}.seed.XXXXXX")
        cat -- "$src" >"$TMP_FILE"
        chown 0:0 -- "$TMP_FILE"
        chmod "$mode" -- "$TMP_FILE"
        sync -- "$TMP_FILE" 2>/dev/null || true
        mv -f -- "$TMP_FILE" "$dest"
        TMP_FILE=""
        state=written
    fi
    printf 'seed-shared: %-20s sha256=%s mode=%s %s\n' "$name" "$(sha256_of "$dest")" "$mode" "$state"
}

main() {
    declare -F trusted copy_trusted >/dev/null ||
        die "the trust check (trusted, copy_trusted) is not defined: send components/shared-trust/trust-lib.sh followed by this script (seedScriptText() in components/slurm/seed.ts)"
    if (($# < 1 || $# > 3)); then
        die "usage: seed-shared.sh CLUSTER_CONFIG_DIR [SCHED_ROOT=/sched] [SHARED_ROOT=/shared]"
    fi
    local cluster=$1 sched_root=${2:-/sched} shared_root=${3:-/shared}
    [[ $cluster =~ ^[a-z0-9-]+$ ]] || die "cluster config dir name '$cluster' must match ^[a-z0-9-]+\$"
    [[ $sched_root == /* && $shared_root == /* ]] || die "SCHED_ROOT and SHARED_ROOT must be absolute paths"
    [[ $(id -u) -eq 0 ]] || die "must run as root (it writes root-owned files under $shared_root)"

    SRC_DIR=$sched_root/$cluster
    DEST_DIR=$shared_root/apps/slurm/$cluster
    umask 077
    trap cleanup EXIT
    local key_owners conf_owners
    key_owners="0 $(uid_of munge)"
    conf_owners="0 $(uid_of slurm)"

    # 1. Check every path and stage every source before writing anything.
    [[ -d $shared_root ]] || die "shared root $shared_root does not exist (is the NFS share mounted?)"
    [[ -d $SRC_DIR ]] || die "source directory $SRC_DIR not found (is cyclecloud-slurm 4.x installed and the cluster named '$cluster'?)"
    local d=$shared_root part
    check "$d" dir 0
    for part in apps slurm "$cluster"; do
        d=$d/$part
        if [[ -e $d || -L $d ]]; then
            check "$d" dir 0
        fi
    done
    check "$sched_root" dir 0
    check "$SRC_DIR" dir 0
    local f
    for f in munge.key slurm.conf; do
        [[ -e $SRC_DIR/$f || -L $SRC_DIR/$f ]] || die "required file $SRC_DIR/$f is missing; nothing was written to $shared_root"
    done
    # Staged copies (the key among them) live in a 0700 directory on tmpfs (/run) when there is one.
    STAGE=$(mktemp -d -p /run seed-shared.XXXXXX 2>/dev/null || mktemp -d -t seed-shared.XXXXXX)
    stage munge.key "$key_owners" "$KEY_MIN" "$KEY_MAX"
    stage slurm.conf "$conf_owners" 1 "$CONF_MAX"

    # slurm.conf's includes, followed recursively (an included file may include others).
    local -a files=() queue=(slurm.conf)
    local -A seen=([slurm.conf]=1)
    local name
    while ((${#queue[@]} > 0)); do
        f=${queue[0]}
        queue=("${queue[@]:1}")
        while IFS= read -r name; do
            [[ $name =~ ^[A-Za-z0-9_-][A-Za-z0-9._-]*$ && $name != munge.key ]] ||
                die "refusing Include '$name' in $SRC_DIR/$f: only plain file names in the same directory are allowed (no '/', no leading '.'); nothing was written to $shared_root"
            [[ -n ${seen[$name]:-} ]] && continue
            [[ -e $SRC_DIR/$name || -L $SRC_DIR/$name ]] ||
                die "file $SRC_DIR/$name (named by an Include line in $f) is missing; nothing was written to $shared_root"
            ((${#files[@]} < MAX_FILES)) || die "refusing $SRC_DIR/slurm.conf: more than $MAX_FILES included files"
            stage "$name" "$conf_owners" 0 "$CONF_MAX"
            seen[$name]=1
            files+=("$name")
            queue+=("$name")
        done < <(include_names "$STAGE/$f")
    done

    # 2. Write: key first, included files next, slurm.conf last, so a reader that sees the new
    #    slurm.conf also sees what it includes.
    # Missing directories are created 0755 root (the files carry their own modes; the key stays 0400 root).
    d=$shared_root
    for part in apps slurm "$cluster"; do
        d=$d/$part
        if [[ ! -d $d ]]; then
            mkdir -m 0755 -- "$d"
            chown 0:0 -- "$d"
        fi
    done
    install_file "$STAGE/munge.key" "$DEST_DIR/munge.key" 0400
    for name in "${files[@]}"; do
        install_file "$STAGE/$name" "$DEST_DIR/$name" 0644
    done
    install_file "$STAGE/slurm.conf" "$DEST_DIR/slurm.conf" 0644
    echo "seed-shared: $DEST_DIR is up to date ($((${#files[@]} + 2)) files)"
}

# Everything is inside functions and stdin is closed for them: when bash reads this script from
# stdin (`bash -s`), no command can swallow the rest of the script.
main "$@" </dev/null
