// Configuration validation: the dev stack passes, and each bad value is rejected with a message that names
// the config key, before any resource is registered.
import * as assert from "assert";
import * as path from "path";
import { ConfigError, nearest, parseSettings, regionProblem, resourceNamePrefix } from "../components/config";
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
/** The dev stack's user with a pinned node account. */
const bob = () => (devInput().users as Record<string, unknown>[])[1];

describe("config validation", () => {
    describe("names derived from the stack name", () => {
        it("a plain stack name keeps its stem: ccslurm-<stack>", () => {
            assert.strictEqual(parseSettings(devInput(), "dev").namePrefix, "ccslurm-dev");
            assert.strictEqual(resourceNamePrefix("team-a--prod"), "ccslurm-team-a--prod");
        });

        it("_ and . (which Pulumi allows in stack names and VM names do not) become -, and the stem never ends with -", () => {
            assert.strictEqual(resourceNamePrefix("team_a.prod"), "ccslurm-team-a-prod");
            assert.strictEqual(resourceNamePrefix("prod."), "ccslurm-prod");
            // Cut at 40 characters where a hyphen falls last: the old stem ended with "-" (vnet-…- is refused).
            const stack = "hpc-research-computing-weu-prod-blue";
            assert.strictEqual(`ccslurm-${stack}`.slice(0, 40).endsWith("-"), true);
            assert.strictEqual(resourceNamePrefix(stack), "ccslurm-hpc-research-computing-weu-prod");
            for (const st of ["a", "x".repeat(100), "a_b_c_d", "-.-", "A.B-C_D"]) {
                const p = resourceNamePrefix(st);
                assert.match(p, /^ccslurm(-[A-Za-z0-9]+)*-?[A-Za-z0-9]*$/, st);
                assert.ok(p.length <= 40 && /[A-Za-z0-9]$/.test(p), `${st} -> ${p}`);
                // The longest name built on it (vm-<prefix>-login, osdisk-<prefix>-login) stays within 64 and 80.
                assert.ok(`osdisk-${p}-login`.length <= 80 && `vm-${p}-login`.length <= 64, p);
            }
        });

        it("a default resource group name Azure would refuse is an error naming resourceGroupName, unless it is set", () => {
            const long = "s".repeat(70);
            const problems = (() => { try { parseSettings(devInput(), long); } catch (e) { return (e as ConfigError).problems; } return []; })();
            assert.deepStrictEqual(problems, [`resourceGroupName: the default, rg-cyclecloud-slurm-entra-${long}, is not a name Azure takes for a resource group ` +
                "(96 characters; it must be 1-90 characters of letters, digits, - _ . ( ) and not end with a period); set resourceGroupName"]);
            assert.throws(() => parseSettings(devInput(), "prod."), /resourceGroupName: the default, rg-cyclecloud-slurm-entra-prod\., is not/);
            assert.strictEqual(parseSettings({ ...devInput(), resourceGroupName: "rg-prod" }, long).resourceGroupName, "rg-prod");
        });
    });

    it("accepts Pulumi.dev.yaml and fills defaults", () => {
        const s = parseSettings(devInput(), "dev");
        assert.strictEqual(s.location, "westeurope");
        assert.strictEqual(s.bastion.sku, "Standard");
        assert.strictEqual(s.nfs.quotaGiB, 1024);
        assert.strictEqual(s.slurm.version, "25.11.5");
        assert.strictEqual(s.slurm.clusterConfigDir, "slurm-dev");
        assert.deepStrictEqual(s.login.image, { publisher: "almalinux", offer: "almalinux-hpc", sku: "8_10-hpc-gen2", version: "8.10.2024101801" });
        assert.deepStrictEqual(s.users.map(u => [u.entra, u.name, u.uid, u.admin]),
            [["alice@contoso.com", undefined, undefined, true], ["3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b", "bob", 10002, false]]);
        assert.deepStrictEqual(s.accounts, {
            registry: "/shared/apps/accounts", sharedHome: "/shared/home", uidMin: 65536, uidMax: 4294967293, ackWaitSeconds: 70, serviceAccounts: "slurm-readiness:19990",
        });
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
        ["a node account UID below 1000", { users: [{ ...bob(), uid: 999 }] }, /^users\[0\]\.uid: 999 is a system UID; a pinned node account's uid must be 1000-19999/],
        ["a node account UID in CycleCloud's own range (issue 11 item 8)", { users: [{ ...bob(), uid: 20001 }] }, /^users\[0\]\.uid: 20001 is in the range CycleCloud numbers its own node users from \(20000 up\)/],
        ["a node account UID in the Entra accounts' range (an old copied Entra UID)", { users: [{ ...bob(), uid: 3197663 }] }, /^users\[0\]\.uid: 3197663 is in the Entra accounts' range \(accountsUidMin 65536 - accountsUidMax 4294967293\).*remove name, uid and sshPublicKey/],
        ["a node account UID in a narrowed Entra range", { accountsUidMin: "1000000", users: [{ ...bob(), uid: 1000001 }] }, /^users\[0\]\.uid: 1000001 is in the Entra accounts' range \(accountsUidMin 1000000/],
        ["a UID beyond Slurm's limit", { users: [{ ...bob(), uid: 4294967294 }] }, /^users\[0\]\.uid: must be an integer from 0 to 4294967293/],
        ["a user with an invalid Linux name", { users: [{ ...bob(), name: "Alice Smith" }] }, /^users\[0\]\.name: must be a Linux user name/],
        ["a node account named by UPN", { users: [{ ...bob(), name: "bob@contoso.com" }] }, /^users\[0\]\.name: must be a Linux user name/],
        ["a user without Entra identity", { users: [{ ...alice(), entra: "alice" }] }, /^users\[0\]\.entra: must be an Entra user principal name .* or an object ID/],
        ["a user listed twice", { users: [alice(), { ...alice(), entra: "Alice@Contoso.com" }] }, /^users\[1\]\.entra: Alice@Contoso\.com is already users\[0\]'s Entra principal/],
        ["a user with an unparseable SSH key", { users: [{ ...bob(), sshPublicKey: "ssh-rsa AAAA" }] }, /^users\[0\]\.sshPublicKey: must be an OpenSSH public key/],
        ["a uid without a node account", { users: [{ ...alice(), uid: 10005 }] }, /^users\[0\]\.sshPublicKey: is required with uid/],
        ["a uid with a name but no key", { users: [{ ...alice(), name: "alice", uid: 10005 }] }, /^users\[0\]\.sshPublicKey: is required with uid/],
        ["duplicate UIDs", { users: [bob(), { ...bob(), entra: "carol@contoso.com", name: "carol" }] }, /^users\[1\]\.uid: 10002 is already used by users\[0\]/],
        ["a UID reserved for slurm", { users: [{ ...bob(), uid: 11100 }] }, /^users\[0\]\.uid: 11100 is reserved/],
        ["an empty Entra UID range", { accountsUidMin: "200000", accountsUidMax: "100000" }, /^accountsUidMax: 100000 is below accountsUidMin 200000/],
        ["an Entra UID range reaching into CycleCloud's", { accountsUidMin: "30000" }, /^accountsUidMin: must be an integer from 65536 to 4294967293/],
        ["an acknowledgement wait over 5 minutes", { accountsAckWaitSeconds: "600" }, /^accountsAckWaitSeconds: must be an integer from 0 to 300/],
        ["a misspelt key", { nfsQuota: "200" }, /^nfsQuota: unknown config key cyclecloud-slurm-entra:nfsQuota/],
        ["an unknown field in a user", { users: [{ ...alice(), shell: "/bin/zsh" }] }, /^users\[0\]\.shell: unknown field/],
        ["a key (sshPublicKey) without a name", { users: [{ ...alice(), sshPublicKey: bob().sshPublicKey }] }, /^users\[0\]\.name: is required with sshPublicKey/],
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
        const many = Array.from({ length: 501 }, (_, i) => ({ ...alice(), entra: `u${i}@contoso.com` }));
        const problems = problemsOf({ ...devInput(), users: many });
        assert.ok(problems.some(p => /^users: 501 users would get 2004 role assignments .* set entraGroupName/.test(p)), problems.join("\n"));
        const s = parseSettings({ ...devInput(), users: many, entraGroupName: "hpc-users" }, "dev");
        assert.strictEqual(s.users.length, 501);
    });

    it("accepts Entra users without name or uid, a name as a mere label, and a pinned node account without uid", () => {
        const s = parseSettings({ ...devInput(), users: [{ entra: "carol@contoso.com" }, { ...bob(), uid: undefined }, { entra: "dave@contoso.com", name: "dave" }] }, "dev");
        assert.deepStrictEqual(s.users[0], { entra: "carol@contoso.com", admin: false });
        assert.strictEqual(s.users[1].name, "bob");
        assert.strictEqual(s.users[1].uid, undefined);
        assert.deepStrictEqual(s.users[2], { entra: "dave@contoso.com", admin: false, name: "dave" });
    });

    it("reads the account registry's keys", () => {
        const s = parseSettings({ ...devInput(), accountsUidMin: "1000000", accountsUidMax: "2000000000", accountsAckWaitSeconds: "0" }, "dev");
        assert.deepStrictEqual([s.accounts.uidMin, s.accounts.uidMax, s.accounts.ackWaitSeconds], [1000000, 2000000000, 0]);
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

    it("takes group display names with digits and hyphens as names, and only a damaged object ID as an error", () => {
        for (const group of ["HPC users", "hpc-users-2024", "team-42-cafe-beef", "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b"]) {
            assert.doesNotThrow(() => parseSettings({ ...devInput(), entraExistingGroups: [{ group }] }, "dev"), group);
        }
        for (const group of ["3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6", "{3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b}", "3f2b8c1e5d4a-4e6f-9a7b-1c2d3e4f5a6b",
            "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6g", " 3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b"]) {
            assert.match(problemsOf({ ...devInput(), entraExistingGroups: [{ group }] }).join("\n"),
                /^entraExistingGroups\[0\]\.group: looks like an object ID but is not one/m, group);
        }
    });

    it("knows every region of the dev stack and suggests the nearest name for a typo", () => {
        assert.strictEqual(regionProblem("westeurope"), undefined);
        assert.match(regionProblem("northeurpe")!, /did you mean northeurope\?/);
        assert.match(regionProblem("germanywestcentrl")!, /did you mean germanywestcentral\?/);
        assert.strictEqual(nearest("loginAdminSshPublickey", ["loginAdminSshPublicKey", "location"]), "loginAdminSshPublicKey");
        assert.strictEqual(nearest("tags2", ["location"]), undefined);
    });

    it("rejects structured config that is not an object list", async () => {
        const { config } = readStackFile(devFile);
        const result = await simulate({ stack: "dev", config: { ...config, "cyclecloud-slurm-entra:users": "alice" } });
        assert.ok(result.error instanceof ConfigError);
        assert.match(result.error.message, /users: /);
        assert.strictEqual(result.resources.length, 0);
    });
});
