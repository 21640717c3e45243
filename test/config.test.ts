// Configuration validation: the dev stack passes, and each bad value is rejected with a message that names
// the config key, before any resource is registered.
import * as assert from "assert";
import * as path from "path";
import { ConfigError, parseSettings } from "../components/config";
import { readStackFile, simulate } from "../scripts/simulate";
import { devStackWithSecrets } from "./cyclecloud/devStack";

const devFile = path.join(__dirname, "..", "Pulumi.dev.yaml");

/** The dev stack's config without the namespace, as parseSettings takes it. */
function devInput(): Record<string, unknown> {
    const { config } = readStackFile(devFile);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(config)) {
        if (k.startsWith("cyclecloud-slurm-entra:")) out[k.slice("cyclecloud-slurm-entra:".length)] = v;
    }
    return out;
}

function problemsOf(input: Record<string, unknown>): string[] {
    try {
        parseSettings(input, "dev");
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
        return e.problems;
    }
    assert.fail("expected the config to be rejected");
}

const alice = () => (devInput().users as Record<string, unknown>[])[0];

describe("config validation", () => {
    it("accepts Pulumi.dev.yaml and fills defaults", () => {
        const s = parseSettings(devInput(), "dev");
        assert.strictEqual(s.location, "westeurope");
        assert.strictEqual(s.bastion.sku, "Standard");
        assert.strictEqual(s.nfs.quotaGiB, 1024);
        assert.strictEqual(s.slurm.version, "25.11.5");
        assert.strictEqual(s.slurm.clusterConfigDir, "slurm-dev");
        assert.deepStrictEqual(s.login.image, { publisher: "almalinux", offer: "almalinux-hpc", sku: "8_10-hpc-gen2", version: "8.10.2024101801" });
        assert.deepStrictEqual(s.users.map(u => [u.name, u.uid, u.admin]), [["alice", 20001, true], ["bob", 20002, false]]);
        assert.strictEqual(s.resourceGroupName, "rg-cyclecloud-slurm-entra-dev");
    });

    it("reads numbers and booleans given as strings (as `pulumi config set` stores them)", () => {
        const s = parseSettings({ ...devInput(), nfsQuotaGiB: "2048", loginAcceleratedNetworking: "false", bastionSku: "Premium" }, "dev");
        assert.strictEqual(s.nfs.quotaGiB, 2048);
        assert.strictEqual(s.login.acceleratedNetworking, false);
        assert.strictEqual(s.bastion.sku, "Premium");
    });

    const bad: [string, Record<string, unknown>, RegExp][] = [
        ["a CIDR that does not parse", { vnetAddressSpace: "10.40.0.0/33" }, /^vnetAddressSpace: must be an IPv4 CIDR/],
        ["a CIDR with host bits set", { loginSubnetPrefix: "10.40.0.97/27" }, /^loginSubnetPrefix: must be an IPv4 CIDR/],
        ["a subnet outside the VNet", { computeSubnetPrefix: "10.41.0.0/20" }, /^computeSubnetPrefix: 10\.41\.0\.0\/20 must lie inside vnetAddressSpace/],
        ["overlapping subnets", { loginSubnetPrefix: "10.40.0.64/27" }, /^loginSubnetPrefix: 10\.40\.0\.64\/27 overlaps cyclecloudSubnetPrefix/],
        ["a Bastion subnet smaller than /26", { bastionSubnetPrefix: "10.40.0.0/27" }, /^bastionSubnetPrefix: AzureBastionSubnet must be \/26 or larger/],
        ["an NFS quota under 100 GiB", { nfsQuotaGiB: "99" }, /^nfsQuotaGiB: must be an integer from 100 to 102400/],
        ["a Slurm version without patch level", { slurmVersion: "25.11" }, /^slurmVersion: must be a full Slurm release such as 25\.11\.5/],
        ["a Bastion SKU without native client", { bastionSku: "Basic" }, /^bastionSku: must be Standard or Premium/],
        ["geo-redundant NFS", { nfsRedundancy: "GRS" }, /^nfsRedundancy: must be LRS or ZRS/],
        ["an image URN with three parts", { loginImage: "almalinux:almalinux-hpc:8_10-hpc-gen2" }, /^loginImage: must be an image URN with four parts/],
        ["a missing admin key", { loginAdminSshPublicKey: undefined }, /^loginAdminSshPublicKey: is required/],
        ["an admin key that is not a key", { loginAdminSshPublicKey: "ssh-ed25519 not-base64!" }, /^loginAdminSshPublicKey: must be an OpenSSH public key/],
        ["a missing location", { location: undefined }, /^location: is required/],
        ["a user UID below 1000", { users: [{ ...alice(), uid: 999 }] }, /^users\[0\]\.uid: must be an integer from 1000/],
        ["a user with an invalid Linux name", { users: [{ ...alice(), name: "Alice Smith" }] }, /^users\[0\]\.name: must be a Linux user name/],
        ["a user without Entra identity", { users: [{ ...alice(), entra: "alice" }] }, /^users\[0\]\.entra: must be an Entra user principal name .* or an object ID/],
        ["a user with an unparseable SSH key", { users: [{ ...alice(), sshPublicKey: "ssh-rsa AAAA" }] }, /^users\[0\]\.sshPublicKey: must be an OpenSSH public key/],
        ["duplicate UIDs", { users: [alice(), { ...alice(), name: "carol" }] }, /^users\[1\]\.uid: 20001 is already used by users\[0\]/],
        ["a UID reserved for slurm", { users: [{ ...alice(), uid: 11100 }] }, /^users\[0\]\.uid: 11100 is reserved/],
        ["a misspelt key", { nfsQuota: "200" }, /^nfsQuota: unknown config key cyclecloud-slurm-entra:nfsQuota/],
        ["an unknown field in a user", { users: [{ ...alice(), shell: "/bin/zsh" }] }, /^users\[0\]\.shell: unknown field/],
        ["scale units out of range", { bastionScaleUnits: "1" }, /^bastionScaleUnits: must be an integer from 2 to 50/],
        // Issue 10, item 8: values that passed and then broke or weakened the deployment.
        ...["root", "slurm", "munge", "nobody", "cycle_server", "daemon", "systemd-network"].map((name): [string, Record<string, unknown>, RegExp] =>
            [`a user named ${name}`, { users: [{ ...alice(), name }] }, new RegExp(`^users\\[0\\]\\.name: "${name}" is a system or service account name`)]),
        ["two existing groups differing only in case", { entraExistingGroups: [{ group: "HPC Users" }, { group: "hpc users" }] },
            /^entraExistingGroups\[1\]\.group: "hpc users" is entraExistingGroups\[0\] again/],
        ["two users with the same Entra principal", { users: [alice(), { ...alice(), name: "carol", uid: 20003, entra: "Alice@Contoso.com" }] },
            /^users\[1\]\.entra: Alice@Contoso\.com is already users\[0\]'s Entra principal/],
        ["a CIDR with a leading zero", { vnetAddressSpace: "012.40.0.0/16" }, /^vnetAddressSpace: write it as 10\.40\.0\.0\/16/],
        ["a CIDR as a 32-bit number", { vnetAddressSpace: "170393600/16" }, /^vnetAddressSpace: write it as 10\.40\.0\.0\/16/],
        ["a prefix length with a leading zero", { computeSubnetPrefix: "10.40.16.0/020" }, /^computeSubnetPrefix: write it as 10\.40\.16\.0\/20/],
        ["a NUL in a user's key comment", { users: [{ ...alice(), sshPublicKey: `${String(alice().sshPublicKey)}\u0000x` }] },
            /^users\[0\]\.sshPublicKey: must not contain control characters \(found U\+0000\)/],
        ["an escape character in a tag value", { tags: { team: "hpc\u001b[31m" } }, /^tags\.team: must not contain control characters/],
        ["a newline inside the cluster name", { clusterName: "slurm\ndev" }, /^clusterName: must not contain control characters/],
        ["a tag name longer than 128 characters", { tags: { ["t".repeat(129)]: "x" } }, /^tags\.t+: tag names are at most 128 characters/],
        ["a tag value longer than 256 characters", { tags: { team: "v".repeat(257) } }, /^tags\.team: tag values are at most 256 characters/],
        ["a tag name with a forbidden character", { tags: { "cost/center": "x" } }, /^tags\.cost\/center: tag names must not contain/],
        ["more tags than Azure allows", { tags: Object.fromEntries(Array.from({ length: 48 }, (_, i) => [`t${i}`, "x"])) }, /^tags: at most 47 tags/],
        ["a tag that shadows the login tag", { tags: { "Slurm-Node-Role": "compute" } }, /^tags\.Slurm-Node-Role: the program sets the tag slurm-node-role itself/],
        ["a jump host without its host key", { sshProxyHost: "jump.example.com" }, /^sshProxyHostKey: is required with sshProxyHost/],
        ["direct mode without deploySourcePrefix", { bastionTunnelPort: undefined }, /^deploySourcePrefix: is required without bastionTunnelPort or sshProxyHost/],
        ["a jump host by name without deploySourcePrefix", { bastionTunnelPort: undefined, sshProxyHost: "jump.example.com" },
            /^deploySourcePrefix: is required when sshProxyHost is a name \(jump\.example\.com\)/],
        ["a deploy path open to every address", { bastionTunnelPort: undefined, deploySourcePrefix: "0.0.0.0/0" }, /^deploySourcePrefix: must be an IPv4 address range/],
        ["a deploy path in tunnel mode", { deploySourcePrefix: "10.50.1.0/24" }, /^deploySourcePrefix: does not apply with bastionTunnelPort/],
    ];
    for (const [what, change, expected] of bad) {
        it(`rejects ${what}, naming the key`, () => {
            const problems = problemsOf({ ...devInput(), ...change });
            assert.ok(problems.some(p => expected.test(p)), `no problem matched ${expected}:\n${problems.join("\n")}`);
        });
    }

    it("asks for entraGroupName when per-user role assignments would crowd the subscription's limit", () => {
        const many = Array.from({ length: 501 }, (_, i) => ({ ...alice(), name: `u${i}`, uid: 30000 + i, entra: `u${i}@contoso.com` }));
        const problems = problemsOf({ ...devInput(), users: many });
        assert.ok(problems.some(p => /^users: 501 users would get 2004 role assignments .* set entraGroupName/.test(p)), problems.join("\n"));
        const s = parseSettings({ ...devInput(), users: many, entraGroupName: "hpc-users" }, "dev");
        assert.strictEqual(s.users.length, 501);
    });

    it("reports every problem at once", () => {
        const problems = problemsOf({ ...devInput(), nfsQuotaGiB: "10", slurmVersion: "latest", bastionSku: "Basic" });
        assert.deepStrictEqual(problems.map(p => p.split(":")[0]).sort(), ["bastionSku", "nfsQuotaGiB", "slurmVersion"]);
    });

    it("reports cross-field problems together", () => {
        const problems = problemsOf({ ...devInput(), bastionSubnetPrefix: "10.40.0.0/28", computeSubnetPrefix: "10.99.0.0/20" });
        assert.strictEqual(problems.length, 2, problems.join("\n"));
    });

    it("stops the program before any resource is registered", async () => {
        const { config } = readStackFile(devFile);
        const result = await simulate({ stack: "dev", config: { ...config, "cyclecloud-slurm-entra:nfsQuotaGiB": "50" } });
        assert.ok(result.error instanceof ConfigError, `expected a ConfigError, got ${result.error}`);
        assert.match(result.error.message, /nfsQuotaGiB: must be an integer from 100/);
        assert.strictEqual(result.resources.length, 0);
    });

    it("refuses a secret key given in plain text, in the real program, naming the key and the fix", async () => {
        const { config, secretKeys } = devStackWithSecrets();
        for (const key of ["cyclecloudAdminPassword", "adminSshPrivateKey"]) {
            const result = await simulate({ stack: "dev", config, secretKeys: secretKeys.filter(k => !k.endsWith(`:${key}`)) });
            assert.ok(result.error instanceof ConfigError, `expected a ConfigError for ${key}, got ${result.error}`);
            assert.match(result.error.message, new RegExp(`^  - ${key}: is stored in plain text in the stack config; .*pulumi config set --secret ${key}`, "m"));
            assert.strictEqual(result.resources.length, 0);
            assert.ok(!result.error.message.includes(String(config[`cyclecloud-slurm-entra:${key}`]).split("\n")[1] ?? "\u0000"), "the value is shown");
        }
    });

    it("refuses a malformed private key without showing it", async () => {
        const { config, secretKeys } = devStackWithSecrets({ "cyclecloud-slurm-entra:adminSshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-key-c2VjcmV0\n-----END OPENSSH PRIVATE KEY-----" });
        const result = await simulate({ stack: "dev", config, secretKeys });
        assert.ok(result.error instanceof ConfigError, `expected a ConfigError, got ${result.error}`);
        assert.match(result.error.message, /adminSshPrivateKey: must be an unencrypted OpenSSH or PEM private key \(the value is not shown\)/);
        assert.ok(!result.error.message.includes("not-a-key-c2VjcmV0"));
    });

    it("rejects structured config that is not an object list", async () => {
        const { config } = readStackFile(devFile);
        const result = await simulate({ stack: "dev", config: { ...config, "cyclecloud-slurm-entra:users": "alice" } });
        assert.ok(result.error instanceof ConfigError);
        assert.match(result.error.message, /users: /);
        assert.strictEqual(result.resources.length, 0);
    });
});
