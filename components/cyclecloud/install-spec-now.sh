#!/usr/bin/env bash
# install-spec-now.sh: runs as root on the running Slurm scheduler, sent by the accounts-scheduler Command in
# cluster.ts (`sudo -n bash -s -- PROJECT SPEC`, this script on stdin after a preamble that exports
# CC_PROJECT_FILES, the same project JSON the upload Command sends to the locker).
# Why: nodes run cluster-init specs when they boot, but a scheduler that is already running (an existing
# stack, or a changed script) would only get the spec at its next boot, and until then no signed-in Entra
# user's job could start. So this runs the spec's cluster-init scripts now, the way jetpack runs them:
# each specs/SPEC/cluster-init/scripts/*.sh in name order, as root, with CYCLECLOUD_SPEC_PATH set to the
# spec's cluster-init directory. The spec is kept in SPEC_ROOT (root-owned, replaced as a whole), not in /tmp,
# because what it installs may refer to it. The scripts are idempotent (identity contract), so a re-run with
# the same files changes nothing.
# Changes: SPEC_ROOT (default /var/lib/cluster-accounts/spec), and whatever the spec's scripts install.
# Env overrides (tests): ACCOUNTS_SPEC_ROOT.
set -euo pipefail

die() { printf 'install-spec-now: ERROR: %s\n' "$*" >&2; exit 1; }
(( $# == 2 )) || die "usage: install-spec-now.sh PROJECT SPEC"
project=$1 spec=$2
[[ $project =~ ^[a-z0-9][a-z0-9_-]*$ && $spec =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die "bad project or spec name"
[[ -n ${CC_PROJECT_FILES:-} ]] || die "CC_PROJECT_FILES is not set"
spec_root=${ACCOUNTS_SPEC_ROOT:-/var/lib/cluster-accounts/spec}
[[ $spec_root == /* && $spec_root != *..* ]] || die "ACCOUNTS_SPEC_ROOT must be an absolute path"

umask 022
parent=$(dirname "$spec_root")
mkdir -p "$parent"
[[ -d $parent && ! -L $parent ]] || die "$parent is not a directory"
chmod 0755 "$parent"
staging=$(mktemp -d "$parent/.spec.XXXXXX")
trap 'rm -rf -- "$staging"' EXIT

# python3 for the JSON; EL8 always has platform-python (dnf runs on it) even where python3 is not installed.
python=$(command -v python3 || true)
[[ -n $python ]] || python=/usr/libexec/platform-python
[[ -x $python ]] || die "no python3 (nor /usr/libexec/platform-python) on this scheduler"

CC_STAGING=$staging CC_SPEC_PREFIX="specs/$spec/cluster-init/" "$python" - <<'PY'
import base64, json, os, re, sys
root, prefix = os.environ["CC_STAGING"], os.environ["CC_SPEC_PREFIX"]
count = 0
for f in json.loads(os.environ["CC_PROJECT_FILES"]):
    p, mode = f["path"], f["mode"]
    if not p.startswith(prefix):
        continue
    rel = p[len(prefix):]
    if not re.fullmatch(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*", rel) or ".." in rel.split("/") or mode not in ("0644", "0755"):
        sys.exit(f"install-spec-now: ERROR: refusing {p!r}")
    target = os.path.join(root, rel)
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    with open(target, "wb") as out:
        out.write(base64.b64decode(f["content"], validate=True))
    os.chmod(target, int(mode, 8))
    count += 1
if count == 0:
    sys.exit(f"install-spec-now: ERROR: no files under {prefix} in CC_PROJECT_FILES")
PY
chmod 0755 "$staging"
[[ -d $staging/scripts ]] || die "the spec has no scripts/ directory"

# Swap the whole directory, so nothing ever sees a half-written spec.
if [[ -e $spec_root || -L $spec_root ]]; then
    rm -rf -- "$spec_root.old"
    mv -- "$spec_root" "$spec_root.old"
fi
mv -- "$staging" "$spec_root"
rm -rf -- "$spec_root.old"
trap - EXIT

ran=()
for script in "$spec_root"/scripts/*.sh; do
    [[ -f $script ]] || continue
    rc=0
    CYCLECLOUD_SPEC_PATH=$spec_root ACCOUNTS_ROLE=scheduler bash "$script" || rc=$?
    (( rc == 0 )) || die "$(basename "$script") failed (exit $rc)"
    ran+=("$(basename "$script")")
done
printf 'install-spec-now: %s:%s on this scheduler: ran %s\n' "$project" "$spec" "${ran[*]:-nothing}"
