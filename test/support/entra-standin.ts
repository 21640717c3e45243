// The login host as Azure would run it with the Entra sign-in extension (AADSSHLoginForLinux), for the identity
// tests (issues 9 and 16). Test code only. True to shared/reference/real-world-behaviour.md section 1:
//   - accounts come from an NSS module (nss_entrastub.c, compiled with gcc here and loaded only on the login host
//     through its private /etc/nsswitch.conf and /etc/ld.so.cache) reading /etc/aadpasswd
//     (upn:objectId:uid:gid:gecos:home:shell), never from /etc/passwd;
//   - a record appears at the first sign-in of a user who holds the login role: named by the UPN as the directory
//     spells it (upper-case letters included), UID in the millions picked on this VM (each host its own base), gid =
//     uid, home /home/<local part> (/home/<local part>_1 for a second UPN with the same local part); admins are in
//     aad_admins and admin;
//   - a user without the role is refused by sshd (the extension checks the role at every sign-in: here an
//     AuthorizedKeysCommand, as the extension installs one, prints a key only for role holders).
// What nobody has verified is a switch (EntraSwitches; the C file says what each means), so tests cover both answers.
// sshd runs with UsePAM yes and the Debian /etc/pam.d/sshd, into which components/accounts/install-login.sh (run for
// real on the login host, from a directory like cloud-init's) adds the product's PAM line.
// rebuild() replaces the login VM: a fresh mount namespace (fresh /etc, /home, host key) on the same network address,
// against the same /shared, as a login node rebuilt from its image; set up as every test host is (netns.ts HOLDER_SETUP).
import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { installLoginHookOn, settingsText } from "./accounts";
import { MiniCluster } from "./cluster";
import { HOLDER_SETUP } from "./netns";
import { Daemon, isAlive, run, RunResult, runOk, SLURM_PREFIX, sleep, stopPid } from "./proc";

const LOGIN_IP = "10.77.0.13";
const ETC = "/etc/entra-standin";

export interface EntraUser {
    upn: string;
    key: string;
    /** The Entra object ID (stable across renames). */
    oid: string;
}

export interface EntraSwitches {
    /** NSS matches a UPN typed in another case and returns the directory's spelling. */
    caseInsensitive: boolean;
    /** A record present in /etc/aadpasswd before the VM's first sign-in of the user keeps its UID. */
    keepUid: boolean;
    /** The extension creates the home directory at the first sign-in. */
    createHome: boolean;
}


export class EntraLoginHost {
    private daemon?: Daemon;
    readonly dir: string;
    knownHosts = "";
    /** argv that runs on the current login VM (the original login host, or the one rebuild() made). */
    on: (argv: string[]) => string[];
    private holder?: number;
    generation = 0;

    constructor(readonly c: MiniCluster, readonly settings: Record<string, string>) {
        this.dir = path.join(c.base, "entra");
        this.on = argv => c.net.hostArgv("login", argv);
    }

    /** Writes a file on the login host (its private /etc lives only in its mount namespace). */
    write(file: string, content: string, mode: number): void {
        runOk(this.on(["bash", "-c", 'umask 077 && cat > "$1.tmp" && chmod "$2" "$1.tmp" && mv -f "$1.tmp" "$1"', "w", file,
            mode.toString(8)]), { input: content });
    }

