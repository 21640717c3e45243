// Storage policy: accounts are reachable only from private networks; HTTP only for network-restricted NFS.
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import * as storage from "@pulumi/azure-native/storage";
import { lower } from "./common";

export const storageAccountNetworkRestricted: ResourceValidationPolicy = {
    name: "storage-account-network-restricted",
    description:
        "Checks that storage accounts deny network access by default (networkRuleSet.defaultAction: Deny) and " +
        "disable public network access, and that an account allows plain HTTP (enableHttpsTrafficOnly: false) only if " +
        "it serves NFS (FileStorage kind or NFSv3 enabled, which cannot use HTTPS) and is network-restricted. " +
        "/shared holds home directories and the munge key. Checkov CKV_AZURE_35 and CKV_AZURE_3, Trivy AVD-AZU-0012, " +
        "Azure Policy 34c877ad and b2982f36.",
    severity: "high",
    enforcementLevel: "advisory",
    remediationSteps:
        "Set networkRuleSet: { defaultAction: \"Deny\" }, publicNetworkAccess: \"Disabled\" and reach the account " +
        "through a private endpoint.",
    validateResource: validateResourceOfType(storage.StorageAccount, (account, _args, reportViolation) => {
        const defaultAction = account.networkRuleSet?.defaultAction;
        const denies = lower(defaultAction) === "deny";
        if (!denies) {
            reportViolation(
                `networkRuleSet.defaultAction is ${defaultAction ?? "not set (Azure's default is Allow)"}, so any network ` +
                "can reach the account. Fix: set networkRuleSet: { defaultAction: \"Deny\" } and allow only the " +
                "subnets or private endpoints that need it. (Checkov CKV_AZURE_35, Trivy AVD-AZU-0012)");
        }
        const publicAccess = account.publicNetworkAccess;
        const privateOnly = lower(publicAccess) === "disabled";
        if (!privateOnly) {
            reportViolation(
                `publicNetworkAccess is ${publicAccess ?? "not set (Azure's default is Enabled)"}. Fix: set ` +
                "publicNetworkAccess: \"Disabled\" and use a private endpoint. (Azure Policy b2982f36)");
        }
        if (account.enableHttpsTrafficOnly === false) {
            const nfs = lower(account.kind) === "filestorage" || account.enableNfsV3 === true;
            if (!nfs) {
                reportViolation(
                    "enableHttpsTrafficOnly is false on an account that does not serve NFS. Fix: set " +
                    "enableHttpsTrafficOnly: true. (Checkov CKV_AZURE_3)");
            } else if (!denies || !privateOnly) {
                reportViolation(
                    "enableHttpsTrafficOnly is false (needed for NFS) but the account is not network-restricted, so " +
                    "unencrypted NFS traffic could come from outside the private network. Fix: set networkRuleSet." +
                    "defaultAction \"Deny\" and publicNetworkAccess \"Disabled\".");
            }
        }
    }),
};
