// Composes the stack: network + Bastion, /shared on Azure Files NFS, the login node and its Entra ID access.
// Configuration is validated first, so a bad value stops the program before any resource is registered.
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as resources from "@pulumi/azure-native/resources";
import { loadSecrets, loadSettings } from "./components/config";
import { Network } from "./components/network";
import { SharedStorage } from "./components/nfs";
import { LoginNode } from "./components/login/loginNode";
import { CONDITIONAL_ACCESS_SCOPE, EntraAccess } from "./components/entra";
import { CycleCloudServer } from "./components/cyclecloud/server";
import { SlurmCluster } from "./components/cyclecloud/cluster";
import { checkTunnelPort } from "./components/cyclecloud/tunnel";
import { ReadinessCheck } from "./components/readiness/readiness";

const settings = loadSettings();
const secrets = loadSecrets();
// Tunnel mode: a busy local port stops `pulumi up` here, before anything is registered.
checkTunnelPort(settings.remote);
const namePrefix = settings.namePrefix;
const client = authorization.getClientConfigOutput();

const resourceGroup = new resources.ResourceGroup("rg", {
    resourceGroupName: settings.resourceGroupName,
    location: settings.location,
    tags: settings.tags,
}, { retainOnDelete: !settings.deleteSharedOnDestroy }); // deleting the group would delete the retained NFS share in it

const net = new Network("network", { resourceGroupName: resourceGroup.name, namePrefix, settings });

const shared = new SharedStorage("shared", {
    resourceGroupName: resourceGroup.name,
    settings,
    privateEndpointSubnetId: net.cyclecloudSubnet.id,
    vnetId: net.vnet.id,
    subscriptionId: client.subscriptionId,
});

// CycleCloud comes before the login node only so that the marketplace terms (if the stack accepts them)
// are accepted before the login node's plan image is used; the login node never waits for the cluster.
const cyclecloud = new CycleCloudServer("cyclecloud", {
    resourceGroupName: resourceGroup.name,
    resourceGroupId: resourceGroup.id,
    namePrefix,
    settings,
    secrets,
    subscriptionId: client.subscriptionId,
    subnetId: net.cyclecloudSubnet.id,
    computeSubnetId: net.computeSubnet.id,
    vnetId: net.vnet.id,
    bastionName: net.bastionName,
    // In tunnel mode every remote Command goes through Bastion: it must exist first and go last.
    accessPath: settings.remote.mode === "bastionTunnel" ? [net.bastion] : [],
});

const login = new LoginNode("login", {
    resourceGroupName: resourceGroup.name,
    namePrefix,
    settings,
    subnetId: net.loginSubnet.id,
    nfsHost: shared.host,
    nfsExportPath: shared.exportPath,
    nfsMountOptions: shared.mountOptions,
    // The first boot mounts /shared: the share, its private endpoint and the endpoint's DNS zone group come first.
    sharedStorage: [shared],
    imageTerms: cyclecloud.terms ? [cyclecloud.terms] : [],
});

const slurm = new SlurmCluster("slurm", {
    settings,
    server: cyclecloud,
    computeSubnetId: net.computeSubnet.id,
    nfsHost: shared.host,
    nfsExportPath: shared.exportPath,
    nfsMountOptions: shared.mountOptions,
    dependsOn: [shared.share, shared.privateEndpoint, net.computeSubnet, net.natGateway],
});

// Last: the cluster works end to end from the login node (or `pulumi up` fails naming the broken link).
const readiness = new ReadinessCheck("readiness", {
    settings, secrets, server: cyclecloud, cluster: slurm, login, resourceGroupName: resourceGroup.name,
});

const entra = new EntraAccess("entra", {
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
/** What the optional MFA policy covers (Conditional Access cannot target one VM). */
export const conditionalAccessScope = entra.conditionalAccessPolicy ? CONDITIONAL_ACCESS_SCOPE : undefined;
export const cyclecloudVmId = cyclecloud.vm.id;
export const cyclecloudPrivateIp = cyclecloud.privateIp;
export const cyclecloudLockerAccount = cyclecloud.locker.name;
export const clusterResourceGroupName = cyclecloud.clusterResourceGroup.name;
export const schedulerIp = slurm.schedulerIp;
export const clusterConfigDir = slurm.clusterConfigDir;
/** Opens the CycleCloud web UI on https://127.0.0.1:8443 through Bastion (sign in as cyclecloudAdminUsername). */
export const cyclecloudUiTunnel = pulumi.interpolate`az network bastion tunnel --name ${net.bastionName} --resource-group ${resourceGroup.name} --target-resource-id ${cyclecloud.vm.id} --resource-port 443 --port 8443`;
/** What the readiness check reported (the script's `ok [...]` lines and the time it took). */
export const readinessReport = readiness.check.stdout;
