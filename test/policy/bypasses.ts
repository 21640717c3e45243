// The bypasses of issue 12 (and others of the same class), each as a violating stack and a compliant near miss.
// Shared by bypasses.test.ts (evaluatePolicies, in process) and analyzer.test.ts (the pack over gRPC, as the CLI
// runs it), which must agree.
import * as authorization from "@pulumi/azure-native/authorization";
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import * as resources from "@pulumi/azure-native/resources";
import * as storage from "@pulumi/azure-native/storage";
import { ConditionalAccessPolicy } from "@pulumi/azuread/conditionalAccessPolicy";
import { AZURE_LINUX_VM_SIGN_IN_APP_ID } from "../../policy/common";
import * as assert from "assert";
import { gzipSync } from "zlib";
import { EvaluatedResource, PolicyPackConfigFile, PolicyViolation } from "../../policy/evaluate";
import {
    BASTION_ID, NIC_ID, OTHER_NIC_ID, OTHER_VM_ID, RG_ID, ROLE, SUB, VM_ID, aadExtensionProps, loginNicProps, loginVmProps, roleDefinitionId,
} from "./fixtures";
import { ResourceClass, b64, typeOf, unknown } from "./util";

export const URN_PREFIX = "urn:pulumi:dev::cyclecloud-slurm-entra::";
export const res = (cls: ResourceClass | string, name: string, props: Record<string, unknown>, extra: Partial<EvaluatedResource> = {}): EvaluatedResource =>
    ({ type: typeOf(cls), name, urn: `${URN_PREFIX}${typeOf(cls)}::${name}`, props, ...extra });
export const urn = (cls: ResourceClass, name: string) => `${URN_PREFIX}${typeOf(cls)}::${name}`;

export const OTHER_RG_ID = `${SUB}/resourceGroups/rg-cluster`;
export const DISK_ID = `${RG_ID}/providers/Microsoft.Compute/disks/osdisk-login`;
export const LB_ID = `${RG_ID}/providers/Microsoft.Network/loadBalancers/lb-edge`;
export const LB_FE = `${LB_ID}/frontendIPConfigurations/fe`;
export const LB_POOL = `${LB_ID}/backendAddressPools/pool`;
export const LOGIN_SUBNET = `${RG_ID}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/login`;
export const COMPUTE_SUBNET = `${RG_ID}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/compute`;
export const PIP_ID = `${RG_ID}/providers/Microsoft.Network/publicIPAddresses/pip-edge`;
export const CUSTOM_ROLE_GUID = "5a1c3d6e-0000-4000-8000-00000000c0de";

/** A login node stack that every policy passes with the default config (no Conditional Access policy in it). */
export function baseStack(): EvaluatedResource[] {
    return [
        res(network.BastionHost, "bastion", { id: BASTION_ID, enableTunneling: true, sku: { name: "Standard" } }),
        res(network.NetworkSecurityGroup, "nsg-login", { securityRules: [{ name: "ssh-from-bastion", access: "Allow", direction: "Inbound", protocol: "Tcp", sourceAddressPrefix: "10.40.0.0/26", destinationPortRange: "22" }] }),
        res(network.NetworkInterface, "login-nic", loginNicProps({ resourceGroupName: "rg-slurm", networkInterfaceName: "nic-login" })),
        res(network.NetworkInterface, "other-nic", { id: OTHER_NIC_ID, name: "nic-other", ipConfigurations: [{ name: "ipconfig1", subnet: { id: COMPUTE_SUBNET }, privateIPAddress: "10.40.2.9" }] }),
        res(compute.VirtualMachine, "login-vm", loginVmProps({ storageProfile: { osDisk: { osType: "Linux", createOption: "FromImage", managedDisk: { id: DISK_ID } } } })),
        res(compute.VirtualMachineExtension, "login-aad", aadExtensionProps()),
        res(authorization.RoleAssignment, "alice-login", { principalType: "User", principalId: "a1", roleDefinitionId: roleDefinitionId(ROLE.virtualMachineAdministratorLogin), scope: VM_ID }),
        res(authorization.RoleAssignment, "alice-vm-reader", { principalType: "User", principalId: "a1", roleDefinitionId: roleDefinitionId(ROLE.reader), scope: VM_ID }),
        res(authorization.RoleAssignment, "alice-nic-reader", { principalType: "User", principalId: "a1", roleDefinitionId: roleDefinitionId(ROLE.reader), scope: NIC_ID }),
        res(authorization.RoleAssignment, "alice-bastion-reader", { principalType: "User", principalId: "a1", roleDefinitionId: roleDefinitionId(ROLE.reader), scope: BASTION_ID }),
        // Automation's grants that do not contain the login node, as this program's CycleCloud identity has.
        res(authorization.RoleAssignment, "cc-cluster-contributor", { principalType: "ServicePrincipal", principalId: "c1", roleDefinitionId: roleDefinitionId(ROLE.contributor), scope: OTHER_RG_ID }),
        res(authorization.RoleAssignment, "cc-sub-reader", { principalType: "ServicePrincipal", principalId: "c1", roleDefinitionId: roleDefinitionId(ROLE.reader), scope: SUB }),
        res(storage.StorageAccount, "nfs", { kind: "FileStorage", enableHttpsTrafficOnly: false, publicNetworkAccess: "Disabled", networkRuleSet: { defaultAction: "Deny" } }),
    ];
}

export function change(stack: EvaluatedResource[], name: string, props: Record<string, unknown>, extra: Partial<EvaluatedResource> = {}): EvaluatedResource[] {
    if (!stack.some(r => r.name === name)) throw new Error(`no ${name} in the stack`);
    return stack.map(r => (r.name === name ? { ...r, ...extra, props: { ...r.props, ...props } } : r));
}
export const plus = (...extra: EvaluatedResource[]) => [...baseStack(), ...extra];
export const withNic = (props: Record<string, unknown>, extra: Partial<EvaluatedResource> = {}, stack = baseStack()) => change(stack, "login-nic", props, extra);
export const ipConfig = (extra: Record<string, unknown>) => [{ name: "ipconfig1", subnet: { id: LOGIN_SUBNET }, privateIPAddress: "10.40.1.4", ...extra }];

