// Network policies: Bastion native-client tunneling, no public IP on login nodes, no SSH/RDP from the Internet.
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import * as arm from "@pulumi/azure-native/resources";
import {
    PolicyResource, ReportViolation, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy, validateResourceOfType,
} from "@pulumi/policy";
import * as ipaddr from "ipaddr.js";
import { PUBLIC_IPV4_ADDRESSES, internetServiceTag, publicCoverage } from "./addresses";
import {
    DEFAULT_LOGIN_CONFIG, LoginConfig, arr, touch, dependenciesOf, hasLoginTag, idOf, isLoginSubnet, known, loginSchema, lower, normaliseId,
    undecidedUntilUp, withDefaults,
} from "./common";
import { LoginVm, findLoginVms, get, inlineIpConfigs, isAtOrBelow, label, list, parseId, resourceGroupOf, str, tagsScopeIs } from "./graph";

// ---------------------------------------------------------------------------------------------------------------
// 1. Bastion native-client tunneling

export interface BastionConfig {
    allowedSkus: string[];
}
const BASTION_DEFAULTS: BastionConfig = { allowedSkus: ["Standard", "Premium"] };

export const bastionNativeClientTunneling: ResourceValidationPolicy = {
    name: "bastion-native-client-tunneling",
    description:
        "Checks that every Azure Bastion host has native-client tunneling enabled (enableTunneling: true) on an " +
        "allowed SKU (Standard or Premium by default). Entra ID sign-in to a VM without a public IP works only " +
        "through `az network bastion ssh --auth-type AAD`, which needs the tunnel; Basic and Developer cannot tunnel.",
    severity: "high",
    enforcementLevel: "mandatory",
    remediationSteps: "Set `enableTunneling: true` and `sku: { name: \"Standard\" }` (or Premium) on the BastionHost.",
    configSchema: {
        properties: {
            allowedSkus: {
                type: "array",
                items: { type: "string", enum: ["Basic", "Developer", "Standard", "Premium"] },
                minItems: 1,
                default: BASTION_DEFAULTS.allowedSkus,
                description: "Bastion SKUs that support native-client tunneling in this organisation.",
            },
        },
    },
    validateResource: validateResourceOfType(network.BastionHost, (bastion, args, reportViolation) => {
        const { allowedSkus } = withDefaults(BASTION_DEFAULTS, args.getConfig<Partial<BastionConfig>>());
        const allowed = allowedSkus.join(" or ");
        if (bastion.enableTunneling !== true) {
            reportViolation(
                `enableTunneling is ${bastion.enableTunneling === false ? "false" : "not set (Azure's default is off)"}, ` +
                "so `az network bastion ssh` cannot reach VMs. Fix: set enableTunneling: true.");
        }
        const sku = bastion.sku?.name;
        if (sku === undefined || sku === null || sku === "") {
            reportViolation(`sku is not set, so Azure creates a Basic Bastion, which cannot tunnel. Fix: set sku: { name: "${allowedSkus[0]}" } (allowed: ${allowed}).`);
        } else if (!allowedSkus.some(s => lower(s) === lower(sku))) {
            reportViolation(`sku ${sku} does not support native-client tunneling here. Fix: set sku.name to ${allowed}.`);
        }
    }),
};

// ---------------------------------------------------------------------------------------------------------------
// 2. No public IP on login nodes

const noPublicIpFix = "Users reach the login node through Azure Bastion (`az network bastion ssh --auth-type AAD`), so it needs none.";

/** Whether a VM/scale set's own inputs mark it as a login node (tag, or an inline NIC in a login subnet). */
function loginByInputs(r: Record<string, unknown>, ipConfigs: unknown[], cfg: LoginConfig): string | undefined {
    if (hasLoginTag(r.tags as Record<string, string>, cfg)) {
        return `tag ${cfg.loginTagName}=${cfg.loginTagValue}`;
    }
    const subnet = ipConfigs.map(c => get(c, "subnet", "id")).find(id => isLoginSubnet(id, cfg));
    return subnet ? `login subnet ${subnet}` : undefined;
}

function inlinePublicIpViolations(kind: string, nicConfigs: unknown[], reportViolation: ReportViolation): void {
    touch(nicConfigs); // an unknown NIC configuration is decided on `up` ("can't run during preview"), not passed
    nicConfigs.forEach((nicConfig, i) => {
        arr(get(nicConfig, "ipConfigurations") as unknown[]).forEach((ipConfig, j) => {
            if (get(ipConfig, "publicIPAddressConfiguration")) {
                reportViolation(
                    `networkInterfaceConfigurations[${i}] (${get(nicConfig, "name")}) ipConfigurations[${j}] (${get(ipConfig, "name")}) ` +
                    `gives the login ${kind} a public IP (publicIPAddressConfiguration). Fix: remove publicIPAddressConfiguration. ${noPublicIpFix}`);
            }
        });
    });
}

