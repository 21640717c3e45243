// A real OpenSSH server standing in for the Slurm scheduler, with its own config, host key and
// authorized_keys, and a client that talks to it the way the Pulumi remote Command does
// (command string as the remote command, script on stdin, strict host key checking).
import * as fs from "fs";
import * as path from "path";
import { Daemon, run, RunResult, runOk, sleep } from "./proc";

type Wrap = (argv: string[]) => string[];

export class TestSshd {
    private daemon?: Daemon;
    private createdRunSshd = false;
    readonly clientKey: string;
    readonly knownHosts: string;

    /**
     * @param dir        private directory for keys, config and logs
     * @param listenIp   address sshd listens on (port 22) inside its namespace
     * @param serverWrap wraps sshd's argv into its network namespace
     * @param clientWrap wraps ssh's argv into the client's network namespace
     */
    constructor(readonly dir: string, readonly listenIp: string, private readonly serverWrap: Wrap, private readonly clientWrap: Wrap) {
        this.clientKey = path.join(dir, "client_ed25519");
        this.knownHosts = path.join(dir, "known_hosts");
    }

    async start(): Promise<void> {
        fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        const hostKey = path.join(this.dir, "host_ed25519");
        runOk(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test-host", "-f", hostKey]);
        runOk(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test-client", "-f", this.clientKey]);
        const authorized = path.join(this.dir, "authorized_keys");
        fs.copyFileSync(`${this.clientKey}.pub`, authorized);
        fs.chmodSync(authorized, 0o600);
        fs.writeFileSync(this.knownHosts, `${this.listenIp} ${fs.readFileSync(`${hostKey}.pub`, "utf8").trim()}\n`);
        const config = path.join(this.dir, "sshd_config");
        fs.writeFileSync(config, [
            "Port 22",
            `ListenAddress ${this.listenIp}`,
            `HostKey ${hostKey}`,
            `PidFile ${path.join(this.dir, "sshd.pid")}`,
            `AuthorizedKeysFile ${authorized}`,
            "AuthenticationMethods publickey",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "AllowUsers root",
            "UsePAM no",
            // Key files live under /tmp, which StrictModes refuses (world-writable parent).
            "StrictModes no",
            "PermitUserEnvironment no",
            "AllowTcpForwarding no",
            "X11Forwarding no",
            "LogLevel INFO",
            "",
        ].join("\n"));
        if (!fs.existsSync("/run/sshd")) {
            fs.mkdirSync("/run/sshd", { mode: 0o755 });
            this.createdRunSshd = true;
        }
        runOk(["/usr/sbin/sshd", "-t", "-f", config]);
        this.daemon = new Daemon("sshd", this.serverWrap(["/usr/sbin/sshd", "-D", "-e", "-f", config]), path.join(this.dir, "sshd.log"));
        const deadline = Date.now() + 10000;
        for (;;) {
            const r = this.ssh("true");
            if (r.status === 0) return;
            if (this.daemon.exited || Date.now() > deadline) {
                throw new Error(`sshd did not come up: ${r.text}\n${this.daemon.log()}`);
            }
            await sleep(100);
        }
    }

    get pid(): number | undefined {
        return this.daemon?.pid;
    }

    /** ssh root@listenIp COMMAND with stdin, exactly as a remote command would run it. */
    ssh(command: string, stdin = ""): RunResult {
        return run(this.clientWrap([
            "ssh", "-F", "/dev/null", "-i", this.clientKey, "-p", "22",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", `UserKnownHostsFile=${this.knownHosts}`, "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
            `root@${this.listenIp}`, command,
        ]), { input: stdin, timeoutMs: 30000 });
    }

    async stop(): Promise<void> {
        if (this.daemon) await this.daemon.stop();
        // Remove /run/sshd only if this run created it and no other sshd (another test run's) still needs it.
        if (this.createdRunSshd && !otherSshdRunning()) {
            try { fs.rmdirSync("/run/sshd"); } catch { /* not empty, or gone */ }
        }
        this.createdRunSshd = false;
    }
}

function otherSshdRunning(): boolean {
    for (const pid of fs.readdirSync("/proc").filter(p => /^\d+$/.test(p))) {
        try {
            if (fs.readlinkSync(`/proc/${pid}/exe`) === "/usr/sbin/sshd") return true;
        } catch { /* gone, or not ours to read */ }
    }
    return false;
}