export function loadBalancer(publicFrontend: boolean, extra: Record<string, unknown> = {}): EvaluatedResource {
    return res(network.LoadBalancer, "lb", {
        id: LB_ID, name: "lb-edge", loadBalancerName: "lb-edge", resourceGroupName: "rg-slurm", sku: { name: "Standard" },
        frontendIPConfigurations: [publicFrontend ? { name: "fe", publicIPAddress: { id: PIP_ID } } : { name: "fe", subnet: { id: COMPUTE_SUBNET } }],
        backendAddressPools: [{ name: "pool" }],
        ...extra,
    });
}
export const natRule = { name: "ssh", frontendIPConfiguration: { id: LB_FE }, protocol: "Tcp", frontendPort: 50022, backendPort: 22 };
export const lbRule = { name: "https", frontendIPConfiguration: { id: LB_FE }, backendAddressPool: { id: LB_POOL }, protocol: "Tcp", frontendPort: 443, backendPort: 443 };

export const assignment = (name: string, role: string, principalType: string | undefined, scope: string, extra: Record<string, unknown> = {}) =>
    res(authorization.RoleAssignment, name, { principalId: "p1", principalType, roleDefinitionId: role.startsWith("/") ? role : roleDefinitionId(role), scope, ...extra });
export const customRole = (dataActions: string[], actions: string[] = []) => res(authorization.RoleDefinition, "custom-role", {
    id: `${SUB}/providers/Microsoft.Authorization/roleDefinitions/${CUSTOM_ROLE_GUID}`, roleDefinitionId: CUSTOM_ROLE_GUID,
    roleName: "Cluster operator", scope: RG_ID, assignableScopes: [RG_ID],
    permissions: [{ actions, notActions: [], dataActions, notDataActions: [] }],
});

export function conditionalAccess(conditions: Record<string, unknown> = {}, o: Record<string, unknown> = {}): EvaluatedResource {
    return res(ConditionalAccessPolicy, "vm-mfa", {
        displayName: "Require MFA for Azure Linux VM Sign-In",
        state: "enabled",
        conditions: {
            clientAppTypes: ["all"],
            applications: { includedApplications: [AZURE_LINUX_VM_SIGN_IN_APP_ID] },
            users: { includedUsers: ["All"], excludedUsers: ["00000000-0000-4000-8000-00000000b001"] },
            ...conditions,
        },
        grantControls: { operator: "OR", builtInControls: ["mfa"] },
        ...o,
    });
}

const nsgWith = (...rules: Record<string, unknown>[]) => change(baseStack(), "nsg-login", {
    securityRules: rules.map((r, i) => ({ name: `rule${i}`, access: "Allow", direction: "Inbound", protocol: "Tcp", destinationPortRange: "22", priority: 100 + i, ...r })),
});
export const customData = (script: string) => change(baseStack(), "login-vm", { osProfile: { ...(loginVmProps().osProfile as object), customData: b64(script) } });
const gzipB64 = (s: string) => gzipSync(Buffer.from(s)).toString("base64");
const TEST_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n";

export interface BypassCase {
    /** Test title: the route taken. */
    title: string;
    /** Policies expected to report on the violating stack (and no others). */
    policies: string[];
    level: "mandatory" | "advisory";
    /** At least one message matches (it names the resource, the route and the fix). */
    message: RegExp;
    violating: () => EvaluatedResource[];
    /** A compliant stack as close to the violating one as possible: no violation at all. */
    nearMiss: () => EvaluatedResource[];
    config?: PolicyPackConfigFile;
    /** Config for the near miss, if not `config`. */
    nearMissConfig?: PolicyPackConfigFile;
    /** The violating stack cannot be decided during preview: an advisory "can't run" is expected instead. */
    decidedOnUp?: boolean;
    /** Further compliant stacks of the same class (issue 18: at least as many near misses as violations). */
    moreNearMisses?: { title: string; stack: () => EvaluatedResource[]; config?: PolicyPackConfigFile }[];
    /** The class of issue 18 a case belongs to (1-6), for counting. */
    issue18Class?: number;
}

export const LOGIN_ONLY = { "login-vm-entra-sign-in-ready": "disabled" as const };

