// The program under Pulumi's mocks: what Azure and Entra ID would be asked for, for the dev stack and for
// variants of it (Premium Bastion, ZRS, Entra groups, Conditional Access).
import * as assert from "assert";
import * as zlib from "zlib";
import YAML from "yaml";
import { LOGIN_ROLE_TAG, SLURM_UID, MUNGE_UID } from "../components/config";
import { ROLE, AZURE_LINUX_VM_SIGN_IN_APP_ID } from "../components/entra";
import { BASTION_NSG_RULES } from "../components/network";
import { HOST_KEY_FIX, parseHostKey, requireHostKey } from "../components/cyclecloud/connection";
import { simulate, simulatedHostKey, SimResource, SimResult, SIM_SUBSCRIPTION_ID } from "../scripts/simulate";
import { devStackWithSecrets } from "./cyclecloud/devStack";

const NS = "cyclecloud-slurm-entra:";

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function run(overrides: Record<string, unknown> = {}): Promise<SimResult> {
    const { config, secretKeys } = devStackWithSecrets(overrides);
    const result = await simulate({ stack: "dev", config, secretKeys });
    if (result.error) throw result.error;
    return result;
}

function all(r: SimResult, type: string): SimResource[] {
    return r.resources.filter(x => x.type === type);
}

function one(r: SimResult, type: string, name?: string): SimResource {
    const found = all(r, type).filter(x => name === undefined || x.name === name);
    assert.strictEqual(found.length, 1, `expected one ${type}${name ? ` named ${name}` : ""}, found ${found.length}`);
    return found[0];
}

/** The login node's role assignments (the CycleCloud server's own roles are tested in test/cyclecloud). */
function entraAssignments(r: SimResult): SimResource[] {
    return all(r, "azure-native:authorization:RoleAssignment").filter(a => a.name.startsWith("entra-"));
}

/** Each private subnet's NSG rules as "priority direction access protocol source->destination:ports". */
function nsgRulesBySubnet(r: SimResult): Record<string, string[]> {
    const nsgs = all(r, "azure-native:network:NetworkSecurityGroup");
    const out: Record<string, string[]> = {};
    for (const s of all(r, "azure-native:network:Subnet").filter(x => x.inputs.subnetName !== "AzureBastionSubnet")) {
        const nsg = nsgs.find(n => (s.inputs.networkSecurityGroup as Props).id.endsWith(`/${n.inputs.networkSecurityGroupName}`))!;
        out[String(s.inputs.subnetName)] = (nsg.inputs.securityRules as Props[]).map(x =>
            `${x.priority} ${x.direction} ${x.access} ${x.protocol} ${x.sourceAddressPrefix}->${x.destinationAddressPrefix}:${x.destinationPortRange ?? x.destinationPortRanges.join(",")}`);
    }
    return out;
}

function idOf(r: SimResult, type: string, name: string): string {
    return String(one(r, type, name).id ?? "");
}


/** The login VM's cloud-config as cloud-init reads it: osProfile.customData base64-decoded, then inflated. */
function loginUserData(vm: SimResource): string {
    return zlib.gunzipSync(Buffer.from(String((vm.inputs.osProfile as Props).customData), "base64")).toString("utf8");
}

