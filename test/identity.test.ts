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
import { ACCOUNTS_SPEC, accountSettings, accountsStateDir, bootAccounts, startAccountsTimer } from "./support/accounts";
import { MiniCluster, writeKey } from "./support/cluster";
import { installEl8Shadow, removeEl8Shadow } from "./support/el8-shadow";
import { EntraLoginHost, EntraUser } from "./support/entra-standin";
import { requirePrereqs } from "./support/prereqs";
import { Daemon, run, RunResult, waitFor } from "./support/proc";
import { createTestUser } from "./support/users";

const REPO = path.resolve(__dirname, "..");
const APPLY = "/usr/local/sbin/cluster-accounts-apply";
const PUBLISH = "/usr/local/sbin/cluster-account-publish";
const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const COMMANDS = ["/usr/sbin/sshd", "ssh", "ssh-keygen", "ip", "nsenter", "unshare", "setpriv", "munged", "slurmctld", "slurmd",
    "sbatch", "srun", "scontrol", "squeue", "useradd", "groupadd", "userdel", "flock", "gcc", "ldconfig", "logger"];
const FINAL = ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL"];
const sha256 = (b: Buffer | string) => crypto.createHash("sha256").update(b).digest("hex");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const good = (uid: number, name = `ok${uid}@contoso.com`) =>
    `name=${name}\nuid=${uid}\ngid=${uid}\nhome=/home/${name}\nstate=active\nserial=1\n`;
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
    const stateDir = (h: string) => accountsStateDir(c!, h);
    const boot = (h: string, role: string): RunResult => bootAccounts(c!, h, role, settings);
    const apply = (h: string): RunResult => host(h, [APPLY]);
    const startTimer = () => {
        timer = startAccountsTimer(c!);
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
        if (r.status !== 0) throw new Error(`ssh ${u.upn} ${cmd}: status ${r.status}: ${r.text}\n--- login sshd log:\n${login!.log().slice(-3000)}`);
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
        settings = accountSettings(c);
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

    describe("nodes that boot later, and the Slurm prolog", function () {
        it("a compute host started after the first sign-in (accounts wiped, slurmd restarted, boot script run) runs the user's next job", async function () {
            hostOk("compute", ["bash", "-c", [
                "set -e",
                'for u in "alice@contoso.com" "bob.smith@contoso.com"; do userdel "$u"; groupdel "$u" 2>/dev/null || true; rm -f "/home/$u"; done',
                // The prolog stays: it lives in the shared /sched/<cluster>/prolog.d (the node's /etc/slurm/prolog.d is a link).
                `rm -rf ${APPLY} /etc/default/cluster-accounts /etc/systemd/system/cluster-accounts.*`,
            ].join("\n")]);
            assert.strictEqual(getent("compute", "passwd", "alice@contoso.com"), "");
            const r = boot("compute", "execute");
            assert.strictEqual(r.status, 0, r.text);
            await c!.restartSlurmd();
            assert.strictEqual(getent("compute", "passwd", "alice@contoso.com"),
                `alice@contoso.com:x:${aliceUid}:${aliceUid}:cluster-accounts:/home/alice@contoso.com:/bin/bash`);
            assert.strictEqual(host("compute", ["readlink", "/home/alice@contoso.com"]).stdout.toString().trim(), homeOf(alice));
            const job = await batch(alice, "later");
            assert.strictEqual(job.state, "COMPLETED", job.out);
            assert.match(job.out, /^name=alice@contoso\.com$/m);
            assert.match(job.out, /^host=compute$/m);
        });

        it("slurm.conf's Prolog runs the installed prolog: an account missing on compute (no timer run) exists when the job starts", async function () {
            assert.match(fs.readFileSync(path.join(c!.seededDir, "slurm.conf"), "utf8"), /^Prolog=\/etc\/slurm\/prolog\.d\/\*$/m);
            assert.notStrictEqual(getent("compute", "passwd", "alice@contoso.com"), "");
            hostOk("compute", ["bash", "-c", 'userdel "$0" && (groupdel "$0" 2>/dev/null || true) && rm -f "/home/$0"', "alice@contoso.com"]);
            assert.strictEqual(getent("compute", "passwd", "alice@contoso.com"), "");
            const job = await batch(alice, "prolog");
            assert.strictEqual(job.state, "COMPLETED", job.out);
            assert.match(job.out, /^name=alice@contoso\.com$/m, "the name resolves on compute: the prolog created the account");
            assert.match(job.out, new RegExp(`^cwd=${homeOf(alice).replace(/\./g, "\\.")}$`, "m"));
        });
    });

    describe("scheduler-side release, collisions, revocation (the timer loop is paused: each apply is run here)", function () {
        before(async function () {
            await stopTimer();
        });
        after(function () {
            login!.write("/etc/default/cluster-accounts", Object.entries(settings).map(([k, v]) => `${k}=${v}\n`).join(""), 0o644);
            startTimer();
        });

        it("a job submitted before the scheduler knew the account (held by Slurm, Reason=BeginTime) is released by the scheduler's apply", async function () {
            login!.write("/etc/default/cluster-accounts", Object.entries({ ...settings, ACCOUNTS_ACK_WAIT: "1" }).map(([k, v]) => `${k}=${v}\n`).join(""), 0o644);
            const carol = login!.newUser("carol@contoso.com");
            login!.grantRole(carol);
            const sub = sshOk(carol, "cd && sbatch --parsable -o held.out --wrap 'id -un; pwd -P'");
            figures.push(`what a user sees when the scheduler has not confirmed (ssh output): ${JSON.stringify(sub.stdout.toString().split("\n")[0])}`);
            const id = sub.stdout.toString().trim().split("\n").pop()!.split(";")[0];
            let info = "";
            await waitFor(() => {
                info = hostOk("scheduler", ["scontrol", "show", "job", "-o", id]).stdout.toString();
                return /JobState=PENDING/.test(info) && /Restarts=[1-9]/.test(info);
            }, 30000, () => `job ${id} was not requeued: ${info}`, 300);
            // Requeued with its start pushed into the future (Reason=BeginTime once the scheduler has looked again).
            const eligible = Date.parse(/EligibleTime=(\S+)/.exec(info)![1]);
            assert.ok(eligible > Date.now() + 30000, `held: ${info}`);
            assert.strictEqual(getent("scheduler", "passwd", "carol@contoso.com"), "");
            const r = apply("scheduler");
            assert.strictEqual(r.status, 0, r.text);
            assert.match(r.stdout.toString(), new RegExp(`released job ${id} `));
            assert.strictEqual(await waitJob(id), "COMPLETED");
            const out = sshOk(carol, "cat held.out").stdout.toString();
            assert.strictEqual(out, `carol@contoso.com\n${homeOf(carol)}\n`);
        });

        it("a UID used by a local account of another name is refused loudly (logged, status shown to the user) and never reused", function () {
            for (const h of ["scheduler", "compute"]) hostOk(h, ["useradd", "-M", "-N", "-g", "nogroup", "-u", "2600000", "localdave"]);
            const dave = login!.newUser("dave@contoso.com");
            login!.grantRole(dave, 2600000);
            ssh(dave, "true");
            const before = passwdState("scheduler");
            const r = apply("scheduler");
            assert.strictEqual(r.status, 0, r.text);
            assert.match(r.stdout.toString(), /refused registry entry .*\/2600000: UID 2600000 is already used by local account localdave/);
            assert.strictEqual(passwdState("scheduler"), before);
            assert.strictEqual(getent("scheduler", "passwd", "2600000").split(":")[0], "localdave");
            assert.strictEqual(getent("scheduler", "passwd", "dave@contoso.com"), "");
            // An interactive shell sign-in shows the hook's line (pam_exec stdout, shown by sshd with the login messages);
            // `cluster-account-publish --status` anywhere.
            const seen = login!.ssh(dave, "", { tty: true, input: "exit\n" });
            figures.push(`what a refused user sees at an interactive sign-in: ${JSON.stringify(seen.text.trim())}`);
            assert.match(seen.text, /cluster accounts: the cluster refused your account: UID 2600000 is already used by local account localdave/);
            const st = sshOk(dave, `${PUBLISH} --status`).stdout.toString();
            assert.match(st, /dave@contoso\.com \(uid 2600000\) refused UID 2600000 is already used by local account localdave/);
            const c2 = apply("compute");
            assert.match(c2.stdout.toString(), /refused .*localdave/);
            assert.strictEqual(getent("compute", "passwd", "dave@contoso.com"), "");
        });

        it("another user's UID is refused at sign-in; the first user's entry is untouched", function () {
            const entry = path.join(registry, "users", String(aliceUid));
            const before = { sha: sha256(fs.readFileSync(entry)), ino: fs.statSync(entry).ino };
            const eve = login!.newUser("eve@contoso.com");
            login!.grantRole(eve, aliceUid);
            const r = ssh(eve, `${PUBLISH} --status`);
            assert.match(r.text, /registered to another name; refused/);
            assert.deepStrictEqual({ sha: sha256(fs.readFileSync(entry)), ino: fs.statSync(entry).ino }, before);
            assert.ok(!fs.readdirSync(path.join(registry, "users")).some(f => fs.readFileSync(path.join(registry, "users", f), "utf8").includes("eve@")));
        });

        it("revocation: the role removed stops sign-in; --revoke removes the account on scheduler and compute and cancels pending jobs", async function () {
            login!.removeRole(bob);
            assert.strictEqual(ssh(bob, "true").status, 255, "sign-in refused without the role");
            const bobUid = Number(getent("scheduler", "passwd", "bob.smith@contoso.com").split(":")[2]);
            // A session that was already open can still submit: its pending job must never start.
            const asBob = ["setpriv", `--reuid=${bobUid}`, `--regid=${bobUid}`, "--clear-groups", "--", "env", "-i", PATH_ENV];
            const sub = login!.onLogin([...asBob, "sbatch", "--parsable", "--begin=now+1hour", "-D", homeOf(bob), "--wrap", "true"]);
            assert.strictEqual(sub.status, 0, sub.text);
            const id = sub.stdout.toString().trim();
            const rv = login!.onLogin([PUBLISH, "--revoke", "bob.smith@contoso.com"]);
            assert.strictEqual(rv.status, 0, rv.text);
            assert.match(fs.readFileSync(path.join(registry, "users", String(bobUid)), "utf8"), /^state=revoked$/m);
            const r = apply("scheduler");
            assert.strictEqual(r.status, 0, r.text);
            assert.strictEqual(getent("scheduler", "passwd", "bob.smith@contoso.com"), "");
            assert.match(hostOk("scheduler", ["scontrol", "show", "job", "-o", id]).stdout.toString(), /JobState=CANCELLED/);
            assert.match(fs.readFileSync(path.join(registry, "status", String(bobUid)), "utf8"), /^result=revoked$/m);
            assert.strictEqual(apply("compute").status, 0);
            assert.strictEqual(getent("compute", "passwd", "bob.smith@contoso.com"), "");
            assert.ok(fs.existsSync(homeOf(bob)), "the home on /shared stays");
            // A later submission from a leftover session is cancelled by the next scheduler run.
            const late = login!.onLogin([...asBob, "sbatch", "--parsable", "-D", homeOf(bob), "--wrap", "true"]);
            const lateId = late.stdout.toString().trim();
            apply("scheduler");
            assert.match(hostOk("scheduler", ["scontrol", "show", "job", "-o", lateId]).stdout.toString(), /JobState=(CANCELLED|PENDING)/);
            assert.strictEqual(await waitJob(lateId), "CANCELLED");
        });
    });

    describe("registry trust: refused entries change nothing (apply run as root on the scheduler)", function () {
        let usersDir = "";
        before(async function () {
            await stopTimer();
            usersDir = path.join(registry, "users");
        });
        after(function () {
            startTimer();
        });
        const cases: Array<{ what: string; uid: string; content: string; prep?: (f: string) => void; reason: RegExp }> = [
            { what: "a symlink", uid: "2700001", content: "", prep: f => fs.symlinkSync(path.join(c!.base, "planted"), f), reason: /is a symlink/ },
            { what: "group-writable", uid: "2700002", content: good(2700002), prep: f => fs.chmodSync(f, 0o664), reason: /group- or world-writable/ },
            { what: "world-writable", uid: "2700003", content: good(2700003), prep: f => fs.chmodSync(f, 0o646), reason: /group- or world-writable/ },
            { what: "not root-owned", uid: "2700004", content: good(2700004), prep: f => fs.chownSync(f, 1000, 1000), reason: /owned by UID 1000/ },
            { what: "oversized", uid: "2700005", content: good(2700005) + `serial=${"1".repeat(2000)}\n`, reason: /larger than 1024 bytes/ },
            { what: "a bad name (space)", uid: "2700006", content: good(2700006, "evil name"), reason: /invalid name|malformed/ },
            { what: "shell metacharacters in the name", uid: "2700007", content: good(2700007, "x;touch${IFS}/tmp/pwned"), reason: /invalid name/ },
            { what: "command substitution in the name", uid: "2700008", content: good(2700008, "$(touch /tmp/pwned)"), reason: /invalid name/ },
            { what: "a name starting with '-'", uid: "2700009", content: good(2700009, "-rf"), reason: /invalid name/ },
            { what: "UID 0", uid: "0", content: good(0).replace(/ok0@/g, "root0@"), reason: /not a decimal ID|outside/ },
            { what: "a system ID (munge 11101)", uid: "11101", content: good(11101), reason: /outside|reserved/ },
            { what: "CycleCloud's range (20001)", uid: "20001", content: good(20001), reason: /outside|CycleCloud/ },
            { what: "nobody (65534)", uid: "65534", content: good(65534), reason: /outside|reserved/ },
            { what: "a GID of 0", uid: "2700010", content: good(2700010).replace("gid=2700010", "gid=0"), reason: /GID/ },
            { what: "a uid that is not the file name", uid: "2700011", content: good(2700012), reason: /does not match the file name/ },
            { what: "shell metacharacters in the home", uid: "2700013", content: good(2700013).replace(/^home=.*$/m, "home=/home/a`id`"), reason: /home must be/ },
            { what: "a home outside the allowed forms", uid: "2700014", content: good(2700014).replace(/^home=.*$/m, "home=/etc"), reason: /home must be/ },
            { what: "another user's home", uid: "2700015", content: good(2700015).replace(/^home=.*$/m, "home=/home/alice@contoso.com"), reason: /home must be/ },
            { what: "an unknown key (shell=)", uid: "2700016", content: good(2700016) + "shell=/bin/sh\n", reason: /unknown key shell/ },
            { what: "a duplicate key", uid: "2700017", content: good(2700017) + "uid=2700017\n", reason: /duplicate key uid/ },
            { what: "a control character", uid: "2700018", content: good(2700018).replace("state=active", "state=active\r"), reason: /malformed line|invalid state/ },
        ];
        for (const k of cases) {
            it(`refuses an entry that is ${k.what}`, function () {
                const f = path.join(usersDir, k.uid);
                fs.writeFileSync(path.join(c!.base, "planted"), good(2700001));
                if (k.content) fs.writeFileSync(f, k.content, { mode: 0o644 });
                k.prep?.(f);
                try {
                    const before = passwdState("scheduler");
                    const r = apply("scheduler");
                    assert.strictEqual(r.status, 0, r.text);
                    assert.match(r.stdout.toString(), new RegExp(`refused registry entry ${f.replace(/\./g, "\\.")}: `), r.text);
                    assert.match(r.stdout.toString(), k.reason, r.text);
                    assert.strictEqual(passwdState("scheduler"), before, "nothing changed");
                    assert.ok(!fs.existsSync("/tmp/pwned"));
                    assert.strictEqual(host("scheduler", ["test", "-e", "/tmp/pwned"]).status, 1);
                    if (/^\d+$/.test(k.uid) && k.uid !== "0") {
                        assert.match(fs.readFileSync(path.join(registry, "status", k.uid), "utf8"), /^result=refused$/m);
                    }
                } finally {
                    fs.rmSync(f, { force: true });
                    fs.rmSync(path.join(registry, "status", k.uid), { force: true });
                }
            });
        }

        it("refuses the whole registry (exit 1, nothing changed) when a directory on the path is not root-owned, writable by others, or a symlink", function () {
            fs.writeFileSync(path.join(usersDir, "2700020"), good(2700020), { mode: 0o644 });
            const dirs = [usersDir, registry, path.join(c!.sharedRoot, "apps")];
            try {
                for (const d of dirs) {
                    const before = passwdState("scheduler");
                    fs.chownSync(d, 1000, 1000);
                    let r = apply("scheduler");
                    fs.chownSync(d, 0, 0);
                    assert.strictEqual(r.status, 1, r.text);
                    assert.match(r.stderr.toString(), new RegExp(`${d.replace(/\./g, "\\.")} is owned by UID 1000, not root`));
                    fs.chmodSync(d, 0o775);
                    r = apply("scheduler");
                    fs.chmodSync(d, 0o755);
                    assert.strictEqual(r.status, 1, r.text);
                    assert.match(r.stderr.toString(), /group- or world-writable/);
                    assert.strictEqual(passwdState("scheduler"), before);
                }
                // users/ replaced by a symlink to a copy.
                const copy = path.join(c!.base, "users-copy");
                fs.renameSync(usersDir, copy);
                fs.symlinkSync(copy, usersDir);
                const r = apply("scheduler");
                fs.unlinkSync(usersDir);
                fs.renameSync(copy, usersDir);
                assert.strictEqual(r.status, 1, r.text);
                assert.match(r.stderr.toString(), /is a symlink/);
                assert.strictEqual(getent("scheduler", "passwd", "ok2700020@contoso.com"), "");
            } finally {
                fs.rmSync(path.join(usersDir, "2700020"), { force: true });
            }
        });
    });

    describe("a user cannot create, alter or claim another user's entry (as the unprivileged user on the login host)", function () {
        it("writes into the registry fail, the publish script refuses non-root callers, and the registry is unchanged", function () {
            const snap = () => fs.readdirSync(path.join(registry, "users")).map(f => {
                const p = path.join(registry, "users", f);
                return `${f}:${fs.lstatSync(p).ino}:${sha256(fs.readFileSync(p))}`;
            }).join(",");
            const before = snap();
            const bobEntry = fs.readdirSync(path.join(registry, "users")).find(f => fs.readFileSync(path.join(registry, "users", f), "utf8").includes("name=bob.smith@"))!;
            const attempts = [
                `printf 'name=alice2@contoso.com\\nuid=2999990\\n' > ${q(path.join(registry, "users", "2999990"))}`,
                `printf 'state=active\\n' >> ${q(path.join(registry, "users", String(aliceUid)))}`,
                `cp ${q(path.join(registry, "users", String(aliceUid)))} ${q(path.join(registry, "users", bobEntry))}`,
                `rm -f ${q(path.join(registry, "users", bobEntry))}`,
                `ln -s /tmp/x ${q(path.join(registry, "users", "2999991"))}`,
                `echo result=applied > ${q(path.join(registry, "status", "2999992"))}`,
                `${PUBLISH} --user bob.smith@contoso.com`,
                `${PUBLISH} --revoke alice@contoso.com`,
            ];
            for (const a of attempts) {
                const r = ssh(alice, a);
                assert.notStrictEqual(r.status, 0, `${a} must fail: ${r.text}`);
            }
            // Posing as the PAM hook for another user: not root, so it does nothing.
            const pose = ssh(alice, `PAM_TYPE=open_session PAM_USER=bob.smith@contoso.com ${PUBLISH}; echo rc=$?`);
            assert.match(pose.stdout.toString(), /rc=0/);
            assert.strictEqual(snap(), before);
            assert.notStrictEqual(ssh(alice, `ls ${q(homeOf(bob))}`).status, 0, "another user's home is private (0700)");
        });
    });

    describe("AlmaLinux 8's shadow-utils 4.6 (stand-in: goodname rule, no --badname): UPN accounts written under the shadow lock", function () {
        // test/support/el8-shadow.ts: useradd/groupadd as EL8's, in the scheduler's and compute's /usr/local/sbin (first on
        // the apply script's PATH). Debian 12's own useradd accepts '@' (measured), so without the stand-in the fallback
        // would never run here.
        const ETC_FILES = ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"];
        const meta = (h: string) => hostOk(h, ["stat", "-c", "%n %U:%G %a", ...ETC_FILES]).stdout.toString();
        const etcState = (h: string) => hostOk(h, ["stat", "-c", "%n %i %Y", ...ETC_FILES]).stdout.toString() + sha256(hostOk(h, ["cat", ...ETC_FILES]).stdout);
        const lineOf = (h: string, file: string, name: string) =>
            hostOk(h, ["cat", file]).stdout.toString().split("\n").filter(l => l.split(":")[0] === name);
        const leftovers = (h: string) => hostOk(h, ["ls", "-a", "/etc"]).stdout.toString().split("\n").filter(f => f.includes("cluster-accounts."));
        const today = () => Math.floor(Date.now() / 86400000);
        const editPy = /^ETC_EDIT_PY='\n([\s\S]*?)^'$/m.exec(fs.readFileSync(path.join(ACCOUNTS_SPEC, "files/apply-accounts.sh"), "utf8"))?.[1] ?? "";
        let henry: EntraUser;
        let henryUid = 0;
        const metaBefore: Record<string, string> = {};
        before(function () {
            for (const h of ["scheduler", "compute"]) {
                metaBefore[h] = meta(h);
                installEl8Shadow(argv => c!.net.hostArgv(h, argv));
            }
        });
        after(function () {
            for (const h of ["scheduler", "compute"]) removeEl8Shadow(argv => c!.net.hostArgv(h, argv));
            for (const u of ["2800011", "2800012", "2800013", "2800014", "2800015", "2800016", "2800017"]) {
                fs.rmSync(path.join(registry, "users", u), { force: true });
                fs.rmSync(path.join(registry, "status", u), { force: true });
            }
        });

        it("the stand-in behaves as EL8's: '@' and > 32 characters refused with exit 3 and shadow-utils' message, no --badname (exit 2)", function () {
            let r = host("compute", ["useradd", "--badname", "-M", "x@y.z"]);
            assert.strictEqual(r.status, 2, r.text);
            assert.match(r.stderr.toString(), /^useradd: unrecognized option '--badname'\nUsage: useradd \[options\] LOGIN/);
            assert.doesNotMatch(host("compute", ["useradd", "--help"]).stdout.toString(), /badname/);
            r = host("compute", ["groupadd", "-g", "2800010", "--", "x@y.z"]);
            assert.deepStrictEqual([r.status, r.stderr.toString()], [3, "groupadd: 'x@y.z' is not a valid group name\n"]);
            r = host("compute", ["useradd", "-M", "-N", "-g", "nogroup", "--", "a".repeat(33)]);
            assert.deepStrictEqual([r.status, r.stderr.toString()], [3, `useradd: invalid user name '${"a".repeat(33)}'\n`]);
            for (const bad of ["12345", "-x", "..", "a$b"]) assert.strictEqual(host("compute", ["useradd", "-M", "-N", "-g", "nogroup", "--", bad]).status, 3, bad);
            // Names the goodname rule allows go to the real tool (mixed case, dots, a trailing '$', 32 characters).
            for (const ok of ["Plain.Name", "samba$", "b".repeat(32)]) {
                hostOk("compute", ["useradd", "-M", "-N", "-g", "nogroup", "--", ok]);
                hostOk("compute", ["userdel", ok]);
            }
        });

        it("end to end: a UPN user's first sign-in creates the account on the scheduler, and sbatch runs on compute as the user from the home", async function () {
            henry = login!.newUser("henry@contoso.com");
            login!.grantRole(henry);
            henryUid = uidOf(henry);
            assert.match(fs.readFileSync(path.join(registry, "status", String(henryUid)), "utf8"), /^result=applied$/m, "the scheduler created it");
            const job = await batch(henry, "el8");
            assert.strictEqual(job.state, "COMPLETED", job.out);
            assert.match(job.out, new RegExp(`^uid=${henryUid}$`, "m"));
            assert.match(job.out, /^name=henry@contoso\.com$/m);
            assert.match(job.out, new RegExp(`^cwd=${homeOf(henry).replace(/\./g, "\\.")}$`, "m"));
            assert.match(job.out, /^host=compute$/m);
            assert.match(job.out, new RegExp(`^owner=${henryUid}$`, "m"));
        });

        it("writes exactly what EL8's useradd/groupadd would (locked password), keeps owner, mode and the other lines, leaves no temporary file", function () {
            const n = "henry@contoso.com";
            for (const h of ["scheduler", "compute"]) {
                assert.deepStrictEqual(lineOf(h, "/etc/passwd", n), [`${n}:x:${henryUid}:${henryUid}:cluster-accounts:/home/${n}:/bin/bash`], h);
                assert.deepStrictEqual(lineOf(h, "/etc/group", n), [`${n}:x:${henryUid}:`], h);
                const shadow = lineOf(h, "/etc/shadow", n);
                assert.strictEqual(shadow.length, 1, h);
                assert.match(shadow[0], new RegExp(`^henry@contoso\\.com:!!:(${today() - 1}|${today()}):0:99999:7:::$`), h);
                assert.deepStrictEqual(lineOf(h, "/etc/gshadow", n), [`${n}:!::`], h);
                assert.strictEqual(meta(h), metaBefore[h], `${h}: owners and modes kept (Debian: shadow root:shadow 640)`);
                assert.deepStrictEqual(leftovers(h), [], h);
                assert.strictEqual(getent(h, "passwd", n).split(":")[2], String(henryUid));
            }
            // Nothing else in the files changed: everything but the new lines is what the image had.
            assert.ok(lineOf("compute", "/etc/passwd", "root").length === 1 && lineOf("compute", "/etc/passwd", c!.user.name).length === 1);
        });

        it("a second apply run changes nothing and says nothing", function () {
            for (const h of ["scheduler", "compute"]) {
                apply(h);
                const state = etcState(h);
                for (let i = 0; i < 2; i++) {
                    const r = apply(h);
                    assert.strictEqual(r.status, 0, r.text);
                    assert.strictEqual(r.text, "", h);
                    assert.strictEqual(etcState(h), state, `${h}: same files (inode, mtime, content)`);
                }
            }
        });

        it("while another process holds lckpwdf the apply waits (glibc: at most 15 s), writes nothing, and creates the account once the lock is free", async function () {
            this.timeout(120000);
            const holderCode = "import ctypes, sys, time\nl = ctypes.CDLL('libc.so.6')\nassert l.lckpwdf() == 0\nprint('held', flush=True)\ntime.sleep(float(sys.argv[1]))\nl.ulckpwdf()\n";
            const hold = async (seconds: number, tag: string) => {
                const d = c!.startDaemon("compute", `pwd-lock-${tag}`, ["/usr/bin/python3", "-I", "-c", holderCode, String(seconds)]);
                await waitFor(() => d.log().includes("held") || d.exited, 10000, () => `lock holder: ${d.log()}`);
                assert.ok(!d.exited, d.log());
                return d;
            };
            fs.writeFileSync(path.join(registry, "users", "2800011"), good(2800011, "ivy@contoso.com"), { mode: 0o644 });
            const before = etcState("compute");
            let holder = await hold(40, "long");
            let t0 = Date.now();
            let r = apply("compute");
            const blockedMs = Date.now() - t0;
            await holder.stop();
            assert.strictEqual(r.status, 0, r.text);
            assert.match(r.stdout.toString(), /refused registry entry .*\/2800011: groupadd failed \(3\): groupadd: 'ivy@contoso\.com' is not a valid group name; writing the entries under the shadow lock failed: cannot take the shadow lock \(lckpwdf/);
            assert.ok(blockedMs >= 14000, `waited ${blockedMs} ms for the lock`);
            assert.strictEqual(etcState("compute"), before, "nothing written while the lock was held");
            assert.strictEqual(getent("compute", "passwd", "ivy@contoso.com"), "");
            figures.push(`apply against a held lckpwdf: gave up after ${blockedMs} ms (glibc's 15 s)`);
            // The next timer run retries at once when the files change, else within 60 s (the fast path); here at once.
            fs.rmSync(path.join(stateDir("compute"), "signature"), { force: true });
            holder = await hold(3, "short");
            t0 = Date.now();
            r = apply("compute");
            const waitedMs = Date.now() - t0;
            await holder.stop();
            assert.strictEqual(r.status, 0, r.text);
            assert.match(getent("compute", "passwd", "ivy@contoso.com"), /^ivy@contoso\.com:x:2800011:2800011:cluster-accounts:/);
            assert.ok(waitedMs >= 1500, `created only after the holder let go (${waitedMs} ms)`);
            figures.push(`apply while lckpwdf was held for 3 s: account created after ${waitedMs} ms`);
        });

        it("revocation removes such accounts on scheduler and compute, whether userdel/groupdel accept the name (4.6) or reject it", function () {
            const n = "henry@contoso.com";
            installEl8Shadow(argv => c!.net.hostArgv("compute", argv), { strictRemoval: true });
            assert.strictEqual(host("compute", ["userdel", "--", n]).status, 3, "the strict userdel stand-in rejects the name");
            const rv = login!.onLogin([PUBLISH, "--revoke", n]);
            assert.strictEqual(rv.status, 0, rv.text);
            for (const h of ["scheduler", "compute"]) {
                const r = apply(h);
                assert.strictEqual(r.status, 0, r.text);
                assert.strictEqual(getent(h, "passwd", n), "", h);
                assert.strictEqual(getent(h, "group", n), "", h);
                for (const f of ETC_FILES) assert.deepStrictEqual(lineOf(h, f, n), [], `${h} ${f}`);
                assert.strictEqual(meta(h), metaBefore[h], h);
                assert.deepStrictEqual(leftovers(h), [], h);
            }
            assert.match(fs.readFileSync(path.join(registry, "status", String(henryUid)), "utf8"), /^result=revoked$/m);
            assert.ok(fs.existsSync(homeOf(henry)), "the home on /shared stays");
        });

        it("names even the fallback must not write (':', '/', leading '-', newline) are refused by validation, and by the writer itself", function () {
            const before = etcState("compute");
            // One UID each: a refusal is reported once, when it first appears.
            for (const [uid, name] of [["2800012", "a:b@contoso.com"], ["2800013", "a/b@contoso.com"], ["2800014", "-a@contoso.com"]]) {
                const f = path.join(registry, "users", uid);
                fs.writeFileSync(f, good(Number(uid), name), { mode: 0o644 });
                const r = apply("compute");
                assert.strictEqual(r.status, 0, r.text);
                assert.match(r.stdout.toString(), new RegExp(`refused registry entry .*/${uid}: invalid name`), name);
                fs.rmSync(f);
            }
            assert.ok(editPy.includes("lckpwdf"), "the writer was found in the apply script");
            for (const name of ["a:b@contoso.com", "a/b@contoso.com", "-a@contoso.com", "a\nroot::0:0::/:/bin/sh", ""]) {
                const r = host("compute", ["env", "CA_OP=adduser", `CA_NAME=${name}`, "CA_UID=2800012", "CA_GID=2800012", "CA_HOME=/home/x", "CA_COMMENT=cluster-accounts",
                    "/usr/bin/python3", "-I", "-c", editPy]);
                assert.deepStrictEqual([r.status, r.stdout.toString()], [1, "invalid name\n"], JSON.stringify(name));
            }
            assert.strictEqual(etcState("compute"), before);
        });

        it("where --badname exists (a later shadow-utils): retried with it; a name over its 32-character limit still gets the fallback", function () {
            installEl8Shadow(argv => c!.net.hostArgv("compute", argv), { withBadname: true });
            try {
                const long = `${"k".repeat(30)}@contoso.com`;
                fs.writeFileSync(path.join(registry, "users", "2800016"), good(2800016, "kate@contoso.com"), { mode: 0o644 });
                fs.writeFileSync(path.join(registry, "users", "2800017"), good(2800017, long), { mode: 0o644 });
                const r = apply("compute");
                assert.strictEqual(r.status, 0, r.text);
                assert.doesNotMatch(r.stdout.toString(), /rejects the name kate@/, "kate: created by useradd --badname");
                assert.match(r.stdout.toString(), new RegExp(`useradd rejects the name ${long}; wrote its entries under the shadow lock instead`));
                assert.match(getent("compute", "passwd", "kate@contoso.com"), /^kate@contoso\.com:x:2800016:2800016:cluster-accounts:/);
                assert.deepStrictEqual(lineOf("compute", "/etc/passwd", long), [`${long}:x:2800017:2800017:cluster-accounts:/home/${long}:/bin/bash`]);
            } finally {
                installEl8Shadow(argv => c!.net.hostArgv("compute", argv));
            }
        });

        it("without any Python the entry is refused clearly (as before), nothing is written", function () {
            fs.writeFileSync(path.join(registry, "users", "2800015"), good(2800015, "judy@contoso.com"), { mode: 0o644 });
            const before = etcState("compute");
            // A private mount namespace on compute where the interpreter is not executable.
            const r = host("compute", ["unshare", "--mount", "--propagation", "private", "--", "bash", "-c",
                `mount --bind /dev/null "$(readlink -f /usr/bin/python3)" && exec ${APPLY}`]);
            assert.strictEqual(r.status, 0, r.text);
            assert.match(r.stdout.toString(), /refused registry entry .*\/2800015: groupadd failed \(3\): groupadd: 'judy@contoso\.com' is not a valid group name; no Python \(\/usr\/libexec\/platform-python or \/usr\/bin\/python3\)/);
            assert.strictEqual(etcState("compute"), before);
            assert.strictEqual(getent("compute", "passwd", "judy@contoso.com"), "");
        });
    });

    describe("idempotence and scale", function () {
        it("both scripts run twice are no-ops: the same entry (inode, mtime), the same passwd/group, nothing printed", function () {
            const entry = path.join(registry, "users", String(aliceUid));
            const st = () => { const s = fs.statSync(entry); return `${s.ino}:${s.mtimeMs}`; };
            const before = st();
            for (let i = 0; i < 2; i++) {
                const r = login!.onLogin([PUBLISH, "--user", "alice@contoso.com"]);
                assert.strictEqual(r.status, 0, r.text);
                assert.strictEqual(r.text, "");
                assert.strictEqual(st(), before);
            }
            const settingsFile = () => host("compute", ["cat", "/etc/default/cluster-accounts", APPLY, "/etc/slurm/prolog.d/10-cluster-accounts.sh"]).stdout;
            const installed = sha256(settingsFile());
            const reboot = boot("compute", "execute");
            assert.strictEqual(reboot.status, 0, reboot.text);
            assert.strictEqual(sha256(settingsFile()), installed, "the boot script run again changes nothing");
            for (const h of ["scheduler", "compute"]) {
                apply(h);
                const state = passwdState(h);
                for (let i = 0; i < 2; i++) {
                    const r = apply(h);
                    assert.strictEqual(r.status, 0, r.text);
                    assert.strictEqual(r.text, "", `${h}: quiet when nothing changed`);
                    assert.strictEqual(passwdState(h), state);
                }
            }
        });

        it("measures: publish-to-scheduler latency (timer loop, 3 s) and the cost of an apply run with many entries", async function () {
            this.timeout(600000);
            const lat: number[] = [];
            const first: number[] = [];
            for (let i = 0; i < 3; i++) {
                const u = login!.newUser(`lat${i}@contoso.com`);
                login!.grantRole(u);
                const t0 = Date.now();
                const uid = uidOf(u);
                first.push(Date.now() - t0);
                const e = fs.statSync(path.join(registry, "users", String(uid))).mtimeMs;
                const s = fs.statSync(path.join(registry, "status", String(uid))).mtimeMs;
                lat.push(Math.round(s - e));
            }
            figures.push(`sign-in -> account applied on the scheduler (status mtime - entry mtime), timer loop 3 s: median ${median(lat)} ms of [${lat.join(", ")}]`);
            figures.push(`first sign-in ssh round trip (includes the wait for the scheduler): median ${median(first)} ms of [${first.join(", ")}]`);
            const n = Number(process.env.IDENTITY_BENCH_ENTRIES ?? "50");
            const bench = path.join(c!.sharedRoot, "apps", "bench");
            fs.mkdirSync(path.join(bench, "users"), { recursive: true, mode: 0o755 });
            for (let i = 0; i < n; i++) {
                const uid = 3100000 + i;
                fs.writeFileSync(path.join(bench, "users", String(uid)), good(uid, `bench${i}@contoso.com`), { mode: 0o644 });
            }
            const benchApply = () => {
                const t = Date.now();
                const r = host("compute", ["env", `ACCOUNTS_REGISTRY=${bench}`, "ACCOUNTS_ROLE=execute", `ACCOUNTS_STATE_DIR=${stateDir("compute")}-bench`, APPLY]);
                assert.strictEqual(r.status, 0, r.text);
                return { ms: Date.now() - t, r };
            };
            const create = benchApply();
            assert.strictEqual(create.r.stdout.toString().split("\n").filter(l => l.includes("created bench")).length, n);
            assert.match(getent("compute", "passwd", `bench${n - 1}@contoso.com`), new RegExp(`:${3100000 + n - 1}:`));
            const steady = [benchApply(), benchApply(), benchApply()];
            for (const s of steady) assert.strictEqual(s.r.text, "");
            figures.push(`apply with ${n} entries on compute: first run (creates ${n} accounts) ${create.ms} ms; unchanged runs median ${median(steady.map(s => s.ms))} ms of [${steady.map(s => s.ms).join(", ")}]`);
            fs.rmSync(bench, { recursive: true, force: true });
        });
    });
});
