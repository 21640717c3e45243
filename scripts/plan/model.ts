// The plan's view of a simulated run: resources keyed by URN, the component tree, and the dependency graph
// (with dependencies on components expanded to the resources inside them, as the engine waits for those).
import { SimResource, SimResult } from "../simulate";
import * as rpc from "@pulumi/pulumi/runtime/rpc";

export interface PlanResource {
    urn: string;
    type: string;
    name: string;
    /** false for ComponentResources (they create nothing in Azure). */
    custom: boolean;
    parent?: string;
    id?: string;
    /** Inputs with every secret shown as "[secret]". */
    inputs: Record<string, unknown>;
    /** URNs of the resources this one depends on, as the program declared them (inputs and dependsOn). */
    dependencies: string[];
    propertyDependencies: Record<string, string[]>;
}

export interface PlanModel {
    resources: PlanResource[];
    byUrn: Map<string, PlanResource>;
    children: Map<string, PlanResource[]>;
    roots: PlanResource[];
    /** Per custom resource: the custom resources it waits for (component dependencies expanded). */
    waitsFor: Map<string, string[]>;
}

export function toPlanResource(r: SimResource): PlanResource {
    return {
        urn: r.urn,
        type: r.type,
        name: r.name,
        custom: r.custom,
        ...(r.parent ? { parent: r.parent } : {}),
        ...(r.id ? { id: r.id } : {}),
        inputs: r.redactedInputs,
        dependencies: [...r.dependencies],
        propertyDependencies: Object.fromEntries(Object.entries(r.propertyDependencies).filter(([, v]) => v.length > 0)),
    };
}

export function buildModel(sim: Pick<SimResult, "resources">): PlanModel {
    // Registration order, which is a topological order of the dependency graph (a dependency's URN exists first).
    const resources = sim.resources.filter(r => r.urn).map(toPlanResource);
    const byUrn = new Map(resources.map(r => [r.urn, r]));
    const children = new Map<string, PlanResource[]>();
    const roots: PlanResource[] = [];
    for (const r of resources) {
        if (r.parent && byUrn.has(r.parent)) {
            const list = children.get(r.parent) ?? [];
            list.push(r);
            children.set(r.parent, list);
        } else {
            roots.push(r);
        }
    }
    const customsBelow = (urn: string, out: string[] = []): string[] => {
        for (const c of children.get(urn) ?? []) {
            if (c.custom) out.push(c.urn);
            customsBelow(c.urn, out);
        }
        return out;
    };
    const waitsFor = new Map<string, string[]>();
    for (const r of resources) {
        if (!r.custom) continue;
        const deps = new Set<string>();
        const add = (urn: string) => {
            const d = byUrn.get(urn);
            if (!d || urn === r.urn) return;
            if (d.custom) deps.add(urn);
            else customsBelow(urn).forEach(u => u !== r.urn && deps.add(u));
        };
        r.dependencies.forEach(add);
        // The engine creates a resource's parent first when the parent is a custom resource.
        if (r.parent && byUrn.get(r.parent)?.custom) deps.add(r.parent);
        waitsFor.set(r.urn, [...deps]);
    }
    return { resources, byUrn, children, roots, waitsFor };
}

/** The last segment of a type token: "azure-native:network:Subnet" -> "Subnet". */
export function shortType(type: string): string {
    return type.split(":").pop() ?? type;
}

/** "azure-native:network:Subnet" -> "network:Subnet"; component tokens of this project lose the project part. */
export function displayType(type: string): string {
    const parts = type.split(":");
    return parts.length === 3 ? `${parts[1]}:${parts[2]}` : type;
}

/** Nearest component ancestor (or undefined for top-level resources). */
export function componentOf(model: PlanModel, r: PlanResource): PlanResource | undefined {
    let p = r.parent ? model.byUrn.get(r.parent) : undefined;
    while (p && p.custom) p = p.parent ? model.byUrn.get(p.parent) : undefined;
    return p;
}

/** True when `r` is `ancestor` or lies below it in the component tree. */
export function isUnder(model: PlanModel, r: PlanResource, ancestorUrn: string): boolean {
    for (let p: PlanResource | undefined = r; p; p = p.parent ? model.byUrn.get(p.parent) : undefined) {
        if (p.urn === ancestorUrn) return true;
    }
    return false;
}

/** Every custom resource `urn` waits for, directly or through others. */
export function ancestorsOf(model: PlanModel, urn: string): Set<string> {
    const seen = new Set<string>();
    const stack = [...(model.waitsFor.get(urn) ?? [])];
    while (stack.length > 0) {
        const u = stack.pop()!;
        if (seen.has(u)) continue;
        seen.add(u);
        stack.push(...(model.waitsFor.get(u) ?? []));
    }
    return seen;
}

/** Replaces Pulumi's secret wrappers ({sig: secret, value}) with their plain values (for the policy runtime). */
export function unwrapSecrets(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (value && typeof value === "object") {
        const o = value as Record<string, unknown>;
        if (o[rpc.specialSigKey] === rpc.specialSecretSig) return unwrapSecrets(o.value);
        return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

/**
 * Children of one parent, grouped by type: a type with more than `limit` resources becomes one group
 * (so a stack with 1000 users prints and draws one "RoleAssignment x 4000" instead of 4000 lines).
 */
export interface ChildGroup {
    type: string;
    members: PlanResource[];
}

export function groupChildren(list: PlanResource[], limit = 6): (PlanResource | ChildGroup)[] {
    const byType = new Map<string, PlanResource[]>();
    for (const r of list) {
        const l = byType.get(r.type) ?? [];
        l.push(r);
        byType.set(r.type, l);
    }
    const out: (PlanResource | ChildGroup)[] = [];
    for (const [type, members] of byType) {
        if (members.length > limit) {
            out.push({ type, members });
        } else {
            out.push(...members);
        }
    }
    return out;
}

export function isGroup(x: PlanResource | ChildGroup): x is ChildGroup {
    return (x as ChildGroup).members !== undefined;
}
