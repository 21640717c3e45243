// The defaults of the config keys that have one.
import { ENTRA_UID_FLOOR, ENTRA_UID_LIMIT } from "./facts";

/** The defaults, also declared in Pulumi.yaml so `pulumi config` shows them. */
export const DEFAULTS = {
    vnetAddressSpace: "10.40.0.0/16",
    bastionSubnetPrefix: "10.40.0.0/26",
    cyclecloudSubnetPrefix: "10.40.0.64/27",
    loginSubnetPrefix: "10.40.0.96/27",
    computeSubnetPrefix: "10.40.16.0/20",
    bastionSku: "Standard",
    bastionScaleUnits: 2,
    nfsQuotaGiB: 1024,
    nfsRedundancy: "LRS",
    nfsShareName: "shared",
    loginVmSize: "Standard_D4as_v5",
    // Pinned so a new image never replaces the VM by surprise; the 8_10 HPC SKU is a plan image.
    loginImage: "almalinux:almalinux-hpc:8_10-hpc-gen2:8.10.2024101801",
    loginAdminUsername: "azureadmin",
    loginAcceleratedNetworking: true,
    loginOsDiskSizeGB: 64,
    slurmVersion: "25.11.5",
    clusterName: "slurm",
    conditionalAccessMfa: false,
    cyclecloudVmSize: "Standard_D4as_v5",
    // Pinned (the version CycleCloud Workspace for Slurm pins): a new image must never replace the server.
    cyclecloudImage: "azurecyclecloud:azure-cyclecloud:cyclecloud8-gen2:8.9.120260630",
    cyclecloudAdminUsername: "ccadmin",
    acceptMarketplaceTerms: false,
    schedulerVmSize: "Standard_D4ads_v5",
    hpcVmSize: "Standard_F2s_v2",
    htcVmSize: "Standard_F2s_v2",
    maxHpcNodes: 16,
    maxHtcNodes: 100,
    // The template's gpu and dynamic nodearrays are off unless asked for (its own defaults: 8 x
    // Standard_NC24rs_v3 and a 100-core dynamic partition).
    gpuVmSize: "Standard_NC24rs_v3",
    maxGpuNodes: 0,
    dynamicVmSize: "Standard_F2s_v2",
    maxDynamicCores: 0,
    nodeImage: "almalinux8",
    sshProxyPort: 22,
    sshDialAttempts: 40,
    accountsUidMin: ENTRA_UID_FLOOR,
    accountsUidMax: ENTRA_UID_LIMIT,
    // First sign-in's wait for the scheduler's answer over NFS with actimeo=30 (components/nfs.ts): up to 30 s until the
    // scheduler's attribute cache shows the new entry, its 3 s timer and the apply, up to 30 s until the login node's
    // cached negative lookup of status/<UID> expires: 30 + 3 + 5 + 30 = 68 -> 70 (components/accounts/README.md, "NFS timing").
    accountsAckWaitSeconds: 70,
    readinessTestJob: false,
    readinessTimeoutSeconds: 600,
    readinessJobTimeoutSeconds: 1200,
} as const;
