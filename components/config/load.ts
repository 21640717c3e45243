// Reads this stack's config and secrets through Pulumi and validates them before any resource is registered.
import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "./facts";
import { unknownKeyProblem, parseSettings } from "./parse";
import { ConfigError } from "./problems";
import { CONFIG_KEYS, OBJECT_KEYS } from "./schema";
import { SECRET_KEYS, SecretKey, Secrets, secretProblems, secretStandIns, setSecretCommand } from "./secrets";
import { Settings } from "./settings";
import { regionProblem } from "./values";

/** Reads the secret config values as Pulumi secrets (call after loadSettings, which checked them). */
export function loadSecrets(): Secrets {
    const plaintext = plaintextSecretProblems();
    if (plaintext.length > 0) throw new ConfigError(plaintext);
    const config = new pulumi.Config(PROJECT);
    return {
        cyclecloudAdminPassword: config.requireSecret("cyclecloudAdminPassword"),
        adminSshPrivateKey: config.requireSecret("adminSshPrivateKey"),
        sshProxyPrivateKey: config.getSecret("sshProxyPrivateKey"),
        loginAdminSshPrivateKey: config.getSecret("loginAdminSshPrivateKey") ?? config.requireSecret("adminSshPrivateKey"),
    };
}

/**
 * The SDK's own test of whether a config key was given as a secret: the engine passes the secret keys in
 * PULUMI_CONFIG_SECRET_KEYS and `isConfigSecret` (runtime/config.js, internal, not in the typings) reads them.
 */
function configIsSecret(fullKey: string): boolean {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (k: string) => boolean };
    if (typeof runtimeConfig.isConfigSecret !== "function") {
        throw new Error("this @pulumi/pulumi has no runtime isConfigSecret: cannot tell secret config from plain text");
    }
    return runtimeConfig.isConfigSecret(fullKey);
}

/** A secret key whose value is in the stack config in plain text (it would sit unencrypted in Pulumi.<stack>.yaml). */
export function plaintextSecretProblems(): string[] {
    const problems: string[] = [];
    for (const key of Object.keys(SECRET_KEYS) as SecretKey[]) {
        const full = `${PROJECT}:${key}`;
        if (pulumi.runtime.getConfig(full) !== undefined && !configIsSecret(full)) {
            problems.push(`${key}: is stored in plain text in the stack config; store it encrypted instead: ` +
                `${setSecretCommand(key)} (this replaces the plain value; rotate it if the file was shared)`);
        }
    }
    return problems;
}

/** Plain values of the secrets that are set, read without the "secret read with get" warning; never logged. */
function rawSecretValues(): Partial<Record<SecretKey, string>> {
    const out: Partial<Record<SecretKey, string>> = {};
    for (const key of Object.keys(SECRET_KEYS) as SecretKey[]) {
        const v = pulumi.runtime.getConfig(`${PROJECT}:${key}`);
        if (v !== undefined) out[key] = v;
    }
    return out;
}

/**
 * Reads this stack's config through Pulumi and validates it. Structured keys are JSON; a value that does not
 * parse is reported with the others.
 */
export function loadSettings(): Settings {
    const config = new pulumi.Config(PROJECT);
    const input: Record<string, unknown> = {};
    const problems: string[] = [];
    for (const key of CONFIG_KEYS) {
        if (OBJECT_KEYS.has(key)) {
            try {
                const v = config.getObject<unknown>(key);
                if (v !== undefined) input[key] = v;
            } catch {
                problems.push(`${key}: is not valid JSON/YAML structured config`);
            }
        } else {
            const v = config.get(key);
            if (v !== undefined) input[key] = v;
        }
    }
    // Without location the provider's region is the stack's (a bad one is reported as azure-native:location below).
    if (input.location === undefined) {
        const fallback = new pulumi.Config("azure-native").get("location");
        if (fallback !== undefined && regionProblem(fallback) === undefined) input.location = fallback;
    }
    for (const key of unknownProjectKeys()) problems.push(unknownKeyProblem(key));
    const providerLocation = new pulumi.Config("azure-native").get("location");
    const providerLocationProblem = providerLocation === undefined ? undefined : regionProblem(providerLocation);
    if (providerLocationProblem !== undefined) problems.push(`azure-native:location: ${providerLocationProblem}`);
    {
        const pubKey = typeof input.cyclecloudAdminSshPublicKey === "string" ? input.cyclecloudAdminSshPublicKey
            : typeof input.loginAdminSshPublicKey === "string" ? input.loginAdminSshPublicKey : undefined;
        problems.push(...secretProblems(rawSecretValues(), pubKey, input.sshProxyHost !== undefined,
            typeof input.loginAdminSshPublicKey === "string" ? input.loginAdminSshPublicKey : undefined, secretStandIns));
    }
    problems.push(...plaintextSecretProblems());
    try {
        const settings = parseSettings(input, pulumi.getStack());
        if (problems.length === 0) return settings;
    } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems.push(...e.problems);
    }
    throw new ConfigError(problems);
}

/** Keys set in this project's namespace that the program does not read: almost always a typo. */
function unknownProjectKeys(): string[] {
    const all = Object.keys(pulumi.runtime.allConfig());
    const known = new Set([...CONFIG_KEYS, ...Object.keys(SECRET_KEYS)]);
    return all
        .filter(k => k.startsWith(`${PROJECT}:`))
        .map(k => k.slice(PROJECT.length + 1))
        .filter(k => !known.has(k));
}
