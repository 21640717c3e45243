#!/bin/bash -p
# Runs as root on every cluster node (scheduler, compute, CycleCloud login nodes), installed as
# /usr/local/sbin/cluster-accounts-apply by the cluster-init spec; called at boot, by cluster-accounts.timer and by
# the Slurm prolog. Applies the account registry on /shared (written by root on the login node, see
# components/accounts/README.md for the entry format) to this node's local accounts.
# Changes: local groups/users created by it (GECOS "cluster-accounts"; with groupadd/useradd, or, where those reject
# the name (AlmaLinux 8: any UPN; Debian 12: over 32 characters), by writing /etc/passwd, group, shadow, gshadow
# itself under the shadow lock: see ETC_EDIT_PY; re-created with the same UID when an entry's name or home changes),
# $ACCOUNTS_STATE_DIR (lock, last refusals), the entry's home (its NSS home on the login node, /home/<leaf>) as a
# symlink to its shared home (shome=, a directory under $SHARED_HOME);
# on the scheduler also $ACCOUNTS_REGISTRY/status/<UID> (the answer the login node shows the user), releases jobs
# Slurm held because their UID was unknown (release_identity_holds), cancels pending jobs of revoked users. Quiet and a no-op when nothing changed.
# Refusals (untrusted path or entry, bad values, collisions with local accounts) are logged (logger -t
# cluster-accounts) and written to the status; a refused entry changes nothing. Entries are data, never executed.
# Settings: only /etc/default/cluster-accounts (root-owned, not writable by others; KEY=VALUE data, never sourced).
# Nothing else from the environment: `bash -p` ignores BASH_ENV, SHELLOPTS and exported functions, and the script
# re-executes itself with an empty environment but a fixed PATH and SLURM_CONF (which Slurm client config to use).
set -euo pipefail
readonly SAFE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
env_clean() {
    local v
    [[ ${PATH:-} == "$SAFE_PATH" ]] || return 1
    for v in $(compgen -e); do case $v in PATH | PWD | OLDPWD | SHLVL | _ | SLURM_CONF | CA_REEXEC) ;; *) return 1 ;; esac; done
    ! shopt -oq posix
}
if ! env_clean; then
    [[ -z ${CA_REEXEC:-} ]] || { echo "cluster-accounts: the environment is not clean after re-executing" >&2; exit 1; }
    exec /usr/bin/env -i PATH="$SAFE_PATH" CA_REEXEC=1 ${SLURM_CONF+SLURM_CONF="$SLURM_CONF"} /bin/bash -p -- "${BASH_SOURCE[0]}" "$@"
fi
umask 022
export LC_ALL=C

# The helpers shared with the login node's cluster-account-publish (settings, trust checks): sourced only from their
# installed absolute path, once that file and every directory above it are real (no symlink), root-owned and not
# group- or world-writable; never from /shared.
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
[[ -z $lib_why ]] || { echo "cluster-accounts: not using $ACCOUNTS_LIB: $lib_why" >&2; logger -t cluster-accounts -- "error: not using $ACCOUNTS_LIB: $lib_why" 2>/dev/null || true; exit 1; }
# shellcheck source=components/accounts/cluster-init/files/accounts-lib.sh
source "$ACCOUNTS_LIB"

prog=cluster-accounts
MARKER=cluster-accounts
MAX_ENTRY_BYTES=1024
# Never handed out whatever the range says: slurm, munge, slurmrestd (cyclecloud-slurm), nobody.
RESERVED_IDS=" 11100 11101 11102 65534 "
SETTINGS_FILE=/etc/default/cluster-accounts
SETTINGS_KEYS=(ACCOUNTS_REGISTRY ACCOUNTS_TRUST_ROOT SHARED_HOME ACCOUNTS_UID_MIN ACCOUNTS_UID_MAX ACCOUNTS_ROLE ACCOUNTS_STATE_DIR
    ACCOUNTS_SERVICE_ACCOUNTS)

fail() { echo "$prog: $*" >&2; logger -t "$prog" -- "error: $*" 2>/dev/null || true; exit 1; }
note() { echo "$prog: $*"; logger -t "$prog" -- "$*" 2>/dev/null || true; }

# KEY=VALUE lines of the root-owned settings file, read as data; nothing from the environment (accounts-lib.sh).
load_settings() {
    settings_load "$SETTINGS_FILE" "${SETTINGS_KEYS[@]}"
    ACCOUNTS_REGISTRY=${ACCOUNTS_REGISTRY:-/shared/apps/accounts}
    ACCOUNTS_TRUST_ROOT=${ACCOUNTS_TRUST_ROOT:-/shared}
    SHARED_HOME=${SHARED_HOME:-/shared/home}
    ACCOUNTS_UID_MIN=${ACCOUNTS_UID_MIN:-65536}
    ACCOUNTS_UID_MAX=${ACCOUNTS_UID_MAX:-4294967293}
    ACCOUNTS_STATE_DIR=${ACCOUNTS_STATE_DIR:-/run/cluster-accounts}
    settings_numbers "" ACCOUNTS_UID_MIN ACCOUNTS_UID_MAX
    # name:UID[,...]: the only non-UPN accounts the registry takes (the readiness check's), each with its fixed UID.
    ACCOUNTS_SERVICE_ACCOUNTS=${ACCOUNTS_SERVICE_ACCOUNTS:-}
    settings_service_accounts
    if [[ -z ${ACCOUNTS_ROLE:-} ]]; then
        ACCOUNTS_ROLE=$( (jetpack config slurm.role || /opt/cycle/jetpack/bin/jetpack config slurm.role) 2>/dev/null || echo execute)
    fi
}

