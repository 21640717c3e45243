// How stack policies find a login VM's NICs, public IPs, extensions and role assignments in a stack.
// A link counts if it shows in known resource IDs (after `pulumi up`) or in the engine's property dependencies
// (which are known during preview, when new resources' IDs are not).
import { PolicyResource, ReportViolation, StackValidation, StackValidationArgs, validateStackResourcesOfType } from "@pulumi/policy";
import { Resource } from "@pulumi/pulumi";
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import * as arm from "@pulumi/azure-native/resources";
import {
    DEFAULT_LOGIN_CONFIG, LoginConfig, LoginTagConfig, dependenciesOf, hasLoginTag, idOf, isLoginSubnet, known, lower, normaliseId,
} from "./common";

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
    /** A VirtualMachine, VirtualMachineScaleSet or VirtualMachineScaleSetVM. */
    vm: PolicyResource;
    kind: "VM" | "scale set" | "scale set VM";
    /** Its resource ID when known. */
    id?: string;
    /** Its resource group name (lower case) when known. */
    resourceGroup?: string;
    /** Why it counts as a login node, for messages. */
    why: string;
    /** NIC resources of the stack that it uses (by ID, by name or by property dependency). */
    nics: PolicyResource[];
    /** IDs of the disks it boots from or attaches, when known. */
    diskIds: string[];
    /** Disk resources of the stack it uses. */
    disks: PolicyResource[];
    /**
     * Reads of values unknown during preview on which a link to this node depends. A policy that could not link
     * something reads one of them at the end, so the runtime reports "can't run during preview" and it decides on
     * `up` instead of passing silently.
     */
    undecided: (() => unknown)[];
    /** A scale set in flexible orchestration: its instances are ordinary VMs in its resource group. */
    flexible?: boolean;
    /**
     * Set when the ID of the OS disk the VM creates is not known yet (preview of a new VM): the disk will be in the
     * VM's resource group, named `name` if the VM says so (else Azure picks the name).
     */
    osDiskPending?: { name?: string };
}

const AAD_PUBLISHER = "microsoft.azure.activedirectory";
const AAD_SSH_TYPE = "aadsshloginforlinux";

/** An extension (resource props or inline entry) that is AADSSHLoginForLinux. */
export function isAadSshExtension(props: Record<string, unknown>): boolean {
    // On inputs `type` is the extension type; in azure-native outputs `type` is the ARM resource type, so the
    // extension's name (which by convention is its type) counts too.
    return known(() => lower(props.publisher) === AAD_PUBLISHER &&
        [props.type, props.vmExtensionName, props.vmssExtensionName, props.name, props.type_]
            .some(v => known(() => lower(v), "") === AAD_SSH_TYPE), false);
}

const get = (o: unknown, ...path: string[]): unknown => known(() => {
    let v: unknown = o;
    for (const k of path) {
        if (v === undefined || v === null || typeof v !== "object") {
            return undefined;
        }
        v = (v as Record<string, unknown>)[k];
    }
    return v;
});
const list = (o: unknown, ...path: string[]): unknown[] => {
    const v = get(o, ...path);
    return Array.isArray(v) ? known(() => [...v], []) : [];
};
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** `resourceGroups/<rg>/providers/<ns>/<type>/<name>` parts of an ID (lower case), or undefined. */
export function parseId(id: unknown): { rg: string; type: string; name: string; rest: string } | undefined {
    const m = /^\/subscriptions\/[^/]+\/resourcegroups\/([^/]+)\/providers\/[^/]+\/([^/]+)\/([^/]+)(.*)$/.exec(normaliseId(id));
    return m ? { rg: m[1], type: m[2], name: m[3], rest: m[4] } : undefined;
}

/** The resource group (lower case) of a stack resource: from its ID, else its resourceGroupName property. */
export function resourceGroupOf(r: PolicyResource): string | undefined {
    const fromId = /^\/subscriptions\/[^/]+\/resourcegroups\/([^/]+)/.exec(idOf(r) ?? "");
    return fromId ? fromId[1] : str(get(r.props, "resourceGroupName"))?.toLowerCase();
}

