// Real-system tests of issue 16, items 1 and 4, on Slurm 25.11.5 (the cluster's release) in network namespaces:
//  - the Slurm prolog as cyclecloud-slurm 4.x lays it out: /etc/slurm/prolog.d on every node a symlink into the shared,
//    slurm-owned /sched/<cluster>/prolog.d, Prolog=/etc/slurm/prolog.d/*; the cluster-init boot script
//    (010-cluster-accounts.sh, unmodified) writes 10-cluster-accounts.sh there once, atomically, without replacing the
//    link; slurmd runs it through the link and it creates the job's account on a compute node that had not seen it;
//  - jobs Slurm 25.11.5 holds because the scheduler could not resolve their UID (Reason=JobHeldAdmin, SystemComment
//    "slurm_cred_create failure", as shared/reference/identity-probe/probe-25.sh measured) are released by the
//    scheduler's apply (cluster-accounts-apply, unmodified) whatever pass finds them, start at once, and end COMPLETED
//    with their output in the user's shared home; a job an admin held stays held;
//  - (item 9) a compute node whose listing of users/ is stale, as an NFS client's is for up to 30 s (actimeo=30):
//    the prolog passes the job's UID and the apply script applies users/<UID> by its path, so the user's first job runs
//    as the user in the home; issue 9's prolog (no UID) is run as the control. Bad --uid values change nothing.
// Registry entries come only from the real publish script (cluster-account-publish --user, as root on the login host).
// No timer runs here: each apply pass is run by the test, so what each pass does is observable.
// Needs Linux, root and scripts/setup-testbed.sh (Slurm 25.11.5 under /opt/slurm-25.11.5).
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ACCOUNTS_APPLY, ACCOUNTS_BOOT_SCRIPT, ACCOUNTS_PUBLISH, accountSettings, accountsStateDir, bootAccounts, installLoginHook, onHost, writeOnHost } from "./support/accounts";
import { MiniCluster, SLURM_UID } from "./support/cluster";
import { requirePrereqs } from "./support/prereqs";
import { Daemon, run, RunResult, waitFor } from "./support/proc";
import { createTestUser } from "./support/users";

const COMMANDS = ["/usr/sbin/sshd", "ssh", "ssh-keygen", "ip", "nsenter", "unshare", "setpriv", "munged", "munge", "unmunge",
    "slurmctld", "slurmd", "sbatch", "scontrol", "squeue", "useradd", "groupadd", "userdel", "flock", "timeout", "logger", "mount",
    "umount", "python3"];
const FINAL = ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL"];
const PROLOG = "10-cluster-accounts.sh";