    onLogin(argv: string[], input?: string): RunResult {
        return run(this.on(["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ...argv]),
            { input, timeoutMs: 60000 });
    }

    /** The extension's switches for what is unverified (defaults: the answers the product would find easiest). */
    setSwitches(s: Partial<EntraSwitches>): void {
        const cur = this.switches();
        const next = { ...cur, ...s };
        this.write(`${ETC}/switches`, `case_insensitive=${+next.caseInsensitive}\nkeep_uid=${+next.keepUid}\ncreate_home=${+next.createHome}\n`, 0o644);
    }

    switches(): EntraSwitches {
        const text = this.onLogin(["cat", `${ETC}/switches`]).stdout.toString();
        const v = (k: string, d: boolean) => { const m = new RegExp(`^${k}=(\\d)`, "m").exec(text); return m ? m[1] === "1" : d; };
        return { caseInsensitive: v("case_insensitive", true), keepUid: v("keep_uid", true), createHome: v("create_home", false) };
    }

    async setUp(): Promise<void> {
        fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 });
        const so = path.join(this.dir, "libnss_entrastub.so.2");
        if (!fs.existsSync(so)) {
            runOk(["gcc", "-Wall", "-Werror", "-O2", "-shared", "-fPIC", "-Wl,-soname,libnss_entrastub.so.2", "-o", so,
                path.join(__dirname, "entra-standin", "nss_entrastub.c")]);
            fs.chmodSync(so, 0o755);
        }
        // UIDs in the millions, picked per VM: each login VM starts from its own base.
        const base = 3000000 + crypto.randomInt(0, 4000) * 1000;
        runOk(this.on(["bash", "-c", [
            "set -e",
            `install -d -m 0755 ${ETC} ${ETC}/keys`,
            `touch ${ETC}/role-holders ${ETC}/seen /etc/aadpasswd && chmod 0644 ${ETC}/role-holders ${ETC}/seen /etc/aadpasswd`,
            `echo "$2" > ${ETC}/uid-base`,
            // The package's groups (admins are put in them at sign-in).
            "getent group aad_admins >/dev/null || groupadd -r aad_admins",
            "getent group admin >/dev/null || groupadd -r admin",
            `echo "$0" > /etc/ld.so.conf.d/entra-standin.conf`,
            "ldconfig -X",
            "grep -q entrastub /etc/nsswitch.conf || sed -i -E 's/^(passwd:.*)$/\\1 entrastub/; s/^(group:.*)$/\\1 entrastub/' /etc/nsswitch.conf",
            `rm -f ${ETC}/host_ed25519 ${ETC}/host_ed25519.pub && ssh-keygen -q -t ed25519 -N '' -C login-host -f ${ETC}/host_ed25519`,
            // The Slurm client config lives where slurm-sync.sh installs it; /etc/slurm on a real login node.
            `rm -rf /etc/slurm && ln -s "$1" /etc/slurm`,
        ].join("\n"), this.dir, this.c.login.confDir, String(base)]));
        if (this.onLogin(["test", "-f", `${ETC}/switches`]).status !== 0) this.setSwitches({});
        // The extension checks the role at every sign-in (case-insensitively, as Entra does): a key only for role holders.
        this.write(`${ETC}/authorized-keys`, [
            "#!/bin/bash",
            "# Stand-in for the extension's AuthorizedKeysCommand: the user's key only while they hold the login role.",
            `u=$(awk -v u="$1" 'tolower($1) == tolower(u) { print $1; exit }' ${ETC}/role-holders)`,
            '[[ -n $u ]] || exit 0',
            `f=${ETC}/keys/$u.pub`,
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
        this.write("/etc/default/cluster-accounts", settingsText(this.settings), 0o644);
        this.knownHosts = path.join(this.dir, `known_hosts.${this.generation}`);
        const hostKey = this.onLogin(["cat", `${ETC}/host_ed25519.pub`]).stdout.toString().trim();
        fs.writeFileSync(this.knownHosts, `${LOGIN_IP} ${hostKey}\n`);
        if (!fs.existsSync("/run/sshd")) fs.mkdirSync("/run/sshd", { mode: 0o755 });
        runOk(this.on(["/usr/sbin/sshd", "-t", "-f", `${ETC}/sshd_config`]));
    }

    /** Runs components/accounts/install-login.sh, unmodified, as root on the login host (as cloud-init does). */
    installLogin(): RunResult {
        return installLoginHookOn(this.on, path.join(this.dir, "install-src"));
    }

    startSshd(): void {
        if (this.generation === 0) {
            this.daemon = this.c.startDaemon("login", "sshd-entra", ["/usr/sbin/sshd", "-D", "-e", "-f", `${ETC}/sshd_config`]);
        } else {
            this.daemon = new Daemon("sshd-entra", this.on(["/usr/sbin/sshd", "-D", "-e", "-f", `${ETC}/sshd_config`]),
                path.join(this.dir, `sshd.${this.generation}.out`));
        }
    }

    async stopSshd(): Promise<void> {
        await this.daemon?.stop();
        this.daemon = undefined;
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

    /**
     * Replaces the login VM: sshd stopped, a fresh mount namespace on the same address (fresh /etc with an empty
     * /etc/aadpasswd, fresh /home, new host key, a new UID base), set up as cloud-init would; the role holders, their
     * keys and the switches stay (they live in Entra, not on the VM). install-login.sh is NOT run: the caller does.
     */
    async rebuild(): Promise<void> {
        const roles = this.onLogin(["cat", `${ETC}/role-holders`]).stdout.toString();
        const keys = this.onLogin(["bash", "-c", `cd ${ETC}/keys && for f in *.pub; do printf '%s\\t%s\\n' "$f" "$(cat "$f")"; done`]).stdout.toString();
        const sw = this.switches();
        await this.stopSshd();
        if (this.holder) await stopPid(this.holder);
        this.generation++;
        const h = this.c.net.host("login");
        const vm = path.join(this.dir, `vm${this.generation}`);
        for (const d of ["home", "layers"]) fs.mkdirSync(path.join(vm, d), { recursive: true, mode: 0o755 });
        const ready = path.join(vm, "ready");
        const child = spawn("nsenter", [`--net=/run/netns/${h.ns}`, "--", "unshare", "--uts", "--mount", "--propagation", "private", "--",
            "bash", "-c", HOLDER_SETUP, "login", path.join(this.c.base, "hosts", "hosts"), h.runDir, this.c.commonRun, vm,
            SLURM_PREFIX, this.c.net.poisonFile],
        { stdio: ["ignore", "ignore", "inherit"], detached: true });
        child.unref();
        const pid = child.pid!;
        this.holder = pid;
        const deadline = Date.now() + 10000;
        while (!fs.existsSync(ready)) {
            if (Date.now() > deadline || !isAlive(pid)) throw new Error("rebuilt login VM: namespace holder did not start");
            await sleep(20);
        }
        this.on = argv => ["nsenter", `--target=${pid}`, "--net", "--uts", "--mount", "--", ...argv];
        // The cluster's own test user exists on every node (CycleCloud's node account).
        await this.setUp();
        this.setSwitches(sw);
        this.write(`${ETC}/role-holders`, roles, 0o644);
        for (const line of keys.split("\n").filter(Boolean)) {
            const [f, k] = line.split("\t");
            this.write(`${ETC}/keys/${f}`, `${k}\n`, 0o644);
        }
    }

    /** Stops what rebuild() started (the caller's cluster tear-down handles the original host). */
    async tearDown(): Promise<void> {
        if (this.generation > 0) await this.stopSshd();
        if (this.holder) await stopPid(this.holder);
        this.holder = undefined;
    }

    /** A new Entra user with a key pair and an object ID (no role yet). */
    newUser(upn: string): EntraUser {
        const key = path.join(this.dir, `key-${upn.replace(/[^A-Za-z0-9@._-]/g, "_")}`);
        if (!fs.existsSync(key)) runOk(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "entra-user", "-f", key]);
        return { upn, key, oid: crypto.randomUUID() };
    }

    /** Assigns the login role (optionally the admin role, or staging the UID the extension will pick). */
    grantRole(u: EntraUser, opts: number | { uid?: number; admin?: boolean } = {}): void {
        const o = typeof opts === "number" ? { uid: opts } : opts;
        this.write(`${ETC}/keys/${u.upn}.pub`, fs.readFileSync(`${u.key}.pub`, "utf8"), 0o644);
        const roles = this.onLogin(["cat", `${ETC}/role-holders`]).stdout.toString();
        const line = [u.upn, u.oid, ...(o.admin ? ["admin"] : []), ...(o.uid ? [`uid=${o.uid}`] : [])].join(" ");
        this.write(`${ETC}/role-holders`, roles.split("\n").filter(l => l && l.split(" ")[0].toLowerCase() !== u.upn.toLowerCase())
            .map(l => `${l}\n`).join("") + `${line}\n`, 0o644);
    }

    removeRole(u: EntraUser): void {
        const roles = this.onLogin(["cat", `${ETC}/role-holders`]).stdout.toString();
        this.write(`${ETC}/role-holders`, roles.split("\n").filter(l => l && l.split(" ")[0] !== u.upn).map(l => `${l}\n`).join(""), 0o644);
    }

    /** The directory renames a user: same object, key and role, new UPN (the extension's old record stays). */
    renameUser(u: EntraUser, upn: string): EntraUser {
        const roles = this.onLogin(["cat", `${ETC}/role-holders`]).stdout.toString();
        const next = { ...u, upn };
        this.write(`${ETC}/keys/${upn}.pub`, fs.readFileSync(`${u.key}.pub`, "utf8"), 0o644);
        this.write(`${ETC}/role-holders`, roles.split("\n").filter(Boolean)
            .map(l => (l.split(" ")[0] === u.upn ? [upn, ...l.split(" ").slice(1)].join(" ") : l)).map(l => `${l}\n`).join(""), 0o644);
        return next;
    }

    /** The extension's record line of a UPN (exact), or "". */
    record(upn: string): string {
        return this.onLogin(["cat", "/etc/aadpasswd"]).stdout.toString().split("\n").find(l => l.split(":")[0] === upn) ?? "";
    }

    /** ssh -l <name> login '<command>' from the deployer (the Bastion's side of the network). */
    /** An empty command opens an interactive shell (give it input, e.g. "exit\n"). `as` signs in under another spelling. */
    /** OpenSSH's client (9.2, measured) refuses a user name with ' on its command line ("remote username contains invalid
     *  characters"), whether -l, -o User= or user@host; a `User "..."` line in a config file is taken: used for such names. */
    ssh(u: EntraUser, command: string, opts: { tty?: boolean; input?: string; as?: string } = {}): RunResult {
        const name = opts.as ?? u.upn;
        let config = "/dev/null";
        let userArgs = ["-l", name];
        if (/['"`$\\]/.test(name)) {
            config = path.join(this.dir, `ssh_config.${crypto.createHash("sha256").update(name).digest("hex").slice(0, 12)}`);
            fs.writeFileSync(config, `Host ${LOGIN_IP}\n  User "${name}"\n`);
            userArgs = [];
        }
        return run(["nsenter", `--net=/run/netns/${this.c.net.bridgeNs}`, "--",
            "ssh", ...(opts.tty ? ["-tt"] : []), "-F", config, "-i", u.key, "-p", "22", ...userArgs,
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", `UserKnownHostsFile=${this.knownHosts}`, "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", LOGIN_IP, ...(command ? [command] : [])],
            { timeoutMs: 90000, input: opts.input });
    }

    log(): string {
        return this.daemon?.log() ?? "";
    }
}
