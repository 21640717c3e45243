// npm run plan [-- --stack NAME | --stack-file PATH] [--out DIR] [--json FILE] [--diagram-out FILE]
// The whole stack without an Azure account: resource tree, policy verdicts, rendered artefacts, diagram and
// deployment-time estimate. Exit 0 clean, 1 a mandatory policy violation (or a leaked secret), 2 invalid
// config, 3 the program failed for another reason.
import { Command, Option } from "commander";
import { EXIT, runPlan } from "./plan/run";

async function main(): Promise<number> {
    const program = new Command()
        .name("npm run plan --")
        .description("Plan a stack offline: simulate index.ts with the stack's config, judge it with the policy pack, " +
            "estimate the deployment time and write out/plan/ (plan.json, artefacts, architecture.svg).")
        .option("--stack <name>", "stack whose Pulumi.<name>.yaml to read", undefined)
        .option("--stack-file <path>", "any file in Pulumi.<stack>.yaml format")
        .option("--out <dir>", "output directory", "out/plan")
        .option("--json <file>", "also write the plan document (plan.json) to this file; - for stdout")
        .option("--diagram-out <file>", "also write the dependency graph (SVG) here, e.g. out/dependency-graph.svg; `npm run docs` writes the committed pictures under docs/")
        .option("--policy-config <file>", "policy-pack config file (e.g. policy/config.strict.json)")
        .addOption(new Option("--program <path>", "program to plan instead of index.ts (test fixtures)").hideHelp())
        .exitOverride()
        .configureOutput({ writeErr: s => process.stderr.write(s) });
    try {
        program.parse(process.argv);
    } catch (e) {
        const code = (e as { exitCode?: number }).exitCode;
        return code === 0 ? 0 : EXIT.invalidConfig;
    }
    const o = program.opts<{ stack?: string; stackFile?: string; out: string; json?: string; diagramOut?: string; policyConfig?: string; program?: string }>();
    const run = await runPlan({ ...o });
    return run.exitCode;
}

main().then(code => {
    process.exitCode = code;
}, e => {
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = EXIT.error;
});
