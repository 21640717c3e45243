// How the readiness check reaches the login node: the script file sent on stdin to `sudo -n bash -s -- ARGS`.
import * as fs from "fs";
import * as path from "path";
import { shellQuote } from "../slurm/seed";

export const READINESS_SCRIPT_PATH = path.join(__dirname, "check-ready.sh");

/** The service account the check runs Slurm commands as (exists everywhere by the registry, like users). */
export { READINESS_ACCOUNT_NAME as READINESS_ACCOUNT } from "../config";

export interface ReadinessOptions {
    /** Partitions sinfo must show (the cluster's, from its parameters). */
    partitions: string[];
    /** Bound of the mount, sync and sinfo waits together, in seconds. */
    timeoutSeconds: number;
    /** Submit a test job to this partition (boots one node); undefined = no job. */
    testJobPartition?: string;
    /** Bound of the test job, in seconds. */
    jobTimeoutSeconds: number;
}

/** The script's arguments (validated: names only, whole seconds). */
export function readinessArgs(o: ReadinessOptions): string[] {
    const name = /^[A-Za-z0-9_-]+$/;
    if (o.partitions.length === 0 || !o.partitions.every(p => name.test(p))) {
        throw new Error(`readiness: partitions must be names of letters, digits, _ and - (got ${JSON.stringify(o.partitions)})`);
    }
    if (o.testJobPartition !== undefined && !name.test(o.testJobPartition)) {
        throw new Error(`readiness: bad test job partition ${JSON.stringify(o.testJobPartition)}`);
    }
    for (const s of [o.timeoutSeconds, o.jobTimeoutSeconds]) {
        if (!Number.isInteger(s) || s < 1) throw new Error(`readiness: timeouts must be whole seconds >= 1 (got ${s})`);
    }
    const args = ["--partitions", o.partitions.join(","), "--timeout", String(o.timeoutSeconds)];
    if (o.testJobPartition !== undefined) args.push("--test-job", o.testJobPartition, "--job-timeout", String(o.jobTimeoutSeconds));
    return args;
}

/** What the remote Command runs: `command` (as the login node's admin, through sudo) and `stdin` (the script). */
export function readinessInvocation(o: ReadinessOptions): { command: string; stdin: string } {
    return {
        command: `sudo -n bash -s -- ${readinessArgs(o).map(shellQuote).join(" ")}`,
        stdin: fs.readFileSync(READINESS_SCRIPT_PATH, "utf8"),
    };
}
