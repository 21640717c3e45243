// What Azure roles grant, so that role assignments are judged by their permissions rather than their names.
// Built-in role GUIDs and permissions: azure-docs articles/role-based-access-control/built-in-roles.md and
// built-in-roles/{general,compute,privileged}.md (the JSON blocks there; GUIDs are the same in every tenant).
import { lower } from "./common";

export interface Permission {
    actions: string[];
    notActions: string[];
    dataActions: string[];
    notDataActions: string[];
}

export interface RoleInfo {
    name: string;
    permissions: Permission[];
    /**
     * The role's ABAC condition limits `roleAssignments/write` to these roles (GUIDs): it can hand out only them.
     * Absent: it can assign any role (or any but a few privileged ones, which still include Contributor).
     */
    assignableRoleIds?: string[];
}

const perm = (actions: string[], notActions: string[] = [], dataActions: string[] = []): Permission =>
    ({ actions, notActions, dataActions, notDataActions: [] });

/** Read-only parts the login roles share (built-in-roles/compute.md, "Virtual Machine User Login"). */
const VM_LOGIN_READS = [
    "Microsoft.Network/publicIPAddresses/read", "Microsoft.Network/virtualNetworks/read",
    "Microsoft.Network/loadBalancers/read", "Microsoft.Network/networkInterfaces/read",
    "Microsoft.Compute/virtualMachines/*/read", "Microsoft.HybridCompute/machines/*/read",
    "Microsoft.HybridConnectivity/endpoints/listCredentials/action",
];

