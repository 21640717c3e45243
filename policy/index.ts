// The policy pack entry point. Constructing a PolicyPack starts the analyzer's gRPC server, so nothing else may
// import this file; tests and the offline plan import ./policies instead.
import { PolicyPack } from "@pulumi/policy";
import { PACK_ENFORCEMENT_LEVEL, POLICY_PACK_NAME, policies } from "./policies";

new PolicyPack(POLICY_PACK_NAME, {
    policies,
    enforcementLevel: PACK_ENFORCEMENT_LEVEL,
    displayName: "CycleCloud Slurm with Entra ID sign-in",
    description:
        "Bastion native-client tunneling, no public IP on login nodes, MFA-capable login roles and Conditional " +
        "Access, plus scanner-equivalent network, VM and storage hygiene for azure-native stacks.",
    tags: ["azure", "azure-native", "entra-id", "bastion", "slurm"],
});
