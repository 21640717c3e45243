#!/usr/bin/env bash
# Runs on the login node as root, installed as /usr/local/sbin/cluster-account-publish (by install-login.sh):
#   - from sshd's PAM session stack (pam_exec, PAM_USER/PAM_TYPE set) at every sign-in;
#   - by an admin: --user NAME (publish or re-activate), --revoke NAME; by anyone: --status (own account).
# Changes: $ACCOUNTS_REGISTRY/users/<UID> (the registry entry, written atomically, root:root 0644), the user's home
# $SHARED_HOME/<name> (created from /etc/skel if missing, owned by the user, 0700) and /home/<name> (a symlink to it
# when the account's home is /home/<name> and nothing is there). Never deletes anything a user may need.
# The user is resolved with `getent passwd` only (Entra accounts come from the extension's NSS module, not
# /etc/passwd). Settings: /etc/default/cluster-accounts (KEY=VALUE data, never sourced); environment overrides.
#
# Registry entry format (data only, never sourced or executed), file users/<UID>, <= 1024 bytes:
#   name=<login name>  uid=<UID>  gid=<GID>  home=/home/<name>|$SHARED_HOME/<name>  state=active|revoked  serial=<n>
# one KEY=VALUE per line. The scheduler answers in status/<UID>: name= uid= serial= result=applied|revoked|refused reason=
set -euo pipefail
umask 022
export LC_ALL=C

prog=cluster-account-publish
SETTINGS_KEYS=(ACCOUNTS_REGISTRY ACCOUNTS_TRUST_ROOT SHARED_HOME ACCOUNTS_UID_MIN ACCOUNTS_UID_MAX ACCOUNTS_ACK_WAIT)

# KEY=VALUE lines of the settings file, read as data; a variable already in the environment wins.
load_settings() {
    local file=${ACCOUNTS_SETTINGS:-/etc/default/cluster-accounts} key value k
    if [[ -f $file ]]; then
        while IFS='=' read -r key value; do
            [[ $key =~ ^[A-Z_]+$ ]] || continue
            for k in "${SETTINGS_KEYS[@]}"; do
                if [[ $k == "$key" && -z ${!k+x} ]]; then printf -v "$k" '%s' "$value"; fi
            done
        done <"$file"
    fi
    ACCOUNTS_REGISTRY=${ACCOUNTS_REGISTRY:-/shared/apps/accounts}
    ACCOUNTS_TRUST_ROOT=${ACCOUNTS_TRUST_ROOT:-/shared}
    SHARED_HOME=${SHARED_HOME:-/shared/home}
    ACCOUNTS_UID_MIN=${ACCOUNTS_UID_MIN:-65536}
    ACCOUNTS_UID_MAX=${ACCOUNTS_UID_MAX:-4294967293}
    ACCOUNTS_ACK_WAIT=${ACCOUNTS_ACK_WAIT:-30}
    local n
    for n in ACCOUNTS_UID_MIN ACCOUNTS_UID_MAX ACCOUNTS_ACK_WAIT; do
        [[ ${!n} =~ ^[0-9]{1,10}$ ]] || fail "setting $n=${!n} is not a number"
    done
}

log() { logger -t "$prog" -- "$*" 2>/dev/null || true; }
# One line for the user (pam_exec stdout shows it in the session), the same line in syslog.
tell() { echo "cluster accounts: $*"; log "$*"; }
fail() { echo "$prog: $*" >&2; log "error: $*"; exit 1; }

