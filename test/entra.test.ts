// Conditional Access under mocks (dev stack with conditionalAccessMfa): what Azure/Entra would be asked
// for. The policy cannot target one VM (it covers the Azure Linux VM Sign-In app for the targeted users in
// the whole tenant): the program says so, and makes sure the app's service principal exists without ever
// deleting it.
import * as assert from "assert";
import { AZURE_LINUX_VM_SIGN_IN_APP_ID, CONDITIONAL_ACCESS_SCOPE } from "../components/entra";
import { SimResult } from "../scripts/simulate";
import { byName, NS, simulateDev } from "./cyclecloud/devStack";

const SP = "azuread:index/servicePrincipal:ServicePrincipal";
const CA = "azuread:index/conditionalAccessPolicy:ConditionalAccessPolicy";

describe("Conditional Access (dev stack, conditionalAccessMfa=true)", function () {
    this.timeout(120000);
    let r: SimResult;
    before(async () => {
        r = await simulateDev({ [`${NS}conditionalAccessMfa`]: "true" });
        if (r.error) throw r.error;
    });

    it("adopts or creates the Azure Linux VM Sign-In service principal before the policy that names the app", () => {
        const sp = byName(r, SP, "entra-vm-sign-in-sp");
        assert.strictEqual(sp.inputs.clientId, AZURE_LINUX_VM_SIGN_IN_APP_ID);
        assert.strictEqual(sp.inputs.useExisting, true);
        const ca = byName(r, CA, "entra-mfa");
        assert.ok(ca.dependencies.includes(sp.urn), "the policy does not wait for the service principal");
        const apps = (ca.inputs.conditions as { applications: { includedApplications: string[] } }).applications;
        assert.deepStrictEqual(apps.includedApplications, [AZURE_LINUX_VM_SIGN_IN_APP_ID]);
    });

    it("names its real, tenant-wide scope in the policy's name and in a stack output", () => {
        assert.match(String(byName(r, CA, "entra-mfa").inputs.displayName), /Linux VM sign-in \(all VMs\)/);
        assert.strictEqual(r.stackOutputs.conditionalAccessScope, CONDITIONAL_ACCESS_SCOPE);
        assert.match(CONDITIONAL_ACCESS_SCOPE, /whole tenant, not only this login node/);
    });

    it("without conditionalAccessMfa: no service principal, no policy, no scope output", async () => {
        const off = await simulateDev();
        assert.strictEqual(off.resources.filter(x => x.type === SP || x.type === CA).length, 0);
        assert.strictEqual(off.stackOutputs.conditionalAccessScope, undefined);
    });
});
