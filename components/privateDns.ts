// Private DNS for a private endpoint: the privatelink zone, its link to the VNet and the endpoint's zone group,
// so <account>.<service>.core.windows.net resolves to the endpoint's private IP inside the VNet.
import * as pulumi from "@pulumi/pulumi";
import * as network from "@pulumi/azure-native/network";
import * as privatedns from "@pulumi/azure-native/privatedns";

export interface PrivateEndpointDnsArgs {
    resourceGroupName: pulumi.Input<string>;
    /** e.g. privatelink.file.core.windows.net */
    zoneName: string;
    vnetId: pulumi.Input<string>;
    privateEndpointName: pulumi.Input<string>;
    /** The endpoint's group ID (file, blob), used as the zone config's name. */
    groupId: string;
    tags: Record<string, string>;
}

/** Creates `<prefix>-dns-zone`, `<prefix>-dns-link` and `<prefix>-pe-dns`, children of `parent`. */
export function privateEndpointDns(prefix: string, args: PrivateEndpointDnsArgs, parent: pulumi.Resource) {
    const opts = { parent };
    const zone = new privatedns.PrivateZone(`${prefix}-dns-zone`, {
        resourceGroupName: args.resourceGroupName,
        privateZoneName: args.zoneName,
        location: "global",
        tags: args.tags,
    }, opts);
    const link = new privatedns.VirtualNetworkLink(`${prefix}-dns-link`, {
        resourceGroupName: args.resourceGroupName,
        privateZoneName: zone.name,
        virtualNetworkLinkName: "vnet-link",
        location: "global",
        registrationEnabled: false,
        virtualNetwork: { id: args.vnetId },
        tags: args.tags,
    }, opts);
    const zoneGroup = new network.PrivateDnsZoneGroup(`${prefix}-pe-dns`, {
        resourceGroupName: args.resourceGroupName,
        privateEndpointName: args.privateEndpointName,
        privateDnsZoneGroupName: "default",
        privateDnsZoneConfigs: [{ name: args.groupId, privateDnsZoneId: zone.id }],
    }, opts);
    return { zone, link, zoneGroup };
}
