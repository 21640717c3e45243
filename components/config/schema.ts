// The raw config keys (names as `pulumi config set` takes them), with their field rules and defaults (zod).
import { z } from "zod";
import { DEFAULTS } from "./defaults";
import { ENTRA_UID_FLOOR, ENTRA_UID_LIMIT } from "./facts";
import { CYCLECLOUD_IMAGE_NAMES, isNodeImage, LOGIN_IMAGE_PRESETS } from "./images";
import { hostCidr, isSshPublicKey, parseCidr, regionProblem, RESOURCE_GROUP_NAME, RESOURCE_GROUP_NAME_RULE } from "./values";

// ---- field schemas ---------------------------------------------------------------------------------

const cidr = z.string().refine(s => parseCidr(s) !== undefined, {
    message: "must be an IPv4 CIDR such as 10.40.0.0/16 (network address, prefix length 8-29)",
});

const intFromString = (min: number, max: number) =>
    z.preprocess(v => (typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
        z.number({ message: `must be an integer from ${min} to ${max}` })
            .int({ message: `must be an integer from ${min} to ${max}` })
            .min(min, { message: `must be an integer from ${min} to ${max}` })
            .max(max, { message: `must be an integer from ${min} to ${max}` }));

const boolFromString = z.preprocess(
    v => (v === "true" ? true : v === "false" ? false : v),
    z.boolean({ message: "must be true or false" }));

const linuxName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, {
    message: "must be a Linux user name: lower-case letter or _, then up to 31 of a-z 0-9 _ -",
});

const imageUrn = z.string().refine(s => s.split(":").length === 4 && s.split(":").every(p => p.length > 0), {
    message: "must be an image URN with four parts, publisher:offer:sku:version",
});

