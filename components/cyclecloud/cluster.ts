// The Slurm cluster on the CycleCloud server: its parameters (generated from config and the NFS share),
// the remote Command that creates/updates/starts it and terminates+deletes it on destroy, the CycleCloud
// user records, the accounts project (uploaded to the locker, referenced by every ClusterInitSpecs
// parameter, and run at once on the running scheduler), the partition refresh on the scheduler after a
// change, and the Command that seeds munge.key and the Slurm configuration into /shared for the login node.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { PinnedNodeAccount, pinnedNodeAccounts, Settings } from "../config";

type ClusterSettings = Settings["cluster"];
import { seedInvocation } from "../slurm/seed";
import {
    ACCOUNTS_PROJECT, accountsClusterInitSpecs, buildAccountsProject, ClusterInitSpec, projectDigest, projectPayload,
    withClusterInitSpecs,
} from "../accounts/project";
import { outputLine, schedulerConnection, serverConnection } from "./connection";
import { scriptCommand, scriptStdin } from "./scripts";
import { CycleCloudServer } from "./server";

/** The CycleCloud account the init script creates; the template's `Credentials` parameter names it. */
export const CYCLECLOUD_ACCOUNT = "azure";
/** Its locker: CycleCloud names it `<account>-storage` (init-server.sh waits for it under this name). */
export const CYCLECLOUD_LOCKER = `${CYCLECLOUD_ACCOUNT}-storage`;

/** The cluster's config section (machine types, node counts, image) plus what the other components decide. */
export interface ClusterParametersInput extends ClusterSettings {
    region: string;
    /** The compute subnet's ARM ID. */
    computeSubnetId: string;
    slurmVersion: string;
    nfsAddress: string;
    nfsExportPath: string;
    nfsMountOptions: string;
    /** Cluster-init specs every node runs at boot (added to each ClusterInitSpecs parameter). */
    clusterInitSpecs?: Record<string, ClusterInitSpec>;
}

/** `rg/vnet/subnet`, the form the template's SubnetId takes, from a subnet's ARM ID. */
export function cycleCloudSubnetId(armId: string): string {
    const p = armId.split("/");
    // /subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>
    if (p.length !== 11 || p[3].toLowerCase() !== "resourcegroups" || p[7].toLowerCase() !== "virtualnetworks" || p[9].toLowerCase() !== "subnets") {
        throw new Error(`not a subnet resource ID: ${armId}`);
    }
    return `${p[4]}/${p[8]}/${p[10]}`;
}

/** A template parameter's value: a scalar, or a ClusterInitSpecs object. */
export type ClusterParameters = Record<string, string | number | boolean | Record<string, unknown>>;

/**
 * The parameters JSON for cyclecloud-slurm 4.x's template (`-p` file: a flat object of parameter names).
 * /shared is the Azure Files NFS 4.1 share, never the scheduler's built-in export; /sched stays built in.
 */
