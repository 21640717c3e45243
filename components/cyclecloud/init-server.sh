#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# init-server.sh: runs as root on the CycleCloud server (marketplace image), sent over SSH by the remote
# Command in server.ts: `sudo -n bash -s -- ADMIN SUBSCRIPTION_ID LOCATION CLUSTER_RG LOCKER_ACCOUNT LOCKER_IDENTITY_ID`,
# lib.sh and this script on stdin after a preamble that exports CC_ADMIN_PASSWORD (secret) and CC_ADMIN_PUBLIC_KEY.
# Does, headless and only what is missing (a second run on an initialised server changes nothing):
#   1. waits for cycle_server;
#   2. creates the admin user (data record file, consumed by CycleCloud; the file and its imported copy,
#      which hold the password, are removed on every way out, and any left by an earlier run first);
#   3. initialises root's `cyclecloud` CLI (found by absolute path: not on sudo's secure_path), the
#      password answered on the CLI's prompt through a pipe, never on a command line;
#   4. creates the "azure" account: managed identity, restricted to CLUSTER_RG, locker on LOCKER_ACCOUNT
#      reached with LOCKER_IDENTITY_ID (retried: the server's role assignments may still be propagating);
#   5. waits until the locker "azure-storage" is created (asking CycleCloud to retry it if it errs);
#   6. prints the server's SSH host key (CYCLECLOUD_HOST_KEY=...) so later Commands can pin it.
# Never prints the password; CLI output that could echo it is withheld.
# Env overrides (tests): CYCLE_SERVER, CC_DATA_DIR, CC_URL, SSH_HOST_KEY_FILE, IMDS_TOKEN_URL,
# CC_WAIT_TIMEOUT, CC_WAIT_INTERVAL, CC_RETRY_ATTEMPTS, CC_RETRY_DELAY, CC_CYCLE_SERVER_USER.
set -euo pipefail
SCRIPT_NAME=init-server
# lib.sh comes first on stdin; when the file is run directly, load it from beside this file.
if ! declare -F die >/dev/null; then
    # shellcheck source=lib.sh
    . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi
LOCKER=azure-storage