/** Azure name of a stack resource (lower case): `name` output or the SDK's per-type name argument. */
export function azureNameOf(r: PolicyResource, nameArg: string): string | undefined {
    return (str(get(r.props, nameArg)) ?? str(get(r.props, "name")))?.toLowerCase();
}

/** Stack resources of `cls` that a literal ID points at (by ID, or by resource group + name while IDs are unknown). */
export function resolveRef(ref: string, candidates: PolicyResource[], nameArg: string): { found: PolicyResource[]; undecided?: () => unknown } {
    const want = normaliseId(ref);
    const parsed = parseId(want);
    const found: PolicyResource[] = [];
    let undecided: (() => unknown) | undefined;
    for (const c of candidates) {
        const id = idOf(c);
        if (id) {
            if (id === want) found.push(c);
            continue;
        }
        const name = azureNameOf(c, nameArg);
        const rg = resourceGroupOf(c);
        if (parsed && name && rg) {
            if (name === parsed.name && rg === parsed.rg) found.push(c);
        } else {
            undecided ??= () => (c.props as Record<string, unknown>).id;
        }
    }
    return { found, undecided: found.length === 0 ? undecided : undefined };
}

/** IP configurations of inline NIC configurations (VM, scale set, scale set VM). */
function inlineNicConfigs(r: PolicyResource): unknown[] {
    if (r.isType(compute.VirtualMachine)) return list(r.props, "networkProfile", "networkInterfaceConfigurations");
    if (r.isType(compute.VirtualMachineScaleSet)) return list(r.props, "virtualMachineProfile", "networkProfile", "networkInterfaceConfigurations");
    return list(r.props, "networkProfileConfiguration", "networkInterfaceConfigurations");
}

export function inlineIpConfigs(r: PolicyResource): { nicConfig: string; ipConfig: unknown }[] {
    return inlineNicConfigs(r).flatMap((nc, i) => list(nc, "ipConfigurations").map(ipc =>
        ({ nicConfig: str(get(nc, "name")) ?? `#${i}`, ipConfig: ipc })));
}

function nicRefsOf(r: PolicyResource): string[] {
    return list(r.props, "networkProfile", "networkInterfaces").map(n => str(get(n, "id"))).filter((x): x is string => !!x);
}

function subnetIdsOf(r: PolicyResource, nics: PolicyResource[]): string[] {
    const ids = [
        ...inlineIpConfigs(r).map(c => get(c.ipConfig, "subnet", "id")),
        ...nics.flatMap(n => list(n.props, "ipConfigurations").map(c => get(c, "subnet", "id"))),
    ];
    return ids.filter((x): x is string => typeof x === "string");
}

function extensionsOf(r: PolicyResource, extensions: PolicyResource[]): boolean {
    const inline = r.isType(compute.VirtualMachineScaleSet)
        ? list(r.props, "virtualMachineProfile", "extensionProfile", "extensions")
        : list(r.props, "resources");
    if (inline.some(e => isAadSshExtension((get(e, "properties") ?? e) as Record<string, unknown>) || isAadSshExtension(e as Record<string, unknown>))) {
        return true;
    }
    const id = idOf(r);
    const name = str(get(r.props, "name")) ?? str(get(r.props, r.isType(compute.VirtualMachine) ? "vmName" : "vmScaleSetName"));
    return extensions.some(ext => {
        if (!isAadSshExtension(ext.props as Record<string, unknown>)) {
            return false;
        }
        const nameArg = ext.isType(compute.VirtualMachineScaleSetExtension) ? "vmScaleSetName" : "vmName";
        const viaDeps = (ext.propertyDependencies?.[nameArg] ?? ext.dependencies ?? []).includes(r);
        const viaId = isAtOrBelow(idOf(ext), id) && idOf(ext) !== id;
        const viaName = sameName(str(get(ext.props, nameArg)), name) &&
            (resourceGroupOf(ext) === undefined || resourceGroupOf(r) === undefined || resourceGroupOf(ext) === resourceGroupOf(r));
        return ext.parent === r || viaDeps || viaId || viaName;
    });
}

/**
 * Login nodes of the stack — VMs, scale sets and scale set VMs carrying the login tag (any case), or, as
 * configured, the AADSSHLoginForLinux extension or a NIC in a login subnet — with the NICs and disks each uses.
 */
