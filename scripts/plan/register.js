// Preloaded by `npm run plan`, `npm run bench` and `npm run diagram` (node -r ./scripts/plan/register.js):
// runs the project's TypeScript files as ts-node's transpile-only mode does (TypeScript's own transpileModule
// with tsconfig.json's compilerOptions, no type check; `npm run lint` type-checks), and keeps each transpiled
// file in node_modules/.cache/cyclecloud-slurm-entra-plan/ts/, keyed by a hash of the source, tsconfig.json, the TypeScript
// version and this file. A run whose files are all cached never loads the TypeScript compiler: that was
// two thirds of the plan's time (BENCHMARKS.md). Runs on the developer's or CI's machine; writes only that
// cache directory. Files under node_modules are not ours and are left to Node.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..", "..");
const cacheDir = path.join(root, "node_modules", ".cache", "cyclecloud-slurm-entra-plan", "ts");
const tsconfigPath = path.join(root, "tsconfig.json");

let ts;
let compilerOptions;
let keyPrefix;

/** What every cache key starts with: changes of the compiler, its options or this hook invalidate the cache. */
function prefix() {
    if (keyPrefix === undefined) {
        const tsVersion = JSON.parse(fs.readFileSync(require.resolve("typescript/package.json"), "utf8")).version;
        keyPrefix = [fs.readFileSync(__filename, "utf8"), tsVersion, fs.readFileSync(tsconfigPath, "utf8")].join("\0");
    }
    return keyPrefix;
}

function transpile(source, filename) {
    if (ts === undefined) {
        ts = require("typescript");
        const raw = ts.readConfigFile(tsconfigPath, ts.sys.readFile);
        if (raw.error) throw new Error(`${tsconfigPath}: ${ts.flattenDiagnosticMessageText(raw.error.messageText, "\n")}`);
        compilerOptions = ts.convertCompilerOptionsFromJson(raw.config.compilerOptions ?? {}, root).options;
    }
    const out = ts.transpileModule(source, { compilerOptions, fileName: filename, reportDiagnostics: true });
    const errors = (out.diagnostics ?? []).filter(d => d.category === ts.DiagnosticCategory.Error);
    if (errors.length > 0) {
        throw new SyntaxError(`${filename}: ${ts.flattenDiagnosticMessageText(errors[0].messageText, "\n")}`);
    }
    return out.outputText;
}

function compiled(source, filename) {
    const key = crypto.createHash("sha256").update(prefix()).update("\0").update(source).digest("hex");
    const file = path.join(cacheDir, `${key}.js`);
    try {
        return fs.readFileSync(file, "utf8");
    } catch {
        // not cached yet
    }
    const js = transpile(source, filename);
    try {
        fs.mkdirSync(cacheDir, { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, js);
        fs.renameSync(tmp, file);
    } catch {
        // a read-only checkout still runs, only without the cache
    }
    return js;
}

const nodeModules = `${path.sep}node_modules${path.sep}`;
require.extensions[".ts"] = function (module, filename) {
    if (filename.includes(nodeModules)) throw new Error(`${filename}: TypeScript under node_modules is not loaded by the plan`);
    module._compile(compiled(fs.readFileSync(filename, "utf8"), filename), filename);
};
