// One source for the facts the TypeScript side and the hosts share (issue 20 item 1): UID ranges, reserved and fixed
// UIDs, the readiness service account, the paths on /shared. components/config/facts.ts holds them; the files written
// to hosts are rendered from them, and the literals the shell scripts keep as fallbacks (they run without the settings
// file too) and the repository's copy of the settings file must equal them. The scripts are read, never changed here.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";
import { loginSettings, NODE_SETTINGS_FILE, CLUSTER_INIT_DIR, renderNodeSettings } from "../components/accounts/project";
import {
    ACCOUNTS_REGISTRY, CYCLECLOUD_UID_BASE, DEFAULTS, ENTRA_UID_FLOOR, ENTRA_UID_LIMIT, MUNGE_UID, NOBODY_UID, parseSettings,
    PINNED_UID_MIN, PROJECT, READINESS_ACCOUNT_NAME, READINESS_UID, RESERVED_UIDS, SHARED_HOME, SHARED_ROOT, SLURM_UID,
    SLURMRESTD_UID,
} from "../components/config";
import { renderLoginCloudInit, seededConfigDir } from "../components/login/cloud-init";
import { READINESS_ACCOUNT } from "../components/readiness/invocation";
import { readStackFile } from "../scripts/simulate";

const ROOT = path.join(__dirname, "..");
const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), "utf8");

/** Every file under a directory (relative to ROOT), recursively. */
function files(dir: string): string[] {
    return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })
        .flatMap(e => e.isDirectory() ? files(`${dir}/${e.name}`) : [`${dir}/${e.name}`]);
}
/** The host-side scripts: *.sh and files that start with #!, wherever the scripts keep them under components/. */
const SCRIPTS = files("components").filter(f => f.endsWith(".sh") || read(f).startsWith("#!")).sort();

/** KEY=value lines of a settings file (comments after the value dropped). */
function settingsOf(text: string): Map<string, string> {
    return new Map([...text.matchAll(/^([A-Z_][A-Z0-9_]*)=(\S*)/gm)].map(m => [m[1], m[2]]));
}

/** The settings every VM gets with the defaults: facts and DEFAULTS, spelled as the scripts read them. */
const EXPECTED = new Map<string, string>([
    ["ACCOUNTS_REGISTRY", ACCOUNTS_REGISTRY],
    ["ACCOUNTS_TRUST_ROOT", SHARED_ROOT],
    ["SHARED_HOME", SHARED_HOME],
    ["ACCOUNTS_UID_MIN", String(ENTRA_UID_FLOOR)],
    ["ACCOUNTS_UID_MAX", String(ENTRA_UID_LIMIT)],
    ["ACCOUNTS_ACK_WAIT", String(DEFAULTS.accountsAckWaitSeconds)],
    ["ACCOUNTS_SERVICE_ACCOUNTS", `${READINESS_ACCOUNT_NAME}:${READINESS_UID}`],
]);

/** Each fact-backed key of EXPECTED has its value in `settings` (other keys a settings file may add are not facts). */
function assertFacts(settings: Map<string, string>, where: string): void {
    for (const [key, value] of EXPECTED) assert.strictEqual(settings.get(key), value, `${where}: ${key}`);
}

/** The dev stack's config without the account keys: the settings the defaults give. */
function defaultAccounts() {
    const { config } = readStackFile(path.join(ROOT, "Pulumi.dev.yaml"));
    const input: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(config)) {
        if (k.startsWith(`${PROJECT}:`) && !k.startsWith(`${PROJECT}:accounts`)) input[k.slice(PROJECT.length + 1)] = v;
    }
    return parseSettings(input, "dev").accounts;
}

