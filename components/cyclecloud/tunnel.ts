// The Azure Bastion tunnel of tunnel mode (bastionTunnelPort), opened by the program itself on `pulumi up`
// (and `pulumi destroy --run-program`) once the Bastion and the CycleCloud VM exist: bastion-tunnel.sh keeps
// `az network bastion tunnel` to port 22 of the VM open (reopening it when it ends), behind tunnel-relay.js
// on 127.0.0.1:<port>, in its own process group, for as long as the Pulumi engine runs (the engine deletes
// resources after the program has ended, and those deletes still need the tunnel); it stops within a second
// of the engine ending. Nothing of it is piped to the program: it logs to a file (tunnelLogPath) that every
// failure message names. `pulumi preview` never opens one. The remote Commands' connections take their host
// from `openBastionTunnel`'s output, which resolves only once an SSH banner came back through the tunnel.
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, RemoteAccess } from "../config";

export const TUNNEL_SCRIPT = path.join(__dirname, "bastion-tunnel.sh");
/** Where the tunnel listens (what `az network bastion tunnel` binds: localhost). */
export const TUNNEL_HOST = "127.0.0.1";
/**
 * How long the program waits for an SSH banner through the tunnel (az start-up, sign-in token, Bastion session,
 * sshd), and the bound of each wait for a banner (the relay closes a connection that gets none by then).
 * Only tests change these.
 */
export const tunnelTimings = { readySeconds: 180, bannerSeconds: 60 };

/**
 * Whether the program may start local processes. A simulated run (scripts/simulate.ts, `npm run plan`,
 * the mock tests) is no `pulumi up`: it turns this off unless a test asks for the real behaviour.
 */
export const localProcesses = { enabled: true };

const active = new Map<string, Promise<void>>();

/** True when nothing listens on 127.0.0.1:port (checked synchronously, so the program can fail before registering anything). */
export function portIsFree(port: number): boolean {
    const probe = "const s=require('net').createServer();s.once('error',()=>process.exit(1));" +
        `s.listen(${port},'${TUNNEL_HOST}',()=>s.close(()=>process.exit(0)));`;
    return spawnSync(process.execPath, ["-e", probe], { stdio: "ignore", timeout: 10000 }).status === 0;
}

/**
 * Tunnel mode on `pulumi up`: fails, before any resource is registered, when the tunnel's local port is
 * already taken (another tunnel, an old helper left running, another program). On preview it only warns.
 */
export function checkTunnelPort(remote: RemoteAccess): void {
    if (remote.mode !== "bastionTunnel" || remote.tunnelPort === undefined || !localProcesses.enabled) return;
    if (portIsFree(remote.tunnelPort)) return;
    const what = `bastionTunnelPort: ${TUNNEL_HOST}:${remote.tunnelPort} is already in use on this machine ` +
        "(an `az network bastion tunnel` or another program listens there; find it with: " +
        `ss -ltnp 'sport = :${remote.tunnelPort}'); stop it, or choose a free port: pulumi config set bastionTunnelPort <port>`;
    if (pulumi.runtime.isDryRun()) {
        pulumi.log.warn(`${what} (\`pulumi up\` will refuse to start)`);
        return;
    }
    throw new ConfigError([what]);
}

/** The nearest ancestor process named `pulumi` (the engine), else undefined. Linux /proc; elsewhere `ps`. */
export function engineProcess(): number | undefined {
    let pid = process.ppid;
    for (let depth = 0; depth < 8 && pid > 1; depth++) {
        const { comm, ppid } = processInfo(pid);
        if (comm === undefined) return undefined;
        if (comm === "pulumi" || comm === "pulumi.exe") return pid;
        pid = ppid;
    }
    return undefined;
}

function processInfo(pid: number): { comm?: string; ppid: number } {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        return { comm, ppid };
    } catch {
        const r = spawnSync("ps", ["-o", "ppid=,comm=", "-p", String(pid)], { encoding: "utf8" });
        const m = /^\s*(\d+)\s+(.*)$/.exec(r.stdout ?? "");
        return m ? { comm: path.basename(m[2].trim()), ppid: Number(m[1]) } : { ppid: 0 };
    }
}

/**
 * The tunnel's log: its supervisor's, the relay's and az's lines, never piped to the program (which may have
 * exited while the tunnel still serves the engine's deletes). Under the Pulumi home ($PULUMI_HOME, else
 * ~/.pulumi), per project, stack and port; created 0600 in a 0700 directory, never through a symlink.
 */
export function tunnelLogPath(stack: string, port: number): string {
    const home = process.env.PULUMI_HOME || path.join(os.homedir(), ".pulumi");
    return path.join(home, "cyclecloud-slurm-entra", stack, `bastion-tunnel-${port}.log`);
}

function createLog(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(path.dirname(file));
    if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) {
        throw new Error(`bastionTunnelPort: the tunnel's log directory ${path.dirname(file)} must be a directory of yours that nobody else can write`);
    }
    // O_NOFOLLOW: a symlink planted at the log's path is refused, never followed. Truncated: one run per file.
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
    fs.fchmodSync(fd, 0o600);
    fs.closeSync(fd);
}

function readTail(file: string, max = 4000): string {
    try {
        const text = fs.readFileSync(file, "utf8");
        return text.slice(-max);
    } catch {
        return "";
    }
}

function freeLocalPort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(0, TUNNEL_HOST, () => {
            const port = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(port));
        });
    });
}

