// A small Slurm cluster in network namespaces for the bootstrap-chain test:
//   scheduler  munged + slurmctld (+ sshd, the remote end of the seed command), config read from the seeded /shared
//   compute    munged + slurmd, config read from the seeded /shared
//   login      munged + Slurm client only, configured solely by components/login/slurm-sync.sh (and the trust check
//              it sources, components/shared-trust/trust-lib.sh, installed where cloud-init writes it)
//   deployer   the bridge's address: where the SSH client (the Pulumi remote Command) runs from
// Every host runs Slurm 25.11.5 (the cluster's release; netns.ts puts it first on each host's PATH).
// /sched/<cluster>/ is laid out as cyclecloud-slurm 4.x's installer (azure-slurm-install/install.py) makes it: the
// directory root 0755, slurm.conf and its includes slurm 0644, munge.key munge 0700, prolog.d and epilog.d owned by
// slurm, and on every host /etc/slurm/prolog.d (and epilog.d) a symlink into it; slurm.conf has
// Prolog=/etc/slurm/prolog.d/*. Every host has the accounts cyclecloud-slurm creates: slurm UID 11100, munge 11101.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { TRUST_LIB_INSTALLED } from "../../components/login/cloud-init";
import { seedInvocation, shellQuote, TRUST_LIB_PATH } from "../../components/slurm/seed";
import { TestNetwork } from "./netns";
import { Daemon, isAlive, run, RunResult, runOk, slurmBin, stopPid, waitFor } from "./proc";
import { TestSshd } from "./sshd";
import { addUserArgv, TestUser } from "./users";

export const SYNC_SCRIPT = path.resolve(__dirname, "../../components/login/slurm-sync.sh");
/** Shell that installs the trust check the sync sources (TRUST_LIB_PATH) as cloud-init writes it: TRUST_LIB_INSTALLED, root 0644. */
export const INSTALL_TRUST_LIB = `mkdir -p -m 0755 ${shellQuote(path.dirname(TRUST_LIB_INSTALLED))} && ` +
    `install -m 0644 -o root -g root ${shellQuote(TRUST_LIB_PATH)} ${shellQuote(TRUST_LIB_INSTALLED)}`;

/**
 * argv run as root in a private mount namespace whose /usr/local is an overlay of the machine's, its changes kept in a
 * tmpfs mounted on `scratch` (an empty directory) that vanishes with the namespace; `setup` (shell) runs there first.
 * Nothing lands in the machine's /usr/local. E.g. setup INSTALL_TRUST_LIB for the sync outside a test host.
 */
export function privateUsrLocalArgv(scratch: string, setup: string, argv: string[]): string[] {
    return ["unshare", "--mount", "--propagation", "private", "--", "bash", "--norc", "--noprofile", "-c",
        'set -e; s=$0 setup=$1; shift; mount -t tmpfs -o mode=0755 layers "$s"; mkdir -m 0755 "$s/upper" "$s/work"; ' +
        'mount -t overlay overlay -o "lowerdir=/usr/local,upperdir=$s/upper,workdir=$s/work" /usr/local; eval "$setup"; exec "$@"',
        scratch, setup, ...argv];
}
const SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** cyclecloud-slurm's service accounts (real-world-behaviour.md section 3), on every test host. */
export const SLURM_UID = 11100;
export const MUNGE_UID = 11101;
/** slurm.conf's Prolog= as cyclecloud-slurm 4.x writes it (install.py: "prolog": "/etc/slurm/prolog.d/*"). */
export const PROLOG_GLOB = "/etc/slurm/prolog.d/*";

export interface MungeHost {
    keyFile: string;
    pidFile: string;
    logFile: string;
    seedFile: string;
}

function chownMunge(p: string): void {
    runOk(["chown", `${MUNGE_UID}:${MUNGE_UID}`, p]);
}

export function writeKey(file: string, key: Buffer, owner: "munge" | "root"): void {
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, key, { mode: 0o400 });
    if (owner === "munge") chownMunge(tmp);
    fs.renameSync(tmp, file);
}

