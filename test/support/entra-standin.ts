// The login host as Azure would run it with the Entra sign-in extension (AADSSHLoginForLinux), for the identity
// tests (issue 9). Test code only. True to shared/reference/real-world-behaviour.md section 1:
//   - accounts come from an NSS module (nss_entrastub.c, compiled with gcc here and loaded only on the login host
//     through its private /etc/nsswitch.conf and /etc/ld.so.cache), never from /etc/passwd;
//   - an account appears at the first sign-in of a user who holds the login role: named by UPN (with '@'), UID above
//     2,000,000 picked by the stand-in, home /home/<upn> which the stand-in does NOT create;
//   - a user without the role is refused by sshd (the extension checks the role at every sign-in: here an
//     AuthorizedKeysCommand, as the extension installs one, prints a key only for role holders).
// sshd runs with UsePAM yes and the Debian /etc/pam.d/sshd, into which components/accounts/install-login.sh (run for
// real on the login host, from a directory like cloud-init's) adds the product's PAM line.
import * as fs from "fs";
import * as path from "path";
import { installLoginHook, writeOnHost } from "./accounts";
import { MiniCluster } from "./cluster";
import { Daemon, run, RunResult, runOk, sleep } from "./proc";

const LOGIN_IP = "10.77.0.13";
const ETC = "/etc/entra-standin";

export interface EntraUser {
    upn: string;
    key: string;
}

export class EntraLoginHost {
    private daemon?: Daemon;
    readonly dir: string;
    knownHosts = "";

    constructor(readonly c: MiniCluster, readonly settings: Record<string, string>) {
        this.dir = path.join(c.base, "entra");
    }

    /** Writes a file on the login host (its private /etc lives only in its mount namespace). */
    write(file: string, content: string, mode: number): void {
        writeOnHost(this.c, "login", file, content, mode);
    }

