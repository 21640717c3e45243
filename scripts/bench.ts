// npm run bench [-- --runs N --sizes dev,10,100,400,1000g --no-cold --baseline DIR]
// Wall time and peak memory of `npm run plan` for the dev stack and for generated stacks of 10, 100 and 400
// users (per-user roles) and 1000 users (roles through Entra groups, which the config requires above 500 users),
// and the dev stack's import floor: a process that only loads the Pulumi SDK, the policy SDK and the provider
// modules the program imports. Each run is a fresh child process started as `npm run plan` starts it (module
// loading included, as a user sees it); floor and plan runs alternate, so a change in the machine's load hits
// both; medians of N with min-max. "Cold" is the dev plan with the transpile and diagram caches emptied first
// (the first plan after `npm ci` or after editing every file). --baseline DIR times DIR's own `npm run plan` of the
// dev stack in the same alternation (a checkout of an earlier commit: git archive REV | tar -x -C DIR, and a
// node_modules link).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { Command } from "commander";
import { CACHE_DIR } from "./plan/cache";
import { ed25519KeyPair } from "./plan/secrets";

const root = path.resolve(__dirname, "..");

/**
 * Pulumi.dev.yaml with `users` replaced by n generated users: Entra role grants, every tenth with a pinned
 * node account (valid ed25519 key, unique name and a UID below CycleCloud's 20000).
 * With `groups`, roles go to Entra groups (entraGroupName), as the config requires above 500 users.
 */
export function generatedStack(n: number, groups = false): string {
    const doc = YAML.parse(fs.readFileSync(path.join(root, "Pulumi.dev.yaml"), "utf8"));
    if (groups) doc.config["cyclecloud-slurm-entra:entraGroupName"] = "hpc-bench-users";
    doc.config["cyclecloud-slurm-entra:users"] = Array.from({ length: n }, (_, i) => ({
        entra: `user${i + 1}@contoso.com`,
        admin: i === 0,
        ...(i % 10 === 0 ? {
            name: `user${String(i + 1).padStart(4, "0")}`,
            uid: 10001 + i,
            sshPublicKey: ed25519KeyPair(`bench-user-${i}`, `user${i + 1}@example`).publicKey,
        } : {}),
    }));
    return YAML.stringify(doc);
}

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

interface Row { size: string; resources: number; wall: number[]; rss: number[] }

/** `npm run plan`'s node arguments (package.json), e.g. ["-r", "./scripts/plan/register.js", "scripts/plan.ts"]. */
function planArgs(dir = root): string[] {
    const script = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).scripts.plan as string;
    const [node, ...args] = script.split(/\s+/);
    if (node !== "node") throw new Error(`package.json scripts.plan does not start with node: ${script}`);
    return args;
}

/** The node options of `npm run plan` (everything before scripts/plan.ts), which the floor runs with too. */
function nodeOptions(): string[] {
    const args = planArgs();
    return args.slice(0, args.indexOf("scripts/plan.ts"));
}

/**
 * The modules whose loading is the floor: @pulumi/pulumi, @pulumi/policy and every provider module (azure-native
 * submodule, azuread, command) that index.ts, components/ or policy/ import, found in their import statements.
 */
export function floorModules(): string[] {
    const files: string[] = [path.join(root, "index.ts")];
    const walk = (dir: string) => {
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
            const p = path.join(dir, e.name);
            if (e.isDirectory() && e.name !== "node_modules") walk(p);
            else if (e.isFile() && e.name.endsWith(".ts")) files.push(p);
        }
    };
    walk(path.join(root, "components"));
    walk(path.join(root, "policy"));
    const mods = new Set<string>(["@pulumi/pulumi", "@pulumi/policy"]);
    for (const f of files) {
        for (const m of fs.readFileSync(f, "utf8").matchAll(/^import\s[^;]*?from\s+"(@pulumi\/(?:azure-native|azuread|command)(?:\/[^"]*)?)";/gm)) {
            if (!/\/types\//.test(m[1])) mods.add(m[1]);
        }
    }
    return [...mods].sort();
}

