// The Bastion tunnel the program opens itself (components/cyclecloud/tunnel.ts, bastion-tunnel.sh; issue 13),
// driven through the real program under the simulated engine (test/tunnel-driver.ts, one Node process per
// run, as the engine runs the program) with a stand-in `az` on PATH (test/tunnel-fakes/az) that behaves like
// `az network bastion tunnel` and forwards its port to a real test sshd. Shows: nothing starts on preview; on
// up the tunnel opens and the Commands connect through it to the sshd; it is gone after the program (or the
// engine stand-in, test/tunnel-fakes/engine.sh) ends, every process of it checked in /proc; after the program
// has exited, az ends and the tunnel is reopened for the engine's deletes (nothing is piped to the program);
// readiness means an SSH banner came back; the relay (tunnel-relay.js) bounds every wait for a banner and
// logs what it waited for; a busy port or a failing az stops the program with a clear error.
import * as assert from "assert";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { spawn } from "child_process";
import { devStackWithSecrets, NS } from "./cyclecloud/devStack";
import { tunnelLogPath } from "../components/cyclecloud/tunnel";
import { requirePrereqs } from "./support/prereqs";
import { Daemon, isAlive, run, runOk, sleep } from "./support/proc";
import { createTestUser, removeTestUser, TestUser } from "./support/users";

const FAKES = path.join(__dirname, "tunnel-fakes");
const DRIVER = path.join(__dirname, "tunnel-driver.ts");
const RELAY = path.join(__dirname, "..", "components", "cyclecloud", "tunnel-relay.js");

interface DriverResult {
    error?: string;
    resourceCount: number;
    commands: string[];
    connections: Record<string, { host: string; port: number; user: string; proxy?: { host: string; port: number; user: string } }>;
    ssh?: { status: number | null; output: string };
    pid: number;
}

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const port = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(port));
        });
    });
}

function accepts(port: number): Promise<boolean> {
    return new Promise(resolve => {
        const c = net.connect({ host: "127.0.0.1", port });
        c.once("connect", () => { c.destroy(); resolve(true); });
        c.once("error", () => resolve(false));
    });
}

