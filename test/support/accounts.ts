// The account registry of issue 9 (components/accounts/) on the namespaced test cluster, shared by the identity and
// readiness tests: our scripts run unmodified on the test hosts, each with its own /etc (see netns.ts).
//   - bootAccounts: the cluster-init boot script as jetpack runs it on scheduler/compute (installs the apply script,
//     /etc/default/cluster-accounts with the test's paths, the Slurm prolog; applies once);
//   - startAccountsTimer: stands in for cluster-accounts.timer (no systemd on the test hosts): calls the installed
//     apply script every 3 s, the scheduler's interval;
//   - installLoginHook: install-login.sh on the login host, from a directory like cloud-init's.
import * as fs from "fs";
import * as path from "path";
import { MiniCluster } from "./cluster";
import { Daemon, run, RunResult, runOk } from "./proc";

const REPO = path.resolve(__dirname, "../..");
export const ACCOUNTS_SPEC = path.join(REPO, "components/accounts/cluster-init");
export const ACCOUNTS_BOOT_SCRIPT = path.join(ACCOUNTS_SPEC, "scripts/010-cluster-accounts.sh");
export const ACCOUNTS_APPLY = "/usr/local/sbin/cluster-accounts-apply";
export const ACCOUNTS_PUBLISH = "/usr/local/sbin/cluster-account-publish";
export const HOST_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** /etc/default/cluster-accounts as cloud-init (login) and the boot script (nodes) write it, pointed at the test's /shared. */
export function accountSettings(c: MiniCluster): Record<string, string> {
    return {
        ACCOUNTS_REGISTRY: path.join(c.sharedRoot, "apps", "accounts"),
        ACCOUNTS_TRUST_ROOT: c.sharedRoot,
        SHARED_HOME: path.join(c.sharedRoot, "home"),
        ACCOUNTS_UID_MIN: "65536",
        ACCOUNTS_UID_MAX: "4294967293",
        ACCOUNTS_ACK_WAIT: "30",
        // The readiness service account, the registry's one non-UPN name (components/config/facts.ts READINESS_UID).
        ACCOUNTS_SERVICE_ACCOUNTS: "slurm-readiness:19990",
    };
}

/** The apply script's state directory on host `h` (local to the host, as /run/cluster-accounts is on a node). */
export function accountsStateDir(c: MiniCluster, h: string): string {
    return path.join(c.base, "hosts", h, "cluster-accounts-state");
}

/** Runs argv as root on host `h` with a clean environment and the cluster's slurm.conf. */
export function onHost(c: MiniCluster, h: string, argv: string[], input?: string): RunResult {
    return run(c.net.hostArgv(h, ["env", "-i", HOST_PATH_ENV, `SLURM_CONF=${path.join(c.seededDir, "slurm.conf")}`, ...argv]),
        { input, timeoutMs: 60000 });
}

/** The cluster-init boot script, as jetpack runs it (spec path in CYCLECLOUD_SPEC_PATH), with the test's paths. */
export function bootAccounts(c: MiniCluster, h: string, role: string, settings: Record<string, string>): RunResult {
    return onHost(c, h, ["env", `CYCLECLOUD_SPEC_PATH=${ACCOUNTS_SPEC}`, `ACCOUNTS_ROLE=${role}`,
        ...Object.entries(settings).map(([k, v]) => `${k}=${v}`), `ACCOUNTS_STATE_DIR=${accountsStateDir(c, h)}`, "bash", ACCOUNTS_BOOT_SCRIPT]);
}

/** The stand-in for cluster-accounts.timer on host `h`: the installed apply script every 3 s. */
export function startAccountsTimer(c: MiniCluster, h = "scheduler"): Daemon {
    return c.startDaemon(h, "accounts-timer", ["env", "-i", HOST_PATH_ENV, `SLURM_CONF=${path.join(c.seededDir, "slurm.conf")}`,
        // On SIGTERM the loop ends only after a running apply has finished (bash runs the trap after the foreground
        // command), so no apply is left running behind a stopped "timer".
        "bash", "-c", `trap 'kill $! 2>/dev/null; exit 0' TERM; while :; do ${ACCOUNTS_APPLY}; sleep 3 & wait $!; done`]);
}

/** Writes a file on host `h` (its private /etc lives only in its mount namespace). */
export function writeOnHost(c: MiniCluster, h: string, file: string, content: string, mode: number): void {
    runOk(c.net.hostArgv(h, ["bash", "-c", 'umask 077 && cat > "$1.tmp" && chmod "$2" "$1.tmp" && mv -f "$1.tmp" "$1"', "w", file,
        mode.toString(8)]), { input: content });
}

/** Runs components/accounts/install-login.sh, unmodified, as root on the login host from `srcDir` (as cloud-init does). */
export function installLoginHook(c: MiniCluster, srcDir: string): RunResult {
    return installLoginHookOn(argv => c.net.hostArgv("login", argv), srcDir);
}

/** installLoginHook on whatever host `onHostArgv` runs on (e.g. a rebuilt login host). */
export function installLoginHookOn(onHostArgv: (argv: string[]) => string[], srcDir: string): RunResult {
    fs.mkdirSync(srcDir, { recursive: true, mode: 0o755 });
    for (const f of ["install-login.sh", "publish-account.sh", "pam-sshd-session", "cluster-init/files/accounts-lib.sh"]) {
        fs.copyFileSync(path.join(REPO, "components/accounts", f), path.join(srcDir, path.basename(f)));
    }
    return run(onHostArgv(["env", "-i", HOST_PATH_ENV, "bash", path.join(srcDir, "install-login.sh")]), { timeoutMs: 60000 });
}

/** The settings file's text (KEY=VALUE lines) for `settings`. */
export function settingsText(settings: Record<string, string>): string {
    return Object.entries(settings).map(([k, v]) => `${k}=${v}\n`).join("");
}
