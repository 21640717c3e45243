// The CycleCloud server and Slurm cluster under Pulumi's mocks (scripts/simulate.ts with the dev stack and
// generated secrets): dependency graph, cluster parameters (cyclecloud-slurm 4.x names), user records,
// role assignments and their scopes, the VM and locker, remote Command options, secrets, access paths.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { ConfigError, parseSettings, secretProblems } from "../../components/config";
import { clusterParameters, cycleCloudSubnetId, renderUserRecords } from "../../components/cyclecloud/cluster";
import { BUILTIN_ROLE, ORCHESTRATOR_READ_ACTIONS, customRoleName, marketplaceTermUrns, stableGuid } from "../../components/cyclecloud/server";
import { linuxComputerName } from "../../components/login/loginNode";
import { NFS_MOUNT_OPTIONS } from "../../components/nfs";
import { REDACTED, simulate, SimResource, SimResult, SIM_SUBSCRIPTION_ID } from "../../scripts/simulate";
import { byName, devStackWithSecrets, DUMMY_PASSWORD, NS, simulateDev, throwawayKeyPair } from "./devStack";
import { plain } from "../support/secrets";

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const T = {
    command: "command:remote:Command",
    vm: "azure-native:compute:VirtualMachine",
    ra: "azure-native:authorization:RoleAssignment",
    rd: "azure-native:authorization:RoleDefinition",
};

/**
 * Facts of the cyclecloud-slurm template the project pins (tag 4.0.9, its templates/slurm.txt): every parameter
 * name with its default, and which parameters make each nodearray create nodes. How it was extracted: the
 * fixture's `extractedWith` and `source`.
 */
interface TemplateFacts {
    source: { repository: string; tag: string; commit: string; path: string };
    parameters: Record<string, string | null>;
    nodearrays: Record<string, { kind: string; createsNodes?: string[]; machineType?: string; image?: string; defaultPartition?: boolean; partition?: string }>;
}
const TEMPLATE: TemplateFacts = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "slurm-template-4.0.9.json"), "utf8"));

/** The partitions azslurm writes for these parameters, with whether each is the default (see readiness.ts). */
function partitionsOf(params: Props): { name: string; isDefault: boolean }[] {
    const capacity: Record<string, boolean> = {
        hpc: params.MaxHPCExecuteNodeCount > 0,
        htc: params.MaxHTCExecuteNodeCount > 0,
        gpu: params.MaxGPUExecuteNodeCount > 0,
        dynamic: params.EnableDynamicPartition === true && params.MaxDynamicExecuteCoreCount > 0,
    };
    return Object.values(TEMPLATE.nodearrays).filter(n => n.partition !== undefined && capacity[n.partition])
        .map(n => ({ name: n.partition!, isDefault: n.defaultPartition === true }));
}

/** A jump host's host key as sshProxyHostKey takes it. */
const JUMP_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJumpHostKeyJumpHostKeyJumpHostKeyJumpHost";


/** A Command with its inputs unwrapped. */
function cmd(r: SimResult, name: string): SimResource {
    const c = byName(r, T.command, name);
    return { ...c, inputs: plain(c.inputs) };
}

/** URNs a resource waits for: its dependencies, transitively (through its parents' dependencies too). */
function transitiveDeps(r: SimResult, start: SimResource): Set<string> {
    const byUrn = new Map(r.resources.map(x => [x.urn, x]));
    const seen = new Set<string>();
    const todo = [...start.dependencies, ...(start.parent ? [start.parent] : [])];
    while (todo.length > 0) {
        const u = todo.pop()!;
        if (seen.has(u)) continue;
        seen.add(u);
        const x = byUrn.get(u);
        if (!x) continue;
        todo.push(...x.dependencies);
        // A component's children are what "depending on the component" waits for.
        if (!x.custom) todo.push(...r.resources.filter(c => c.parent === u).map(c => c.urn));
    }
    return seen;
}

/**
 * The order `pulumi destroy` deletes in: a resource goes only once nothing left depends on it (its
 * dependencies as the engine recorded them) and it has no children left (Pulumi docs, resource options:
 * reverse dependency order). Deletes that nothing orders may run in parallel: each wave is one round.
 */
function destroyWaves(r: SimResult): string[][] {
    const left = new Map(r.resources.filter(x => x.urn).map(x => [x.urn, x]));
    const waves: string[][] = [];
    while (left.size > 0) {
        const blocked = new Set<string>();
        for (const x of left.values()) {
            for (const d of x.dependencies) blocked.add(d);
            if (x.parent) blocked.add(x.parent);
        }
        const wave = [...left.keys()].filter(u => !blocked.has(u));
        assert.ok(wave.length > 0, "dependency cycle");
        wave.forEach(u => left.delete(u));
        waves.push(wave);
    }
    return waves;
}

/** The wave (0 = first deleted) in which a resource is deleted. */
function waveOf(waves: string[][], urn: string): number {
    const i = waves.findIndex(w => w.includes(urn));
    assert.ok(i >= 0, `${urn} is never deleted`);
    return i;
}

