// A content-addressed cache for work the plan would otherwise repeat on every run with the same input (the
// Graphviz rendering of an unchanged diagram), in node_modules/.cache/cyclecloud-slurm-entra-plan/ beside the
// transpiled files of scripts/plan/register.js. An entry is named by a hash of everything its content depends
// on, so a hit is exactly what the work would produce; a missing or unwritable cache only costs the work.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

export const CACHE_DIR = path.resolve(__dirname, "..", "..", "node_modules", ".cache", "cyclecloud-slurm-entra-plan");

/** The cached result for `inputs` in `kind`, else `compute()` (then stored). */
export async function cached(kind: string, inputs: string[], compute: () => Promise<string>): Promise<string> {
    const hash = crypto.createHash("sha256");
    for (const i of inputs) hash.update(i).update("\0");
    const file = path.join(CACHE_DIR, kind, hash.digest("hex"));
    try {
        return fs.readFileSync(file, "utf8");
    } catch {
        // not cached yet
    }
    const value = await compute();
    try {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, value);
        fs.renameSync(tmp, file);
    } catch {
        // read-only checkout: no cache
    }
    return value;
}
