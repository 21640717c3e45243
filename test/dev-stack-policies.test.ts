// The project's own dev stack, run under mocks, judged by the same `policies` the policy pack publishes:
// no mandatory violation under the default config, none at all under the strict one.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { evaluatePolicies, EvaluatedResource, PolicyPackConfigFile } from "../policy/policies";
import { simulate, SimResource } from "../scripts/simulate";
import { devStackWithSecrets } from "./cyclecloud/devStack";

const root = path.join(__dirname, "..");

function asEvaluated(r: SimResource): EvaluatedResource {
    return {
        type: r.type, name: r.name, urn: r.urn, parent: r.parent,
        dependencies: r.dependencies, propertyDependencies: r.propertyDependencies,
        props: { ...r.inputs, ...(r.id ? { id: r.id } : {}) },
    };
}

describe("dev stack against the policy pack", () => {
    let resources: EvaluatedResource[];
    before(async () => {
        const { config, secretKeys } = devStackWithSecrets();
        const result = await simulate({ stack: "dev", config, secretKeys });
        if (result.error) throw result.error;
        resources = result.resources.map(asEvaluated);
        assert.ok(resources.some(r => r.type === "azure-native:network:BastionHost"), "no Bastion in the dev stack");
    });

    it("has no mandatory violation with the default config", () => {
        const mandatory = evaluatePolicies(resources).filter(v => v.enforcementLevel === "mandatory");
        assert.deepStrictEqual(mandatory, []);
    });

    it("has no violation at all with the strict config", () => {
        const strict = JSON.parse(fs.readFileSync(path.join(root, "policy", "config.strict.json"), "utf8")) as PolicyPackConfigFile;
        assert.deepStrictEqual(evaluatePolicies(resources, strict), []);
    });

    it("would be caught if the login NIC had a public IP (the check sees this stack's resources)", () => {
        const tampered = resources.map(r => r.type !== "azure-native:network:NetworkInterface" ? r : {
            ...r,
            props: {
                ...r.props,
                ipConfigurations: (r.props.ipConfigurations as Record<string, unknown>[]).map(c => ({
                    ...c, publicIPAddress: { id: "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/publicIPAddresses/pip" },
                })),
            },
        });
        const mandatory = evaluatePolicies(tampered).filter(v => v.enforcementLevel === "mandatory");
        assert.ok(mandatory.some(v => /public IP/i.test(v.message)), JSON.stringify(mandatory, null, 1));
    });
});