export const loginVmNoPublicIp: ResourceValidationPolicy = {
    name: "login-vm-no-public-ip",
    description:
        "Checks that a login VM, scale set or scale set VM (by the login tag, in any case, or an inline NIC in a " +
        "configured login subnet) gets no public IP from an inline network interface configuration, and that a NIC " +
        "carrying the login tag or in a login subnet has no public IP. A login node with a public IP exposes sshd to " +
        "the Internet and lets users bypass Bastion and Entra ID sign-in.",
    severity: "critical",
    enforcementLevel: "mandatory",
    remediationSteps: "Remove publicIPAddress / publicIPAddressConfiguration from the login node's network configuration.",
    configSchema: { properties: { ...loginSchema } },
    validateResource: [
        validateResourceOfType(compute.VirtualMachine, (vm, args, reportViolation) => {
            const cfg = withDefaults(DEFAULT_LOGIN_CONFIG, args.getConfig<Partial<LoginConfig>>());
            const nicConfigs = arr(vm.networkProfile?.networkInterfaceConfigurations) as unknown[];
            if (!loginByInputs(vm as unknown as Record<string, unknown>, nicConfigs.flatMap(n => arr(get(n, "ipConfigurations") as unknown[])), cfg)) {
                return args.notApplicable(`not a login VM (no tag ${cfg.loginTagName}=${cfg.loginTagValue}, no login subnet)`);
            }
            inlinePublicIpViolations("VM", nicConfigs, reportViolation);
        }),
        validateResourceOfType(compute.VirtualMachineScaleSet, (vmss, args, reportViolation) => {
            const cfg = withDefaults(DEFAULT_LOGIN_CONFIG, args.getConfig<Partial<LoginConfig>>());
            const nicConfigs = arr(vmss.virtualMachineProfile?.networkProfile?.networkInterfaceConfigurations) as unknown[];
            if (!loginByInputs(vmss as unknown as Record<string, unknown>, nicConfigs.flatMap(n => arr(get(n, "ipConfigurations") as unknown[])), cfg)) {
                return args.notApplicable("not a login scale set");
            }
            inlinePublicIpViolations("scale set", nicConfigs, reportViolation);
        }),
        validateResourceOfType(compute.VirtualMachineScaleSetVM, (vm, args, reportViolation) => {
            const cfg = withDefaults(DEFAULT_LOGIN_CONFIG, args.getConfig<Partial<LoginConfig>>());
            const nicConfigs = arr(vm.networkProfileConfiguration?.networkInterfaceConfigurations) as unknown[];
            if (!loginByInputs(vm as unknown as Record<string, unknown>, nicConfigs.flatMap(n => arr(get(n, "ipConfigurations") as unknown[])), cfg)) {
                return args.notApplicable("not a login scale set VM");
            }
            inlinePublicIpViolations("scale set VM", nicConfigs, reportViolation);
        }),
        validateResourceOfType(network.NetworkInterface, (nic, args, reportViolation) => {
            const cfg = withDefaults(DEFAULT_LOGIN_CONFIG, args.getConfig<Partial<LoginConfig>>());
            if (!loginByInputs(nic as unknown as Record<string, unknown>, arr(nic.ipConfigurations) as unknown[], cfg)) {
                return args.notApplicable(`not a login node NIC (no tag ${cfg.loginTagName}=${cfg.loginTagValue}, no login subnet)`);
            }
            arr(nic.ipConfigurations).forEach((ipConfig, i) => {
                if (ipConfig.publicIPAddress) {
                    reportViolation(
                        `ipConfigurations[${i}] (${ipConfig.name}) of the login node's NIC has a publicIPAddress. ` +
                        `Fix: remove publicIPAddress. ${noPublicIpFix}`);
                }
            });
        }),
    ],
};

/** Reads one value a link depended on, so that the runtime reports "can't run during preview" (decides on `up`). */
function decideOnUp(nodes: LoginVm[]): void {
    for (const node of nodes) {
        for (const read of node.undecided) {
            read();
        }
    }
}

