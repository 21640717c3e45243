// Test hosts in network namespaces: one namespace per host, all on a bridge that lives in its own
// namespace (the machine's own network is never touched). Each host has one long-lived mount + UTS
// namespace (held by a `sleep` process; every command and daemon of the host enters it), with its own
// hostname, /etc/hosts, munge socket directory and, like a real machine, its OWN /etc (passwd, group,
// shadow, pam.d, default, ...) and /usr/local (overlays on the machine's, changes kept in a tmpfs that
// vanishes with the host) and its own /home (a per-host directory). Only what real hosts share (/shared,
// /sched: plain directories under the test's base) is common.
// Every host runs Slurm 25.11.5 (SLURM_PREFIX, the cluster's release): its commands are linked into the host's private
// /usr/local/bin and /usr/local/sbin (first on every PATH the hosts use), and any other Slurm command the machine has
// (Debian's slurm-wlm in /usr/bin, /usr/sbin) is covered, inside the host only, by a script that fails loudly. setUp
// checks both on every host and throws if any Slurm command resolves outside SLURM_PREFIX.
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { isAlive, run, runOk, SLURM_PREFIX, slurmCommands, stopPid } from "./proc";

// Last-resort cleanup if the test process exits without running its after hooks (e.g. Ctrl-C):
// kill what is left in our namespaces (by PID) and delete them.
const liveNamespaces = new Set<string>();
let exitHookInstalled = false;
function registerNs(ns: string): void {
    liveNamespaces.add(ns);
    if (exitHookInstalled) return;
    exitHookInstalled = true;
    process.once("exit", () => {
        for (const n of liveNamespaces) {
            const r = run(["ip", "netns", "pids", n]);
            for (const pid of r.stdout.toString().split(/\s+/).filter(Boolean).map(Number)) {
                try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
            }
            run(["ip", "netns", "del", n]);
        }
    });
}

export interface TestHost {
    name: string;
    ip: string;
    ns: string;
    /** Directory of this host's own files. */
    dir: string;
    /** Bind-mounted over the common munge run directory inside this host's commands. */
    runDir: string;
    /** The host's /home, as seen from outside the host. */
    homeDir: string;
    /** PID of the process holding the host's mount/UTS namespace. */
    holderPid?: number;
}

// Run inside the host's fresh mount namespace: private /etc and /usr/local overlays (upper layers in a tmpfs that
// lives as long as the namespace), private /home, the host's /etc/hosts and munge socket directory. Then holds.
export const HOLDER_SETUP = [
    'set -e; name=$0 hosts=$1 run=$2 common=$3 dir=$4 slurm=$5 poison=$6',
    'hostname "$name"',
    'mount -t tmpfs -o mode=0700 layers "$dir/layers"',
    'for l in etc local; do mkdir -p "$dir/layers/$l/upper" "$dir/layers/$l/work"; done',
    'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$dir/layers/etc/upper,workdir=$dir/layers/etc/work" /etc',
    'mount -t overlay overlay -o "lowerdir=/usr/local,upperdir=$dir/layers/local/upper,workdir=$dir/layers/local/work" /usr/local',
    'mount --bind "$dir/home" /home',
    'mount --bind "$hosts" /etc/hosts',
    'mount --bind "$run" "$common"',
    // Slurm 25.11.5 first on PATH; another Slurm's binaries (if the machine has them) fail loudly on this host.
    'for d in bin sbin; do for f in "$slurm/$d"/*; do n=${f##*/}; ln -sfn "$f" "/usr/local/$d/$n"',
    '  for o in /usr/bin /usr/sbin /bin /sbin; do if [ -f "$o/$n" ] && [ ! -L "$o" ]; then mount --bind "$poison" "$o/$n"; fi; done',
    'done; done',
    'touch "$dir/ready"',
    'exec sleep infinity',
].join("\n");

export class TestNetwork {
    readonly bridgeNs: string;
    readonly hosts = new Map<string, TestHost>();
    private readonly created: string[] = [];
    private readonly hostsFile: string;

    /**
     * @param prefix  unique prefix for namespace names (e.g. "cst12345")
     * @param baseDir a private directory for per-host files
     * @param commonRunDir the path every host's commands see as their munge socket directory
     * @param bridgeIp the bridge's address (the "deployer" the test's SSH client uses), e.g. 10.77.0.1
     */
    constructor(readonly prefix: string, readonly baseDir: string, readonly commonRunDir: string, readonly bridgeIp: string) {
        this.bridgeNs = `${prefix}-br`;
        this.hostsFile = path.join(baseDir, "hosts");
        fs.mkdirSync(commonRunDir, { recursive: true });
    }

