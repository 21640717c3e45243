#!/usr/bin/env bash
# Runs on compute nodes as root from slurmd's Prolog (installed as /etc/slurm/prolog.d/10-cluster-accounts.sh by the
# cluster-init spec) before each job: applies the account registry so the job's user, group and /home/<name> link
# exist on this node even if it booted after the user's first sign-in and its timer has not run yet.
# Changes what cluster-accounts-apply changes. ALWAYS exits 0: a failing prolog would drain the node.
/usr/bin/timeout 30 /usr/local/sbin/cluster-accounts-apply >/dev/null 2>&1 \
    || logger -t cluster-accounts -- "prolog: apply failed for job ${SLURM_JOB_ID:-?} (uid ${SLURM_JOB_UID:-?}); see earlier messages" 2>/dev/null
exit 0
