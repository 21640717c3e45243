#!/bin/bash -p
# Runs on the login node as root, installed as /usr/local/sbin/cluster-account-publish (by install-login.sh):
#   - from sshd's PAM session stack (pam_exec type=open_session, PAM_USER/PAM_TYPE set) at every sign-in;
#   - by an admin: --user NAME (publish or re-activate), --revoke NAME, --rename OLD NEW (a changed UPN keeps its
#     UID and home), --restore (write the registered users' records into the Entra extension's /etc/aadpasswd, run by
#     install-login.sh at every boot so a rebuilt login node gives returning users their old UIDs);
#   - by anyone: --status (own account).
# Changes: $ACCOUNTS_REGISTRY/users/<UID> (the registry entry, written atomically, root:root 0644), the name index
# $ACCOUNTS_REGISTRY/names/ and objectId index oids/, the user's shared home (created from /etc/skel if missing, owned
# by the user, 0700), the NSS home path as a symlink to it when that path is free (or holds only fresh /etc/skel
# copies), and lines of $ACCOUNTS_AADPASSWD (only for --restore, --rename, and to give a registered user back the
# registered UID). Never deletes anything a user may need.
# The user is resolved with `getent passwd` only (Entra accounts come from the extension's NSS module).
# Nothing is taken from the caller's environment: `bash -p` ignores BASH_ENV, ENV, SHELLOPTS and exported
# functions, and the script re-executes itself with an empty environment (PATH fixed; only PAM_TYPE, PAM_USER and
# LOGNAME kept, as data). Settings come only from /etc/default/cluster-accounts (root-owned, not writable by others,
# KEY=VALUE data, never sourced). The PAM hook's run time is bounded (ACCOUNTS_HOOK_TIMEOUT): the part that touches
# /shared runs in a child whose output goes to a local file, never to pam_exec's pipe.
# Registry format: components/accounts/README.md ("Registry format").
set -euo pipefail
readonly SAFE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# An empty environment but for the PAM data: re-executed once when anything else is exported.
env_clean() {
    local v
    [[ ${PATH:-} == "$SAFE_PATH" ]] || return 1
    for v in $(compgen -e); do
        case $v in PATH | PWD | OLDPWD | SHLVL | _ | PAM_TYPE | PAM_USER | LOGNAME | CAP_REEXEC) ;; *) return 1 ;; esac
    done
    ! shopt -oq posix
}
if ! env_clean; then
    [[ -z ${CAP_REEXEC:-} ]] || { echo "cluster-account-publish: the environment is not clean after re-executing" >&2; exit 1; }
    exec /usr/bin/env -i PATH="$SAFE_PATH" CAP_REEXEC=1 ${PAM_TYPE+PAM_TYPE="$PAM_TYPE"} ${PAM_USER+PAM_USER="$PAM_USER"} \
        ${LOGNAME+LOGNAME="$LOGNAME"} /bin/bash -p -- "${BASH_SOURCE[0]}" "$@"
fi
umask 022
export LC_ALL=C

# The helpers shared with the nodes' cluster-accounts-apply (settings, trust checks): sourced only from their installed
# absolute path, once that file and every directory above it are real (no symlink), root-owned and not group- or
# world-writable; never from /shared.
readonly ACCOUNTS_LIB=/usr/local/lib/cluster-accounts/accounts-lib.sh
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
lib_why=$(lib_problem "$ACCOUNTS_LIB")
[[ -z $lib_why ]] || { echo "cluster-account-publish: not using $ACCOUNTS_LIB: $lib_why" >&2; exit 1; }
# shellcheck source=components/accounts/cluster-init/files/accounts-lib.sh
source "$ACCOUNTS_LIB"

prog=cluster-account-publish
SETTINGS_FILE=/etc/default/cluster-accounts
SETTINGS_KEYS=(ACCOUNTS_REGISTRY ACCOUNTS_TRUST_ROOT SHARED_HOME ACCOUNTS_UID_MIN ACCOUNTS_UID_MAX ACCOUNTS_ACK_WAIT
    ACCOUNTS_SERVICE_ACCOUNTS ACCOUNTS_AADPASSWD ACCOUNTS_HOOK_TIMEOUT)
