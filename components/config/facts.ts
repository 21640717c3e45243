// The facts every host and the program share: the project's name, the fixed UIDs, the UID ranges and the paths on
// /shared. None of them is configurable. The files written to hosts (the account settings, cloud-init) take them from
// here, and test/config-facts.test.ts holds the shell scripts' own fallbacks to them.

/** The Pulumi project name: the namespace of every config key. */
export const PROJECT = "cyclecloud-slurm-entra";

/** Fixed in cyclecloud-slurm's template (`slurm.user.uid`, `munge.user.uid`); the login node must match them. */
export const SLURM_UID = 11100;
export const MUNGE_UID = 11101;
/** slurmrestd's user in the same template (`slurmrestd.user.uid`). */
export const SLURMRESTD_UID = 11102;
/** nobody (and nfsnobody's overflow ID): never an account of ours. */
export const NOBODY_UID = 65534;

/** The tag that marks a VM as a Slurm login node; the policy pack keys on it. */
export const LOGIN_ROLE_TAG = { key: "slurm-node-role", value: "login" } as const;

/**
 * UIDs CycleCloud numbers its own node users from (azure-docs CycleCloud user-management: "CycleCloud reserves
 * UIDs 20000 and higher for node users"). A pinned UID must stay below, so it never meets one CycleCloud picks.
 */
export const CYCLECLOUD_UID_BASE = 20000;
/** Lowest UID a pinned node account may have (below: system and distribution accounts). */
export const PINNED_UID_MIN = 1000;
/**
 * The readiness check's service account (components/readiness/check-ready.sh), the account registry's one non-UPN
 * name, declared to every VM as ACCOUNTS_SERVICE_ACCOUNTS=<name>:<uid>. Its UID is fixed, below CycleCloud's 20000+
 * and outside the Entra accounts' range (>= 65536): the extension has only been seen to hand out UIDs in the millions,
 * and a person who got this UID anyway would be refused by the registry, never given the service account's identity.
 */
export const READINESS_ACCOUNT_NAME = "slurm-readiness";
export const READINESS_UID = 19990;
/** UIDs no account of ours may take: slurm, munge, slurmrestd (cyclecloud-slurm template), nobody, the readiness account. */
export const RESERVED_UIDS: readonly number[] = [SLURM_UID, MUNGE_UID, SLURMRESTD_UID, NOBODY_UID, READINESS_UID];
/**
 * Highest UID an Entra account may have: Slurm treats 0xfffffffe and 0xffffffff as "no value"
 * (NO_VAL / INFINITE), and 4294967295 is (uid_t)-1.
 */
export const ENTRA_UID_LIMIT = 4294967293;
/** Lowest accepted Entra UID: above system IDs, nobody (65534), slurm/munge (111xx) and CycleCloud's 20000+. */
export const ENTRA_UID_FLOOR = 65536;

/** The NFS share's mount point on every VM: the root the account scripts trust (ACCOUNTS_TRUST_ROOT). */
export const SHARED_ROOT = "/shared";
/** Where the account registry and the homes live on /shared (identity contract; not configurable). */
export const ACCOUNTS_REGISTRY = `${SHARED_ROOT}/apps/accounts`;
export const SHARED_HOME = `${SHARED_ROOT}/home`;
