// The architecture view: who reaches what, over which protocol, derived from the plan's resources (not drawn by
// hand). Machines and services come from the resources that make them (the login VM by its `slurm-node-role`
// tag, the CycleCloud VM in its component, Bastion, the NFS share and the locker behind their private endpoints,
// the scheduler and the partitions from the cluster parameters the slurm-cluster Command sends); each machine's
// subnet from its NIC or endpoint; each network path is drawn only if the NSG on the destination's subnet admits
// it (first matching rule by priority, as Azure evaluates them), labelled with that rule. Every Allow rule of a
// private subnet's NSG must be explained by a drawn path (`unexplained` lists the rest). Rendered with the same
// Graphviz (WebAssembly) and monospace font as the dependency graph (diagram.ts).
import * as ipaddr from "ipaddr.js";
import { preambleExports } from "./artefacts";
import { FONT } from "./diagram";
import { PlanResource } from "./model";

export type NodeId = "users" | "admins" | "deployer" | "entra" | "bastion" | "login" | "cyclecloud" | "scheduler" |
    "compute" | "shared" | "locker";

export interface ArchNode {
    id: NodeId;
    label: string;
    /** Name of the subnet it sits in (its NIC's or private endpoint's), if any. */
    subnet?: string;
    /** Plan resources it stands for. */
    resources: string[];
}

export interface ArchEdge {
    from: NodeId;
    to: NodeId;
    /** "SSH 22", "NFS 4.1 (TCP 2049)", ... */
    protocol: string;
    why: string;
    /** "network-login-nsg/AllowSshFromBastion" for a network path; for others, what grants it. */
    admittedBy: string;
    kind: "network" | "azure-api" | "sign-in";
}

export interface ArchitectureView {
    nodes: ArchNode[];
    edges: ArchEdge[];
    subnets: { name: string; prefix: string; nodes: NodeId[] }[];
    /** Allow rules of private subnets' NSGs that no drawn path explains ("nsg/rule: source -> port"). */
    unexplained: string[];
}

// Built-in role definition GUIDs (Microsoft Learn, Azure built-in roles).
const VM_USER_LOGIN = "fb879df8-f326-4884-b1cf-06f3ad86be52";
const VM_ADMIN_LOGIN = "1c0163c0-47e6-4577-8991-ea5c82e286e4";
const CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c";

interface Rule {
    nsg: string;
    name: string;
    priority: number;
    access: string;
    direction: string;
    protocol: string;
    sources: string[];
    ports: string[];
}

interface PathSpec {
    from: NodeId[];
    to: NodeId;
    /** Port (or "a-b" range, or "*") the destination must admit from the source, TCP unless proto says. */
    port: string;
    proto?: "Tcp" | "*";
    protocol: string;
    why: string;
}

/**
 * The paths the system is built for. A path is drawn when both ends exist in the plan and the destination's NSG
 * admits it; the text says what travels over it. (README "Network flows" is the same list in prose.)
 */