LOCK=/run/cluster-account-publish.lock

log() { logger -t "$prog" -- "$*" 2>/dev/null || true; }
# One line for the user (pam_exec stdout shows it in the session), the same line in syslog.
tell() { echo "cluster accounts: $*"; log "$*"; }
fail() { echo "$prog: $*" >&2; log "error: $*"; exit 1; }

# KEY=VALUE lines of the root-owned settings file, read as data; nothing from the environment (accounts-lib.sh).
load_settings() {
    settings_load "$SETTINGS_FILE" "${SETTINGS_KEYS[@]}"
    ACCOUNTS_REGISTRY=${ACCOUNTS_REGISTRY:-/shared/apps/accounts}
    ACCOUNTS_TRUST_ROOT=${ACCOUNTS_TRUST_ROOT:-/shared}
    SHARED_HOME=${SHARED_HOME:-/shared/home}
    ACCOUNTS_UID_MIN=${ACCOUNTS_UID_MIN:-65536}
    ACCOUNTS_UID_MAX=${ACCOUNTS_UID_MAX:-4294967293}
    ACCOUNTS_ACK_WAIT=${ACCOUNTS_ACK_WAIT:-30}
    ACCOUNTS_SERVICE_ACCOUNTS=${ACCOUNTS_SERVICE_ACCOUNTS:-}
    ACCOUNTS_AADPASSWD=${ACCOUNTS_AADPASSWD:-/etc/aadpasswd}
    ACCOUNTS_HOOK_TIMEOUT=${ACCOUNTS_HOOK_TIMEOUT:-$((ACCOUNTS_ACK_WAIT + 15))}
    settings_numbers " in $SETTINGS_FILE" ACCOUNTS_UID_MIN ACCOUNTS_UID_MAX ACCOUNTS_ACK_WAIT ACCOUNTS_HOOK_TIMEOUT
    settings_paths " in $SETTINGS_FILE" ACCOUNTS_REGISTRY ACCOUNTS_TRUST_ROOT SHARED_HOME ACCOUNTS_AADPASSWD
    settings_service_accounts
}

