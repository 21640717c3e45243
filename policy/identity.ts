// Identity policies: who may sign in to login VMs, with which roles, held to MFA by Conditional Access.
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import * as authorization from "@pulumi/azure-native/authorization";
import { ConditionalAccessPolicy } from "@pulumi/azuread/conditionalAccessPolicy";
import {
    AZURE_LINUX_VM_SIGN_IN_APP_ID, DEFAULT_LOGIN_ROLE_IDS, DEFAULT_LOGIN_TAG, LoginTagConfig, ROLE, UNKNOWN, arr,
    dependenciesOf, known, loginTagSchema, lower, normaliseId, normaliseIds, roleGuid, roleIdListSchema, roleName,
    withDefaults,
} from "./common";
import { LoginVm, findLoginVms, label, validateStackAround } from "./graph";

const PEOPLE = ["user", "group"];

// ---------------------------------------------------------------------------------------------------------------
// 3a. Login roles go to people, whom Conditional Access can hold to MFA

export interface LoginRolesConfig {
    loginRoleIds: string[];
}
const LOGIN_ROLES_DEFAULTS: LoginRolesConfig = { loginRoleIds: [...DEFAULT_LOGIN_ROLE_IDS] };
const loginRoleIdsSchema = roleIdListSchema(
    "Role definition GUIDs (or full role definition IDs) that grant Entra ID sign-in to VMs. Default: Virtual " +
    "Machine User Login and Virtual Machine Administrator Login.", DEFAULT_LOGIN_ROLE_IDS);

export const loginRoleAssignmentsMfaCapable: ResourceValidationPolicy = {
    name: "login-role-assignments-mfa-capable",
    description:
        "Checks that every assignment of a VM login role (Virtual Machine User Login or Virtual Machine Administrator " +
        "Login by default) states its principalType and goes to a User or a Group. Conditional Access can require " +
        "MFA of users and group members signing in to the Azure Linux VM Sign-In app; a service principal or managed " +
        "identity signs in with a secret or token that no MFA prompt ever reaches.",
    severity: "high",
    enforcementLevel: "mandatory",
    remediationSteps: "Assign VM login roles to Entra users or groups only, with principalType \"User\" or \"Group\".",
    configSchema: { properties: { loginRoleIds: loginRoleIdsSchema } },
    validateResource: validateResourceOfType(authorization.RoleAssignment, (assignment, args, reportViolation) => {
        const cfg = withDefaults(LOGIN_ROLES_DEFAULTS, args.getConfig<Partial<LoginRolesConfig>>());
        const guid = roleGuid(assignment.roleDefinitionId);
        if (!normaliseIds(cfg.loginRoleIds).has(guid)) {
            return args.notApplicable("not a VM login role");
        }
        const principalType = assignment.principalType;
        if (principalType === undefined || principalType === null || principalType === "") {
            reportViolation(
                `${roleName(guid)} is assigned without principalType, so nothing shows that it goes to a person ` +
                "whom Conditional Access can hold to MFA. Fix: set principalType: \"User\" or \"Group\" (and assign " +
                "the role to a user or group).");
        } else if (!PEOPLE.includes(lower(principalType))) {
            reportViolation(
                `${roleName(guid)} is assigned to a ${principalType}, which Conditional Access cannot hold to MFA. ` +
                "Fix: assign VM login roles to Entra users or groups only (principalType \"User\" or \"Group\"); give " +
                "automation another way in than interactive login.");
        }
    }),
};

// ---------------------------------------------------------------------------------------------------------------
// 3b. On a login VM or its NIC, people get login roles (and Reader for Bastion), never admin roles

export interface LoginVmRolesConfig extends LoginTagConfig, LoginRolesConfig {
    additionalAllowedRoleIds: string[];
    privilegedRoleIds: string[];
}
const PRIVILEGED_DEFAULT = [ROLE.owner, ROLE.contributor, ROLE.userAccessAdministrator, ROLE.virtualMachineContributor];
const LOGIN_VM_ROLES_DEFAULTS: LoginVmRolesConfig = {
    loginTagName: DEFAULT_LOGIN_TAG.name,
    loginTagValue: DEFAULT_LOGIN_TAG.value,
    loginRoleIds: [...DEFAULT_LOGIN_ROLE_IDS],
    additionalAllowedRoleIds: [ROLE.reader],
    privilegedRoleIds: [...PRIVILEGED_DEFAULT],
};

/** What an assignment's scope is on, among login VMs and their NICs, or undefined if neither. */
function scopeTarget(assignment: PolicyResource, loginVms: LoginVm[]): string | undefined {
    const scope = known(() => assignment.props.scope as unknown, UNKNOWN);
    if (typeof scope === "string") {
        const s = normaliseId(scope);
        for (const { vm, id, nics } of loginVms) {
            if (id && s === id) {
                return `login VM ${label(vm)}`;
            }
            const nic = nics.find(n => known(() => normaliseId(n.props.id), "") === s);
            if (nic) {
                return `NIC ${label(nic)} of login VM ${label(vm)}`;
            }
        }
        return undefined;
    }
    // Unknown during preview: the scope is that VM's or NIC's ID if it was computed from it.
    const deps = new Set(dependenciesOf(assignment, "scope"));
    for (const { vm, nics } of loginVms) {
        if (deps.has(vm)) {
            return `login VM ${label(vm)}`;
        }
        const nic = nics.find(n => deps.has(n));
        if (nic) {
            return `NIC ${label(nic)} of login VM ${label(vm)}`;
        }
    }
    return undefined;
}

