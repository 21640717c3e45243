// `npm run plan` without the command line: simulate the program for a stack, judge it with the policy pack,
// estimate the deployment time, render the artefacts and the diagram, print the summary, write out/plan/.
// Everything printed or written passes through the secret scrubber.
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import { readStackFile, simulate, SimResult } from "../simulate";
import { Artefact, extractArtefacts } from "./artefacts";
import { renderSvg, toDot } from "./diagram";
import { Estimate, TYPICAL_DURATIONS, NAME_RULES, UNKNOWN_TYPE, durationOf, estimate, formatSeconds } from "./estimate";
import { PlanModel, buildModel, displayType, unwrapSecrets } from "./model";
import { PolicyReport, evaluate } from "./policies";
import { Leak, Scrubber, declaredSecretKeys, simulatedSecrets } from "./secrets";
import { countsByType, renderTree, secretInputs, table } from "./tree";

export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
export const PROJECT = "cyclecloud-slurm-entra";

export const EXIT = { ok: 0, mandatory: 1, invalidConfig: 2, error: 3 } as const;

export interface PlanOptions {
    /** Stack name (default dev, or the <name> of a Pulumi.<name>.yaml --stack-file). */
    stack?: string;
    /** Any file in Pulumi.<stack>.yaml format (default Pulumi.<stack>.yaml in the project). */
    stackFile?: string;
    /** Output directory (default out/plan). */
    out?: string;
    /** Also write the plan document here ("-" for stdout). */
    json?: string;
    /** Also write the dependency graph (SVG) here (e.g. out/dependency-graph.svg; docs/ is written by scripts/docs.ts). */
    diagramOut?: string;
    /** A program other than index.ts (test fixtures). */
    program?: string;
    /** A policy-pack config file (policy/config.strict.json, ...). */
    policyConfig?: string;
    /** Where printed lines go (default console.log); errors go to `printError`. */
    print?: (line: string) => void;
    printError?: (line: string) => void;
    /** Skip writing files (benchmarks of the evaluation alone). */
    noWrite?: boolean;
}

export interface PlanDocument {
    project: string;
    stack: string;
    stackFile: string;
    generatedBy: string;
    simulatedSecrets: string[];
    resources: PlanModel["resources"];
    countsByType: { type: string; count: number }[];
    policies: PolicyReport;
    secretLeaks: Leak[];
    estimate: {
        totalSeconds: number;
        criticalPath: Estimate["criticalPath"];
        components: { name: string; type: string; finishAt: number }[];
        durations: Record<string, { seconds: number; source: string }>;
    };
    stackOutputs: Record<string, unknown>;
    artefacts: { path: string; what: string; urn?: string }[];
}

export interface PlanRun {
    exitCode: number;
    document?: PlanDocument;
    /** Files written, relative to the project root when inside it. */
    files: string[];
    /** The secret values the program was given (for tests that check nothing leaks). */
    secretValues: string[];
    sim?: SimResult;
}

function rel(p: string): string {
    const r = path.relative(PROJECT_ROOT, p);
    return r.startsWith("..") ? p : r;
}

/** Resolves the stack name and file as the CLI documents it. */
export function resolveStack(opts: Pick<PlanOptions, "stack" | "stackFile">): { stack: string; file: string } {
    if (opts.stackFile) {
        const file = path.resolve(opts.stackFile);
        const m = /^Pulumi\.(.+)\.ya?ml$/.exec(path.basename(file));
        return { stack: opts.stack ?? m?.[1] ?? "plan", file };
    }
    const stack = opts.stack ?? "dev";
    return { stack, file: path.join(PROJECT_ROOT, `Pulumi.${stack}.yaml`) };
}

/** The encrypted `secure:` strings of a stack file (never placed in config, but scrubbed all the same). */
function secureCiphertexts(file: string): string[] {
    try {
        const doc = YAML.parse(fs.readFileSync(file, "utf8")) ?? {};
        return Object.values((doc.config ?? {}) as Record<string, unknown>)
            .map(v => (v && typeof v === "object" && "secure" in (v as object) ? String((v as { secure: unknown }).secure) : ""))
            .filter(s => s.length > 0);
    } catch {
        return [];
    }
}

