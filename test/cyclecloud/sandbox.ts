// The sandbox of the CycleCloud script contract tests (test/cyclecloud/scripts.test.ts,
// accounts-project.test.ts): a script runs the way the remote Command runs it on the VM, `sudo -n bash -s --
// args` under real sudo with RHEL 8's env_reset, always_set_home and secure_path=/sbin:/bin:/usr/sbin:/usr/bin,
// in a private mount namespace where the stand-in `cyclecloud` sits where the image installs it
// (/usr/local/bin, off secure_path) and root's home is the sandbox's. Needs root, sudo, unshare and mount.
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { scriptCommand, scriptStdin, ScriptName } from "../../components/cyclecloud/scripts";
import { shellQuote } from "../../components/slurm/seed";

export const FAKES = path.join(__dirname, "fakes");
/** The CycleCloud admin password of the contract tests: watched for on every command line. */
export const PASSWORD = "Contract-Test-Passw0rd!";
/** RHEL 8's sudoers (the AlmaLinux 8 CycleCloud image): what sudo does to PATH, HOME and the environment. */
export const RHEL8_SECURE_PATH = "/sbin:/bin:/usr/sbin:/usr/bin";
const SUDOERS = ["Defaults env_reset", "Defaults always_set_home", `Defaults secure_path = ${RHEL8_SECURE_PATH}`,
    "root ALL=(ALL) NOPASSWD: ALL", ""].join("\n");

export interface Run { status: number | null; stdout: string; stderr: string; calls: string[]; seconds: number; cmdlineLeaks: string[] }

/** Every process command line (as `ps` shows it) that contains `secret`, sampled until stop() is called. */
function watchCommandLines(secret: string): { stop(): string[] } {
    const leaks = new Set<string>();
    const sample = () => {
        for (const pid of fs.readdirSync("/proc")) {
            if (!/^\d+$/.test(pid)) continue;
            try {
                const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "latin1");
                if (cmdline.includes(secret)) leaks.add(cmdline.replace(/\0/g, " ").trim());
            } catch { /* the process is gone */ }
        }
    };
    const timer = setInterval(sample, 5);
    return { stop: () => { clearInterval(timer); sample(); return [...leaks]; } };
}

