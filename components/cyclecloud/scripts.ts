// How the scripts under components/cyclecloud reach a host: read from their files, sent to `bash -s` on
// stdin after a preamble of exported variables (secrets travel there, never on a command line that the
// provider would print in an error), with lib.sh's helpers in front for the CycleCloud-server scripts.
import * as fs from "fs";
import * as path from "path";
import { shellQuote } from "../slurm/seed";

export const SCRIPT_DIR = __dirname;

export type ScriptName = "init-server.sh" | "users.sh" | "cluster.sh" | "apply-config.sh" | "accept-terms.sh"
    | "upload-project.sh" | "install-spec-now.sh";

/** The text of a script file in this directory. */
export function readScript(name: ScriptName | "lib.sh"): string {
    return fs.readFileSync(path.join(SCRIPT_DIR, name), "utf8");
}

/** `[sudo -n ]bash -s -- 'arg' ...`: the command line that runs the script read from stdin. */
export function scriptCommand(args: string[], opts: { sudo?: boolean } = {}): string {
    const runner = `${opts.sudo === false ? "" : "sudo -n "}bash -s`;
    return args.length === 0 ? runner : `${runner} -- ${args.map(shellQuote).join(" ")}`;
}

/**
 * The stdin for a script: `export NAME='value'` lines, then lib.sh (unless withLib is false), then the
 * script. Values may hold any character but NUL; names must be shell variable names.
 */
export function scriptStdin(name: ScriptName, env: Record<string, string> = {}, opts: { withLib?: boolean } = {}): string {
    const lines = ["set +x"];
    for (const [k, v] of Object.entries(env)) {
        if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new Error(`scriptStdin: ${JSON.stringify(k)} is not a shell variable name`);
        if (v.includes("\0")) throw new Error(`scriptStdin: the value of ${k} contains a NUL byte`);
        lines.push(`export ${k}=${shellQuote(v)}`);
    }
    const lib = opts.withLib === false ? "" : `${readScript("lib.sh")}\n`;
    return `${lines.join("\n")}\n${lib}${readScript(name)}`;
}
