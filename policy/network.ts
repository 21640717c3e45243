// Network policies: Bastion native-client tunneling, no public IP on login nodes, no SSH/RDP from the Internet.
import { ResourceValidationPolicy, StackValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import { LoginTagConfig, arr, hasLoginTag, idOf, known, loginTagSchema, lower, DEFAULT_LOGIN_TAG, withDefaults } from "./common";
import { findLoginVms, isAtOrBelow, label, validateStackAround } from "./graph";

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

const LOGIN_DEFAULTS: LoginTagConfig = { loginTagName: DEFAULT_LOGIN_TAG.name, loginTagValue: DEFAULT_LOGIN_TAG.value };
const noPublicIpFix = "Users reach the login node through Azure Bastion (`az network bastion ssh --auth-type AAD`), so it needs none.";

export const loginVmNoPublicIp: ResourceValidationPolicy = {
    name: "login-vm-no-public-ip",
    description:
        "Checks that a login VM (identified by the login tag) gets no public IP from an inline network interface " +
        "configuration, and that a NIC carrying the login tag has no public IP on any IP configuration. A login " +
        "node with a public IP exposes sshd to the Internet and lets users bypass Bastion and Entra ID sign-in.",
    severity: "critical",
    enforcementLevel: "mandatory",
    remediationSteps: "Remove publicIPAddress / publicIPAddressConfiguration from the login node's network configuration.",
    configSchema: { properties: { ...loginTagSchema } },
    validateResource: [
        validateResourceOfType(compute.VirtualMachine, (vm, args, reportViolation) => {
            const cfg = withDefaults(LOGIN_DEFAULTS, args.getConfig<Partial<LoginTagConfig>>());
            if (!hasLoginTag(vm.tags, cfg)) {
                return args.notApplicable(`not a login VM (no tag ${cfg.loginTagName}=${cfg.loginTagValue})`);
            }
            arr(vm.networkProfile?.networkInterfaceConfigurations).forEach((nicConfig, i) => {
                arr(nicConfig.ipConfigurations).forEach((ipConfig, j) => {
                    if (ipConfig.publicIPAddressConfiguration) {
                        reportViolation(
                            `networkProfile.networkInterfaceConfigurations[${i}] (${nicConfig.name}) ipConfigurations[${j}] ` +
                            `(${ipConfig.name}) creates a public IP for the login VM. Fix: remove publicIPAddressConfiguration. ${noPublicIpFix}`);
                    }
                });
            });
        }),
        validateResourceOfType(network.NetworkInterface, (nic, args, reportViolation) => {
            const cfg = withDefaults(LOGIN_DEFAULTS, args.getConfig<Partial<LoginTagConfig>>());
            if (!hasLoginTag(nic.tags, cfg)) {
                return args.notApplicable(`not a login node NIC (no tag ${cfg.loginTagName}=${cfg.loginTagValue})`);
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

export const loginVmNicNoPublicIp: StackValidationPolicy = {
    name: "login-vm-nic-no-public-ip",
    description:
        "Checks that no NIC used by a login VM has a public IP and that no PublicIPAddress in the stack is " +
        "associated with such a NIC, whether or not the NIC carries the login tag: catches the public IPs that the " +
        "per-resource check cannot link to a login VM, which would expose sshd and bypass Bastion.",
    severity: "critical",
    enforcementLevel: "mandatory",
    remediationSteps: "Remove the public IP from the login VM's NIC (or delete the PublicIPAddress associated with it).",
    configSchema: { properties: { ...loginTagSchema } },
    validateStack: validateStackAround(compute.VirtualMachine, (_vms, args, reportViolation) => {
        const cfg = withDefaults(LOGIN_DEFAULTS, args.getConfig<Partial<LoginTagConfig>>());
        const pips = args.resources.filter(r => r.isType(network.PublicIPAddress));
        const reported = new Set<string>();
        for (const { vm, nics } of findLoginVms(args.resources, cfg)) {
            for (const nic of nics) {
                const nicId = idOf(nic);
                // PublicIPAddress resources in the stack that this NIC references or that point back at it.
                const linked = new Set(nic.propertyDependencies?.ipConfigurations ?? []);
                const pipsOfNic = pips.filter(pip => linked.has(pip) ||
                    isAtOrBelow(known(() => pip.props.ipConfiguration?.id as string | undefined), nicId));
                const inline = known(() => arr(nic.props.ipConfigurations).some(c => known(() => !!(c as { publicIPAddress?: unknown } | undefined)?.publicIPAddress, false)), false);
                if (inline && !reported.has(nic.urn)) {
                    reported.add(nic.urn);
                    const names = pipsOfNic.map(label).join(", ");
                    reportViolation(
                        `NIC ${label(nic)} of login VM ${label(vm)} has a public IP${names ? ` (${names})` : ""}. ` +
                        `Fix: remove publicIPAddress from its ipConfigurations. ${noPublicIpFix}`, nic.urn);
                    pipsOfNic.forEach(p => reported.add(p.urn));
                }
                for (const pip of pipsOfNic) {
                    if (!reported.has(pip.urn)) {
                        reported.add(pip.urn);
                        reportViolation(
                            `Public IP ${label(pip)} is associated with NIC ${label(nic)} of login VM ${label(vm)}. ` +
                            `Fix: dissociate and delete it. ${noPublicIpFix}`, pip.urn);
                    }
                }
            }
        }
    }),
};

// ---------------------------------------------------------------------------------------------------------------
// 4. No SSH/RDP from the Internet

export interface ManagementPortsConfig {
    ports: number[];
}
const PORTS_DEFAULTS: ManagementPortsConfig = { ports: [22, 3389] };
const PORT_NAMES: Record<number, string> = { 22: "SSH", 3389: "RDP" };

/** Source prefixes that mean "anyone on the Internet" to Checkov and Trivy. */
function isInternetSource(prefix: unknown): boolean {
    const p = lower(prefix).trim();
    return p === "*" || p === "internet" || p === "any" || p === "0.0.0.0" || p === "::" || p.endsWith("/0");
}

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
    sourceAddressPrefix?: string;
    sourceAddressPrefixes?: string[];
    destinationPortRange?: string;
    destinationPortRanges?: string[];
}

/** The management ports a rule opens to the Internet, with the offending source, or [] if none. */
function exposedPorts(rule: RuleLike, ports: number[]): { ports: number[]; source: string } {
    const none = { ports: [], source: "" };
    if (lower(rule.direction) !== "inbound" || lower(rule.access) !== "allow") {
        return none;
    }
    // ICMP and IPsec protocols carry no SSH/RDP; Tcp, Udp (RDP also uses UDP 3389), * and Any do.
    if (["icmp", "esp", "ah"].includes(lower(rule.protocol))) {
        return none;
    }
    const sources = [rule.sourceAddressPrefix, ...arr(rule.sourceAddressPrefixes)].filter(s => s !== undefined && s !== null);
    const source = sources.find(isInternetSource);
    if (source === undefined) {
        return none;
    }
    const specs = [rule.destinationPortRange, ...arr(rule.destinationPortRanges)];
    const open = ports.filter(port => specs.some(spec => portSpecCovers(spec, port)));
    return { ports: open, source: String(source) };
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
        "inbound SSH (22) or RDP (3389) from the Internet (`*`, Internet, Any, 0.0.0.0 or a /0 prefix), including " +
        "port ranges and port lists. Everything in this design is reached through Bastion; an open management port " +
        "is brute-forced within minutes. Checkov CKV_AZURE_10 and CKV_AZURE_9, Trivy AVD-AZU-0050 and AVD-AZU-0048.",
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
        },
    },
    validateResource: [
        validateResourceOfType(network.NetworkSecurityGroup, (nsg, args, reportViolation) => {
            const { ports } = withDefaults(PORTS_DEFAULTS, args.getConfig<Partial<ManagementPortsConfig>>());
            arr(nsg.securityRules).forEach((rule, i) => {
                const exposed = exposedPorts(rule as RuleLike, ports);
                if (exposed.ports.length > 0) {
                    reportViolation(
                        `securityRules[${i}] (${rule.name}) allows inbound ${describePorts(exposed.ports)} from ` +
                        `${exposed.source}. ${nsgFix} ${nsgAnchors}`);
                }
            });
        }),
        validateResourceOfType(network.SecurityRule, (rule, args, reportViolation) => {
            const { ports } = withDefaults(PORTS_DEFAULTS, args.getConfig<Partial<ManagementPortsConfig>>());
            const exposed = exposedPorts(rule as RuleLike, ports);
            if (exposed.ports.length > 0) {
                reportViolation(
                    `Security rule ${args.name} allows inbound ${describePorts(exposed.ports)} from ` +
                    `${exposed.source}. ${nsgFix} ${nsgAnchors}`);
            }
        }),
    ],
};
