#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# users.sh: runs as root on the CycleCloud server, sent by the remote Command in cluster.ts:
# `sudo -n bash -s`, with lib.sh and this script on stdin after a preamble that exports
#   CC_USER_RECORDS  the AuthenticatedUser + Credential records of every configured user (record syntax,
#                    rendered by renderUserRecords in cluster.ts: name, UID, SSH public key, node roles)
#   CC_MANAGED_USERS the configured user names, space-separated
# Applies them idempotently: users this script managed before but no longer configured get a record that
# takes their node access away. Nothing is imported when the wanted records equal the last applied ones
# and every user exists. State (who is managed, digest of the last import) lives in CC_STATE_DIR.
# Env overrides (tests): CYCLE_SERVER, CC_DATA_DIR, CC_STATE_DIR, CC_WAIT_TIMEOUT, CC_WAIT_INTERVAL,
# CC_CYCLE_SERVER_USER.
set -euo pipefail
SCRIPT_NAME=users
if ! declare -F die >/dev/null; then
    # shellcheck source=lib.sh
    . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi

data_dir=${CC_DATA_DIR:-/opt/cycle_server/config/data}
state_dir=${CC_STATE_DIR:-/opt/cycle_server/config/pulumi}
records_in=${CC_USER_RECORDS-}
read -r -a wanted <<<"${CC_MANAGED_USERS:-}"
umask 077
mkdir -p "$state_dir"

previous=()
if [[ -r $state_dir/users ]]; then
    read -r -a previous <"$state_dir/users"
fi

removed=()
for name in "${previous[@]}"; do
    keep=false
    for w in "${wanted[@]}"; do
        [[ $w == "$name" ]] && keep=true
    done
    $keep || removed+=("$name")
done

records=$records_in
for name in "${removed[@]}"; do
    records+=$'\n'"AdType = \"AuthenticatedUser\""$'\n'"Name = $(record_quote "$name")"$'\n'"Roles = {\"User\"}"$'\n'"NodeAccessDisabled = true"$'\n'
done
digest=$(printf '%s' "$records" | sha256sum | cut -d' ' -f1)

user_exists() {
    cs_has "select Name from AuthenticatedUser where Name==\"$1\""
}

all_present() {
    local u
    for u in "${wanted[@]}"; do
        user_exists "$u" || return 1
    done
}

imported() {
    all_present && [[ ! -e $data_dir/pulumi-users.txt ]]
}

if [[ -r $state_dir/users.sha256 && $(<"$state_dir/users.sha256") == "$digest" ]] && all_present; then
    log "users unchanged: ${wanted[*]:-none}"
    exit 0
fi

if [[ -n ${records//[[:space:]]/} ]]; then
    [[ -d $data_dir ]] || die "record directory $data_dir does not exist (is this a CycleCloud 8 server?)"
    tmp=$(mktemp "$data_dir/.pulumi-users.XXXXXX")
    printf '%s\n' "$records" >"$tmp"
    chmod 0600 "$tmp"
    owner=${CC_CYCLE_SERVER_USER:-cycle_server}
    if id "$owner" >/dev/null 2>&1; then
        chown "$owner:$owner" "$tmp"
    fi
    mv -f "$tmp" "$data_dir/pulumi-users.txt"
    wait_until "CycleCloud to import the user records" 600 imported
    rm -f -- "$data_dir"/pulumi-users.txt.*
fi

printf '%s\n' "${wanted[*]}" >"$state_dir/users"
printf '%s\n' "$digest" >"$state_dir/users.sha256"
log "users applied: ${wanted[*]:-none}; node access removed: ${removed[*]:-none}"
