// Issue 18: the routes and false alarms a second look found, by class, each as violating stacks and compliant near
// misses (at least as many near misses as violations: a false alarm in every stack of an organisation costs as much
// trust as a miss). Run in process by bypasses.test.ts and over gRPC by analyzer.test.ts, like BYPASSES.
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import * as arm from "@pulumi/azure-native/resources";
import { ConditionalAccessPolicy } from "@pulumi/azuread/conditionalAccessPolicy";
import { EvaluatedResource } from "../../policy/evaluate";
import {
    BypassCase, CUSTOM_ROLE_GUID, DISK_ID, LB_FE, LB_POOL, LOGIN_ONLY, OTHER_RG_ID, PIP_ID, URN_PREFIX, assignment,
    baseStack, change, conditionalAccess, customData, customRole, ipConfig, lbRule, loadBalancer, plus, res, urn, vmssProps, withNic,
} from "./bypasses";
import { NIC_ID, OTHER_NIC_ID, RG_ID, ROLE, SUB, VM_ID } from "./fixtures";
import { unknown } from "./util";

const VMDAA = "66f75aeb-eabe-4b70-9f1e-c350c4c9ad04"; // Virtual Machine Data Access Administrator
const RBAC_ADMIN = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"; // Role Based Access Control Administrator
const DISK_DATA_OPERATOR = "959f8984-c045-4866-89c7-12bf9737be2e"; // Data Operator for Managed Disks
const POOL_RG = "rg-hpc-login";
const POOL_RG_ID = `${SUB}/resourceGroups/${POOL_RG}`;
const VMSS_ID = `${RG_ID}/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-login`;
const POOL_VMSS_ID = `${POOL_RG_ID}/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-login`;
const VNET_ID = `${RG_ID}/providers/Microsoft.Network/virtualNetworks/vnet`;
const HPC_ADMINS = "5b0c8a51-6c1f-4b7e-9d3a-0000000a0001";
const BREAK_GLASS = "5b0c8a51-6c1f-4b7e-9d3a-0000000b0001";
const NAMED_LOCATION = "d2136c9c-b049-47ae-b9cf-316e04ef7198";
const GROUP_TYPE = "azuread:index/group:Group";
const GROUP_URN = `${URN_PREFIX}${GROUP_TYPE}::hpc-admins`;
const B64_KEY = "c2VjcmV0LWp3dC1rZXktbWF0ZXJpYWwtZm9yLXNsdXJtcmVzdGQtMDEyMzQ1Njc4OQ==";
const STORAGE_KEY = "Xq3mK9vLp2RtY8wZc4NbH7sD1fG6jA0eU5iO3kM9nB2vC8xZ1qW4eR7tY6uI0oP3aS5dF8gH2jK4lZ7xC9vB1n==";

const withVm = (props: Record<string, unknown>, stack = baseStack()) => change(stack, "login-vm", props);
/** The login VM as preview sees it before creation: ID unknown, the OS disk it creates has no ID yet. */
const newVm = (stack = baseStack()) => withVm({ id: unknown.string, storageProfile: { osDisk: { osType: "Linux", createOption: "FromImage" } } }, stack);
const withScopeFrom = (stack: EvaluatedResource[], name: string, from: string) =>
    stack.map(r => (r.name === name ? { ...r, propertyDependencies: { scope: [from] } } : r));
const flexibleSet = (login: boolean, extra: Record<string, unknown> = {}) => res(compute.VirtualMachineScaleSet, "login-vmss",
    vmssProps({}, { resourceGroupName: POOL_RG, orchestrationMode: "Flexible", platformFaultDomainCount: 1, ...extra }, login ? undefined : false));
const operatorRole = (actions: string[]) => ({ ...customRole([], actions), props: { ...customRole([], actions).props, roleName: "HPC VM operator" } });
const untagged = (stack = baseStack()) => change(change(stack, "login-vm", { tags: {} }), "login-nic", { tags: {} }).filter(r => r.name !== "login-aad");
const tagAtScope = (name: string, scope: string, tags: Record<string, string>, extra: Partial<EvaluatedResource> = {}) =>
    res(arm.TagAtScope, name, { scope, properties: { tags } }, extra);
