// Reads the stack configuration into one typed, validated settings object.
// Everything is checked before the program registers a single resource, and every problem is reported at
// once, each naming the config key (as `pulumi config set` spells it) and what is allowed.
import * as pulumi from "@pulumi/pulumi";
import * as ipaddr from "ipaddr.js";
import * as sshpk from "sshpk";
import { z } from "zod";
import { AZURE_REGIONS, AZURE_REGIONS_AS_OF } from "./regions";

/** The Pulumi project name: the namespace of every config key below. */
export const PROJECT = "cyclecloud-slurm-entra";

/** Fixed in cyclecloud-slurm's template (`slurm.user.uid`, `munge.user.uid`); the login node must match them. */
export const SLURM_UID = 11100;
export const MUNGE_UID = 11101;

/**
 * Without entraGroupName every user gets 4 role assignments. Azure caps role assignments per subscription
 * (4,000, lately 5,000, for everything in it), so larger teams must be granted through groups.
 */
export const MAX_USERS_WITHOUT_GROUP = 500;

/** The tag that marks a VM as a Slurm login node; the policy pack keys on it. */
export const LOGIN_ROLE_TAG = { key: "slurm-node-role", value: "login" } as const;

/**
 * A named Entra user in config. Nobody has to be listed to sign in and run jobs (any member of a granted
 * group can; the account registry carries their account to the cluster); an entry grants the login roles to
 * one person and may add a pinned CycleCloud node account.
 */
export interface ClusterUser {
    /** Entra ID user: a UPN (alice@contoso.com) or an object ID. Gets the login role on the login node. */
    entra: string;
    /**
     * "Virtual Machine Administrator Login" (sudo on the login node) instead of "Virtual Machine User Login";
     * for a pinned node account also CycleCloud's "Global Node Admin" (sudo on the cluster's nodes).
     */
    admin: boolean;
    /**
     * The entry's name (its resources are named after it; default: derived from `entra`) and, with
     * sshPublicKey, the Linux name of a pinned CycleCloud node account (a CycleCloud user record, created by
     * CycleCloud on every cluster node): never contains `@`, so never an Entra sign-in name.
     */
    name?: string;
    /** The node account's UID (1000-19999 except slurm/munge/slurmrestd); absent: CycleCloud numbers it from 20000. */
    uid?: number;
    /** Makes `name` a pinned node account: the key CycleCloud puts into its authorized_keys. */
    sshPublicKey?: string;
}

/** A user entry that carries a pinned CycleCloud node account. */
export type PinnedNodeAccount = ClusterUser & { name: string; sshPublicKey: string };

/** The entries of `users` that carry a pinned CycleCloud node account. */
export function pinnedNodeAccounts(users: ClusterUser[]): PinnedNodeAccount[] {
    return users.filter((u): u is PinnedNodeAccount => u.name !== undefined && u.sshPublicKey !== undefined);
}

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
export const RESERVED_UIDS: readonly number[] = [11100, 11101, 11102, 65534, READINESS_UID];
/**
 * Highest UID an Entra account may have: Slurm treats 0xfffffffe and 0xffffffff as "no value"
 * (NO_VAL / INFINITE), and 4294967295 is (uid_t)-1.
 */
export const ENTRA_UID_LIMIT = 4294967293;
/** Lowest accepted Entra UID: above system IDs, nobody (65534), slurm/munge (111xx) and CycleCloud's 20000+. */
export const ENTRA_UID_FLOOR = 65536;

/** Where the account registry and the homes live on /shared (identity contract; not configurable). */
export const ACCOUNTS_REGISTRY = "/shared/apps/accounts";
export const SHARED_HOME = "/shared/home";

/** The account registry's settings, written to /etc/default/cluster-accounts on every VM. */
export interface AccountSettings {
    registry: string;
    sharedHome: string;
    /** Accepted UID range of Entra accounts (inclusive). */
    uidMin: number;
    uidMax: number;
    /** Seconds the sign-in waits for the scheduler to acknowledge a new account. */
    ackWaitSeconds: number;
    /** The non-UPN service accounts the registry takes, `name:uid[,...]` (the readiness check's). */
    serviceAccounts: string;
}

/** An existing Entra ID group that gets login rights. */
export interface EntraGroupGrant {
    /** Object ID or display name of an existing Entra security group. */
    group: string;
    admin: boolean;
}

/** A marketplace image URN split into its parts. */
export interface ImageUrn {
    publisher: string;
    offer: string;
    sku: string;
    version: string;
}

export interface Settings {
    stack: string;
    /** Delete the NFS share and its account (every home directory) on `pulumi destroy`; default false: keep them. */
    deleteSharedOnDestroy: boolean;
    location: string;
    resourceGroupName: string;
    tags: Record<string, string>;
    network: {
        addressSpace: string;
        bastionSubnet: string;
        cyclecloudSubnet: string;
        loginSubnet: string;
        computeSubnet: string;
    };
    bastion: { sku: "Standard" | "Premium"; scaleUnits: number };
    nfs: { quotaGiB: number; redundancy: "LRS" | "ZRS"; shareName: string };
    login: {
        vmSize: string;
        image: ImageUrn;
        /** Whether the image is a marketplace plan image (the VM then carries the plan and needs accepted terms). */
        imagePlan: boolean;
        adminUsername: string;
        adminSshPublicKey: string;
        acceleratedNetworking: boolean;
        osDiskSizeGB: number;
    };
    slurm: { version: string; clusterName: string; clusterConfigDir: string };
    users: ClusterUser[];
    accounts: AccountSettings;
    entra: {
        groupName?: string;
        existingGroups: EntraGroupGrant[];
        conditionalAccessMfa: boolean;
    };
    cyclecloud: {
        vmSize: string;
        image: ImageUrn;
        /** Linux admin of the CycleCloud VM and CycleCloud's own admin user (same name). */
        adminUsername: string;
        /** Public half of adminSshPrivateKey: the VM admin's key and the CycleCloud admin's node key. */
        adminSshPublicKey: string;
        /** Resource group CycleCloud creates the cluster's VMs in (its Contributor scope). */
        clusterResourceGroupName: string;
        acceptMarketplaceTerms: boolean;
    };
    cluster: {
        schedulerVmSize: string;
        hpcVmSize: string;
        htcVmSize: string;
        maxHpcNodes: number;
        maxHtcNodes: number;
        /** The template's gpu nodearray: 0 switches it off (its partition is then not created). */
        gpuVmSize: string;
        maxGpuNodes: number;
        /** The template's dynamic nodearray: 0 cores switches it off (EnableDynamicPartition=false). */
        dynamicVmSize: string;
        maxDynamicCores: number;
        /** CycleCloud image name (almalinux8, ...), a marketplace URN or an image resource ID. */
        nodeImage: string;
    };
    /** How the remote Commands reach the private CycleCloud server and scheduler. */
    remote: RemoteAccess;
    /** The readiness check after the seed (components/readiness). */
    readiness: { testJob: boolean; timeoutSeconds: number; jobTimeoutSeconds: number };
}

