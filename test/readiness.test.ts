// Real-system tests of the readiness check (components/readiness/check-ready.sh, issue 13) on the namespaced
// test cluster: scheduler (slurmctld), compute (slurmd), login (Slurm client, configured by the sync script)
// plus an sshd on the login host, the remote end the readiness Command connects to. The login host's sshd
// runs in a mount namespace where /shared (the test's shared root) is a real bind mount, which the test can
// remove. The script runs unmodified, sent on stdin to `bash -s -- ARGS` over SSH; the environment points its
// production paths at the test's (sudo is skipped: the test signs in as root).
// Accounts: every test host has its own /etc/passwd (test/support/netns.ts), so the service account the script
// creates on the login host reaches the scheduler and compute only through the account registry of issue 9, as
// users' accounts do: install-login.sh installs the publisher on the login host (its settings in
// /etc/default/cluster-accounts, as cloud-init writes them), the cluster-init boot script runs on scheduler and
// compute (apply script, Slurm prolog), and a loop stands in for the scheduler's 3 s timer (test/support/accounts.ts).
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readinessArgs, readinessInvocation, READINESS_SCRIPT_PATH } from "../components/readiness/invocation";
import { shellQuote } from "../components/slurm/seed";
import { accountSettings, bootAccounts, installLoginHook, onHost, settingsText, startAccountsTimer, writeOnHost } from "./support/accounts";
import { MiniCluster, SYNC_SCRIPT, writeKey } from "./support/cluster";
import { TestNetwork } from "./support/netns";
import { requirePrereqs } from "./support/prereqs";
import { Daemon, RunResult, stopPid } from "./support/proc";
import { TestSshd } from "./support/sshd";
import { createTestUser, TestUser } from "./support/users";