export function clusterParameters(i: ClusterParametersInput): ClusterParameters {
    if (!/(^|,)vers=4(,|$)/.test(i.nfsMountOptions) || !/(^|,)minorversion=1(,|$)/.test(i.nfsMountOptions)) {
        throw new Error(`NFSSharedMountOptions must be NFS 4.1 options (vers=4,minorversion=1), got ${i.nfsMountOptions}`);
    }
    const params = {
        Region: i.region,
        SubnetId: cycleCloudSubnetId(i.computeSubnetId),
        Credentials: CYCLECLOUD_ACCOUNT,
        UsePublicNetwork: false,
        ReturnProxy: false,
        Autoscale: true,
        SchedulerMachineType: i.schedulerVmSize,
        SchedulerImageName: i.nodeImage,
        HPCMachineType: i.hpcVmSize,
        HPCImageName: i.nodeImage,
        MaxHPCExecuteNodeCount: i.maxHpcNodes,
        HTCMachineType: i.htcVmSize,
        HTCImageName: i.nodeImage,
        MaxHTCExecuteNodeCount: i.maxHtcNodes,
        // Every other nodearray of the template is set here or switched off, never left to its defaults
        // (test/cyclecloud/fixtures/slurm-template-4.0.9.json lists them). gpu: 0 nodes leaves its partition
        // out (azslurm comments out a partition without capacity); config allows it only without hpc nodes,
        // since the template makes both the default partition.
        GPUMachineType: i.gpuVmSize,
        GPUImageName: i.nodeImage,
        MaxGPUExecuteNodeCount: i.maxGpuNodes,
        // dynamic: EnableDynamicPartition=false is the template's switch (slurm.autoscale=false: azslurm
        // creates no partition and never starts its nodes). Its core limit's smallest accepted value is 1.
        DynamicMachineType: i.dynamicVmSize,
        DynamicImageName: i.nodeImage,
        EnableDynamicPartition: i.maxDynamicCores > 0,
        MaxDynamicExecuteCoreCount: Math.max(1, i.maxDynamicCores),
        // The login node is ours (Entra ID sign-in), not a CycleCloud nodearray: none at start, none later.
        NumberLoginNodes: 0,
        MaxLoginNodeCount: 0,
        LoginImageName: i.nodeImage,
        // The HA scheduler nodearray (scheduler-ha) starts a second scheduler when true.
        configuration_slurm_ha_enabled: false,
        configuration_slurm_version: i.slurmVersion,
        configuration_slurm_accounting_enabled: false,
        NodeNameIsHostname: true,
        UseBuiltinSched: true,
        UseBuiltinShared: false,
        NFSType: "nfs",
        NFSAddress: i.nfsAddress,
        NFSSharedExportPath: i.nfsExportPath,
        NFSSharedMountOptions: i.nfsMountOptions,
    };
    return i.clusterInitSpecs ? withClusterInitSpecs(params, i.clusterInitSpecs) : params;
}