export const loginVmNicNoPublicIp: StackValidationPolicy = {
    name: "login-vm-nic-no-public-ip",
    description:
        "Checks that no login node (VM, scale set or scale set VM, recognised by tag, AADSSHLoginForLinux extension " +
        "or login subnet) has a public IP: not on a NIC it uses (linked by ID, by name, or by property dependency, " +
        "tagged or not, including a second NetworkInterface resource for the same NIC), not from an inline NIC " +
        "configuration, and no PublicIPAddress in the stack associated with such a NIC. A public IP exposes sshd and " +
        "bypasses Bastion. Links that are unknown during preview are decided on `up`.",
    severity: "critical",
    enforcementLevel: "mandatory",
    remediationSteps: "Remove the public IP from the login node's NIC (or delete the PublicIPAddress associated with it).",
    configSchema: { properties: { ...loginSchema } },
    validateStack: (args, reportViolation) => {
        const cfg = withDefaults(DEFAULT_LOGIN_CONFIG, args.getConfig<Partial<LoginConfig>>());
        const nodes = findLoginVms(args.resources, cfg);
        // NICs marked as login NICs by a TagAtScope (the resource policy 2a sees only the NIC's own tags).
        const tagScopes = args.resources.filter(r => r.isType(arm.TagAtScope) &&
            known(() => hasLoginTag(get(r.props, "properties", "tags") as Record<string, string>, cfg), false));
        const taggedNics = args.resources.filter(r => r.isType(network.NetworkInterface))
            .map(nic => ({ nic, tag: tagScopes.find(t => tagsScopeIs(t, nic)) })).filter(x => x.tag);
        if (nodes.length === 0 && taggedNics.length === 0) {
            return args.notApplicable("no login node in the stack");
        }
        const pips = args.resources.filter(r => r.isType(network.PublicIPAddress));
        const reported = new Set<string>();
        for (const node of nodes) {
            const { vm, nics, kind } = node;
            const inline = inlineIpConfigs(vm).filter(c => get(c.ipConfig, "publicIPAddressConfiguration"));
            if (inline.length > 0 && !reported.has(vm.urn)) {
                reported.add(vm.urn);
                reportViolation(
                    `Login ${kind} ${label(vm)} (login node: ${node.why}) gets a public IP from inline NIC configuration ` +
                    `${inline.map(c => `${c.nicConfig}/${get(c.ipConfig, "name")}`).join(", ")}. Fix: remove publicIPAddressConfiguration. ${noPublicIpFix}`,
                    vm.urn);
            }
            for (const nic of nics) {
                const nicId = idOf(nic);
                const linked = new Set(nic.propertyDependencies?.ipConfigurations ?? []);
                const pipsOfNic = pips.filter(pip => linked.has(pip) ||
                    isAtOrBelow(known(() => pip.props.ipConfiguration?.id as string | undefined), nicId));
                const withPip = list(nic.props, "ipConfigurations").filter(c => !!get(c, "publicIPAddress"));
                if (withPip.length > 0 && !reported.has(nic.urn)) {
                    reported.add(nic.urn);
                    const names = pipsOfNic.map(label).join(", ");
                    reportViolation(
                        `NIC ${label(nic)} of login ${kind} ${label(vm)} has a public IP${names ? ` (${names})` : ""} on ` +
                        `ipConfigurations ${withPip.map(c => get(c, "name")).join(", ")} (login node: ${node.why}). Fix: remove ` +
                        `publicIPAddress from its ipConfigurations. ${noPublicIpFix}`, nic.urn);
                    pipsOfNic.forEach(p => reported.add(p.urn));
                }
                for (const pip of pipsOfNic) {
                    if (!reported.has(pip.urn)) {
                        reported.add(pip.urn);
                        reportViolation(
                            `Public IP ${label(pip)} is associated with NIC ${label(nic)} of login ${kind} ${label(vm)} (login node: ${node.why}). ` +
                            `Fix: dissociate and delete it. ${noPublicIpFix}`, pip.urn);
                    }
                }
            }
        }
        for (const { nic, tag } of taggedNics) {
            const withPip = list(nic.props, "ipConfigurations").filter(c => !!get(c, "publicIPAddress"));
            if (withPip.length > 0 && !reported.has(nic.urn)) {
                reported.add(nic.urn);
                reportViolation(
                    `NIC ${label(nic)} carries tag ${cfg.loginTagName}=${cfg.loginTagValue} (set by TagAtScope ${label(tag as PolicyResource)}) and has a ` +
                    `public IP on ipConfigurations ${withPip.map(c => get(c, "name")).join(", ")}. Fix: remove publicIPAddress from its ipConfigurations. ${noPublicIpFix}`,
                    nic.urn);
            }
        }
        decideOnUp(nodes);
    },
};

// ---------------------------------------------------------------------------------------------------------------
// 2c. No public load balancer in front of a login node

interface LbRule {
    kind: "load-balancing rule" | "inbound NAT rule" | "inbound NAT pool";
    name: string;
    frontend?: string;
    pools: string[];
    frontendPort: string;
    backendPort: unknown;
}
interface LoadBalancerInfo {
    res: PolicyResource;
    id?: string;
    rg?: string;
    name?: string;
    publicFrontends: Set<string>;
    rules: LbRule[];
    /** Inline backend pools that list their members by address (IP-based pools). */
    addressPools: { name: string; addresses: unknown[] }[];
}

const childName = (id: unknown, collection: string): string | undefined => {
    const m = new RegExp(`/${collection}/([^/]+)$`, "i").exec(normaliseId(id));
    return m ? m[1] : undefined;
};