describe("facts shared by the program and the hosts (issue 20)", () => {
    it("builds the settings the program writes to every VM from the facts", () => {
        const accounts = defaultAccounts();
        assert.deepStrictEqual(accounts, {
            registry: ACCOUNTS_REGISTRY, sharedHome: SHARED_HOME, uidMin: ENTRA_UID_FLOOR, uidMax: ENTRA_UID_LIMIT,
            ackWaitSeconds: DEFAULTS.accountsAckWaitSeconds, serviceAccounts: `${READINESS_ACCOUNT_NAME}:${READINESS_UID}`,
        });
        assertFacts(settingsOf(loginSettings(accounts)), "the login node's /etc/default/cluster-accounts");
        const template = read(path.relative(ROOT, path.join(CLUSTER_INIT_DIR, NODE_SETTINGS_FILE)));
        assertFacts(settingsOf(renderNodeSettings(template, accounts)), "the nodes' settings file");
    });

    it("keeps the repository's copy of the nodes' settings file equal to what the defaults render", () => {
        const rel = path.relative(ROOT, path.join(CLUSTER_INIT_DIR, NODE_SETTINGS_FILE));
        const template = read(rel);
        assert.strictEqual(renderNodeSettings(template, defaultAccounts()), template, rel);
        assertFacts(settingsOf(template), rel);
    });

    it("documents the same settings in components/accounts/README.md", () => {
        assertFacts(settingsOf(read("components/accounts/README.md")), "components/accounts/README.md");
    });

    it("gives the shell scripts' fallbacks the facts' values", () => {
        // ${NAME:-value}: what a script uses when the settings file (or its caller) gives nothing.
        const fact: Record<string, string> = {
            ACCOUNTS_REGISTRY, ACCOUNTS_TRUST_ROOT: SHARED_ROOT, SHARED_HOME, shared_home: SHARED_HOME,
            ACCOUNTS_UID_MIN: String(ENTRA_UID_FLOOR), ACCOUNTS_UID_MAX: String(ENTRA_UID_LIMIT),
            READY_USER: READINESS_ACCOUNT_NAME, READY_SHARED_MOUNT: SHARED_ROOT, SLURM_CLIENT_SHARED_DIR: SHARED_ROOT,
        };
        const seen = new Set<string>();
        for (const f of SCRIPTS) {
            for (const m of read(f).matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*):-([^}$]*)\}/g)) {
                if (!(m[1] in fact)) continue;
                seen.add(m[1]);
                assert.strictEqual(m[2], fact[m[1]], `${f}: \${${m[1]}:-${m[2]}}`);
            }
        }
        for (const key of ["ACCOUNTS_REGISTRY", "ACCOUNTS_TRUST_ROOT", "SHARED_HOME", "ACCOUNTS_UID_MIN", "ACCOUNTS_UID_MAX", "READY_USER"]) {
            assert.ok(seen.has(key), `no script has a fallback for ${key}: update this test to where the scripts keep it`);
        }
        // The benchmark writes the same settings file for the sign-in hook.
        const bench = settingsOf(read("scripts/bench-signin.ts").replace(/"/g, "\n"));
        for (const key of ["ACCOUNTS_UID_MIN", "ACCOUNTS_UID_MAX"]) assert.strictEqual(bench.get(key), EXPECTED.get(key), `scripts/bench-signin.ts ${key}`);
    });

    it("gives the node scripts the reserved UIDs and CycleCloud's range of the facts", () => {
        const reserved = SCRIPTS.flatMap(f => [...read(f).matchAll(/^\s*RESERVED_IDS="([0-9 ]*)"/gm)].map(m => ({ f, ids: m[1].trim().split(/\s+/).map(Number) })));
        assert.ok(reserved.length > 0, "no script sets RESERVED_IDS");
        // The readiness account's UID is not among them: the scripts take it as that account's, from ACCOUNTS_SERVICE_ACCOUNTS.
        for (const { f, ids } of reserved) {
            assert.deepStrictEqual(ids, RESERVED_UIDS.filter(u => u !== READINESS_UID), `${f}: RESERVED_IDS`);
        }
        assert.deepStrictEqual([...RESERVED_UIDS], [SLURM_UID, MUNGE_UID, SLURMRESTD_UID, NOBODY_UID, READINESS_UID]);
        const ranges = SCRIPTS.flatMap(f => [...read(f).matchAll(/\(\( *n >= (\d+) && n < (\d+) *\)\).*CycleCloud/g)].map(m => ({ f, from: +m[1], to: +m[2] })));
        assert.ok(ranges.length > 0, "no script checks CycleCloud's UID range");
        for (const r of ranges) assert.deepStrictEqual([r.from, r.to], [CYCLECLOUD_UID_BASE, ENTRA_UID_FLOOR], `${r.f}: CycleCloud's range`);
        const system = SCRIPTS.flatMap(f => [...read(f).matchAll(/\(\( *n < (\d+) *\)\).*system ID/g)].map(m => ({ f, below: +m[1] })));
        assert.ok(system.length > 0, "no script refuses system IDs");
        for (const s of system) assert.strictEqual(s.below, PINNED_UID_MIN, `${s.f}: system IDs`);
    });

    it("names the readiness account and the seeded Slurm files on /shared from the facts", () => {
        assert.strictEqual(READINESS_ACCOUNT, READINESS_ACCOUNT_NAME);
        assert.ok(seededConfigDir("slurm").startsWith(`${SHARED_ROOT}/`), seededConfigDir("slurm"));
        const doc = YAML.parse(renderLoginCloudInit({
            slurmVersion: DEFAULTS.slurmVersion, clusterConfigDir: "slurm", nfsHost: "acct.file.core.windows.net",
            nfsExportPath: "/acct/shared", nfsMountOptions: "vers=4,minorversion=1,sec=sys", accounts: defaultAccounts(),
        })) as { mounts: string[][] };
        assert.deepStrictEqual(doc.mounts.map(m => m[1]), [SHARED_ROOT], "the login node mounts the share where the facts put it");
        assert.ok(ACCOUNTS_REGISTRY.startsWith(`${SHARED_ROOT}/`) && SHARED_HOME.startsWith(`${SHARED_ROOT}/`));
    });
});