describe("program under mocks (dev stack)", function () {
    let dev: SimResult;
    before(async () => {
        dev = await run();
    });

    it("registers each component with its type token and parents every Azure resource to one", () => {
        const components = new Set(dev.resources.filter(x => !x.custom).map(x => x.type));
        for (const t of ["network:Network", "storage:SharedStorage", "login:LoginNode", "entra:EntraAccess"]) {
            assert.ok(components.has(`cyclecloud-slurm-entra:${t}`), `missing component ${t}`);
        }
        const orphans = dev.resources.filter(x => x.custom && !x.parent && !x.type.startsWith("azure-native:resources:"));
        assert.deepStrictEqual(orphans.map(x => `${x.type} ${x.name}`), []);
        const vm = one(dev, "azure-native:compute:VirtualMachine", "login-vm");
        assert.match(String(vm.parent), /::cyclecloud-slurm-entra:login:LoginNode::login$/);
    });

    it("creates AzureBastionSubnet, cyclecloud, login and compute subnets with the configured prefixes", () => {
        const subnets = Object.fromEntries(all(dev, "azure-native:network:Subnet").map(s => [s.inputs.subnetName, s.inputs.addressPrefix]));
        assert.deepStrictEqual(subnets, {
            AzureBastionSubnet: "10.40.0.0/26", cyclecloud: "10.40.0.64/27", login: "10.40.0.96/27", compute: "10.40.16.0/20",
        });
        const vnet = one(dev, "azure-native:network:VirtualNetwork");
        assert.deepStrictEqual(vnet.inputs.addressSpace, { addressPrefixes: ["10.40.0.0/16"] });
    });

    it("asks for a Standard Bastion with native-client tunneling and a Standard static public IP", () => {
        const bastion = one(dev, "azure-native:network:BastionHost");
        assert.deepStrictEqual(bastion.inputs.sku, { name: "Standard" });
        assert.strictEqual(bastion.inputs.enableTunneling, true);
        assert.strictEqual(bastion.inputs.scaleUnits, 2);
        const ipConfig = (bastion.inputs.ipConfigurations as Props[])[0];
        assert.match(ipConfig.subnet.id, /\/subnets\/AzureBastionSubnet$/);
        const pip = all(dev, "azure-native:network:PublicIPAddress").find(p => ipConfig.publicIPAddress.id.endsWith(`/${p.inputs.publicIpAddressName}`));
        assert.ok(pip, "Bastion's public IP not found");
        assert.deepStrictEqual([pip.inputs.sku, pip.inputs.publicIPAllocationMethod], [{ name: "Standard", tier: "Regional" }, "Static"]);
    });

    it("puts Bastion's documented rule set on AzureBastionSubnet", () => {
        const bastionSubnet = all(dev, "azure-native:network:Subnet").find(s => s.inputs.subnetName === "AzureBastionSubnet")!;
        const nsg = all(dev, "azure-native:network:NetworkSecurityGroup")
            .find(n => (bastionSubnet.inputs.networkSecurityGroup as Props).id.endsWith(`/${n.inputs.networkSecurityGroupName}`))!;
        const rules = (nsg.inputs.securityRules as Props[]).map(r =>
            `${r.direction} ${r.access} ${r.sourceAddressPrefix}->${r.destinationAddressPrefix}:${r.destinationPortRange ?? r.destinationPortRanges.join(",")}`);
        assert.deepStrictEqual(rules, [
            "Inbound Allow Internet->*:443",
            "Inbound Allow GatewayManager->*:443",
            "Inbound Allow AzureLoadBalancer->*:443",
            "Inbound Allow VirtualNetwork->VirtualNetwork:8080,5701",
            "Outbound Allow *->VirtualNetwork:22,3389",
            "Outbound Allow *->AzureCloud:443",
            "Outbound Allow VirtualNetwork->VirtualNetwork:8080,5701",
            "Outbound Allow *->Internet:80",
        ]);
        assert.strictEqual(BASTION_NSG_RULES.length, 8);
    });

    it("gives each private subnet its own NSG with exactly the flows it needs, everything else denied above AllowVnetInBound", () => {
        assert.deepStrictEqual(nsgRulesBySubnet(dev), {
            cyclecloud: [
                "100 Inbound Allow Tcp 10.40.0.0/26->*:22",
                "110 Inbound Allow Tcp 10.40.0.0/26->*:443",
                "120 Inbound Allow Tcp 10.40.16.0/20->*:9443,5672",
                "130 Inbound Allow Tcp 10.40.0.64/27->*:443",
                "140 Inbound Allow Tcp 10.40.16.0/20->*:443",
                "150 Inbound Allow Tcp 10.40.0.96/27->*:2049",
                "160 Inbound Allow Tcp 10.40.16.0/20->*:2049",
                "4096 Inbound Deny * *->*:*",
            ],
            login: [
                "100 Inbound Allow Tcp 10.40.0.0/26->*:22",
                "110 Inbound Allow Tcp 10.40.0.64/27->*:22",
                "120 Inbound Allow Tcp 10.40.16.0/20->*:32768-60999",
                "4096 Inbound Deny * *->*:*",
            ],
            compute: [
                "100 Inbound Allow Tcp 10.40.0.64/27->*:22",
                "110 Inbound Allow Tcp 10.40.0.96/27->*:22",
                "120 Inbound Allow Tcp 10.40.0.96/27->*:6817,6818",
                "130 Inbound Allow * 10.40.16.0/20->*:*",
                "4096 Inbound Deny * *->*:*",
            ],
        });
        for (const s of all(dev, "azure-native:network:Subnet").filter(x => x.inputs.subnetName !== "AzureBastionSubnet")) {
            // NSG rules reach the private endpoints (NFS, locker) only with network policies enabled.
            assert.strictEqual(s.inputs.privateEndpointNetworkPolicies, "Enabled", String(s.inputs.subnetName));
            // Outbound through the NAT gateway only.
            assert.match((s.inputs.natGateway as Props).id, /\/natGateways\//);
            assert.strictEqual(s.inputs.defaultOutboundAccess, false);
        }
        const nat = one(dev, "azure-native:network:NatGateway");
        assert.deepStrictEqual(nat.inputs.sku, { name: "Standard" });
        assert.strictEqual((nat.inputs.publicIpAddresses as Props[]).length, 1);
    });

    it("asks for a premium FileStorage account locked to the private endpoint", () => {
        const sa = one(dev, "azure-native:storage:StorageAccount", "shared-account");
        assert.strictEqual(sa.inputs.kind, "FileStorage");
        assert.deepStrictEqual(sa.inputs.sku, { name: "Premium_LRS" });
        assert.strictEqual(sa.inputs.publicNetworkAccess, "Disabled");
        assert.strictEqual((sa.inputs.networkRuleSet as Props).defaultAction, "Deny");
        assert.strictEqual(sa.inputs.minimumTlsVersion, "TLS1_2");
        assert.strictEqual(sa.inputs.enableHttpsTrafficOnly, false);
        assert.strictEqual(sa.inputs.allowSharedKeyAccess, false);
        assert.match(String(sa.inputs.accountName), /^[a-z0-9]{3,24}$/);
    });

    it("asks for an NFS share without root squash, with the configured quota", () => {
        const share = one(dev, "azure-native:storage:FileShare");
        assert.strictEqual(share.inputs.enabledProtocols, "NFS");
        assert.strictEqual(share.inputs.rootSquash, "NoRootSquash");
        assert.strictEqual(share.inputs.shareQuota, 1024);
        assert.strictEqual(share.inputs.shareName, "shared");
    });

    it("keeps /shared on `pulumi destroy`: the account, the share and their resource group are retained, nothing else", () => {
        const retained = dev.resources.filter(r => r.options.retainOnDelete).map(r => `${r.type} ${r.name}`).sort();
        assert.deepStrictEqual(retained, [
            "azure-native:resources:ResourceGroup rg",
            "azure-native:storage:FileShare shared-share",
            "azure-native:storage:StorageAccount shared-account",
        ]);
        assert.ok(dev.resources.every(r => !r.options.protect), "protect would make destroy fail instead of leaving the data");
    });

    it("deletes /shared on destroy only when deleteSharedOnDestroy is true", async () => {
        const r = await run({ [`${NS}deleteSharedOnDestroy`]: "true" });
        assert.deepStrictEqual(r.resources.filter(x => x.options.retainOnDelete).map(x => x.name), []);
    });

    it("reaches the share through a private endpoint with the privatelink DNS zone linked to the VNet", () => {
        const sa = one(dev, "azure-native:storage:StorageAccount", "shared-account");
        const pe = one(dev, "azure-native:network:PrivateEndpoint", "shared-pe");
        const conn = (pe.inputs.privateLinkServiceConnections as Props[])[0];
        assert.deepStrictEqual(conn.groupIds, ["file"]);
        assert.match(conn.privateLinkServiceId, new RegExp(`/storageAccounts/${sa.inputs.accountName}$`));
        assert.match((pe.inputs.subnet as Props).id, /\/subnets\/cyclecloud$/);
        const zone = one(dev, "azure-native:privatedns:PrivateZone", "shared-dns-zone");
        assert.strictEqual(zone.inputs.privateZoneName, "privatelink.file.core.windows.net");
        const link = one(dev, "azure-native:privatedns:VirtualNetworkLink", "shared-dns-link");
        assert.match((link.inputs.virtualNetwork as Props).id, /\/virtualNetworks\/vnet-ccslurm-dev$/);
        assert.strictEqual(link.inputs.registrationEnabled, false);
        const group = one(dev, "azure-native:network:PrivateDnsZoneGroup", "shared-pe-dns");
        assert.match((group.inputs.privateDnsZoneConfigs as Props[])[0].privateDnsZoneId, /privateDnsZones\/privatelink\.file\.core\.windows\.net$/);
        assert.strictEqual(group.inputs.privateEndpointName, pe.inputs.privateEndpointName);
    });

    it("gives the login NIC no public IP, in the login subnet, with accelerated networking", () => {
        const nic = one(dev, "azure-native:network:NetworkInterface", "login-nic");
        const configs = nic.inputs.ipConfigurations as Props[];
        assert.strictEqual(configs.length, 1);
        assert.strictEqual(configs[0].publicIPAddress, undefined);
        assert.match(configs[0].subnet.id, /\/subnets\/login$/);
        assert.strictEqual(nic.inputs.enableAcceleratedNetworking, true);
    });

    it("asks for the AlmaLinux 8 HPC plan image, SSH keys only, a system identity and boot diagnostics", () => {
        const vm = one(dev, "azure-native:compute:VirtualMachine", "login-vm");
        const storage = vm.inputs.storageProfile as Props;
        assert.deepStrictEqual(storage.imageReference, { publisher: "almalinux", offer: "almalinux-hpc", sku: "8_10-hpc-gen2", version: "8.10.2024101801" });
        assert.deepStrictEqual(vm.inputs.plan, { publisher: "almalinux", product: "almalinux-hpc", name: "8_10-hpc-gen2" });
        const os = vm.inputs.osProfile as Props;
        assert.strictEqual(os.linuxConfiguration.disablePasswordAuthentication, true);
        assert.strictEqual(os.adminPassword, undefined);
        // devStackWithSecrets gives both admins its one generated deployer key (the readiness check signs in with it).
        const ccKey = ((one(dev, "azure-native:compute:VirtualMachine", "cyclecloud-vm").inputs.osProfile as Props).linuxConfiguration.ssh.publicKeys[0] as Props).keyData;
        assert.match(ccKey, /^ssh-ed25519 AAAA/);
        assert.deepStrictEqual(os.linuxConfiguration.ssh.publicKeys[0], { path: "/home/azureadmin/.ssh/authorized_keys", keyData: ccKey });
        assert.deepStrictEqual(vm.inputs.identity, { type: "SystemAssigned" });
        assert.deepStrictEqual(vm.inputs.diagnosticsProfile, { bootDiagnostics: { enabled: true } });
        assert.strictEqual((vm.inputs.tags as Props)[LOGIN_ROLE_TAG.key], LOGIN_ROLE_TAG.value);
        const nic = one(dev, "azure-native:network:NetworkInterface", "login-nic");
        assert.match((vm.inputs.networkProfile as Props).networkInterfaces[0].id, new RegExp(`/networkInterfaces/${nic.inputs.networkInterfaceName}$`));
    });

    it("installs the AADSSHLoginForLinux extension on the login VM", () => {
        const ext = one(dev, "azure-native:compute:VirtualMachineExtension", "login-aad-ssh");
        assert.strictEqual(ext.inputs.publisher, "Microsoft.Azure.ActiveDirectory");
        assert.strictEqual(ext.inputs.type, "AADSSHLoginForLinux");
        assert.strictEqual(ext.inputs.typeHandlerVersion, "1.0");
        assert.strictEqual(ext.inputs.vmName, one(dev, "azure-native:compute:VirtualMachine", "login-vm").inputs.vmName);
    });

    it("sends the login VM's cloud-init gzip-compressed, within Azure's 65,535-byte custom data limit", () => {
        const vm = one(dev, "azure-native:compute:VirtualMachine", "login-vm");
        const bytes = Buffer.from(String((vm.inputs.osProfile as Props).customData), "base64");
        assert.deepStrictEqual([...bytes.subarray(0, 2)], [0x1f, 0x8b], "custom data is not gzip");
        assert.ok(bytes.length <= 65535, `custom data is ${bytes.length} bytes; Azure refuses more than 65535`);
        assert.ok(loginUserData(vm).startsWith("#cloud-config\n"));
    });

    it("hands the login VM cloud-init that mounts /shared from the NFS component and pins Slurm", () => {
        const vm = one(dev, "azure-native:compute:VirtualMachine", "login-vm");
        const text = loginUserData(vm);
        assert.ok(text.startsWith("#cloud-config\n"));
        const doc = YAML.parse(text);
        const sa = one(dev, "azure-native:storage:StorageAccount", "shared-account").inputs.accountName;
        assert.deepStrictEqual(doc.mounts[0].slice(0, 3), [`${sa}.file.core.windows.net:/${sa}/shared`, "/shared", "nfs"]);
        assert.match(doc.mounts[0][3], /^vers=4,minorversion=1,sec=sys,nconnect=4,.*_netdev,nofail$/);
        assert.deepStrictEqual(doc.runcmd.filter((c: string[]) => c[0] === "/usr/local/sbin/install-slurm-client"),
            [["/usr/local/sbin/install-slurm-client", "25.11.5"]]);
        const env = doc.write_files.find((f: Props) => f.path === "/etc/default/slurm-sync");
        assert.match(env.content, /^SLURM_SYNC_SOURCE=\/shared\/apps\/slurm\/slurm-dev$/m);
    });

    it("grants each user the login role at the VM's scope and Reader on VM, NIC and Bastion", () => {
        const vmId = idOf(dev, "azure-native:compute:VirtualMachine", "login-vm");
        const nicId = idOf(dev, "azure-native:network:NetworkInterface", "login-nic");
        const bastionId = idOf(dev, "azure-native:network:BastionHost", "network-bastion");
        assert.ok(vmId && nicId && bastionId, "mock IDs missing");
        const role = (guid: string) => `/subscriptions/${SIM_SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
        const got = entraAssignments(dev)
            .map(a => `${a.name} ${a.inputs.principalType} ${a.inputs.roleDefinitionId} ${a.inputs.scope}`).sort();
        const want: string[] = [];
        for (const [user, admin] of [["alice-contoso-com", true], ["bob", false]] as const) {
            want.push(`entra-user-${user}-${admin ? "admin" : "user"}-login User ${role(admin ? ROLE.virtualMachineAdministratorLogin : ROLE.virtualMachineUserLogin)} ${vmId}`);
            want.push(`entra-user-${user}-reader-vm User ${role(ROLE.reader)} ${vmId}`);
            want.push(`entra-user-${user}-reader-nic User ${role(ROLE.reader)} ${nicId}`);
            want.push(`entra-user-${user}-reader-bastion User ${role(ROLE.reader)} ${bastionId}`);
        }
        assert.deepStrictEqual(got, want.sort());
    });

    it("resolves a UPN to its object ID and uses an object ID as given", () => {
        const assignments = entraAssignments(dev);
        const bob = assignments.find(a => a.name === "entra-user-bob-user-login")!;
        assert.strictEqual(bob.inputs.principalId, "3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b");
        const alice = assignments.find(a => a.name === "entra-user-alice-contoso-com-admin-login")!;
        assert.match(String(alice.inputs.principalId), /^[0-9a-f-]{36}$/);
        assert.notStrictEqual(alice.inputs.principalId, "alice@contoso.com");
    });

    it("creates no Conditional Access policy and no group unless asked", () => {
        assert.strictEqual(all(dev, "azuread:index/conditionalAccessPolicy:ConditionalAccessPolicy").length, 0);
        assert.strictEqual(all(dev, "azuread:index/group:Group").length, 0);
    });

    it("exports the Bastion SSH command with --auth-type AAD and the NFS mount line", () => {
        const vmId = idOf(dev, "azure-native:compute:VirtualMachine", "login-vm");
        assert.strictEqual(dev.stackOutputs.sshCommand,
            `az network bastion ssh --name bas-ccslurm-dev --resource-group rg-cyclecloud-slurm-entra-dev --target-resource-id ${vmId} --auth-type AAD`);
        assert.match(String(dev.stackOutputs.nfsMount), /^mount -t nfs -o vers=4,minorversion=1,sec=sys,nconnect=4\S* nfs[0-9a-f]{18}\.file\.core\.windows\.net:\/nfs[0-9a-f]{18}\/shared \/shared$/);
        assert.strictEqual(dev.stackOutputs.resourceGroupName, "rg-cyclecloud-slurm-entra-dev");
    });
});

describe("program under mocks (variants)", () => {
    it("asks for a Premium Bastion and ZRS storage when configured", async () => {
        const r = await run({ [`${NS}bastionSku`]: "Premium", [`${NS}nfsRedundancy`]: "ZRS", [`${NS}nfsQuotaGiB`]: "4096" });
        assert.deepStrictEqual(one(r, "azure-native:network:BastionHost").inputs.sku, { name: "Premium" });
        assert.strictEqual(one(r, "azure-native:network:BastionHost").inputs.enableTunneling, true);
        assert.deepStrictEqual(one(r, "azure-native:storage:StorageAccount", "shared-account").inputs.sku, { name: "Premium_ZRS" });
        assert.strictEqual(one(r, "azure-native:storage:FileShare").inputs.shareQuota, 4096);
    });

    it("grants roles to created Entra groups instead of users when entraGroupName is set", async () => {
        const r = await run({ [`${NS}entraGroupName`]: "hpc-slurm-dev" });
        const groups = all(r, "azuread:index/group:Group");
        assert.deepStrictEqual(groups.map(g => g.inputs.displayName).sort(), ["hpc-slurm-dev", "hpc-slurm-dev-admins"]);
        for (const g of groups) {
            assert.strictEqual(g.inputs.securityEnabled, true);
            assert.strictEqual((g.inputs.members as string[]).length, 1);
        }
        const assignments = entraAssignments(r);
        assert.strictEqual(assignments.length, 8);
        assert.ok(assignments.every(a => a.inputs.principalType === "Group"));
        const adminLogin = assignments.filter(a => String(a.inputs.roleDefinitionId).endsWith(ROLE.virtualMachineAdministratorLogin));
        assert.strictEqual(adminLogin.length, 1);
        const adminsGroup = groups.find(g => g.inputs.displayName === "hpc-slurm-dev-admins")!;
        assert.strictEqual(adminLogin[0].inputs.principalId, adminsGroup.outputs.objectId);
    });

    it("grants existing groups, resolved by display name, alongside users", async () => {
        const r = await run({ [`${NS}entraExistingGroups`]: [{ group: "HPC Operators", admin: true }] });
        const groupGrants = entraAssignments(r).filter(a => a.inputs.principalType === "Group");
        assert.strictEqual(groupGrants.length, 4);
        assert.ok(groupGrants.some(a => String(a.inputs.roleDefinitionId).endsWith(ROLE.virtualMachineAdministratorLogin)));
        assert.ok(groupGrants.every(a => a.name.startsWith("entra-group-hpc-operators-")));
    });

    it("migration: an old entry without uid and key keeps its role assignments' names and loses its node record", async () => {
        // Before issue 9 an entry was { name, uid (copied Entra UID), sshPublicKey, entra }; the migration drops
        // uid and sshPublicKey and keeps name, so the role assignments keep their names (no delete + re-create).
        const r = await run({ [`${NS}users`]: [{ name: "alice", entra: "alice@contoso.com", admin: true }] });
        if (r.error) throw r.error;
        const names = entraAssignments(r).map(a => a.name).sort();
        assert.deepStrictEqual(names, ["entra-user-alice-admin-login", "entra-user-alice-reader-bastion", "entra-user-alice-reader-nic", "entra-user-alice-reader-vm"]);
        const users = r.resources.find(x => x.name === "slurm-users");
        assert.ok(users, "no slurm-users Command");
        assert.match(JSON.stringify(users.inputs), /export CC_MANAGED_USERS=''/, "alice would still get a CycleCloud record");
    });

    it("requires MFA for Azure Linux VM Sign-In when conditionalAccessMfa is on", async () => {
        const r = await run({ [`${NS}conditionalAccessMfa`]: "true" });
        const ca = one(r, "azuread:index/conditionalAccessPolicy:ConditionalAccessPolicy");
        assert.strictEqual(ca.inputs.state, "enabled");
        const conditions = ca.inputs.conditions as Props;
        assert.deepStrictEqual(conditions.applications.includedApplications, [AZURE_LINUX_VM_SIGN_IN_APP_ID]);
        assert.strictEqual(conditions.users.includedUsers.length, 2);
        assert.deepStrictEqual((ca.inputs.grantControls as Props).builtInControls, ["mfa"]);
    });

    it("admits the remote Commands' SSH from deploySourcePrefix (direct) or the jump host's literal address, and only there", async () => {
        const direct = nsgRulesBySubnet(await run({ [`${NS}bastionTunnelPort`]: undefined, [`${NS}deploySourcePrefix`]: "10.50.1.0/24" }));
        assert.deepStrictEqual(direct.cyclecloud.slice(0, 2), ["100 Inbound Allow Tcp 10.40.0.0/26->*:22", "110 Inbound Allow Tcp 10.50.1.0/24->*:22"]);
        assert.deepStrictEqual(direct.compute.slice(0, 2), ["100 Inbound Allow Tcp 10.40.0.64/27->*:22", "110 Inbound Allow Tcp 10.50.1.0/24->*:22"]);
        // The readiness check (issue 13) signs in to the login node from the deploy path too.
        assert.ok(direct.login.some(x => x.includes("10.50.1.0/24->*:22")), "the readiness check cannot reach the login node");
        const jump = nsgRulesBySubnet(await run({ [`${NS}bastionTunnelPort`]: undefined, [`${NS}sshProxyHost`]: "10.60.0.5",
            [`${NS}sshProxyHostKey`]: simulatedHostKey("jump") }));
        assert.deepStrictEqual(jump.cyclecloud[1], "110 Inbound Allow Tcp 10.60.0.5/32->*:22");
        assert.deepStrictEqual(jump.compute[1], "110 Inbound Allow Tcp 10.60.0.5/32->*:22");
    });

    it("leaves accelerated networking off when the VM size does not support it", async () => {
        const r = await run({ [`${NS}loginAcceleratedNetworking`]: "false", [`${NS}loginVmSize`]: "Standard_B2s" });
        assert.strictEqual(one(r, "azure-native:network:NetworkInterface", "login-nic").inputs.enableAcceleratedNetworking, false);
        assert.deepStrictEqual(one(r, "azure-native:compute:VirtualMachine", "login-vm").inputs.hardwareProfile, { vmSize: "Standard_B2s" });
    });
});

describe("cloud-init content", () => {
    let doc: Props;
    before(async () => {
        const r = await run();
        const vm = one(r, "azure-native:compute:VirtualMachine", "login-vm");
        doc = YAML.parse(loginUserData(vm));
    });

    it("creates slurm and munge with the cluster's fixed IDs in bootcmd, before any package", () => {
        const cmds = (doc.bootcmd as string[][]).map(c => c.join(" "));
        assert.ok(cmds.some(c => c.includes(`groupadd -r -g ${SLURM_UID} slurm`) && c.includes(`useradd -r -u ${SLURM_UID} -g ${SLURM_UID}`)));
        assert.ok(cmds.some(c => c.includes(`groupadd -r -g ${MUNGE_UID} munge`) && c.includes(`useradd -r -u ${MUNGE_UID} -g ${MUNGE_UID}`)));
        assert.strictEqual(doc.packages, undefined, "packages would install before bootcmd users exist only by luck");
    });

    it("leaves the repositories to the installer: no yum_repos (skipped when the image ships slurm.repo), no microsoft-prod.repo overwrite", () => {
        assert.strictEqual(doc.yum_repos, undefined);
        assert.ok(!(doc.write_files as Props[]).some(f => String(f.path).startsWith("/etc/yum.repos.d/")));
        const installer = (doc.write_files as Props[]).find(f => f.path === "/usr/local/sbin/install-slurm-client")!.content as string;
        assert.match(installer, /^baseurl=https:\/\/packages\.microsoft\.com\/yumrepos\/slurm-el8$/m);
        assert.match(installer, /^repo_id=slurm-cluster$/m);
    });

    it("installs the sync script, service and timer and the client installer", () => {
        const byPath = Object.fromEntries((doc.write_files as Props[]).map(f => [f.path, f]));
        assert.strictEqual(byPath["/usr/local/sbin/slurm-sync-from-shared"].permissions, "0755");
        assert.match(byPath["/etc/systemd/system/slurm-sync.timer"].content, /OnUnitActiveSec=/);
        assert.match(byPath["/etc/systemd/system/slurm-sync.service"].content, /ExecStart=\/usr\/local\/sbin\/slurm-sync-from-shared/);
        assert.match(byPath["/etc/systemd/system/slurm-sync.service"].content, /EnvironmentFile=\/etc\/default\/slurm-sync/);
        const installer = byPath["/usr/local/sbin/install-slurm-client"].content as string;
        assert.match(installer, /"slurm-\$\{slurm_version\}\*"/);
        assert.match(installer, /^shared="\$\{SLURM_CLIENT_SHARED_DIR:-\/shared\}"$/m);
        assert.match(installer, /useradd -D -b "\$shared\/home"/);
        assert.match(installer, /setsebool -P use_nfs_home_dirs on/);
        assert.match(installer, /systemctl enable --now slurm-sync\.timer/);
        assert.match(installer, /\bmunge nfs-utils\b/);
    });

    it("writes the dev stack's account settings and the sign-in hook, and runs its installer (issue 9)", async () => {
        const byPath = Object.fromEntries((doc.write_files as Props[]).map(f => [f.path, f]));
        const settings = byPath["/etc/default/cluster-accounts"].content as string;
        for (const line of ["ACCOUNTS_REGISTRY=/shared/apps/accounts", "SHARED_HOME=/shared/home", "ACCOUNTS_UID_MIN=65536",
            "ACCOUNTS_UID_MAX=4294967293", "ACCOUNTS_ACK_WAIT=70"]) {
            assert.ok(settings.split("\n").includes(line), `missing ${line}`);
        }
        assert.ok(byPath["/usr/local/lib/cluster-accounts/publish-account.sh"]);
        assert.ok((doc.runcmd as string[][]).some(c => c.join(" ") === "bash /usr/local/lib/cluster-accounts/install-login.sh /usr/local/lib/cluster-accounts"));
        // A config key reaches the login node.
        const r = await run({ [`${NS}accountsUidMin`]: "1000000", [`${NS}accountsAckWaitSeconds`]: "0" });
        const vm = one(r, "azure-native:compute:VirtualMachine", "login-vm");
        const other = YAML.parse(loginUserData(vm));
        const changed = (other.write_files as Props[]).find(f => f.path === "/etc/default/cluster-accounts")!.content as string;
        assert.match(changed, /^ACCOUNTS_UID_MIN=1000000$/m);
        assert.match(changed, /^ACCOUNTS_ACK_WAIT=0$/m);
    });
});

/** Inputs with Pulumi secret envelopes unwrapped. */
function unwrap(value: unknown): any { // eslint-disable-line @typescript-eslint/no-explicit-any
    if (Array.isArray(value)) return value.map(unwrap);
    if (value && typeof value === "object") {
        const o = value as Record<string, unknown>;
        if ("4dabf18193072939515e22adb298388d" in o) return unwrap(o.value);
        return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, unwrap(v)]));
    }
    return value;
}

describe("first contact authenticated (host keys)", () => {
    const JUMP_KEY = simulatedHostKey("a jump host");
    const modes: [string, Record<string, unknown>][] = [
        ["bastion tunnel (dev)", {}],
        ["direct", { [`${NS}bastionTunnelPort`]: undefined, [`${NS}deploySourcePrefix`]: "10.50.1.0/24" }],
        ["jump host", { [`${NS}bastionTunnelPort`]: undefined, [`${NS}sshProxyHost`]: "jump.example.com", [`${NS}sshProxyHostKey`]: JUMP_KEY,
            [`${NS}deploySourcePrefix`]: "10.60.0.5/32" }],
    ];
    for (const [mode, overrides] of modes) {
        it(`${mode}: every remote Command and every jump pins a host key from Azure or config`, async () => {
            const r = await run(overrides);
            const vm = one(r, "azure-native:compute:VirtualMachine", "cyclecloud-vm");
            const serverKey = simulatedHostKey(`vm/${vm.inputs.vmName}`);
            const schedulerKey = simulatedHostKey("scheduler/slurm-dev");
            const loginKey = simulatedHostKey(`vm/${one(r, "azure-native:compute:VirtualMachine", "login-vm").inputs.vmName}`);
            const commands = all(r, "command:remote:Command");
            assert.ok(commands.length >= 4, "remote Commands missing");
            for (const c of commands) {
                const conn = unwrap(c.inputs.connection);
                const toLogin = c.name === "readiness-check";
                // The login node is reached like the scheduler: through the server (tunnel) or the jump host.
                const toScheduler = ["slurm-scale", "slurm-seed", "slurm-accounts-scheduler"].includes(c.name) || toLogin;
                assert.strictEqual(conn.hostKey, toLogin ? loginKey : toScheduler ? schedulerKey : serverKey, `${c.name}: host key`);
                if (mode === "jump host") assert.strictEqual(conn.proxy?.hostKey, JUMP_KEY, `${c.name}: jump host key`);
                else if (toScheduler && mode.startsWith("bastion")) assert.strictEqual(conn.proxy?.hostKey, serverKey, `${c.name}: jump key`);
                else assert.strictEqual(conn.proxy, undefined, `${c.name}: unexpected proxy`);
            }
        });
    }

    it("reads the CycleCloud server's key with a synchronous Run Command through ARM, and the scheduler's from the server's scan", async () => {
        const r = await run();
        const read = one(r, "azure-native:compute:VirtualMachineRunCommandByVirtualMachine", "cyclecloud-host-key");
        const vm = one(r, "azure-native:compute:VirtualMachine", "cyclecloud-vm");
        assert.strictEqual(read.inputs.vmName, vm.inputs.vmName);
        assert.match(String((read.inputs.source as Props).script), /\ncat \/etc\/ssh\/ssh_host_ed25519_key\.pub$/);
        assert.ok(read.propertyDependencies.source?.includes(vm.urn), "a replaced VM would not re-run the read");
        assert.strictEqual(read.inputs.asyncExecution, false);
        assert.strictEqual(read.inputs.treatFailureAsDeploymentFailure, true);
        assert.ok(read.dependencies.includes(vm.urn));
        const cluster = one(r, "command:remote:Command", "slurm-cluster");
        assert.match(String(cluster.outputs.stdout), new RegExp(`^SCHEDULER_HOST_KEY=${simulatedHostKey("scheduler/slurm-dev").replace(/[+/]/g, "\\$&")}$`, "m"));
    });

    it("reads the login node's key after its sign-in extension, never beside it (one extension operation per VM at a time)", async () => {
        const r = await run();
        const read = one(r, "azure-native:compute:VirtualMachineRunCommandByVirtualMachine", "readiness-login-host-key");
        const ext = one(r, "azure-native:compute:VirtualMachineExtension", "login-aad-ssh");
        assert.strictEqual(read.inputs.vmName, ext.inputs.vmName);
        assert.ok(read.dependencies.includes(ext.urn), "the Run Command may run while the extension installs");
    });

    it("uses configured keys instead, and then runs no Run Command", async () => {
        const server = simulatedHostKey("configured server"), scheduler = simulatedHostKey("configured scheduler");
        const r = await run({ [`${NS}cyclecloudHostKey`]: server, [`${NS}schedulerHostKey`]: scheduler });
        // Only the login node's read remains (the readiness check's; the login key has no config alternative).
        assert.deepStrictEqual(all(r, "azure-native:compute:VirtualMachineRunCommandByVirtualMachine").map(x => x.name), ["readiness-login-host-key"]);
        assert.strictEqual(unwrap(one(r, "command:remote:Command", "cyclecloud-init").inputs.connection).hostKey, server);
        assert.strictEqual(unwrap(one(r, "command:remote:Command", "slurm-seed").inputs.connection).hostKey, scheduler);
    });

    it("fails without a key, saying how to supply it (no accept-any-key fallback)", async () => {
        for (const missing of [undefined, "", "   ", "not a key"]) {
            const key = requireHostKey(missing, "the Slurm scheduler", HOST_KEY_FIX.scheduler) as unknown as { promise(): Promise<string> };
            await assert.rejects(key.promise(), /no SSH host key for the Slurm scheduler; refusing to connect without one: set schedulerHostKey .*pulumi config set schedulerHostKey/);
        }
        assert.strictEqual(parseHostKey(`${simulatedHostKey("x")} root@host\n`), simulatedHostKey("x"));
    });
});