    private addNs(ns: string): void {
        runOk(["ip", "netns", "add", ns]);
        this.created.push(ns);
        registerNs(ns);
        runOk(["ip", "-n", ns, "link", "set", "lo", "up"]);
    }

    /** Creates the bridge and one namespace per host; hosts = [[name, ip], ...] in the bridge's /24. */
    setUp(hosts: Array<[string, string]>): void {
        this.addNs(this.bridgeNs);
        runOk(["ip", "-n", this.bridgeNs, "link", "add", "br0", "type", "bridge"]);
        runOk(["ip", "-n", this.bridgeNs, "addr", "add", `${this.bridgeIp}/24`, "dev", "br0"]);
        runOk(["ip", "-n", this.bridgeNs, "link", "set", "br0", "up"]);
        const lines = ["127.0.0.1 localhost", `${this.bridgeIp} deployer`];
        for (const [name, ip] of hosts) {
            if (!/^[a-z][a-z0-9-]{0,11}$/.test(name)) throw new Error(`bad test host name ${name}`);
            const ns = `${this.prefix}-${name}`;
            const dir = path.join(this.baseDir, name);
            const runDir = path.join(dir, "run");
            const homeDir = path.join(dir, "home");
            fs.mkdirSync(runDir, { recursive: true, mode: 0o755 });
            fs.mkdirSync(homeDir, { recursive: true, mode: 0o755 });
            fs.mkdirSync(path.join(dir, "layers"), { recursive: true, mode: 0o700 });
            this.addNs(ns);
            // The veth pair is created inside the bridge namespace with its peer directly in the host's.
            runOk(["ip", "-n", this.bridgeNs, "link", "add", `v-${name}`, "type", "veth", "peer", "name", "eth0", "netns", ns]);
            runOk(["ip", "-n", this.bridgeNs, "link", "set", `v-${name}`, "master", "br0", "up"]);
            runOk(["ip", "-n", ns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
            runOk(["ip", "-n", ns, "link", "set", "eth0", "up"]);
            this.hosts.set(name, { name, ip, ns, dir, runDir, homeDir });
            lines.push(`${ip} ${name}`);
        }
        fs.writeFileSync(this.hostsFile, lines.join("\n") + "\n", { mode: 0o644 });
        fs.writeFileSync(this.poisonFile, [
            "#!/bin/sh",
            `# Test host: covers a Slurm binary that is not Slurm 25.11.5 (${SLURM_PREFIX}); written by test/support/netns.ts.`,
            `echo "test host $(hostname): $0 is not Slurm 25.11.5 from ${SLURM_PREFIX}; the test bed must not run it" >&2`,
            "exit 127",
            "",
        ].join("\n"), { mode: 0o755 });
        for (const h of this.hosts.values()) this.startHolder(h);
        for (const h of this.hosts.values()) this.checkSlurm(h);
    }

    /** The script that covers another Slurm's binaries on every host (HOLDER_SETUP's last argument). */
    get poisonFile(): string {
        return path.join(this.baseDir, "not-slurm-25.sh");
    }

    /**
     * Throws unless every Slurm command resolves to SLURM_PREFIX on host h, with root's PATH and with the PATH sshd
     * gives users, and every other copy the machine has fails on the host.
     */
    private checkSlurm(h: TestHost): void {
        const cmds = slurmCommands();
        if (!cmds.has("slurmctld") || !cmds.has("sbatch")) {
            throw new Error(`Slurm 25.11.5 is not installed under ${SLURM_PREFIX}: run scripts/setup-testbed.sh`);
        }
        // "bin:NAME" / "sbin:NAME": root's PATH must find every command in SLURM_PREFIX; sshd's user PATH every bin one.
        const names = [...cmds.entries()].map(([n, p]) => `${path.basename(path.dirname(p))}:${n}`);
        const check = [
            'prefix=$1; shift; bad=""',
            'root=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; user=/usr/local/bin:/usr/bin:/bin:/usr/games',
            'for e in "$@"; do',
            '  kind=${e%%:*} n=${e#*:}',
            '  for p in "$root" "$user"; do',
            '    r=$(PATH=$p command -v "$n" || true); [ -n "$r" ] && r=$(readlink -f "$r")',
            '    case $r in',
            '      "$prefix"/*) ;;',
            '      "") if [ "$p" = "$root" ] || [ "$kind" = bin ]; then bad="$bad $n(not found, PATH=$p)"; fi ;;',
            '      *) bad="$bad $n(resolves to $r, PATH=$p)" ;;',
            '    esac',
            '  done',
            '  for o in /usr/bin /usr/sbin; do if [ -f "$o/$n" ] && "$o/$n" -V >/dev/null 2>&1; then bad="$bad $o/$n(runs)"; fi; done',
            'done',
            'v=$(slurmctld -V 2>&1); [ "$v" = "slurm 25.11.5" ] || bad="$bad slurmctld -V says: $v"',
            'echo "$bad"',
        ].join("\n");
        const r = runOk(this.hostArgv(h.name, ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "bash", "-c", check, "check", SLURM_PREFIX, ...names]));
        const bad = r.stdout.toString().trim();
        if (bad) throw new Error(`test host ${h.name}: Slurm commands outside ${SLURM_PREFIX} (the test bed must run Slurm 25.11.5 only): ${bad}`);
    }

    private startHolder(h: TestHost): void {
        const ready = path.join(h.dir, "ready");
        fs.rmSync(ready, { force: true });
        const child = spawn("nsenter", [`--net=/run/netns/${h.ns}`, "--", "unshare", "--uts", "--mount", "--propagation", "private", "--",
            "bash", "-c", HOLDER_SETUP, h.name, this.hostsFile, h.runDir, this.commonRunDir, h.dir, SLURM_PREFIX, this.poisonFile],
        { stdio: ["ignore", "ignore", "inherit"], detached: true });
        child.unref();
        h.holderPid = child.pid;
        const deadline = Date.now() + 10000;
        while (!fs.existsSync(ready)) {
            if (Date.now() > deadline || !child.pid || !isAlive(child.pid)) throw new Error(`test host ${h.name}: namespace holder did not start`);
            spawnSync("sleep", ["0.02"]);
        }
    }

    host(name: string): TestHost {
        const h = this.hosts.get(name);
        if (!h) throw new Error(`no test host ${name}`);
        return h;
    }

    /** argv that runs `argv` on host `name`: its network, hostname and mount namespace (own /etc, /usr/local, /home). */
    hostArgv(name: string, argv: string[]): string[] {
        const h = this.host(name);
        if (!h.holderPid) throw new Error(`test host ${name} is not running`);
        return ["nsenter", `--target=${h.holderPid}`, "--net", "--uts", "--mount", "--", ...argv];
    }

    /** argv that runs `argv` in namespace `ns`'s network only (e.g. the bridge namespace). */
    static netArgv(ns: string, argv: string[]): string[] {
        return ["nsenter", `--net=/run/netns/${ns}`, "--", ...argv];
    }

    /** PIDs of processes still inside our namespaces. */
    pidsLeft(): number[] {
        const pids: number[] = [];
        for (const ns of this.created) {
            const r = run(["ip", "netns", "pids", ns]);
            if (r.status === 0) pids.push(...r.stdout.toString().split(/\s+/).filter(Boolean).map(Number));
        }
        return pids;
    }

    /**
     * Stops every process still inside our namespaces (by PID; they can only be ours), deletes the
     * namespaces. Returns the PIDs it had to stop here, so a test can assert that there were none.
     */
    async tearDown(): Promise<number[]> {
        for (const h of this.hosts.values()) {
            if (h.holderPid) await stopPid(h.holderPid, 3000);
            h.holderPid = undefined;
        }
        const leftover = this.pidsLeft();
        for (const pid of leftover) await stopPid(pid, 3000);
        for (const ns of [...this.created].reverse()) {
            run(["ip", "netns", "del", ns]);
            liveNamespaces.delete(ns);
        }
        this.created.length = 0;
        return leftover;
    }

    /** Namespaces of ours that still exist. */
    remainingNamespaces(): string[] {
        const r = run(["ip", "netns", "list"]);
        return r.stdout.toString().split("\n").map(l => l.split(" ")[0]).filter(n => n.startsWith(`${this.prefix}-`));
    }
}

/** A network namespace with only loopback up (e.g. for an sshd on 127.0.0.1:22). */
export class LoopbackNs {
    private alive = false;
    constructor(readonly name: string) {}
    setUp(): void {
        runOk(["ip", "netns", "add", this.name]);
        this.alive = true;
        registerNs(this.name);
        runOk(["ip", "-n", this.name, "link", "set", "lo", "up"]);
    }
    argv(argv: string[]): string[] {
        return TestNetwork.netArgv(this.name, argv);
    }
    async tearDown(): Promise<number[]> {
        if (!this.alive) return [];
        const r = run(["ip", "netns", "pids", this.name]);
        const left = r.status === 0 ? r.stdout.toString().split(/\s+/).filter(Boolean).map(Number) : [];
        for (const pid of left) await stopPid(pid, 3000);
        run(["ip", "netns", "del", this.name]);
        liveNamespaces.delete(this.name);
        this.alive = false;
        return left;
    }
}
