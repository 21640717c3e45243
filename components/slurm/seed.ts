import * as fs from "fs";
import * as path from "path";

/** The seed script's path; it runs on the scheduler, fed to `bash -s` on stdin after TRUST_LIB_PATH's text. */
export const SEED_SCRIPT_PATH = path.join(__dirname, "seed-shared.sh");
/**
 * The trust check the seed shares with the login node's sync (components/shared-trust/trust-lib.sh). Nothing is
 * installed on the scheduler: the library travels in the seed's stdin, ahead of the script.
 */
export const TRUST_LIB_PATH = path.join(__dirname, "..", "shared-trust", "trust-lib.sh");

/**
 * What the scheduler's `bash -s` reads: the trust library, then the seed script (which defines no trust check of its
 * own and sources nothing). `scriptPath` is for tests that run another copy of the script the same way.
 */
export function seedScriptText(scriptPath: string = SEED_SCRIPT_PATH): string {
    const lib = fs.readFileSync(TRUST_LIB_PATH, "utf8");
    return `${lib}${lib.endsWith("\n") ? "" : "\n"}${fs.readFileSync(scriptPath, "utf8")}`;
}

/** Quotes one word for a POSIX shell (ssh joins the remote command's words with spaces). */
export function shellQuote(word: string): string {
    return `'${word.replace(/'/g, `'\\''`)}'`;
}

export interface SeedInvocationOptions {
    /** Where cyclecloud-slurm keeps cluster directories on the scheduler (default /sched). */
    schedRoot?: string;
    /** Where the NFS share is mounted on the scheduler (default /shared). */
    sharedRoot?: string;
}

function checkRoot(name: string, value: string): void {
    if (!/^\/[A-Za-z0-9._/-]*$/.test(value) || value.split("/").includes("..")) {
        throw new Error(`seedInvocation: ${name} must be an absolute path of letters, digits and . _ - / (got ${JSON.stringify(value)})`);
    }
}

/**
 * What the remote Command sends to the scheduler to seed /shared/apps/slurm/<cluster>:
 * `command` runs the script read from stdin with its arguments shell-quoted, `stdin` is seedScriptText() (the trust
 * library, then the script). Reads those two files and nothing else; the same input always gives the same output.
 */
export function seedInvocation(clusterConfigDir: string, opts: SeedInvocationOptions = {}): { command: string; stdin: string } {
    if (typeof clusterConfigDir !== "string" || !/^[a-z0-9-]+$/.test(clusterConfigDir)) {
        throw new Error(`seedInvocation: cluster config dir ${JSON.stringify(clusterConfigDir)} must match ^[a-z0-9-]+$ ` +
            "(the cluster name lower-cased, anything else replaced by '-')");
    }
    const args = [clusterConfigDir];
    if (opts.schedRoot !== undefined || opts.sharedRoot !== undefined) {
        const schedRoot = opts.schedRoot ?? "/sched";
        checkRoot("schedRoot", schedRoot);
        args.push(schedRoot);
        if (opts.sharedRoot !== undefined) {
            checkRoot("sharedRoot", opts.sharedRoot);
            args.push(opts.sharedRoot);
        }
    }
    return {
        command: `bash -s -- ${args.map(shellQuote).join(" ")}`,
        stdin: seedScriptText(),
    };
}
