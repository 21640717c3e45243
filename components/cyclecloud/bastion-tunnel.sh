#!/usr/bin/env bash
# bastion-tunnel.sh — runs on the machine that runs `pulumi up` / `pulumi destroy --run-program`, started by
# the program itself (components/cyclecloud/tunnel.ts) when the stack uses bastionTunnelPort; nobody starts
# it by hand. Keeps the Bastion tunnel to port 22 of the CycleCloud VM open while OWNER_PID lives: the
# Pulumi engine (`pulumi`), whose deletes run after the program has ended, or the program itself when no
# engine is found. The Commands dial 127.0.0.1:PORT, served by tunnel-relay.js (which bounds the wait for
# the SSH banner); the relay forwards to `az network bastion tunnel` on 127.0.0.1:AZ_PORT, which this script
# reopens whenever it ends (it exits when a session fails). Stops everything it started, its whole process
# group, within a second of OWNER_PID ending or on TERM/INT/HUP. Changes nothing in Azure.
# Output: its own, the relay's and az's lines go to LOG_FILE only, never to the program: once the program
# has exited, a write to a pipe to it would kill this script (SIGPIPE) and with it the tunnel.
# Usage: bastion-tunnel.sh RESOURCE_GROUP BASTION_NAME VM_RESOURCE_ID PORT AZ_PORT OWNER_PID LOG_FILE
set -euo pipefail

(($# == 7)) || {
    echo "usage: bastion-tunnel.sh RESOURCE_GROUP BASTION_NAME VM_RESOURCE_ID PORT AZ_PORT OWNER_PID LOG_FILE" >&2
    exit 1
}
rg=$1 bastion=$2 vm_id=$3 port=$4 az_port=$5 owner=$6 log=$7
interval=${TUNNEL_RETRY_INTERVAL:-5}
banner=${TUNNEL_BANNER_SECONDS:-60}
node_bin=${TUNNEL_NODE:-node}
# The program created the log (mode 0600, not a symlink); refuse anything else rather than follow a link.
[[ -f $log && ! -L $log && -O $log ]] || {
    echo "bastion-tunnel: $log is not a regular file owned by $(id -un)" >&2
    exit 1
}
exec </dev/null >>"$log" 2>&1
[[ $port =~ ^[0-9]+$ && $az_port =~ ^[0-9]+$ && $owner =~ ^[0-9]+$ && $interval =~ ^[0-9]+$ && $banner =~ ^[0-9]+$ ]] || {
    echo "bastion-tunnel: PORT, AZ_PORT, OWNER_PID, TUNNEL_RETRY_INTERVAL and TUNNEL_BANNER_SECONDS must be numbers"
    exit 1
}
say() { echo "bastion-tunnel: $(date -u +%Y-%m-%dT%H:%M:%SZ) $*"; }

# The program starts this script as the leader of its own process group: the relay, az (a shell script that
# runs Python as a child, not exec) and everything they start are in it, so one kill reaches them all.
stop() {
    trap - EXIT INT TERM HUP
    say "stopping (owner $owner ended, or signalled)"
    kill -TERM -- "-$$" 2>/dev/null || true
    exit 0
}
trap stop EXIT INT TERM HUP

owner_alive() { kill -0 "$owner" 2>/dev/null; }

say "pid=$$ owner=$owner port=$port az-port=$az_port"
"$node_bin" "$(dirname "$0")/tunnel-relay.js" "$port" "$az_port" "$banner" &
relay_pid=$!
say "relay pid=$relay_pid"
relay_alive() { kill -0 "$relay_pid" 2>/dev/null; }

while owner_alive; do
    az network bastion tunnel --name "$bastion" --resource-group "$rg" \
        --target-resource-id "$vm_id" --resource-port 22 --port "$az_port" &
    az_pid=$!
    say "az network bastion tunnel pid=$az_pid"
    while kill -0 "$az_pid" 2>/dev/null; do
        owner_alive || stop
        relay_alive || { say "ERROR: the relay on 127.0.0.1:$port ended"; stop; }
        sleep 1
    done
    rc=0
    wait "$az_pid" || rc=$?
    say "az network bastion tunnel ended (exit $rc); reopening in ${interval}s"
    for ((i = 0; i < interval; i++)); do
        owner_alive || stop
        sleep 1
    done
done
stop
