#!/usr/bin/env bash
# Runs on the login node as root (cloud-init runcmd, at every boot), any number of times: installs the sign-in hook of
# issues 9 and 16 and restores the registered users' records for the Entra extension (a rebuilt login node).
# Changes: /usr/local/lib/cluster-accounts/accounts-lib.sh (the helpers the hook sources, root 0644; cloud-init writes
# it there already), /usr/local/sbin/cluster-account-publish (copy of publish-account.sh, root 0755);
# /etc/pam.d/sshd: the rule of pam-sshd-session placed before the first session line that can bring user-supplied
# environment (pam_env, an include/substack, pam_selinux open), any other copy of it (e.g. issue 9's appended line) removed; then verifies
# that no pam_env reads a user's environment file (user_readenv=1) in the auth or account stacks or in the session
# stack before the hook (includes followed), and fails naming the file and line otherwise; then
# `cluster-account-publish --restore` (adds missing /etc/aadpasswd records of registered users; bounded by timeout).
# Usage: install-login.sh [SOURCE_DIR]   (default: this script's directory; holds publish-account.sh, accounts-lib.sh,
# pam-sshd-session)
set -euo pipefail
umask 022

src=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
pam_file=${PAM_SSHD_FILE:-/etc/pam.d/sshd}
pam_dir=$(dirname "$pam_file")
target=/usr/local/sbin/cluster-account-publish
lib=/usr/local/lib/cluster-accounts/accounts-lib.sh
hook_re='pam_exec\.so.*/usr/local/sbin/cluster-account-publish'

