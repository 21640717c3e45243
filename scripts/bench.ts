// npm run bench [-- --runs N --sizes dev,10,100,400,1000g]
// Wall time and peak memory of `npm run plan` for the dev stack and for generated stacks of 10, 100 and 400
// users (per-user roles) and 1000 users (roles through Entra groups, which the config requires above 500 users):
// each run is a fresh child process (module loading included, as a user sees it), median of N.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { Command } from "commander";
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

function runOnce(stackFile: string, outDir: string, usageFile: string): { seconds: number; rssMiB: number; resources: number } {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-r", "./scripts/plan/usage.ts",
        "scripts/plan.ts", "--stack-file", stackFile, "--out", outDir], {
        cwd: root, encoding: "utf8", env: { ...process.env, PLAN_USAGE_FILE: usageFile }, maxBuffer: 64 * 1024 * 1024,
    });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`plan of ${stackFile} exited ${r.status}:\n${r.stderr}${r.stdout.slice(-2000)}`);
    const rssMiB = JSON.parse(fs.readFileSync(usageFile, "utf8")).maxRssKiB / 1024;
    const resources = JSON.parse(fs.readFileSync(path.join(outDir, "plan.json"), "utf8")).resources.length;
    return { seconds, rssMiB, resources };
}

async function main(): Promise<void> {
    const o = new Command().name("npm run bench --")
        .option("--runs <n>", "runs per size (median)", "5")
        .option("--sizes <list>", "dev and/or user counts; a g suffix grants through Entra groups", "dev,10,100,400,1000g")
        .parse(process.argv).opts<{ runs: string; sizes: string }>();
    const runs = Math.max(1, Number(o.runs));
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "plan-bench-"));
    const rows: Row[] = [];
    for (const size of o.sizes.split(",").map(s => s.trim())) {
        let file = path.join(root, "Pulumi.dev.yaml");
        if (size !== "dev") {
            file = path.join(tmp, `Pulumi.bench-${size}.yaml`);
            fs.writeFileSync(file, generatedStack(parseInt(size, 10), size.endsWith("g")));
        }
        const label = size === "dev" ? "dev stack (2 users)"
            : size.endsWith("g") ? `${parseInt(size, 10)} users, roles to groups` : `${size} users`;
        const row: Row = { size: label, resources: 0, wall: [], rss: [] };
        for (let i = 0; i < runs; i++) {
            const r = runOnce(file, path.join(tmp, `out-${size}`), path.join(tmp, `usage-${size}.json`));
            row.wall.push(r.seconds);
            row.rss.push(r.rssMiB);
            row.resources = r.resources;
            process.stderr.write(`  ${row.size}: run ${i + 1}/${runs} ${r.seconds.toFixed(2)} s\n`);
        }
        rows.push(row);
    }
    const ten = rows.find(r => r.size === "10 users");
    const lines = [
        `| stack | resources | plan wall time, median of ${runs} (min-max) | peak RSS, median | vs 10 users |`,
        "|---|---:|---:|---:|---:|",
        ...rows.map(r => `| ${r.size} | ${r.resources} | ${median(r.wall).toFixed(2)} s (${Math.min(...r.wall).toFixed(2)}-${Math.max(...r.wall).toFixed(2)}) | ` +
            `${median(r.rss).toFixed(0)} MiB | ${ten ? `${(median(r.wall) / median(ten.wall)).toFixed(2)}x` : "-"} |`),
    ];
    console.log(lines.join("\n"));
    console.log(`\nnode ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.platform()} ${os.release()}`);
    fs.rmSync(tmp, { recursive: true, force: true });
}

if (require.main === module) {
    main().catch(e => {
        console.error(e instanceof Error ? e.message : e);
        process.exitCode = 1;
    });
}