const PATHS: PathSpec[] = [
    { from: ["users"], to: "bastion", port: "443", protocol: "HTTPS 443", why: "az network bastion ssh" },
    { from: ["admins"], to: "bastion", port: "443", protocol: "HTTPS 443", why: "ssh; CycleCloud UI tunnel" },
    { from: ["deployer"], to: "bastion", port: "443", protocol: "HTTPS 443", why: "az network bastion tunnel" },
    { from: ["bastion"], to: "login", port: "22", protocol: "SSH 22", why: "Entra ID sign-in" },
    { from: ["bastion"], to: "cyclecloud", port: "22", protocol: "SSH 22", why: "admins, pulumi up" },
    { from: ["bastion"], to: "cyclecloud", port: "443", protocol: "HTTPS 443", why: "CycleCloud UI" },
    { from: ["cyclecloud"], to: "login", port: "22", protocol: "SSH 22", why: "readiness check" },
    { from: ["login"], to: "scheduler", port: "6817", protocol: "Slurm 6817", why: "sbatch, squeue" },
    { from: ["login"], to: "compute", port: "6818", protocol: "Slurm 6818", why: "srun" },
    { from: ["login"], to: "compute", port: "22", protocol: "SSH 22", why: "nodes of your jobs" },
    { from: ["scheduler", "compute"], to: "login", port: "32768-60999", protocol: "TCP 32768-60999", why: "srun call-backs" },
    { from: ["login"], to: "shared", port: "2049", protocol: "NFS 2049", why: "homes, Slurm config" },
    { from: ["scheduler", "compute"], to: "shared", port: "2049", protocol: "NFS 2049", why: "homes; seed" },
    { from: ["cyclecloud"], to: "scheduler", port: "22", protocol: "SSH 22", why: "manage nodes" },
    { from: ["cyclecloud"], to: "compute", port: "22", protocol: "SSH 22", why: "manage nodes" },
    { from: ["scheduler", "compute"], to: "cyclecloud", port: "9443", protocol: "HTTPS 9443", why: "jetpack" },
    { from: ["scheduler", "compute"], to: "cyclecloud", port: "5672", protocol: "AMQP 5672", why: "jetpack" },
    { from: ["cyclecloud"], to: "locker", port: "443", protocol: "HTTPS 443", why: "upload cluster-init" },
    { from: ["scheduler", "compute"], to: "locker", port: "443", protocol: "HTTPS 443", why: "cluster-init" },
    { from: ["scheduler"], to: "compute", port: "*", proto: "*", protocol: "any port", why: "Slurm, /sched" },
    { from: ["compute"], to: "scheduler", port: "*", proto: "*", protocol: "any port", why: "Slurm, /sched" },
    { from: ["compute"], to: "compute", port: "*", proto: "*", protocol: "any port", why: "MPI" },
];

function get(o: unknown, path: (string | number)[]): unknown {
    let v = o;
    for (const p of path) v = v && typeof v === "object" ? (v as Record<string | number, unknown>)[p] : undefined;
    return v;
}

function str(v: unknown): string | undefined {
    return typeof v === "string" ? v : undefined;
}

function listOf(single: unknown, many: unknown): string[] {
    if (Array.isArray(many) && many.length > 0) return many.map(String);
    return single === undefined ? [] : [String(single)];
}

function portCovers(rulePort: string, want: string): boolean {
    if (rulePort === "*") return true;
    if (want === "*") return false;
    const range = (p: string): [number, number] => {
        const [a, b] = p.split("-").map(Number);
        return [a, b ?? a];
    };
    const [ra, rb] = range(rulePort), [wa, wb] = range(want);
    return ra <= wa && wb <= rb;
}

/** Whether a rule's source (prefix or service tag) covers `source` (a subnet prefix or "Internet"). */
function sourceCovers(ruleSource: string, source: string, vnetPrefixes: string[]): boolean {
    if (ruleSource === "*" || ruleSource === source) return true;
    if (source === "Internet") return ruleSource.toLowerCase() === "internet";
    if (ruleSource === "VirtualNetwork") return vnetPrefixes.some(v => cidrContains(v, source));
    return cidrContains(ruleSource, source);
}

function cidrContains(outer: string, inner: string): boolean {
    try {
        const [oa, ob] = ipaddr.parseCIDR(outer.includes("/") ? outer : `${outer}/32`);
        const [ia, ib] = ipaddr.parseCIDR(inner.includes("/") ? inner : `${inner}/32`);
        return oa.kind() === ia.kind() && ib >= ob && ia.match([oa, ob] as never);
    } catch {
        return false;
    }
}

