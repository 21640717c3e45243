// The typed settings object the components receive (what parseSettings returns), and small helpers over it.

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
    /** Stem of every Azure resource name the stack makes (vnet-<prefix>, vm-<prefix>-login, ...): resourceNamePrefix(stack). */
    namePrefix: string;
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

/** A stable key for a user entry: its node account name, else its Entra identity (resource names use it). */
export function userKey(u: { name?: string; entra: string }): string {
    return u.name ?? u.entra.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}
