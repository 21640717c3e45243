// The pack's policies, in one array, with the pack's name and default level. evaluate.ts reads them from here and
// policies.ts re-exports both, so nothing imports in a circle. Importing this module does not start a policy pack.
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
