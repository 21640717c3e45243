// The stack configuration: the one entry point the components, scripts and tests import (`../config`).
// Everything is checked before the program registers a single resource, and every problem is reported at once, each
// naming the config key (as `pulumi config set` spells it) and what is allowed. One concern per file:
//   facts.ts     the facts every host shares (fixed UIDs, UID ranges, paths on /shared); not configurable
//   settings.ts  the typed settings object the components receive
//   defaults.ts  the config keys' defaults (also declared in Pulumi.yaml)
//   images.ts    login image presets, CycleCloud node image names, URN parsing
//   regions.ts   Azure's region names, offline
//   values.ts    what one value must look like (region, CIDR, SSH public key)
//   schema.ts    the raw config keys and their field rules (zod)
//   checks.ts    cross-checks between keys
//   safety.ts    values that pass the field rules but break or weaken the deployment
//   problems.ts  how problems are reported (ConfigError, "did you mean")
//   parse.ts     raw values -> validated Settings (pure)
//   secrets.ts   secret keys, how to set them, checks of their values, the offline plan's stand-ins
//   load.ts      reading the stack's config and secrets through Pulumi
export {
    ACCOUNTS_REGISTRY, CYCLECLOUD_UID_BASE, ENTRA_UID_FLOOR, ENTRA_UID_LIMIT, LOGIN_ROLE_TAG, MUNGE_UID, NOBODY_UID,
    PINNED_UID_MIN, PROJECT, READINESS_ACCOUNT_NAME, READINESS_UID, RESERVED_UIDS, SHARED_HOME, SHARED_ROOT, SLURM_UID,
    SLURMRESTD_UID,
} from "./facts";
export { pinnedNodeAccounts, userKey } from "./settings";
export type { AccountSettings, ClusterUser, EntraGroupGrant, ImageUrn, PinnedNodeAccount, RemoteAccess, Settings, SshProxy } from "./settings";
export { DEFAULTS } from "./defaults";
export { CYCLECLOUD_IMAGE_NAMES, LOGIN_IMAGE_PRESETS, loginImage, parseImageUrn } from "./images";
export type { LoginImagePreset } from "./images";
export { parseCidr, regionProblem } from "./values";
export { CONFIG_KEYS, looksLikeObjectId } from "./schema";
export { MAX_USERS_WITHOUT_GROUP } from "./checks";
export { controlCharacterProblems, RESERVED_USER_NAMES, TAG_LIMITS } from "./safety";
export { ConfigError, editDistance, nearest } from "./problems";
export { clusterConfigDirName, clusterResourceGroupDefault, parseSettings, resourceNamePrefix } from "./parse";
export { DEPLOY_KEY_COMMAND, DEPLOY_KEY_FILE, SECRET_KEYS, secretProblems, setSecretCommand, setSecretStandIns } from "./secrets";
export type { SecretKey, Secrets } from "./secrets";
export { loadSecrets, loadSettings, plaintextSecretProblems } from "./load";
