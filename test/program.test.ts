// The program under Pulumi's mocks: what Azure and Entra ID would be asked for, for the dev stack and for
// variants of it (Premium Bastion, ZRS, Entra groups, Conditional Access).
import * as assert from "assert";
import YAML from "yaml";
import { LOGIN_ROLE_TAG, SLURM_UID, MUNGE_UID } from "../components/config";
import { ROLE, AZURE_LINUX_VM_SIGN_IN_APP_ID } from "../components/entra";
import { BASTION_NSG_RULES } from "../components/network";
import { simulate, SimResource, SimResult, SIM_SUBSCRIPTION_ID } from "../scripts/simulate";
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

function idOf(r: SimResult, type: string, name: string): string {
    return String(one(r, type, name).id ?? "");
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

    it("admits SSH to the private subnets only from inside the VNet and nothing from the Internet", () => {
        const privateSubnets = all(dev, "azure-native:network:Subnet").filter(s => s.inputs.subnetName !== "AzureBastionSubnet");
        assert.strictEqual(privateSubnets.length, 3);
        const nsgs = all(dev, "azure-native:network:NetworkSecurityGroup");
        for (const s of privateSubnets) {
            const nsg = nsgs.find(n => (s.inputs.networkSecurityGroup as Props).id.endsWith(`/${n.inputs.networkSecurityGroupName}`))!;
            const inbound = (nsg.inputs.securityRules as Props[]).filter(r => r.direction === "Inbound");
            const allows = inbound.filter(r => r.access === "Allow");
            assert.deepStrictEqual(allows.map(r => [r.sourceAddressPrefix, r.destinationPortRange]), [["VirtualNetwork", "22"]]);
            assert.ok(inbound.some(r => r.access === "Deny" && r.sourceAddressPrefix === "Internet" && r.destinationPortRange === "*"),
                `${s.inputs.subnetName}: no deny-all from Internet`);
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

    it("hands the login VM cloud-init that mounts /shared from the NFS component and pins Slurm", () => {
        const vm = one(dev, "azure-native:compute:VirtualMachine", "login-vm");
        const text = Buffer.from(String((vm.inputs.osProfile as Props).customData), "base64").toString("utf8");
        assert.ok(text.startsWith("#cloud-config\n"));
        const doc = YAML.parse(text);
        const sa = one(dev, "azure-native:storage:StorageAccount", "shared-account").inputs.accountName;
        assert.deepStrictEqual(doc.mounts[0].slice(0, 3), [`${sa}.file.core.windows.net:/${sa}/shared`, "/shared", "nfs"]);
        assert.match(doc.mounts[0][3], /^vers=4,minorversion=1,sec=sys,nconnect=4,.*_netdev,nofail$/);
        assert.deepStrictEqual(doc.runcmd, [["/usr/local/sbin/install-slurm-client", "25.11.5"]]);
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
        for (const [user, admin] of [["alice", true], ["bob", false]] as const) {
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
        const alice = assignments.find(a => a.name === "entra-user-alice-admin-login")!;
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

    it("requires MFA for Azure Linux VM Sign-In when conditionalAccessMfa is on", async () => {
        const r = await run({ [`${NS}conditionalAccessMfa`]: "true" });
        const ca = one(r, "azuread:index/conditionalAccessPolicy:ConditionalAccessPolicy");
        assert.strictEqual(ca.inputs.state, "enabled");
        const conditions = ca.inputs.conditions as Props;
        assert.deepStrictEqual(conditions.applications.includedApplications, [AZURE_LINUX_VM_SIGN_IN_APP_ID]);
        assert.strictEqual(conditions.users.includedUsers.length, 2);
        assert.deepStrictEqual((ca.inputs.grantControls as Props).builtInControls, ["mfa"]);
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
        doc = YAML.parse(Buffer.from(String((vm.inputs.osProfile as Props).customData), "base64").toString("utf8"));
    });

    it("creates slurm and munge with the cluster's fixed IDs in bootcmd, before any package", () => {
        const cmds = (doc.bootcmd as string[][]).map(c => c.join(" "));
        assert.ok(cmds.some(c => c.includes(`groupadd -r -g ${SLURM_UID} slurm`) && c.includes(`useradd -r -u ${SLURM_UID} -g ${SLURM_UID}`)));
        assert.ok(cmds.some(c => c.includes(`groupadd -r -g ${MUNGE_UID} munge`) && c.includes(`useradd -r -u ${MUNGE_UID} -g ${MUNGE_UID}`)));
        assert.strictEqual(doc.packages, undefined, "packages would install before bootcmd users exist only by luck");
    });

    it("adds the Slurm EL8 and Microsoft repositories", () => {
        assert.strictEqual(doc.yum_repos.slurm.baseurl, "https://packages.microsoft.com/yumrepos/slurm-el8");
        assert.strictEqual(doc.yum_repos.slurm.gpgcheck, true);
        const ms = doc.write_files.find((f: Props) => f.path === "/etc/yum.repos.d/microsoft-prod.repo");
        assert.match(ms.content, /^baseurl=https:\/\/packages\.microsoft\.com\/rhel\/8\/prod\/$/m);
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
});
