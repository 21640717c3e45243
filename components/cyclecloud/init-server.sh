#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# init-server.sh: runs as root on the CycleCloud server (marketplace image), sent over SSH by the remote
# Command in server.ts: `sudo -n bash -s -- ADMIN SUBSCRIPTION_ID LOCATION CLUSTER_RG LOCKER_ACCOUNT LOCKER_IDENTITY_ID`,
# lib.sh and this script on stdin after a preamble that exports CC_ADMIN_PASSWORD (secret) and CC_ADMIN_PUBLIC_KEY.
# Does, headless and only what is missing (a second run on an initialised server changes nothing):
#   1. waits for cycle_server;
#   2. creates the admin user (data record file, consumed by CycleCloud; the imported copy with the
#      password is removed);
#   3. initialises the root user's `cyclecloud` CLI;
#   4. creates the "azure" account: managed identity, restricted to CLUSTER_RG, locker on LOCKER_ACCOUNT
#      reached with LOCKER_IDENTITY_ID;
#   5. waits until the locker "azure-storage" is created (asking CycleCloud to retry it if it errs);
#   6. prints the server's SSH host key (CYCLECLOUD_HOST_KEY=...) so later Commands can pin it.
# Never prints the password; CLI output that could echo it is withheld.
# Env overrides (tests): CYCLE_SERVER, CC_DATA_DIR, CC_URL, SSH_HOST_KEY_FILE, IMDS_TOKEN_URL,
# CC_WAIT_TIMEOUT, CC_WAIT_INTERVAL, CC_CYCLE_SERVER_USER.
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
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

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
    # Renamed into place so CycleCloud never reads a half-written file.
    mv -f "$work/admin.json" "$data_dir/pulumi-admin.json.tmp"
    mv -f "$data_dir/pulumi-admin.json.tmp" "$data_dir/pulumi-admin.json"
    wait_until "CycleCloud to import the admin user record" 600 user_exists
    # The imported copy (*.imported) still holds the password in clear.
    rm -f -- "$data_dir"/pulumi-admin.json*
    log "admin user $admin: created"
fi

# 3. The CLI, for root (the other scripts run as root).
if cyclecloud account list >/dev/null 2>&1; then
    log "cyclecloud CLI: initialised, unchanged"
else
    if ! cyclecloud initialize --batch --force --url="$url" --verify-ssl=false \
        --username="$admin" --password="$CC_ADMIN_PASSWORD" >"$work/init.log" 2>&1; then
        die "cyclecloud initialize failed (its output is withheld because it may contain credentials)"
    fi
    log "cyclecloud CLI: initialised"
fi

# 4. The Azure account: managed identity, restricted to the cluster resource group, locker by identity.
if cyclecloud account show azure >/dev/null 2>&1; then
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
    cyclecloud account create -f "$work/azure_data.json" >/dev/null
    log "account azure: created (resource group $cluster_rg, locker $locker_account)"
fi

# 5. The locker must exist before a cluster can start.
wait_until "locker $LOCKER to be created" 900 locker_ready
log "locker $LOCKER: created"

# 6. For pinning by the next Commands.
if [[ -r $host_key_file ]]; then
    read -r key_type key_data _ <"$host_key_file"
    printf 'CYCLECLOUD_HOST_KEY=%s %s\n' "$key_type" "$key_data"
fi
