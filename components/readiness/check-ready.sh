#!/usr/bin/env bash
# check-ready.sh — runs on the Slurm login node as root (the readiness remote Command sends it to
# `sudo -n bash -s -- ARGS` as the last step of `pulumi up`; an admin may run it by hand the same way).
# Checks, in this order, that the cluster is usable from the login node, and names the first broken link:
#   1. /shared is mounted (mountpoint on READY_SHARED_MOUNT),
#   2. the login node installed the seeded munge key and Slurm config and the controller accepts it
#      (slurm-sync-from-shared --check, the sync script's own verification),
#   3. the readiness service account exists and is published to the cluster's account registry,
#   4. `sinfo`, run as that account, answers from the scheduler with every expected partition,
#   5. (only with --test-job PARTITION) a short job submitted as that account completes on a compute node.
# Every wait is bounded: steps 1-4 share --timeout (an attempt of step 2 started just before the
# bound may run 10 s past it, one of step 3 ACCOUNTS_ACK_WAIT, the publisher's own wait for the scheduler);
# step 5 has --job-timeout. Polls every READY_POLL s.
# Changes: creates the local service account READY_USER (group of the same ID, the UID declared for it in
# ACCOUNTS_SERVICE_ACCOUNTS of /etc/default/cluster-accounts, no password, home SHARED_HOME/<name>) if it is missing and publishes it with
# READY_PUBLISH_CMD --user <name> (the same means as users' accounts); with --test-job, submits one job
# (cancelled if it is still pending at the bound) and removes the job's output file. Nothing else.
#
# Usage: check-ready.sh --partitions hpc,htc [--timeout 900] [--test-job htc] [--job-timeout 1200]
#
# Exit status (the link named in the FAIL line):
#   0  ready
#   1  usage or internal error (bad arguments, a required command missing)
#   10 mount                 READY_SHARED_MOUNT is not a mount point
#   11 not synced            seeded files missing on /shared, or the login node's copies differ
#   12 key mismatch          installed munge key != seeded key, or the controller rejects our credentials
#   13 controller unreachable slurmctld did not answer (sync check or sinfo)
#   14 partitions            sinfo answered without one of the expected partitions
#   15 service account       the account could not be created or is not declared, has another UID, publishing failed,
#                            or the scheduler did not confirm it (refused, or not confirmed within the bound)
#   16 no node came up       the test job was still pending at --job-timeout (cancelled), or BOOT_FAIL/NODE_FAIL
#   17 job failed            the test job could not be submitted, ended in another state than COMPLETED, or
#                            did not run on a compute node
#   18 /shared not trusted   the sync script refused a path in /shared (symlink, wrong owner or mode, size)
#
# Environment (all optional; the defaults are the production paths, tests point them elsewhere):
#   READY_USER              service account name                                  (slurm-readiness)
#   READY_SHARED_MOUNT      where /shared is mounted                              (/shared)
#   READY_SYNC_CMD          the login node's sync script                          (/usr/local/sbin/slurm-sync-from-shared)
#   READY_SYNC_DEFAULTS     KEY=VALUE file with SLURM_SYNC_SOURCE (read as data)   (/etc/default/slurm-sync)
#   READY_ACCOUNTS_DEFAULTS KEY=VALUE file with ACCOUNTS_SERVICE_ACCOUNTS, SHARED_HOME (/etc/default/cluster-accounts)
#   READY_PUBLISH_CMD       the account publisher                                 (/usr/local/sbin/cluster-account-publish)
#   READY_POLL              seconds between polls                                 (5)
#   SLURM_CONF_DIR          the Slurm client's config directory                   (/etc/slurm)
#   SLURM_SYNC_SOURCE, SHARED_HOME override the files above;
#   the sync script's own variables (MUNGE_*, SLURM_SYNC_*) pass through to it.
set -euo pipefail

