// The rendered artefacts a reviewer reads: each VM's cloud-init (decoded from osProfile.customData), each
// Command's scripts (create/update/delete and what it sends on stdin), and the JSON documents those carry
// (cluster parameters, CycleCloud user records), all from the redacted inputs.
import * as zlib from "zlib";
import { REDACTED } from "../simulate";
import { PlanModel, PlanResource } from "./model";

export interface Artefact {
    /** Path relative to the plan's output directory. */
    path: string;
    content: string;
    /** The resource it came from. */
    urn?: string;
    what: string;
}

const COMMAND_TYPES = new Set(["command:remote:Command", "command:local:Command"]);

/** A file-name-safe form of a resource name. */
export function safeName(name: string): string {
    return name.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 120) || "_";
}

function get(o: unknown, path: string[]): unknown {
    let v = o;
    for (const p of path) v = v && typeof v === "object" ? (v as Record<string, unknown>)[p] : undefined;
    return v;
}

function decodeBase64(s: string): string | undefined {
    if (!/^[A-Za-z0-9+/=\s]+$/.test(s)) return undefined;
    let bytes = Buffer.from(s, "base64");
    // gzip (1f 8b), as the login node's custom data is sent: shown inflated, as cloud-init reads it.
    if (bytes.length > 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
        try {
            bytes = zlib.gunzipSync(bytes);
        } catch {
            return undefined;
        }
    }
    const text = bytes.toString("utf8");
    return text.includes("\uFFFD") ? undefined : text;
}

function parseJsonObject(s: string): unknown {
    const t = s.trim();
    if (!/^[[{]/.test(t)) return undefined;
    try {
        const v = JSON.parse(t);
        return v && typeof v === "object" ? v : undefined;
    } catch {
        return undefined;
    }
}

/**
 * JSON documents in shell here-documents (`cat > f <<'EOF' ... EOF`), in order. Line by line, so the cost stays
 * linear in the script's size: a single regex over the whole script (lazy prefix before `<<`) rescanned a long line
 * from every position in it, quadratic in that line's length (a 320 KB key comment took 43 s to plan).
 */
export function heredocJson(script: string): { delimiter: string; target?: string; json: unknown }[] {
    const out: { delimiter: string; target?: string; json: unknown }[] = [];
    const lines = script.split("\n");
    for (let i = 0; i < lines.length; i++) {
        if (!lines[i].includes("<<")) continue;
        const start = /<<-?[ \t]*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\1/.exec(lines[i]);
        if (!start) continue;
        const delimiter = start[2];
        let end = i + 1;
        while (end < lines.length && lines[end].trim() !== delimiter) end++;
        if (end >= lines.length) continue;
        const json = parseJsonObject(lines.slice(i + 1, end).join("\n"));
        if (json !== undefined) {
            const target = />\s*("?)([^\s"<>|;&]+)\1/.exec(lines[i])?.[2];
            out.push({ delimiter, ...(target ? { target } : {}), json });
        }
        i = end;
    }
    return out;
}

/** The `export NAME='value'` lines a script starts with (after `set +x`), values unquoted. */
export function preambleExports(script: string): { name: string; value: string }[] {
    const out: { name: string; value: string }[] = [];
    const re = /^export ([A-Za-z_][A-Za-z0-9_]*)=((?:'[^']*'|\\')+)\n/;
    let rest = script.replace(/^set \+x\n/, "");
    for (let m = re.exec(rest); m; m = re.exec(rest)) {
        const value = m[2].replace(/'([^']*)'|\\'/g, (_all, inner: string | undefined) => (inner !== undefined ? inner : "'"));
        out.push({ name: m[1], value });
        rest = rest.slice(m[0].length);
    }
    return out;
}

/**
 * A JSON list of files `[{ path, mode, content (base64) }]` (components/accounts/project.ts projectPayload),
 * decoded; undefined for anything else or for a path that could leave its directory.
 */
export function fileTree(json: unknown): { path: string; mode: string; content: string }[] | undefined {
    if (!Array.isArray(json) || json.length === 0) return undefined;
    const out: { path: string; mode: string; content: string }[] = [];
    for (const f of json) {
        if (!f || typeof f !== "object") return undefined;
        const { path, mode, content } = f as Record<string, unknown>;
        if (typeof path !== "string" || typeof mode !== "string" || typeof content !== "string") return undefined;
        if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(path) || path.split("/").includes("..")) return undefined;
        out.push({ path, mode, content: Buffer.from(content, "base64").toString("utf8") });
    }
    return out;
}

function scriptExtension(text: string): string {
    if (parseJsonObject(text) !== undefined) return "json";
    if (/^#cloud-config/.test(text)) return "yaml";
    return "sh";
}

/**
 * A script whose stdin is a secret as a whole (its preamble exports a password): the script with every
 * `export NAME=...` line of the preamble shown as [secret]. Only the preamble carries values
 * (components/cyclecloud/scripts.ts); the caller still scrubs every known secret value from the result.
 */
export function maskPreamble(script: string): string | undefined {
    const lines = script.split("\n");
    let i = lines[0] === "set +x" ? 1 : 0, masked = 0;
    for (; i < lines.length && /^export [A-Za-z_][A-Za-z0-9_]*=/.test(lines[i]); i++, masked++) {
        lines[i] = lines[i].replace(/^(export [A-Za-z_][A-Za-z0-9_]*=).*$/, `$1${REDACTED}`);
    }
    // Values quoted over several lines would continue past the first line: give up rather than guess.
    if (masked === 0 || lines.slice(0, i).some(l => /^export [^=]+='[^']*$/.test(l))) return undefined;
    return lines.join("\n");
}

