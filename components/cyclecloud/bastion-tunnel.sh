#!/usr/bin/env bash
# bastion-tunnel.sh: run it yourself, in a second terminal, on the machine that runs `pulumi up` when the
# stack uses bastionTunnelPort (docs/cyclecloud.md, "Reaching the private hosts"). Keeps an Azure Bastion
# tunnel from 127.0.0.1:PORT to port 22 of the CycleCloud VM open: waits until the VM exists (it is created
# during `pulumi up`), and reopens the tunnel whenever it drops. Stop it with Ctrl-C. Changes nothing in Azure.
# Usage: bastion-tunnel.sh RESOURCE_GROUP BASTION_NAME VM_NAME PORT
set -euo pipefail

(( $# == 4 )) || { echo "usage: bastion-tunnel.sh RESOURCE_GROUP BASTION_NAME VM_NAME PORT" >&2; exit 1; }
rg=$1 bastion=$2 vm=$3 port=$4
interval=${TUNNEL_RETRY_INTERVAL:-15}

until vm_id=$(az vm show --resource-group "$rg" --name "$vm" --query id --output tsv 2>/dev/null) && [[ -n $vm_id ]]; do
    echo "bastion-tunnel: waiting for VM $vm in $rg to exist..."
    sleep "$interval"
done
while true; do
    echo "bastion-tunnel: 127.0.0.1:$port -> $vm:22 through $bastion"
    az network bastion tunnel --name "$bastion" --resource-group "$rg" \
        --target-resource-id "$vm_id" --resource-port 22 --port "$port" || true
    echo "bastion-tunnel: tunnel closed; reopening in ${interval}s"
    sleep "$interval"
done