readonly PROG=readiness
USER_NAME=${READY_USER:-slurm-readiness}
MOUNT=${READY_SHARED_MOUNT:-/shared}
SYNC_CMD=${READY_SYNC_CMD:-/usr/local/sbin/slurm-sync-from-shared}
SYNC_DEFAULTS=${READY_SYNC_DEFAULTS:-/etc/default/slurm-sync}
ACCOUNTS_DEFAULTS=${READY_ACCOUNTS_DEFAULTS:-/etc/default/cluster-accounts}
PUBLISH_CMD=${READY_PUBLISH_CMD:-/usr/local/sbin/cluster-account-publish}
POLL=${READY_POLL:-5}
readonly SYNC_ATTEMPT_MIN=10
CONF_DIR=${SLURM_CONF_DIR:-/etc/slurm}
readonly CLIENT_PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin

log() { echo "$PROG: $*"; }
# fail CODE LINK MESSAGE INVESTIGATE: one FAIL line naming the link, one line with the command to run.
fail() {
    echo "$PROG: FAIL [$2] $3" >&2
    echo "$PROG: investigate: $4" >&2
    exit "$1"
}
usage() {
    echo "usage: check-ready.sh --partitions P1[,P2...] [--timeout SECONDS] [--test-job PARTITION] [--job-timeout SECONDS]" >&2
    exit 1
}

# The value of KEY in a KEY=VALUE file (data: never sourced); empty when absent.
file_value() {
    local file=$1 key=$2 line
    [[ -f $file ]] || return 0
    while IFS= read -r line || [[ -n $line ]]; do
        if [[ $line =~ ^[[:space:]]*${key}=(.*)$ ]]; then
            line=${BASH_REMATCH[1]}
            line=${line%\"}
            line=${line#\"}
            printf '%s' "$line"
            return 0
        fi
    done <"$file"
}

now() { date +%s; }
remaining() { local r=$(($1 - $(now))); ((r > 0)) && echo "$r" || echo 0; }

# As the service account, with the Slurm client config: argv.
as_account() {
    runuser -u "$USER_NAME" -- env -i PATH="$CLIENT_PATH" HOME="$ACCOUNT_HOME" USER="$USER_NAME" \
        SLURM_CONF="$CONF_DIR/slurm.conf" "$@"
}

check_mount() {
    local deadline=$1
    until mountpoint -q -- "$MOUNT"; do
        if (($(now) >= deadline)); then
            fail 10 mount "$MOUNT is not a mount point (the NFS share is not mounted on this login node)" \
                "findmnt $MOUNT; grep ' $MOUNT ' /etc/fstab; journalctl -b | grep -iE 'nfs|$MOUNT'; mount $MOUNT"
        fi
        sleep "$POLL"
    done
    log "ok [mount] $MOUNT is mounted"
}

check_sync() {
    local deadline=$1 rc out left last_rc=0 last_out=""
    for (( ; ; )); do
        left=$(remaining "$deadline")
        rc=0
        # At least SYNC_ATTEMPT_MIN s per attempt: an attempt cut short says nothing about the link.
        out=$(SLURM_SYNC_SOURCE=$SYNC_SOURCE SLURM_CONF_DIR=$CONF_DIR timeout "$((left > SYNC_ATTEMPT_MIN ? left : SYNC_ATTEMPT_MIN))" "$SYNC_CMD" --check 2>&1) || rc=$?
        if ((rc == 0)); then
            log "ok [sync] seeded munge key and Slurm config installed, controller accepts them"
            return 0
        fi
        # Report what the last complete attempt said; a timed-out one (124) only when there was nothing else.
        if ((rc != 124 || last_rc == 0)); then
            last_rc=$rc
            last_out=$out
        fi
        rc=$last_rc
        out=$last_out
        if (($(now) >= deadline)); then
            printf '%s\n' "$out" | sed 's/^/  | /' >&2
            case $rc in
                2) fail 12 "key mismatch" "the login node's munge key is not the scheduler's (slurm-sync-from-shared --check exit 2)" \
                    "sudo slurm-sync-from-shared --check; systemctl status slurm-sync.timer munge; journalctl -u slurm-sync" ;;
                4) fail 18 "/shared not trusted" "the sync script refused a path under $MOUNT (sync check exit 4; the path and reason are above)" \
                    "sudo slurm-sync-from-shared --check; ls -la $SYNC_SOURCE; on the scheduler: re-run the seed (pulumi up)" ;;
                3 | 124) fail 13 "controller unreachable" "slurmctld did not answer the login node (sync check exit $rc)" \
                    "scontrol ping; sinfo; on the scheduler: systemctl status slurmctld" ;;
                *) fail 11 "not synced" "the seeded files are missing or not installed on the login node (sync check exit $rc)" \
                    "ls -l $SYNC_SOURCE; sudo slurm-sync-from-shared --check; systemctl status slurm-sync.timer; cloud-init status --long" ;;
            esac
        fi
        sleep "$POLL"
    done
}

