// Secret config keys: which there are, how to set them without a value on a command line, and the checks of their
// values (never putting a value in a message), including the offline plan's stand-ins.
import * as pulumi from "@pulumi/pulumi";
import * as sshpk from "sshpk";
import { isSshPublicKey } from "./values";

/** Config keys that hold secrets: set them with `setSecretCommand(key)` (a prompt or a file, never a value on the command line). Never in `Settings`. */
export const SECRET_KEYS = {
    cyclecloudAdminPassword: {
        required: true,
        description: "Password of CycleCloud's admin user (web UI and CLI); 12-123 characters with upper- and lower-case letters, a digit and a symbol",
    },
    adminSshPrivateKey: {
        required: true,
        description: "OpenSSH private key (unencrypted) matching cyclecloudAdminSshPublicKey; the remote Commands sign in with it",
    },
    sshProxyPrivateKey: {
        required: false,
        description: "Private key for the SSH jump host (sshProxyHost); default adminSshPrivateKey",
    },
    loginAdminSshPrivateKey: {
        required: false,
        description: "Private key matching loginAdminSshPublicKey: the readiness check signs in to the login node's admin with it; default adminSshPrivateKey",
    },
} as const;
/** The dedicated, unencrypted deploy key the README and docs/cyclecloud.md tell users to make (one way everywhere). */
export const DEPLOY_KEY_FILE = "~/.ssh/cyclecloud-slurm-entra-deploy";
export const DEPLOY_KEY_COMMAND = `ssh-keygen -t ed25519 -N '' -C cyclecloud-slurm-entra-deploy -f ${DEPLOY_KEY_FILE}`;

/** How to set a secret without its value on a command line (shell history, process list): a prompt, or a file on stdin. */
export function setSecretCommand(key: string): string {
    switch (key) {
        case "cyclecloudAdminPassword": return "pulumi config set --secret cyclecloudAdminPassword (it prompts for the value)";
        case "adminSshPrivateKey": return `pulumi config set --secret adminSshPrivateKey < ${DEPLOY_KEY_FILE}`;
        case "sshProxyPrivateKey": return "pulumi config set --secret sshProxyPrivateKey < jump-host-user-key (the jump host user's private key file)";
        case "loginAdminSshPrivateKey": return "pulumi config set --secret loginAdminSshPrivateKey < login-admin-key (the private key file of loginAdminSshPublicKey)";
        default: return `pulumi config set --secret ${key} (it prompts for the value)`;
    }
}

export type SecretKey = keyof typeof SECRET_KEYS;

/** The secret config values, as Pulumi secrets. */
export interface Secrets {
    cyclecloudAdminPassword: pulumi.Output<string>;
    adminSshPrivateKey: pulumi.Output<string>;
    sshProxyPrivateKey?: pulumi.Output<string>;
    /** Private key of the login node's admin (the readiness check); adminSshPrivateKey when unset. */
    loginAdminSshPrivateKey: pulumi.Output<string>;
}

/**
 * Secret keys whose values are stand-ins, not the user's: the offline plan (scripts/simulate.ts) cannot decrypt a
 * stack file's `secure:` values and simulates a required secret nobody set. A stand-in private key is taken to
 * be the one that matches the public key it must match; nothing else about the config is assumed. Always empty
 * under `pulumi up`, where every secret is the user's own.
 */
export const secretStandIns = new Set<SecretKey>();

/** Marks the secret keys the offline plan simulates (replaces the previous set); [] for a real run. */
export function setSecretStandIns(keys: readonly string[]): void {
    secretStandIns.clear();
    for (const k of keys) if (k in SECRET_KEYS) secretStandIns.add(k as SecretKey);
}

/**
 * Checks secret config values without ever putting a value in a message. `values` holds the plain values
 * of the secrets that are set (absent = not set); `adminSshPublicKey` is the key the private key must match.
 * A key in `standIns` is a stand-in for a value the user sets (see setSecretStandIns). Pure, so it is
 * unit-testable; loadSettings feeds it from the stack config.
 */