/** The `export NAME='value'` preamble value of a script's stdin. */
function exported(stdin: string, name: string): string {
    const m = new RegExp(`^export ${name}='((?:[^']|'\\\\'')*)'$`, "ms").exec(stdin);
    assert.ok(m, `no ${name} in the stdin`);
    return m[1].replace(/'\\''/g, "'");
}

/** The problems parseSettings reports for a config on top of the required keys. */
function problems(extra: Record<string, unknown>): string[] {
    try {
        parseSettings({ location: "westeurope", loginAdminSshPublicKey: throwawayKeyPair().publicKey, deploySourcePrefix: "10.50.1.0/24", ...extra }, "t");
    } catch (e) {
        assert.ok(e instanceof ConfigError);
        return e.problems;
    }
    return [];
}

describe("CycleCloud server and Slurm cluster under mocks (dev stack)", function () {
    let dev: SimResult & { privateKey: string };
    before(async () => {
        dev = await simulateDev();
        if (dev.error) throw dev.error;
    });

    describe("dependency graph", () => {
        it("seeding depends on the cluster; the cluster on initialisation, the users and the NFS share", () => {
            const cluster = cmd(dev, "slurm-cluster"), seed = cmd(dev, "slurm-seed"), init = cmd(dev, "cyclecloud-init");
            assert.ok(seed.dependencies.includes(cluster.urn), "seed does not depend on the cluster");
            assert.ok(cluster.dependencies.includes(init.urn), "cluster does not depend on the initialisation");
            assert.ok(cluster.dependencies.includes(cmd(dev, "slurm-users").urn));
            const share = byName(dev, "azure-native:storage:FileShare", "shared-share");
            assert.ok(cluster.dependencies.includes(share.urn), "cluster does not depend on the NFS share");
        });

        it("the cluster is deleted before what it runs on: server VM, roles, cluster resource group, subnet", () => {
            const deps = new Set(cmd(dev, "slurm-cluster").dependencies);
            for (const [type, name] of [
                [T.vm, "cyclecloud-vm"], [T.ra, "cyclecloud-cluster-rg-contributor"], [T.ra, "cyclecloud-compute-subnet-join"],
                ["azure-native:resources:ResourceGroup", "cyclecloud-cluster-rg"], ["azure-native:network:Subnet", "network-compute-subnet"],
            ]) {
                assert.ok(deps.has(byName(dev, type, name).urn), `cluster does not depend on ${name}`);
            }
            assert.ok(dev.resources.filter(x => x.name === "slurm-cluster")[0].options.deleteBeforeReplace);
        });

        it("initialisation waits for the VM, the locker's DNS and every role assignment", () => {
            const deps = new Set(cmd(dev, "cyclecloud-init").dependencies);
            assert.ok(deps.has(byName(dev, T.vm, "cyclecloud-vm").urn));
            assert.ok(deps.has(byName(dev, "azure-native:network:PrivateDnsZoneGroup", "cyclecloud-blob-pe-dns").urn));
            for (const ra of dev.resources.filter(x => x.type === T.ra && x.name.startsWith("cyclecloud-"))) {
                assert.ok(deps.has(ra.urn), `init does not wait for ${ra.name}`);
            }
        });

        it("the login node does not wait for the cluster, the seeding or CycleCloud's initialisation", () => {
            const loginVm = byName(dev, T.vm, "login-vm");
            const deps = transitiveDeps(dev, loginVm);
            for (const name of ["slurm-cluster", "slurm-seed", "slurm-users", "slurm-scale", "cyclecloud-init"]) {
                assert.ok(!deps.has(cmd(dev, name).urn), `login VM waits for ${name}`);
            }
            assert.ok(!deps.has(byName(dev, T.vm, "cyclecloud-vm").urn), "login VM waits for the CycleCloud VM");
        });
    });

    describe("ordering through Bastion and the jump host (create and destroy)", () => {
        const remoteCommands = (r: SimResult) => r.resources.filter(x => x.type === T.command);

        it("tunnel mode (dev): every remote Command depends on the BastionHost, the scheduler's also on the server VM", () => {
            const bastion = byName(dev, "azure-native:network:BastionHost", "network-bastion").urn;
            const commands = remoteCommands(dev);
            assert.deepStrictEqual(commands.map(c => c.name).sort(), ["cyclecloud-init", "readiness-check", "slurm-accounts-scheduler",
                "slurm-accounts-upload", "slurm-cluster", "slurm-scale", "slurm-seed", "slurm-users"]);
            for (const c of commands) assert.ok(c.dependencies.includes(bastion), `${c.name} does not depend on the BastionHost`);
            const vm = byName(dev, T.vm, "cyclecloud-vm").urn;
            // The scheduler's Commands and the readiness check (on the login node) jump through the server.
            for (const name of ["slurm-scale", "slurm-seed", "slurm-accounts-scheduler", "readiness-check"]) {
                assert.ok(cmd(dev, name).dependencies.includes(vm), `${name} does not depend on its jump host`);
            }
        });

        it("destroy: Bastion goes only after every remote Command's delete (the cluster's included), the cluster before what it runs on", () => {
            const waves = destroyWaves(dev);
            const bastion = waveOf(waves, byName(dev, "azure-native:network:BastionHost", "network-bastion").urn);
            for (const c of remoteCommands(dev)) assert.ok(waveOf(waves, c.urn) < bastion, `${c.name} is deleted no earlier than Bastion`);
            const cluster = waveOf(waves, cmd(dev, "slurm-cluster").urn);
            for (const [type, name] of [[T.vm, "cyclecloud-vm"], ["azure-native:storage:FileShare", "shared-share"],
                ["azure-native:network:Subnet", "network-compute-subnet"], [T.ra, "cyclecloud-cluster-rg-contributor"]]) {
                assert.ok(cluster < waveOf(waves, byName(dev, type, name).urn), `${name} is deleted before the cluster`);
            }
            // And create (the reverse) waits for Bastion before the first SSH dial.
            assert.ok(transitiveDeps(dev, byName(dev, T.command, "cyclecloud-init")).has(byName(dev, "azure-native:network:BastionHost", "network-bastion").urn));
        });

        it("tunnel mode (dev): the remote Commands run one at a time through the one-connection tunnel, in one chain", () => {
            const chain = ["cyclecloud-init", "slurm-users", "slurm-accounts-upload", "slurm-cluster", "slurm-scale",
                "slurm-accounts-scheduler", "slurm-seed", "readiness-check"];
            assert.deepStrictEqual(remoteCommands(dev).map(c => c.name).sort(), [...chain].sort());
            // Each one waits, through dependencies between resources only, for the one before it (so for all
            // before it): no two can overlap, on create, update or delete (the reverse order).
            const waitsFor = (r: SimResult, start: SimResource) => {
                const byUrn = new Map(r.resources.map(x => [x.urn, x]));
                const seen = new Set<string>();
                const todo = [...start.dependencies];
                while (todo.length > 0) {
                    const u = todo.pop()!;
                    if (seen.has(u)) continue;
                    seen.add(u);
                    todo.push(...(byUrn.get(u)?.dependencies ?? []));
                }
                return seen;
            };
            for (let i = 1; i < chain.length; i++) {
                assert.ok(waitsFor(dev, cmd(dev, chain[i])).has(cmd(dev, chain[i - 1]).urn), `${chain[i]} does not wait for ${chain[i - 1]}`);
            }
            // The links this ordering adds, registered as dependsOn of the Commands themselves.
            for (const [later, earlier] of [["slurm-accounts-upload", "slurm-users"], ["slurm-accounts-scheduler", "slurm-scale"],
                ["slurm-seed", "slurm-accounts-scheduler"]]) {
                assert.ok(cmd(dev, later).dependencies.includes(cmd(dev, earlier).urn), `${later} has no dependsOn on ${earlier}`);
            }
        });

        it("jump host and direct modes: no Command waits for Bastion (it is not on their path)", async () => {
            const proxy = await simulateDev({ [`${NS}bastionTunnelPort`]: undefined, [`${NS}sshProxyHost`]: "jump.example.com",
                [`${NS}sshProxyHostKey`]: JUMP_HOST_KEY, [`${NS}deploySourcePrefix`]: "10.60.0.5/32" });
            const direct = await simulateDev({ [`${NS}bastionTunnelPort`]: undefined, [`${NS}deploySourcePrefix`]: "10.60.0.0/24" });
            for (const r of [proxy, direct]) {
                if (r.error) throw r.error;
                const bastion = byName(r, "azure-native:network:BastionHost", "network-bastion").urn;
                for (const c of remoteCommands(r)) assert.ok(!c.dependencies.includes(bastion), c.name);
            }
            // Through the jump host the scheduler's Commands still keep the server (not their jump host there) ordered.
            assert.ok(cmd(proxy, "slurm-seed").dependencies.includes(byName(proxy, T.vm, "cyclecloud-vm").urn));
            // A jump host takes many connections: what only the tunnel needed stays parallel there.
            for (const r of [proxy, direct]) {
                for (const [later, earlier] of [["slurm-accounts-upload", "slurm-users"], ["slurm-accounts-scheduler", "slurm-scale"],
                    ["slurm-seed", "slurm-accounts-scheduler"]]) {
                    assert.ok(!cmd(r, later).dependencies.includes(cmd(r, earlier).urn), `${later} waits for ${earlier} without a tunnel`);
                }
            }
        });

        it("the login VM waits for the NFS share, its private endpoint and the endpoint's DNS zone group", () => {
            const deps = byName(dev, T.vm, "login-vm").dependencies;
            for (const [type, name] of [["azure-native:network:PrivateDnsZoneGroup", "shared-pe-dns"],
                ["azure-native:privatedns:VirtualNetworkLink", "shared-dns-link"], ["azure-native:network:PrivateEndpoint", "shared-pe"],
                ["azure-native:storage:FileShare", "shared-share"]]) {
                assert.ok(deps.includes(byName(dev, type, name).urn), `login VM does not wait for ${name}`);
            }
            const waves = destroyWaves(dev);
            assert.ok(waveOf(waves, byName(dev, T.vm, "login-vm").urn) < waveOf(waves, byName(dev, "azure-native:network:PrivateDnsZoneGroup", "shared-pe-dns").urn));
        });
    });

    describe("cluster parameters", () => {
        let params: Props;
        before(() => {
            params = JSON.parse(exported(String(cmd(dev, "slurm-cluster").inputs.stdin), "CC_CLUSTER_PARAMS"));
        });

        it("uses only parameter names the pinned template (cyclecloud-slurm 4.0.9 templates/slurm.txt) defines", () => {
            assert.strictEqual(TEMPLATE.source.commit, "50e673900227073883c5d74828863be4435bdb9a");
            const unknown = Object.keys(params).filter(k => !(k in TEMPLATE.parameters));
            assert.deepStrictEqual(unknown, []);
        });

        it("sets, for every nodearray of the template, each parameter that creates nodes, and its machine type and image", async () => {
            const gpu = await simulateDev({ [`${NS}maxHpcNodes`]: "0", [`${NS}maxGpuNodes`]: "2", [`${NS}gpuVmSize`]: "Standard_NC6s_v3",
                [`${NS}maxDynamicCores`]: "64", [`${NS}dynamicVmSize`]: "Standard_D8s_v5" });
            if (gpu.error) throw gpu.error;
            const gpuParams = JSON.parse(exported(String(cmd(gpu, "slurm-cluster").inputs.stdin), "CC_CLUSTER_PARAMS"));
            for (const [label, p] of [["dev", params], ["gpu+dynamic", gpuParams]] as const) {
                for (const [array, n] of Object.entries(TEMPLATE.nodearrays)) {
                    for (const k of [...(n.createsNodes ?? []), ...(n.machineType && array !== "login" ? [n.machineType] : []), ...(n.image ? [n.image] : [])]) {
                        assert.ok(k in TEMPLATE.parameters, `${k} is not a parameter of the template`);
                        assert.notStrictEqual(p[k], undefined, `${label}: ${k} (nodearray ${array}) is left to the template's default ${TEMPLATE.parameters[k]}`);
                    }
                }
            }
            // Off unless asked for: no gpu nodes, no dynamic partition, no CycleCloud login nodes, no HA scheduler.
            assert.strictEqual(params.MaxGPUExecuteNodeCount, 0);
            assert.strictEqual(params.EnableDynamicPartition, false);
            assert.strictEqual(params.MaxDynamicExecuteCoreCount, 1, "the template's smallest core limit (the partition is off)");
            assert.strictEqual(params.NumberLoginNodes, 0);
            assert.strictEqual(params.MaxLoginNodeCount, 0);
            assert.strictEqual(params.configuration_slurm_ha_enabled, false);
            // ... and from config when asked for.
            assert.deepStrictEqual([gpuParams.MaxGPUExecuteNodeCount, gpuParams.GPUMachineType, gpuParams.GPUImageName], [2, "Standard_NC6s_v3", "almalinux8"]);
            assert.deepStrictEqual([gpuParams.EnableDynamicPartition, gpuParams.MaxDynamicExecuteCoreCount, gpuParams.DynamicMachineType],
                [true, 64, "Standard_D8s_v5"]);
            assert.deepStrictEqual(partitionsOf(gpuParams), [{ name: "htc", isDefault: false }, { name: "gpu", isDefault: true }, { name: "dynamic", isDefault: false }]);
        });

        it("gives the cluster exactly one default partition", () => {
            assert.deepStrictEqual(partitionsOf(params), [{ name: "hpc", isDefault: true }, { name: "htc", isDefault: false }]);
            assert.strictEqual(partitionsOf(params).filter(p => p.isDefault).length, 1);
        });

        it("takes region, subnet (rg/vnet/subnet), credentials, sizes, counts, images and the Slurm version from config", () => {
            assert.strictEqual(params.Region, "westeurope");
            assert.strictEqual(params.SubnetId, "rg-cyclecloud-slurm-entra-dev/vnet-ccslurm-dev/compute");
            assert.strictEqual(params.Credentials, "azure");
            assert.strictEqual(params.SchedulerMachineType, "Standard_D4ads_v5");
            assert.strictEqual(params.HPCMachineType, "Standard_HB120rs_v3");
            assert.strictEqual(params.HTCMachineType, "Standard_F4s_v2");
            assert.strictEqual(params.MaxHPCExecuteNodeCount, 4);
            assert.strictEqual(params.MaxHTCExecuteNodeCount, 8);
            for (const k of ["SchedulerImageName", "HPCImageName", "HTCImageName"]) assert.strictEqual(params[k], "almalinux8", k);
            // The same version the login node installs (settings.slurm.version).
            assert.strictEqual(params.configuration_slurm_version, "25.11.5");
            assert.strictEqual(params.NumberLoginNodes, 0);
            assert.strictEqual(params.UsePublicNetwork, false);
        });

        it("puts /shared on the Azure Files NFS share with NFS 4.1 options, never the built-in share or NFSv3", () => {
            const account = byName(dev, "azure-native:storage:StorageAccount", "shared-account").inputs.accountName;
            assert.strictEqual(params.UseBuiltinShared, false);
            assert.strictEqual(params.NFSType, "nfs");
            assert.strictEqual(params.NFSAddress, `${account}.file.core.windows.net`);
            assert.strictEqual(params.NFSSharedExportPath, `/${account}/shared`);
            assert.strictEqual(params.NFSSharedMountOptions, NFS_MOUNT_OPTIONS);
            assert.match(params.NFSSharedMountOptions, /(^|,)vers=4(,|$)/);
            assert.match(params.NFSSharedMountOptions, /(^|,)minorversion=1(,|$)/);
            assert.doesNotMatch(params.NFSSharedMountOptions, /vers=3/);
        });

        it("clusterParameters refuses NFSv3 mount options; cycleCloudSubnetId refuses a non-subnet ID", () => {
            const base = {
                region: "westeurope", computeSubnetId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/c",
                schedulerVmSize: "a", hpcVmSize: "b", htcVmSize: "c", maxHpcNodes: 1, maxHtcNodes: 1, nodeImage: "almalinux8",
                gpuVmSize: "d", maxGpuNodes: 0, dynamicVmSize: "e", maxDynamicCores: 0,
                slurmVersion: "25.11.5", nfsAddress: "x", nfsExportPath: "/x/y",
            };
            assert.throws(() => clusterParameters({ ...base, nfsMountOptions: "rw,hard,rsize=262144,wsize=262144,vers=3,tcp,_netdev,nconnect=8" }), /NFS 4\.1/);
            assert.strictEqual(clusterParameters({ ...base, nfsMountOptions: "vers=4,minorversion=1,sec=sys" }).SubnetId, "rg/v/c");
            assert.throws(() => cycleCloudSubnetId("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"), /not a subnet/);
        });

        it("the cluster Command applies on create and update, deletes on destroy, and replaces for another cluster name", () => {
            const c = cmd(dev, "slurm-cluster").inputs;
            assert.strictEqual(c.create, "sudo -n bash -s -- 'apply' 'slurm-dev' 'slurm-dev'");
            assert.strictEqual(c.update, c.create);
            assert.strictEqual(c.delete, "sudo -n bash -s -- 'delete' 'slurm-dev'");
            assert.match(String(c.stdin), /^# cluster\.sh: runs as root on the CycleCloud server/m);
        });
    });

    describe("users", () => {
        it("renders one AuthenticatedUser (name, pinned UID, node role) and one PublicKey credential per pinned account", () => {
            const text = renderUserRecords([
                { name: "alice", uid: 10001, sshPublicKey: "ssh-ed25519 AAAAa a@x", entra: "alice@contoso.com", admin: true },
                { name: "bob", uid: 10002, sshPublicKey: "ssh-ed25519 AAAAb b@x", entra: "bob@contoso.com", admin: false },
            ]);
            assert.strictEqual(text.split('AdType = "AuthenticatedUser"').length - 1, 2);
            assert.strictEqual(text.split('AdType = "Credential"').length - 1, 2);
            assert.match(text, /Name = "alice"\nAuthentication = "internal"\nRoles = \{"User", "Global Node Admin"\}\nUID = 10001\n/);
            assert.match(text, /Name = "bob"\nAuthentication = "internal"\nRoles = \{"User", "Global Node User"\}\nUID = 10002\n/);
            assert.match(text, /Name = "bob\/public"\nOwner = "bob"\nPublicKey = "ssh-ed25519 AAAAb b@x"/);
        });

        it("leaves UID out of a pinned account without uid, so CycleCloud numbers it", () => {
            const text = renderUserRecords([{ name: "ops", sshPublicKey: "ssh-ed25519 AAAAo o@x", entra: "ops@contoso.com", admin: false }]);
            assert.match(text, /Name = "ops"\nAuthentication = "internal"\nRoles = \{"User", "Global Node User"\}\nSuperuser = false\n/);
            assert.doesNotMatch(text, /UID/);
        });

        it("the users Command sends only the dev stack's pinned node accounts (Entra users need no record)", () => {
            const stdin = String(cmd(dev, "slurm-users").inputs.stdin);
            assert.strictEqual(exported(stdin, "CC_MANAGED_USERS"), "bob");
            const records = exported(stdin, "CC_USER_RECORDS");
            assert.doesNotMatch(records, /alice/);
            assert.match(records, /Name = "bob"\n[^]*?UID = 10002/);
            assert.ok(records.includes("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF3cCpwa+xR51Tu/2eOgJqfs0ODMff9H9RIwIqTXmP3N bob@example"));
            assert.ok(cmd(dev, "slurm-users").dependencies.includes(cmd(dev, "cyclecloud-init").urn));
        });
    });

    describe("role assignments", () => {
        it("grants exactly the documented roles at the documented scopes, nothing subscription-wide but reads", () => {
            const vm = byName(dev, T.vm, "cyclecloud-vm");
            const serverPrincipal = (vm.outputs.identity as Props).principalId;
            const sub = `/subscriptions/${SIM_SUBSCRIPTION_ID}`;
            const roleDefs = dev.resources.filter(x => x.type === T.rd);
            const lockerPrincipal = byName(dev, "azure-native:managedidentity:UserAssignedIdentity", "cyclecloud-locker-identity").outputs.principalId;
            assert.match(String(lockerPrincipal), /^[0-9a-f-]{36}$/);
            const who = (p: unknown) => (p === serverPrincipal ? "server" : p === lockerPrincipal ? "locker-identity" : "other");
            const describe = (ra: SimResource) => {
                const def = String(ra.inputs.roleDefinitionId);
                const builtin = Object.entries(BUILTIN_ROLE).find(([, g]) => def.endsWith(`/${g}`))?.[0];
                const custom = roleDefs.find(d => (ra.propertyDependencies.roleDefinitionId ?? []).includes(d.urn))?.name;
                return `${who(ra.inputs.principalId)} ${builtin ?? custom} @ ${String(ra.inputs.scope).replace(sub, "SUB")}`;
            };
            const got = dev.resources.filter(x => x.type === T.ra && x.name.startsWith("cyclecloud-")).map(describe).sort();
            assert.deepStrictEqual(got, [
                "locker-identity storageBlobDataReader @ SUB/resourceGroups/rg-cyclecloud-slurm-entra-dev/providers/Microsoft.Storage/storageAccounts/" +
                    byName(dev, "azure-native:storage:StorageAccount", "cyclecloud-locker").inputs.accountName,
                "server contributor @ SUB/resourceGroups/rg-cyclecloud-slurm-entra-dev-cluster",
                "server cyclecloud-role-identity-assign @ SUB/resourceGroups/rg-cyclecloud-slurm-entra-dev/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-ccslurm-dev-locker",
                "server cyclecloud-role-orchestrator-read @ SUB",
                "server cyclecloud-role-subnet-join @ SUB/resourceGroups/rg-cyclecloud-slurm-entra-dev/providers/Microsoft.Network/virtualNetworks/vnet-ccslurm-dev/subnets/compute",
                "server storageBlobDataContributor @ SUB/resourceGroups/rg-cyclecloud-slurm-entra-dev/providers/Microsoft.Storage/storageAccounts/" +
                    byName(dev, "azure-native:storage:StorageAccount", "cyclecloud-locker").inputs.accountName,
            ].sort());
        });

        it("the subscription-scope custom role holds only read actions, all from CycleCloud's orchestrator role", () => {
            const read = byName(dev, T.rd, "cyclecloud-role-orchestrator-read").inputs;
            const actions = (read.permissions as Props[])[0].actions as string[];
            assert.deepStrictEqual(actions, [...ORCHESTRATOR_READ_ACTIONS]);
            assert.ok(actions.every(a => a.endsWith("/read")), actions.join(", "));
            assert.deepStrictEqual(read.assignableScopes, [`/subscriptions/${SIM_SUBSCRIPTION_ID}`]);
            assert.deepStrictEqual((byName(dev, T.rd, "cyclecloud-role-subnet-join").inputs.permissions as Props[])[0].actions,
                ["Microsoft.Network/virtualNetworks/subnets/join/action"]);
            assert.deepStrictEqual((byName(dev, T.rd, "cyclecloud-role-identity-assign").inputs.permissions as Props[])[0].actions,
                ["Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action"]);
        });
    });

    describe("custom role names (unique in the tenant, at most 128 characters)", () => {
        it("each custom role's name carries the start of its own GUID and the resource group", () => {
            const defs = dev.resources.filter(x => x.type === T.rd);
            assert.strictEqual(defs.length, 3);
            for (const d of defs) {
                const guid = String(d.inputs.roleDefinitionId);
                assert.match(guid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
                assert.ok(String(d.inputs.roleName).endsWith(` ${guid.slice(0, 8)} (rg-cyclecloud-slurm-entra-dev)`), String(d.inputs.roleName));
            }
            assert.strictEqual(new Set(defs.map(d => d.inputs.roleName)).size, 3);
        });

        it("the same stack and resource group name in two subscriptions of a tenant give different names", () => {
            const rg = "rg-cyclecloud-slurm-entra-dev";
            const [a, b] = ["00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"]
                .map(sub => customRoleName("CycleCloud subnet join", stableGuid(`${sub}/${rg}/dev/subnet-join`), rg));
            assert.notStrictEqual(a, b);
        });

        it("a resource group name too long to show leaves the whole GUID, within 128 characters", () => {
            const rg = `rg-${"x".repeat(87)}`;
            const guid = stableGuid("s/r/dev/orchestrator-read");
            const name = customRoleName("CycleCloud locker identity assign", guid, rg);
            assert.strictEqual(name, `CycleCloud locker identity assign ${guid}`);
            assert.ok(name.length <= 128);
            assert.ok(customRoleName("CycleCloud subnet join", guid, "rg-short").length <= 128);
        });
    });

    describe("server VM and locker", () => {
        it("the VM uses the pinned plan image with its LUN 0 data disk, no public IP, SSH keys only, a system identity", () => {
            const vm = byName(dev, T.vm, "cyclecloud-vm").inputs as Props;
            assert.deepStrictEqual(vm.plan, { publisher: "azurecyclecloud", product: "azure-cyclecloud", name: "cyclecloud8-gen2" });
            assert.deepStrictEqual(vm.storageProfile.imageReference,
                { publisher: "azurecyclecloud", offer: "azure-cyclecloud", sku: "cyclecloud8-gen2", version: "8.9.120260630" });
            assert.strictEqual(vm.storageProfile.dataDisks.length, 1);
            assert.strictEqual(vm.storageProfile.dataDisks[0].lun, 0);
            assert.strictEqual(vm.storageProfile.dataDisks[0].createOption, "FromImage");
            assert.strictEqual(vm.osProfile.linuxConfiguration.disablePasswordAuthentication, true);
            assert.strictEqual(vm.osProfile.adminPassword, undefined);
            assert.strictEqual(vm.identity.type, "SystemAssigned");
            const nic = byName(dev, "azure-native:network:NetworkInterface", "cyclecloud-nic").inputs as Props;
            assert.strictEqual(nic.ipConfigurations[0].publicIPAddress, undefined);
            assert.match(nic.ipConfigurations[0].subnet.id, /\/subnets\/cyclecloud$/);
        });

        it("the locker has no shared keys and no public access, and a blob private endpoint with its DNS zone", () => {
            const sa = byName(dev, "azure-native:storage:StorageAccount", "cyclecloud-locker").inputs as Props;
            assert.strictEqual(sa.allowSharedKeyAccess, false);
            assert.strictEqual(sa.publicNetworkAccess, "Disabled");
            assert.strictEqual(sa.allowBlobPublicAccess, false);
            const pe = byName(dev, "azure-native:network:PrivateEndpoint", "cyclecloud-locker-pe").inputs as Props;
            assert.deepStrictEqual(pe.privateLinkServiceConnections[0].groupIds, ["blob"]);
            assert.strictEqual(byName(dev, "azure-native:privatedns:PrivateZone", "cyclecloud-blob-dns-zone").inputs.privateZoneName,
                "privatelink.blob.core.windows.net");
            const group = byName(dev, "azure-native:network:PrivateDnsZoneGroup", "cyclecloud-blob-pe-dns").inputs as Props;
            assert.strictEqual(group.privateDnsZoneConfigs.length, 1);
        });

        it("the init Command passes the locker, its identity and the cluster resource group, and the password only on stdin", () => {
            const init = cmd(dev, "cyclecloud-init");
            const create = String(init.inputs.create);
            assert.match(create, /^sudo -n bash -s -- 'ccadmin' '[-0-9a-f]+' 'westeurope' 'rg-cyclecloud-slurm-entra-dev-cluster' 'cclocker[0-9a-f]{16}' '\/subscriptions\/.*\/userAssignedIdentities\/id-ccslurm-dev-locker'$/);
            assert.ok(!create.includes(DUMMY_PASSWORD));
            assert.strictEqual(init.redactedInputs.stdin, REDACTED, "stdin (with the password) is not a secret");
            assert.strictEqual(exported(String(init.inputs.stdin), "CC_ADMIN_PASSWORD"), DUMMY_PASSWORD);
        });
    });

    describe("secrets and logging", () => {
        it("no secret (password, private key) appears in any resource's recorded inputs", () => {
            const all = JSON.stringify(dev.resources.map(x => x.redactedInputs));
            assert.ok(!all.includes(DUMMY_PASSWORD), "the password is visible");
            assert.ok(!all.includes("PRIVATE KEY"), "the private key is visible");
            assert.ok(!all.includes(dev.privateKey.split("\n")[1]), "the private key is visible");
        });

        it("initialisation and seeding log nothing and keep their output secret", () => {
            for (const name of ["cyclecloud-init", "slurm-seed"]) {
                const c = cmd(dev, name);
                assert.strictEqual(c.inputs.logging, "none", name);
                assert.ok(["stdout", "stderr"].every(o => c.options.additionalSecretOutputs.includes(o)), name);
                assert.strictEqual(c.inputs.addPreviousOutputInEnv, false, name);
            }
        });

        it("seeding runs seedInvocation's script as root and re-runs for another cluster, Slurm version or cluster parameters", async () => {
            const seed = cmd(dev, "slurm-seed");
            assert.strictEqual(seed.inputs.create, "sudo -n bash -s -- 'slurm-dev'");
            assert.match(String(seed.inputs.stdin), /seed-shared\.sh/);
            const triggers = seed.inputs.triggers as unknown[];
            assert.ok(triggers.includes("25.11.5"), "the Slurm version is not a trigger");
            assert.ok(triggers.includes("slurm-dev"), "the cluster is not a trigger");
            assert.ok(seed.propertyDependencies.triggers.includes(cmd(dev, "slurm-cluster").urn), "the cluster's identity is not a trigger");
            // A parameter change (azslurm scale rewrites azure.conf) changes the triggers; the same config does not.
            const same = await simulateDev();
            const changed = await simulateDev({ [`${NS}maxHpcNodes`]: "32" });
            assert.deepStrictEqual(cmd(same, "slurm-seed").inputs.triggers, triggers);
            assert.notDeepStrictEqual(cmd(changed, "slurm-seed").inputs.triggers, triggers, "a parameter change does not re-seed");
            assert.deepStrictEqual(cmd(changed, "slurm-seed").inputs.triggers, cmd(await simulateDev({ [`${NS}maxHpcNodes`]: "32" }), "slurm-seed").inputs.triggers);
        });

        it("the scale Command checks the scheduler's Slurm release against slurmVersion before the seed", () => {
            const scale = cmd(dev, "slurm-scale");
            assert.strictEqual(scale.inputs.create, "sudo -n bash -s -- '25.11.5'");
            assert.match(String(scale.inputs.stdin), /^# apply-config\.sh/m);
            assert.ok(cmd(dev, "slurm-seed").dependencies.includes(scale.urn));
        });
    });

    describe("reaching the private hosts", () => {
        it("bastion tunnel (dev): the server on 127.0.0.1:<port>, the scheduler through the server", () => {
            const init = cmd(dev, "cyclecloud-init").inputs.connection as Props;
            assert.strictEqual(init.host, "127.0.0.1");
            assert.strictEqual(init.port, 50022);
            assert.strictEqual(init.user, "ccadmin");
            const seed = cmd(dev, "slurm-seed").inputs.connection as Props;
            assert.deepStrictEqual([seed.proxy.host, seed.proxy.port, seed.proxy.user], ["127.0.0.1", 50022, "ccadmin"]);
        });

        it("jump host: both hosts through sshProxyHost, by private IP", async () => {
            const r = await simulateDev({ [`${NS}bastionTunnelPort`]: undefined, [`${NS}sshProxyHost`]: "jump.example.com", [`${NS}sshProxyUser`]: "jumper", [`${NS}sshProxyHostKey`]: JUMP_HOST_KEY, [`${NS}deploySourcePrefix`]: "10.60.0.5/32" });
            if (r.error) throw r.error;
            const ip = byName(r, "azure-native:network:NetworkInterface", "cyclecloud-nic").outputs.ipConfigurations as Props[];
            const init = cmd(r, "cyclecloud-init").inputs.connection as Props;
            assert.strictEqual(init.host, ip[0].privateIPAddress);
            assert.deepStrictEqual([init.proxy.host, init.proxy.port, init.proxy.user], ["jump.example.com", 22, "jumper"]);
            assert.strictEqual((cmd(r, "slurm-seed").inputs.connection as Props).proxy.host, "jump.example.com");
        });

        it("pins configured host keys", async () => {
            const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinnedServerKey";
            const r = await simulateDev({ [`${NS}cyclecloudHostKey`]: key, [`${NS}schedulerHostKey`]: `${key}Sched` });
            if (r.error) throw r.error;
            assert.strictEqual((cmd(r, "cyclecloud-init").inputs.connection as Props).hostKey, key);
            assert.strictEqual((cmd(r, "slurm-cluster").inputs.connection as Props).hostKey, key);
            const seed = cmd(r, "slurm-seed").inputs.connection as Props;
            assert.strictEqual(seed.hostKey, `${key}Sched`);
            assert.strictEqual(seed.proxy.hostKey, key);
        });
    });

    describe("computer names and the login image", () => {
        it("a stack name with `_` or `.` gives valid Linux computer names; valid names stay as they were", async () => {
            const { config, secretKeys } = devStackWithSecrets();
            const r = await simulate({ stack: "team_a.Prod", config, secretKeys });
            if (r.error) throw r.error;
            const name = (vm: string) => (byName(r, T.vm, vm).inputs as Props).osProfile.computerName as string;
            assert.strictEqual(name("cyclecloud-vm"), "ccslurm-team-a-Prod-cc");
            assert.strictEqual(name("login-vm"), "slurm-dev-login");
            assert.strictEqual((byName(dev, T.vm, "cyclecloud-vm").inputs as Props).osProfile.computerName, "ccslurm-dev-cc");
            assert.strictEqual(linuxComputerName(`a${"_b".repeat(40)}`, "k").length, 63);
            assert.throws(() => linuxComputerName("___", "the stack name"), /^Error: the stack name: cannot derive a Linux computer name/);
        });

        it("loginImage takes a preset (rocky-8: a plan image) or a URN; loginImagePlan=false drops the plan and its terms", async () => {
            const rocky = await simulateDev({ [`${NS}loginImage`]: "rocky-8" });
            if (rocky.error) throw rocky.error;
            const vm = byName(rocky, T.vm, "login-vm").inputs as Props;
            assert.deepStrictEqual(vm.plan, { publisher: "resf", product: "rockylinux-x86_64", name: "8-base" });
            assert.strictEqual(vm.storageProfile.imageReference.offer, "rockylinux-x86_64");
            const rhel = await simulateDev({ [`${NS}loginImage`]: "RedHat:RHEL:8-lvm-gen2:latest", [`${NS}loginImagePlan`]: "false" });
            if (rhel.error) throw rhel.error;
            assert.strictEqual((byName(rhel, T.vm, "login-vm").inputs as Props).plan, undefined);
            const s = parseSettings({ location: "westeurope", loginAdminSshPublicKey: throwawayKeyPair().publicKey, deploySourcePrefix: "10.50.1.0/24", loginImage: "RedHat:RHEL:8-lvm-gen2:latest", loginImagePlan: "false" }, "t");
            assert.ok(!marketplaceTermUrns(s).some(u => u.startsWith("RedHat:")), "terms for an image without a plan");
            assert.match(String(problems({ loginImage: "centos-7" })), /loginImage: must be an image URN with four parts, publisher:offer:sku:version, or a preset \(almalinux-hpc-8, rocky-8\)/);
        });
    });

    describe("marketplace terms", () => {
        it("are not touched by default", () => {
            assert.strictEqual(dev.resources.filter(x => x.type === "command:local:Command").length, 0);
        });

        it("with acceptMarketplaceTerms: one local Command accepts server, login and node image plans, before both VMs", async () => {
            const r = await simulateDev({ [`${NS}acceptMarketplaceTerms`]: "true" });
            if (r.error) throw r.error;
            const terms = byName(r, "command:local:Command", "cyclecloud-terms");
            assert.strictEqual(terms.inputs.create,
                "bash -s -- 'azurecyclecloud:azure-cyclecloud:cyclecloud8-gen2:8.9.120260630' 'almalinux:almalinux-hpc:8_10-hpc-gen2:8.10.2024101801'");
            assert.ok(byName(r, T.vm, "cyclecloud-vm").dependencies.includes(terms.urn));
            assert.ok(transitiveDeps(r, byName(r, T.vm, "login-vm")).has(terms.urn), "the login VM does not wait for the terms");
            // On the VM itself: a component's dependsOn does not reach the resources inside it.
            assert.ok(byName(r, T.vm, "login-vm").dependencies.includes(terms.urn), "the login VM itself does not depend on the terms");
        });

        it("marketplaceTermUrns adds a URN node image and one acceptance per plan", () => {
            const s = parseSettings({ location: "westeurope", loginAdminSshPublicKey: throwawayKeyPair().publicKey, deploySourcePrefix: "10.50.1.0/24", nodeImage: "almalinux:almalinux-hpc:8-hpc-gen2:latest" }, "t");
            assert.deepStrictEqual(marketplaceTermUrns(s), [
                "azurecyclecloud:azure-cyclecloud:cyclecloud8-gen2:8.9.120260630",
                "almalinux:almalinux-hpc:8_10-hpc-gen2:8.10.2024101801",
                "almalinux:almalinux-hpc:8-hpc-gen2:latest",
            ]);
        });
    });

    describe("configuration", () => {
        // Direct mode (neither tunnel nor jump host) needs the deploy path's source range for the NSGs.
        const base = () => ({ location: "westeurope", loginAdminSshPublicKey: throwawayKeyPair().publicKey, deploySourcePrefix: "10.50.1.0/24" });
        const problems = (input: Record<string, unknown>) => {
            try {
                parseSettings(input, "t");
            } catch (e) {
                assert.ok(e instanceof ConfigError);
                return e.problems;
            }
            return [];
        };

        it("fills CycleCloud defaults", () => {
            const s = parseSettings(base(), "t");
            assert.strictEqual(s.cyclecloud.adminUsername, "ccadmin");
            assert.strictEqual(s.cyclecloud.clusterResourceGroupName, "rg-cyclecloud-slurm-entra-t-cluster");
            assert.strictEqual(s.cluster.nodeImage, "almalinux8");
            assert.strictEqual(s.remote.mode, "direct");
            assert.strictEqual(s.cyclecloud.acceptMarketplaceTerms, false);
        });

        it("rejects a jump host together with a Bastion tunnel, and proxy options without a jump host, naming the keys", () => {
            assert.deepStrictEqual(problems({ ...base(), sshProxyHost: "jump", sshProxyHostKey: JUMP_HOST_KEY, bastionTunnelPort: "50022" }).map(p => p.split(":")[0]).sort(),
                ["bastionTunnelPort", "deploySourcePrefix"]);
            assert.deepStrictEqual(problems({ ...base(), sshProxyUser: "x" }).map(p => p.split(":")[0]), ["sshProxyUser"]);
            assert.deepStrictEqual(problems({ ...base(), nodeImage: "centos7", maxHpcNodes: "-1" }).map(p => p.split(":")[0]).sort(), ["maxHpcNodes", "nodeImage"]);
        });

        it("allows one default partition only: gpu nodes need maxHpcNodes 0, and hpc or gpu must have nodes (errors name the key)", () => {
            const both = problems({ ...base(), maxGpuNodes: "2" });
            assert.deepStrictEqual(both.map(p => p.split(":")[0]), ["maxGpuNodes"]);
            assert.match(both[0], /two default partitions.*set maxHpcNodes to 0/);
            const none = problems({ ...base(), maxHpcNodes: "0" });
            assert.deepStrictEqual(none.map(p => p.split(":")[0]), ["maxHpcNodes"]);
            assert.match(none[0], /or maxGpuNodes above 0/);
            assert.deepStrictEqual(problems({ ...base(), maxHpcNodes: "0", maxGpuNodes: "1" }), []);
            assert.deepStrictEqual(problems({ ...base(), maxDynamicCores: "-1", gpuVmSize: "NC6" }).map(p => p.split(":")[0]).sort(), ["gpuVmSize", "maxDynamicCores"]);
            const s = parseSettings(base(), "t").cluster;
            assert.deepStrictEqual([s.maxGpuNodes, s.gpuVmSize, s.maxDynamicCores, s.dynamicVmSize], [0, "Standard_NC24rs_v3", 0, "Standard_F2s_v2"]);
        });

        it("secretProblems names missing secrets and never shows a value", () => {
            const keys = throwawayKeyPair(), other = throwawayKeyPair();
            assert.deepStrictEqual(secretProblems({}, keys.publicKey, false).map(p => p.split(":")[0]), ["cyclecloudAdminPassword", "adminSshPrivateKey"]);
            assert.deepStrictEqual(secretProblems({ cyclecloudAdminPassword: DUMMY_PASSWORD, adminSshPrivateKey: keys.privateKey }, keys.publicKey, false), []);
            const bad = secretProblems({ cyclecloudAdminPassword: "short1!", adminSshPrivateKey: other.privateKey }, keys.publicKey, false);
            assert.deepStrictEqual(bad.map(p => p.split(":")[0]), ["cyclecloudAdminPassword", "adminSshPrivateKey"]);
            assert.match(bad[1], /does not match/);
            assert.ok(!bad.join("\n").includes("short1!"), "the password was shown");
            assert.ok(!bad.join("\n").includes("PRIVATE KEY"));
        });

        it("a stack without the secrets stops before any resource is registered, naming the keys", async () => {
            const r = await simulateDev({ [`${NS}cyclecloudAdminPassword`]: undefined, [`${NS}adminSshPrivateKey`]: undefined });
            assert.ok(r.error instanceof ConfigError, String(r.error));
            assert.match(r.error.message, /cyclecloudAdminPassword: is required \(a secret\): pulumi config set --secret cyclecloudAdminPassword/);
            assert.match(r.error.message, /adminSshPrivateKey: is required/);
            assert.strictEqual(r.resources.length, 0);
        });
    });
});
