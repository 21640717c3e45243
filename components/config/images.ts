// Image presets and names: the login node's named images, CycleCloud's node image names, and URN parsing.
import { ImageUrn } from "./settings";

/**
 * Named login images (`loginImage`). AADSSHLoginForLinux's supported-distribution table (azure-docs
 * howto-vm-sign-in-azure-ad-linux) lists RHEL 8 and, in newer revisions, Rocky; AlmaLinux is not listed
 * (docs/cli-behaviour.md). Both presets are EL8, so the client installer's EPEL/PowerTools path holds.
 */
export const LOGIN_IMAGE_PRESETS = {
    // The default: the same family as the cluster's nodes (almalinux8); Entra sign-in on it is unverified.
    "almalinux-hpc-8": { urn: "almalinux:almalinux-hpc:8_10-hpc-gen2:8.10.2024101801", plan: true },
    // Rocky Linux 8 from the Rocky Enterprise Software Foundation: a plan image. [unverified URN]
    "rocky-8": { urn: "resf:rockylinux-x86_64:8-base:latest", plan: true },
} as const;
export type LoginImagePreset = keyof typeof LOGIN_IMAGE_PRESETS;

/** CycleCloud's own image names accepted by the cyclecloud-slurm 4.x template. */
export const CYCLECLOUD_IMAGE_NAMES = ["almalinux8", "almalinux9", "cycle.image.ubuntu22", "cycle.image.ubuntu24", "cycle.image.sles15-hpc"] as const;

export function isNodeImage(s: string): boolean {
    if ((CYCLECLOUD_IMAGE_NAMES as readonly string[]).includes(s)) return true;
    if (s.split(":").length === 4 && s.split(":").every(p => /^[A-Za-z0-9._-]+$/.test(p))) return true;
    return /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Compute\/(images|galleries)\/[^\s]+$/i.test(s);
}

/** The login image and whether it is a plan image: a preset's, or a URN's (a plan image unless loginImagePlan=false). */
export function loginImage(value: string, plan: boolean | undefined): { image: ImageUrn; imagePlan: boolean } {
    const preset = (LOGIN_IMAGE_PRESETS as Record<string, { urn: string; plan: boolean } | undefined>)[value];
    return { image: parseImageUrn(preset?.urn ?? value), imagePlan: plan ?? preset?.plan ?? true };
}

/** Splits a validated URN. */
export function parseImageUrn(urn: string): ImageUrn {
    const [publisher, offer, sku, version] = urn.split(":");
    return { publisher, offer, sku, version };
}
