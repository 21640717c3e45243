// `npm run plan` as a command: exit codes 0 (clean), 1 (mandatory violation), 2 (invalid config naming the key),
// 3 (the program failed for another reason).
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const root = path.resolve(__dirname, "..", "..");
const fixtures = path.join(__dirname, "fixtures");
/** `npm run plan`'s own node arguments (package.json), so the test runs the command users run. */
const PLAN_ARGS = (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).scripts.plan as string).split(/\s+/).slice(1);

function planCli(args: string[]): { status: number | null; stdout: string; stderr: string; out: string } {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "plan-cli-"));
    const r = spawnSync(process.execPath, [...PLAN_ARGS, "--out", out, ...args], {
        cwd: root, encoding: "utf8", timeout: 60000,
        // No network needed: make any attempt fail fast instead of hanging.
        env: { ...process.env, HTTP_PROXY: "http://127.0.0.1:9", HTTPS_PROXY: "http://127.0.0.1:9", NO_PROXY: "" },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, out };
}

describe("npm run plan (command line)", function () {
    it("exits 0 for the dev stack and writes plan.json and the diagram", () => {
        const r = planCli([]);
        assert.strictEqual(r.status, 0, r.stderr + r.stdout);
        assert.match(r.stdout, /^Plan: stack dev \(Pulumi\.dev\.yaml\)/);
        assert.match(r.stdout, /Result: OK/);
        assert.ok(fs.existsSync(path.join(r.out, "plan.json")) && fs.existsSync(path.join(r.out, "architecture.svg")));
    });

    it("exits 2 for a stack file with an invalid value and names the key", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-stack-"));
        const file = path.join(dir, "Pulumi.broken.yaml");
        const dev = fs.readFileSync(path.join(root, "Pulumi.dev.yaml"), "utf8");
        fs.writeFileSync(file, dev.replace(/(config:\n)/, "$1  cyclecloud-slurm-entra:bastionSku: Basic\n"));
        const r = planCli(["--stack-file", file]);
        assert.strictEqual(r.status, 2, r.stderr + r.stdout);
        assert.match(r.stderr, /Invalid stack configuration in .*Pulumi\.broken\.yaml \(stack broken\)/);
        assert.match(r.stderr, /- bastionSku: must be Standard or Premium/);
        assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
        assert.ok(!fs.existsSync(path.join(r.out, "plan.json")), "nothing planned");
    });

    it("exits 2 for a plaintext secret and for values that would break or weaken the deployment, naming each key", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-stack-"));
        const file = path.join(dir, "Pulumi.unsafe.yaml");
        const dev = fs.readFileSync(path.join(root, "Pulumi.dev.yaml"), "utf8");
        const password = "Plain-Text-Passw0rd!";
        fs.writeFileSync(file, dev
            .replace(/(config:\n)/, `$1  cyclecloud-slurm-entra:cyclecloudAdminPassword: ${password}\n` +
                "  cyclecloud-slurm-entra:vnetAddressSpace: 012.40.0.0/16\n")
            .replace(/( {4}cost-center: hpc\n)/, "$1    Slurm-Node-Role: compute\n")
            .replace("      name: bob\n", "      name: root\n"));
        const r = planCli(["--stack-file", file]);
        assert.strictEqual(r.status, 2, r.stderr + r.stdout);
        assert.match(r.stderr, /- cyclecloudAdminPassword: is stored in plain text in the stack config; .*pulumi config set --secret cyclecloudAdminPassword/);
        assert.match(r.stderr, /- vnetAddressSpace: write it as 10\.40\.0\.0\/16/);
        assert.match(r.stderr, /- tags\.Slurm-Node-Role: the program sets the tag slurm-node-role itself/);
        assert.match(r.stderr, /- users\[1\]\.name: "root" is a system or service account name/);
        assert.ok(!(r.stdout + r.stderr).includes(password), "the plaintext password was printed");
        assert.ok(!fs.existsSync(path.join(r.out, "plan.json")), "nothing planned");
    });

    it("runs TypeScript through its transpile cache: a changed file anew, an unchanged one without loading the compiler", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-register-"));
        const file = path.join(dir, "probe.ts");
        const probe = (): string => {
            const r = spawnSync(process.execPath, ["-r", "./scripts/plan/register.js", "-e",
                `const v = require(${JSON.stringify(file)}).v; process.stdout.write(JSON.stringify({ v, ts: Object.keys(require.cache).some(k => k.includes("/node_modules/typescript/")) }))`],
            { cwd: root, encoding: "utf8" });
            assert.strictEqual(r.status, 0, r.stderr);
            return r.stdout;
        };
        fs.writeFileSync(file, `export const v: number = ${process.pid} + ${Date.now()};\n`);
        const first = JSON.parse(probe());
        assert.deepStrictEqual(JSON.parse(probe()), { v: first.v, ts: false }, "the second run loaded TypeScript");
        const changed = `changed-${process.pid}-${Date.now()}`; // content no earlier run can have cached
        fs.writeFileSync(file, `export const v: string = ${JSON.stringify(changed)};\n`);
        assert.deepStrictEqual(JSON.parse(probe()), { v: changed, ts: true }, "a changed file ran from the cache");
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("exits 3 when the program fails for another reason than its config, with the message and no stack trace", () => {
        const r = planCli(["--stack-file", path.join(fixtures, "Pulumi.fixture.yaml"), "--program", path.join(fixtures, "program-error.ts")]);
        assert.strictEqual(r.status, 3, r.stderr + r.stdout);
        assert.match(r.stderr, /^error: the program failed under the simulated engine: cloud-init template not found/m);
        assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
        assert.ok(!fs.existsSync(path.join(r.out, "plan.json")), "nothing planned");
    });

    it("exits 1 for a program with a mandatory policy violation", () => {
        const r = planCli(["--stack-file", path.join(fixtures, "Pulumi.fixture.yaml"), "--program", path.join(fixtures, "open-bastion.ts")]);
        assert.strictEqual(r.status, 1, r.stderr + r.stdout);
        assert.match(r.stdout, /FAIL {2}bastion-native-client-tunneling \(mandatory\)/);
        assert.match(r.stdout, /bastion-without-tunneling \(network:BastionHost\)/);
        assert.match(r.stdout, /Result: FAIL/);
    });
});
