// Composes the stack: network + Bastion, /shared on Azure Files NFS, the login node and its Entra ID access.
// Configuration is validated first, so a bad value stops the program before any resource is registered.
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as resources from "@pulumi/azure-native/resources";
import { loadSettings } from "./components/config";
import { Network } from "./components/network";
import { SharedStorage } from "./components/nfs";
import { LoginNode } from "./components/login/loginNode";
import { EntraAccess } from "./components/entra";

const settings = loadSettings();
const namePrefix = `ccslurm-${settings.stack}`.slice(0, 40);
const client = authorization.getClientConfigOutput();

const resourceGroup = new resources.ResourceGroup("rg", {
    resourceGroupName: settings.resourceGroupName,
    location: settings.location,
    tags: settings.tags,
});

const net = new Network("network", { resourceGroupName: resourceGroup.name, namePrefix, settings });

const shared = new SharedStorage("shared", {
    resourceGroupName: resourceGroup.name,
    settings,
    privateEndpointSubnetId: net.cyclecloudSubnet.id,
    vnetId: net.vnet.id,
    subscriptionId: client.subscriptionId,
});

const login = new LoginNode("login", {
    resourceGroupName: resourceGroup.name,
    namePrefix,
    settings,
    subnetId: net.loginSubnet.id,
    nfsHost: shared.host,
    nfsExportPath: shared.exportPath,
    nfsMountOptions: shared.mountOptions,
});

new EntraAccess("entra", {
    settings,
    subscriptionId: client.subscriptionId,
    loginVmId: login.vm.id,
    loginNicId: login.nic.id,
    bastionId: net.bastion.id,
});

export const resourceGroupName = resourceGroup.name;
export const bastionName = net.bastionName;
export const loginVmId = login.vm.id;
export const loginPrivateIp = login.privateIp;
export const sshCommand = pulumi.interpolate`az network bastion ssh --name ${net.bastionName} --resource-group ${resourceGroup.name} --target-resource-id ${login.vm.id} --auth-type AAD`;
export const nfsMount = pulumi.interpolate`mount -t nfs -o ${shared.mountOptions} ${shared.host}:${shared.exportPath} /shared`;
export const clusterName = settings.slurm.clusterName;