/**
 * `plainInputs` (URN to unredacted inputs) lets a Command whose whole stdin is secret still show its script,
 * with the values of its preamble masked.
 */
export function extractArtefacts(model: PlanModel, stackOutputs: Record<string, unknown>,
    plainInputs: Map<string, Record<string, unknown>> = new Map()): Artefact[] {
    const out: Artefact[] = [];
    const used = new Set<string>();
    const add = (a: Artefact) => {
        let p = a.path, n = 2;
        while (used.has(p)) p = a.path.replace(/(\.[^./]+)?$/, `-${n++}$1`);
        used.add(p);
        out.push({ ...a, path: p });
    };

    for (const r of model.resources) {
        if (r.type === "azure-native:compute:VirtualMachine") cloudInit(r, add);
        if (COMMAND_TYPES.has(r.type)) command(r, add, plainInputs.get(r.urn));
    }
    add({ path: "stack-outputs.json", content: JSON.stringify(stackOutputs, null, 2) + "\n", what: "stack outputs" });
    return out.sort((a, b) => a.path.localeCompare(b.path));
}

function cloudInit(r: PlanResource, add: (a: Artefact) => void): void {
    const data = get(r.inputs, ["osProfile", "customData"]);
    if (data === undefined) return;
    const text = data === REDACTED ? `${REDACTED}\n` : typeof data === "string" ? decodeBase64(data) ?? data : JSON.stringify(data);
    const ext = /^#cloud-config/.test(text) ? "yaml" : "txt";
    add({ path: `cloud-init/${safeName(r.name)}.${ext}`, content: text.endsWith("\n") ? text : text + "\n", urn: r.urn, what: `cloud-init of ${r.name}` });
}

function command(r: PlanResource, add: (a: Artefact) => void, plain?: Record<string, unknown>): void {
    const dir = `commands/${safeName(r.name)}`;
    const meta: Record<string, unknown> = { urn: r.urn, type: r.type };
    for (const [key, redacted] of Object.entries(r.inputs)) {
        let value = redacted;
        if (redacted === REDACTED && key === "stdin" && typeof plain?.[key] === "string") {
            const masked = maskPreamble(plain[key] as string);
            if (masked !== undefined) value = `# (stdin is a Pulumi secret; its exported values are shown as ${REDACTED})\n${masked}`;
        }
        if (typeof value === "string" && ["create", "update", "delete", "stdin"].includes(key)) {
            const ext = key === "stdin" ? scriptExtension(value) : "sh";
            add({ path: `${dir}/${key}.${ext}`, content: value.endsWith("\n") ? value : value + "\n", urn: r.urn, what: `${r.name} ${key}` });
            if (key === "stdin") {
                for (const e of preambleExports(value)) {
                    if (e.value === REDACTED || e.value.length < 40) continue;
                    const json = parseJsonObject(e.value);
                    const tree = json !== undefined ? fileTree(json) : undefined;
                    if (tree !== undefined) {
                        // A project sent as files (the accounts project): each file as it will be on the server.
                        for (const f of tree) {
                            add({ path: `${dir}/${e.name}/${f.path}`, content: f.content, urn: r.urn, what: `${r.name}: ${f.path} (mode ${f.mode}) sent in $${e.name}` });
                        }
                        continue;
                    }
                    add({
                        path: `${dir}/${e.name}.${json !== undefined ? "json" : "txt"}`,
                        content: json !== undefined ? JSON.stringify(json, null, 2) + "\n" : e.value.endsWith("\n") ? e.value : e.value + "\n",
                        urn: r.urn,
                        what: `${r.name}: $${e.name}${json !== undefined ? " (JSON)" : ""} sent on stdin`,
                    });
                }
            }
            heredocJson(value).forEach((h, i) => add({
                path: `${dir}/${h.target ? safeName(h.target.split("/").pop()!) : `${key}-heredoc-${i + 1}.json`}`.replace(/(\.json)?$/, ".json"),
                content: JSON.stringify(h.json, null, 2) + "\n",
                urn: r.urn,
                what: `${r.name}: JSON written by its ${key} script${h.target ? ` to ${h.target}` : ""}`,
            }));
        } else {
            meta[key] = value;
        }
    }
    // Environment values that are JSON documents (parameters, user records) are worth reading on their own.
    const env = r.inputs.environment;
    if (env && typeof env === "object") {
        for (const [k, v] of Object.entries(env as Record<string, unknown>)) {
            const json = typeof v === "string" ? parseJsonObject(v) : undefined;
            if (json !== undefined) {
                add({ path: `${dir}/env-${safeName(k)}.json`, content: JSON.stringify(json, null, 2) + "\n", urn: r.urn, what: `${r.name}: ${k}` });
            }
        }
    }
    add({ path: `${dir}/resource.json`, content: JSON.stringify(meta, null, 2) + "\n", urn: r.urn, what: `${r.name} connection, triggers, environment` });
}