export function architectureView(resources: PlanResource[]): ArchitectureView {
    const byUrn = new Map(resources.map(r => [r.urn, r]));
    const ofType = (t: string) => resources.filter(r => r.type === t);
    const componentType = (r: PlanResource): string | undefined => {
        for (let p = r.parent ? byUrn.get(r.parent) : undefined; p; p = p.parent ? byUrn.get(p.parent) : undefined) {
            if (!p.custom) return p.type;
        }
        return undefined;
    };
    const deps = (r: PlanResource, prop: string) => (r.propertyDependencies[prop] ?? []).map(u => byUrn.get(u)).filter((x): x is PlanResource => !!x);

    // Subnets and the NSG on each.
    // Sorted wherever registration order shows through: it varies with timing, the picture must not.
    const byName = (x: PlanResource, y: PlanResource) => x.name.localeCompare(y.name);
    const subnets = ofType("azure-native:network:Subnet").sort(byName).map(s => ({
        resource: s,
        name: str(s.inputs.subnetName) ?? s.name,
        prefix: str(s.inputs.addressPrefix) ?? "",
        nsg: deps(s, "networkSecurityGroup").find(n => n.type === "azure-native:network:NetworkSecurityGroup"),
    }));
    const subnetOfResource = (r: PlanResource | undefined, prop: string) =>
        r ? subnets.find(s => deps(r, prop).some(d => d.urn === s.resource.urn)) : undefined;
    const vnetPrefixes = ofType("azure-native:network:VirtualNetwork").flatMap(v => (get(v.inputs, ["addressSpace", "addressPrefixes"]) as string[] | undefined) ?? []);

    const nodes: ArchNode[] = [];
    const subnetOf = new Map<NodeId, string>();
    const add = (n: ArchNode) => {
        nodes.push(n);
        if (n.subnet) subnetOf.set(n.id, n.subnet);
    };

    // People: the principals the login roles go to.
    const logins = ofType("azure-native:authorization:RoleAssignment");
    const principals = (guid: string) => {
        const got = logins.filter(r => str(r.inputs.roleDefinitionId)?.toLowerCase().endsWith(guid));
        const count = (t: string) => new Set(got.filter(r => r.inputs.principalType === t).map(r => String(r.inputs.principalId))).size;
        return { resources: got.map(r => r.name), users: count("User"), groups: count("Group") };
    };
    const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
    const u = principals(VM_USER_LOGIN), a = principals(VM_ADMIN_LOGIN);
    const caPolicy = resources.find(r => r.type === "azuread:index/conditionalAccessPolicy:ConditionalAccessPolicy");
    add({ id: "users", resources: u.resources, label: `Users (Entra ID)\nVirtual Machine User Login:\n${plural(u.users, "user")}, ${plural(u.groups, "group")} (and their members)` });
    add({ id: "admins", resources: a.resources, label: `Admins (Entra ID)\nVirtual Machine Administrator Login:\n${plural(a.users, "user")}, ${plural(a.groups, "group")}; sudo on the login node` });
    add({ id: "deployer", resources: [], label: "Deployer\npulumi up (az signed in)" });
    add({
        id: "entra", resources: caPolicy ? [caPolicy.name] : [],
        label: `Microsoft Entra ID\ntoken for the VM sign-in app\n${caPolicy ? "MFA: Conditional Access policy of this stack" : "MFA: the tenant's Conditional Access"}`,
    });

    const bastion = ofType("azure-native:network:BastionHost").sort(byName)[0];
    if (bastion) {
        add({
            id: "bastion", resources: [bastion.name], subnet: subnetOfResource(bastion, "ipConfigurations")?.name,
            label: `Azure Bastion ${str(bastion.inputs.bastionHostName) ?? bastion.name}\n${str(get(bastion.inputs, ["sku", "name"])) ?? "?"} SKU, ` +
                `native client ${bastion.inputs.enableTunneling === true ? "on" : "OFF"}, public IP`,
        });
    }
    const vmNode = (vm: PlanResource, id: NodeId, title: string, extra: string) => {
        const nic = deps(vm, "networkProfile").find(n => n.type === "azure-native:network:NetworkInterface");
        const publicIp = (get(nic?.inputs, ["ipConfigurations"]) as unknown[] | undefined)?.some(c => get(c, ["publicIPAddress"]) !== undefined);
        add({
            id, resources: [vm.name, ...(nic ? [nic.name] : [])], subnet: subnetOfResource(nic, "ipConfigurations")?.name,
            label: `${title} ${str(vm.inputs.vmName) ?? vm.name}\n${str(get(vm.inputs, ["hardwareProfile", "vmSize"])) ?? "?"}, ` +
                `${publicIp ? "PUBLIC IP" : "no public IP"}${extra ? `\n${extra}` : ""}`,
        });
    };
    const vms = ofType("azure-native:compute:VirtualMachine").sort(byName);
    const loginVm = vms.find(v => Object.entries((v.inputs.tags ?? {}) as Record<string, unknown>)
        .some(([k, val]) => k.toLowerCase() === "slurm-node-role" && String(val).toLowerCase() === "login"));
    if (loginVm) {
        const aad = resources.some(r => r.type === "azure-native:compute:VirtualMachineExtension" && r.inputs.type === "AADSSHLoginForLinux");
        vmNode(loginVm, "login", "Login node", `${aad ? "AADSSHLoginForLinux, " : ""}Slurm client, munge`);
    }
    const ccVm = vms.find(v => componentType(v)?.endsWith(":cyclecloud:CycleCloudServer"));
    if (ccVm) vmNode(ccVm, "cyclecloud", "CycleCloud 8", "creates, starts and scales the cluster");

    // Scheduler and compute nodes: CycleCloud creates them; the plan knows them from the cluster parameters.
    const params = clusterParameters(resources);
    if (params) {
        const subnet = str(params.SubnetId)?.split("/").pop();
        const clusterCmd = resources.find(r => r.name === params.from)!;
        add({
            id: "scheduler", resources: [clusterCmd.name], subnet,
            label: `Slurm scheduler (CycleCloud creates it)\n${str(params.SchedulerMachineType) ?? "?"}, slurmctld ${str(params.configuration_slurm_version) ?? ""}`.trimEnd(),
        });
        const partitions = Object.keys(params).map(k => /^Max(\w+?)ExecuteNodeCount$/.exec(k)?.[1]).filter((p): p is string => !!p)
            .map(p => `${p.toLowerCase()}: 0-${String(params[`Max${p}ExecuteNodeCount`])} x ${str(params[`${p}MachineType`]) ?? "?"}`);
        add({
            id: "compute", resources: [clusterCmd.name], subnet,
            label: `Compute nodes (autoscaled by CycleCloud)\n${partitions.join("\n") || "partitions: see the cluster parameters"}`,
        });
    }

    // Storage behind private endpoints: /shared (file) and the CycleCloud locker (blob).
    for (const pe of ofType("azure-native:network:PrivateEndpoint").sort(byName)) {
        const group = str(get(pe.inputs, ["privateLinkServiceConnections", 0, "groupIds", 0]));
        const account = deps(pe, "privateLinkServiceConnections").find(d => d.type === "azure-native:storage:StorageAccount");
        const subnet = subnetOfResource(pe, "subnet")?.name;
        if (!account) continue;
        if (group === "file") {
            const share = resources.find(r => r.type === "azure-native:storage:FileShare" && r.propertyDependencies.accountName?.includes(account.urn));
            add({
                id: "shared", resources: [account.name, pe.name, ...(share ? [share.name] : [])], subnet,
                label: `/shared: Azure Files ${str(share?.inputs.enabledProtocols) ?? ""} share "${str(share?.inputs.shareName) ?? "?"}"\n` +
                    `${String(share?.inputs.shareQuota ?? "?")} GiB, ${str(get(account.inputs, ["sku", "name"])) ?? "?"}, ` +
                    `public access ${str(account.inputs.publicNetworkAccess) ?? "?"}\nprivate endpoint in subnet ${subnet ?? "?"}; homes in /shared/home`,
            });
        } else if (group === "blob") {
            add({
                id: "locker", resources: [account.name, pe.name], subnet,
                label: `CycleCloud locker (blob) ${str(account.inputs.accountName) ?? account.name}\nprivate endpoint in subnet ${subnet ?? "?"}`,
            });
        }
    }

    // Network paths, each admitted by the NSG of the destination's subnet.
    const has = new Set(nodes.map(n => n.id));
    const edges: ArchEdge[] = [];
    const rulesOf = (nsg: PlanResource): Rule[] => ((nsg.inputs.securityRules ?? []) as Record<string, unknown>[]).map(r => ({
        nsg: nsg.name,
        name: String(r.name),
        priority: Number(r.priority),
        access: String(r.access),
        direction: String(r.direction),
        protocol: String(r.protocol ?? "*"),
        sources: listOf(r.sourceAddressPrefix, r.sourceAddressPrefixes),
        ports: listOf(r.destinationPortRange, r.destinationPortRanges),
    })).sort((x, y) => x.priority - y.priority);
    const used = new Set<string>();
    const sourcePrefix = (id: NodeId): string | undefined =>
        ["users", "admins", "deployer"].includes(id) ? "Internet" : subnets.find(s => s.name === subnetOf.get(id))?.prefix;
    const admits = (to: NodeId, source: string, port: string, proto: string): Rule | undefined => {
        const s = subnets.find(x => x.name === subnetOf.get(to));
        if (!s?.nsg) return undefined;
        // Azure: the first matching rule by priority decides (its default rules come after 4096 and deny the Internet).
        const first = rulesOf(s.nsg).find(r => r.direction === "Inbound" && (r.protocol === "*" || r.protocol === proto || proto === "*" && r.protocol === "*") &&
            r.ports.some(p => portCovers(p, port)) && r.sources.some(src => sourceCovers(src, source, vnetPrefixes)));
        return first?.access === "Allow" ? first : undefined;
    };
    // The deployer goes through the Bastion tunnel unless an NSG admits SSH from an address outside the VNet's subnets.
    const direct = subnets.flatMap(s => (s.nsg ? rulesOf(s.nsg).map(r => ({ s, r })) : []))
        .find(({ r }) => r.access === "Allow" && r.direction === "Inbound" && r.ports.some(p => portCovers(p, "22")) &&
            r.sources.every(src => !subnets.some(x => x.prefix === src) && !["*", "Internet", "VirtualNetwork", "AzureLoadBalancer", "GatewayManager"].includes(src)));
    for (const p of PATHS) {
        if (!has.has(p.to)) continue;
        if (p.from.includes("deployer") && direct) continue;
        for (const from of p.from) {
            if (!has.has(from)) continue;
            const src = sourcePrefix(from);
            if (!src) continue;
            const rule = admits(p.to, src, p.port, p.proto ?? "Tcp");
            if (!rule) continue;
            used.add(`${rule.nsg}/${rule.name}`);
            edges.push({ from, to: p.to, protocol: p.protocol, why: p.why, admittedBy: `${rule.nsg}/${rule.name}`, kind: "network" });
        }
    }
    if (direct) {
        const src = direct.r.sources.join(", ");
        const to = nodes.filter(n => n.subnet === direct.s.name && ["cyclecloud", "scheduler"].includes(n.id));
        for (const n of to) {
            const rule = admits(n.id, direct.r.sources[0], "22", "Tcp");
            if (!rule) continue;
            used.add(`${rule.nsg}/${rule.name}`);
            edges.push({ from: "deployer", to: n.id, protocol: "SSH 22", why: `from ${src}`, admittedBy: `${rule.nsg}/${rule.name}`, kind: "network" });
        }
    }

    // Sign-in and Azure API paths (granted by role assignments, not by NSGs).
    if (u.resources.length > 0) edges.push({ from: "users", to: "entra", protocol: "HTTPS", why: "az login + MFA", admittedBy: "Entra ID", kind: "sign-in" });
    if (a.resources.length > 0) edges.push({ from: "admins", to: "entra", protocol: "HTTPS", why: "az login + MFA", admittedBy: "Entra ID", kind: "sign-in" });
    const clusterRgRole = logins.find(r => str(r.inputs.roleDefinitionId)?.toLowerCase().endsWith(CONTRIBUTOR) && ccVm &&
        (r.propertyDependencies.principalId ?? []).includes(ccVm.urn));
    if (clusterRgRole && has.has("scheduler")) {
        for (const to of ["scheduler", "compute"] as NodeId[]) {
            edges.push({ from: "cyclecloud", to, protocol: "Azure API", why: "creates the VMs", admittedBy: clusterRgRole.name, kind: "azure-api" });
        }
    }

    // Allow rules of the private subnets (those with a machine in them, not Bastion's own) that no path explains.
    const unexplained: string[] = [];
    for (const s of subnets) {
        if (!s.nsg || s.name === "AzureBastionSubnet") continue;
        for (const r of rulesOf(s.nsg)) {
            if (r.access !== "Allow" || r.direction !== "Inbound" || used.has(`${r.nsg}/${r.name}`)) continue;
            unexplained.push(`${r.nsg}/${r.name}: ${r.sources.join(",")} -> ${r.protocol} ${r.ports.join(",")}`);
        }
    }
    return {
        nodes,
        edges,
        subnets: subnets.map(s => ({ name: s.name, prefix: s.prefix, nodes: nodes.filter(n => n.subnet === s.name).map(n => n.id) })),
        unexplained,
    };
}

