// The Slurm cluster on the CycleCloud server: its parameters (generated from config and the NFS share),
// the remote Command that creates/updates/starts it and terminates+deletes it on destroy, the CycleCloud
// user records, the partition refresh on the scheduler after a change, and the Command that seeds
// munge.key and the Slurm configuration into /shared for the login node.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ClusterUser, Settings } from "../config";

type ClusterSettings = Settings["cluster"];
import { seedInvocation } from "../slurm/seed";
import { outputLine, schedulerConnection, serverConnection } from "./connection";
import { scriptCommand, scriptStdin } from "./scripts";
import { CycleCloudServer } from "./server";

/** The CycleCloud account the init script creates; the template's `Credentials` parameter names it. */
export const CYCLECLOUD_ACCOUNT = "azure";

/** The cluster's config section (machine types, node counts, image) plus what the other components decide. */
export interface ClusterParametersInput extends ClusterSettings {
    region: string;
    /** The compute subnet's ARM ID. */
    computeSubnetId: string;
    slurmVersion: string;
    nfsAddress: string;
    nfsExportPath: string;
    nfsMountOptions: string;
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

/**
 * The parameters JSON for cyclecloud-slurm 4.x's template (`-p` file: a flat object of parameter names).
 * /shared is the Azure Files NFS 4.1 share, never the scheduler's built-in export; /sched stays built in.
 */
export function clusterParameters(i: ClusterParametersInput): Record<string, string | number | boolean> {
    if (!/(^|,)vers=4(,|$)/.test(i.nfsMountOptions) || !/(^|,)minorversion=1(,|$)/.test(i.nfsMountOptions)) {
        throw new Error(`NFSSharedMountOptions must be NFS 4.1 options (vers=4,minorversion=1), got ${i.nfsMountOptions}`);
    }
    return {
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
        // The login node is ours (Entra ID sign-in), not a CycleCloud nodearray.
        NumberLoginNodes: 0,
        LoginImageName: i.nodeImage,
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
}

/** Quotes a value for CycleCloud's record syntax. */
function recordString(s: string): string {
    return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/**
 * The CycleCloud records for the configured users: an AuthenticatedUser with the same Linux name and UID as
 * on the login node and node access through the global node roles (admins: Global Node Admin, with sudo),
 * and a Credential with the user's SSH public key.
 */
export function renderUserRecords(users: ClusterUser[]): string {
    return users.map(u => [
        `AdType = "AuthenticatedUser"`,
        `Name = ${recordString(u.name)}`,
        `Authentication = "internal"`,
        `Roles = {"User", ${u.admin ? '"Global Node Admin"' : '"Global Node User"'}}`,
        `UID = ${u.uid}`,
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
    public readonly parameters: pulumi.Output<Record<string, string | number | boolean>>;
    public readonly users: command.remote.Command;
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

        // ---- users: records on the server, applied idempotently ----
        this.users = new command.remote.Command(`${name}-users`, {
            connection: atServer,
            create: scriptCommand([]),
            stdin: scriptStdin("users.sh", {
                CC_USER_RECORDS: renderUserRecords(settings.users),
                CC_MANAGED_USERS: settings.users.map(u => u.name).join(" "),
            }),
            addPreviousOutputInEnv: false,
        }, { ...parent, dependsOn: [server.init, ...viaServer] });

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
                nodeImage: settings.cluster.nodeImage,
                slurmVersion: settings.slurm.version,
                nfsAddress: nfsHost,
                nfsExportPath: exportPath,
                nfsMountOptions: args.nfsMountOptions,
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
            dependsOn: [server.init, this.users, server.vm, server.clusterResourceGroup, ...server.roleAssignments, ...args.dependsOn, ...viaServer],
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
        }, { ...parent, additionalSecretOutputs: ["stdout", "stderr"], dependsOn: [this.cluster, this.scale, ...viaScheduler] });

        this.registerOutputs({
            schedulerIp: this.schedulerIp,
            clusterConfigDir: this.clusterConfigDir,
            clusterName,
        });
    }
}
