// The Azure Bastion tunnel of tunnel mode (bastionTunnelPort), opened by the program itself on `pulumi up`
// (and `pulumi destroy --run-program`) once the Bastion and the CycleCloud VM exist: bastion-tunnel.sh runs
// `az network bastion tunnel` from 127.0.0.1:<port> to port 22 of the VM, in its own process group, for as
// long as the Pulumi engine runs (the engine deletes resources after the program has ended, and those
// deletes still need the tunnel); it stops within a second of the engine ending. `pulumi preview` never
// opens one. The remote Commands' connections take their host from `openBastionTunnel`'s output, which
// resolves only when the local port accepts connections: no Command dials before the tunnel is up.
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, RemoteAccess } from "../config";

export const TUNNEL_SCRIPT = path.join(__dirname, "bastion-tunnel.sh");
/** Where the tunnel listens (what `az network bastion tunnel` binds: localhost). */
export const TUNNEL_HOST = "127.0.0.1";
/** How long the program waits for the tunnel's port to accept connections (az start-up, sign-in token, Bastion session). */
export const TUNNEL_READY_TIMEOUT_SECONDS = 120;

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

function accepts(port: number): Promise<boolean> {
    return new Promise(resolve => {
        const s = net.connect({ host: TUNNEL_HOST, port });
        const done = (ok: boolean) => { s.destroy(); resolve(ok); };
        s.setTimeout(2000, () => done(false));
        s.once("connect", () => done(true));
        s.once("error", () => done(false));
    });
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

async function startTunnel(rg: string, bastion: string, vmId: string, port: number): Promise<void> {
    const engine = engineProcess();
    const owner = engine ?? process.pid;
    const child = spawn("bash", [TUNNEL_SCRIPT, rg, bastion, vmId, String(port), String(owner)], {
        detached: true, // its own process group: one kill stops az and everything it started
        stdio: ["ignore", "ignore", "pipe"],
    });
    let output = "";
    let exited: number | null | undefined;
    child.stderr!.on("data", (d: Buffer) => { output = (output + d.toString()).slice(-4000); });
    child.on("exit", code => { exited = code; });
    child.on("error", e => { output += `\n${e.message}`; exited = -1; });
    const stop = () => {
        try { process.kill(-child.pid!, "SIGTERM"); } catch { /* already gone */ }
    };
    // Without an engine (the program run on its own) the tunnel ends with the program; with one, the
    // script watches the engine. Either way nothing here keeps the program alive.
    if (engine === undefined) process.once("exit", stop);
    child.unref();
    (child.stderr as unknown as { unref(): void }).unref();

    const deadline = Date.now() + TUNNEL_READY_TIMEOUT_SECONDS * 1000;
    for (;;) {
        const error = /^(?:WARNING: )?ERROR: .*$/m.exec(output)?.[0];
        if (error || exited !== undefined) {
            stop();
            throw new Error(`bastionTunnelPort: \`az network bastion tunnel --name ${bastion} --resource-group ${rg} ` +
                `--target-resource-id ${vmId} --resource-port 22 --port ${port}\` failed: ${error ?? `exited (${exited})`}. ` +
                `Is az signed in (az account show) with the Bastion extension (az extension add --name bastion)? Its output:\n${output.trim()}`);
        }
        if (await accepts(port)) {
            pulumi.log.info(`Bastion tunnel open: ${TUNNEL_HOST}:${port} -> ${vmId}:22 (closed when ${engine ? "pulumi" : "the program"} ends)`);
            return;
        }
        if (Date.now() > deadline) {
            stop();
            throw new Error(`bastionTunnelPort: the Bastion tunnel did not accept connections on ${TUNNEL_HOST}:${port} within ` +
                `${TUNNEL_READY_TIMEOUT_SECONDS}s. Output of az network bastion tunnel:\n${output.trim()}`);
        }
        await sleep(300);
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
