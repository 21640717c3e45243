#!/usr/bin/env bash
# Runs on a developer machine as root (measurement, not part of npm test): the cost of one run of
# components/accounts/cluster-init/files/apply-accounts.sh with N registry entries whose accounts already exist.
# Changes nothing on the machine: a private mount namespace with an overlay on /etc and a private /home, removed at
# the end. Usage: sudo N=1000 bash test/bench/apply-accounts-bench.sh
set -euo pipefail
if [[ ${1:-} != --inside ]]; then
    exec unshare --mount --propagation private -- bash "$0" --inside
fi
apply=$(cd "$(dirname "$0")/../.." && pwd)/components/accounts/cluster-init/files/apply-accounts.sh
n=${N:-1000}
d=$(mktemp -d /tmp/accounts-bench.XXXXXX)
chmod 0755 "$d"
trap 'umount /home 2>/dev/null || true; umount /etc 2>/dev/null || true; rm -rf "$d"' EXIT
mkdir -p "$d/l/u" "$d/l/w" "$d/shared/apps/accounts/users" "$d/shared/home" "$d/home"
chmod -R 0755 "$d"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$d/l/u,workdir=$d/l/w" /etc
mount --bind "$d/home" /home
for ((i = 0; i < n; i++)); do
    u=$((3100000 + i)) name="b$i@contoso.com"
    printf 'name=%s\nuid=%s\ngid=%s\nhome=/home/%s\nstate=active\nserial=1\n' "$name" "$u" "$u" "$name" >"$d/shared/apps/accounts/users/$u"
    echo "$name:x:$u:$u:cluster-accounts:/home/$name:/bin/bash" >>/etc/passwd
    echo "$name:x:$u:" >>/etc/group
    ln -s "$d/shared/home/$name" "/home/$name"
done
# The apply script takes its settings only from this file (here in the namespace's /etc overlay).
printf '%s\n' "ACCOUNTS_REGISTRY=$d/shared/apps/accounts" "ACCOUNTS_TRUST_ROOT=$d/shared" "SHARED_HOME=$d/shared/home" \
    "ACCOUNTS_ROLE=${ROLE:-execute}" "ACCOUNTS_STATE_DIR=$d/state" >/etc/default/cluster-accounts
chmod 0644 /etc/default/cluster-accounts
ms() { local s e; s=$(date +%s%N); bash "$apply"; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
echo "entries: $n"
echo "first run (no cache: parses every entry, creates nothing): $(ms) ms"
echo "second run (cache of applied entries): $(ms) ms"
runs=()
for _ in 1 2 3 4 5; do runs+=("$(ms)"); done
echo "runs with nothing changed (fast path): ${runs[*]} ms; median $(printf '%s\n' "${runs[@]}" | sort -n | sed -n 3p) ms"
