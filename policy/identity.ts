// Identity policies: who may sign in to login VMs, with which roles, held to MFA by Conditional Access.
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import * as authorization from "@pulumi/azure-native/authorization";
import * as resources from "@pulumi/azure-native/resources";
import { ConditionalAccessPolicy } from "@pulumi/azuread/conditionalAccessPolicy";
import {
    AZURE_LINUX_VM_SIGN_IN_APP_ID, DEFAULT_LOGIN_CONFIG, DEFAULT_LOGIN_ROLE_IDS, LoginConfig, ROLE, UNKNOWN,
    dependenciesOf, idOf, known, touch, undecidedUntilUp, loginSchema, lower, normaliseId, normaliseIds, roleGuid, roleIdListSchema, roleName, withDefaults,
} from "./common";
import { LoginVm, findLoginVms, get, label, list, parseId, resourceGroupOf, str } from "./graph";
import {
    DISK_ROUTES, NIC_ROUTES, Permission, Route, VMSS_ROOT_ROUTES, VM_LOGIN_ROUTES, VM_ROOT_ROUTES, builtInRole, routesGranted,
} from "./roles";

const PEOPLE = ["user", "group"];

// ---------------------------------------------------------------------------------------------------------------
// 3a. Login roles go to people, whom Conditional Access can hold to MFA

export interface LoginRolesConfig {
    loginRoleIds: string[];
}
const LOGIN_ROLES_DEFAULTS: LoginRolesConfig = { loginRoleIds: [...DEFAULT_LOGIN_ROLE_IDS] };
const loginRoleIdsSchema = roleIdListSchema(
    "Role definition GUIDs (or full role definition IDs) that grant Entra ID sign-in to VMs, besides any built-in role " +
    "whose data actions include virtualMachines/login or loginAsAdmin. Default: Virtual Machine User Login and Virtual " +
    "Machine Administrator Login.", DEFAULT_LOGIN_ROLE_IDS);

/** Whether a role (by GUID) lets its holder sign in to VMs: configured, or a built-in role with the login data actions. */
function isLoginRole(guid: string, cfg: LoginRolesConfig): boolean {
    const builtIn = builtInRole(guid);
    return normaliseIds(cfg.loginRoleIds).has(guid) || (!!builtIn && routesGranted(builtIn.permissions, VM_LOGIN_ROUTES).length > 0);
}

