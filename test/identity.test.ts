// Real-system tests of issue 9 (Entra users sign in and run jobs as themselves, from a home on /shared): over real
// SSH into a login host that behaves like the Entra extension (test/support/entra-standin.ts: NSS-only accounts named
// by UPN, UID > 2,000,000, at first sign-in of a role holder), with scheduler, compute and login each having their own
// /etc/passwd, /etc/group and /home (test/support/netns.ts). Our scripts run unmodified: install-login.sh on the login
// host, the cluster-init boot script on scheduler and compute (it installs the apply script and the Slurm prolog,
// which slurm.conf's Prolog= runs before each job). The scheduler's systemd timer is stood in for by a loop that
// calls the installed /usr/local/sbin/cluster-accounts-apply every 3 s (the timer's interval).
// Needs Linux, root, gcc and scripts/setup-testbed.sh's packages.
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { MiniCluster, writeKey } from "./support/cluster";
import { EntraLoginHost, EntraUser } from "./support/entra-standin";
import { requirePrereqs } from "./support/prereqs";
import { Daemon, run, RunResult, runOk, sleep, waitFor } from "./support/proc";
import { createTestUser } from "./support/users";

const REPO = path.resolve(__dirname, "..");
const SPEC = path.join(REPO, "components/accounts/cluster-init");
const BOOT_SCRIPT = path.join(SPEC, "scripts/010-cluster-accounts.sh");
const APPLY = "/usr/local/sbin/cluster-accounts-apply";
const PUBLISH = "/usr/local/sbin/cluster-account-publish";
const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const COMMANDS = ["/usr/sbin/sshd", "ssh", "ssh-keygen", "ip", "nsenter", "unshare", "setpriv", "munged", "slurmctld", "slurmd",
    "sbatch", "srun", "scontrol", "squeue", "useradd", "groupadd", "userdel", "flock", "gcc", "ldconfig", "logger"];
const FINAL = ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL"];
const sha256 = (b: Buffer | string) => crypto.createHash("sha256").update(b).digest("hex");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