/** Jump host for the remote Commands (a real SSH server that allows TCP forwarding). */
export interface SshProxy {
    host: string;
    port: number;
    user: string;
    /** The jump host's pinned SSH host key (sshProxyHostKey, required with sshProxyHost). */
    hostKey: string;
}

export interface RemoteAccess {
    /**
     * direct: this machine routes to the VNet (VPN, peering, self-hosted runner);
     * proxy: through an SSH jump host; bastionTunnel: through `az network bastion tunnel` to the CycleCloud VM
     * on a local port (the scheduler is then reached through the CycleCloud VM).
     */
    mode: "direct" | "proxy" | "bastionTunnel";
    proxy?: SshProxy;
    tunnelPort?: number;
    /**
     * Pinned host keys ("ssh-ed25519 AAAA..."). When absent, the CycleCloud server's key is read through Azure
     * (a VM Run Command) and the scheduler's by the server from inside the VNet; never from the SSH session itself.
     */
    cyclecloudHostKey?: string;
    schedulerHostKey?: string;
    /** SSH dial attempts before a remote Command gives up (a new VM or tunnel may take minutes). */
    dialAttempts: number;
    /**
     * Where the remote Commands' SSH connections enter the VNet (direct and proxy modes; the NSGs admit SSH to the
     * CycleCloud server and the scheduler from here). In tunnel mode they come from AzureBastionSubnet.
     */
    deploySourcePrefix?: string;
}

/** Config keys that hold secrets: set them with `setSecretCommand(key)` (a prompt or a file, never a value on the command line). Never in `Settings`. */
export const SECRET_KEYS = {
    cyclecloudAdminPassword: {
        required: true,
        description: "Password of CycleCloud's admin user (web UI and CLI); 12-123 characters with upper- and lower-case letters, a digit and a symbol",
    },
    adminSshPrivateKey: {
        required: true,
        description: "OpenSSH private key (unencrypted) matching cyclecloudAdminSshPublicKey; the remote Commands sign in with it",
    },
    sshProxyPrivateKey: {
        required: false,
        description: "Private key for the SSH jump host (sshProxyHost); default adminSshPrivateKey",
    },
    loginAdminSshPrivateKey: {
        required: false,
        description: "Private key matching loginAdminSshPublicKey: the readiness check signs in to the login node's admin with it; default adminSshPrivateKey",
    },
} as const;
/** The dedicated, unencrypted deploy key the README and docs/cyclecloud.md tell users to make (one way everywhere). */
export const DEPLOY_KEY_FILE = "~/.ssh/cyclecloud-slurm-entra-deploy";
export const DEPLOY_KEY_COMMAND = `ssh-keygen -t ed25519 -N '' -C cyclecloud-slurm-entra-deploy -f ${DEPLOY_KEY_FILE}`;

/** How to set a secret without its value on a command line (shell history, process list): a prompt, or a file on stdin. */
export function setSecretCommand(key: string): string {
    switch (key) {
        case "cyclecloudAdminPassword": return "pulumi config set --secret cyclecloudAdminPassword (it prompts for the value)";
        case "adminSshPrivateKey": return `pulumi config set --secret adminSshPrivateKey < ${DEPLOY_KEY_FILE}`;
        case "sshProxyPrivateKey": return "pulumi config set --secret sshProxyPrivateKey < jump-host-user-key (the jump host user's private key file)";
        case "loginAdminSshPrivateKey": return "pulumi config set --secret loginAdminSshPrivateKey < login-admin-key (the private key file of loginAdminSshPublicKey)";
        default: return `pulumi config set --secret ${key} (it prompts for the value)`;
    }
}

export type SecretKey = keyof typeof SECRET_KEYS;

/** The secret config values, as Pulumi secrets. */
export interface Secrets {
    cyclecloudAdminPassword: pulumi.Output<string>;
    adminSshPrivateKey: pulumi.Output<string>;
    sshProxyPrivateKey?: pulumi.Output<string>;
    /** Private key of the login node's admin (the readiness check); adminSshPrivateKey when unset. */
    loginAdminSshPrivateKey: pulumi.Output<string>;
}

