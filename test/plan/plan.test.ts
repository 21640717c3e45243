// The offline plan's modules, called directly (no child process): the dev stack's plan, plan.json, secrets,
// the deployment-time estimate, artefacts and the diagram. test/plan/cli.test.ts covers the exit codes.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ancestorsOf, buildModel, PlanModel, PlanResource } from "../../scripts/plan/model";
import { durationOf, estimate, TUNNEL_OPEN_SECONDS } from "../../scripts/plan/estimate";
import { heredocJson } from "../../scripts/plan/artefacts";
import { toDot } from "../../scripts/plan/diagram";
import { Scrubber, ed25519KeyPair } from "../../scripts/plan/secrets";
import { PlanRun, runPlan } from "../../scripts/plan/run";
import { SimResource } from "../../scripts/simulate";

const fixtures = path.join(__dirname, "fixtures");
const COMPONENTS = ["network:Network", "storage:SharedStorage", "login:LoginNode", "entra:EntraAccess"];

interface Captured extends PlanRun {
    text: string;
    outDir: string;
}

async function plan(opts: Parameters<typeof runPlan>[0] = {}): Promise<Captured> {
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-test-"));
    const lines: string[] = [];
    const run = await runPlan({ out: outDir, ...opts, print: l => lines.push(l), printError: l => lines.push(l) });
    return { ...run, text: lines.join("\n"), outDir };
}

/** Every file under dir with its text. */
function readTree(dir: string): { file: string; text: string }[] {
    const out: { file: string; text: string }[] = [];
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) out.push(...readTree(p));
        else out.push({ file: p, text: fs.readFileSync(p, "utf8") });
    }
    return out;
}

function byName(model: PlanModel, name: string): PlanResource {
    const r = model.resources.find(x => x.name === name);
    assert.ok(r, `no resource named ${name}`);
    return r;
}

function loadPlanJson(dir: string) {
    return JSON.parse(fs.readFileSync(path.join(dir, "plan.json"), "utf8"));
}

