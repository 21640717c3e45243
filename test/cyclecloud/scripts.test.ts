// Contract tests of our CycleCloud scripts (components/cyclecloud/*.sh), NOT tests of CycleCloud: each
// script runs for real in bash, exactly as the remote Command sends it (`bash -s -- args` with the
// generated stdin), against stand-in `cyclecloud`, `cycle_server`, `ssh-keyscan`, `curl` and `az`
// executables (test/cyclecloud/fakes) that record every call and simulate the states the scripts must
// handle: nothing initialised, initialised; cluster absent, present, started; locker pending, in error,
// created; failing calls. What is proven: idempotency, bounded waits, delete-after-terminate, no secret in
// the output.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { clusterParameters, renderUserRecords } from "../../components/cyclecloud/cluster";
import { readScript, scriptCommand, scriptStdin, ScriptName } from "../../components/cyclecloud/scripts";
import { PinnedNodeAccount } from "../../components/config";

const FAKES = path.join(__dirname, "fakes");
const PASSWORD = "Contract-Test-Passw0rd!";
const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdminKeyForContractTests00000000000000000 ccadmin";

interface Run { status: number | null; stdout: string; stderr: string; calls: string[]; seconds: number }

class Sandbox {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "cc-contract-"));
    readonly state = path.join(this.dir, "state");
    readonly data = path.join(this.dir, "data");
    readonly ccState = path.join(this.dir, "pulumi-state");
    private callsSeen = 0;
    constructor() {
        fs.mkdirSync(this.state);
        fs.mkdirSync(this.data);
        fs.writeFileSync(path.join(this.dir, "host_key.pub"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIServerHostKey root@cc\n");
    }
    set(file: string, content = ""): void { fs.writeFileSync(path.join(this.state, file), content); }
    unset(file: string): void { fs.rmSync(path.join(this.state, file), { force: true }); }
    has(file: string): boolean { return fs.existsSync(path.join(this.state, file)); }
    read(file: string): string { return fs.readFileSync(path.join(this.state, file), "utf8"); }

    run(script: ScriptName, args: string[], env: Record<string, string> = {}, extraEnv: Record<string, string> = {},
        withLib = true): Run {
        const started = process.hrtime.bigint();
        const r = spawnSync("bash", ["-c", scriptCommand(args, { sudo: false })], {
            input: scriptStdin(script, env, { withLib }),
            encoding: "utf8",
            timeout: 30000,
            env: {
                PATH: `${FAKES}:${process.env.PATH}`,
                HOME: this.dir,
                FAKE_STATE: this.state,
                CC_DATA_DIR: this.data,
                CC_STATE_DIR: this.ccState,
                CYCLE_SERVER: path.join(FAKES, "cycle_server"),
                SSH_HOST_KEY_FILE: path.join(this.dir, "host_key.pub"),
                CC_CYCLE_SERVER_USER: "no-such-user-here",
                CC_WAIT_TIMEOUT: "10",
                CC_WAIT_INTERVAL: "0.05",
                ...extraEnv,
            },
        });
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const log = fs.existsSync(path.join(this.state, "calls.log")) ? this.read("calls.log").split("\n").filter(Boolean) : [];
        const calls = log.slice(this.callsSeen);
        this.callsSeen = log.length;
        return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls, seconds };
    }
}

