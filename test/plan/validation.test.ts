// The offline plan refuses exactly what `pulumi up` refuses (issue 19): over a table of bad configs, `npm run plan`
// exits 2 with the same problems the program's own validation throws, before either registers a resource.
// The plan gets a stack file as a user keeps it (secrets absent or `secure:`, which it cannot decrypt); the
// program gets the same config with the secrets a user who follows the README sets: a password that meets
// the rules and the private key of the public key it must match. The last rows are good configs that both pass.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { ConfigError } from "../../components/config";
import { runPlan } from "../../scripts/plan/run";
import { simulate } from "../../scripts/simulate";
import { DEV_STACK_FILE, DUMMY_PASSWORD, NS, throwawayKeyPair } from "../cyclecloud/devStack";

type Config = Record<string, unknown>;
type Secret = "adminSshPrivateKey" | "loginAdminSshPrivateKey" | "cyclecloudAdminPassword";

const A = throwawayKeyPair(), B = throwawayKeyPair();
const privateOf = new Map([[A.publicKey, A.privateKey], [B.publicKey, B.privateKey]]);

interface Row {
    what: string;
    /** Changes to Pulumi.dev.yaml's config (the login admin's key is A's): a value, or undefined to remove the key. */
    set: Config;
    /** Secrets the user has set with `pulumi config set --secret` (encrypted in the stack file); required ones are always set for `pulumi up`. */
    secrets?: Secret[];
    /** Each problem both must report (the lists must also be equal); none: both accept the config. */
    expect: RegExp[];
}

