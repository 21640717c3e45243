// The pack as the Pulumi CLI runs it: a separate process serving the analyzer gRPC protocol. Every bypass case goes
// through Configure + Analyze (per resource) + AnalyzeStack, with properties, secrets and unknowns encoded as the
// engine encodes them, and must give what evaluatePolicies gives in process.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as compute from "@pulumi/azure-native/compute";
import { PolicyPackConfigFile, PolicyViolation, evaluatePolicies, resolvePolicyConfig } from "../../policy/evaluate";
import { POLICY_PACK_NAME, policies } from "../../policy/policies";
import { AnalyzerInfo, ENGINE_UNKNOWN, POLICY_DIR, PolicyPackProcess, engineSecret } from "./analyzer";
import { BYPASSES, assertCaught, baseStack, res } from "./bypasses";
import { SECOND_LOOK } from "./second-look";
import { b64, unknown } from "./util";

const readConfig = (file: string) => JSON.parse(fs.readFileSync(path.join(POLICY_DIR, file), "utf8")) as PolicyPackConfigFile;
/** What both paths must agree on: policy, level and resource of each finding. */
const summary = (vs: PolicyViolation[]) => vs.map(v => `${v.policy}|${v.enforcementLevel}|${v.urn ?? ""}`).sort();

describe("policy pack through the analyzer gRPC protocol", function () {
    this.timeout(300_000);
    let pack: PolicyPackProcess;
    let info: AnalyzerInfo;

    before(async () => {
        pack = await PolicyPackProcess.start();
        await pack.handshake();
        info = await pack.getAnalyzerInfo();
        await pack.configureStack("dev", "cyclecloud-slurm-entra");
    });
    after(async () => {
        const pid = pack?.pid;
        await pack?.stop();
        if (pid) {
            assert.throws(() => process.kill(pid, 0), "the policy pack process is still running");
        }
    });

    it("starts as the CLI starts it and describes the pack: name, version, policies, levels and config schemas", async () => {
        assert.strictEqual(info.name, POLICY_PACK_NAME);
        assert.strictEqual(info.version, JSON.parse(fs.readFileSync(path.join(POLICY_DIR, "package.json"), "utf8")).version);
        assert.strictEqual(info.supportsConfig, true);
        assert.deepStrictEqual(info.policies.map(p => p.name).sort(), policies.map(p => p.name).sort());
        for (const p of policies) {
            const served = info.policies.find(x => x.name === p.name);
            assert.strictEqual(served?.enforcementLevel, p.enforcementLevel, p.name);
            assert.deepStrictEqual(Object.keys(served?.configSchema.properties ?? {}).sort(), Object.keys(p.configSchema?.properties ?? {}).sort(), p.name);
        }
        assert.match(await pack.getPluginInfo(), /^\d+\.\d+\.\d+/);
    });

    it("resolves config.default.json and config.strict.json from the served schemas as the pack's own resolver does", async () => {
        for (const file of ["config.default.json", "config.strict.json"]) {
            const sent = await pack.configure(info, readConfig(file));
            const expected = Object.fromEntries([...resolvePolicyConfig(readConfig(file))].map(([k, v]) => [k, v]));
            assert.deepStrictEqual(sent, expected, file);
        }
    });

    it("passes the base stack under the default and the strict config", async () => {
        await pack.configure(info, readConfig("config.default.json"));
        assert.deepStrictEqual(await pack.analyzeAll(baseStack()), []);
        await pack.configure(info, readConfig("config.strict.json"));
        assert.deepStrictEqual(await pack.analyzeAll(baseStack()), []);
    });

    it("reads secrets as their values and reports unknowns as \"can't run during preview\"", async () => {
        await pack.configure(info, {});
        const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        const vm = baseStack().find(r => r.name === "login-vm");
        assert.ok(vm);
        const secretVm = { ...vm, props: { ...vm.props, osProfile: { ...(vm.props.osProfile as object), customData: engineSecret(b64(`#!/bin/bash\ncat > /root/.ssh/id <<EOF\n${key}EOF\n`)) } } };
        const found = await pack.analyze(secretVm);
        assert.deepStrictEqual(summary(found), [`vm-custom-data-no-secrets|mandatory|${vm.urn}`]);
        assert.match(found[0].message, /osProfile.customData contains line 3: a private key block/);
        assert.ok(!found[0].message.includes("AAAA"), "the secret leaked into the message");
        const unknownTunnel = res("azure-native:network:BastionHost", "bastion", { enableTunneling: ENGINE_UNKNOWN, sku: { name: "Standard" } });
        const diag = await pack.analyze(unknownTunnel);
        assert.strictEqual(diag.length, 1);
        assert.strictEqual(diag[0].enforcementLevel, "advisory");
        assert.match(diag[0].message, /can't run policy 'bastion-native-client-tunneling' from policy pack 'cyclecloud-slurm-entra@v0.1.0' during preview/);
        assert.strictEqual(unknown.string, ENGINE_UNKNOWN, "the string sentinel is the engine's unknown");
        assert.deepStrictEqual(await pack.analyze(res(compute.VirtualMachineExtension, "x", { publisher: "p", type: "t" })), []);
    });

    for (const c of [...BYPASSES, ...SECOND_LOOK]) {
        it(`bypass: ${c.title}`, async () => {
            await pack.configure(info, c.config ?? {});
            const caught = await pack.analyzeAll(c.violating());
            assertCaught(c, caught);
            assert.deepStrictEqual(summary(caught), summary(evaluatePolicies(c.violating(), c.config)), "gRPC and in-process results differ");
            await pack.configure(info, c.nearMissConfig ?? c.config ?? {});
            assert.deepStrictEqual(await pack.analyzeAll(c.nearMiss()), [], "near miss");
            for (const m of c.moreNearMisses ?? []) {
                await pack.configure(info, m.config ?? c.config ?? {});
                assert.deepStrictEqual(await pack.analyzeAll(m.stack()), [], `near miss: ${m.title}`);
            }
        });
    }
});
