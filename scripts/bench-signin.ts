// npm run bench:signin [-- --sizes 10,10000 --runs 7 --before-sizes 10,5000 --before-runs 3]
// What a returning user's sign-in costs in the sign-in hook (components/accounts/publish-account.sh, run unmodified as
// `cluster-account-publish --user NAME`, the hook's own code path without pam_exec) against registries of N entries.
// Each size: a private mount namespace (unshare --mount) where /etc/passwd has the bench user, /etc/default/cluster-accounts
// points at a registry in a temporary directory (ACCOUNTS_ACK_WAIT=0: no wait for a scheduler) and /home is private;
// the registry holds N entries plus the user's. The first run builds the name index (a registry of issue 9 migrated on
// first touch) and is reported apart; then `runs` returning-user runs, timed in the namespace with $EPOCHREALTIME, median.
// --before-sizes measures the script as issue 9 left it (git show <base>:components/accounts/publish-account.sh; one
// grep per entry) the same way, for comparison. Needs Linux and root. Changes nothing outside its temporary directory.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command } from "commander";

const root = path.resolve(__dirname, "..");
const SCRIPT = path.join(root, "components/accounts/publish-account.sh");
const USER = "bench@contoso.com";
// Sorts after every other entry: a scan over users/ (issue 9's script) meets it last (its worst case; half way on average).
const UID = 9500000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A registry with n entries besides the bench user's (format as components/accounts/README.md), no name index. */
function makeRegistry(dir: string, n: number): { shared: string; registry: string } {
    const shared = path.join(dir, "shared");
    const registry = path.join(shared, "apps", "accounts");
    const users = path.join(registry, "users");
    fs.mkdirSync(users, { recursive: true, mode: 0o755 });
    fs.mkdirSync(path.join(shared, "home"), { recursive: true, mode: 0o755 });
    for (const d of [dir, shared, path.join(shared, "apps"), registry, users, path.join(shared, "home")]) fs.chmodSync(d, 0o755);
    const entry = (uid: number, name: string, home: string) =>
        `name=${name}\nuid=${uid}\ngid=${uid}\nhome=${home}\nshome=${path.join(shared, "home", name)}\noid=\nstate=active\nserial=1\n`;
    for (let i = 0; i < n; i++) {
        const uid = 4000000 + i;
        fs.writeFileSync(path.join(users, String(uid)), entry(uid, `user${i}@contoso.com`, `/home/user${i}`), { mode: 0o644 });
    }
    fs.writeFileSync(path.join(users, String(UID)), entry(UID, USER, `/home/${USER}`), { mode: 0o644 });
    const home = path.join(shared, "home", USER);
    fs.mkdirSync(home, { mode: 0o700 });
    fs.chownSync(home, UID, UID);
    return { shared, registry };
}

/** Runs `script --user` runs+1 times in a private mount namespace; the run times in ms (the first builds the index). */
function measure(script: string, dir: string, n: number, runs: number, before: boolean): number[] {
    const { shared, registry } = makeRegistry(dir, n);
    const settingsDir = path.join(dir, "default");
    fs.mkdirSync(settingsDir, { mode: 0o755 });
    const settings = path.join(settingsDir, "cluster-accounts");
    fs.writeFileSync(settings, [`ACCOUNTS_REGISTRY=${registry}`, `ACCOUNTS_TRUST_ROOT=${shared}`, `SHARED_HOME=${path.join(shared, "home")}`,
        "ACCOUNTS_UID_MIN=65536", "ACCOUNTS_UID_MAX=4294967293", "ACCOUNTS_ACK_WAIT=0", ""].join("\n"), { mode: 0o644 });
    const passwd = path.join(dir, "passwd");
    fs.writeFileSync(passwd, fs.readFileSync("/etc/passwd", "utf8") + `${USER}:x:${UID}:${UID}::/home/${USER}:/bin/bash\n`, { mode: 0o644 });
    fs.mkdirSync(path.join(dir, "home"), { mode: 0o755 });
    const driver = [
        "set -e",
        'mount --bind "$1" /etc/passwd',
        'mount --bind "$2" /etc/default',
        'mount -t tmpfs -o mode=0755 run /run',
        'mount --bind "$3" /home',
        'script=$4 runs=$5',
        'for ((i = 0; i <= runs; i++)); do',
        '    t0=$EPOCHREALTIME',
        // Issue 9's script took its settings from the environment too; the current one only from the file.
        '    out=$(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ACCOUNTS_SETTINGS=/etc/default/cluster-accounts bash "$script" --user ' + USER + ' 2>&1) || { echo "FAIL $out" >&2; exit 1; }',
        '    t1=$EPOCHREALTIME',
        '    echo "$(( (${t1/./} - ${t0/./}) / 1000 ))"',
        'done',
    ].join("\n");
    const r = spawnSync("unshare", ["--mount", "--propagation", "private", "--", "bash", "-c", driver, "bench", passwd, settingsDir,
        path.join(dir, "home"), script, String(runs)], { encoding: "utf8", maxBuffer: 1 << 20 });
    if (r.status !== 0) throw new Error(`bench run failed (${before ? "issue 9's script" : "current script"}, ${n} entries): ${r.stderr}`);
    return r.stdout.trim().split("\n").map(Number);
}

function main(): void {
    const opts = new Command()
        .option("--sizes <list>", "registry sizes", "10,10000")
        .option("--runs <n>", "returning-user runs per size", "7")
        .option("--before-sizes <list>", "sizes for issue 9's script (empty: skip)", "10,5000")
        .option("--before-runs <n>", "runs for issue 9's script", "3")
        .option("--base <rev>", "git revision of issue 9's script", "c5f4e46")
        .parse().opts();
    if (process.getuid?.() !== 0) throw new Error("bench:signin needs root (unshare --mount, bind mounts)");
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-signin-"));
    fs.chmodSync(tmp, 0o755);
    const lines: string[] = [];
    try {
        const show = (label: string, n: number, times: number[]) => {
            const [first, ...rest] = times;
            const line = `| ${label} | ${n} | ${first} ms | ${median(rest)} ms (${Math.min(...rest)}-${Math.max(...rest)}) | ${rest.length} |`;
            lines.push(line);
            console.log(line);
        };
        console.log("| script | entries | first run | returning user, median (min-max) | runs |\n|---|---:|---:|---:|---:|");
        for (const n of String(opts.sizes).split(",").filter(Boolean).map(Number)) {
            const dir = fs.mkdtempSync(path.join(tmp, `now-${n}-`));
            fs.chmodSync(dir, 0o755);
            show("current (name index)", n, measure(SCRIPT, dir, n, Number(opts.runs), false));
        }
        const sizes = String(opts.beforeSizes).split(",").filter(Boolean).map(Number);
        if (sizes.length) {
            const old = path.join(tmp, "publish-issue9.sh");
            const git = spawnSync("git", ["-C", root, "show", `${opts.base}:components/accounts/publish-account.sh`], { encoding: "utf8" });
            if (git.status !== 0) throw new Error(`git show ${opts.base}: ${git.stderr}`);
            fs.writeFileSync(old, git.stdout, { mode: 0o755 });
            for (const n of sizes) {
                const dir = fs.mkdtempSync(path.join(tmp, `before-${n}-`));
                fs.chmodSync(dir, 0o755);
                show(`issue 9 (${opts.base}, grep per entry)`, n, measure(old, dir, n, Number(opts.beforeRuns), true));
            }
        }
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

main();