/** A user mistake in the stack config. A RunError so Pulumi prints the message without a stack trace. */
export class ConfigError extends pulumi.RunError {
    constructor(public readonly problems: string[]) {
        super(`invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
            problems.map(p => `  - ${p}`).join("\n"));
        this.name = "ConfigError";
    }
}

/** The defaults, also declared in Pulumi.yaml so `pulumi config` shows them. */
export const DEFAULTS = {
    vnetAddressSpace: "10.40.0.0/16",
    bastionSubnetPrefix: "10.40.0.0/26",
    cyclecloudSubnetPrefix: "10.40.0.64/27",
    loginSubnetPrefix: "10.40.0.96/27",
    computeSubnetPrefix: "10.40.16.0/20",
    bastionSku: "Standard",
    bastionScaleUnits: 2,
    nfsQuotaGiB: 1024,
    nfsRedundancy: "LRS",
    nfsShareName: "shared",
    loginVmSize: "Standard_D4as_v5",
    // Pinned so a new image never replaces the VM by surprise; the 8_10 HPC SKU is a plan image.
    loginImage: "almalinux:almalinux-hpc:8_10-hpc-gen2:8.10.2024101801",
    loginAdminUsername: "azureadmin",
    loginAcceleratedNetworking: true,
    loginOsDiskSizeGB: 64,
    slurmVersion: "25.11.5",
    clusterName: "slurm",
    conditionalAccessMfa: false,
    cyclecloudVmSize: "Standard_D4as_v5",
    // Pinned (the version CycleCloud Workspace for Slurm pins): a new image must never replace the server.
    cyclecloudImage: "azurecyclecloud:azure-cyclecloud:cyclecloud8-gen2:8.9.120260630",
    cyclecloudAdminUsername: "ccadmin",
    acceptMarketplaceTerms: false,
    schedulerVmSize: "Standard_D4ads_v5",
    hpcVmSize: "Standard_F2s_v2",
    htcVmSize: "Standard_F2s_v2",
    maxHpcNodes: 16,
    maxHtcNodes: 100,
    // The template's gpu and dynamic nodearrays are off unless asked for (its own defaults: 8 x
    // Standard_NC24rs_v3 and a 100-core dynamic partition).
    gpuVmSize: "Standard_NC24rs_v3",
    maxGpuNodes: 0,
    dynamicVmSize: "Standard_F2s_v2",
    maxDynamicCores: 0,
    nodeImage: "almalinux8",
    sshProxyPort: 22,
    sshDialAttempts: 40,
    accountsUidMin: ENTRA_UID_FLOOR,
    accountsUidMax: ENTRA_UID_LIMIT,
    // First sign-in's wait for the scheduler's answer over NFS with actimeo=30 (components/nfs.ts): up to 30 s until the
    // scheduler's attribute cache shows the new entry, its 3 s timer and the apply, up to 30 s until the login node's
    // cached negative lookup of status/<UID> expires: 30 + 3 + 5 + 30 = 68 -> 70 (components/accounts/README.md, "NFS timing").
    accountsAckWaitSeconds: 70,
    readinessTestJob: false,
    readinessTimeoutSeconds: 600,
    readinessJobTimeoutSeconds: 1200,
} as const;

/**
 * Named login images (`loginImage`). AADSSHLoginForLinux's supported-distribution table (azure-docs
 * howto-vm-sign-in-azure-ad-linux) lists RHEL 8 and, in newer revisions, Rocky; AlmaLinux is not listed
 * (docs/cli-behaviour.md). Both presets are EL8, so the client installer's EPEL/PowerTools path holds.
 */
export const LOGIN_IMAGE_PRESETS = {
    // The default: the same family as the cluster's nodes (almalinux8); Entra sign-in on it is unverified.
    "almalinux-hpc-8": { urn: "almalinux:almalinux-hpc:8_10-hpc-gen2:8.10.2024101801", plan: true },
    // Rocky Linux 8 from the Rocky Enterprise Software Foundation: a plan image. [unverified URN]
    "rocky-8": { urn: "resf:rockylinux-x86_64:8-base:latest", plan: true },
} as const;
export type LoginImagePreset = keyof typeof LOGIN_IMAGE_PRESETS;

/** CycleCloud's own image names accepted by the cyclecloud-slurm 4.x template. */
export const CYCLECLOUD_IMAGE_NAMES = ["almalinux8", "almalinux9", "cycle.image.ubuntu22", "cycle.image.ubuntu24", "cycle.image.sles15-hpc"] as const;

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

const RESERVED_NAMES = ["root", "admin", "administrator", "slurm", "munge", "cycle_server"];

const hostKey = z.string().refine(s => /^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/]+={0,2}$/.test(s.trim()), {
    message: "must be an SSH host public key in authorized_keys form, e.g. the content of /etc/ssh/ssh_host_ed25519_key.pub without the comment",
});

/** The raw config keys (names as `pulumi config set` takes them), with their rules and defaults. */
const rawSchema = z.object({
    location: z.string({ message: "is required: the Azure region, for example westeurope" })
        .superRefine((s, ctx) => {
            const problem = regionProblem(s);
            if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
        }),
    resourceGroupName: z.string().regex(/^[-\w.()]{1,89}[-\w()]$/, {
        message: "must be 1-90 characters of letters, digits, - _ . ( ) and not end with a period",
    }).optional(),
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
    loginAdminUsername: linuxName.refine(s => !["root", "admin", "administrator", "slurm", "munge"].includes(s), {
        message: "must not be a reserved name (root, admin, administrator, slurm, munge)",
    }).default(DEFAULTS.loginAdminUsername),
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
    cyclecloudAdminUsername: linuxName.refine(s => !RESERVED_NAMES.includes(s), {
        message: `must not be a reserved name (${RESERVED_NAMES.join(", ")})`,
    }).default(DEFAULTS.cyclecloudAdminUsername),
    cyclecloudAdminSshPublicKey: sshPublicKey.optional(),
    clusterResourceGroupName: z.string().regex(/^[-\w.()]{1,89}[-\w()]$/, {
        message: "must be 1-90 characters of letters, digits, - _ . ( ) and not end with a period",
    }).optional(),
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

type RawSettings = z.infer<typeof rawSchema>;

/** The config keys this program reads; anything else in the project namespace is reported as unknown. */
export const CONFIG_KEYS = Object.keys(rawSchema.shape);
const OBJECT_KEYS = new Set(["tags", "users", "entraExistingGroups"]);

// ---- helpers ---------------------------------------------------------------------------------------

/** Levenshtein distance (insertions, deletions, substitutions), case-insensitive. */
export function editDistance(a: string, b: string): number {
    const x = a.toLowerCase(), y = b.toLowerCase();
    let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
    for (let i = 1; i <= x.length; i++) {
        const row = [i];
        for (let j = 1; j <= y.length; j++) {
            row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
        }
        prev = row;
    }
    return prev[y.length];
}

/** The candidate nearest to `word` when it is near enough to be a typo of it (at most a third of it differs). */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
    let best: string | undefined, bestDistance = Infinity;
    for (const c of candidates) {
        const d = editDistance(word, c);
        if (d < bestDistance) [best, bestDistance] = [c, d];
    }
    return best !== undefined && bestDistance <= Math.max(2, Math.floor(Math.max(word.length, best.length) / 3)) ? best : undefined;
}

function didYouMean(word: string, candidates: readonly string[]): string {
    const best = nearest(word, candidates);
    return best === undefined ? "" : `; did you mean ${best}?`;
}

function unknownKeyProblem(key: string): string {
    const best = nearest(key, [...CONFIG_KEYS, ...Object.keys(SECRET_KEYS)]);
    return `${key}: unknown config key ${PROJECT}:${key}; ` + (best !== undefined
        ? `did you mean ${best}?`
        : `not a key this program reads (README.md, "Configuration reference", lists all ${CONFIG_KEYS.length + Object.keys(SECRET_KEYS).length})`);
}

/** The fields an object inside a structured key may have (users[i], entraExistingGroups[i]). */
function nestedFields(path: PropertyKey[]): string[] {
    if (path[0] === "users") return Object.keys(userSchema.shape);
    if (path[0] === "entraExistingGroups") return Object.keys(groupSchema.shape);
    return [];
}

/** Why `s` is not an Azure region name (undefined: it is one), with the nearest name when it looks like a typo. */
export function regionProblem(s: string): string | undefined {
    if ((AZURE_REGIONS as readonly string[]).includes(s)) return undefined;
    const lower = s.toLowerCase().replace(/[\s_-]/g, "");
    if ((AZURE_REGIONS as readonly string[]).includes(lower)) {
        return `must be the region's programmatic name, ${lower} (lower case, no spaces), not ${JSON.stringify(s)}`;
    }
    const best = nearest(lower, AZURE_REGIONS);
    return `${JSON.stringify(s)} is not an Azure region name` + (best !== undefined ? `; did you mean ${best}?` : "") +
        ` (names as in az account list-locations, e.g. westeurope; the list in components/regions.ts is of ${AZURE_REGIONS_AS_OF})`;
}

/** Parses an IPv4 CIDR whose address is its network address; undefined when it is not one. */
export function parseCidr(s: string): [ipaddr.IPv4, number] | undefined {
    try {
        const [addr, bits] = ipaddr.IPv4.parseCIDR(s);
        if (bits < 8 || bits > 29) return undefined;
        if (ipaddr.IPv4.networkAddressFromCIDR(s).toString() !== addr.toString()) return undefined;
        return [addr, bits];
    } catch {
        return undefined;
    }
}

function cidrContains(outer: string, inner: string): boolean {
    const o = parseCidr(outer), i = parseCidr(inner);
    return !!o && !!i && i[1] >= o[1] && i[0].match(o);
}

function cidrsOverlap(a: string, b: string): boolean {
    const x = parseCidr(a), y = parseCidr(b);
    return !!x && !!y && (x[0].match(y) || y[0].match(x));
}

/**
 * An OpenSSH public key line, whole. sshpk alone accepts some keys whose base64 was cut short (a truncated
 * ed25519 key parses), which would reach the VM as a key nobody holds; so the base64 must be canonical and
 * decode to exactly the key's blob.
 */
function isSshPublicKey(s: string): boolean {
    const line = s.trim();
    if (/[\r\n]/.test(line)) return false;
    const [type, b64 = ""] = line.split(/\s+/);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return false;
    const blob = Buffer.from(b64, "base64");
    if (blob.toString("base64") !== b64 || blob.length < 4 || blob.subarray(4, 4 + blob.readUInt32BE(0)).toString() !== type) return false;
    try {
        const key = sshpk.parseKey(line, "ssh");
        return key.toBuffer("rfc4253").equals(blob) &&
            ["ed25519", "rsa", "ecdsa"].includes(key.type) && (key.type !== "rsa" || key.size >= 2048);
    } catch {
        return false;
    }
}

function isNodeImage(s: string): boolean {
    if ((CYCLECLOUD_IMAGE_NAMES as readonly string[]).includes(s)) return true;
    if (s.split(":").length === 4 && s.split(":").every(p => /^[A-Za-z0-9._-]+$/.test(p))) return true;
    return /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Compute\/(images|galleries)\/[^\s]+$/i.test(s);
}

/** cyclecloud-slurm 4.x keeps a cluster's files in /sched/<name>, the name lower-cased and sanitised. */
export function clusterConfigDirName(clusterName: string): string {
    return clusterName.toLowerCase().replace(/[^a-z0-9-]/g, "-");
}

/** The login image and whether it is a plan image: a preset's, or a URN's (a plan image unless loginImagePlan=false). */
export function loginImage(value: string, plan: boolean | undefined): { image: ImageUrn; imagePlan: boolean } {
    const preset = (LOGIN_IMAGE_PRESETS as Record<string, { urn: string; plan: boolean } | undefined>)[value];
    return { image: parseImageUrn(preset?.urn ?? value), imagePlan: plan ?? preset?.plan ?? true };
}

/** Splits a validated URN. */
export function parseImageUrn(urn: string): ImageUrn {
    const [publisher, offer, sku, version] = urn.split(":");
    return { publisher, offer, sku, version };
}

function keyPath(path: PropertyKey[]): string {
    let out = "";
    for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${String(p)}` : String(p);
    return out;
}

function crossChecks(raw: RawSettings, problems: string[]): void {
    const subnets: [string, string][] = [
        ["bastionSubnetPrefix", raw.bastionSubnetPrefix],
        ["cyclecloudSubnetPrefix", raw.cyclecloudSubnetPrefix],
        ["loginSubnetPrefix", raw.loginSubnetPrefix],
        ["computeSubnetPrefix", raw.computeSubnetPrefix],
    ];
    for (const [key, prefix] of subnets) {
        if (!cidrContains(raw.vnetAddressSpace, prefix)) {
            problems.push(`${key}: ${prefix} must lie inside vnetAddressSpace ${raw.vnetAddressSpace}`);
        }
    }
    for (let i = 0; i < subnets.length; i++) {
        for (let j = i + 1; j < subnets.length; j++) {
            if (cidrsOverlap(subnets[i][1], subnets[j][1])) {
                problems.push(`${subnets[j][0]}: ${subnets[j][1]} overlaps ${subnets[i][0]} ${subnets[i][1]}; ` +
                    "subnets must not overlap");
            }
        }
    }
    const bastionBits = parseCidr(raw.bastionSubnetPrefix)?.[1];
    if (bastionBits !== undefined && bastionBits > 26) {
        problems.push(`bastionSubnetPrefix: AzureBastionSubnet must be /26 or larger, got /${bastionBits}`);
    }
    const loginBits = parseCidr(raw.loginSubnetPrefix)?.[1];
    if (loginBits !== undefined && loginBits > 28) {
        problems.push(`loginSubnetPrefix: must be /28 or larger (Azure reserves 5 addresses per subnet)`);
    }
    userChecks(raw, problems);
    partitionChecks(raw, problems);
    if (raw.conditionalAccessMfa && raw.users.length === 0 && !raw.entraGroupName && raw.entraExistingGroups.length === 0) {
        problems.push("conditionalAccessMfa: needs users, entraGroupName or entraExistingGroups to apply to");
    }
    if (raw.entraGroupName && raw.users.length === 0) {
        problems.push("entraGroupName: a group is created for the configured users, but users is empty");
    }
    if (!raw.entraGroupName && raw.users.length > MAX_USERS_WITHOUT_GROUP) {
        problems.push(`users: ${raw.users.length} users would get ${4 * raw.users.length} role assignments (4 each), ` +
            `too many for one subscription's role-assignment limit (4,000-5,000, shared with everything in it); ` +
            `set entraGroupName so the roles go to two Entra groups, or list at most ${MAX_USERS_WITHOUT_GROUP} users`);
    }
}