export class MiniCluster {
    readonly net: TestNetwork;
    readonly sshd: TestSshd;
    readonly schedRoot: string;
    readonly schedDir: string;
    readonly sharedRoot: string;
    readonly seededDir: string;
    readonly home: string;
    readonly commonRun: string;
    readonly socket: string;
    readonly key = crypto.randomBytes(1024);
    readonly login: { confDir: string; munge: MungeHost; restartScript: string; lock: string; state: string };
    private readonly daemons: Daemon[] = [];
    private readonly pidsSeen = new Set<number>();

    /**
     * @param opts.prolog slurm.conf Prolog= (a path on the compute host); cyclecloud-slurm's PROLOG_GLOB unless given
     */
    constructor(readonly base: string, prefix: string, readonly clusterDir: string, readonly user: TestUser,
        readonly opts: { prolog?: string } = {}) {
        this.schedRoot = path.join(base, "sched");
        this.schedDir = path.join(this.schedRoot, clusterDir);
        this.sharedRoot = path.join(base, "shared");
        this.seededDir = path.join(this.sharedRoot, "apps", "slurm", clusterDir);
        this.home = path.join(this.sharedRoot, "home", user.name);
        this.commonRun = path.join(base, "run-munge");
        this.socket = path.join(this.commonRun, "munge.socket.2");
        this.net = new TestNetwork(prefix, path.join(base, "hosts"), this.commonRun, "10.77.0.1");
        const loginDir = path.join(base, "hosts", "login");
        this.login = {
            confDir: path.join(loginDir, "etc-slurm"),
            munge: this.mungePaths("login"),
            restartScript: path.join(loginDir, "restart-munge.sh"),
            lock: path.join(loginDir, "slurm-sync.lock"),
            state: path.join(loginDir, "slurm-sync.recheck"),
        };
        this.sshd = new TestSshd(path.join(base, "sshd"), "10.77.0.11",
            // The scheduler's sshd runs on the scheduler host (its /etc: the seed resolves slurm and munge there).
            argv => this.net.hostArgv("scheduler", argv),
            argv => TestNetwork.netArgv(`${prefix}-br`, argv));
    }

    private mungePaths(host: string): MungeHost {
        const d = path.join(this.base, "hosts", host, "munge");
        return { keyFile: path.join(d, "munge.key"), pidFile: path.join(d, "munged.pid"), logFile: path.join(d, "munged.log"), seedFile: path.join(d, "munged.seed") };
    }

    /** Network, directories, the /sched layout, the scheduler's sshd. */
    async setUp(): Promise<void> {
        fs.chmodSync(this.base, 0o755);
        this.net.setUp([["scheduler", "10.77.0.11"], ["compute", "10.77.0.12"], ["login", "10.77.0.13"]]);
        for (const h of ["scheduler", "compute", "login"]) {
            const mungeDir = path.dirname(this.mungePaths(h).keyFile);
            fs.mkdirSync(mungeDir, { recursive: true, mode: 0o700 });
            chownMunge(mungeDir);
            chownMunge(this.net.host(h).runDir);
        }
        fs.mkdirSync(path.join(this.base, "hosts", "scheduler", "state"), { recursive: true, mode: 0o700 });
        fs.mkdirSync(path.join(this.base, "hosts", "compute", "spool"), { recursive: true, mode: 0o755 });
        fs.mkdirSync(this.home, { recursive: true, mode: 0o755 });
        fs.chmodSync(path.join(this.sharedRoot, "home"), 0o755);
        fs.chmodSync(this.sharedRoot, 0o755);
        runOk(["chown", `${this.user.uid}:${this.user.gid}`, this.home]);
        // Every host has its own /etc/passwd: the test user exists on each, as CycleCloud creates node accounts.
        for (const h of ["scheduler", "compute", "login"]) runOk(this.net.hostArgv(h, addUserArgv(this.user, this.home)));
        this.writeSchedDir();
        for (const h of ["scheduler", "compute", "login"]) this.layOutHost(h);
        // The login host has what cloud-init writes beside the sync: the trust check it sources (root 0644).
        runOk(this.net.hostArgv("login", ["bash", "-c", INSTALL_TRUST_LIB]));
        this.writeLoginRestartScript();
        await this.sshd.start();
        this.track(this.sshd.pid);
    }