describe("Bastion tunnel opened by the program (stand-in az, real sshd)", function () {
    this.timeout(240000);
    let tmp = "";
    let user: TestUser | undefined;
    let sshd: Daemon | undefined;
    let sshPort = 0;
    let tunnelPort = 0;
    let configFile = "";
    let azLog = "";
    let pulumiHome = "";
    let keyFile = "";

    /** Runs the program once; `engine` wraps it in the stand-in engine process named `pulumi`. */
    const runProgram = (opts: { preview?: boolean; engine?: boolean; env?: Record<string, string> } = {}): DriverResult & { status: number | null; text: string } => {
        const out = path.join(tmp, `driver-${Date.now()}.json`);
        const argv = [process.execPath, "-r", "ts-node/register/transpile-only", DRIVER];
        const r = run(opts.engine ? [path.join(tmp, "pulumi"), path.join(FAKES, "engine.sh"), ...argv] : argv, {
            cwd: path.resolve(__dirname, ".."),
            timeoutMs: 180000,
            env: {
                ...process.env,
                PATH: `${FAKES}:${process.env.PATH}`,
                DRIVER_CONFIG: configFile,
                DRIVER_OUT: out,
                DRIVER_PREVIEW: opts.preview ? "1" : "0",
                DRIVER_SSH: "1",
                FAKE_AZ_LOG: azLog,
                FAKE_AZ_TUNNEL_TARGET: `127.0.0.1:${sshPort}`,
                FAKE_ENGINE_PORT: String(tunnelPort),
                PULUMI_HOME: pulumiHome,
                TUNNEL_RETRY_INTERVAL: "1",
                ...opts.env,
            },
        });
        const result = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, "utf8")) as DriverResult : { error: "no driver output" } as DriverResult;
        return { ...result, status: r.status, text: r.text };
    };
    const logLines = () => (fs.existsSync(azLog) ? fs.readFileSync(azLog, "utf8").trim().split("\n").filter(Boolean) : []);
    /** tunnelLogPath as the program computes it with PULUMI_HOME=pulumiHome. */
    const tunnelLog = () => {
        const saved = process.env.PULUMI_HOME;
        process.env.PULUMI_HOME = pulumiHome;
        try { return tunnelLogPath("dev", tunnelPort); } finally { if (saved === undefined) delete process.env.PULUMI_HOME; else process.env.PULUMI_HOME = saved; }
    };
    const tunnelLogText = () => (fs.existsSync(tunnelLog()) ? fs.readFileSync(tunnelLog(), "utf8") : "");
    /** Every PID recorded: az and its listener child (stand-in's log), bastion-tunnel.sh and the relay (the tunnel's log). */
    const tunnelPids = () => [...logLines(), ...tunnelLogText().split("\n")]
        .flatMap(l => [...l.matchAll(/(?:^|\s)pid=(\d+)/g)].map(m => Number(m[1])));

    before(async function () {
        requirePrereqs(this, "Bastion tunnel", { root: true, commands: ["/usr/sbin/sshd", "ssh", "ssh-keygen", "useradd", "usermod", "groupadd", "unshare", "bash"] });
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ctun-"));
        fs.chmodSync(tmp, 0o755);
        azLog = path.join(tmp, "az.log");
        pulumiHome = path.join(tmp, "pulumi-home");
        // bash under the name `pulumi`: the engine stand-in's process name is then the real engine's.
        fs.symlinkSync(fs.realpathSync("/bin/bash"), path.join(tmp, "pulumi"));
        // The admin exists only where the stand-in sshd runs (its own /etc, see below), never on the machine.
        user = createTestUser(`cctun${process.pid}`, 24456);
        sshPort = await freePort();
        tunnelPort = await freePort();
        const stack = devStackWithSecrets({
            [`${NS}bastionTunnelPort`]: String(tunnelPort),
            [`${NS}cyclecloudAdminUsername`]: user.name,
        });
        configFile = path.join(tmp, "stack.json");
        fs.writeFileSync(configFile, JSON.stringify({ config: stack.config, secretKeys: stack.secretKeys }), { mode: 0o600 });
        keyFile = path.join(tmp, "deployer-key");
        fs.writeFileSync(keyFile, stack.privateKey.endsWith("\n") ? stack.privateKey : `${stack.privateKey}\n`, { mode: 0o600 });
        // The sshd standing in for the CycleCloud VM's: only the configured admin, only the deployer's key.
        const hostKey = path.join(tmp, "host_ed25519");
        runOk(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
        const authorized = path.join(tmp, "authorized_keys");
        fs.writeFileSync(authorized, `${stack.config[`${NS}cyclecloudAdminSshPublicKey`]}\n`, { mode: 0o644 }); // sshd reads it as the user
        const conf = path.join(tmp, "sshd_config");
        fs.writeFileSync(conf, [`Port ${sshPort}`, "ListenAddress 127.0.0.1", `HostKey ${hostKey}`, `PidFile ${path.join(tmp, "sshd.pid")}`,
            `AuthorizedKeysFile ${authorized}`, "AuthenticationMethods publickey", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            `AllowUsers ${user.name}`, "UsePAM no", "StrictModes no", "LogLevel INFO", ""].join("\n"));
        if (!fs.existsSync("/run/sshd")) fs.mkdirSync("/run/sshd", { mode: 0o755 });
        // The stand-in VM's sshd in a private mount namespace with its own /etc (an overlay on the machine's whose
        // changes vanish with it), where its admin account exists, as on the VM. useradd leaves the password locked
        // ("!"), which sshd without PAM refuses even for key sign-in: hence usermod -p '*'.
        const layers = path.join(tmp, "sshd-etc");
        fs.mkdirSync(layers, { mode: 0o700 });
        sshd = new Daemon("sshd", ["unshare", "--mount", "--propagation", "private", "--", "bash", "-c", [
            'set -e; layers=$0 name=$1 uid=$2; shift 2',
            'mount -t tmpfs -o mode=0700 layers "$layers" && mkdir -p "$layers/upper" "$layers/work"',
            'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$layers/upper,workdir=$layers/work" /etc',
            'groupadd -g "$uid" "$name" && useradd -u "$uid" -g "$uid" -M -d / -s /bin/bash "$name" && usermod -p "*" "$name"',
            'exec "$@"',
        ].join("\n"), layers, user.name, String(user.uid), "/usr/sbin/sshd", "-D", "-e", "-f", conf], path.join(tmp, "sshd.log"));
        for (let i = 0; i < 100 && !(await accepts(sshPort)); i++) await sleep(100);
    });

    beforeEach(async function () {
        if (azLog) fs.rmSync(azLog, { force: true });
        // Nothing of an earlier case may still hold the port (each case checks its own processes are gone).
        for (let i = 0; i < 50 && tunnelPort && (await accepts(tunnelPort)); i++) await sleep(100);
    });

    after(async function () {
        for (const pid of tunnelPids()) if (isAlive(pid)) try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
        await sshd?.stop();
        removeTestUser(user);
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("`pulumi preview` (dry run) never starts az, and the Commands still show the tunnel's local end", function () {
        const r = runProgram({ preview: true });
        assert.strictEqual(r.error, undefined, r.text);
        assert.deepStrictEqual(logLines(), [], "az was called on preview");
        assert.strictEqual(r.connections["cyclecloud-init"].host, "127.0.0.1");
        assert.strictEqual(r.connections["cyclecloud-init"].port, tunnelPort);
    });

    it("on `pulumi up` it opens the tunnel once, the Commands connect through it to the sshd, and nothing is left after the program ends", async function () {
        const r = runProgram();
        assert.strictEqual(r.error, undefined, r.text);
        assert.strictEqual(r.status, 0, r.text);
        const calls = logLines().filter(l => l.startsWith("tunnel "));
        assert.strictEqual(calls.length, 1, logLines().join("\n"));
        assert.match(calls[0], new RegExp(`name=bas-ccslurm-dev rg=rg-cyclecloud-slurm-entra-dev target=/subscriptions/[^ ]+/providers/Microsoft.Compute/virtualMachines/vm-ccslurm-dev-cc resource-port=22 port=(\\d+)$`));
        // az listens on a port of its own behind the relay, which serves the Commands' port.
        const azPort = Number(/port=(\d+)$/.exec(calls[0])![1]);
        assert.notStrictEqual(azPort, tunnelPort);
        assert.match(tunnelLogText(), new RegExp(`pid=\\d+ owner=\\d+ port=${tunnelPort} az-port=${azPort}`));
        // Every remote Command goes through the tunnel's local end: directly, or with it as jump host.
        for (const name of ["cyclecloud-init", "slurm-users", "slurm-cluster"]) {
            assert.deepStrictEqual([r.connections[name].host, r.connections[name].port], ["127.0.0.1", tunnelPort], name);
        }
        for (const name of ["slurm-scale", "slurm-seed", "readiness-check"]) {
            assert.deepStrictEqual([r.connections[name].proxy?.host, r.connections[name].proxy?.port, r.connections[name].proxy?.user],
                ["127.0.0.1", tunnelPort, user!.name], name);
        }
        assert.ok(r.ssh, "no ssh attempt");
        assert.strictEqual(r.ssh!.status, 0, `${r.ssh!.output}\n${sshd!.log()}`);
        assert.match(r.ssh!.output, /^through-tunnel$/m);
        assert.match(sshd!.log(), new RegExp(`Accepted publickey for ${user!.name} from 127\\.0\\.0\\.1`));
        // The program has ended: every process of the tunnel is gone and the port is free.
        await sleep(1500);
        const pids = tunnelPids();
        assert.ok(pids.length >= 3, `az, its parent and its listener recorded: ${logLines().join("\n")}`);
        assert.deepStrictEqual(pids.filter(isAlive), [], "tunnel processes left after the program ended");
        assert.strictEqual(await accepts(tunnelPort), false, "the tunnel's port still accepts");
    });

    it("under the engine (a process named `pulumi`) the tunnel outlives the program for the engine's deletes, then goes with the engine", async function () {
        const r = runProgram({ engine: true });
        assert.strictEqual(r.error, undefined, r.text);
        assert.strictEqual(r.ssh?.status, 0, r.ssh?.output);
        assert.ok(logLines().includes("engine-after-program: tunnel accepts"), logLines().join("\n"));
        await sleep(2000);
        assert.deepStrictEqual(tunnelPids().filter(isAlive), [], "tunnel processes left after the engine ended");
        assert.strictEqual(await accepts(tunnelPort), false);
    });

    it("after the program has exited, az ends and the tunnel reopens: the engine's delete still goes through, nothing was piped to the program", async function () {
        // Stands for the engine's deletes, run after the program has exited: az ends (as the real one does when a
        // session fails: its listener is killed, so az exits), then an SSH session runs a command through the tunnel.
        const deletes = path.join(tmp, "deletes.sh");
        fs.writeFileSync(deletes, [
            "set -u",
            `log=${JSON.stringify(azLog)}`,
            'pid=$(grep -o "listener pid=[0-9]*" "$log" | tail -1 | cut -d= -f2)',
            'program=$(grep -o \'"pid": [0-9]*\' "$DRIVER_OUT" | grep -o "[0-9]*$")',
            'echo "engine-delete: program gone=$( [[ -n $program && ! -d /proc/$program ]] && echo yes || echo no ) killing az listener $pid" >>"$log"',
            'kill "$pid"',
            'for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done',
            `out=$(ssh -F /dev/null -i ${JSON.stringify(keyFile)} -p ${tunnelPort} -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no ` +
                `-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=30 ${user!.name}@127.0.0.1 "echo deleted-through-tunnel" 2>&1)`,
            'echo "engine-delete: rc=$? $out" >>"$log"',
            "",
        ].join("\n"));
        const r = runProgram({ engine: true, env: { FAKE_ENGINE_DELETES: deletes } });
        assert.strictEqual(r.error, undefined, r.text);
        const lines = logLines();
        const gone = lines.find(l => l.startsWith("engine-delete: program gone="));
        assert.match(gone ?? "", /program gone=yes/, lines.join("\n"));
        assert.strictEqual(lines.filter(l => l.startsWith("tunnel ")).length, 2, `az was not reopened:\n${lines.join("\n")}\n${tunnelLogText()}`);
        assert.ok(lines.includes("engine-delete: rc=0 deleted-through-tunnel"), `${lines.join("\n")}\n${tunnelLogText()}`);
        assert.match(tunnelLogText(), /az network bastion tunnel ended \(exit \d+\); reopening in 1s/);
        await sleep(2000);
        assert.deepStrictEqual(tunnelPids().filter(isAlive), [], "tunnel processes left after the engine ended");
    });

    it("while the program runs, az ending after a session is reopened and the next Command's session still gets through", function () {
        const r = runProgram({ env: { FAKE_AZ_END_AFTER_SESSIONS: "1" } });
        assert.strictEqual(r.error, undefined, r.text);
        // Session 1 was the readiness probe; az then ended, and the Command's session went through the new az.
        assert.strictEqual(r.ssh?.status, 0, `${r.ssh?.output}\n${tunnelLogText()}`);
        assert.match(r.ssh!.output, /^through-tunnel$/m);
        assert.ok(logLines().filter(l => l.startsWith("tunnel ")).length >= 2, `az was not reopened:\n${logLines().join("\n")}`);
        assert.match(tunnelLogText(), /ERROR: \(stand-in\) the Bastion session's clean-up failed[\s\S]*az network bastion tunnel ended \(exit 1\); reopening in 1s/);
    });

    it("keeps its output in a log file of its own (0600, under the Pulumi home), never on the program's pipes", function () {
        const r = runProgram();
        assert.strictEqual(r.error, undefined, r.text);
        const st = fs.lstatSync(tunnelLog());
        assert.ok(st.isFile());
        assert.strictEqual(st.mode & 0o777, 0o600);
        assert.strictEqual(tunnelLog(), path.join(pulumiHome, "cyclecloud-slurm-entra", "dev", `bastion-tunnel-${tunnelPort}.log`));
        assert.match(tunnelLogText(), /WARNING: Tunnel is ready, connect on port \d+/, "az's own lines are in the log");
        assert.match(tunnelLogText(), /tunnel-relay: .* listening on 127\.0\.0\.1:\d+/);
        assert.doesNotMatch(r.text, /Tunnel is ready|tunnel-relay:/, "tunnel output reached the program");
    });

    it("ready means an SSH banner came back: a far end that accepts but never answers fails the program, naming the banner, the bound and the log", async function () {
        const silent = net.createServer(() => { /* accepts, says nothing */ });
        const silentPort = await new Promise<number>(resolve => silent.listen(0, "127.0.0.1", () => resolve((silent.address() as net.AddressInfo).port)));
        try {
            const r = runProgram({ env: { FAKE_AZ_TUNNEL_TARGET: `127.0.0.1:${silentPort}`, DRIVER_TUNNEL_READY: "8", DRIVER_TUNNEL_BANNER: "2" } });
            assert.ok(r.status !== 0 || r.error, r.text);
            assert.match(r.text, /bastionTunnelPort: waited 8s for an SSH banner from the CycleCloud VM's port 22 through the Bastion tunnel/);
            assert.match(r.text, /last attempt: (closed before an SSH banner|no SSH banner within \d+s)/);
            assert.ok(r.text.includes(`The tunnel's log, ${tunnelLog()}`), r.text);
            assert.match(tunnelLogText(), /connection \d+: no SSH banner through the tunnel .* within 2s; closed/);
            assert.ok(!r.commands?.includes("cyclecloud-init"), "a Command was registered without a working tunnel");
            await sleep(1500);
            assert.deepStrictEqual(tunnelPids().filter(isAlive), []);
        } finally {
            silent.close();
        }
    });

    it("the relay bounds a wait behind an open session: the queued connection is closed and logged, the open one is untouched", async function () {
        const relayPort = await freePort(), azPort = await freePort();
        const procs = [
            spawn(process.execPath, [path.join(FAKES, "forward.js"), String(azPort), `127.0.0.1:${sshPort}`], { stdio: ["ignore", "ignore", "pipe"] }),
            spawn(process.execPath, [RELAY, String(relayPort), String(azPort), "2"], { stdio: ["ignore", "ignore", "pipe"] }),
        ];
        let relayLog = "";
        procs[1].stderr!.on("data", d => { relayLog += d.toString(); });
        const banner = (port: number) => new Promise<{ socket: net.Socket; line: string }>(resolve => {
            const socket = net.connect({ host: "127.0.0.1", port });
            let got = "";
            socket.on("data", d => { got += d.toString(); if (got.includes("\n")) resolve({ socket, line: got.split("\n")[0] }); });
            socket.once("close", () => resolve({ socket, line: got ? got : "(closed)" }));
        });
        try {
            for (let i = 0; i < 100 && !(await accepts(relayPort)); i++) await sleep(100);
            const first = await banner(relayPort);
            assert.match(first.line, /^SSH-2\.0-/);
            const second = await banner(relayPort);
            assert.strictEqual(second.line, "(closed)");
            assert.match(relayLog, /connection \d+: waited 2s behind another session without reaching the tunnel; closed/);
            assert.ok(!first.socket.destroyed, "the open session was closed");
            first.socket.destroy();
            const third = await banner(relayPort);
            assert.match(third.line, /^SSH-2\.0-/, relayLog);
            third.socket.destroy();
        } finally {
            for (const p of procs) p.kill("SIGTERM");
        }
    });

    it("a busy port stops `pulumi up` before any resource is registered, naming the key and the port", async function () {
        const blocker = net.createServer();
        await new Promise<void>(resolve => blocker.listen(tunnelPort, "127.0.0.1", () => resolve()));
        try {
            const r = runProgram();
            assert.match(r.error ?? "", new RegExp(`bastionTunnelPort: 127\\.0\\.0\\.1:${tunnelPort} is already in use on this machine`), r.text);
            assert.strictEqual(r.resourceCount, 0);
            assert.deepStrictEqual(logLines(), [], "az was started although the port was busy");
            const preview = runProgram({ preview: true });
            assert.strictEqual(preview.error, undefined, "preview only warns");
        } finally {
            await new Promise<void>(resolve => blocker.close(() => resolve()));
        }
    });

    it("az not signed in: the program fails with az's own error, no Command is registered, nothing is left", async function () {
        const r = runProgram({ env: { FAKE_AZ_SIGNED_IN: "0" } });
        assert.notStrictEqual(r.status, 0, r.text);
        assert.match(r.text, /Please run 'az login' to setup account/);
        assert.ok(!r.commands?.includes("cyclecloud-init"), "the init Command was registered without a tunnel");
        await sleep(1500);
        assert.deepStrictEqual(tunnelPids().filter(isAlive), []);
    });
});
