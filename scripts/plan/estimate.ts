// Deployment-time estimate: typical provisioning time per resource type, and the longest (critical) path
// through the dependency graph, which is what bounds `pulumi up` (the engine creates independent resources
// in parallel). Components take no time of their own.
import { PlanModel, PlanResource } from "./model";

export interface Duration {
    /** Typical seconds from create request to "succeeded". */
    seconds: number;
    /** Where the figure comes from; "estimate" when it is this project's judgement, not a published figure. */
    source: string;
    /** Named parts of `seconds` worth showing on their own (the readiness check's optional test job). */
    parts?: { label: string; seconds: number }[];
}

const EST = "estimate";

/** Typical create times by type token. */
export const TYPICAL_DURATIONS: Record<string, Duration> = {
    "azure-native:resources:ResourceGroup": { seconds: 3, source: EST },
    "azure-native:network:VirtualNetwork": { seconds: 10, source: EST },
    "azure-native:network:NetworkSecurityGroup": { seconds: 10, source: EST },
    "azure-native:network:PublicIPAddress": { seconds: 5, source: EST },
    "azure-native:network:NatGateway": { seconds: 20, source: EST },
    "azure-native:network:Subnet": { seconds: 10, source: EST },
    "azure-native:network:BastionHost": {
        seconds: 600,
        source: "Microsoft Learn, Deploy Bastion using Azure CLI (azure-docs articles/bastion/create-host-cli.md): " +
            "\"It takes about 10 minutes for the Bastion resource to create and deploy.\"",
    },
    "azure-native:network:NetworkInterface": { seconds: 5, source: EST },
    "azure-native:network:PrivateEndpoint": { seconds: 60, source: EST },
    "azure-native:network:PrivateDnsZoneGroup": { seconds: 15, source: EST },
    "azure-native:privatedns:PrivateZone": { seconds: 45, source: EST },
    "azure-native:privatedns:VirtualNetworkLink": { seconds: 45, source: EST },
    "azure-native:storage:StorageAccount": { seconds: 30, source: EST },
    "azure-native:storage:FileShare": { seconds: 5, source: EST },
    "azure-native:compute:VirtualMachine": { seconds: 120, source: `${EST} (until the VM agent reports ready; cloud-init continues after)` },
    "azure-native:compute:VirtualMachineExtension": { seconds: 90, source: EST },
    "azure-native:compute:VirtualMachineRunCommandByVirtualMachine": { seconds: 60, source: `${EST} (the VM agent runs a one-line script)` },
    "azure-native:authorization:RoleAssignment": { seconds: 5, source: EST },
    "azure-native:authorization:RoleDefinition": { seconds: 10, source: EST },
    "azure-native:storage:BlobContainer": { seconds: 5, source: EST },
    "azure-native:managedidentity:UserAssignedIdentity": { seconds: 5, source: EST },
    "azure-native:marketplaceordering:MarketplaceAgreement": { seconds: 5, source: EST },
    "azuread:index/group:Group": { seconds: 5, source: EST },
    "azuread:index/conditionalAccessPolicy:ConditionalAccessPolicy": { seconds: 10, source: EST },
    "command:remote:Command": { seconds: 60, source: `${EST} (a script over SSH; see the name rules for long ones)` },
    "command:local:Command": { seconds: 10, source: EST },
};

/** The readiness check without the test job: the login node's slurm-sync.timer runs every minute, the checks take seconds. */
export const READINESS_CHECK_SECONDS = 90;
/** The optional test job (readinessTestJob): CycleCloud boots one node of the job's partition, the job runs, the node stays. */
export const READINESS_TEST_JOB_SECONDS = 600;

/** components/readiness: the check, plus the test job when its command line asks for one (`--test-job`). */
function readinessDuration(r: PlanResource): Duration {
    const create = String(r.inputs.create ?? "");
    const check = { label: "check (mount, munge key/config sync, sinfo partitions)", seconds: READINESS_CHECK_SECONDS };
    const source = `${EST} (check-ready.sh waits up to a minute for the login node's sync timer; 3-6 s measured on the namespaced test cluster, median of 5 runs)`;
    if (!/'--test-job'/.test(create)) {
        return { seconds: READINESS_CHECK_SECONDS, parts: [check], source: `${source}; optional test job off (readinessTestJob=true adds ~${READINESS_TEST_JOB_SECONDS} s)` };
    }
    return {
        seconds: READINESS_CHECK_SECONDS + READINESS_TEST_JOB_SECONDS,
        parts: [check, { label: "optional test job (readinessTestJob): one compute node boots and runs it", seconds: READINESS_TEST_JOB_SECONDS }],
        source: `${source}; test job: ${EST} (CycleCloud node boot, jetpack and cluster-init ~10 min)`,
    };
}

/**
 * Tunnel mode: the first Command dials only once an SSH banner came back through the Bastion tunnel the program
 * opens (az start-up, its token, the Bastion session). The later Commands then run one after the other (the tunnel
 * relays one connection at a time; components/cyclecloud/cluster.ts orders them), which the dependency graph shows.
 */
export const TUNNEL_OPEN_SECONDS = 30;
const INIT_SECONDS = 300;

/** Whether a resource waits for a BastionHost: only the Commands of tunnel mode do. */
function throughTunnel(r: PlanResource): boolean {
    return r.dependencies.some(u => /(::|\$)azure-native:network:BastionHost::/.test(u));
}