const vnet = () => res(network.VirtualNetwork, "vnet", {
    virtualNetworkName: "vnet", resourceGroupName: "rg-slurm", addressSpace: { addressPrefixes: ["10.40.0.0/16"] },
    subnets: [{ name: "login", addressPrefix: "10.40.1.0/24" }, { name: "compute", addressPrefix: "10.40.2.0/24" }],
});
const pinnedNic = () => withNic({ ipConfigurations: ipConfig({ privateIPAllocationMethod: "Static" }) });
const ipPool = (...ips: string[]) => [{ name: "pool", loadBalancerBackendAddresses: ips.map((ip, i) => ({ name: `member${i}`, ipAddress: ip, virtualNetwork: { id: VNET_ID } })) }];
const firewall = (natRules: Record<string, unknown>[], networkRules: Record<string, unknown>[] = []) => res(network.AzureFirewall, "fw", {
    azureFirewallName: "fw-hub", resourceGroupName: "rg-slurm", sku: { name: "AZFW_VNet", tier: "Standard" },
    ipConfigurations: [{ name: "fw-ip", subnet: { id: `${VNET_ID}/subnets/AzureFirewallSubnet` }, publicIPAddress: { id: PIP_ID } }],
    natRuleCollections: natRules.length ? [{ name: "inbound", priority: 100, action: { type: "Dnat" }, rules: natRules }] : [],
    networkRuleCollections: networkRules.length ? [{ name: "east-west", priority: 200, action: { type: "Allow" }, rules: networkRules }] : [],
});
const dnat = (name: string, to: string, port: string, extra: Record<string, unknown> = {}) => ({
    name, protocols: ["TCP"], sourceAddresses: ["*"], destinationAddresses: ["20.50.60.70"], destinationPorts: [port === "22" ? "2222" : port],
    translatedAddress: to, translatedPort: port, ...extra,
});
const ruleGroup = (rules: Record<string, unknown>[], extra: Partial<EvaluatedResource> = {}) => res(network.FirewallPolicyRuleCollectionGroup, "rcg-dnat", {
    firewallPolicyName: "fwpol-hub", resourceGroupName: "rg-slurm", ruleCollectionGroupName: "dnat", priority: 100,
    ruleCollections: [{
        ruleCollectionType: "FirewallPolicyNatRuleCollection", name: "dnat-in", priority: 100, action: { type: "DNAT" },
        rules: rules.map(r => ({ ruleType: "NatRule", ipProtocols: ["TCP"], sourceAddresses: ["203.0.113.0/24"], destinationAddresses: ["20.50.60.70"], ...r })),
    }],
}, extra);
const fwPolicy = () => res(network.FirewallPolicy, "fwpol", { firewallPolicyName: "fwpol-hub", resourceGroupName: "rg-slurm", sku: { tier: "Standard" } });
const loginGroupGrant = (principalId: string | undefined = HPC_ADMINS, extra: Partial<EvaluatedResource> = {}) =>
    ({ ...assignment("hpc-admins-login", ROLE.virtualMachineAdministratorLogin, "Group", VM_ID, { principalId: principalId ?? unknown.string }), ...extra });
const caUsers = (users: Record<string, unknown>) => conditionalAccess({ users });
const blockPolicy = (conditions: Record<string, unknown>) => res(ConditionalAccessPolicy, "vm-block", {
    displayName: "Block VM sign-in", state: "enabled",
    conditions: { clientAppTypes: ["all"], applications: { includedApplications: ["All"] }, users: { includedUsers: ["All"] }, ...conditions },
    grantControls: { operator: "OR", builtInControls: ["block"] },
});
const script = (...lines: string[]) => customData(`#!/bin/bash\nset -euo pipefail\n${lines.join("\n")}\n`);
const cloudConfig = (...lines: string[]) => customData(`#cloud-config\n${lines.join("\n")}\n`);

const ROLES = "login-vm-role-assignments-restricted";
const LB = "login-node-no-public-load-balancer";
const DNAT = "login-node-no-public-dnat";
const CA = "vm-sign-in-conditional-access-requires-mfa";
const CA_HOLDERS = "vm-sign-in-conditional-access-excludes-no-login-holder";
const SECRETS = "vm-custom-data-no-secrets";

