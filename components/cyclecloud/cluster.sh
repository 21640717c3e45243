#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# cluster.sh: runs as root on the CycleCloud server, sent by the remote Command in cluster.ts
# (`sudo -n bash -s -- ACTION ...`, lib.sh and this script on stdin after a preamble that exports
# CC_CLUSTER_PARAMS, the parameters JSON, and optionally CC_TEMPLATE).
#   apply CLUSTER CONFIG_DIR  create the cluster from the server's built-in Slurm template
#                             (slurm_template_<version of the Slurm project>, or CC_TEMPLATE), or, when the
#                             parameters changed, re-import it over the live cluster the documented way
#                             (`import_cluster CLUSTER -c <cluster in file> -f <the Slurm project's
#                             templates/slurm.txt, or CC_TEMPLATE_FILE> -p PARAMS --force`); start it
#                             (retried: fresh role assignments may not be honoured yet); wait until the
#                             scheduler is Ready; print SCHEDULER_IP=, CLUSTER_CONFIG_DIR=,
#                             SCHEDULER_HOST_KEY= (scanned from here, inside the VNet) and CLUSTER_CHANGE=.
#                             Unchanged parameters on a started cluster: no CycleCloud change at all.
#   delete CLUSTER            terminate the cluster, wait until every node is off, then delete it.
# The CLI is called by absolute path (lib.sh's find_cyclecloud): sudo's secure_path does not hold it.
# Env overrides (tests): CYCLE_SERVER, CC_STATE_DIR, CC_TEMPLATE_ROOT, CC_WAIT_TIMEOUT, CC_WAIT_INTERVAL,
# CC_RETRY_ATTEMPTS, CC_RETRY_DELAY.
set -euo pipefail
SCRIPT_NAME=cluster
if ! declare -F die >/dev/null; then
    # shellcheck source=lib.sh
    . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi

state_dir=${CC_STATE_DIR:-/opt/cycle_server/config/pulumi}
umask 077
find_cyclecloud
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

# Whether show_cluster exits non-zero for an unknown cluster is not documented: a "not found" in its
# output counts as absent too.
cluster_exists() {
    local out
    out=$(cyclecloud show_cluster "$cluster" 2>&1) || return 1
    ! grep -qi 'not found' <<<"$out"
}

# Prints "<Name> <Status> <PrivateIp>" per node (empty when the cluster has none).
node_table() {
    local json
    json=$(cyclecloud show_nodes -c "$cluster" --format json 2>/dev/null) || json='[]'
    printf '%s' "$json" | python3 -c '
import json, sys
try:
    nodes = json.load(sys.stdin)
except ValueError:
    nodes = []
if isinstance(nodes, dict):
    nodes = [nodes]
for n in nodes or []:
    print(n.get("Name") or "-", n.get("Status") or "-", n.get("PrivateIp") or "-")
'
}

scheduler_ready() {
    local name status ip
    while read -r name status ip; do
        [[ $name == scheduler ]] || continue
        if [[ $status == Failed ]]; then
            # Right after deployment the usual cause is Azure not honouring CycleCloud's new role
            # assignments yet: CycleCloud's `retry` re-runs the failed operations, a bounded number of times.
            if (( node_retries < ${CC_NODE_RETRIES:-3} )); then
                node_retries=$((node_retries + 1))
                log "the scheduler node failed (Azure may not honour CycleCloud's new role assignments yet): cyclecloud retry $cluster ($node_retries of ${CC_NODE_RETRIES:-3})"
                cyclecloud retry "$cluster" >/dev/null || true
                return 1
            fi
            die "the scheduler node failed to start (retried ${CC_NODE_RETRIES:-3} times); see the cluster's event log in CycleCloud"
        fi
        if [[ $status == Ready && $ip != - ]]; then
            scheduler_ip=$ip
            return 0
        fi
    done < <(node_table)
    return 1
}

nodes_off() {
    local name status ip
    while read -r name status ip; do
        case $status in
            Off | Terminated | Deallocated) ;;
            *) return 1 ;;
        esac
    done < <(node_table)
    return 0
}

slurm_project_version() {
    cs execute --format json 'SELECT Version FROM Cloud.Project WHERE Name=="Slurm"' |
        python3 -c 'import json, sys; r = json.load(sys.stdin); print(r[0]["Version"] if r else "")'
}

template_name() {
    if [[ -n ${CC_TEMPLATE:-} ]]; then
        printf '%s' "$CC_TEMPLATE"
        return
    fi
    local version
    version=$(slurm_project_version)
    [[ -n $version ]] || die "no Slurm project on this CycleCloud server (cannot find its built-in template)"
    printf 'slurm_template_%s' "$version"
}

