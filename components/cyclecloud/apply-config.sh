#!/usr/bin/env bash
# apply-config.sh: runs as root on the Slurm scheduler (the scale Command in cluster.ts:
# `sudo -n bash -s -- SLURM_VERSION`, script on stdin), on the first deployment and after the cluster's
# parameters changed, before the seed Command. Changes nothing but the partitions:
#   1. checks that the scheduler runs the Slurm release the stack pins (slurmVersion): the login node
#      installs that release, and a client of another release may not talk to this controller. A mismatch
#      fails here, before anything is seeded, naming both versions;
#   2. regenerates the partitions (azure.conf) from the cluster definition with cyclecloud-slurm's
#      `azslurm scale`, which also reconfigures slurmctld, as the cyclecloud-slurm README prescribes after
#      a re-import. Running it again with nothing changed is harmless.
# Env overrides (tests): AZSLURM, SLURMCTLD.
set -euo pipefail

(( $# == 1 )) || { echo "usage: apply-config.sh SLURM_VERSION" >&2; exit 1; }
want=$1

# `slurmctld -V` prints "slurm 25.11.5"; the package database is the fallback.
slurmctld=${SLURMCTLD:-}
if [[ -z $slurmctld ]]; then
    for candidate in /usr/sbin/slurmctld /usr/bin/slurmctld "$(command -v slurmctld || true)"; do
        if [[ -n $candidate && -x $candidate ]]; then
            slurmctld=$candidate
            break
        fi
    done
fi
running=""
if [[ -n $slurmctld ]]; then
    running=$("$slurmctld" -V 2>/dev/null | awk '{ print $2; exit }') || running=""
fi
if [[ -z $running ]]; then
    running=$(rpm -q --qf '%{VERSION}' slurm-slurmctld 2>/dev/null || rpm -q --qf '%{VERSION}' slurm 2>/dev/null || true)
fi
[[ -n $running && $running != *"not installed"* ]] || { echo "apply-config: cannot tell which Slurm release this scheduler runs (no slurmctld, no slurm package)" >&2; exit 1; }
if [[ $running != "$want" ]]; then
    echo "apply-config: the cluster's scheduler runs Slurm $running but the stack pins slurmVersion=$want;" \
        "the login node would install $want. Set it to what the cluster runs (pulumi config set slurmVersion $running)," \
        "or make the cluster run $want, then pulumi up again. Nothing was seeded." >&2
    exit 1
fi
echo "apply-config: scheduler runs Slurm $running, as pinned"

azslurm=${AZSLURM:-}
if [[ -z $azslurm ]]; then
    for candidate in /root/bin/azslurm /opt/azurehpc/slurm/venv/bin/azslurm "$(command -v azslurm || true)"; do
        if [[ -n $candidate && -x $candidate ]]; then
            azslurm=$candidate
            break
        fi
    done
fi
[[ -n $azslurm ]] || { echo "apply-config: azslurm not found in /root/bin, /opt/azurehpc/slurm/venv/bin or on PATH (is this a cyclecloud-slurm 4.x scheduler?)" >&2; exit 1; }
"$azslurm" scale
echo "apply-config: azslurm scale done"