describe("identity (issue 9): Entra users sign in and run jobs as themselves (real system)", function () {
    this.timeout(120000);
    let tmp = "";
    let c: MiniCluster | undefined;
    let login: EntraLoginHost | undefined;
    let timer: Daemon | undefined;
    let settings: Record<string, string> = {};
    let registry = "";
    let sharedHome = "";
    const figures: string[] = [];

    const host = (h: string, argv: string[], input?: string): RunResult =>
        run(c!.net.hostArgv(h, ["env", "-i", PATH_ENV, `SLURM_CONF=${path.join(c!.seededDir, "slurm.conf")}`, ...argv]), { input, timeoutMs: 60000 });
    const hostOk = (h: string, argv: string[]): RunResult => {
        const r = host(h, argv);
        if (r.status !== 0) throw new Error(`${h}: ${argv.join(" ")} failed (${r.status}): ${r.text}`);
        return r;
    };
    const lockFile = (h: string) => path.join(c!.base, "hosts", h, "cluster-accounts.lock");
    /** The cluster-init boot script, as jetpack runs it (spec path in CYCLECLOUD_SPEC_PATH), with the test's paths. */
    const boot = (h: string, role: string): RunResult => host(h, ["env", `CYCLECLOUD_SPEC_PATH=${SPEC}`, `ACCOUNTS_ROLE=${role}`,
        ...Object.entries(settings).map(([k, v]) => `${k}=${v}`), `ACCOUNTS_LOCK=${lockFile(h)}`, "bash", BOOT_SCRIPT]);
    const apply = (h: string): RunResult => host(h, [APPLY]);
    const startTimer = () => {
        timer = c!.startDaemon("scheduler", "accounts-timer", ["env", "-i", PATH_ENV, `SLURM_CONF=${path.join(c!.seededDir, "slurm.conf")}`,
            "bash", "-c", `while :; do ${APPLY}; sleep 3; done`]);
    };
    const stopTimer = async () => {
        if (timer) await timer.stop();
        timer = undefined;
    };
    const getent = (h: string, db: string, key: string): string => host(h, ["getent", db, key]).stdout.toString().trim();
    const passwdState = (h: string) => sha256(host(h, ["cat", "/etc/passwd", "/etc/group"]).stdout);
    const ssh = (u: EntraUser, cmd: string): RunResult => login!.ssh(u, cmd);
    const sshOk = (u: EntraUser, cmd: string): RunResult => {
        const r = ssh(u, cmd);
        if (r.status !== 0) {
            const dbg = login!.onLogin(["env", "PAM_TYPE=open_session", `PAM_USER=${u.upn}`, "bash", "-x", PUBLISH]).text;
            throw new Error(`ssh ${u.upn} ${cmd}: status ${r.status}: ${r.text}\n--- publish by hand:\n${dbg.slice(-3000)}`);
        }
        return r;
    };
    const uidOf = (u: EntraUser) => Number(sshOk(u, "id -u").stdout.toString().trim());
    const homeOf = (u: EntraUser) => path.join(sharedHome, u.upn);
    const waitJob = async (id: string): Promise<string> => {
        let info = "";
        await waitFor(() => {
            info = hostOk("scheduler", ["scontrol", "show", "job", "-o", id]).stdout.toString();
            return FINAL.includes(/JobState=(\S+)/.exec(info)?.[1] ?? "");
        }, 30000, () => `job ${id} did not finish: ${info}`, 200);
        return /JobState=(\S+)/.exec(info)![1];
    };
    /** sbatch from the user's home over SSH; waits; returns the job's output file (read from the login side). */
    const batch = async (u: EntraUser, tag: string) => {
        const tSub = Date.now();
        const sub = sshOk(u, `cd && sbatch --parsable -J ${tag} -o ${tag}.out --wrap 'echo uid=$(id -u); echo name=$(id -un); echo cwd=$(pwd -P); echo host=$(hostname)'`);
        const id = sub.stdout.toString().trim().split(";")[0];
        const t0 = Date.now();
        const state = await waitJob(id);
        const t1 = Date.now();
        const out = sshOk(u, `cat ${tag}.out; stat -c owner=%u ${tag}.out`).stdout.toString();
        figures.push(`job ${tag}: submit ssh ${t0 - tSub} ms, run ${t1 - t0} ms, read ssh ${Date.now() - t1} ms`);
        return { id, state, out };
    };

    before(async function () {
        requirePrereqs(this, "identity tests (Slurm cluster + Entra stand-in in network namespaces)", { root: true, commands: COMMANDS });
        this.timeout(180000);
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cst-identity-"));
        fs.chmodSync(tmp, 0o755);
        const user = createTestUser(`cstid${process.pid}`, 24567);
        c = new MiniCluster(tmp, `csi${process.pid}`, "cstest", user, { prolog: "/etc/slurm/prolog.d/*" });
        await c.setUp();
        writeKey(c.login.munge.keyFile, crypto.randomBytes(1024), "munge");
        c.restartLoginMunge();
        const seeded = c.seed();
        if (seeded.status !== 0) throw new Error(`seed failed: ${seeded.text}`);
        await c.startSchedulerAndCompute();
        const synced = c.sync();
        if (synced.status !== 0) throw new Error(`sync failed: ${synced.text}`);
        registry = path.join(c.sharedRoot, "apps", "accounts");
        sharedHome = path.join(c.sharedRoot, "home");
        settings = {
            ACCOUNTS_REGISTRY: registry,
            ACCOUNTS_TRUST_ROOT: c.sharedRoot,
            SHARED_HOME: sharedHome,
            ACCOUNTS_UID_MIN: "65536",
            ACCOUNTS_UID_MAX: "4294967293",
            ACCOUNTS_ACK_WAIT: "30",
        };
        for (const [h, role] of [["scheduler", "scheduler"], ["compute", "execute"]]) {
            const r = boot(h, role);
            if (r.status !== 0) throw new Error(`boot script on ${h}: ${r.text}`);
        }
        startTimer();
        login = new EntraLoginHost(c, settings);
        await login.setUp();
    });

    after(async function () {
        this.timeout(60000);
        if (figures.length) console.log(`\n      identity figures:\n${figures.map(f => `        ${f}`).join("\n")}\n`);
        await stopTimer();
        if (c) await c.tearDown();
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    describe("test bed", function () {
        it("gives every host its own /etc/passwd and /home: an account added on compute exists nowhere else", function () {
            hostOk("compute", ["useradd", "-M", "-u", "2999999", "-N", "-g", "nogroup", "onlyoncompute"]);
            assert.match(getent("compute", "passwd", "onlyoncompute"), /:2999999:/);
            assert.strictEqual(getent("scheduler", "passwd", "onlyoncompute"), "");
            assert.strictEqual(getent("login", "passwd", "onlyoncompute"), "");
            assert.strictEqual(run(["getent", "passwd", "onlyoncompute"]).status, 2, "not on the machine itself");
            hostOk("compute", ["userdel", "onlyoncompute"]);
            hostOk("compute", ["touch", "/home/compute-only"]);
            assert.strictEqual(host("scheduler", ["test", "-e", "/home/compute-only"]).status, 1);
            // The bootstrap-chain test user exists per host, as CycleCloud creates node accounts.
            for (const h of ["scheduler", "compute", "login"]) assert.match(getent(h, "passwd", c!.user.name), new RegExp(`:${c!.user.uid}:`), h);
        });
    });

    describe("login host: install-login.sh (run for real on the login host's own /etc/pam.d)", function () {
        it("installs the publish hook and appends the PAM line from pam-sshd-session once; a second run changes nothing", function () {
            const before = login!.onLogin(["cat", "/etc/pam.d/sshd"]).stdout.toString();
            const first = login!.installLogin();
            assert.strictEqual(first.status, 0, first.text);
            const pam = login!.onLogin(["cat", "/etc/pam.d/sshd"]).stdout.toString();
            const line = fs.readFileSync(path.join(REPO, "components/accounts/pam-sshd-session"), "utf8").split("\n").find(l => l.startsWith("session"))!;
            assert.ok(pam.startsWith(before), "everything the image had is kept, in order");
            assert.strictEqual(pam.split("\n").filter(l => l === line).length, 1);
            assert.strictEqual(login!.onLogin(["stat", "-c", "%u %a", PUBLISH]).stdout.toString().trim(), "0 755");
            const second = login!.installLogin();
            assert.strictEqual(second.status, 0, second.text);
            assert.strictEqual(second.stdout.toString(), "", "second run says nothing");
            assert.strictEqual(login!.onLogin(["cat", "/etc/pam.d/sshd"]).stdout.toString(), pam);
        });

        it("on an image whose sshd PAM file differs (EL8-like, reformatted line present) it keeps the file as is or appends only", function () {
            const el8 = "#%PAM-1.0\nauth       substack     password-auth\naccount    required     pam_nologin.so\nsession    include      password-auth";
            login!.write("/etc/pam-el8-sshd", el8, 0o644);
            const r = login!.onLogin(["env", "PAM_SSHD_FILE=/etc/pam-el8-sshd", "bash", path.join(login!.dir, "install-src", "install-login.sh")]);
            assert.strictEqual(r.status, 0, r.text);
            const after = login!.onLogin(["cat", "/etc/pam-el8-sshd"]).stdout.toString();
            assert.ok(after.startsWith(`${el8}\n`), after);
            assert.match(after, /^session optional pam_exec\.so quiet stdout \/usr\/local\/sbin\/cluster-account-publish$/m);
            const reformatted = "session\toptional   pam_exec.so  quiet stdout /usr/local/sbin/cluster-account-publish\n";
            login!.write("/etc/pam-el8-sshd", el8 + "\n" + reformatted, 0o644);
            const again = login!.onLogin(["env", "PAM_SSHD_FILE=/etc/pam-el8-sshd", "bash", path.join(login!.dir, "install-src", "install-login.sh")]);
            assert.strictEqual(again.status, 0, again.text);
            assert.strictEqual(login!.onLogin(["cat", "/etc/pam-el8-sshd"]).stdout.toString(), el8 + "\n" + reformatted);
        });
    });

    let alice: EntraUser;
    let bob: EntraUser;
    let aliceUid = 0;

    describe("sign-in and jobs", function () {
        before(async function () {
            login!.startSshd();
            alice = login!.newUser("alice@contoso.com");
            bob = login!.newUser("bob.smith@contoso.com");
            login!.grantRole(alice);
            await login!.waitSshd(alice);
        });

        it("a user without the login role is refused by sshd, and nothing is published", function () {
            const mallory = login!.newUser("mallory@contoso.com");
            const r = ssh(mallory, "true");
            assert.strictEqual(r.status, 255, r.text);
            assert.strictEqual(login!.onLogin(["getent", "passwd", "mallory@contoso.com"]).status, 2);
        });

        it("first sign-in: NSS-only account (UPN, UID > 2,000,000), home on /shared, account on the scheduler before the shell starts", function () {
            const t0 = Date.now();
            const r = sshOk(alice, "id -u; id -un; echo $HOME; pwd -P");
            const firstMs = Date.now() - t0;
            const [uid, name, pwd, physical] = r.stdout.toString().trim().split("\n");
            aliceUid = Number(uid);
            assert.ok(aliceUid > 2000000, uid);
            assert.strictEqual(name, "alice@contoso.com");
            assert.strictEqual(pwd, "/home/alice@contoso.com", "HOME as the extension sets it");
            assert.strictEqual(physical, homeOf(alice));
            assert.doesNotMatch(login!.onLogin(["cat", "/etc/passwd"]).stdout.toString(), /alice/, "the account is not in /etc/passwd");
            const st = fs.statSync(homeOf(alice));
            assert.deepStrictEqual([st.uid, st.mode & 0o7777], [aliceUid, 0o700]);
            const entry = path.join(registry, "users", String(aliceUid));
            const est = fs.lstatSync(entry);
            assert.deepStrictEqual([est.isFile(), est.uid, est.mode & 0o7777], [true, 0, 0o644]);
            assert.match(fs.readFileSync(entry, "utf8"), new RegExp(`^name=alice@contoso\\.com\nuid=${aliceUid}\ngid=${aliceUid}\nhome=/home/alice@contoso\\.com\nstate=active\nserial=\\d+\n$`));
            assert.strictEqual(getent("scheduler", "passwd", "alice@contoso.com"), `alice@contoso.com:x:${aliceUid}:${aliceUid}:cluster-accounts:/home/alice@contoso.com:/bin/bash`);
            assert.match(fs.readFileSync(path.join(registry, "status", String(aliceUid)), "utf8"), /^result=applied$/m);
            const t1 = Date.now();
            sshOk(alice, "true");
            figures.push(`first sign-in (ssh until the shell ran, includes the wait for the scheduler): ${firstMs} ms; next sign-in: ${Date.now() - t1} ms`);
        });

        it("sbatch from the home: runs on compute as the user's UID and name, cwd = the home; output readable on login, owned by the user", async function () {
            const job = await batch(alice, "first");
            assert.strictEqual(job.state, "COMPLETED", job.out);
            assert.match(job.out, new RegExp(`^uid=${aliceUid}$`, "m"));
            assert.match(job.out, /^name=alice@contoso\.com$/m);
            assert.match(job.out, new RegExp(`^cwd=${homeOf(alice).replace(/\./g, "\\.")}$`, "m"));
            assert.match(job.out, /^host=compute$/m);
            assert.match(job.out, new RegExp(`^owner=${aliceUid}$`, "m"));
        });

        it("interactive srun: runs on compute as the user with the home as working directory", function () {
            const r = sshOk(alice, "cd && srun bash -c 'echo uid=$(id -u) name=$(id -un) host=$(hostname) cwd=$(pwd -P)'");
            assert.strictEqual(r.stdout.toString().trim(), `uid=${aliceUid} name=alice@contoso.com host=compute cwd=${homeOf(alice)}`);
        });

        it("a second user likewise", async function () {
            login!.grantRole(bob);
            const uid = uidOf(bob);
            assert.ok(uid > 2000000 && uid !== aliceUid);
            const job = await batch(bob, "bob");
            assert.strictEqual(job.state, "COMPLETED", job.out);
            assert.match(job.out, new RegExp(`^uid=${uid}$`, "m"));
            assert.match(job.out, new RegExp(`^cwd=${homeOf(bob).replace(/\./g, "\\.")}$`, "m"));
            const r = sshOk(bob, "srun id -un");
            assert.strictEqual(r.stdout.toString().trim(), "bob.smith@contoso.com");
        });
    });
});