# The cyclecloud-slurm template file (templates/slurm.txt) of the server's Slurm project, for import_cluster.
# Where the image keeps its bundled projects is not documented: searched under CC_TEMPLATE_ROOT
# (/opt/cycle_server), preferring a path that names the project's version.
template_file() {
    if [[ -n ${CC_TEMPLATE_FILE:-} ]]; then
        printf '%s' "$CC_TEMPLATE_FILE"
        return
    fi
    local root=${CC_TEMPLATE_ROOT:-/opt/cycle_server} version found
    version=$(slurm_project_version)
    found=$(find "$root" -type f -path '*/templates/slurm.txt' 2>/dev/null | grep -F "/${version:-none}/" | sort | tail -n 1 || true)
    [[ -n $found ]] || found=$(find "$root" -type f -path '*slurm*/templates/slurm.txt' 2>/dev/null | sort | tail -n 1 || true)
    [[ -n $found ]] || die "cannot find the Slurm project's templates/slurm.txt under $root to re-import the cluster's parameters; set CC_TEMPLATE_FILE or re-apply by hand: cyclecloud import_cluster $cluster -c Slurm -f <slurm.txt> -p <params> --force"
    printf '%s' "$found"
}

# The cluster name inside a template file ([cluster NAME]), which import_cluster's -c selects.
template_cluster() {
    local name
    name=$(sed -n 's/^[[:space:]]*\[cluster[[:space:]]\{1,\}\([^]]*\)\].*/\1/p' "$1" | head -n 1)
    [[ -n $name ]] || die "no [cluster NAME] section in $1"
    printf '%s' "$name"
}

apply() {
    (( $# == 2 )) || die "usage: cluster.sh apply CLUSTER CONFIG_DIR"
    cluster=$1
    local config_dir=$2 template digest change key_line host_key=""
    [[ -n ${CC_CLUSTER_PARAMS:-} ]] || die "CC_CLUSTER_PARAMS is not set"
    printf '%s\n' "$CC_CLUSTER_PARAMS" >"$work/params.json"
    python3 -m json.tool "$work/params.json" >/dev/null || die "CC_CLUSTER_PARAMS is not valid JSON"
    mkdir -p "$state_dir"
    template=$(template_name)
    digest=$( { printf '%s\n' "$template"; cat "$work/params.json"; } | sha256sum | cut -d' ' -f1)
    local digest_file=$state_dir/cluster-$cluster.sha256

    if ! cluster_exists; then
        cyclecloud create_cluster "$template" "$cluster" -p "$work/params.json"
        change=created
    elif [[ ! -r $digest_file || $(<"$digest_file") != "$digest" ]]; then
        # Re-import over the live definition (cyclecloud-slurm's documented update path); running nodes pick
        # the change up on their next converge, the scheduler's partitions are refreshed by `azslurm scale`
        # (the scale Command in cluster.ts).
        local file in_file
        file=$(template_file)
        in_file=$(template_cluster "$file")
        cyclecloud import_cluster "$cluster" -c "$in_file" -f "$file" -p "$work/params.json" --force
        change=updated
    else
        change=unchanged
    fi
    printf '%s\n' "$digest" >"$digest_file"

    if ! scheduler_ready; then
        retry "starting cluster $cluster (needs CycleCloud's new role assignments in Azure)" 30 \
            cyclecloud start_cluster "$cluster"
        log "cluster $cluster: starting; waiting for the scheduler"
        wait_until "the scheduler of $cluster to be Ready" 2400 scheduler_ready
    fi
    log "cluster $cluster: $change, scheduler Ready at $scheduler_ip"

    for _ in 1 2 3 4 5; do
        if key_line=$(ssh-keyscan -t ed25519 -T 10 "$scheduler_ip" 2>/dev/null) && [[ -n $key_line ]]; then
            read -r _ kt kd _ <<<"$key_line"
            host_key="$kt $kd"
            break
        fi
        sleep "${CC_WAIT_INTERVAL:-10}"
    done
    printf 'SCHEDULER_IP=%s\n' "$scheduler_ip"
    printf 'CLUSTER_CONFIG_DIR=%s\n' "$config_dir"
    printf 'SCHEDULER_HOST_KEY=%s\n' "$host_key"
    printf 'CLUSTER_CHANGE=%s\n' "$change"
}

delete() {
    (( $# == 1 )) || die "usage: cluster.sh delete CLUSTER"
    cluster=$1
    if ! cluster_exists; then
        log "cluster $cluster: absent, nothing to delete"
        return 0
    fi
    cyclecloud terminate_cluster "$cluster"
    wait_until "every node of $cluster to be off" 1800 nodes_off
    cyclecloud delete_cluster "$cluster"
    rm -f -- "$state_dir/cluster-$cluster.sha256"
    log "cluster $cluster: terminated and deleted"
}

cluster=""
scheduler_ip=""
node_retries=0
action=${1:-}
shift || true
case $action in
    apply) apply "$@" ;;
    delete) delete "$@" ;;
    *) die "usage: cluster.sh apply CLUSTER CONFIG_DIR | delete CLUSTER" ;;
esac