/** The cluster parameters the slurm-cluster Command sends (CC_CLUSTER_PARAMS in its stdin), with that Command's name. */
function clusterParameters(resources: PlanResource[]): (Record<string, unknown> & { from: string }) | undefined {
    for (const r of resources) {
        if (r.type !== "command:remote:Command" || typeof r.inputs.stdin !== "string") continue;
        const e = preambleExports(r.inputs.stdin).find(x => x.name === "CC_CLUSTER_PARAMS");
        if (!e) continue;
        try {
            return { ...(JSON.parse(e.value) as Record<string, unknown>), from: r.name };
        } catch {
            return undefined;
        }
    }
    return undefined;
}

function q(s: string): string {
    return `"${s.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")}"`;
}

const STYLE: Record<NodeId, string> = {
    users: "shape=box, style=\"rounded,filled\", fillcolor=\"#fef9c3\"",
    admins: "shape=box, style=\"rounded,filled\", fillcolor=\"#fef9c3\"",
    deployer: "shape=box, style=\"rounded,filled\", fillcolor=\"#fef9c3\"",
    entra: "shape=box, style=\"rounded,filled\", fillcolor=\"#f3e8ff\"",
    bastion: "shape=box, style=\"rounded,filled\", fillcolor=\"#dbeafe\"",
    login: "shape=box, style=\"rounded,filled\", fillcolor=\"#dcfce7\"",
    cyclecloud: "shape=box, style=\"rounded,filled\", fillcolor=\"#dcfce7\"",
    scheduler: "shape=box, style=\"rounded,filled\", fillcolor=\"#ffedd5\"",
    compute: "shape=box3d, style=\"filled\", fillcolor=\"#ffedd5\"",
    shared: "shape=cylinder, style=\"filled\", fillcolor=\"#e0f2fe\"",
    locker: "shape=cylinder, style=\"filled\", fillcolor=\"#e0f2fe\"",
};

