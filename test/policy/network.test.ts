import * as assert from "assert";
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import * as storage from "@pulumi/azure-native/storage";
import { portSpecCovers } from "../../policy/network";
import { NIC_ID, PIP_ID, loginNicProps, loginVmProps } from "./fixtures";
import {
    assertCompliant, assertNotApplicable, assertUnknownAdvisory, assertViolations, policyNamed, runResourcePolicy,
    runStackPolicy, unknown, urnOf,
} from "./util";

describe("policy bastion-native-client-tunneling", () => {
    const policy = policyNamed("bastion-native-client-tunneling");
    const bastion = (o: Record<string, unknown> = {}) => ({ bastionHostName: "bastion", enableTunneling: true, sku: { name: "Standard" }, ...o });

    it("passes Standard and Premium hosts with tunneling", () => {
        assertCompliant(runResourcePolicy(policy, network.BastionHost, bastion()));
        assertCompliant(runResourcePolicy(policy, network.BastionHost, bastion({ sku: { name: "Premium" } })));
    });
    it("reports tunneling disabled", () => {
        assertViolations(runResourcePolicy(policy, network.BastionHost, bastion({ enableTunneling: false })), /enableTunneling is false/);
    });
    it("reports tunneling not set", () => {
        assertViolations(runResourcePolicy(policy, network.BastionHost, bastion({ enableTunneling: undefined })), /enableTunneling is not set/);
    });
    it("reports a Basic or Developer SKU", () => {
        assertViolations(runResourcePolicy(policy, network.BastionHost, bastion({ sku: { name: "Basic" } })), /sku Basic/);
        assertViolations(runResourcePolicy(policy, network.BastionHost, bastion({ sku: { name: "Developer" } })), /sku Developer/);
    });
    it("reports a missing SKU (Azure defaults to Basic)", () => {
        assertViolations(runResourcePolicy(policy, network.BastionHost, bastion({ sku: undefined })), /sku is not set.*Basic/);
    });
    it("reports both problems at once", () => {
        assertViolations(runResourcePolicy(policy, network.BastionHost, { sku: { name: "Basic" } }), /enableTunneling/, /sku Basic/);
    });
    it("honours allowedSkus from config", () => {
        assertViolations(runResourcePolicy(policy, network.BastionHost, bastion(), { allowedSkus: ["Premium"] }), /sku Standard.*Premium/);
    });
    it("is not applicable to other types", () => {
        assertNotApplicable(runResourcePolicy(policy, network.NetworkSecurityGroup, { securityRules: [] }));
    });
    it("does not crash on unknown values during preview", () => {
        assertUnknownAdvisory(runResourcePolicy(policy, network.BastionHost, bastion({ enableTunneling: unknown.boolean })), /enableTunneling/);
        // Known-good tunneling with an unknown IP configuration still passes: the policy reads only what it needs.
        assertCompliant(runResourcePolicy(policy, network.BastionHost, bastion({ ipConfigurations: unknown.array })));
    });
});

describe("policy login-vm-no-public-ip", () => {
    const policy = policyNamed("login-vm-no-public-ip");
    const inlineNics = (pip: boolean) => ({
        networkInterfaceConfigurations: [{
            name: "nic",
            ipConfigurations: [{ name: "ipc", subnet: { id: "x" }, ...(pip ? { publicIPAddressConfiguration: { name: "pip", sku: { name: "Standard" } } } : {}) }],
        }],
    });

    it("passes a login VM and a login NIC without public IPs", () => {
        assertCompliant(runResourcePolicy(policy, compute.VirtualMachine, loginVmProps()));
        assertCompliant(runResourcePolicy(policy, compute.VirtualMachine, loginVmProps({ networkProfile: inlineNics(false) })));
        assertCompliant(runResourcePolicy(policy, network.NetworkInterface, loginNicProps()));
    });
    it("reports a public IP from a VM's inline network interface configuration", () => {
        assertViolations(runResourcePolicy(policy, compute.VirtualMachine, loginVmProps({ networkProfile: inlineNics(true) })),
            /networkInterfaceConfigurations\[0\].*publicIPAddressConfiguration/);
    });
    it("reports a login NIC with a publicIPAddress", () => {
        const nic = loginNicProps({ ipConfigurations: [{ name: "ipconfig1", publicIPAddress: { id: PIP_ID } }] });
        assertViolations(runResourcePolicy(policy, network.NetworkInterface, nic), /ipConfigurations\[0\].*publicIPAddress/);
    });
    it("finds the tag case-insensitively by name", () => {
        const vm = loginVmProps({ tags: { "Slurm-Node-Role": "login" }, networkProfile: inlineNics(true) });
        assertViolations(runResourcePolicy(policy, compute.VirtualMachine, vm), /public IP/);
    });
    it("ignores VMs and NICs without the login tag", () => {
        assertNotApplicable(runResourcePolicy(policy, compute.VirtualMachine, loginVmProps({ tags: {}, networkProfile: inlineNics(true) })), /not a login VM/);
        assertNotApplicable(runResourcePolicy(policy, network.NetworkInterface, loginNicProps({ tags: undefined, ipConfigurations: [{ publicIPAddress: { id: PIP_ID } }] })));
        // Same tag name, another role: a compute node, not a login node.
        assertNotApplicable(runResourcePolicy(policy, compute.VirtualMachine, loginVmProps({ tags: { "slurm-node-role": "compute" }, networkProfile: inlineNics(true) })));
    });
    it("uses the configured login tag", () => {
        const cfg = { loginTagName: "role", loginTagValue: "jump" };
        const jump = loginVmProps({ tags: { role: "jump" }, networkProfile: inlineNics(true) });
        assertViolations(runResourcePolicy(policy, compute.VirtualMachine, jump, cfg), /public IP/);
        assertNotApplicable(runResourcePolicy(policy, compute.VirtualMachine, loginVmProps({ networkProfile: inlineNics(true) }), cfg));
    });
    it("is not applicable to other types", () => {
        assertNotApplicable(runResourcePolicy(policy, storage.StorageAccount, { tags: { "slurm-node-role": "login" } }));
    });
    it("does not crash on unknown values during preview", () => {
        // A public IP whose ID is not known yet is still a public IP.
        const nic = loginNicProps({ ipConfigurations: [{ name: "ipconfig1", publicIPAddress: { id: unknown.string } }] });
        assertViolations(runResourcePolicy(policy, network.NetworkInterface, nic), /publicIPAddress/);
        assertUnknownAdvisory(runResourcePolicy(policy, compute.VirtualMachine, loginVmProps({ tags: unknown.object })), /tags/);
    });
});