export async function runPlan(opts: PlanOptions = {}): Promise<PlanRun> {
    const print = opts.print ?? ((l: string) => console.log(l));
    const printError = opts.printError ?? ((l: string) => console.error(l));
    const { stack, file } = resolveStack(opts);
    const outDir = path.resolve(opts.out ?? path.join(PROJECT_ROOT, "out", "plan"));

    if (!opts.noWrite) {
        const refusal = outDirRefusal(outDir);
        if (refusal) {
            printError(`error: ${refusal}`);
            return { exitCode: EXIT.invalidConfig, files: [], secretValues: [] };
        }
    }
    if (!fs.existsSync(file)) {
        printError(`error: stack file ${rel(file)} not found (--stack NAME reads Pulumi.NAME.yaml; --stack-file PATH reads any file)`);
        return { exitCode: EXIT.invalidConfig, files: [], secretValues: [] };
    }
    let read: ReturnType<typeof readStackFile>;
    try {
        read = readStackFile(file);
    } catch (e) {
        printError(`error: ${rel(file)} is not a Pulumi stack file: ${(e as Error).message.split("\n")[0]}`);
        return { exitCode: EXIT.invalidConfig, files: [], secretValues: [] };
    }
    const sims = simulatedSecrets(stack, read.config, read.secretKeys);
    const config = { ...read.config, ...sims.config };
    const secretKeys = sims.secretKeys;
    const bare = (k: string) => k.replace(/^[^:]+:/, "");
    const secretValues: Record<string, string> = {};
    for (const [k, v] of Object.entries(config)) {
        if (secretKeys.some(s => bare(s) === bare(k)) || declaredSecretKeys().some(d => d.key === bare(k))) secretValues[bare(k)] = typeof v === "string" ? v : JSON.stringify(v);
    }
    secureCiphertexts(file).forEach((c, i) => { secretValues[`ciphertext#${i + 1}`] = c; });
    const scrubber = new Scrubber(secretValues);
    const out = (l: string) => print(scrubber.scrub(l));
    const err = (l: string) => printError(scrubber.scrub(l));
    const values = Object.values(secretValues);

    // The SDK takes a stack trace for every promise and resource it makes (debuggable.js, Resource.callsites);
    // ts-node's source-map-support would map each one through the source maps, which costs ~20 ms a resource.
    // The plan needs none of those traces (they are kept on every promise, so they also cost memory): no mapping
    // and no frames while the program runs. Resource.callsites() raises the limit itself for source positions.
    const errorClass = Error as { prepareStackTrace?: unknown; stackTraceLimit: number };
    const { prepareStackTrace, stackTraceLimit } = errorClass;
    errorClass.prepareStackTrace = undefined;
    errorClass.stackTraceLimit = 0;
    const pending = simulate({ stack, config, secretKeys, secretStandIns: sims.standIns, program: opts.program ? path.resolve(opts.program) : undefined });
    const sim = await pending.finally(() => Object.assign(errorClass, { prepareStackTrace, stackTraceLimit }));
    const profile = process.env.PLAN_PROFILE ? (what: string) => process.stderr.write(`[profile] ${what} ${Math.round(performance.now())} ms\n`) : () => undefined;
    profile("simulated");
    if (sim.error) {
        const problems = (sim.error as { problems?: unknown }).problems;
        if (Array.isArray(problems)) {
            err(`Invalid stack configuration in ${rel(file)} (stack ${stack}); nothing was planned:`);
            for (const p of problems) err(`  - ${String(p)}`);
            err(`Fix the keys above (pulumi config set <key> <value> --stack ${stack}) and run the plan again.`);
            return { exitCode: EXIT.invalidConfig, files: [], secretValues: values, sim };
        }
        err(`error: the program failed under the simulated engine: ${sim.error.message}`);
        return { exitCode: EXIT.error, files: [], secretValues: values, sim };
    }

    let policyConfig: Record<string, unknown> = {};
    if (opts.policyConfig) policyConfig = JSON.parse(fs.readFileSync(opts.policyConfig, "utf8"));
    const model = buildModel(sim);
    profile("model");
    const report = evaluate(sim, policyConfig);
    profile("policies");
    const est = estimate(model);
    profile("estimate");
    const artefacts = extractArtefacts(model, sim.stackOutputs,
        new Map(sim.resources.map(r => [r.urn, unwrapSecrets(r.inputs) as Record<string, unknown>])));
    const dot = toDot(model, est, { title: `${PROJECT} — stack ${stack} (simulated plan)` });
    profile("artefacts+dot");
    const svg = await renderSvg(dot);
    profile("svg");

    // A secret value in a plain input or output would be in Pulumi's state in plain text: that fails the plan.
    const leaks: Leak[] = [];
    for (const r of model.resources) scrubber.check(JSON.stringify(r.inputs), `${r.name} inputs`, leaks);
    for (const [k, v] of Object.entries(sim.stackOutputs)) scrubber.check(JSON.stringify(v ?? null), `stack output ${k}`, leaks);
    // The artefacts show inputs decoded (gzip-compressed custom data inflated), where the inputs' text cannot show it.
    for (const a of artefacts) if (a.urn) scrubber.check(a.content, `${a.what} (decoded)`, leaks);

    profile("leak check");
    const document: PlanDocument = {
        project: PROJECT,
        stack,
        stackFile: rel(file),
        generatedBy: "npm run plan (simulated engine: Pulumi mocks with simulated Azure outputs; no Azure, no Pulumi CLI)",
        simulatedSecrets: sims.notes,
        resources: model.resources,
        countsByType: countsByType(model),
        policies: report,
        secretLeaks: leaks,
        estimate: {
            totalSeconds: est.totalSeconds,
            criticalPath: est.criticalPath,
            components: est.components.map(c => ({ name: c.name, type: c.type, finishAt: c.finishAt })),
            durations: Object.fromEntries([...new Set(model.resources.filter(r => r.custom).map(r => r.type))]
                .map(t => [t, TYPICAL_DURATIONS[t] ?? UNKNOWN_TYPE])),
        },
        stackOutputs: sim.stackOutputs,
        artefacts: artefacts.map(a => ({ path: a.path, what: a.what, ...(a.urn ? { urn: a.urn } : {}) })),
    };

    printSummary(out, { stack, file, model, report, est, sims: sims.notes, leaks, stackOutputs: sim.stackOutputs });

    const files: string[] = [];
    if (!opts.noWrite) {
        const write = (p: string, content: string) => {
            fs.mkdirSync(path.dirname(p), { recursive: true });
            fs.writeFileSync(p, scrubber.scrub(content));
            files.push(rel(p));
        };
        const owned: [string, string][] = [
            ["plan.json", JSON.stringify(document, null, 2) + "\n"],
            ...(artefacts as Artefact[]).map((a): [string, string] => [a.path, a.content]),
            ["architecture.dot", dot],
            ["architecture.svg", svg],
        ];
        new OutDir(outDir).replace(owned.map(([p, c]) => [p, scrubber.scrub(c)]));
        files.push(...owned.map(([p]) => rel(path.join(outDir, p))));
        if (opts.diagramOut) write(path.resolve(opts.diagramOut), svg);
        if (opts.json && opts.json !== "-") write(path.resolve(opts.json), JSON.stringify(document, null, 2) + "\n");
        out("");
        out(`Wrote ${rel(outDir)}/: plan.json, architecture.svg (+ .dot), ${artefacts.length} artefacts:`);
        for (const a of artefacts) out(`  ${a.path.padEnd(48)} ${a.what}`);
        if (opts.diagramOut) out(`Diagram also written to ${rel(path.resolve(opts.diagramOut))}`);
    }
    profile("written");
    if (opts.json === "-") print(scrubber.scrub(JSON.stringify(document, null, 2)));

    const failed = report.mandatory > 0 || leaks.length > 0;
    out("");
    out(failed
        ? `Result: FAIL — ${report.mandatory} mandatory policy violation(s)${leaks.length ? `, ${leaks.length} secret leak(s)` : ""} (exit 1)`
        : `Result: OK — no mandatory policy violations, ${report.advisory} advisory (exit 0)`);
    return { exitCode: failed ? EXIT.mandatory : EXIT.ok, document, files, secretValues: values, sim };
}