valid_name() { [[ ${#1} -le 128 && $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*(@[A-Za-z0-9][A-Za-z0-9.-]*)?$ ]]; }

# Trusted: exists, not a symlink, the expected type, owned by root, not group/world-writable.
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

# Every directory from the trust root (the /shared mount point) down to $1; missing ones are created root 0755.
ensure_trusted_dir() {
    local target=$1 rel p why
    case $target in "$ACCOUNTS_TRUST_ROOT" | "$ACCOUNTS_TRUST_ROOT"/*) ;; *) fail "$target is not under $ACCOUNTS_TRUST_ROOT" ;; esac
    why=$(trusted "$ACCOUNTS_TRUST_ROOT" dir) || fail "refusing: $why"
    rel=${target#"$ACCOUNTS_TRUST_ROOT"}
    p=$ACCOUNTS_TRUST_ROOT
    local IFS=/ part
    for part in $rel; do
        [[ -n $part ]] || continue
        p=$p/$part
        if [[ ! -e $p && ! -L $p ]]; then mkdir -m 0755 -- "$p" && chown 0:0 -- "$p"; fi
        why=$(trusted "$p" dir) || fail "refusing: $why"
    done
}

# Reads entry file $1 into E_name E_uid E_gid E_home E_state E_serial (data only).
read_entry() {
    E_name='' E_uid='' E_gid='' E_home='' E_state='' E_serial=''
    local key value
    while IFS='=' read -r key value; do
        case $key in
            name | uid | gid | home | state | serial) printf -v "E_$key" '%s' "$value" ;;
        esac
    done <"$1"
}

status_value() { # file key
    local key value
    [[ -f $1 && ! -L $1 ]] || return 0
    while IFS='=' read -r key value; do
        if [[ $key == "$2" ]]; then printf '%s' "$value"; return 0; fi
    done <"$1"
}

# name -> UID file of its entry (exact match of the name line), if any.
entry_for_name() {
    local f
    for f in "$ACCOUNTS_REGISTRY"/users/*; do
        [[ -f $f && ! -L $f ]] || continue
        if grep -qxF -- "name=$1" "$f"; then echo "$f"; return 0; fi
    done
    return 1
}

write_entry() { # file name uid gid home state
    local tmp
    tmp=$(mktemp "$ACCOUNTS_REGISTRY/users/.tmp.XXXXXX")
    printf 'name=%s\nuid=%s\ngid=%s\nhome=%s\nstate=%s\nserial=%s\n' "$2" "$3" "$4" "$5" "$6" "$(date +%s%N)" >"$tmp"
    chmod 0644 -- "$tmp"
    chown 0:0 -- "$tmp"
    mv -fT -- "$tmp" "$1"
}

# True if directory $1 holds nothing but unchanged copies of /etc/skel files (what a home-creating
# PAM module or the extension would have put there): replacing it loses nothing the user made.
only_skel_copies() {
    local f rel
    while IFS= read -r -d '' f; do
        rel=${f#"$1"/}
        [[ -f /etc/skel/$rel && ! -L $f ]] && cmp -s -- "$f" "/etc/skel/$rel" || return 1
    done < <(find "$1" -mindepth 1 ! -type d -print0)
    return 0
}

ensure_home() { # name uid gid home
    local name=$1 uid=$2 gid=$3 home=$4 shared="$SHARED_HOME/$1" owner why
    ensure_trusted_dir "$SHARED_HOME"
    if [[ -L $shared ]]; then
        tell "your home $shared is a symlink; not touching it (ask an admin)"
        return 1
    elif [[ ! -e $shared ]]; then
        mkdir -m 0700 -- "$shared"
        cp -a /etc/skel/. "$shared"/ 2>/dev/null || true
        chmod 0700 -- "$shared"
        chown -hR "$uid:$gid" -- "$shared"
        log "created home $shared for $name (uid $uid)"
    else
        owner=$(stat -c %u -- "$shared")
        if [[ $owner != "$uid" ]]; then
            tell "home $shared belongs to UID $owner, not to you ($uid); not using it (ask an admin)"
            return 1
        fi
    fi
    [[ $home == "/home/$name" ]] || return 0
    if [[ -L $home ]]; then
        [[ $(readlink -- "$home") == "$shared" ]] || tell "warning: $home is a symlink to $(readlink -- "$home"), not to $shared"
    elif [[ ! -e $home ]]; then
        ln -s -- "$shared" "$home"
    elif [[ -d $home ]] && only_skel_copies "$home"; then
        # Created empty (or from /etc/skel) by someone else at sign-in: replace it by the link to the shared home.
        why=$(mktemp -d "/home/.cluster-accounts.XXXXXX")
        mv -T -- "$home" "$why/old" && ln -s -- "$shared" "$home" && rm -rf -- "$why"
        log "replaced fresh local home $home by a symlink to $shared"
    else
        tell "warning: $home is a local directory, not your shared home $shared; jobs run in $shared on the cluster"
    fi
}

wait_ack() { # uid serial
    local status="$ACCOUNTS_REGISTRY/status/$1" deadline result
    deadline=$(( $(date +%s) + ACCOUNTS_ACK_WAIT ))
    while :; do
        if [[ $(status_value "$status" serial) == "$2" ]]; then
            result=$(status_value "$status" result)
            case $result in
                applied) return 0 ;;
                refused) tell "the cluster refused your account: $(status_value "$status" reason) (ask an admin)"; return 0 ;;
                revoked) tell "your cluster account is revoked"; return 0 ;;
            esac
        fi
        if (( $(date +%s) >= deadline )); then
            tell "the scheduler has not confirmed your account yet; jobs you submit start once it has (usually seconds)"
            return 0
        fi
        sleep 0.2
    done
}

publish() { # name explicit(0|1)
    local name=$1 explicit=$2 line pw_name pw_x uid gid gecos home shell entry existing
    if ! line=$(getent passwd -- "$name"); then
        (( explicit )) && fail "no such user: $name"
        exit 0
    fi
    IFS=: read -r pw_name pw_x uid gid gecos home shell <<<"$line"
    : "$pw_x" "$gecos" "$shell"
    if ! [[ $uid =~ ^[0-9]+$ ]] || (( uid < ACCOUNTS_UID_MIN || uid > ACCOUNTS_UID_MAX )); then
        # The local admin, system and CycleCloud accounts: not ours to publish.
        (( explicit )) && fail "$name has UID $uid, outside ACCOUNTS_UID_MIN..ACCOUNTS_UID_MAX ($ACCOUNTS_UID_MIN..$ACCOUNTS_UID_MAX)"
        exit 0
    fi
    if ! valid_name "$pw_name" || [[ $pw_name != "$name" ]]; then
        tell "your login name is not one the cluster accepts; ask an admin"
        exit 0
    fi
    if ! [[ $gid =~ ^[0-9]+$ ]] || (( gid < ACCOUNTS_UID_MIN || gid > ACCOUNTS_UID_MAX )); then
        tell "your primary group $gid is outside the accepted range; ask an admin"
        exit 0
    fi
    if [[ $home != "/home/$name" && $home != "$SHARED_HOME/$name" ]]; then
        tell "your home $home is not /home/$name or $SHARED_HOME/$name; ask an admin"
        exit 0
    fi
    ensure_trusted_dir "$ACCOUNTS_REGISTRY/users"
    entry="$ACCOUNTS_REGISTRY/users/$uid"
    if [[ -e $entry || -L $entry ]]; then
        why=$(trusted "$entry" file) || { tell "registry entry for UID $uid is not trustworthy ($why); ask an admin"; exit 0; }
        read_entry "$entry"
        if [[ $E_name != "$name" ]]; then
            tell "UID $uid is already registered to another name; refused (ask an admin)"
            exit 0
        fi
        if [[ $E_state == revoked ]] && (( ! explicit )); then
            tell "your cluster account is revoked; ask an admin"
            exit 0
        fi
    fi
    if existing=$(entry_for_name "$name") && [[ $existing != "$entry" ]]; then
        tell "the name $name is already registered with UID ${existing##*/}; refused (ask an admin)"
        exit 0
    fi
    ensure_home "$name" "$uid" "$gid" "$home" || true
    if [[ -f $entry && $E_uid == "$uid" && $E_gid == "$gid" && $E_home == "$home" && $E_state == active ]]; then
        : # unchanged: no write, the scheduler has nothing to do
    else
        write_entry "$entry" "$name" "$uid" "$gid" "$home" active
        log "published $name (uid $uid)"
    fi
    read_entry "$entry"
    (( ACCOUNTS_ACK_WAIT > 0 )) && wait_ack "$uid" "$E_serial"
    return 0
}

revoke() { # name
    local entry
    ensure_trusted_dir "$ACCOUNTS_REGISTRY/users"
    entry=$(entry_for_name "$1") || fail "no registry entry for $1"
    why=$(trusted "$entry" file) || fail "refusing: $why"
    read_entry "$entry"
    if [[ $E_state == revoked ]]; then echo "$1 is already revoked"; return 0; fi
    write_entry "$entry" "$E_name" "$E_uid" "$E_gid" "$E_home" revoked
    log "revoked $1 (uid $E_uid)"
    echo "revoked $1 (uid $E_uid); cluster nodes apply it within a minute, the scheduler within seconds"
}

show_status() {
    local uid entry status
    uid=$(id -u)
    entry="$ACCOUNTS_REGISTRY/users/$uid"
    status="$ACCOUNTS_REGISTRY/status/$uid"
    if [[ ! -f $entry ]]; then echo "cluster accounts: no registry entry for UID $uid"; return 1; fi
    read_entry "$entry"
    # The signed-in name (LOGNAME, set by sshd) if it is this UID's; two names can share a UID in NSS.
    local me=${LOGNAME:-}
    if [[ -z $me || $(getent passwd -- "$me" | cut -d: -f3) != "$uid" ]]; then me=$(id -un 2>/dev/null || true); fi
    if [[ $E_name != "$me" ]]; then
        echo "cluster accounts: your UID $uid is registered to another name; refused (ask an admin)"
        return 1
    fi
    if [[ $(status_value "$status" serial) != "$E_serial" ]]; then
        echo "cluster accounts: $E_name (uid $uid) $E_state, not yet confirmed by the scheduler"
        return 0
    fi
    echo "cluster accounts: $E_name (uid $uid) $(status_value "$status" result) $(status_value "$status" reason)"
}

main() {
    load_settings
    case ${1:-} in
        --status) show_status; return ;;
        --user | --revoke)
            [[ $# -eq 2 ]] || fail "usage: $prog [--user NAME | --revoke NAME | --status]"
            [[ $EUID -eq 0 ]] || fail "must run as root"
            if [[ $1 == --user ]]; then publish "$2" 1; else revoke "$2"; fi
            return ;;
        "") ;;
        *) fail "usage: $prog [--user NAME | --revoke NAME | --status]" ;;
    esac
    # From PAM: only when a session opens, only as root.
    [[ ${PAM_TYPE:-} == open_session && -n ${PAM_USER:-} ]] || exit 0
    [[ $EUID -eq 0 ]] || exit 0
    publish "$PAM_USER" 0
}

main "$@"
