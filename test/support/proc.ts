// Process helpers for the real-system tests: run a command, start a daemon we own, stop it by PID.
import { ChildProcess, spawn, spawnSync, SpawnSyncOptions } from "child_process";
import * as fs from "fs";

export interface RunResult {
    status: number | null;
    signal: NodeJS.Signals | null;
    stdout: Buffer;
    stderr: Buffer;
    /** stdout + stderr as text, for messages. */
    text: string;
}

/** Runs argv to completion (never through a shell). */
export function run(argv: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): RunResult {
    const o: SpawnSyncOptions = {
        input: opts.input,
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? 30000,
        cwd: opts.cwd ?? "/",
        maxBuffer: 64 * 1024 * 1024,
    };
    const r = spawnSync(argv[0], argv.slice(1), o);
    if (r.error) {
        throw new Error(`${argv.join(" ")}: ${r.error.message}`);
    }
    const stdout = r.stdout as Buffer;
    const stderr = r.stderr as Buffer;
    return { status: r.status, signal: r.signal, stdout, stderr, text: stdout.toString() + stderr.toString() };
}

/** Runs argv and throws with its output unless it exits 0. */
export function runOk(argv: string[], opts: Parameters<typeof run>[1] = {}): RunResult {
    const r = run(argv, opts);
    if (r.status !== 0) {
        throw new Error(`command failed (status ${r.status}, signal ${r.signal}): ${argv.join(" ")}\n${r.text}`);
    }
    return r;
}

/** True if PID exists and is not a zombie. */
export function isAlive(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
        return state !== "Z" && state !== "X";
    } catch {
        return false;
    }
}

export const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));

/** SIGTERM, wait up to graceMs, then SIGKILL. Returns true if the process is gone. */
export async function stopPid(pid: number, graceMs = 5000): Promise<boolean> {
    if (!isAlive(pid)) return true;
    try { process.kill(pid, "SIGTERM"); } catch { /* already gone */ }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
        if (!isAlive(pid)) return true;
        await sleep(50);
    }
    try { process.kill(pid, "SIGKILL"); } catch { /* already gone */ }
    const hard = Date.now() + 2000;
    while (Date.now() < hard) {
        if (!isAlive(pid)) return true;
        await sleep(50);
    }
    return !isAlive(pid);
}

/** Polls fn until it returns a truthy value or timeoutMs passes (then throws with describe()). */
export async function waitFor<T>(fn: () => T | undefined | false | null, timeoutMs: number, describe: () => string, stepMs = 100): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = fn();
        if (v) return v;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
        await sleep(stepMs);
    }
}

/** A long-running process this suite started; stdout/stderr go to a log file. */
export class Daemon {
    readonly child: ChildProcess;
    readonly pid: number;
    exited = false;

    constructor(readonly name: string, argv: string[], readonly logFile: string, env: NodeJS.ProcessEnv = process.env) {
        const fd = fs.openSync(logFile, "a");
        try {
            this.child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", fd, fd], env, cwd: "/" });
        } finally {
            fs.closeSync(fd);
        }
        if (this.child.pid === undefined) throw new Error(`${name}: could not start ${argv.join(" ")}`);
        this.pid = this.child.pid;
        this.child.on("exit", () => { this.exited = true; });
        this.child.on("error", () => { this.exited = true; });
    }

    log(): string {
        try { return fs.readFileSync(this.logFile, "utf8"); } catch { return ""; }
    }

    async stop(): Promise<boolean> {
        if (this.exited) return true;
        const gone = await stopPid(this.pid);
        // Let node reap the child so it does not linger as a zombie.
        const deadline = Date.now() + 2000;
        while (!this.exited && Date.now() < deadline) await sleep(20);
        return gone;
    }
}

/**
 * The Slurm the cluster runs (cyclecloud-slurm 4.0.9: 25.11.5), installed by scripts/setup-testbed.sh from
 * ../shared/testbed. Every test host runs these daemons and clients (netns.ts puts them first on its PATH); the
 * machine's own Slurm, if any, is never used.
 */
export const SLURM_PREFIX = "/opt/slurm-25.11.5";
export const SLURM_VERSION = "25.11.5";

/** Names of the Slurm 25.11.5 commands (bin and sbin), read from the install. */
export function slurmCommands(): Map<string, string> {
    const m = new Map<string, string>();
    for (const d of ["bin", "sbin"]) {
        let names: string[] = [];
        try { names = fs.readdirSync(`${SLURM_PREFIX}/${d}`); } catch { /* not installed */ }
        for (const n of names) m.set(n, `${SLURM_PREFIX}/${d}/${n}`);
    }
    return m;
}

/** Absolute path of Slurm 25.11.5's `name` (e.g. "sinfo", "slurmd"), for commands the test process runs itself. */
export function slurmBin(name: string): string {
    const p = slurmCommands().get(name);
    if (!p) throw new Error(`${name} is not a command of Slurm ${SLURM_VERSION} under ${SLURM_PREFIX} (run scripts/setup-testbed.sh)`);
    return p;
}

// Every Slurm command name the tests may ask for, so a missing install is reported even on a machine with another Slurm.
const SLURM_NAMES = new Set(["sacct", "sacctmgr", "salloc", "sattach", "sbatch", "sbcast", "scancel", "scontrol", "scrontab", "sdiag",
    "sinfo", "sprio", "squeue", "sreport", "srun", "sshare", "sstat", "strigger", "sackd", "slurmctld", "slurmd", "slurmdbd", "slurmstepd"]);

/** Which of these commands are missing (looked up on PATH plus the sbin directories; Slurm's only under SLURM_PREFIX). */
export function missingCommands(commands: string[]): string[] {
    const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/local/sbin", "/usr/sbin", "/sbin"];
    return commands.filter(c => {
        if (c.startsWith("/")) return !isExecutable(c);
        if (SLURM_NAMES.has(c)) return !["bin", "sbin"].some(d => isExecutable(`${SLURM_PREFIX}/${d}/${c}`));
        return !dirs.some(d => d && isExecutable(`${d}/${c}`));
    });
}

function isExecutable(p: string): boolean {
    try {
        fs.accessSync(p, fs.constants.X_OK);
        return fs.statSync(p).isFile();
    } catch {
        return false;
    }
}
