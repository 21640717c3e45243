// The virtual network, its subnets and NSGs, the NAT gateway for outbound access, and Azure Bastion with
// native-client tunneling (the only way in: nothing else admits traffic from the Internet).
import * as pulumi from "@pulumi/pulumi";
import * as network from "@pulumi/azure-native/network";
import type * as inputs from "@pulumi/azure-native/types/input";
import { Settings } from "./config";

export interface NetworkArgs {
    resourceGroupName: pulumi.Input<string>;
    /** Short name used in Azure resource names, e.g. "ccslurm-dev". */
    namePrefix: string;
    settings: Settings;
}

/** Azure Bastion's documented NSG rule set for AzureBastionSubnet (learn.microsoft.com, bastion-nsg). */
export const BASTION_NSG_RULES: inputs.network.SecurityRuleArgs[] = [
    rule("AllowHttpsInbound", 120, "Inbound", "Internet", "*", ["443"]),
    rule("AllowGatewayManagerInbound", 130, "Inbound", "GatewayManager", "*", ["443"]),
    rule("AllowAzureLoadBalancerInbound", 140, "Inbound", "AzureLoadBalancer", "*", ["443"]),
    rule("AllowBastionHostCommunicationInbound", 150, "Inbound", "VirtualNetwork", "VirtualNetwork", ["8080", "5701"]),
    rule("AllowSshRdpOutbound", 100, "Outbound", "*", "VirtualNetwork", ["22", "3389"]),
    rule("AllowAzureCloudOutbound", 110, "Outbound", "*", "AzureCloud", ["443"]),
    rule("AllowBastionCommunicationOutbound", 120, "Outbound", "VirtualNetwork", "VirtualNetwork", ["8080", "5701"]),
    rule("AllowHttpOutbound", 130, "Outbound", "*", "Internet", ["80"]),
];

/**
 * Rules for the CycleCloud, login and compute subnets: SSH only from inside the VNet (which includes
 * AzureBastionSubnet), nothing at all from the Internet. Traffic inside the VNet (CycleCloud 9443/5672,
 * Slurm, NFS to the private endpoint) is left to Azure's default AllowVnetInBound rule.
 */
export const PRIVATE_NSG_RULES: inputs.network.SecurityRuleArgs[] = [
    rule("AllowSshFromVirtualNetwork", 100, "Inbound", "VirtualNetwork", "*", ["22"]),
    rule("DenySshRdpFromAnywhereElse", 200, "Inbound", "*", "*", ["22", "3389"], "Deny"),
    rule("DenyInternetInbound", 4000, "Inbound", "Internet", "*", ["*"], "Deny", "*"),
];

function rule(name: string, priority: number, direction: "Inbound" | "Outbound", source: string,
    destination: string, ports: string[], access: "Allow" | "Deny" = "Allow",
    protocol: "Tcp" | "*" = "Tcp"): inputs.network.SecurityRuleArgs {
    return {
        name, priority, direction, access, protocol,
        sourceAddressPrefix: source,
        sourcePortRange: "*",
        destinationAddressPrefix: destination,
        ...(ports.length === 1 ? { destinationPortRange: ports[0] } : { destinationPortRanges: ports }),
    };
}

/** A Standard, static, regional IPv4 public IP: what both Bastion and the NAT gateway require. */
function standardStaticIp(name: string, publicIpAddressName: string,
    common: { resourceGroupName: pulumi.Input<string>; location: string; tags: Record<string, string> },
    parent: pulumi.Resource): network.PublicIPAddress {
    return new network.PublicIPAddress(name, {
        ...common,
        publicIpAddressName,
        sku: { name: "Standard", tier: "Regional" },
        publicIPAllocationMethod: "Static",
        publicIPAddressVersion: "IPv4",
    }, { parent });
}

export class Network extends pulumi.ComponentResource {
    public readonly vnet: network.VirtualNetwork;
    public readonly bastionSubnet: network.Subnet;
    public readonly cyclecloudSubnet: network.Subnet;
    public readonly loginSubnet: network.Subnet;
    public readonly computeSubnet: network.Subnet;
    public readonly natGateway: network.NatGateway;
    public readonly bastion: network.BastionHost;
    public readonly bastionName: pulumi.Output<string>;

