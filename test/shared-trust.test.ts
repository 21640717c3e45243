// Real-system tests for issue 10, items 1, 2 and 5: what root on the login node installs from /shared
// (components/login/slurm-sync.sh) and what the scheduler publishes from /sched (components/slurm/seed-shared.sh).
// Each attack builds a clean fixture, spoils one thing, runs the unmodified script as root and checks that it
// refuses, names the path and the reason, changes nothing and exits non-zero. The last suite runs the sync
// against real munged/slurmctld/slurmd (Slurm 25.11.5) in network namespaces (controller check user, failed munge
// restart) while strace records every command line the seed and the syncs execute (execve: nothing can be missed,
// unlike sampling /proc). Each seed/sync of the fake-/shared suites runs in its own mount namespace whose /run and
// TMPDIR are the test's own directories, so "no staging directory left behind" is checked there, not in the
// machine-wide /run that other test runs share.
// SHARED_TRUST_SYNC_SCRIPT / SHARED_TRUST_SEED_SCRIPT run the same cases against other copies of the scripts
// (used once to show that the cases fail on the scripts from before issue 10). The seed always gets what production
// sends (seedScriptText: components/shared-trust/trust-lib.sh, then the script); the sync sources that library from
// where cloud-init writes it, installed for each run in the run's own /usr/local (privateUsrLocalArgv).
import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { seedInvocation, seedScriptText } from "../components/slurm/seed";
import { INSTALL_TRUST_LIB, MiniCluster, privateUsrLocalArgv, SYNC_SCRIPT, writeKey } from "./support/cluster";
import { requirePrereqs } from "./support/prereqs";
import { run, RunResult, runOk, slurmBin, stopPid, waitFor } from "./support/proc";
import { assertNoKeyMaterial } from "./support/secrets";
import { createTestUser, removeTestUser, TestUser } from "./support/users";

const REPO = path.resolve(__dirname, "..");
const SYNC = process.env.SHARED_TRUST_SYNC_SCRIPT ?? SYNC_SCRIPT;
const SEED = process.env.SHARED_TRUST_SEED_SCRIPT ?? path.join(REPO, "components/slurm/seed-shared.sh");
const SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const NOBODY = Number(run(["id", "-u", "nobody"]).stdout.toString().trim() || "65534");
const sha256 = (b: Buffer | string) => crypto.createHash("sha256").update(b).digest("hex");

function mkTemp(prefix: string): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    fs.chmodSync(d, 0o755);
    return d;
}

/** Every entry under dir: type, mode, owner, inode, content hash (for "nothing changed"). */
function snapshot(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (d: string) => {
        if (!fs.existsSync(d)) return;
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            const st = fs.lstatSync(p);
            const rel = path.relative(dir, p);
            if (st.isDirectory()) {
                out[rel] = `dir ${st.mode & 0o7777} ${st.uid}`;
                walk(p);
            } else if (st.isSymbolicLink()) {
                out[rel] = `link ${fs.readlinkSync(p)}`;
            } else {
                out[rel] = `file ${st.mode & 0o7777} ${st.uid}:${st.gid} ${st.ino} ${st.mtimeMs} ${sha256(fs.readFileSync(p))}`;
            }
        }
    };
    walk(dir);
    return out;
}

/** Staging directories the scripts left in a test's private /run or TMPDIR (see scoped()). */
function stagingDirs(tmp: string): string[] {
    const found: string[] = [];
    for (const d of [path.join(tmp, "private-run"), path.join(tmp, "private-tmp")]) {
        try {
            for (const e of fs.readdirSync(d)) if (/^(slurm-sync|seed-shared)\.[A-Za-z0-9]{6}$/.test(e)) found.push(path.join(d, e));
        } catch { /* no such dir */ }
    }
    return found.sort();
}

/**
 * argv run in its own mount namespace where /run is tmp/private-run and TMPDIR tmp/private-tmp (both empty at first):
 * what the scripts stage there is theirs alone, whatever else runs on the machine.
 */