/**
 * Whether an SSH server answers through the tunnel: connects to its local end and waits, at most
 * `seconds`, for the first line, which must be an SSH banner ("SSH-2.0-..."). Resolves to what happened.
 */
export function sshBanner(port: number, seconds: number): Promise<{ ok: boolean; detail: string }> {
    return new Promise(resolve => {
        const s = net.connect({ host: TUNNEL_HOST, port });
        let got = "";
        const done = (ok: boolean, detail: string) => { clearTimeout(timer); s.destroy(); resolve({ ok, detail }); };
        const timer = setTimeout(() => done(false, `no SSH banner within ${seconds}s`), seconds * 1000);
        s.on("data", (d: Buffer) => {
            got += d.toString("latin1");
            const line = got.split("\n")[0];
            if (got.includes("\n") || got.length >= 255) {
                done(line.startsWith("SSH-"), line.startsWith("SSH-") ? line.trim() : `not an SSH banner: ${JSON.stringify(line.slice(0, 80))}`);
            }
        });
        s.once("error", e => done(false, e.message));
        s.once("close", () => done(false, got ? `closed after ${JSON.stringify(got.slice(0, 80))}` : "closed before an SSH banner"));
    });
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

async function startTunnel(rg: string, bastion: string, vmId: string, port: number): Promise<void> {
    const engine = engineProcess();
    const owner = engine ?? process.pid;
    const log = tunnelLogPath(pulumi.getStack(), port);
    createLog(log);
    const azPort = await freeLocalPort();
    // Nothing of the tunnel is piped to the program: every line goes to the log file (bastion-tunnel.sh).
    const child = spawn("bash", [TUNNEL_SCRIPT, rg, bastion, vmId, String(port), String(azPort), String(owner), log], {
        detached: true, // its own process group: one kill stops the relay, az and everything they start
        stdio: "ignore",
        env: { ...process.env, TUNNEL_NODE: process.execPath, TUNNEL_BANNER_SECONDS: String(tunnelTimings.bannerSeconds) },
    });
    let exited: number | null | undefined;
    let spawnError = "";
    child.on("exit", code => { exited = code; });
    child.on("error", e => { spawnError = e.message; exited = -1; });
    const stop = () => {
        try { process.kill(-child.pid!, "SIGTERM"); } catch { /* already gone */ }
    };
    // Without an engine (the program run on its own) the tunnel ends with the program; with one, the
    // script watches the engine. Either way nothing here keeps the program alive.
    if (engine === undefined) process.once("exit", stop);
    child.unref();

    const what = `an SSH banner from the CycleCloud VM's port 22 through the Bastion tunnel (${TUNNEL_HOST}:${port} -> ` +
        `az network bastion tunnel --name ${bastion} --resource-group ${rg} --target-resource-id ${vmId} --resource-port 22 --port ${azPort})`;
    const deadline = Date.now() + tunnelTimings.readySeconds * 1000;
    let last = "not tried";
    for (;;) {
        const output = readTail(log);
        const error = /^(?:WARNING: )?ERROR: .*$/m.exec(output)?.[0];
        if (error || exited !== undefined) {
            stop();
            throw new Error(`bastionTunnelPort: waiting for ${what}: ${error ?? `the tunnel's supervisor exited (${exited})${spawnError ? `: ${spawnError}` : ""}`}. ` +
                `Is az signed in (az account show) with the Bastion extension (az extension add --name bastion)? The tunnel's log, ${log}:\n${output.trim()}`);
        }
        const remaining = Math.ceil((deadline - Date.now()) / 1000);
        if (remaining <= 0) {
            stop();
            throw new Error(`bastionTunnelPort: waited ${tunnelTimings.readySeconds}s for ${what}; last attempt: ${last}. ` +
                `The tunnel's log, ${log}:\n${output.trim()}`);
        }
        const r = await sshBanner(port, Math.min(remaining, tunnelTimings.bannerSeconds + 5));
        if (r.ok) {
            pulumi.log.info(`Bastion tunnel open: ${TUNNEL_HOST}:${port} -> ${vmId}:22 answers (${r.detail}); ` +
                `closed when ${engine ? "pulumi" : "the program"} ends; log: ${log}`);
            return;
        }
        last = r.detail;
        await sleep(1000);
    }
}

export interface TunnelTarget {
    resourceGroupName: pulumi.Input<string>;
    /** The Bastion's name as an output of the Bastion resource (so it resolves once the Bastion exists). */
    bastionName: pulumi.Input<string>;
    /** The CycleCloud VM's resource ID (resolves once the VM exists). */
    vmId: pulumi.Input<string>;
}

/**
 * Opens the tunnel (once per program run) when the Bastion and the VM exist, on `pulumi up` only; resolves
 * to the host the Commands connect to once the tunnel accepts connections. On preview it resolves at once
 * and starts nothing.
 */
export function openBastionTunnel(remote: RemoteAccess, target: TunnelTarget): pulumi.Output<string> {
    const port = remote.tunnelPort;
    if (remote.mode !== "bastionTunnel" || port === undefined) throw new Error("openBastionTunnel: the stack is not in tunnel mode");
    return pulumi.all([target.resourceGroupName, target.bastionName, target.vmId]).apply(async ([rg, bastion, vmId]) => {
        if (pulumi.runtime.isDryRun() || !localProcesses.enabled) return TUNNEL_HOST;
        const key = `${rg}/${bastion}/${vmId}/${port}`;
        let started = active.get(key);
        if (!started) {
            started = startTunnel(rg, bastion, vmId, port);
            active.set(key, started);
        }
        await started;
        return TUNNEL_HOST;
    });
}