    /**
     * @param name The _unique_ name of this component.
     * @param args The resource group, name prefix and validated settings.
     * @param opts A bag of options that control this component's behavior.
     */
    constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cyclecloud-slurm-entra:network:Network", name, {}, opts);
        const { settings, resourceGroupName, namePrefix } = args;
        const common = { resourceGroupName, location: settings.location, tags: settings.tags };
        const parent = { parent: this };

        this.vnet = new network.VirtualNetwork(`${name}-vnet`, {
            ...common,
            virtualNetworkName: `vnet-${namePrefix}`,
            addressSpace: { addressPrefixes: [settings.network.addressSpace] },
        }, { ...parent, ignoreChanges: ["subnets"] });

        const bastionNsg = new network.NetworkSecurityGroup(`${name}-bastion-nsg`, {
            ...common,
            networkSecurityGroupName: `nsg-${namePrefix}-bastion`,
            securityRules: BASTION_NSG_RULES,
        }, parent);
        const privateNsg = new network.NetworkSecurityGroup(`${name}-private-nsg`, {
            ...common,
            networkSecurityGroupName: `nsg-${namePrefix}-private`,
            securityRules: PRIVATE_NSG_RULES,
        }, parent);

        // New VNets get no default outbound access (retired 2025-09-30), and the login node and CycleCloud
        // need packages.microsoft.com, Entra ID and the CycleCloud locker: one NAT gateway serves them all.
        const natIp = standardStaticIp(`${name}-nat-ip`, `pip-${namePrefix}-nat`, common, this);
        this.natGateway = new network.NatGateway(`${name}-nat`, {
            ...common,
            natGatewayName: `ng-${namePrefix}`,
            sku: { name: "Standard" },
            idleTimeoutInMinutes: 4,
            publicIpAddresses: [{ id: natIp.id }],
        }, parent);

        const subnet = (key: string, subnetName: string, prefix: string, extra: Partial<network.SubnetArgs>,
            dependsOn: pulumi.Resource[]) =>
            new network.Subnet(`${name}-${key}`, {
                resourceGroupName,
                virtualNetworkName: this.vnet.name,
                subnetName,
                addressPrefix: prefix,
                ...extra,
            }, { ...parent, dependsOn });

        // Subnets of one VNet are created one after another: Azure rejects concurrent subnet writes
        // ("AnotherOperationInProgress").
        this.bastionSubnet = subnet("bastion-subnet", "AzureBastionSubnet", settings.network.bastionSubnet, {
            networkSecurityGroup: { id: bastionNsg.id },
        }, []);
        const privateSubnet = (key: string, subnetName: string, prefix: string, after: network.Subnet) =>
            subnet(key, subnetName, prefix, {
                networkSecurityGroup: { id: privateNsg.id },
                natGateway: { id: this.natGateway.id },
                defaultOutboundAccess: false,
                privateEndpointNetworkPolicies: "Disabled",
            }, [after]);
        this.cyclecloudSubnet = privateSubnet("cyclecloud-subnet", "cyclecloud", settings.network.cyclecloudSubnet, this.bastionSubnet);
        this.loginSubnet = privateSubnet("login-subnet", "login", settings.network.loginSubnet, this.cyclecloudSubnet);
        this.computeSubnet = privateSubnet("compute-subnet", "compute", settings.network.computeSubnet, this.loginSubnet);

        const bastionIp = standardStaticIp(`${name}-bastion-ip`, `pip-${namePrefix}-bastion`, common, this);
        this.bastion = new network.BastionHost(`${name}-bastion`, {
            ...common,
            bastionHostName: `bas-${namePrefix}`,
            sku: { name: settings.bastion.sku },
            // Native-client support: what `az network bastion ssh --auth-type AAD` and `tunnel` need.
            enableTunneling: true,
            scaleUnits: settings.bastion.scaleUnits,
            ipConfigurations: [{
                name: "bastion-ipconfig",
                subnet: { id: this.bastionSubnet.id },
                publicIPAddress: { id: bastionIp.id },
                privateIPAllocationMethod: "Dynamic",
            }],
        }, parent);
        this.bastionName = this.bastion.name;

        this.registerOutputs({
            vnetId: this.vnet.id,
            bastionId: this.bastion.id,
            loginSubnetId: this.loginSubnet.id,
            computeSubnetId: this.computeSubnet.id,
        });
    }
}
