// Runs the real program (index.ts) once under the simulated engine in its own Node process, as `pulumi up`
// (or `pulumi preview` with DRIVER_PREVIEW=1) would run it, with local processes allowed: the program may
// open the Bastion tunnel. While the program still runs, it connects through the recorded connection of the
// CycleCloud init Command (ssh with its host, port, user and key) and writes what it saw to DRIVER_OUT.
// Used by test/tunnel.test.ts; the process then ends on its own, like the program under the engine.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { simulate, SimResource } from "../scripts/simulate";
import { plain } from "./support/secrets";
import { tunnelTimings } from "../components/cyclecloud/tunnel";


async function main(): Promise<void> {
    if (process.env.DRIVER_TUNNEL_READY) tunnelTimings.readySeconds = Number(process.env.DRIVER_TUNNEL_READY);
    if (process.env.DRIVER_TUNNEL_BANNER) tunnelTimings.bannerSeconds = Number(process.env.DRIVER_TUNNEL_BANNER);
    const { config, secretKeys } = JSON.parse(fs.readFileSync(process.env.DRIVER_CONFIG!, "utf8"));
    const r = await simulate({ stack: "dev", config, secretKeys, preview: process.env.DRIVER_PREVIEW === "1", localProcesses: true });
    const commands = r.resources.filter((x: SimResource) => x.type === "command:remote:Command");
    const connections: Record<string, unknown> = {};
    for (const c of commands) {
        const conn = plain(c.inputs).connection ?? {};
        connections[c.name] = { host: conn.host, port: conn.port, user: conn.user, proxy: conn.proxy ? { host: conn.proxy.host, port: conn.proxy.port, user: conn.proxy.user } : undefined };
    }
    let ssh: { status: number | null; output: string } | undefined;
    const init = commands.find(c => c.name === "cyclecloud-init");
    if (init && process.env.DRIVER_SSH === "1") {
        const conn = plain(init.inputs).connection;
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tunnel-driver-"));
        const key = path.join(dir, "key");
        fs.writeFileSync(key, conn.privateKey.endsWith("\n") ? conn.privateKey : `${conn.privateKey}\n`, { mode: 0o600 });
        const s = spawnSync("ssh", ["-F", "/dev/null", "-i", key, "-p", String(conn.port), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
            `${conn.user}@${conn.host}`, "echo through-tunnel"], { encoding: "utf8", timeout: 30000 });
        fs.rmSync(dir, { recursive: true, force: true });
        ssh = { status: s.status, output: `${s.stdout}${s.stderr}` };
    }
    fs.writeFileSync(process.env.DRIVER_OUT!, JSON.stringify({
        error: r.error?.message,
        resourceCount: r.resources.length,
        commands: commands.map(c => c.name),
        connections,
        ssh,
        pid: process.pid,
    }, null, 1));
}

main().catch(e => {
    fs.writeFileSync(process.env.DRIVER_OUT!, JSON.stringify({ error: `driver: ${(e as Error).stack}` }));
    process.exitCode = 1;
});