export const BYPASSES: BypassCase[] = [
    // ---- public exposure by other routes -------------------------------------------------------------------
    {
        title: "public load balancer: inline inbound NAT rule to the login NIC on port 22",
        policies: ["login-node-no-public-load-balancer"], level: "mandatory",
        message: /Login VM login-vm \(vm-login\).*NIC login-nic.*inbound NAT rule ssh of public load balancer lb \(lb-edge\) forwards public port 50022 to port 22 \(SSH\).*Fix:/,
        violating: () => [...withNic({ ipConfigurations: ipConfig({ loadBalancerInboundNatRules: [{ id: `${LB_ID}/inboundNatRules/ssh` }] }) }), loadBalancer(true, { inboundNatRules: [natRule] })],
        nearMiss: () => [...withNic({ ipConfigurations: ipConfig({ loadBalancerInboundNatRules: [{ id: `${LB_ID}/inboundNatRules/ssh` }] }) }), loadBalancer(false, { inboundNatRules: [natRule] })],
    },
    {
        title: "public load balancer: standalone InboundNatRule resource to the login NIC",
        policies: ["login-node-no-public-load-balancer"], level: "mandatory",
        message: /inbound NAT rule ssh of public load balancer lb \(lb-edge\) forwards public port 2222 to port 22 \(SSH\)/,
        violating: () => [...withNic({ ipConfigurations: ipConfig({ loadBalancerInboundNatRules: [{ id: `${LB_ID}/inboundNatRules/ssh` }] }) }), loadBalancer(true),
            res(network.InboundNatRule, "nat-ssh", { loadBalancerName: "lb-edge", resourceGroupName: "rg-slurm", inboundNatRuleName: "ssh", frontendIPConfiguration: { id: LB_FE }, protocol: "Tcp", frontendPort: 2222, backendPort: 22 })],
        // The same rule, attached to another VM's NIC.
        nearMiss: () => [...change(baseStack(), "other-nic", { ipConfigurations: [{ name: "ipconfig1", loadBalancerInboundNatRules: [{ id: `${LB_ID}/inboundNatRules/ssh` }] }] }), loadBalancer(true),
            res(network.InboundNatRule, "nat-ssh", { loadBalancerName: "lb-edge", resourceGroupName: "rg-slurm", inboundNatRuleName: "ssh", frontendIPConfiguration: { id: LB_FE }, protocol: "Tcp", frontendPort: 2222, backendPort: 22 })],
    },
    {
        title: "public load balancer: backend pool served by a load-balancing rule (any port counts)",
        policies: ["login-node-no-public-load-balancer"], level: "mandatory",
        message: /load-balancing rule https of public load balancer lb \(lb-edge\) forwards public port 443 to port 443/,
        violating: () => [...withNic({ ipConfigurations: ipConfig({ loadBalancerBackendAddressPools: [{ id: LB_POOL }] }) }), loadBalancer(true, { loadBalancingRules: [lbRule] })],
        // Pool membership for outbound SNAT only: no inbound rule serves the pool.
        nearMiss: () => [...withNic({ ipConfigurations: ipConfig({ loadBalancerBackendAddressPools: [{ id: LB_POOL }] }) }),
            loadBalancer(true, { outboundRules: [{ name: "out", protocol: "All", frontendIPConfigurations: [{ id: LB_FE }], backendAddressPool: { id: LB_POOL } }] })],
    },
    {
        title: "public load balancer: standalone LoadBalancerBackendAddressPool listing the login NIC's address",
        policies: ["login-node-no-public-load-balancer"], level: "mandatory",
        message: /backend pool pool2 lists its NIC: load-balancing rule ssh2 of public load balancer lb \(lb-edge\) forwards public port 22 to port 22 \(SSH\)/,
        violating: () => [...baseStack(), loadBalancer(true, { loadBalancingRules: [{ ...lbRule, name: "ssh2", backendAddressPool: { id: `${LB_ID}/backendAddressPools/pool2` }, frontendPort: 22, backendPort: 22 }] }),
            res(network.LoadBalancerBackendAddressPool, "pool2", { loadBalancerName: "lb-edge", resourceGroupName: "rg-slurm", backendAddressPoolName: "pool2",
                loadBalancerBackendAddresses: [{ name: "login", ipAddress: "10.40.1.4" }] })].map(r => r.name === "login-nic" ? { ...r, props: { ...r.props, ipConfigurations: ipConfig({}) } } : r),
        nearMiss: () => [...baseStack(), loadBalancer(true, { loadBalancingRules: [{ ...lbRule, name: "ssh2", backendAddressPool: { id: `${LB_ID}/backendAddressPools/pool2` }, frontendPort: 22, backendPort: 22 }] }),
            res(network.LoadBalancerBackendAddressPool, "pool2", { loadBalancerName: "lb-edge", resourceGroupName: "rg-slurm", backendAddressPoolName: "pool2",
                loadBalancerBackendAddresses: [{ name: "other", ipAddress: "10.40.2.9" }] })].map(r => r.name === "login-nic" ? { ...r, props: { ...r.props, ipConfigurations: ipConfig({}) } } : r),
    },
    {
        title: "public load balancer during preview: NAT rule ID unknown, linked by property dependency",
        policies: ["login-node-no-public-load-balancer"], level: "mandatory",
        message: /NIC login-nic \(nic-login\) \(computed from lb \(lb-edge\)\): inbound NAT rule ssh of public load balancer lb/,
        violating: () => [...withNic({ id: unknown.string, ipConfigurations: ipConfig({ loadBalancerInboundNatRules: [{ id: unknown.string }] }) }, { propertyDependencies: { ipConfigurations: [urn(network.LoadBalancer, "lb")] } }),
            loadBalancer(true, { id: unknown.string, inboundNatRules: [natRule] })].map(r => r.name === "login-vm" ? { ...r, propertyDependencies: { networkProfile: [urn(network.NetworkInterface, "login-nic")] } } : r),
        nearMiss: () => [...withNic({ id: unknown.string, ipConfigurations: ipConfig({ loadBalancerInboundNatRules: [{ id: unknown.string }] }) }, { propertyDependencies: { ipConfigurations: [urn(network.LoadBalancer, "lb")] } }),
            loadBalancer(false, { id: unknown.string, inboundNatRules: [natRule] })].map(r => r.name === "login-vm" ? { ...r, propertyDependencies: { networkProfile: [urn(network.NetworkInterface, "login-nic")] } } : r),
    },
    {
        title: "public load balancer: login scale set joins an inbound NAT pool",
        policies: ["login-node-no-public-load-balancer"], level: "mandatory",
        message: /Login scale set login-vmss \(vmss-login\).*inline NIC configuration nic: inbound NAT pool sshpool of public load balancer lb \(lb-edge\) forwards public port 50000-50099 to port 22 \(SSH\)/,
        violating: () => plus(res(compute.VirtualMachineScaleSet, "login-vmss", vmssProps({ loadBalancerInboundNatPools: [{ id: `${LB_ID}/inboundNatPools/sshpool` }] })),
            loadBalancer(true, { inboundNatPools: [{ name: "sshpool", frontendIPConfiguration: { id: LB_FE }, protocol: "Tcp", frontendPortRangeStart: 50000, frontendPortRangeEnd: 50099, backendPort: 22 }] })),
        nearMiss: () => plus(res(compute.VirtualMachineScaleSet, "login-vmss", vmssProps({ loadBalancerInboundNatPools: [{ id: `${LB_ID}/inboundNatPools/sshpool` }] })),
            loadBalancer(false, { inboundNatPools: [{ name: "sshpool", frontendIPConfiguration: { id: LB_FE }, protocol: "Tcp", frontendPortRangeStart: 50000, frontendPortRangeEnd: 50099, backendPort: 22 }] })),
    },
    {
        title: "login VirtualMachineScaleSet with a public IP configuration",
        policies: ["login-vm-no-public-ip", "login-vm-nic-no-public-ip"], level: "mandatory",
        message: /Login scale set login-vmss \(vmss-login\) \(login node: tag slurm-node-role=login\) gets a public IP from inline NIC configuration nic\/ip/,
        violating: () => plus(res(compute.VirtualMachineScaleSet, "login-vmss", vmssProps({ publicIPAddressConfiguration: { name: "pip", idleTimeoutInMinutes: 4 } }))),
        nearMiss: () => plus(res(compute.VirtualMachineScaleSet, "login-vmss", vmssProps({}))),
    },
    {
        title: "login VirtualMachineScaleSet recognised by its AADSSHLoginForLinux extension (untagged), public IP from a prefix",
        policies: ["login-vm-nic-no-public-ip"], level: "mandatory",
        message: /Login scale set login-vmss .*it has the AADSSHLoginForLinux extension.*public IP/,
        violating: () => plus(res(compute.VirtualMachineScaleSet, "login-vmss", vmssProps({ publicIPAddressConfiguration: { name: "pip", publicIPPrefix: { id: `${RG_ID}/providers/Microsoft.Network/publicIPPrefixes/prefix` } } }, {}, true))),
        // The same public scale set without the extension or the tag is not a login node.
        nearMiss: () => plus(res(compute.VirtualMachineScaleSet, "login-vmss", vmssProps({ publicIPAddressConfiguration: { name: "pip" } }, {}, false))),
    },
    {
        title: "untagged scale set with a separate VirtualMachineScaleSetExtension AADSSHLoginForLinux resource and a public IP",
        policies: ["login-vm-nic-no-public-ip"], level: "mandatory",
        message: /Login scale set login-vmss .*login node: it has the AADSSHLoginForLinux extension.*public IP/,
        violating: () => plus(res(compute.VirtualMachineScaleSet, "login-vmss", vmssProps({ publicIPAddressConfiguration: { name: "pip" } }, {}, false)),
            res(compute.VirtualMachineScaleSetExtension, "vmss-aad", { vmScaleSetName: "vmss-login", resourceGroupName: "rg-slurm", vmssExtensionName: "AADSSHLoginForLinux",
                publisher: "Microsoft.Azure.ActiveDirectory", type: "AADSSHLoginForLinux", typeHandlerVersion: "1.0" })),
        nearMiss: () => plus(res(compute.VirtualMachineScaleSet, "login-vmss", vmssProps({ publicIPAddressConfiguration: { name: "pip" } }, {}, false)),
            res(compute.VirtualMachineScaleSetExtension, "vmss-aad", { vmScaleSetName: "vmss-login", resourceGroupName: "rg-slurm", vmssExtensionName: "HealthExtension",
                publisher: "Microsoft.ManagedServices", type: "ApplicationHealthLinux", typeHandlerVersion: "1.0" })),
    },
    {
        title: "login VirtualMachineScaleSetVM with a public IP configuration",
        policies: ["login-vm-no-public-ip", "login-vm-nic-no-public-ip"], level: "mandatory",
        message: /public IP \(publicIPAddressConfiguration\)|Login scale set VM/,
        violating: () => plus(res(compute.VirtualMachineScaleSetVM, "login-vmss-0", { tags: { "slurm-node-role": "login" }, vmScaleSetName: "vmss-login", instanceId: "0",
            networkProfileConfiguration: { networkInterfaceConfigurations: [{ name: "nic", ipConfigurations: [{ name: "ip", subnet: { id: LOGIN_SUBNET }, publicIPAddressConfiguration: { name: "pip" } }] }] } })),
        nearMiss: () => plus(res(compute.VirtualMachineScaleSetVM, "login-vmss-0", { tags: { "slurm-node-role": "login" }, vmScaleSetName: "vmss-login", instanceId: "0",
            networkProfileConfiguration: { networkInterfaceConfigurations: [{ name: "nic", ipConfigurations: [{ name: "ip", subnet: { id: LOGIN_SUBNET } }] }] } })),
    },
    {
        title: "untagged NIC with a public IP attached to the login VM by literal ID during preview (linked by name)",
        policies: ["login-vm-nic-no-public-ip"], level: "mandatory",
        message: /NIC login-nic \(nic-login\) of login VM login-vm \(vm-login\) has a public IP/,
        violating: () => withNic({ id: unknown.string, tags: {}, ipConfigurations: ipConfig({ publicIPAddress: { id: unknown.string } }) }),
        // A NIC of the same name in another resource group is not the one the VM references.
        nearMiss: () => withNic({ id: unknown.string, tags: {}, resourceGroupName: "rg-other", ipConfigurations: ipConfig({ publicIPAddress: { id: unknown.string } }) }),
    },
    {
        title: "untagged NIC attached by literal ID whose name is unknown during preview: decided on up",
        policies: ["login-vm-nic-no-public-ip"], level: "advisory", decidedOnUp: true,
        message: /can't run policy 'login-vm-nic-no-public-ip'.*during preview/,
        violating: () => withNic({ id: unknown.string, name: undefined, networkInterfaceName: unknown.string, tags: {}, ipConfigurations: ipConfig({ publicIPAddress: { id: unknown.string } }) }),
        nearMiss: () => withNic({ tags: {}, ipConfigurations: ipConfig({}) }),
    },
    {
        title: "a second NetworkInterface resource for the login NIC sets its public IP",
        policies: ["login-vm-nic-no-public-ip"], level: "mandatory",
        message: /NIC login-nic-again \(nic-login\) of login VM login-vm \(vm-login\) has a public IP/,
        violating: () => plus(res(network.NetworkInterface, "login-nic-again", { id: NIC_ID, name: "nic-login", ipConfigurations: ipConfig({ publicIPAddress: { id: PIP_ID } }) })),
        nearMiss: () => plus(res(network.NetworkInterface, "login-nic-again", { id: `${OTHER_RG_ID}/providers/Microsoft.Network/networkInterfaces/nic-login`, name: "nic-login", ipConfigurations: ipConfig({ publicIPAddress: { id: PIP_ID } }) })),
    },
    // ---- login node recognition ------------------------------------------------------------------------------
    {
        title: "login tag shadowed by a second key that differs only in case",
        policies: ["tag-keys-unambiguous", "login-vm-no-public-ip", "login-vm-nic-no-public-ip"], level: "mandatory",
        message: /tags has keys that differ only in case: "Slurm-Node-Role", "slurm-node-role".*Fix:/,
        violating: () => change(withNic({ tags: { "slurm-node-role": "login", "Slurm-Node-Role": "none" }, ipConfigurations: ipConfig({ publicIPAddress: { id: PIP_ID } }) }),
            "login-vm", { tags: { "slurm-node-role": "login", "Slurm-Node-Role": "none" } }),
        nearMiss: () => change(withNic({ tags: { "Slurm-Node-Role": "LOGIN" } }), "login-vm", { tags: { "SLURM-NODE-ROLE": "Login", owner: "hpc" } }),
    },
    {
        title: "untagged login VM recognised by its AADSSHLoginForLinux extension resource, NIC with a public IP",
        policies: ["login-vm-nic-no-public-ip"], level: "mandatory",
        message: /NIC login-nic \(nic-login\) of login VM login-vm \(vm-login\) has a public IP .*login node: it has the AADSSHLoginForLinux extension/,
        violating: () => change(withNic({ tags: {}, ipConfigurations: ipConfig({ publicIPAddress: { id: PIP_ID } }) }), "login-vm", { tags: {} }),
        nearMiss: () => change(withNic({ tags: {}, ipConfigurations: ipConfig({ publicIPAddress: { id: PIP_ID } }) }), "login-vm", { tags: {} }).filter(r => r.name !== "login-aad"),
        config: LOGIN_ONLY,
    },
    {
        title: "untagged VM in a configured login subnet with a public IP",
        policies: ["login-vm-no-public-ip", "login-vm-nic-no-public-ip"], level: "mandatory",
        message: /login node: it is in login subnet/,
        violating: () => change(withNic({ tags: {}, ipConfigurations: ipConfig({ publicIPAddress: { id: PIP_ID } }) }), "login-vm", { tags: {} }).filter(r => r.name !== "login-aad"),
        nearMiss: () => change(withNic({ tags: {}, ipConfigurations: [{ name: "ipconfig1", subnet: { id: COMPUTE_SUBNET }, publicIPAddress: { id: PIP_ID } }] }), "login-vm", { tags: {} }).filter(r => r.name !== "login-aad"),
        config: { "login-vm-no-public-ip": { loginSubnets: ["vnet/login"] }, "login-vm-nic-no-public-ip": { loginSubnets: ["vnet/login"] } },
    },
    // ---- standing admin paths ----------------------------------------------------------------------------------
    {
        title: "Owner at the resource group that contains the login VM (User)",
        policies: ["login-vm-role-assignments-restricted"], level: "mandatory",
        message: /Role assignment bob-owner gives a User Owner \(8e3af657.*\) on resource group rg-slurm, which contains login VM login-vm.*run commands as root \(Run Command\).*grant themselves any role.*Fix:/,
        violating: () => plus(assignment("bob-owner", ROLE.owner, "User", RG_ID)),
        nearMiss: () => plus(assignment("bob-owner", ROLE.owner, "User", OTHER_RG_ID)),
    },
    {
        title: "Contributor at the subscription that contains the login VM (ServicePrincipal)",
        policies: ["login-vm-role-assignments-restricted"], level: "mandatory",
        message: /gives a ServicePrincipal Contributor \(b24988ac.*\) on subscription .*, which contains login VM .*run commands as root.*with a secret or token that no MFA prompt reaches/,
        violating: () => plus(assignment("ci-contributor", ROLE.contributor, "ServicePrincipal", SUB)),
        nearMiss: () => plus(assignment("ci-contributor", ROLE.contributor, "ServicePrincipal", OTHER_RG_ID)),
    },
    {
        title: "Contributor on the login VM's OS disk",
        policies: ["login-vm-role-assignments-restricted"], level: "mandatory",
        message: /Contributor .* on disk osdisk-login of login VM login-vm .*rewrite or swap the OS disk.*export the OS disk/,
        violating: () => plus(assignment("disk-contributor", ROLE.contributor, "Group", DISK_ID)),
        nearMiss: () => plus(assignment("disk-contributor", ROLE.contributor, "Group", `${RG_ID}/providers/Microsoft.Compute/disks/osdisk-other`)),
    },
    {
        title: "Data Operator for Managed Disks on the login VM's OS disk (data actions)",
        policies: ["login-vm-role-assignments-restricted"], level: "mandatory",
        message: /Data Operator for Managed Disks .* on disk osdisk-login .*download the OS disk/,
        violating: () => plus(assignment("disk-data", "959f8984-c045-4866-89c7-12bf9737be2e", "User", DISK_ID)),
        nearMiss: () => plus(assignment("disk-data", "959f8984-c045-4866-89c7-12bf9737be2e", "User", `${OTHER_RG_ID}/providers/Microsoft.Compute/disks/x`)),
    },
    {
        title: "Owner on the login VM for a managed identity (ServicePrincipal)",
        policies: ["login-vm-role-assignments-restricted"], level: "mandatory",
        message: /gives a ServicePrincipal Owner .* on login VM login-vm .*run commands as root.*with a secret or token that no MFA prompt reaches/,
        violating: () => plus(assignment("mi-owner", ROLE.owner, "ServicePrincipal", VM_ID)),
        nearMiss: () => plus(assignment("mi-owner", ROLE.owner, "ServicePrincipal", OTHER_VM_ID)),
    },
    {
        title: "custom role in the stack with the VM login data actions, assigned to a service principal",
        policies: ["login-vm-role-assignments-restricted"], level: "mandatory",
        message: /gives a ServicePrincipal custom role custom-role .* on login VM login-vm .*: it can sign in.*Microsoft.Compute\/virtualMachines\/login\/action/,
        violating: () => plus(customRole(["Microsoft.Compute/virtualMachines/login/action"]), assignment("sp-custom-login", `${SUB}/providers/Microsoft.Authorization/roleDefinitions/${CUSTOM_ROLE_GUID}`, "ServicePrincipal", VM_ID)),
        nearMiss: () => plus(customRole(["Microsoft.Compute/virtualMachines/login/action"]), assignment("sp-custom-login", `${SUB}/providers/Microsoft.Authorization/roleDefinitions/${CUSTOM_ROLE_GUID}`, "Group", VM_ID)),
    },
    {
        title: "custom role with a wildcard (Microsoft.Compute/*) at the resource group, for a group",
        policies: ["login-vm-role-assignments-restricted"], level: "mandatory",
        message: /custom role custom-role .* on resource group rg-slurm, which contains login VM .*Microsoft.Compute\/virtualMachines\/runCommand\/action/,
        violating: () => plus(customRole([], ["Microsoft.Compute/*"]), assignment("ops-compute", CUSTOM_ROLE_GUID, "Group", RG_ID)),
        nearMiss: () => plus(customRole([], ["Microsoft.Compute/*/read", "Microsoft.Network/*/read"]), assignment("ops-compute", CUSTOM_ROLE_GUID, "Group", RG_ID)),
    },
    {
        title: "custom role with Microsoft.Compute/virtualMachines/extensions/write on the VM (by property dependency during preview)",
        policies: ["login-vm-role-assignments-restricted"], level: "mandatory",
        message: /install extensions that run as root/,
        violating: () => plus(customRole([], ["Microsoft.Compute/virtualMachines/extensions/write"]),
            assignment("ops-ext", unknown.string, "User", VM_ID, {}), ).map(r => r.name === "ops-ext" ? { ...r, propertyDependencies: { roleDefinitionId: [urn(authorization.RoleDefinition, "custom-role")] } } : r),
        nearMiss: () => plus(customRole([], ["Microsoft.Compute/virtualMachines/extensions/read"]),
            assignment("ops-ext", unknown.string, "User", VM_ID, {})).map(r => r.name === "ops-ext" ? { ...r, propertyDependencies: { roleDefinitionId: [urn(authorization.RoleDefinition, "custom-role")] } } : r),
    },
    {
        title: "Role Based Access Control Administrator at the resource group (privilege escalation)",
        policies: ["login-vm-role-assignments-restricted"], level: "mandatory",
        message: /Role Based Access Control Administrator .* grant themselves any role there \(privilege escalation\)/,
        violating: () => plus(assignment("rbac-admin", "f58310d9-a9f6-439a-9e8d-f62e7b41a168", "User", RG_ID)),
        nearMiss: () => plus(assignment("rbac-admin", "f58310d9-a9f6-439a-9e8d-f62e7b41a168", "User", OTHER_RG_ID)),
    },
    {
        title: "User Access Administrator at a management group (may contain the subscription)",
        policies: ["login-vm-role-assignments-restricted"], level: "mandatory",
        message: /User Access Administrator .* on management group scope .*, which may contain login VM/,
        violating: () => plus(assignment("mg-uaa", ROLE.userAccessAdministrator, "ForeignGroup", "/providers/Microsoft.Management/managementGroups/corp")),
        nearMiss: () => plus(assignment("mg-uaa", ROLE.reader, "ForeignGroup", "/providers/Microsoft.Management/managementGroups/corp")),
    },
    {
        title: "VM login role at the resource group without principalType",
        policies: ["login-role-assignments-mfa-capable", "login-vm-role-assignments-restricted"], level: "mandatory",
        message: /gives a principal of unstated type Virtual Machine User Login .*: it can sign in/,
        violating: () => plus(assignment("rg-login", ROLE.virtualMachineUserLogin, undefined, RG_ID)),
        nearMiss: () => plus(assignment("rg-login", ROLE.virtualMachineUserLogin, "Group", RG_ID)),
    },
    {
        title: "Contributor whose scope is unknown during preview, computed from the login VM's resource group",
        policies: ["login-vm-role-assignments-restricted"], level: "mandatory",
        message: /gives a ServicePrincipal Contributor .* on resource group rg, which contains login VM login-vm/,
        violating: () => [...baseStack(), res(resources.ResourceGroup, "rg", { resourceGroupName: "rg-slurm", id: unknown.string }),
            assignment("rg-contrib", ROLE.contributor, "ServicePrincipal", unknown.string)].map(r => r.name === "rg-contrib" ? { ...r, propertyDependencies: { scope: [urn(resources.ResourceGroup, "rg")] } } : r),
        nearMiss: () => [...baseStack(), res(resources.ResourceGroup, "rg", { resourceGroupName: "rg-cluster", id: unknown.string }),
            assignment("rg-contrib", ROLE.contributor, "ServicePrincipal", unknown.string)].map(r => r.name === "rg-contrib" ? { ...r, propertyDependencies: { scope: [urn(resources.ResourceGroup, "rg")] } } : r),
    },
    {
        title: "Contributor on a resource group whose name is unknown during preview, the same ResourceGroup resource the login VM is in",
        policies: ["login-vm-role-assignments-restricted"], level: "mandatory",
        message: /gives a ServicePrincipal Contributor .* on resource group rg, which contains login VM login-vm/,
        violating: () => previewGroups("rg"),
        nearMiss: () => previewGroups("rg-cluster"),
    },
    {
        title: "a role the pack cannot see into at a scope containing the login VM",
        policies: ["login-vm-role-assignments-restricted"], level: "mandatory",
        message: /role 0badc0de-.*the pack cannot see what that role grants/,
        violating: () => plus(assignment("opaque", "0badc0de-0000-4000-8000-000000000000", "User", RG_ID)),
        // Near miss: the organisation has checked the role and vouches for it.
        nearMiss: () => plus(assignment("opaque", "0badc0de-0000-4000-8000-000000000000", "User", RG_ID)),
        nearMissConfig: { "login-vm-role-assignments-restricted": { additionalAllowedRoleIds: [ROLE.reader, "0badc0de-0000-4000-8000-000000000000"] } },
    },
    // ---- Conditional Access that looks right but is not ------------------------------------------------------------
    ...caCase("includedUsers [None]", { users: { includedUsers: ["None"] } }, { users: { includedUsers: ["All"] } }, /users includes no one/),
    ...caCase("excludedUsers [All]", { users: { includedUsers: ["All"], excludedUsers: ["All"] } }, { users: { includedUsers: ["All"], excludedUsers: ["00000000-0000-4000-8000-00000000b001"] } }, /excludedUsers is "All"/),
    ...caCase("the app both included and excluded",
        { applications: { includedApplications: [AZURE_LINUX_VM_SIGN_IN_APP_ID], excludedApplications: [AZURE_LINUX_VM_SIGN_IN_APP_ID] } },
        { applications: { includedApplications: [AZURE_LINUX_VM_SIGN_IN_APP_ID], excludedApplications: ["00000003-0000-0000-c000-000000000000"] } }, /excludedApplications excludes the Azure Linux VM Sign-In app/),
    ...caCase("client app types narrowed to the browser", { clientAppTypes: ["browser"] }, { clientAppTypes: ["browser", "mobileAppsAndDesktopClients"] }, /clientAppTypes \["browser"\] does not cover the Azure CLI sign-in/),
    ...caCase("a platform condition that leaves platforms out", { platforms: { includedPlatforms: ["android", "iOS"] } }, { platforms: { includedPlatforms: ["all"] } }, /platforms .* leaves device platforms out/),
    ...caCase("a sign-in risk condition", { signInRiskLevels: ["high"] }, { signInRiskLevels: [] }, /signInRiskLevels limits the policy to risky sign-ins/),
    ...caCase("report-only state", {}, {}, /report-only/, { state: "enabledForReportingButNotEnforced" }),
    ...caCase("MFA OR a compliant device", {}, {}, /operator is OR, so compliantdevice can stand in for MFA/, { grantControls: { operator: "OR", builtInControls: ["mfa", "compliantDevice"] } },
        { grantControls: { operator: "AND", builtInControls: ["mfa", "compliantDevice"] } }),
    {
        title: "Conditional Access required by config but absent from the stack",
        policies: ["vm-sign-in-conditional-access-present"], level: "mandatory",
        message: /has login VM login-vm \(vm-login\) but no enabled Conditional Access policy .*Fix:/,
        violating: () => plus(conditionalAccess({ users: { includedUsers: ["None"] } })).filter(r => r.type !== typeOf(ConditionalAccessPolicy)),
        nearMiss: () => plus(conditionalAccess()),
        config: { "vm-sign-in-conditional-access-present": { required: true } },
    },
    // ---- NSG rules that open SSH to the Internet by coverage ---------------------------------------------------
    {
        title: "NSG: 0.0.0.0/1 + 128.0.0.0/1 in one rule",
        policies: ["nsg-no-ssh-rdp-from-internet"], level: "advisory",
        message: /securityRules\[0\] \(rule0\) allows inbound 22 \(SSH\) from 0.0.0.0\/1, 128.0.0.0\/1 \(together \d+ public IPv4 addresses, 86%/,
        violating: () => nsgWith({ sourceAddressPrefixes: ["0.0.0.0/1", "128.0.0.0/1"] }),
        nearMiss: () => nsgWith({ sourceAddressPrefixes: ["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12"] }),
    },
    {
        title: "NSG: 0.0.0.0/1 and 128.0.0.0/1 split across two rules of the NSG",
        policies: ["nsg-no-ssh-rdp-from-internet"], level: "advisory",
        message: /securityRules rule0, rule1 together allow inbound 22 \(SSH\)/,
        violating: () => nsgWith({ sourceAddressPrefix: "0.0.0.0/2" }, { sourceAddressPrefix: "64.0.0.0/2" }, { sourceAddressPrefix: "128.0.0.0/1", destinationPortRange: "443" }),
        nearMiss: () => nsgWith({ sourceAddressPrefix: "0.0.0.0/2" }, { sourceAddressPrefix: "10.0.0.0/8" }, { sourceAddressPrefix: "128.0.0.0/1", destinationPortRange: "443" }),
        // Each /2 alone is under the threshold set here; together they are over it.
        config: { "nsg-no-ssh-rdp-from-internet": { maxPublicSourceAddresses: 1073741824 } },
    },
    {
        title: "NSG: the AzureCloud service tag",
        policies: ["nsg-no-ssh-rdp-from-internet"], level: "advisory",
        message: /from AzureCloud \(every Azure public IP, which anyone can rent\)/,
        violating: () => nsgWith({ sourceAddressPrefix: "AzureCloud" }),
        nearMiss: () => nsgWith({ sourceAddressPrefix: "VirtualNetwork" }),
    },
    {
        title: "NSG: a regional AzureCloud tag and a large public range",
        policies: ["nsg-no-ssh-rdp-from-internet"], level: "advisory",
        message: /from AzureCloud.westeurope|20.0.0.0\/8 \(together 16777216 public IPv4 addresses/,
        violating: () => nsgWith({ sourceAddressPrefix: "AzureCloud.westeurope" }, { sourceAddressPrefix: "20.0.0.0/8", destinationPortRange: "3389" }),
        nearMiss: () => nsgWith({ sourceAddressPrefix: "AzureBastion" }, { sourceAddressPrefix: "203.0.113.0/24", destinationPortRange: "3389" }),
    },
    {
        title: "NSG: IPv6 ::/0 and a global /16",
        policies: ["nsg-no-ssh-rdp-from-internet"], level: "advisory",
        message: /2001:db8::\/16 \(a global IPv6 range of \/32 or wider\)|::\/0/,
        violating: () => nsgWith({ sourceAddressPrefixes: ["2001:db8::/16"] }),
        nearMiss: () => nsgWith({ sourceAddressPrefixes: ["2001:db8:1234::/48", "fd00::/8"] }),
    },
    // ---- secrets in custom data --------------------------------------------------------------------------------
    {
        title: "custom data: a base64-encoded private key decoded at boot",
        policies: ["vm-custom-data-no-secrets"], level: "mandatory",
        message: /osProfile.customData contains .*a base64 blob containing a private key block/,
        violating: () => customData(`#!/bin/bash\necho ${b64(TEST_KEY)} | base64 -d > /root/.ssh/id_ed25519\n`),
        nearMiss: () => customData(`#!/bin/bash\necho ${b64("#!/bin/bash\necho hello from the login node, nothing secret here\n")} | base64 -d > /usr/local/bin/motd.sh\n`),
    },
    {
        title: "custom data: base64 -d > munge.key from a heredoc",
        policies: ["vm-custom-data-no-secrets"], level: "mandatory",
        message: /an inline munge key \(base64 decoded into munge.key\)/,
        violating: () => customData("#!/bin/bash\nbase64 -d > /etc/munge/munge.key <<'EOF'\nc2VjcmV0LW11bmdlLWtleS1jb250ZW50\nEOF\n"),
        nearMiss: () => customData("#!/bin/bash\nbase64 -d /shared/config/munge.key.b64 > /etc/munge/munge.key\n"),
    },
    {
        title: "custom data: sshpass -p with a literal password",
        policies: ["vm-custom-data-no-secrets"], level: "mandatory",
        message: /a password \(sshpass -p\)/,
        violating: () => customData("#!/bin/bash\nsshpass -p 'hunter2' scp head:/etc/munge/munge.key /etc/munge/\n"),
        nearMiss: () => customData("#!/bin/bash\nsshpass -e scp head:/etc/hosts /etc/hosts\n"),
    },
    {
        title: "custom data: mysql -p<password> and --password <password>",
        policies: ["vm-custom-data-no-secrets"], level: "mandatory",
        message: /a password \(mysql -p...\)/,
        violating: () => customData("#!/bin/bash\nmysql -u slurm -pS3cretPass slurm_acct_db < /tmp/schema.sql\nmysqladmin --password S3cret status\n"),
        nearMiss: () => customData("#!/bin/bash\nmysql --defaults-extra-file=/etc/slurm/my.cnf -u slurm slurm_acct_db < /tmp/schema.sql\nsystemctl start mysql && mkdir -p /var/lib/slurm\n"),
    },
    {
        title: "custom data: a gzip+base64 cloud-init with a PEM private key",
        policies: ["vm-custom-data-no-secrets"], level: "mandatory",
        message: /gzip-compressed line \d+: a private key block/,
        violating: () => change(baseStack(), "login-vm", { osProfile: { ...(loginVmProps().osProfile as object), customData: gzipB64(`#cloud-config\nwrite_files:\n  - path: /root/.ssh/id_ed25519\n    content: |\n      ${TEST_KEY.split("\n").join("\n      ")}\n`) } }),
        nearMiss: () => change(baseStack(), "login-vm", { osProfile: { ...(loginVmProps().osProfile as object), customData: gzipB64("#cloud-config\npackages: [munge]\n") } }),
    },
];

export function vmssProps(ipExtra: Record<string, unknown>, o: Record<string, unknown> = {}, aadExtension?: boolean): Record<string, unknown> {
    return {
        name: "vmss-login", vmScaleSetName: "vmss-login", resourceGroupName: "rg-slurm",
        tags: aadExtension === undefined ? { "slurm-node-role": "login" } : {},
        identity: { type: "SystemAssigned" },
        sku: { name: "Standard_D4as_v5", capacity: 2 },
        virtualMachineProfile: {
            osProfile: { computerNamePrefix: "login", adminUsername: "hpcadmin", linuxConfiguration: { disablePasswordAuthentication: true, ssh: { publicKeys: [{ path: "/home/hpcadmin/.ssh/authorized_keys", keyData: "ssh-ed25519 AAAA test" }] } } },
            storageProfile: { osDisk: { osType: "Linux", createOption: "FromImage" } },
            networkProfile: { networkInterfaceConfigurations: [{ name: "nic", primary: true, ipConfigurations: [{ name: "ip", subnet: { id: LOGIN_SUBNET }, ...ipExtra }] }] },
            ...(aadExtension ? { extensionProfile: { extensions: [{ name: "AADSSHLoginForLinux", publisher: "Microsoft.Azure.ActiveDirectory", type: "AADSSHLoginForLinux", typeHandlerVersion: "1.0" }] } } : {}),
        },
        ...o,
    };
}

function caCase(what: string, bad: Record<string, unknown>, good: Record<string, unknown>, message: RegExp,
    badO: Record<string, unknown> = {}, goodO: Record<string, unknown> = {}): BypassCase[] {
    return [{
        title: `Conditional Access that looks right but is not: ${what}`,
        policies: ["vm-sign-in-conditional-access-requires-mfa"], level: "mandatory", message,
        violating: () => plus(conditionalAccess(bad, badO)),
        nearMiss: () => plus(conditionalAccess(good, goodO)),
    }];
}

/** Checks a violating stack's findings against its case; shared with the analyzer test. */
export function assertCaught(c: BypassCase, found: PolicyViolation[]): void {
    const show = JSON.stringify(found, null, 1);
    assert.ok(found.length > 0, `nothing reported: ${c.title}`);
    for (const v of found) {
        assert.ok(c.policies.includes(v.policy), `unexpected policy ${v.policy}: ${show}`);
    }
    if (c.decidedOnUp) {
        assert.ok(found.some(v => v.policy === c.policies[0] && v.enforcementLevel === "advisory" && c.message.test(v.message)), show);
        return;
    }
    for (const p of c.policies) {
        assert.ok(found.some(v => v.policy === p && v.enforcementLevel === c.level), `${p} did not report at ${c.level}: ${show}`);
    }
    assert.ok(found.some(v => c.message.test(v.message)), `no message matches ${c.message}: ${show}`);
    for (const v of found) {
        assert.match(v.message, /Fix:/, `violation without a fix: ${v.message}`);
    }
}


/** Fresh stack in preview: resource group names and IDs unknown, links only by property dependencies. */
function previewGroups(grantOn: "rg" | "rg-cluster"): EvaluatedResource[] {
    const rgUrn = (n: string) => urn(resources.ResourceGroup, n);
    return [
        ...baseStack().map(r => r.name === "login-vm"
            ? { ...r, props: { ...r.props, id: unknown.string, resourceGroupName: unknown.string }, propertyDependencies: { resourceGroupName: [rgUrn("rg")], networkProfile: [urn(network.NetworkInterface, "login-nic")] } }
            : r),
        res(resources.ResourceGroup, "rg", { resourceGroupName: unknown.string, id: unknown.string }),
        res(resources.ResourceGroup, "rg-cluster", { resourceGroupName: unknown.string, id: unknown.string }),
        { ...assignment("rg-contrib", ROLE.contributor, "ServicePrincipal", unknown.string), propertyDependencies: { scope: [rgUrn(grantOn)] } },
    ];
}
