// Strict cloud-config check: `cloud-init schema` plus a check that every top-level key is one that a
// cloud-init module (or cloud-init's base config) defines. `cloud-init schema` alone accepts misspelt
// top-level keys such as `runcmdd:`, which cloud-init then silently ignores at boot.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseDocument } from "yaml";
import { run } from "./proc";

const SCHEMA_CANDIDATES = [
    "/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json",
    "/usr/lib/python3/site-packages/cloudinit/config/schemas/schema-cloud-config-v1.json",
];

/**
 * Keys cloud-init reads from user data that no module schema lists: the user-data merging keys
 * (cloud-init docs, "Merging user data sections"). Everything else comes from the installed schema.
 */
const NON_MODULE_KEYS = ["merge_how", "merge_type"];

const cachedKeys = new Map<string, Set<string>>();

/** Finds the installed cloud-init's cloud-config JSON schema file. */
export function cloudConfigSchemaPath(): string {
    for (const p of SCHEMA_CANDIDATES) if (fs.existsSync(p)) return p;
    // Any other Python install layout: ask the filesystem under /usr/lib.
    const r = run(["sh", "-c", "ls -1 /usr/lib/python3*/*-packages/cloudinit/config/schemas/schema-cloud-config-v1.json 2>/dev/null | head -n 1"]);
    const found = r.stdout.toString().trim();
    if (found) return found;
    throw new Error("cloud-init's schema-cloud-config-v1.json not found (is cloud-init installed?)");
}

interface JsonSchema {
    $ref?: string;
    properties?: Record<string, unknown>;
    allOf?: JsonSchema[];
    anyOf?: JsonSchema[];
    oneOf?: JsonSchema[];
    $defs?: Record<string, JsonSchema>;
}

/** Top-level keys the installed cloud-init defines: the properties of every definition the root schema combines. */
export function allowedTopLevelKeys(schemaFile = cloudConfigSchemaPath()): Set<string> {
    const cached = cachedKeys.get(schemaFile);
    if (cached) return cached;
    const schema = JSON.parse(fs.readFileSync(schemaFile, "utf8")) as JsonSchema;
    const keys = new Set<string>(NON_MODULE_KEYS);
    const seen = new Set<JsonSchema>();
    const visit = (node: JsonSchema | undefined) => {
        if (!node || seen.has(node)) return;
        seen.add(node);
        for (const k of Object.keys(node.properties ?? {})) keys.add(k);
        for (const sub of [...(node.allOf ?? []), ...(node.anyOf ?? []), ...(node.oneOf ?? [])]) visit(sub);
        if (node.$ref) {
            const m = /^#\/\$defs\/(.+)$/.exec(node.$ref);
            if (!m || !schema.$defs?.[m[1]]) throw new Error(`unresolvable $ref ${node.$ref} in ${schemaFile}`);
            visit(schema.$defs[m[1]]);
        }
    };
    visit(schema);
    if (keys.size < 20) throw new Error(`only ${keys.size} top-level keys derived from ${schemaFile}: unexpected schema layout`);
    cachedKeys.set(schemaFile, keys);
    return keys;
}

/**
 * Validates cloud-config text with the installed `cloud-init schema --config-file` and rejects top-level
 * keys that no cloud-init module defines. Needs the `cloud-init` command.
 */
export function validateCloudConfig(text: string): { ok: boolean; errors: string[] } {
    const errors: string[] = [];

    if (!/^#cloud-config\r?\n/.test(text)) {
        errors.push("first line must be exactly '#cloud-config'");
    }

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloud-config-check-"));
    try {
        const file = path.join(dir, "user-data");
        fs.writeFileSync(file, text);
        const r = run(["cloud-init", "schema", "--config-file", file], { timeoutMs: 30000 });
        if (r.status !== 0) {
            const out = r.text.split("\n").map(l => l.trim()).filter(l => l && l !== "Error:").join(" ")
                .replace(/Cloud config schema deprecations:\s*(?=Cloud config schema errors|$)/, "").trim();
            errors.push(`cloud-init schema: ${out || `exit status ${r.status}`}`);
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }

    const doc = parseDocument(text);
    if (doc.errors.length > 0) {
        errors.push(...doc.errors.map(e => `YAML: ${e.message}`));
    } else {
        const data: unknown = doc.toJS();
        if (data === null || typeof data !== "object" || Array.isArray(data)) {
            errors.push("the document must be a YAML mapping of cloud-init keys");
        } else {
            const allowed = allowedTopLevelKeys();
            for (const key of Object.keys(data)) {
                if (!allowed.has(key)) {
                    errors.push(`unknown top-level key '${key}': no cloud-init module defines it (cloud-init would ignore it)`);
                }
            }
        }
    }
    return { ok: errors.length === 0, errors };
}