# A user principal name: local part of the characters Entra allows (letters, digits, ' . - _ ! # ^ ~), '@', a
# dotted domain. Not starting with '-' or '.', at most 128 characters. Nothing that could break a passwd line.
upn_name() { [[ ${#1} -le 128 && $1 =~ ^[A-Za-z0-9_\'!#^~][A-Za-z0-9_.\'!#^~-]*@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$ ]]; }
service_name() { [[ -n ${SERVICE_UID[$1]:-} ]]; }
is_service_uid() { local n; for n in "${SERVICE_UID[@]}"; do [[ $n == "$1" ]] && return 0; done; return 1; }

# Every directory from the trust root (the /shared mount point) down to $1; missing ones are created root 0755.
# Each directory is checked once per run. (trusted, trust_chain: accounts-lib.sh.)
ensure_trusted_dir() { trust_chain "$ACCOUNTS_TRUST_ROOT" "$1" create refusing; }

# Reads entry file $1 into E_name E_uid E_gid E_home E_shome E_oid E_state E_serial (data only). Entries of issue 9
# have no shome= (their shared home is $SHARED_HOME/<name>) and no oid=.
read_entry() {
    E_name='' E_uid='' E_gid='' E_home='' E_shome='' E_oid='' E_state='' E_serial=''
    local key value
    while IFS='=' read -r key value; do
        case $key in
            name | uid | gid | home | shome | oid | state | serial) printf -v "E_$key" '%s' "$value" ;;
        esac
    done <"$1"
    [[ -n $E_shome ]] || E_shome=$SHARED_HOME/$E_name
}

status_value() { # file key
    local key value
    [[ -f $1 && ! -L $1 ]] || return 0
    while IFS='=' read -r key value; do
        if [[ $key == "$2" ]]; then printf '%s' "$value"; return 0; fi
    done <"$1"
}

# A new root 0644 file $1 with content $2, renamed into place.
write_file() {
    local tmp
    tmp=$(mktemp "${1%/*}/.tmp.XXXXXX")
    printf '%s' "$2" >"$tmp" || { rm -f -- "$tmp"; return 1; }
    chmod 0644 -- "$tmp"
    chown 0:0 -- "$tmp"
    mv -fT -- "$tmp" "$1"
}

write_entry() { # file name uid gid home shome oid state
    write_file "$1" "$(printf 'name=%s\nuid=%s\ngid=%s\nhome=%s\nshome=%s\noid=%s\nstate=%s\nserial=%s' "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$(date +%s%N)")
"
}

# The indexes: names/<lower-cased name> and oids/<lower-cased objectId>, each holding the UID of the entry (one
# lookup per sign-in, whatever the registry's size). A hint only: the entry itself is always checked. Built from the
# entries when names/ is missing (a registry of issue 9, migrated on first touch).
index_key() { local k=${1,,}; [[ $k =~ ^[a-z0-9_\'!#^~@.-]{1,128}$ && $k != .* ]] && printf '%s' "$k"; }
index_get() { # dir key -> UID
    local f="$ACCOUNTS_REGISTRY/$1/$2" v=''
    [[ -f $f && ! -L $f ]] || return 1
    trusted "$f" file >/dev/null || return 1
    IFS= read -r v <"$f" || true
    [[ $v =~ ^[0-9]{1,10}$ ]] && printf '%s' "$v"
}
index_put() { # dir key uid
    [[ -n $2 ]] || return 0
    [[ $(index_get "$1" "$2" 2>/dev/null) == "$3" ]] || write_file "$ACCOUNTS_REGISTRY/$1/$2" "$3"$'\n'
}
index_del() { # dir key uid (only if it still names that UID)
    [[ -n $2 && $(index_get "$1" "$2" 2>/dev/null) == "$3" ]] && rm -f -- "$ACCOUNTS_REGISTRY/$1/$2"
    return 0
}
ensure_index() {
    ensure_trusted_dir "$ACCOUNTS_REGISTRY/users"
    if [[ ! -e $ACCOUNTS_REGISTRY/names && ! -L $ACCOUNTS_REGISTRY/names ]]; then
        # One pass over the entries (root-owned regular files not writable by others; name= lines), no fork per entry.
        local tmp line u k n=0 lines=()
        tmp=$(mktemp -d "$ACCOUNTS_REGISTRY/.names.XXXXXX")
        chmod 0755 -- "$tmp"
        mapfile -t lines < <(find "$ACCOUNTS_REGISTRY/users" -mindepth 1 -maxdepth 1 -type f -user 0 ! -perm /022 -regex '.*/[0-9]+' \
            -exec grep -H -m1 '^name=' {} + 2>/dev/null)
        umask 022
        for line in "${lines[@]}"; do
            u=${line%%:name=*}; u=${u##*/}; k=${line#*:name=}; k=${k,,}
            [[ $u =~ ^[0-9]{1,10}$ && $k =~ ^[a-z0-9_\'!#^~@.-]{1,128}$ && $k != .* ]] || continue
            printf '%s\n' "$u" >"$tmp/$k"
            n=$((n + 1))
        done
        mv -T -- "$tmp" "$ACCOUNTS_REGISTRY/names" 2>/dev/null || rm -rf -- "$tmp"
        log "built the name index of $ACCOUNTS_REGISTRY ($n entries)"
    fi
    ensure_trusted_dir "$ACCOUNTS_REGISTRY/names"
    ensure_trusted_dir "$ACCOUNTS_REGISTRY/oids"
}
# name -> FOUND (the UID file of its entry, case-insensitive) and E_* (read_entry), if any. No subshell.
entry_for_name() {
    local k u f
    FOUND=''
    k=$(index_key "$1") || return 1
    u=$(index_get names "$k") || return 1
    f=$ACCOUNTS_REGISTRY/users/$u
    trusted "$f" file >/dev/null || return 1
    read_entry "$f"
    [[ ${E_name,,} == "$k" && $E_uid == "$u" ]] || return 1
    FOUND=$f
}

# The extension's record of a user (a line of /etc/aadpasswd, fields upn objectId uid gid gecos home shell), exact name.
aad_line() {
    local f=$ACCOUNTS_AADPASSWD line
    [[ -f $f && ! -L $f ]] || return 1
    while IFS= read -r line; do
        if [[ ${line%%:*} == "$1" ]]; then printf '%s' "$line"; return 0; fi
    done <"$f"
    return 1
}
aad_oid() { local l; l=$(aad_line "$1") || return 0; l=${l#*:}; l=${l%%:*}; [[ $l =~ ^[0-9A-Fa-f-]{1,64}$ ]] && printf '%s' "${l,,}"; return 0; }
# aad_set NAME OID UID GID HOME [REMOVE_NAME]: the line of NAME becomes NAME:OID:UID:GID:gecos:HOME:shell (gecos and
# shell kept from an existing line; a new line gets empty gecos and /bin/bash); REMOVE_NAME's line is dropped (what
# `aaduserdel --remove` does). A new file with the original's owner and mode, renamed over it.
aad_set() {
    local name=$1 oid=$2 uid=$3 gid=$4 home=$5 drop=${6:-} f=$ACCOUNTS_AADPASSWD tmp line done=0 gecos shell rest
    [[ ! -L $f ]] || { echo "$f is a symlink"; return 1; }
    tmp=$(mktemp "${f%/*}/.aadpasswd.XXXXXX")
    if [[ -f $f ]]; then
        chmod --reference="$f" -- "$tmp"; chown --reference="$f" -- "$tmp"
        while IFS= read -r line || [[ -n $line ]]; do
            if [[ -n $drop && ${line%%:*} == "$drop" ]]; then continue; fi
            if [[ ${line%%:*} == "$name" ]]; then
                IFS=: read -r _ _ _ _ gecos rest <<<"$line"
                shell=${rest##*:}
                printf '%s:%s:%s:%s:%s:%s:%s\n' "$name" "$oid" "$uid" "$gid" "$gecos" "$home" "${shell:-/bin/bash}"
                done=1
            else
                printf '%s\n' "$line"
            fi
        done <"$f" >"$tmp"
    else
        chmod 0644 -- "$tmp"
    fi
    (( done )) || printf '%s:%s:%s:%s::%s:/bin/bash\n' "$name" "$oid" "$uid" "$gid" "$home" >>"$tmp"
    mv -fT -- "$tmp" "$f"
    # Name service caches, as useradd flushes them (errors ignored).
    if command -v nscd >/dev/null 2>&1; then nscd -i passwd >/dev/null 2>&1 || true; fi
    if command -v sss_cache >/dev/null 2>&1; then sss_cache -U >/dev/null 2>&1 || true; fi
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

# Why the NSS home $1 cannot be given a shared home (empty: it can): it must be the shared home itself (directly under
# SHARED_HOME) or a path directly under /home, which is made a symlink to the shared home on every node.
home_problem() {
    local h=$1 leaf=${1##*/}
    if ! [[ $h =~ ^/[^:[:cntrl:]]+$ && $leaf =~ ^[A-Za-z0-9_\'!#^~@+][A-Za-z0-9_.\'!#^~@+-]*$ ]]; then
        echo "your home $h (from the sign-in extension) is not a path the cluster can recreate on its nodes"
    elif [[ $h != "/home/$leaf" && $h != "$SHARED_HOME/$leaf" ]]; then
        echo "your home $h (from the sign-in extension) is neither directly under /home nor under $SHARED_HOME, so the cluster cannot lead it to a shared home on every node"
    fi
}

# Shared home $1 for UID $2: created if missing; NSS home $3 made a symlink to it on this node where free.
ensure_home() { # shome uid gid home
    local shared=$1 uid=$2 gid=$3 home=$4 owner why
    ensure_trusted_dir "$SHARED_HOME"
    if [[ -L $shared ]]; then
        tell "your home $shared is a symlink; not touching it (ask an admin)"
        return 0
    elif [[ ! -e $shared ]]; then
        mkdir -m 0700 -- "$shared"
        cp -a /etc/skel/. "$shared"/
        chmod 0700 -- "$shared"
        chown -hR "$uid:$gid" -- "$shared"
        log "created home $shared (uid $uid)"
    else
        owner=$(stat -c %u -- "$shared")
        if [[ $owner != "$uid" ]]; then
            tell "your shared home $shared belongs to UID $owner, not to you ($uid); not using it (ask an admin)"
            return 0
        fi
    fi
    [[ $home != "$shared" ]] || return 0
    if [[ -L $home ]]; then
        [[ $(readlink -- "$home") == "$shared" ]] || tell "your home $home is a symlink to $(readlink -- "$home"), not to your shared home $shared; jobs may not start there (ask an admin)"
    elif [[ ! -e $home ]]; then
        ln -s -- "$shared" "$home"
    elif [[ -d $home ]] && only_skel_copies "$home"; then
        # Created empty (or from /etc/skel) by the extension or a PAM module at sign-in: replace it by the link.
        why=$(mktemp -d "/home/.cluster-accounts.XXXXXX")
        mv -T -- "$home" "$why/old" && ln -s -- "$shared" "$home" && rm -rf -- "$why"
        log "replaced fresh local home $home by a symlink to $shared"
    else
        tell "your home $home on this login node is a local directory with files in it, not your shared home $shared; jobs run in $shared on the cluster (ask an admin to move the files)"
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

# Refusals at sign-in end the publish quietly for PAM (exit 0 after one line), with status 1 for an admin.
refuse() { tell "$*"; exit $(( EXPLICIT ? 1 : 0 )); }

take_lock() {
    exec 8>>"$LOCK"
    flock -w 20 8 || refuse "another sign-in is publishing an account and did not finish within 20 s; sign in again"
}

publish() { # name
    local name=$1 line pw_name pw_x uid gid gecos home shell entry key oid shome why other kind=person
    if ! line=$(getent passwd -- "$name"); then
        (( EXPLICIT )) && fail "no such user: $name"
        exit 0
    fi
    IFS=: read -r pw_name pw_x uid gid gecos home shell <<<"$line"
    : "$pw_x" "$gecos" "$shell"
    if service_name "$pw_name"; then
        [[ $uid == "${SERVICE_UID[$pw_name]}" && $gid == "$uid" ]] ||
            refuse "service account $pw_name has UID/GID $uid/$gid, not the ${SERVICE_UID[$pw_name]} declared in ACCOUNTS_SERVICE_ACCOUNTS"
        kind=service
    else
        if ! [[ $uid =~ ^[0-9]+$ ]] || (( uid < ACCOUNTS_UID_MIN || uid > ACCOUNTS_UID_MAX )); then
            # The local admin, system and CycleCloud accounts: not ours to publish.
            (( EXPLICIT )) && fail "$pw_name has UID $uid, outside ACCOUNTS_UID_MIN..ACCOUNTS_UID_MAX ($ACCOUNTS_UID_MIN..$ACCOUNTS_UID_MAX)"
            exit 0
        fi
        is_service_uid "$uid" && refuse "your UID $uid is reserved for a service account; refused (ask an admin)"
        upn_name "$pw_name" || refuse "your login name $pw_name is not a user principal name (name@domain) the cluster accepts; refused (ask an admin)"
        [[ ${pw_name,,} == "${name,,}" ]] || refuse "your login name $name resolves to another name ($pw_name); refused (ask an admin)"
        if ! [[ $gid =~ ^[0-9]+$ ]] || (( gid < ACCOUNTS_UID_MIN || gid > ACCOUNTS_UID_MAX )); then refuse "your primary group $gid is outside the accepted range $ACCOUNTS_UID_MIN..$ACCOUNTS_UID_MAX; refused (ask an admin)"; fi
    fi
    key=$(index_key "$pw_name") || refuse "your login name $pw_name cannot be indexed; refused (ask an admin)"
    take_lock
    ensure_index
    oid=$(aad_oid "$pw_name")
    entry="$ACCOUNTS_REGISTRY/users/$uid"
    if entry_for_name "$pw_name"; then
        if [[ $E_uid != "$uid" ]]; then
            # Registered with another UID: this login node gave the user a new one (a rebuilt login node whose
            # extension did not keep the restored record, or a case variant of the name). Give the registered UID back.
            [[ $E_state == revoked ]] && refuse "your cluster account is revoked; ask an admin"
            other=$(getent passwd -- "$E_uid" | cut -d: -f1) || true
            if [[ -n $other && ${other,,} != "$key" ]]; then
                refuse "you are registered with UID $E_uid, which this login node gave to $other; this login node gave you UID $uid; ask an admin"
            fi
            [[ -n $oid || -n $E_oid ]] || refuse "you are registered with UID $E_uid but this login node gave you UID $uid, and $ACCOUNTS_AADPASSWD has no record of you to correct; ask an admin"
            if [[ -n $oid && -n $E_oid && $oid != "$E_oid" ]]; then
                refuse "the name $pw_name is registered to another Entra object (UID $E_uid); refused (ask an admin)"
            fi
            [[ ! -L $ACCOUNTS_AADPASSWD ]] || refuse "$ACCOUNTS_AADPASSWD is a symlink; cannot give you back UID $E_uid (ask an admin)"
            if (( EXPLICIT )); then
                aad_set "$pw_name" "${oid:-$E_oid}" "$E_uid" "$E_gid" "$E_home" || fail "could not write $ACCOUNTS_AADPASSWD"
                echo "gave $pw_name back UID $E_uid and home $E_home in $ACCOUNTS_AADPASSWD"
                exit 0
            fi
            # A few seconds later, in the background: sshd still resolves the session's (new) UID right after the session
            # opens (lastlog), and a session whose UID no longer resolves is closed before the user reads this line.
            exec 8>&-
            (
                sleep 3
                take_lock
                aad_set "$pw_name" "${oid:-$E_oid}" "$E_uid" "$E_gid" "$E_home" && log "gave $pw_name back UID $E_uid (this login node had given UID $uid)"
            ) </dev/null >/dev/null 2>&1 &
            tell "this login node gave you UID $uid, but your account is UID $E_uid (home $E_home); it is given back in a few seconds: sign out, and sign in again before using the cluster"
            exit 0
        fi
        if [[ $E_state == revoked ]] && (( ! EXPLICIT )); then refuse "your cluster account is revoked; ask an admin"; fi
        pw_name=$E_name # the spelling registered first stays the account's name on the nodes
        shome=$E_shome
        [[ -n $oid ]] || oid=$E_oid
        if [[ -n $E_oid && -n $oid && $oid != "$E_oid" ]]; then
            refuse "the name $pw_name is registered to another Entra object; refused (ask an admin)"
        fi
    else
        if [[ -e $entry || -L $entry ]]; then
            why=$(trusted "$entry" file) || refuse "registry entry for UID $uid is not trustworthy ($why); ask an admin"
            read_entry "$entry"
            refuse "UID $uid is already registered to another name; refused (ask an admin)"
        fi
        if [[ -n $oid ]] && other=$(index_get oids "$oid") && [[ -f $ACCOUNTS_REGISTRY/users/$other ]]; then
            read_entry "$ACCOUNTS_REGISTRY/users/$other"
            refuse "your Entra account is registered as $E_name (UID $other); if your name changed, an admin moves it: sudo $prog --rename $E_name $pw_name"
        fi
        shome=$SHARED_HOME/$key
        [[ $kind == service ]] && shome=$SHARED_HOME/$pw_name
        if [[ $home == "$SHARED_HOME"/* ]]; then shome=$home; fi
    fi
    why=$(home_problem "$home")
    [[ -z $why ]] || refuse "$why; refused (ask an admin)"
    if [[ $home == "$SHARED_HOME"/* && $home != "$shome" ]]; then
        refuse "your home $home is on $SHARED_HOME but your shared home is $shome; refused (ask an admin)"
    fi
    ensure_home "$shome" "$uid" "$gid" "$home"
    if [[ -f $entry && $E_name == "$pw_name" && $E_uid == "$uid" && $E_gid == "$gid" && $E_home == "$home" && $E_shome == "$shome" \
        && $E_oid == "$oid" && $E_state == active ]] && grep -q '^shome=' -- "$entry"; then
        : # unchanged: no write, the scheduler has nothing to do
    else
        write_entry "$entry" "$pw_name" "$uid" "$gid" "$home" "$shome" "$oid" active
        log "published $pw_name (uid $uid, home $home -> $shome)"
    fi
    index_put names "$key" "$uid"
    [[ -z $oid ]] || index_put oids "$oid" "$uid"
    exec 8>&-
    read_entry "$entry"
    (( ACCOUNTS_ACK_WAIT > 0 )) && wait_ack "$uid" "$E_serial"
    return 0
}

revoke() { # name
    local entry
    take_lock
    ensure_index
    entry_for_name "$1" || fail "no registry entry for $1"
    entry=$FOUND
    if [[ $E_state == revoked ]]; then echo "$1 is already revoked"; return 0; fi
    write_entry "$entry" "$E_name" "$E_uid" "$E_gid" "$E_home" "$E_shome" "$E_oid" revoked
    log "revoked $1 (uid $E_uid)"
    echo "revoked $1 (uid $E_uid); cluster nodes apply it within a minute, the scheduler within seconds"
}

# A changed UPN (the extension does not follow it: an admin removes the old record, the user comes back as a new
# account). OLD's entry keeps its UID, shared home and home path under the NEW name; the extension's record of NEW
# gets that UID (OLD's record removed, as `aaduserdel --remove OLD` does); an entry NEW got meanwhile is revoked
# (its shared home stays). The user signs in again as NEW.
rename() { # old new
    local old=$1 new=$2 entry nkey oldkey uid gid home shome oid nentry line
    upn_name "$new" || fail "$new is not a user principal name (name@domain)"
    take_lock
    ensure_index
    entry_for_name "$old" || fail "no registry entry for $old"
    entry=$FOUND
    uid=$E_uid gid=$E_gid home=$E_home shome=$E_shome oid=$E_oid oldkey=${E_name,,}
    nkey=$(index_key "$new") || fail "$new cannot be indexed"
    [[ $nkey != "$oldkey" ]] || fail "$old and $new are the same name"
    line=$(aad_line "$new") || line=''
    if [[ -n $line ]]; then
        local noid=${line#*:}; noid=${noid%%:*}; noid=${noid,,}
        [[ -z $oid || -z $noid || $noid == "$oid" ]] || fail "$new is another Entra object ($noid) than $old ($oid) in $ACCOUNTS_AADPASSWD; not moving"
        [[ -n $oid ]] || oid=$noid
    fi
    if entry_for_name "$new"; then
        nentry=$FOUND
        [[ $E_uid != "$uid" ]] || fail "$new is already registered with UID $uid"
        write_entry "$nentry" "$E_name" "$E_uid" "$E_gid" "$E_home" "$E_shome" "$E_oid" revoked
        index_del names "$nkey" "$E_uid"
        [[ -z $E_oid ]] || index_del oids "$E_oid" "$E_uid"
        echo "revoked the entry $new got as a new account (UID $E_uid); its shared home $E_shome stays"
    fi
    if [[ -n $oid ]]; then aad_set "$new" "$oid" "$uid" "$gid" "$home" "$old" || fail "could not write $ACCOUNTS_AADPASSWD"; fi
    write_entry "$entry" "$new" "$uid" "$gid" "$home" "$shome" "$oid" active
    index_put names "$nkey" "$uid"
    index_del names "$oldkey" "$uid"
    [[ -z $oid ]] || index_put oids "$oid" "$uid"
    log "renamed $old to $new (uid $uid, home $home -> $shome)"
    echo "renamed $old to $new: UID $uid, home $home ($shome); $new signs in again to use it"
    [[ -n $oid ]] || echo "warning: no Entra objectId known for $old: $ACCOUNTS_AADPASSWD was not changed; $new gets UID $uid back at the next sign-in"
}

# A rebuilt login node: the registered users' records, written into the extension's file before their first sign-in
# (a user who already has a record keeps it; the sign-in hook gives a changed UID back).
restore() {
    local f n=0
    [[ -d $ACCOUNTS_REGISTRY/users ]] || return 0 # nothing published yet (or /shared not mounted yet)
    take_lock
    ensure_index
    for f in "$ACCOUNTS_REGISTRY"/users/*; do
        if ! [[ ${f##*/} =~ ^[0-9]{1,10}$ ]] || ! trusted "$f" file >/dev/null; then continue; fi
        read_entry "$f"
        if ! [[ $E_state == active && -n $E_oid && $E_uid == "${f##*/}" ]] || ! upn_name "$E_name"; then continue; fi
        aad_line "$E_name" >/dev/null && continue
        if getent passwd -- "$E_uid" >/dev/null; then
            log "restore: UID $E_uid of $E_name is in use on this node; not restored"
            continue
        fi
        aad_set "$E_name" "$E_oid" "$E_uid" "$E_gid" "$E_home" || fail "could not write $ACCOUNTS_AADPASSWD"
        n=$((n + 1))
    done
    log "restored $n record(s) into $ACCOUNTS_AADPASSWD"
    (( n == 0 )) || echo "restored $n record(s) into $ACCOUNTS_AADPASSWD"
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
    if [[ ${E_name,,} != "${me,,}" ]]; then
        echo "cluster accounts: your UID $uid is registered to another name; refused (ask an admin)"
        return 1
    fi
    if [[ $(status_value "$status" serial) != "$E_serial" ]]; then
        echo "cluster accounts: $E_name (uid $uid) $E_state, not yet confirmed by the scheduler"
        return 0
    fi
    echo "cluster accounts: $E_name (uid $uid) $(status_value "$status" result) $(status_value "$status" reason)"
}

# The PAM hook: the publish runs in a child whose output goes to a local file; this process only waits, at most
# ACCOUNTS_HOOK_TIMEOUT s, so a /shared that does not answer (a hard NFS mount can leave the child unkillable) never
# holds the sign-in or pam_exec's pipe. One line to the user for whatever went wrong.
hook() {
    local out pid rc=0 deadline said
    out=$(mktemp /run/cluster-account-publish.XXXXXX)
    ( exec </dev/null >"$out" 2>&1; publish "$PAM_USER" ) &
    pid=$!
    local now=${EPOCHREALTIME/./}
    deadline=$((now + ACCOUNTS_HOOK_TIMEOUT * 1000000))
    while kill -0 "$pid" 2>/dev/null; do
        now=${EPOCHREALTIME/./}
        if (( now >= deadline )); then
            kill -KILL "$pid" 2>/dev/null || true
            tell "setting up your cluster account did not finish within $ACCOUNTS_HOOK_TIMEOUT s ($ACCOUNTS_TRUST_ROOT is not answering?); jobs may not start until it has; sign in again later or ask an admin"
            rm -f -- "$out"
            return 0
        fi
        sleep 0.1
    done
    wait "$pid" || rc=$?
    said=$(grep '^cluster accounts: ' -- "$out" || true)
    if [[ -n $said ]]; then
        printf '%s\n' "$said"
    elif (( rc != 0 )); then
        if grep -q 'No space left on device' -- "$out"; then
            tell "$ACCOUNTS_TRUST_ROOT is full (no space left on device); your cluster account or home could not be written; ask an admin"
        else
            tell "setting up your cluster account failed: $(grep -v '^$' -- "$out" | tail -n1 | tr -d '[:cntrl:]'); ask an admin"
        fi
    fi
    rm -f -- "$out"
    return 0
}

EXPLICIT=0
main() {
    load_settings
    local usage="usage: $prog [--user NAME | --revoke NAME | --rename OLD NEW | --restore | --status]"
    case ${1:-} in
        --status) show_status; return ;;
        --user | --revoke | --rename | --restore)
            [[ $EUID -eq 0 ]] || fail "must run as root"
            EXPLICIT=1
            case $1 in
                --user) [[ $# -eq 2 ]] || fail "$usage"; publish "$2" ;;
                --revoke) [[ $# -eq 2 ]] || fail "$usage"; revoke "$2" ;;
                --rename) [[ $# -eq 3 ]] || fail "$usage"; rename "$2" "$3" ;;
                --restore) [[ $# -eq 1 ]] || fail "$usage"; restore ;;
            esac
            return ;;
        "") ;;
        *) fail "$usage" ;;
    esac
    # From PAM: only when a session opens, only as root.
    [[ ${PAM_TYPE:-} == open_session && -n ${PAM_USER:-} ]] || exit 0
    [[ $EUID -eq 0 ]] || exit 0
    hook
}

main "$@"
