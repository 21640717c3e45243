// How a problem in the stack config is reported: the error that lists them all, and "did you mean" suggestions.
import * as pulumi from "@pulumi/pulumi";

/** A user mistake in the stack config. A RunError so Pulumi prints the message without a stack trace. */
export class ConfigError extends pulumi.RunError {
    constructor(public readonly problems: string[]) {
        super(`invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
            problems.map(p => `  - ${p}`).join("\n"));
        this.name = "ConfigError";
    }
}

/** Levenshtein distance (insertions, deletions, substitutions), case-insensitive. */
export function editDistance(a: string, b: string): number {
    const x = a.toLowerCase(), y = b.toLowerCase();
    let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
    for (let i = 1; i <= x.length; i++) {
        const row = [i];
        for (let j = 1; j <= y.length; j++) {
            row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
        }
        prev = row;
    }
    return prev[y.length];
}

/** The candidate nearest to `word` when it is near enough to be a typo of it (at most a third of it differs). */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
    let best: string | undefined, bestDistance = Infinity;
    for (const c of candidates) {
        const d = editDistance(word, c);
        if (d < bestDistance) [best, bestDistance] = [c, d];
    }
    return best !== undefined && bestDistance <= Math.max(2, Math.floor(Math.max(word.length, best.length) / 3)) ? best : undefined;
}

export function didYouMean(word: string, candidates: readonly string[]): string {
    const best = nearest(word, candidates);
    return best === undefined ? "" : `; did you mean ${best}?`;
}

export function keyPath(path: PropertyKey[]): string {
    let out = "";
    for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${String(p)}` : String(p);
    return out;
}
