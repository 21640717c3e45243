// The project's own dev stack, run under mocks, judged by the policy pack twice: in process (evaluatePolicies, which
// mirrors the runtime) and through the pack as the Pulumi CLI runs it (a separate process serving the analyzer gRPC
// protocol, properties and secrets encoded as the engine encodes them). No mandatory violation under the default
// config, none at all under the strict one, on both paths; and the checks do see this stack's resources.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { evaluatePolicies, EvaluatedResource, PolicyPackConfigFile, PolicyViolation } from "../policy/policies";
import { simulate, SimResource } from "../scripts/simulate";
import { devStackWithSecrets } from "./cyclecloud/devStack";
import { AnalyzerInfo, PolicyPackProcess } from "./policy/analyzer";
import { plain, SECRET_SIG } from "./support/secrets";

const root = path.join(__dirname, "..");
const readConfig = (file: string) => JSON.parse(fs.readFileSync(path.join(root, "policy", file), "utf8")) as PolicyPackConfigFile;

/** A registered resource as the engine shows it to the pack: inputs (secrets still wrapped) plus the ID. */
function asEngine(r: SimResource): EvaluatedResource {
    return {
        type: r.type, name: r.name, urn: r.urn, parent: r.parent,
        dependencies: r.dependencies, propertyDependencies: r.propertyDependencies,
        props: { ...r.inputs, ...(r.id ? { id: r.id } : {}) },
    };
}
/** Secrets as the policy runtime hands them to policies: their plain values (deserialize.js unwraps them). */
const inProcess = (r: EvaluatedResource): EvaluatedResource => ({ ...r, props: plain(r.props) as Record<string, unknown> });
const summary = (vs: PolicyViolation[]) => vs.map(v => `${v.policy}|${v.enforcementLevel}|${v.urn ?? ""}`).sort();

describe("dev stack against the policy pack", function () {
    this.timeout(300_000);
    let engine: EvaluatedResource[];
    let resources: EvaluatedResource[];
    let pack: PolicyPackProcess;
    let info: AnalyzerInfo;

    before(async () => {
        const { config, secretKeys } = devStackWithSecrets();
        const result = await simulate({ stack: "dev", config, secretKeys });
        if (result.error) throw result.error;
        // Every registered resource, component resources included (a superset of what the engine analyzes).
        engine = result.resources.map(asEngine);
        resources = engine.map(inProcess);
        assert.ok(resources.some(r => r.type === "azure-native:network:BastionHost"), "no Bastion in the dev stack");
        assert.ok(JSON.stringify(engine).includes(SECRET_SIG), "the dev stack has no secret input: the secret encoding goes untested");
        pack = await PolicyPackProcess.start();
        await pack.handshake();
        info = await pack.getAnalyzerInfo();
        await pack.configureStack("dev", "cyclecloud-slurm-entra");
    });
    after(async () => {
        await pack?.stop();
    });

    it("has no mandatory violation with the default config", async () => {
        assert.deepStrictEqual(evaluatePolicies(resources).filter(v => v.enforcementLevel === "mandatory"), []);
        await pack.configure(info, readConfig("config.default.json"));
        const served = await pack.analyzeAll(engine);
        assert.deepStrictEqual(served.filter(v => v.enforcementLevel === "mandatory"), []);
        assert.deepStrictEqual(summary(served), summary(evaluatePolicies(resources)));
    });

    it("has no violation at all with the strict config", async () => {
        assert.deepStrictEqual(evaluatePolicies(resources, readConfig("config.strict.json")), []);
        await pack.configure(info, readConfig("config.strict.json"));
        assert.deepStrictEqual(await pack.analyzeAll(engine), []);
    });

    it("sees this stack's login node: its NIC with a public IP would be caught", async () => {
        const tampered = engine.map(r => r.type !== "azure-native:network:NetworkInterface" ? r : {
            ...r,
            props: {
                ...r.props,
                ipConfigurations: (r.props.ipConfigurations as Record<string, unknown>[]).map(c => ({
                    ...c, publicIPAddress: { id: "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/publicIPAddresses/pip" },
                })),
            },
        });
        await pack.configure(info, {});
        const mandatory = (await pack.analyzeAll(tampered)).filter(v => v.enforcementLevel === "mandatory");
        assert.ok(mandatory.some(v => v.policy === "login-vm-nic-no-public-ip" && /NIC login-nic .* of login VM login-vm/.test(v.message)), JSON.stringify(mandatory, null, 1));
    });

    it("passes CycleCloud's Contributor on the cluster resource group, and catches it moved onto the login VM's resource group", async () => {
        const grant = engine.find(r => r.type === "azure-native:authorization:RoleAssignment" && /cluster-rg-contributor$/.test(r.name));
        const loginVm = engine.find(r => r.type === "azure-native:compute:VirtualMachine" && r.name === "login-vm");
        assert.ok(grant && loginVm, "the dev stack no longer has the CycleCloud cluster Contributor grant or the login VM");
        const loginRg = String(loginVm.props.id).replace(/\/providers\/Microsoft\.Compute\/.*$/, "");
        assert.notStrictEqual(String(grant.props.scope).toLowerCase(), loginRg.toLowerCase(), "the grant already contains the login VM");
        const moved = engine.map(r => (r === grant ? { ...r, props: { ...r.props, scope: loginRg } } : r));
        await pack.configure(info, {});
        const found = (await pack.analyzeAll(moved)).filter(v => v.policy === "login-vm-role-assignments-restricted");
        assert.deepStrictEqual(summary(found), [`login-vm-role-assignments-restricted|mandatory|${grant.urn}`]);
        assert.match(found[0].message, /gives a ServicePrincipal Contributor .* on resource group .*, which contains login VM login-vm .*run commands as root/);
    });
});
