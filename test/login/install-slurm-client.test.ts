// Contract tests of components/login/install-slurm-client.sh (run unmodified) against stand-ins for the
// AlmaLinux 8 commands it calls (test/login/fakes/el8-host, the rows of docs/cli-behaviour.md) and a
// stand-in image tree: /etc/yum.repos.d as the AlmaLinux HPC image ships it (its own slurm.repo on the
// insiders channel with no exclude, a microsoft-prod.repo with module_hotfixes). What it asks dnf for, that
// the pin and the exclude hold whatever the image ships, that the image's microsoft-prod.repo is kept, that
// the mount is retried within a bound, that a second run is safe, and that a wrong Slurm version fails.
// Tests of our script, not of dnf or AlmaLinux.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const SCRIPT = path.join(__dirname, "..", "..", "components", "login", "install-slurm-client.sh");
const FAKE = path.join(__dirname, "fakes", "el8-host");
const COMMANDS = ["dnf", "rpm", "mountpoint", "mount", "useradd", "getenforce", "setsebool", "systemctl"];
const IMAGE_SLURM_REPO = "[slurm]\nname=Slurm Workload Manager\nbaseurl=https://packages.microsoft.com/yumrepos/slurm-el8-insiders\nenabled=1\ngpgcheck=1\ngpgkey=https://packages.microsoft.com/keys/microsoft.asc\npriority=10\n";
const IMAGE_MICROSOFT_REPO = "[packages-microsoft-com-prod]\nname=packages-microsoft-com-prod\nbaseurl=https://packages.microsoft.com/rhel/8/prod/\nenabled=1\ngpgcheck=1\ngpgkey=https://packages.microsoft.com/keys/microsoft.asc\nmodule_hotfixes=1\n";

