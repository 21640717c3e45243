// Tests of components/shared-trust/trust-lib.sh, the one copy of the trust check for what root reads from shared
// storage (issue 20 item 3): the login node's sync (components/login/slurm-sync.sh) sources it from where cloud-init
// writes it, the scheduler's seed (components/slurm/seed-shared.sh) gets it ahead of its script in the seed Command's
// stdin. The library is sourced unmodified as root and run on real files this test makes (owners, modes, symlinks, a
// FIFO, a file swapped or grown while being copied), with and without the callers' `set -euo pipefail`. Then: how it
// is shipped (cloud-init file, the seed's stdin), that neither script has a copy of its own any more, and that the
// sync refuses a library it should not trust (in a private mount namespace whose /usr/local is a throwaway overlay).
// The scripts' own messages and exit codes on /shared and /sched are tested in shared-trust.test.ts.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { renderLoginCloudInit, TRUST_LIB_INSTALLED } from "../components/login/cloud-init";
import { NFS_MOUNT_OPTIONS } from "../components/nfs";
import { SEED_SCRIPT_PATH, seedInvocation, seedScriptText, shellQuote, TRUST_LIB_PATH } from "../components/slurm/seed";
import { INSTALL_TRUST_LIB, privateUsrLocalArgv, SYNC_SCRIPT } from "./support/cluster";

const REPO = path.resolve(__dirname, "..");
const SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const NOBODY = 65534;
const NO_FOLLOW = "(symlinks are never followed)";

