// Real-system tests of our own scripts (issue 5): cloud-init user data against the installed cloud-init,
// shellcheck on every script, the seed script over a real sshd, and the login node's sync script against
// real munged/slurmctld/slurmd in network namespaces. Needs Linux, root and scripts/setup-testbed.sh's packages.
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { seedInvocation } from "../components/slurm/seed";
import { validateCloudConfig } from "./support/cloud-init-check";
import { MiniCluster, MUNGE_UID, writeKey } from "./support/cluster";
import { LoopbackNs } from "./support/netns";
import { requirePrereqs } from "./support/prereqs";
import { run } from "./support/proc";
import { assertNoKeyMaterial } from "./support/secrets";
import { TestSshd } from "./support/sshd";
import { createTestUser, removeTestUser, TestUser } from "./support/users";

const REPO = path.resolve(__dirname, "..");
/** Each run creates its own unprivileged user (cstest<pid>, first free UID from 23456) and removes it. */
const TEST_USER = `cstest${process.pid}`;
const TEST_BASE_UID = 23456;
const SSH_COMMANDS = ["/usr/sbin/sshd", "ssh", "ssh-keygen", "ip", "nsenter", "sha256sum"];
const CLUSTER_COMMANDS = [...SSH_COMMANDS, "unshare", "setpriv", "munged", "munge", "unmunge", "slurmctld", "slurmd",
    "sbatch", "scontrol", "sinfo", "useradd", "userdel", "flock", "timeout"];

const sha256 = (b: Buffer | string) => crypto.createHash("sha256").update(b).digest("hex");

interface FileState { mode: number; uid: number; gid: number; mtimeMs: number; ino: number; sha: string }

/** Every entry under dir (relative path -> state), for "nothing changed" comparisons. */
function snapshot(dir: string): Record<string, FileState | "dir"> {
    const out: Record<string, FileState | "dir"> = {};
    if (!fs.existsSync(dir)) return out;
    const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            const rel = path.relative(dir, p);
            if (e.isDirectory()) {
                out[rel] = "dir";
                walk(p);
            } else {
                const st = fs.statSync(p);
                out[rel] = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs, ino: st.ino, sha: sha256(fs.readFileSync(p)) };
            }
        }
    };
    walk(dir);
    return out;
}

function mkTemp(prefix: string): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    fs.chmodSync(d, 0o755);
    return d;
}