    private track(pid: number | undefined): void {
        if (pid) this.pidsSeen.add(pid);
    }

    /**
     * A host as cyclecloud-slurm's installer leaves it: slurm (11100) and munge (11101) in its own /etc (written
     * directly: usermod refuses while another test run's munged runs as the machine's munge), and /etc/slurm/prolog.d
     * and epilog.d symlinks into /sched/<cluster> (ilib.link in install.py).
     */
    private layOutHost(h: string): void {
        runOk(this.net.hostArgv(h, ["bash", "-c", [
            "set -euo pipefail",
            'sched=$1',
            'for e in slurm:11100:"User to run slurmctld" munge:11101:"MUNGE Uid N Gid Emporium"; do',
            '  IFS=: read -r n id comment <<<"$e"',
            '  for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow; do [[ -f $f ]] && sed -i "/^$n:/d" "$f"; done',
            '  echo "$n:x:$id:$id:$comment:/nonexistent:/bin/false" >>/etc/passwd',
            '  echo "$n:x:$id:" >>/etc/group',
            "done",
            "mkdir -p /etc/slurm",
            'for d in prolog.d epilog.d; do rm -rf "/etc/slurm/$d"; ln -s "$sched/$d" "/etc/slurm/$d"; done',
        ].join("\n"), "layout", this.schedDir]));
    }

    /** /sched/<cluster>/ as cyclecloud-slurm 4.x lays it out (owners from install.py), with settings this machine can run. */
    private writeSchedDir(): void {
        const h = (name: string, f: string) => path.join(this.base, "hosts", name, f);
        fs.mkdirSync(this.schedDir, { recursive: true, mode: 0o755 });
        fs.chmodSync(this.schedRoot, 0o755);
        fs.chmodSync(this.schedDir, 0o755);
        const nodeLine = runOk([slurmBin("slurmd"), "-C"]).stdout.toString().split("\n")[0]
            .replace(/^NodeName=\S+/, "NodeName=compute")
            .replace(/RealMemory=(\d+)/, (_m, mem: string) => `RealMemory=${Math.max(100, Math.floor(Number(mem) * 0.8))}`);
        const files: Record<string, string> = {
            "slurm.conf": [
                "# Test cluster laid out like cyclecloud-slurm 4.x /sched/<cluster>/slurm.conf (no cgroup: no systemd here)",
                `ClusterName=${this.clusterDir}`,
                "SlurmctldHost=scheduler",
                "SlurmUser=root",
                "AuthType=auth/munge",
                `AuthInfo=socket=${this.socket}`,
                `StateSaveLocation=${h("scheduler", "state")}`,
                `SlurmctldPidFile=${h("scheduler", "slurmctld.pid")}`,
                `SlurmctldLogFile=${h("scheduler", "slurmctld.log")}`,
                `SlurmdSpoolDir=${h("compute", "spool")}`,
                `SlurmdPidFile=${h("compute", "slurmd.pid")}`,
                `SlurmdLogFile=${h("compute", "slurmd.log")}`,
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "ReturnToService=2",
                "MailProg=/bin/true",
                `Prolog=${this.opts.prolog ?? PROLOG_GLOB}`,
                "Epilog=/etc/slurm/epilog.d/*",
                "# This as the partition definitions managed by azslurm partitions",
                "Include azure.conf",
                "Include accounting.conf",
                "Include keep_alive.conf",
                "Include site_specific.conf",
                "",
            ].join("\n"),
            "azure.conf": `${nodeLine} State=UNKNOWN\nPartitionName=hpc Nodes=compute Default=YES MaxTime=INFINITE State=UP\n`,
            "accounting.conf": "AccountingStorageType=accounting_storage/none\n",
            "keep_alive.conf": "# SuspendExcNodes=\n",
            "site_specific.conf": "# Site specific settings, preserved on upgrades\n",
        };
        for (const [name, text] of Object.entries(files)) {
            const f = path.join(this.schedDir, name);
            fs.writeFileSync(f, text, { mode: 0o644 });
            fs.chownSync(f, SLURM_UID, SLURM_UID);
        }
        const key = path.join(this.schedDir, "munge.key");
        writeKey(key, this.key, "munge");
        fs.chmodSync(key, 0o700);
        // The installer always puts its IMEX scripts in prolog.d/epilog.d (root 0755). Stand-ins that do what those do on
        // a node without nvidia-imex.service: exit 0. (Slurm 25.11.5 fails the prolog, drains the node and holds the job
        // when the Prolog= glob matches nothing: "prolog: Unable to create list of paths [/etc/slurm/prolog.d/*]".)
        for (const [d, f] of [["prolog.d", "90-imex_prolog.sh"], ["epilog.d", "90-imex_epilog.sh"]]) {
            fs.mkdirSync(path.join(this.schedDir, d), { mode: 0o755 });
            fs.chownSync(path.join(this.schedDir, d), SLURM_UID, SLURM_UID);
            fs.writeFileSync(path.join(this.schedDir, d, f), "#!/bin/bash\n# Test stand-in for cyclecloud-slurm's " +
                `${f} on a node without nvidia-imex.service (the real one exits 0 there).\nexit 0\n`, { mode: 0o755 });
        }
    }

