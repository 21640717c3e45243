// The program's own import graph (relative imports between its .ts/.js files), read with TypeScript's own
// pre-processor: `import`, `export ... from`, `import x = require()` and `require("...")` calls, type-only imports too.
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

/** Every .ts/.js file under `dir` (recursively), node_modules and dot directories left out. */
export function sourceFiles(dir: string): string[] {
    const out: string[] = [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
        const abs = path.join(dir, entry.name);
        if (entry.isDirectory()) out.push(...sourceFiles(abs));
        else if (/\.(ts|js)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) out.push(abs);
    }
    return out;
}

/** The file a relative specifier names, as Node and ts-node resolve it (x.ts, x.js, x/index.ts); undefined if none. */
function resolve(from: string, spec: string): string | undefined {
    const base = path.resolve(path.dirname(from), spec);
    return [base, `${base}.ts`, `${base}.js`, path.join(base, "index.ts"), path.join(base, "index.js")]
        .find(f => fs.existsSync(f) && fs.statSync(f).isFile());
}

/** The relative imports of each file reachable from `roots` (absolute paths), following them wherever they lead. */
export function importGraph(roots: string[]): Map<string, string[]> {
    const graph = new Map<string, string[]>();
    const todo = [...roots];
    while (todo.length > 0) {
        const file = todo.pop()!;
        if (graph.has(file)) continue;
        const info = ts.preProcessFile(fs.readFileSync(file, "utf8"), true, true);
        const deps: string[] = [];
        for (const ref of info.importedFiles) {
            if (!ref.fileName.startsWith(".")) continue;
            const target = resolve(file, ref.fileName);
            if (target === undefined) throw new Error(`${file}: cannot resolve ${ref.fileName}`);
            deps.push(target);
            todo.push(target);
        }
        graph.set(file, deps);
    }
    return graph;
}

/** The first import cycle found (a list that starts and ends with the same file), or undefined when there is none. */
export function findCycle(graph: Map<string, string[]>): string[] | undefined {
    const done = new Set<string>();
    const visit = (node: string, trail: string[]): string[] | undefined => {
        const at = trail.indexOf(node);
        if (at >= 0) return [...trail.slice(at), node];
        if (done.has(node)) return undefined;
        for (const dep of graph.get(node) ?? []) {
            const cycle = visit(dep, [...trail, node]);
            if (cycle) return cycle;
        }
        done.add(node);
        return undefined;
    };
    for (const node of graph.keys()) {
        const cycle = visit(node, []);
        if (cycle) return cycle;
    }
    return undefined;
}