function scoped(tmp: string, argv: string[]): string[] {
    const runDir = path.join(tmp, "private-run"), tmpDir = path.join(tmp, "private-tmp");
    for (const d of [runDir, tmpDir]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
    return ["unshare", "--mount", "--propagation", "private", "--", "bash", "-c", 'mount --bind "$0" /run && exec env TMPDIR="$1" "${@:2}"',
        runDir, tmpDir, ...argv];
}

/** A file owned by root:root with this mode and content. */
function put(file: string, content: string | Buffer, mode = 0o644): void {
    fs.writeFileSync(file, content, { mode });
    fs.chmodSync(file, mode);
    fs.chownSync(file, 0, 0);
}

const SLURM_CONF = "ClusterName=c1\nSlurmctldHost=scheduler\nInclude azure.conf\ninclude \"site_specific.conf\"\n";

describe("shared trust: seed and sync refuse what a non-root principal could have written (issue 10)", function () {
    describe("login sync (slurm-sync.sh) against a fake /shared", function () {
        let tmp = "";
        let shared = "", src = "", login = "", confDir = "", keyDir = "", keyFile = "", state = "";
        const seededKey = crypto.randomBytes(1024);
        const oldKey = crypto.randomBytes(1024);
        const outputs: Buffer[] = [];
        before(function () {
            requirePrereqs(this, "sync trust checks", { root: true, commands: ["munge", "unmunge", "flock", "setpriv", "timeout", "sha256sum", "unshare"] });
            if (run(["id", "munge"]).status !== 0) this.skip();
        });

        beforeEach(function () {
            tmp = mkTemp("cst-trust-sync-");
            shared = path.join(tmp, "shared");
            src = path.join(shared, "apps", "slurm", "c1");
            fs.mkdirSync(src, { recursive: true, mode: 0o755 });
            for (const d of [shared, path.join(shared, "apps"), path.join(shared, "apps", "slurm"), src]) fs.chmodSync(d, 0o755);
            put(path.join(src, "munge.key"), seededKey, 0o400);
            put(path.join(src, "slurm.conf"), SLURM_CONF);
            put(path.join(src, "azure.conf"), "PartitionName=hpc Nodes=compute Default=YES\n");
            put(path.join(src, "site_specific.conf"), "# site\n");
            login = path.join(tmp, "login");
            confDir = path.join(login, "etc-slurm");
            keyDir = path.join(login, "munge");
            keyFile = path.join(keyDir, "munge.key");
            state = path.join(login, "state", "slurm-sync.recheck");
            fs.mkdirSync(keyDir, { recursive: true, mode: 0o700 });
            fs.chmodSync(login, 0o755);
            runOk(["chown", "munge:", keyDir]);
            writeKey(keyFile, oldKey, "munge");
        });

        afterEach(function () {
            const left = tmp ? stagingDirs(tmp) : [];
            if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
            assert.deepStrictEqual(left, [], "the sync left a staging directory (key copies) behind");
        });

        after(function () {
            for (const out of outputs) assertNoKeyMaterial(out, seededKey, "sync output");
        });

        /**
         * The sync as the unit runs it, with the trust library where cloud-init writes it; the restart command fails, so
         * a run that gets past the checks says so.
         */
        const sync = (...args: string[]): RunResult => {
            const layers = path.join(tmp, "usr-local-layers");
            fs.mkdirSync(layers, { recursive: true, mode: 0o700 });
            const r = run(scoped(tmp, [...privateUsrLocalArgv(layers, INSTALL_TRUST_LIB, []), "env", "-i", `PATH=${SBIN_PATH}`, `TMPDIR=${path.join(tmp, "private-tmp")}`, `SLURM_SYNC_SOURCE=${src}`,
                `SLURM_CONF_DIR=${confDir}`, `MUNGE_KEY_FILE=${keyFile}`, "MUNGE_USER=munge", "MUNGE_RESTART_CMD=echo restart-attempted; exit 1",
                `MUNGE_SOCKET=${path.join(tmp, "no-munged.socket")}`, `SLURM_SYNC_LOCK=${path.join(tmp, "run", "slurm-sync.lock")}`,
                `SLURM_SYNC_STATE=${state}`, "SLURM_SYNC_TIMEOUT=2", "bash", SYNC, ...args]), { timeoutMs: 30000 });
            outputs.push(r.stdout, r.stderr);
            return r;
        };

        /** Runs the sync after the attack and checks: non-zero, names the path and reason, nothing installed. */
        const assertRefused = (what: string, where: string, reason: RegExp) => {
            const before = snapshot(login);
            const r = sync();
            assert.doesNotMatch(r.stdout.toString(), /restart-attempted|installed/, `${what}: nothing may be installed\n${r.text}`);
            assert.deepStrictEqual(snapshot(login), before, `${what}: the login node's files changed`);
            assert.ok(fs.readFileSync(keyFile).equals(oldKey), `${what}: the installed key changed`);
            assert.strictEqual(r.status, 4, `${what}: the sync must refuse (exit 4)\n${r.text}`);
            const err = r.stderr.toString();
            assert.ok(err.includes(where), `${what}: stderr must name ${where}\n${r.text}`);
            assert.match(err, reason, `${what}: stderr must say why\n${r.text}`);
        };

        it("control: a clean seeded tree is installed (key munge 0400, included files root 0644), only the included files", function () {
            put(path.join(src, "gres.conf"), "# present, not included\n");
            put(path.join(src, "evil.conf"), "PluginDir=/tmp\n");
            const r = sync();
            // The restart stand-in fails (exit 1): the files are installed, the restart is reported as failed.
            assert.strictEqual(r.status, 1, r.text);
            assert.match(r.stdout.toString(), /restart-attempted/);
            assert.ok(fs.readFileSync(keyFile).equals(seededKey));
            const st = fs.statSync(keyFile);
            assert.strictEqual(st.mode & 0o7777, 0o400);
            assert.strictEqual(st.uid, Number(run(["id", "-u", "munge"]).stdout.toString()));
            assert.deepStrictEqual(fs.readdirSync(confDir).sort(), ["azure.conf", "site_specific.conf", "slurm.conf"]);
            for (const f of fs.readdirSync(confDir)) {
                const s = fs.statSync(path.join(confDir, f));
                assert.strictEqual(s.mode & 0o7777, 0o644, f);
                assert.strictEqual(s.uid, 0, f);
            }
        });

        it("a file present in /shared but not named by any Include is not installed", function () {
            put(path.join(src, "cgroup.conf"), "# present, not included\n");
            put(path.join(src, "evil.conf"), "PluginDir=/tmp\n");
            sync();
            assert.ok(fs.existsSync(path.join(confDir, "slurm.conf")), "the included files are installed");
            assert.ok(!fs.existsSync(path.join(confDir, "evil.conf")), "evil.conf installed although nothing includes it");
            assert.ok(!fs.existsSync(path.join(confDir, "cgroup.conf")), "cgroup.conf installed although nothing includes it");
        });

        it("refuses a munge.key not owned by root", function () {
            fs.chownSync(path.join(src, "munge.key"), NOBODY, 0);
            assertRefused("non-root key", path.join(src, "munge.key"), /owned by uid \d+, not root/);
        });

        it("refuses a slurm.conf not owned by root", function () {
            fs.chownSync(path.join(src, "slurm.conf"), NOBODY, 0);
            assertRefused("non-root slurm.conf", path.join(src, "slurm.conf"), /owned by uid \d+, not root/);
        });

        it("refuses a group-writable included file", function () {
            fs.chmodSync(path.join(src, "azure.conf"), 0o664);
            assertRefused("group-writable include", path.join(src, "azure.conf"), /group- or world-writable/);
        });

        it("refuses a world-writable slurm.conf", function () {
            fs.chmodSync(path.join(src, "slurm.conf"), 0o646);
            assertRefused("world-writable slurm.conf", path.join(src, "slurm.conf"), /group- or world-writable/);
        });

        it("refuses a seeded munge.key readable by others (0644)", function () {
            fs.chmodSync(path.join(src, "munge.key"), 0o644);
            assertRefused("0644 key", path.join(src, "munge.key"), /accessible to group or others/);
        });

        it("refuses the cluster directory owned by a non-root user", function () {
            fs.chownSync(src, NOBODY, 0);
            assertRefused("non-root cluster dir", src, /owned by uid \d+, not root/);
        });

        it("refuses a group-writable apps/slurm directory", function () {
            fs.chmodSync(path.dirname(src), 0o775);
            assertRefused("group-writable apps/slurm", path.dirname(src), /group- or world-writable/);
        });

        it("refuses the top of /shared when it is world-writable (1777)", function () {
            fs.chmodSync(shared, 0o1777);
            assertRefused("1777 /shared", shared, /group- or world-writable \(mode 1777\)/);
        });

        it("refuses the top of /shared when a non-root user owns it", function () {
            fs.chownSync(shared, NOBODY, 0);
            assertRefused("non-root /shared", shared, /owned by uid \d+, not root/);
        });

        it("refuses a symlinked munge.key (pointing at /etc/shadow)", function () {
            fs.rmSync(path.join(src, "munge.key"));
            fs.symlinkSync("/etc/shadow", path.join(src, "munge.key"));
            assertRefused("symlinked key", path.join(src, "munge.key"), /symbolic link/);
        });

        it("refuses a symlinked included file (pointing at /etc/shadow)", function () {
            fs.rmSync(path.join(src, "azure.conf"));
            fs.symlinkSync("/etc/shadow", path.join(src, "azure.conf"));
            assertRefused("symlinked include", path.join(src, "azure.conf"), /symbolic link/);
        });

        it("refuses a symlinked directory on the path (apps/slurm/<cluster> -> elsewhere)", function () {
            const elsewhere = path.join(tmp, "elsewhere");
            fs.renameSync(src, elsewhere);
            fs.symlinkSync(elsewhere, src);
            assertRefused("symlinked dir", src, /symbolic link/);
        });

        it("refuses an Include with a '/' (absolute path)", function () {
            put(path.join(src, "slurm.conf"), `${SLURM_CONF}Include /etc/shadow\n`);
            put(path.join(src, "shadow"), "root:x:1:\n");
            assertRefused("Include /etc/shadow", path.join(src, "slurm.conf"), /Include '\/etc\/shadow'/);
        });

        it("refuses an Include with '..'", function () {
            put(path.join(src, "slurm.conf"), `${SLURM_CONF}Include ../../x.conf\n`);
            put(path.join(src, "x.conf"), "# x\n");
            assertRefused("Include ../../x.conf", path.join(src, "slurm.conf"), /Include '\.\.\/\.\.\/x\.conf'/);
        });

        it("refuses a zero-byte munge.key and keeps the installed key", function () {
            put(path.join(src, "munge.key"), Buffer.alloc(0), 0o400);
            assertRefused("zero-byte key", path.join(src, "munge.key"), /size 0 bytes is outside 32\.\.1024/);
        });

        it("refuses a short munge.key (31 bytes, munge needs at least 32)", function () {
            put(path.join(src, "munge.key"), crypto.randomBytes(31), 0o400);
            assertRefused("short key", path.join(src, "munge.key"), /size 31 bytes is outside 32\.\.1024/);
        });

        it("refuses an oversized munge.key (1025 bytes, munge keys are at most 1024)", function () {
            put(path.join(src, "munge.key"), crypto.randomBytes(1025), 0o400);
            assertRefused("oversized key", path.join(src, "munge.key"), /size 1025 bytes is outside 32\.\.1024/);
        });

        it("refuses an oversized config file (over 1 MiB)", function () {
            put(path.join(src, "azure.conf"), `${"# padding\n".repeat(110000)}`);
            assertRefused("oversized include", path.join(src, "azure.conf"), /size \d+ bytes is outside 0\.\.1048576/);
        });

        it("--check refuses the same way (a symlinked key is never read)", function () {
            fs.rmSync(path.join(src, "munge.key"));
            fs.symlinkSync("/etc/shadow", path.join(src, "munge.key"));
            const r = sync("--check");
            assert.strictEqual(r.status, 4, r.text);
            assert.match(r.stderr.toString(), /munge\.key.*symbolic link/);
        });
    });

    describe("scheduler seed (seed-shared.sh) from a fake /sched into a fake /shared", function () {
        let tmp = "";
        let sched = "", src = "", shared = "";
        const key = crypto.randomBytes(1024);
        const outputs: Buffer[] = [];

        before(function () {
            requirePrereqs(this, "seed trust checks", { root: true, commands: ["sha256sum", "stat", "unshare"] });
        });

        beforeEach(function () {
            tmp = mkTemp("cst-trust-seed-");
            sched = path.join(tmp, "sched");
            src = path.join(sched, "c1");
            shared = path.join(tmp, "shared");
            fs.mkdirSync(src, { recursive: true, mode: 0o755 });
            fs.mkdirSync(shared, { mode: 0o755 });
            for (const d of [sched, src, shared]) fs.chmodSync(d, 0o755);
            put(path.join(src, "munge.key"), key, 0o400);
            put(path.join(src, "slurm.conf"), SLURM_CONF);
            put(path.join(src, "azure.conf"), "PartitionName=hpc Nodes=compute Default=YES\n");
            put(path.join(src, "site_specific.conf"), "# site\n");
        });

        afterEach(function () {
            const left = tmp ? stagingDirs(tmp) : [];
            if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
            assert.deepStrictEqual(left, [], "the seed left a staging directory (key copies) behind");
        });

        after(function () {
            for (const out of outputs) assertNoKeyMaterial(out, key, "seed output");
        });

        /** As the remote Command runs it: `bash -s -- <args>` with the script on stdin. */
        const seed = (): RunResult => {
            const inv = seedInvocation("c1", { schedRoot: sched, sharedRoot: shared });
            const r = run(scoped(tmp, ["bash", "-c", inv.command]), { input: seedScriptText(SEED), env: { PATH: SBIN_PATH } });
            outputs.push(r.stdout, r.stderr);
            return r;
        };
        const dest = () => path.join(shared, "apps", "slurm", "c1");

        const assertRefused = (what: string, where: string, reason: RegExp) => {
            const before = snapshot(shared);
            const r = seed();
            assert.notStrictEqual(r.status, 0, `${what}: the seed must refuse\n${r.text}`);
            const err = r.stderr.toString();
            assert.ok(err.includes(where), `${what}: stderr must name ${where}\n${r.text}`);
            assert.match(err, reason, `${what}: stderr must say why\n${r.text}`);
            assert.deepStrictEqual(snapshot(shared), before, `${what}: /shared changed`);
        };

        it("control: publishes the key 0400 root and slurm.conf + includes 0644 root, nothing else", function () {
            put(path.join(src, "gres.conf"), "# present, not included\n");
            put(path.join(src, "plugstack.conf"), "# present, not included\n");
            put(path.join(src, "slurmdbd.conf"), "StoragePass=secret\n", 0o600);
            const r = seed();
            assert.strictEqual(r.status, 0, r.text);
            assert.deepStrictEqual(fs.readdirSync(dest()).sort(), ["azure.conf", "munge.key", "site_specific.conf", "slurm.conf"]);
            for (const f of fs.readdirSync(dest())) {
                const st = fs.lstatSync(path.join(dest(), f));
                assert.ok(st.isFile(), f);
                assert.strictEqual(st.mode & 0o7777, f === "munge.key" ? 0o400 : 0o644, f);
                assert.strictEqual(st.uid, 0, f);
            }
        });

        it("accepts the owners cyclecloud-slurm uses: munge.key owned by munge, config owned by slurm", function () {
            if (run(["id", "munge"]).status !== 0 || run(["id", "slurm"]).status !== 0) this.skip();
            runOk(["chown", "munge:munge", path.join(src, "munge.key")]);
            fs.chmodSync(path.join(src, "munge.key"), 0o700);
            runOk(["chown", "slurm:slurm", path.join(src, "azure.conf")]);
            const r = seed();
            assert.strictEqual(r.status, 0, r.text);
            assert.strictEqual(fs.statSync(path.join(dest(), "munge.key")).uid, 0);
        });

        it("refuses a symlinked include in /sched (pointing at /etc/shadow)", function () {
            fs.rmSync(path.join(src, "azure.conf"));
            fs.symlinkSync("/etc/shadow", path.join(src, "azure.conf"));
            assertRefused("symlinked include", path.join(src, "azure.conf"), /symbolic link/);
        });

        it("refuses a symlinked munge.key in /sched", function () {
            fs.rmSync(path.join(src, "munge.key"));
            fs.symlinkSync("/etc/shadow", path.join(src, "munge.key"));
            assertRefused("symlinked key", path.join(src, "munge.key"), /symbolic link/);
        });

        it("refuses a symlinked /sched/<cluster> directory", function () {
            const elsewhere = path.join(tmp, "elsewhere");
            fs.renameSync(src, elsewhere);
            fs.symlinkSync(elsewhere, src);
            assertRefused("symlinked source dir", src, /symbolic link/);
        });

        it("refuses a config file in /sched owned by another user", function () {
            fs.chownSync(path.join(src, "azure.conf"), NOBODY, 0);
            assertRefused("foreign include", path.join(src, "azure.conf"), /owned by uid \d+/);
        });

        it("refuses a group-writable /sched/<cluster> directory", function () {
            fs.chmodSync(src, 0o775);
            assertRefused("group-writable source dir", src, /group- or world-writable/);
        });

        it("refuses a world-writable slurm.conf in /sched", function () {
            fs.chmodSync(path.join(src, "slurm.conf"), 0o666);
            assertRefused("world-writable slurm.conf", path.join(src, "slurm.conf"), /group- or world-writable/);
        });

        it("refuses an Include with a '/' or '..'", function () {
            put(path.join(src, "x.conf"), "# x\n");
            for (const target of ["/etc/x.conf", "../c1/x.conf"]) {
                put(path.join(src, "slurm.conf"), `${SLURM_CONF}Include ${target}\n`);
                assertRefused(`Include ${target}`, path.join(src, "slurm.conf"), /only plain file names/);
            }
        });

        it("refuses a zero-byte, a short and an oversized munge.key", function () {
            for (const size of [0, 31, 1025]) {
                put(path.join(src, "munge.key"), crypto.randomBytes(size), 0o400);
                assertRefused(`${size}-byte key`, path.join(src, "munge.key"), new RegExp(`size ${size} bytes is outside 32\\.\\.1024`));
            }
        });

        it("refuses a world-writable /shared (1777) and writes nothing there", function () {
            fs.chmodSync(shared, 0o1777);
            assertRefused("1777 /shared", shared, /group- or world-writable/);
        });

        it("refuses /shared/apps owned by a non-root user", function () {
            fs.mkdirSync(path.join(shared, "apps"), { mode: 0o755 });
            fs.chownSync(path.join(shared, "apps"), NOBODY, 0);
            assertRefused("non-root /shared/apps", path.join(shared, "apps"), /owned by uid \d+/);
        });

        it("refuses a symlinked /shared/apps/slurm (it would publish into the link's target)", function () {
            const elsewhere = path.join(tmp, "attacker-dir");
            fs.mkdirSync(elsewhere, { mode: 0o755 });
            fs.mkdirSync(path.join(shared, "apps"), { mode: 0o755 });
            fs.symlinkSync(elsewhere, path.join(shared, "apps", "slurm"));
            assertRefused("symlinked apps/slurm", path.join(shared, "apps", "slurm"), /symbolic link/);
            assert.deepStrictEqual(fs.readdirSync(elsewhere), []);
        });
    });

    describe("login node with real munge and Slurm in network namespaces", function () {
        let tmp = "";
        let user: TestUser | undefined;
        let c: MiniCluster | undefined;
        let tracer: ChildProcess | undefined;
        let traceDir = "";
        let traceN = 0;
        let wrapperDir = "", checkRecord = "", failingRestart = "";
        const outputs: Buffer[] = [];
        const canary = crypto.randomBytes(64);
        /**
         * Runs argv under strace (every execve of it and its descendants, full argv, into a new file in traceDir). strace
         * follows a daemon the command starts (the sync restarts munged) for as long as it lives, so the command's exit
         * is signalled through a file and strace is then stopped: it detaches, the daemon runs on untraced.
         */
        const traced = async (argv: string[]): Promise<RunResult> => {
            const n = ++traceN;
            const [out, err, st] = ["out", "err", "status"].map(x => path.join(traceDir, `run-${n}.${x}`));
            const tr = spawn(TRACE[0], [...TRACE.slice(1), "-o", path.join(traceDir, `run-${n}.trace`), "--", "bash", "-c",
                'out=$1 err=$2 st=$3; shift 3; "$@" >"$out" 2>"$err" </dev/null; echo $? >"$st.tmp"; mv "$st.tmp" "$st"', "traced", out, err, st, ...argv],
            { stdio: "ignore" });
            await waitFor(() => fs.existsSync(st) || tr.exitCode !== null, 120000, () => `traced ${argv.join(" ")} did not finish`, 50);
            if (tr.pid) await stopPid(tr.pid);
            if (!fs.existsSync(st)) throw new Error(`strace ended before ${argv.join(" ")} did (exit ${tr.exitCode})`);
            const stdout = fs.readFileSync(out), stderr = fs.readFileSync(err);
            return { status: Number(fs.readFileSync(st, "utf8").trim()), signal: null, stdout, stderr, text: stdout.toString() + stderr.toString() };
        };

        before(async function () {
            requirePrereqs(this, "Slurm cluster in network namespaces", {
                root: true,
                commands: ["/usr/sbin/sshd", "ssh", "ssh-keygen", "ip", "nsenter", "unshare", "setpriv", "munged", "munge", "unmunge",
                    "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo", "useradd", "userdel", "flock", "timeout", "sha256sum", "strace"],
            });
            tmp = mkTemp("cst-trust-cluster-");
            traceDir = path.join(tmp, "traces");
            fs.mkdirSync(traceDir, { mode: 0o700 });
            user = createTestUser(`cstrust${process.pid}`, 24456);
            c = new MiniCluster(path.join(tmp, "c"), `cstt${process.pid}`, "cstrust", user);
            await c.setUp();
            // Every command line the scheduler's sshd (and so the seed it runs) executes, from before the seed runs.
            const attached = path.join(traceDir, "sshd.attach");
            const fd = fs.openSync(attached, "a");
            tracer = spawn(TRACE[0], [...TRACE.slice(1), "-o", path.join(traceDir, "sshd.trace"), "-p", String(c.sshd.pid)], { stdio: ["ignore", "ignore", fd] });
            fs.closeSync(fd);
            await waitFor(() => /attached/.test(fs.readFileSync(attached, "utf8")) || tracer!.exitCode !== null, 30000,
                () => `strace did not attach to sshd: ${fs.readFileSync(attached, "utf8")}`, 50);
            assert.strictEqual(tracer.exitCode, null, fs.readFileSync(attached, "utf8"));
            // The Slurm client as the sync finds it on PATH, recording who runs it (then the real sinfo).
            wrapperDir = path.join(tmp, "bin");
            fs.mkdirSync(wrapperDir, { mode: 0o755 });
            checkRecord = path.join(tmp, "sinfo-uids");
            put(checkRecord, "", 0o666);
            put(path.join(wrapperDir, "sinfo"), `#!/bin/sh\nid -u >>${checkRecord}\nexec ${slurmBin("sinfo")} "$@"\n`, 0o755);
            // `systemctl restart munge` when munged fails to start: systemctl exits 1 ("Job for munge.service failed").
            failingRestart = path.join(tmp, "restart-fails.sh");
            put(failingRestart, "#!/bin/sh\necho 'Job for munge.service failed because the control process exited with error code.' >&2\nexit 1\n", 0o755);
            const seedInv = seedInvocation(c.clusterDir, { schedRoot: c.schedRoot, sharedRoot: c.sharedRoot });
            const seeded = c.sshd.ssh(seedInv.command, seedScriptText(SEED));
            outputs.push(seeded.stdout, seeded.stderr);
            assert.strictEqual(seeded.status, 0, seeded.text);
            await c.startSchedulerAndCompute();
            writeKey(c.login.munge.keyFile, crypto.randomBytes(1024), "munge");
            c.restartLoginMunge();
        });

        after(async function () {
            if (tracer?.pid) await stopPid(tracer.pid);
            if (c) await c.tearDown();
            if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
            removeTestUser(user);
        });

        const sync = async (env: Record<string, string> = {}): Promise<RunResult> => {
            const base = Object.fromEntries(c!.syncEnv().map(kv => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
            const all = { ...base, ...env };
            const r = await traced(c!.net.hostArgv("login", ["env", "-i", ...Object.entries(all).map(([k, v]) => `${k}=${v}`), "bash", SYNC]));
            outputs.push(r.stdout, r.stderr);
            return r;
        };

        it("the controller check (sinfo) does not run as root, so a PluginDir in slurm.conf cannot give root", async function () {
            const r = await sync({ PATH: `${wrapperDir}:${SBIN_PATH}` });
            assert.strictEqual(r.status, 0, r.text);
            assert.match(r.stdout.toString(), /controller accepts/);
            const uids = fs.readFileSync(checkRecord, "utf8").trim().split("\n").filter(Boolean).map(Number);
            assert.ok(uids.length > 0, "sinfo was not run through PATH");
            assert.deepStrictEqual(uids.filter(u => u === 0), [], `sinfo ran as root (uids seen: ${uids.join(",")})`);
            assert.ok(uids.every(u => u === NOBODY), `sinfo ran as ${uids.join(",")}, expected nobody (${NOBODY})`);
        });

        it("a key change whose munge restart fails is reported as a failure on every run until munge runs with the seeded key", async function () {
            writeKey(c!.login.munge.keyFile, crypto.randomBytes(1024), "munge");
            c!.restartLoginMunge();
            const pid = c!.loginMungePid();
            const first = await sync({ MUNGE_RESTART_CMD: failingRestart });
            assert.notStrictEqual(first.status, 0, first.text);
            assert.match(first.stderr.toString(), /munge restart failed/);
            assert.ok(fs.readFileSync(c!.login.munge.keyFile).equals(c!.key), "the seeded key is installed");
            assert.strictEqual(c!.loginMungePid(), pid, "munged still runs with the old key");
            for (let i = 0; i < 2; i++) {
                const again = await sync({ MUNGE_RESTART_CMD: failingRestart });
                assert.notStrictEqual(again.status, 0, `run ${i + 2} after the failed restart must fail too:\n${again.text}`);
                assert.doesNotMatch(again.stdout.toString(), /up to date/);
                assert.match(again.stderr.toString(), /munge restart failed/);
            }
            const healed = await sync();
            assert.strictEqual(healed.status, 0, healed.text);
            assert.match(healed.stdout.toString(), /restarting munge/);
            assert.match(healed.stdout.toString(), /controller accepts/);
            assert.notStrictEqual(c!.loginMungePid(), pid, "munged restarted");
            assert.ok(!fs.existsSync(c!.login.state), "marker removed once munge runs with the seeded key");
            const quiet = await sync();
            assert.strictEqual(quiet.status, 0, quiet.text);
            assert.match(quiet.stdout.toString(), /up to date/);
            const job = await c!.submitJob("after-restart");
            assert.strictEqual(job.state, "COMPLETED", job.output);
        });

        it("no key material on any process's command line while the scripts ran, nor in their output", async function () {
            // The tracer records what ps would show: a command line with the canary (hex) must be in its record.
            assert.strictEqual((await traced(["bash", "-c", `: ${canary.toString("hex")}; true`])).status, 0);
            await stopPid(tracer!.pid!);
            const lines = readTraces(traceDir);
            assert.ok(lines.some(l => l.toString("latin1").includes(canary.toString("hex"))), "the tracer did not record the canary");
            assert.ok(lines.some(l => l.toString("latin1").includes(path.basename(SYNC))), "the tracer never saw the sync running");
            assert.ok(lines.some(l => /bash\0-s\0--\0/.test(l.toString("latin1"))), "the tracer never saw the seed running");
            for (const l of lines) assertNoKeyMaterial(l, c!.key, `command line ${JSON.stringify(l.toString("latin1").slice(0, 80))}`);
            for (const out of outputs) assertNoKeyMaterial(out, c!.key, "seed/sync output");
        });
    });
});

/** strace: follow children, every execve, every string in hex and in full (argv is then exactly what was executed). */
const TRACE = ["strace", "-f", "-xx", "-s", "1048576", "-e", "trace=execve"];

/** The argv of every execve in traceDir's strace files, each as one buffer with the arguments NUL-separated. */
function readTraces(traceDir: string): Buffer[] {
    const out: Buffer[] = [];
    for (const f of fs.readdirSync(traceDir).filter(n => n.endsWith(".trace"))) {
        for (const line of fs.readFileSync(path.join(traceDir, f), "latin1").split("\n")) {
            // 123 execve("\x2f...", ["\x62...", ...], 0x7ff... /* 5 vars */) = 0   (env not printed without -v)
            const m = /execve\("(?:\\x[0-9a-f]{2})*", \[(.*?)\](?:\.\.\.)?, /.exec(line);
            if (!m) continue;
            const args = [...m[1].matchAll(/"((?:\\x[0-9a-f]{2})*)"/g)].map(a => Buffer.from(a[1].replace(/\\x/g, ""), "hex"));
            out.push(Buffer.concat(args.flatMap((a, i) => (i ? [Buffer.from([0]), a] : [a]))));
        }
    }
    return out;
}