function timed(args: string[], env: NodeJS.ProcessEnv = process.env, cwd = root): { seconds: number; status: number | null; stderr: string; stdout: string } {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { cwd, encoding: "utf8", env, maxBuffer: 64 * 1024 * 1024 });
    return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, status: r.status, stderr: r.stderr, stdout: r.stdout };
}

function floorOnce(mods: string[], usageFile: string): { seconds: number; rssMiB: number } {
    const r = timed([...nodeOptions(), "-r", "./scripts/plan/usage.ts", "-e", "for (const m of process.argv.slice(1)) require(m);", "--", ...mods],
        { ...process.env, PLAN_USAGE_FILE: usageFile });
    if (r.status !== 0) throw new Error(`the import floor exited ${r.status}:\n${r.stderr}`);
    return { seconds: r.seconds, rssMiB: JSON.parse(fs.readFileSync(usageFile, "utf8")).maxRssKiB / 1024 };
}

function runOnce(stackFile: string, outDir: string, usageFile: string, dir = root): { seconds: number; rssMiB: number; resources: number } {
    const args = planArgs(dir);
    const at = args.indexOf("scripts/plan.ts");
    // The usage preload is this checkout's (a baseline may lack it); plain JS under ts-node and under register.js.
    const r = timed([...args.slice(0, at), "-r", path.join(root, "scripts", "plan", "usage.ts"), ...args.slice(at), "--stack-file", stackFile, "--out", outDir],
        { ...process.env, PLAN_USAGE_FILE: usageFile }, dir);
    if (r.status !== 0) throw new Error(`plan of ${stackFile} exited ${r.status}:\n${r.stderr}${r.stdout.slice(-2000)}`);
    const rssMiB = JSON.parse(fs.readFileSync(usageFile, "utf8")).maxRssKiB / 1024;
    const resources = JSON.parse(fs.readFileSync(path.join(outDir, "plan.json"), "utf8")).resources.length;
    return { seconds: r.seconds, rssMiB, resources };
}

/** "1.23 s (1.10-1.40)": median and spread. */
function spread(xs: number[]): string {
    return `${median(xs).toFixed(2)} s (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`;
}