// ---- the output directory: the plan writes and removes only its own files -----------------------------

/** Lists what the last plan wrote in its output directory; the only files a later plan removes. */
export const MANIFEST = ".plan-manifest.json";

interface Manifest {
    generatedBy: "npm run plan";
    files: string[];
}

function readManifest(dir: string): Manifest | undefined {
    const p = path.join(dir, MANIFEST);
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st?.isFile()) return undefined;
    try {
        const m = JSON.parse(fs.readFileSync(p, "utf8")) as Manifest;
        return m && m.generatedBy === "npm run plan" && Array.isArray(m.files) && m.files.every(f => typeof f === "string") ? m : undefined;
    } catch {
        return undefined;
    }
}

/** Why the plan must not write into `dir` (undefined: it may). */
export function outDirRefusal(dir: string): string | undefined {
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (!st) return undefined;
    if (!st.isDirectory()) return `--out ${rel(dir)} exists and is not a directory; choose another output directory`;
    if (fs.readdirSync(dir).length === 0 || readManifest(dir)) return undefined;
    return `--out ${rel(dir)} is not empty and holds no ${MANIFEST}, so an earlier plan did not write it; ` +
        "the plan writes only into an empty or new directory, or one it wrote before (remove the directory or choose another)";
}

/** A relative path that stays inside the directory (no absolute path, no `..`, no empty part). */
function containedPath(relPath: string): boolean {
    const parts = relPath.split(/[\\/]/);
    return !path.isAbsolute(relPath) && parts.every(p => p !== "" && p !== "." && p !== "..");
}

