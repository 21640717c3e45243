#!/usr/bin/env bash
# Runs on the login node as root (cloud-init runcmd), any number of times: installs the sign-in hook of issue 9.
# Changes: /usr/local/sbin/cluster-account-publish (copy of publish-account.sh, root 0755) and /etc/pam.d/sshd
# (appends the line(s) of pam-sshd-session once; an image whose sshd PAM file differs keeps everything it has).
# Usage: install-login.sh [SOURCE_DIR]   (default: this script's directory; holds publish-account.sh, pam-sshd-session)
set -euo pipefail
umask 022

src=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
pam_file=${PAM_SSHD_FILE:-/etc/pam.d/sshd}
target=/usr/local/sbin/cluster-account-publish

[[ $EUID -eq 0 ]] || { echo "install-login.sh: must run as root" >&2; exit 1; }
for f in publish-account.sh pam-sshd-session; do
    [[ -f $src/$f && ! -L $src/$f ]] || { echo "install-login.sh: $src/$f missing (or a symlink)" >&2; exit 1; }
done
[[ -f $pam_file && ! -L $pam_file ]] || { echo "install-login.sh: $pam_file is missing or not a regular file; is sshd installed?" >&2; exit 1; }

if ! cmp -s "$src/publish-account.sh" "$target"; then
    install -d -m 0755 -o root -g root /usr/local/sbin
    install -m 0755 -o root -g root "$src/publish-account.sh" "$target.new"
    mv -fT "$target.new" "$target"
    echo "installed $target"
fi

# Compare PAM rules with whitespace collapsed, so a reformatted copy is not appended twice.
norm() { tr -s ' \t' ' ' | sed -e 's/^ //' -e 's/ $//'; }
missing=()
while IFS= read -r rule; do
    [[ $rule =~ ^[[:space:]]*(#|$) ]] && continue
    want=$(norm <<<"$rule")
    if ! norm <"$pam_file" | grep -qxF -- "$want"; then missing+=("$rule"); fi
done <"$src/pam-sshd-session"
if (( ${#missing[@]} )); then
    tmp=$(mktemp "$pam_file.XXXXXX")
    cat "$pam_file" >"$tmp"
    [[ -z $(tail -c1 "$pam_file") ]] || echo >>"$tmp"
    grep -E '^[[:space:]]*#' "$src/pam-sshd-session" >>"$tmp" || true
    printf '%s\n' "${missing[@]}" >>"$tmp"
    chmod --reference="$pam_file" "$tmp"
    chown --reference="$pam_file" "$tmp"
    mv -fT "$tmp" "$pam_file"
    echo "added the cluster-accounts session hook to $pam_file"
fi
