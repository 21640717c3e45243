// Validates raw config values and builds the typed settings from them (pure: no Pulumi config is read here).
import * as ipaddr from "ipaddr.js";
import { crossChecks, cyclecloudChecks } from "./checks";
import { DEFAULTS } from "./defaults";
import { ACCOUNTS_REGISTRY, PROJECT, READINESS_ACCOUNT_NAME, READINESS_UID, SHARED_HOME } from "./facts";
import { loginImage, parseImageUrn } from "./images";
import { RESOURCE_GROUP_NAME, RESOURCE_GROUP_NAME_RULE } from "./values";
import { ConfigError, didYouMean, keyPath, nearest } from "./problems";
import { controlCharacterProblems, safetyChecks } from "./safety";
import { CONFIG_KEYS, nestedFields, RawSettings, rawSchema } from "./schema";
import { SECRET_KEYS } from "./secrets";
import { RemoteAccess, Settings } from "./settings";

export function unknownKeyProblem(key: string): string {
    const best = nearest(key, [...CONFIG_KEYS, ...Object.keys(SECRET_KEYS)]);
    return `${key}: unknown config key ${PROJECT}:${key}; ` + (best !== undefined
        ? `did you mean ${best}?`
        : `not a key this program reads (README.md, "Configuration reference", lists all ${CONFIG_KEYS.length + Object.keys(SECRET_KEYS).length})`);
}

/**
 * The stem of the stack's resource names: `ccslurm-<stack>`, as Azure's strictest rule among them takes it. Pulumi
 * allows `_` and `.` in stack names; VM names take neither ("can't use ... _ ... ." and a Linux VM name can't end
 * with a period or hyphen), and VNet, Bastion and NAT gateway names must end with a letter, digit or underscore
 * (resource-name-rules, Microsoft.Compute and Microsoft.Network). So each run of other characters becomes one
 * `-`, the stem is cut to 40 characters (room for `vm-`, `-login` and the like within 64) and never ends with `-`.
 * A stack name of letters, digits and hyphens keeps its stem as before (ccslurm-dev).
 */
export function resourceNamePrefix(stack: string): string {
    return `ccslurm-${stack}`.replace(/[^A-Za-z0-9-]+/g, "-").slice(0, 40).replace(/-+$/, "");
}

/** cyclecloud-slurm 4.x keeps a cluster's files in /sched/<name>, the name lower-cased and sanitised. */
export function clusterConfigDirName(clusterName: string): string {
    return clusterName.toLowerCase().replace(/[^a-z0-9-]/g, "-");
}

/**
 * Validates raw config values (strings or parsed objects, keyed by config key without the namespace) and
 * returns the typed settings; throws a ConfigError that lists every problem.
 */