class OutDir {
    constructor(private readonly dir: string) {}

    /** Removes the files the previous plan listed (each a plain file or a link, never followed), then empty parents. */
    removePrevious(): void {
        const previous = readManifest(this.dir);
        if (!previous) return;
        const parents = new Set<string>();
        for (const f of previous.files.filter(containedPath)) {
            const p = path.join(this.dir, f);
            const st = fs.lstatSync(p, { throwIfNoEntry: false });
            if (st && (st.isFile() || st.isSymbolicLink())) fs.unlinkSync(p);
            for (let d = path.dirname(p); d.length > this.dir.length && d.startsWith(this.dir + path.sep); d = path.dirname(d)) parents.add(d);
        }
        // Deepest first; a directory that still holds anything (not ours) stays.
        for (const d of [...parents].sort((a, b) => b.length - a.length)) {
            try { fs.rmdirSync(d); } catch { /* not empty or gone: leave it */ }
        }
        fs.unlinkSync(path.join(this.dir, MANIFEST));
    }

    /**
     * Replaces the previous plan's files with these. The manifest is written before the files, so a run that
     * stops half-way still lists everything it may have written.
     */
    replace(entries: [string, string][]): void {
        const bad = entries.find(([p]) => !containedPath(p));
        if (bad) throw new Error(`plan: refusing to write ${bad[0]} outside ${rel(this.dir)}`);
        this.removePrevious();
        fs.mkdirSync(this.dir, { recursive: true });
        const m: Manifest = { generatedBy: "npm run plan", files: entries.map(([p]) => p) };
        fs.writeFileSync(path.join(this.dir, MANIFEST), JSON.stringify(m, null, 1) + "\n", { flag: "wx" });
        for (const [p, c] of entries) this.write(p, c);
    }

    /** Writes a new file; refuses to replace anything (what is there now is not ours) or to leave the directory. */
    private write(relPath: string, content: string): void {
        if (!containedPath(relPath)) throw new Error(`plan: refusing to write ${relPath} outside ${rel(this.dir)}`);
        const p = path.join(this.dir, relPath);
        fs.mkdirSync(path.dirname(p), { recursive: true });
        const real = fs.realpathSync(path.dirname(p));
        const root = fs.realpathSync(this.dir);
        if (real !== root && !real.startsWith(root + path.sep)) throw new Error(`plan: ${rel(path.dirname(p))} leads outside ${rel(this.dir)}`);
        fs.writeFileSync(p, content, { flag: "wx" });
    }
}

