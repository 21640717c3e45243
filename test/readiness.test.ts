// Real-system tests of the readiness check (components/readiness/check-ready.sh, issue 13) on the namespaced
// test cluster: scheduler (slurmctld), compute (slurmd), login (Slurm client, configured by the sync script)
// plus an sshd on the login host, the remote end the readiness Command connects to. The login host's sshd
// runs in a mount namespace where /shared (the test's shared root) is a real bind mount, which the test can
// remove. The script runs unmodified, sent on stdin to `bash -s -- ARGS` over SSH; the environment points its
// production paths at the test's (sudo is skipped: the test signs in as root).
// Accounts: test hosts share /etc/passwd today, so the account the script creates on the login host is the
// scheduler's and compute's too; the account publisher (issue 9) is not installed here (READY_PUBLISH_CMD
// points at a missing file, which the script reports as a warning).
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readinessArgs, readinessInvocation, READINESS_SCRIPT_PATH } from "../components/readiness/invocation";
import { shellQuote } from "../components/slurm/seed";
import { MiniCluster, SYNC_SCRIPT, writeKey } from "./support/cluster";
import { TestNetwork } from "./support/netns";
import { requirePrereqs } from "./support/prereqs";
import { run, RunResult, stopPid } from "./support/proc";
import { TestSshd } from "./support/sshd";
import { createTestUser, removeTestUser, TestUser } from "./support/users";

const COMMANDS = ["/usr/sbin/sshd", "ssh", "ssh-keygen", "ip", "nsenter", "unshare", "setpriv", "munged", "munge", "unmunge",
    "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo", "squeue", "scancel", "useradd", "userdel", "groupadd", "groupdel",
    "runuser", "mountpoint", "flock", "timeout", "sha256sum"];
/** Bound of the runs expected to fail (they wait it out); runs expected to pass get a generous one and return when ready. */
const BOUND = 6;
const HEALTHY_BOUND = 25; // below the test's 30 s SSH limit, so a failure shows the script's own message