/** Quotes a value for CycleCloud's record syntax. */
function recordString(s: string): string {
    return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/**
 * The CycleCloud records for the pinned node accounts in `users` (Entra users need none: the account
 * registry carries them): an AuthenticatedUser with node access through the global node roles (admins:
 * Global Node Admin, with sudo) and the configured UID (none: CycleCloud numbers it from 20000), and a
 * Credential with the account's SSH public key.
 */
export function renderUserRecords(users: PinnedNodeAccount[]): string {
    return users.map(u => [
        `AdType = "AuthenticatedUser"`,
        `Name = ${recordString(u.name)}`,
        `Authentication = "internal"`,
        `Roles = {"User", ${u.admin ? '"Global Node Admin"' : '"Global Node User"'}}`,
        ...(u.uid !== undefined ? [`UID = ${u.uid}`] : []),
        `Superuser = false`,
        `NodeAccessDisabled = false`,
        ``,
        `AdType = "Credential"`,
        `CredentialType = "PublicKey"`,
        `Name = ${recordString(`${u.name}/public`)}`,
        `Owner = ${recordString(u.name)}`,
        `PublicKey = ${recordString(u.sshPublicKey)}`,
        ``,
    ].join("\n")).join("\n");
}

export interface SlurmClusterArgs {
    settings: Settings;
    server: CycleCloudServer;
    computeSubnetId: pulumi.Input<string>;
    nfsHost: pulumi.Input<string>;
    nfsExportPath: pulumi.Input<string>;
    nfsMountOptions: string;
    /** What the cluster runs on besides the server (the NFS share, the compute subnet): kept until it is gone. */
    dependsOn: pulumi.Resource[];
}

export class SlurmCluster extends pulumi.ComponentResource {
    public readonly parameters: pulumi.Output<ClusterParameters>;
    public readonly users: command.remote.Command;
    /** Uploads the accounts project to the locker (before the cluster that references it). */
    public readonly accountsUpload: command.remote.Command;
    /** Runs the accounts spec on the running scheduler, so it need not wait for a reboot. */
    public readonly accountsScheduler: command.remote.Command;
    /** sha256 of the accounts project: both accounts Commands re-run exactly when it changes. */
    public readonly accountsProjectDigest: string;
    public readonly cluster: command.remote.Command;
    public readonly scale: command.remote.Command;
    public readonly seed: command.remote.Command;
    public readonly schedulerIp: pulumi.Output<string>;
    public readonly clusterConfigDir: pulumi.Output<string>;
    public readonly clusterName: string;

    constructor(name: string, args: SlurmClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cyclecloud-slurm-entra:cyclecloud:SlurmCluster", name, {}, opts);
        const { settings, server } = args;
        const parent = { parent: this };
        const clusterName = settings.slurm.clusterName;
        const configDir = settings.slurm.clusterConfigDir;
        this.clusterName = clusterName;
        const atServer = serverConnection(server.ssh, server.privateIp, server.hostKey);
        // Every Command reaches its host through the access path (Bastion in tunnel mode): created after it,
        // deleted before it. The scheduler's Commands also go through the server (the jump host in tunnel mode).
        const viaServer = [...server.accessPath];
        const viaScheduler = [...server.accessPath, server.vm];
        // The Bastion tunnel relays one connection at a time (az network bastion tunnel, tunnel.py `_listen`):
        // in tunnel mode the Commands run one after the other, in one chain (init, users, accounts-upload,
        // cluster, scale, accounts-scheduler, seed, then the readiness check), so none waits behind another
        // for its SSH banner. Jump host and direct modes keep them parallel where nothing else orders them.
        const oneAtATime = settings.remote.mode === "bastionTunnel";
        const after = (r: pulumi.Resource) => (oneAtATime ? [r] : []);

        // ---- users: records on the server, applied idempotently ----
        this.users = new command.remote.Command(`${name}-users`, {
            connection: atServer,
            create: scriptCommand([]),
            stdin: scriptStdin("users.sh", {
                CC_USER_RECORDS: renderUserRecords(pinnedNodeAccounts(settings.users)),
                CC_MANAGED_USERS: pinnedNodeAccounts(settings.users).map(u => u.name).join(" "),
            }),
            addPreviousOutputInEnv: false,
        }, { ...parent, dependsOn: [server.init, ...viaServer] });

        // ---- the accounts project: uploaded before the cluster, whose nodes run it at boot ----
        const project = buildAccountsProject(settings.accounts);
        const projectFiles = projectPayload(project);
        this.accountsProjectDigest = projectDigest(project);
        this.accountsUpload = new command.remote.Command(`${name}-accounts-upload`, {
            connection: atServer,
            create: scriptCommand([CYCLECLOUD_LOCKER, ACCOUNTS_PROJECT.name, ACCOUNTS_PROJECT.version]),
            stdin: scriptStdin("upload-project.sh", { CC_PROJECT_FILES: projectFiles }),
            // The stdin carries the files, but a trigger that is the digest says plainly why it re-ran.
            triggers: [this.accountsProjectDigest],
            addPreviousOutputInEnv: false,
        }, {
            ...parent,
            // The locker exists once init has run; the server writes to it through its blob role assignment.
            dependsOn: [server.init, ...server.roleAssignments, ...viaServer, ...after(this.users)],
        });

        // ---- the cluster ----
        this.parameters = pulumi.all([args.computeSubnetId, args.nfsHost, args.nfsExportPath]).apply(([subnetId, nfsHost, exportPath]) =>
            clusterParameters({
                region: settings.location,
                computeSubnetId: subnetId,
                schedulerVmSize: settings.cluster.schedulerVmSize,
                hpcVmSize: settings.cluster.hpcVmSize,
                htcVmSize: settings.cluster.htcVmSize,
                maxHpcNodes: settings.cluster.maxHpcNodes,
                maxHtcNodes: settings.cluster.maxHtcNodes,
                gpuVmSize: settings.cluster.gpuVmSize,
                maxGpuNodes: settings.cluster.maxGpuNodes,
                dynamicVmSize: settings.cluster.dynamicVmSize,
                maxDynamicCores: settings.cluster.maxDynamicCores,
                nodeImage: settings.cluster.nodeImage,
                slurmVersion: settings.slurm.version,
                nfsAddress: nfsHost,
                nfsExportPath: exportPath,
                nfsMountOptions: args.nfsMountOptions,
                clusterInitSpecs: accountsClusterInitSpecs(CYCLECLOUD_LOCKER),
            }));
        const paramsJson = this.parameters.apply(p => JSON.stringify(p, null, 1));
        this.cluster = new command.remote.Command(`${name}-cluster`, {
            connection: atServer,
            create: scriptCommand(["apply", clusterName, configDir]),
            update: scriptCommand(["apply", clusterName, configDir]),
            delete: scriptCommand(["delete", clusterName]),
            stdin: paramsJson.apply(json => scriptStdin("cluster.sh", { CC_CLUSTER_PARAMS: json })),
            addPreviousOutputInEnv: false,
        }, {
            ...parent,
            // Another cluster name is another cluster: the old one is terminated and deleted first.
            replaceOnChanges: ["delete"],
            deleteBeforeReplace: true,
            // Destroy runs this Command's delete (terminate, wait for the nodes, delete) before anything the
            // cluster runs on goes: the server, its roles, the NFS share, the subnet.
            // The accounts spec must be in the locker before a node that references it boots.
            dependsOn: [server.init, this.users, this.accountsUpload, server.vm, server.clusterResourceGroup, ...server.roleAssignments, ...args.dependsOn, ...viaServer],
        });
        this.schedulerIp = this.cluster.stdout.apply(out => outputLine(out, "SCHEDULER_IP") ?? "");
        this.clusterConfigDir = this.cluster.stdout.apply(out => outputLine(out, "CLUSTER_CONFIG_DIR") ?? configDir);
        // The scheduler is CycleCloud's VM, so the program has no Run Command on it before it exists. Its key is
        // read by the CycleCloud server (whose own key is pinned, so this output is authentic) from inside the VNet,
        // where Azure delivers packets for the scheduler's private IP to the scheduler's NIC only; or it is pinned
        // in config. An empty scan fails the deployment (connection.ts) instead of trusting the first answer.
        const schedulerHostKey = settings.remote.schedulerHostKey !== undefined
            ? pulumi.output(settings.remote.schedulerHostKey)
            : this.cluster.stdout.apply(out => outputLine(out, "SCHEDULER_HOST_KEY"));
        const atScheduler = schedulerConnection(server.ssh, this.schedulerIp, schedulerHostKey, server.hostKey);

        // ---- after a parameter change: check the scheduler's Slurm release, refresh the partitions ----
        const paramsDigest = paramsJson.apply(j => crypto.createHash("sha256").update(j).digest("hex"));
        this.scale = new command.remote.Command(`${name}-scale`, {
            connection: atScheduler,
            // A scheduler running another Slurm than slurmVersion fails here, before the seed.
            create: scriptCommand([settings.slurm.version]),
            stdin: scriptStdin("apply-config.sh", {}, { withLib: false }),
            triggers: [paramsDigest],
            addPreviousOutputInEnv: false,
        }, { ...parent, dependsOn: [this.cluster, ...viaScheduler] });

        // ---- the accounts spec on the running scheduler: now, not at its next boot ----
        this.accountsScheduler = new command.remote.Command(`${name}-accounts-scheduler`, {
            connection: atScheduler,
            create: scriptCommand([ACCOUNTS_PROJECT.name, ACCOUNTS_PROJECT.spec]),
            stdin: scriptStdin("install-spec-now.sh", { CC_PROJECT_FILES: projectFiles }, { withLib: false }),
            // Changed scripts or settings, or another scheduler (a replaced cluster).
            triggers: [this.accountsProjectDigest, this.cluster.id],
            addPreviousOutputInEnv: false,
        }, { ...parent, dependsOn: [this.cluster, this.accountsUpload, ...viaScheduler, ...after(this.scale)] });

        // ---- seeding /shared for the login node ----
        const seed = seedInvocation(configDir);
        this.seed = new command.remote.Command(`${name}-seed`, {
            connection: atScheduler,
            create: `sudo -n ${seed.command}`,
            stdin: seed.stdin,
            // Re-run whenever what it copies can have changed through the program: another cluster (the
            // Command's ID changes on replacement), another Slurm version, changed cluster parameters (the
            // scale Command has then rewritten azure.conf). A hand edit on the scheduler needs a re-seed by
            // hand (README, "Re-seeding /shared").
            triggers: [this.cluster.id, clusterName, configDir, settings.slurm.version, paramsDigest],
            // The script prints checksums only, but munge.key is read in this session: log nothing.
            logging: "none",
            addPreviousOutputInEnv: false,
        }, { ...parent, additionalSecretOutputs: ["stdout", "stderr"], dependsOn: [this.cluster, this.scale, ...viaScheduler, ...after(this.accountsScheduler)] });

        this.registerOutputs({
            schedulerIp: this.schedulerIp,
            clusterConfigDir: this.clusterConfigDir,
            clusterName,
        });
    }
}
