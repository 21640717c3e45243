// Judges the simulated stack with the policy pack's own `policies` (policy/policies.ts), through the pack's
// offline evaluator, so the plan and `pulumi preview --policy-pack policy` apply the same rules.
import type { Policies } from "@pulumi/policy";
import { SimResult } from "../simulate";
import { unwrapSecrets } from "./model";

export interface Violation {
    policy: string;
    enforcementLevel: string;
    urn?: string;
    message: string;
}

export interface PolicyVerdict {
    policy: string;
    description: string;
    /** The level the policy ran at. */
    enforcementLevel: string;
    /** pass, or the level of the worst violation (mandatory fails the plan). */
    verdict: "pass" | "advisory" | "mandatory" | "disabled";
    violations: Violation[];
}

export interface PolicyReport {
    verdicts: PolicyVerdict[];
    /** Violations that fail the plan. */
    mandatory: number;
    advisory: number;
}

interface PolicyModule {
    policies: Policies;
    evaluatePolicies: (resources: unknown[], config?: Record<string, unknown>, list?: Policies) => Violation[];
    resolvePolicyConfig?: (config?: Record<string, unknown>, list?: Policies) => Map<string, { enforcementLevel: string }>;
}

/** Loads the pack's policies and evaluator (policy/policies.ts re-exports evaluate.ts). */
export function loadPolicyPack(): PolicyModule {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const mod = require("../../policy/policies") as Partial<PolicyModule>;
    let evaluatePolicies = mod.evaluatePolicies;
    if (!evaluatePolicies) evaluatePolicies = (require("../../policy/evaluate") as Partial<PolicyModule>).evaluatePolicies;
    /* eslint-enable @typescript-eslint/no-require-imports */
    if (!mod.policies || !evaluatePolicies) throw new Error("policy/policies.ts exports no `policies`/`evaluatePolicies`");
    return { policies: mod.policies, evaluatePolicies, resolvePolicyConfig: mod.resolvePolicyConfig };
}

/** The resources as the policy runtime sees them: inputs plus the ID and name the provider answered with. */
export function policyResources(sim: Pick<SimResult, "resources">): unknown[] {
    return sim.resources.filter(r => r.urn).map(r => {
        const props = unwrapSecrets(r.inputs) as Record<string, unknown>;
        if (r.custom && r.id) props.id = r.id;
        if (r.custom && typeof r.outputs.name === "string" && props.name === undefined) props.name = r.outputs.name;
        return {
            type: r.type,
            name: r.name,
            urn: r.urn,
            props,
            ...(r.parent ? { parent: r.parent } : {}),
            dependencies: r.dependencies,
            propertyDependencies: r.propertyDependencies,
        };
    });
}

export function evaluate(sim: Pick<SimResult, "resources">, config: Record<string, unknown> = {},
    pack: PolicyModule = loadPolicyPack()): PolicyReport {
    const violations = pack.evaluatePolicies(policyResources(sim), config, pack.policies);
    const levels = pack.resolvePolicyConfig?.(config, pack.policies);
    const verdicts: PolicyVerdict[] = pack.policies.map(p => {
        const level = levels?.get(p.name)?.enforcementLevel ?? p.enforcementLevel ?? "advisory";
        const mine = violations.filter(v => v.policy === p.name);
        const verdict: PolicyVerdict["verdict"] = level === "disabled" ? "disabled"
            : mine.some(v => v.enforcementLevel === "mandatory") ? "mandatory"
                : mine.length > 0 ? "advisory" : "pass";
        return { policy: p.name, description: p.description, enforcementLevel: level, verdict, violations: mine };
    });
    return {
        verdicts,
        mandatory: violations.filter(v => v.enforcementLevel === "mandatory").length,
        advisory: violations.filter(v => v.enforcementLevel !== "mandatory").length,
    };
}