const SHORT_GUID = "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6";
const rows: Row[] = [
    { what: "a truncated loginAdminSshPublicKey", set: { loginAdminSshPublicKey: A.publicKey.slice(0, -6) },
        expect: [/^loginAdminSshPublicKey: must be an OpenSSH public key/] },
    { what: "a garbage loginAdminSshPublicKey", set: { loginAdminSshPublicKey: "ssh-ed25519 not-a-key" },
        expect: [/^loginAdminSshPublicKey: must be an OpenSSH public key/] },
    { what: "no loginAdminSshPublicKey", set: { loginAdminSshPublicKey: undefined },
        expect: [/^loginAdminSshPublicKey: is required/] },
    { what: "a cyclecloudAdminSshPublicKey other than the login admin's without loginAdminSshPrivateKey",
        set: { cyclecloudAdminSshPublicKey: B.publicKey },
        expect: [/^loginAdminSshPrivateKey: is required \(a secret\) because adminSshPrivateKey does not match loginAdminSshPublicKey/] },
    { what: "a region typo in location", set: { location: "westeurop" },
        expect: [/^location: "westeurop" is not an Azure region name; did you mean westeurope\?/] },
    { what: "a region typo in azure-native:location", set: { "azure-native:location": "westeurop" },
        expect: [/^azure-native:location: "westeurop" is not an Azure region name; did you mean westeurope\?/] },
    { what: "a region's display name", set: { location: "West Europe" },
        expect: [/^location: must be the region's programmatic name, westeurope/] },
    { what: "a name that is no region at all", set: { location: "mars" },
        expect: [/^location: "mars" is not an Azure region name \(names as in az account list-locations/] },
    { what: "a group object ID one character short", set: { entraExistingGroups: [{ group: SHORT_GUID }] },
        expect: [/^entraExistingGroups\[0\]\.group: looks like an object ID but is not one/] },
    { what: "a user object ID one character short", set: { users: [{ entra: SHORT_GUID }] },
        expect: [/^users\[0\]\.entra: looks like an object ID but is not one/] },
    { what: "a typo'd key", set: { clustrName: "slurm-dev" },
        expect: [/^clustrName: unknown config key cyclecloud-slurm-entra:clustrName; did you mean clusterName\?$/] },
    { what: "a key nothing is near", set: { colour: "blue" },
        expect: [/^colour: unknown config key cyclecloud-slurm-entra:colour; not a key this program reads/] },
    { what: "a typo'd field of a user", set: { users: [{ entra: "alice@contoso.com", admn: true }] },
        expect: [/^users\[0\]\.admn: unknown field; did you mean admin\?$/] },
    { what: "a login admin name Azure refuses for a VM", set: { loginAdminUsername: "test" },
        expect: [/^loginAdminUsername: "test" is a name Azure refuses for a VM's admin user \(OSProfile\.adminUsername does not take administrator, admin, user,/] },
    { what: "a CycleCloud admin name Azure refuses for a VM", set: { cyclecloudAdminUsername: "guest" },
        expect: [/^cyclecloudAdminUsername: "guest" is a name Azure refuses for a VM's admin user/] },
    { what: "an admin name the nodes use", set: { loginAdminUsername: "slurm" },
        expect: [/^loginAdminUsername: must not be a name the nodes already use \(root, slurm, munge\)$/] },
    { what: "a secret in plain text", set: { cyclecloudAdminPassword: DUMMY_PASSWORD },
        expect: [/^cyclecloudAdminPassword: is stored in plain text in the stack config/] },
    { what: "separate admin keys with loginAdminSshPrivateKey set (good)", set: { cyclecloudAdminSshPublicKey: B.publicKey },
        secrets: ["loginAdminSshPrivateKey"], expect: [] },
    { what: "the dev stack with its own login key and a group by object ID (good)",
        set: { entraExistingGroups: [{ group: `${SHORT_GUID}b` }] }, expect: [] },
];

/** Pulumi.dev.yaml's config with the row's changes (bare keys get the project's namespace). */
function configOf(row: Row): Config {
    const doc = YAML.parse(fs.readFileSync(DEV_STACK_FILE, "utf8")) as { config: Config };
    const config: Config = { ...doc.config, [`${NS}loginAdminSshPublicKey`]: A.publicKey };
    for (const [k, v] of Object.entries(row.set)) {
        const key = k.includes(":") ? k : `${NS}${k}`;
        if (v === undefined) delete config[key];
        else config[key] = v;
    }
    return config;
}

/** What the plan prints as problems ("  - ..."), and its exit code. */
async function planProblems(row: Row, dir: string): Promise<{ exitCode: number; problems: string[]; text: string; out: string }> {
    const config = configOf(row);
    for (const s of row.secrets ?? []) config[`${NS}${s}`] = { secure: "AAABAJ2v4c2VjcmV0LWNpcGhlcnRleHQ=" };
    const file = path.join(dir, "Pulumi.table.yaml");
    fs.writeFileSync(file, YAML.stringify({ config }));
    const lines: string[] = [];
    const out = fs.mkdtempSync(path.join(dir, "out-"));
    const run = await runPlan({ stackFile: file, out, print: l => lines.push(l), printError: l => lines.push(l) });
    return { exitCode: run.exitCode, problems: lines.filter(l => l.startsWith("  - ")).map(l => l.slice(4)), text: lines.join("\n"), out };
}

/** What the program throws under `pulumi up` with the secrets its user set, and how many resources it registered first. */
async function programProblems(row: Row): Promise<{ problems: string[]; registered: number; error?: Error }> {
    const config = configOf(row);
    const secretKeys = [`${NS}adminSshPrivateKey`, `${NS}cyclecloudAdminPassword`];
    const deployerPublic = String(config[`${NS}cyclecloudAdminSshPublicKey`] ?? config[`${NS}loginAdminSshPublicKey`] ?? "");
    config[`${NS}adminSshPrivateKey`] = privateOf.get(deployerPublic) ?? A.privateKey;
    if (config[`${NS}cyclecloudAdminPassword`] === undefined) config[`${NS}cyclecloudAdminPassword`] = DUMMY_PASSWORD;
    else secretKeys.pop(); // the row keeps it in plain text
    if (row.secrets?.includes("loginAdminSshPrivateKey")) {
        config[`${NS}loginAdminSshPrivateKey`] = privateOf.get(String(config[`${NS}loginAdminSshPublicKey`]));
        secretKeys.push(`${NS}loginAdminSshPrivateKey`);
    }
    const result = await simulate({ stack: "table", config, secretKeys });
    const problems = result.error instanceof ConfigError ? result.error.problems : [];
    return { problems, registered: result.resources.length, error: result.error };
}

describe("the plan refuses exactly what the program refuses (table of configs)", function () {
    let dir: string;
    before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-table-")); });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    for (const row of rows) {
        it(`${row.what}: ${row.expect.length > 0 ? "both refuse it with the same problems" : "both accept it"}`, async () => {
            const program = await programProblems(row);
            const plan = await planProblems(row, dir);
            if (row.expect.length === 0) {
                assert.strictEqual(program.error, undefined, `the program failed: ${program.error?.message}`);
                assert.ok(program.registered > 0);
                assert.strictEqual(plan.exitCode, 0, plan.text);
                return;
            }
            assert.ok(program.error instanceof ConfigError, `the program did not refuse it: ${program.error}`);
            assert.strictEqual(program.registered, 0, "the program registered resources before refusing");
            for (const e of row.expect) {
                assert.ok(program.problems.some(p => e.test(p)), `the program lacks ${e}:\n${program.problems.join("\n")}`);
            }
            assert.strictEqual(plan.exitCode, 2, plan.text);
            assert.deepStrictEqual(plan.problems, program.problems, "the plan and the program disagree");
            assert.ok(!fs.existsSync(path.join(plan.out, "plan.json")), "the plan wrote a plan");
        });
    }

    it("shows the user's own public keys in plan.json, never a generated one", async () => {
        const row: Row = { what: "", set: { cyclecloudAdminSshPublicKey: B.publicKey }, secrets: ["loginAdminSshPrivateKey"], expect: [] };
        const plan = await planProblems(row, dir);
        assert.strictEqual(plan.exitCode, 0, plan.text);
        const json = fs.readFileSync(path.join(plan.out, "plan.json"), "utf8");
        const keyData = [...json.matchAll(/"keyData": "([^"]+)"/g)].map(m => m[1]).sort();
        assert.deepStrictEqual(keyData, [A.publicKey, B.publicKey].sort());
        assert.match(plan.text, /adminSshPrivateKey \(not set\): a generated ed25519 key, taken to match cyclecloudAdminSshPublicKey/);
        assert.match(plan.text, /loginAdminSshPrivateKey \(encrypted in the stack file\): a generated ed25519 key, taken to match loginAdminSshPublicKey/);
    });
});