function initDuration(r: PlanResource): Duration {
    const init = { label: "cycle_server start-up, admin import, locker creation", seconds: INIT_SECONDS };
    const source = `${EST} (cycle_server start-up, admin import, locker creation)`;
    if (!throughTunnel(r)) return { seconds: INIT_SECONDS, source };
    return {
        seconds: TUNNEL_OPEN_SECONDS + INIT_SECONDS,
        parts: [{ label: "Bastion tunnel opens (az start-up, Bastion session, SSH banner back)", seconds: TUNNEL_OPEN_SECONDS }, init],
        source: `${source}; ${EST} for the tunnel (no Azure here to measure it)`,
    };
}

/**
 * Remote Commands whose run time is dominated by what they wait for, matched by resource name.
 * The first rule that matches wins.
 */
export const NAME_RULES: { type: string; pattern: RegExp; duration: Duration | ((r: PlanResource) => Duration) }[] = [
    {
        type: "command:remote:Command",
        pattern: /^readiness-check$/,
        duration: readinessDuration,
    },
    {
        // components/cyclecloud/cluster.sh: start_cluster, then wait (up to 40 min) for the scheduler to be Ready.
        type: "command:remote:Command",
        pattern: /-cluster$/,
        duration: { seconds: 900, source: `${EST} (start_cluster, scheduler VM boot, jetpack and cluster-init until Ready)` },
    },
    {
        // components/cyclecloud/init-server.sh: waits for cycle_server, imports the admin, creates the locker.
        type: "command:remote:Command",
        pattern: /-init$/,
        duration: initDuration,
    },
];

export const UNKNOWN_TYPE: Duration = { seconds: 30, source: `${EST} (no entry for this type)` };

export function durationOf(r: PlanResource): Duration {
    if (!r.custom) return { seconds: 0, source: "component (no Azure resource)" };
    const rule = NAME_RULES.find(x => x.type === r.type && x.pattern.test(r.name));
    if (rule) return typeof rule.duration === "function" ? rule.duration(r) : rule.duration;
    return TYPICAL_DURATIONS[r.type] ?? UNKNOWN_TYPE;
}

export interface PathStep {
    urn: string;
    name: string;
    type: string;
    seconds: number;
    source: string;
    parts?: Duration["parts"];
    /** Seconds after `pulumi up` starts at which this resource is expected to be done. */
    finishAt: number;
}

export interface Estimate {
    /** Seconds until the last resource is done. */
    totalSeconds: number;
    criticalPath: PathStep[];
    /** When each resource is done (seconds after start), for every custom resource. */
    finishAt: Map<string, number>;
    /** When each top-level component is done (its slowest resource), slowest first. */
    components: { urn: string; name: string; type: string; finishAt: number; path: PathStep[] }[];
}

/** Longest path through the graph of custom resources, each taking its typical time. */
export function estimate(model: PlanModel): Estimate {
    const finishAt = new Map<string, number>();
    const via = new Map<string, string | undefined>();
    const visit = (urn: string, depth = 0): number => {
        const known = finishAt.get(urn);
        if (known !== undefined) return known;
        if (depth > 10000) throw new Error(`dependency cycle through ${urn}`);
        let start = 0, from: string | undefined;
        for (const d of model.waitsFor.get(urn) ?? []) {
            const f = visit(d, depth + 1);
            if (from === undefined || f > start) { start = f; from = d; }
        }
        const r = model.byUrn.get(urn)!;
        const end = start + durationOf(r).seconds;
        finishAt.set(urn, end);
        via.set(urn, from);
        return end;
    };
    const customs = model.resources.filter(r => r.custom);
    customs.forEach(r => visit(r.urn));

    const pathTo = (urn: string): PathStep[] => {
        const steps: PathStep[] = [];
        for (let u: string | undefined = urn; u; u = via.get(u)) {
            const r = model.byUrn.get(u)!;
            const d = durationOf(r);
            steps.unshift({ urn: u, name: r.name, type: r.type, seconds: d.seconds, source: d.source, ...(d.parts ? { parts: d.parts } : {}), finishAt: finishAt.get(u)! });
        }
        return steps;
    };

    let last: string | undefined;
    for (const r of customs) if (last === undefined || finishAt.get(r.urn)! > finishAt.get(last)!) last = r.urn;

    const components = new Map<string, { urn: string; name: string; type: string; finishAt: number; last: string }>();
    for (const r of customs) {
        // The top-level component a resource belongs to (top-level resources stand for themselves).
        let key: PlanResource = r;
        while (key.parent && model.byUrn.has(key.parent)) key = model.byUrn.get(key.parent)!;
        const f = finishAt.get(r.urn)!;
        const cur = components.get(key.urn);
        if (!cur || f > cur.finishAt) components.set(key.urn, { urn: key.urn, name: key.name, type: key.type, finishAt: f, last: r.urn });
    }
    return {
        totalSeconds: last ? finishAt.get(last)! : 0,
        criticalPath: last ? pathTo(last) : [],
        finishAt,
        components: [...components.values()]
            .sort((a, b) => b.finishAt - a.finishAt)
            .map(c => ({ urn: c.urn, name: c.name, type: c.type, finishAt: c.finishAt, path: pathTo(c.last) })),
    };
}

export function formatSeconds(s: number): string {
    const m = Math.floor(s / 60), sec = Math.round(s % 60);
    return m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}
