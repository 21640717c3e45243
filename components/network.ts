// The virtual network, its subnets and NSGs, the NAT gateway for outbound access, and Azure Bastion with
// native-client tunneling (the only way in: nothing else admits traffic from the Internet). Each private subnet
// has its own NSG that admits only the flows listed in subnetFlows, inside the VNet too.
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

/** Linux's default ephemeral port range (net.ipv4.ip_local_port_range), where srun listens without SrunPortRange. */
export const EPHEMERAL_PORTS = "32768-60999";

/** One allowed inbound flow; `why` is what the README's flow table says. */
export interface Flow {
    name: string;
    from: string;
    ports: string[];
    protocol: "Tcp" | "*";
    why: string;
}

/**
 * The inbound flows each private subnet admits; everything else, inside the VNet too, meets DenyAllOtherInbound
 * (priority 4096) before Azure's default AllowVnetInBound (65000). NSGs are stateful: replies need no rule.
 * Outbound is left to the defaults (the NAT gateway for the Internet).
 */
export function subnetFlows(settings: Settings): { cyclecloud: Flow[]; login: Flow[]; compute: Flow[] } {
    const n = settings.network;
    const deploy = settings.remote.deploySourcePrefix;
    const deployFlow = (name: string, why: string): Flow[] =>
        deploy === undefined ? [] : [{ name, from: deploy, ports: ["22"], protocol: "Tcp", why }];
    return {
        cyclecloud: [
            { name: "AllowSshFromBastion", from: n.bastionSubnet, ports: ["22"], protocol: "Tcp",
                why: "admins and the Bastion tunnel of the remote Commands (bastionTunnelPort) reach the server" },
            ...deployFlow("AllowSshFromDeployPath", "the remote Commands reach the server directly or through the jump host (deploySourcePrefix)"),
            { name: "AllowHttpsFromBastion", from: n.bastionSubnet, ports: ["443"], protocol: "Tcp",
                why: "the CycleCloud web UI through `az network bastion tunnel` (stack output cyclecloudUiTunnel)" },
            { name: "AllowCycleCloudFromNodes", from: n.computeSubnet, ports: ["9443", "5672"], protocol: "Tcp",
                why: "jetpack on the scheduler and nodes talks to CycleCloud (HTTPS 9443, AMQP 5672)" },
            { name: "AllowLockerFromServer", from: n.cyclecloudSubnet, ports: ["443"], protocol: "Tcp",
                why: "the server writes cluster-init projects to the locker's blob private endpoint" },
            { name: "AllowLockerFromNodes", from: n.computeSubnet, ports: ["443"], protocol: "Tcp",
                why: "nodes download cluster-init projects from the locker's blob private endpoint" },
            { name: "AllowNfsFromLogin", from: n.loginSubnet, ports: ["2049"], protocol: "Tcp",
                why: "the login node mounts /shared through the NFS private endpoint" },
            { name: "AllowNfsFromCompute", from: n.computeSubnet, ports: ["2049"], protocol: "Tcp",
                why: "the scheduler and the compute nodes mount /shared through the NFS private endpoint" },
        ],
        login: [
            { name: "AllowSshFromBastion", from: n.bastionSubnet, ports: ["22"], protocol: "Tcp",
                why: "Entra ID sign-in with `az network bastion ssh` (stack output sshCommand)" },
            { name: "AllowSshFromCycleCloud", from: n.cyclecloudSubnet, ports: ["22"], protocol: "Tcp",
                why: "the deploy path: admins reach the login node from the CycleCloud server" },
            { name: "AllowSrunFromCompute", from: n.computeSubnet, ports: [EPHEMERAL_PORTS], protocol: "Tcp",
                why: "slurmctld and slurmstepd call back srun/salloc on the login node; without SrunPortRange in the " +
                    "cluster's slurm.conf srun listens on an ephemeral port" },
            ...deployFlow("AllowSshFromDeployPath", "the readiness check reaches the login node directly or through the jump host (deploySourcePrefix)"),
        ],
        compute: [
            { name: "AllowSshFromCycleCloud", from: n.cyclecloudSubnet, ports: ["22"], protocol: "Tcp",
                why: "CycleCloud manages the nodes over SSH; the server scans the scheduler's host key; in tunnel mode " +
                    "the remote Commands reach the scheduler through the server" },
            ...deployFlow("AllowSshFromDeployPath", "the remote Commands reach the scheduler directly or through the jump host (deploySourcePrefix)"),
            { name: "AllowSshFromLogin", from: n.loginSubnet, ports: ["22"], protocol: "Tcp",
                why: "users reach nodes that run their jobs with the keys CycleCloud puts there (users[].sshPublicKey)" },
            { name: "AllowSlurmFromLogin", from: n.loginSubnet, ports: ["6817", "6818"], protocol: "Tcp",
                why: "sbatch/squeue/sinfo talk to slurmctld (6817); srun launches steps on slurmd (6818)" },
            { name: "AllowWithinCompute", from: n.computeSubnet, ports: ["*"], protocol: "*",
                why: "slurmctld, slurmd and srun among the nodes, MPI between nodes, /sched exported by the scheduler" },
        ],
    };
}

/** The NSG rules for a private subnet's flows: each allowed flow, then the explicit deny of everything else. */
export function privateNsgRules(flows: Flow[]): inputs.network.SecurityRuleArgs[] {
    return [
        ...flows.map((f, i) => rule(f.name, 100 + 10 * i, "Inbound", f.from, "*", f.ports, "Allow", f.protocol)),
        rule("DenyAllOtherInbound", 4096, "Inbound", "*", "*", ["*"], "Deny", "*"),
    ];
}

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
        const flows = subnetFlows(settings);
        const subnetNsg = (key: "cyclecloud" | "login" | "compute") => new network.NetworkSecurityGroup(`${name}-${key}-nsg`, {
            ...common,
            networkSecurityGroupName: `nsg-${namePrefix}-${key}`,
            securityRules: privateNsgRules(flows[key]),
        }, parent);
        const nsgs = { cyclecloud: subnetNsg("cyclecloud"), login: subnetNsg("login"), compute: subnetNsg("compute") };

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
        const privateSubnet = (key: keyof typeof nsgs, prefix: string, after: network.Subnet) =>
            subnet(`${key}-subnet`, key, prefix, {
                networkSecurityGroup: { id: nsgs[key].id },
                natGateway: { id: this.natGateway.id },
                defaultOutboundAccess: false,
                // Private endpoints (the NFS share's and the locker's, in the cyclecloud subnet) obey the subnet's
                // NSG only with network policies enabled; otherwise the whole VNet reaches them.
                privateEndpointNetworkPolicies: "Enabled",
            }, [after]);
        this.cyclecloudSubnet = privateSubnet("cyclecloud", settings.network.cyclecloudSubnet, this.bastionSubnet);
        this.loginSubnet = privateSubnet("login", settings.network.loginSubnet, this.cyclecloudSubnet);
        this.computeSubnet = privateSubnet("compute", settings.network.computeSubnet, this.loginSubnet);

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
