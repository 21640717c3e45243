# shellcheck shell=bash
# trust-lib.sh: the trust check for files root reads from shared storage, sourced (never run) as root by:
#   - slurm-sync-from-shared (components/login/slurm-sync.sh) on the login node, from
#     /usr/local/lib/shared-trust/trust-lib.sh (cloud-init writes it there, root 0644; the script checks it and every
#     directory above it, as root would anything it sources, before sourcing it by that absolute path);
#   - seed-shared.sh on the Slurm scheduler, where nothing is installed: the seed Command sends this text followed by
#     the script as the stdin of `bash -s` (seedScriptText() in components/slurm/seed.ts).
# Sourcing it changes nothing: it only defines functions, reads nothing (neither stdin nor the environment) and sets
# no shell option. The functions never exit, never print and create nothing but the copy they are asked for; they
# work with and without the caller's `set -euo pipefail`. Each caller turns a failure into its own message and exit
# status. Tested once, directly: test/trust-lib.test.ts.
# Helpers:
#   trusted PATH dir|file OWNERS [MIN MAX [private]]        one path: type, owner, mode (and a file's size)
#   copy_trusted SRC DEST OWNERS MIN MAX [private]         a trusted file copied (the checked inode, not a swapped one)

# trusted PATH dir|file OWNERS [MIN MAX [private]]: PATH itself (lstat: a symlink is refused, never followed) is a
# directory / regular file, owned by one of the UIDs in OWNERS (space-separated, e.g. "0" or "0 11101"), not group- or
# world-writable; a file's size is MIN..MAX bytes (both default 0); `private` also refuses any group/other permission.
# Returns 0 and sets TRUSTED_ID (device:inode). Otherwise sets WHY (the reason, without PATH) and returns 2 when PATH
# does not exist or cannot be read, 1 when it is not trustworthy.
# shellcheck disable=SC2034 # TRUSTED_ID, WHY: read by the scripts that source this file
TRUSTED_ID=""
WHY=""
trusted() {
    local path=$1 kind=$2 min=${4:-0} max=${5:-0} private=${6:-} info type uid mode size id expected IFS=$' \t\n'
    local -a uids=()
    read -r -a uids <<<"${3:-}"
    TRUSTED_ID=""
    if ! info=$(stat -c '%F|%u|%a|%s|%d:%i' -- "$path" 2>/dev/null); then
        WHY="does not exist or cannot be read"
        return 2
    fi
    IFS='|' read -r type uid mode size id <<<"$info"
    case $kind:$type in
        dir:directory | "file:regular file" | "file:regular empty file") ;;
        *)
            expected="a regular file"
            if [[ $kind == dir ]]; then expected="a directory"; fi
            WHY="it is a $type, expected $expected (symlinks are never followed)"
            return 1
            ;;
    esac
    if [[ " ${uids[*]} " != *" $uid "* ]]; then
        if [[ ${uids[*]} == 0 ]]; then
            WHY="it is owned by uid $uid, not root"
        else
            WHY="it is owned by uid $uid, expected uid ${uids[*]}"
        fi
        return 1
    fi
    if (((8#$mode & 8#022) != 0)); then
        WHY="it is group- or world-writable (mode $mode)"
        return 1
    fi
    if [[ $private == private ]] && (((8#$mode & 8#077) != 0)); then
        WHY="it is accessible to group or others (mode $mode; only its owner may have access)"
        return 1
    fi
    if [[ $kind == file ]] && ((size < min || size > max)); then
        WHY="its size $size bytes is outside $min..$max"
        return 1
    fi
    TRUSTED_ID=$id
    WHY=""
    return 0
}

# copy_trusted SRC DEST OWNERS MIN MAX [private]: checks SRC (trusted SRC file ...), opens it, makes sure the opened
# file is the inode that was checked, and copies it to DEST (created with the caller's umask; the caller picks a
# private directory). Returns 0 when DEST holds the checked file's bytes. Otherwise sets WHY (without SRC) and returns
# 1 (not trustworthy, or it changed while being read), 2 (does not exist), 3 (cannot be opened) or 4 (DEST could not
# be written: a local error, not the source's fault). A DEST it wrote before failing is left for the caller's cleanup.
copy_trusted() {
    local src=$1 dest=$2 owners=$3 min=$4 max=$5 private=${6:-} fd opened size rc=0
    trusted "$src" file "$owners" "$min" "$max" "$private" || rc=$?
    if ((rc != 0)); then return "$rc"; fi
    if ! exec {fd}<"$src"; then
        WHY="cannot be opened"
        return 3
    fi
    if ! opened=$(stat -L -c '%d:%i' "/dev/fd/$fd") || [[ $opened != "$TRUSTED_ID" ]]; then
        exec {fd}<&-
        WHY="it was replaced while being read"
        return 1
    fi
    if ! cat <&"$fd" >"$dest"; then
        exec {fd}<&-
        WHY="it could not be copied to $dest"
        return 4
    fi
    exec {fd}<&-
    if ! size=$(stat -c %s -- "$dest"); then
        WHY="its copy $dest cannot be read"
        return 4
    fi
    if ((size < min || size > max)); then
        WHY="its size changed while being read"
        return 1
    fi
    WHY=""
    return 0
}