export class Sandbox {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "cc-contract-"));
    readonly state = path.join(this.dir, "state");
    readonly data = path.join(this.dir, "data");
    readonly ccState = path.join(this.dir, "pulumi-state");
    /** Mounted over /root: root's home as sudo (always_set_home) gives it, where the CLI keeps ~/.cycle. */
    readonly home = path.join(this.dir, "root");
    /** Mounted over /usr/local/bin: where the image installs the CLI. */
    readonly usrLocalBin = path.join(this.dir, "usr-local-bin");
    /** TMPDIR of the scripts, to check that nothing is left behind. */
    readonly tmp = path.join(this.dir, "tmp");
    readonly sudoers = path.join(this.dir, "sudoers");
    /** Extra [source, target] bind mounts (files over files, dirs over dirs). */
    readonly binds: [string, string][] = [];
    private callsSeen = 0;
    constructor(opts: { cli?: boolean } = {}) {
        for (const d of [this.state, this.data, this.home, this.usrLocalBin, this.tmp]) fs.mkdirSync(d, { mode: 0o700 });
        fs.writeFileSync(path.join(this.dir, "host_key.pub"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIServerHostKey root@cc\n");
        if (opts.cli !== false) fs.copyFileSync(path.join(FAKES, "cyclecloud"), path.join(this.usrLocalBin, "cyclecloud"));
        if (fs.existsSync(path.join(this.usrLocalBin, "cyclecloud"))) fs.chmodSync(path.join(this.usrLocalBin, "cyclecloud"), 0o755);
        fs.writeFileSync(this.sudoers, SUDOERS, { mode: 0o440 });
    }
    /** The CLI as init-server.sh leaves it: initialised for root. */
    withInitialisedCli(): this {
        fs.mkdirSync(path.join(this.home, ".cycle"), { recursive: true, mode: 0o700 });
        fs.writeFileSync(path.join(this.home, ".cycle", "config.ini"), "[cyclecloud]\nurl = https://localhost\nusername = ccadmin\npassword = x\n", { mode: 0o600 });
        return this;
    }
    /** The Slurm project's template file, where cluster.sh looks for it (CC_TEMPLATE_ROOT). */
    readonly templateRoot = path.join(this.dir, "cycle_server");
    set(file: string, content = ""): void { fs.writeFileSync(path.join(this.state, file), content); }
    unset(file: string): void { fs.rmSync(path.join(this.state, file), { force: true }); }
    has(file: string): boolean { return fs.existsSync(path.join(this.state, file)); }
    read(file: string): string { return fs.readFileSync(path.join(this.state, file), "utf8"); }

    private newCalls(): string[] {
        const log = fs.existsSync(path.join(this.state, "calls.log")) ? this.read("calls.log").split("\n").filter(Boolean) : [];
        const calls = log.slice(this.callsSeen);
        this.callsSeen = log.length;
        return calls;
    }

    /**
     * Runs a script as the remote Command does on the VM: `sudo -n bash -s -- args` with the generated stdin,
     * test overrides (fakes' state, short waits) exported in the same preamble, since sudo drops the caller's
     * environment.
     */
    async run(script: ScriptName, args: string[], env: Record<string, string> = {}, overrides: Record<string, string> = {},
        withLib = true): Promise<Run> {
        const preamble: Record<string, string> = {
            ...env,
            FAKE_STATE: this.state,
            CC_DATA_DIR: this.data,
            CC_STATE_DIR: this.ccState,
            CYCLE_SERVER: path.join(FAKES, "cycle_server"),
            SSH_HOST_KEY_FILE: path.join(this.dir, "host_key.pub"),
            CC_CYCLE_SERVER_USER: "no-such-user-here",
            CC_WAIT_TIMEOUT: "10",
            CC_WAIT_INTERVAL: "0.05",
            CC_RETRY_DELAY: "0.05",
            TMPDIR: this.tmp,
            ...overrides,
        };
        const binds: [string, string][] = [
            [this.sudoers, "/etc/sudoers"],
            [this.usrLocalBin, "/usr/local/bin"],
            [this.home, "/root"],
            [path.join(FAKES, "curl"), "/usr/bin/curl"],
            [path.join(FAKES, "ssh-keyscan"), "/usr/bin/ssh-keyscan"],
            ...this.binds,
        ];
        const mounts = binds.map(([src, dst]) => `mount --bind ${shellQuote(src)} ${shellQuote(dst)}`).join(" && ");
        const started = process.hrtime.bigint();
        // Only runs that carry the password are watched (sampling every process costs CPU).
        const watch = preamble.CC_ADMIN_PASSWORD ? watchCommandLines(PASSWORD) : { stop: () => [] as string[] };
        const child = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", `${mounts} && exec ${scriptCommand(args)}`], {
            env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
            stdio: ["pipe", "pipe", "pipe"],
        });
        let stdout = "", stderr = "";
        child.stdout.on("data", d => { stdout += d; });
        child.stderr.on("data", d => { stderr += d; });
        child.stdin.end(scriptStdin(script, preamble, { withLib }));
        const killer = setTimeout(() => child.kill("SIGKILL"), 60000);
        const status = await new Promise<number | null>(resolve => child.on("close", code => resolve(code)));
        clearTimeout(killer);
        const cmdlineLeaks = watch.stop();
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        return { status, stdout, stderr, calls: this.newCalls(), seconds, cmdlineLeaks };
    }

    /** Runs a script on the deploying machine (accept-terms.sh: local Command, no sudo), fakes first on PATH. */
    runLocal(script: ScriptName, args: string[]): Run {
        const r = spawnSync("bash", ["-c", scriptCommand(args, { sudo: false })], {
            input: scriptStdin(script, {}, { withLib: false }),
            encoding: "utf8",
            timeout: 30000,
            env: { PATH: `${FAKES}:${process.env.PATH}`, HOME: this.home, FAKE_STATE: this.state },
        });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls: this.newCalls(), seconds: 0, cmdlineLeaks: [] };
    }

    /** Files under the data directory and the scripts' TMPDIR that are left after a run. */
    leftovers(): string[] {
        const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true })
            .flatMap(e => (e.isDirectory() ? [path.join(d, e.name) + "/", ...walk(path.join(d, e.name))] : [path.join(d, e.name)]));
        return [...walk(this.data), ...walk(this.tmp)];
    }
}