/** DOT of the view: people on the left, the VNet's subnets as boxes, storage on the right. */
export function architectureDot(view: ArchitectureView, title?: string): string {
    const lines = [
        "digraph architecture {",
        `  graph [rankdir=TB, fontname="${FONT}", fontsize=12, nodesep=0.5, ranksep=0.7, pad=0.25, compound=true, newrank=true` +
        (title ? `, label=${q(title)}, labelloc=t` : "") + "];",
        `  node [fontname="${FONT}", fontsize=10, margin="0.15,0.08"];`,
        `  edge [fontname="${FONT}", fontsize=9, color="#475569", arrowsize=0.7];`,
    ];
    const node = (n: ArchNode, indent: string) => lines.push(`${indent}${n.id} [label=${q(n.label)}, ${STYLE[n.id]}];`);
    const byId = new Map(view.nodes.map(n => [n.id, n]));
    const people = (["users", "admins", "deployer"] as NodeId[]).filter(id => byId.has(id));
    lines.push("  subgraph cluster_people {", "    label=\"People\"; style=\"rounded,dashed\"; color=\"#a16207\"; fontsize=11;");
    people.forEach(id => node(byId.get(id)!, "    "));
    lines.push("  }");
    if (byId.has("entra")) node(byId.get("entra")!, "  ");
    const inVnet = new Set<NodeId>();
    lines.push("  subgraph cluster_vnet {", "    label=\"Virtual network (NSG on every subnet: only the paths drawn here)\"; style=\"rounded\"; color=\"#2563eb\"; fontsize=11;");
    // Subnets in the order people meet them (Bastion, CycleCloud, login, cluster): Graphviz lays out clusters in
    // the order they come, and this one keeps the labels apart.
    const ORDER: NodeId[] = ["bastion", "cyclecloud", "login", "scheduler", "compute"];
    const rank = (nodes: NodeId[]) => Math.min(...nodes.map(id => (ORDER.indexOf(id) + 1) || ORDER.length + 1));
    view.subnets.map((s, i) => ({ s, i })).sort((x, y) => rank(x.s.nodes) - rank(y.s.nodes) || x.i - y.i).forEach(({ s, i }) => {
        // Storage is drawn outside the VNet (its private endpoint is what sits in the subnet).
        const here = s.nodes.filter(id => id !== "shared" && id !== "locker");
        if (here.length === 0) return;
        lines.push(`    subgraph cluster_subnet_${i} {`, `      label=${q(`subnet ${s.name} ${s.prefix}`)}; style="rounded,dashed"; color="#60a5fa"; fontsize=10;`);
        here.forEach(id => { node(byId.get(id)!, "      "); inVnet.add(id); });
        lines.push("    }");
    });
    lines.push("  }");
    for (const n of view.nodes) if (!inVnet.has(n.id) && !people.includes(n.id) && n.id !== "entra") node(n, "  ");
    // Rows: people, Bastion, the servers users and admins reach, the cluster, storage.
    const row = (ids: NodeId[]) => {
        const here = ids.filter(id => byId.has(id));
        if (here.length > 1) lines.push(`  { rank=same; ${here.join("; ")}; }`);
    };
    row(["users", "admins", "deployer"]);
    row(["login", "cyclecloud"]);
    row(["bastion", "entra"]);
    row(["shared", "locker"]);

    // One arrow per (from, to, kind), its label listing every protocol on it; arrows that leave (or reach) every
    // machine of a subnet alike are drawn once, from (to) the subnet's box; a pair with the same label both ways
    // is one arrow with two heads.
    const merged = new Map<string, ArchEdge[]>();
    for (const e of view.edges) {
        const key = `${e.from}->${e.to}:${e.kind}`;
        merged.set(key, [...(merged.get(key) ?? []), e]);
    }
    interface Arrow { from: NodeId[]; to: NodeId[]; kind: ArchEdge["kind"]; label: string; both?: boolean }
    let arrows: Arrow[] = [...merged.values()].map(list => ({
        from: [list[0].from], to: [list[0].to], kind: list[0].kind, label: list.map(x => `${x.protocol} (${x.why})`).join("\n"),
    }));
    const subnetIndex = new Map<NodeId, number>();
    const subnetNodes: NodeId[][] = [];
    view.subnets.forEach((s, i) => {
        const here = s.nodes.filter(id => id !== "shared" && id !== "locker");
        subnetNodes[i] = here;
        here.forEach(id => subnetIndex.set(id, i));
    });
    const fold = (side: "from" | "to") => {
        const other = side === "from" ? "to" : "from";
        const out: Arrow[] = [];
        const groups = new Map<string, Arrow[]>();
        for (const a of arrows) {
            const key = `${a[other].join(",")}|${a.kind}|${a.label}|${subnetIndex.get(a[side][0]) ?? "-"}`;
            groups.set(key, [...(groups.get(key) ?? []), a]);
        }
        for (const g of groups.values()) {
            const ids = g.flatMap(a => a[side]);
            const i = subnetIndex.get(ids[0]);
            const whole = i !== undefined && subnetNodes[i].length > 1 && subnetNodes[i].every(id => ids.includes(id)) &&
                !g.some(a => a[other].some(id => subnetIndex.get(id) === i));
            if (whole) out.push({ ...g[0], [side]: subnetNodes[i!] });
            else out.push(...g);
        }
        arrows = out;
    };
    fold("from");
    fold("to");
    const final: Arrow[] = [];
    for (const a of arrows) {
        const back = final.find(b => b.from.join() === a.to.join() && b.to.join() === a.from.join() && b.kind === a.kind && b.label === a.label);
        if (back) back.both = true;
        else final.push(a);
    }
    for (const a of final) {
        const style = a.kind === "azure-api" ? ", style=dashed, color=\"#7c3aed\", fontcolor=\"#5b21b6\"" :
            a.kind === "sign-in" ? ", style=dotted, color=\"#7c3aed\", fontcolor=\"#5b21b6\"" : "";
        const tail = a.from.length > 1 ? `, ltail=cluster_subnet_${subnetIndex.get(a.from[0])}` : "";
        const head = a.to.length > 1 ? `, lhead=cluster_subnet_${subnetIndex.get(a.to[0])}` : "";
        lines.push(`  ${a.from[0]} -> ${a.to[0]} [label=${q(a.label)}${style}${tail}${head}${a.both ? ", dir=both" : ""}];`);
    }
    lines.push(`  legend [shape=note, style=filled, fillcolor="#ffffff", fontsize=9, label=${q(
        "Solid: network path an NSG admits (TCP port).\n" +
        "Dotted: Entra ID sign-in. Dashed: Azure API (roles).\n" +
        "Generated from the plan (npm run docs).\n").replace(/\\n/g, "\\l")}];`);
    lines.push("}");
    return lines.join("\n") + "\n";
}
