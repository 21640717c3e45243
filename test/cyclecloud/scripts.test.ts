// Contract tests of our CycleCloud scripts (components/cyclecloud/*.sh), NOT tests of CycleCloud: each
// script runs for real in bash, the way it runs on the VM: the remote Command's own command line
// (`sudo -n bash -s -- args`, real sudo with RHEL 8's env_reset, always_set_home and
// secure_path=/sbin:/bin:/usr/sbin:/usr/bin) and its generated stdin, in a private mount namespace where
// the stand-in `cyclecloud` sits where the image installs it (/usr/local/bin, off secure_path) and root's
// home is the sandbox's. The stand-ins (test/cyclecloud/fakes: cyclecloud, cycle_server, curl, ssh-keyscan,
// az) implement the rows of docs/cli-behaviour.md, "exit 0 with Account not found" included, record every
// call and simulate the states the scripts must handle. What is proven: idempotency, bounded waits and
// retries, delete-after-terminate, no secret on any command line (every process's /proc/<pid>/cmdline is
// polled while the script runs), in the output or in a file left behind.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { clusterParameters, renderUserRecords } from "../../components/cyclecloud/cluster";
import { readScript, scriptCommand } from "../../components/cyclecloud/scripts";
import { PinnedNodeAccount } from "../../components/config";
import { requirePrereqs } from "../support/prereqs";
import { FAKES, PASSWORD, Sandbox } from "./sandbox";

const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdminKeyForContractTests00000000000000000 ccadmin";

