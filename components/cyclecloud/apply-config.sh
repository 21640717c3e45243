#!/usr/bin/env bash
# apply-config.sh: runs as root on the Slurm scheduler after the cluster's parameters changed (the scale
# Command in cluster.ts: `sudo -n bash -s`, script on stdin). Regenerates the partitions (azure.conf) from
# the cluster definition with cyclecloud-slurm's `azslurm scale`, which also reconfigures slurmctld, as the
# cyclecloud-slurm README prescribes after a re-import. Running it again with nothing changed is harmless.
# Env overrides (tests): AZSLURM.
set -euo pipefail

azslurm=${AZSLURM:-}
if [[ -z $azslurm ]]; then
    for candidate in "$(command -v azslurm || true)" /root/bin/azslurm /opt/azurehpc/slurm/venv/bin/azslurm; do
        if [[ -n $candidate && -x $candidate ]]; then
            azslurm=$candidate
            break
        fi
    done
fi
[[ -n $azslurm ]] || { echo "apply-config: azslurm not found (is this a cyclecloud-slurm 4.x scheduler?)" >&2; exit 1; }
"$azslurm" scale
echo "apply-config: azslurm scale done"