function loadBalancers(resources: PolicyResource[]): LoadBalancerInfo[] {
    const lbs: LoadBalancerInfo[] = resources.filter(r => r.isType(network.LoadBalancer)).map(res => {
        const publicFrontends = new Set(list(res.props, "frontendIPConfigurations")
            .filter(f => get(f, "publicIPAddress") || get(f, "publicIPPrefix"))
            .map(f => lower(get(f, "name")) || "?"));
        const frontendOf = (r: unknown) => childName(get(r, "frontendIPConfiguration", "id"), "frontendIPConfigurations");
        const rules: LbRule[] = [
            ...list(res.props, "loadBalancingRules").map(r => ({
                kind: "load-balancing rule" as const, name: String(get(r, "name")), frontend: frontendOf(r),
                pools: [get(r, "backendAddressPool", "id"), ...list(r, "backendAddressPools").map(p => get(p, "id"))]
                    .map(id => childName(id, "backendAddressPools")).filter((x): x is string => !!x),
                frontendPort: String(get(r, "frontendPort")), backendPort: get(r, "backendPort"),
            })),
            ...list(res.props, "inboundNatRules").map(r => ({
                kind: "inbound NAT rule" as const, name: lower(get(r, "name")), frontend: frontendOf(r),
                pools: [childName(get(r, "backendAddressPool", "id"), "backendAddressPools")].filter((x): x is string => !!x),
                frontendPort: String(get(r, "frontendPort") ?? `${get(r, "frontendPortRangeStart")}-${get(r, "frontendPortRangeEnd")}`),
                backendPort: get(r, "backendPort"),
            })),
            ...list(res.props, "inboundNatPools").map(r => ({
                kind: "inbound NAT pool" as const, name: lower(get(r, "name")), frontend: frontendOf(r), pools: [],
                frontendPort: `${get(r, "frontendPortRangeStart")}-${get(r, "frontendPortRangeEnd")}`, backendPort: get(r, "backendPort"),
            })),
        ];
        const addressPools = list(res.props, "backendAddressPools").map(p => ({ name: lower(get(p, "name")), addresses: list(p, "loadBalancerBackendAddresses") }))
            .filter(p => p.addresses.length > 0);
        return {
            res, id: idOf(res), rg: resourceGroupOf(res), name: (str(get(res.props, "loadBalancerName")) ?? str(get(res.props, "name")))?.toLowerCase(),
            publicFrontends, rules, addressPools,
        };
    });
    // Standalone InboundNatRule resources belong to the load balancer they name.
    for (const r of resources.filter(x => x.isType(network.InboundNatRule))) {
        const lb = lbs.find(l => (dependenciesOf(r, "loadBalancerName").includes(l.res)) ||
            (l.name === lower(get(r.props, "loadBalancerName")) && (!l.rg || !resourceGroupOf(r) || l.rg === resourceGroupOf(r))));
        lb?.rules.push({
            kind: "inbound NAT rule", name: lower(str(get(r.props, "inboundNatRuleName")) ?? str(get(r.props, "name")) ?? r.name),
            frontend: childName(get(r.props, "frontendIPConfiguration", "id"), "frontendIPConfigurations"),
            pools: [childName(get(r.props, "backendAddressPool", "id"), "backendAddressPools")].filter((x): x is string => !!x),
            frontendPort: String(get(r.props, "frontendPort") ?? `${get(r.props, "frontendPortRangeStart")}-${get(r.props, "frontendPortRangeEnd")}`),
            backendPort: get(r.props, "backendPort"),
        });
    }
    return lbs;
}

function portText(port: unknown): string {
    const p = Number(port);
    if (port === undefined || port === null || p === 0) return "every port (HA ports)";
    return p === 22 ? "port 22 (SSH)" : `port ${p}`;
}

/** The public inbound routes of `lb` that reach a backend through `collection`/`child`. */
function publicRoutes(lb: LoadBalancerInfo, collection: string, child: string | undefined): LbRule[] {
    if (lb.publicFrontends.size === 0) return [];
    const isPublic = (r: LbRule) => r.frontend === undefined || lb.publicFrontends.has(r.frontend) || lb.publicFrontends.has("?");
    const c = collection.toLowerCase();
    return lb.rules.filter(r => isPublic(r) && (child === undefined ||
        (c === "inboundnatrules" && r.kind === "inbound NAT rule" && r.name === child) ||
        (c === "inboundnatpools" && r.kind === "inbound NAT pool" && r.name === child) ||
        (c === "backendaddresspools" && r.pools.includes(child))));
}

/** The address prefixes of a subnet (by ID), from Subnet resources or VirtualNetwork inline subnets of the stack. */
function subnetPrefixes(subnetId: unknown, resources: PolicyResource[]): string[] {
    const m = /\/virtualnetworks\/([^/]+)\/subnets\/([^/]+)$/.exec(normaliseId(subnetId));
    if (!m) return [];
    const [, vnet, subnet] = m;
    const prefixesOf = (o: unknown) => [get(o, "addressPrefix"), ...list(o, "addressPrefixes")].filter((x): x is string => typeof x === "string");
    const out: string[] = [];
    for (const r of resources) {
        if (r.isType(network.Subnet) && (idOf(r) === normaliseId(subnetId) ||
            (lower(str(get(r.props, "subnetName")) ?? str(get(r.props, "name"))) === subnet && lower(get(r.props, "virtualNetworkName")) === vnet))) {
            out.push(...prefixesOf(r.props));
        } else if (r.isType(network.VirtualNetwork) && lower(str(get(r.props, "virtualNetworkName")) ?? str(get(r.props, "name"))) === vnet) {
            list(r.props, "subnets").filter(sn => lower(get(sn, "name")) === subnet).forEach(sn => out.push(...prefixesOf(sn)));
        }
    }
    return out;
}

function inPrefix(ip: string, prefix: string): boolean {
    try {
        const addr = ipaddr.parse(ip);
        const cidr = ipaddr.parseCIDR(prefix);
        return addr.kind() === cidr[0].kind() && addr.match(cidr);
    } catch {
        return false;
    }
}

/**
 * How to tell whether a list of backend addresses (or a DNAT's translated address) names a login node: by its NIC's
 * IP configuration ID or its private IP. While a NIC's private IP is not known (Azure assigns it on `up`), an
 * address inside that NIC's subnet may be it: "maybe", decided on `up`.
 */
