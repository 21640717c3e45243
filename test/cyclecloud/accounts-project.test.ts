// The accounts project (issue 9): how components/accounts/cluster-init becomes a CycleCloud project, the
// Command that uploads it to the locker, the ClusterInitSpecs parameters that reference it, the Command that
// runs it on the running scheduler, and the contract tests of their two scripts (run for real in bash under
// sudo with RHEL 8's secure_path, the stand-in `cyclecloud` CLI where the image installs it: ./sandbox.ts).
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    ACCOUNTS_PROJECT, accountsClusterInitSpecs, buildAccountsProject, CLUSTER_INIT_DIR, CLUSTER_INIT_PARAMETERS,
    NODE_SETTINGS_FILE, projectDigest, projectPayload, renderNodeSettings, withClusterInitSpecs,
} from "../../components/accounts/project";
import { AccountSettings } from "../../components/config";
import { CYCLECLOUD_LOCKER } from "../../components/cyclecloud/cluster";
import { readScript } from "../../components/cyclecloud/scripts";
import { SimResult } from "../../scripts/simulate";
import { requirePrereqs } from "../support/prereqs";
import { byName, NS, simulateDev } from "./devStack";
import { Sandbox } from "./sandbox";

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ACCOUNTS: AccountSettings = { registry: "/shared/apps/accounts", sharedHome: "/shared/home", uidMin: 65536, uidMax: 4294967293, ackWaitSeconds: 70,
    serviceAccounts: "slurm-readiness:19990" };

/** Every regular file under a directory, relative paths, sorted. */
function walk(dir: string, rel = ""): string[] {
    return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap(e => {
        const r = rel ? `${rel}/${e.name}` : e.name;
        return e.isDirectory() ? walk(dir, r) : [r];
    }).sort();
}

function copyTree(from: string): string {
    const to = fs.mkdtempSync(path.join(os.tmpdir(), "ci-spec-"));
    fs.cpSync(from, to, { recursive: true });
    return to;
}

/** A secret-free Command input, unwrapped from simulate's secret envelope if any. */
function plain(v: unknown): any { // eslint-disable-line @typescript-eslint/no-explicit-any
    if (v && typeof v === "object" && !Array.isArray(v)) {
        const o = v as Props;
        if ("4dabf18193072939515e22adb298388d" in o) return plain(o.value);
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, plain(x)]));
    }
    return Array.isArray(v) ? v.map(plain) : v;
}

