#!/usr/bin/env bash
# bastion-tunnel.sh — runs on the machine that runs `pulumi up` / `pulumi destroy --run-program`, started by
# the program itself (components/cyclecloud/tunnel.ts) when the stack uses bastionTunnelPort; nobody starts
# it by hand any more. Keeps `az network bastion tunnel` (127.0.0.1:PORT -> port 22 of the CycleCloud VM)
# open while OWNER_PID lives: the Pulumi engine (`pulumi`), whose deletes run after the program has ended,
# or the program itself when no engine is found. Reopens the tunnel when az ends (it exits when a session
# fails), and stops it, with its whole process group, within a second of OWNER_PID ending or on
# TERM/INT/HUP. Changes nothing in Azure. Output: az's own lines on stderr.
# Usage: bastion-tunnel.sh RESOURCE_GROUP BASTION_NAME VM_RESOURCE_ID PORT OWNER_PID
set -euo pipefail

(($# == 5)) || {
    echo "usage: bastion-tunnel.sh RESOURCE_GROUP BASTION_NAME VM_RESOURCE_ID PORT OWNER_PID" >&2
    exit 1
}
rg=$1 bastion=$2 vm_id=$3 port=$4 owner=$5
interval=${TUNNEL_RETRY_INTERVAL:-5}
[[ $port =~ ^[0-9]+$ && $owner =~ ^[0-9]+$ && $interval =~ ^[0-9]+$ ]] || {
    echo "bastion-tunnel: PORT, OWNER_PID and TUNNEL_RETRY_INTERVAL must be numbers" >&2
    exit 1
}

# The program starts this script as the leader of its own process group: az (a shell script that runs
# Python as a child, not exec) and everything it starts are in it, so one kill reaches them all.
stop() {
    trap - EXIT INT TERM HUP
    kill -TERM -- "-$$" 2>/dev/null || true
    exit 0
}
trap stop EXIT INT TERM HUP

owner_alive() { kill -0 "$owner" 2>/dev/null; }

while owner_alive; do
    az network bastion tunnel --name "$bastion" --resource-group "$rg" \
        --target-resource-id "$vm_id" --resource-port 22 --port "$port" </dev/null &
    az_pid=$!
    while kill -0 "$az_pid" 2>/dev/null; do
        owner_alive || stop
        sleep 1
    done
    rc=0
    wait "$az_pid" || rc=$?
    echo "bastion-tunnel: az network bastion tunnel ended (exit $rc); reopening in ${interval}s" >&2
    for ((i = 0; i < interval; i++)); do
        owner_alive || stop
        sleep 1
    done
done
stop