const INIT_ARGS = ["ccadmin", "00000000-0000-4000-8000-000000000001", "westeurope", "rg-cluster", "cclocker0123",
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-locker"];
const INIT_ENV = { CC_ADMIN_PASSWORD: PASSWORD, CC_ADMIN_PUBLIC_KEY: ADMIN_KEY };

const mutating = (calls: string[]) => calls.filter(c =>
    /^cyclecloud (initialize|account create|create_cluster|import_cluster|start_cluster|terminate_cluster|delete_cluster)\b/.test(c) ||
    /^cycle_server run_action/.test(c));

const PARAMS = JSON.stringify(clusterParameters({
    region: "westeurope",
    computeSubnetId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/compute",
    schedulerVmSize: "Standard_D4ads_v5", hpcVmSize: "Standard_F2s_v2", htcVmSize: "Standard_F2s_v2",
    maxHpcNodes: 4, maxHtcNodes: 8, gpuVmSize: "Standard_NC24rs_v3", maxGpuNodes: 0, dynamicVmSize: "Standard_F2s_v2", maxDynamicCores: 0,
    nodeImage: "almalinux8", slurmVersion: "25.11.5",
    nfsAddress: "acct.file.core.windows.net", nfsExportPath: "/acct/shared", nfsMountOptions: "vers=4,minorversion=1,sec=sys",
}));

describe("contract tests of our CycleCloud scripts (stand-in cyclecloud/cycle_server, not CycleCloud)", function () {
    this.timeout(60000);
    before(function () {
        requirePrereqs(this, "CycleCloud script contract tests (sudo in a private mount namespace)",
            { root: true, commands: ["sudo", "unshare", "mount", "setsid", "shellcheck"] });
    });

    describe("init-server.sh", () => {
        it("initialises a fresh server: admin record, CLI, account with managed identity and locker, waits for the locker", async () => {
            const sb = new Sandbox();
            const r = await sb.run("init-server.sh", INIT_ARGS, INIT_ENV);
            assert.strictEqual(r.status, 0, r.stderr);
            // The CLI was found in /usr/local/bin although sudo's secure_path does not hold it, and the
            // password reached it on stdin: never in any process's arguments.
            assert.ok(r.calls.includes("cyclecloud initialize --force --url=https://localhost --verify-ssl=false --username=ccadmin"), r.calls.join("\n"));
            assert.deepStrictEqual(r.cmdlineLeaks, [], "the password was on a command line");
            const cli = path.join(sb.home, ".cycle", "config.ini");
            assert.strictEqual(fs.statSync(cli).mode & 0o777, 0o600);
            // `account show` exited 0 with "Account not found": the account was created all the same.
            assert.ok(r.calls.includes("cyclecloud account show azure"), r.calls.join("\n"));
            assert.ok(r.calls.some(c => c.startsWith("cyclecloud account create -f")), r.calls.join("\n"));
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
            // The record file (with the password) was private when CycleCloud read it, and is gone, as is the
            // script's temporary directory.
            assert.deepStrictEqual(sb.read("import_modes").trim().split("\n"), ["pulumi-admin.json 600 root"]);
            assert.deepStrictEqual(sb.leftovers(), []);
            assert.match(r.stdout, /^CYCLECLOUD_HOST_KEY=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIServerHostKey$/m);
        });

        it("is idempotent: a second run on an initialised server makes no change", async () => {
            const sb = new Sandbox();
            assert.strictEqual((await sb.run("init-server.sh", INIT_ARGS, INIT_ENV)).status, 0);
            const again = await sb.run("init-server.sh", INIT_ARGS, INIT_ENV);
            assert.strictEqual(again.status, 0, again.stderr);
            assert.deepStrictEqual(mutating(again.calls), []);
            assert.deepStrictEqual(fs.readdirSync(sb.data), [], "a record file was written again");
            assert.match(again.stdout, /admin user ccadmin: present, unchanged/);
            assert.match(again.stdout, /account azure: present, unchanged/);
        });

        it("never prints the password, even when cyclecloud initialize fails", async () => {
            const sb = new Sandbox();
            sb.set("fail_cyclecloud_initialize");
            const r = await sb.run("init-server.sh", INIT_ARGS, INIT_ENV);
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /cyclecloud initialize failed/);
            assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD), "the password reached the output");
            // It also is not on the command line the remote Command runs, nor on any process's.
            assert.ok(!scriptCommand(INIT_ARGS).includes(PASSWORD));
            assert.deepStrictEqual(r.cmdlineLeaks, []);
            assert.deepStrictEqual(sb.leftovers(), []);
        });

        it("fails clearly when the CLI is not where the image installs it (nor on PATH)", async () => {
            const sb = new Sandbox({ cli: false });
            const r = await sb.run("init-server.sh", INIT_ARGS, INIT_ENV);
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /the cyclecloud CLI is not installed in \/usr\/local\/bin, \/root\/bin or on PATH \(\/sbin:\/bin:\/usr\/sbin:\/usr\/bin\)/);
            assert.deepStrictEqual(sb.leftovers(), []);
        });

        it("initialises the CLI even where `account list` exits 0 before initialize ([unverified] either way)", async () => {
            const sb = new Sandbox();
            sb.set("list_exit0_uninitialised");
            const r = await sb.run("init-server.sh", INIT_ARGS, INIT_ENV);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.ok(r.calls.some(c => c.startsWith("cyclecloud initialize")), r.calls.join("\n"));
        });

        it("retries account creation while Azure refuses it (role assignments propagating), saying what it waits for", async () => {
            const sb = new Sandbox();
            sb.set("rbac_failures_account_create", "3");
            const r = await sb.run("init-server.sh", INIT_ARGS, INIT_ENV);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(r.calls.filter(c => c.startsWith("cyclecloud account create")).length, 4);
            assert.match(r.stdout, /creating the CycleCloud account azure \(waits for the server identity's new role assignments\): attempt 1 of 30 failed/);
            assert.match(r.stdout, /role assignments can take minutes/);
        });

        it("gives up on account creation after a bounded number of attempts", async () => {
            const sb = new Sandbox();
            sb.set("rbac_failures_account_create", "100");
            const r = await sb.run("init-server.sh", INIT_ARGS, INIT_ENV, { CC_RETRY_ATTEMPTS: "3" });
            assert.notStrictEqual(r.status, 0);
            assert.strictEqual(r.calls.filter(c => c.startsWith("cyclecloud account create")).length, 3);
            assert.match(r.stderr, /creating the CycleCloud account azure .*: still failing after 3 attempts/);
            assert.match(r.stderr, /AuthorizationFailed/);
        });

        it("removes the record file with the password when the import times out, and one an earlier run left", async () => {
            const sb = new Sandbox();
            sb.set("import_stalled");
            const r = await sb.run("init-server.sh", INIT_ARGS, INIT_ENV, { CC_WAIT_TIMEOUT: "1", CC_WAIT_INTERVAL: "0.1" });
            assert.notStrictEqual(r.status, 0);
            assert.match(sb.read("import_modes"), /^pulumi-admin\.json 600 root$/m);
            assert.deepStrictEqual(sb.leftovers(), [], "the record file with the password was left behind");
            // An initialised server, and a copy an interrupted earlier run left behind:
            sb.unset("import_stalled");
            assert.strictEqual((await sb.run("init-server.sh", INIT_ARGS, INIT_ENV)).status, 0);
            for (const f of ["pulumi-admin.json", "pulumi-admin.json.imported", "pulumi-admin.json.tmp"]) {
                fs.writeFileSync(path.join(sb.data, f), `[{"RawPassword": "${PASSWORD}"}]`);
            }
            const again = await sb.run("init-server.sh", INIT_ARGS, INIT_ENV);
            assert.strictEqual(again.status, 0, again.stderr);
            assert.match(again.stdout, /admin user ccadmin: present, unchanged/);
            assert.deepStrictEqual(sb.leftovers(), []);
        });

        it("asks CycleCloud to retry a locker in Error and then succeeds", async () => {
            const sb = new Sandbox();
            sb.set("locker_error");
            const r = await sb.run("init-server.sh", INIT_ARGS, INIT_ENV);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.ok(r.calls.some(c => c.startsWith("cycle_server run_action Retry:Cloud.Locker")), r.calls.join("\n"));
        });

        it("gives up waiting for the locker after CC_WAIT_TIMEOUT", async () => {
            const sb = new Sandbox();
            sb.set("locker_pending_polls", "100000");
            // Interval = timeout (1 s): wait_until's clock is bash's whole-second SECONDS, and after one `sleep 1` it has
            // moved on by at least 1, so the loop ends after the first or second poll however loaded the machine is.
            // Under the default timeout (900 s) it would poll for as long as the locker stays Pending (here: ever).
            const r = await sb.run("init-server.sh", INIT_ARGS, INIT_ENV, { CC_WAIT_TIMEOUT: "1", CC_WAIT_INTERVAL: "1" });
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /timed out after 1s waiting for locker azure-storage to be created/);
            const polls = r.calls.filter(c => c.startsWith("cycle_server execute") && c.includes("Cloud.Locker") && c.includes('State=="Created"')).length;
            assert.ok(polls >= 1 && polls <= 2, `${polls} locker polls:\n${r.calls.join("\n")}`);
        });

        it("gives up when CycleCloud never imports the admin record, and goes no further", async () => {
            const sb = new Sandbox();
            sb.set("import_stalled");
            const r = await sb.run("init-server.sh", INIT_ARGS, INIT_ENV, { CC_WAIT_TIMEOUT: "1", CC_WAIT_INTERVAL: "0.1" });
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /timed out after 1s waiting for CycleCloud to import the admin user record/);
            assert.ok(!r.calls.some(c => c.startsWith("cyclecloud initialize")), "went on without an admin user");
        });

        it("gives up when cycle_server never starts", async () => {
            const sb = new Sandbox();
            sb.set("server_down");
            const r = await sb.run("init-server.sh", INIT_ARGS, INIT_ENV, { CC_WAIT_TIMEOUT: "1", CC_WAIT_INTERVAL: "0.1" });
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /timed out after 1s waiting for cycle_server to start/);
        });
    });

    describe("cluster.sh", () => {
        const TEMPLATE = path.join("work", "staging", "projects", "slurm", "4.0.9", "templates", "slurm.txt");
        const apply = (sb: Sandbox, params = PARAMS, extra: Record<string, string> = {}) => {
            if (!fs.existsSync(path.join(sb.templateRoot, TEMPLATE))) {
                sb.withInitialisedCli();
                fs.mkdirSync(path.dirname(path.join(sb.templateRoot, TEMPLATE)), { recursive: true });
                fs.writeFileSync(path.join(sb.templateRoot, TEMPLATE), "[cluster Slurm]\n    FormLayout = selectionpanel\n");
            }
            return sb.run("cluster.sh", ["apply", "slurm-dev", "slurm-dev"], { CC_CLUSTER_PARAMS: params },
                { CC_TEMPLATE_ROOT: sb.templateRoot, ...extra });
        };

        it("creates the absent cluster from the built-in template, starts it and reports the scheduler", async () => {
            const sb = new Sandbox();
            const r = await apply(sb);
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

        it("is idempotent: unchanged parameters on a started cluster change nothing", async () => {
            const sb = new Sandbox();
            assert.strictEqual((await apply(sb)).status, 0);
            const again = await apply(sb);
            assert.strictEqual(again.status, 0, again.stderr);
            assert.deepStrictEqual(mutating(again.calls), []);
            assert.match(again.stdout, /^CLUSTER_CHANGE=unchanged$/m);
        });

        it("re-imports with --force when the parameters change", async () => {
            const sb = new Sandbox();
            assert.strictEqual((await apply(sb)).status, 0);
            const changed = JSON.stringify({ ...JSON.parse(PARAMS), MaxHPCExecuteNodeCount: 32 });
            const r = await apply(sb, changed);
            assert.strictEqual(r.status, 0, r.stderr);
            const changes = mutating(r.calls);
            assert.strictEqual(changes.length, 1, r.calls.join("\n") + r.stdout + r.stderr);
            // cyclecloud-slurm's documented way for a live cluster: import_cluster <name> -c <template> -f <file> -p <params> --force
            assert.strictEqual(changes[0].replace(/ -p \S+/, " -p PARAMS"),
                `cyclecloud import_cluster slurm-dev -c Slurm -f ${path.join(sb.templateRoot, TEMPLATE)} -p PARAMS --force`);
            assert.strictEqual(JSON.parse(sb.read("params_slurm-dev.json")).MaxHPCExecuteNodeCount, 32);
            assert.match(r.stdout, /^CLUSTER_CHANGE=updated$/m);
        });

        it("a parameter change fails clearly (and changes nothing) when the Slurm project's template file is not found", async () => {
            const sb = new Sandbox();
            assert.strictEqual((await apply(sb)).status, 0);
            const empty = fs.mkdtempSync(path.join(sb.dir, "no-template-"));
            const r = await apply(sb, JSON.stringify({ ...JSON.parse(PARAMS), MaxHPCExecuteNodeCount: 32 }), { CC_TEMPLATE_ROOT: empty });
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /cannot find the Slurm project's templates\/slurm\.txt/);
            assert.deepStrictEqual(mutating(r.calls), []);
        });

        it("retries starting the cluster while Azure refuses it (role assignments propagating)", async () => {
            const sb = new Sandbox();
            sb.set("rbac_failures_start_cluster", "2");
            const r = await apply(sb);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(r.calls.filter(c => c.startsWith("cyclecloud start_cluster")).length, 3);
            assert.match(r.stdout, /starting cluster slurm-dev \(needs CycleCloud's new role assignments in Azure\): attempt 1 of 30 failed/);
        });

        it("creates the cluster also where show_cluster exits 0 for an unknown cluster ([unverified] either way)", async () => {
            const sb = new Sandbox();
            sb.set("show_cluster_exit0");
            const r = await apply(sb);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(mutating(r.calls).map(c => c.split(" ")[1]), ["create_cluster", "start_cluster"]);
        });

        it("starts a present but stopped cluster without re-creating it", async () => {
            const sb = new Sandbox();
            assert.strictEqual((await apply(sb)).status, 0);
            sb.unset("started_slurm-dev");
            const r = await apply(sb);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(mutating(r.calls).map(c => c.split(" ")[1]), ["start_cluster"]);
        });

        it("gives up waiting for the scheduler after CC_WAIT_TIMEOUT", async () => {
            const sb = new Sandbox();
            sb.set("sched_ready_polls", "100000");
            // As for the locker: interval = timeout = 1 s bounds the wait loop to one or two polls, plus the one check
            // before the cluster is started.
            const r = await apply(sb, PARAMS, { CC_WAIT_TIMEOUT: "1", CC_WAIT_INTERVAL: "1" });
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /timed out after 1s waiting for the scheduler of slurm-dev to be Ready/);
            const polls = r.calls.filter(c => c.startsWith("cyclecloud show_nodes")).length;
            assert.ok(polls >= 2 && polls <= 3, `${polls} scheduler polls:\n${r.calls.join("\n")}`);
        });

        it("asks CycleCloud to retry a failed scheduler (role assignments propagating), then fails after a bound", async () => {
            const sb = new Sandbox();
            sb.set("sched_failed");
            // A wait bound no test run reaches: only the retry bound can end this. Polls: the check before start_cluster,
            // then in the wait loop three that each see Failed and retry, and a fourth that gives up.
            const r = await apply(sb, PARAMS, { CC_WAIT_TIMEOUT: "100000" });
            assert.notStrictEqual(r.status, 0);
            assert.strictEqual(r.calls.filter(c => c === "cyclecloud retry slurm-dev").length, 3);
            assert.match(r.stderr, /the scheduler node failed to start \(retried 3 times\)/);
            assert.doesNotMatch(r.stderr, /timed out after/);
            assert.strictEqual(r.calls.filter(c => c.startsWith("cyclecloud show_nodes")).length, 5, r.calls.join("\n"));
            const recovers = new Sandbox();
            recovers.set("sched_failed", "1");
            const ok = await apply(recovers);
            assert.strictEqual(ok.status, 0, ok.stderr);
            assert.match(ok.stdout, /the scheduler node failed \(Azure may not honour CycleCloud's new role assignments yet\): cyclecloud retry slurm-dev \(1 of 3\)/);
        });

        it("fails when create_cluster fails, and reports no scheduler", async () => {
            const sb = new Sandbox();
            sb.set("fail_cyclecloud_create_cluster");
            const r = await apply(sb);
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /create_cluster failed/);
            assert.doesNotMatch(r.stdout, /SCHEDULER_IP=/);
            assert.ok(!r.calls.some(c => c.startsWith("cyclecloud start_cluster")));
        });

        it("delete terminates the cluster, waits until every node is off, and only then deletes it", async () => {
            const sb = new Sandbox();
            assert.strictEqual((await apply(sb)).status, 0);
            sb.set("term_polls", "3");
            const r = await sb.run("cluster.sh", ["delete", "slurm-dev"], { CC_CLUSTER_PARAMS: PARAMS });
            assert.strictEqual(r.status, 0, r.stderr);
            const terminate = r.calls.findIndex(c => c.startsWith("cyclecloud terminate_cluster slurm-dev"));
            const del = r.calls.findIndex(c => c.startsWith("cyclecloud delete_cluster slurm-dev"));
            const polls = r.calls.map((c, i) => [c, i] as const).filter(([c]) => c.startsWith("cyclecloud show_nodes")).map(([, i]) => i);
            assert.ok(terminate >= 0 && del > terminate, r.calls.join("\n"));
            assert.ok(polls.filter(i => i > terminate && i < del).length >= 4, "did not wait for the nodes between terminate and delete");
            assert.ok(!sb.has("cluster_slurm-dev"));
        });

        it("delete of an absent cluster succeeds and calls nothing that changes", async () => {
            const sb = new Sandbox();
            const r = await sb.withInitialisedCli().run("cluster.sh", ["delete", "slurm-dev"], { CC_CLUSTER_PARAMS: PARAMS });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(mutating(r.calls), []);
        });

        it("delete gives up (and does not delete) when the nodes never go off", async () => {
            const sb = new Sandbox();
            assert.strictEqual((await apply(sb)).status, 0);
            sb.set("term_polls", "100000");
            const r = await sb.run("cluster.sh", ["delete", "slurm-dev"], { CC_CLUSTER_PARAMS: PARAMS }, { CC_WAIT_TIMEOUT: "1", CC_WAIT_INTERVAL: "0.1" });
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /timed out after 1s waiting for every node of slurm-dev to be off/);
            assert.ok(!r.calls.some(c => c.startsWith("cyclecloud delete_cluster")));
        });
    });

    describe("users.sh", () => {
        const alice: PinnedNodeAccount = { name: "alice", uid: 10001, sshPublicKey: "ssh-ed25519 AAAAalice alice@x", entra: "alice@contoso.com", admin: true };
        const bob: PinnedNodeAccount = { name: "bob", uid: 10002, sshPublicKey: "ssh-ed25519 AAAAbob bob@x", entra: "bob@contoso.com", admin: false };
        const env = (users: PinnedNodeAccount[]) => ({ CC_USER_RECORDS: renderUserRecords(users), CC_MANAGED_USERS: users.map(u => u.name).join(" ") });

        it("imports the records of the configured users once; a second run imports nothing", async () => {
            const sb = new Sandbox();
            const first = await sb.run("users.sh", [], env([alice, bob]));
            assert.strictEqual(first.status, 0, first.stderr);
            const records = sb.read("records.log");
            assert.match(records, /Name = "alice"\nAuthentication = "internal"\nRoles = \{"User", "Global Node Admin"\}\nUID = 10001/);
            assert.match(records, /Name = "bob"\nAuthentication = "internal"\nRoles = \{"User", "Global Node User"\}\nUID = 10002/);
            assert.match(records, /PublicKey = "ssh-ed25519 AAAAbob bob@x"/);
            const size = records.length;
            const again = await sb.run("users.sh", [], env([alice, bob]));
            assert.strictEqual(again.status, 0, again.stderr);
            assert.strictEqual(sb.read("records.log").length, size, "records were imported again");
            assert.match(again.stdout, /users unchanged: alice bob/);
        });

        it("takes node access away from a user removed from config", async () => {
            const sb = new Sandbox();
            assert.strictEqual((await sb.run("users.sh", [], env([alice, bob]))).status, 0);
            const r = await sb.run("users.sh", [], env([alice]));
            assert.strictEqual(r.status, 0, r.stderr);
            assert.match(sb.read("records.log"), /Name = "bob"\nRoles = \{"User"\}\nNodeAccessDisabled = true/);
            assert.match(r.stdout, /node access removed: bob/);
        });

        it("gives up when the records are never imported", async () => {
            const sb = new Sandbox();
            sb.set("import_stalled");
            const r = await sb.run("users.sh", [], env([alice]), { CC_WAIT_TIMEOUT: "1", CC_WAIT_INTERVAL: "0.1" });
            assert.notStrictEqual(r.status, 0);
            assert.match(r.stderr, /timed out after 1s waiting for CycleCloud to import the user records/);
            assert.ok(!fs.existsSync(path.join(sb.ccState, "users.sha256")), "recorded as applied although it was not");
        });
    });

    describe("accept-terms.sh and apply-config.sh", () => {
        it("accepts only terms not yet accepted", async () => {
            const sb = new Sandbox();
            sb.set("accepted", "almalinux:almalinux-hpc:8_10-hpc-gen2:latest\n");
            const urns = ["azurecyclecloud:azure-cyclecloud:cyclecloud8-gen2:8.9.120260630", "almalinux:almalinux-hpc:8_10-hpc-gen2:latest"];
            const r = sb.runLocal("accept-terms.sh", urns);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(r.calls.filter(c => c.startsWith("az vm image terms accept")),
                ["az vm image terms accept --urn azurecyclecloud:azure-cyclecloud:cyclecloud8-gen2:8.9.120260630 --output none"]);
        });

        /** A scheduler: azslurm where cyclecloud-slurm puts it (/root/bin), slurmctld reporting `version`. */
        const scheduler = (version: string, withAzslurm = true) => {
            const sb = new Sandbox({ cli: false });
            if (withAzslurm) {
                fs.mkdirSync(path.join(sb.home, "bin"));
                fs.writeFileSync(path.join(sb.home, "bin", "azslurm"), `#!/bin/sh\necho "azslurm $*" >>"${sb.state}/calls.log"\n`, { mode: 0o755 });
            }
            const slurmctld = path.join(sb.dir, "slurmctld");
            fs.writeFileSync(slurmctld, `#!/bin/sh\n[ "$1" = -V ] && echo "slurm ${version}"\n`, { mode: 0o755 });
            if (fs.existsSync("/usr/sbin/slurmctld")) sb.binds.push([slurmctld, "/usr/sbin/slurmctld"]);
            const overrides: Record<string, string> = fs.existsSync("/usr/sbin/slurmctld") ? {} : { SLURMCTLD: slurmctld };
            return { sb, overrides };
        };

        it("apply-config.sh checks the scheduler's Slurm release, then runs azslurm scale (found off secure_path)", async () => {
            const { sb, overrides } = scheduler("25.11.5");
            const ok = await sb.run("apply-config.sh", ["25.11.5"], {}, overrides, false);
            assert.strictEqual(ok.status, 0, ok.stderr);
            assert.deepStrictEqual(ok.calls, ["azslurm scale"]);
            assert.match(ok.stdout, /scheduler runs Slurm 25\.11\.5, as pinned/);
        });

        it("apply-config.sh fails before anything is seeded when the cluster runs another Slurm than slurmVersion", async () => {
            const { sb, overrides } = scheduler("25.05.5");
            const r = await sb.run("apply-config.sh", ["25.11.5"], {}, overrides, false);
            assert.strictEqual(r.status, 1);
            assert.match(r.stderr, /the cluster's scheduler runs Slurm 25\.05\.5 but the stack pins slurmVersion=25\.11\.5/);
            assert.match(r.stderr, /pulumi config set slurmVersion 25\.05\.5/);
            assert.deepStrictEqual(r.calls, [], "azslurm ran despite the mismatch");
        });

        it("apply-config.sh fails when azslurm is missing", async () => {
            const { sb, overrides } = scheduler("25.11.5", false);
            const missing = await sb.run("apply-config.sh", ["25.11.5"], {}, overrides, false);
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