    /** The login host's stand-in for `systemctl restart munge`: stop munged by PID, start it again. */
    private writeLoginRestartScript(): void {
        const m = this.login.munge;
        fs.writeFileSync(this.login.restartScript, [
            "#!/bin/bash",
            "# Test stand-in for 'systemctl restart munge' on the login host (stops munged by PID, starts it again).",
            "set -euo pipefail",
            `pidfile=${m.pidFile}`,
            "alive() { local s; s=$(cut -d' ' -f3 \"/proc/$1/stat\" 2>/dev/null) || return 1; [[ -n $s && $s != Z ]]; }",
            "if [[ -s $pidfile ]]; then",
            "    pid=$(<\"$pidfile\")",
            "    if alive \"$pid\"; then",
            "        kill \"$pid\"",
            "        for _ in $(seq 100); do alive \"$pid\" || break; sleep 0.05; done",
            "    fi",
            "fi",
            `exec setpriv --reuid=munge --regid=munge --init-groups -- munged --key-file=${m.keyFile} --socket=${this.socket} ` +
            `--pid-file=${m.pidFile} --log-file=${m.logFile} --seed-file=${m.seedFile} </dev/null >>${m.logFile}.out 2>&1`,
            "",
        ].join("\n"), { mode: 0o755 });
    }

    /** Runs the seed exactly as the remote Command does: ssh root@scheduler '<command>' < script. */
    seed(): RunResult {
        const inv = seedInvocation(this.clusterDir, { schedRoot: this.schedRoot, sharedRoot: this.sharedRoot });
        return this.sshd.ssh(inv.command, inv.stdin);
    }

    private startMunged(host: "scheduler" | "compute"): void {
        const m = this.mungePaths(host);
        // Like a CycleCloud node: the key comes from /sched/<cluster>/munge.key, owned by munge.
        writeKey(m.keyFile, fs.readFileSync(path.join(this.schedDir, "munge.key")), "munge");
        this.startDaemon(host, `munged-${host}`, ["setpriv", "--reuid=munge", "--regid=munge", "--init-groups", "--",
            "munged", "-F", `--key-file=${m.keyFile}`, `--socket=${this.socket}`, `--pid-file=${m.pidFile}`,
            `--log-file=${m.logFile}`, `--seed-file=${m.seedFile}`]);
    }

    startDaemon(host: string, name: string, argv: string[]): Daemon {
        const d = new Daemon(name, this.net.hostArgv(host, argv), path.join(this.base, "hosts", host, `${name}.out`));
        this.daemons.push(d);
        this.track(d.pid);
        return d;
    }

    /** As root on a host: argv with SLURM_CONF set. */
    onHost(host: string, argv: string[], slurmConf?: string): RunResult {
        const env = ["env", "-i", `PATH=${SBIN_PATH}`, ...(slurmConf ? [`SLURM_CONF=${slurmConf}`] : [])];
        return run(this.net.hostArgv(host, [...env, ...argv]), { timeoutMs: 30000 });
    }