export function findLoginVms(resources: PolicyResource[], cfgIn: LoginTagConfig | LoginConfig): LoginVm[] {
    const cfg: LoginConfig = { ...DEFAULT_LOGIN_CONFIG, ...cfgIn };
    const nics = resources.filter(r => r.isType(network.NetworkInterface));
    const disks = resources.filter(r => r.isType(compute.Disk));
    const subnets = resources.filter(r => r.isType(network.Subnet));
    const extensions = resources.filter(r => r.isType(compute.VirtualMachineExtension) || r.isType(compute.VirtualMachineScaleSetExtension));
    const tagScopes = resources.filter(r => r.isType(arm.TagAtScope));
    const nicsOf = (vm: PolicyResource): { nics: PolicyResource[]; undecided: (() => unknown)[] } => {
        const undecided: (() => unknown)[] = [];
        // NICs: by literal ID (or resource group + name while IDs are unknown) and by property dependency.
        const used = new Set<PolicyResource>(dependenciesOf(vm, "networkProfile").filter(d => nics.includes(d)));
        for (const ref of nicRefsOf(vm)) {
            const { found, undecided: u } = resolveRef(ref, nics, "networkInterfaceName");
            found.forEach(n => used.add(n));
            if (u) undecided.push(u);
        }
        return { nics: [...used], undecided };
    };
    const recognise = (vm: PolicyResource, vmNics: PolicyResource[]): string | undefined => {
        if (known(() => hasLoginTag(vm.props.tags, cfg), false)) {
            return `tag ${cfg.loginTagName}=${cfg.loginTagValue}`;
        }
        const tagAtScope = tagScopes.find(t => known(() => hasLoginTag(get(t.props, "properties", "tags") as Record<string, string>, cfg), false) &&
            tagsScopeIs(t, vm));
        if (tagAtScope) {
            return `tag ${cfg.loginTagName}=${cfg.loginTagValue} set by TagAtScope ${label(tagAtScope)}`;
        }
        if (cfg.recogniseByEntraExtension && extensionsOf(vm, extensions)) {
            return "it has the AADSSHLoginForLinux extension";
        }
        if (cfg.loginSubnets.length > 0) {
            const viaId = subnetIdsOf(vm, vmNics).find(id => isLoginSubnet(id, cfg));
            const depSubnets = [vm, ...vmNics].flatMap(r => [...dependenciesOf(r, "networkProfile"), ...dependenciesOf(r, "virtualMachineProfile"),
                ...dependenciesOf(r, "ipConfigurations")]).filter(d => subnets.includes(d));
            const viaDep = depSubnets.find(s => {
                const id = idOf(s);
                if (id) return isLoginSubnet(id, cfg);
                const vnet = str(get(s.props, "virtualNetworkName"));
                const name = str(get(s.props, "subnetName")) ?? str(get(s.props, "name"));
                return !!name && isLoginSubnet(`/subscriptions/x/resourceGroups/x/providers/Microsoft.Network/virtualNetworks/${vnet ?? "x"}/subnets/${name}`,
                    { ...cfg, loginSubnets: cfg.loginSubnets.filter(l => vnet || !l.includes("/")) });
            });
            if (viaId || viaDep) {
                return `it is in login subnet ${viaId ?? label(viaDep as PolicyResource)}`;
            }
        }
        return undefined;
    };
    const scaleSets = resources.filter(r => r.isType(compute.VirtualMachineScaleSet));
    const result: LoginVm[] = [];
    for (const vm of resources) {
        const kind = vm.isType(compute.VirtualMachine) ? "VM" : vm.isType(compute.VirtualMachineScaleSet) ? "scale set"
            : vm.isType(compute.VirtualMachineScaleSetVM) ? "scale set VM" : undefined;
        if (!kind) {
            continue;
        }
        const { nics: vmNics, undecided } = nicsOf(vm);
        let why = recognise(vm, vmNics);
        if (!why && kind === "VM") {
            // A VM in a login scale set (flexible orchestration: `virtualMachineScaleSet.id`) is a login node.
            const ref = str(get(vm.props, "virtualMachineScaleSet", "id"));
            const sets = new Set<PolicyResource>(dependenciesOf(vm, "virtualMachineScaleSet").filter(d => scaleSets.includes(d)));
            if (ref) resolveRef(ref, scaleSets, "vmScaleSetName").found.forEach(x => sets.add(x));
            const loginSet = [...sets].find(x => recognise(x, []));
            if (loginSet) {
                why = `it is an instance of login scale set ${label(loginSet)} (${recognise(loginSet, [])})`;
            }
        }
        if (!why) {
            continue;
        }
        // Disks: managed disk IDs in the storage profile, implicit OS disk by name, Disk resources it depends on.
        const storage = kind === "scale set" ? get(vm.props, "virtualMachineProfile", "storageProfile") : get(vm.props, "storageProfile");
        const diskRefs = [get(storage, "osDisk", "managedDisk", "id"), ...list(storage, "dataDisks").map(d => get(d, "managedDisk", "id"))]
            .filter((x): x is string => typeof x === "string").map(normaliseId);
        const vmId = idOf(vm);
        const osDiskName = str(get(storage, "osDisk", "name"));
        if (vmId && osDiskName && kind === "VM") {
            diskRefs.push(normaliseId(`${vmId.replace(/\/providers\/microsoft\.compute\/virtualmachines\/[^/]+$/, "")}/providers/Microsoft.Compute/disks/${osDiskName}`));
        }
        const usedDisks = new Set<PolicyResource>(dependenciesOf(vm, kind === "scale set" ? "virtualMachineProfile" : "storageProfile").filter(d => disks.includes(d)));
        for (const ref of diskRefs) {
            resolveRef(ref, disks, "diskName").found.forEach(d => usedDisks.add(d));
        }
        usedDisks.forEach(d => { const id = idOf(d); if (id && !diskRefs.includes(id)) diskRefs.push(id); });
        const osDiskKnown = typeof get(storage, "osDisk", "managedDisk", "id") === "string" || (!!vmId && !!osDiskName) || usedDisks.size > 0;
        const rgFromId = /^\/subscriptions\/[^/]+\/resourcegroups\/([^/]+)/.exec(vmId ?? "");
        result.push({
            vm, kind, id: vmId, why, nics: vmNics, diskIds: diskRefs, disks: [...usedDisks], undecided,
            resourceGroup: rgFromId ? rgFromId[1] : str(get(vm.props, "resourceGroupName"))?.toLowerCase(),
            flexible: kind === "scale set" && lower(get(vm.props, "orchestrationMode")) === "flexible",
            osDiskPending: kind !== "scale set" && !osDiskKnown ? { name: osDiskName?.toLowerCase() } : undefined,
        });
    }
    return result;
}

