// npm run docs [-- --check]
// Runs on a developer machine or CI; changes README.md's generated blocks and docs/*-dev.svg (nothing with --check).
// Regenerates what the README shows that the plan can produce, from a real plan of the dev stack, so none of it
// can go stale: the sample output of `npm run plan` (resource count, policies, critical path, result), the
// architecture view (scripts/plan/architecture.ts) and the dependency graph with its critical path
// (scripts/plan/diagram.ts). `--check` writes nothing and exits 1 naming every file that differs from what the
// plan gives now (test/docs.test.ts runs it). Exit 3 when the plan itself fails.
import * as fs from "fs";
import * as path from "path";
import { architectureDot, architectureView } from "./plan/architecture";
import { renderSvg, toDot } from "./plan/diagram";
import { Estimate, estimate } from "./plan/estimate";
import { PlanModel, buildModel } from "./plan/model";
import { PROJECT, runPlan } from "./plan/run";
import YAML from "yaml";
import { ConfigError, parseSettings } from "../components/config";

export const ROOT = path.resolve(__dirname, "..");
export const README = path.join(ROOT, "README.md");
export const ARCHITECTURE_SVG = path.join(ROOT, "docs", "architecture-dev.svg");
export const DEPENDENCY_SVG = path.join(ROOT, "docs", "dependency-graph-dev.svg");

export interface Generated {
    file: string;
    content: string;
}

const begin = (name: string) => `<!-- BEGIN generated:${name} (npm run docs; test/docs.test.ts fails when stale) -->`;
const end = (name: string) => `<!-- END generated:${name} -->`;

/** `text` with the block `name` replaced by `content`; throws when the markers are missing or doubled. */
export function replaceBlock(text: string, name: string, content: string): string {
    const b = begin(name), e = end(name);
    const i = text.indexOf(b), j = text.indexOf(e);
    if (i < 0 || j < i || text.indexOf(b, i + 1) >= 0) throw new Error(`README.md: no single generated block "${name}" (${b} ... ${e})`);
    return text.slice(0, i + b.length) + "\n" + content.replace(/\n?$/, "\n") + text.slice(j);
}

/** The lines of the plan's printed summary the README shows: counts, policies, critical path, result. */
export function planSample(lines: string[]): string {
    const find = (re: RegExp) => {
        const i = lines.findIndex(l => re.test(l));
        if (i < 0) throw new Error(`npm run plan printed no line matching ${re}; update scripts/docs.ts`);
        return i;
    };
    const out: string[] = ["$ npm run plan"];
    const res = find(/^Resources: \d+ to create/);
    out.push(lines[res], ...lines.slice(res + 1, res + 4), "  …");
    out.push(lines[find(/^Policies \(\d+ in the pack\)/)], "  …");
    const time = find(/^Deployment time \(estimate\): /);
    out.push(lines[time]);
    for (let i = time + 1; i < lines.length && /^ {2}(done at|\d|\s+\()/.test(lines[i]); i++) out.push(lines[i]);
    out.push("  …", lines[find(/^Result: /)]);
    return ["```", ...out, "```"].join("\n");
}

export interface DevPlan {
    /** What `npm run plan` printed. */
    printed: string[];
    model: PlanModel;
    est: Estimate;
}

/** The dev stack's plan, as `npm run plan` makes it (nothing written). */
export async function planDev(): Promise<DevPlan> {
    const printed: string[] = [];
    const run = await runPlan({ stack: "dev", noWrite: true, print: l => printed.push(l), printError: l => printed.push(l) });
    if (run.exitCode !== 0 || !run.sim) throw new Error(`the dev stack's plan failed (exit ${run.exitCode}):\n${printed.join("\n")}`);
    const model = buildModel(run.sim);
    return { printed, model, est: estimate(model) };
}

/**
 * What `pulumi up` prints for a bad config (README "Deploy"): the dev stack's config with two bad values, through
 * the program's own validation (components/config/), which the plan runs too.
 */
export function invalidConfigSample(): string {
    const doc = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> };
    const input: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(doc.config)) if (k.startsWith(`${PROJECT}:`)) input[k.slice(PROJECT.length + 1)] = v;
    Object.assign(input, { nfsQuotaGiB: "50", bastionSku: "Basic" });
    try {
        parseSettings(input, "dev");
    } catch (e) {
        if (e instanceof ConfigError) return ["```", "$ pulumi up --policy-pack policy", "...", `error: ${e.message}`, "```"].join("\n");
        throw e;
    }
    throw new Error("the program accepted nfsQuotaGiB 50 and bastionSku Basic; update scripts/docs.ts");
}

export async function generateDocs(dev?: DevPlan): Promise<Generated[]> {
    const { printed, model, est } = dev ?? await planDev();
    const dependency = await renderSvg(toDot(model, est, { title: `${PROJECT} — stack dev: dependency graph, critical path in red (simulated plan)` }));
    const view = architectureView(model.resources);
    const architecture = await renderSvg(architectureDot(view, `${PROJECT} — stack dev: who reaches what (from the simulated plan)`));
    const readme = replaceBlock(replaceBlock(fs.readFileSync(README, "utf8"), "plan-sample", planSample(printed)),
        "invalid-config", invalidConfigSample());
    return [
        { file: README, content: readme },
        { file: ARCHITECTURE_SVG, content: architecture },
        { file: DEPENDENCY_SVG, content: dependency },
    ];
}

/** Files whose content on disk differs from `generated` (relative paths). */
export function staleFiles(generated: Generated[]): string[] {
    return generated.filter(g => !fs.existsSync(g.file) || fs.readFileSync(g.file, "utf8") !== g.content).map(g => path.relative(ROOT, g.file));
}

async function main(): Promise<number> {
    const check = process.argv.includes("--check");
    let generated: Generated[];
    try {
        generated = await generateDocs();
    } catch (e) {
        console.error(`docs: ${(e as Error).message}`);
        return 3;
    }
    const stale = staleFiles(generated);
    if (check) {
        if (stale.length === 0) {
            console.log(`docs: up to date (${generated.map(g => path.relative(ROOT, g.file)).join(", ")})`);
            return 0;
        }
        console.error(`docs: stale, run \`npm run docs\`: ${stale.join(", ")}`);
        return 1;
    }
    for (const g of generated) if (stale.includes(path.relative(ROOT, g.file))) fs.writeFileSync(g.file, g.content);
    console.log(stale.length ? `docs: wrote ${stale.join(", ")}` : "docs: nothing to change");
    return 0;
}

if (require.main === module) {
    main().then(code => { process.exitCode = code; }, e => {
        console.error(`docs: ${e instanceof Error ? e.message : String(e)}`);
        process.exitCode = 3;
    });
}