    private async waitMunge(host: string): Promise<void> {
        await waitFor(() => this.onHost(host, ["bash", "-c", `munge -n -S ${this.socket} | unmunge -S ${this.socket}`]).status === 0,
            5000, () => `munged on ${host} did not come up`, 50);
    }

    /** scheduler: munged + slurmctld; compute: munged + slurmd; all from the seeded config. Waits for the node to be idle. */
    async startSchedulerAndCompute(): Promise<void> {
        const conf = path.join(this.seededDir, "slurm.conf");
        this.startMunged("scheduler");
        this.startMunged("compute");
        await this.waitMunge("scheduler");
        await this.waitMunge("compute");
        const ctld = this.startDaemon("scheduler", "slurmctld", ["slurmctld", "-D", "-f", conf]);
        await waitFor(() => this.onHost("scheduler", ["scontrol", "ping"], conf).stdout.toString().includes("UP") || ctld.exited,
            10000, () => `slurmctld did not answer: ${ctld.log()}`);
        if (ctld.exited) throw new Error(`slurmctld exited: ${ctld.log()}`);
        const slurmd = this.startDaemon("compute", "slurmd", ["slurmd", "-D", "-f", conf]);
        await waitFor(() => {
            if (slurmd.exited) throw new Error(`slurmd exited: ${slurmd.log()}`);
            return /^idle/m.test(this.onHost("scheduler", ["sinfo", "-h", "-n", "compute", "-o", "%T"], conf).stdout.toString());
        }, 15000, () => `compute did not become idle: ${this.onHost("scheduler", ["sinfo", "-R"], conf).text}`);
    }

    /** Stops slurmd on compute and starts it again (a node that reboots): waits until it is idle. */
    async restartSlurmd(): Promise<void> {
        const conf = path.join(this.seededDir, "slurm.conf");
        const old = this.daemons.find(d => d.name === "slurmd" && !d.exited);
        if (old) await old.stop();
        const slurmd = this.startDaemon("compute", "slurmd", ["slurmd", "-D", "-f", conf]);
        await waitFor(() => {
            if (slurmd.exited) throw new Error(`slurmd exited: ${slurmd.log()}`);
            return /^idle/m.test(this.onHost("scheduler", ["sinfo", "-h", "-n", "compute", "-o", "%T"], conf).stdout.toString());
        }, 20000, () => `compute did not become idle: ${this.onHost("scheduler", ["sinfo", "-R"], conf).text}`);
    }

    /**
     * The cluster as `pulumi up` leaves it, after setUp(): the login host's munged running with the package's own
     * (different) key, the seed run on the scheduler, scheduler and compute started from the seeded config, then the
     * login host synced from /shared. Throws, naming the step, if the seed or the sync fails.
     */
    async bringUpSeeded(): Promise<void> {
        writeKey(this.login.munge.keyFile, crypto.randomBytes(1024), "munge");
        this.restartLoginMunge();
        const seeded = this.seed();
        if (seeded.status !== 0) throw new Error(`seed failed: ${seeded.text}`);
        await this.startSchedulerAndCompute();
        const synced = this.sync();
        if (synced.status !== 0) throw new Error(`sync failed: ${synced.text}`);
    }

    /** Starts (or restarts) the login host's munged with whatever key is in its key file. */
    restartLoginMunge(): void {
        runOk(this.net.hostArgv("login", [this.login.restartScript]));
        this.track(this.loginMungePid());
    }

    loginMungePid(): number | undefined {
        try {
            const pid = Number(fs.readFileSync(this.login.munge.pidFile, "utf8").trim());
            return pid > 0 ? pid : undefined;
        } catch {
            return undefined;
        }
    }

    /** The environment /etc/default/slurm-sync and the unit give the sync script, pointed at the test dirs. */
    syncEnv(): string[] {
        return [
            `PATH=${SBIN_PATH}`,
            `SLURM_SYNC_SOURCE=${this.seededDir}`,
            `SLURM_CONF_DIR=${this.login.confDir}`,
            `MUNGE_KEY_FILE=${this.login.munge.keyFile}`,
            `MUNGE_RESTART_CMD=${this.login.restartScript}`,
            `MUNGE_SOCKET=${this.socket}`,
            "MUNGE_USER=munge",
            `SLURM_SYNC_LOCK=${this.login.lock}`,
            `SLURM_SYNC_STATE=${this.login.state}`,
            "SLURM_SYNC_TIMEOUT=10",
        ];
    }

