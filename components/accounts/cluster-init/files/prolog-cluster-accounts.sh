#!/bin/bash -p
# Runs on compute nodes as root from slurmd's Prolog (Prolog=/etc/slurm/prolog.d/*; installed as
# /etc/slurm/prolog.d/10-cluster-accounts.sh by the cluster-init spec, on CycleCloud in the shared
# /sched/<cluster>/prolog.d) before each job: applies the account registry so the job's user, group and home link
# exist on this node even if it booted after the user's first sign-in and its timer has not run yet.
# Changes what cluster-accounts-apply changes. Takes nothing from its environment (slurmd builds it from job data,
# the job's user-set SPANK variables included: Slurm 25.11.5 src/plugins/prep/script/prep_script_slurmd.c _build_env):
# bash -p ignores BASH_ENV, ENV, SHELLOPTS and exported functions, and the apply script runs with a fixed, clean
# environment (env -i) by absolute paths; SLURM_JOB_ID is only printed, and only if it is a number.
# SLURM_JOB_UID (a decimal 0..4294967294, else not passed) goes to the apply script as `--uid`: it applies the registry
# entry users/<UID> by its path first, so the job's account exists even while this node's NFS client still serves a
# listing of users/ without it (actimeo=30; components/accounts/README.md "NFS timing"). The value only chooses which
# entry, checked like any other, is applied first; a wrong one changes the order of work, nothing else. In Slurm
# 25.11.5 a user cannot set it anyway: _build_env merges the SPANK job environment first, every entry of which
# valid_spank_job_env (src/common/slurm_protocol_defs.c) has renamed to SPANK_<name>, then sets SLURM_JOB_UID with
# setenvf (src/common/env.c: overwrites) from job_env->uid, which src/slurmd/slurmd/req.c takes from the
# controller-signed credential (batch: cred_arg->uid) or the authenticated RPC sender (auth_uid).
# ALWAYS exits 0: a failing prolog would drain the node and hold the job. (slurmd runs the files the Prolog glob
# matches, glob(3) without GLOB_PERIOD: a dot-named temporary file in prolog.d is never run.)
job=${SLURM_JOB_ID:-}
[[ $job =~ ^[0-9]{1,12}$ ]] || job='?'
uid=${SLURM_JOB_UID:-}
args=()
if [[ $uid =~ ^(0|[1-9][0-9]{0,9})$ ]] && (( uid <= 4294967294 )); then args=(--uid "$uid"); fi
/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C \
    /usr/bin/timeout 30 /usr/local/sbin/cluster-accounts-apply "${args[@]}" >/dev/null 2>&1 \
    || /usr/bin/env -i /usr/bin/logger -t cluster-accounts -- "prolog: apply failed before job $job; see earlier messages" 2>/dev/null
exit 0