function exported(stdin: string, name: string): string {
    const m = new RegExp(`^export ${name}='((?:[^']|'\\\\'')*)'$`, "ms").exec(stdin);
    assert.ok(m, `no ${name} in the stdin`);
    return m[1].replace(/'\\''/g, "'");
}

describe("accounts project: packaging", () => {
    it("is project.ini plus every file of components/accounts/cluster-init under specs/default/cluster-init, byte for byte", () => {
        const files = buildAccountsProject(ACCOUNTS);
        const byPath = new Map(files.map(f => [f.path, f]));
        assert.strictEqual(byPath.get("project.ini")!.content.toString(),
            "[project]\nname = cluster-accounts\ntype = application\nversion = 1.0.0\n");
        const source = walk(CLUSTER_INIT_DIR);
        assert.ok(source.some(p => /^scripts\/\d+-.*\.sh$/.test(p)), "the spec has no scripts/NNN-*.sh");
        // The helpers apply-accounts.sh sources travel with it (the boot script installs them root 0644).
        assert.ok(byPath.has("specs/default/cluster-init/files/accounts-lib.sh"), "the spec does not carry accounts-lib.sh");
        assert.deepStrictEqual(files.map(f => f.path).filter(p => p !== "project.ini"), source.map(p => `specs/default/cluster-init/${p}`));
        for (const rel of source) {
            const f = byPath.get(`specs/default/cluster-init/${rel}`)!;
            if (rel !== NODE_SETTINGS_FILE) assert.ok(f.content.equals(fs.readFileSync(path.join(CLUSTER_INIT_DIR, rel))), `${rel} differs`);
            assert.strictEqual(f.mode, rel.endsWith(".sh") ? "0755" : "0644", rel);
        }
    });

    it("renders the nodes' settings file from config, keeping every other line of the repository's file", () => {
        const template = fs.readFileSync(path.join(CLUSTER_INIT_DIR, NODE_SETTINGS_FILE), "utf8");
        const out = renderNodeSettings(template, { ...ACCOUNTS, uidMin: 1000000, uidMax: 2000000000, ackWaitSeconds: 5 });
        assert.match(out, /^ACCOUNTS_UID_MIN=1000000$/m);
        assert.match(out, /^ACCOUNTS_UID_MAX=2000000000$/m);
        assert.match(out, /^ACCOUNTS_ACK_WAIT=5$/m);
        assert.match(out, /^ACCOUNTS_REGISTRY=\/shared\/apps\/accounts$/m);
        // Lines the program does not own stay (the trust root, comments, keys added later).
        const others = (t: string) => t.split("\n").filter(l => !/^(ACCOUNTS_UID_MIN|ACCOUNTS_UID_MAX|ACCOUNTS_ACK_WAIT|ACCOUNTS_REGISTRY|SHARED_HOME|ACCOUNTS_SERVICE_ACCOUNTS)=/.test(l));
        assert.deepStrictEqual(others(out), others(template));
        assert.throws(() => renderNodeSettings("ACCOUNTS_UID_MIN=1\n", ACCOUNTS), /lacks .*ACCOUNTS_UID_MAX/);
    });

    it("its digest changes exactly when what would be uploaded changes", () => {
        const dir = copyTree(CLUSTER_INIT_DIR);
        try {
            const digest = () => projectDigest(buildAccountsProject(ACCOUNTS, dir));
            const first = digest();
            assert.strictEqual(digest(), first, "same files, another digest");
            const script = path.join(dir, walk(dir).find(p => p.startsWith("scripts/"))!);
            const later = new Date(Date.now() + 60000);
            fs.utimesSync(script, later, later);
            assert.strictEqual(digest(), first, "a touched (unchanged) file changed the digest");
            fs.appendFileSync(script, "\n");
            const changed = digest();
            assert.notStrictEqual(changed, first, "a changed script kept the digest");
            fs.writeFileSync(path.join(dir, "files", "new-unit.conf"), "x\n");
            assert.notStrictEqual(digest(), changed, "a new file kept the digest");
            assert.notStrictEqual(projectDigest(buildAccountsProject({ ...ACCOUNTS, ackWaitSeconds: 31 }, dir)), digest(), "a settings change kept the digest");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("refuses a symlink or a missing settings file in the spec", () => {
        const dir = copyTree(CLUSTER_INIT_DIR);
        try {
            fs.symlinkSync("/etc/shadow", path.join(dir, "files", "shadow"));
            assert.throws(() => buildAccountsProject(ACCOUNTS, dir), /symlink/);
            fs.rmSync(path.join(dir, "files", "shadow"));
            fs.rmSync(path.join(dir, NODE_SETTINGS_FILE));
            assert.throws(() => buildAccountsProject(ACCOUNTS, dir), /cluster-accounts\.defaults is missing/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("references the spec in the CCWS form and keeps specs a parameter already has", () => {
        const specs = accountsClusterInitSpecs("azure-storage");
        assert.deepStrictEqual(specs, {
            "cluster-accounts:default:1.0.0": {
                Order: 10000, Spec: "default", Name: "cluster-accounts:default:1.0.0", Project: "cluster-accounts", Locker: "azure-storage", Version: "1.0.0",
            },
        });
        const other = { "site:default:2.0.0": { Order: 20000, Spec: "default", Name: "site:default:2.0.0", Project: "site", Locker: "azure-storage", Version: "2.0.0" } };
        const merged = withClusterInitSpecs({ Region: "westeurope", HPCClusterInitSpecs: other }, specs);
        assert.strictEqual(merged.Region, "westeurope");
        assert.deepStrictEqual(Object.keys(merged.HPCClusterInitSpecs).sort(), ["cluster-accounts:default:1.0.0", "site:default:2.0.0"]);
        for (const key of CLUSTER_INIT_PARAMETERS) assert.ok("cluster-accounts:default:1.0.0" in merged[key], key);
    });

    it("names the locker the init script waits for", () => {
        assert.match(readScript("init-server.sh"), new RegExp(`^LOCKER=${CYCLECLOUD_LOCKER}$`, "m"));
    });
});

describe("accounts project under mocks (dev stack)", function () {
    let dev: SimResult;
    const cmd = (r: SimResult, name: string) => {
        const c = byName(r, "command:remote:Command", name);
        return { ...c, inputs: plain(c.inputs) as Props };
    };
    before(async () => {
        dev = await simulateDev();
        if (dev.error) throw dev.error;
    });

    it("uploads the project on the CycleCloud server with `cyclecloud project upload` to the locker, before the cluster", () => {
        const upload = cmd(dev, "slurm-accounts-upload"), init = cmd(dev, "cyclecloud-init"), cluster = cmd(dev, "slurm-cluster");
        assert.deepStrictEqual(upload.inputs.connection.host, init.inputs.connection.host, "not on the CycleCloud server");
        assert.strictEqual(upload.inputs.connection.port, init.inputs.connection.port);
        assert.strictEqual(upload.inputs.create, "sudo -n bash -s -- 'azure-storage' 'cluster-accounts' '1.0.0'");
        assert.ok(upload.inputs.stdin.includes(readScript("upload-project.sh")));
        assert.ok(upload.dependencies.includes(init.urn), "upload does not wait for the locker (init)");
        assert.ok(upload.dependencies.includes(byName(dev, "azure-native:authorization:RoleAssignment", "cyclecloud-locker-blob-contributor").urn),
            "upload does not wait for the server's blob role on the locker");
        assert.ok(cluster.dependencies.includes(upload.urn), "the cluster does not depend on the upload");
    });

    it("sends exactly the built project, and triggers on its digest", () => {
        const upload = cmd(dev, "slurm-accounts-upload");
        const sent = JSON.parse(exported(upload.inputs.stdin, "CC_PROJECT_FILES")) as { path: string; mode: string; content: string }[];
        const built = buildAccountsProject(ACCOUNTS);
        assert.deepStrictEqual(sent, JSON.parse(projectPayload(built)));
        assert.deepStrictEqual(upload.inputs.triggers, [projectDigest(built)]);
    });

    it("puts the spec into every ClusterInitSpecs parameter of the cluster", () => {
        const params = JSON.parse(exported(cmd(dev, "slurm-cluster").inputs.stdin, "CC_CLUSTER_PARAMS"));
        for (const key of CLUSTER_INIT_PARAMETERS) {
            assert.deepStrictEqual(params[key], accountsClusterInitSpecs(CYCLECLOUD_LOCKER), key);
        }
        assert.strictEqual(params[CLUSTER_INIT_PARAMETERS[0]]["cluster-accounts:default:1.0.0"].Locker, "azure-storage");
    });

    it("runs the spec on the running scheduler after the cluster and the upload, re-running on a new digest or scheduler", () => {
        const now = cmd(dev, "slurm-accounts-scheduler"), seed = cmd(dev, "slurm-seed");
        assert.deepStrictEqual(now.inputs.connection.host, seed.inputs.connection.host, "not on the scheduler");
        assert.strictEqual(now.inputs.create, `sudo -n bash -s -- '${ACCOUNTS_PROJECT.name}' '${ACCOUNTS_PROJECT.spec}'`);
        assert.ok(now.inputs.stdin.includes(readScript("install-spec-now.sh")));
        assert.ok(!now.inputs.stdin.includes(readScript("lib.sh")), "lib.sh is for the CycleCloud server");
        assert.ok(now.dependencies.includes(cmd(dev, "slurm-cluster").urn));
        assert.ok(now.dependencies.includes(cmd(dev, "slurm-accounts-upload").urn));
        assert.strictEqual(now.inputs.triggers[0], cmd(dev, "slurm-accounts-upload").inputs.triggers[0]);
        assert.strictEqual(now.inputs.triggers[1], byName(dev, "command:remote:Command", "slurm-cluster").id);
        assert.strictEqual(now.inputs.triggers.length, 2);
    });

    it("a second run with the same config asks for the same upload; a settings change re-uploads without touching the cluster", async () => {
        const again = await simulateDev();
        const changed = await simulateDev({ [`${NS}accountsAckWaitSeconds`]: "45" });
        if (again.error) throw again.error;
        if (changed.error) throw changed.error;
        const trig = (r: SimResult) => cmd(r, "slurm-accounts-upload").inputs.triggers;
        const params = (r: SimResult) => exported(cmd(r, "slurm-cluster").inputs.stdin, "CC_CLUSTER_PARAMS");
        assert.deepStrictEqual(trig(again), trig(dev));
        assert.notDeepStrictEqual(trig(changed), trig(dev));
        assert.strictEqual(params(changed), params(dev), "a script or settings change must not re-import the cluster");
        const sent = JSON.parse(exported(cmd(changed, "slurm-accounts-upload").inputs.stdin, "CC_PROJECT_FILES")) as { path: string; content: string }[];
        const defaults = Buffer.from(sent.find(f => f.path.endsWith(NODE_SETTINGS_FILE))!.content, "base64").toString();
        assert.match(defaults, /^ACCOUNTS_ACK_WAIT=45$/m);
    });
});

describe("accounts project scripts (contract: real bash under sudo, stand-in CLI where the image installs it)", function () {
    this.timeout(60000);
    before(function () {
        requirePrereqs(this, "accounts project script contract tests (sudo in a private mount namespace)",
            { root: true, commands: ["sudo", "unshare", "mount"] });
    });
    let sb: Sandbox;
    /** A server as init-server.sh leaves it: CLI initialised for root, the account (and so its locker) created. */
    beforeEach(() => {
        sb = new Sandbox().withInitialisedCli();
        sb.set("account.json", "{}");
    });
    afterEach(() => fs.rmSync(sb.dir, { recursive: true, force: true }));

    const payload = () => projectPayload(buildAccountsProject(ACCOUNTS));
    const upload = (args: string[], files = payload()) => sb.run("upload-project.sh", args, { CC_PROJECT_FILES: files }, { CC_WAIT_TIMEOUT: "5" });
    const uploaded = () => path.join(sb.state, "locker", "azure-storage", "projects", "cluster-accounts", "1.0.0");
    const args = ["azure-storage", "cluster-accounts", "1.0.0"];

    it("uploads the spec to the locker at projects/<name>/<version>/<spec>, leaves no temporary files, and a second run changes nothing", async () => {
        const r = await upload(args);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /^CLUSTER_INIT_PROJECT=cluster-accounts:1\.0\.0$/m);
        // The CLI in /usr/local/bin was found although sudo's secure_path does not hold it.
        assert.ok(r.calls.includes("cyclecloud project upload azure-storage"), r.calls.join("\n"));
        for (const rel of walk(CLUSTER_INIT_DIR)) {
            const got = path.join(uploaded(), "default", "cluster-init", rel);
            assert.ok(fs.existsSync(got), `${rel} not in the locker`);
            if (rel !== NODE_SETTINGS_FILE) assert.ok(fs.readFileSync(got).equals(fs.readFileSync(path.join(CLUSTER_INIT_DIR, rel))), rel);
            if (rel.endsWith(".sh")) assert.ok(fs.statSync(got).mode & 0o100, `${rel} not executable`);
        }
        const before = walk(uploaded()).map(p => [p, fs.readFileSync(path.join(uploaded(), p), "utf8")]);
        assert.deepStrictEqual(sb.leftovers(), [], "temporary project left behind");
        const again = await upload(args);
        assert.strictEqual(again.status, 0, again.stderr);
        assert.deepStrictEqual(walk(uploaded()).map(p => [p, fs.readFileSync(path.join(uploaded(), p), "utf8")]), before);
    });

    it("fails, naming the lockers it found, when the locker does not exist", async () => {
        const r = await upload(["other-storage", "cluster-accounts", "1.0.0"]);
        assert.notStrictEqual(r.status, 0);
        assert.match(r.stderr, /locker other-storage is not among this server's lockers \(azure-storage/);
        assert.ok(!r.calls.some(c => c.startsWith("cyclecloud project upload")), r.calls.join("\n"));
        sb.unset("account.json");
        const none = await upload(args);
        assert.notStrictEqual(none.status, 0);
        assert.match(none.stderr, /locker azure-storage is not among this server's lockers/);
        assert.ok(!fs.existsSync(uploaded()));
    });

    it("without the CLI where the image installs it, fails saying where it looked, before touching anything", async () => {
        fs.rmSync(sb.dir, { recursive: true, force: true });
        sb = new Sandbox({ cli: false }).withInitialisedCli();
        sb.set("account.json", "{}");
        const r = await upload(args);
        assert.notStrictEqual(r.status, 0);
        assert.match(r.stderr, /the cyclecloud CLI is not installed in \/usr\/local\/bin, \/root\/bin or on PATH/);
        assert.deepStrictEqual(r.calls, []);
        assert.deepStrictEqual(sb.leftovers(), []);
    });

    it("retries while the locker refuses the upload (fresh role assignment), then succeeds", async () => {
        sb.set("rbac_failures_project_upload", "3\n");
        const r = await upload(args);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /retrying while the locker role assignment propagates/);
        assert.strictEqual(r.calls.filter(c => c === "cyclecloud project upload azure-storage").length, 4, r.calls.join("\n"));
        assert.ok(fs.existsSync(uploaded()));
    });

    it("refuses a path outside the project or a project.ini for another version", async () => {
        const evil = JSON.stringify([...JSON.parse(payload()), { path: "specs/default/../../../../etc/x", mode: "0644", content: "" }]);
        const r = await upload(args, evil);
        assert.notStrictEqual(r.status, 0);
        assert.match(r.stderr, /refusing path/);
        const wrong = await upload(["azure-storage", "cluster-accounts", "2.0.0"]);
        assert.notStrictEqual(wrong.status, 0);
        assert.match(wrong.stderr, /does not have version 2\.0\.0/);
        assert.ok(!fs.existsSync(uploaded()));
    });

    it("install-spec-now runs the spec's scripts in order as jetpack would (CYCLECLOUD_SPEC_PATH, role scheduler), idempotently", async () => {
        const spec = path.join(sb.dir, "spec-root", "spec");
        const marker = path.join(sb.dir, "ran.log");
        const fixture = [
            { path: "project.ini", mode: "0644", content: Buffer.from("[project]\n").toString("base64") },
            { path: "specs/default/cluster-init/files/data.txt", mode: "0644", content: Buffer.from("hello\n").toString("base64") },
            ...["020-second.sh", "010-first.sh"].map(n => ({
                path: `specs/default/cluster-init/scripts/${n}`, mode: "0755",
                content: Buffer.from(`echo "${n} $CYCLECLOUD_SPEC_PATH $ACCOUNTS_ROLE $(cat "$CYCLECLOUD_SPEC_PATH/files/data.txt")" >>${marker}\n`).toString("base64"),
            })),
        ];
        // On the scheduler, as the Command runs it: sudo, no lib.sh (it needs no CLI).
        const run = (files: unknown[]) => sb.run("install-spec-now.sh", ["cluster-accounts", "default"],
            { CC_PROJECT_FILES: JSON.stringify(files) }, { ACCOUNTS_SPEC_ROOT: spec }, false);
        const r = await run(fixture);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.deepStrictEqual(fs.readFileSync(marker, "utf8").trim().split("\n"),
            [`010-first.sh ${spec} scheduler hello`, `020-second.sh ${spec} scheduler hello`]);
        assert.deepStrictEqual(walk(spec), ["files/data.txt", "scripts/010-first.sh", "scripts/020-second.sh"]);
        assert.deepStrictEqual(fs.readdirSync(path.dirname(spec)), ["spec"], "staging left behind");
        assert.strictEqual((await run(fixture)).status, 0);
        const failing = [...fixture, { path: "specs/default/cluster-init/scripts/030-fail.sh", mode: "0755", content: Buffer.from("exit 3\n").toString("base64") }];
        const f = await run(failing);
        assert.notStrictEqual(f.status, 0);
        assert.match(f.stderr, /030-fail\.sh failed \(exit 3\)/);
        const evil = await run([...fixture, { path: "specs/default/cluster-init/../../x", mode: "0644", content: "" }]);
        assert.notStrictEqual(evil.status, 0);
        assert.match(evil.stderr, /refusing/);
    });
});