function nodeAddresses(node: LoginVm, resources: PolicyResource[]): {
    ips: string[];
    isNode(ip: unknown): boolean | "maybe";
    lists(addrs: unknown[]): boolean | "maybe";
    decide: () => unknown;
} {
    const ipConfigs = node.nics.flatMap(n => list(n.props, "ipConfigurations"));
    const ips = ipConfigs.map(c => str(get(c, "privateIPAddress"))).filter((x): x is string => !!x);
    const pendingPrefixes = ipConfigs.filter(c => !str(get(c, "privateIPAddress"))).flatMap(c => subnetPrefixes(get(c, "subnet", "id"), resources));
    const isNode = (ip: unknown): boolean | "maybe" => {
        const a = str(ip);
        if (!a) return false;
        if (ips.includes(a)) return true;
        return pendingPrefixes.some(p => inPrefix(a, p)) ? "maybe" : false;
    };
    return {
        ips,
        isNode,
        lists: addrs => {
            let maybe = false;
            for (const a of addrs) {
                if (node.nics.some(n => isAtOrBelow(str(get(a, "networkInterfaceIPConfiguration", "id")), idOf(n)))) return true;
                const hit = isNode(get(a, "ipAddress"));
                if (hit === true) return true;
                maybe ||= hit === "maybe";
            }
            return maybe ? "maybe" : false;
        },
        decide: () => undecidedUntilUp(`${node.nics.map(n => label(n)).join(", ")}.ipConfigurations.privateIPAddress`),
    };
}

export const loginNodeNoPublicLoadBalancer: StackValidationPolicy = {
    name: "login-node-no-public-load-balancer",
    description:
        "Checks that no load balancer with a public frontend forwards any port to a login node: through an inbound NAT " +
        "rule (inline or a standalone InboundNatRule), a NAT pool, or a backend pool that a load-balancing rule or " +
        "pool-based NAT rule serves, whether the login node's NIC, inline NIC configuration or scale set joins it or " +
        "a LoadBalancerBackendAddressPool lists the NIC. Any port counts: the login node is reached only through " +
        "Bastion, and a forwarded port 22 exposes sshd as a public IP would.",
    severity: "critical",
    enforcementLevel: "mandatory",
    remediationSteps: "Take the login node out of the public load balancer's pools and NAT rules; use Azure Bastion.",
    configSchema: { properties: { ...loginSchema } },
    validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
        const cfg = withDefaults(DEFAULT_LOGIN_CONFIG, args.getConfig<Partial<LoginConfig>>());
        const nodes = findLoginVms(args.resources, cfg);
        const lbs = loadBalancers(args.resources);
        if (nodes.length === 0 || !lbs.some(l => l.publicFrontends.size > 0)) {
            return args.notApplicable("no login node behind a public load balancer");
        }
        const pools = args.resources.filter(r => r.isType(network.LoadBalancerBackendAddressPool));
        const natRules = args.resources.filter(r => r.isType(network.InboundNatRule));
        const findLb = (ref: string): LoadBalancerInfo | undefined => {
            const p = parseId(ref);
            return lbs.find(l => (l.id && isAtOrBelow(ref, l.id)) || (!l.id && p && p.type === "loadbalancers" && l.name === p.name && (!l.rg || l.rg === p.rg)));
        };
        const undecided: (() => unknown)[] = [];
        for (const node of nodes) {
            const { vm, kind } = node;
            const where = `Login ${kind} ${label(vm)} (login node: ${node.why})`;
            const found: string[] = [];
            const addRoutes = (via: string, lb: LoadBalancerInfo, collection: string, child: string | undefined) => {
                for (const r of publicRoutes(lb, collection, child)) {
                    found.push(`${via}: ${r.kind} ${r.name} of public load balancer ${label(lb.res)} forwards public port ${r.frontendPort} to ${portText(r.backendPort)}`);
                }
            };
            const ipConfigs: { via: string; ipConfig: unknown; owner: PolicyResource }[] = [
                ...inlineIpConfigs(vm).map(c => ({ via: `inline NIC configuration ${c.nicConfig}`, ipConfig: c.ipConfig, owner: vm })),
                ...node.nics.flatMap(nic => list(nic.props, "ipConfigurations").map(c => ({ via: `NIC ${label(nic)}`, ipConfig: c, owner: nic }))),
            ];
            for (const { via, ipConfig } of ipConfigs) {
                for (const collection of ["loadBalancerBackendAddressPools", "loadBalancerInboundNatRules", "loadBalancerInboundNatPools"]) {
                    for (const ref of list(ipConfig, collection)) {
                        const id = get(ref, "id");
                        if (typeof id !== "string") continue;
                        const m = /\/(backendaddresspools|inboundnatrules|inboundnatpools)\/([^/]+)$/.exec(normaliseId(id));
                        const lb = findLb(normaliseId(id));
                        if (lb && m) addRoutes(via, lb, m[1], m[2]);
                    }
                }
            }
            // References unknown during preview: what the NIC or VM's network properties were computed from.
            for (const owner of [vm, ...node.nics]) {
                const deps = [...dependenciesOf(owner, "ipConfigurations"), ...dependenciesOf(owner, "networkProfile"), ...dependenciesOf(owner, "virtualMachineProfile")];
                for (const dep of new Set(deps)) {
                    const lb = lbs.find(l => l.res === dep) ??
                        (natRules.includes(dep) || pools.includes(dep) ? lbs.find(l => dependenciesOf(dep, "loadBalancerName").includes(l.res) ||
                            l.name === lower(get(dep.props, "loadBalancerName"))) : undefined);
                    if (!lb || found.some(f => f.includes(`public load balancer ${label(lb.res)}`))) continue;
                    const child = natRules.includes(dep) ? lower(str(get(dep.props, "inboundNatRuleName")) ?? dep.name) : undefined;
                    const poolName = pools.includes(dep) ? lower(str(get(dep.props, "backendAddressPoolName")) ?? dep.name) : undefined;
                    const via = `${owner === vm ? "its network profile" : `NIC ${label(owner)}`} (computed from ${label(dep)})`;
                    if (child) addRoutes(via, lb, "inboundNatRules", child);
                    else if (poolName) addRoutes(via, lb, "backendAddressPools", poolName);
                    else addRoutes(via, lb, "any", undefined);
                }
            }
            // Backend pools that list the login NIC (or its private IP) themselves: standalone pools and the load
            // balancer's own inline pools.
            const addresses = nodeAddresses(node, args.resources);
            for (const pool of pools) {
                const lb = lbs.find(l => dependenciesOf(pool, "loadBalancerName").includes(l.res) ||
                    (l.name === lower(get(pool.props, "loadBalancerName")) && (!l.rg || !resourceGroupOf(pool) || l.rg === resourceGroupOf(pool))));
                if (!lb) continue;
                const poolName = lower(str(get(pool.props, "backendAddressPoolName")) ?? str(get(pool.props, "name")) ?? pool.name);
                const listed = addresses.lists(list(pool.props, "loadBalancerBackendAddresses")) ||
                    dependenciesOf(pool, "loadBalancerBackendAddresses").some(d => d === vm || node.nics.includes(d));
                if (listed === true) addRoutes(`backend pool ${label(pool)} lists its NIC`, lb, "backendAddressPools", poolName);
                else if (listed === "maybe" && publicRoutes(lb, "backendAddressPools", poolName).length > 0) undecided.push(addresses.decide);
            }
            for (const lb of lbs) {
                for (const pool of lb.addressPools) {
                    const listed = addresses.lists(pool.addresses);
                    if (listed === true) addRoutes(`backend pool ${pool.name} of load balancer ${label(lb.res)} lists its address`, lb, "backendAddressPools", pool.name);
                    else if (listed === "maybe" && publicRoutes(lb, "backendAddressPools", pool.name).length > 0) undecided.push(addresses.decide);
                }
            }
            for (const f of [...new Set(found)]) {
                reportViolation(`${where}: ${f}, which exposes it to the Internet and bypasses Bastion. Fix: remove the login node ` +
                    "from that pool or NAT rule (or use an internal load balancer); reach it through Azure Bastion.", vm.urn);
            }
        }
        undecided.slice(0, 1).forEach(read => read());
        decideOnUp(nodes);
    },
};

