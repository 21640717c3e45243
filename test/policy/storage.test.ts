import * as network from "@pulumi/azure-native/network";
import * as storage from "@pulumi/azure-native/storage";
import {
    assertCompliant, assertNotApplicable, assertUnknownAdvisory, assertViolations, policyNamed, runResourcePolicy, unknown,
} from "./util";

describe("policy storage-account-network-restricted", () => {
    const policy = policyNamed("storage-account-network-restricted");
    const SA = storage.StorageAccount;
    // The /shared account: premium FileStorage, NFS (so HTTPS-only off), private endpoint only.
    const nfs = (o: Record<string, unknown> = {}) => ({
        accountName: "stslurmnfs",
        kind: "FileStorage",
        sku: { name: "Premium_LRS" },
        enableHttpsTrafficOnly: false,
        publicNetworkAccess: "Disabled",
        networkRuleSet: { defaultAction: "Deny", bypass: "AzureServices" },
        ...o,
    });
    const v2 = (o: Record<string, unknown> = {}) => ({
        accountName: "stdiag", kind: "StorageV2", sku: { name: "Standard_LRS" },
        publicNetworkAccess: "Disabled", networkRuleSet: { defaultAction: "Deny" }, ...o,
    });

    it("passes the private NFS account and a private HTTPS-only account", () => {
        assertCompliant(runResourcePolicy(policy, SA, nfs()));
        assertCompliant(runResourcePolicy(policy, SA, v2()));
        assertCompliant(runResourcePolicy(policy, SA, v2({ enableHttpsTrafficOnly: false, enableNfsV3: true, isHnsEnabled: true })));
    });
    it("reports a default network action of Allow, or none", () => {
        assertViolations(runResourcePolicy(policy, SA, v2({ networkRuleSet: { defaultAction: "Allow" } })), /defaultAction is Allow.*CKV_AZURE_35.*AVD-AZU-0012/);
        assertViolations(runResourcePolicy(policy, SA, v2({ networkRuleSet: undefined })), /defaultAction is not set/);
    });
    it("reports public network access enabled or unset", () => {
        assertViolations(runResourcePolicy(policy, SA, v2({ publicNetworkAccess: "Enabled" })), /publicNetworkAccess is Enabled/);
        assertViolations(runResourcePolicy(policy, SA, v2({ publicNetworkAccess: undefined })), /publicNetworkAccess is not set/);
    });
    it("reports HTTP allowed on an account that does not serve NFS", () => {
        assertViolations(runResourcePolicy(policy, SA, v2({ enableHttpsTrafficOnly: false })), /does not serve NFS/);
    });
    it("reports an NFS account that allows HTTP and is reachable from public networks", () => {
        assertViolations(runResourcePolicy(policy, SA, nfs({ publicNetworkAccess: "Enabled" })), /publicNetworkAccess is Enabled/, /not network-restricted/);
    });
    it("is not applicable to other types", () => {
        assertNotApplicable(runResourcePolicy(policy, network.PublicIPAddress, { publicIPAllocationMethod: "Static" }));
    });
    it("does not crash on unknown values during preview", () => {
        assertUnknownAdvisory(runResourcePolicy(policy, SA, v2({ networkRuleSet: unknown.object })), /networkRuleSet/);
    });
});
