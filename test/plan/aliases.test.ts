// The simulation leaves out azure-native's API-version aliases (scripts/simulate.ts, installAliasTrim): what it
// records must be the same with and without them, and the trim must still take effect on this SDK (an upgrade
// that routes aliases another way would otherwise make the plan slow again without anyone noticing).
import * as assert from "assert";
import { API_VERSION_ALIAS, simulate, SimResource, SimResult } from "../../scripts/simulate";
import { devStackWithSecrets } from "../cyclecloud/devStack";

function comparable(r: SimResult): string[] {
    return r.resources.map((x: SimResource) => JSON.stringify(x)).sort();
}

describe("simulation: azure-native's API-version aliases", function () {
    this.timeout(60_000);
    let trimmed: SimResult;
    let kept: SimResult;
    before(async () => {
        // One config (one generated key pair) for both runs, so any difference is the aliases' doing.
        const { config, secretKeys } = devStackWithSecrets();
        trimmed = await simulate({ stack: "dev", config, secretKeys });
        kept = await simulate({ stack: "dev", config, secretKeys, keepApiVersionAliases: true });
    });

    it("records the same resources, inputs, outputs, dependencies and options either way", () => {
        assert.ifError(trimmed.error);
        assert.ifError(kept.error);
        assert.strictEqual(trimmed.resources.length, kept.resources.length);
        assert.deepStrictEqual(comparable(trimmed), comparable(kept));
        assert.deepStrictEqual(trimmed.stackOutputs, kept.stackOutputs);
    });

    it("with them kept, every azure-native custom resource tells the engine of its earlier API versions", () => {
        assert.strictEqual(kept.trimmedAliases, 0);
        const azure = kept.resources.filter(r => r.custom && r.type.startsWith("azure-native:"));
        assert.ok(azure.length >= 30, `only ${azure.length} azure-native resources`);
        // The dev stack's 1,459 at azure-native 3.28 (60 for each network resource); a lower bound, not the figure.
        assert.ok(kept.aliasesRegistered >= 10 * azure.length, `${kept.aliasesRegistered} aliases for ${azure.length} resources`);
    });

    it("by default the simulation drops exactly the API-version aliases and keeps a module rename", () => {
        assert.ok(trimmed.trimmedAliases > 0, "the trim took no effect: azure-native no longer calls pulumi.mergeOptions with its aliases?");
        // What was dropped plus what still reached the engine is what the engine hears when nothing is dropped.
        assert.strictEqual(trimmed.trimmedAliases + trimmed.aliasesRegistered, kept.aliasesRegistered);
        // privatedns:PrivateZone and privatedns:VirtualNetworkLink keep their unversioned network:* aliases.
        assert.ok(trimmed.aliasesRegistered > 0, "a module-rename alias was dropped too");
    });

    it("API_VERSION_ALIAS matches versioned types only", () => {
        for (const t of ["azure-native:network/v20150501preview:VirtualNetwork", "azure-native:compute/v20240701:VirtualMachine",
            "azure-native:network/v20230201:InterfaceEndpoint"]) assert.ok(API_VERSION_ALIAS.test(t), t);
        for (const t of ["azure-native:network:PrivateZone", "azure-native:network:VirtualNetwork", "azuread:index/group:Group",
            "azure-native:network/v2023:VirtualNetwork", "my:component/v20230201:Thing"]) assert.ok(!API_VERSION_ALIAS.test(t), t);
    });
});
