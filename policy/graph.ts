// How stack policies find a login VM's NICs, public IPs, extensions and role assignments in a stack.
// A link counts if it shows in known resource IDs (after `pulumi up`) or in the engine's property dependencies
// (which are known during preview, when new resources' IDs are not).
import { PolicyResource, ReportViolation, StackValidation, StackValidationArgs, validateStackResourcesOfType } from "@pulumi/policy";
import { Resource } from "@pulumi/pulumi";
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import { LoginTagConfig, arr, dependenciesOf, hasLoginTag, idOf, known, lower, normaliseId } from "./common";

type ResourceClass = { new (...rest: never[]): Resource; __pulumiType?: string };

/**
 * A stack validation that is not applicable unless the stack has a resource of `resourceClass` (through
 * `validateStackResourcesOfType`), but that sees every resource of the stack, because links between types are
 * what it checks.
 */
export function validateStackAround(
    resourceClass: ResourceClass,
    validate: (matching: PolicyResource[], args: StackValidationArgs, reportViolation: ReportViolation) => void,
): StackValidation {
    const fn: StackValidation = (args, reportViolation) =>
        validateStackResourcesOfType(resourceClass as never, (_props, filtered, report) =>
            validate(filtered.resources, args, report))(args, reportViolation);
    // Lets the runtime skip the policy cheaply on stacks without that type, as validateStackResourcesOfType does.
    return Object.assign(fn, { __pulumiType: resourceClass.__pulumiType });
}

export interface LoginVm {
    vm: PolicyResource;
    id?: string;
    nics: PolicyResource[];
}

/** Login VMs of the stack (by tag; VMs whose tags are unknown during preview are skipped) and the NICs each uses. */
export function findLoginVms(resources: PolicyResource[], cfg: LoginTagConfig): LoginVm[] {
    const nics = resources.filter(r => r.isType(network.NetworkInterface));
    const result: LoginVm[] = [];
    for (const vm of resources) {
        if (!vm.isType(compute.VirtualMachine) || !known(() => hasLoginTag(vm.props.tags, cfg), false)) {
            continue;
        }
        const nicIds = new Set<string>();
        for (const ref of known(() => arr(vm.props.networkProfile?.networkInterfaces), [])) {
            const id = known(() => (ref as { id?: unknown } | undefined)?.id);
            if (typeof id === "string") {
                nicIds.add(normaliseId(id));
            }
        }
        const viaDeps = new Set(dependenciesOf(vm, "networkProfile"));
        const used = nics.filter(nic => viaDeps.has(nic) || nicIds.has(idOf(nic) ?? "\0"));
        result.push({ vm, id: idOf(vm), nics: used });
    }
    return result;
}

/** True when `id` is `parentId` itself or a resource below it (e.g. a NIC's IP configuration). */
export function isAtOrBelow(id: string | undefined, parentId: string | undefined): boolean {
    if (!id || !parentId) {
        return false;
    }
    const a = normaliseId(id);
    const b = normaliseId(parentId);
    return a === b || a.startsWith(b + "/");
}

/** A resource's name for messages: its Pulumi name and, if known, its Azure name. */
export function label(r: PolicyResource): string {
    // Outputs carry `name`; inputs carry the SDK's per-type name argument.
    const azureName = known(() => ["name", "vmName", "networkInterfaceName", "publicIpAddressName", "roleAssignmentName"]
        .map(k => r.props[k] as unknown).find(v => typeof v === "string"));
    return typeof azureName === "string" && azureName !== r.name ? `${r.name} (${azureName})` : r.name;
}

export function sameName(a: unknown, b: unknown): boolean {
    return typeof a === "string" && typeof b === "string" && a !== "" && lower(a) === lower(b);
}