export function parseSettings(input: Record<string, unknown>, stack: string): Settings {
    const problems: string[] = controlCharacterProblems(input);
    const result = rawSchema.safeParse(input);
    if (!result.success) {
        for (const issue of result.error.issues) {
            if (issue.code === "unrecognized_keys") {
                for (const k of issue.keys) {
                    const where = keyPath([...issue.path, k]);
                    problems.push(issue.path.length === 0
                        ? unknownKeyProblem(k)
                        : `${where}: unknown field${didYouMean(k, nestedFields(issue.path))}`);
                }
            } else {
                problems.push(`${keyPath(issue.path)}: ${issue.message}`);
            }
        }
        throw new ConfigError(problems);
    }
    const raw = result.data;
    crossChecks(raw, problems);
    cyclecloudChecks(raw, problems);
    safetyChecks(raw, problems);
    const resourceGroupName = raw.resourceGroupName ?? `rg-${PROJECT}-${stack}`;
    if (raw.resourceGroupName === undefined && !RESOURCE_GROUP_NAME.test(resourceGroupName)) {
        problems.push(`resourceGroupName: the default, ${resourceGroupName}, is not a name Azure takes for a resource group ` +
            `(${resourceGroupName.length} characters; it must be ${RESOURCE_GROUP_NAME_RULE}); set resourceGroupName`);
    }
    if (problems.length > 0) throw new ConfigError(problems);

    return {
        stack,
        namePrefix: resourceNamePrefix(stack),
        deleteSharedOnDestroy: raw.deleteSharedOnDestroy,
        location: raw.location,
        resourceGroupName,
        tags: { ...raw.tags, "pulumi-project": PROJECT, "pulumi-stack": stack },
        network: {
            addressSpace: raw.vnetAddressSpace,
            bastionSubnet: raw.bastionSubnetPrefix,
            cyclecloudSubnet: raw.cyclecloudSubnetPrefix,
            loginSubnet: raw.loginSubnetPrefix,
            computeSubnet: raw.computeSubnetPrefix,
        },
        bastion: { sku: raw.bastionSku, scaleUnits: raw.bastionScaleUnits },
        nfs: { quotaGiB: raw.nfsQuotaGiB, redundancy: raw.nfsRedundancy, shareName: raw.nfsShareName },
        login: {
            vmSize: raw.loginVmSize,
            ...loginImage(raw.loginImage, raw.loginImagePlan),
            adminUsername: raw.loginAdminUsername,
            adminSshPublicKey: raw.loginAdminSshPublicKey.trim(),
            acceleratedNetworking: raw.loginAcceleratedNetworking,
            osDiskSizeGB: raw.loginOsDiskSizeGB,
        },
        slurm: {
            version: raw.slurmVersion,
            clusterName: raw.clusterName,
            clusterConfigDir: clusterConfigDirName(raw.clusterName),
        },
        users: raw.users.map(u => ({
            entra: u.entra,
            admin: u.admin,
            ...(u.name !== undefined ? { name: u.name } : {}),
            ...(u.uid !== undefined ? { uid: u.uid } : {}),
            ...(u.sshPublicKey !== undefined ? { sshPublicKey: u.sshPublicKey.trim() } : {}),
        })),
        accounts: {
            registry: ACCOUNTS_REGISTRY,
            sharedHome: SHARED_HOME,
            uidMin: raw.accountsUidMin,
            uidMax: raw.accountsUidMax,
            ackWaitSeconds: raw.accountsAckWaitSeconds,
            serviceAccounts: `${READINESS_ACCOUNT_NAME}:${READINESS_UID}`,
        },
        entra: {
            groupName: raw.entraGroupName,
            existingGroups: raw.entraExistingGroups,
            conditionalAccessMfa: raw.conditionalAccessMfa,
        },
        cyclecloud: {
            vmSize: raw.cyclecloudVmSize,
            image: parseImageUrn(raw.cyclecloudImage),
            adminUsername: raw.cyclecloudAdminUsername,
            adminSshPublicKey: (raw.cyclecloudAdminSshPublicKey ?? raw.loginAdminSshPublicKey).trim(),
            clusterResourceGroupName: raw.clusterResourceGroupName ?? clusterResourceGroupDefault(resourceGroupName),
            acceptMarketplaceTerms: raw.acceptMarketplaceTerms,
        },
        cluster: {
            schedulerVmSize: raw.schedulerVmSize,
            hpcVmSize: raw.hpcVmSize,
            htcVmSize: raw.htcVmSize,
            maxHpcNodes: raw.maxHpcNodes,
            maxHtcNodes: raw.maxHtcNodes,
            gpuVmSize: raw.gpuVmSize,
            maxGpuNodes: raw.maxGpuNodes,
            dynamicVmSize: raw.dynamicVmSize,
            maxDynamicCores: raw.maxDynamicCores,
            nodeImage: raw.nodeImage,
        },
        remote: remoteAccess(raw),
        readiness: {
            testJob: raw.readinessTestJob,
            timeoutSeconds: raw.readinessTimeoutSeconds,
            jobTimeoutSeconds: raw.readinessJobTimeoutSeconds,
        },
    };
}

/** The cluster resource group's default name: the stack's group with a -cluster suffix (at most 90 characters). */
export function clusterResourceGroupDefault(resourceGroupName: string): string {
    return `${resourceGroupName.slice(0, 82)}-cluster`;
}

function remoteAccess(raw: RawSettings): RemoteAccess {
    const literalProxy = raw.sshProxyHost !== undefined && ipaddr.IPv4.isValidFourPartDecimal(raw.sshProxyHost) ? `${raw.sshProxyHost}/32` : undefined;
    const common = {
        deploySourcePrefix: raw.bastionTunnelPort !== undefined ? undefined : raw.deploySourcePrefix ?? literalProxy,
        cyclecloudHostKey: raw.cyclecloudHostKey?.trim(),
        schedulerHostKey: raw.schedulerHostKey?.trim(),
        dialAttempts: raw.sshDialAttempts,
    };
    if (raw.sshProxyHost !== undefined) {
        return {
            mode: "proxy",
            proxy: {
                host: raw.sshProxyHost,
                port: raw.sshProxyPort ?? DEFAULTS.sshProxyPort,
                user: raw.sshProxyUser ?? raw.cyclecloudAdminUsername,
                hostKey: raw.sshProxyHostKey?.trim() ?? "",
            },
            ...common,
        };
    }
    if (raw.bastionTunnelPort !== undefined) return { mode: "bastionTunnel", tunnelPort: raw.bastionTunnelPort, ...common };
    return { mode: "direct", ...common };
}