export const loginRoleAssignmentsMfaCapable: ResourceValidationPolicy = {
    name: "login-role-assignments-mfa-capable",
    description:
        "Checks that every assignment of a VM login role (Virtual Machine User Login or Administrator Login, any built-in " +
        "role with the VM login data actions, or a configured role) states its principalType and goes to a User or a " +
        "Group. Conditional Access can require MFA of users and group members signing in to the Azure Linux VM Sign-In " +
        "app; a service principal or managed identity signs in with a secret or token that no MFA prompt ever reaches. " +
        "Custom roles defined in the stack are judged by login-vm-role-assignments-restricted.",
    severity: "high",
    enforcementLevel: "mandatory",
    remediationSteps: "Assign VM login roles to Entra users or groups only, with principalType \"User\" or \"Group\".",
    configSchema: { properties: { loginRoleIds: loginRoleIdsSchema } },
    validateResource: validateResourceOfType(authorization.RoleAssignment, (assignment, args, reportViolation) => {
        const cfg = withDefaults(LOGIN_ROLES_DEFAULTS, args.getConfig<Partial<LoginRolesConfig>>());
        const guid = roleGuid(assignment.roleDefinitionId);
        if (!isLoginRole(guid, cfg)) {
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
// 3b. No standing path to root on a login node that bypasses the MFA-protected Entra sign-in

export interface LoginVmRolesConfig extends LoginConfig {
    additionalAllowedRoleIds: string[];
}
const LOGIN_VM_ROLES_DEFAULTS: LoginVmRolesConfig = { ...DEFAULT_LOGIN_CONFIG, additionalAllowedRoleIds: [ROLE.reader] };

interface Target {
    /** vm: the VM or scale set itself; instances: a flexible scale set's instance VMs; none: not the login node. */
    what: "vm" | "instances" | "nic" | "disk" | "none";
    text: string;
}

/** What of a login node an assignment's scope covers: sure targets, and (if undecidable) the alternatives it is one of. */
interface Targets {
    sure: Target[];
    /** The scope is exactly one of these, which cannot be told apart until `up`. */
    alternatives: Target[];
    /** The first alternative is by far the likeliest (`scope: vm.id`): a route on it is reported at once. */
    likeliestFirst?: boolean;
    /** A read of the value that decides it, for the runtime's "can't run during preview" advisory. */
    decide?: () => unknown;
}

const ABOVE_RESOURCES = /^(\/subscriptions\/[^/]+(\/resourcegroups\/[^/]+)?|\/providers\/microsoft\.management\/managementgroups\/[^/]+|\/?)$/;

/** Whether scope `s` (normalised) contains the resource with `id` (or, while unknown, in resource group `rg` named `name`). */
function scopeContains(s: string, id: string | undefined, rg: string | undefined, type: string, name: string | undefined): boolean {
    if (s === "" || s === "/" || s.startsWith("/providers/microsoft.management/managementgroups/")) {
        return true; // a management group (or the root) may hold any subscription
    }
    if (id) {
        return id === s || id.startsWith(s + "/");
    }
    if (/^\/subscriptions\/[^/]+$/.test(s)) {
        return true; // the stack's own subscription, as far as the pack can tell
    }
    const m = /^\/subscriptions\/[^/]+\/resourcegroups\/([^/]+)(.*)$/.exec(s);
    if (!m || !rg || m[1] !== rg) {
        return false;
    }
    if (m[2] === "") {
        return true;
    }
    const p = parseId(s);
    return !!p && p.rest === "" && p.type === type && p.name === name;
}

/** What of a login node an assignment's scope covers: the VM itself, a flexible scale set's instances, a NIC or disk it uses. */
function targetsOf(assignment: PolicyResource, node: LoginVm): Targets {
    const vmType = node.kind === "scale set" ? "virtualmachinescalesets" : "virtualmachines";
    const vmName = (str(get(node.vm.props, "name")) ?? str(get(node.vm.props, node.kind === "scale set" ? "vmScaleSetName" : "vmName")))?.toLowerCase();
    const vmText = `login ${node.kind} ${label(node.vm)} (${node.why})`;
    const instancesText = `the instance VMs of flexible login scale set ${label(node.vm)} (${node.why})`;
    const pendingDisk = `the OS disk login ${node.kind} ${label(node.vm)} creates (its ID is known on \`up\`)`;
    const out: Target[] = [];
    const alternatives: Target[] = [];
    const scope = known(() => assignment.props.scope as unknown, UNKNOWN);
    if (typeof scope === "string") {
        const s = normaliseId(scope);
        const containsVm = scopeContains(s, node.id, node.resourceGroup, vmType, vmName);
        if (containsVm) {
            out.push({ what: "vm", text: `${scopeText(s, node.id)}${vmText}` });
        }
        if (node.flexible) {
            // Instances are Microsoft.Compute/virtualMachines/<scale set>_<suffix> in the scale set's resource group.
            const p = parseId(s);
            const instance = !!p && p.rest === "" && p.type === "virtualmachines" && p.rg === node.resourceGroup && !!vmName && p.name.startsWith(`${vmName}_`);
            if ((containsVm && ABOVE_RESOURCES.test(s)) || instance) {
                out.push({ what: "instances", text: `${instance ? `${s}, one of ` : scopeText(s, undefined)}${instancesText}` });
            }
        }
        for (const nic of node.nics) {
            const name = (str(get(nic.props, "name")) ?? str(get(nic.props, "networkInterfaceName")))?.toLowerCase();
            if (scopeContains(s, idOf(nic), resourceGroupOf(nic), "networkinterfaces", name)) {
                out.push({ what: "nic", text: `${scopeText(s, idOf(nic))}NIC ${label(nic)} of login ${node.kind} ${label(node.vm)}` });
            }
        }
        const diskIds = new Set([...node.diskIds, ...node.disks.map(d => idOf(d)).filter((x): x is string => !!x)]);
        for (const d of diskIds) {
            if (scopeContains(s, d, undefined, "disks", undefined)) {
                out.push({ what: "disk", text: `${scopeText(s, d)}disk ${d.split("/").pop()} of login ${node.kind} ${label(node.vm)}` });
            }
        }
        for (const d of node.disks.filter(x => !idOf(x))) {
            if (scopeContains(s, undefined, resourceGroupOf(d), "disks", (str(get(d.props, "diskName")) ?? str(get(d.props, "name")))?.toLowerCase())) {
                out.push({ what: "disk", text: `${scopeText(s, undefined)}disk ${label(d)} of login ${node.kind} ${label(node.vm)}` });
            }
        }
        if (node.osDiskPending && !out.some(t => t.what === "disk")) {
            // The OS disk the VM creates lands in its resource group; until `up` only its name (if given) is known.
            const p = parseId(s);
            if (containsVm && ABOVE_RESOURCES.test(s)) {
                out.push({ what: "disk", text: `${scopeText(s, undefined)}${pendingDisk}` });
            } else if (p && p.rest === "" && p.type === "disks" && p.rg === node.resourceGroup) {
                if (node.osDiskPending.name !== undefined) {
                    if (p.name === node.osDiskPending.name) out.push({ what: "disk", text: `disk ${p.name}, ${pendingDisk}` });
                } else {
                    alternatives.push({ what: "disk", text: `disk ${p.name}, which may be ${pendingDisk}` }, { what: "none", text: "" });
                }
            }
        }
        return { sure: out, alternatives, decide: () => undecidedUntilUp(`${label(node.vm)}.storageProfile.osDisk.managedDisk.id`) };
    }
    // Unknown during preview: the scope is what it was computed from.
    const deps = dependenciesOf(assignment, "scope");
    let likeliestFirst = false;
    const decide = () => assignment.props.scope;
    for (const dep of deps) {
        if (dep === node.vm) {
            if (node.kind === "VM") {
                // The VM's ID (almost always), or an ID it outputs: its OS disk or a NIC. Which one is known on `up`.
                likeliestFirst = true;
                alternatives.push({ what: "vm", text: `${vmText} (the scope is computed from it)` },
                    { what: "disk", text: `the OS disk of login VM ${label(node.vm)} (the scope is computed from the VM)` },
                    { what: "nic", text: `a NIC of login VM ${label(node.vm)} (the scope is computed from the VM)` });
            } else {
                out.push({ what: "vm", text: vmText });
            }
        } else if (node.nics.includes(dep)) {
            out.push({ what: "nic", text: `NIC ${label(dep)} of login ${node.kind} ${label(node.vm)}` });
        } else if (node.disks.includes(dep)) {
            out.push({ what: "disk", text: `disk ${label(dep)} of login ${node.kind} ${label(node.vm)}` });
        } else if (dep.isType(resources.ResourceGroup)) {
            const rgName = (str(get(dep.props, "resourceGroupName")) ?? str(get(dep.props, "name")))?.toLowerCase();
            // The VM's own resourceGroupName may come from a ResourceGroup resource too: same resource, same group.
            const vmGroups = dependenciesOf(node.vm, "resourceGroupName").filter(d => d.isType(resources.ResourceGroup));
            const contains = vmGroups.length > 0 ? vmGroups.includes(dep) : rgName && node.resourceGroup ? rgName === node.resourceGroup : undefined;
            if (contains === undefined) {
                return { sure: [], alternatives: [{ what: "vm", text: vmText }, { what: "none", text: "" }], decide };
            }
            if (contains) {
                const text = `resource group ${label(dep)}, which contains `;
                out.push({ what: "vm", text: `${text}${vmText}` });
                if (node.flexible) out.push({ what: "instances", text: `${text}${instancesText}` });
                if (node.osDiskPending) out.push({ what: "disk", text: `${text}${pendingDisk}` });
            }
        }
    }
    if (deps.length === 0) {
        return { sure: [], alternatives: [{ what: "vm", text: vmText }, { what: "none", text: "" }], decide };
    }
    return { sure: out, alternatives, decide, likeliestFirst };
}

function scopeText(scope: string, targetId: string | undefined): string {
    if (targetId && scope === targetId) return "";
    const rg = /^\/subscriptions\/[^/]+\/resourcegroups\/([^/]+)$/.exec(scope);
    if (rg) return `resource group ${rg[1]}, which contains `;
    if (/^\/subscriptions\/[^/]+$/.test(scope)) return `subscription ${scope}, which contains `;
    if (scope === "" || scope === "/" || scope.includes("managementgroups")) return `management group scope ${scope || "/"}, which may contain `;
    return `${scope}, which contains `;
}

/** The permissions of the role an assignment grants: built-in, defined in the stack, or undefined if unknown. */
function permissionsOf(assignment: PolicyResource, roleDefs: PolicyResource[]):
    { name: string; permissions?: Permission[]; assignableRoleIds?: string[]; unknown?: boolean; undecided?: boolean } {
    const roleId = known(() => assignment.props.roleDefinitionId as unknown, UNKNOWN);
    const viaDeps = dependenciesOf(assignment, "roleDefinitionId").filter(d => roleDefs.includes(d));
    const guid = typeof roleId === "string" ? roleGuid(roleId) : "";
    const def = viaDeps[0] ?? roleDefs.find(d => {
        const id = idOf(d);
        return (typeof roleId === "string" && id === normaliseId(roleId)) ||
            (guid !== "" && lower(str(get(d.props, "roleDefinitionId")) ?? str(get(d.props, "name"))) === guid);
    });
    if (def) {
        const perms = list(def.props, "permissions").map(p => ({
            actions: list(p, "actions").map(String), notActions: list(p, "notActions").map(String),
            dataActions: list(p, "dataActions").map(String), notDataActions: list(p, "notDataActions").map(String),
        }));
        return { name: `custom role ${label(def)}`, permissions: perms };
    }
    if (typeof roleId !== "string") {
        return { name: "a role whose ID is unknown until `up`", undecided: true };
    }
    const builtIn = builtInRole(guid);
    return builtIn ? { name: `${builtIn.name} (${guid})`, permissions: builtIn.permissions, assignableRoleIds: builtIn.assignableRoleIds }
        : { name: `role ${guid}`, unknown: true };
}

export const loginVmRoleAssignmentsRestricted: StackValidationPolicy = {
    name: "login-vm-role-assignments-restricted",
    description:
        "Checks every role assignment whose scope contains a login node (the VM or scale set, its resource group, " +
        "subscription or a management group), a NIC it uses or a disk it boots from, for every principal type, by " +
        "what the role grants (built-in roles from Azure's published permissions, custom roles defined in the stack " +
        "from their permissions, with wildcards): no one may hold a standing path to root that bypasses the " +
        "MFA-protected Entra sign-in (Run Command, extensions, VM model writes, role assignment writes, OS disk " +
        "writes or exports, NIC writes), and only users and groups may hold the VM login data actions. A role the " +
        "pack cannot see into counts as a violation unless listed in additionalAllowedRoleIds.",
    severity: "critical",
    enforcementLevel: "mandatory",
    remediationSteps: "Grant people Virtual Machine User/Administrator Login on the login VM (plus Reader); give automation scopes that exclude the login node.",
    configSchema: {
        properties: {
            ...loginSchema,
            additionalAllowedRoleIds: roleIdListSchema(
                "Roles vouched for at scopes containing a login node (never flagged). Default: Reader.", [ROLE.reader]),
        },
    },
    validateStack: (args, reportViolation) => {
        const cfg = withDefaults(LOGIN_VM_ROLES_DEFAULTS, args.getConfig<Partial<LoginVmRolesConfig>>());
        const nodes = findLoginVms(args.resources, cfg);
        const assignments = args.resources.filter(r => r.isType(authorization.RoleAssignment));
        if (nodes.length === 0 || assignments.length === 0) {
            return args.notApplicable("no role assignment and login node in the stack");
        }
        const roleDefs = args.resources.filter(r => r.isType(authorization.RoleDefinition));
        const vouched = normaliseIds(cfg.additionalAllowedRoleIds);
        const undecided: (() => unknown)[] = [];
        for (const assignment of assignments) {
            const roleId = known(() => assignment.props.roleDefinitionId as unknown, UNKNOWN);
            if (typeof roleId === "string" && vouched.has(roleGuid(roleId))) {
                continue;
            }
            const principalType = known(() => assignment.props.principalType as unknown, UNKNOWN);
            const person = typeof principalType === "string" && PEOPLE.includes(lower(principalType));
            const who = typeof principalType === "string" && principalType !== "" ? `a ${principalType}` : "a principal of unstated type";
            const role = permissionsOf(assignment, roleDefs);
            for (const node of nodes) {
                const { sure, alternatives, decide, likeliestFirst } = targetsOf(assignment, node);
                if (sure.length === 0 && alternatives.length === 0) {
                    continue;
                }
                if (role.undecided) {
                    undecided.push(() => assignment.props.roleDefinitionId);
                    break;
                }
                const firstText = (sure[0] ?? alternatives[0]).text;
                if ((role.unknown || !role.permissions) && sure.length === 0) {
                    undecided.push(decide ?? (() => assignment.props.scope));
                    continue;
                }
                if (role.unknown || !role.permissions) {
                    reportViolation(
                        `Role assignment ${label(assignment)} gives ${who} ${role.name} on ${firstText}; the pack cannot see what ` +
                        "that role grants, so it cannot rule out a path to root without MFA. Fix: use a built-in role or define the " +
                        "custom role in this stack, or list its ID in additionalAllowedRoleIds once you have checked it.", assignment.urn);
                    break;
                }
                const routesOn = (target: Target): { route: Route; target: Target }[] => {
                    const lists: Route[][] = target.what === "vm" ? [node.kind === "VM" ? VM_ROOT_ROUTES : VMSS_ROOT_ROUTES, person ? [] : VM_LOGIN_ROUTES]
                        : target.what === "instances" ? [VM_ROOT_ROUTES, person ? [] : VM_LOGIN_ROUTES]
                            : target.what === "disk" ? [DISK_ROUTES] : target.what === "nic" ? [NIC_ROUTES] : [];
                    return lists.flatMap(l => routesGranted(role.permissions ?? [], l, role.assignableRoleIds).map(route => ({ route, target })));
                };
                let routes = sure.flatMap(routesOn);
                if (routes.length === 0 && alternatives.length > 0) {
                    const each = alternatives.map(routesOn);
                    if (each.every(r => r.length > 0) || (likeliestFirst && each[0].length > 0)) {
                        routes = each[0]; // a route whichever the scope turns out to be, or on the likeliest one
                    } else if (each.some(r => r.length > 0)) {
                        undecided.push(decide ?? (() => assignment.props.scope));
                        continue;
                    }
                }
                if (routes.length === 0) {
                    continue;
                }
                const target = routes[0].target.text;
                const what = [...new Set(routes.map(r => r.route.what))].join("; ");
                const mfa = person ? "without the MFA-protected Entra sign-in" : "with a secret or token that no MFA prompt reaches";
                reportViolation(
                    `Role assignment ${label(assignment)} gives ${who} ${role.name} on ${target}: it can ${what} — ${mfa} ` +
                    `(${routes.map(r => r.route.action).filter((a, i, all) => all.indexOf(a) === i).join(", ")}). Fix: grant ` +
                    `${person ? "only Virtual Machine User Login or Administrator Login (plus Reader) there" : "it a scope that does not contain the login node"}; ` +
                    "manage the login node through a separate, just-in-time privileged process.", assignment.urn);
                break;
            }
        }
        undecided.forEach(read => read());
    },
};

// ---------------------------------------------------------------------------------------------------------------
// 3c. A Conditional Access policy for the Azure Linux VM Sign-In app is on and really requires MFA

const CLI_CLIENT_APP_TYPES = ["all", "mobileappsanddesktopclients"];

export interface ConditionalAccessConfig {
    allowedExcludedLocations: string[];
}
const CA_DEFAULTS: ConditionalAccessConfig = { allowedExcludedLocations: [] };
const allowedExcludedLocationsSchema = {
    type: "array",
    items: { type: "string", minLength: 1 },
    default: [],
    description: "Named location IDs (or \"AllTrusted\") that a VM sign-in MFA policy may exclude because the organisation vouches " +
        "that sign-ins from there are already held to a second factor (e.g. a compliant-network location). Default: none.",
} as const;

/** What is wrong with a Conditional Access policy meant to hold VM sign-in to MFA (empty: nothing). */
export function conditionalAccessProblems(ca: Record<string, unknown>, cfg: ConditionalAccessConfig = CA_DEFAULTS): string[] {
    const problems: string[] = [];
    const apps = get(ca, "conditions", "applications");
    const excludedApps = list(apps, "excludedApplications").map(lower);
    if (excludedApps.includes(AZURE_LINUX_VM_SIGN_IN_APP_ID) || excludedApps.includes("all")) {
        problems.push("conditions.applications.excludedApplications excludes the Azure Linux VM Sign-In app, which beats including " +
            "it. Fix: remove it from excludedApplications.");
    }
    const state = str(get(ca, "state"));
    if (lower(state) !== "enabled") {
        const what = lower(state) === "enabledforreportingbutnotenforced" ? "report-only" : `"${state ?? "unset"}"`;
        problems.push(`The policy's state is ${what}, so it does not enforce MFA. Fix: set state: "enabled".`);
    }
    const users = get(ca, "conditions", "users");
    const incUsers = list(users, "includedUsers").map(lower);
    const included = [...incUsers.filter(u => u !== "none"), ...list(users, "includedGroups"), ...list(users, "includedRoles"),
        ...list(users, "includedGuestsOrExternalUsers")];
    if (included.length === 0) {
        problems.push(`conditions.users includes no one (includedUsers ${JSON.stringify(list(users, "includedUsers"))}, no groups or roles). ` +
            "Fix: include \"All\" users (or the groups that hold VM login roles).");
    }
    if (list(users, "excludedUsers").map(lower).includes("all")) {
        problems.push("conditions.users.excludedUsers is \"All\", which excludes everyone. Fix: exclude only break-glass accounts.");
    }
    // Exclusion beats inclusion: a user, group or role both included and excluded is not held to MFA.
    for (const kind of ["Users", "Groups", "Roles"]) {
        const excluded = new Set(list(users, `excluded${kind}`).map(lower));
        const both = list(users, `included${kind}`).map(lower).filter(x => excluded.has(x) && !["all", "none"].includes(x));
        if (both.length > 0) {
            problems.push(`conditions.users includes and excludes ${kind.toLowerCase().replace(/s$/, "")} ${both.join(", ")}; exclusion wins, so ` +
                `${kind === "Users" ? "they sign" : "its members sign"} in to VMs without MFA. Fix: remove ${both.length > 1 ? "them" : "it"} from excluded${kind}.`);
        }
    }
    const clientAppTypes = list(get(ca, "conditions"), "clientAppTypes").map(lower);
    if (!clientAppTypes.some(t => CLI_CLIENT_APP_TYPES.includes(t))) {
        problems.push(`conditions.clientAppTypes ${JSON.stringify(list(get(ca, "conditions"), "clientAppTypes"))} does not cover the Azure CLI ` +
            "sign-in that `az ssh` / `az network bastion ssh` use (mobileAppsAndDesktopClients). Fix: set clientAppTypes: [\"all\"].");
    }
    const platforms = get(ca, "conditions", "platforms");
    if (platforms) {
        const inc = list(platforms, "includedPlatforms").map(lower);
        const exc = list(platforms, "excludedPlatforms").map(String);
        if (!inc.includes("all") || exc.length > 0) {
            problems.push(`conditions.platforms (included ${JSON.stringify(list(platforms, "includedPlatforms"))}, excluded ${JSON.stringify(exc)}) ` +
                "leaves device platforms out, and sign-ins from those need no MFA. Fix: drop the platforms condition or include \"all\" and exclude none.");
        }
    }
    for (const risk of ["signInRiskLevels", "userRiskLevels", "servicePrincipalRiskLevels"]) {
        if (list(get(ca, "conditions"), risk).length > 0) {
            problems.push(`conditions.${risk} limits the policy to risky sign-ins, so ordinary sign-ins need no MFA. Fix: remove ${risk}.`);
        }
    }
    const insider = get(ca, "conditions", "insiderRiskLevels");
    if ((typeof insider === "string" && insider !== "") || (Array.isArray(insider) && insider.length > 0)) {
        problems.push(`conditions.insiderRiskLevels (${String(insider)}) limits the policy to users Insider Risk Management flags, so everyone ` +
            "else needs no MFA. Fix: remove insiderRiskLevels (put insider-risk rules in a separate, stricter policy).");
    }
    if (list(get(ca, "conditions"), "authenticationFlowTransferMethods").length > 0) {
        problems.push("conditions.authenticationFlowTransferMethods limits the policy to device-code or transfer flows, so an ordinary " +
            "`az login` needs no MFA. Fix: remove authenticationFlowTransferMethods.");
    }
    if (get(ca, "conditions", "devices", "filter")) {
        problems.push(`conditions.devices.filter (${lower(get(ca, "conditions", "devices", "filter", "mode")) || "?"} ` +
            `${String(get(ca, "conditions", "devices", "filter", "rule"))}) leaves devices out, and sign-ins from those need no MFA. Fix: remove the device filter.`);
    }
    // Locations: the policy must cover every location; excluded ones are allowed only if the organisation vouches for them.
    const locations = get(ca, "conditions", "locations");
    if (locations) {
        const inc = list(locations, "includedLocations").map(String);
        if (!inc.map(lower).includes("all")) {
            problems.push(`conditions.locations.includedLocations ${JSON.stringify(inc)} limits the policy to those locations, so sign-ins ` +
                "from anywhere else need no MFA. Fix: include \"All\".");
        }
        const allowed = new Set(cfg.allowedExcludedLocations.map(lower));
        const exc = list(locations, "excludedLocations").map(String).filter(l => !allowed.has(lower(l)));
        if (exc.length > 0) {
            problems.push(`conditions.locations.excludedLocations ${JSON.stringify(exc)} lets people sign in to VMs from ` +
                `${exc.some(l => lower(l) === "alltrusted") ? "every trusted location" : "those locations"} without MFA: a password alone, ` +
                "from a network an attacker can reach (VPN, office Wi-Fi, a compromised host), opens a path to sudo. Fix: remove the " +
                "exclusion, or list the location in allowedExcludedLocations if sign-ins from it are held to a second factor otherwise.");
        }
    }
    const grant = get(ca, "grantControls");
    const builtIns = list(grant, "builtInControls").map(lower);
    const hasMfa = builtIns.includes("mfa") || !!str(get(grant, "authenticationStrengthPolicyId"));
    if (!hasMfa) {
        problems.push("grantControls do not require MFA. Fix: add \"mfa\" to grantControls.builtInControls or set " +
            "grantControls.authenticationStrengthPolicyId.");
    } else {
        const alternatives = [
            ...builtIns.filter(c => c !== "mfa"),
            ...list(grant, "customAuthenticationFactors").map(String),
            ...list(grant, "termsOfUses").map(() => "terms of use"),
        ];
        if (lower(get(grant, "operator")) === "or" && alternatives.length > 0) {
            problems.push(`grantControls.operator is OR, so ${alternatives.join(", ")} can stand in for MFA. Fix: use operator ` +
                "\"AND\" or drop the other controls.");
        }
    }
    return problems;
}

/** Whether a Conditional Access policy is about sign-in to the Azure Linux VM Sign-In app (directly or through "All"). */
function targetsVmSignIn(ca: Record<string, unknown>): boolean {
    const apps = list(get(ca, "conditions", "applications"), "includedApplications").map(lower);
    return apps.includes(AZURE_LINUX_VM_SIGN_IN_APP_ID) || apps.includes("all");
}

const isBlock = (ca: Record<string, unknown>) => list(get(ca, "grantControls"), "builtInControls").map(lower).includes("block");

export const vmSignInConditionalAccessRequiresMfa: ResourceValidationPolicy = {
    name: "vm-sign-in-conditional-access-requires-mfa",
    description:
        "Checks that a Conditional Access policy managed in the stack that names the Azure Linux VM Sign-In application " +
        `(${AZURE_LINUX_VM_SIGN_IN_APP_ID}) really holds it to MFA: enabled (not off or report-only), the app not also ` +
        "excluded, users included (not only None, not excluding All, nobody both included and excluded: exclusion wins), " +
        "client app types covering the CLI sign-in (all or mobileAppsAndDesktopClients), no platform, device-filter, " +
        "authentication-flow or location condition that leaves sign-ins out (excluded locations only if vouched for in " +
        "allowedExcludedLocations), no sign-in/user/service-principal/insider risk condition, and MFA (\"mfa\" or an " +
        "authentication strength) required without an OR alternative.",
    severity: "high",
    enforcementLevel: "mandatory",
    remediationSteps: "Set state: \"enabled\", include all users, clientAppTypes [\"all\"] and grantControls: { operator: \"OR\", builtInControls: [\"mfa\"] }.",
    configSchema: { properties: { allowedExcludedLocations: allowedExcludedLocationsSchema } },
    validateResource: validateResourceOfType(ConditionalAccessPolicy, (ca, args, reportViolation) => {
        const cfg = withDefaults(CA_DEFAULTS, args.getConfig<Partial<ConditionalAccessConfig>>());
        const props = ca as unknown as Record<string, unknown>;
        touch(props); // unknown values are decided on `up`: the runtime reports "can't run during preview"
        const apps = list(get(props, "conditions", "applications"), "includedApplications").map(lower);
        if (!apps.includes(AZURE_LINUX_VM_SIGN_IN_APP_ID)) {
            return args.notApplicable("does not name the Azure Linux VM Sign-In application");
        }
        if (isBlock(props)) {
            return args.notApplicable("blocks sign-in rather than granting it");
        }
        conditionalAccessProblems(props, cfg).forEach(p => reportViolation(p));
    }),
};

// ---------------------------------------------------------------------------------------------------------------
// 3f. The people who hold the VM login roles are not excluded from the MFA policy

/** Login role assignments of the stack to users and groups: principal ID (when known) and the resources it was computed from. */
function loginHolders(resources_: PolicyResource[], cfg: LoginRolesConfig): { assignment: PolicyResource; principalId?: string; from: PolicyResource[] }[] {
    const roleDefs = resources_.filter(r => r.isType(authorization.RoleDefinition));
    return resources_.filter(r => r.isType(authorization.RoleAssignment)).filter(a => {
        const type = known(() => a.props.principalType as unknown, UNKNOWN);
        if (typeof type === "string" && !PEOPLE.includes(lower(type))) return false;
        const roleId = known(() => a.props.roleDefinitionId as unknown, UNKNOWN);
        if (typeof roleId === "string" && isLoginRole(roleGuid(roleId), cfg)) return true;
        const role = permissionsOf(a, roleDefs);
        return !!role.permissions && routesGranted(role.permissions, VM_LOGIN_ROUTES).length > 0;
    }).map(assignment => {
        const id = known(() => assignment.props.principalId as unknown, UNKNOWN);
        return { assignment, principalId: typeof id === "string" ? lower(id) : undefined, from: dependenciesOf(assignment, "principalId") };
    });
}

export const vmSignInConditionalAccessExcludesNoLoginHolder: StackValidationPolicy = {
    name: "vm-sign-in-conditional-access-excludes-no-login-holder",
    description:
        "Checks that no Conditional Access policy in the stack that holds Azure Linux VM Sign-In (by ID or All) to MFA " +
        "excludes a user or group that the stack gives a VM login role (Virtual Machine User/Administrator Login, a " +
        "built-in or custom role with the login data actions, or loginRoleIds). Exclusion beats inclusion: the members " +
        "of an excluded login group sign in to the login node, sudo included, without MFA, while the policy looks right. " +
        "During preview, an excluded ID computed from the same group as the assignment counts. None of Checkov, Trivy " +
        "or Azure Policy has this check.",
    severity: "high",
    enforcementLevel: "mandatory",
    remediationSteps: "Exclude only break-glass accounts, never the users or groups that hold VM login roles.",
    configSchema: { properties: { loginRoleIds: loginRoleIdsSchema } },
    validateStack: (args, reportViolation) => {
        const cfg = withDefaults(LOGIN_ROLES_DEFAULTS, args.getConfig<Partial<LoginRolesConfig>>());
        const policies_ = args.resources.filter(r => r.isType(ConditionalAccessPolicy) &&
            known(() => targetsVmSignIn(r.props as Record<string, unknown>) && !isBlock(r.props as Record<string, unknown>), false));
        const holders = policies_.length > 0 ? loginHolders(args.resources, cfg) : [];
        if (holders.length === 0) {
            return args.notApplicable("no VM sign-in MFA policy and VM login role assignment to people in the stack");
        }
        let undecided: (() => unknown) | undefined;
        for (const ca of policies_) {
            // Element by element: one ID unknown during preview does not hide the known ones.
            const knownExcluded = new Set<string>();
            let unknownExcluded = false;
            for (const key of ["excludedUsers", "excludedGroups"]) {
                const arr_ = known(() => (ca.props as { conditions?: { users?: Record<string, unknown> } }).conditions?.users?.[key], UNKNOWN);
                if (arr_ === UNKNOWN) {
                    unknownExcluded = true;
                    continue;
                }
                const n = Array.isArray(arr_) ? arr_.length : 0;
                for (let i = 0; i < n; i++) {
                    const v = known(() => (arr_ as unknown[])[i], UNKNOWN);
                    if (typeof v === "string") knownExcluded.add(lower(v));
                    else if (v === UNKNOWN) unknownExcluded = true;
                }
            }
            const caDeps = new Set(dependenciesOf(ca, "conditions"));
            for (const h of holders) {
                const byId = h.principalId !== undefined && knownExcluded.has(h.principalId);
                // During preview the group's object ID is unknown in both places: linked through the resource it comes from.
                const maybe = !byId && unknownExcluded && h.from.some(d => caDeps.has(d));
                if (maybe) {
                    undecided ??= () => touch((ca.props as Record<string, unknown>).conditions);
                    continue;
                }
                if (!byId) continue;
                const type = known(() => String(h.assignment.props.principalType), "principal");
                reportViolation(
                    `Conditional Access policy ${label(ca)} excludes ${lower(type)} ${h.principalId}, which holds a VM login role through ` +
                    `${label(h.assignment)}: exclusion beats inclusion, so ${lower(type) === "group" ? "its members sign" : "it signs"} in to VMs ` +
                    "without MFA. Fix: remove it from excludedUsers/excludedGroups (exclude only break-glass accounts, which hold no VM login role).",
                    ca.urn);
            }
        }
        undecided?.();
    },
};

// ---------------------------------------------------------------------------------------------------------------
// 3d. Optionally: the stack itself must hold VM sign-in to MFA

export interface ConditionalAccessPresentConfig extends ConditionalAccessConfig {
    required: boolean;
}

export const vmSignInConditionalAccessPresent: StackValidationPolicy = {
    name: "vm-sign-in-conditional-access-present",
    description:
        "Checks that a stack with a login node or a VM login role assignment also contains, when `required` is true, " +
        "an azuread ConditionalAccessPolicy that covers the Azure Linux VM Sign-In application (by ID or All) and " +
        "passes every check of vm-sign-in-conditional-access-requires-mfa. Off by default (required: false) for " +
        "organisations that manage Conditional Access centrally, outside the stack. None of Checkov, Trivy or Azure " +
        "Policy has this check.",
    severity: "high",
    enforcementLevel: "mandatory",
    remediationSteps: "Add an azuread.ConditionalAccessPolicy for app ce6ff14a-7fdc-4685-bbe0-f6afdfcfa8e0 requiring MFA, or set required: false if it is managed centrally.",
    configSchema: {
        properties: {
            required: {
                type: "boolean",
                default: false,
                description: "Require the stack to contain the Conditional Access policy (false: Conditional Access is managed centrally).",
            },
            allowedExcludedLocations: allowedExcludedLocationsSchema,
        },
    },
    validateStack: (args, reportViolation) => {
        const cfg = withDefaults<ConditionalAccessPresentConfig>({ ...CA_DEFAULTS, required: false }, args.getConfig<Partial<ConditionalAccessPresentConfig>>());
        const { required } = cfg;
        if (!required) {
            return args.notApplicable("required is false: Conditional Access is managed outside the stack");
        }
        const nodes = findLoginVms(args.resources, DEFAULT_LOGIN_CONFIG);
        const loginGrants = args.resources.filter(r => r.isType(authorization.RoleAssignment) &&
            known(() => isLoginRole(roleGuid(r.props.roleDefinitionId), LOGIN_ROLES_DEFAULTS), false));
        if (nodes.length === 0 && loginGrants.length === 0) {
            return args.notApplicable("no login node or VM login role assignment in the stack");
        }
        const policies = args.resources.filter(r => r.isType(ConditionalAccessPolicy));
        const good = policies.filter(p => known(() => {
            const props = p.props as Record<string, unknown>;
            return targetsVmSignIn(props) && !isBlock(props) && conditionalAccessProblems(props, cfg).length === 0;
        }, false));
        if (good.length === 0) {
            const what = nodes[0] ? `login ${nodes[0].kind} ${label(nodes[0].vm)}` : `VM login role assignment ${label(loginGrants[0])}`;
            reportViolation(
                `The stack has ${what} but no enabled Conditional Access policy that holds the Azure Linux VM Sign-In app ` +
                `(${AZURE_LINUX_VM_SIGN_IN_APP_ID}) to MFA${policies.length ? ` (${policies.map(label).join(", ")} do not qualify)` : ""}. ` +
                "Fix: add an azuread.ConditionalAccessPolicy { state: \"enabled\", conditions: { applications: { includedApplications: " +
                `["${AZURE_LINUX_VM_SIGN_IN_APP_ID}"] }, users: { includedUsers: ["All"] }, clientAppTypes: ["all"] }, grantControls: ` +
                "{ operator: \"OR\", builtInControls: [\"mfa\"] } }, or set required: false if Conditional Access is managed centrally.");
        }
    },
};
