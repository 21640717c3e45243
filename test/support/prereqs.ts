// Prerequisite checks for the real-system tests: skip loudly outside CI, fail under CI=true.
import { missingCommands } from "./proc";

export interface Needs {
    root?: boolean;
    commands?: string[];
}

/** What is missing for these needs, as human-readable reasons (empty when everything is there). */
export function missingPrereqs(needs: Needs): string[] {
    const reasons: string[] = [];
    if (process.platform !== "linux") reasons.push(`needs Linux (this is ${process.platform})`);
    if (needs.root && (typeof process.getuid !== "function" || process.getuid() !== 0)) reasons.push("needs root");
    const missing = missingCommands(needs.commands ?? []);
    if (missing.length > 0) reasons.push(`missing commands: ${missing.join(", ")}`);
    return reasons;
}

/**
 * Call from a `before` hook. Under CI=true a missing prerequisite fails the run; elsewhere the suite
 * prints what it skips and why, and skips.
 */
export function requirePrereqs(ctx: Mocha.Context, what: string, needs: Needs): void {
    const reasons = missingPrereqs(needs);
    if (reasons.length === 0) return;
    const msg = `${what}: ${reasons.join("; ")} (install with: sudo bash scripts/setup-testbed.sh)`;
    if (process.env.CI === "true") {
        throw new Error(`CI=true and a prerequisite is missing - ${msg}`);
    }
    const bar = "!".repeat(78);
    console.warn(`\n${bar}\nSKIPPED real-system tests - ${msg}\n${bar}\n`);
    ctx.skip();
}