export const SECOND_LOOK: BypassCase[] = [
    // ---- 1. role routes ------------------------------------------------------------------------------------------
    {
        issue18Class: 1, title: "User Access Administrator on the login node's NIC (regression: grant yourself NIC write)",
        policies: [ROLES], level: "mandatory",
        message: /User Access Administrator .* on NIC login-nic \(nic-login\) of login VM login-vm \(vm-login\): it can grant themselves NIC write there.*Fix:/,
        violating: () => plus(assignment("nic-uaa", ROLE.userAccessAdministrator, "User", NIC_ID)),
        nearMiss: () => plus(assignment("nic-uaa", ROLE.userAccessAdministrator, "User", OTHER_NIC_ID)),
        moreNearMisses: [{ title: "Virtual Machine Data Access Administrator on the login NIC (its condition allows only the VM login roles)",
            stack: () => plus(assignment("nic-vmdaa", VMDAA, "User", NIC_ID)) }],
    },
    {
        issue18Class: 1, title: "Role Based Access Control Administrator on the login VM's OS disk (grant yourself disk export)",
        policies: [ROLES], level: "mandatory",
        message: /Role Based Access Control Administrator .* on disk osdisk-login of login VM login-vm .*grant themselves disk write or export there/,
        violating: () => plus(assignment("disk-rbac", RBAC_ADMIN, "Group", DISK_ID)),
        nearMiss: () => plus(assignment("disk-rbac", RBAC_ADMIN, "Group", `${OTHER_RG_ID}/providers/Microsoft.Compute/disks/osdisk-login`)),
        moreNearMisses: [{ title: "Virtual Machine Data Access Administrator on the OS disk", stack: () => plus(assignment("disk-vmdaa", VMDAA, "Group", DISK_ID)) }],
    },
    {
        issue18Class: 1, title: "custom role with scale-set VM managed Run Commands on the login scale set",
        policies: [ROLES], level: "mandatory",
        message: /custom role custom-role .*virtualmachinescalesets\/vmss-login, which contains login scale set login-vmss \(vmss-login\).*managed Run Command on an instance.*virtualMachineScaleSets\/virtualMachines\/runCommands\/write/,
        violating: () => plus(res(compute.VirtualMachineScaleSet, "login-vmss", vmssProps({})),
            customRole([], ["Microsoft.Compute/virtualMachineScaleSets/read", "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/runCommands/write"]),
            assignment("ops-runcmd", CUSTOM_ROLE_GUID, "Group", VMSS_ID)),
        nearMiss: () => plus(res(compute.VirtualMachineScaleSet, "login-vmss", vmssProps({})),
            customRole([], ["Microsoft.Compute/virtualMachineScaleSets/read", "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/runCommands/read"]),
            assignment("ops-runcmd", CUSTOM_ROLE_GUID, "Group", VMSS_ID)),
    },
    {
        issue18Class: 1, title: "flexible-orchestration login scale set: a VM Run Command role on its resource group reaches its instance VMs",
        policies: [ROLES], level: "mandatory",
        message: /on resource group rg-hpc-login, which contains the instance VMs of flexible login scale set login-vmss .*run commands as root \(Run Command\).*virtualMachines\/runCommand\/action/,
        violating: () => plus(flexibleSet(true), operatorRole(["Microsoft.Compute/virtualMachines/read", "Microsoft.Compute/virtualMachines/runCommand/action"]),
            assignment("ops-vm-operator", CUSTOM_ROLE_GUID, "Group", POOL_RG_ID)),
        // The same role over a uniform scale set: its instances are virtualMachineScaleSets/virtualMachines, which it does not cover.
        nearMiss: () => plus(flexibleSet(true, { orchestrationMode: "Uniform", platformFaultDomainCount: undefined }),
            operatorRole(["Microsoft.Compute/virtualMachines/read", "Microsoft.Compute/virtualMachines/runCommand/action"]),
            assignment("ops-vm-operator", CUSTOM_ROLE_GUID, "Group", POOL_RG_ID)),
        moreNearMisses: [{ title: "the same role on the flexible scale set resource itself (its instances are not below it)",
            stack: () => plus(flexibleSet(true), operatorRole(["Microsoft.Compute/virtualMachines/read", "Microsoft.Compute/virtualMachines/runCommand/action"]),
                assignment("ops-vm-operator", CUSTOM_ROLE_GUID, "Group", POOL_VMSS_ID)) }],
    },
    {
        issue18Class: 1, title: "an untagged VM attached to a flexible login scale set is a login VM for every VM route",
        policies: [ROLES], level: "mandatory", config: LOGIN_ONLY,
        message: /Virtual Machine Contributor .* on login VM login-vm-2 \(vm-login-2\) \(it is an instance of login scale set login-vmss .*run commands as root/,
        violating: () => plus(flexibleSet(true), poolVm(), assignment("ci-vmc", ROLE.virtualMachineContributor, "ServicePrincipal", `${POOL_RG_ID}/providers/Microsoft.Compute/virtualMachines/vm-login-2`)),
        nearMiss: () => plus(flexibleSet(false), poolVm(), assignment("ci-vmc", ROLE.virtualMachineContributor, "ServicePrincipal", `${POOL_RG_ID}/providers/Microsoft.Compute/virtualMachines/vm-login-2`)),
    },
    {
        issue18Class: 1, title: "custom role with managed Run Commands on a scope computed from the new login VM (scope: vm.id) is reported in preview",
        policies: [ROLES], level: "mandatory",
        message: /custom role custom-role .* on login VM login-vm \(vm-login\) .*\(the scope is computed from it\): it can run commands as root \(managed Run Command\)/,
        violating: () => withScopeFrom([...newVm(), customRole([], ["Microsoft.Compute/virtualMachines/read", "Microsoft.Compute/virtualMachines/runCommands/write"]),
            assignment("ops-runcmd", CUSTOM_ROLE_GUID, "User", unknown.string)], "ops-runcmd", urn(compute.VirtualMachine, "login-vm")),
        nearMiss: () => withScopeFrom([...newVm(), customRole([], ["Microsoft.Compute/virtualMachines/read", "Microsoft.Compute/virtualMachines/runCommands/read"]),
            assignment("ops-runcmd", CUSTOM_ROLE_GUID, "User", unknown.string)], "ops-runcmd", urn(compute.VirtualMachine, "login-vm")),
    },
    {
        issue18Class: 1, title: "Data Operator for Managed Disks on a scope computed from the new login VM (its OS disk ID): decided on up",
        policies: [ROLES], level: "advisory", decidedOnUp: true,
        message: /can't run policy 'login-vm-role-assignments-restricted'.*during preview/,
        violating: () => withScopeFrom([...newVm(), assignment("disk-export", DISK_DATA_OPERATOR, "User", unknown.string)], "disk-export", urn(compute.VirtualMachine, "login-vm")),
        // Virtual Machine User Login for a group has no route on the VM, its disk or its NIC, whichever the scope is.
        nearMiss: () => withScopeFrom([...newVm(), assignment("vm-login-group", ROLE.virtualMachineUserLogin, "Group", unknown.string)], "vm-login-group", urn(compute.VirtualMachine, "login-vm")),
    },
    {
        issue18Class: 1, title: "Data Operator for Managed Disks on a disk in the login VM's group while its OS disk name is Azure's to pick: decided on up",
        policies: [ROLES], level: "advisory", decidedOnUp: true,
        message: /can't run policy 'login-vm-role-assignments-restricted'.*osDisk\.managedDisk\.id/,
        violating: () => plus(assignment("disk-export", DISK_DATA_OPERATOR, "User", `${RG_ID}/providers/Microsoft.Compute/disks/vm-login_OsDisk_1_0a1b2c3d`))
            .map(r => (r.name === "login-vm" ? { ...r, props: { ...r.props, storageProfile: { osDisk: { osType: "Linux", createOption: "FromImage" } } } } : r)),
        nearMiss: () => plus(assignment("disk-export", DISK_DATA_OPERATOR, "User", `${OTHER_RG_ID}/providers/Microsoft.Compute/disks/scratch-1`))
            .map(r => (r.name === "login-vm" ? { ...r, props: { ...r.props, storageProfile: { osDisk: { osType: "Linux", createOption: "FromImage" } } } } : r)),
        moreNearMisses: [{ title: "the VM names its OS disk, and the role is on another disk of the group",
            stack: () => plus(assignment("disk-export", DISK_DATA_OPERATOR, "User", `${RG_ID}/providers/Microsoft.Compute/disks/scratch-1`))
                .map(r => (r.name === "login-vm" ? { ...r, props: { ...r.props, storageProfile: { osDisk: { name: "osdisk-login", osType: "Linux", createOption: "FromImage" } } } } : r)) }],
    },
    // ---- 2. public paths -------------------------------------------------------------------------------------------
    {
        issue18Class: 2, title: "public load balancer: its own inline backend pool lists the login node's private IP, a load-balancing rule serves it",
        policies: [LB], level: "mandatory",
        message: /backend pool pool of load balancer lb \(lb-edge\) lists its address: load-balancing rule https of public load balancer lb \(lb-edge\) forwards public port 443 to port 443/,
        violating: () => [...pinnedNic(), loadBalancer(true, { backendAddressPools: ipPool("10.40.1.4"), loadBalancingRules: [lbRule] })],
        nearMiss: () => [...pinnedNic(), loadBalancer(false, { backendAddressPools: ipPool("10.40.1.4"), loadBalancingRules: [lbRule] })],
        moreNearMisses: [{ title: "the public pool lists another VM's address", stack: () => [...pinnedNic(), loadBalancer(true, { backendAddressPools: ipPool("10.40.2.9"), loadBalancingRules: [lbRule] })] }],
    },
    {
        issue18Class: 2, title: "public load balancer: a pool-based inbound NAT rule over an inline pool that lists the login node's IP",
        policies: [LB], level: "mandatory",
        message: /inbound NAT rule ssh-range of public load balancer lb \(lb-edge\) forwards public port 50000-50009 to port 22 \(SSH\)/,
        violating: () => [...pinnedNic(), loadBalancer(true, { backendAddressPools: ipPool("10.40.2.9", "10.40.1.4"), inboundNatRules: [{ name: "ssh-range", frontendIPConfiguration: { id: LB_FE },
            backendAddressPool: { id: LB_POOL }, protocol: "Tcp", frontendPortRangeStart: 50000, frontendPortRangeEnd: 50009, backendPort: 22 }] })],
        // The pool only takes outbound SNAT: nothing inbound reaches it.
        nearMiss: () => [...pinnedNic(), loadBalancer(true, { backendAddressPools: ipPool("10.40.2.9", "10.40.1.4"),
            outboundRules: [{ name: "snat", protocol: "All", frontendIPConfigurations: [{ id: LB_FE }], backendAddressPool: { id: LB_POOL } }] })],
    },
    {
        issue18Class: 2, title: "public load balancer pool lists an address in the login subnet while the login NIC's IP is assigned on up: decided on up",
        policies: [LB], level: "advisory", decidedOnUp: true,
        message: /can't run policy 'login-node-no-public-load-balancer'.*privateIPAddress/,
        violating: () => plus(vnet(), loadBalancer(true, { backendAddressPools: ipPool("10.40.1.10"), loadBalancingRules: [lbRule] })),
        nearMiss: () => plus(vnet(), loadBalancer(true, { backendAddressPools: ipPool("10.40.2.10"), loadBalancingRules: [lbRule] })),
    },
    {
        issue18Class: 2, title: "Azure Firewall classic NAT rule collection: DNAT from its public IP to the login node's SSH",
        policies: [DNAT], level: "mandatory",
        message: /Login VM login-vm \(vm-login\) .*DNAT rule login-ssh in NAT rule collection inbound of Azure Firewall fw forwards 20\.50\.60\.70 port 2222 to 10\.40\.1\.4 port 22 \(SSH\).*Fix:/,
        violating: () => [...pinnedNic(), firewall([dnat("login-ssh", "10.40.1.4", "22")])],
        // A network rule (filtering, no translation) from on-premises to the login node, and a DNAT to another VM.
        nearMiss: () => [...pinnedNic(), firewall([dnat("web", "10.40.2.9", "443")],
            [{ name: "onprem-ssh", protocols: ["TCP"], sourceAddresses: ["192.168.0.0/16"], destinationAddresses: ["10.40.1.4"], destinationPorts: ["22"] }])],
    },
    {
        issue18Class: 2, title: "firewall policy rule collection group: DNAT to the login node's private IP",
        policies: [DNAT], level: "mandatory",
        message: /DNAT rule login-https in NAT rule collection dnat-in of firewall policy rule collection group rcg-dnat forwards 20\.50\.60\.70 port 443 to 10\.40\.1\.4 port 443/,
        violating: () => [...pinnedNic(), fwPolicy(), ruleGroup([{ name: "login-https", destinationPorts: ["443"], translatedAddress: "10.40.1.4", translatedPort: "443" }])],
        // DNAT on the firewall's private address: from peered and on-premises networks only.
        nearMiss: () => [...pinnedNic(), fwPolicy(), ruleGroup([{ name: "login-https", sourceAddresses: ["192.168.0.0/16"], destinationAddresses: ["10.40.0.68"],
            destinationPorts: ["443"], translatedAddress: "10.40.1.4", translatedPort: "443" }])],
        moreNearMisses: [{ title: "public DNAT to another VM", stack: () => [...pinnedNic(), fwPolicy(),
            ruleGroup([{ name: "web", destinationPorts: ["443"], translatedAddress: "10.40.2.9", translatedPort: "443" }])] }],
    },
    {
        issue18Class: 2, title: "firewall policy DNAT whose translated address is computed from the login NIC during preview",
        policies: [DNAT], level: "mandatory",
        message: /DNAT rule login-ssh .* to its private IP \(computed from it\) port 22/,
        violating: () => [...pinnedNic(), fwPolicy(), ruleGroup([{ name: "login-ssh", destinationPorts: ["2222"], translatedAddress: unknown.string, translatedPort: "22" }],
            { propertyDependencies: { ruleCollections: [urn(network.NetworkInterface, "login-nic")], firewallPolicyName: [urn(network.FirewallPolicy, "fwpol")] } })],
        nearMiss: () => [...pinnedNic(), fwPolicy(), ruleGroup([{ name: "web", destinationPorts: ["443"], translatedAddress: unknown.string, translatedPort: "443" }],
            { propertyDependencies: { ruleCollections: [urn(network.NetworkInterface, "other-nic")], firewallPolicyName: [urn(network.FirewallPolicy, "fwpol")] } })],
    },
    // ---- 3. Conditional Access semantics -----------------------------------------------------------------------------
    {
        issue18Class: 3, title: "Conditional Access: the login group both included and excluded (exclusion wins)",
        policies: [CA], level: "mandatory",
        message: /includes and excludes group 5b0c8a51-6c1f-4b7e-9d3a-0000000a0001; exclusion wins, so its members sign in to VMs without MFA/,
        violating: () => plus(caUsers({ includedGroups: [HPC_ADMINS], excludedGroups: [HPC_ADMINS, BREAK_GLASS] })),
        nearMiss: () => plus(caUsers({ includedGroups: [HPC_ADMINS], excludedGroups: [BREAK_GLASS] })),
    },
    {
        issue18Class: 3, title: "Conditional Access for all users excludes the group that holds the VM login role",
        policies: [CA_HOLDERS], level: "mandatory",
        message: /Conditional Access policy vm-mfa excludes group 5b0c8a51-6c1f-4b7e-9d3a-0000000a0001, which holds a VM login role through hpc-admins-login: exclusion beats inclusion/,
        violating: () => plus(loginGroupGrant(), caUsers({ includedUsers: ["All"], excludedGroups: [HPC_ADMINS] })),
        nearMiss: () => plus(loginGroupGrant(), caUsers({ includedUsers: ["All"], excludedGroups: [BREAK_GLASS] })),
        moreNearMisses: [{ title: "a break-glass user excluded, the login group included by All", stack: () => plus(loginGroupGrant(),
            caUsers({ includedUsers: ["All"], excludedUsers: ["00000000-0000-4000-8000-00000000b001"] })) }],
    },
    {
        issue18Class: 3, title: "Conditional Access excludes a group computed from the same new group that gets the login role: decided on up",
        policies: [CA_HOLDERS, CA], level: "advisory", decidedOnUp: true,
        message: /can't run policy 'vm-sign-in-conditional-access-excludes-no-login-holder'.*during preview/,
        violating: () => plus(res(GROUP_TYPE, "hpc-admins", { displayName: "hpc-admins", securityEnabled: true, objectId: unknown.string }),
            loginGroupGrant(undefined, { propertyDependencies: { principalId: [GROUP_URN] } }),
            { ...caUsers({ includedUsers: ["All"], excludedGroups: [unknown.string] }), propertyDependencies: { conditions: [GROUP_URN] } }),
        nearMiss: () => plus(res(GROUP_TYPE, "hpc-admins", { displayName: "hpc-admins", securityEnabled: true, objectId: unknown.string }),
            loginGroupGrant(undefined, { propertyDependencies: { principalId: [GROUP_URN] } }),
            caUsers({ includedUsers: ["All"], excludedGroups: [BREAK_GLASS] })),
    },
    {
        issue18Class: 3, title: "Conditional Access narrowed by an insider-risk condition",
        policies: [CA], level: "mandatory",
        message: /conditions.insiderRiskLevels \(elevated\) limits the policy to users Insider Risk Management flags/,
        violating: () => plus(conditionalAccess({ insiderRiskLevels: "elevated" })),
        // Insider risk in a separate blocking policy, next to the plain MFA policy.
        nearMiss: () => plus(conditionalAccess(), blockPolicy({ insiderRiskLevels: "elevated" })),
    },
    {
        issue18Class: 3, title: "Conditional Access excludes trusted locations (not vouched for)",
        policies: [CA], level: "mandatory",
        message: /excludedLocations \["AllTrusted"\] lets people sign in to VMs from every trusted location without MFA/,
        violating: () => plus(conditionalAccess({ locations: { includedLocations: ["All"], excludedLocations: ["AllTrusted"] } })),
        nearMiss: () => plus(conditionalAccess({ locations: { includedLocations: ["All"], excludedLocations: ["AllTrusted"] } })),
        nearMissConfig: { [CA]: { allowedExcludedLocations: ["AllTrusted"] } },
        moreNearMisses: [{ title: "all locations, none excluded", stack: () => plus(conditionalAccess({ locations: { includedLocations: ["All"] } })) }],
    },
    {
        issue18Class: 3, title: "Conditional Access limited to one named location",
        policies: [CA], level: "mandatory",
        message: /includedLocations \["d2136c9c-b049-47ae-b9cf-316e04ef7198"\] limits the policy to those locations/,
        violating: () => plus(conditionalAccess({ locations: { includedLocations: [NAMED_LOCATION] } })),
        // Blocking sign-in from outside that location is a separate policy; the MFA policy covers everywhere.
        nearMiss: () => plus(conditionalAccess(), blockPolicy({ locations: { includedLocations: ["All"], excludedLocations: [NAMED_LOCATION] } })),
    },
    // ---- 4. secrets in custom and user data -------------------------------------------------------------------------
    {
        issue18Class: 4, title: "custom data: az login with a service principal secret in the short -p form",
        policies: [SECRETS], level: "mandatory", message: /a password \(az login -p\)/,
        violating: () => script("az login --service-principal -u 3f2b1c0d-0000-4000-8000-00000000c1c1 -p 'Qx8~kT.2vLm-secretvalue' --tenant contoso.onmicrosoft.com",
            "az storage blob download --account-name sthpc --container-name bootstrap --name setup.sh --file /tmp/setup.sh --auth-mode login"),
        nearMiss: () => script("az login --identity --username 3f2b1c0d-0000-4000-8000-00000000c1c1",
            "az storage blob download --account-name sthpc --container-name bootstrap --name setup.sh --file /tmp/setup.sh --auth-mode login"),
    },
    {
        issue18Class: 4, title: "custom data: docker login -p and helm registry login -p",
        policies: [SECRETS], level: "mandatory", message: /a password \(docker login -p\)/,
        violating: () => script("docker login hpcacr.azurecr.io -u hpc-pull -p 'w0rkst4tion-Pull-T0ken'", "helm registry login hpcacr.azurecr.io -u hpc-pull -p w0rkst4tionPullT0ken"),
        nearMiss: () => script("az keyvault secret show --vault-name kv-hpc --name acr-pull --query value -o tsv | docker login hpcacr.azurecr.io -u hpc-pull --password-stdin",
            "docker run -d -p 8080:80 --name exporter hpcacr.azurecr.io/slurm-exporter:1.2", "mkdir -p /shared/apps && ssh -p 22 head true"),
    },
    {
        issue18Class: 4, title: "custom data: usermod -p with a password hash, openssl passwd with a clear-text password",
        policies: [SECRETS], level: "mandatory", message: /a password \(usermod -p\).*a password \(openssl passwd\)/,
        violating: () => script("usermod -p '$6$Zr8x1Qp2$QWERTYuiopASDFGHjklZXCVBNMqwertyuiop1234567890abcdefghijkl.' hpcadmin",
            "useradd -m -p \"$(openssl passwd -6 'Welcome2024!')\" ops"),
        nearMiss: () => script("usermod -L hpcadmin", "passwd -l root", "useradd -m -p '!' -s /usr/sbin/nologin slurm-svc"),
    },
    {
        issue18Class: 4, title: "custom data: passwords given to chpasswd through a here-string and a here-document",
        policies: [SECRETS], level: "mandatory", message: /a password given to chpasswd/,
        violating: () => script("chpasswd <<< 'hpcadmin:Sl0rm-Adm1n!'", "chpasswd <<EOF", "ops:0ps-Passw0rd", "EOF"),
        nearMiss: () => script("echo \"hpcadmin:$(openssl rand -base64 32)\" | chpasswd", "chpasswd <<EOF", "ops:${OPS_PASSWORD}", "EOF"),
    },
    {
        issue18Class: 4, title: "custom data: a storage account key given as --account-key",
        policies: [SECRETS], level: "mandatory", message: /a storage account key/,
        violating: () => script(`az storage file download --account-name sthpc --account-key '${STORAGE_KEY}' --share-name config --path slurm.conf --dest /etc/slurm/slurm.conf`),
        nearMiss: () => script("KEY=$(az storage account keys list --account-name sthpc --query '[0].value' -o tsv)",
            "az storage file download --account-name sthpc --account-key \"$KEY\" --share-name config --path slurm.conf --dest /etc/slurm/slurm.conf"),
    },
    {
        issue18Class: 4, title: "custom data: a Slurm JWT key decoded from an inline here-document",
        policies: [SECRETS], level: "mandatory", message: /inline key material \(decoded from inline data into jwt_hs256\.key\), from a here-document/,
        violating: () => script("base64 -d > /etc/slurm/jwt_hs256.key <<'EOF'", B64_KEY, "EOF", "chmod 0600 /etc/slurm/jwt_hs256.key"),
        nearMiss: () => script("base64 -d > /etc/slurm/jwt_hs256.key <<EOF", "$(az keyvault secret show --vault-name kv-hpc --name slurm-jwt --query value -o tsv)", "EOF",
            "chmod 0600 /etc/slurm/jwt_hs256.key"),
    },
    {
        issue18Class: 4, title: "custom data: the Slurm auth key and an SSH host key written from here-documents",
        policies: [SECRETS], level: "mandatory", message: /inline key material \(decoded from inline data into slurm\.key\)/,
        violating: () => script("base64 --decode <<'KEY' > /etc/slurm/slurm.key", B64_KEY, "KEY", "cat > /etc/ssh/ssh_host_ed25519_key <<'EOF'", "AAAAC3NzaC1lZDI1NTE5AAAAIKq", "EOF"),
        nearMiss: () => script("cat > /etc/ssh/ssh_known_hosts <<'EOF'", "head.hpc.internal ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKq", "EOF",
            "cat > /home/hpcadmin/.ssh/authorized_keys <<'EOF'", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKq admin@corp", "EOF", "install -m 0400 /shared/config/slurm.key /etc/slurm/slurm.key"),
    },
    // ---- 5. tags set through TagAtScope ------------------------------------------------------------------------------
    {
        issue18Class: 5, title: "an untagged VM tagged login through TagAtScope, its NIC with a public IP",
        policies: ["login-vm-nic-no-public-ip"], level: "mandatory", config: LOGIN_ONLY,
        message: /NIC login-nic \(nic-login\) of login VM login-vm \(vm-login\) has a public IP .*login node: tag slurm-node-role=login set by TagAtScope vm-login-tags/,
        violating: () => [...withNic({ ipConfigurations: ipConfig({ publicIPAddress: { id: PIP_ID } }) }, {}, untagged()), tagAtScope("vm-login-tags", VM_ID, { "slurm-node-role": "login", "cost-center": "hpc" })],
        // The login tag on the resource group is not inherited by its VMs.
        nearMiss: () => [...withNic({ ipConfigurations: ipConfig({ publicIPAddress: { id: PIP_ID } }) }, {}, untagged()), tagAtScope("rg-tags", RG_ID, { "slurm-node-role": "login", "cost-center": "hpc" })],
    },
    {
        issue18Class: 5, title: "TagAtScope computed from the new VM during preview makes it a login node: Owner on its resource group",
        policies: [ROLES], level: "mandatory", config: LOGIN_ONLY,
        message: /Owner .* on resource group rg-slurm, which contains login VM login-vm \(vm-login\) \(tag slurm-node-role=login set by TagAtScope vm-login-tags\)/,
        violating: () => [...untagged(), tagAtScope("vm-login-tags", unknown.string, { "slurm-node-role": "login" }, { propertyDependencies: { scope: [urn(compute.VirtualMachine, "login-vm")] } }),
            assignment("ci-owner", ROLE.owner, "ServicePrincipal", RG_ID)],
        nearMiss: () => [...untagged(), tagAtScope("vm-login-tags", unknown.string, { "slurm-node-role": "compute" }, { propertyDependencies: { scope: [urn(compute.VirtualMachine, "login-vm")] } }),
            assignment("ci-owner", ROLE.owner, "ServicePrincipal", RG_ID)],
    },
    {
        issue18Class: 5, title: "an untagged scale set tagged login through TagAtScope (by literal ID while its own ID is unknown), with a public IP configuration",
        policies: ["login-vm-nic-no-public-ip"], level: "mandatory",
        message: /Login scale set login-vmss \(vmss-login\) \(login node: tag slurm-node-role=login set by TagAtScope vmss-tags\) gets a public IP/,
        violating: () => plus(res(compute.VirtualMachineScaleSet, "login-vmss", vmssProps({ publicIPAddressConfiguration: { name: "pip" } }, {}, false)),
            tagAtScope("vmss-tags", VMSS_ID, { "slurm-node-role": "login" })),
        nearMiss: () => plus(res(compute.VirtualMachineScaleSet, "login-vmss", vmssProps({ publicIPAddressConfiguration: { name: "pip" } }, {}, false)),
            tagAtScope("vmss-tags", VMSS_ID, { "slurm-node-role": "compute" })),
        moreNearMisses: [{ title: "the login TagAtScope names a scale set of the same name in another resource group",
            stack: () => plus(res(compute.VirtualMachineScaleSet, "login-vmss", vmssProps({ publicIPAddressConfiguration: { name: "pip" } }, {}, false)),
                tagAtScope("vmss-tags", `${OTHER_RG_ID}/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-login`, { "slurm-node-role": "login" })) }],
    },
    {
        issue18Class: 5, title: "a NIC tagged login through TagAtScope, with a public IP",
        policies: ["login-vm-nic-no-public-ip"], level: "mandatory",
        message: /NIC login-nic \(nic-login\) carries tag slurm-node-role=login \(set by TagAtScope nic-tags\) and has a public IP/,
        violating: () => [...withNic({ ipConfigurations: ipConfig({ publicIPAddress: { id: PIP_ID } }) }, {}, untagged()), tagAtScope("nic-tags", NIC_ID, { "slurm-node-role": "login" })],
        nearMiss: () => [...withNic({ ipConfigurations: ipConfig({ publicIPAddress: { id: PIP_ID } }) }, {}, untagged()), tagAtScope("nic-tags", NIC_ID, { "slurm-node-role": "compute" })],
    },
    {
        issue18Class: 5, title: "TagAtScope with tag keys that differ only in case",
        policies: ["tag-keys-unambiguous"], level: "mandatory",
        message: /tags has keys that differ only in case: "Slurm-Node-Role", "slurm-node-role"/,
        violating: () => plus(tagAtScope("vm-login-tags", VM_ID, { "slurm-node-role": "login", "Slurm-Node-Role": "compute" })),
        nearMiss: () => plus(tagAtScope("vm-login-tags", VM_ID, { "slurm-node-role": "login", "cost-center": "hpc" })),
    },
    // ---- 6. false alarms removed -----------------------------------------------------------------------------------
    {
        issue18Class: 6, title: "munge key: inline data is a secret, a value piped from Key Vault at boot is not",
        policies: [SECRETS], level: "mandatory", message: /an inline munge key \(base64 decoded into munge\.key\)/,
        violating: () => script("echo 'bXVuZ2Uta2V5LW1hdGVyaWFsLWZvci10aGUtY2x1c3Rlci0wMTIzNDU2Nzg5' | base64 -d > /etc/munge/munge.key"),
        nearMiss: () => script("az login --identity",
            "az keyvault secret show --vault-name kv-hpc --name munge-key --query value -o tsv | base64 -d > /etc/munge/munge.key", "chmod 0400 /etc/munge/munge.key"),
        moreNearMisses: [
            { title: "Key Vault value held in a variable, then echoed", stack: () => script("MUNGE_KEY=$(az keyvault secret show --vault-name kv-hpc --name munge-key --query value -o tsv)",
                "echo \"$MUNGE_KEY\" | base64 -d > /etc/munge/munge.key", "printf '%s' \"${MUNGE_KEY}\" | base64 --decode | tee /etc/munge/munge.key > /dev/null") },
            { title: "Key Vault REST call with an IMDS token", stack: () => script(
                "TOKEN=$(curl -s -H Metadata:true 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net' | jq -r .access_token)",
                "curl -s -H \"Authorization: Bearer $TOKEN\" 'https://kv-hpc.vault.azure.net/secrets/munge-key?api-version=7.4' | jq -r .value | base64 -d > /etc/munge/munge.key") },
            { title: "Key Vault value in an unquoted here-document", stack: () => script("base64 -d > /etc/munge/munge.key <<EOF",
                "$(az keyvault secret show --vault-name kv-hpc --name munge-key --query value -o tsv)", "EOF") },
        ],
    },
    {
        issue18Class: 6, title: "cloud-init users: plain_text_passwd is a secret, sudo NOPASSWD:ALL is not",
        policies: [SECRETS], level: "mandatory", message: /a password \(plain_text_passwd\)/,
        violating: () => cloudConfig("users:", "  - name: hpcadmin", "    plain_text_passwd: 'Hpc-Adm1n-2024'", "    lock_passwd: false"),
        nearMiss: () => cloudConfig("users:", "  - default", "  - name: hpcadmin", "    sudo: ALL=(ALL) NOPASSWD:ALL", "    groups: sudo", "    shell: /bin/bash", "    lock_passwd: true"),
        moreNearMisses: [
            { title: "a sudoers drop-in with NOPASSWD written by write_files", stack: () => cloudConfig("write_files:", "  - path: /etc/sudoers.d/90-hpc-admins",
                "    permissions: '0440'", "    content: |", "      %hpc-admins ALL=(ALL) NOPASSWD: ALL", "      slurm ALL=(root) NOPASSWD: /usr/bin/systemctl restart slurmd") },
            { title: "sudo rules as a list", stack: () => cloudConfig("users:", "  - name: ops", "    sudo: [\"ALL=(ALL) NOPASSWD: /usr/bin/systemctl\", \"ALL=(ALL) PASSWD: ALL\"]") },
        ],
    },
];

/** A VM attached to the pool's flexible scale set by ID: untagged, no extension, no password, no public IP. */
function poolVm(): EvaluatedResource {
    return res(compute.VirtualMachine, "login-vm-2", {
        id: `${POOL_RG_ID}/providers/Microsoft.Compute/virtualMachines/vm-login-2`, name: "vm-login-2", vmName: "vm-login-2", resourceGroupName: POOL_RG,
        virtualMachineScaleSet: { id: POOL_VMSS_ID },
        hardwareProfile: { vmSize: "Standard_D4as_v5" },
        storageProfile: { osDisk: { osType: "Linux", createOption: "FromImage", managedDisk: { id: `${POOL_RG_ID}/providers/Microsoft.Compute/disks/vm-login-2-os` } } },
        networkProfile: { networkInterfaces: [{ id: `${POOL_RG_ID}/providers/Microsoft.Network/networkInterfaces/vm-login-2-nic` }] },
    });
}
