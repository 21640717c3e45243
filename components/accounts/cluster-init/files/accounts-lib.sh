# shellcheck shell=bash
# accounts-lib.sh: sourced (never run) as root by cluster-account-publish (the login node) and cluster-accounts-apply
# (every cluster node), from /usr/local/lib/cluster-accounts/accounts-lib.sh: installed root:root 0644 by
# install-login.sh on the login node (cloud-init writes it) and by the cluster-init script 010-cluster-accounts.sh on
# the nodes (the cluster-init project carries it). Sourcing it changes nothing: it only defines functions and reads
# nothing from the environment. Each caller first cleans its environment (`bash -p`, re-executed under `env -i`) and
# checks this file and every directory above it (a regular file, no symlink, root-owned, not group/world-writable)
# before sourcing it by that absolute path; never from /shared. The caller defines `fail MESSAGE` (prints, exits 1).
# Helpers:
#   settings_load FILE KEY...      the root-owned settings file, KEY=VALUE data, never sourced
#   settings_numbers WHERE NAME... settings_paths WHERE NAME...   value checks (WHERE: text after the value)
#   settings_service_accounts      ACCOUNTS_SERVICE_ACCOUNTS (name:UID,...) into SERVICE_UID
#   trusted PATH dir|file          one path: type, owner root, not group/world-writable, not a symlink
#   trust_chain ROOT TARGET check|create PREFIX   every directory from the trust root (the /shared mount) to TARGET

# settings_load FILE KEY...: unsets each KEY, then sets those that FILE gives as KEY=VALUE lines (other lines and keys
# ignored; values taken verbatim, never evaluated). A missing FILE leaves every KEY unset; a FILE that is not a regular
# file, not owned by root or group/world-writable is refused (fail) and nothing is used.
settings_load() {
    local file=$1 key value k owner mode
    shift
    unset "$@"
    if [[ -e $file || -L $file ]]; then
        [[ -f $file && ! -L $file ]] || fail "$file is not a regular file"
        read -r owner mode < <(stat -c '%u %a' -- "$file")
        [[ $owner == 0 ]] || fail "$file is owned by UID $owner, not root; not using it"
        (( (8#$mode & 8#022) == 0 )) || fail "$file is group- or world-writable (mode $mode); not using it"
        while IFS='=' read -r key value; do
            [[ $key =~ ^[A-Z_]+$ ]] || continue
            for k in "$@"; do
                if [[ $k == "$key" ]]; then printf -v "$k" '%s' "$value"; fi
            done
        done <"$file"
    fi
}

# settings_numbers WHERE NAME...: each setting a decimal of 1 to 10 digits, else fail "setting NAME=VALUE<WHERE> is not
# a number". settings_paths WHERE NAME...: each an absolute path of plain components ([A-Za-z0-9_.-]).
settings_numbers() {
    local where=$1 n
    shift
    for n in "$@"; do
        [[ ${!n} =~ ^[0-9]{1,10}$ ]] || fail "setting $n=${!n}$where is not a number"
    done
}
settings_paths() {
    local where=$1 n
    shift
    for n in "$@"; do
        [[ ${!n} =~ ^(/[A-Za-z0-9_.-]+)+$ ]] || fail "setting $n=${!n}$where is not an absolute path"
    done
}

# ACCOUNTS_SERVICE_ACCOUNTS, name:UID[,name:UID...]: the only accounts without a UPN the registry takes (e.g.
# slurm-readiness:19990), into the global SERVICE_UID[name]=UID.
# shellcheck disable=SC2034 # SERVICE_UID: used by the scripts that source this file
settings_service_accounts() {
    local item IFS=$' \t\n'
    unset SERVICE_UID
    declare -gA SERVICE_UID=()
    for item in ${ACCOUNTS_SERVICE_ACCOUNTS//,/ }; do
        [[ $item =~ ^([a-z_][a-z0-9_-]{0,31}):([1-9][0-9]{0,9})$ ]] ||
            fail "setting ACCOUNTS_SERVICE_ACCOUNTS: '$item' is not name:UID (a lower-case system name and a decimal UID)"
        SERVICE_UID[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
    done
}

# trusted PATH dir|file: exists, not a symlink, the expected type, owned by root, not group/world-writable. Otherwise
# prints why (naming PATH) and returns 1.
trusted() {
    local p=$1 kind=$2 owner mode type IFS=$' \t\n'
    [[ -L $p ]] && { echo "$p is a symlink"; return 1; }
    [[ -e $p ]] || { echo "$p does not exist"; return 1; }
    read -r owner mode type < <(stat -c '%u %a %F' -- "$p")
    [[ $kind == dir && $type != directory ]] && { echo "$p is not a directory"; return 1; }
    [[ $kind == file && $type != "regular file" && $type != "regular empty file" ]] && { echo "$p is not a regular file"; return 1; }
    [[ $owner == 0 ]] || { echo "$p is owned by UID $owner, not root"; return 1; }
    (( (8#$mode & 8#022) == 0 )) || { echo "$p is group- or world-writable (mode $mode)"; return 1; }
}

# trust_chain ROOT TARGET check|create PREFIX: ROOT and every directory below it down to TARGET are trusted (dir), else
# fail "PREFIX: <why>"; TARGET outside ROOT fails too. `create` (the login node, which writes the registry) makes a
# missing directory root 0755 first and checks each directory once per run (CHECKED_DIR); `check` (the nodes, which
# only read) creates nothing and checks every time.
unset CHECKED_DIR
declare -A CHECKED_DIR=()
trust_chain() {
    local root=$1 target=$2 mode=$3 prefix=$4 rel p why part
    case $target in "$root" | "$root"/*) ;; *) fail "$target is not under $root" ;; esac
    if [[ $mode != create || -z ${CHECKED_DIR[$root]:-} ]]; then
        why=$(trusted "$root" dir) || fail "$prefix: $why"
        [[ $mode != create ]] || CHECKED_DIR[$root]=1
    fi
    rel=${target#"$root"}
    p=$root
    local IFS=/
    for part in $rel; do
        [[ -n $part ]] || continue
        p=$p/$part
        if [[ $mode == create ]]; then
            [[ -z ${CHECKED_DIR[$p]:-} ]] || continue
            if [[ ! -e $p && ! -L $p ]]; then mkdir -m 0755 -- "$p" && chown 0:0 -- "$p"; fi
        fi
        why=$(trusted "$p" dir) || fail "$prefix: $why"
        [[ $mode != create ]] || CHECKED_DIR[$p]=1
    done
}