describe("policy login-vm-nic-no-public-ip (stack)", () => {
    const policy = policyNamed("login-vm-nic-no-public-ip");
    const vm = (props: Record<string, unknown> = {}, extra = {}) => ({ cls: compute.VirtualMachine, name: "login", props: loginVmProps(props), ...extra });
    // Untagged on purpose: the stack policy links the NIC to the login VM, it does not rely on the NIC's tag.
    const nic = (props: Record<string, unknown> = {}, extra = {}) => ({ cls: network.NetworkInterface, name: "nic", props: loginNicProps({ tags: {}, ...props }), ...extra });
    const pip = (props: Record<string, unknown> = {}) => ({ cls: network.PublicIPAddress, name: "pip", props: { id: PIP_ID, name: "pip-x", ...props } });

    it("passes a login VM whose NIC has no public IP, with an unrelated public IP in the stack", () => {
        assertCompliant(runStackPolicy(policy, [vm(), nic(), pip({ ipConfiguration: { id: `${BASTION_IPC}` } })]));
    });
    it("reports a NIC, linked by ID, that has a publicIPAddress", () => {
        const r = runStackPolicy(policy, [vm(), nic({ ipConfigurations: [{ name: "ipconfig1", publicIPAddress: { id: PIP_ID } }] }), pip()]);
        assertViolations(r, /NIC nic \(nic-login\) of login VM login \(vm-login\) has a public IP/);
        assert.strictEqual(r.violations[0].urn, urnOf({ cls: network.NetworkInterface, name: "nic" }));
    });
    it("reports a PublicIPAddress that points at the login VM's NIC", () => {
        const r = runStackPolicy(policy, [vm(), nic(), pip({ ipConfiguration: { id: `${NIC_ID}/ipConfigurations/ipconfig1` } })]);
        assertViolations(r, /Public IP pip \(pip-x\) is associated with NIC nic/);
        assert.strictEqual(r.violations[0].urn, urnOf({ cls: network.PublicIPAddress, name: "pip" }));
    });
    it("links NIC and public IP through property dependencies during preview, when IDs are unknown", () => {
        const r = runStackPolicy(policy, [
            vm({ id: unknown.string, networkProfile: { networkInterfaces: [{ id: unknown.string }] } }, { propertyDependencies: { networkProfile: ["nic"] } }),
            nic({ id: unknown.string, ipConfigurations: [{ name: "ipconfig1", publicIPAddress: { id: unknown.string } }] }, { propertyDependencies: { ipConfigurations: ["pip"] } }),
            pip({ id: unknown.string, ipConfiguration: unknown.object }),
        ]);
        assertViolations(r, /NIC nic .* has a public IP \(pip \(pip-x\)\)/);
    });
    it("ignores public IPs on NICs of VMs that are not login nodes", () => {
        const other = { cls: compute.VirtualMachine, name: "other", props: loginVmProps({ tags: {} }) };
        assertNotApplicable(runStackPolicy(policy, [other, nic({ ipConfigurations: [{ publicIPAddress: { id: PIP_ID } }] }), pip()]), /no login node/);
    });
    it("is not applicable to a stack without VMs", () => {
        assertNotApplicable(runStackPolicy(policy, [nic({ ipConfigurations: [{ publicIPAddress: { id: PIP_ID } }] }), pip()]));
    });
    it("uses the configured login tag", () => {
        const r = runStackPolicy(policy, [vm({ tags: { tier: "edge" } }), nic({ ipConfigurations: [{ publicIPAddress: { id: PIP_ID } }] })],
            { loginTagName: "tier", loginTagValue: "edge" });
        assertViolations(r, /has a public IP/);
    });
});

