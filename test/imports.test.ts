// The program's module structure (issue 20 items 1 and 2): no import cycle anywhere in the program or the policy pack,
// and the configuration reached through its one entry point, components/config/index.ts.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { findCycle, importGraph, sourceFiles } from "./support/import-graph";

const ROOT = path.join(__dirname, "..");
const CONFIG_DIR = path.join(ROOT, "components", "config");
const rel = (f: string) => path.relative(ROOT, f);

describe("module structure (issue 20)", () => {
    const roots = [path.join(ROOT, "index.ts"), ...["components", "scripts", "policy"].flatMap(d => sourceFiles(path.join(ROOT, d)))];
    const graph = importGraph(roots);

    it("reads the imports it must see: index.ts -> components/config, export-from, require()", () => {
        const deps = (f: string) => (graph.get(path.join(ROOT, f)) ?? []).map(rel);
        assert.ok(deps("index.ts").includes("components/config/index.ts"), deps("index.ts").join(", "));
        assert.ok(deps("components/readiness/invocation.ts").includes("components/config/index.ts"), "export { } from");
        assert.ok(deps("scripts/plan/secrets.ts").includes("components/config/index.ts"), "require()");
        assert.ok(deps("components/config/index.ts").includes("components/config/load.ts"));
        assert.ok(graph.size > 60, `only ${graph.size} files reached`);
    });

    it("finds a cycle when there is one (the check can fail)", () => {
        assert.deepStrictEqual(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]])), ["a", "b", "c", "a"]);
        assert.deepStrictEqual(findCycle(new Map([["a", ["a"]]])), ["a", "a"]);
        assert.strictEqual(findCycle(new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]])), undefined);
    });

    it("has no import cycle in the program (index.ts, components/, scripts/) or the policy pack", () => {
        const cycle = findCycle(graph);
        assert.strictEqual(cycle, undefined, `import cycle: ${(cycle ?? []).map(rel).join(" -> ")}`);
    });

    it("imports the configuration only through components/config/index.ts from outside the folder", () => {
        const tests = sourceFiles(path.join(ROOT, "test"));
        const outside = [...new Map([...importGraph(tests), ...graph]).entries()]
            .filter(([f]) => !f.startsWith(CONFIG_DIR + path.sep))
            .flatMap(([f, deps]) => deps.filter(d => d.startsWith(CONFIG_DIR + path.sep) && path.basename(d) !== "index.ts")
                .map(d => `${rel(f)} -> ${rel(d)}`));
        assert.deepStrictEqual(outside, []);
    });

    it("keeps each configuration file small enough to read in one sitting (< 300 lines)", () => {
        const files = fs.readdirSync(CONFIG_DIR).filter(f => f.endsWith(".ts"));
        assert.ok(files.length >= 10, files.join(", "));
        for (const f of files) {
            const lines = fs.readFileSync(path.join(CONFIG_DIR, f), "utf8").split("\n").length;
            assert.ok(lines < 300, `components/config/${f}: ${lines} lines`);
        }
    });
});