export const loginVmRoleAssignmentsRestricted: StackValidationPolicy = {
    name: "login-vm-role-assignments-restricted",
    description:
        "Checks that role assignments to users or groups scoped to a login VM or one of its NICs grant only the VM " +
        "login roles (plus Reader, which `az network bastion ssh` needs on the NIC), and never Owner, Contributor, " +
        "User Access Administrator or Virtual Machine Contributor: those let a person run commands as root (Run " +
        "Command, extensions, SSH key reset) or grant themselves access without the MFA-protected Entra sign-in.",
    severity: "high",
    enforcementLevel: "mandatory",
    remediationSteps: "Replace the assignment with Virtual Machine User Login or Virtual Machine Administrator Login.",
    configSchema: {
        properties: {
            ...loginTagSchema,
            loginRoleIds: loginRoleIdsSchema,
            additionalAllowedRoleIds: roleIdListSchema(
                "Other roles people may hold on a login VM or its NIC. Default: Reader (needed by Bastion's native client).",
                [ROLE.reader]),
            privilegedRoleIds: roleIdListSchema(
                "Roles named as privileged in violation messages. Default: Owner, Contributor, User Access " +
                "Administrator, Virtual Machine Contributor.", PRIVILEGED_DEFAULT),
        },
    },
    validateStack: validateStackAround(authorization.RoleAssignment, (assignments, args, reportViolation) => {
        const cfg = withDefaults(LOGIN_VM_ROLES_DEFAULTS, args.getConfig<Partial<LoginVmRolesConfig>>());
        const loginVms = findLoginVms(args.resources, cfg);
        if (loginVms.length === 0) {
            return args.notApplicable("no login VM in the stack");
        }
        const allowed = normaliseIds([...cfg.loginRoleIds, ...cfg.additionalAllowedRoleIds]);
        const privileged = normaliseIds(cfg.privilegedRoleIds);
        const allowedNames = [...allowed].map(roleName).join(", ");
        for (const assignment of assignments) {
            const principalType = known(() => assignment.props.principalType as unknown, UNKNOWN);
            // Service principals and devices are not people; missing or unknown types are treated as people.
            if (typeof principalType === "string" && principalType !== "" && !PEOPLE.includes(lower(principalType)) &&
                lower(principalType) !== "foreigngroup") {
                continue;
            }
            const roleId = known(() => assignment.props.roleDefinitionId as unknown, UNKNOWN);
            if (typeof roleId !== "string") {
                continue;
            }
            const guid = roleGuid(roleId);
            if (allowed.has(guid)) {
                continue;
            }
            const target = scopeTarget(assignment, loginVms);
            if (!target) {
                continue;
            }
            const who = typeof principalType === "string" && principalType !== "" ? `a ${principalType}` : "a principal of unstated type";
            const why = privileged.has(guid)
                ? "which lets them act as root on the VM or grant themselves access without the MFA-protected Entra sign-in"
                : "which is not a VM login role";
            reportViolation(
                `Role assignment ${label(assignment)} gives ${who} ${roleName(guid)} on ${target}, ${why}. ` +
                `Fix: grant only ${allowedNames} there; manage the VM through a separate, privileged identity process.`,
                assignment.urn);
        }
    }),
};

// ---------------------------------------------------------------------------------------------------------------
// 3c. A Conditional Access policy for the Azure Linux VM Sign-In app is on and requires MFA

export const vmSignInConditionalAccessRequiresMfa: ResourceValidationPolicy = {
    name: "vm-sign-in-conditional-access-requires-mfa",
    description:
        "Checks that a Conditional Access policy managed in the stack for the Azure Linux VM Sign-In application " +
        `(${AZURE_LINUX_VM_SIGN_IN_APP_ID}) is enabled (not off or report-only) and requires MFA, through the ` +
        "\"mfa\" grant control or an authentication strength, without an OR that lets another control stand in for it.",
    severity: "high",
    enforcementLevel: "mandatory",
    remediationSteps: "Set state: \"enabled\" and grantControls: { operator: \"OR\", builtInControls: [\"mfa\"] }.",
    validateResource: validateResourceOfType(ConditionalAccessPolicy, (ca, args, reportViolation) => {
        const apps = arr(ca.conditions?.applications?.includedApplications).map(lower);
        if (!apps.includes(AZURE_LINUX_VM_SIGN_IN_APP_ID)) {
            return args.notApplicable("does not target the Azure Linux VM Sign-In application");
        }
        const grant = ca.grantControls;
        const builtIns = arr(grant?.builtInControls).map(lower);
        if (builtIns.includes("block")) {
            return args.notApplicable("blocks sign-in rather than granting it");
        }
        const state = ca.state;
        if (lower(state) !== "enabled") {
            const what = lower(state) === "enabledforreportingbutnotenforced" ? "report-only" : `"${state ?? "unset"}"`;
            reportViolation(`The policy's state is ${what}, so it does not enforce MFA. Fix: set state: "enabled".`);
        }
        const hasMfa = builtIns.includes("mfa") || !!grant?.authenticationStrengthPolicyId;
        if (!hasMfa) {
            reportViolation(
                "grantControls do not require MFA. Fix: add \"mfa\" to grantControls.builtInControls or set " +
                "grantControls.authenticationStrengthPolicyId.");
            return;
        }
        const alternatives = [
            ...builtIns.filter(c => c !== "mfa"),
            ...arr(grant?.customAuthenticationFactors),
            ...arr(grant?.termsOfUses).map(() => "terms of use"),
        ];
        if (lower(grant?.operator) === "or" && alternatives.length > 0) {
            reportViolation(
                `grantControls.operator is OR, so ${alternatives.join(", ")} can stand in for MFA. Fix: use operator ` +
                "\"AND\" or drop the other controls.");
        }
    }),
};