const COMMANDS = ["/usr/sbin/sshd", "ssh", "ssh-keygen", "ip", "nsenter", "unshare", "setpriv", "munged", "munge", "unmunge",
    "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo", "squeue", "scancel", "useradd", "userdel", "groupadd", "groupdel",
    "runuser", "mountpoint", "flock", "timeout", "sha256sum", "logger"];
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
    let timer: Daemon | undefined;
    let settings: Record<string, string> = {};
    /** The production default (READY_USER unset): the hosts are the test's own, nothing lands on the machine. */
    const account = "slurm-readiness";
    const healthyRuns: number[] = [];

    let sleepWrapDir = "";
    let readyRuns = 0;
    /**
     * Runs the readiness script over SSH on the login host; returns the result, the seconds it took (figures only) and
     * how many times the script itself slept between polls (a `sleep` first on its PATH counts the calls whose parent
     * is the script). Its bounds use whole seconds (`date +%s`) and READY_POLL=1: every poll's sleep moves that clock
     * on by at least 1, so a bound of N seconds allows at most N sleeps however loaded the machine is. Counting them
     * shows the script gave up at its own bound, with no wall-clock limit in the test.
     */
    const ready = (args: string[], extraEnv: string[] = []): RunResult & { seconds: number; sleeps: number } => {
        const sleeps = path.join(tmp, `ready-sleeps-${++readyRuns}`);
        fs.writeFileSync(sleeps, "", { mode: 0o666 });
        const env = [
            `PATH=${sleepWrapDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
            `READY_TEST_SLEEPS=${sleeps}`,
            `READY_SHARED_MOUNT=${c!.sharedRoot}`,
            `READY_SYNC_CMD=${syncCmd}`,
            "READY_SYNC_DEFAULTS=/nonexistent",
            "READY_POLL=1",
            ...extraEnv,
            ...c!.syncEnv().filter(v => !v.startsWith("PATH=") && !v.startsWith("SLURM_SYNC_TIMEOUT=")),
            "SLURM_SYNC_TIMEOUT=3",
        ];
        const command = `env ${env.map(shellQuote).join(" ")} bash -s -- ${args.map(shellQuote).join(" ")}`;
        const t0 = Date.now();
        const r = loginSshd!.ssh(command, fs.readFileSync(READINESS_SCRIPT_PATH, "utf8"));
        const seconds = (Date.now() - t0) / 1000;
        if (process.env.READINESS_VERBOSE) console.log(`${r.text}`.replace(/^/gm, "        | "));
        return { ...r, seconds, sleeps: fs.readFileSync(sleeps, "utf8").split("\n").filter(Boolean).length };
    };
    const conf = () => path.join(c!.seededDir, "slurm.conf");

    before(async function () {
        requirePrereqs(this, "readiness check on the test cluster", { root: true, commands: COMMANDS });
        user = createTestUser(`crdu${process.pid}`, 23956);
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "crd-"));
        fs.chmodSync(tmp, 0o755);
        sleepWrapDir = path.join(tmp, "sleep-wrap");
        fs.mkdirSync(sleepWrapDir, { mode: 0o755 });
        fs.writeFileSync(path.join(sleepWrapDir, "sleep"), [
            "#!/bin/bash",
            "# Test wrapper (readiness.test.ts): records a sleep the readiness script itself asks for, then sleeps.",
            'if tr "\\0" " " </proc/$PPID/cmdline 2>/dev/null | grep -q -- "^bash -s -- "; then echo "$*" >>"$READY_TEST_SLEEPS"; fi',
            'exec /bin/sleep "$@"',
            "",
        ].join("\n"), { mode: 0o755 });
        const prefix = `crd${process.pid}`;
        // Prolog as the accounts' cluster-init spec needs it (components/accounts/README.md "Slurm prolog").
        c = new MiniCluster(tmp, prefix, "crtest", user, { prolog: "/etc/slurm/prolog.d/*" });
        await c.setUp();
        await c.bringUpSeeded();
        // The sync script as cloud-init installs it on the login node (/usr/local/sbin, 0755).
        syncCmd = path.join(tmp, "hosts", "login", "slurm-sync-from-shared");
        fs.copyFileSync(SYNC_SCRIPT, syncCmd);
        fs.chmodSync(syncCmd, 0o755);
        // The account registry (issue 9): the publisher on the login host, the apply script on scheduler and compute.
        settings = accountSettings(c);
        writeOnHost(c, "login", "/etc/default/cluster-accounts", Object.entries(settings).map(([k, v]) => `${k}=${v}\n`).join(""), 0o644);
        const installed = installLoginHook(c, path.join(tmp, "accounts-src"));
        assert.strictEqual(installed.status, 0, installed.text);
        for (const [h, role] of [["scheduler", "scheduler"], ["compute", "execute"]]) {
            const booted = bootAccounts(c, h, role, settings);
            assert.strictEqual(booted.status, 0, booted.text);
        }
        timer = startAccountsTimer(c);
        // The login host's sshd, in a mount namespace where the shared root is a real (bind) mount.
        loginSshd = new TestSshd(path.join(tmp, "login-sshd"), "10.77.0.13",
            argv => c!.net.hostArgv("login", ["bash", "-c", 'mount --bind "$1" "$1" && shift && exec "$@"', "bind-shared", c!.sharedRoot, ...argv]),
            argv => TestNetwork.netArgv(`${prefix}-br`, argv));
        await loginSshd.start();
    });

    after(async function () {
        await timer?.stop();
        await loginSshd?.stop();
        if (c) await c.tearDown();
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
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
        const uid = Number(onHost(c!, "login", ["id", "-u", account]).stdout.toString());
        // The UID declared for it (ACCOUNTS_SERVICE_ACCOUNTS), below the Entra accounts' range: never one a person gets.
        assert.strictEqual(`${account}:${uid}`, settings.ACCOUNTS_SERVICE_ACCOUNTS);
        assert.ok(uid < Number(settings.ACCOUNTS_UID_MIN), `UID ${uid} below the Entra accounts' range`);
        // Published to the registry (not installed locally on the nodes by the test), confirmed by the scheduler,
        // and the same account on the scheduler by the unmodified apply script.
        assert.match(out, new RegExp(`ok \\[account\\] ${account} \\(UID ${uid}\\) published`));
        const registry = settings.ACCOUNTS_REGISTRY;
        assert.match(fs.readFileSync(path.join(registry, "users", String(uid)), "utf8"),
            new RegExp(`^name=${account}\nuid=${uid}\ngid=${uid}\nhome=${settings.SHARED_HOME}/${account}\nshome=${settings.SHARED_HOME}/${account}\noid=\nstate=active\n`));
        assert.match(fs.readFileSync(path.join(registry, "status", String(uid)), "utf8"), /^result=applied$/m);
        assert.match(onHost(c!, "scheduler", ["getent", "passwd", account]).stdout.toString(), new RegExp(`^${account}:x:${uid}:${uid}:`));
        const home = path.join(c!.sharedRoot, "home", account);
        const st = fs.statSync(home);
        assert.strictEqual(st.uid, uid);
        assert.strictEqual(st.mode & 0o7777, 0o700);
        assert.doesNotMatch(r.stderr.toString() + out, /not installed|WARNING/);
        healthyRuns.push(r.seconds);
    });

    it("a second run changes nothing (the account is reused) and passes again", function () {
        // Only this account's entries: other test runs on the machine may add their own users meanwhile.
        const entries = () => ["login", "scheduler"].map(h => onHost(c!, h, ["getent", "passwd", account]).stdout.toString() +
            onHost(c!, h, ["getent", "group", account]).stdout.toString());
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
        // compute knew the account only from the registry (its prolog applied it before the job).
        const uid = onHost(c!, "login", ["id", "-u", account]).stdout.toString().trim();
        assert.match(onHost(c!, "compute", ["getent", "passwd", account]).stdout.toString(), new RegExp(`^${account}:x:${uid}:${uid}:`));
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

    it("the scheduler does not apply the account registry: a new service account is not confirmed, exit 15 (service account)", async function () {
        await timer?.stop();
        timer = undefined;
        // Another service account (a fresh entry), declared with its own UID, and a short wait for the scheduler's
        // answer: both in the login node's root-owned settings (the publisher takes nothing from the environment).
        writeOnHost(c!, "login", "/etc/default/cluster-accounts", settingsText({
            ...settings, ACCOUNTS_ACK_WAIT: "2", ACCOUNTS_SERVICE_ACCOUNTS: `${settings.ACCOUNTS_SERVICE_ACCOUNTS},rdy-unconfirmed:19991`,
        }), 0o644);
        try {
            const r = ready(readinessArgs({ partitions: ["hpc"], timeoutSeconds: BOUND, jobTimeoutSeconds: 30 }), ["READY_USER=rdy-unconfirmed"]);
            assert.strictEqual(r.status, 15, r.text);
            assert.ok(r.sleeps <= BOUND, `${r.sleeps} polls for a ${BOUND} s bound`);
            assert.match(r.stderr.toString(), /FAIL \[service account\] the account registry did not confirm rdy-unconfirmed/);
            assert.match(r.stderr.toString(), /the scheduler has not confirmed your account yet/);
            assert.match(r.stderr.toString(), /investigate: sudo \S*cluster-account-publish --user rdy-unconfirmed/);
            assert.strictEqual(onHost(c!, "scheduler", ["getent", "passwd", "rdy-unconfirmed"]).status, 2, "not on the scheduler");
        } finally {
            writeOnHost(c!, "login", "/etc/default/cluster-accounts", settingsText(settings), 0o644);
            timer = startAccountsTimer(c!);
        }
    });

    it("a missing partition: exit 14 within the bound, naming the partition", function () {
        // The sync check must pass inside the same bound before sinfo is asked: a little more room under load.
        const r = ready(readinessArgs({ partitions: ["hpc", "htc"], timeoutSeconds: 2 * BOUND, jobTimeoutSeconds: 30 }));
        assert.strictEqual(r.status, 14, r.text);
        assert.match(r.stderr.toString(), /FAIL \[partitions\] sinfo answers with partitions \[hpc\] but not \[htc\]/);
        assert.match(r.stderr.toString(), /investigate: sinfo -s/);
        assert.ok(r.sleeps <= 2 * BOUND, `${r.sleeps} polls for a ${2 * BOUND} s bound`);
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
            assert.ok(r.sleeps <= HEALTHY_BOUND + 4, `${r.sleeps} polls for bounds of ${HEALTHY_BOUND} s and 4 s`);
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
        assert.ok(r.sleeps <= BOUND, `${r.sleeps} polls for a ${BOUND} s bound`);
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
            assert.ok(r.sleeps <= BOUND, `${r.sleeps} polls for a ${BOUND} s bound`);
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
            assert.ok(r.sleeps <= BOUND, `${r.sleeps} polls for a ${BOUND} s bound`);
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
        assert.ok(r.sleeps <= BOUND, `${r.sleeps} polls for a ${BOUND} s bound`);
    });
});
