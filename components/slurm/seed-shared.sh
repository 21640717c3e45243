#!/usr/bin/env bash
# seed-shared.sh — runs on the Slurm scheduler node as root, sent over SSH by the Pulumi remote
# Command (components/slurm/seed.ts: `bash -s -- <cluster> [sched-root] [shared-root]`, script on stdin).
# Changes: /shared/apps/slurm/<cluster>/ only. It copies munge.key (0400 root:root) and slurm.conf plus
# every file slurm.conf includes and the other cyclecloud-slurm 4.x config files present
# (gres.conf, cgroup.conf, topology.conf, plugstack.conf, ...; 0644 root:root) from /sched/<cluster>/.
# Every file is written atomically (temp file in the destination + rename) and only when it differs,
# so a re-run changes nothing. All sources are checked before anything is written: a missing one fails
# the run and leaves /shared untouched. Prints one line per file with its sha256; never key material.
#
# Usage: seed-shared.sh CLUSTER_CONFIG_DIR [SCHED_ROOT=/sched] [SHARED_ROOT=/shared]
set -euo pipefail

# Files cyclecloud-slurm 4.x may keep next to slurm.conf; copied when present even if not included
# (Slurm reads gres.conf, cgroup.conf, topology.conf and plugstack.conf from slurm.conf's directory).
KNOWN_FILES=(azure.conf accounting.conf keep_alive.conf site_specific.conf gres.conf cgroup.conf topology.conf plugstack.conf)

TMP_FILE=""

die() {
    echo "seed-shared: ERROR: $*" >&2
    exit 1
}

cleanup() {
    if [[ -n $TMP_FILE && -e $TMP_FILE ]]; then
        rm -f -- "$TMP_FILE"
    fi
}

# Prints the file names named by `Include` lines of a Slurm config file, one per line.
# Slurm accepts "Include name" (case-insensitive keyword); relative names are relative to slurm.conf's
# directory. Absolute paths are mapped to their base name in the source directory, which is where
# cyclecloud-slurm keeps every file (and where the login node gets them).
include_names() {
    local file=$1 line keyword target
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%%#*}
        read -r keyword target _ <<<"$line" || true
        if [[ ${keyword,,} == include && -n ${target:-} ]]; then
            target=${target%\"}
            target=${target#\"}
            printf '%s\n' "${target##*/}"
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
    if (($# < 1 || $# > 3)); then
        die "usage: seed-shared.sh CLUSTER_CONFIG_DIR [SCHED_ROOT=/sched] [SHARED_ROOT=/shared]"
    fi
    local cluster=$1 sched_root=${2:-/sched} shared_root=${3:-/shared}
    [[ $cluster =~ ^[a-z0-9-]+$ ]] || die "cluster config dir name '$cluster' must match ^[a-z0-9-]+\$"
    [[ $sched_root == /* && $shared_root == /* ]] || die "SCHED_ROOT and SHARED_ROOT must be absolute paths"
    [[ $(id -u) -eq 0 ]] || die "must run as root (it writes root-owned files under $shared_root)"

    local src_dir=$sched_root/$cluster
    DEST_DIR=$shared_root/apps/slurm/$cluster
    trap cleanup EXIT

    # 1. Check every source before writing anything.
    [[ -d $shared_root ]] || die "shared root $shared_root does not exist (is the NFS share mounted?)"
    [[ -d $src_dir ]] || die "source directory $src_dir not found (is cyclecloud-slurm 4.x installed and the cluster named '$cluster'?)"
    local f
    for f in munge.key slurm.conf; do
        [[ -f $src_dir/$f && -r $src_dir/$f ]] || die "required file $src_dir/$f is missing or unreadable; nothing was written to $shared_root"
    done

    # slurm.conf's includes, followed recursively (an included file may include others).
    local -a files=() queue=(slurm.conf)
    local -A seen=([slurm.conf]=1)
    local name
    while ((${#queue[@]} > 0)); do
        f=${queue[0]}
        queue=("${queue[@]:1}")
        while IFS= read -r name; do
            [[ $name =~ ^[A-Za-z0-9._-]+$ && $name != munge.key && $name != .* ]] ||
                die "unsupported Include target '$name' in $src_dir/$f; nothing was written to $shared_root"
            [[ -n ${seen[$name]:-} ]] && continue
            [[ -f $src_dir/$name && -r $src_dir/$name ]] ||
                die "file $src_dir/$name (named by an Include line in $f) is missing; nothing was written to $shared_root"
            seen[$name]=1
            files+=("$name")
            queue+=("$name")
        done < <(include_names "$src_dir/$f")
    done
    for name in "${KNOWN_FILES[@]}"; do
        if [[ -z ${seen[$name]:-} && -f $src_dir/$name ]]; then
            seen[$name]=1
            files+=("$name")
        fi
    done

    # 2. Write: key first, included files next, slurm.conf last, so a reader that sees the new
    #    slurm.conf also sees what it includes.
    umask 077
    # Missing directories are created 0755 (the files carry their own modes; the key stays 0400 root).
    local d=$shared_root part
    for part in apps slurm "$cluster"; do
        d=$d/$part
        [[ -d $d ]] || mkdir -m 0755 -- "$d"
    done
    install_file "$src_dir/munge.key" "$DEST_DIR/munge.key" 0400
    for name in "${files[@]}"; do
        install_file "$src_dir/$name" "$DEST_DIR/$name" 0644
    done
    install_file "$src_dir/slurm.conf" "$DEST_DIR/slurm.conf" 0644
    echo "seed-shared: $DEST_DIR is up to date ($((${#files[@]} + 2)) files)"
}

# Everything is inside functions and stdin is closed for them: when bash reads this script from
# stdin (`bash -s`), no command can swallow the rest of the script.
main "$@" </dev/null
