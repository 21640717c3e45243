// Packages components/accounts/cluster-init/ as a CycleCloud project (project.ini + specs/default/cluster-init/,
// the layout `cyclecloud project init` creates and `cyclecloud project upload <locker>` uploads), renders the
// nodes' settings file from config, and gives the ClusterInitSpecs parameter value that makes every node of
// the cluster run the spec at boot.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { AccountSettings } from "../config";

/** The spec content kept in the repository (exactly what lands under specs/default/cluster-init/). */
export const CLUSTER_INIT_DIR = path.join(__dirname, "cluster-init");

/**
 * The project's identity in the locker (projects/<name>/<version>/<spec>). The version stays fixed: a changed
 * script is uploaded over the same version, so the cluster's parameters (and with them the cluster) do not
 * change for a script change; nodes fetch the spec when they boot.
 */
export const ACCOUNTS_PROJECT = { name: "cluster-accounts", version: "1.0.0", spec: "default" } as const;

/** The spec's settings file; installed as /etc/default/cluster-accounts on the nodes. */
export const NODE_SETTINGS_FILE = "files/cluster-accounts.defaults";

/** The template parameters that take cluster-init specs (cyclecloud-slurm templates/slurm.txt). */
export const CLUSTER_INIT_PARAMETERS = [
    "SchedulerClusterInitSpecs",
    "HPCClusterInitSpecs",
    "HTCClusterInitSpecs",
    "GPUClusterInitSpecs",
    "DynamicClusterInitSpecs",
    "LoginClusterInitSpecs",
] as const;

/** Nothing in a spec should come near this; a bigger file is a mistake (a build artefact, a binary). */
const MAX_FILE_BYTES = 256 * 1024;

export interface ProjectFile {
    /** Path inside the project directory, `/`-separated. */
    path: string;
    mode: "0644" | "0755";
    content: Buffer;
}

/** One entry of a ClusterInitSpecs parameter (the form CCWS's create_cc_param.py writes). */
export interface ClusterInitSpec {
    Order: number;
    Spec: string;
    Name: string;
    Project: string;
    Locker: string;
    Version: string;
}

/** `project:spec:version`, the name CycleCloud gives a spec. */
export function specName(): string {
    return `${ACCOUNTS_PROJECT.name}:${ACCOUNTS_PROJECT.spec}:${ACCOUNTS_PROJECT.version}`;
}

/** The ClusterInitSpecs value that references the accounts spec in the given locker. */
export function accountsClusterInitSpecs(locker: string): Record<string, ClusterInitSpec> {
    const name = specName();
    return {
        [name]: {
            // The order CCWS's create_cc_param.py gives the specs a user adds (they run after the template's own).
            Order: 10000,
            Spec: ACCOUNTS_PROJECT.spec,
            Name: name,
            Project: ACCOUNTS_PROJECT.name,
            Locker: locker,
            Version: ACCOUNTS_PROJECT.version,
        },
    };
}

/**
 * Adds the specs to every ClusterInitSpecs parameter, keeping whatever specs the parameters already hold
 * (a spec of the same name is replaced by ours).
 */
export function withClusterInitSpecs<T extends Record<string, unknown>>(params: T,
    specs: Record<string, ClusterInitSpec>): T & Record<(typeof CLUSTER_INIT_PARAMETERS)[number], Record<string, unknown>> {
    const out: Record<string, unknown> = { ...params };
    for (const key of CLUSTER_INIT_PARAMETERS) {
        const existing = params[key];
        const base = existing && typeof existing === "object" && !Array.isArray(existing) ? existing as Record<string, unknown> : {};
        out[key] = { ...base, ...specs };
    }
    return out as T & Record<(typeof CLUSTER_INIT_PARAMETERS)[number], Record<string, unknown>>;
}

/** project.ini: what `cyclecloud project init` writes, with our name and version. */
export function projectIni(): string {
    return [
        "[project]",
        `name = ${ACCOUNTS_PROJECT.name}`,
        "type = application",
        `version = ${ACCOUNTS_PROJECT.version}`,
        "",
    ].join("\n");
}

/**
 * The nodes' settings file: the repository's template with the config's values put into the keys the
 * program owns; every other line stays as it is, so a key the scripts add later is never dropped.
 */