// ---------------------------------------------------------------------------------------------------------------
// 2d. No DNAT from a public firewall address to a login node

interface DnatRule {
    /** The Azure Firewall or firewall policy rule collection group resource. */
    res: PolicyResource;
    where: string;
    name: string;
    destinations: string[];
    ports: string;
    translatedAddress: unknown;
    translatedFqdn?: string;
    translatedPort: unknown;
}

/**
 * DNAT rules of the stack: classic NAT rule collections of an AzureFirewall (every one but an explicit Snat) and
 * NAT rule collections of a FirewallPolicyRuleCollectionGroup.
 */
function dnatRules(resources: PolicyResource[]): DnatRule[] {
    const rule = (res: PolicyResource, where: string, r: unknown): DnatRule => ({
        res, where, name: String(get(r, "name") ?? "?"),
        destinations: list(r, "destinationAddresses").map(String),
        ports: list(r, "destinationPorts").map(String).join(",") || "?",
        translatedAddress: known(() => (r as Record<string, unknown>).translatedAddress, UNKNOWN_ADDRESS),
        translatedFqdn: str(get(r, "translatedFqdn")),
        translatedPort: get(r, "translatedPort"),
    });
    const out: DnatRule[] = [];
    for (const res of resources) {
        if (res.isType(network.AzureFirewall)) {
            for (const c of list(res.props, "natRuleCollections").filter(c => lower(get(c, "action", "type")) !== "snat")) {
                out.push(...list(c, "rules").map(r => rule(res, `NAT rule collection ${get(c, "name")} of Azure Firewall ${label(res)}`, r)));
            }
        } else if (res.isType(network.FirewallPolicyRuleCollectionGroup)) {
            for (const c of list(res.props, "ruleCollections").filter(c => lower(get(c, "ruleCollectionType")) === "firewallpolicynatrulecollection")) {
                out.push(...list(c, "rules").filter(r => lower(get(r, "ruleType")) !== "networkrule" && lower(get(r, "ruleType")) !== "applicationrule")
                    .map(r => rule(res, `NAT rule collection ${get(c, "name")} of firewall policy rule collection group ${label(res)}`, r)));
            }
        }
    }
    return out;
}
const UNKNOWN_ADDRESS = "(unknown until up)";

/** Whether a DNAT rule listens on a public address: any destination that is not private (or `*`, or unknown). */
function dnatIsPublic(r: DnatRule): boolean {
    return r.destinations.length === 0 || r.destinations.some(d => {
        try {
            const addr = ipaddr.parse(d.trim());
            return addr.range() === "unicast";
        } catch {
            return true; // "*", a service tag or an unreadable entry: treat as reachable from the Internet
        }
    });
}

