// The pack's policies, in one array. Importing this module does not start a policy pack (index.ts does), so the
// offline plan and the tests can use it.
import { EnforcementLevel, Policies } from "@pulumi/policy";
import { linuxVmPasswordAuthenticationDisabled, loginVmEntraSignInReady, vmCustomDataNoSecrets } from "./compute";
import {
    loginRoleAssignmentsMfaCapable, loginVmRoleAssignmentsRestricted, vmSignInConditionalAccessExcludesNoLoginHolder, vmSignInConditionalAccessPresent,
    vmSignInConditionalAccessRequiresMfa,
} from "./identity";
import {
    bastionNativeClientTunneling, loginNodeNoPublicDnat, loginNodeNoPublicLoadBalancer, loginVmNicNoPublicIp, loginVmNoPublicIp, nsgNoManagementPortsFromInternet,
} from "./network";
import { tagKeysUnambiguous } from "./tags";
import { storageAccountNetworkRestricted } from "./storage";

export const POLICY_PACK_NAME = "cyclecloud-slurm-entra";

/** Level of a policy that sets none; every policy here sets its own. */
export const PACK_ENFORCEMENT_LEVEL: EnforcementLevel = "advisory";

export const policies: Policies = [
    // Mandatory by default: what Entra ID sign-in through Bastion with MFA rests on.
    bastionNativeClientTunneling,
    loginVmNoPublicIp,
    loginVmNicNoPublicIp,
    loginNodeNoPublicLoadBalancer,
    loginNodeNoPublicDnat,
    loginRoleAssignmentsMfaCapable,
    loginVmRoleAssignmentsRestricted,
    vmSignInConditionalAccessRequiresMfa,
    vmSignInConditionalAccessExcludesNoLoginHolder,
    vmSignInConditionalAccessPresent,
    tagKeysUnambiguous,
    // Advisory by default (mandatory in config.strict.json): scanner-equivalent hygiene.
    nsgNoManagementPortsFromInternet,
    linuxVmPasswordAuthenticationDisabled,
    storageAccountNetworkRestricted,
    vmCustomDataNoSecrets,
    loginVmEntraSignInReady,
];

export { evaluatePolicies, resolvePolicyConfig } from "./evaluate";
export type { EvaluatedResource, PolicyViolation, PolicyPackConfigFile } from "./evaluate";
