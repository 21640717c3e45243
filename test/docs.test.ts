// The README and docs/ against the code: what the plan can produce (sample output, the architecture view, the
// dependency graph) equals what `npm run docs` generates from the dev stack's plan now; the architecture view
// comes from the plan's resources and NSG rules; no picture has a label wider than its box; the README is in the
// order a user acts; secrets are never set on a command line and the deploy key is one key everywhere.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { ArchitectureView, architectureDot, architectureView } from "../scripts/plan/architecture";
import { MONO_EM } from "../scripts/plan/diagram";
import { PlanResource } from "../scripts/plan/model";
import { DevPlan, Generated, ROOT, generateDocs, planDev, planSample, replaceBlock, staleFiles } from "../scripts/docs";
import { CONFIG_KEYS, DEFAULTS, DEPLOY_KEY_FILE, SECRET_KEYS, secretProblems, setSecretCommand } from "../components/config";

const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), "utf8");

function edge(view: ArchitectureView, from: string, to: string, protocol: RegExp) {
    return view.edges.find(e => e.from === from && e.to === to && protocol.test(e.protocol));
}

/** A deep copy of the plan's resources with `change` applied to the NSG named `nsg`'s rules. */
function withRules(resources: PlanResource[], nsg: string, change: (rules: Record<string, unknown>[]) => Record<string, unknown>[]): PlanResource[] {
    const copy = JSON.parse(JSON.stringify(resources)) as PlanResource[];
    const r = copy.find(x => x.name === nsg);
    assert.ok(r, `no ${nsg} in the plan`);
    r.inputs.securityRules = change(r.inputs.securityRules as Record<string, unknown>[]);
    return copy;
}

function decode(s: string): string {
    return s.replace(/&#(\d+);/g, (_m, n: string) => String.fromCodePoint(Number(n)))
        .replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, "\"").replace(/&#39;/g, "'").replace(/&amp;/g, "&");
}

/**
 * Every text of an SVG from Graphviz that does not fit: wider than the node or cluster shape it belongs to, or
 * outside the picture. Widths with the monospace metrics both Graphviz and the viewer's font use (MONO_EM).
 */
function overflows(svg: string): string[] {
    const problems: string[] = [];
    const vb = /viewBox="([\d.-]+) ([\d.-]+) ([\d.]+) ([\d.]+)"/.exec(svg);
    const tr = /class="graph" transform="scale\(1 1\) rotate\(0\) translate\(([\d.-]+) ([\d.-]+)\)"/.exec(svg);
    assert.ok(vb && tr, "not a Graphviz SVG");
    const width = Number(vb[3]), dx = Number(tr[1]);
    for (const g of svg.split(/<g id="[^"]+" class="/).slice(1)) {
        const kind = g.slice(0, g.indexOf("\""));
        const numbers = [...g.matchAll(/(?:points|d)="([^"]+)"/g)].flatMap(m => m[1].match(/-?[\d.]+,-?[\d.]+/g) ?? [])
            .map(p => Number(p.split(",")[0]));
        const ell = [...g.matchAll(/<ellipse[^>]*cx="([\d.-]+)"[^>]*rx="([\d.]+)"/g)].flatMap(m => [Number(m[1]) - Number(m[2]), Number(m[1]) + Number(m[2])]);
        const xs = [...numbers, ...ell];
        for (const t of g.matchAll(/<text[^>]*text-anchor="(\w+)" x="([\d.-]+)"[^>]*font-family="([^"]+)" font-size="([\d.]+)"[^>]*>([^<]*)<\/text>/g)) {
            const [, anchor, xs0, family, size, raw] = t;
            const text = decode(raw);
            if (!/monospace/.test(family)) problems.push(`"${text}": font ${family} is not monospace`);
            const w = [...text].length * MONO_EM * Number(size), x = Number(xs0);
            const [left, right] = anchor === "middle" ? [x - w / 2, x + w / 2] : anchor === "start" ? [x, x + w] : [x - w, x];
            if (left + dx < -0.5 || right + dx > width + 0.5) problems.push(`"${text}" (${kind}) leaves the picture`);
            if ((kind === "node" || kind === "cluster") && xs.length > 0 && (left < Math.min(...xs) - 0.5 || right > Math.max(...xs) + 0.5)) {
                problems.push(`"${text}" is wider than its ${kind} (${left.toFixed(1)}..${right.toFixed(1)} outside ${Math.min(...xs)}..${Math.max(...xs)})`);
            }
        }
    }
    return problems;
}