(( $# == 6 )) || die "usage: init-server.sh ADMIN SUBSCRIPTION_ID LOCATION CLUSTER_RG LOCKER_ACCOUNT LOCKER_IDENTITY_ID"
admin=$1 subscription=$2 location=$3 cluster_rg=$4 locker_account=$5 locker_identity=$6
[[ -n ${CC_ADMIN_PASSWORD:-} ]] || die "CC_ADMIN_PASSWORD is not set"
[[ -n ${CC_ADMIN_PUBLIC_KEY:-} ]] || die "CC_ADMIN_PUBLIC_KEY is not set"
data_dir=${CC_DATA_DIR:-/opt/cycle_server/config/data}
url=${CC_URL:-https://localhost}
host_key_file=${SSH_HOST_KEY_FILE:-/etc/ssh/ssh_host_ed25519_key.pub}
imds=${IMDS_TOKEN_URL:-http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/}
umask 077
find_cyclecloud
work=$(mktemp -d)
# The admin record holds the password in clear until CycleCloud has imported it: whatever happens (timeout,
# error, signal), neither it nor its imported copy stays behind.
cleanup() {
    rm -rf -- "$work"
    rm -f -- "$data_dir"/pulumi-admin.json "$data_dir"/pulumi-admin.json.*
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
# A record file an earlier, interrupted run left (it may hold an old password).
rm -f -- "$data_dir"/pulumi-admin.json "$data_dir"/pulumi-admin.json.*

user_exists() {
    cs_has "select Name from AuthenticatedUser where Name==\"$admin\""
}

locker_ready() {
    if cs_has "select Name from Cloud.Locker where Name==\"$LOCKER\" && State==\"Created\""; then
        return 0
    fi
    if cs_has "select Name from Cloud.Locker where Name==\"$LOCKER\" && State==\"Error\""; then
        log "locker $LOCKER is in state Error: asking CycleCloud to retry"
        cs run_action Retry:Cloud.Locker -f "Name==\"$LOCKER\"" >/dev/null 2>&1 || true
    fi
    return 1
}

imds_token() {
    curl -sf -H Metadata:true "$imds" -o /dev/null
}

# 1. The server (first boot of the image starts it; it may still be coming up).
wait_until "cycle_server to start" 900 cs await_startup

# 2. Admin user: a data record file that CycleCloud imports (the documented headless path).
if user_exists; then
    log "admin user $admin: present, unchanged"
else
    [[ -d $data_dir ]] || die "record directory $data_dir does not exist (is this a CycleCloud 8 server?)"
    python3 - "$admin" >"$work/admin.json" <<'PY'
import json, os, sys
admin = sys.argv[1]
print(json.dumps([
    {"AdType": "Application.Setting", "Name": "cycleserver.installation.initial_user", "Value": admin},
    {"AdType": "Application.Setting", "Name": "cycleserver.installation.complete", "Value": True},
    {"AdType": "AuthenticatedUser", "Name": admin, "RawPassword": os.environ["CC_ADMIN_PASSWORD"], "Superuser": True},
    {"AdType": "Credential", "CredentialType": "PublicKey", "Name": admin + "/public",
     "PublicKey": os.environ["CC_ADMIN_PUBLIC_KEY"]},
], indent=1))
PY
    owner=${CC_CYCLE_SERVER_USER:-cycle_server}
    if id "$owner" >/dev/null 2>&1; then
        chown "$owner:$owner" "$work/admin.json"
    fi
    chmod 0600 "$work/admin.json"
    # Renamed into place so CycleCloud never reads a half-written file.
    mv -f "$work/admin.json" "$data_dir/pulumi-admin.json.tmp"
    mv -f "$data_dir/pulumi-admin.json.tmp" "$data_dir/pulumi-admin.json"
    wait_until "CycleCloud to import the admin user record" 600 user_exists
    # The imported copy (*.imported) still holds the password in clear.
    rm -f -- "$data_dir"/pulumi-admin.json "$data_dir"/pulumi-admin.json.*
    log "admin user $admin: created"
fi

# 3. The CLI, for root (the other scripts run as root). It keeps its settings in ~/.cycle/config.ini;
# whether `account list` fails before `initialize` is not documented, so both are required.
cli_initialised() {
    [[ -s ${HOME:-/root}/.cycle/config.ini ]] && cyclecloud account list >/dev/null 2>&1
}
if cli_initialised; then
    log "cyclecloud CLI: initialised, unchanged"
else
    # Without --batch the CLI asks for what is not on its command line: only the password is left out, and
    # it is answered on stdin (printf is a bash builtin: no process carries it in its arguments). setsid:
    # no controlling terminal, so the prompt reads stdin rather than /dev/tty.
    if ! printf '%s\n' "$CC_ADMIN_PASSWORD" | setsid -w "$CYCLECLOUD_BIN" initialize --force --url="$url" \
        --verify-ssl=false --username="$admin" >"$work/init.log" 2>&1; then
        die "cyclecloud initialize failed (its output is withheld because it may contain credentials)"
    fi
    cli_initialised || die "cyclecloud initialize reported success but the CLI still cannot list accounts"
    log "cyclecloud CLI: initialised"
fi

# 4. The Azure account: managed identity, restricted to the cluster resource group, locker by identity.
# `account show` exits 0 and prints "Account not found" when there is none: the output decides.
account_exists() {
    local out status=0
    out=$(cyclecloud account show azure 2>&1) || status=$?
    if grep -qi 'account not found' <<<"$out"; then
        return 1
    fi
    (( status == 0 )) && return 0
    die "cyclecloud account show azure failed (exit $status): $(head -c 500 <<<"$out")"
}

create_account() {
    account_exists && return 0
    cyclecloud account create -f "$work/azure_data.json" >"$work/account.log" 2>&1 || {
        sed 's/^/  cyclecloud: /' "$work/account.log" | head -n 20 >&2
        return 1
    }
    account_exists
}

if account_exists; then
    log "account azure: present, unchanged"
else
    wait_until "a managed identity token from IMDS" 300 imds_token
    cat >"$work/azure_data.json" <<JSON
{
  "Name": "azure",
  "Provider": "azure",
  "Environment": "public",
  "ProviderId": "$subscription",
  "AzureRMSubscriptionId": "$subscription",
  "AzureRMUseManagedIdentity": true,
  "AzureRMApplicationId": null,
  "AzureRMApplicationSecret": null,
  "AzureRMTenantId": null,
  "AzureResourceGroup": "$cluster_rg",
  "DefaultAccount": true,
  "Location": "$location",
  "RMStorageAccount": "$locker_account",
  "RMStorageContainer": "cyclecloud",
  "LockerAuthMode": "ManagedIdentity",
  "LockerIdentity": "$locker_identity",
  "AcceptMarketplaceTerms": false
}
JSON
    retry "creating the CycleCloud account azure (waits for the server identity's new role assignments)" 30 create_account
    log "account azure: created (resource group $cluster_rg, locker $locker_account)"
fi

# 5. The locker must exist before a cluster can start.
wait_until "locker $LOCKER to be created (it needs the new Storage Blob Data Contributor assignment, which can take minutes to take effect)" 900 locker_ready
log "locker $LOCKER: created"

# 6. For pinning by the next Commands.
if [[ -r $host_key_file ]]; then
    read -r key_type key_data _ <"$host_key_file"
    printf 'CYCLECLOUD_HOST_KEY=%s %s\n' "$key_type" "$key_data"
fi