const INIT_ARGS = ["ccadmin", "00000000-0000-4000-8000-000000000001", "westeurope", "rg-cluster", "cclocker0123",
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-locker"];
const INIT_ENV = { CC_ADMIN_PASSWORD: PASSWORD, CC_ADMIN_PUBLIC_KEY: ADMIN_KEY };

const mutating = (calls: string[]) => calls.filter(c =>
    /^cyclecloud (initialize|account create|create_cluster|start_cluster|terminate_cluster|delete_cluster)\b/.test(c) ||
    /^cycle_server run_action/.test(c));

const PARAMS = JSON.stringify(clusterParameters({
    region: "westeurope",
    computeSubnetId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/compute",
    schedulerVmSize: "Standard_D4ads_v5", hpcVmSize: "Standard_F2s_v2", htcVmSize: "Standard_F2s_v2",
    maxHpcNodes: 4, maxHtcNodes: 8, nodeImage: "almalinux8", slurmVersion: "25.11.5",
    nfsAddress: "acct.file.core.windows.net", nfsExportPath: "/acct/shared", nfsMountOptions: "vers=4,minorversion=1,sec=sys",
}));

describe("contract tests of our CycleCloud scripts (stand-in cyclecloud/cycle_server, not CycleCloud)", function () {
    this.timeout(60000);

    describe("init-server.sh", () => {
        it("initialises a fresh server: admin record, CLI, account with managed identity and locker, waits for the locker", () => {
            const sb = new Sandbox();
            const r = sb.run("init-server.sh", INIT_ARGS, INIT_ENV);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.ok(r.calls.some(c => c.startsWith("cyclecloud initialize --batch --force")), r.calls.join("\n"));
            assert.ok(r.calls.some(c => c.startsWith("cyclecloud account create -f")));
            const account = JSON.parse(sb.read("account.json"));
            assert.strictEqual(account.AzureRMUseManagedIdentity, true);
            assert.strictEqual(account.AzureResourceGroup, "rg-cluster");
            assert.strictEqual(account.RMStorageAccount, "cclocker0123");
            assert.strictEqual(account.LockerAuthMode, "ManagedIdentity");
            assert.strictEqual(account.LockerIdentity, INIT_ARGS[5]);
            // The locker was Pending at the first poll and polled again until Created.
            assert.ok(Number(sb.read("locker_polls")) >= 2, "the locker was not waited for");
            const records = sb.read("records.log");
            assert.match(records, /"AdType": "AuthenticatedUser"/);
            assert.match(records, /"Superuser": true/);
            assert.ok(records.includes(ADMIN_KEY), "the admin's public key credential is missing");
            // The imported record file (with the password) is gone from the data directory.
            assert.deepStrictEqual(fs.readdirSync(sb.data), []);
            assert.match(r.stdout, /^CYCLECLOUD_HOST_KEY=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIServerHostKey$/m);
        });

        it("is idempotent: a second run on an initialised server makes no change", () => {
            const sb = new Sandbox();
            assert.strictEqual(sb.run("init-server.sh", INIT_ARGS, INIT_ENV).status, 0);
            const again = sb.run("init-server.sh", INIT_ARGS, INIT_ENV);
            assert.strictEqual(again.status, 0, again.stderr);
            assert.deepStrictEqual(mutating(again.calls), []);
            assert.deepStrictEqual(fs.readdirSync(sb.data), [], "a record file was written again");
            assert.match(again.stdout, /admin user ccadmin: present, unchanged/);
            assert.match(again.stdout, /account azure: present, unchanged/);
        });

        it("never prints the password, even when cyclecloud initialize fails", () => {
            const sb = new Sandbox();
            sb.set("fail_cyclecloud_initialize");
            const r = sb.run("init-server.sh", INIT_ARGS, INIT_ENV);
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /cyclecloud initialize failed/);
            assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD), "the password reached the output");
            // It also is not on the command line the remote Command runs.
            assert.ok(!scriptCommand(INIT_ARGS).includes(PASSWORD));
        });

        it("asks CycleCloud to retry a locker in Error and then succeeds", () => {
            const sb = new Sandbox();
            sb.set("locker_error");
            const r = sb.run("init-server.sh", INIT_ARGS, INIT_ENV);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.ok(r.calls.some(c => c.startsWith("cycle_server run_action Retry:Cloud.Locker")), r.calls.join("\n"));
        });

        it("gives up waiting for the locker after CC_WAIT_TIMEOUT", () => {
            const sb = new Sandbox();
            sb.set("locker_pending_polls", "100000");
            const r = sb.run("init-server.sh", INIT_ARGS, INIT_ENV, { CC_WAIT_TIMEOUT: "1", CC_WAIT_INTERVAL: "0.1" });
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /timed out after 1s waiting for locker azure-storage to be created/);
            assert.ok(r.seconds < 8, `took ${r.seconds}s`);
        });

        it("gives up when CycleCloud never imports the admin record, and goes no further", () => {
            const sb = new Sandbox();
            sb.set("import_stalled");
            const r = sb.run("init-server.sh", INIT_ARGS, INIT_ENV, { CC_WAIT_TIMEOUT: "1", CC_WAIT_INTERVAL: "0.1" });
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /timed out after 1s waiting for CycleCloud to import the admin user record/);
            assert.ok(!r.calls.some(c => c.startsWith("cyclecloud initialize")), "went on without an admin user");
        });

        it("gives up when cycle_server never starts", () => {
            const sb = new Sandbox();
            sb.set("server_down");
            const r = sb.run("init-server.sh", INIT_ARGS, INIT_ENV, { CC_WAIT_TIMEOUT: "1", CC_WAIT_INTERVAL: "0.1" });
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /timed out after 1s waiting for cycle_server to start/);
        });
    });

    describe("cluster.sh", () => {
        const apply = (sb: Sandbox, params = PARAMS, extra: Record<string, string> = {}) =>
            sb.run("cluster.sh", ["apply", "slurm-dev", "slurm-dev"], { CC_CLUSTER_PARAMS: params }, extra);

        it("creates the absent cluster from the built-in template, starts it and reports the scheduler", () => {
            const sb = new Sandbox();
            const r = apply(sb);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(sb.read("template_slurm-dev").trim(), "slurm_template_4.0.9");
            assert.deepStrictEqual(JSON.parse(sb.read("params_slurm-dev.json")), JSON.parse(PARAMS));
            const order = mutating(r.calls).map(c => c.split(" ")[1]);
            assert.deepStrictEqual(order, ["create_cluster", "start_cluster"]);
            assert.match(r.stdout, /^SCHEDULER_IP=10\.40\.16\.4$/m);
            assert.match(r.stdout, /^CLUSTER_CONFIG_DIR=slurm-dev$/m);
            assert.match(r.stdout, /^SCHEDULER_HOST_KEY=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeSchedulerHostKey/m);
            assert.match(r.stdout, /^CLUSTER_CHANGE=created$/m);
        });

        it("is idempotent: unchanged parameters on a started cluster change nothing", () => {
            const sb = new Sandbox();
            assert.strictEqual(apply(sb).status, 0);
            const again = apply(sb);
            assert.strictEqual(again.status, 0, again.stderr);
            assert.deepStrictEqual(mutating(again.calls), []);
            assert.match(again.stdout, /^CLUSTER_CHANGE=unchanged$/m);
        });

        it("re-imports with --force when the parameters change", () => {
            const sb = new Sandbox();
            assert.strictEqual(apply(sb).status, 0);
            const changed = JSON.stringify({ ...JSON.parse(PARAMS), MaxHPCExecuteNodeCount: 32 });
            const r = apply(sb, changed);
            assert.strictEqual(r.status, 0, r.stderr);
            const changes = mutating(r.calls);
            assert.strictEqual(changes.length, 1, changes.join("\n"));
            assert.match(changes[0], /^cyclecloud create_cluster slurm_template_4\.0\.9 slurm-dev -p \S+ --force$/);
            assert.strictEqual(JSON.parse(sb.read("params_slurm-dev.json")).MaxHPCExecuteNodeCount, 32);
            assert.match(r.stdout, /^CLUSTER_CHANGE=updated$/m);
        });

        it("starts a present but stopped cluster without re-creating it", () => {
            const sb = new Sandbox();
            assert.strictEqual(apply(sb).status, 0);
            sb.unset("started_slurm-dev");
            const r = apply(sb);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(mutating(r.calls).map(c => c.split(" ")[1]), ["start_cluster"]);
        });

        it("gives up waiting for the scheduler after CC_WAIT_TIMEOUT", () => {
            const sb = new Sandbox();
            sb.set("sched_ready_polls", "100000");
            const r = apply(sb, PARAMS, { CC_WAIT_TIMEOUT: "1", CC_WAIT_INTERVAL: "0.1" });
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /timed out after 1s waiting for the scheduler of slurm-dev to be Ready/);
            assert.ok(r.seconds < 8, `took ${r.seconds}s`);
        });

        it("fails fast when the scheduler node fails", () => {
            const sb = new Sandbox();
            sb.set("sched_failed");
            const r = apply(sb, PARAMS, { CC_WAIT_TIMEOUT: "20" });
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /the scheduler node failed to start/);
            assert.ok(r.seconds < 8, `took ${r.seconds}s`);
        });

        it("fails when create_cluster fails, and reports no scheduler", () => {
            const sb = new Sandbox();
            sb.set("fail_cyclecloud_create_cluster");
            const r = apply(sb);
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /create_cluster failed/);
            assert.doesNotMatch(r.stdout, /SCHEDULER_IP=/);
            assert.ok(!r.calls.some(c => c.startsWith("cyclecloud start_cluster")));
        });

        it("delete terminates the cluster, waits until every node is off, and only then deletes it", () => {
            const sb = new Sandbox();
            assert.strictEqual(apply(sb).status, 0);
            sb.set("term_polls", "3");
            const r = sb.run("cluster.sh", ["delete", "slurm-dev"], { CC_CLUSTER_PARAMS: PARAMS });
            assert.strictEqual(r.status, 0, r.stderr);
            const terminate = r.calls.findIndex(c => c.startsWith("cyclecloud terminate_cluster slurm-dev"));
            const del = r.calls.findIndex(c => c.startsWith("cyclecloud delete_cluster slurm-dev"));
            const polls = r.calls.map((c, i) => [c, i] as const).filter(([c]) => c.startsWith("cyclecloud show_nodes")).map(([, i]) => i);
            assert.ok(terminate >= 0 && del > terminate, r.calls.join("\n"));
            assert.ok(polls.filter(i => i > terminate && i < del).length >= 4, "did not wait for the nodes between terminate and delete");
            assert.ok(!sb.has("cluster_slurm-dev"));
        });

        it("delete of an absent cluster succeeds and calls nothing that changes", () => {
            const sb = new Sandbox();
            const r = sb.run("cluster.sh", ["delete", "slurm-dev"], { CC_CLUSTER_PARAMS: PARAMS });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(mutating(r.calls), []);
        });

        it("delete gives up (and does not delete) when the nodes never go off", () => {
            const sb = new Sandbox();
            assert.strictEqual(apply(sb).status, 0);
            sb.set("term_polls", "100000");
            const r = sb.run("cluster.sh", ["delete", "slurm-dev"], { CC_CLUSTER_PARAMS: PARAMS }, { CC_WAIT_TIMEOUT: "1", CC_WAIT_INTERVAL: "0.1" });
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /timed out after 1s waiting for every node of slurm-dev to be off/);
            assert.ok(!r.calls.some(c => c.startsWith("cyclecloud delete_cluster")));
        });
    });

    describe("users.sh", () => {
        const alice: PinnedNodeAccount = { name: "alice", uid: 10001, sshPublicKey: "ssh-ed25519 AAAAalice alice@x", entra: "alice@contoso.com", admin: true };
        const bob: PinnedNodeAccount = { name: "bob", uid: 10002, sshPublicKey: "ssh-ed25519 AAAAbob bob@x", entra: "bob@contoso.com", admin: false };
        const env = (users: PinnedNodeAccount[]) => ({ CC_USER_RECORDS: renderUserRecords(users), CC_MANAGED_USERS: users.map(u => u.name).join(" ") });

        it("imports the records of the configured users once; a second run imports nothing", () => {
            const sb = new Sandbox();
            const first = sb.run("users.sh", [], env([alice, bob]));
            assert.strictEqual(first.status, 0, first.stderr);
            const records = sb.read("records.log");
            assert.match(records, /Name = "alice"\nAuthentication = "internal"\nRoles = \{"User", "Global Node Admin"\}\nUID = 10001/);
            assert.match(records, /Name = "bob"\nAuthentication = "internal"\nRoles = \{"User", "Global Node User"\}\nUID = 10002/);
            assert.match(records, /PublicKey = "ssh-ed25519 AAAAbob bob@x"/);
            const size = records.length;
            const again = sb.run("users.sh", [], env([alice, bob]));
            assert.strictEqual(again.status, 0, again.stderr);
            assert.strictEqual(sb.read("records.log").length, size, "records were imported again");
            assert.match(again.stdout, /users unchanged: alice bob/);
        });

        it("takes node access away from a user removed from config", () => {
            const sb = new Sandbox();
            assert.strictEqual(sb.run("users.sh", [], env([alice, bob])).status, 0);
            const r = sb.run("users.sh", [], env([alice]));
            assert.strictEqual(r.status, 0, r.stderr);
            assert.match(sb.read("records.log"), /Name = "bob"\nRoles = \{"User"\}\nNodeAccessDisabled = true/);
            assert.match(r.stdout, /node access removed: bob/);
        });

        it("gives up when the records are never imported", () => {
            const sb = new Sandbox();
            sb.set("import_stalled");
            const r = sb.run("users.sh", [], env([alice]), { CC_WAIT_TIMEOUT: "1", CC_WAIT_INTERVAL: "0.1" });
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /timed out after 1s waiting for CycleCloud to import the user records/);
            assert.ok(!fs.existsSync(path.join(sb.ccState, "users.sha256")), "recorded as applied although it was not");
        });
    });

    describe("accept-terms.sh and apply-config.sh", () => {
        it("accepts only terms not yet accepted", () => {
            const sb = new Sandbox();
            sb.set("accepted", "almalinux:almalinux-hpc:8_10-hpc-gen2:latest\n");
            const urns = ["azurecyclecloud:azure-cyclecloud:cyclecloud8-gen2:8.9.120260630", "almalinux:almalinux-hpc:8_10-hpc-gen2:latest"];
            const r = sb.run("accept-terms.sh", urns, {}, {}, false);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(r.calls.filter(c => c.startsWith("az vm image terms accept")),
                ["az vm image terms accept --urn azurecyclecloud:azure-cyclecloud:cyclecloud8-gen2:8.9.120260630 --output none"]);
        });

        it("apply-config.sh runs azslurm scale and fails when azslurm is missing", () => {
            const sb = new Sandbox();
            const azslurm = path.join(sb.dir, "azslurm");
            fs.writeFileSync(azslurm, `#!/bin/sh\necho "azslurm $*" >>"${sb.state}/calls.log"\n`, { mode: 0o755 });
            const ok = sb.run("apply-config.sh", [], {}, { AZSLURM: azslurm }, false);
            assert.strictEqual(ok.status, 0, ok.stderr);
            assert.deepStrictEqual(ok.calls, ["azslurm scale"]);
            const missing = sb.run("apply-config.sh", [], {}, { PATH: `${FAKES}:/usr/bin:/bin` }, false);
            assert.notStrictEqual(missing.status, 0);
            assert.match(missing.stderr, /azslurm not found/);
        });
    });

    it("every script is shellcheck-clean", function () {
        const probe = spawnSync("shellcheck", ["--version"]);
        if (probe.error) this.skip();
        const dir = path.join(__dirname, "..", "..", "components", "cyclecloud");
        const files = fs.readdirSync(dir).filter(f => f.endsWith(".sh")).map(f => path.join(dir, f));
        const fakes = fs.readdirSync(FAKES).map(f => path.join(FAKES, f));
        const r = spawnSync("shellcheck", ["-x", ...files, ...fakes], { encoding: "utf8", cwd: dir });
        assert.strictEqual(r.status, 0, r.stdout + r.stderr);
        assert.ok(readScript("lib.sh").includes("wait_until"));
    });
});