async function main(): Promise<void> {
    const o = new Command().name("npm run bench --")
        .option("--runs <n>", "runs per size (median)", "5")
        .option("--sizes <list>", "dev and/or user counts; a g suffix grants through Entra groups", "dev,10,100,400,1000g")
        .option("--no-cold", "skip the dev plan with empty caches")
        .option("--baseline <dir>", "also time the dev plan of another checkout (e.g. an earlier commit, with node_modules), alternating")
        .parse(process.argv).opts<{ runs: string; sizes: string; cold: boolean; baseline?: string }>();
    const runs = Math.max(1, Number(o.runs));
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "plan-bench-"));
    const load = () => os.loadavg().map(l => l.toFixed(2)).join(" ");
    const loadAtStart = load();
    const rows: Row[] = [];
    const mods = floorModules();
    const floor: Row = { size: "import floor (loading only)", resources: 0, wall: [], rss: [] };
    for (const size of o.sizes.split(",").map(s => s.trim())) {
        let file = path.join(root, "Pulumi.dev.yaml");
        if (size !== "dev") {
            file = path.join(tmp, `Pulumi.bench-${size}.yaml`);
            fs.writeFileSync(file, generatedStack(parseInt(size, 10), size.endsWith("g")));
        }
        const label = size === "dev" ? "dev stack (2 users)"
            : size.endsWith("g") ? `${parseInt(size, 10)} users, roles to groups` : `${size} users`;
        const row: Row = { size: label, resources: 0, wall: [], rss: [] };
        const baseline: Row = { size: `dev stack, baseline ${o.baseline}`, resources: 0, wall: [], rss: [] };
        const baselineRun = () => runOnce(file, path.join(tmp, "out-baseline"), path.join(tmp, "usage-baseline.json"), path.resolve(o.baseline!));
        if (size === "dev" && o.baseline) baselineRun();
        // One run first that is not counted: it fills the caches, as any earlier plan on this checkout did.
        runOnce(file, path.join(tmp, `out-${size}`), path.join(tmp, `usage-${size}.json`));
        for (let i = 0; i < runs; i++) {
            if (size === "dev") {
                const f = floorOnce(mods, path.join(tmp, "usage-floor.json"));
                floor.wall.push(f.seconds);
                floor.rss.push(f.rssMiB);
            }
            if (size === "dev" && o.baseline) {
                const b = baselineRun();
                baseline.wall.push(b.seconds);
                baseline.rss.push(b.rssMiB);
                baseline.resources = b.resources;
            }
            const r = runOnce(file, path.join(tmp, `out-${size}`), path.join(tmp, `usage-${size}.json`));
            row.wall.push(r.seconds);
            row.rss.push(r.rssMiB);
            row.resources = r.resources;
            process.stderr.write(`  ${row.size}: run ${i + 1}/${runs} ${r.seconds.toFixed(2)} s` +
                (size === "dev" ? ` (floor ${floor.wall[floor.wall.length - 1].toFixed(2)} s)` : "") + `, load ${load()}\n`);
        }
        rows.push(row);
        if (baseline.wall.length > 0) rows.push(baseline);
        if (size === "dev" && o.cold) {
            const cold: Row = { size: "dev stack, caches emptied first", resources: 0, wall: [], rss: [] };
            for (let i = 0; i < runs; i++) {
                fs.rmSync(CACHE_DIR, { recursive: true, force: true });
                const r = runOnce(file, path.join(tmp, "out-cold"), path.join(tmp, "usage-cold.json"));
                cold.wall.push(r.seconds);
                cold.rss.push(r.rssMiB);
                cold.resources = r.resources;
                process.stderr.write(`  ${cold.size}: run ${i + 1}/${runs} ${r.seconds.toFixed(2)} s, load ${load()}\n`);
            }
            rows.push(cold);
        }
    }
    const ten = rows.find(r => r.size === "10 users");
    const dev = rows.find(r => r.size.startsWith("dev stack ("));
    const lines = [
        `| stack | resources | plan wall time, median of ${runs} (min-max) | peak RSS, median | vs 10 users | vs import floor |`,
        "|---|---:|---:|---:|---:|---:|",
        ...(floor.wall.length > 0 ? [`| ${floor.size}: ${mods.length} modules | - | ${spread(floor.wall)} | ${median(floor.rss).toFixed(0)} MiB | - | 1.00x |`] : []),
        ...rows.map(r => `| ${r.size} | ${r.resources} | ${spread(r.wall)} | ` +
            `${median(r.rss).toFixed(0)} MiB | ${ten ? `${(median(r.wall) / median(ten.wall)).toFixed(2)}x` : "-"} | ` +
            `${floor.wall.length > 0 ? `${(median(r.wall) / median(floor.wall)).toFixed(2)}x` : "-"} |`),
    ];
    console.log(lines.join("\n"));
    if (dev && floor.wall.length > 0) {
        console.log(`\nDev plan ${median(dev.wall).toFixed(2)} s against an import floor of ${median(floor.wall).toFixed(2)} s (medians of ${runs}, ` +
            `alternating): ${(median(dev.wall) / median(floor.wall)).toFixed(2)}x. Floor modules: ${mods.join(", ")}.`);
    }
    console.log(`\nnode ${process.version} ${nodeOptions().join(" ")}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ` +
        `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.platform()} ${os.release()}; load average (1, 5, 15 min) ${loadAtStart} at start, ${load()} at end; ` +
        `${new Date().toISOString()}`);
    fs.rmSync(tmp, { recursive: true, force: true });
}

if (require.main === module) {
    main().catch(e => {
        console.error(e instanceof Error ? e.message : e);
        process.exitCode = 1;
    });
}