/**
 * Exactly one default partition. cyclecloud-slurm's template marks both the hpc and the gpu nodearray
 * `slurm.default_partition = true` (no parameter changes that); azslurm comments out the partition of a
 * nodearray with no capacity (max count 0), and slurmctld takes the last of several `Default=YES` lines
 * silently. So exactly one of the two may have nodes. [source] templates/slurm.txt, azure-slurm/slurmcc/cli.py
 * `_partitions`, Slurm src/slurmctld/read_config.c ("Changing default partition").
 */
function partitionChecks(raw: RawSettings, problems: string[]): void {
    if (raw.maxHpcNodes > 0 && raw.maxGpuNodes > 0) {
        problems.push(`maxGpuNodes: ${raw.maxGpuNodes} GPU nodes together with maxHpcNodes ${raw.maxHpcNodes} would give two default ` +
            "partitions (cyclecloud-slurm's template makes both hpc and gpu the default, and Slurm silently takes the last); " +
            "set maxHpcNodes to 0 to make gpu the default partition, or maxGpuNodes to 0");
    } else if (raw.maxHpcNodes === 0 && raw.maxGpuNodes === 0) {
        problems.push("maxHpcNodes: must be above 0 (or maxGpuNodes above 0): the hpc or the gpu partition is the cluster's " +
            "default partition (cyclecloud-slurm's template marks no other), and with neither there would be none");
    }
}