export function renderNodeSettings(template: string, accounts: AccountSettings): string {
    const values: Record<string, string> = {
        ACCOUNTS_REGISTRY: accounts.registry,
        SHARED_HOME: accounts.sharedHome,
        ACCOUNTS_UID_MIN: String(accounts.uidMin),
        ACCOUNTS_UID_MAX: String(accounts.uidMax),
        ACCOUNTS_ACK_WAIT: String(accounts.ackWaitSeconds),
        ACCOUNTS_SERVICE_ACCOUNTS: accounts.serviceAccounts,
    };
    const seen = new Set<string>();
    const lines = template.split("\n").map(line => {
        const m = /^([A-Z_][A-Z0-9_]*)=/.exec(line);
        if (!m || !(m[1] in values)) return line;
        seen.add(m[1]);
        return `${m[1]}=${values[m[1]]}`;
    });
    const missing = Object.keys(values).filter(k => !seen.has(k));
    if (missing.length > 0) {
        // The template is the scripts' contract; a key missing there is a bug in the repository, not in config.
        throw new Error(`${NODE_SETTINGS_FILE} lacks ${missing.join(", ")}; the node scripts would not see the stack's values`);
    }
    return lines.join("\n");
}

/** The settings file the login node gets: the same keys, values from config. */
export function loginSettings(accounts: AccountSettings): string {
    return [
        "# Written by cloud-init from the stack config (Pulumi). Read as data by cluster-account-publish.",
        `ACCOUNTS_REGISTRY=${accounts.registry}`,
        "ACCOUNTS_TRUST_ROOT=/shared",
        `SHARED_HOME=${accounts.sharedHome}`,
        `ACCOUNTS_UID_MIN=${accounts.uidMin}`,
        `ACCOUNTS_UID_MAX=${accounts.uidMax}`,
        `ACCOUNTS_ACK_WAIT=${accounts.ackWaitSeconds}`,
        `ACCOUNTS_SERVICE_ACCOUNTS=${accounts.serviceAccounts}`,
        "",
    ].join("\n");
}

function specFiles(dir: string, rel = ""): { rel: string; abs: string }[] {
    const out: { rel: string; abs: string }[] = [];
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const r = rel ? `${rel}/${entry.name}` : entry.name;
        const abs = path.join(dir, r);
        const st = fs.lstatSync(abs);
        if (st.isSymbolicLink()) throw new Error(`${abs}: a symlink in the cluster-init spec; nodes would get whatever it points to`);
        if (st.isDirectory()) out.push(...specFiles(dir, r));
        else if (st.isFile()) {
            if (st.size > MAX_FILE_BYTES) throw new Error(`${abs}: ${st.size} bytes, more than a cluster-init spec file should hold (${MAX_FILE_BYTES})`);
            out.push({ rel: r, abs });
        } else throw new Error(`${abs}: not a regular file`);
    }
    return out;
}

/**
 * The project's files: project.ini and the spec (byte for byte from `sourceDir`, except the settings file,
 * rendered from config). Shell scripts are executable, everything else 0644. Sorted by path.
 */
export function buildAccountsProject(accounts: AccountSettings, sourceDir: string = CLUSTER_INIT_DIR): ProjectFile[] {
    if (!fs.existsSync(path.join(sourceDir, "scripts"))) {
        throw new Error(`${sourceDir}/scripts is missing: the cluster-init spec has nothing to run on the nodes`);
    }
    const prefix = `specs/${ACCOUNTS_PROJECT.spec}/cluster-init`;
    const files: ProjectFile[] = [{ path: "project.ini", mode: "0644", content: Buffer.from(projectIni()) }];
    let settings = false;
    for (const f of specFiles(sourceDir)) {
        let content = fs.readFileSync(f.abs);
        if (f.rel === NODE_SETTINGS_FILE) {
            content = Buffer.from(renderNodeSettings(content.toString("utf8"), accounts));
            settings = true;
        }
        files.push({ path: `${prefix}/${f.rel}`, mode: f.rel.endsWith(".sh") ? "0755" : "0644", content });
    }
    if (!settings) throw new Error(`${sourceDir}/${NODE_SETTINGS_FILE} is missing: nodes would not get the stack's account settings`);
    return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** sha256 over every path, mode and content: changes exactly when the uploaded project would. */
export function projectDigest(files: ProjectFile[]): string {
    const h = crypto.createHash("sha256");
    for (const f of files) {
        h.update(`${f.path}\0${f.mode}\0${f.content.length}\0`);
        h.update(f.content);
    }
    return h.digest("hex");
}

/** The files as the upload script reads them from $CC_PROJECT_FILES: JSON, contents base64. */
export function projectPayload(files: ProjectFile[]): string {
    return JSON.stringify(files.map(f => ({ path: f.path, mode: f.mode, content: f.content.toString("base64") })));
}