/** `pulumi config set --secret KEY VALUE` forms in a text: allowed after the key are nothing, a comment, "< file", or prose. */
function secretsOnCommandLine(text: string): string[] {
    const found: string[] = [];
    for (const m of text.matchAll(/pulumi config set (?:--path )?--secret (?:--path )?(\S+)([^\n]*)/g)) {
        const rest = m[2].trim();
        const ok = rest === "" || /[`"'),;.]$/.test(m[1]) || rest.startsWith("#") || /^< \S/.test(rest) || rest.startsWith("(it prompts") ||
            rest.startsWith("(prompts") || /^[`),;]/.test(rest);
        if (!ok) found.push(m[0]);
    }
    return found;
}

/** GitHub's anchors of a Markdown text's headings (lower case, punctuation dropped, spaces to hyphens). */
function headingsOf(md: string): string[] {
    const out: string[] = [];
    let fence = false;
    for (const line of md.split("\n")) {
        if (line.startsWith("```")) fence = !fence;
        const m = !fence && /^#{1,6} (.+)$/.exec(line);
        if (m) out.push(m[1].trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/ /g, "-"));
    }
    return out;
}

describe("README and docs against the plan (npm run docs)", function () {
    let dev: DevPlan;
    let generated: Generated[];
    let view: ArchitectureView;
    before(async () => {
        dev = await planDev();
        generated = await generateDocs(dev);
        view = architectureView(dev.model.resources);
    });

    it("README's plan sample and docs/*-dev.svg are what the plan gives now (else: npm run docs)", () => {
        assert.deepStrictEqual(staleFiles(generated), [], "stale: run `npm run docs` and commit the result");
        const graph = decode(generated.find(g => g.file.endsWith("dependency-graph-dev.svg"))!.content);
        for (const c of dev.model.resources.filter(r => r.type === "command:remote:Command")) {
            assert.ok(graph.includes(`>${c.name}</text>`), `the dependency graph lacks ${c.name}`);
        }
        const readme = generated.find(g => g.file.endsWith("README.md"))!.content;
        const customs = dev.model.resources.filter(r => r.custom).length;
        assert.ok(readme.includes(`Resources: ${customs} to create, in ${dev.model.resources.length - customs} components`));
        assert.ok(readme.includes(`Deployment time (estimate): `) && dev.est.criticalPath.every(p => readme.includes(` ${p.name} `)),
            "every resource of the critical path is in the README's sample");
    });

    it("a stale block is replaced, and a missing block is an error", () => {
        const text = "a\n<!-- BEGIN generated:x (npm run docs; test/docs.test.ts fails when stale) -->\nold\n<!-- END generated:x -->\nb\n";
        assert.strictEqual(replaceBlock(text, "x", "new"), text.replace("old", "new"));
        assert.throws(() => replaceBlock("no markers", "x", "new"), /no single generated block "x"/);
        assert.throws(() => planSample(["Resources: 3 to create, in 1 component"]), /printed no line matching/);
    });

    it("the architecture view has the people, Bastion, login node, CycleCloud, scheduler, compute and /shared", () => {
        const ids = view.nodes.map(n => n.id);
        for (const id of ["users", "admins", "deployer", "entra", "bastion", "login", "cyclecloud", "scheduler", "compute", "shared", "locker"]) {
            assert.ok(ids.includes(id as never), `no ${id} in the view`);
        }
        const node = (id: string) => view.nodes.find(n => n.id === id)!;
        assert.deepStrictEqual(node("login").resources, ["login-vm", "login-nic"]);
        assert.strictEqual(node("login").subnet, "login");
        assert.strictEqual(node("bastion").subnet, "AzureBastionSubnet");
        assert.strictEqual(node("shared").subnet, "cyclecloud", "/shared is reached at its private endpoint");
        assert.match(node("shared").label, /^\/shared: Azure Files NFS share "shared"/);
        assert.match(node("compute").label, /hpc: 0-4 x Standard_HB120rs_v3\nhtc: 0-8 x Standard_F4s_v2/, "partitions from the cluster parameters");
        assert.match(node("users").label, /1 user, 0 groups/);
        assert.match(node("admins").label, /1 user, 0 groups/);
        assert.match(node("login").label, /no public IP/);
    });

    it("draws each path between them, each admitted by the named NSG rule, and every admitted flow", () => {
        const want: [string, string, RegExp, string][] = [
            ["users", "bastion", /^HTTPS 443$/, "network-bastion-nsg/AllowHttpsInbound"],
            ["admins", "bastion", /^HTTPS 443$/, "network-bastion-nsg/AllowHttpsInbound"],
            ["deployer", "bastion", /^HTTPS 443$/, "network-bastion-nsg/AllowHttpsInbound"],
            ["bastion", "login", /^SSH 22$/, "network-login-nsg/AllowSshFromBastion"],
            ["bastion", "cyclecloud", /^SSH 22$/, "network-cyclecloud-nsg/AllowSshFromBastion"],
            ["bastion", "cyclecloud", /^HTTPS 443$/, "network-cyclecloud-nsg/AllowHttpsFromBastion"],
            ["login", "scheduler", /^Slurm 6817$/, "network-compute-nsg/AllowSlurmFromLogin"],
            ["login", "compute", /^Slurm 6818$/, "network-compute-nsg/AllowSlurmFromLogin"],
            ["compute", "login", /32768-60999/, "network-login-nsg/AllowSrunFromCompute"],
            ["login", "shared", /^NFS 2049$/, "network-cyclecloud-nsg/AllowNfsFromLogin"],
            ["scheduler", "shared", /^NFS 2049$/, "network-cyclecloud-nsg/AllowNfsFromCompute"],
            ["compute", "shared", /^NFS 2049$/, "network-cyclecloud-nsg/AllowNfsFromCompute"],
            ["cyclecloud", "scheduler", /^SSH 22$/, "network-compute-nsg/AllowSshFromCycleCloud"],
            ["compute", "cyclecloud", /^HTTPS 9443$/, "network-cyclecloud-nsg/AllowCycleCloudFromNodes"],
            ["scheduler", "locker", /^HTTPS 443$/, "network-cyclecloud-nsg/AllowLockerFromNodes"],
            ["cyclecloud", "compute", /^Azure API$/, "cyclecloud-cluster-rg-contributor"],
            ["users", "entra", /^HTTPS$/, "Entra ID"],
        ];
        for (const [from, to, protocol, by] of want) {
            const e = edge(view, from, to, protocol);
            assert.ok(e, `no ${from} -> ${to} ${protocol}`);
            assert.strictEqual(e.admittedBy, by, `${from} -> ${to}`);
        }
        assert.ok(!edge(view, "users", "login", /./) && !edge(view, "users", "cyclecloud", /./), "people reach machines only through Bastion");
        assert.ok(!edge(view, "bastion", "scheduler", /./) && !edge(view, "login", "cyclecloud", /^SSH/), "no path the NSGs do not admit");
        assert.deepStrictEqual(view.unexplained, [], "every Allow rule of a private subnet's NSG is drawn");
        const svg = generated.find(g => g.file.endsWith("architecture-dev.svg"))!.content;
        for (const text of ["Azure Bastion bas-ccslurm-dev", "Login node vm-ccslurm-dev-login", "CycleCloud 8 vm-ccslurm-dev-cc",
            "Slurm scheduler", "Compute nodes", "/shared: Azure Files", "Users (Entra ID)", "Admins (Entra ID)",
            "NFS 2049 (homes, Slurm config)", "SSH 22 (Entra ID sign-in)", "Slurm 6817 (sbatch, squeue)"]) {
            assert.ok(decode(svg).includes(text), `the rendered view lacks "${text}"`);
        }
    });

    it("follows the plan: a removed or shadowed rule removes its arrow, an extra rule is reported, a deploy prefix replaces the tunnel", () => {
        const res = dev.model.resources;
        const without = architectureView(withRules(res, "network-cyclecloud-nsg", rules => rules.filter(r => r.name !== "AllowNfsFromLogin")));
        assert.ok(!edge(without, "login", "shared", /NFS/) && edge(without, "compute", "shared", /NFS/));
        const shadowed = architectureView(withRules(res, "network-login-nsg", rules => [...rules,
            { name: "DenyBastionFirst", priority: 90, direction: "Inbound", access: "Deny", protocol: "*", sourceAddressPrefix: "10.40.0.0/26", destinationAddressPrefix: "*", destinationPortRange: "*" }]));
        assert.ok(!edge(shadowed, "bastion", "login", /SSH/), "the first matching rule by priority decides");
        const extra = architectureView(withRules(res, "network-login-nsg", rules => [...rules,
            { name: "AllowHttpFromCompute", priority: 300, direction: "Inbound", access: "Allow", protocol: "Tcp", sourceAddressPrefix: "10.40.16.0/20", destinationAddressPrefix: "*", destinationPortRange: "8080" }]));
        assert.deepStrictEqual(extra.unexplained, ["network-login-nsg/AllowHttpFromCompute: 10.40.16.0/20 -> Tcp 8080"]);
        const direct = architectureView(withRules(res, "network-cyclecloud-nsg", rules => [...rules,
            { name: "AllowSshFromDeploy", priority: 140, direction: "Inbound", access: "Allow", protocol: "Tcp", sourceAddressPrefix: "203.0.113.0/24", destinationAddressPrefix: "*", destinationPortRange: "22" }]));
        assert.ok(edge(direct, "deployer", "cyclecloud", /^SSH 22$/) && !edge(direct, "deployer", "bastion", /./));
        assert.deepStrictEqual(direct.unexplained, []);
        // The engine's registration order varies with timing; the picture does not.
        const reversed = architectureDot(architectureView([...res].reverse()), "t");
        assert.strictEqual(reversed, architectureDot(view, "t"));
    });

    it("renders both pictures without a label wider than its box or outside the picture (monospace metrics)", () => {
        for (const g of generated.filter(x => x.file.endsWith(".svg"))) {
            assert.deepStrictEqual(overflows(g.content), [], path.basename(g.file));
        }
        // The check itself catches what it is for: a label made wider than its box.
        const svg = generated.find(g => g.file.endsWith("architecture-dev.svg"))!.content;
        const widened = svg.replace(/>Azure Bastion [^<]*</, ">Azure Bastion with a much longer name than its box fits<");
        assert.ok(overflows(widened).some(p => p.includes("with a much longer name")), "the overflow check found nothing");
        assert.ok(overflows(svg.replace(/Courier,monospace/g, "Helvetica,sans-Serif")).some(p => p.includes("not monospace")));
    });

    it("README: the first commands plan and test, sections in the order a user acts, the component table matches the plan", () => {
        const readme = read("README.md");
        const first = /```bash\n([\s\S]*?)```/.exec(readme)![1].split("\n").filter(l => l.trim()).map(l => l.replace(/\s+#.*$/, ""));
        assert.deepStrictEqual(first, ["npm ci && npm run plan", "npm run test:all"]);
        const pkg = JSON.parse(read("package.json"));
        assert.strictEqual(pkg.scripts["test:all"], "bash scripts/test-all.sh");
        assert.match(read("scripts/test-all.sh"), /bash scripts\/setup-testbed\.sh\nexport CI=true\nexec npx --no-install mocha/);
        const ci = read(".ci/run");
        assert.ok(/^npm run lint$/m.test(ci) && /^npm run test:all$/m.test(ci), ".ci/run runs lint and the README's test command");
        const headings = [...readme.matchAll(/^## (.+)$/gm)].map(m => m[1]);
        const at = (h: string) => {
            const i = headings.indexOf(h);
            assert.ok(i >= 0, `no "## ${h}"`);
            return i;
        };
        const steps = ["Quick start (no Azure account needed)", "Prerequisites for a real deployment", "Deploy", "Sign in",
            "Submit a first job", "Add a user or group", "Destroy"].map(at);
        assert.deepStrictEqual([...steps].sort((a, b) => a - b), steps, "the steps are in the order a user takes them");
        const job = readme.slice(readme.indexOf("## Submit a first job"), readme.indexOf("## Add a user or group"));
        assert.ok(/^sbatch hello\.sh$/m.test(job) && /^squeue --me$/m.test(job) && /cat hello-/.test(job) && /\/shared\/home\//.test(job));
        const table = readme.slice(readme.indexOf("| Component (`index.ts` composes them)"));
        const listed = new Set([...table.slice(0, table.indexOf("\n\n")).matchAll(/`(cyclecloud-slurm-entra:[a-z]+:[A-Za-z]+)`/g)].map(m => m[1]));
        const components = new Set(dev.model.resources.filter(r => !r.custom).map(r => r.type));
        assert.deepStrictEqual([...listed].sort(), [...components].sort(), "README's component table vs the plan's components");
        assert.ok(!/does not yet install the\s+publisher/.test(readme), "Known limits must not deny what cloud-init installs");
        const anchors = new Set(headingsOf(readme));
        for (const m of readme.matchAll(/\]\(#([a-z0-9-]+)\)/g)) assert.ok(anchors.has(m[1]), `README links to #${m[1]}, which no heading makes`);
    });

    it("README's configuration reference has every key, and each default as the program has it", () => {
        const readme = read("README.md");
        const sec = readme.slice(readme.indexOf("## Configuration reference"), readme.indexOf("\n## ", readme.indexOf("## Configuration reference") + 5));
        const table = new Map<string, string>();
        for (const row of sec.split("\n").filter(l => l.startsWith("| `")).map(l => l.split(" | "))) {
            const keys = [...row[0].matchAll(/`([A-Za-z]+)`/g)].map(m => m[1]);
            const defaults = row[1].split(" / ");
            keys.forEach((k, i) => table.set(k, (defaults.length === keys.length ? defaults[i] : row[1]).trim()));
        }
        const known = [...CONFIG_KEYS, ...Object.keys(SECRET_KEYS)];
        assert.deepStrictEqual(known.filter(k => !table.has(k)), [], "keys without a row");
        assert.deepStrictEqual([...table.keys()].filter(k => !known.includes(k)), [], "rows for keys the program does not read");
        for (const [key, value] of Object.entries(DEFAULTS)) {
            const cells = [...table.get(key)!.matchAll(/`([^`]+)`/g)].map(m => m[1]);
            assert.ok(cells.includes(String(value)), `${key}: the program's default is ${String(value)}, README says ${table.get(key)}`);
        }
    });

    it("secrets are set by prompt or from a file, never on a command line; one deploy key everywhere", () => {
        const files = ["README.md", "docs/cyclecloud.md", "docs/cli-behaviour.md", "docs/threat-model.md", "Pulumi.yaml", "Pulumi.dev.yaml", ...fs.readdirSync(path.join(ROOT, "components", "config")).map(f => `components/config/${f}`)];
        for (const f of files) {
            const text = read(f);
            assert.deepStrictEqual(secretsOnCommandLine(text), [], `${f}: a secret value on the command line`);
            for (const m of text.matchAll(/~\/\.ssh\/[^\s"'`)]*/g)) {
                assert.ok(m[0] === DEPLOY_KEY_FILE || m[0] === `${DEPLOY_KEY_FILE}.pub`, `${f}: ${m[0]} is not the deploy key ${DEPLOY_KEY_FILE}`);
            }
        }
        // The check catches the forms the README and config messages used to suggest.
        for (const bad of ["pulumi config set --secret cyclecloudAdminPassword 'a-Strong-Passw0rd!'",
            "pulumi config set --secret ${key} <value> (this replaces the plain value)", "pulumi config set --secret adminSshPrivateKey ...  (x)"]) {
            assert.strictEqual(secretsOnCommandLine(bad).length, 1, bad);
        }
        for (const key of Object.keys(SECRET_KEYS)) assert.match(setSecretCommand(key), new RegExp(`^pulumi config set --secret ${key} (\\(it prompts|< \\S)`));
        const problems = secretProblems({ adminSshPrivateKey: "not a key" }, undefined, false);
        assert.ok(problems.some(p => p.includes(`ssh-keygen -t ed25519 -N '' -C cyclecloud-slurm-entra-deploy -f ${DEPLOY_KEY_FILE}`) &&
            p.includes(`pulumi config set --secret adminSshPrivateKey < ${DEPLOY_KEY_FILE}`)), problems.join("\n"));
        assert.ok(problems.some(p => p.startsWith("cyclecloudAdminPassword: is required (a secret): pulumi config set --secret cyclecloudAdminPassword (it prompts")));
        const readme = read("README.md");
        assert.ok(readme.includes(`ssh-keygen -t ed25519 -N '' -C cyclecloud-slurm-entra-deploy -f ${DEPLOY_KEY_FILE}`) &&
            read("docs/cyclecloud.md").includes(`ssh-keygen -t ed25519 -N '' -C cyclecloud-slurm-entra-deploy -f ${DEPLOY_KEY_FILE}`));
    });
});
