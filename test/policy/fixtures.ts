// Compliant resources shaped like this program's (and any azure-native program's) login node, for tests to vary.
import { ROLE } from "../../policy/common";
import { b64 } from "./util";

export const SUB = "/subscriptions/00000000-0000-0000-0000-000000000001";
export const RG_ID = `${SUB}/resourceGroups/rg-slurm`;
export const VM_ID = `${RG_ID}/providers/Microsoft.Compute/virtualMachines/vm-login`;
export const NIC_ID = `${RG_ID}/providers/Microsoft.Network/networkInterfaces/nic-login`;
export const OTHER_VM_ID = `${RG_ID}/providers/Microsoft.Compute/virtualMachines/vm-other`;
export const OTHER_NIC_ID = `${RG_ID}/providers/Microsoft.Network/networkInterfaces/nic-other`;
export const BASTION_ID = `${RG_ID}/providers/Microsoft.Network/bastionHosts/bastion`;
export const PIP_ID = `${RG_ID}/providers/Microsoft.Network/publicIPAddresses/pip-x`;

export const LOGIN_TAGS = { "slurm-node-role": "login", environment: "dev" };

export const roleDefinitionId = (guid: string) => `${SUB}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
export { ROLE };

export const CLOUD_INIT = `#cloud-config
users:
  - name: hpcadmin
    lock_passwd: true
write_files:
  - path: /etc/ssh/sshd_config.d/50-entra.conf
    content: |
      PasswordAuthentication no
runcmd:
  - [bash, -c, "install -m 0400 -o munge -g munge /shared/config/munge.key /etc/munge/munge.key"]
  - echo "password=\${CYCLECLOUD_PASSWORD}" > /dev/null
`;

export function loginVmProps(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        id: VM_ID,
        name: "vm-login",
        vmName: "vm-login",
        resourceGroupName: "rg-slurm",
        tags: { ...LOGIN_TAGS },
        identity: { type: "SystemAssigned" },
        hardwareProfile: { vmSize: "Standard_D4as_v5" },
        osProfile: {
            computerName: "login",
            adminUsername: "hpcadmin",
            customData: b64(CLOUD_INIT),
            linuxConfiguration: {
                disablePasswordAuthentication: true,
                ssh: { publicKeys: [{ path: "/home/hpcadmin/.ssh/authorized_keys", keyData: "ssh-ed25519 AAAA test" }] },
            },
        },
        storageProfile: { osDisk: { osType: "Linux", createOption: "FromImage" } },
        networkProfile: { networkInterfaces: [{ id: NIC_ID, primary: true }] },
        ...overrides,
    };
}

export function loginNicProps(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        id: NIC_ID,
        name: "nic-login",
        tags: { ...LOGIN_TAGS },
        ipConfigurations: [{ name: "ipconfig1", subnet: { id: `${RG_ID}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/login` }, privateIPAllocationMethod: "Dynamic" }],
        ...overrides,
    };
}

export function aadExtensionProps(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        id: `${VM_ID}/extensions/AADSSHLoginForLinux`,
        name: "AADSSHLoginForLinux",
        vmName: "vm-login",
        vmExtensionName: "AADSSHLoginForLinux",
        publisher: "Microsoft.Azure.ActiveDirectory",
        type: "AADSSHLoginForLinux",
        typeHandlerVersion: "1.0",
        autoUpgradeMinorVersion: true,
        ...overrides,
    };
}