describe("readiness check on the namespaced test cluster (real system)", function () {
    this.timeout(180000);
    let tmp = "";
    let user: TestUser | undefined;
    let c: MiniCluster | undefined;
    let loginSshd: TestSshd | undefined;
    let syncCmd = "";
    const account = `rdy${process.pid}`;
    const healthyRuns: number[] = [];

    /** Runs the readiness script over SSH on the login host; returns the result and the seconds it took. */
    const ready = (args: string[]): RunResult & { seconds: number } => {
        const env = [
            `READY_USER=${account}`,
            `READY_SHARED_MOUNT=${c!.sharedRoot}`,
            `READY_SYNC_CMD=${syncCmd}`,
            "READY_SYNC_DEFAULTS=/nonexistent",
            "READY_ACCOUNTS_DEFAULTS=/nonexistent",
            "READY_PUBLISH_CMD=/nonexistent/cluster-account-publish",
            "READY_POLL=1",
            `SHARED_HOME=${path.join(c!.sharedRoot, "home")}`,
            ...c!.syncEnv().filter(v => !v.startsWith("PATH=") && !v.startsWith("SLURM_SYNC_TIMEOUT=")),
            "SLURM_SYNC_TIMEOUT=3",
        ];
        const command = `env ${env.map(shellQuote).join(" ")} bash -s -- ${args.map(shellQuote).join(" ")}`;
        const t0 = Date.now();
        const r = loginSshd!.ssh(command, fs.readFileSync(READINESS_SCRIPT_PATH, "utf8"));
        const seconds = (Date.now() - t0) / 1000;
        if (process.env.READINESS_VERBOSE) console.log(`${r.text}`.replace(/^/gm, "        | "));
        return { ...r, seconds };
    };
    const conf = () => path.join(c!.seededDir, "slurm.conf");

    before(async function () {
        requirePrereqs(this, "readiness check on the test cluster", { root: true, commands: COMMANDS });
        user = createTestUser(`crdu${process.pid}`, 23956);
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "crd-"));
        fs.chmodSync(tmp, 0o755);
        const prefix = `crd${process.pid}`;
        c = new MiniCluster(tmp, prefix, "crtest", user);
        await c.setUp();
        writeKey(c.login.munge.keyFile, crypto.randomBytes(1024), "munge");
        c.restartLoginMunge();
        const seeded = c.seed();
        assert.strictEqual(seeded.status, 0, seeded.text);
        await c.startSchedulerAndCompute();
        const synced = c.sync();
        assert.strictEqual(synced.status, 0, synced.text);
        // The sync script as cloud-init installs it on the login node (/usr/local/sbin, 0755).
        syncCmd = path.join(tmp, "hosts", "login", "slurm-sync-from-shared");
        fs.copyFileSync(SYNC_SCRIPT, syncCmd);
        fs.chmodSync(syncCmd, 0o755);
        // The login host's sshd, in a mount namespace where the shared root is a real (bind) mount.
        loginSshd = new TestSshd(path.join(tmp, "login-sshd"), "10.77.0.13",
            argv => c!.net.hostArgv("login", ["bash", "-c", 'mount --bind "$1" "$1" && shift && exec "$@"', "bind-shared", c!.sharedRoot, ...argv]),
            argv => TestNetwork.netArgv(`${prefix}-br`, argv));
        await loginSshd.start();
    });

    after(async function () {
        await loginSshd?.stop();
        if (c) await c.tearDown();
        run(["userdel", account]);
        run(["groupdel", account]);
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
        removeTestUser(user);
        if (healthyRuns.length > 0) {
            const sorted = [...healthyRuns].sort((a, b) => a - b);
            console.log(`        readiness check, healthy cluster: median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)} s over ${sorted.length} runs ` +
                "(ssh root@login 'env ... bash -s -- --partitions hpc --timeout 25' < check-ready.sh)");
        }
    });

    it("the program's invocation is `sudo -n bash -s -- ARGS` with the script file as stdin", function () {
        const inv = readinessInvocation({ partitions: ["hpc", "htc"], timeoutSeconds: 900, testJobPartition: "htc", jobTimeoutSeconds: 1200 });
        assert.strictEqual(inv.command, "sudo -n bash -s -- '--partitions' 'hpc,htc' '--timeout' '900' '--test-job' 'htc' '--job-timeout' '1200'");
        assert.strictEqual(inv.stdin, fs.readFileSync(READINESS_SCRIPT_PATH, "utf8"));
        assert.deepStrictEqual(readinessArgs({ partitions: ["hpc"], timeoutSeconds: 5, jobTimeoutSeconds: 9 }), ["--partitions", "hpc", "--timeout", "5"]);
        assert.throws(() => readinessArgs({ partitions: ["a b"], timeoutSeconds: 5, jobTimeoutSeconds: 5 }), /partitions/);
    });

    it("passes on a healthy cluster: mount, sync check, service account, sinfo with the expected partition", function () {
        const r = ready(readinessArgs({ partitions: ["hpc"], timeoutSeconds: HEALTHY_BOUND, jobTimeoutSeconds: 30 }));
        assert.strictEqual(r.status, 0, r.text);
        const out = r.stdout.toString();
        assert.match(out, /ok \[mount\]/);
        assert.match(out, /ok \[sync\] seeded munge key and Slurm config installed, controller accepts them/);
        assert.match(out, new RegExp(`created service account ${account} \\(UID \\d+\\)`));
        assert.match(out, new RegExp(`ok \\[partitions\\] sinfo as ${account} answers with hpc`));
        assert.match(out, /READY in \d+ s/);
        const uid = Number(run(["id", "-u", account]).stdout.toString());
        assert.ok(uid >= 65536 && uid <= 4294967293, `UID ${uid} inside the accounts' accepted range`);
        const home = path.join(c!.sharedRoot, "home", account);
        const st = fs.statSync(home);
        assert.strictEqual(st.uid, uid);
        assert.strictEqual(st.mode & 0o7777, 0o700);
        assert.match(r.stderr.toString() + out, /cluster-account-publish not installed/);
        healthyRuns.push(r.seconds);
    });

    it("a second run changes nothing (the account is reused) and passes again", function () {
        // Only this account's entries: other test runs on the machine may add their own users meanwhile.
        const entries = () => [run(["getent", "passwd", account]).stdout.toString(), run(["getent", "group", account]).stdout.toString()];
        const before = entries();
        for (let i = 0; i < 4; i++) {
            const r = ready(readinessArgs({ partitions: ["hpc"], timeoutSeconds: HEALTHY_BOUND, jobTimeoutSeconds: 30 }));
            assert.strictEqual(r.status, 0, r.text);
            assert.doesNotMatch(r.stdout.toString(), /created service account/);
            healthyRuns.push(r.seconds);
        }
        assert.deepStrictEqual(entries(), before);
    });

    it("with the test job: a job submitted as the service account completes on the compute node", function () {
        const r = ready(readinessArgs({ partitions: ["hpc"], timeoutSeconds: HEALTHY_BOUND, testJobPartition: "hpc", jobTimeoutSeconds: 60 }));
        assert.strictEqual(r.status, 0, r.text);
        assert.match(r.stdout.toString(), /ok \[job\] test job \d+ completed on compute node compute/);
        const left = fs.readdirSync(path.join(c!.sharedRoot, "home", account)).filter(f => f.startsWith("slurm-readiness-"));
        assert.deepStrictEqual(left, [], "the job's output file is removed");
    });

    it("a test job that fails (its output cannot be written: the account's home read-only): exit 17 (job failed)", function () {
        const home = path.join(c!.sharedRoot, "home", account);
        fs.chmodSync(home, 0o500);
        try {
            const r = ready(readinessArgs({ partitions: ["hpc"], timeoutSeconds: HEALTHY_BOUND, testJobPartition: "hpc", jobTimeoutSeconds: 30 }));
            assert.strictEqual(r.status, 17, r.text);
            assert.match(r.stderr.toString(), /FAIL \[job failed\] test job \d+ (ended FAILED|COMPLETED but wrote no result)/);
            assert.match(r.stderr.toString(), /investigate: scontrol show job \d+/);
        } finally {
            fs.chmodSync(home, 0o700);
        }
    });

    it("a missing partition: exit 14 within the bound, naming the partition", function () {
        // The sync check must pass inside the same bound before sinfo is asked: a little more room under load.
        const r = ready(readinessArgs({ partitions: ["hpc", "htc"], timeoutSeconds: 2 * BOUND, jobTimeoutSeconds: 30 }));
        assert.strictEqual(r.status, 14, r.text);
        assert.match(r.stderr.toString(), /FAIL \[partitions\] sinfo answers with partitions \[hpc\] but not \[htc\]/);
        assert.match(r.stderr.toString(), /investigate: sinfo -s/);
        assert.ok(r.seconds < 2 * BOUND + 15, `took ${r.seconds} s`);
    });

    it("no node comes up for the test job (node drained): exit 16 at the job bound, job cancelled", function () {
        const drain = c!.onHost("scheduler", ["scontrol", "update", "nodename=compute", "state=drain", "reason=readiness-test"], conf());
        assert.strictEqual(drain.status, 0, drain.text);
        try {
            const r = ready(readinessArgs({ partitions: ["hpc"], timeoutSeconds: HEALTHY_BOUND, testJobPartition: "hpc", jobTimeoutSeconds: 4 }));
            assert.strictEqual(r.status, 16, r.text);
            assert.match(r.stderr.toString(), /FAIL \[no node came up\] test job (\d+) still PENDING at the bound \(reason \S+\); cancelled/);
            const id = /test job (\d+) still/.exec(r.stderr.toString())![1];
            const state = c!.onHost("scheduler", ["scontrol", "show", "job", "-o", id], conf()).stdout.toString();
            assert.match(state, /JobState=CANCELLED/);
            assert.ok(r.seconds < HEALTHY_BOUND + 10, `took ${r.seconds} s`);
        } finally {
            c!.onHost("scheduler", ["scontrol", "update", "nodename=compute", "state=resume"], conf());
        }
    });

    it("a login host with a stale munge key: exit 12 (key mismatch) within the bound; a sync heals it", function () {
        writeKey(c!.login.munge.keyFile, crypto.randomBytes(1024), "munge");
        c!.restartLoginMunge();
        const r = ready(readinessArgs({ partitions: ["hpc"], timeoutSeconds: BOUND, jobTimeoutSeconds: 30 }));
        assert.strictEqual(r.status, 12, r.text);
        assert.match(r.stderr.toString(), /FAIL \[key mismatch\]/);
        assert.match(r.stderr.toString(), /investigate: sudo slurm-sync-from-shared --check/);
        assert.ok(r.seconds < BOUND + 15, `took ${r.seconds} s`);
        const heal = c!.sync();
        assert.strictEqual(heal.status, 0, heal.text);
        assert.strictEqual(ready(readinessArgs({ partitions: ["hpc"], timeoutSeconds: HEALTHY_BOUND, jobTimeoutSeconds: 30 })).status, 0);
    });

    it("/shared not mounted on the login host: exit 10 (mount) within the bound", function () {
        const um = loginSshd!.ssh(`umount ${shellQuote(c!.sharedRoot)}`);
        assert.strictEqual(um.status, 0, um.text);
        try {
            const r = ready(readinessArgs({ partitions: ["hpc"], timeoutSeconds: BOUND, jobTimeoutSeconds: 30 }));
            assert.strictEqual(r.status, 10, r.text);
            assert.match(r.stderr.toString(), new RegExp(`FAIL \\[mount\\] ${c!.sharedRoot} is not a mount point`));
            assert.ok(r.seconds < BOUND + 15, `took ${r.seconds} s`);
        } finally {
            loginSshd!.ssh(`mount --bind ${shellQuote(c!.sharedRoot)} ${shellQuote(c!.sharedRoot)}`);
        }
        assert.strictEqual(ready(readinessArgs({ partitions: ["hpc"], timeoutSeconds: HEALTHY_BOUND, jobTimeoutSeconds: 30 })).status, 0);
    });

    it("a group-writable seeded file on /shared: the sync check refuses it, exit 18 (/shared not trusted) within the bound", function () {
        const file = path.join(c!.seededDir, "azure.conf");
        fs.chmodSync(file, 0o664);
        try {
            const r = ready(readinessArgs({ partitions: ["hpc"], timeoutSeconds: BOUND, jobTimeoutSeconds: 30 }));
            assert.strictEqual(r.status, 18, r.text);
            assert.match(r.stderr.toString(), /FAIL \[\/shared not trusted\]/);
            assert.match(r.stderr.toString(), /azure\.conf/, "the refused path is shown");
            assert.ok(r.seconds < BOUND + 15, `took ${r.seconds} s`);
        } finally {
            fs.chmodSync(file, 0o644);
        }
    });

    it("the scheduler stopped: exit 13 (controller unreachable) within the bound", async function () {
        const pid = Number(fs.readFileSync(path.join(tmp, "hosts", "scheduler", "slurmctld.pid"), "utf8").trim());
        assert.ok(await stopPid(pid), "slurmctld stopped");
        const r = ready(readinessArgs({ partitions: ["hpc"], timeoutSeconds: BOUND, jobTimeoutSeconds: 30 }));
        assert.strictEqual(r.status, 13, r.text);
        assert.match(r.stderr.toString(), /FAIL \[controller unreachable\]/);
        assert.match(r.stderr.toString(), /investigate: scontrol ping/);
        assert.ok(r.seconds < BOUND + 15, `took ${r.seconds} s`);
    });
});