export function secretProblems(values: Partial<Record<SecretKey, string>>, adminSshPublicKey: string | undefined,
    usesProxy: boolean, loginAdminSshPublicKey?: string, standIns: ReadonlySet<SecretKey> = new Set()): string[] {
    const problems: string[] = [];
    for (const [key, spec] of Object.entries(SECRET_KEYS) as [SecretKey, (typeof SECRET_KEYS)[SecretKey]][]) {
        if (spec.required && (values[key] === undefined || values[key] === "")) {
            problems.push(`${key}: is required (a secret): ${setSecretCommand(key)}  (${spec.description})`);
        }
    }
    const pw = values.cyclecloudAdminPassword;
    if (pw) {
        const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter(r => r.test(pw)).length;
        if (pw.length < 12 || pw.length > 123 || classes < 4 || /[\r\n\0]/.test(pw)) {
            problems.push("cyclecloudAdminPassword: must be 12-123 characters on one line with upper- and lower-case letters, " +
                "a digit and a symbol (the value is not shown)");
        }
    }
    // A public key that is not one is reported by its own key; a private key is only compared with a valid one.
    const adminPub = adminSshPublicKey !== undefined && isSshPublicKey(adminSshPublicKey) ? adminSshPublicKey : undefined;
    const loginPub = loginAdminSshPublicKey !== undefined && isSshPublicKey(loginAdminSshPublicKey) ? loginAdminSshPublicKey : undefined;
    /** The public half of a private key, or for a stand-in the public key it is taken to match. */
    const publicHalf = (key: SecretKey, matches: string | undefined) =>
        standIns.has(key) ? matches : privateKeyPublicHalf(values[key]!);
    const key = values.adminSshPrivateKey;
    let adminKeyPub: string | undefined;
    if (key) {
        adminKeyPub = publicHalf("adminSshPrivateKey", adminPub);
        if (adminKeyPub === undefined && !standIns.has("adminSshPrivateKey")) {
            problems.push("adminSshPrivateKey: must be an unencrypted OpenSSH or PEM private key (the value is not shown); " +
                `make a dedicated one with: ${DEPLOY_KEY_COMMAND}; set it with: ${setSecretCommand("adminSshPrivateKey")}`);
        } else if (adminKeyPub !== undefined && adminPub !== undefined && !sameKey(adminKeyPub, adminPub)) {
            problems.push("adminSshPrivateKey: does not match cyclecloudAdminSshPublicKey (or loginAdminSshPublicKey, its default)");
        }
    }
    // The readiness check signs in to the login node's admin: with loginAdminSshPrivateKey, else adminSshPrivateKey.
    const loginKey = values.loginAdminSshPrivateKey;
    if (loginKey !== undefined) {
        const pub = publicHalf("loginAdminSshPrivateKey", loginPub);
        if (pub === undefined && !standIns.has("loginAdminSshPrivateKey")) {
            problems.push("loginAdminSshPrivateKey: must be an unencrypted OpenSSH or PEM private key (the value is not shown)");
        } else if (pub !== undefined && loginPub !== undefined && !sameKey(pub, loginPub)) {
            problems.push("loginAdminSshPrivateKey: does not match loginAdminSshPublicKey");
        }
    } else if (adminKeyPub !== undefined && loginPub !== undefined && !sameKey(adminKeyPub, loginPub)) {
        problems.push("loginAdminSshPrivateKey: is required (a secret) because adminSshPrivateKey does not match loginAdminSshPublicKey: " +
            `the readiness check signs in to the login node's admin; ${setSecretCommand("loginAdminSshPrivateKey")}`);
    }
    if (values.sshProxyPrivateKey !== undefined) {
        if (!usesProxy) problems.push("sshProxyPrivateKey: only applies with sshProxyHost, which is not set");
        else if (!standIns.has("sshProxyPrivateKey") && privateKeyPublicHalf(values.sshProxyPrivateKey) === undefined) {
            problems.push("sshProxyPrivateKey: must be an unencrypted OpenSSH or PEM private key (the value is not shown)");
        }
    }
    return problems;
}

function privateKeyPublicHalf(pem: string): string | undefined {
    try {
        return sshpk.parsePrivateKey(pem, "auto").toPublic().toString("ssh");
    } catch {
        return undefined;
    }
}

function sameKey(a: string, b: string): boolean {
    const strip = (k: string) => k.trim().split(/\s+/).slice(0, 2).join(" ");
    return strip(a) === strip(b);
}