export { get, list, str };

/** Whether a TagAtScope resource tags `target`: its scope is the target's ID (by ID, by name while IDs are unknown, or computed from it). */
export function tagsScopeIs(tagAtScope: PolicyResource, target: PolicyResource): boolean {
    const scope = known(() => tagAtScope.props.scope as unknown);
    if (typeof scope !== "string") {
        return dependenciesOf(tagAtScope, "scope").includes(target);
    }
    const id = idOf(target);
    if (id) {
        return normaliseId(scope) === id;
    }
    const p = parseId(scope);
    const [nameArg, type] = target.isType(compute.VirtualMachineScaleSet) ? ["vmScaleSetName", "virtualmachinescalesets"]
        : target.isType(network.NetworkInterface) ? ["networkInterfaceName", "networkinterfaces"] : ["vmName", "virtualmachines"];
    return !!p && p.rest === "" && p.type === type && p.name === azureNameOf(target, nameArg) && p.rg === resourceGroupOf(target);
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
    const azureName = known(() => ["name", "vmName", "vmScaleSetName", "networkInterfaceName", "publicIpAddressName", "roleAssignmentName", "inboundNatRuleName",
        "backendAddressPoolName", "loadBalancerName", "diskName", "roleName"]
        .map(k => r.props[k] as unknown).find(v => typeof v === "string"));
    return typeof azureName === "string" && azureName !== r.name ? `${r.name} (${azureName})` : r.name;
}

export function sameName(a: unknown, b: unknown): boolean {
    return typeof a === "string" && typeof b === "string" && a !== "" && lower(a) === lower(b);
}
