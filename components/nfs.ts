// /shared: an Azure Files NFS 4.1 share on a premium FileStorage account, reachable only through a private
// endpoint in the VNet, with the privatelink DNS zone so <account>.file.core.windows.net resolves privately.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as network from "@pulumi/azure-native/network";
import * as storage from "@pulumi/azure-native/storage";
import { Settings } from "./config";
import { privateEndpointDns } from "./privateDns";

/** Required by Azure Files NFS (vers=4,minorversion=1,sec=sys) plus Microsoft's recommended extras. */
export const NFS_MOUNT_OPTIONS = "vers=4,minorversion=1,sec=sys,nconnect=4,rsize=1048576,wsize=1048576,hard,noresvport,actimeo=30";

export const FILE_PRIVATE_DNS_ZONE = "privatelink.file.core.windows.net";

export interface SharedStorageArgs {
    resourceGroupName: pulumi.Input<string>;
    settings: Settings;
    /** Where the private endpoint lives. */
    privateEndpointSubnetId: pulumi.Input<string>;
    /** The VNet the private DNS zone is linked to. */
    vnetId: pulumi.Input<string>;
    /** Seeds the globally unique storage account name (the subscription ID keeps it unique per tenant). */
    subscriptionId: pulumi.Input<string>;
}

/**
 * A storage account name (3-24 lower-case letters and digits, globally unique) that stays the same for a
 * given subscription, resource group and stack, so a second `pulumi up` never renames (replaces) it.
 */
export function nfsAccountName(subscriptionId: string, resourceGroupName: string, stack: string): string {
    const digest = crypto.createHash("sha256").update(`${subscriptionId}/${resourceGroupName}/${stack}`).digest("hex");
    return `nfs${digest.slice(0, 18)}`;
}

export class SharedStorage extends pulumi.ComponentResource {
    public readonly account: storage.StorageAccount;
    public readonly share: storage.FileShare;
    public readonly privateEndpoint: network.PrivateEndpoint;
    /** NFS server host name: <account>.file.core.windows.net (resolves to the private endpoint). */
    public readonly host: pulumi.Output<string>;
    /** Export path: /<account>/<share>. */
    public readonly exportPath: pulumi.Output<string>;
    public readonly mountOptions: string;
    /** The /etc/fstab line for /shared. */
    public readonly fstabLine: pulumi.Output<string>;

    constructor(name: string, args: SharedStorageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cyclecloud-slurm-entra:storage:SharedStorage", name, {}, opts);
        const { settings, resourceGroupName } = args;
        const parent = { parent: this };
        // /shared holds every user's home: `pulumi destroy` leaves the account, the share and its data in Azure
        // unless the stack says otherwise (deleteSharedOnDestroy). The resource group is kept too (index.ts):
        // deleting a group deletes everything in it, retained or not.
        const keep = { ...parent, retainOnDelete: !settings.deleteSharedOnDestroy };
        const accountName = pulumi.all([args.subscriptionId, resourceGroupName])
            .apply(([sub, rg]) => nfsAccountName(sub, rg, settings.stack));

        this.account = new storage.StorageAccount(`${name}-account`, {
            resourceGroupName,
            location: settings.location,
            tags: settings.tags,
            accountName,
            // NFS shares exist only on premium (SSD) FileStorage accounts, and only with LRS or ZRS.
            kind: "FileStorage",
            sku: { name: `Premium_${settings.nfs.redundancy}` },
            // NFS 4.1 has no TLS of its own: with "secure transfer required" on, Azure refuses plain NFS mounts.
            // The share is reachable only from the VNet through the private endpoint, which is what Microsoft
            // asks for instead.
            enableHttpsTrafficOnly: false,
            minimumTlsVersion: "TLS1_2",
            publicNetworkAccess: "Disabled",
            networkRuleSet: { defaultAction: "Deny", bypass: "None", ipRules: [], virtualNetworkRules: [] },
            allowBlobPublicAccess: false,
            // NFS authorises by network, never by account key.
            allowSharedKeyAccess: false,
            largeFileSharesState: "Enabled",
        }, keep);

        this.share = new storage.FileShare(`${name}-share`, {
            resourceGroupName,
            accountName: this.account.name,
            shareName: settings.nfs.shareName,
            enabledProtocols: "NFS",
            // CycleCloud's jetpack creates /shared/home/<user> and the Slurm config as root from every node;
            // with root squash those writes would land as nobody and fail.
            rootSquash: "NoRootSquash",
            shareQuota: settings.nfs.quotaGiB,
        }, keep);

        this.privateEndpoint = new network.PrivateEndpoint(`${name}-pe`, {
            resourceGroupName,
            location: settings.location,
            tags: settings.tags,
            privateEndpointName: pulumi.interpolate`pe-${this.account.name}-file`,
            subnet: { id: args.privateEndpointSubnetId },
            privateLinkServiceConnections: [{
                name: "file",
                privateLinkServiceId: this.account.id,
                groupIds: ["file"],
            }],
        }, parent);

        privateEndpointDns(name, {
            resourceGroupName,
            zoneName: FILE_PRIVATE_DNS_ZONE,
            vnetId: args.vnetId,
            privateEndpointName: this.privateEndpoint.name,
            groupId: "file",
            tags: settings.tags,
        }, this);

        this.host = pulumi.interpolate`${this.account.name}.file.core.windows.net`;
        this.exportPath = pulumi.interpolate`/${this.account.name}/${this.share.name}`;
        this.mountOptions = NFS_MOUNT_OPTIONS;
        this.fstabLine = pulumi.interpolate`${this.host}:${this.exportPath} /shared nfs ${NFS_MOUNT_OPTIONS},_netdev,nofail 0 0`;

        this.registerOutputs({
            accountId: this.account.id,
            host: this.host,
            exportPath: this.exportPath,
            mountOptions: this.mountOptions,
        });
    }
}