ensure_account() {
    local deadline=$1 uid want='' item group_ok
    local shared_home=${SHARED_HOME:-$(file_value "$ACCOUNTS_DEFAULTS" SHARED_HOME)}
    shared_home=${shared_home:-/shared/home}
    # The account's fixed UID, declared with its name in ACCOUNTS_SERVICE_ACCOUNTS (name:uid,...): the registry takes
    # no other non-UPN account, and that UID lies outside the range the Entra extension hands to people.
    local services
    services=$(file_value "$ACCOUNTS_DEFAULTS" ACCOUNTS_SERVICE_ACCOUNTS)
    for item in ${services//,/ }; do
        if [[ ${item%%:*} == "$USER_NAME" && ${item#*:} =~ ^[1-9][0-9]*$ ]]; then want=${item#*:}; fi
    done
    [[ -n $want ]] || fail 15 "service account" "$USER_NAME is not declared in ACCOUNTS_SERVICE_ACCOUNTS of $ACCOUNTS_DEFAULTS (name:uid): the account registry would refuse it" \
        "grep ACCOUNTS_SERVICE_ACCOUNTS $ACCOUNTS_DEFAULTS"
    if ! getent passwd "$USER_NAME" >/dev/null; then
        uid=$want
        group_ok=0
        getent group "$USER_NAME" >/dev/null || { groupadd -g "$uid" "$USER_NAME" && group_ok=1; }
        if ! useradd -u "$uid" -g "$USER_NAME" -M -d "$shared_home/$USER_NAME" -s /bin/bash \
            -c "Slurm readiness check (service account)" "$USER_NAME"; then
            ((group_ok == 1)) && groupdel "$USER_NAME"
            fail 15 "service account" "could not create the local account $USER_NAME (UID $uid)" "getent passwd $USER_NAME $uid; journalctl -t useradd"
        fi
        log "created service account $USER_NAME (UID $uid)"
    fi
    uid=$(id -u "$USER_NAME")
    if ((uid != want)); then
        fail 15 "service account" "$USER_NAME has UID $uid, not the UID $want declared in ACCOUNTS_SERVICE_ACCOUNTS: the cluster nodes would refuse it" \
            "getent passwd $USER_NAME; userdel $USER_NAME (it is recreated with UID $want on the next check)"
    fi
    ACCOUNT_HOME=$(getent passwd "$USER_NAME" | cut -d: -f6)
    if [[ -x $PUBLISH_CMD ]]; then
        local out rc
        # The publisher says nothing once the scheduler has confirmed the account (it waits up to ACCOUNTS_ACK_WAIT);
        # any line is a problem: not confirmed yet (the scheduler may see a new entry only after NFS's attribute
        # cache expires: asked again until the bound), refused or revoked (the nodes would not know the account).
        for (( ; ; )); do
            rc=0
            out=$("$PUBLISH_CMD" --user "$USER_NAME" 2>&1) || rc=$?
            if ((rc != 0)); then
                printf '%s\n' "$out" | sed 's/^/  | /' >&2
                fail 15 "service account" "publishing $USER_NAME to the account registry failed (exit $rc)" \
                    "sudo $PUBLISH_CMD --user $USER_NAME; ls -l /shared/apps/accounts"
            fi
            [[ -n $out ]] || break
            if [[ $out != *"not confirmed"* ]] || (($(now) >= deadline)); then
                printf '%s\n' "$out" | sed 's/^/  | /' >&2
                fail 15 "service account" "the account registry did not confirm $USER_NAME (UID $uid): the scheduler has not applied it" \
                    "sudo $PUBLISH_CMD --user $USER_NAME; cat /shared/apps/accounts/status/$uid; on the scheduler: systemctl status cluster-accounts.timer; journalctl -t cluster-accounts"
            fi
            sleep "$POLL"
        done
        log "ok [account] $USER_NAME (UID $uid) published, confirmed by the scheduler"
    else
        log "WARNING: $PUBLISH_CMD not installed: $USER_NAME (UID $uid) exists on this node only"
    fi
    if [[ ! -d $ACCOUNT_HOME ]]; then
        # The publisher creates the home on /shared; without it, create it the same way (0700, owned by the account).
        install -d -m 0700 -o "$USER_NAME" -g "$(id -g "$USER_NAME")" -- "$ACCOUNT_HOME" ||
            fail 15 "service account" "could not create the home $ACCOUNT_HOME" "ls -ld $(dirname "$ACCOUNT_HOME")"
    fi
}

check_partitions() {
    local deadline=$1 rc out left missing p
    for (( ; ; )); do
        left=$(remaining "$deadline")
        rc=0
        out=$(as_account timeout "$((left > 0 ? left : 1))" sinfo --noheader --format=%R 2>&1) || rc=$?
        missing=()
        if ((rc == 0)); then
            for p in "${PARTITIONS[@]}"; do
                grep -qxF -- "$p" <<<"$out" || missing+=("$p")
            done
            if ((${#missing[@]} == 0)); then
                log "ok [partitions] sinfo as $USER_NAME answers with ${PARTITIONS[*]}"
                return 0
            fi
        fi
        if (($(now) >= deadline)); then
            if ((rc != 0)); then
                printf '%s\n' "$out" | sed 's/^/  | /' >&2
                fail 13 "controller unreachable" "sinfo as $USER_NAME failed (exit $rc)" "sudo -u $USER_NAME sinfo; scontrol ping"
            fi
            fail 14 partitions "sinfo answers with partitions [$(tr '\n' ' ' <<<"$out" | sed 's/ $//')] but not [${missing[*]}]" \
                "sinfo -s; on the scheduler: azslurm partitions; cat /etc/slurm/azure.conf"
        fi
        sleep "$POLL"
    done
}

run_test_job() {
    local partition=$1 deadline=$2 out id state reason line host outfile
    # shellcheck disable=SC2016 # expanded by the job's shell on the compute node, not here
    out=$(as_account sbatch --parsable --partition="$partition" --nodes=1 --ntasks=1 --time=5 --job-name=slurm-readiness \
        --chdir="$ACCOUNT_HOME" --output="$ACCOUNT_HOME/slurm-readiness-%j.out" \
        --wrap 'echo "slurm-readiness-ok host=$(hostname) uid=$(id -u)"' 2>&1) ||
        fail 17 "job failed" "sbatch as $USER_NAME on partition $partition was refused: $out" "sudo -u $USER_NAME sbatch -p $partition --wrap true"
    id=${out%%;*}
    [[ $id =~ ^[0-9]+$ ]] || fail 17 "job failed" "sbatch printed no job ID: $out" "squeue -u $USER_NAME"
    log "submitted test job $id to partition $partition as $USER_NAME (bound $(remaining "$deadline") s)"
    outfile=$ACCOUNT_HOME/slurm-readiness-$id.out
    for (( ; ; )); do
        line=$(as_account scontrol show job --oneliner "$id" 2>/dev/null || true)
        state=$(sed -n 's/.*JobState=\([^ ]*\).*/\1/p' <<<"$line")
        reason=$(sed -n 's/.*Reason=\([^ ]*\).*/\1/p' <<<"$line")
        case $state in
            COMPLETED) break ;;
            BOOT_FAIL | NODE_FAIL)
                fail 16 "no node came up" "test job $id ended $state (reason $reason)" \
                    "scontrol show job $id; sinfo -R; on the scheduler: azslurm nodes; CycleCloud UI: node errors" ;;
            FAILED | CANCELLED* | TIMEOUT | OUT_OF_MEMORY | DEADLINE | PREEMPTED)
                rm -f -- "$outfile"
                fail 17 "job failed" "test job $id ended $state (reason $reason)" "scontrol show job $id; sinfo -R" ;;
        esac
        if (($(now) >= deadline)); then
            as_account scancel "$id" >/dev/null 2>&1 || true
            fail 16 "no node came up" "test job $id still ${state:-unknown} at the bound (reason ${reason:-unknown}); cancelled" \
                "sinfo -R; squeue; on the scheduler: azslurm nodes; CycleCloud UI: node errors and quota"
        fi
        sleep "$POLL"
    done
    # The output file lands on /shared once the job ends; NFS may show it a moment later.
    for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -s $outfile ]] && break; sleep 1; done
    host=$(sed -n 's/^slurm-readiness-ok host=\([^ ]*\) .*/\1/p' "$outfile" 2>/dev/null || true)
    rm -f -- "$outfile"
    if [[ -z $host ]]; then
        fail 17 "job failed" "test job $id COMPLETED but wrote no result to $outfile" "scontrol show job $id; ls -l $ACCOUNT_HOME"
    fi
    if [[ $host == "$(hostname)" ]]; then
        fail 17 "job failed" "test job $id ran on the login node itself, not on a compute node" "scontrol show job $id"
    fi
    log "ok [job] test job $id completed on compute node $host"
}

main() {
    local partitions="" timeout=900 job_partition="" job_timeout=1200
    while (($# > 0)); do
        case $1 in
            --partitions) partitions=${2:-}; shift 2 || usage ;;
            --timeout) timeout=${2:-}; shift 2 || usage ;;
            --test-job) job_partition=${2:-}; shift 2 || usage ;;
            --job-timeout) job_timeout=${2:-}; shift 2 || usage ;;
            *) usage ;;
        esac
    done
    [[ $partitions =~ ^[A-Za-z0-9_-]+(,[A-Za-z0-9_-]+)*$ ]] || usage
    [[ $timeout =~ ^[0-9]+$ && $job_timeout =~ ^[0-9]+$ && $POLL =~ ^[0-9]+$ ]] || usage
    [[ -z $job_partition || $job_partition =~ ^[A-Za-z0-9_-]+$ ]] || usage
    [[ $USER_NAME =~ ^[a-z_][a-z0-9_-]*$ ]] || { echo "$PROG: READY_USER must be a Linux user name" >&2; exit 1; }
    IFS=, read -r -a PARTITIONS <<<"$partitions"
    local c
    for c in mountpoint runuser timeout sinfo useradd groupadd getent; do
        command -v "$c" >/dev/null 2>&1 || { echo "$PROG: required command '$c' not found" >&2; exit 1; }
    done
    [[ -x $SYNC_CMD ]] || fail 11 "not synced" "$SYNC_CMD is missing: cloud-init has not installed the login node's sync script" \
        "cloud-init status --long; ls -l $SYNC_CMD"
    SYNC_SOURCE=${SLURM_SYNC_SOURCE:-$(file_value "$SYNC_DEFAULTS" SLURM_SYNC_SOURCE)}
    [[ $SYNC_SOURCE == /* ]] || fail 11 "not synced" "SLURM_SYNC_SOURCE is not set in $SYNC_DEFAULTS" "cat $SYNC_DEFAULTS; cloud-init status --long"

    local started deadline
    started=$(now)
    deadline=$((started + timeout))
    log "checking as $(id -un) on $(hostname): bound ${timeout}s${job_partition:+, test job bound ${job_timeout}s}"
    check_mount "$deadline"
    check_sync "$deadline"
    ensure_account "$deadline"
    check_partitions "$deadline"
    if [[ -n $job_partition ]]; then
        run_test_job "$job_partition" "$(($(now) + job_timeout))"
    fi
    log "READY in $(($(now) - started)) s"
}

main "$@"