export const loginNodeNoPublicDnat: StackValidationPolicy = {
    name: "login-node-no-public-dnat",
    description:
        "Checks that no Azure Firewall NAT rule collection or firewall policy NAT rule collection translates traffic " +
        "to a public firewall address into a login node (by its private IP, or a translated FQDN naming it), on any " +
        "port. A DNAT rule to the login node is a public IP by another name: sshd (or any service) on the Internet, " +
        "Bastion and its Entra sign-in bypassed. DNAT on the firewall's private address (traffic from peered or " +
        "on-premises networks) is not a public route. None of Checkov, Trivy or Azure Policy has this check.",
    severity: "critical",
    enforcementLevel: "mandatory",
    remediationSteps: "Delete the DNAT rule that targets the login node; users reach it through Azure Bastion.",
    configSchema: { properties: { ...loginSchema } },
    validateStack: (args, reportViolation) => {
        const cfg = withDefaults(DEFAULT_LOGIN_CONFIG, args.getConfig<Partial<LoginConfig>>());
        const rules = dnatRules(args.resources).filter(dnatIsPublic);
        const nodes = rules.length > 0 ? findLoginVms(args.resources, cfg) : [];
        if (nodes.length === 0) {
            return args.notApplicable("no public DNAT rule and login node in the stack");
        }
        const undecided: (() => unknown)[] = [];
        for (const node of nodes) {
            const { vm, kind } = node;
            const addresses = nodeAddresses(node, args.resources);
            const names = [str(get(vm.props, "osProfile", "computerName")), str(get(vm.props, "name")), str(get(vm.props, "vmName"))]
                .filter((x): x is string => !!x).map(lower);
            for (const r of rules) {
                const prop = r.res.isType(network.AzureFirewall) ? "natRuleCollections" : "ruleCollections";
                const computedFromNode = dependenciesOf(r.res, prop).some(d => d === vm || node.nics.includes(d));
                const hit = r.translatedAddress === UNKNOWN_ADDRESS ? computedFromNode
                    : r.translatedFqdn && names.includes(lower(r.translatedFqdn.split(".")[0])) ? true
                        : addresses.isNode(r.translatedAddress);
                if (hit === "maybe") {
                    undecided.push(addresses.decide);
                    continue;
                }
                if (!hit) continue;
                const to = r.translatedAddress === UNKNOWN_ADDRESS ? "its private IP (computed from it)" : String(r.translatedFqdn ?? r.translatedAddress);
                reportViolation(
                    `Login ${kind} ${label(vm)} (login node: ${node.why}): DNAT rule ${r.name} in ${r.where} forwards ` +
                    `${r.destinations.join(", ") || "the firewall's address"} port ${r.ports} to ${to} ${portText(r.translatedPort)}, which exposes it to ` +
                    "the Internet and bypasses Bastion. Fix: delete the DNAT rule (or point it at something that is not a login node); " +
                    "reach the login node through Azure Bastion.", r.res.urn);
            }
        }
        undecided.slice(0, 1).forEach(read => read());
    },
};

// ---------------------------------------------------------------------------------------------------------------
// 4. No SSH/RDP from the Internet

export interface ManagementPortsConfig {
    ports: number[];
    maxPublicSourceAddresses: number;
}
const PORTS_DEFAULTS: ManagementPortsConfig = { ports: [22, 3389], maxPublicSourceAddresses: 65536 };
const PORT_NAMES: Record<number, string> = { 22: "SSH", 3389: "RDP" };

/** Whether a destination port spec ("*", "22", "20-30", "22,3389") covers `port`. */
export function portSpecCovers(spec: unknown, port: number): boolean {
    if (typeof spec !== "string" && typeof spec !== "number") {
        return false;
    }
    return String(spec).split(",").some(part => {
        const s = part.trim();
        if (s === "*" || lower(s) === "any") {
            return true;
        }
        const m = /^(\d+)\s*(?:-\s*(\d+))?$/.exec(s);
        if (!m) {
            return false;
        }
        const from = Number(m[1]);
        const to = m[2] === undefined ? from : Number(m[2]);
        return port >= from && port <= to;
    });
}

interface RuleLike {
    name?: string;
    access?: string;
    direction?: string;
    protocol?: string;
    priority?: number;
    sourceAddressPrefix?: string;
    sourceAddressPrefixes?: string[];
    destinationPortRange?: string;
    destinationPortRanges?: string[];
}

/** An inbound Allow rule's management ports and source prefixes, or undefined if it cannot carry SSH/RDP. */
function inboundAllow(rule: RuleLike, ports: number[]): { ports: number[]; sources: string[] } | undefined {
    if (lower(rule.direction) !== "inbound" || lower(rule.access) !== "allow") {
        return undefined;
    }
    // ICMP and IPsec protocols carry no SSH/RDP; Tcp, Udp (RDP also uses UDP 3389), * and Any do.
    if (["icmp", "esp", "ah"].includes(lower(rule.protocol))) {
        return undefined;
    }
    const specs = [rule.destinationPortRange, ...arr(rule.destinationPortRanges)];
    const open = ports.filter(port => specs.some(spec => portSpecCovers(spec, port)));
    const sources = [rule.sourceAddressPrefix, ...arr(rule.sourceAddressPrefixes)].filter((s): s is string => typeof s === "string");
    return open.length > 0 ? { ports: open, sources } : undefined;
}