/** A stable key for a user entry: its node account name, else its Entra identity (resource names use it). */
export function userKey(u: { name?: string; entra: string }): string {
    return u.name ?? u.entra.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

function userChecks(raw: RawSettings, problems: string[]): void {
    if (raw.accountsUidMin > raw.accountsUidMax) {
        problems.push(`accountsUidMax: ${raw.accountsUidMax} is below accountsUidMin ${raw.accountsUidMin}; the accepted Entra UID range would be empty`);
    }
    const seenNames = new Map<string, number>(), seenUids = new Map<number, number>();
    const seenEntra = new Map<string, number>(), seenKeys = new Map<string, number>();
    raw.users.forEach((u, i) => {
        const at = `users[${i}]`;
        // A principal listed twice is reported by safetyChecks; here only distinct principals whose entries
        // would get the same resource names.
        const entra = u.entra.toLowerCase(), key = userKey(u);
        if (!seenEntra.has(entra) && seenKeys.has(key)) {
            problems.push(`${at}: its resource key "${key}" equals that of users[${seenKeys.get(key)}]; give one of them another name`);
        }
        if (!seenEntra.has(entra)) seenEntra.set(entra, i);
        if (!seenKeys.has(key)) seenKeys.set(key, i);
        // A pinned node account is a CycleCloud user record: sshPublicKey makes one, it needs a name, uid is optional.
        // A name alone only labels the entry (and keeps its resources' names).
        if (u.sshPublicKey !== undefined && u.name === undefined) {
            problems.push(`${at}.name: is required with sshPublicKey (a pinned node account needs name and sshPublicKey)`);
        }
        if (u.uid !== undefined && u.sshPublicKey === undefined) {
            problems.push(`${at}.sshPublicKey: is required with uid (uid only applies to a pinned node account: name + sshPublicKey)`);
        }
        if (u.name !== undefined) {
            if (seenNames.has(u.name)) problems.push(`${at}.name: "${u.name}" is already used by users[${seenNames.get(u.name)}]; names must be unique`);
            else seenNames.set(u.name, i);
            if (u.name === raw.loginAdminUsername) {
                problems.push(`${at}.name: "${u.name}" is the login node's local admin (loginAdminUsername)`);
            }
        }
        if (u.uid !== undefined) {
            const uid = u.uid;
            if (seenUids.has(uid)) problems.push(`${at}.uid: ${uid} is already used by users[${seenUids.get(uid)}]; UIDs must be unique`);
            else seenUids.set(uid, i);
            if (RESERVED_UIDS.includes(uid)) {
                problems.push(`${at}.uid: ${uid} is reserved (slurm 11100, munge 11101, slurmrestd 11102, nobody 65534, ${READINESS_ACCOUNT_NAME} ${READINESS_UID})`);
            } else if (uid < PINNED_UID_MIN) {
                problems.push(`${at}.uid: ${uid} is a system UID; a pinned node account's uid must be ${PINNED_UID_MIN}-${CYCLECLOUD_UID_BASE - 1}`);
            } else if (uid >= raw.accountsUidMin && uid <= raw.accountsUidMax) {
                problems.push(`${at}.uid: ${uid} is in the Entra accounts' range (accountsUidMin ${raw.accountsUidMin} - accountsUidMax ` +
                    `${raw.accountsUidMax}), where it would collide with a signed-in Entra user's account on the nodes. ` +
                    `Entra users need no uid any more: remove name, uid and sshPublicKey from this entry ` +
                    `(README: "How users get access", migration), or pin a node account with a uid from ${PINNED_UID_MIN} to ${CYCLECLOUD_UID_BASE - 1}`);
            } else if (uid >= CYCLECLOUD_UID_BASE) {
                problems.push(`${at}.uid: ${uid} is in the range CycleCloud numbers its own node users from (${CYCLECLOUD_UID_BASE} up), ` +
                    `where CycleCloud may give it to another user; use ${PINNED_UID_MIN}-${CYCLECLOUD_UID_BASE - 1}, or leave uid out and let CycleCloud number the account`);
            }
        }
    });
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
    if (problems.length > 0) throw new ConfigError(problems);
    const resourceGroupName = raw.resourceGroupName ?? `rg-${PROJECT}-${stack}`;

    return {
        stack,
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

function cyclecloudChecks(raw: RawSettings, problems: string[]): void {
    if (raw.sshProxyHost !== undefined && raw.bastionTunnelPort !== undefined) {
        problems.push("bastionTunnelPort: cannot be combined with sshProxyHost; choose one way to reach the private hosts " +
            "(unset one with `pulumi config rm`)");
    }
    if (raw.sshProxyHost === undefined) {
        for (const key of ["sshProxyPort", "sshProxyUser", "sshProxyHostKey"] as const) {
            if (raw[key] !== undefined) problems.push(`${key}: only applies with sshProxyHost, which is not set`);
        }
    }
    if (raw.bastionTunnelPort !== undefined && raw.deploySourcePrefix !== undefined) {
        problems.push("deploySourcePrefix: does not apply with bastionTunnelPort (the connections come from AzureBastionSubnet); remove it");
    } else if (raw.bastionTunnelPort === undefined && raw.deploySourcePrefix === undefined &&
        !(raw.sshProxyHost !== undefined && ipaddr.IPv4.isValidFourPartDecimal(raw.sshProxyHost))) {
        problems.push("deploySourcePrefix: is required " + (raw.sshProxyHost !== undefined
            ? `when sshProxyHost is a name (${raw.sshProxyHost}): the address range its SSH connections come from inside the VNet`
            : "without bastionTunnelPort or sshProxyHost: the address range this machine's SSH connections come from inside the VNet") +
            "; the NSGs admit SSH to the CycleCloud server and the scheduler from there only");
    }
    if (raw.sshProxyHost !== undefined && raw.sshProxyHostKey === undefined) {
        problems.push("sshProxyHostKey: is required with sshProxyHost: the jump host's SSH host key, checked on every connection " +
            "(get it from the jump host itself, e.g. `cat /etc/ssh/ssh_host_ed25519_key.pub` there, or compare `ssh-keyscan` " +
            "with a fingerprint its owner gives you): pulumi config set sshProxyHostKey 'ssh-ed25519 AAAA...'");
    }
    raw.users.forEach((u, i) => {
        if (u.name === raw.cyclecloudAdminUsername) {
            problems.push(`users[${i}].name: "${u.name}" is CycleCloud's admin user (cyclecloudAdminUsername); pick another name`);
        }
    });
    const loginRg = raw.resourceGroupName ?? "";
    if (raw.clusterResourceGroupName !== undefined && raw.clusterResourceGroupName.toLowerCase() === loginRg.toLowerCase()) {
        problems.push("clusterResourceGroupName: must differ from resourceGroupName: CycleCloud gets Contributor on it");
    }
}

// ---- values that pass the field rules but break or weaken the deployment (issue 10, item 8) -----------

/**
 * Linux names a cluster user must never take: system accounts of the node images (AlmaLinux, Ubuntu), the
 * service users of Slurm, munge and CycleCloud, and admin names. A CycleCloud user record named root would
 * get Global Node Admin on every node.
 */
export const RESERVED_USER_NAMES = [
    "root", "bin", "daemon", "adm", "lp", "sync", "shutdown", "halt", "mail", "news", "uucp", "operator", "games",
    "gopher", "ftp", "nobody", "nfsnobody", "nogroup", "sys", "man", "proxy", "www-data", "backup", "list", "irc",
    "gnats", "sshd", "dbus", "polkitd", "chrony", "_chrony", "rpc", "rpcuser", "tss", "unbound", "libstoragemgmt",
    "setroubleshoot", "cockpit-ws", "cockpit-wsinstance", "sssd", "clevis", "geoclue", "rtkit", "pulse", "avahi",
    "messagebus", "syslog", "_apt", "uuidd", "tcpdump", "landscape", "lxd", "pollinate", "usbmux", "dnsmasq",
    "slurm", "munge", "slurmrestd", "cycle_server", "cyclecloud", "admin", "administrator", "azureuser", "omsagent",
    "nxautomation", "waagent",
] as const;

/** Azure's tag limits (learn.microsoft.com, tag-resources#limitations); storage accounts allow 128-character names. */
export const TAG_LIMITS = { maxTags: 50, maxNameLength: 128, maxValueLength: 256, forbiddenNameChars: /[<>%&\\?/]/ } as const;

/** Tags the program sets itself (tag names are case-insensitive in Azure). */
const PROGRAM_TAG_KEYS = [LOGIN_ROLE_TAG.key, "pulumi-project", "pulumi-stack"];

// C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Every string value (in lists and maps too, map keys included) with a control character, named by its key.
 * Leading and trailing white space is allowed (trimmed where it matters); NUL never is.
 */
export function controlCharacterProblems(input: Record<string, unknown>): string[] {
    const problems: string[] = [];
    const visit = (v: unknown, where: string) => {
        if (typeof v === "string") {
            const inner = v.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "");
            if (CONTROL_CHARACTER.test(inner)) {
                const code = inner.codePointAt(inner.search(CONTROL_CHARACTER))!;
                problems.push(`${where}: must not contain control characters (found U+${code.toString(16).toUpperCase().padStart(4, "0")})`);
            }
        } else if (Array.isArray(v)) {
            v.forEach((x, i) => visit(x, `${where}[${i}]`));
        } else if (v && typeof v === "object") {
            for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
                if (CONTROL_CHARACTER.test(k)) problems.push(`${where}: a name must not contain control characters`);
                visit(x, `${where}.${k}`);
            }
        }
    };
    for (const [k, v] of Object.entries(input)) visit(v, k);
    return problems;
}

/** A canonical IPv4 CIDR with prefix length 8-32 (a single host allowed), or undefined. */
function hostCidr(s: string): string | undefined {
    try {
        const [addr, bits] = ipaddr.IPv4.parseCIDR(s);
        const canonical = `${ipaddr.IPv4.networkAddressFromCIDR(s).toString()}/${bits}`;
        return bits >= 8 && canonical === s && addr.toString() === s.split("/")[0] ? canonical : undefined;
    } catch {
        return undefined;
    }
}

function canonicalCidr(s: string): string | undefined {
    try {
        const [addr, bits] = ipaddr.IPv4.parseCIDR(s);
        return `${addr.toString()}/${bits}`;
    } catch {
        return undefined;
    }
}

function safetyChecks(raw: RawSettings, problems: string[]): void {
    for (const key of ["vnetAddressSpace", "bastionSubnetPrefix", "cyclecloudSubnetPrefix", "loginSubnetPrefix", "computeSubnetPrefix"] as const) {
        const canonical = canonicalCidr(raw[key]);
        if (canonical !== undefined && canonical !== raw[key]) {
            problems.push(`${key}: write it as ${canonical} (Azure is given the value as written; ${JSON.stringify(raw[key])} is not canonical)`);
        }
    }
    const reserved = new Set<string>(RESERVED_USER_NAMES);
    const seenEntra = new Map<string, number>();
    raw.users.forEach((u, i) => {
        if (u.name !== undefined && (reserved.has(u.name) || u.name.startsWith("systemd-"))) {
            problems.push(`users[${i}].name: "${u.name}" is a system or service account name; reserved: ${RESERVED_USER_NAMES.join(", ")}, systemd-*`);
        }
        const principal = u.entra.toLowerCase();
        if (seenEntra.has(principal)) {
            problems.push(`users[${i}].entra: ${u.entra} is already users[${seenEntra.get(principal)}]'s Entra principal; one entry per person`);
        } else {
            seenEntra.set(principal, i);
        }
    });
    const seenGroups = new Map<string, number>();
    raw.entraExistingGroups.forEach((g, i) => {
        const name = g.group.trim().toLowerCase();
        if (seenGroups.has(name)) {
            problems.push(`entraExistingGroups[${i}].group: "${g.group}" is entraExistingGroups[${seenGroups.get(name)}] again ` +
                "(group names are case-insensitive); list each group once");
        } else {
            seenGroups.set(name, i);
        }
    });
    const tagNames = Object.keys(raw.tags);
    if (tagNames.length > TAG_LIMITS.maxTags - PROGRAM_TAG_KEYS.length) {
        problems.push(`tags: at most ${TAG_LIMITS.maxTags - PROGRAM_TAG_KEYS.length} tags (Azure allows ${TAG_LIMITS.maxTags} per resource ` +
            `and the program adds ${PROGRAM_TAG_KEYS.join(", ")}), got ${tagNames.length}`);
    }
    for (const name of tagNames) {
        const where = `tags.${name}`;
        if (name.trim().length === 0) problems.push(`tags: a tag name must not be empty`);
        if (name.length > TAG_LIMITS.maxNameLength) {
            problems.push(`${where}: tag names are at most ${TAG_LIMITS.maxNameLength} characters (Azure's limit for storage accounts), got ${name.length}`);
        }
        if (TAG_LIMITS.forbiddenNameChars.test(name)) problems.push(`${where}: tag names must not contain < > % & \\ ? /`);
        if (raw.tags[name].length > TAG_LIMITS.maxValueLength) {
            problems.push(`${where}: tag values are at most ${TAG_LIMITS.maxValueLength} characters, got ${raw.tags[name].length}`);
        }
        const shadowed = PROGRAM_TAG_KEYS.find(k => k === name.toLowerCase());
        if (shadowed !== undefined) {
            problems.push(`${where}: the program sets the tag ${shadowed} itself (tag names are case-insensitive in Azure)` +
                (shadowed === LOGIN_ROLE_TAG.key ? "; it marks the login node for the policy pack" : "") + "; remove it from tags");
        }
    }
}

// ---- secrets ---------------------------------------------------------------------------------------

/**
 * Secret keys whose values are stand-ins, not the user's: the offline plan (scripts/simulate.ts) cannot decrypt a
 * stack file's `secure:` values and simulates a required secret nobody set. A stand-in private key is taken to
 * be the one that matches the public key it must match; nothing else about the config is assumed. Always empty
 * under `pulumi up`, where every secret is the user's own.
 */
const secretStandIns = new Set<SecretKey>();

/** Marks the secret keys the offline plan simulates (replaces the previous set); [] for a real run. */
export function setSecretStandIns(keys: readonly string[]): void {
    secretStandIns.clear();
    for (const k of keys) if (k in SECRET_KEYS) secretStandIns.add(k as SecretKey);
}

/**
 * Checks secret config values without ever putting a value in a message. `values` holds the plain values
 * of the secrets that are set (absent = not set); `adminSshPublicKey` is the key the private key must match.
 * A key in `standIns` is a stand-in for a value the user sets (see setSecretStandIns). Pure, so it is
 * unit-testable; loadSettings feeds it from the stack config.
 */
export function secretProblems(values: Partial<Record<SecretKey, string>>, adminSshPublicKey: string | undefined,
    usesProxy: boolean, loginAdminSshPublicKey?: string, standIns: ReadonlySet<SecretKey> = new Set()): string[] {
    const problems: string[] = [];
    for (const [key, spec] of Object.entries(SECRET_KEYS) as [SecretKey, (typeof SECRET_KEYS)[SecretKey]][]) {
        if (spec.required && (values[key] === undefined || values[key] === "")) {
            problems.push(`${key}: is required (a secret): ${setSecretCommand(key)}  (${spec.description})`);
        }
    }
    const pw = values.cyclecloudAdminPassword;
    if (pw) {
        const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter(r => r.test(pw)).length;
        if (pw.length < 12 || pw.length > 123 || classes < 4 || /[\r\n\0]/.test(pw)) {
            problems.push("cyclecloudAdminPassword: must be 12-123 characters on one line with upper- and lower-case letters, " +
                "a digit and a symbol (the value is not shown)");
        }
    }
    // A public key that is not one is reported by its own key; a private key is only compared with a valid one.
    const adminPub = adminSshPublicKey !== undefined && isSshPublicKey(adminSshPublicKey) ? adminSshPublicKey : undefined;
    const loginPub = loginAdminSshPublicKey !== undefined && isSshPublicKey(loginAdminSshPublicKey) ? loginAdminSshPublicKey : undefined;
    /** The public half of a private key, or for a stand-in the public key it is taken to match. */
    const publicHalf = (key: SecretKey, matches: string | undefined) =>
        standIns.has(key) ? matches : privateKeyPublicHalf(values[key]!);
    const key = values.adminSshPrivateKey;
    let adminKeyPub: string | undefined;
    if (key) {
        adminKeyPub = publicHalf("adminSshPrivateKey", adminPub);
        if (adminKeyPub === undefined && !standIns.has("adminSshPrivateKey")) {
            problems.push("adminSshPrivateKey: must be an unencrypted OpenSSH or PEM private key (the value is not shown); " +
                `make a dedicated one with: ${DEPLOY_KEY_COMMAND}; set it with: ${setSecretCommand("adminSshPrivateKey")}`);
        } else if (adminKeyPub !== undefined && adminPub !== undefined && !sameKey(adminKeyPub, adminPub)) {
            problems.push("adminSshPrivateKey: does not match cyclecloudAdminSshPublicKey (or loginAdminSshPublicKey, its default)");
        }
    }
    // The readiness check signs in to the login node's admin: with loginAdminSshPrivateKey, else adminSshPrivateKey.
    const loginKey = values.loginAdminSshPrivateKey;
    if (loginKey !== undefined) {
        const pub = publicHalf("loginAdminSshPrivateKey", loginPub);
        if (pub === undefined && !standIns.has("loginAdminSshPrivateKey")) {
            problems.push("loginAdminSshPrivateKey: must be an unencrypted OpenSSH or PEM private key (the value is not shown)");
        } else if (pub !== undefined && loginPub !== undefined && !sameKey(pub, loginPub)) {
            problems.push("loginAdminSshPrivateKey: does not match loginAdminSshPublicKey");
        }
    } else if (adminKeyPub !== undefined && loginPub !== undefined && !sameKey(adminKeyPub, loginPub)) {
        problems.push("loginAdminSshPrivateKey: is required (a secret) because adminSshPrivateKey does not match loginAdminSshPublicKey: " +
            `the readiness check signs in to the login node's admin; ${setSecretCommand("loginAdminSshPrivateKey")}`);
    }
    if (values.sshProxyPrivateKey !== undefined) {
        if (!usesProxy) problems.push("sshProxyPrivateKey: only applies with sshProxyHost, which is not set");
        else if (!standIns.has("sshProxyPrivateKey") && privateKeyPublicHalf(values.sshProxyPrivateKey) === undefined) {
            problems.push("sshProxyPrivateKey: must be an unencrypted OpenSSH or PEM private key (the value is not shown)");
        }
    }
    return problems;
}

function privateKeyPublicHalf(pem: string): string | undefined {
    try {
        return sshpk.parsePrivateKey(pem, "auto").toPublic().toString("ssh");
    } catch {
        return undefined;
    }
}

function sameKey(a: string, b: string): boolean {
    const strip = (k: string) => k.trim().split(/\s+/).slice(0, 2).join(" ");
    return strip(a) === strip(b);
}

/** Reads the secret config values as Pulumi secrets (call after loadSettings, which checked them). */
export function loadSecrets(): Secrets {
    const plaintext = plaintextSecretProblems();
    if (plaintext.length > 0) throw new ConfigError(plaintext);
    const config = new pulumi.Config(PROJECT);
    return {
        cyclecloudAdminPassword: config.requireSecret("cyclecloudAdminPassword"),
        adminSshPrivateKey: config.requireSecret("adminSshPrivateKey"),
        sshProxyPrivateKey: config.getSecret("sshProxyPrivateKey"),
        loginAdminSshPrivateKey: config.getSecret("loginAdminSshPrivateKey") ?? config.requireSecret("adminSshPrivateKey"),
    };
}

/**
 * The SDK's own test of whether a config key was given as a secret: the engine passes the secret keys in
 * PULUMI_CONFIG_SECRET_KEYS and `isConfigSecret` (runtime/config.js, internal, not in the typings) reads them.
 */
function configIsSecret(fullKey: string): boolean {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (k: string) => boolean };
    if (typeof runtimeConfig.isConfigSecret !== "function") {
        throw new Error("this @pulumi/pulumi has no runtime isConfigSecret: cannot tell secret config from plain text");
    }
    return runtimeConfig.isConfigSecret(fullKey);
}