die() { echo "install-login.sh: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "must run as root"
for f in publish-account.sh accounts-lib.sh pam-sshd-session; do
    [[ -f $src/$f && ! -L $src/$f ]] || die "$src/$f missing (or a symlink)"
done
[[ -f $pam_file && ! -L $pam_file ]] || die "$pam_file is missing or not a regular file; is sshd installed?"

# The library first: the hook is never in place without the helpers it sources.
if ! cmp -s "$src/accounts-lib.sh" "$lib" || [[ -L $lib || $(stat -c '%u %g %a' -- "$lib") != "0 0 644" ]]; then
    install -d -m 0755 -o root -g root "${lib%/*}"
    install -m 0644 -o root -g root "$src/accounts-lib.sh" "$lib.new"
    mv -fT "$lib.new" "$lib"
    echo "installed $lib"
fi
if ! cmp -s "$src/publish-account.sh" "$target"; then
    install -d -m 0755 -o root -g root /usr/local/sbin
    install -m 0755 -o root -g root "$src/publish-account.sh" "$target.new"
    mv -fT "$target.new" "$target"
    echo "installed $target"
fi

norm() { tr -s ' \t' ' ' | sed -e 's/^ //' -e 's/ $//'; }
mapfile -t rules < <(grep -Ev '^[[:space:]]*(#|$)' "$src/pam-sshd-session")
mapfile -t comments < <(grep -E '^[[:space:]]*#' "$src/pam-sshd-session")
# A session line from which user-supplied environment may exist: the hook must come before it.
risky() {
    local inc
    if [[ $1 =~ ^[[:space:]]*@include[[:space:]]+([^[:space:]]+) ]]; then
        inc=${BASH_REMATCH[1]}; [[ $inc == /* ]] || inc=$pam_dir/$inc
        grep -Eq '^[[:space:]]*-?session[[:space:]]' "$inc" 2>/dev/null
        return
    fi
    [[ $1 =~ ^[[:space:]]*-?session[[:space:]] ]] && [[ $1 =~ pam_env\.so|[[:space:]](include|substack)[[:space:]]|pam_selinux\.so.*[[:space:]]open ]]
}

# The wanted file: everything but our rules (and their comments), ours inserted before the first risky session line.
want=$(mktemp)
trap 'rm -f "$want"' EXIT
placed=0
while IFS= read -r line || [[ -n $line ]]; do
    n=$(norm <<<"$line")
    if [[ $n =~ $hook_re ]]; then continue; fi
    skip=0
    for c in "${comments[@]}"; do [[ $n == "$(norm <<<"$c")" ]] && skip=1; done
    (( skip )) && continue
    if (( ! placed )) && risky "$line"; then
        printf '%s\n' "${comments[@]}" "${rules[@]}"
        placed=1
    fi
    printf '%s\n' "$line"
done <"$pam_file" >"$want"
(( placed )) || printf '%s\n' "${comments[@]}" "${rules[@]}" >>"$want"
if ! cmp -s "$want" "$pam_file"; then
    tmp=$(mktemp "$pam_file.XXXXXX")
    cat "$want" >"$tmp"
    chmod --reference="$pam_file" "$tmp"
    chown --reference="$pam_file" "$tmp"
    mv -fT "$tmp" "$pam_file"
    echo "placed the cluster-accounts session hook in $pam_file"
fi

# Verify: walk the stacks as PAM reads them (includes and substacks followed, depth-limited).
problem=''
walk() { # file type depth before_hook(1|0) -> sets problem; returns 2 once the hook is reached (session)
    local file=$1 type=$2 depth=$3 line no=0 inc rc
    (( depth < 8 )) || { problem="$file: includes nest too deep"; return 1; }
    [[ -f $file ]] || { problem="$file (included) does not exist; cannot verify the $type stack"; return 1; }
    while IFS= read -r line || [[ -n $line ]]; do
        no=$((no + 1))
        [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
        if [[ $line =~ ^[[:space:]]*@include[[:space:]]+([^[:space:]]+) ]]; then
            inc=${BASH_REMATCH[1]}; [[ $inc == /* ]] || inc=$pam_dir/$inc
            rc=0; walk "$inc" "$type" $((depth + 1)) || rc=$?
            (( rc == 0 )) || return $rc
            continue
        fi
        [[ $line =~ ^[[:space:]]*-?${type}[[:space:]] ]] || continue
        if [[ $type == session && $line =~ $hook_re ]]; then return 2; fi
        if [[ $line =~ [[:space:]](include|substack)[[:space:]]+([^[:space:]]+) ]]; then
            inc=${BASH_REMATCH[2]}; [[ $inc == /* ]] || inc=$pam_dir/$inc
            rc=0; walk "$inc" "$type" $((depth + 1)) || rc=$?
            (( rc == 0 )) || return $rc
            continue
        fi
        # Before the hook: no pam_env at all in the session stack; none reading a user's file in auth/account.
        if [[ $line =~ pam_env\.so ]] && [[ $type == session || $line =~ user_readenv=1 ]]; then
            problem="$file line $no runs pam_env ($(norm <<<"$line")) before the cluster-accounts hook; a user could set the hook's environment"
            return 1
        fi
    done <"$file"
    return 0
}
# Fail closed: a hook that a user's environment could reach is taken out again (sign-in works, nothing is published).
refuse() {
    local tmp
    tmp=$(mktemp "$pam_file.XXXXXX")
    grep -Ev "$hook_re" "$pam_file" >"$tmp" || true
    chmod --reference="$pam_file" "$tmp"
    chown --reference="$pam_file" "$tmp"
    mv -fT "$tmp" "$pam_file"
    die "refusing to install the hook (removed from $pam_file): $1"
}
for type in auth account; do
    rc=0; walk "$pam_file" "$type" 0 || rc=$?
    (( rc == 1 )) && refuse "$problem"
done
rc=0; walk "$pam_file" session 0 || rc=$?
(( rc == 1 )) && refuse "$problem"
(( rc == 2 )) || die "the cluster-accounts hook is not in the session stack of $pam_file after placing it"

# A rebuilt login node: give returning users their registered UIDs before they sign in (no-op without a registry).
if [[ -f /etc/default/cluster-accounts ]]; then
    timeout 120 "$target" --restore || echo "install-login.sh: warning: restoring users' records failed or timed out (the sign-in hook repairs UIDs instead)" >&2
fi