const sshPublicKey = z.string().refine(isSshPublicKey, {
    message: "must be an OpenSSH public key (ssh-ed25519, ssh-rsa or ecdsa-sha2-*), one line",
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UPN = /^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/;
/** How an Entra object ID is written. */
const OBJECT_ID_FORM = "an object ID is 36 characters: 8-4-4-4-12 hexadecimal digits, e.g. 3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b";

/**
 * At least 20 hexadecimal digits and 2 hyphens, at most one other letter, nothing else (optionally in braces):
 * what an object ID copied with a character missing, extra or wrong looks like. No user principal name looks like
 * this; a group display name could, but then it cannot be told from a damaged object ID, so it is refused too.
 */
export function looksLikeObjectId(s: string): boolean {
    const t = s.trim().replace(/^\{(.*)\}$/, "$1");
    return /^[0-9a-z-]+$/i.test(t) && (t.match(/[0-9a-f]/gi) ?? []).length >= 20 && (t.match(/-/g) ?? []).length >= 2 &&
        (t.match(/[g-z]/gi) ?? []).length <= 1;
}

const entraUser = z.string().superRefine((s, ctx) => {
    if (UUID.test(s) || UPN.test(s)) return;
    ctx.addIssue({
        code: "custom",
        message: looksLikeObjectId(s)
            ? `looks like an object ID but is not one (${OBJECT_ID_FORM}); copy the user's object ID again, or give the user principal name`
            : "must be an Entra user principal name (alice@contoso.com) or an object ID (GUID)",
    });
});

const vmSize = z.string().regex(/^(Standard|Basic)_[A-Za-z0-9_]+$/, {
    message: "must be an Azure VM size such as Standard_D4as_v5",
});

const userSchema = z.object({
    entra: entraUser,
    admin: boolFromString.default(false),
    name: linuxName.optional(),
    uid: intFromString(0, ENTRA_UID_LIMIT).optional(),
    sshPublicKey: sshPublicKey.optional(),
}, { message: "must be an object with entra, optional admin and name, and optionally sshPublicKey (+ uid) for a pinned node account" }).strict();

const groupSchema = z.object({
    group: z.string().min(1, { message: "must be a group object ID or display name" })
        .refine(s => UUID.test(s) || !looksLikeObjectId(s), {
            message: `looks like an object ID but is not one (${OBJECT_ID_FORM}); the program would look it up as a group's ` +
                "display name. Copy the group's object ID again (az ad group show --group <name> --query id -o tsv)",
        }),
    admin: boolFromString.default(false),
}).strict();

/**
 * Names Azure refuses as a VM's admin user: "Disallowed values" of OSProfile.adminUsername in the Compute API
 * (azure-native's types/input.d.ts, compute OSProfileArgs.adminUsername).
 */
export const AZURE_DISALLOWED_ADMIN_NAMES = ["administrator", "admin", "user", "user1", "test", "user2", "test1", "user3", "admin1",
    "1", "123", "a", "actuser", "adm", "admin2", "aspnet", "backup", "console", "david", "guest", "john", "owner", "root", "server",
    "sql", "support", "support_388945a0", "sys", "test2", "test3", "user4", "user5"];

/** An admin user name for a VM: a Linux name, none Azure refuses, none the nodes use for something else. */
function adminName(taken: string[]) {
    return linuxName.superRefine((s, ctx) => {
        if (taken.includes(s)) ctx.addIssue({ code: "custom", message: `must not be a name the nodes already use (${taken.join(", ")})` });
        else if (AZURE_DISALLOWED_ADMIN_NAMES.includes(s)) {
            ctx.addIssue({ code: "custom", message: `"${s}" is a name Azure refuses for a VM's admin user (OSProfile.adminUsername does not take ${AZURE_DISALLOWED_ADMIN_NAMES.join(", ")})` });
        }
    });
}

const hostKey = z.string().refine(s => /^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/]+={0,2}$/.test(s.trim()), {
    message: "must be an SSH host public key in authorized_keys form, e.g. the content of /etc/ssh/ssh_host_ed25519_key.pub without the comment",
});

/** The raw config keys (names as `pulumi config set` takes them), with their rules and defaults. */
export const rawSchema = z.object({
    location: z.string({ message: "is required: the Azure region, for example westeurope" })
        .superRefine((s, ctx) => {
            const problem = regionProblem(s);
            if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
        }),
    resourceGroupName: z.string().regex(RESOURCE_GROUP_NAME, { message: `must be ${RESOURCE_GROUP_NAME_RULE}` }).optional(),
    tags: z.record(z.string(), z.string(), { message: "must be a map of tag names to string values" }).default({}),
    vnetAddressSpace: cidr.default(DEFAULTS.vnetAddressSpace),
    bastionSubnetPrefix: cidr.default(DEFAULTS.bastionSubnetPrefix),
    cyclecloudSubnetPrefix: cidr.default(DEFAULTS.cyclecloudSubnetPrefix),
    loginSubnetPrefix: cidr.default(DEFAULTS.loginSubnetPrefix),
    computeSubnetPrefix: cidr.default(DEFAULTS.computeSubnetPrefix),
    bastionSku: z.enum(["Standard", "Premium"], {
        message: "must be Standard or Premium (native-client tunneling needs one of them)",
    }).default(DEFAULTS.bastionSku),
    bastionScaleUnits: intFromString(2, 50).default(DEFAULTS.bastionScaleUnits),
    nfsQuotaGiB: intFromString(100, 102400).default(DEFAULTS.nfsQuotaGiB),
    nfsRedundancy: z.enum(["LRS", "ZRS"], { message: "must be LRS or ZRS (NFS shares support no geo-redundancy)" })
        .default(DEFAULTS.nfsRedundancy),
    nfsShareName: z.string().regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, {
        message: "must be 3-63 characters of lower-case letters, digits and single hyphens",
    }).default(DEFAULTS.nfsShareName),
    loginVmSize: vmSize.default(DEFAULTS.loginVmSize),
    loginImage: z.string().refine(s => s in LOGIN_IMAGE_PRESETS || imageUrn.safeParse(s).success, {
        message: `must be an image URN with four parts, publisher:offer:sku:version, or a preset (${Object.keys(LOGIN_IMAGE_PRESETS).join(", ")})`,
    }).default(DEFAULTS.loginImage),
    loginImagePlan: boolFromString.optional(),
    loginAdminUsername: adminName(["root", "slurm", "munge"]).default(DEFAULTS.loginAdminUsername),
    loginAdminSshPublicKey: z.string({ message: "is required: the OpenSSH public key of the login node's local admin" })
        .pipe(sshPublicKey),
    loginAcceleratedNetworking: boolFromString.default(DEFAULTS.loginAcceleratedNetworking),
    loginOsDiskSizeGB: intFromString(30, 4095).default(DEFAULTS.loginOsDiskSizeGB),
    slurmVersion: z.string().regex(/^\d{2}\.\d{2}\.\d{1,2}$/, {
        message: "must be a full Slurm release such as 25.11.5 (the same version the cluster runs)",
    }).default(DEFAULTS.slurmVersion),
    clusterName: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,30}$/, {
        message: "must start with a letter and have up to 31 letters, digits or hyphens",
    }).default(DEFAULTS.clusterName),
    users: z.array(userSchema, { message: "must be a list of users" }).default([]),
    entraGroupName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,119}$/, {
        message: "must be a group display name of 1-120 letters, digits, spaces, . _ -",
    }).optional(),
    entraExistingGroups: z.array(groupSchema, { message: "must be a list of { group, admin }" }).default([]),
    conditionalAccessMfa: boolFromString.default(DEFAULTS.conditionalAccessMfa),
    cyclecloudVmSize: vmSize.default(DEFAULTS.cyclecloudVmSize),
    cyclecloudImage: imageUrn.default(DEFAULTS.cyclecloudImage),
    cyclecloudAdminUsername: adminName(["root", "slurm", "munge", "cycle_server"]).default(DEFAULTS.cyclecloudAdminUsername),
    cyclecloudAdminSshPublicKey: sshPublicKey.optional(),
    clusterResourceGroupName: z.string().regex(RESOURCE_GROUP_NAME, { message: `must be ${RESOURCE_GROUP_NAME_RULE}` }).optional(),
    acceptMarketplaceTerms: boolFromString.default(DEFAULTS.acceptMarketplaceTerms),
    schedulerVmSize: vmSize.default(DEFAULTS.schedulerVmSize),
    hpcVmSize: vmSize.default(DEFAULTS.hpcVmSize),
    htcVmSize: vmSize.default(DEFAULTS.htcVmSize),
    maxHpcNodes: intFromString(0, 1000).default(DEFAULTS.maxHpcNodes),
    maxHtcNodes: intFromString(0, 10000).default(DEFAULTS.maxHtcNodes),
    gpuVmSize: vmSize.default(DEFAULTS.gpuVmSize),
    maxGpuNodes: intFromString(0, 1000).default(DEFAULTS.maxGpuNodes),
    dynamicVmSize: vmSize.default(DEFAULTS.dynamicVmSize),
    maxDynamicCores: intFromString(0, 100000).default(DEFAULTS.maxDynamicCores),
    nodeImage: z.string().refine(isNodeImage, {
        message: `must be a CycleCloud image name (${CYCLECLOUD_IMAGE_NAMES.join(", ")}), an image URN publisher:offer:sku:version or an image resource ID`,
    }).default(DEFAULTS.nodeImage),
    sshProxyHost: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, {
        message: "must be a host name or IPv4 address of an SSH jump host",
    }).optional(),
    sshProxyPort: intFromString(1, 65535).optional(),
    sshProxyUser: linuxName.optional(),
    bastionTunnelPort: intFromString(1024, 65535).optional(),
    cyclecloudHostKey: hostKey.optional(),
    schedulerHostKey: hostKey.optional(),
    sshProxyHostKey: hostKey.optional(),
    deploySourcePrefix: z.string().refine(s => hostCidr(s) !== undefined, {
        message: "must be an IPv4 address range such as 10.50.1.0/24 or 10.50.1.4/32 (prefix length 8-32)",
    }).optional(),
    deleteSharedOnDestroy: boolFromString.default(false),
    sshDialAttempts: intFromString(1, 1000).default(DEFAULTS.sshDialAttempts),
    accountsUidMin: intFromString(ENTRA_UID_FLOOR, ENTRA_UID_LIMIT).default(DEFAULTS.accountsUidMin),
    accountsUidMax: intFromString(ENTRA_UID_FLOOR, ENTRA_UID_LIMIT).default(DEFAULTS.accountsUidMax),
    accountsAckWaitSeconds: intFromString(0, 300).default(DEFAULTS.accountsAckWaitSeconds),
    readinessTestJob: boolFromString.default(DEFAULTS.readinessTestJob),
    readinessTimeoutSeconds: intFromString(30, 7200).default(DEFAULTS.readinessTimeoutSeconds),
    readinessJobTimeoutSeconds: intFromString(60, 7200).default(DEFAULTS.readinessJobTimeoutSeconds),
}).strict();

export type RawSettings = z.infer<typeof rawSchema>;

/** The config keys this program reads; anything else in the project namespace is reported as unknown. */
export const CONFIG_KEYS = Object.keys(rawSchema.shape);
export const OBJECT_KEYS = new Set(["tags", "users", "entraExistingGroups"]);

/** The fields an object inside a structured key may have (users[i], entraExistingGroups[i]). */
export function nestedFields(path: PropertyKey[]): string[] {
    if (path[0] === "users") return Object.keys(userSchema.shape);
    if (path[0] === "entraExistingGroups") return Object.keys(groupSchema.shape);
    return [];
}
