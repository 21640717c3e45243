// Test hosts in network namespaces: one namespace per host, all on a bridge that lives in its own
// namespace (the machine's own network is never touched). Commands for a host run with its own
// hostname (UTS namespace), its own /etc/hosts and its own munge socket directory (private mount
// namespace with bind mounts), as the local-testbed reference describes.
import * as fs from "fs";
import * as path from "path";
import { run, runOk, stopPid } from "./proc";

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
}

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
            fs.mkdirSync(runDir, { recursive: true, mode: 0o755 });
            this.addNs(ns);
            // The veth pair is created inside the bridge namespace with its peer directly in the host's.
            runOk(["ip", "-n", this.bridgeNs, "link", "add", `v-${name}`, "type", "veth", "peer", "name", "eth0", "netns", ns]);
            runOk(["ip", "-n", this.bridgeNs, "link", "set", `v-${name}`, "master", "br0", "up"]);
            runOk(["ip", "-n", ns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
            runOk(["ip", "-n", ns, "link", "set", "eth0", "up"]);
            this.hosts.set(name, { name, ip, ns, dir, runDir });
            lines.push(`${ip} ${name}`);
        }
        fs.writeFileSync(this.hostsFile, lines.join("\n") + "\n", { mode: 0o644 });
    }

    host(name: string): TestHost {
        const h = this.hosts.get(name);
        if (!h) throw new Error(`no test host ${name}`);
        return h;
    }

    /** argv that runs `argv` as host `name`: its network, hostname, /etc/hosts and munge socket directory. */
    hostArgv(name: string, argv: string[]): string[] {
        const h = this.host(name);
        const setup = 'hostname "$0" && mount --bind "$1" /etc/hosts && mount --bind "$2" "$3" && shift 3 && exec "$@"';
        return ["nsenter", `--net=/run/netns/${h.ns}`, "--", "unshare", "--uts", "--mount", "--propagation", "private", "--",
            "bash", "-c", setup, h.name, this.hostsFile, h.runDir, this.commonRunDir, ...argv];
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
