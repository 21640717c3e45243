// The dev stack (Pulumi.dev.yaml) with the secrets a real stack keeps encrypted: a fresh throwaway admin
// key pair (its public half replaces cyclecloudAdminSshPublicKey) and a dummy password. For the tests and
// for anything else that simulates the dev stack (`npm run plan`).
import * as crypto from "crypto";
import * as path from "path";
import * as sshpk from "sshpk";
import { PROJECT } from "../../components/config";
import { readStackFile, simulate, SimResource, SimResult } from "../../scripts/simulate";


export const DEV_STACK_FILE = path.join(__dirname, "..", "..", "Pulumi.dev.yaml");
export const NS = `${PROJECT}:`;
export const DUMMY_PASSWORD = "Simulated-Passw0rd!";

export function throwawayKeyPair(): { privateKey: string; publicKey: string } {
    const { privateKey } = crypto.generateKeyPairSync("ed25519", {
        privateKeyEncoding: { format: "pem", type: "pkcs8" },
        publicKeyEncoding: { format: "pem", type: "spki" },
    });
    const key = sshpk.parsePrivateKey(privateKey, "pem");
    return { privateKey: key.toString("ssh-private"), publicKey: key.toPublic().toString("ssh").replace(/ \(unnamed\)$/, "") };
}

/** Pulumi.dev.yaml's config plus generated secrets, ready for simulate(). */
export function devStackWithSecrets(overrides: Record<string, unknown> = {}): { config: Record<string, unknown>; secretKeys: string[]; privateKey: string } {
    const { config, secretKeys } = readStackFile(DEV_STACK_FILE);
    const keys = throwawayKeyPair();
    return {
        config: {
            ...config,
            [`${NS}cyclecloudAdminSshPublicKey`]: keys.publicKey,
            // One deployer key for both admins: the readiness check signs in to the login node's admin too.
            [`${NS}loginAdminSshPublicKey`]: keys.publicKey,
            [`${NS}adminSshPrivateKey`]: keys.privateKey,
            [`${NS}cyclecloudAdminPassword`]: DUMMY_PASSWORD,
            ...overrides,
        },
        secretKeys: [...secretKeys, `${NS}adminSshPrivateKey`, `${NS}cyclecloudAdminPassword`],
        privateKey: keys.privateKey,
    };
}

export async function simulateDev(overrides: Record<string, unknown> = {}): Promise<SimResult & { privateKey: string }> {
    const { config, secretKeys, privateKey } = devStackWithSecrets(overrides);
    const result = await simulate({ stack: "dev", config, secretKeys });
    return { ...result, privateKey };
}

export function byName(r: SimResult, type: string, name: string): SimResource {
    const found = r.resources.filter(x => x.type === type && x.name === name);
    if (found.length !== 1) throw new Error(`expected one ${type} named ${name}, found ${found.length}`);
    return found[0];
}
