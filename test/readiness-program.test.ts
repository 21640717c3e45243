// The readiness Command under Pulumi's mocks (issue 13): after the seed and the login node, through the same
// path as the other Commands, with the cluster's partitions; and its inputs (command line, script, triggers)
// change exactly when something that can change readiness changes, so a no-op `pulumi up` runs nothing.
import * as assert from "assert";
import * as fs from "fs";
import { secretProblems } from "../components/config";
import { READINESS_SCRIPT_PATH } from "../components/readiness/invocation";
import { expectedPartitions, testJobPartition } from "../components/readiness/readiness";
import { buildModel } from "../scripts/plan/model";
import { estimate, READINESS_CHECK_SECONDS, READINESS_TEST_JOB_SECONDS } from "../scripts/plan/estimate";
import { simulate, SimResource, SimResult } from "../scripts/simulate";
import { byName, devStackWithSecrets, NS, throwawayKeyPair } from "./cyclecloud/devStack";
import { plain } from "./support/secrets";

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const COMMAND = "command:remote:Command";

describe("readiness Command under mocks (dev stack)", function () {
    this.timeout(120000);
    const base = devStackWithSecrets();
    const runWith = async (overrides: Record<string, unknown> = {}): Promise<SimResult> => {
        const r = await simulate({ stack: "dev", config: { ...base.config, ...overrides }, secretKeys: base.secretKeys });
        if (r.error) throw r.error;
        return r;
    };
    const check = (r: SimResult): SimResource => {
        const c = byName(r, COMMAND, "readiness-check");
        return { ...c, inputs: plain(c.inputs) };
    };
    /** What decides whether the engine re-runs the Command: every input but the connection's key material. */
    const runInputs = (r: SimResult) => {
        const i = check(r).inputs as Props;
        return { create: i.create, stdin: i.stdin, triggers: i.triggers };
    };
    let dev: SimResult;
    before(async () => {
        dev = await runWith();
    });

    it("runs check-ready.sh as the login node's admin with sudo, with the cluster's partitions and its bound", () => {
        const i = check(dev).inputs as Props;
        assert.strictEqual(i.create, "sudo -n bash -s -- '--partitions' 'hpc,htc' '--timeout' '600'");
        assert.strictEqual(i.stdin, fs.readFileSync(READINESS_SCRIPT_PATH, "utf8"));
        assert.strictEqual(i.addPreviousOutputInEnv, false);
        assert.deepStrictEqual(expectedPartitions({ maxHpcNodes: 0, maxHtcNodes: 3 } as never), ["htc"]);
        assert.strictEqual(testJobPartition({ maxHpcNodes: 2, maxHtcNodes: 0 } as never), "hpc");
        // GPU and dynamic partitions exist only when asked for (azslurm comments out a partition without capacity).
        assert.deepStrictEqual(expectedPartitions({ maxHpcNodes: 0, maxHtcNodes: 3, maxGpuNodes: 2, maxDynamicCores: 0 } as never), ["htc", "gpu"]);
        assert.deepStrictEqual(expectedPartitions({ maxHpcNodes: 1, maxHtcNodes: 0, maxGpuNodes: 0, maxDynamicCores: 16 } as never), ["hpc", "dynamic"]);
        assert.strictEqual(testJobPartition({ maxHpcNodes: 0, maxHtcNodes: 0, maxGpuNodes: 1 } as never), "gpu");
    });

    it("depends on the seed and on the login node (VM and Entra extension), under a ReadinessCheck component", () => {
        const c = check(dev);
        const urnOf = (type: string, name: string) => byName(dev, type, name).urn;
        for (const [type, name] of [[COMMAND, "slurm-seed"], ["azure-native:compute:VirtualMachine", "login-vm"],
            ["azure-native:compute:VirtualMachineExtension", "login-aad-ssh"]]) {
            assert.ok(c.dependencies.includes(urnOf(type, name)), `readiness-check does not depend on ${name}`);
        }
        assert.strictEqual(dev.resources.find(x => x.urn === c.parent)?.type, "cyclecloud-slurm-entra:readiness:ReadinessCheck");
    });

    it("goes through the access path like every other Command: depends on the BastionHost (tunnel mode) and its jump host, the CycleCloud VM", async () => {
        const deps = check(dev).dependencies;
        assert.ok(deps.includes(byName(dev, "azure-native:network:BastionHost", "network-bastion").urn), "readiness-check does not depend on the BastionHost");
        assert.ok(deps.includes(byName(dev, "azure-native:compute:VirtualMachine", "cyclecloud-vm").urn), "readiness-check does not depend on its jump host");
        // Through a jump host Bastion is not on the path: the check does not wait for it (nor keep it on destroy).
        const proxy = await runWith({ [`${NS}bastionTunnelPort`]: undefined, [`${NS}sshProxyHost`]: "jump.example.com",
            [`${NS}sshProxyHostKey`]: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJumpHostKeyJumpHostKeyJumpHostKeyJumpHost",
            [`${NS}deploySourcePrefix`]: "10.60.0.5/32" });
        assert.ok(!check(proxy).dependencies.includes(byName(proxy, "azure-native:network:BastionHost", "network-bastion").urn), "readiness-check waits for Bastion in jump-host mode");
    });

    it("connects to the login node's private IP as its admin, through the tunnel's end and the CycleCloud VM like the scheduler", () => {
        const conn = (check(dev).inputs as Props).connection;
        const loginNic = byName(dev, "azure-native:network:NetworkInterface", "login-nic");
        assert.strictEqual(conn.host, (loginNic.outputs.ipConfigurations as Props[])[0].privateIPAddress);
        assert.strictEqual(conn.user, "azureadmin");
        assert.strictEqual(conn.privateKey.trim(), base.privateKey.trim());
        const seedConn = plain(byName(dev, COMMAND, "slurm-seed").inputs).connection;
        assert.deepStrictEqual(conn.proxy, seedConn.proxy, "the same jump as the scheduler's Commands");
        assert.deepStrictEqual([conn.proxy.host, conn.proxy.port, conn.proxy.user], ["127.0.0.1", 50022, "ccadmin"]);
    });

    it("its triggers carry the seed's run (ID, output digest), the cluster parameters' digest and the login VM's IDs", () => {
        const t = (check(dev).inputs as Props).triggers as string[];
        const seed = byName(dev, COMMAND, "slurm-seed");
        const vm = byName(dev, "azure-native:compute:VirtualMachine", "login-vm");
        assert.strictEqual(t.length, 5);
        assert.strictEqual(t[0], seed.id);
        assert.match(t[1], /^[0-9a-f]{64}$/);
        assert.match(t[2], /^[0-9a-f]{64}$/);
        assert.strictEqual(t[3], vm.id);
        assert.strictEqual(t[4], vm.outputs.vmId);
        assert.ok(t[4], "the login VM's vmId (new on replacement) is known");
    });

    it("a no-op run (same config) asks for exactly the same command, script and triggers: nothing re-runs", async () => {
        assert.deepStrictEqual(runInputs(await runWith()), runInputs(dev));
    });

    it("changes that cannot affect readiness (another user, tags) leave it alone", async () => {
        const users = base.config[`${NS}users`] as Props[];
        const more = await runWith({
            [`${NS}users`]: [...users, { ...users[1], name: "carol", uid: 10003, entra: "carol@contoso.com" }],
            [`${NS}tags`]: { environment: "dev", "cost-center": "other" },
        });
        assert.notDeepStrictEqual(plain(byName(more, COMMAND, "slurm-users").inputs).stdin, plain(byName(dev, COMMAND, "slurm-users").inputs).stdin,
            "the change did reach the program");
        assert.deepStrictEqual(runInputs(more), runInputs(dev));
    });

    it("a cluster parameter change (node count, machine type, Slurm version) changes its triggers", async () => {
        for (const [key, value] of [["maxHtcNodes", "9"], ["hpcVmSize", "Standard_HB176rs_v4"], ["slurmVersion", "25.11.6"]]) {
            const changed = runInputs(await runWith({ [`${NS}${key}`]: value }));
            assert.notDeepStrictEqual(changed.triggers, runInputs(dev).triggers, key);
            assert.strictEqual(changed.stdin, runInputs(dev).stdin, key);
        }
    });

    it("a partition appearing or going, the test job option and the bounds change its command line", async () => {
        const noHtc = runInputs(await runWith({ [`${NS}maxHtcNodes`]: "0" }));
        assert.strictEqual(noHtc.create, "sudo -n bash -s -- '--partitions' 'hpc' '--timeout' '600'");
        const job = runInputs(await runWith({ [`${NS}readinessTestJob`]: "true", [`${NS}readinessJobTimeoutSeconds`]: "900" }));
        assert.strictEqual(job.create, "sudo -n bash -s -- '--partitions' 'hpc,htc' '--timeout' '600' '--test-job' 'htc' '--job-timeout' '900'");
        assert.deepStrictEqual(job.triggers, runInputs(dev).triggers);
        const longer = runInputs(await runWith({ [`${NS}readinessTimeoutSeconds`]: "1200" }));
        assert.strictEqual(longer.create, "sudo -n bash -s -- '--partitions' 'hpc,htc' '--timeout' '1200'");
    });

    it("bad readiness config is reported by key before anything is registered", async () => {
        const r = await simulate({ stack: "dev", config: { ...base.config, [`${NS}readinessTimeoutSeconds`]: "5", [`${NS}readinessTestJob`]: "maybe" }, secretKeys: base.secretKeys });
        assert.ok(r.error, "no error");
        assert.match(r.error!.message, /readinessTimeoutSeconds: /);
        assert.match(r.error!.message, /readinessTestJob: /);
        assert.strictEqual(r.resources.length, 0);
    });

    it("signs in to the login node with loginAdminSshPrivateKey when the admins' keys differ, and asks for it by name when missing", async () => {
        const cc = throwawayKeyPair(), login = throwawayKeyPair();
        const problems = (values: Record<string, string>) =>
            secretProblems({ cyclecloudAdminPassword: "Simulated-Passw0rd!", adminSshPrivateKey: cc.privateKey, ...values }, cc.publicKey, false, login.publicKey);
        assert.deepStrictEqual(problems({}).map(p => p.split(":")[0]), ["loginAdminSshPrivateKey"]);
        assert.deepStrictEqual(problems({ loginAdminSshPrivateKey: login.privateKey }), []);
        assert.deepStrictEqual(problems({ loginAdminSshPrivateKey: cc.privateKey }), ["loginAdminSshPrivateKey: does not match loginAdminSshPublicKey"]);
        const r = await simulate({
            stack: "dev",
            config: { ...base.config, [`${NS}loginAdminSshPublicKey`]: login.publicKey, [`${NS}loginAdminSshPrivateKey`]: login.privateKey },
            secretKeys: [...base.secretKeys, `${NS}loginAdminSshPrivateKey`],
        });
        assert.ifError(r.error);
        const conn = (check(r).inputs as Props).connection;
        assert.strictEqual(conn.privateKey.trim(), login.privateKey.trim());
        assert.strictEqual(conn.proxy.privateKey.trim(), base.privateKey.trim(), "the jump still uses the CycleCloud admin's key");
        const rec = byName(r, COMMAND, "readiness-check");
        assert.ok(JSON.stringify(rec.redactedInputs).includes("[secret]") && !JSON.stringify(rec.redactedInputs).includes("PRIVATE KEY"));
    });

    it("the plan's critical path ends with the readiness check, and shows the optional test job as its own part", async () => {
        const off = estimate(buildModel(dev));
        const last = off.criticalPath[off.criticalPath.length - 1];
        assert.strictEqual(last.name, "readiness-check");
        // Tunnel mode (dev): the Commands run one at a time, so the accounts spec's run on the scheduler precedes the seed.
        assert.deepStrictEqual(off.criticalPath.slice(-4).map(p => p.name), ["slurm-scale", "slurm-accounts-scheduler", "slurm-seed", "readiness-check"]);
        assert.strictEqual(last.seconds, READINESS_CHECK_SECONDS);
        assert.match(last.source, /optional test job off \(readinessTestJob=true adds ~600 s\)/);
        const on = estimate(buildModel(await runWith({ [`${NS}readinessTestJob`]: "true" })));
        const lastOn = on.criticalPath[on.criticalPath.length - 1];
        assert.strictEqual(lastOn.seconds, READINESS_CHECK_SECONDS + READINESS_TEST_JOB_SECONDS);
        assert.deepStrictEqual(lastOn.parts!.map(p => p.seconds), [READINESS_CHECK_SECONDS, READINESS_TEST_JOB_SECONDS]);
        assert.match(lastOn.parts![1].label, /optional test job/);
        assert.strictEqual(on.totalSeconds, off.totalSeconds + READINESS_TEST_JOB_SECONDS);
    });
});