describe("bootstrap chain (real system)", function () {
    describe("cloud-init strict check (test/support/cloud-init-check.ts)", function () {
        before(function () {
            requirePrereqs(this, "cloud-init check", { commands: ["cloud-init"] });
        });

        it("accepts a small valid #cloud-config document", function () {
            const r = validateCloudConfig([
                "#cloud-config",
                "package_update: true",
                "packages: [munge]",
                "write_files:",
                "  - path: /etc/default/slurm-sync",
                "    permissions: '0644'",
                "    content: |",
                "      SLURM_SYNC_SOURCE=/shared/apps/slurm/slurm",
                "runcmd:",
                "  - [systemctl, enable, --now, slurm-sync.timer]",
                "",
            ].join("\n"));
            assert.deepStrictEqual(r, { ok: true, errors: [] });
        });

        it("rejects a misspelt top-level key (runcmdd) that `cloud-init schema` alone accepts", function () {
            const text = "#cloud-config\nruncmdd:\n  - echo hi\n";
            const r = validateCloudConfig(text);
            assert.strictEqual(r.ok, false);
            assert.ok(r.errors.some(e => e.includes("runcmdd")), r.errors.join("\n"));
        });

        it("rejects a value of the wrong type, through cloud-init's own schema", function () {
            const r = validateCloudConfig("#cloud-config\nwrite_files: not-a-list\n");
            assert.strictEqual(r.ok, false);
            assert.ok(r.errors.some(e => e.startsWith("cloud-init schema:") && e.includes("write_files")), r.errors.join("\n"));
        });

        it("rejects a document without the #cloud-config header", function () {
            const r = validateCloudConfig("runcmd: [[true]]\n");
            assert.strictEqual(r.ok, false);
        });
    });

    describe("shellcheck", function () {
        before(function () {
            requirePrereqs(this, "shellcheck", { commands: ["shellcheck"] });
        });

        it("passes `shellcheck -x` on every *.sh under components/ and scripts/", function () {
            const scripts: string[] = [];
            const walk = (d: string) => {
                if (!fs.existsSync(d)) return;
                for (const e of fs.readdirSync(d, { withFileTypes: true })) {
                    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
                    const p = path.join(d, e.name);
                    if (e.isDirectory()) walk(p);
                    else if (e.isFile() && e.name.endsWith(".sh")) scripts.push(p);
                }
            };
            walk(path.join(REPO, "components"));
            walk(path.join(REPO, "scripts"));
            assert.ok(scripts.length > 0, "no shell scripts found");
            const failures: string[] = [];
            for (const s of scripts) {
                const r = run(["shellcheck", "-x", path.relative(REPO, s)], { cwd: REPO });
                if (r.status !== 0) failures.push(`${path.relative(REPO, s)}:\n${r.text}`);
            }
            assert.deepStrictEqual(failures, [], failures.join("\n"));
        });
    });

    describe("seedInvocation (components/slurm/seed.ts)", function () {
        it("builds `bash -s -- <quoted args>` with the trust library and then the script as stdin", function () {
            const inv = seedInvocation("slurm-dev");
            assert.strictEqual(inv.command, "bash -s -- 'slurm-dev'");
            assert.strictEqual(inv.stdin, fs.readFileSync(path.join(REPO, "components/shared-trust/trust-lib.sh"), "utf8") +
                fs.readFileSync(path.join(REPO, "components/slurm/seed-shared.sh"), "utf8"));
            assert.strictEqual(seedInvocation("c1", { schedRoot: "/x/sched", sharedRoot: "/y/shared" }).command,
                "bash -s -- 'c1' '/x/sched' '/y/shared'");
        });

        it("refuses cluster names that are not the sanitised form", function () {
            for (const bad of ["Slurm", "slurm dev", "a;rm -rf /", "x'y", "", "a_b"]) {
                assert.throws(() => seedInvocation(bad), /must match \^\[a-z0-9-\]\+\$/, bad);
            }
            assert.throws(() => seedInvocation("ok", { sharedRoot: "relative" }), /absolute path/);
        });
    });

    describe("seeding /shared from the scheduler over real SSH", function () {
        const cluster = "slurm-dev";
        let tmp = "";
        let ns: LoopbackNs | undefined;
        let sshd: TestSshd | undefined;
        let schedRoot = "", sharedRoot = "", srcDir = "", destDir = "";
        const key = crypto.randomBytes(1024);
        const outputs: Buffer[] = [];

        const seed = (clusterDir = cluster) => {
            const inv = seedInvocation(clusterDir, { schedRoot, sharedRoot });
            const r = sshd!.ssh(inv.command, inv.stdin);
            outputs.push(r.stdout, r.stderr);
            return r;
        };

        before(async function () {
            requirePrereqs(this, "seeding over SSH", { root: true, commands: SSH_COMMANDS });
            tmp = mkTemp("cst-seed-");
            schedRoot = path.join(tmp, "sched");
            sharedRoot = path.join(tmp, "shared");
            srcDir = path.join(schedRoot, cluster);
            destDir = path.join(sharedRoot, "apps", "slurm", cluster);
            fs.mkdirSync(srcDir, { recursive: true });
            fs.mkdirSync(sharedRoot);
            // /sched/<cluster>/ as cyclecloud-slurm 4.x writes it (abridged), plus files that must not be copied.
            fs.writeFileSync(path.join(srcDir, "slurm.conf"), [
                "SlurmctldHost=slurm-dev-scheduler",
                "ClusterName=slurm-dev",
                "# This as the partition definitions managed by azslurm partitions > /sched/azure.conf",
                "Include azure.conf",
                "Include accounting.conf",
                "#Include commented-out.conf",
                "Include keep_alive.conf",
                "include site_specific.conf",
                "",
            ].join("\n"));
            fs.writeFileSync(path.join(srcDir, "azure.conf"), "PartitionName=hpc Nodes=slurm-dev-hpc-[1-4] Default=YES\n");
            fs.writeFileSync(path.join(srcDir, "accounting.conf"), "AccountingStorageType=accounting_storage/none\n");
            fs.writeFileSync(path.join(srcDir, "keep_alive.conf"), "# SuspendExcNodes=\n");
            fs.writeFileSync(path.join(srcDir, "site_specific.conf"), "# site specific\n");
            fs.writeFileSync(path.join(srcDir, "gres.conf"), "# gres (not included: not copied, issue 10)\n");
            fs.writeFileSync(path.join(srcDir, "slurmdbd.conf"), "StoragePass=do-not-copy\n", { mode: 0o600 });
            fs.mkdirSync(path.join(srcDir, "spool"));
            writeKey(path.join(srcDir, "munge.key"), key, "root");
            ns = new LoopbackNs(`cst${process.pid}-ssh`);
            ns.setUp();
            sshd = new TestSshd(path.join(tmp, "sshd"), "127.0.0.1", argv => ns!.argv(argv), argv => ns!.argv(argv));
            await sshd.start();
        });

        after(async function () {
            await sshd?.stop();
            await ns?.tearDown();
            if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
        });

        // Only slurm.conf, what it includes and the key (issue 10: gres.conf is present but not included).
        const expected = ["accounting.conf", "azure.conf", "keep_alive.conf", "munge.key", "site_specific.conf", "slurm.conf"];

        it("copies munge.key (0400 root:root), slurm.conf and its includes (0644 root:root), printing sha256 per file", function () {
            const r = seed();
            assert.strictEqual(r.status, 0, r.text);
            assert.deepStrictEqual(fs.readdirSync(destDir).sort(), expected);
            for (const name of expected) {
                const st = fs.statSync(path.join(destDir, name));
                assert.strictEqual(st.mode & 0o7777, name === "munge.key" ? 0o400 : 0o644, `${name} mode`);
                assert.strictEqual(st.uid, 0, `${name} owner`);
                assert.strictEqual(st.gid, 0, `${name} group`);
                const content = fs.readFileSync(path.join(destDir, name));
                assert.ok(content.equals(fs.readFileSync(path.join(srcDir, name))), `${name} content`);
                const lines = r.stdout.toString().split("\n").filter(l => new RegExp(`^seed-shared: ${name.replace(".", "\\.")}\\s`).test(l));
                assert.strictEqual(lines.length, 1, `one line for ${name}:\n${r.stdout}`);
                assert.ok(lines[0].includes(`sha256=${sha256(content)}`), lines[0]);
            }
            for (const d of [path.join(sharedRoot, "apps"), path.join(sharedRoot, "apps", "slurm"), destDir]) {
                assert.strictEqual(fs.statSync(d).mode & 0o7777, 0o755, d);
            }
        });

        it("changes nothing on a second run (same key, same mtimes and inodes)", function () {
            const before = snapshot(sharedRoot);
            const r = seed();
            assert.strictEqual(r.status, 0, r.text);
            assert.deepStrictEqual(snapshot(sharedRoot), before);
            assert.strictEqual(r.stdout.toString().split("\n").filter(l => / unchanged$/.test(l)).length, expected.length, r.stdout.toString());
        });

        it("rewrites only a changed file, atomically (new inode), leaving the others alone", function () {
            const before = snapshot(sharedRoot);
            fs.appendFileSync(path.join(srcDir, "azure.conf"), "PartitionName=htc Nodes=slurm-dev-htc-[1-2]\n");
            const r = seed();
            assert.strictEqual(r.status, 0, r.text);
            const after = snapshot(sharedRoot);
            const changed = Object.keys(after).filter(k => JSON.stringify(after[k]) !== JSON.stringify(before[k]));
            assert.deepStrictEqual(changed, [path.join("apps", "slurm", cluster, "azure.conf")]);
            const a = after[changed[0]] as FileState, b = before[changed[0]] as FileState;
            assert.notStrictEqual(a.ino, b.ino, "written through a temporary file and rename");
            assert.strictEqual(a.mode, 0o644);
        });

        it("fails with a clear message naming a missing included file, and leaves /shared untouched", function () {
            const before = snapshot(sharedRoot);
            fs.appendFileSync(path.join(srcDir, "slurm.conf"), "Include topology.conf\n");
            fs.appendFileSync(path.join(srcDir, "azure.conf"), "# changed again\n");
            try {
                const r = seed();
                assert.notStrictEqual(r.status, 0, r.text);
                assert.match(r.stderr.toString(), /topology\.conf.*missing/);
                assert.deepStrictEqual(snapshot(sharedRoot), before, "/shared changed although the seed failed");
            } finally {
                fs.writeFileSync(path.join(srcDir, "slurm.conf"), fs.readFileSync(path.join(srcDir, "slurm.conf"), "utf8").replace("Include topology.conf\n", ""));
            }
        });

        it("fails with a clear message naming a missing munge.key or slurm.conf, writing nothing", function () {
            for (const missing of ["munge.key", "slurm.conf"]) {
                const other = `other-${missing.replace(".", "-")}`;
                const dir = path.join(schedRoot, other);
                fs.mkdirSync(dir);
                for (const f of fs.readdirSync(srcDir)) {
                    if (f !== missing && fs.statSync(path.join(srcDir, f)).isFile()) fs.copyFileSync(path.join(srcDir, f), path.join(dir, f));
                }
                const before = snapshot(sharedRoot);
                const r = seed(other);
                assert.notStrictEqual(r.status, 0, r.text);
                assert.ok(r.stderr.toString().includes(`${dir}/${missing}`), r.stderr.toString());
                assert.deepStrictEqual(snapshot(sharedRoot), before);
                assert.ok(!fs.existsSync(path.join(sharedRoot, "apps", "slurm", other)));
            }
        });

        it("never prints key material (raw, hex or base64) on stdout or stderr", function () {
            assert.ok(outputs.length >= 10);
            for (const out of outputs) assertNoKeyMaterial(out, key, "seed output");
        });
    });

    describe("cluster in network namespaces: scheduler, compute, login configured from /shared", function () {
        let tmp = "";
        let user: TestUser | undefined;
        let c: MiniCluster | undefined;
        let tornDown = false;
        const outputs: Buffer[] = [];
        // BOOTSTRAP_CHAIN_VERBOSE=1 prints what the seed and sync scripts say.
        const keep = <T extends { stdout: Buffer; stderr: Buffer }>(r: T): T => {
            outputs.push(r.stdout, r.stderr);
            if (process.env.BOOTSTRAP_CHAIN_VERBOSE) console.log(`${r.stdout}${r.stderr}`.replace(/^/gm, "        | "));
            return r;
        };

        before(async function () {
            requirePrereqs(this, "Slurm cluster in network namespaces", { root: true, commands: CLUSTER_COMMANDS });
            user = createTestUser(TEST_USER, TEST_BASE_UID);
            tmp = mkTemp("cst-cluster-");
            c = new MiniCluster(tmp, `cst${process.pid}`, "cstest", user);
            await c.setUp();
            // The login node as cloud-init leaves it: munge installed with the package's own key and running.
            writeKey(c.login.munge.keyFile, crypto.randomBytes(1024), "munge");
            c.restartLoginMunge();
        });

        after(async function () {
            if (c && !tornDown) await c.tearDown();
            if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
            removeTestUser(user);
        });

        it("login sync waits (exit 0, one line) while nothing is seeded", function () {
            const r = keep(c!.sync());
            assert.strictEqual(r.status, 0, r.text);
            assert.match(r.stdout.toString(), /^slurm-sync: waiting for .*munge\.key/);
            assert.strictEqual(r.stdout.toString().trim().split("\n").length, 1);
            assert.ok(!fs.existsSync(path.join(c!.login.confDir, "slurm.conf")));
        });

        it("seeds /shared over SSH, then scheduler (slurmctld) and compute (slurmd) run from the seeded files", async function () {
            const r = keep(c!.seed());
            assert.strictEqual(r.status, 0, r.text);
            await c!.startSchedulerAndCompute();
        });

        it("login sync installs key (munge, 0400) and config (0644), restarts munge once, and verifies", function () {
            const pidBefore = c!.loginMungePid();
            const r = keep(c!.sync());
            assert.strictEqual(r.status, 0, r.text);
            const out = r.stdout.toString();
            assert.match(out, /restarting munge/);
            assert.match(out, /munge round trip OK/);
            assert.match(out, /installed munge key matches the seeded key/);
            assert.match(out, /controller accepts/);
            assert.notStrictEqual(c!.loginMungePid(), pidBefore, "munged restarted");
            const keySt = fs.statSync(c!.login.munge.keyFile);
            assert.strictEqual(keySt.mode & 0o7777, 0o400);
            assert.strictEqual(keySt.uid, MUNGE_UID, "owned by the login host's munge (cyclecloud-slurm's UID)");
            assert.ok(fs.readFileSync(c!.login.munge.keyFile).equals(c!.key));
            for (const name of ["slurm.conf", "azure.conf", "accounting.conf", "keep_alive.conf", "site_specific.conf"]) {
                const p = path.join(c!.login.confDir, name);
                assert.strictEqual(fs.statSync(p).mode & 0o7777, 0o644, name);
                assert.strictEqual(fs.statSync(p).uid, 0, name);
                assert.strictEqual(fs.readFileSync(p, "utf8"), fs.readFileSync(path.join(c!.schedDir, name), "utf8"), name);
            }
        });

        it("a second sync changes nothing and does not restart munge", function () {
            const pid = c!.loginMungePid();
            const before = { conf: snapshot(c!.login.confDir), key: snapshot(path.dirname(c!.login.munge.keyFile))["munge.key"] };
            const r = keep(c!.sync());
            assert.strictEqual(r.status, 0, r.text);
            assert.match(r.stdout.toString(), /up to date/);
            assert.doesNotMatch(r.stdout.toString(), /restart/);
            assert.strictEqual(c!.loginMungePid(), pid);
            assert.deepStrictEqual({ conf: snapshot(c!.login.confDir), key: snapshot(path.dirname(c!.login.munge.keyFile))["munge.key"] }, before);
            const check = keep(c!.sync("--check"));
            assert.strictEqual(check.status, 0, check.text);
        });

        it("a batch job submitted from login as an unprivileged user runs on compute and writes to /shared", async function () {
            const job = await c!.submitJob("first");
            assert.strictEqual(job.state, "COMPLETED", job.output);
            assert.match(job.output, /^host=compute$/m);
            assert.match(job.output, new RegExp(`^uid=${user!.uid}$`, "m"));
            assert.strictEqual(fs.readFileSync(job.resultFile, "utf8").trim(), `job ${job.id} ran on compute`);
            assert.strictEqual(fs.statSync(job.resultFile).uid, user!.uid);
        });

        it("a stale key on login: --check reports the mismatch clearly (exit 2); sync heals it from /shared", function () {
            writeKey(c!.login.munge.keyFile, crypto.randomBytes(1024), "munge");
            c!.restartLoginMunge();
            const check = keep(c!.sync("--check"));
            assert.strictEqual(check.status, 2, check.text);
            assert.match(check.stderr.toString(), /munge key mismatch: .*differs from the seeded .*munge\.key/);
            const heal = keep(c!.sync());
            assert.strictEqual(heal.status, 0, heal.text);
            assert.match(heal.stdout.toString(), /controller accepts/);
        });

        it("a stale seed (old key in /shared): verification reports a mismatch with the scheduler; re-seed + re-sync heal it", async function () {
            const stale = crypto.randomBytes(1024);
            writeKey(path.join(c!.seededDir, "munge.key"), stale, "root");
            const r = keep(c!.sync());
            assert.strictEqual(r.status, 2, r.text);
            const err = r.stderr.toString();
            assert.match(err, /munge key mismatch with the scheduler: slurmctld rejects this node's munge credentials/);
            assert.match(err, /Re-seed \/shared from the scheduler/);
            assert.ok(fs.existsSync(c!.login.state), "failed verification is remembered");
            const again = keep(c!.sync());
            assert.strictEqual(again.status, 2, `the next timer run (nothing changed) must re-check and fail again: ${again.text}`);
            assert.doesNotMatch(again.stdout.toString(), /restart/);
            const check = keep(c!.sync("--check"));
            assert.strictEqual(check.status, 2, check.text);
            assert.match(check.stderr.toString(), /munge key mismatch with the scheduler/);
            const sub = c!.asUserOnLogin(["sbatch", "--wrap", "true"]);
            assert.notStrictEqual(sub.status, 0, "sbatch must fail with a stale key");

            const reseed = keep(c!.seed());
            assert.strictEqual(reseed.status, 0, reseed.text);
            assert.match(reseed.stdout.toString(), /munge\.key .* written/);
            const resync = keep(c!.sync());
            assert.strictEqual(resync.status, 0, resync.text);
            assert.match(resync.stdout.toString(), /controller accepts/);
            assert.ok(fs.readFileSync(c!.login.munge.keyFile).equals(c!.key));
            assert.ok(!fs.existsSync(c!.login.state), "marker removed once verification passes");
            assert.match(keep(c!.sync()).stdout.toString(), /up to date/);
            const job = await c!.submitJob("healed");
            assert.strictEqual(job.state, "COMPLETED", job.output);
            assert.match(job.output, /^host=compute$/m);
            stale.fill(0);
        });

        it("nothing the seed or sync scripts print contains key material", function () {
            for (const out of outputs) assertNoKeyMaterial(out, c!.key, "seed/sync output");
        });

        it("tears down: every daemon stopped by PID, namespaces removed, nothing left running", async function () {
            const r = await c!.tearDown();
            tornDown = true;
            assert.deepStrictEqual(r.sweptPids, [], "processes were still running in the namespaces after the daemons were stopped");
            assert.deepStrictEqual(r.namespaces, []);
            assert.deepStrictEqual(r.alive, []);
        });
    });
});
