// The CycleCloud 8 server: marketplace VM (plan image, its data disk at LUN 0, no public IP, SSH key only,
// system-assigned identity), the locker storage account reachable only through a blob private endpoint,
// the locker's user-assigned identity, the cluster resource group, least-privilege role assignments, the
// optional marketplace-terms acceptance, and the headless initialisation as a remote Command.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as compute from "@pulumi/azure-native/compute";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as network from "@pulumi/azure-native/network";
import * as resources from "@pulumi/azure-native/resources";
import * as storage from "@pulumi/azure-native/storage";
import * as command from "@pulumi/command";
import { ImageUrn, Secrets, Settings } from "../config";
import { privateEndpointDns } from "../privateDns";
import { linuxComputerName } from "../login/loginNode";
import { parseHostKey, serverConnection, SshIdentity } from "./connection";
import { readScript, scriptCommand, scriptStdin } from "./scripts";
import { openBastionTunnel } from "./tunnel";

export const BLOB_PRIVATE_DNS_ZONE = "privatelink.blob.core.windows.net";

/** Built-in roles granted (learn.microsoft.com, Azure built-in roles). */
export const BUILTIN_ROLE = {
    contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
    storageBlobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    storageBlobDataReader: "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
} as const;

/**
 * The read actions of CycleCloud's documented "CycleCloud Orchestrator Role" (azure-docs
 * articles/cyclecloud/how-to/managed-identities.md): the only rights granted at subscription scope.
 */
export const ORCHESTRATOR_READ_ACTIONS = [
    "Microsoft.Commerce/RateCard/read",
    "Microsoft.Compute/*/read",
    "Microsoft.Compute/images/read",
    "Microsoft.Compute/locations/usages/read",
    "Microsoft.Compute/skus/read",
    "Microsoft.Network/*/read",
    "Microsoft.Network/locations/*/read",
    "Microsoft.Network/networkInterfaces/read",
    "Microsoft.Network/networkSecurityGroups/read",
    "Microsoft.Network/publicIPAddresses/read",
    "Microsoft.Network/virtualNetworks/read",
    "Microsoft.Network/virtualNetworks/subnets/read",
    "Microsoft.Resources/deployments/read",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Resources/subscriptions/resourceGroups/resources/read",
    "Microsoft.Resources/subscriptions/operationresults/read",
    "Microsoft.Storage/*/read",
    "Microsoft.Storage/checknameavailability/read",
    "Microsoft.Storage/storageAccounts/read",
] as const;

/** From the same role: joining NICs to the compute subnet (granted on that subnet only). */
export const SUBNET_JOIN_ACTIONS = ["Microsoft.Network/virtualNetworks/subnets/join/action"] as const;
/** From the same role: attaching the locker identity to cluster VMs (granted on that identity only). */
export const IDENTITY_ASSIGN_ACTIONS = ["Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action"] as const;

/**
 * CycleCloud's own image names do not say which marketplace plan they use; `almalinux8` is taken to be the
 * AlmaLinux 8 HPC plan image (CycleCloud Workspace for Slurm replaced that URN by this name). [inferred]
 */
export const NODE_IMAGE_TERMS: Record<string, string | undefined> = {
    almalinux8: "almalinux:almalinux-hpc:8_10-hpc-gen2:latest",
};

export interface CycleCloudServerArgs {
    resourceGroupName: pulumi.Input<string>;
    /** ID of the stack's resource group (custom role definitions are assignable there). */
    resourceGroupId: pulumi.Input<string>;
    namePrefix: string;
    settings: Settings;
    secrets: Secrets;
    subscriptionId: pulumi.Input<string>;
    /** Subnet of the server and the locker's private endpoint. */
    subnetId: pulumi.Input<string>;
    /** Subnet the cluster's nodes join. */
    computeSubnetId: pulumi.Input<string>;
    vnetId: pulumi.Input<string>;
    /** Tunnel mode: the Bastion's name, an output of the Bastion (the program opens the tunnel once it exists). */
    bastionName?: pulumi.Input<string>;
    /**
     * What the remote Commands' SSH path goes through besides the server itself (the BastionHost in tunnel
     * mode): every Command depends on it, so create waits for it and destroy keeps it until they are gone.
     */
    accessPath?: pulumi.Resource[];
}