describe("npm run plan (modules)", function () {
    let dev: Captured;
    let model: PlanModel;
    before(async () => {
        dev = await plan({ stack: "dev" });
        model = buildModel(dev.sim!);
    });

    it("plans the dev stack with exit 0, every component in the tree and in plan.json", () => {
        assert.strictEqual(dev.exitCode, 0, dev.text);
        const components = dev.sim!.resources.filter(r => !r.custom);
        for (const t of COMPONENTS) {
            const c = components.find(r => r.type === `cyclecloud-slurm-entra:${t}`);
            assert.ok(c, `component ${t} missing from the simulation`);
            assert.match(dev.text, new RegExp(`─ ${c.name}  \\[${t}\\]`), `tree lacks ${t}`);
        }
        // Whatever else the program composes (the CycleCloud cluster once it lands) is in the tree too.
        for (const c of components) assert.ok(dev.text.includes(`─ ${c.name}  [`), `tree lacks component ${c.name}`);
        const doc = loadPlanJson(dev.outDir);
        assert.strictEqual(doc.resources.length, dev.sim!.resources.length);
        for (const r of doc.resources) {
            for (const k of ["urn", "type", "name", "inputs", "dependencies"]) assert.ok(k in r, `${r.name} lacks ${k}`);
        }
        assert.match(dev.text, /Policies \(\d+ in the pack\)/);
        assert.match(dev.text, /Deployment time \(estimate\): \d+m\d\ds — critical path:/);
    });

    it("writes into plan.json exactly the dependencies each registration declared", () => {
        const doc = loadPlanJson(dev.outDir);
        const declared = new Map(dev.sim!.resources.map(r => [r.urn, [...r.dependencies].sort()]));
        for (const r of doc.resources) assert.deepStrictEqual([...r.dependencies].sort(), declared.get(r.urn), r.name);
        const deps = (name: string) => doc.resources.find((r: { name: string }) => r.name === name).dependencies
            .map((u: string) => u.split("::").pop());
        // network.ts chains the subnets with dependsOn; the VM takes its NIC's ID; the login role needs the VM's ID.
        assert.ok(deps("network-login-subnet").includes("network-cyclecloud-subnet"));
        assert.ok(deps("login-vm").includes("login-nic"));
        assert.ok(deps("network-bastion").includes("network-bastion-subnet"));
    });

    it("records a fixture's declared dependencies exactly (input, dependsOn, dependsOn a component)", async () => {
        const run = await plan({ stackFile: path.join(fixtures, "Pulumi.fixture.yaml"), program: path.join(fixtures, "declared-deps.ts") });
        assert.strictEqual(run.exitCode, 0, run.text);
        const doc = loadPlanJson(run.outDir);
        const deps = Object.fromEntries(doc.resources.map((r: { name: string; dependencies: string[] }) =>
            [r.name, r.dependencies.map(u => u.split("::").pop()).sort()]));
        assert.deepStrictEqual(deps, { group: [], rg: [], vnet: ["rg"], ip: ["vnet"], "group-nsg": ["rg"], nat: ["group-nsg"] });
        assert.match(doc.resources.find((r: { name: string }) => r.name === "group-nsg").parent, /fixture:index:Group::group$/);
    });

    it("shows secret inputs as [secret] and never prints or writes a secret value", async () => {
        const run = await plan({ stackFile: path.join(fixtures, "Pulumi.fixture.yaml"), program: path.join(fixtures, "declared-deps.ts") });
        const vnet = loadPlanJson(run.outDir).resources.find((r: { name: string }) => r.name === "vnet");
        assert.deepStrictEqual(vnet.inputs.tags, { token: "[secret]" });
        assert.match(run.text, /vnet tags\.token = \[secret\]/);
        const secrets = [...run.secretValues, "c2VjcmV0LWNpcGhlcnRleHQtbm90LWEtcmVhbC1vbmU="];
        assert.ok(secrets.some(s => s.includes("apiToken")), "the fixture's secret is among the values checked");
        for (const r of [run, dev]) {
            const all = [{ file: "(printed)", text: r.text }, ...readTree(r.outDir)];
            for (const s of [...secrets, ...dev.secretValues]) {
                for (const f of all) assert.ok(!f.text.includes(s), `a secret value appears in ${f.file}`);
            }
        }
    });

    it("fails (exit 1) when a secret config value reaches a plain input, without printing it", async () => {
        const run = await plan({ stackFile: path.join(fixtures, "Pulumi.fixture.yaml"), program: path.join(fixtures, "leaky-secret.ts") });
        assert.strictEqual(run.exitCode, 1, run.text);
        assert.match(run.text, /secret config value appears in plain text in:\n\s+rg inputs/);
        const leaked = run.secretValues.find(s => s.includes("apiToken"))!;
        for (const f of [{ file: "(printed)", text: run.text }, ...readTree(run.outDir)]) {
            assert.ok(!f.text.includes(leaked), `the secret appears in ${f.file}`);
        }
        assert.ok(readTree(run.outDir).some(f => f.text.includes("[secret]")), "the leaked value is shown as [secret]");
    });

    it("finds a secret config value inside gzip-compressed custom data (exit 1), without printing it", async () => {
        const run = await plan({ stackFile: path.join(fixtures, "Pulumi.fixture.yaml"), program: path.join(fixtures, "leaky-gzip-custom-data.ts") });
        assert.strictEqual(run.exitCode, 1, run.text);
        assert.match(run.text, /secret config value appears in plain text in:\n\s+cloud-init of vm \(decoded\) \(apiToken\)/);
        const leaked = run.secretValues.find(s => s.includes("apiToken"))!;
        for (const f of [{ file: "(printed)", text: run.text }, ...readTree(run.outDir)]) {
            assert.ok(!f.text.includes(leaked), `the secret appears in ${f.file}`);
        }
        assert.match(fs.readFileSync(path.join(run.outDir, "cloud-init", "vm.yaml"), "utf8"), /content: \[secret\]/);
    });

    it("judges with the pack's policies: a Bastion without tunneling is a mandatory violation", async () => {
        const run = await plan({ stackFile: path.join(fixtures, "Pulumi.fixture.yaml"), program: path.join(fixtures, "open-bastion.ts") });
        assert.strictEqual(run.exitCode, 1);
        const v = run.document!.policies.verdicts.find(x => x.policy === "bastion-native-client-tunneling")!;
        assert.strictEqual(v.verdict, "mandatory");
        assert.ok(v.violations.every(x => x.urn?.endsWith("::bastion-without-tunneling")));
        assert.match(run.text, /FAIL {2}bastion-native-client-tunneling \(mandatory\)\n\s+bastion-without-tunneling \(network:BastionHost\): enableTunneling is false/);
        assert.strictEqual(dev.document!.policies.mandatory, 0);
    });

    it("estimates the critical path as the longest chain of typical create times", () => {
        const est = estimate(model);
        const steps = est.criticalPath;
        assert.strictEqual(est.totalSeconds, steps.reduce((s, p) => s + p.seconds, 0));
        assert.strictEqual(steps[steps.length - 1].finishAt, est.totalSeconds);
        for (let i = 1; i < steps.length; i++) {
            assert.ok(model.waitsFor.get(steps[i].urn)!.includes(steps[i - 1].urn), `${steps[i].name} does not wait for ${steps[i - 1].name}`);
        }
        for (const [urn, f] of est.finishAt) assert.ok(f <= est.totalSeconds, `${urn} ends after the total`);
        // With the CycleCloud cluster in the program its start dominates; without it, Bastion's 10 minutes do.
        const dominant = model.resources.some(r => r.type === "command:remote:Command") ? /-cluster$/ : /bastion/;
        assert.ok(steps.some(s => dominant.test(s.name)), `critical path: ${steps.map(s => s.name).join(" -> ")}`);
    });

    it("tunnel mode (dev): the estimate runs the remote Commands one after the other and adds the tunnel's opening to the first", () => {
        const est = estimate(model);
        const commands = est.criticalPath.filter(s => s.type === "command:remote:Command").map(s => s.name);
        assert.deepStrictEqual(commands, ["cyclecloud-init", "slurm-users", "slurm-accounts-upload", "slurm-cluster", "slurm-scale",
            "slurm-accounts-scheduler", "slurm-seed", "readiness-check"]);
        const init = est.criticalPath.find(s => s.name === "cyclecloud-init")!;
        assert.strictEqual(init.seconds, TUNNEL_OPEN_SECONDS + 300);
        assert.match(init.parts?.[0].label ?? "", /Bastion tunnel opens/);
        // Without a BastionHost dependency (jump host, direct) the first Command does not wait for a tunnel.
        const direct = { ...byName(model, "cyclecloud-init"), dependencies: [] };
        assert.strictEqual(durationOf(direct).seconds, 300);
    });

    it("finds the longest path in a synthetic graph, not the one with the most steps", () => {
        const r = (name: string, type: string, deps: string[]): SimResource => ({
            urn: `urn:${name}`, type, name, custom: true, inputs: {}, redactedInputs: {}, outputs: {},
            dependencies: deps.map(d => `urn:${d}`), propertyDependencies: {},
            options: { ignoreChanges: [], deleteBeforeReplace: false, additionalSecretOutputs: [], retainOnDelete: false, protect: false },
        });
        const m = buildModel({ resources: [
            r("a", "azure-native:resources:ResourceGroup", []),
            r("s1", "azure-native:network:Subnet", ["a"]),
            r("s2", "azure-native:network:Subnet", ["s1"]),
            r("s3", "azure-native:network:Subnet", ["s2"]),
            r("bastion", "azure-native:network:BastionHost", ["a"]),
            r("end", "azure-native:authorization:RoleAssignment", ["s3", "bastion"]),
        ] });
        const est = estimate(m);
        assert.deepStrictEqual(est.criticalPath.map(s => s.name), ["a", "bastion", "end"]);
        assert.strictEqual(est.totalSeconds, 3 + 600 + 5);
    });

    it("keeps Bastion off the cluster's path except for the Commands that tunnel through it, the login node off the cluster's, and the cluster off the login node's", () => {
        const bastion = model.resources.filter(r => r.type === "azure-native:network:BastionHost").map(r => r.urn);
        const loginVm = byName(model, "login-vm");
        assert.strictEqual(bastion.length, 1);
        // The login node is created without waiting for Bastion (users need Bastion only to sign in).
        assert.ok(!ancestorsOf(model, loginVm.urn).has(bastion[0]), "login-vm waits for Bastion");
        const cluster = model.resources.filter(r => r.custom && (/^command:/.test(r.type) || isInCluster(model, r)));
        for (const c of cluster) {
            const anc = ancestorsOf(model, c.urn);
            // The dev stack reaches the private hosts through a Bastion tunnel: its remote Commands must wait
            // for Bastion (and destroy must keep it until they are gone); nothing else of the cluster may.
            if (c.type === "command:remote:Command") assert.ok(anc.has(bastion[0]), `${c.name} does not wait for Bastion, its tunnel`);
            else assert.ok(!anc.has(bastion[0]), `${c.name} waits for Bastion`);
            // The readiness check (issue 13) runs on the login node, so it alone must wait for it.
            if (c.name === "readiness-check") assert.ok(anc.has(loginVm.urn), "readiness-check does not wait for the login node");
            else assert.ok(!anc.has(loginVm.urn), `${c.name} waits for the login node`);
        }
        const loginAnc = ancestorsOf(model, loginVm.urn);
        for (const c of cluster) assert.ok(!loginAnc.has(c.urn), `the login node waits for ${c.name}`);
        if (cluster.length === 0) console.log("      (no CycleCloud cluster in this program yet: only the login-node check ran)");
    });

    it("renders the login node's cloud-init and every Command's scripts", () => {
        const files = readTree(dev.outDir).map(f => path.relative(dev.outDir, f.file));
        const cloudInit = fs.readFileSync(path.join(dev.outDir, "cloud-init", "login-vm.yaml"), "utf8");
        assert.match(cloudInit, /^#cloud-config\n/);
        assert.match(cloudInit, /install-slurm-client/);
        for (const r of model.resources.filter(x => /^command:(remote|local):Command$/.test(x.type))) {
            for (const key of ["create", "stdin"]) {
                if (typeof r.inputs[key] === "string") {
                    assert.ok(files.some(f => f.startsWith(`commands/${r.name.replace(/[^A-Za-z0-9._-]+/g, "_")}/${key}.`)), `no ${key} artefact for ${r.name}`);
                }
            }
        }
        assert.ok(files.includes("architecture.svg") && files.includes("plan.json"));
        if (model.resources.some(r => r.name === "slurm-cluster")) {
            const params = JSON.parse(fs.readFileSync(path.join(dev.outDir, "commands", "slurm-cluster", "CC_CLUSTER_PARAMS.json"), "utf8"));
            assert.strictEqual(params.configuration_slurm_version, "25.11.5");
            const records = fs.readFileSync(path.join(dev.outDir, "commands", "slurm-users", "CC_USER_RECORDS.txt"), "utf8");
            assert.match(records, /Name = "bob"[\s\S]*UID = 10002/);
            // The accounts project, file by file as the server writes it before `cyclecloud project upload`.
            const project = path.join(dev.outDir, "commands", "slurm-accounts-upload", "CC_PROJECT_FILES");
            assert.match(fs.readFileSync(path.join(project, "project.ini"), "utf8"), /^name = cluster-accounts$/m);
            const spec = path.join(__dirname, "..", "..", "components", "accounts", "cluster-init");
            for (const rel of ["scripts/010-cluster-accounts.sh", "files/apply-accounts.sh"]) {
                assert.strictEqual(fs.readFileSync(path.join(project, "specs", "default", "cluster-init", rel), "utf8"),
                    fs.readFileSync(path.join(spec, rel), "utf8"), rel);
            }
            assert.ok(!files.includes("commands/slurm-accounts-upload/CC_PROJECT_FILES.json"), "the project also dumped as base64 JSON");
            const init = fs.readFileSync(path.join(dev.outDir, "commands", "cyclecloud-init", "stdin.sh"), "utf8");
            assert.match(init, /^export CC_ADMIN_PASSWORD=\[secret\]$/m, "the secret stdin is shown with its values masked");
        }
    });

    it("pulls JSON documents out of here-documents", () => {
        const found = heredocJson("set -e\ncat > /tmp/params.json <<'EOF'\n{\"a\": 1}\nEOF\necho done\ncat <<X\nnot json\nX\n");
        assert.deepStrictEqual(found, [{ delimiter: "EOF", target: "/tmp/params.json", json: { a: 1 } }]);
    });

    it("scrubs a secret in plain, multi-line and base64 forms", () => {
        const key = ed25519KeyPair("test").privateKey;
        const pw = "Correct-Horse-9!";
        const s = new Scrubber({ key, pw });
        const b64 = Buffer.from(`password: ${pw}\n`).toString("base64");
        const text = `a ${pw} b\n${key.split("\n")[2]}\n${b64}`;
        const out = s.scrub(text);
        assert.ok(!out.includes(pw) && !out.includes(key.split("\n")[2]), out);
        assert.ok(!Buffer.from(out.split("\n").pop()!, "base64").toString().includes(pw));
        assert.strictEqual(s.scrub("nothing here"), "nothing here");
    });

    it("draws one cluster per component and renders SVG", () => {
        const dot = toDot(model, estimate(model));
        const components = model.resources.filter(r => !r.custom);
        assert.strictEqual((dot.match(/subgraph cluster_/g) ?? []).length, components.length);
        for (const c of components) assert.ok(dot.includes(`label="${c.name} (`), `no cluster for ${c.name}`);
        assert.match(dot, /color="#dc2626", penwidth=2\]/, "the critical path is highlighted");
        const svg = fs.readFileSync(path.join(dev.outDir, "architecture.svg"), "utf8");
        assert.ok(/^<\?xml[\s\S]*<svg[\s\S]*network&#45;bastion[\s\S]*<\/svg>\s*$/.test(svg), "architecture.svg is not an SVG of the plan");
    });

    it("has a typical time for every type the dev stack creates (or says it is an estimate)", () => {
        for (const r of model.resources.filter(x => x.custom)) {
            const d = durationOf(r);
            assert.ok(d.seconds > 0 && d.source.length > 0, r.type);
            assert.ok(!/no entry/.test(d.source), `no typical time for ${r.type}`);
        }
    });
});

function isInCluster(model: PlanModel, r: PlanResource): boolean {
    for (let p = r.parent ? model.byUrn.get(r.parent) : undefined; p; p = p.parent ? model.byUrn.get(p.parent) : undefined) {
        if (!p.custom && /cyclecloud:|slurm:|cluster/i.test(p.type.replace(/^cyclecloud-slurm-entra:/, ""))) return true;
    }
    return false;
}

describe("npm run plan --out DIR (only its own files)", function () {
    it("refuses a non-empty directory it did not write, before planning, and touches nothing in it", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-foreign-"));
        fs.mkdirSync(path.join(dir, "commands"));
        fs.writeFileSync(path.join(dir, "commands", "notes.txt"), "mine\n");
        const lines: string[] = [];
        const r = await runPlan({ out: dir, print: l => lines.push(l), printError: l => lines.push(l) });
        assert.strictEqual(r.exitCode, 2, lines.join("\n"));
        assert.match(lines.join("\n"), /error: --out .* is not empty and holds no \.plan-manifest\.json, so an earlier plan did not write it/);
        assert.deepStrictEqual(readTree(dir).map(f => path.relative(dir, f.file)), [path.join("commands", "notes.txt")]);
    });

    it("on a second run removes only what the first run listed in its manifest, never following a link", async () => {
        const first = await plan({ stack: "dev" });
        assert.strictEqual(first.exitCode, 0, first.text);
        const dir = first.outDir;
        const manifest = JSON.parse(fs.readFileSync(path.join(dir, ".plan-manifest.json"), "utf8"));
        assert.deepStrictEqual([...manifest.files].sort(), readTree(dir).map(f => path.relative(dir, f.file))
            .filter(f => f !== ".plan-manifest.json").sort(), "the manifest lists exactly what the plan wrote");
        // A file of an earlier plan's artefact that is gone now, someone else's files, and a listed file that became a link.
        fs.mkdirSync(path.join(dir, "commands", "old-command"));
        fs.writeFileSync(path.join(dir, "commands", "old-command", "create.sh"), "old\n");
        manifest.files.push("commands/old-command/create.sh", "../outside.txt");
        fs.writeFileSync(path.join(dir, ".plan-manifest.json"), JSON.stringify(manifest));
        fs.writeFileSync(path.join(dir, "commands", "keep.txt"), "not the plan's\n");
        fs.writeFileSync(path.join(dir, "keep.txt"), "not the plan's\n");
        const outside = path.join(path.dirname(dir), "outside.txt");
        fs.writeFileSync(outside, "outside\n");
        const victim = fs.mkdtempSync(path.join(os.tmpdir(), "plan-victim-")) + "/victim.txt";
        fs.writeFileSync(victim, "victim\n");
        fs.rmSync(path.join(dir, "architecture.dot"));
        fs.symlinkSync(victim, path.join(dir, "architecture.dot"));

        const second = await runPlan({ stack: "dev", out: dir, print: () => undefined, printError: () => undefined });
        assert.strictEqual(second.exitCode, 0);
        assert.ok(!fs.existsSync(path.join(dir, "commands", "old-command")), "the earlier plan's artefact was left");
        assert.strictEqual(fs.readFileSync(path.join(dir, "commands", "keep.txt"), "utf8"), "not the plan's\n");
        assert.strictEqual(fs.readFileSync(path.join(dir, "keep.txt"), "utf8"), "not the plan's\n");
        assert.strictEqual(fs.readFileSync(outside, "utf8"), "outside\n");
        assert.strictEqual(fs.readFileSync(victim, "utf8"), "victim\n", "a listed link was followed");
        assert.ok(fs.lstatSync(path.join(dir, "architecture.dot")).isFile());
        assert.ok(fs.existsSync(path.join(dir, "plan.json")));
        fs.rmSync(outside);
    });

    it("finds here-documents in a script with a long line in linear time (same result as before)", () => {
        const long = "c".repeat(400 * 1024);
        const script = `set +x\nexport X='${long}'\ncat > /tmp/p.json <<'EOF'\n{"a": 1}\nEOF\necho ${long} <<< x\ncat <<-Y\n not json\n Y\n`;
        assert.deepStrictEqual(heredocJson(script), [{ delimiter: "EOF", target: "/tmp/p.json", json: { a: 1 } }]);
    });
});
