// Who may sign in to the login node with Entra ID: login role assignments at the VM's scope, the Reader
// roles `az network bastion ssh --auth-type AAD` needs, optional Entra groups, and an optional Conditional
// Access policy that requires MFA. Conditional Access cannot target one VM: the policy covers every Linux
// VM sign-in of the targeted users anywhere in the tenant (azure-docs howto-vm-sign-in-azure-ad-linux).
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as azuread from "@pulumi/azuread";
import { ClusterUser, Settings } from "./config";

/** Built-in role definition GUIDs (learn.microsoft.com, Azure built-in roles). */
export const ROLE = {
    virtualMachineUserLogin: "fb879df8-f326-4884-b1cf-06f3ad86be52",
    virtualMachineAdministratorLogin: "1c0163c0-47e6-4577-8991-ea5c82e286e4",
    reader: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
} as const;

/** The "Azure Linux VM Sign-In" application that Conditional Access targets for Entra SSH logins. */
export const AZURE_LINUX_VM_SIGN_IN_APP_ID = "ce6ff14a-7fdc-4685-bbe0-f6afdfcfa8e0";

/** What the MFA policy really covers, for its outputs and the README. */
export const CONDITIONAL_ACCESS_SCOPE = "every Linux VM sign-in with Entra ID (app Azure Linux VM Sign-In) of the targeted users " +
    "in the whole tenant, not only this login node";

const OBJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface EntraAccessArgs {
    settings: Settings;
    subscriptionId: pulumi.Input<string>;
    loginVmId: pulumi.Input<string>;
    loginNicId: pulumi.Input<string>;
    bastionId: pulumi.Input<string>;
}

interface Principal {
    /** A stable name for the resources that belong to this principal. */
    key: string;
    objectId: pulumi.Input<string>;
    type: "User" | "Group";
    admin: boolean;
}

/** The object ID of a user given as UPN or object ID. */
export function userObjectId(user: ClusterUser, parent: pulumi.Resource): pulumi.Input<string> {
    if (OBJECT_ID.test(user.entra)) return user.entra;
    return azuread.getUserOutput({ userPrincipalName: user.entra }, { parent }).objectId;
}

function groupObjectId(group: string, parent: pulumi.Resource): pulumi.Input<string> {
    if (OBJECT_ID.test(group)) return group;
    return azuread.getGroupOutput({ displayName: group, securityEnabled: true }, { parent }).objectId;
}

export function roleDefinitionId(subscriptionId: pulumi.Input<string>, roleGuid: string): pulumi.Output<string> {
    return pulumi.interpolate`/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleGuid}`;
}

export class EntraAccess extends pulumi.ComponentResource {
    public readonly roleAssignments: authorization.RoleAssignment[] = [];
    public readonly groups: azuread.Group[] = [];
    public readonly conditionalAccessPolicy?: azuread.ConditionalAccessPolicy;
    /** The Azure Linux VM Sign-In app's service principal in the tenant (adopted if present, created if not). */
    public readonly vmSignInServicePrincipal?: azuread.ServicePrincipal;

    constructor(name: string, args: EntraAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cyclecloud-slurm-entra:entra:EntraAccess", name, {}, opts);
        const { settings } = args;
        const principals = this.principals(name, settings);

        for (const p of principals) {
            const login = p.admin ? ROLE.virtualMachineAdministratorLogin : ROLE.virtualMachineUserLogin;
            const grants: [string, string, pulumi.Input<string>][] = [
                [p.admin ? "admin-login" : "user-login", login, args.loginVmId],
                // Bastion's native client reads the VM, its NIC and the Bastion before it opens the tunnel.
                ["reader-vm", ROLE.reader, args.loginVmId],
                ["reader-nic", ROLE.reader, args.loginNicId],
                ["reader-bastion", ROLE.reader, args.bastionId],
            ];
            for (const [what, role, scope] of grants) {
                this.roleAssignments.push(new authorization.RoleAssignment(`${name}-${p.key}-${what}`, {
                    scope,
                    roleDefinitionId: roleDefinitionId(args.subscriptionId, role),
                    principalId: p.objectId,
                    principalType: p.type,
                    description: `${settings.slurm.clusterName} login node (${what})`,
                }, { parent: this, deleteBeforeReplace: true }));
            }
        }

        if (settings.entra.conditionalAccessMfa) {
            const users = principals.filter(p => p.type === "User").map(p => p.objectId);
            const groups = principals.filter(p => p.type === "Group").map(p => p.objectId);
            // A tenant may not have the app's service principal yet; Conditional Access cannot name the app
            // without it (the docs create it with New-MgServicePrincipal). useExisting adopts one that exists;
            // retainOnDelete keeps it on destroy: other policies and VMs in the tenant may rely on it.
            this.vmSignInServicePrincipal = new azuread.ServicePrincipal(`${name}-vm-sign-in-sp`, {
                clientId: AZURE_LINUX_VM_SIGN_IN_APP_ID,
                useExisting: true,
            }, { parent: this, retainOnDelete: true });
            this.conditionalAccessPolicy = new azuread.ConditionalAccessPolicy(`${name}-mfa`, {
                // Says what it covers: Conditional Access cannot be limited to this VM.
                displayName: `Require MFA for Linux VM sign-in (all VMs) of ${settings.slurm.clusterName} users (${settings.stack})`,
                state: "enabled",
                conditions: {
                    clientAppTypes: ["all"],
                    applications: { includedApplications: [AZURE_LINUX_VM_SIGN_IN_APP_ID] },
                    users: {
                        includedUsers: users.length > 0 ? users : undefined,
                        includedGroups: groups.length > 0 ? groups : undefined,
                    },
                },
                grantControls: { operator: "OR", builtInControls: ["mfa"] },
            }, { parent: this, dependsOn: [this.vmSignInServicePrincipal] });
        }

        this.registerOutputs({
            roleAssignmentIds: this.roleAssignments.map(r => r.id),
            groupIds: this.groups.map(g => g.objectId),
            conditionalAccessScope: this.conditionalAccessPolicy ? CONDITIONAL_ACCESS_SCOPE : undefined,
        });
    }

    /** Who gets roles: the users themselves, or groups made for them, plus any existing groups. */
    private principals(name: string, settings: Settings): Principal[] {
        const out: Principal[] = [];
        const groupName = settings.entra.groupName;
        if (groupName) {
            for (const admin of [false, true]) {
                const members = settings.users.filter(u => u.admin === admin);
                if (members.length === 0) continue;
                const group = new azuread.Group(`${name}-${admin ? "admins" : "users"}-group`, {
                    displayName: admin ? `${groupName}-admins` : groupName,
                    description: `${admin ? "Admins" : "Users"} of the ${settings.slurm.clusterName} Slurm login node (${settings.stack})`,
                    securityEnabled: true,
                    mailEnabled: false,
                    members: members.map(u => userObjectId(u, this)),
                    preventDuplicateNames: true,
                }, { parent: this });
                this.groups.push(group);
                out.push({ key: admin ? "admins-group" : "users-group", objectId: group.objectId, type: "Group", admin });
            }
        } else {
            for (const u of settings.users) {
                out.push({ key: `user-${u.name}`, objectId: userObjectId(u, this), type: "User", admin: u.admin });
            }
        }
        for (const g of settings.entra.existingGroups) {
            // Keyed by the group, not its position, so reordering the list changes nothing.
            const key = `group-${g.group.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
            out.push({ key, objectId: groupObjectId(g.group, this), type: "Group", admin: g.admin });
        }
        return out;
    }
}