    /** Runs the login node's sync script, unmodified, as root on the login host. */
    sync(...args: string[]): RunResult {
        const r = run(this.net.hostArgv("login", ["env", "-i", ...this.syncEnv(), "bash", SYNC_SCRIPT, ...args]), { timeoutMs: 30000 });
        this.track(this.loginMungePid());
        return r;
    }

    /** Runs argv on the login host as the test user, with the installed Slurm client config. */
    asUserOnLogin(argv: string[]): RunResult {
        return run(this.net.hostArgv("login", ["setpriv", `--reuid=${this.user.uid}`, `--regid=${this.user.gid}`, "--clear-groups", "--",
            "env", "-i", `PATH=${SBIN_PATH}`, `HOME=${this.home}`, `USER=${this.user.name}`,
            `SLURM_CONF=${path.join(this.login.confDir, "slurm.conf")}`, ...argv]), { timeoutMs: 30000 });
    }

    /** Submits a batch job from login as the test user; waits for it to end; returns its id, state and output. */
    async submitJob(tag: string): Promise<{ id: string; state: string; output: string; resultFile: string }> {
        const script = path.join(this.home, `job-${tag}.sh`);
        const resultFile = path.join(this.home, `result-${tag}.txt`);
        fs.writeFileSync(script, [
            "#!/bin/bash",
            "echo \"host=$(hostname)\"",
            "echo \"uid=$(id -u)\"",
            `echo "job $SLURM_JOB_ID ran on $(hostname)" > ${resultFile}`,
            "",
        ].join("\n"), { mode: 0o755 });
        runOk(["chown", `${this.user.uid}:${this.user.gid}`, script]);
        const sub = this.asUserOnLogin(["sbatch", "--parsable", "-J", `chain-${tag}`, "-D", this.home,
            "-o", path.join(this.home, `job-${tag}-%j.out`), script]);
        if (sub.status !== 0) throw new Error(`sbatch failed: ${sub.text}`);
        const id = sub.stdout.toString().trim().split(";")[0];
        const loginConf = path.join(this.login.confDir, "slurm.conf");
        let state = "", info = "";
        await waitFor(() => {
            const r = this.onHost("login", ["scontrol", "show", "job", "-o", id], loginConf);
            info = r.stdout.toString();
            state = /JobState=(\S+)/.exec(info)?.[1] ?? "";
            return ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL"].includes(state);
        }, 20000, () => `job ${id} did not finish (state ${state}): ${info}\n--- slurmctld.log:\n${this.tail("scheduler", "slurmctld.log")}` +
            `\n--- slurmd.log:\n${this.tail("compute", "slurmd.log")}`, 150);
        const outFile = path.join(this.home, `job-${tag}-${id}.out`);
        const output = fs.existsSync(outFile) ? fs.readFileSync(outFile, "utf8") : "";
        return { id, state, output, resultFile };
    }

    /** The last lines of a host's log file (for failure messages). */
    tail(host: string, file: string, lines = 25): string {
        try {
            return fs.readFileSync(path.join(this.base, "hosts", host, file), "utf8").split("\n").slice(-lines).join("\n");
        } catch {
            return "(no log)";
        }
    }

    /**
     * Stops every daemon by PID (slurmd, slurmctld, munged x3, sshd), then removes the namespaces.
     * Returns what was still running afterwards and had to be killed by the namespace sweep, the
     * namespaces left, and the PIDs this cluster ever started that are still alive.
     */
    async tearDown(): Promise<{ sweptPids: number[]; namespaces: string[]; alive: number[] }> {
        for (const d of [...this.daemons].reverse()) await d.stop();
        this.daemons.length = 0;
        const loginPid = this.loginMungePid();
        if (loginPid) await stopPid(loginPid);
        await this.sshd.stop();
        const sweptPids = await this.net.tearDown();
        return { sweptPids, namespaces: this.net.remainingNamespaces(), alive: [...this.pidsSeen].filter(isAlive) };
    }
}