interface SummaryInput {
    stack: string;
    file: string;
    model: PlanModel;
    report: PolicyReport;
    est: Estimate;
    sims: string[];
    leaks: Leak[];
    stackOutputs: Record<string, unknown>;
}

function printSummary(out: (l: string) => void, s: SummaryInput): void {
    const { model, report, est } = s;
    const customs = model.resources.filter(r => r.custom).length;
    const components = model.resources.length - customs;
    out(`Plan: stack ${s.stack} (${rel(s.file)}), project ${PROJECT} — simulated engine, no Azure, no Pulumi CLI`);
    if (s.sims.length > 0) out(`Simulated secrets (values never shown): ${s.sims.join("; ")}`);
    out("");
    out(`Resources: ${customs} to create, in ${components} component${components === 1 ? "" : "s"}`);
    renderTree(model).forEach(l => out(`  ${l}`));
    out("");
    out("Counts by type:");
    table(countsByType(model).map(c => [String(c.count), displayType(c.type)])).forEach(out);

    out("");
    const pass = report.verdicts.filter(v => v.verdict === "pass").length;
    out(`Policies (${report.verdicts.length} in the pack): ${pass} pass, ` +
        `${report.verdicts.filter(v => v.verdict === "advisory").length} advisory, ` +
        `${report.verdicts.filter(v => v.verdict === "mandatory").length} mandatory failing`);
    const mark = { pass: "PASS", advisory: "WARN", mandatory: "FAIL", disabled: "OFF " } as const;
    for (const v of report.verdicts) {
        out(`  ${mark[v.verdict]}  ${v.policy} (${v.enforcementLevel})`);
        for (const x of v.violations) {
            const r = x.urn ? model.byUrn.get(x.urn) : undefined;
            out(`          ${r ? `${r.name} (${displayType(r.type)})` : "stack"}: ${x.message}`);
        }
    }
    if (s.leaks.length > 0) {
        out(`  FAIL  plan: secrets stay secret — a secret config value appears in plain text in:`);
        for (const l of s.leaks) out(`          ${l.where} (${l.key}); pass it as a Pulumi secret (config.requireSecret / pulumi.secret)`);
    }

    out("");
    const secrets = secretInputs(model);
    out(`Secrets: ${secrets.length} input${secrets.length === 1 ? " is a secret" : "s are secrets"}, shown as [secret]`);
    secrets.slice(0, 20).forEach(p => out(`  ${p} = [secret]`));
    if (secrets.length > 20) out(`  … and ${secrets.length - 20} more (plan.json)`);

    out("");
    out("Stack outputs:");
    for (const [k, v] of Object.entries(s.stackOutputs)) out(`  ${k} = ${typeof v === "string" ? v : JSON.stringify(v)}`);

    out("");
    out(`Deployment time (estimate): ${formatSeconds(est.totalSeconds)} — critical path:`);
    table([["done at", "takes", "resource", "type"], ...est.criticalPath.flatMap(p => [
        [formatSeconds(p.finishAt), `+${formatSeconds(p.seconds)}`, p.name, displayType(p.type)],
        ...(p.parts && p.parts.length > 1 ? p.parts.map(x => ["", `(${formatSeconds(x.seconds)})`, `  ${x.label}`, ""]) : []),
    ])]).forEach(out);
    for (const p of est.criticalPath.filter(x => x.parts)) out(`  ${p.name}: ${p.source}`);
    out("  Ready after (slowest resource of each top-level component):");
    table(est.components.map(c => [formatSeconds(c.finishAt), c.name, c.path.filter(p => p.seconds >= 60).map(p => p.name).join(" → ") || "-"]), "    ")
        .forEach(out);
    const cited = est.criticalPath.map(p => model.byUrn.get(p.urn)!).filter(r => !durationOf(r).source.startsWith("estimate"));
    for (const r of new Set(cited)) out(`  Source for ${displayType(r.type)}: ${durationOf(r).source}`);
    out(`  Other figures are estimates (scripts/plan/estimate.ts: ${Object.keys(TYPICAL_DURATIONS).length} types, ${NAME_RULES.length} name rules).`);
}