/** Built-in roles the pack knows, by GUID (lower case). */
export const BUILT_IN_ROLES: Record<string, RoleInfo> = {
    // built-in-roles/privileged.md: Owner — "Grants full access to manage all resources, including the ability to
    // assign roles in Azure RBAC."
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": { name: "Owner", permissions: [perm(["*"])] },
    // built-in-roles/privileged.md: Contributor — everything except Microsoft.Authorization writes/deletes.
    "b24988ac-6180-42a0-ab88-20f7382dd24c": {
        name: "Contributor",
        permissions: [perm(["*"], [
            "Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write", "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action", "Microsoft.Purview/consents/write", "Microsoft.Purview/consents/delete",
            "Microsoft.Resources/deploymentStacks/manageDenySetting/action", "Microsoft.Subscription/cancel/action",
            "Microsoft.Subscription/enable/action",
        ])],
    },
    // built-in-roles/privileged.md: User Access Administrator.
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": {
        name: "User Access Administrator",
        permissions: [perm(["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"])],
    },
    // built-in-roles/privileged.md: Role Based Access Control Administrator (its condition forbids assigning Owner,
    // UAA and itself, not Contributor or Virtual Machine Contributor — so it still reaches root).
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": {
        name: "Role Based Access Control Administrator",
        permissions: [perm(["Microsoft.Authorization/roleAssignments/write", "Microsoft.Authorization/roleAssignments/delete",
            "*/read", "Microsoft.Support/*"])],
    },
    // built-in-roles/compute.md: Virtual Machine Contributor (abridged to what matters here: virtualMachines/*,
    // disks, scale sets).
    "9980e02c-c2be-4d73-94e8-173b1dc7cf3c": {
        name: "Virtual Machine Contributor",
        permissions: [perm(["Microsoft.Authorization/*/read", "Microsoft.Compute/availabilitySets/*", "Microsoft.Compute/locations/*",
            "Microsoft.Compute/virtualMachines/*", "Microsoft.Compute/virtualMachineScaleSets/*", "Microsoft.Compute/cloudServices/*",
            "Microsoft.Compute/disks/write", "Microsoft.Compute/disks/read", "Microsoft.Compute/disks/delete",
            "Microsoft.Network/networkInterfaces/*", "Microsoft.Network/virtualNetworks/read",
            "Microsoft.Network/virtualNetworks/subnets/join/action", "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*"])],
    },
    // built-in-roles/compute.md: Virtual Machine Data Access Administrator — assigns the VM login roles; its condition
    // lets roleAssignments/write create only Virtual Machine Administrator Login / User Login assignments.
    "66f75aeb-eabe-4b70-9f1e-c350c4c9ad04": {
        name: "Virtual Machine Data Access Administrator",
        permissions: [perm(["Microsoft.Authorization/roleAssignments/write", "Microsoft.Authorization/roleAssignments/delete",
            "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Compute/virtualMachines/read"])],
        assignableRoleIds: ["1c0163c0-47e6-4577-8991-ea5c82e286e4", "fb879df8-f326-4884-b1cf-06f3ad86be52"],
    },
    // built-in-roles/compute.md: Virtual Machine Administrator Login.
    "1c0163c0-47e6-4577-8991-ea5c82e286e4": {
        name: "Virtual Machine Administrator Login",
        permissions: [perm(VM_LOGIN_READS, [], ["Microsoft.Compute/virtualMachines/login/action",
            "Microsoft.Compute/virtualMachines/loginAsAdmin/action", "Microsoft.HybridCompute/machines/login/action",
            "Microsoft.HybridCompute/machines/loginAsAdmin/action"])],
    },
    // built-in-roles/compute.md: Virtual Machine User Login.
    "fb879df8-f326-4884-b1cf-06f3ad86be52": {
        name: "Virtual Machine User Login",
        permissions: [perm(VM_LOGIN_READS, [], ["Microsoft.Compute/virtualMachines/login/action",
            "Microsoft.HybridCompute/machines/login/action"])],
    },
    // built-in-roles/compute.md: Virtual Machine Local User Login — Arc servers only (HybridCompute), no Azure VM route.
    "602da2ba-a5c2-41da-b01d-5360126ab525": {
        name: "Virtual Machine Local User Login",
        permissions: [perm(["Microsoft.HybridCompute/machines/*/read", "Microsoft.HybridConnectivity/endpoints/listCredentials/action"])],
    },
    // built-in-roles/compute.md: Data Operator for Managed Disks — SAS download/upload of disks.
    "959f8984-c045-4866-89c7-12bf9737be2e": {
        name: "Data Operator for Managed Disks",
        permissions: [perm([], [], ["Microsoft.Compute/disks/download/action", "Microsoft.Compute/disks/upload/action",
            "Microsoft.Compute/snapshots/download/action", "Microsoft.Compute/snapshots/upload/action"])],
    },
    // built-in-roles/networking.md: Network Contributor — networkInterfaces/write, so a NIC route.
    "4d97b98b-1d4f-4787-a291-c67834d212e7": {
        name: "Network Contributor",
        permissions: [perm(["Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Network/*",
            "Microsoft.ResourceHealth/availabilityStatuses/read", "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*"])],
    },
    // built-in-roles/storage.md: Storage Account Contributor, Storage Blob Data Contributor / Reader.
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": {
        name: "Storage Account Contributor",
        permissions: [perm(["Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*",
            "Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action", "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/*", "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Storage/storageAccounts/*",
            "Microsoft.Support/*"])],
    },
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": {
        name: "Storage Blob Data Contributor",
        permissions: [perm(["Microsoft.Storage/storageAccounts/blobServices/containers/delete", "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/write", "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"],
        [], ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete", "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write", "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action"])],
    },
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": {
        name: "Storage Blob Data Reader",
        permissions: [perm(["Microsoft.Storage/storageAccounts/blobServices/containers/read", "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"],
            [], ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"])],
    },
    // built-in-roles/monitor.md: Monitoring Reader.
    "43d0d8ad-25c7-4714-9337-8ba259a9fe05": {
        name: "Monitoring Reader",
        permissions: [perm(["*/read", "Microsoft.OperationalInsights/workspaces/search/action", "Microsoft.Support/*"])],
    },
    // built-in-roles/security.md: Key Vault Secrets User.
    "4633458b-17de-408a-b874-0445c86b69e6": {
        name: "Key Vault Secrets User",
        permissions: [perm([], [], ["Microsoft.KeyVault/vaults/secrets/getSecret/action", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"])],
    },
    // built-in-roles/containers.md: AcrPull.
    "7f951dda-4ed3-4680-a7ca-43fe172d538d": { name: "AcrPull", permissions: [perm(["Microsoft.ContainerRegistry/registries/pull/read"])] },
    // built-in-roles/general.md: Reader.
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": { name: "Reader", permissions: [perm(["*/read"])] },
};

/** Azure's action matching: case-insensitive, `*` matches any run of characters (including `/`). */
export function actionMatches(pattern: string, action: string): boolean {
    const re = new RegExp(`^${pattern.split("*").map(p => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, "i");
    return re.test(action);
}

/** Whether `permissions` grant `action` (a control-plane action) or, with `data`, a data action. */
export function grants(permissions: readonly Permission[], action: string, data = false): boolean {
    return permissions.some(p => {
        const allow = data ? p.dataActions : p.actions;
        const deny = data ? p.notDataActions : p.notActions;
        return (allow ?? []).some(a => actionMatches(String(a), action)) && !(deny ?? []).some(a => actionMatches(String(a), action));
    });
}

export interface Route {
    /** What the action lets the holder do, for messages. */
    what: string;
    action: string;
    data?: boolean;
    /**
     * For `roleAssignments/write` on a NIC or disk: a route only if the holder can assign a role granting one of
     * these. (On the VM any assignable role counts: even the VM login roles, handed to a service principal, are one.)
     */
    escalatesTo?: readonly Route[];
}

export const ROLE_ASSIGNMENT_WRITE = "Microsoft.Authorization/roleAssignments/write";

/** Actions at a scope that contains a login VM that give root on it without the MFA-protected Entra sign-in. */
export const VM_ROOT_ROUTES: Route[] = [
    { action: "Microsoft.Compute/virtualMachines/runCommand/action", what: "run commands as root (Run Command)" },
    { action: "Microsoft.Compute/virtualMachines/runCommands/write", what: "run commands as root (managed Run Command)" },
    { action: "Microsoft.Compute/virtualMachines/extensions/write", what: "install extensions that run as root (Custom Script, VMAccess SSH key reset)" },
    { action: "Microsoft.Compute/virtualMachines/write", what: "change the VM model (swap its OS disk, attach identities)" },
    { action: ROLE_ASSIGNMENT_WRITE, what: "grant themselves any role there (privilege escalation)" },
];
/** The same routes on a login scale set. */
export const VMSS_ROOT_ROUTES: Route[] = [
    { action: "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/runCommand/action", what: "run commands as root (Run Command)" },
    { action: "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/runCommands/write", what: "run commands as root (managed Run Command on an instance)" },
    { action: "Microsoft.Compute/virtualMachineScaleSets/extensions/write", what: "install extensions that run as root" },
    { action: "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/extensions/write", what: "install extensions that run as root on an instance" },
    { action: "Microsoft.Compute/virtualMachineScaleSets/write", what: "change the scale set model" },
    { action: "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/write", what: "change an instance's model" },
    { action: ROLE_ASSIGNMENT_WRITE, what: "grant themselves any role there (privilege escalation)" },
];
/** Entra sign-in to the VM: fine for people held to MFA by Conditional Access, a standing path for anything else. */
export const VM_LOGIN_ROUTES: Route[] = [
    { action: "Microsoft.Compute/virtualMachines/loginAsAdmin/action", data: true, what: "sign in as administrator (sudo)" },
    { action: "Microsoft.Compute/virtualMachines/login/action", data: true, what: "sign in" },
];
/** On the login VM's OS disk (or a scope containing it): read or rewrite the root file system offline. */
const DISK_ACCESS: Route[] = [
    { action: "Microsoft.Compute/disks/write", what: "rewrite or swap the OS disk" },
    { action: "Microsoft.Compute/disks/beginGetAccess/action", what: "export the OS disk (SAS) and read its secrets" },
    { action: "Microsoft.Compute/disks/download/action", data: true, what: "download the OS disk and read its secrets" },
    { action: "Microsoft.Compute/disks/upload/action", data: true, what: "upload a tampered OS disk" },
];
export const DISK_ROUTES: Route[] = [
    ...DISK_ACCESS,
    { action: ROLE_ASSIGNMENT_WRITE, what: "grant themselves disk write or export there (privilege escalation)", escalatesTo: DISK_ACCESS },
];
/** On the login VM's NIC (or a scope containing it but not the VM): attach a public IP or a load balancer. */
const NIC_WRITE: Route[] = [
    { action: "Microsoft.Network/networkInterfaces/write", what: "attach a public IP or public load balancer to the login node's NIC" },
];
export const NIC_ROUTES: Route[] = [
    ...NIC_WRITE,
    { action: ROLE_ASSIGNMENT_WRITE, what: "grant themselves NIC write there (privilege escalation)", escalatesTo: NIC_WRITE },
];

/**
 * The routes of `routes` that `permissions` grant. A route with `escalatesTo` (role assignment writes on a NIC or
 * disk) counts only if the role can assign a role that grants one of those: a role whose condition limits it to the
 * VM login roles (`assignableRoleIds`) cannot hand out NIC or disk write.
 */
export function routesGranted(permissions: readonly Permission[], routes: readonly Route[], assignableRoleIds?: readonly string[]): Route[] {
    return routes.filter(r => grants(permissions, r.action, r.data) && (!r.escalatesTo || !assignableRoleIds ||
        assignableRoleIds.some(id => {
            const role = builtInRole(id);
            return !role || routesGranted(role.permissions, r.escalatesTo ?? []).length > 0;
        })));
}

export function builtInRole(guid: string): RoleInfo | undefined {
    return BUILT_IN_ROLES[lower(guid)];
}