const BASTION_IPC = "/subscriptions/x/resourceGroups/rg-slurm/providers/Microsoft.Network/bastionHosts/bastion/bastionHostIpConfigurations/ipc";

describe("policy nsg-no-ssh-rdp-from-internet", () => {
    const policy = policyNamed("nsg-no-ssh-rdp-from-internet");
    const rule = (o: Record<string, unknown>) => ({
        name: "r", access: "Allow", direction: "Inbound", protocol: "Tcp", priority: 100,
        sourcePortRange: "*", destinationAddressPrefix: "*", ...o,
    });
    const nsg = (...rules: Record<string, unknown>[]) => ({ networkSecurityGroupName: "nsg", securityRules: rules });

    it("passes the Bastion subnet's rules and SSH from inside the VNet", () => {
        assertCompliant(runResourcePolicy(policy, network.NetworkSecurityGroup, nsg(
            rule({ name: "https-in", sourceAddressPrefix: "Internet", destinationPortRange: "443" }),
            rule({ name: "gateway-manager", sourceAddressPrefix: "GatewayManager", destinationPortRange: "443" }),
            rule({ name: "ssh-rdp-out", direction: "Outbound", sourceAddressPrefix: "*", destinationAddressPrefix: "VirtualNetwork", destinationPortRanges: ["22", "3389"] }),
            rule({ name: "ssh-from-bastion", sourceAddressPrefix: "10.40.0.0/26", destinationPortRange: "22" }),
            rule({ name: "deny-all", access: "Deny", sourceAddressPrefix: "*", destinationPortRange: "*" }),
            rule({ name: "icmp", protocol: "Icmp", sourceAddressPrefix: "*", destinationPortRange: "*" }),
        )));
        assertCompliant(runResourcePolicy(policy, network.NetworkSecurityGroup, { securityRules: undefined }));
    });
    it("reports SSH from Internet", () => {
        assertViolations(runResourcePolicy(policy, network.NetworkSecurityGroup, nsg(rule({ name: "ssh", sourceAddressPrefix: "Internet", destinationPortRange: "22" }))),
            /securityRules\[0\] \(ssh\) allows inbound 22 \(SSH\) from Internet.*CKV_AZURE_10/);
    });
    it("reports RDP from * and any port from 0.0.0.0/0", () => {
        assertViolations(runResourcePolicy(policy, network.NetworkSecurityGroup, nsg(rule({ sourceAddressPrefix: "*", destinationPortRange: "3389" }))), /3389 \(RDP\) from \*/);
        assertViolations(runResourcePolicy(policy, network.NetworkSecurityGroup, nsg(rule({ protocol: "*", sourceAddressPrefix: "0.0.0.0/0", destinationPortRange: "*" }))),
            /22 \(SSH\), 3389 \(RDP\) from 0.0.0.0\/0/);
    });
    it("reports port ranges and lists, and source prefix lists", () => {
        assertViolations(runResourcePolicy(policy, network.NetworkSecurityGroup, nsg(rule({ sourceAddressPrefix: "any", destinationPortRange: "20-25" }))), /22 \(SSH\) from any/);
        assertViolations(runResourcePolicy(policy, network.NetworkSecurityGroup, nsg(
            rule({ sourceAddressPrefixes: ["10.0.0.0/8", "0.0.0.0"], destinationPortRanges: ["80", "3000-4000"] }))), /3389 \(RDP\) from 0.0.0.0/);
    });
    it("reports a standalone SecurityRule", () => {
        assertViolations(runResourcePolicy(policy, network.SecurityRule, rule({ sourceAddressPrefix: "Internet", destinationPortRange: "22" })),
            /Security rule res allows inbound 22 \(SSH\) from Internet/);
    });
    it("honours the configured ports", () => {
        const r = rule({ sourceAddressPrefix: "Internet", destinationPortRange: "2222" });
        assertCompliant(runResourcePolicy(policy, network.SecurityRule, r));
        assertViolations(runResourcePolicy(policy, network.SecurityRule, r, { ports: [2222] }), /2222 from Internet/);
    });
    it("parses port specs", () => {
        assert.strictEqual(portSpecCovers("22", 22), true);
        assert.strictEqual(portSpecCovers("1-1024", 22), true);
        assert.strictEqual(portSpecCovers("23-3388", 22), false);
        assert.strictEqual(portSpecCovers("80,22", 22), true);
        assert.strictEqual(portSpecCovers(undefined, 22), false);
    });
    it("is not applicable to other types", () => {
        assertNotApplicable(runResourcePolicy(policy, network.BastionHost, { enableTunneling: true }));
    });
    it("does not crash on unknown values during preview", () => {
        assertUnknownAdvisory(runResourcePolicy(policy, network.SecurityRule, rule({ sourceAddressPrefix: unknown.string, destinationPortRange: "22" })), /sourceAddressPrefix/);
        assertUnknownAdvisory(runResourcePolicy(policy, network.NetworkSecurityGroup, { securityRules: unknown.array }));
    });
});