class Host {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "install-slurm-client-"));
    readonly state = path.join(this.dir, "state");
    readonly bin = path.join(this.dir, "bin");
    readonly shared = path.join(this.dir, "shared");
    /** The image's /etc/yum.repos.d. */
    readonly repos = path.join(this.dir, "etc", "yum.repos.d");
    constructor() {
        fs.mkdirSync(this.state);
        fs.mkdirSync(this.bin);
        fs.mkdirSync(this.repos, { recursive: true });
        for (const c of COMMANDS) fs.symlinkSync(FAKE, path.join(this.bin, c));
        // As azhpc-images' alma/common/install_pmix.sh leaves it (shared/reference, section 4).
        fs.writeFileSync(path.join(this.repos, "slurm.repo"), IMAGE_SLURM_REPO);
        fs.writeFileSync(path.join(this.repos, "microsoft-prod.repo"), IMAGE_MICROSOFT_REPO);
    }
    repoFile(name: string): string { return fs.readFileSync(path.join(this.repos, name), "utf8"); }
    slurm(): string { return fs.readFileSync(path.join(this.state, "slurm-version"), "utf8").trim(); }
    /** A routine `dnf -y update` after the install, through the same stand-in. */
    update(): void {
        spawnSync(path.join(this.bin, "dnf"), ["-y", "update"], { env: { PATH: `${this.bin}:/usr/bin:/bin`, FAKE_STATE: this.state, FAKE_REPOS_DIR: this.repos } });
    }
    run(args: string[], env: Record<string, string> = {}) {
        fs.writeFileSync(path.join(this.state, "calls.log"), "");
        const r = spawnSync("bash", [SCRIPT, ...args], {
            encoding: "utf8",
            env: {
                PATH: `${this.bin}:/usr/bin:/bin`, FAKE_STATE: this.state, SLURM_CLIENT_SHARED_DIR: this.shared,
                SLURM_CLIENT_REPOS_DIR: this.repos, FAKE_REPOS_DIR: this.repos, SLURM_CLIENT_MOUNT_INTERVAL: "0", ...env,
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
            "dnf config-manager --set-disabled slurm",
            "dnf -y install epel-release",
            "dnf config-manager --set-enabled powertools",
            "dnf -y install munge nfs-utils",
            "dnf -y install --disableexcludes=slurm-cluster slurm-25.11.5* slurm-libpmi-25.11.5* slurm-perlapi-25.11.5*",
        ]);
        assert.match(r.stdout, /slurm 25\.11\.5 client installed/);
    });

    it("the pin and the exclude hold although the image ships its own [slurm] repo (insiders, no exclude)", () => {
        const r = host.run(["25.11.5"]);
        assert.strictEqual(r.status, 0, r.stderr);
        // Installed from our repository, the image's is disabled, and a routine update moves nothing.
        assert.strictEqual(fs.readFileSync(path.join(host.state, "slurm-from"), "utf8").trim(), "slurm-cluster");
        assert.match(host.repoFile("slurm.repo"), /^enabled=0$/m);
        assert.match(host.repoFile("slurm-cluster.repo"), /^\[slurm-cluster\]\nname=[^\n]*\nbaseurl=https:\/\/packages\.microsoft\.com\/yumrepos\/slurm-el8\n/m);
        assert.match(host.repoFile("slurm-cluster.repo"), /^exclude=slurm\*$/m);
        host.update();
        assert.strictEqual(host.slurm(), "25.11.5", "a dnf update moved Slurm away from the pin");
    });

    it("keeps the image's microsoft-prod.repo (module_hotfixes) and writes one only where the image has none", () => {
        assert.strictEqual(host.run(["25.11.5"]).status, 0);
        assert.strictEqual(host.repoFile("microsoft-prod.repo"), IMAGE_MICROSOFT_REPO);
        const bare = new Host();
        try {
            fs.rmSync(path.join(bare.repos, "microsoft-prod.repo"));
            fs.rmSync(path.join(bare.repos, "slurm.repo"));
            const r = bare.run(["25.11.5"]);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.match(bare.repoFile("microsoft-prod.repo"), /^\[packages-microsoft-com-prod\]$/m);
            assert.ok(!r.calls.some(c => c.startsWith("dnf config-manager --set-disabled")), "disabled a repo on an image without one");
        } finally {
            bare.cleanup();
        }
    });

    it("retries the mount of /shared while the share's name does not resolve privately yet", () => {
        fs.writeFileSync(path.join(host.state, "mount_failures"), "3");
        const r = host.run(["25.11.5"]);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.strictEqual(r.calls.filter(c => c.startsWith("mount ")).length, 4);
        assert.match(r.stdout, /mounting .* failed \(attempt 1 of 30\); retrying/);
        assert.ok(fs.existsSync(path.join(host.shared, "home")));
    });

    it("gives up on the mount after the bound, but still enables munge and the sync timer (and says so)", () => {
        fs.writeFileSync(path.join(host.state, "mount_failures"), "1000");
        const r = host.run(["25.11.5"], { SLURM_CLIENT_MOUNT_ATTEMPTS: "5" });
        assert.strictEqual(r.status, 1);
        assert.strictEqual(r.calls.filter(c => c.startsWith("mount ")).length, 5);
        assert.ok(r.calls.includes("systemctl enable munge"), r.calls.join("\n"));
        assert.ok(r.calls.includes("systemctl enable --now slurm-sync.timer"), r.calls.join("\n"));
        assert.match(r.stderr, /did not mount after 5 attempts; munge and the sync timer are enabled/);
        assert.ok(!fs.existsSync(path.join(host.shared, "home")), "created homes on the root disk under an unmounted /shared");
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

    it("fails when the repository has no build of the cluster's Slurm version (dnf: no match)", () => {
        const r = host.run(["25.11.5"], { FAKE_REPO_SLURM_VERSION: "25.11.4" });
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /Unable to find a match: slurm-25\.11\.5\*/);
        assert.ok(!r.calls.some(c => c.startsWith("systemctl enable")), "enabled despite the failed install");
    });

    it("fails when the version glob installs another release than the cluster's (25.11.5* matching 25.11.50)", () => {
        const r = host.run(["25.11.5"], { FAKE_REPO_SLURM_VERSION: "25.11.50" });
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /installed slurm 25\.11\.50, expected 25\.11\.5/);
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
