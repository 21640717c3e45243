// The readiness check: the last remote Command of `pulumi up`. After the seed, it runs check-ready.sh on the
// login node (through the same path as the other Commands: jump host, or the CycleCloud VM at the end of
// the Bastion tunnel) and fails the deployment, naming the broken link, unless the login node has the
// seeded munge key and config, sinfo answers with the cluster's partitions and, when the stack asks for it,
// a test job completes on a compute node. It re-runs only when something that can change the answer
// changes (see `readinessTriggers`), so a no-op `pulumi up` runs nothing.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as compute from "@pulumi/azure-native/compute";
import * as command from "@pulumi/command";
import { Secrets, Settings } from "../config";
import { loginConnection, parseHostKey } from "../cyclecloud/connection";
import { SlurmCluster } from "../cyclecloud/cluster";
import { CycleCloudServer } from "../cyclecloud/server";
import { LoginNode } from "../login/loginNode";
import { readinessInvocation } from "./invocation";

/**
 * The partitions cyclecloud-slurm 4.x creates from the cluster's parameters: one per nodearray with capacity
 * (azslurm writes a nodearray whose max count is 0 as a commented-out partition, "has no capacity"; the
 * dynamic nodearray only with EnableDynamicPartition). [source] azure-slurm/slurmcc/cli.py `_partitions`,
 * partition.py `fetch_partitions` (4.0.9).
 */
export function expectedPartitions(cluster: Settings["cluster"]): string[] {
    return [
        ...(cluster.maxHpcNodes > 0 ? ["hpc"] : []),
        ...(cluster.maxHtcNodes > 0 ? ["htc"] : []),
        ...(cluster.maxGpuNodes > 0 ? ["gpu"] : []),
        ...(cluster.maxDynamicCores > 0 ? ["dynamic"] : []),
    ];
}

/** The partition of the optional test job: htc (single-node jobs) when it has nodes, else hpc, else gpu. */
export function testJobPartition(cluster: Settings["cluster"]): string {
    return cluster.maxHtcNodes > 0 ? "htc" : cluster.maxHpcNodes > 0 ? "hpc" : "gpu";
}

const sha256 = (s: string) => crypto.createHash("sha256").update(s).digest("hex");

export interface ReadinessCheckArgs {
    settings: Settings;
    secrets: Secrets;
    server: CycleCloudServer;
    cluster: SlurmCluster;
    login: LoginNode;
    /** The login VM's resource group. */
    resourceGroupName: pulumi.Input<string>;
}

export class ReadinessCheck extends pulumi.ComponentResource {
    public readonly check: command.remote.Command;
    /** What re-runs the check when it changes (besides the command line and the script, which are inputs too). */
    public readonly triggers: pulumi.Output<string>[];

    constructor(name: string, args: ReadinessCheckArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cyclecloud-slurm-entra:readiness:ReadinessCheck", name, {}, opts);
        const { settings, server, cluster, login } = args;
        const partitions = expectedPartitions(settings.cluster);
        const inv = readinessInvocation({
            partitions,
            timeoutSeconds: settings.readiness.timeoutSeconds,
            testJobPartition: settings.readiness.testJob ? testJobPartition(settings.cluster) : undefined,
            jobTimeoutSeconds: settings.readiness.jobTimeoutSeconds,
        });
        this.triggers = [
            // Every run of the seed (a new cluster, another Slurm version, re-seeded files) ...
            cluster.seed.id,
            pulumi.unsecret(cluster.seed.stdout.apply(out => sha256(out ?? ""))),
            // ... the cluster's parameters (machine types, node counts, image, version, NFS) ...
            cluster.parameters.apply(p => sha256(JSON.stringify(p))),
            // ... and another login node (its ARM ID stays the same on replacement; Azure's vmId does not).
            login.vm.id,
            login.vm.vmId.apply(v => v ?? ""),
        ];
        // First contact authenticated, as for the server: the login node's host key is read through Azure (a
        // managed Run Command run by the VM agent), never learnt from the SSH session it is meant to check.
        const hostKeyRead = new compute.VirtualMachineRunCommandByVirtualMachine(`${name}-login-host-key`, {
            resourceGroupName: args.resourceGroupName,
            location: settings.location,
            tags: settings.tags,
            vmName: login.vm.name,
            runCommandName: "read-ssh-host-key",
            // The VM's unique ID in a comment: a replaced VM (same name, new host key) re-runs the read.
            source: { script: pulumi.interpolate`# vmId ${login.vm.vmId}\ncat /etc/ssh/ssh_host_ed25519_key.pub` },
            asyncExecution: false,
            timeoutInSeconds: 600,
            treatFailureAsDeploymentFailure: true,
            // After the sign-in extension, not beside it: a VM takes its extension operations one at a time, and a
            // Run Command sent during another can fail with Conflict or preempt it (azure-cli#19137,
            // azure-linux-extensions#750). Off the critical path: the readiness check waits for the cluster anyway.
        }, { parent: this, dependsOn: [login.vm, login.aadExtension] });
        const loginHostKey = compute.getVirtualMachineRunCommandByVirtualMachineOutput({
            resourceGroupName: args.resourceGroupName,
            vmName: login.vm.name,
            runCommandName: hostKeyRead.name,
            expand: "instanceView",
        }, { parent: this }).apply(r => parseHostKey(r.instanceView?.output));
        this.check = new command.remote.Command(`${name}-check`, {
            connection: loginConnection(server.ssh, login.privateIp, settings.login.adminUsername,
                args.secrets.loginAdminSshPrivateKey, loginHostKey, server.hostKey),
            create: inv.command,
            stdin: inv.stdin,
            triggers: this.triggers,
            addPreviousOutputInEnv: false,
        }, {
            parent: this,
            // Through the access path like every other Command (Bastion in tunnel mode: created first, deleted
            // last) and through the server, the jump host on the way to the login node.
            dependsOn: [cluster.seed, login.vm, login.aadExtension, hostKeyRead, ...server.accessPath, server.vm],
        });

        this.registerOutputs({ stdout: this.check.stdout });
    }
}
