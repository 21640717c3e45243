// The login node: a VM with no public IP, reached only through Azure Bastion with Entra ID sign-in
// (AADSSHLoginForLinux), that mounts /shared and configures itself as a Slurm client from the files the
// cluster seeds there.
import * as pulumi from "@pulumi/pulumi";
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import { LOGIN_ROLE_TAG, Settings } from "../config";
import { encodeLoginCustomData, renderLoginCloudInit } from "./cloud-init";

export interface LoginNodeArgs {
    resourceGroupName: pulumi.Input<string>;
    namePrefix: string;
    settings: Settings;
    subnetId: pulumi.Input<string>;
    nfsHost: pulumi.Input<string>;
    nfsExportPath: pulumi.Input<string>;
    nfsMountOptions: string;
    /**
     * What the first boot's mount of /shared needs to exist before the VM boots: the share, its private
     * endpoint and the endpoint's DNS zone group (until the record exists the share's name resolves to the
     * public endpoint, whose access is disabled). A component here stands for all its children.
     */
    sharedStorage: pulumi.Resource[];
    /** The marketplace-terms acceptance, when the stack does it: Azure refuses a plan image before. */
    imageTerms?: pulumi.Resource[];
}

/** The Entra ID SSH login extension; it needs the VM's system-assigned identity. */
export const AAD_SSH_EXTENSION = {
    publisher: "Microsoft.Azure.ActiveDirectory",
    type: "AADSSHLoginForLinux",
    typeHandlerVersion: "1.0",
} as const;

/**
 * A Linux computer name Azure accepts (1-64 characters, letters, digits and hyphens; no `_` or `.`, which a
 * Pulumi stack name may hold), derived from `base`: every other character becomes `-`, runs of `-` collapse,
 * and the name is cut to 63 characters. Case is kept, so names that were valid stay the same (no VM
 * replacement). Throws, naming `key`, when nothing usable is left.
 */
export function linuxComputerName(base: string, key: string): string {
    const name = base.replace(/[^A-Za-z0-9-]/g, "-").replace(/-{2,}/g, "-").slice(0, 63).replace(/^-+|-+$/g, "");
    if (!/[A-Za-z]/.test(name)) {
        throw new Error(`${key}: cannot derive a Linux computer name from ${JSON.stringify(base)}: ` +
            "it needs letters or digits and at least one letter (allowed: letters, digits and hyphens)");
    }
    return name;
}

export class LoginNode extends pulumi.ComponentResource {
    public readonly nic: network.NetworkInterface;
    public readonly vm: compute.VirtualMachine;
    public readonly aadExtension: compute.VirtualMachineExtension;
    public readonly privateIp: pulumi.Output<string>;
    public readonly vmName: string;

    constructor(name: string, args: LoginNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cyclecloud-slurm-entra:login:LoginNode", name, {}, opts);
        const { settings, resourceGroupName, namePrefix } = args;
        const login = settings.login;
        const tags = { ...settings.tags, [LOGIN_ROLE_TAG.key]: LOGIN_ROLE_TAG.value };
        const parent = { parent: this };
        this.vmName = `vm-${namePrefix}-login`;

        this.nic = new network.NetworkInterface(`${name}-nic`, {
            resourceGroupName,
            location: settings.location,
            tags,
            networkInterfaceName: `nic-${namePrefix}-login`,
            enableAcceleratedNetworking: login.acceleratedNetworking,
            // No publicIPAddress: the node is reachable only through Bastion.
            ipConfigurations: [{
                name: "ipconfig1",
                primary: true,
                subnet: { id: args.subnetId },
                privateIPAllocationMethod: "Dynamic",
            }],
        }, parent);

        const customData = pulumi.all([args.nfsHost, args.nfsExportPath]).apply(([nfsHost, nfsExportPath]) =>
            encodeLoginCustomData(renderLoginCloudInit({
                slurmVersion: settings.slurm.version,
                clusterConfigDir: settings.slurm.clusterConfigDir,
                nfsHost,
                nfsExportPath,
                nfsMountOptions: args.nfsMountOptions,
                accounts: settings.accounts,
            })));

        this.vm = new compute.VirtualMachine(`${name}-vm`, {
            resourceGroupName,
            location: settings.location,
            tags,
            vmName: this.vmName,
            hardwareProfile: { vmSize: login.vmSize },
            // A marketplace plan image: Azure refuses it without the matching plan (and accepted terms); an
            // image without a plan (loginImagePlan=false) is refused with one.
            ...(login.imagePlan ? { plan: { publisher: login.image.publisher, product: login.image.offer, name: login.image.sku } } : {}),
            storageProfile: {
                imageReference: { ...login.image },
                osDisk: {
                    name: `osdisk-${namePrefix}-login`,
                    createOption: "FromImage",
                    caching: "ReadWrite",
                    diskSizeGB: login.osDiskSizeGB,
                    managedDisk: { storageAccountType: "Premium_LRS" },
                    deleteOption: "Delete",
                },
            },
            osProfile: {
                computerName: linuxComputerName(`${settings.slurm.clusterConfigDir}-login`, "clusterName"),
                adminUsername: login.adminUsername,
                customData,
                linuxConfiguration: {
                    disablePasswordAuthentication: true,
                    provisionVMAgent: true,
                    ssh: {
                        publicKeys: [{
                            path: `/home/${login.adminUsername}/.ssh/authorized_keys`,
                            keyData: login.adminSshPublicKey,
                        }],
                    },
                },
            },
            networkProfile: { networkInterfaces: [{ id: this.nic.id, primary: true }] },
            // AADSSHLoginForLinux authenticates the VM to Entra ID with this identity.
            identity: { type: "SystemAssigned" },
            diagnosticsProfile: { bootDiagnostics: { enabled: true } },
        }, {
            ...parent,
            // cloud-init runs once; a changed user data must not replace a node users' sessions live on.
            ignoreChanges: ["osProfile.customData"],
            // The VM itself (a component's dependsOn does not reach its children).
            dependsOn: [...args.sharedStorage, ...(args.imageTerms ?? [])],
        });

        this.aadExtension = new compute.VirtualMachineExtension(`${name}-aad-ssh`, {
            resourceGroupName,
            location: settings.location,
            tags,
            vmName: this.vm.name,
            vmExtensionName: AAD_SSH_EXTENSION.type,
            publisher: AAD_SSH_EXTENSION.publisher,
            type: AAD_SSH_EXTENSION.type,
            typeHandlerVersion: AAD_SSH_EXTENSION.typeHandlerVersion,
            autoUpgradeMinorVersion: true,
        }, parent);

        this.privateIp = this.nic.ipConfigurations.apply(c => c?.[0]?.privateIPAddress ?? "");

        this.registerOutputs({ vmId: this.vm.id, nicId: this.nic.id, privateIp: this.privateIp });
    }
}
