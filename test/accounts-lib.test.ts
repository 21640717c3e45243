// Real-system tests of components/accounts/cluster-init/files/accounts-lib.sh, the one copy of the helpers that the
// login node's sign-in hook (publish-account.sh) and every node's apply script (apply-accounts.sh) source: the settings
// loader and its file checks, the value checks, the trust check of one path and of a chain of directories. The
// library is sourced unmodified by `bash -p` as root, on real files this test makes (owners, modes, symlinks). The last
// suite runs both scripts, unmodified, in a private mount namespace whose /usr/local/lib is a tmpfs: each refuses a
// library that is missing, a symlink, not root's, writable by others or under a writable directory, sources it only
// from its absolute installed path, and takes nothing from a hostile environment.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const REPO = path.resolve(__dirname, "..");
const LIB = path.join(REPO, "components/accounts/cluster-init/files/accounts-lib.sh");
const PUBLISH = path.join(REPO, "components/accounts/publish-account.sh");
const APPLY = path.join(REPO, "components/accounts/cluster-init/files/apply-accounts.sh");
const INSTALLED = "/usr/local/lib/cluster-accounts/accounts-lib.sh";
const SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const NOBODY = 65534;

interface Res { status: number | null; stdout: string; stderr: string }
function spawn(argv: string[], env: Record<string, string> = {}): Res {
    // stdin /dev/null: Debian's bash reads ~/.bashrc when stdin is a socket (as node's pipes are), as if run by sshd.
    const r = spawnSync(argv[0], argv.slice(1), { env: { PATH: SAFE_PATH, ...env }, encoding: "utf8", timeout: 60000, stdio: ["ignore", "pipe", "pipe"] });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Sources the library under `bash -p` as root (fail prints FAIL: and exits 1, as the scripts' fail does) and runs `code`. */
function lib(code: string, env: Record<string, string> = {}): Res {
    return spawn(["/bin/bash", "-p", "-c", `set -euo pipefail; source "$0"; fail() { echo "FAIL: $*" >&2; exit 1; }\n${code}`, LIB], env);
}

describe("accounts-lib.sh: the helpers both accounts scripts source (issue 20 item 3)", function () {
    this.timeout(120000);
    let dir: string;
    before(function () {
        if (process.getuid?.() !== 0) this.skip();
    });
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "accounts-lib-"));
        fs.chmodSync(dir, 0o755);
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const KEYS = "ACCOUNTS_REGISTRY SHARED_HOME ACCOUNTS_UID_MIN";
    const show = `for k in ${KEYS}; do echo "$k=\${!k-<unset>}"; done`;
    function settings(content: string, mode = 0o644, owner = 0): string {
        const f = path.join(dir, "settings");
        fs.writeFileSync(f, content);
        fs.chmodSync(f, mode);
        fs.chownSync(f, owner, owner);
        return f;
    }

    describe("settings_load FILE KEY...", () => {
        it("takes the listed keys as data (never evaluated), ignores other keys and lines, and nothing from the environment", () => {
            const marker = path.join(dir, "ran");
            const f = settings(`# comment\nACCOUNTS_REGISTRY=/x/$(touch ${marker})\nOTHER=1\nlower=2\nACCOUNTS_UID_MIN=70000\n`);
            const r = lib(`settings_load "$1" ${KEYS}; ${show}`.replace('"$1"', f),
                { ACCOUNTS_REGISTRY: "/from/env", SHARED_HOME: "/from/env", OTHER: "x" });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(r.stdout, `ACCOUNTS_REGISTRY=/x/$(touch ${marker})\nSHARED_HOME=<unset>\nACCOUNTS_UID_MIN=70000\n`);
            assert.ok(!fs.existsSync(marker), "a value was evaluated");
        });

        it("a missing file leaves every key unset (environment values dropped)", () => {
            const r = lib(`settings_load ${dir}/none ${KEYS}; ${show}`, { ACCOUNTS_REGISTRY: "/from/env" });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(r.stdout, "ACCOUNTS_REGISTRY=<unset>\nSHARED_HOME=<unset>\nACCOUNTS_UID_MIN=<unset>\n");
        });

        const refused: [string, () => string, RegExp][] = [
            ["owned by another UID", () => settings("ACCOUNTS_REGISTRY=/evil\n", 0o644, NOBODY), /is owned by UID 65534, not root; not using it$/m],
            ["group-writable", () => settings("ACCOUNTS_REGISTRY=/evil\n", 0o664), /is group- or world-writable \(mode 664\); not using it$/m],
            ["world-writable", () => settings("ACCOUNTS_REGISTRY=/evil\n", 0o646), /is group- or world-writable \(mode 646\); not using it$/m],
            ["a symlink to a good file", () => {
                const f = settings("ACCOUNTS_REGISTRY=/evil\n");
                fs.symlinkSync(f, path.join(dir, "link"));
                return path.join(dir, "link");
            }, /link is not a regular file$/m],
            ["a dangling symlink", () => {
                fs.symlinkSync(path.join(dir, "nowhere"), path.join(dir, "link"));
                return path.join(dir, "link");
            }, /link is not a regular file$/m],
            ["a directory", () => { fs.mkdirSync(path.join(dir, "d")); return path.join(dir, "d"); }, /d is not a regular file$/m],
        ];
        for (const [what, make, why] of refused) {
            it(`refuses a settings file that is ${what}, using nothing from it`, () => {
                const f = make();
                const r = lib(`settings_load ${f} ${KEYS}; echo "used $ACCOUNTS_REGISTRY"`);
                assert.strictEqual(r.status, 1);
                assert.match(r.stderr, /^FAIL: /m);
                assert.match(r.stderr, why);
                assert.ok(r.stderr.includes(f), "the message names the file");
                assert.doesNotMatch(r.stdout, /used/);
            });
        }
    });

    describe("settings_numbers, settings_paths, settings_service_accounts", () => {
        it("pass good values and set SERVICE_UID", () => {
            const r = lib('A=70000 P=/shared/apps/accounts ACCOUNTS_SERVICE_ACCOUNTS=slurm-readiness:19990,svc_2:20001\n' +
                'settings_numbers "" A; settings_paths "" P; settings_service_accounts\n' +
                'for k in "${!SERVICE_UID[@]}"; do echo "$k=${SERVICE_UID[$k]}"; done | sort', { SERVICE_UID: "evil:0" });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(r.stdout, "slurm-readiness=19990\nsvc_2=20001\n");
        });
        const bad: [string, string][] = [
            ['A=7e4; settings_numbers " in /etc/x" A', "FAIL: setting A=7e4 in /etc/x is not a number"],
            ['A=12345678901; settings_numbers "" A', "FAIL: setting A=12345678901 is not a number"],
            ['A=; settings_numbers "" A', "FAIL: setting A= is not a number"],
            ['P=relative/x; settings_paths " in /etc/x" P', "FAIL: setting P=relative/x in /etc/x is not an absolute path"],
            ["P='/a/b c'; settings_paths '' P", "FAIL: setting P=/a/b c is not an absolute path"],
            ['ACCOUNTS_SERVICE_ACCOUNTS=Root:0; settings_service_accounts',
                "FAIL: setting ACCOUNTS_SERVICE_ACCOUNTS: 'Root:0' is not name:UID (a lower-case system name and a decimal UID)"],
        ];
        for (const [code, message] of bad) {
            it(`refuses: ${code}`, () => {
                const r = lib(code);
                assert.strictEqual(r.status, 1);
                assert.strictEqual(r.stderr.trim(), message);
            });
        }
    });

    describe("trusted PATH dir|file", () => {
        function check(p: string, kind: string): Res { return lib(`trusted ${p} ${kind} && echo OK`); }
        it("accepts a root-owned directory and regular (also empty) file not writable by others", () => {
            fs.writeFileSync(path.join(dir, "f"), "x");
            fs.writeFileSync(path.join(dir, "e"), "");
            assert.strictEqual(check(dir, "dir").stdout, "OK\n");
            assert.strictEqual(check(path.join(dir, "f"), "file").stdout, "OK\n");
            assert.strictEqual(check(path.join(dir, "e"), "file").stdout, "OK\n");
        });
        it("refuses, saying why: symlink, missing, wrong type, wrong owner, group- or world-writable", () => {
            fs.mkdirSync(path.join(dir, "d"), { mode: 0o755 });
            fs.writeFileSync(path.join(dir, "f"), "x");
            fs.symlinkSync(path.join(dir, "d"), path.join(dir, "l"));
            fs.mkdirSync(path.join(dir, "u"), { mode: 0o755 });
            fs.chownSync(path.join(dir, "u"), NOBODY, NOBODY);
            fs.mkdirSync(path.join(dir, "g"));
            fs.chmodSync(path.join(dir, "g"), 0o775);
            fs.mkdirSync(path.join(dir, "w"));
            fs.chmodSync(path.join(dir, "w"), 0o1777);
            const cases: [string, string, string][] = [
                ["l", "dir", "l is a symlink"], ["none", "dir", "none does not exist"], ["f", "dir", "f is not a directory"],
                ["d", "file", "d is not a regular file"], ["u", "dir", "u is owned by UID 65534, not root"],
                ["g", "dir", "g is group- or world-writable (mode 775)"], ["w", "dir", "w is group- or world-writable (mode 1777)"],
            ];
            for (const [name, kind, why] of cases) {
                const r = check(path.join(dir, name), kind);
                assert.strictEqual(r.status, 1, name);
                assert.strictEqual(r.stdout, `${path.join(dir, name)}${why.slice(name.length)}\n`, name);
            }
        });
    });

    describe("trust_chain ROOT TARGET check|create PREFIX", () => {
        it("check: passes a trusted chain and creates nothing", () => {
            fs.mkdirSync(path.join(dir, "a/b"), { recursive: true, mode: 0o755 });
            const r = lib(`trust_chain ${dir} ${dir}/a/b/c check "refusing the registry" && echo OK`);
            assert.strictEqual(r.status, 1, "a missing directory is refused in check mode");
            assert.strictEqual(r.stderr.trim(), `FAIL: refusing the registry: ${dir}/a/b/c does not exist`);
            assert.ok(!fs.existsSync(path.join(dir, "a/b/c")));
            assert.strictEqual(lib(`trust_chain ${dir} ${dir}/a/b check "refusing the registry" && echo OK`).stdout, "OK\n");
        });
        it("create: makes missing directories root 0755 and checks each once", () => {
            const r = lib(`umask 077; trust_chain ${dir} ${dir}/a/b create refusing && trust_chain ${dir} ${dir}/a/b/c create refusing && ` +
                'echo "${#CHECKED_DIR[@]}"', { CHECKED_DIR: "x" });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(r.stdout, "4\n");
            for (const d of ["a", "a/b", "a/b/c"]) {
                const st = fs.lstatSync(path.join(dir, d));
                assert.ok(st.isDirectory() && st.uid === 0 && (st.mode & 0o777) === 0o755, `${d}: ${(st.mode & 0o777).toString(8)}`);
            }
        });
        it("refuses a symlink, a writable or foreign directory anywhere in the chain, the root itself, and a target outside it", () => {
            fs.mkdirSync(path.join(dir, "real"), { mode: 0o755 });
            fs.symlinkSync(path.join(dir, "real"), path.join(dir, "link"));
            const cases: [string, string, () => void, string][] = [
                ["link/x", "create", () => undefined, `refusing: ${dir}/link is a symlink`],
                ["real/x", "check", () => { fs.mkdirSync(path.join(dir, "real/x")); fs.chmodSync(path.join(dir, "real/x"), 0o777); },
                    `refusing: ${dir}/real/x is group- or world-writable (mode 777)`],
                ["real/x", "create", () => fs.chownSync(path.join(dir, "real"), NOBODY, 0), `refusing: ${dir}/real is owned by UID 65534, not root`],
                ["real", "check", () => { fs.chownSync(path.join(dir, "real"), 0, 0); fs.chmodSync(dir, 0o775); },
                    `refusing: ${dir} is group- or world-writable (mode 775)`],
            ];
            for (const [target, mode, spoil, message] of cases) {
                spoil();
                const r = lib(`trust_chain ${dir} ${dir}/${target} ${mode} refusing && echo OK`);
                assert.strictEqual(r.status, 1, target);
                assert.strictEqual(r.stderr.trim(), `FAIL: ${message}`);
                assert.ok(!fs.existsSync(path.join(dir, "real/x/x")));
            }
            assert.ok(!fs.existsSync(path.join(dir, "real/x")) || fs.lstatSync(path.join(dir, "real/x")).isDirectory());
            const r = lib(`trust_chain ${dir}/real /etc check refusing`);
            assert.strictEqual(r.stderr.trim(), `FAIL: /etc is not under ${dir}/real`);
        });
    });

    describe("the scripts source it only from its installed path, checked first", () => {
        // A private mount namespace whose /usr/local/lib is a fresh tmpfs (root 0755): the test's library state there
        // is seen by nothing else. /etc/default/cluster-accounts is made world-writable (a private copy over the real
        // one), so a script that got past the library check stops at the library's own settings check, touching nothing.
        function inNamespace(setup: string, script: string, env: Record<string, string> = {}): Res {
            const sh = [
                "set -e",
                "mount -t tmpfs -o mode=0755 lib /usr/local/lib",
                "mkdir -m 0755 /usr/local/lib/cluster-accounts",
                `cp "$LIB" ${INSTALLED} && chmod 0644 ${INSTALLED}`,
                "mount -t tmpfs -o mode=0755 default /etc/default",
                "printf 'ACCOUNTS_REGISTRY=/nonexistent\\n' >/etc/default/cluster-accounts && chmod 0666 /etc/default/cluster-accounts",
                setup,
                // publish-account.sh runs --status (any user's command); apply-accounts.sh takes no argument (--uid is the prolog's).
                'exec env -i PATH="$HOSTILE_PATH" BASH_ENV="$BASH_ENV_FILE" ACCOUNTS_LIB="$EVIL" SERVICE_UID=x IFS=: /bin/bash -p "$SCRIPT" ${SCRIPT_ARG:+"$SCRIPT_ARG"}',
            ].join("\n");
            return spawn(["unshare", "--mount", "--propagation", "private", "--", "/bin/bash", "-c", sh],
                { LIB, SCRIPT: script, SCRIPT_ARG: script === PUBLISH ? "--status" : "", ...env });
        }
        for (const [name, script, prog] of [["publish-account.sh", PUBLISH, "cluster-account-publish"], ["apply-accounts.sh", APPLY, "cluster-accounts"]]) {
            it(`${name}: refuses a missing, symlinked, foreign, writable library or a writable directory above it`, () => {
                const cases: [string, string][] = [
                    [`rm ${INSTALLED}`, `${INSTALLED} is missing or not a regular file`],
                    [`mv ${INSTALLED} /usr/local/lib/real.sh && ln -s /usr/local/lib/real.sh ${INSTALLED}`, `${INSTALLED} is missing or not a regular file`],
                    [`chown ${NOBODY} ${INSTALLED}`, `${INSTALLED} is owned by UID ${NOBODY}, not root`],
                    [`chmod 0664 ${INSTALLED}`, `${INSTALLED} is group- or world-writable (mode 664)`],
                    [`chmod 0646 ${INSTALLED}`, `${INSTALLED} is group- or world-writable (mode 646)`],
                    ["chmod 1777 /usr/local/lib/cluster-accounts", "/usr/local/lib/cluster-accounts is group- or world-writable (mode 1777)"],
                    ["chown nobody /usr/local/lib", `/usr/local/lib is owned by UID ${NOBODY}, not root`],
                    ["mv /usr/local/lib/cluster-accounts /usr/local/lib/real && ln -s real /usr/local/lib/cluster-accounts",
                        "/usr/local/lib/cluster-accounts is a symlink"],
                ];
                for (const [setup, why] of cases) {
                    const r = inNamespace(setup, script, { HOSTILE_PATH: SAFE_PATH });
                    assert.strictEqual(r.status, 1, `${setup}: ${r.stderr}`);
                    assert.strictEqual(r.stderr.trim().split("\n")[0], `${prog}: not using ${INSTALLED}: ${why}`, setup);
                }
            });
            it(`${name}: with a good library, takes nothing from a hostile environment (PATH, BASH_ENV, ACCOUNTS_LIB, IFS)`, () => {
                const evilBin = path.join(dir, "bin");
                const marker = path.join(dir, "ran");
                fs.mkdirSync(evilBin, { mode: 0o755 });
                for (const tool of ["stat", "logger", "mkdir", "chown", "env", "bash"]) {
                    fs.writeFileSync(path.join(evilBin, tool), `#!/bin/sh\necho ${tool} >>${marker}\n`, { mode: 0o755 });
                }
                const evil = path.join(dir, "evil.sh");
                fs.writeFileSync(evil, `echo sourced >>${marker}\n`, { mode: 0o644 });
                const r = inNamespace("true", script, { HOSTILE_PATH: `${evilBin}:${SAFE_PATH}`, BASH_ENV_FILE: evil, EVIL: evil });
                assert.strictEqual(r.status, 1, r.stderr);
                // The library's own settings check ran (so the library was sourced and used), with the fixed PATH.
                assert.match(r.stderr, new RegExp(`^${prog}: /etc/default/cluster-accounts is group- or world-writable \\(mode 666\\); not using it$`, "m"));
                assert.ok(!fs.existsSync(marker), `hostile environment used: ${fs.existsSync(marker) ? fs.readFileSync(marker, "utf8") : ""}`);
            });
        }
    });
});
