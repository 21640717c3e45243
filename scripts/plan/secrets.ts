// Secrets in the plan: stand-in values for the secret config keys (a stack file's `secure:` values cannot be
// decrypted here, and a fork's CI has none), and a scrubber that every printed line and written file passes
// through, so no secret value the program was given can appear in plan output even if it leaked into a plain
// input. A leak is also reported, because it would reach Pulumi's state in plain text too.
import * as crypto from "crypto";
import { REDACTED } from "../simulate";

/**
 * A deterministic ed25519 key pair from a seed: OpenSSH private key ("openssh-key-v1", unencrypted, as
 * `ssh-keygen -t ed25519 -N ""` writes it) and one-line public key. Built with Node's own ed25519 (no JS curve
 * arithmetic: sshpk's took ~0.1 s of every plan); sshpk reads the result back in the tests.
 */
export function ed25519KeyPair(seed: string, comment = "plan@example"): { privateKey: string; publicKey: string } {
    const raw = crypto.createHash("sha256").update(seed).digest();
    const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), raw]);
    const key = crypto.createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    const pub = Buffer.from(String(crypto.createPublicKey(key).export({ format: "jwk" }).x), "base64url");
    const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
    const str = (b: Buffer | string) => { const x = Buffer.from(b); return Buffer.concat([u32(x.length), x]); };
    const pubBlob = Buffer.concat([str("ssh-ed25519"), str(pub)]);
    // Both check integers equal, from the seed (ssh-keygen picks them at random; any equal pair is valid).
    const check = crypto.createHash("sha256").update(`check/${seed}`).digest().subarray(0, 4);
    let priv = Buffer.concat([check, check, str("ssh-ed25519"), str(pub), str(Buffer.concat([raw, pub])), str(comment)]);
    const pad = (8 - (priv.length % 8)) % 8;
    priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
    const blob = Buffer.concat([Buffer.from("openssh-key-v1\0"), str("none"), str("none"), str(""), u32(1), str(pubBlob), str(priv)]);
    const b64 = blob.toString("base64").replace(/.{1,70}/g, "$&\n");
    return {
        privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}-----END OPENSSH PRIVATE KEY-----\n`,
        publicKey: `ssh-ed25519 ${pubBlob.toString("base64")} ${comment}`,
    };
}

/** A secret config key the program declares: `SECRET_KEYS` of components/config/secrets.ts, when it exists. */
export interface SecretKeySpec {
    key: string;
    required: boolean;
}

export function declaredSecretKeys(): SecretKeySpec[] {
    // Read dynamically: the constant is new, and the plan must work with config modules that lack it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require("../../components/config") as Record<string, unknown>;
    const keys = mod.SECRET_KEYS;
    if (Array.isArray(keys)) return keys.map(k => ({ key: String(k), required: true }));
    if (keys && typeof keys === "object") {
        return Object.entries(keys as Record<string, { required?: boolean }>)
            .map(([key, spec]) => ({ key, required: spec?.required !== false }));
    }
    return [];
}

/** The public key a stand-in private key is taken to match (the program checks the user's public keys as given). */
export const MATCHES: Record<string, string> = {
    adminSshPrivateKey: "cyclecloudAdminSshPublicKey (default loginAdminSshPublicKey)",
    loginAdminSshPrivateKey: "loginAdminSshPublicKey",
};

export interface SimulatedSecrets {
    /** Config values to add or replace: stand-ins for secrets only, never for a key the user gave in plain text. */
    config: Record<string, unknown>;
    /** Secret keys, without the project namespace. */
    secretKeys: string[];
    /** The keys given a stand-in (the program is told so: setSecretStandIns in components/config/secrets.ts). */
    standIns: string[];
    /** One line per stand-in, for the printed notes (never a value). */
    notes: string[];
}

/**
 * Stand-ins for every required secret key nobody set and every key the stack file marks `secure` (which
 * readStackFile turned into a marker string, as it cannot be decrypted here). Passwords get a value that meets
 * complexity rules, private keys a generated ed25519 key (taken to match the public key the user gave), anything
 * else a random-looking token. Every other key keeps the value the user gave, and is validated as given.
 */
export function simulatedSecrets(stack: string, config: Record<string, unknown>, secureKeys: string[],
    declared: SecretKeySpec[] = declaredSecretKeys()): SimulatedSecrets {
    const bare = (k: string) => k.replace(/^[^:]+:/, "");
    const out: SimulatedSecrets = { config: {}, secretKeys: [...new Set(secureKeys)], standIns: [], notes: [] };
    const fromStack = new Set(secureKeys.map(bare));
    // A secret key the stack file holds in plain text keeps its value and stays plain, so the program refuses it
    // (it would be unencrypted in the stack file and in the repository).
    const plainInStack = new Set(Object.keys(config).map(bare).filter(k => !fromStack.has(k)));
    const wanted = new Set<string>([...declared.filter(d => d.required && !plainInStack.has(d.key)).map(d => d.key),
        ...declared.map(d => d.key).filter(k => fromStack.has(k))]);
    for (const key of wanted) {
        const seed = `plan/${stack}/${key}`;
        const hex = crypto.createHash("sha256").update(seed).digest("hex");
        const configKey = Object.keys(config).find(k => bare(k) === key) ?? key;
        const why = fromStack.has(key) ? "encrypted in the stack file" : "not set";
        if (/privatekey$/i.test(key)) {
            out.config[configKey] = ed25519KeyPair(seed, `plan-${key}`).privateKey;
            out.notes.push(`${key} (${why}): a generated ed25519 key${MATCHES[key] ? `, taken to match ${MATCHES[key]}` : ""}`);
        } else if (/password/i.test(key)) {
            out.config[configKey] = `Pl4n-${hex.slice(0, 12)}-Sim!`;
            out.notes.push(`${key} (${why}): a generated password`);
        } else {
            out.config[configKey] = `plan-simulated-${hex.slice(0, 24)}`;
            out.notes.push(`${key} (${why}): a generated value`);
        }
        out.standIns.push(key);
        if (!out.secretKeys.some(k => bare(k) === key)) out.secretKeys.push(key);
    }
    return out;
}

/** Where a secret value turned up in plain text. */
export interface Leak {
    key: string;
    where: string;
}

/**
 * Replaces every secret value (and each long line of a multi-line one, and its base64 forms) with "[secret]".
 * `check` records where a value was found without changing anything.
 */
export class Scrubber {
    private readonly needles: { key: string; text: string }[] = [];

    constructor(secrets: Record<string, string>) {
        for (const [key, value] of Object.entries(secrets)) {
            if (typeof value !== "string" || value.length < 6) continue;
            const parts = new Set<string>([value, value.trim()]);
            for (const line of value.split(/\r?\n/)) {
                if (line.trim().length >= 16 && !/^-----/.test(line.trim())) parts.add(line.trim());
            }
            // The value inside base64 text (custom data, encoded scripts) at each of the three alignments.
            for (const v of [...parts]) {
                for (let shift = 0; shift < 3; shift++) {
                    const b64 = Buffer.from("\0".repeat(shift) + v).toString("base64");
                    const start = shift === 0 ? 0 : Math.ceil((shift * 4) / 3) + 1;
                    const core = b64.slice(start, b64.length - 4);
                    if (core.length >= 12) parts.add(core);
                }
            }
            for (const text of parts) if (text.length >= 6) this.needles.push({ key, text });
        }
        // Longest first, so a whole value is replaced before any part of it.
        this.needles.sort((a, b) => b.text.length - a.text.length);
    }

    scrub(text: string): string {
        let out = text;
        for (const n of this.needles) if (out.includes(n.text)) out = out.split(n.text).join(REDACTED);
        return out;
    }

    check(text: string, where: string, leaks: Leak[]): void {
        for (const n of this.needles) {
            if (text.includes(n.text) && !leaks.some(l => l.key === n.key && l.where === where)) leaks.push({ key: n.key, where });
        }
    }
}