/** Why a set of source prefixes counts as "the Internet", or undefined. */
function internetReason(sources: string[], max: number): string | undefined {
    const tag = sources.map(internetServiceTag).find(Boolean);
    if (tag) {
        return `${tag} (${lower(tag).startsWith("azurecloud") ? "every Azure public IP, which anyone can rent" : "any address"})`;
    }
    const everything = sources.find(src => src.trim() === "::/0" || publicCoverage([src]).v4 === PUBLIC_IPV4_ADDRESSES);
    if (everything) {
        return `${everything} (any address)`;
    }
    const { v4, wideV6 } = publicCoverage(sources);
    if (wideV6) {
        return `${wideV6} (a global IPv6 range of /32 or wider)`;
    }
    if (v4 > max) {
        const pct = (v4 / 2 ** 32 * 100).toFixed(v4 >= 2 ** 31 ? 0 : 3);
        return `${sources.join(", ")} (together ${v4} public IPv4 addresses, ${pct}% of the address space; more than maxPublicSourceAddresses ${max})`;
    }
    return undefined;
}

function describePorts(ports: number[]): string {
    return ports.map(p => (PORT_NAMES[p] ? `${p} (${PORT_NAMES[p]})` : String(p))).join(", ");
}

const nsgFix = "Fix: delete the rule or restrict its source to a trusted range; reach VMs through Azure Bastion instead.";
const nsgAnchors = "(Checkov CKV_AZURE_10/CKV_AZURE_9, Trivy AVD-AZU-0050/AVD-AZU-0048)";

export const nsgNoManagementPortsFromInternet: ResourceValidationPolicy = {
    name: "nsg-no-ssh-rdp-from-internet",
    description:
        "Checks that no network security rule (inline in a NetworkSecurityGroup or a standalone SecurityRule) allows " +
        "inbound SSH (22) or RDP (3389) from the Internet, judged by address coverage: `*`, Internet, Any, the " +
        "AzureCloud service tag, 0.0.0.0, a global IPv6 /32 or wider, or source prefixes that together admit more " +
        "than maxPublicSourceAddresses public IPv4 addresses (0.0.0.0/1 + 128.0.0.0/1 in one rule or across the " +
        "NSG's rules for the same port). Everything in this design is reached through Bastion. Checkov CKV_AZURE_10 " +
        "and CKV_AZURE_9, Trivy AVD-AZU-0050 and AVD-AZU-0048.",
    severity: "critical",
    enforcementLevel: "advisory",
    remediationSteps: "Remove the rule or narrow sourceAddressPrefix; use Azure Bastion for SSH/RDP.",
    configSchema: {
        properties: {
            ports: {
                type: "array",
                items: { type: "integer", minimum: 1, maximum: 65535 },
                minItems: 1,
                default: PORTS_DEFAULTS.ports,
                description: "Management ports that must not be open to the Internet.",
            },
            maxPublicSourceAddresses: {
                type: "integer",
                minimum: 0,
                default: PORTS_DEFAULTS.maxPublicSourceAddresses,
                description: "Most public IPv4 addresses the allowed sources of one port may add up to (default 65536, a /16).",
            },
        },
    },
    validateResource: [
        validateResourceOfType(network.NetworkSecurityGroup, (nsg, args, reportViolation) => {
            const { ports, maxPublicSourceAddresses } = withDefaults(PORTS_DEFAULTS, args.getConfig<Partial<ManagementPortsConfig>>());
            const rules = arr(nsg.securityRules) as RuleLike[];
            const flaggedPorts = new Set<number>();
            rules.forEach((rule, i) => {
                const allow = inboundAllow(rule, ports);
                const why = allow && internetReason(allow.sources, maxPublicSourceAddresses);
                if (allow && why) {
                    allow.ports.forEach(p => flaggedPorts.add(p));
                    reportViolation(`securityRules[${i}] (${rule.name}) allows inbound ${describePorts(allow.ports)} from ${why}. ${nsgFix} ${nsgAnchors}`);
                }
            });
            // Rules that are each narrow enough but together admit the Internet to the same port.
            for (const port of ports.filter(p => !flaggedPorts.has(p))) {
                const contributing = rules.map(r => ({ r, allow: inboundAllow(r, [port]) })).filter(x => x.allow);
                const why = internetReason(contributing.flatMap(x => x.allow?.sources ?? []), maxPublicSourceAddresses);
                if (contributing.length > 1 && why) {
                    reportViolation(`securityRules ${contributing.map(x => x.r.name).join(", ")} together allow inbound ${describePorts([port])} ` +
                        `from ${why}. ${nsgFix} ${nsgAnchors}`);
                }
            }
        }),
        validateResourceOfType(network.SecurityRule, (rule, args, reportViolation) => {
            const { ports, maxPublicSourceAddresses } = withDefaults(PORTS_DEFAULTS, args.getConfig<Partial<ManagementPortsConfig>>());
            const allow = inboundAllow(rule as RuleLike, ports);
            const why = allow && internetReason(allow.sources, maxPublicSourceAddresses);
            if (allow && why) {
                reportViolation(`Security rule ${args.name} allows inbound ${describePorts(allow.ports)} from ${why}. ${nsgFix} ${nsgAnchors}`);
            }
        }),
    ],
};