    onLogin(argv: string[], input?: string): RunResult {
        return run(this.c.net.hostArgv("login", ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ...argv]),
            { input, timeoutMs: 60000 });
    }

    async setUp(): Promise<void> {
        fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
        const so = path.join(this.dir, "libnss_entrastub.so.2");
        runOk(["gcc", "-Wall", "-Werror", "-O2", "-shared", "-fPIC", "-Wl,-soname,libnss_entrastub.so.2", "-o", so,
            path.join(__dirname, "entra-standin", "nss_entrastub.c")]);
        fs.chmodSync(so, 0o755);
        runOk(this.c.net.hostArgv("login", ["bash", "-c", [
            "set -e",
            `install -d -m 0755 ${ETC} ${ETC}/keys`,
            `touch ${ETC}/role-holders ${ETC}/accounts && chmod 0644 ${ETC}/role-holders ${ETC}/accounts`,
            `echo "$0" > /etc/ld.so.conf.d/entra-standin.conf`,
            "ldconfig -X",
            "sed -i -E 's/^(passwd:.*)$/\\1 entrastub/' /etc/nsswitch.conf",
            `ssh-keygen -q -t ed25519 -N '' -C login-host -f ${ETC}/host_ed25519`,
            // The Slurm client config lives where slurm-sync.sh installs it; /etc/slurm on a real login node.
            `rm -rf /etc/slurm && ln -s "$1" /etc/slurm`,
        ].join("\n"), this.dir, this.c.login.confDir]));
        // The extension checks the role at every sign-in: a key only for role holders.
        this.write(`${ETC}/authorized-keys`, [
            "#!/bin/bash",
            "# Stand-in for the extension's AuthorizedKeysCommand: the user's key only while they hold the login role.",
            `awk -v u="$1" '$1 == u { found = 1 } END { exit !found }' ${ETC}/role-holders || exit 0`,
            `f=${ETC}/keys/$1.pub`,
            '[[ -f $f ]] && cat "$f"',
            "exit 0",
            "",
        ].join("\n"), 0o755);
        this.write(`${ETC}/sshd_config`, [
            "Port 22",
            `ListenAddress ${LOGIN_IP}`,
            `HostKey ${ETC}/host_ed25519`,
            `PidFile ${ETC}/sshd.pid`,
            "AuthorizedKeysFile none",
            `AuthorizedKeysCommand ${ETC}/authorized-keys %u`,
            "AuthorizedKeysCommandUser root",
            "AuthenticationMethods publickey",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            "UsePAM yes",
            "PrintMotd no",
            "AllowTcpForwarding no",
            "X11Forwarding no",
            "LogLevel VERBOSE",
            "",
        ].join("\n"), 0o644);
        // What cloud-init writes on the login node, pointed at the test's /shared.
        this.write("/etc/default/cluster-accounts", Object.entries(this.settings).map(([k, v]) => `${k}=${v}\n`).join(""), 0o644);
        this.knownHosts = path.join(this.dir, "known_hosts");
        const hostKey = this.onLogin(["cat", `${ETC}/host_ed25519.pub`]).stdout.toString().trim();
        fs.writeFileSync(this.knownHosts, `${LOGIN_IP} ${hostKey}\n`);
        if (!fs.existsSync("/run/sshd")) fs.mkdirSync("/run/sshd", { mode: 0o755 });
        runOk(this.c.net.hostArgv("login", ["/usr/sbin/sshd", "-t", "-f", `${ETC}/sshd_config`]));
    }

    /** Runs components/accounts/install-login.sh, unmodified, as root on the login host (as cloud-init does). */
    installLogin(): RunResult {
        return installLoginHook(this.c, path.join(this.dir, "install-src"));
    }

    startSshd(): void {
        this.daemon = this.c.startDaemon("login", "sshd-entra", ["/usr/sbin/sshd", "-D", "-e", "-f", `${ETC}/sshd_config`]);
    }

    async waitSshd(user: EntraUser): Promise<void> {
        const deadline = Date.now() + 10000;
        for (;;) {
            const r = this.ssh(user, "true");
            if (r.status === 0) return;
            if (this.daemon?.exited || Date.now() > deadline) throw new Error(`login sshd did not come up: ${r.text}\n${this.daemon?.log()}`);
            await sleep(100);
        }
    }

    /** A new Entra user with a key pair (no role yet). */
    newUser(upn: string): EntraUser {
        const key = path.join(this.dir, `key-${upn}`);
        runOk(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", upn, "-f", key]);
        return { upn, key };
    }

    /** Assigns the login role (optionally staging the UID the extension will pick). */
    grantRole(u: EntraUser, uid?: number): void {
        this.write(`${ETC}/keys/${u.upn}.pub`, fs.readFileSync(`${u.key}.pub`, "utf8"), 0o644);
        const roles = this.onLogin(["cat", `${ETC}/role-holders`]).stdout.toString();
        this.write(`${ETC}/role-holders`, roles + `${u.upn}${uid ? ` ${uid}` : ""}\n`, 0o644);
    }

    removeRole(u: EntraUser): void {
        const roles = this.onLogin(["cat", `${ETC}/role-holders`]).stdout.toString();
        this.write(`${ETC}/role-holders`, roles.split("\n").filter(l => l && l.split(" ")[0] !== u.upn).map(l => `${l}\n`).join(""), 0o644);
    }

    /** ssh -l <upn> login '<command>' from the deployer (the Bastion's side of the network). */
    /** An empty command opens an interactive shell (give it input, e.g. "exit\n"). */
    ssh(u: EntraUser, command: string, opts: { tty?: boolean; input?: string } = {}): RunResult {
        return run(["nsenter", `--net=/run/netns/${this.c.net.bridgeNs}`, "--",
            "ssh", ...(opts.tty ? ["-tt"] : []), "-F", "/dev/null", "-i", u.key, "-p", "22", "-l", u.upn,
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", `UserKnownHostsFile=${this.knownHosts}`, "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", LOGIN_IP, ...(command ? [command] : [])],
            { timeoutMs: 90000, input: opts.input });
    }

    log(): string {
        return this.daemon?.log() ?? "";
    }
}