interface Res { status: number | null; stdout: string; stderr: string }
function spawn(argv: string[], opts: { input?: string; cwd?: string } = {}): Res {
    const r = spawnSync(argv[0], argv.slice(1), {
        env: { PATH: SAFE_PATH }, encoding: "utf8", timeout: 60000, cwd: opts.cwd,
        input: opts.input ?? "", stdio: ["pipe", "pipe", "pipe"],
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Sources the library (as the callers do, optionally under their `set -euo pipefail`) and runs `code`. */
function lib(code: string, strict = true): Res {
    return spawn(["/bin/bash", "--noprofile", "--norc", "-c", `${strict ? "set -euo pipefail; " : ""}source "$0"\n${code}`, TRUST_LIB_PATH]);
}

/** `trusted ARGS...` in a fresh shell: its status, WHY and TRUSTED_ID. */
function trusted(args: (string | number)[], strict = true): { rc: number; why: string; id: string } {
    const r = lib(`rc=0; trusted ${args.map(a => shellQuote(String(a))).join(" ")} || rc=$?\nprintf '%s\\n%s\\n%s\\n' "$rc" "$WHY" "$TRUSTED_ID"`, strict);
    assert.strictEqual(r.status, 0, `the shell itself failed: ${r.stderr}`);
    const [rc, why, id] = r.stdout.split("\n");
    return { rc: Number(rc), why, id };
}

const idOf = (p: string) => { const st = fs.lstatSync(p); return `${st.dev}:${st.ino}`; };

describe("trust-lib.sh: the one trust check of the sync and the seed (issue 20 item 3)", function () {
    this.timeout(120000);
    let dir = "";
    const root = () => process.getuid?.() === 0;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "trust-lib-"));
        fs.chmodSync(dir, 0o755);
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** A file with this content, mode and owner (root unless given). */
    function file(name: string, content: string | Buffer, mode = 0o644, uid = 0): string {
        const p = path.join(dir, name);
        fs.writeFileSync(p, content);
        fs.chmodSync(p, mode);
        fs.chownSync(p, uid, uid);
        return p;
    }
    function directory(name: string, mode = 0o755, uid = 0): string {
        const p = path.join(dir, name);
        fs.mkdirSync(p);
        fs.chmodSync(p, mode);
        fs.chownSync(p, uid, uid);
        return p;
    }

    describe("trusted PATH dir|file OWNERS [MIN MAX [private]]", function () {
        before(function () {
            if (!root()) this.skip();
        });

        for (const strict of [true, false]) {
            const mode = strict ? "under set -euo pipefail" : "without set -e";
            it(`accepts, ${mode}: a root directory and a root file in bounds; sets TRUSTED_ID to its device:inode and clears WHY`, () => {
                const d = directory("d");
                const f = file("f", crypto.randomBytes(100));
                assert.deepStrictEqual(trusted([d, "dir", "0"], strict), { rc: 0, why: "", id: idOf(d) });
                assert.deepStrictEqual(trusted([f, "file", "0", 1, 100], strict), { rc: 0, why: "", id: idOf(f) });
            });
            it(`refuses, ${mode}: returns 1 (not trustworthy) or 2 (missing), sets WHY, never exits`, () => {
                const f = file("f", "x", 0o666);
                const r = lib(`trusted ${f} file 0 0 9 || echo "rc=$? $WHY"; trusted ${dir}/none dir 0 || echo "rc=$? $WHY"; echo still here`, strict);
                assert.strictEqual(r.status, 0, r.stderr);
                assert.strictEqual(r.stdout, "rc=1 it is group- or world-writable (mode 666)\nrc=2 does not exist or cannot be read\nstill here\n");
            });
        }

        it("accepts the bounds themselves (MIN and MAX bytes) and an empty file when MIN is 0", () => {
            assert.strictEqual(trusted([file("min", crypto.randomBytes(32)), "file", "0", 32, 1024]).rc, 0);
            assert.strictEqual(trusted([file("max", crypto.randomBytes(1024)), "file", "0", 32, 1024]).rc, 0);
            assert.strictEqual(trusted([file("empty", ""), "file", "0", 0, 10]).rc, 0);
            assert.strictEqual(trusted([file("nobounds", ""), "file", "0"]).rc, 0, "MIN and MAX default to 0");
        });

        it("accepts an owner from the OWNERS list (the seed's `0 <munge uid>`), not root alone", () => {
            const f = file("key", crypto.randomBytes(32), 0o400, NOBODY);
            assert.deepStrictEqual(trusted([f, "file", `0 ${NOBODY}`, 32, 1024]), { rc: 0, why: "", id: idOf(f) });
            assert.deepStrictEqual(trusted([f, "file", `${NOBODY} 0`, 32, 1024]).rc, 0);
        });

        it("private: accepts 0400 and 0600 (no group/other bit); without `private` a 0644 file is fine", () => {
            assert.strictEqual(trusted([file("k1", "k", 0o400), "file", "0", 1, 9, "private"]).rc, 0);
            assert.strictEqual(trusted([file("k2", "k", 0o600), "file", "0", 1, 9, "private"]).rc, 0);
            assert.strictEqual(trusted([file("k3", "k", 0o644), "file", "0", 1, 9]).rc, 0);
        });

        // Each case spoils one thing; the check that catches it is the only one that can fail there.
        const refused: [string, () => (string | number)[], number, string][] = [
            ["a missing path", () => [path.join(dir, "none"), "file", "0", 0, 9], 2, "does not exist or cannot be read"],
            ["a symlink to a good file", () => {
                fs.symlinkSync(file("good", "x"), path.join(dir, "link"));
                return [path.join(dir, "link"), "file", "0", 0, 9];
            }, 1, `it is a symbolic link, expected a regular file ${NO_FOLLOW}`],
            ["a symlink to a good directory", () => {
                fs.symlinkSync(directory("good"), path.join(dir, "link"));
                return [path.join(dir, "link"), "dir", "0"];
            }, 1, `it is a symbolic link, expected a directory ${NO_FOLLOW}`],
            ["a directory where a file is expected", () => [directory("d"), "file", "0", 0, 9], 1,
                `it is a directory, expected a regular file ${NO_FOLLOW}`],
            ["a file where a directory is expected", () => [file("f", "x"), "dir", "0"], 1, `it is a regular file, expected a directory ${NO_FOLLOW}`],
            ["a FIFO where a file is expected", () => {
                spawnSync("mkfifo", ["-m", "0600", path.join(dir, "fifo")]);
                return [path.join(dir, "fifo"), "file", "0", 0, 9];
            }, 1, `it is a fifo, expected a regular file ${NO_FOLLOW}`],
            ["a file owned by another uid (OWNERS root)", () => [file("f", "x", 0o644, NOBODY), "file", "0", 0, 9], 1,
                `it is owned by uid ${NOBODY}, not root`],
            ["a directory owned by another uid (OWNERS root)", () => [directory("d", 0o755, NOBODY), "dir", "0"], 1,
                `it is owned by uid ${NOBODY}, not root`],
            ["a file owned by a uid outside a list", () => [file("f", "x", 0o644, NOBODY), "file", "0 11101", 0, 9], 1,
                `it is owned by uid ${NOBODY}, expected uid 0 11101`],
            ["a root file when OWNERS does not name root", () => [file("f", "x"), "file", "11100", 0, 9], 1, "it is owned by uid 0, expected uid 11100"],
            ["a group-writable file", () => [file("f", "x", 0o664), "file", "0", 0, 9], 1, "it is group- or world-writable (mode 664)"],
            ["a world-writable file", () => [file("f", "x", 0o646), "file", "0", 0, 9], 1, "it is group- or world-writable (mode 646)"],
            ["a group-writable directory", () => [directory("d", 0o775), "dir", "0"], 1, "it is group- or world-writable (mode 775)"],
            ["a world-writable sticky directory (1777)", () => [directory("d", 0o1777), "dir", "0"], 1, "it is group- or world-writable (mode 1777)"],
            ["a file below MIN", () => [file("f", crypto.randomBytes(31), 0o400), "file", "0", 32, 1024], 1, "its size 31 bytes is outside 32..1024"],
            ["an empty file when MIN is 1", () => [file("f", ""), "file", "0", 1, 1024], 1, "its size 0 bytes is outside 1..1024"],
            ["a file above MAX", () => [file("f", crypto.randomBytes(1025), 0o400), "file", "0", 32, 1024], 1, "its size 1025 bytes is outside 32..1024"],
            ["a private file readable by its group (0440)", () => [file("f", "k", 0o440), "file", "0", 1, 9, "private"], 1,
                "it is accessible to group or others (mode 440; only its owner may have access)"],
            ["a private file readable by others (0404)", () => [file("f", "k", 0o404), "file", "0", 1, 9, "private"], 1,
                "it is accessible to group or others (mode 404; only its owner may have access)"],
            ["a private file with only a group execute bit (0410)", () => [file("f", "k", 0o410), "file", "0", 1, 9, "private"], 1,
                "it is accessible to group or others (mode 410; only its owner may have access)"],
        ];
        for (const [what, make, rc, why] of refused) {
            it(`refuses ${what}: status ${rc}, WHY says why, TRUSTED_ID empty`, () => {
                assert.deepStrictEqual(trusted(make()), { rc, why, id: "" });
            });
        }

        it("a refusal clears the TRUSTED_ID of an earlier success (no stale inode for copy_trusted to compare against)", () => {
            const good = file("good", "x"), bad = file("bad", "x", 0o666);
            const r = lib(`trusted ${good} file 0 0 9; echo "[$TRUSTED_ID]"; trusted ${bad} file 0 0 9 || echo "[$TRUSTED_ID] $WHY"`);
            assert.strictEqual(r.stdout, `[${idOf(good)}]\n[] it is group- or world-writable (mode 666)\n`, r.stderr);
        });

        it("works whatever IFS the caller set (the OWNERS list is split on blanks)", () => {
            const f = file("f", "x", 0o644, NOBODY);
            const r = lib(`IFS=:; trusted ${f} file "0 ${NOBODY}" 0 9 && echo ok; trusted ${f} file "0 11101" 0 9 || echo "$WHY"`);
            assert.strictEqual(r.stdout, `ok\nit is owned by uid ${NOBODY}, expected uid 0 11101\n`, r.stderr);
        });
    });

    describe("copy_trusted SRC DEST OWNERS MIN MAX [private]", function () {
        before(function () {
            if (!root()) this.skip();
        });
        const copy = (src: string, dest: string, rest: string, prelude = "") =>
            lib(`${prelude}\numask 077; rc=0; copy_trusted ${shellQuote(src)} ${shellQuote(dest)} ${rest} || rc=$?; echo "$rc|$WHY"`);

        it("copies a trusted file's bytes to DEST, created with the caller's umask", () => {
            const bytes = crypto.randomBytes(1024);
            const src = file("munge.key", bytes, 0o400);
            const r = copy(src, path.join(dir, "copy"), "0 32 1024 private");
            assert.strictEqual(r.stdout, "0|\n", r.stderr);
            assert.ok(fs.readFileSync(path.join(dir, "copy")).equals(bytes));
            assert.strictEqual(fs.statSync(path.join(dir, "copy")).mode & 0o777, 0o600);
        });

        const refused: [string, () => string, string, string][] = [
            ["untrusted (another owner)", () => file("f", "x", 0o644, NOBODY), "0 0 9", `1|it is owned by uid ${NOBODY}, not root`],
            ["a symlink to a good file", () => { fs.symlinkSync(file("good", "x"), path.join(dir, "l")); return path.join(dir, "l"); }, "0 0 9",
                `1|it is a symbolic link, expected a regular file ${NO_FOLLOW}`],
            ["missing", () => path.join(dir, "none"), "0 0 9", "2|does not exist or cannot be read"],
            ["a private file others can read", () => file("k", "k", 0o444), "0 1 9 private", "1|it is accessible to group or others (mode 444; only its owner may have access)"],
            ["too large", () => file("f", "0123456789"), "0 0 9", "1|its size 10 bytes is outside 0..9"],
        ];
        for (const [what, make, rest, out] of refused) {
            it(`refuses a source that is ${what} and writes no DEST`, () => {
                const r = copy(make(), path.join(dir, "copy"), rest);
                assert.strictEqual(r.stdout, `${out}\n`, r.stderr);
                assert.ok(!fs.existsSync(path.join(dir, "copy")), "DEST was written");
            });
        }

        it("refuses a file replaced between the check and the open (status 1): the opened inode is not the checked one", () => {
            const src = file("slurm.conf", "checked\n");
            const swap = file("swap", "PluginDir=/tmp/evil\n");
            // The library's own trusted, then a real rename over SRC before copy_trusted opens it.
            const r = copy(src, path.join(dir, "copy"), "0 0 1024",
                `eval "orig_$(declare -f trusted)"; trusted() { local rc=0; orig_trusted "$@" || rc=$?; mv -f ${swap} "$1"; return "$rc"; }`);
            assert.strictEqual(r.stdout, "1|it was replaced while being read\n", r.stderr);
            assert.ok(!fs.existsSync(path.join(dir, "copy")), "the swapped file was copied");
            assert.strictEqual(fs.readFileSync(src, "utf8"), "PluginDir=/tmp/evil\n", "the swap did happen");
        });

        it("refuses a file that grew past MAX after the check (status 1: its size changed while being read)", () => {
            const src = file("slurm.conf", "123456789");
            // After the open: the same inode gets a byte longer than MAX, then the library copies it.
            const r = copy(src, path.join(dir, "copy"), "0 0 9", `cat() { printf x >>${src}; command cat "$@"; }`);
            assert.strictEqual(r.stdout, "1|its size changed while being read\n", r.stderr);
        });

        it("says a file it cannot open is status 3 (root without CAP_DAC_OVERRIDE, mode 0000)", () => {
            const src = file("f", "x", 0o000);
            const r = spawn(["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", "/bin/bash", "--noprofile", "--norc", "-c",
                `source "$0"; rc=0; copy_trusted "$1" "$2" 0 0 9 || rc=$?; echo "$rc|$WHY"`, TRUST_LIB_PATH, src, path.join(dir, "copy")]);
            assert.strictEqual(r.stdout, "3|cannot be opened\n", r.stderr);
        });

        it("says a DEST it cannot write is status 4 (a local error, not the source's fault)", () => {
            const dest = path.join(dir, "no-such-dir", "copy");
            const r = copy(file("f", "x"), dest, "0 0 9");
            assert.strictEqual(r.stdout, `4|it could not be copied to ${dest}\n`);
        });
    });

    describe("sourcing it", function () {
        it("defines trusted, copy_trusted, TRUSTED_ID and WHY, and changes nothing else: options, traps, umask, stdin, files", () => {
            const state = 'compgen -v | grep -Ev "^(BASH_.*|FUNCNAME|_|PIPESTATUS|LINENO|RANDOM|SECONDS|SRANDOM|EPOCH.*|BASHPID|before)$"; ' +
                "declare -F; set -o; shopt; trap -p; umask; pwd";
            const r = spawn(["/bin/bash", "--noprofile", "--norc", "-c",
                `before=$(${state}); source "$0"; diff <(echo "$before") <(${state}); read -r line; echo "stdin: $line"; ls -A`, TRUST_LIB_PATH],
            { input: "untouched\n", cwd: dir });
            assert.strictEqual(r.stderr, "");
            const added = r.stdout.split("\n").filter(l => /^[<>] /.test(l)).sort();
            assert.deepStrictEqual(added, ["> TRUSTED_ID", "> WHY", "> declare -f copy_trusted", "> declare -f trusted"]);
            assert.match(r.stdout, /^stdin: untouched$/m);
            assert.doesNotMatch(r.stdout, /^stdin: untouched\n./m, "sourcing it created a file");
        });

        it("starts with a comment saying where it runs and what it changes", () => {
            const head = fs.readFileSync(TRUST_LIB_PATH, "utf8").split("\n").slice(0, 12).join("\n");
            assert.match(head, /^# shellcheck shell=bash\n# trust-lib\.sh: /);
            assert.match(head, /slurm-sync-from-shared .*on the login node/s);
            assert.match(head, /seed-shared\.sh on the Slurm scheduler/);
            assert.match(head, /Sourcing it changes nothing/);
        });
    });

    describe("shipped beside the scripts that use it, with no copy left in them", function () {
        const read = (p: string) => fs.readFileSync(p, "utf8");
        const defines = (text: string, fn: string) => new RegExp(`^[ \\t]*(function[ \\t]+)?${fn}[ \\t]*(\\([ \\t]*\\))?[ \\t]*\\{`, "m").test(text);

        it("the seed Command's stdin is the library followed by seed-shared.sh (seedScriptText), for every invocation", () => {
            assert.strictEqual(TRUST_LIB_PATH, path.join(REPO, "components", "shared-trust", "trust-lib.sh"));
            const composed = read(TRUST_LIB_PATH) + read(SEED_SCRIPT_PATH);
            assert.strictEqual(seedScriptText(), composed);
            assert.strictEqual(seedInvocation("slurm-dev").stdin, composed);
            assert.strictEqual(seedInvocation("c1", { schedRoot: "/x/sched", sharedRoot: "/y/shared" }).stdin, composed);
            assert.ok(read(TRUST_LIB_PATH).endsWith("\n"), "the library's last line would run into the script's first");
        });

        it("seed-shared.sh defines neither trusted nor copy_trusted and sources nothing (nothing is installed on the scheduler)", () => {
            const seed = read(SEED_SCRIPT_PATH);
            assert.ok(!defines(seed, "trusted"), "seed-shared.sh has its own trusted again");
            assert.ok(!defines(seed, "copy_trusted"), "seed-shared.sh has its own copy_trusted again");
            assert.doesNotMatch(seed, /^[ \t]*(source|\.)[ \t]/m);
            assert.match(seed, /\bcopy_trusted "\$src"/, "seed-shared.sh no longer uses the library's copy_trusted");
            assert.ok(defines(read(TRUST_LIB_PATH), "trusted") && defines(read(TRUST_LIB_PATH), "copy_trusted"), "the pattern does not see definitions");
        });

        it("slurm-sync.sh defines neither, and sources the library only from the path cloud-init writes it to (root 0644)", () => {
            const sync = read(SYNC_SCRIPT);
            assert.ok(!defines(sync, "trusted"), "slurm-sync.sh has its own trusted again");
            assert.ok(!defines(sync, "copy_trusted"), "slurm-sync.sh has its own copy_trusted again");
            assert.ok(sync.includes(`\nreadonly TRUST_LIB=${TRUST_LIB_INSTALLED}\n`));
            assert.deepStrictEqual(sync.match(/^[ \t]*(source|\.)[ \t].*$/gm), ['source "$TRUST_LIB"']);
            const doc = YAML.parse(renderLoginCloudInit({
                slurmVersion: "25.11.5", clusterConfigDir: "slurm-dev", nfsHost: "nfs.example", nfsExportPath: "/a/shared",
                nfsMountOptions: NFS_MOUNT_OPTIONS,
                accounts: { registry: "/shared/apps/accounts", sharedHome: "/shared/home", uidMin: 1000000, uidMax: 2000000000, ackWaitSeconds: 12, serviceAccounts: "" },
            }));
            const written = doc.write_files.filter((f: { path: string }) => f.path === TRUST_LIB_INSTALLED);
            assert.strictEqual(written.length, 1, "cloud-init does not write the library (once)");
            assert.strictEqual(written[0].content, read(TRUST_LIB_PATH));
            assert.strictEqual(written[0].permissions, "0644");
            assert.strictEqual(written[0].owner, undefined, "cloud-init's default owner is root:root");
        });

        it("no other script under components/ defines trusted or copy_trusted (accounts-lib.sh keeps the accounts' own trusted)", () => {
            const found: string[] = [];
            const walk = (d: string) => {
                for (const e of fs.readdirSync(d, { withFileTypes: true })) {
                    const p = path.join(d, e.name);
                    if (e.isDirectory()) walk(p);
                    else if (e.name.endsWith(".sh") && (defines(read(p), "trusted") || defines(read(p), "copy_trusted"))) found.push(path.relative(REPO, p));
                }
            };
            walk(path.join(REPO, "components"));
            assert.deepStrictEqual(found.sort(), ["components/accounts/cluster-init/files/accounts-lib.sh", "components/shared-trust/trust-lib.sh"]);
        });

        it("seed-shared.sh alone (without the library) stops at once, saying what to send, and writes nothing", () => {
            fs.mkdirSync(path.join(dir, "sched", "c1"), { recursive: true });
            fs.mkdirSync(path.join(dir, "shared"));
            const r = spawn(["/bin/bash", "-s", "--", "c1", path.join(dir, "sched"), path.join(dir, "shared")], { input: read(SEED_SCRIPT_PATH) });
            assert.strictEqual(r.status, 1);
            assert.match(r.stderr, /^seed-shared: ERROR: the trust check \(trusted, copy_trusted\) is not defined: send components\/shared-trust\/trust-lib\.sh followed by this script/);
            assert.deepStrictEqual(fs.readdirSync(path.join(dir, "shared")), []);
        });
    });

    describe("slurm-sync.sh checks the library before sourcing it, as root checks anything it sources", function () {
        before(function () {
            if (!root() || spawnSync("unshare", ["--version"]).status !== 0) this.skip();
        });
        const LIB_DIR = path.dirname(TRUST_LIB_INSTALLED);
        /** `slurm-sync.sh --help` (which needs nothing but the library) with /usr/local as `setup` leaves it. */
        const syncWith = (setup: string): Res => {
            const layers = path.join(dir, "layers");
            fs.mkdirSync(layers, { mode: 0o700 });
            return spawn(privateUsrLocalArgv(layers, `rm -rf ${LIB_DIR}; ${setup}`, ["env", "-i", `PATH=${SAFE_PATH}`, "bash", SYNC_SCRIPT, "--help"]));
        };
        const notUsing = (why: string) => `slurm-sync: ERROR: not using ${TRUST_LIB_INSTALLED}: ${why}\n`;

        it("runs with the library installed as cloud-init writes it", () => {
            const r = syncWith(INSTALL_TRUST_LIB);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.match(r.stdout, /^usage: slurm-sync-from-shared/);
        });

        const cases: [string, string, string][] = [
            ["missing", ":", `${TRUST_LIB_INSTALLED} is missing or not a regular file`],
            ["a symlink to a good copy", `${INSTALL_TRUST_LIB} && mv ${TRUST_LIB_INSTALLED} ${LIB_DIR}/real.sh && ln -s real.sh ${TRUST_LIB_INSTALLED}`,
                `${TRUST_LIB_INSTALLED} is missing or not a regular file`],
            ["owned by another uid", `${INSTALL_TRUST_LIB} && chown ${NOBODY} ${TRUST_LIB_INSTALLED}`, `${TRUST_LIB_INSTALLED} is owned by UID ${NOBODY}, not root`],
            ["group-writable", `${INSTALL_TRUST_LIB} && chmod 0664 ${TRUST_LIB_INSTALLED}`, `${TRUST_LIB_INSTALLED} is group- or world-writable (mode 664)`],
            ["world-writable", `${INSTALL_TRUST_LIB} && chmod 0646 ${TRUST_LIB_INSTALLED}`, `${TRUST_LIB_INSTALLED} is group- or world-writable (mode 646)`],
            ["in a world-writable directory", `${INSTALL_TRUST_LIB} && chmod 1777 ${LIB_DIR}`, `${LIB_DIR} is group- or world-writable (mode 1777)`],
            ["in a directory owned by another uid", `${INSTALL_TRUST_LIB} && chown ${NOBODY} ${LIB_DIR}`, `${LIB_DIR} is owned by UID ${NOBODY}, not root`],
        ];
        for (const [what, setup, why] of cases) {
            it(`refuses a library that is ${what} (exit 1, naming it and why)`, () => {
                const r = syncWith(setup);
                assert.strictEqual(r.stderr, notUsing(why));
                assert.strictEqual(r.status, 1);
                assert.strictEqual(r.stdout, "");
            });
        }
    });
});