/** A 3-24 character storage account name, stable per subscription, resource group and stack. */
export function lockerAccountName(subscriptionId: string, resourceGroupName: string, stack: string): string {
    const digest = crypto.createHash("sha256").update(`locker/${subscriptionId}/${resourceGroupName}/${stack}`).digest("hex");
    return `cclocker${digest.slice(0, 16)}`;
}

/**
 * A custom role's name, which must be unique in the whole Entra tenant and at most 128 characters (Azure RBAC
 * custom roles, "Custom role properties": roleName). The resource group name alone is not unique: a stack of the
 * same name in another subscription of the tenant has the same default group name. So the name carries the start
 * of the role's own GUID (from subscription, group, stack and role), and the group for people to read when it fits.
 */
export function customRoleName(title: string, roleGuid: string, resourceGroupName: string): string {
    const full = `${title} ${roleGuid.slice(0, 8)} (${resourceGroupName})`;
    return full.length <= 128 ? full : `${title} ${roleGuid}`;
}

/** A GUID that is the same for the same seed (custom role definition IDs must be stable). */
export function stableGuid(seed: string): string {
    const h = crypto.createHash("sha256").update(seed).digest("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The marketplace terms `acceptMarketplaceTerms` accepts: the server image, the login image, the node image. */
export function marketplaceTermUrns(settings: Settings): string[] {
    const urn = (i: ImageUrn) => `${i.publisher}:${i.offer}:${i.sku}:${i.version}`;
    const urns = [urn(settings.cyclecloud.image), ...(settings.login.imagePlan ? [urn(settings.login.image)] : [])];
    const node = settings.cluster.nodeImage;
    const nodeUrn = node.split(":").length === 4 ? node : NODE_IMAGE_TERMS[node];
    if (nodeUrn) urns.push(nodeUrn);
    // Terms are per publisher/offer/plan: one acceptance per plan.
    const seen = new Set<string>();
    return urns.filter(u => {
        const plan = u.split(":").slice(0, 3).join(":").toLowerCase();
        if (seen.has(plan)) return false;
        seen.add(plan);
        return true;
    });
}

interface Grant {
    key: string;
    principalId: pulumi.Input<string>;
    role: pulumi.Input<string>;
    scope: pulumi.Input<string>;
    why: string;
}

export class CycleCloudServer extends pulumi.ComponentResource {
    public readonly nic: network.NetworkInterface;
    public readonly vm: compute.VirtualMachine;
    public readonly privateIp: pulumi.Output<string>;
    public readonly locker: storage.StorageAccount;
    public readonly lockerIdentity: managedidentity.UserAssignedIdentity;
    public readonly clusterResourceGroup: resources.ResourceGroup;
    public readonly roleAssignments: authorization.RoleAssignment[] = [];
    public readonly customRoles: authorization.RoleDefinition[] = [];
    public readonly terms?: command.local.Command;
    public readonly init: command.remote.Command;
    /** The SSH identity and access path the remote Commands use. */
    public readonly ssh: SshIdentity;
    /** The server's SSH host key: configured (cyclecloudHostKey), or read through Azure by `hostKeyRead`. */
    public readonly hostKey: pulumi.Output<string | undefined>;
    /** The Run Command that reads the server's host key through ARM (absent when cyclecloudHostKey is set). */
    public readonly hostKeyRead?: compute.VirtualMachineRunCommandByVirtualMachine;
    public readonly vmName: string;
    /** See CycleCloudServerArgs.accessPath; the cluster's Commands depend on it too. */
    public readonly accessPath: pulumi.Resource[];

    constructor(name: string, args: CycleCloudServerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cyclecloud-slurm-entra:cyclecloud:CycleCloudServer", name, {}, opts);
        const { settings, resourceGroupName, namePrefix } = args;
        const cc = settings.cyclecloud;
        const parent = { parent: this };
        const common = { resourceGroupName, location: settings.location, tags: settings.tags };
        this.vmName = `vm-${namePrefix}-cc`;
        this.accessPath = args.accessPath ?? [];

        if (cc.acceptMarketplaceTerms) {
            this.terms = new command.local.Command(`${name}-terms`, {
                create: scriptCommand(marketplaceTermUrns(settings), { sudo: false }),
                stdin: readScript("accept-terms.sh"),
            }, parent);
        }

        // ---- locker: blob storage that only the VNet reaches, with no account keys ----
        const accountName = pulumi.all([args.subscriptionId, resourceGroupName])
            .apply(([sub, rg]) => lockerAccountName(sub, rg, settings.stack));
        this.locker = new storage.StorageAccount(`${name}-locker`, {
            ...common,
            accountName,
            kind: "StorageV2",
            sku: { name: "Standard_LRS" },
            enableHttpsTrafficOnly: true,
            minimumTlsVersion: "TLS1_2",
            allowBlobPublicAccess: false,
            allowSharedKeyAccess: false,
            publicNetworkAccess: "Disabled",
            networkRuleSet: { defaultAction: "Deny", bypass: "None", ipRules: [], virtualNetworkRules: [] },
        }, parent);
        const container = new storage.BlobContainer(`${name}-locker-container`, {
            resourceGroupName,
            accountName: this.locker.name,
            containerName: "cyclecloud",
            publicAccess: "None",
        }, parent);
        const pe = new network.PrivateEndpoint(`${name}-locker-pe`, {
            ...common,
            privateEndpointName: pulumi.interpolate`pe-${this.locker.name}-blob`,
            subnet: { id: args.subnetId },
            privateLinkServiceConnections: [{ name: "blob", privateLinkServiceId: this.locker.id, groupIds: ["blob"] }],
        }, parent);
        const { link, zoneGroup } = privateEndpointDns(`${name}-blob`, {
            resourceGroupName,
            zoneName: BLOB_PRIVATE_DNS_ZONE,
            vnetId: args.vnetId,
            privateEndpointName: pe.name,
            groupId: "blob",
            tags: settings.tags,
        }, this);
        this.lockerIdentity = new managedidentity.UserAssignedIdentity(`${name}-locker-identity`, {
            ...common,
            resourceName: `id-${namePrefix}-locker`,
        }, parent);

        // ---- the resource group CycleCloud creates cluster VMs in ("restricted credential") ----
        this.clusterResourceGroup = new resources.ResourceGroup(`${name}-cluster-rg`, {
            resourceGroupName: cc.clusterResourceGroupName,
            location: settings.location,
            tags: settings.tags,
        }, parent);

        // ---- the server VM ----
        this.nic = new network.NetworkInterface(`${name}-nic`, {
            ...common,
            networkInterfaceName: `nic-${namePrefix}-cc`,
            // No publicIPAddress: reached through Bastion or from inside the VNet only.
            ipConfigurations: [{ name: "ipconfig1", primary: true, subnet: { id: args.subnetId }, privateIPAllocationMethod: "Dynamic" }],
        }, parent);
        this.vm = new compute.VirtualMachine(`${name}-vm`, {
            ...common,
            vmName: this.vmName,
            hardwareProfile: { vmSize: cc.vmSize },
            plan: { publisher: cc.image.publisher, product: cc.image.offer, name: cc.image.sku },
            storageProfile: {
                imageReference: { ...cc.image },
                osDisk: {
                    name: `osdisk-${namePrefix}-cc`,
                    createOption: "FromImage",
                    caching: "ReadWrite",
                    managedDisk: { storageAccountType: "StandardSSD_LRS" },
                    deleteOption: "Delete",
                },
                // The image's own data disk: /opt/cycle_server (CycleCloud's data) lives on it.
                dataDisks: [{
                    lun: 0,
                    name: `datadisk-${namePrefix}-cc`,
                    createOption: "FromImage",
                    caching: "ReadWrite",
                    managedDisk: { storageAccountType: "Premium_LRS" },
                    deleteOption: "Delete",
                }],
            },
            osProfile: {
                // The prefix holds the stack name, which may contain `_` or `.` (invalid in a computer name).
                computerName: linuxComputerName(`${namePrefix}-cc`, "the stack name (pulumi stack select)"),
                adminUsername: cc.adminUsername,
                linuxConfiguration: {
                    disablePasswordAuthentication: true,
                    provisionVMAgent: true,
                    ssh: { publicKeys: [{ path: `/home/${cc.adminUsername}/.ssh/authorized_keys`, keyData: cc.adminSshPublicKey }] },
                },
            },
            networkProfile: { networkInterfaces: [{ id: this.nic.id, primary: true }] },
            identity: { type: "SystemAssigned" },
            diagnosticsProfile: { bootDiagnostics: { enabled: true } },
        }, { ...parent, dependsOn: this.terms ? [this.terms] : [] });
        this.privateIp = this.nic.ipConfigurations.apply(c => c?.[0]?.privateIPAddress ?? "");
        const serverPrincipal = this.vm.identity.apply(i => i?.principalId ?? "");

        // ---- least privilege ----
        const roleId = (guid: string) => pulumi.interpolate`/subscriptions/${args.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
        const customRole = (key: string, title: string, scope: pulumi.Input<string>, actions: readonly string[], description: string) => {
            const guid = pulumi.all([args.subscriptionId, resourceGroupName])
                .apply(([sub, rg]) => stableGuid(`${sub}/${rg}/${settings.stack}/${key}`));
            const def = new authorization.RoleDefinition(`${name}-role-${key}`, {
                scope,
                roleDefinitionId: guid,
                roleName: pulumi.all([guid, resourceGroupName]).apply(([g, rg]) => customRoleName(title, g, rg)),
                description,
                roleType: "CustomRole",
                permissions: [{ actions: [...actions], notActions: [], dataActions: [], notDataActions: [] }],
                assignableScopes: [scope],
            }, parent);
            this.customRoles.push(def);
            return def.id;
        };
        const subscriptionScope = pulumi.interpolate`/subscriptions/${args.subscriptionId}`;
        const grants: Grant[] = [
            {
                key: "cluster-rg-contributor", principalId: serverPrincipal, role: roleId(BUILTIN_ROLE.contributor),
                scope: this.clusterResourceGroup.id,
                why: "CycleCloud creates, changes and deletes the cluster's VMs, scale sets, NICs and disks here",
            },
            {
                key: "compute-subnet-join", principalId: serverPrincipal,
                role: customRole("subnet-join", "CycleCloud subnet join", args.resourceGroupId, SUBNET_JOIN_ACTIONS,
                    "Join network interfaces to a subnet (from CycleCloud's orchestrator role)"),
                scope: args.computeSubnetId,
                why: "the cluster's NICs join the compute subnet, which lives outside the cluster resource group",
            },
            {
                key: "subscription-read", principalId: serverPrincipal,
                role: customRole("orchestrator-read", "CycleCloud orchestrator read", subscriptionScope, ORCHESTRATOR_READ_ACTIONS,
                    "The read actions of CycleCloud's documented orchestrator role: prices, SKUs, quotas, networks, images"),
                scope: subscriptionScope,
                why: "CycleCloud reads VM sizes, quotas, prices, images and the VNet",
            },
            {
                key: "locker-identity-assign", principalId: serverPrincipal,
                role: customRole("identity-assign", "CycleCloud locker identity assign", args.resourceGroupId, IDENTITY_ASSIGN_ACTIONS,
                    "Attach a user-assigned identity to VMs (from CycleCloud's orchestrator role)"),
                scope: this.lockerIdentity.id,
                why: "CycleCloud attaches the locker identity to the cluster VMs so they can read the locker",
            },
            {
                key: "locker-blob-contributor", principalId: serverPrincipal, role: roleId(BUILTIN_ROLE.storageBlobDataContributor),
                scope: this.locker.id,
                why: "CycleCloud uploads cluster-init projects to the locker (managed-identity locker auth)",
            },
            {
                key: "locker-identity-blob-reader", principalId: this.lockerIdentity.principalId, role: roleId(BUILTIN_ROLE.storageBlobDataReader),
                scope: this.locker.id,
                why: "cluster VMs download cluster-init projects from the locker with the locker identity",
            },
        ];
        for (const g of grants) {
            this.roleAssignments.push(new authorization.RoleAssignment(`${name}-${g.key}`, {
                scope: g.scope,
                roleDefinitionId: g.role,
                principalId: g.principalId,
                principalType: "ServicePrincipal",
                description: `CycleCloud ${settings.slurm.clusterName} (${settings.stack}): ${g.why}`,
            }, { ...parent, deleteBeforeReplace: true }));
        }

        // ---- headless initialisation ----
        this.ssh = {
            remote: settings.remote,
            user: cc.adminUsername,
            privateKey: args.secrets.adminSshPrivateKey,
            proxyPrivateKey: args.secrets.sshProxyPrivateKey,
            tunnelHost: settings.remote.mode === "bastionTunnel" && args.bastionName !== undefined
                ? openBastionTunnel(settings.remote, { resourceGroupName, bastionName: args.bastionName, vmId: this.vm.id })
                : undefined,
        };
        const initArgs = pulumi.all([args.subscriptionId, this.clusterResourceGroup.name, this.locker.name, this.lockerIdentity.id])
            .apply(([sub, rg, locker, identity]) =>
                [cc.adminUsername, sub, settings.location, rg, locker, identity]);
        // First contact must be authenticated: the server's host key comes from Azure, not from the SSH session it
        // is meant to check. A managed Run Command (run by the VM agent, reached through ARM with the deployer's
        // Azure credentials) reads the public key file; its output is fetched with the instance view.
        if (settings.remote.cyclecloudHostKey !== undefined) {
            this.hostKey = pulumi.output(settings.remote.cyclecloudHostKey);
        } else {
            const read = new compute.VirtualMachineRunCommandByVirtualMachine(`${name}-host-key`, {
                ...common,
                vmName: this.vm.name,
                runCommandName: "read-ssh-host-key",
                // The VM's unique ID in a comment: a replaced VM (same name, new host key) re-runs the read.
                source: { script: pulumi.interpolate`# vmId ${this.vm.vmId}\ncat /etc/ssh/ssh_host_ed25519_key.pub` },
                // Synchronous: the resource is created once the script has finished (or failed: then so does the up).
                asyncExecution: false,
                timeoutInSeconds: 600,
                treatFailureAsDeploymentFailure: true,
            }, { ...parent, dependsOn: [this.vm] });
            this.hostKeyRead = read;
            this.hostKey = compute.getVirtualMachineRunCommandByVirtualMachineOutput({
                resourceGroupName,
                vmName: this.vm.name,
                runCommandName: read.name,
                expand: "instanceView",
            }, { parent: this }).apply(r => parseHostKey(r.instanceView?.output));
        }
        const initStdin = pulumi.secret(args.secrets.cyclecloudAdminPassword.apply(password =>
            scriptStdin("init-server.sh", { CC_ADMIN_PASSWORD: password, CC_ADMIN_PUBLIC_KEY: cc.adminSshPublicKey })));
        this.init = new command.remote.Command(`${name}-init`, {
            connection: serverConnection(this.ssh, this.privateIp, this.hostKey),
            create: initArgs.apply(a => scriptCommand(a)),
            stdin: initStdin,
            // The password is on stdin; nothing the script prints may reach the Pulumi log.
            logging: "none",
            addPreviousOutputInEnv: false,
        }, {
            ...parent,
            additionalSecretOutputs: ["stdout", "stderr"],
            dependsOn: [this.vm, container, zoneGroup, link, ...this.roleAssignments, ...this.accessPath],
        });

        this.registerOutputs({
            vmId: this.vm.id,
            privateIp: this.privateIp,
            lockerId: this.locker.id,
            lockerIdentityId: this.lockerIdentity.id,
            clusterResourceGroupId: this.clusterResourceGroup.id,
        });
    }
}
