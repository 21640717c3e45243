// Contract tests of components/login/install-slurm-client.sh (run unmodified) against stand-ins for the
// AlmaLinux 8 commands it calls: what it asks dnf for, that it pins Slurm, that a second run is safe, and
// that a wrong Slurm version fails. Tests of our script, not of dnf or AlmaLinux.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const SCRIPT = path.join(__dirname, "..", "..", "components", "login", "install-slurm-client.sh");
const FAKE = path.join(__dirname, "fakes", "el8-host");
const COMMANDS = ["dnf", "rpm", "mountpoint", "mount", "useradd", "getenforce", "setsebool", "systemctl"];

class Host {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "install-slurm-client-"));
    readonly state = path.join(this.dir, "state");
    readonly bin = path.join(this.dir, "bin");
    readonly shared = path.join(this.dir, "shared");
    constructor() {
        fs.mkdirSync(this.state);
        fs.mkdirSync(this.bin);
        for (const c of COMMANDS) fs.symlinkSync(FAKE, path.join(this.bin, c));
    }
    run(args: string[], env: Record<string, string> = {}) {
        fs.writeFileSync(path.join(this.state, "calls.log"), "");
        const r = spawnSync("bash", [SCRIPT, ...args], {
            encoding: "utf8",
            env: {
                PATH: `${this.bin}:/usr/bin:/bin`, FAKE_STATE: this.state, SLURM_CLIENT_SHARED_DIR: this.shared, ...env,
            },
        });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls: fs.readFileSync(path.join(this.state, "calls.log"), "utf8").trim().split("\n") };
    }
    cleanup() {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

describe("install-slurm-client.sh (contract, stand-in EL8 commands)", () => {
    let host: Host;
    beforeEach(() => { host = new Host(); });
    afterEach(() => host.cleanup());

    it("installs EPEL, PowerTools deps, munge, nfs-utils and the Slurm client pinned to the version", () => {
        const r = host.run(["25.11.5"]);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.deepStrictEqual(r.calls.filter(c => c.startsWith("dnf ")), [
            "dnf -y install epel-release",
            "dnf config-manager --set-enabled powertools",
            "dnf -y install munge nfs-utils",
            "dnf -y install --disableexcludes=slurm slurm-25.11.5* slurm-libpmi-25.11.5* slurm-perlapi-25.11.5*",
        ]);
        assert.match(r.stdout, /slurm 25\.11\.5 client installed/);
    });

    it("mounts /shared, puts homes under /shared/home, allows NFS homes in SELinux and starts the sync timer", () => {
        const r = host.run(["25.11.5"]);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.ok(r.calls.includes(`mount ${host.shared}`), r.calls.join("\n"));
        assert.strictEqual(fs.statSync(path.join(host.shared, "home")).mode & 0o777, 0o755);
        assert.ok(r.calls.includes(`useradd -D -b ${host.shared}/home`));
        assert.ok(r.calls.includes("setsebool -P use_nfs_home_dirs on"));
        const systemctl = r.calls.filter(c => c.startsWith("systemctl "));
        assert.deepStrictEqual(systemctl, [
            "systemctl enable munge",
            "systemctl daemon-reload",
            "systemctl enable --now slurm-sync.timer",
            "systemctl start slurm-sync.service",
        ]);
    });

    it("is safe to run twice: EPEL and the mount are not redone", () => {
        assert.strictEqual(host.run(["25.11.5"]).status, 0);
        const second = host.run(["25.11.5"]);
        assert.strictEqual(second.status, 0, second.stderr);
        assert.ok(!second.calls.includes("dnf -y install epel-release"), second.calls.join("\n"));
        assert.ok(!second.calls.some(c => c.startsWith("mount ")), second.calls.join("\n"));
        assert.ok(second.calls.includes("systemctl enable --now slurm-sync.timer"));
    });

    it("fails when the repository gives another Slurm version than the cluster's", () => {
        const r = host.run(["25.11.5"], { FAKE_REPO_SLURM_VERSION: "25.11.4" });
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /installed slurm 25\.11\.4, expected 25\.11\.5/);
        assert.ok(!r.calls.some(c => c.startsWith("systemctl enable --now slurm-sync.timer")), "timer started despite the wrong version");
    });

    it("leaves SELinux alone where it is disabled", () => {
        const r = host.run(["25.11.5"], { FAKE_SELINUX: "Disabled" });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.ok(!r.calls.some(c => c.startsWith("setsebool")));
    });

    it("refuses to run without a Slurm version", () => {
        const r = host.run([]);
        assert.notStrictEqual(r.status, 0);
        assert.match(r.stderr, /usage: install-slurm-client SLURM_VERSION/);
        assert.deepStrictEqual(r.calls.filter(Boolean), []);
    });

    it("the stand-in itself is shellcheck-clean", function () {
        const probe = spawnSync("shellcheck", ["--version"]);
        if (probe.status !== 0) {
            if (process.env.CI === "true") assert.fail("shellcheck missing under CI=true");
            this.skip();
        }
        const r = spawnSync("shellcheck", ["-s", "bash", FAKE], { encoding: "utf8" });
        assert.strictEqual(r.status, 0, r.stdout);
    });
});