# Every directory from the trust root (the /shared mount point) down to $1 (trusted, trust_chain: accounts-lib.sh).
check_chain() { trust_chain "$ACCOUNTS_TRUST_ROOT" "$1" check "refusing the registry"; }

# A user principal name (local part: letters, digits and ' . - _ ! # ^ ~, not starting with '.' or '-'; '@'; a dotted
# domain; <= 128 characters), or a service account declared in ACCOUNTS_SERVICE_ACCOUNTS. Never a bare system name.
upn_name() { [[ ${#1} -le 128 && $1 =~ ^[A-Za-z0-9_\'!#^~][A-Za-z0-9_.\'!#^~-]*@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$ ]]; }
valid_name() { upn_name "$1" || [[ -n ${SERVICE_UID[$1]:-} ]]; }

# Sets ID_WHY to why ID $1 is not acceptable (empty: acceptable). No subshell: runs for every entry every run.
id_ok() {
    local n=$1
    ID_WHY=''
    if ! [[ $n =~ ^[1-9][0-9]{0,9}$ ]]; then ID_WHY="not a decimal ID"
    elif (( n < ACCOUNTS_UID_MIN || n > ACCOUNTS_UID_MAX )); then ID_WHY="$n outside $ACCOUNTS_UID_MIN..$ACCOUNTS_UID_MAX"
    elif (( n < 1000 )); then ID_WHY="$n is a system ID"
    elif (( n >= 20000 && n < 65536 )); then ID_WHY="$n is in CycleCloud's range (20000+)"
    elif [[ $RESERVED_IDS == *" $n "* ]]; then ID_WHY="$n is reserved"
    fi
}

# Local account tables, read once per run (getent: whatever NSS this node has).
declare -A P_UID P_NAME P_GECOS P_HOME G_GID G_NAME F_META H_LINK
load_local() {
    # mapfile + parameter expansion: `read` on a pipe reads byte by byte, too slow for thousands of lines per run.
    local line name rest uid lines=()
    P_UID=() P_NAME=() P_GECOS=() P_HOME=() G_GID=() G_NAME=()
    mapfile -t lines < <(getent passwd)
    for line in "${lines[@]}"; do
        name=${line%%:*}; rest=${line#*:}; rest=${rest#*:}   # name:x:uid:gid:gecos:home:shell
        uid=${rest%%:*}; rest=${rest#*:}; rest=${rest#*:}
        P_UID[$name]=$uid; P_NAME[$uid]=$name; P_GECOS[$name]=${rest%%:*}; rest=${rest#*:}; P_HOME[$name]=${rest%%:*}
    done
    mapfile -t lines < <(getent group)
    for line in "${lines[@]}"; do
        name=${line%%:*}; rest=${line#*:}; rest=${rest#*:}   # name:x:gid:members
        G_GID[$name]=${rest%%:*}; G_NAME[${rest%%:*}]=$name
    done
    # Type, owner, mode, size, inode, mtime of every entry, and what is in /home: two finds per run, no fork per entry.
    mapfile -t lines < <(find "$ACCOUNTS_REGISTRY/users" -mindepth 1 -maxdepth 1 -printf '%f\t%y %U %m %s %i %T@\n')
    for line in "${lines[@]}"; do F_META[${line%%$'\t'*}]=${line#*$'\t'}; done
    mapfile -t lines < <(find /home -mindepth 1 -maxdepth 1 -printf '%f\t%y %l\n' 2>/dev/null)
    for line in "${lines[@]}"; do H_LINK[${line%%$'\t'*}]=${line#*$'\t'}; done
}

# Which tools take --badname (Debian 12's useradd does, its groupadd does not; EL8's neither; EL9's both).
declare -A BADNAME=()
# The help text is read whole before it is searched: with pipefail, `tool --help | grep -q` fails whenever grep exits
# at the match before the tool has written its last lines (SIGPIPE), which depends on timing.
probe_badname() {
    local t help
    for t in useradd groupadd; do
        help=$("$t" --help 2>&1) || true
        if [[ $help == *--badname* ]]; then BADNAME[$t]=1; fi
    done
}

# EL8 (AlmaLinux 8, shadow-utils 4.6) rejects UPNs: Red Hat's goodname patch (shadow-4.5/4.6-goodname.patch in
# Fedora/RHEL dist-git, libmisc/chkname.c) allows only [a-zA-Z0-9_.][a-zA-Z0-9_.-]*[$]? (not "." "..", not all digits)
# and upstream's length check keeps user names <= 32 characters; useradd then prints "invalid user name 'NAME'",
# groupadd "'NAME' is not a valid group name", both exit 3 (E_BAD_ARG). `--badname` arrived upstream after 4.6
# (shadow-maint/shadow #266, #522, #820; EL9's 4.9 has it); CentOS 7 shows the same refusal for '@'
# (jdeathe/centos-ssh #584). Then this script writes the entries itself, as useradd/groupadd would, under the lock
# every shadow-utils tool takes: lckpwdf(3), an fcntl write lock on /etc/.pwd.lock (flock(1) uses flock(2), which does
# not exclude fcntl locks on Linux, so it is no substitute). Python reaches lckpwdf through ctypes; EL8 always has
# /usr/libexec/platform-python (dnf needs it). Absolute path, -I (isolated: no PYTHON* variables, no user site, no
# current directory on sys.path); data only through the environment, never in the code.
# Operations (CA_OP): addgroup (group + gshadow), adduser (passwd + shadow), delgroup, deluser. Under the lock it
# re-checks that neither the name nor the ID exists, writes each file as a new temporary file in /etc with the
# original's owner, mode and SELinux label (the security.selinux attribute, what chcon --reference copies), fsyncs
# it and renames it over the original (shadow before passwd when adding, after it when removing).
# glibc's lckpwdf waits at most 15 s for another holder, then fails: nothing is written, the next run retries.
ETC_EDIT_PY='
import ctypes, os, re, stat, sys, time
E = os.environ
op, name, uid, gid, home, comment = (E.get(k, "") for k in ("CA_OP", "CA_NAME", "CA_UID", "CA_GID", "CA_HOME", "CA_COMMENT"))
etc = "/etc"

def die(msg):
    print(msg)
    sys.exit(1)

# The same name rules as the shell (upn_name, service names): nothing that could break or extend a colon-separated line.
label = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
upn = r"[A-Za-z0-9_\x27!#^~][A-Za-z0-9_.\x27!#^~-]*@" + label + r"(\." + label + r")+"
if len(name) > 128 or not (re.fullmatch(upn, name) or re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", name)):
    die("invalid name")
for v in (uid, gid):
    if not re.fullmatch(r"[1-9][0-9]{0,9}", v):
        die("invalid ID")
if not re.fullmatch(r"/[A-Za-z0-9_.@/\x27!#^~+-]*", home) or not re.fullmatch(r"[A-Za-z0-9 _.-]*", comment):
    die("invalid home or comment")
if op not in ("addgroup", "adduser", "delgroup", "deluser"):
    die("unknown operation")

def path(base):
    return os.path.join(etc, base)

def read(base):
    p = path(base)
    st = os.lstat(p)
    if not stat.S_ISREG(st.st_mode):
        die(p + " is not a regular file")
    with open(p, "rb") as f:
        return f.read().decode("latin-1")

def rows(text):
    return [l.split(":") for l in text.splitlines()]

def without(text, keep):
    return "".join(l + "\n" for l in text.splitlines() if keep(l.split(":")))

def plus(text, line):
    return text + ("" if text == "" or text.endswith("\n") else "\n") + line + "\n"

def stage(base, text):
    # A new file next to the original: its owner, mode and SELinux label, written and fsynced before the rename.
    p = path(base)
    st = os.lstat(p)
    tmp = path(".%s.cluster-accounts.%d" % (base, os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0)
    try:
        os.fchown(fd, st.st_uid, st.st_gid)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
        try:
            label = os.getxattr(p, "security.selinux", follow_symlinks=False)
        except OSError:
            label = None
        if label:
            os.setxattr(fd, "security.selinux", label)
        data = text.encode("latin-1")
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    return tmp, p

libc = ctypes.CDLL("libc.so.6", use_errno=True)
if libc.lckpwdf() != 0:
    die("cannot take the shadow lock (lckpwdf, " + path(".pwd.lock") + "): another program is changing the account files; retried at the next run")
staged = []
try:
    plan = []
    has_gshadow = os.path.lexists(path("gshadow"))
    has_shadow = os.path.lexists(path("shadow"))
    if op == "addgroup":
        group = read("group")
        for f in rows(group):
            if f[0] == name or (len(f) > 2 and f[2] == gid):
                die("group %s or GID %s already exists in %s" % (name, gid, path("group")))
        if has_gshadow:
            # A gshadow line without a group line is an orphan: replaced by the locked one.
            plan.append(("gshadow", plus(without(read("gshadow"), lambda f: f[0] != name), name + ":!::")))
        plan.append(("group", plus(group, "%s:x:%s:" % (name, gid))))
    elif op == "adduser":
        passwd = read("passwd")
        for f in rows(passwd):
            if f[0] == name or (len(f) > 2 and f[2] == uid):
                die("user %s or UID %s already exists in %s" % (name, uid, path("passwd")))
        if has_shadow:
            # No password (locked, "!!" as EL8 useradd writes without -p); aging as EL8 login.defs: 0, 99999, 7.
            days = int(time.time() // 86400)
            plan.append(("shadow", plus(without(read("shadow"), lambda f: f[0] != name), "%s:!!:%d:0:99999:7:::" % (name, days))))
        plan.append(("passwd", plus(passwd, "%s:x:%s:%s:%s:%s:/bin/bash" % (name, uid, gid, comment, home))))
    elif op == "deluser":
        passwd = read("passwd")
        if not any(f[0] == name and len(f) > 2 and f[2] == uid for f in rows(passwd)):
            sys.exit(0)
        plan.append(("passwd", without(passwd, lambda f: f[0] != name)))
        if has_shadow:
            plan.append(("shadow", without(read("shadow"), lambda f: f[0] != name)))
    else:
        group = read("group")
        if not any(f[0] == name and len(f) > 2 and f[2] == gid for f in rows(group)):
            sys.exit(0)
        plan.append(("group", without(group, lambda f: f[0] != name)))
        if has_gshadow:
            plan.append(("gshadow", without(read("gshadow"), lambda f: f[0] != name)))
    for base, text in plan:
        staged.append(stage(base, text))
    for tmp, p in staged:
        os.rename(tmp, p)
    staged = []
    dfd = os.open(etc, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(dfd)
    os.close(dfd)
finally:
    for tmp, _ in staged:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    libc.ulckpwdf()
'

# The interpreter for ETC_EDIT_PY, by absolute path only (EL8: platform-python; elsewhere python3).
pick_python() {
    local p
    for p in /usr/libexec/platform-python /usr/bin/python3; do
        if [[ -f $p && -x $p ]]; then echo "$p"; return 0; fi
    done
    return 1
}

# etc_edit OP NAME UID GID HOME: ETC_EDIT_PY under the shadow lock; on failure sets WHY_EDIT.
etc_edit() {
    local py out rc=0
    WHY_EDIT=''
    py=$(pick_python) || { WHY_EDIT="no Python (/usr/libexec/platform-python or /usr/bin/python3) to write the entries under the shadow lock"; return 1; }
    out=$(CA_OP=$1 CA_NAME=$2 CA_UID=$3 CA_GID=$4 CA_HOME=$5 CA_COMMENT=$MARKER "$py" -I -c "$ETC_EDIT_PY" 2>&1) || rc=$?
    if (( rc != 0 )); then WHY_EDIT="writing the entries under the shadow lock failed: ${out//$'\n'/ }"; return 1; fi
    # What useradd/groupadd do after a change: flush the name service caches where they run (errors ignored).
    if command -v nscd >/dev/null 2>&1; then nscd -i passwd >/dev/null 2>&1 || true; nscd -i group >/dev/null 2>&1 || true; fi
    if command -v sss_cache >/dev/null 2>&1; then sss_cache -UG >/dev/null 2>&1 || true; fi
    return 0
}

# Runs a tool in this shell (no subshell): TOOL_RC, TOOL_OUT (stdout + stderr).
run_tool() { TOOL_RC=0; TOOL_OUT=$("$@" 2>&1) || TOOL_RC=$?; }
# The tool refused the name itself (exit 3 with shadow-utils' message), not something else.
name_rejected() { (( TOOL_RC == 3 )) && [[ $TOOL_OUT == *"invalid user name"* || $TOOL_OUT == *"not a valid group name"* || $TOOL_OUT == *"invalid group name"* ]]; }

# add_account OP NAME UID GID HOME -- TOOL ARGS...: runs groupadd/useradd; when it rejects the name, retries with
# --badname where supported, else writes the entries itself (etc_edit OP). On failure sets WHY.
add_account() {
    local op=$1 name=$2 uid=$3 gid=$4 home=$5
    shift 6
    run_tool "$@"
    if name_rejected && [[ -n ${BADNAME[$1]:-} ]]; then run_tool "$1" --badname "${@:2}"; fi
    (( TOOL_RC == 0 )) && return 0
    WHY="$1 failed ($TOOL_RC): ${TOOL_OUT//$'\n'/ }"
    if name_rejected; then
        if etc_edit "$op" "$name" "$uid" "$gid" "$home"; then
            note "$1 rejects the name $name; wrote its entries under the shadow lock instead"
            return 0
        fi
        WHY+="; $WHY_EDIT"
    fi
    return 1
}

# remove_account OP NAME UID GID -- TOOL ARGS...: userdel/groupdel; when it rejects the name (EL8's 4.6 does not check
# names on removal; later releases might), removes the entries itself. Other failures are ignored as before.
remove_account() {
    local op=$1 name=$2 uid=$3 gid=$4
    shift 5
    run_tool "$@"
    if name_rejected; then etc_edit "$op" "$name" "$uid" "$gid" "/" || note "$1 rejects the name $name and $WHY_EDIT"; fi
    return 0
}

REVOKED_UIDS=' '
STATUS_RESULT='' STATUS_REASON=''
# Refusals are reported once when they first appear (not every timer run): the list of the previous run is kept in
# $ACCOUNTS_STATE_DIR/refused (root-only, local).
REFUSED_NOW=()
declare -A REFUSED_BEFORE
once() {
    REFUSED_NOW+=("$1")
    [[ -n ${REFUSED_BEFORE[$1]:-} ]] || note "$1"
}
refuse() {
    STATUS_RESULT=refused; STATUS_REASON=$1
    once "refused registry entry $2: $1"
}

write_status() { # uid name serial
    [[ $ACCOUNTS_ROLE == scheduler ]] || return 0
    local f="$ACCOUNTS_REGISTRY/status/$1" want tmp
    [[ $1 =~ ^[0-9]{1,10}$ ]] || return 0
    local cur=''
    printf -v want 'name=%s\nuid=%s\nserial=%s\nresult=%s\nreason=%s\n' "$2" "$1" "$3" "$STATUS_RESULT" "${STATUS_REASON//$'\n'/ }"
    if [[ -f $f && ! -L $f ]]; then IFS= read -r -d '' cur <"$f" || true; fi
    [[ $cur == "$want" ]] && return 0
    tmp=$(mktemp "$ACCOUNTS_REGISTRY/status/.tmp.XXXXXX")
    printf '%s' "$want" >"$tmp"
    chmod 0644 "$tmp"
    mv -fT "$tmp" "$f"
}

# home_ok HOME SHOME: sets HOME_WHY when the entry's home (the NSS home on the login node) cannot lead to its shared
# home here: it must be the shared home itself, or a path directly under /home that is free or already our link.
home_ok() {
    local home=$1 shome=$2 leaf=${1##*/} meta
    HOME_WHY=''
    if [[ $shome != "$SHARED_HOME"/* || ${shome#"$SHARED_HOME"/} == */* || ! ${shome##*/} =~ ^[A-Za-z0-9_\'!#^~@+][A-Za-z0-9_.\'!#^~@+-]*$ ]]; then
        HOME_WHY="shared home $shome is not a directory directly under $SHARED_HOME"
    elif [[ $home == "$shome" ]]; then
        return 0
    elif [[ $home != "/home/$leaf" || ! $leaf =~ ^[A-Za-z0-9_\'!#^~@+][A-Za-z0-9_.\'!#^~@+-]*$ ]]; then
        HOME_WHY="home $home is neither directly under /home nor the shared home $shome"
    else
        meta=${H_LINK[$leaf]:-}
        if [[ -n $meta && $meta != "l $shome" ]]; then HOME_WHY="home $home exists on this node and is not a symlink to $shome ($meta)"; fi
    fi
}

ensure_home_link() { # home shome (checked by home_ok)
    local leaf=${1##*/}
    [[ $1 != "$2" && -z ${H_LINK[$leaf]:-} ]] || return 0
    ln -s -- "$2" "$1"
    H_LINK[$leaf]="l $2"
}

# Scheduler, Slurm 25.11.5 (the cluster's release; measured, ../shared/reference/identity-probe/probe-25.sh): when
# slurmctld launches a job whose UID it cannot resolve, building the job credential fails ("slurm_cred_create:
# fetch_identity() failed ... holding job") and the job is requeued and held at once: JobState=PENDING
# Reason=JobHeldAdmin Priority=0 Restarts>=1 SystemComment="slurm_cred_create failure". It stays held after the account
# appears, and once released waits for the requeue delay (BeginTime, ~2 min) unless its StartTime is set to now.
# release_identity_holds runs on every scheduler pass (the fast path included) and releases exactly those jobs: held
# with that SystemComment, and only once their UID resolves here; then StartTime=now. A job an admin held on purpose
# (scontrol hold: no such SystemComment) is never touched, and a job is released once per requeue (state file
# "released": job id and Restarts), so an admin's hold after our release sticks. One squeue per pass.
release_identity_holds() {
    [[ $ACCOUNTS_ROLE == scheduler ]] && command -v squeue >/dev/null 2>&1 || return 0
    local id uid reason info restarts line changed=0 file=$ACCOUNTS_STATE_DIR/released lines=()
    declare -A before=() keep=()
    if [[ -f $file ]]; then
        mapfile -t lines <"$file"
        for line in "${lines[@]}"; do before[${line%% *}]=${line#* }; done
    fi
    while read -r id uid reason; do
        [[ $id =~ ^[0-9]+(_[0-9]+)?$ && $uid =~ ^[0-9]+$ ]] || continue
        # A released job is remembered while it is pending (whatever the reason), so an admin's later hold sticks.
        [[ -n ${before[$id]:-} ]] && keep[$id]=${before[$id]}
        [[ $reason == JobHeldAdmin ]] || continue
        info=$(timeout 15 scontrol show job -o "$id" 2>/dev/null) || continue
        [[ $info == *" SystemComment=slurm_cred_create failure"* && $info =~ \ Restarts=([0-9]+) ]] || continue
        restarts=${BASH_REMATCH[1]}
        [[ ${before[$id]:-} == "$restarts" ]] && continue
        getent passwd "$uid" >/dev/null 2>&1 || continue
        timeout 15 scontrol release "$id" >/dev/null 2>&1 || continue
        timeout 15 scontrol update "jobid=$id" StartTime=now >/dev/null 2>&1 || true
        keep[$id]=$restarts
        changed=1
        note "released job $id of UID $uid (held by Slurm while the UID was unknown on the scheduler)"
    done < <(timeout 15 squeue -h -t PD -o '%i %U %r' 2>/dev/null)
    (( changed || ${#before[@]} != ${#keep[@]} )) || return 0
    for id in "${!keep[@]}"; do printf '%s %s\n' "$id" "${keep[$id]}"; done >"$file.new"
    mv -f "$file.new" "$file"
}

apply_entry() { # file uid
    local f=$1 fuid=$2 line key value name='' uid='' gid='' home='' shome='' oid='' state='' serial='' seen=' '
    STATUS_RESULT='' STATUS_REASON=''
    E_NAME='' E_SERIAL='' E_HOME='' E_SHOME=''
    [[ $fuid =~ ^[0-9]{1,10}$ ]] || { refuse "file name is not a UID" "$f"; return; }
    local ftype fowner fmode fsize content=''
    local _ino_mtime
    read -r ftype fowner fmode fsize _ino_mtime <<<"${F_META[$fuid]:-? ? 0 0}"
    [[ $ftype == l ]] && { refuse "$f is a symlink" "$f"; return; }
    [[ $ftype == f ]] || { refuse "$f is not a regular file" "$f"; return; }
    [[ $fowner == 0 ]] || { refuse "$f is owned by UID $fowner, not root" "$f"; return; }
    if ! [[ $fmode =~ ^[0-7]+$ ]] || (( (8#$fmode & 8#022) != 0 )); then refuse "$f is group- or world-writable (mode $fmode)" "$f"; return; fi
    (( fsize <= MAX_ENTRY_BYTES )) || { refuse "larger than $MAX_ENTRY_BYTES bytes" "$f"; return; }
    IFS= read -r -d '' content <"$f" || true
    while IFS= read -r line || [[ -n $line ]]; do
        if ! [[ $line =~ ^([a-z]+)=([^[:cntrl:]]*)$ ]]; then refuse "malformed line" "$f"; return; fi
        key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
        case $key in name | uid | gid | home | shome | oid | state | serial) ;; *) refuse "unknown key $key" "$f"; return ;; esac
        [[ $seen == *" $key "* ]] && { refuse "duplicate key $key" "$f"; return; }
        seen+="$key "
        printf -v "$key" '%s' "$value"
    done <<<"${content%$'\n'}"
    E_SERIAL=$serial
    if ! valid_name "$name"; then
        if [[ $name =~ ^[a-z_][a-z0-9_-]*$ ]]; then refuse "invalid name $name: not a user principal name (name@domain) nor a service account declared in ACCOUNTS_SERVICE_ACCOUNTS" "$f"
        else refuse "invalid name" "$f"; fi
        return
    fi
    E_NAME=$name
    [[ $serial =~ ^[0-9]{1,25}$ ]] || { refuse "invalid serial" "$f"; return; }
    [[ $uid == "$fuid" ]] || { refuse "uid $uid does not match the file name" "$f"; return; }
    local svc=${SERVICE_UID[$name]:-}
    if [[ -n $svc ]]; then
        # The declared service account: exactly its UID (outside the people's range, so the extension never hands it out).
        [[ $uid == "$svc" && $gid == "$svc" ]] || { refuse "service account $name must have UID and GID $svc (ACCOUNTS_SERVICE_ACCOUNTS)" "$f"; return; }
        [[ $RESERVED_IDS != *" $uid "* ]] || { refuse "UID $uid is reserved" "$f"; return; }
    else
        id_ok "$uid"; [[ -z $ID_WHY ]] || { refuse "UID $ID_WHY" "$f"; return; }
        id_ok "$gid"; [[ -z $ID_WHY ]] || { refuse "GID $ID_WHY" "$f"; return; }
        local n
        for n in "${SERVICE_UID[@]}"; do [[ $uid != "$n" && $gid != "$n" ]] || { refuse "UID/GID $n is reserved for a service account" "$f"; return; }; done
    fi
    # Entries of issue 9 have no shome=: their shared home is $SHARED_HOME/<name>.
    [[ -n $shome ]] || shome=$SHARED_HOME/$name
    if ! [[ $home =~ ^/[^:[:cntrl:]]+$ ]]; then refuse "home must be /home/<leaf> or $shome" "$f"; return; fi
    case $state in active | revoked) ;; *) refuse "invalid state" "$f"; return ;; esac
    [[ -z $oid || $oid =~ ^[0-9a-f-]{1,64}$ ]] || { refuse "invalid oid" "$f"; return; }
    E_HOME=$home E_SHOME=$shome

    local have_uid=${P_UID[$name]:-} have_name=${P_NAME[$uid]:-}
    if [[ $state == revoked ]]; then
        STATUS_RESULT=revoked
        if [[ $have_uid == "$uid" && ${P_GECOS[$name]:-} == "$MARKER" ]]; then
            remove_account deluser "$name" "$uid" "$gid" -- userdel -- "$name"
            if [[ ${G_GID[$name]:-} == "$gid" ]]; then remove_account delgroup "$name" "$uid" "$gid" -- groupdel -- "$name"; fi
            [[ $home == /home/* && ${H_LINK[${home##*/}]:-} == "l $shome" ]] && rm -f -- "$home"
            unset "P_UID[$name]" "P_NAME[$uid]"
            note "revoked $name (uid $uid): account removed"
        fi
        REVOKED_UIDS+=" $uid "
        return
    fi
    home_ok "$home" "$shome"
    [[ -z $HOME_WHY ]] || { refuse "home must be /home/<leaf> or $shome: $HOME_WHY" "$f"; return; }
    # Our own account of this UID under another name (a renamed UPN) or with another home (a changed home path):
    # removed and created again as the entry says (the UID, and so every file, stays the same).
    if [[ -n $have_name && ${P_GECOS[$have_name]:-} == "$MARKER" ]] && [[ $have_name != "$name" || ${P_HOME[$have_name]:-} != "$home" ]]; then
        remove_account deluser "$have_name" "$uid" "$gid" -- userdel -- "$have_name"
        if [[ ${G_GID[$have_name]:-} == "$gid" ]]; then
            remove_account delgroup "$have_name" "$uid" "$gid" -- groupdel -- "$have_name"
            unset "G_GID[$have_name]" "G_NAME[$gid]"
        fi
        note "removed $have_name (uid $uid) to create it again as $name (home $home)"
        unset "P_UID[$have_name]" "P_NAME[$uid]"
        have_uid=${P_UID[$name]:-} have_name=''
    fi
    # Collisions with local accounts are refused, never reused.
    if [[ -n $have_name && $have_name != "$name" ]]; then refuse "UID $uid is already used by local account $have_name" "$f"; return; fi
    if [[ -n $have_uid && $have_uid != "$uid" ]]; then refuse "name $name is already used locally by UID $have_uid" "$f"; return; fi
    if [[ -n ${G_NAME[$gid]:-} && ${G_NAME[$gid]} != "$name" ]]; then refuse "GID $gid is already used by local group ${G_NAME[$gid]}" "$f"; return; fi
    if [[ -n ${G_GID[$name]:-} && ${G_GID[$name]} != "$gid" ]]; then refuse "group $name already exists locally with GID ${G_GID[$name]}" "$f"; return; fi
    if [[ -z $have_uid ]]; then
        if [[ -z ${G_NAME[$gid]:-} ]]; then
            add_account addgroup "$name" "$uid" "$gid" "$home" -- groupadd -g "$gid" -- "$name" || { refuse "$WHY" "$f"; return; }
            G_NAME[$gid]=$name; G_GID[$name]=$gid
        fi
        add_account adduser "$name" "$uid" "$gid" "$home" -- useradd -u "$uid" -g "$gid" -N -M -l -d "$home" -s /bin/bash -c "$MARKER" -- "$name" \
            || { refuse "$WHY" "$f"; return; }
        P_UID[$name]=$uid; P_NAME[$uid]=$name; P_GECOS[$name]=$MARKER
        note "created $name (uid $uid, gid $gid, home $home)"
    fi
    ensure_home_link "$home" "$shome"
    STATUS_RESULT=applied
}

# Arguments: none (a pass over the registry), or `--uid UID` (the Slurm prolog: the job's UID). With --uid, the entry
# users/UID is looked up by its path and applied first, with the same checks, refusals and status as any entry, even
# when this node's listing of users/ does not show it yet (NFS, actimeo=30: a directory's listing may come from the
# attribute cache for 30 s, while a lookup of a name not looked up before, and the open of a file, go to the server);
# then the normal pass runs. The fast path does not skip a UID that has an entry and is not applied yet. A UID that is
# not one the registry can hold (outside ACCOUNTS_UID_MIN..MAX and no service account; root's or a local user's job) or
# has no entry: only the normal pass. Malformed (not a decimal 0..4294967294) or unknown argument: exit 2, nothing done.
TARGET=''
usage() { echo "$prog: $*; usage: cluster-accounts-apply [--uid UID]" >&2; logger -t "$prog" -- "error: $*" 2>/dev/null || true; exit 2; }
parse_args() {
    while (( $# )); do
        case $1 in
            --uid)
                (( $# >= 2 )) || usage "--uid needs a UID"
                # The value itself is never printed: it may come from anywhere.
                if ! [[ $2 =~ ^(0|[1-9][0-9]{0,9})$ ]] || (( $2 > 4294967294 )); then usage "--uid: not a UID (a decimal 0..4294967294)"; fi
                TARGET=$2
                shift 2
                ;;
            *) usage "unknown argument" ;;
        esac
    done
}

# The requested entry (TARGET) exists by its path and is not in the cache of applied entries: the fast path must not
# skip it.
target_pending() {
    [[ -n $TARGET ]] || return 1
    [[ -e $ACCOUNTS_REGISTRY/users/$TARGET || -L $ACCOUNTS_REGISTRY/users/$TARGET ]] || return 1
    [[ -f $ACCOUNTS_STATE_DIR/applied ]] || return 0
    ! grep -q -- "^$TARGET"$'\t' "$ACCOUNTS_STATE_DIR/applied"
}

main() {
    parse_args "$@"
    load_settings
    [[ $EUID -eq 0 ]] || fail "must run as root"
    if [[ -n $TARGET && " ${SERVICE_UID[*]} " != *" $TARGET "* ]]; then
        id_ok "$TARGET"
        [[ -z $ID_WHY ]] || TARGET=''
    fi
    # Nothing published yet (or /shared not mounted yet): nothing to do.
    [[ -d $ACCOUNTS_REGISTRY/users || -L $ACCOUNTS_REGISTRY/users ]] || exit 0
    install -d -m 0700 -o root -g root "$ACCOUNTS_STATE_DIR"
    exec 9>>"$ACCOUNTS_STATE_DIR/lock"
    flock -w 60 9 || fail "another run holds $ACCOUNTS_STATE_DIR/lock"
    local line
    if [[ -f $ACCOUNTS_STATE_DIR/refused ]]; then
        while IFS= read -r line; do REFUSED_BEFORE[$line]=1; done <"$ACCOUNTS_STATE_DIR/refused"
    fi
    check_chain "$ACCOUNTS_REGISTRY/users"
    if [[ $ACCOUNTS_ROLE == scheduler ]]; then
        if [[ ! -e $ACCOUNTS_REGISTRY/status && ! -L $ACCOUNTS_REGISTRY/status ]]; then
            mkdir -m 0755 -- "$ACCOUNTS_REGISTRY/status"
            chown 0:0 -- "$ACCOUNTS_REGISTRY/status"
        fi
        check_chain "$ACCOUNTS_REGISTRY/status"
    fi
    # Fast path: nothing that decides the result changed since the last full run (the registry directory, which every
    # publish renames into; this node's passwd/group and /home; the status directory) and that run is under 60 s
    # old: stop here. Only root can change an entry without a rename; the full run at least every minute catches it.
    local sig now last_sig='' last_time=0
    sig=$( { find "$ACCOUNTS_REGISTRY/users" "$ACCOUNTS_REGISTRY/status" /etc/passwd /etc/group /home \
        -maxdepth 0 -printf '%i %T@ %C@ %U %m\n' 2>/dev/null || true; } | tr '\n' ' ')
    sig=${sig% }
    now=$(date +%s)
    if [[ -f $ACCOUNTS_STATE_DIR/signature ]]; then read -r last_time last_sig <"$ACCOUNTS_STATE_DIR/signature" || true; fi
    if [[ $last_sig == "$sig" ]] && (( now - last_time < 60 )) && ! target_pending; then
        # Pending jobs of revoked users are still cancelled on every scheduler run.
        if [[ -s $ACCOUNTS_STATE_DIR/revoked ]]; then read -r REVOKED_UIDS <"$ACCOUNTS_STATE_DIR/revoked" || true; REVOKED_UIDS=" $REVOKED_UIDS "; fi
        cancel_revoked_jobs
        release_identity_holds
        return 0
    fi
    load_local
    probe_badname
    # Entries applied by an earlier run whose file is unchanged (same inode, mtime, size, owner, mode) and whose local
    # account and home link are still in place are skipped: the steady state costs no parsing.
    local f u cached=() applied=() key name home shome
    declare -A CACHED
    if [[ -f $ACCOUNTS_STATE_DIR/applied ]]; then
        mapfile -t cached <"$ACCOUNTS_STATE_DIR/applied"
        for line in "${cached[@]}"; do CACHED[${line%%$'\t'*}]=${line#*$'\t'}; done
    fi
    # The requested entry first, by its path (lstat of that name: fresh where the listing may not be).
    local first=() meta='' done_target=0
    if [[ -n $TARGET ]]; then
        meta=$(find "$ACCOUNTS_REGISTRY/users/$TARGET" -maxdepth 0 -printf '%y %U %m %s %i %T@' 2>/dev/null) || meta=''
        if [[ -n $meta ]]; then F_META[$TARGET]=$meta; first=("$ACCOUNTS_REGISTRY/users/$TARGET"); fi
    fi
    for f in "${first[@]}" "$ACCOUNTS_REGISTRY"/users/*; do
        [[ -e $f || -L $f ]] || continue
        u=${f##*/}
        [[ $u == .tmp.* ]] && continue
        # The requested entry comes first; its name in the listing is skipped.
        if [[ ${#first[@]} -gt 0 && $u == "$TARGET" ]]; then (( done_target++ == 0 )) || continue; fi
        if [[ -n ${CACHED[$u]:-} && -n ${F_META[$u]:-} ]]; then
            key=${CACHED[$u]%%$'\t'*}; name=${CACHED[$u]#*$'\t'}; home=${name#*$'\t'}; name=${name%%$'\t'*}
            shome=${home#*$'\t'}; home=${home%%$'\t'*}
            if [[ $key == "${F_META[$u]}" && ${P_UID[$name]:-} == "$u" ]] \
                && [[ $home == "$shome" || ${H_LINK[${home##*/}]:-} == "l $shome" ]] \
                && [[ $ACCOUNTS_ROLE != scheduler || -f $ACCOUNTS_REGISTRY/status/$u ]]; then
                applied+=("$u"$'\t'"${CACHED[$u]}")
                continue
            fi
        fi
        apply_entry "$f" "$u"
        if [[ $u =~ ^[0-9]{1,10}$ ]]; then
            write_status "$u" "$E_NAME" "$E_SERIAL"
            [[ $STATUS_RESULT == applied ]] && applied+=("$u"$'\t'"${F_META[$u]}"$'\t'"$E_NAME"$'\t'"$E_HOME"$'\t'"$E_SHOME")
        fi
    done
    if (( ${#applied[@]} )); then printf '%s\n' "${applied[@]}"; fi >"$ACCOUNTS_STATE_DIR/applied.new"
    mv -f "$ACCOUNTS_STATE_DIR/applied.new" "$ACCOUNTS_STATE_DIR/applied"
    cancel_revoked_jobs
    release_identity_holds
    if (( ${#REFUSED_NOW[@]} )); then printf '%s\n' "${REFUSED_NOW[@]}"; fi >"$ACCOUNTS_STATE_DIR/refused.new"
    mv -f "$ACCOUNTS_STATE_DIR/refused.new" "$ACCOUNTS_STATE_DIR/refused"
    echo "$REVOKED_UIDS" >"$ACCOUNTS_STATE_DIR/revoked"
    # The signature taken before this run: a change made during the run triggers the next one.
    printf '%s %s\n' "$now" "$sig" >"$ACCOUNTS_STATE_DIR/signature"
}

# Scheduler: pending jobs of revoked users never start (one squeue per run, only when something is revoked).
cancel_revoked_jobs() {
    [[ $ACCOUNTS_ROLE == scheduler && $REVOKED_UIDS != ' ' ]] && command -v squeue >/dev/null 2>&1 || return 0
    local id uid
    while read -r id uid; do
        if [[ $REVOKED_UIDS == *" $uid "* && $id =~ ^[0-9_]+$ ]]; then
            scancel "$id" >/dev/null 2>&1 && note "cancelled pending job $id of revoked UID $uid"
        fi
    done < <(squeue -h -t PD -o '%i %U' 2>/dev/null)
    return 0
}

main "$@"
