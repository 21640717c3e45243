// Checks that output does not leak key material: the raw bytes, their hex or base64, whole or in part.
import * as assert from "assert";

export function assertNoKeyMaterial(output: Buffer | string, key: Buffer, what: string): void {
    const buf = typeof output === "string" ? Buffer.from(output) : output;
    const text = buf.toString("latin1");
    const lower = text.toLowerCase();
    const hex = key.toString("hex");
    const b64 = key.toString("base64");
    // The whole key and every aligned 16-byte piece of it: raw, hex (either case), base64.
    for (let i = 0; i + 16 <= key.length; i += 16) {
        assert.ok(buf.indexOf(key.subarray(i, i + 16)) < 0, `${what}: output contains raw key bytes (offset ${i})`);
        assert.ok(!lower.includes(hex.slice(2 * i, 2 * i + 32)), `${what}: output contains the key in hex (offset ${i})`);
    }
    for (let i = 0; i + 24 <= b64.length; i += 24) {
        assert.ok(!text.includes(b64.slice(i, i + 24)), `${what}: output contains the key in base64 (char ${i})`);
    }
}

/** Pulumi's secret envelope key (the engine's "secret" signature); simulate keeps secrets as { <sig>, value }. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Recorded inputs with every secret envelope replaced by its value, for assertions on what Azure is asked for. */
export function plain(value: unknown): any { // eslint-disable-line @typescript-eslint/no-explicit-any
    if (Array.isArray(value)) return value.map(plain);
    if (value && typeof value === "object") {
        const o = value as Record<string, unknown>;
        if (SECRET_SIG in o) return plain(o.value);
        return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, plain(v)]));
    }
    return value;
}
