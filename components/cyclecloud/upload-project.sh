#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# upload-project.sh: runs as root on the CycleCloud server, sent by the accounts-upload Command in cluster.ts
# (`sudo -n bash -s -- LOCKER PROJECT VERSION`, lib.sh and this script on stdin after a preamble that exports
# CC_PROJECT_FILES: the project as JSON [{path, mode, content (base64)}], built by components/accounts/project.ts).
# Writes the project into a private temporary directory (removed on exit), checks that the locker exists,
# and runs `cyclecloud project upload LOCKER` there: the spec lands in the locker at
# projects/PROJECT/VERSION/<spec>, where nodes fetch it at boot. Uploading the same files again leaves the
# locker as it was, so a re-run is harmless. Prints CLUSTER_INIT_PROJECT=PROJECT:VERSION.
# Changes nothing on the server itself. Env overrides (tests): CC_WAIT_TIMEOUT, CC_WAIT_INTERVAL.
set -euo pipefail
SCRIPT_NAME=upload-project
if ! declare -F die >/dev/null; then
    # shellcheck source=lib.sh
    . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi

(( $# == 3 )) || die "usage: upload-project.sh LOCKER PROJECT VERSION"
locker=$1 project=$2 version=$3
[[ $locker =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || die "not a locker name: $locker"
[[ $project =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die "not a project name: $project"
[[ $version =~ ^[0-9]+(\.[0-9]+)*$ ]] || die "not a project version: $version"
[[ -n ${CC_PROJECT_FILES:-} ]] || die "CC_PROJECT_FILES is not set"
# The CLI by absolute path (lib.sh): sudo's secure_path does not hold /usr/local/bin, where the image has it.
find_cyclecloud

umask 077
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
dir=$work/$project

# The files, from JSON: only relative paths under project.ini and specs/, no `..`, no overwriting a file twice.
CC_PROJECT_DIR=$dir python3 - <<'PY'
import base64, json, os, re, sys
root = os.environ["CC_PROJECT_DIR"]
files = json.loads(os.environ["CC_PROJECT_FILES"])
seen = set()
for f in files:
    p, mode = f["path"], f["mode"]
    if not re.fullmatch(r"(project\.ini|specs/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)+)", p) or ".." in p.split("/"):
        sys.exit(f"upload-project: ERROR: refusing path {p!r}")
    if mode not in ("0644", "0755") or p in seen:
        sys.exit(f"upload-project: ERROR: refusing {p!r} (mode {mode!r} or listed twice)")
    seen.add(p)
    target = os.path.join(root, p)
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    with open(target, "wb") as out:
        out.write(base64.b64decode(f["content"], validate=True))
    os.chmod(target, int(mode, 8))
if "project.ini" not in seen:
    sys.exit("upload-project: ERROR: no project.ini in CC_PROJECT_FILES")
PY
# The project.ini we were sent must be the project and version we were asked to upload.
grep -qxF "name = $project" "$dir/project.ini" || die "project.ini does not name project $project"
grep -qxF "version = $version" "$dir/project.ini" || die "project.ini does not have version $version"

# `cyclecloud locker list` prints one "NAME (URL)" line per locker.
locker_present() {
    local name _
    while read -r name _; do
        [[ $name == "$locker" ]] && return 0
    done < <(cyclecloud locker list 2>/dev/null)
    return 1
}
if ! locker_present; then
    die "locker $locker is not among this server's lockers ($(cyclecloud locker list 2>&1 | tr '\n' ' ')); the init Command creates it"
fi

# The server writes to the locker with its managed identity; its Storage Blob Data Contributor assignment may be
# minutes old, so the first upload may be refused until Azure honours it.
upload() {
    (cd "$dir" && cyclecloud project upload "$locker" >"$work/upload.log" 2>&1)
}
if ! upload; then
    log "project upload to $locker failed; retrying while the locker role assignment propagates: $(tail -n 3 "$work/upload.log" | tr '\n' ' ')"
    wait_until "cyclecloud project upload $locker to succeed" 600 upload
fi
files=$(find "$dir/specs" -type f | wc -l)
log "project $project $version uploaded to locker $locker ($files spec files)"
printf 'CLUSTER_INIT_PROJECT=%s:%s\n' "$project" "$version"