describe("held jobs and the shared prolog on Slurm 25.11.5 (issue 16, real system)", function () {
    this.timeout(240000);
    let tmp = "";
    let c: MiniCluster | undefined;
    let settings: Record<string, string> = {};

    const host = (h: string, argv: string[]): RunResult => onHost(c!, h, argv);
    const hostOk = (h: string, argv: string[]): RunResult => {
        const r = host(h, argv);
        if (r.status !== 0) throw new Error(`${h}: ${argv.join(" ")} failed (${r.status}): ${r.text}`);
        return r;
    };
    const getent = (h: string, db: string, key: string) => host(h, ["getent", db, key]).stdout.toString().trim();
    const job = (id: string) => hostOk("scheduler", ["scontrol", "show", "job", "-o", id]).stdout.toString();
    const field = (info: string, k: string) => new RegExp(`(?:^| )${k}=(\\S*)`).exec(info)?.[1] ?? "";
    const apply = (h = "scheduler", env: string[] = []): RunResult => {
        const r = host(h, [...(env.length ? ["env", ...env] : []), ACCOUNTS_APPLY]);
        assert.strictEqual(r.status, 0, `apply on ${h}: ${r.text}`);
        return r;
    };
    const prologDir = () => path.join(c!.schedDir, "prolog.d");

    /** A user the login host resolves (as the Entra extension's NSS would), published by the real publish script. */
    const signIn = (name: string, uid: number): { name: string; uid: number; home: string } => {
        hostOk("login", ["groupadd", "-g", String(uid), name]);
        hostOk("login", ["useradd", "-u", String(uid), "-g", String(uid), "-M", "-d", `/home/${name}`, "-s", "/bin/bash", name]);
        const r = host("login", [ACCOUNTS_PUBLISH, "--user", name]);
        assert.strictEqual(r.status, 0, `publish ${name}: ${r.text}`);
        assert.ok(fs.existsSync(path.join(settings.ACCOUNTS_REGISTRY, "users", String(uid))), `no registry entry for ${name}: ${r.text}`);
        const home = getent("login", "passwd", name).split(":")[5];
        return { name, uid, home };
    };
    /** sbatch as the user on the login host, from the user's home (as after an SSH sign-in). */
    const submit = (u: { name: string; uid: number; home: string }, tag: string, extra = "", wrap = "id -un; pwd -P; hostname"): string => {
        const r = run(c!.net.hostArgv("login", ["setpriv", `--reuid=${u.uid}`, `--regid=${u.uid}`, "--clear-groups", "--",
            "env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", `HOME=${u.home}`, `USER=${u.name}`,
            `SLURM_CONF=${path.join(c!.login.confDir, "slurm.conf")}`,
            "bash", "-c", `cd && sbatch --parsable ${extra} -J ${tag} -o ${tag}-%j.out --wrap '${wrap}'`]), { timeoutMs: 30000 });
        assert.strictEqual(r.status, 0, `sbatch as ${u.name}: ${r.text}`);
        return r.stdout.toString().trim().split(";")[0];
    };
    /** Waits until Slurm has requeued and held the job because the scheduler could not resolve its UID. */
    const waitIdentityHold = async (id: string): Promise<string> => {
        let info = "";
        await waitFor(() => {
            info = job(id);
            return /JobState=PENDING/.test(info) && field(info, "Reason") === "JobHeldAdmin" && info.includes(" SystemComment=slurm_cred_create failure");
        }, 90000, () => `job ${id} was not held for its unknown UID: ${info}\n${c!.tail("scheduler", "slurmctld.log")}`, 300);
        return info;
    };
    const waitEnd = async (id: string): Promise<string> => {
        let info = "";
        await waitFor(() => {
            info = job(id);
            return FINAL.includes(field(info, "JobState"));
        }, 150000, () => `job ${id} did not end: ${info}`, 300);
        return field(info, "JobState");
    };
    /** The job's output, read from the user's home on /shared (the NSS home on the login host resolved). */
    const output = (u: { home: string }, tag: string, id: string): string => {
        const real = hostOk("login", ["readlink", "-f", u.home]).stdout.toString().trim();
        assert.ok(real.startsWith(path.join(c!.sharedRoot, "home") + "/"), `home ${u.home} is not on /shared: ${real}`);
        return fs.readFileSync(path.join(real, `${tag}-${id}.out`), "utf8");
    };
    /** The released job starts without the requeue delay: nothing keeps it waiting past now. */
    const assertNotDelayed = (id: string) => {
        const info = job(id);
        const state = field(info, "JobState");
        if (state !== "PENDING") return;
        assert.notStrictEqual(field(info, "Reason"), "JobHeldAdmin", `still held: ${info}`);
        const eligible = Date.parse(field(info, "EligibleTime"));
        assert.ok(!(eligible > Date.now() + 1000), `released but eligible only at ${field(info, "EligibleTime")} (requeue delay): ${info}`);
    };

    before(async function () {
        requirePrereqs(this, "held jobs on Slurm 25.11.5 (cluster in network namespaces)", { root: true, commands: COMMANDS });
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cst-held-"));
        fs.chmodSync(tmp, 0o755);
        const user = createTestUser(`csthj${process.pid}`, 24678);
        c = new MiniCluster(tmp, `csh${process.pid}`, "csheld", user);
        await c.setUp();
        await c.bringUpSeeded();
        settings = accountSettings(c);
        // The login hook, installed for real; no wait for the scheduler's answer (no timer runs in this suite).
        const inst = installLoginHook(c, path.join(tmp, "login-src"));
        if (inst.status !== 0) throw new Error(`install-login.sh: ${inst.text}`);
        writeOnHost(c, "login", "/etc/default/cluster-accounts",
            Object.entries({ ...settings, ACCOUNTS_ACK_WAIT: "0" }).map(([k, v]) => `${k}=${v}\n`).join(""), 0o644);
    });

    after(async function () {
        this.timeout(60000);
        if (c) await c.tearDown();
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    describe("the prolog in cyclecloud-slurm 4.x's shared prolog.d", function () {
        it("every node's /etc/slurm/prolog.d is a symlink to /sched/<cluster>/prolog.d (slurm-owned), slurm.conf globs it", function () {
            for (const h of ["scheduler", "compute", "login"]) {
                assert.strictEqual(hostOk(h, ["readlink", "/etc/slurm/prolog.d"]).stdout.toString().trim(), prologDir(), h);
                assert.strictEqual(getent(h, "passwd", "slurm").split(":")[2], String(SLURM_UID), h);
            }
            const st = fs.lstatSync(prologDir());
            assert.deepStrictEqual([st.isDirectory(), st.uid], [true, SLURM_UID]);
            assert.match(fs.readFileSync(path.join(c!.seededDir, "slurm.conf"), "utf8"), /^Prolog=\/etc\/slurm\/prolog\.d\/\*$/m);
        });

        it("compute's boot script does not write the shared prolog; the scheduler's writes it once (root 0755, atomically), the link stays", function () {
            const file = path.join(prologDir(), PROLOG);
            const r1 = bootAccounts(c!, "compute", "execute", settings);
            assert.strictEqual(r1.status, 0, r1.text);
            assert.ok(!fs.existsSync(file), "an execute node must not write the shared prolog");
            assert.match(r1.stdout.toString(), /not there yet \(the scheduler installs it/);
            const r2 = bootAccounts(c!, "scheduler", "scheduler", settings);
            assert.strictEqual(r2.status, 0, r2.text);
            assert.match(r2.stdout.toString(), new RegExp(`installed the Slurm prolog ${file.replace(/[.]/g, "\\.")}`));
            const st = fs.lstatSync(file);
            assert.deepStrictEqual([st.isFile(), st.uid, st.gid, st.mode & 0o7777], [true, 0, 0, 0o755]);
            assert.ok(fs.readFileSync(file).equals(fs.readFileSync(path.join(ACCOUNTS_BOOT_SCRIPT, "../../files/prolog-cluster-accounts.sh"))));
            for (const h of ["scheduler", "compute"]) {
                assert.ok(hostOk(h, ["bash", "-c", "[[ -L /etc/slurm/prolog.d ]] && echo link"]).stdout.toString().includes("link"), `${h}: link replaced`);
            }
            assert.deepStrictEqual(fs.readdirSync(prologDir()).sort(), [PROLOG, "90-imex_prolog.sh"], "no temporary file left");
            // Second run (and the other nodes' runs): nothing rewritten.
            const ino = st.ino;
            const again = bootAccounts(c!, "scheduler", "scheduler", settings);
            assert.strictEqual(again.status, 0, again.text);
            assert.doesNotMatch(again.stdout.toString(), /installed the Slurm prolog/);
            assert.strictEqual(fs.lstatSync(file).ino, ino, "unchanged file is not rewritten");
            // A changed copy (an older version) is replaced by a new file (rename: new inode), never edited in place.
            fs.appendFileSync(file, "# old version\n");
            const fixed = bootAccounts(c!, "scheduler", "scheduler", settings);
            assert.strictEqual(fixed.status, 0, fixed.text);
            assert.notStrictEqual(fs.lstatSync(file).ino, ino);
            assert.doesNotMatch(fs.readFileSync(file, "utf8"), /old version/);
        });

        it("a node without /etc/slurm/prolog.d gets none created (cyclecloud-slurm's installer must still be able to link it)", function () {
            hostOk("login", ["mv", "/etc/slurm/prolog.d", "/etc/slurm/prolog.d.saved"]);
            try {
                const r = onHost(c!, "login", ["env", `CYCLECLOUD_SPEC_PATH=${path.dirname(path.dirname(ACCOUNTS_BOOT_SCRIPT))}`, "ACCOUNTS_ROLE=execute",
                    "ACCOUNTS_SETTINGS=/etc/default/cluster-accounts-test", ...Object.entries(settings).map(([k, v]) => `${k}=${v}`),
                    `ACCOUNTS_STATE_DIR=${accountsStateDir(c!, "login")}`, "bash", ACCOUNTS_BOOT_SCRIPT]);
                assert.strictEqual(r.status, 0, r.text);
                assert.match(r.stdout.toString(), /\/etc\/slurm\/prolog\.d does not exist/);
                assert.strictEqual(host("login", ["test", "-e", "/etc/slurm/prolog.d"]).status, 1, "created /etc/slurm/prolog.d");
            } finally {
                hostOk("login", ["mv", "/etc/slurm/prolog.d.saved", "/etc/slurm/prolog.d"]);
            }
        });

        it("the prolog takes nothing from its environment and exits 0 even when the apply fails", function () {
            const marker = path.join(tmp, "bash-env-ran");
            fs.writeFileSync(path.join(tmp, "evil-env.sh"), `touch ${marker}\n`, { mode: 0o644 });
            const r = host("compute", ["env", `BASH_ENV=${path.join(tmp, "evil-env.sh")}`, "ACCOUNTS_REGISTRY=/nonexistent", "SLURM_JOB_ID=1;x",
                "PATH=/nonexistent", "/etc/slurm/prolog.d/" + PROLOG]);
            assert.strictEqual(r.status, 0, r.text);
            assert.ok(!fs.existsSync(marker), "BASH_ENV was obeyed");
        });
    });

    describe("jobs held because the scheduler could not resolve the UID", function () {
        it("account created in the same pass: the held job is released, starts at once on a compute node that never saw the user (prolog), output in the shared home", async function () {
            const u = signIn("hana.k@contoso.com", 7476285);
            assert.strictEqual(getent("scheduler", "passwd", String(u.uid)), "");
            assert.strictEqual(getent("compute", "passwd", String(u.uid)), "", "compute must not know the user before the job");
            const id = submit(u, "same");
            const held = await waitIdentityHold(id);
            assert.strictEqual(field(held, "Priority"), "0", held);
            assert.match(held, / Restarts=[1-9]/);
            // Held; nothing changes it until the account exists on the scheduler.
            const r = apply();
            assert.match(r.stdout.toString(), new RegExp(`created ${u.name.replace(/\./g, "\\.")} \\(uid ${u.uid}`));
            assert.match(r.stdout.toString(), new RegExp(`released job ${id} of UID ${u.uid} `));
            assertNotDelayed(id);
            assert.strictEqual(await waitEnd(id), "COMPLETED", job(id));
            const out = output(u, "same", id);
            const real = hostOk("login", ["readlink", "-f", u.home]).stdout.toString().trim();
            assert.strictEqual(out, `${u.name}\n${real}\ncompute\n`, "ran as the user (name resolves on compute: the prolog created it), in the home");
            assert.match(getent("compute", "passwd", u.name), new RegExp(`:${u.uid}:${u.uid}:`));
            // A later pass does not touch it again.
            assert.doesNotMatch(apply().stdout.toString(), /released/);
        });

        it("account created in an earlier pass (one that could not reach slurmctld): the next pass, a fast-path one, releases the job", async function () {
            const u = signIn("ivo@contoso.com", 7476301);
            const id = submit(u, "earlier");
            await waitIdentityHold(id);
            const state = accountsStateDir(c!, "scheduler");
            // The pass that creates the account cannot reach the controller (as when slurmctld is busy or restarting).
            // (a config naming no controller: Slurm's clients fail at once instead of retrying)
            const noCtld = path.join(tmp, "no-controller-slurm.conf");
            fs.writeFileSync(noCtld, "ClusterName=csheld\n", { mode: 0o644 });
            const first = apply("scheduler", [`SLURM_CONF=${noCtld}`]);
            assert.match(first.stdout.toString(), /created ivo@contoso\.com/);
            assert.doesNotMatch(first.stdout.toString(), /released/);
            assert.match(getent("scheduler", "passwd", u.name), /:7476301:/);
            // The pass after a change is a full one (the change happened after its signature was taken); still no controller.
            assert.doesNotMatch(apply("scheduler", [`SLURM_CONF=${noCtld}`]).stdout.toString(), /released/);
            assert.strictEqual(field(job(id), "Reason"), "JobHeldAdmin", "still held after the passes that created the account");
            const applied = fs.statSync(path.join(state, "applied"));
            const second = apply();
            assert.match(second.stdout.toString(), new RegExp(`released job ${id} of UID ${u.uid} `));
            assert.doesNotMatch(second.stdout.toString(), /created/);
            const after = fs.statSync(path.join(state, "applied"));
            assert.deepStrictEqual([after.ino, after.mtimeMs], [applied.ino, applied.mtimeMs], "the releasing pass was the fast path (no full pass)");
            assertNotDelayed(id);
            assert.strictEqual(await waitEnd(id), "COMPLETED", job(id));
            assert.match(output(u, "earlier", id), /^ivo@contoso\.com\n/);
        });

        it("a job an admin holds (scontrol hold) stays held, also after an identity hold was released once", async function () {
            const u = signIn("jo@contoso.com", 7476302);
            // Identity hold, released by the apply; then the admin holds the same job on purpose.
            const id1 = submit(u, "adm1", "--begin=now+1hour");
            hostOk("scheduler", ["scontrol", "hold", id1]);
            const id2 = submit(u, "adm2");
            await waitIdentityHold(id2);
            // Keep the released job from running at once, so the admin can hold it again.
            hostOk("scheduler", ["scontrol", "update", "nodename=compute", "state=drain", "reason=held-jobs-test"]);
            const r = apply();
            assert.match(r.stdout.toString(), new RegExp(`released job ${id2} `));
            assert.doesNotMatch(r.stdout.toString(), new RegExp(`released job ${id1} `));
            hostOk("scheduler", ["scontrol", "update", `jobid=${id2}`, "StartTime=now+1hour"]);
            hostOk("scheduler", ["scontrol", "hold", id2]);
            for (let i = 0; i < 3; i++) {
                const again = apply();
                assert.doesNotMatch(again.stdout.toString(), /released/, again.text);
            }
            for (const id of [id1, id2]) {
                const info = job(id);
                assert.deepStrictEqual([field(info, "JobState"), field(info, "Reason"), field(info, "Priority")], ["PENDING", "JobHeldAdmin", "0"], info);
            }
            hostOk("scheduler", ["scancel", id1, id2]);
            hostOk("scheduler", ["scontrol", "update", "nodename=compute", "state=resume"]);
        });
    });
    // /shared is NFS with actimeo=30 on the cluster (components/nfs.ts): a compute node's client may serve its listing of
    // users/ from its cache for up to 30 s after the scheduler saw a new entry, while a lookup of a name it never looked
    // up, and the open of a file, go to the server (nfs(5), "Directory entry caching", close-to-open). The stand-in, on
    // the compute host only: an overlay mount over its view of users/ (lower layer: the real users/), and a process
    // that listed the overlay's directory before the publish and keeps it open. overlayfs keeps the merged listing in a
    // cache for as long as one reader holds it (fs/overlayfs/readdir.c, ovl_cache_get/ovl_cache_put) and does not see
    // changes made in the lower layer behind its back, so readdir (ls, find, a glob) keeps returning the old names, as
    // the NFS client's cached listing does; a lookup of a new name goes to the lower layer and finds the entry, as a
    // LOOKUP to the server does. The attributes of users/ itself stay those of the overlay's root (unchanged), as the
    // client's cached attributes of the directory do. The test checks that the model holds before relying on it.
    describe("a compute node whose listing of users/ is stale (NFS attribute cache): the prolog passes the job's UID", function () {
        let holder: Daemon | undefined;
        let usersDir = "";
        const listed = (): string[] => hostOk("compute", ["ls", "-1A", usersDir]).stdout.toString().split("\n").filter(Boolean);
        const prologFile = () => path.join(prologDir(), PROLOG);
        /** Replaces the shared prolog as root would (new file, rename). */
        const putProlog = (text: string) => {
            const tmpFile = path.join(prologDir(), ".test-prolog");
            fs.writeFileSync(tmpFile, text, { mode: 0o755 });
            fs.chmodSync(tmpFile, 0o755);
            fs.renameSync(tmpFile, prologFile());
        };

        before(async function () {
            usersDir = path.join(settings.ACCOUNTS_REGISTRY, "users");
            const ov = path.join(tmp, "stale-listing");
            for (const d of ["upper", "work"]) fs.mkdirSync(path.join(ov, d), { recursive: true, mode: 0o755 });
            fs.chmodSync(path.join(ov, "upper"), 0o755);
            hostOk("compute", ["mount", "-t", "overlay", "stale-users", "-o",
                `lowerdir=${usersDir},upperdir=${path.join(ov, "upper")},workdir=${path.join(ov, "work")}`, usersDir]);
            holder = c!.startDaemon("compute", "stale-listing", ["python3", "-I", "-c",
                "import os, sys, time\nfd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)\n" +
                "print('listed', len(os.listdir(fd)), flush=True)\ntime.sleep(3600)\n", usersDir]);
            await waitFor(() => holder!.log().includes("listed") || holder!.exited, 30000, () => `holder: ${holder!.log()}`);
            assert.ok(!holder.exited, holder.log());
        });

        after(async function () {
            if (holder) await holder.stop();
            if (usersDir) host("compute", ["umount", usersDir]);
        });

        it("a user's first jobs: without --uid (issue 9's prolog) the job runs nameless, without its home; with it, as the user in the home", async function () {
            const u = signIn("kai.n@contoso.com", 7476310);
            const entry = path.join(usersDir, String(u.uid));
            // The model holds on compute: the listing lacks the new entry, a lookup by its path finds it.
            assert.ok(!listed().includes(String(u.uid)), `compute lists the new entry: ${listed().join(" ")}`);
            assert.strictEqual(host("compute", ["test", "-f", entry]).status, 0, "compute does not find the entry by its path");
            // The scheduler (fresh listing) applies it; Slurm then starts the user's jobs.
            assert.match(apply().stdout.toString(), /created kai\.n@contoso\.com \(uid 7476310/);
            // A full pass on compute without --uid (the timer, or the prolog before this change) does not see the entry.
            fs.rmSync(path.join(accountsStateDir(c!, "compute"), "signature"), { force: true });
            assert.doesNotMatch(apply("compute").stdout.toString(), /created kai\.n/);
            assert.strictEqual(getent("compute", "passwd", String(u.uid)), "");

            const wrap = 'id -un; echo "$HOME"; readlink -e "$HOME" || echo no-home; pwd -P; hostname';
            const real = hostOk("login", ["readlink", "-f", u.home]).stdout.toString().trim();
            const current = fs.readFileSync(prologFile(), "utf8");
            // Control: the same prolog without the job's UID (what it ran before this change).
            const old = current.replace(' "${args[@]}"', "");
            assert.notStrictEqual(old, current, "the prolog no longer passes the UID the way this test expects");
            putProlog(old);
            let ctl = "";
            try {
                const id = submit(u, "stale-old", "", wrap);
                assert.strictEqual(await waitEnd(id), "COMPLETED", job(id));
                ctl = output(u, "stale-old", id);
            } finally {
                putProlog(current);
            }
            assert.strictEqual(ctl, `id: cannot find name for user ID ${u.uid}\n${u.uid}\n${u.home}\nno-home\n${real}\ncompute\n`,
                "without --uid the job must run by bare UID, its $HOME missing on compute (section 2)");
            assert.strictEqual(getent("compute", "passwd", String(u.uid)), "");

            // The prolog as shipped: users/ looks unchanged on compute (listing and attributes), so only --uid gets the
            // entry applied, by its path (past the fast path when the control job's pass is under 60 s old).
            const id = submit(u, "stale-new", "", wrap);
            assert.strictEqual(await waitEnd(id), "COMPLETED", job(id));
            assert.strictEqual(output(u, "stale-new", id), `${u.name}\n${u.home}\n${real}\n${real}\ncompute\n`,
                "the job ran as the user, with its home link, on compute");
            assert.ok(getent("compute", "passwd", u.name).startsWith(`${u.name}:x:${u.uid}:${u.uid}:cluster-accounts:${u.home}:`),
                getent("compute", "passwd", u.name));
            assert.strictEqual(hostOk("compute", ["readlink", u.home]).stdout.toString().trim(), real);
            assert.ok(!listed().includes(String(u.uid)), "the listing stayed stale throughout: the entry was applied by its path");
        });

        it("a bad --uid (malformed, out of range, missing) exits 2 and does nothing; a UID with no entry or outside the registry's range runs only the normal pass", function () {
            const u = signIn("lee@contoso.com", 7476311);
            const uid = String(u.uid);
            assert.ok(!listed().includes(uid), "compute lists the new entry");
            assert.match(apply().stdout.toString(), /created lee@contoso\.com/);
            const state = accountsStateDir(c!, "compute");
            const passwd = () => hostOk("compute", ["getent", "passwd"]).stdout.toString();
            const before = passwd();
            const snapshot = () => fs.readdirSync(state).sort().map(f => `${f} ${fs.statSync(path.join(state, f)).mtimeMs}`).join("\n");
            const s0 = snapshot();
            for (const args of [["--uid", "abc"], ["--uid", ""], ["--uid", "007"], ["--uid", "-1"], ["--uid", `${uid};x`],
                ["--uid", "4294967295"], ["--uid", "99999999999"], ["--uid"], ["--bogus"], [uid]]) {
                const r = host("compute", [ACCOUNTS_APPLY, ...args]);
                assert.strictEqual(r.status, 2, `${args.join(" ")}: ${r.text}`);
                assert.match(r.stderr.toString(), /usage: cluster-accounts-apply \[--uid UID\]/, args.join(" "));
                assert.ok(!r.text.includes(";x"), "the value is echoed");
            }
            assert.strictEqual(snapshot(), s0, "a refused argument touched the state directory");
            // Valid numbers that select nothing: root's job, a UID below the people's range, one with no entry.
            for (const other of ["0", "1000", "7476399"]) {
                const r = host("compute", [ACCOUNTS_APPLY, "--uid", other]);
                assert.strictEqual(r.status, 0, `--uid ${other}: ${r.text}`);
            }
            fs.rmSync(path.join(state, "signature"), { force: true });
            assert.strictEqual(host("compute", [ACCOUNTS_APPLY, "--uid", "7476399"]).status, 0);
            assert.strictEqual(passwd(), before, "the hidden entry was applied without its UID being asked for");
            // The prolog with a SLURM_JOB_UID that is not a UID: the normal pass only, exit 0.
            for (const bad of ["abc", `${uid};x`, `${uid} --uid ${uid}`, "4294967295", ""]) {
                const r = host("compute", ["env", `SLURM_JOB_UID=${bad}`, "SLURM_JOB_ID=1", prologFile()]);
                assert.strictEqual(r.status, 0, r.text);
            }
            assert.strictEqual(passwd(), before, "the prolog passed a malformed SLURM_JOB_UID on");
            // An untrusted entry is refused by path as in the listing, naming the reason.
            const bad = path.join(settings.ACCOUNTS_REGISTRY, "users", "7476312");
            fs.writeFileSync(bad, "name=mo@contoso.com\nuid=7476312\ngid=7476312\nhome=/home/mo\nstate=active\nserial=1\n", { mode: 0o666 });
            fs.chmodSync(bad, 0o666);
            try {
                assert.ok(!listed().includes("7476312"));
                const r = host("compute", [ACCOUNTS_APPLY, "--uid", "7476312"]);
                assert.strictEqual(r.status, 0, r.text);
                assert.match(r.stdout.toString(), /refused registry entry \S+\/7476312: \S+ is group- or world-writable \(mode 666\)/);
                assert.strictEqual(getent("compute", "passwd", "7476312"), "");
            } finally {
                fs.rmSync(bad, { force: true });
            }
            // The job's own UID through the prolog, with the fast path armed (a pass right after a pass changes nothing):
            // applied by its path, then the normal pass.
            apply("compute");
            const applied = path.join(state, "applied");
            const a1 = fs.statSync(applied);
            apply("compute");
            const a2 = fs.statSync(applied);
            assert.deepStrictEqual([a2.ino, a2.mtimeMs], [a1.ino, a1.mtimeMs], "the second pass was not the fast path");
            const r = host("compute", ["env", `SLURM_JOB_UID=${uid}`, "SLURM_JOB_ID=1", prologFile()]);
            assert.strictEqual(r.status, 0, r.text);
            assert.match(getent("compute", "passwd", uid), /^lee@contoso\.com:x:7476311:/);
            // On the scheduler --uid has the same status semantics as a pass (the entry is applied already: unchanged).
            const st = path.join(settings.ACCOUNTS_REGISTRY, "status", uid);
            const mtime = fs.statSync(st).mtimeMs;
            assert.strictEqual(host("scheduler", [ACCOUNTS_APPLY, "--uid", uid]).status, 0);
            assert.match(fs.readFileSync(st, "utf8"), /^result=applied$/m);
            assert.strictEqual(fs.statSync(st).mtimeMs, mtime);
        });
    });
});