/** A secret key whose value is in the stack config in plain text (it would sit unencrypted in Pulumi.<stack>.yaml). */
export function plaintextSecretProblems(): string[] {
    const problems: string[] = [];
    for (const key of Object.keys(SECRET_KEYS) as SecretKey[]) {
        const full = `${PROJECT}:${key}`;
        if (pulumi.runtime.getConfig(full) !== undefined && !configIsSecret(full)) {
            problems.push(`${key}: is stored in plain text in the stack config; store it encrypted instead: ` +
                `${setSecretCommand(key)} (this replaces the plain value; rotate it if the file was shared)`);
        }
    }
    return problems;
}

/** Plain values of the secrets that are set, read without the "secret read with get" warning; never logged. */
function rawSecretValues(): Partial<Record<SecretKey, string>> {
    const out: Partial<Record<SecretKey, string>> = {};
    for (const key of Object.keys(SECRET_KEYS) as SecretKey[]) {
        const v = pulumi.runtime.getConfig(`${PROJECT}:${key}`);
        if (v !== undefined) out[key] = v;
    }
    return out;
}

/**
 * Reads this stack's config through Pulumi and validates it. Structured keys are JSON; a value that does not
 * parse is reported with the others.
 */
export function loadSettings(): Settings {
    const config = new pulumi.Config(PROJECT);
    const input: Record<string, unknown> = {};
    const problems: string[] = [];
    for (const key of CONFIG_KEYS) {
        if (OBJECT_KEYS.has(key)) {
            try {
                const v = config.getObject<unknown>(key);
                if (v !== undefined) input[key] = v;
            } catch {
                problems.push(`${key}: is not valid JSON/YAML structured config`);
            }
        } else {
            const v = config.get(key);
            if (v !== undefined) input[key] = v;
        }
    }
    // Without location the provider's region is the stack's (a bad one is reported as azure-native:location below).
    if (input.location === undefined) {
        const fallback = new pulumi.Config("azure-native").get("location");
        if (fallback !== undefined && regionProblem(fallback) === undefined) input.location = fallback;
    }
    for (const key of unknownProjectKeys()) problems.push(unknownKeyProblem(key));
    const providerLocation = new pulumi.Config("azure-native").get("location");
    const providerLocationProblem = providerLocation === undefined ? undefined : regionProblem(providerLocation);
    if (providerLocationProblem !== undefined) problems.push(`azure-native:location: ${providerLocationProblem}`);
    {
        const pubKey = typeof input.cyclecloudAdminSshPublicKey === "string" ? input.cyclecloudAdminSshPublicKey
            : typeof input.loginAdminSshPublicKey === "string" ? input.loginAdminSshPublicKey : undefined;
        problems.push(...secretProblems(rawSecretValues(), pubKey, input.sshProxyHost !== undefined,
            typeof input.loginAdminSshPublicKey === "string" ? input.loginAdminSshPublicKey : undefined, secretStandIns));
    }
    problems.push(...plaintextSecretProblems());
    try {
        const settings = parseSettings(input, pulumi.getStack());
        if (problems.length === 0) return settings;
    } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems.push(...e.problems);
    }
    throw new ConfigError(problems);
}

/** Keys set in this project's namespace that the program does not read: almost always a typo. */
function unknownProjectKeys(): string[] {
    const all = Object.keys(pulumi.runtime.allConfig());
    const known = new Set([...CONFIG_KEYS, ...Object.keys(SECRET_KEYS)]);
    return all
        .filter(k => k.startsWith(`${PROJECT}:`))
        .map(k => k.slice(PROJECT.length + 1))
        .filter(k => !known.has(k));
}
