// Runs the pack's policies over a list of resources without the Pulumi CLI and without starting a PolicyPack,
// mirroring what the policy runtime does: config resolution ("all", per-policy levels, schema defaults), type
// filtering, not-applicable results, and unknown values during preview (an advisory "can't run" diagnostic).
import {
    EnforcementLevel, Policies, Policy, PolicyResource, PolicyResourceOptions, ReportViolation, ResourceValidation,
    ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy,
} from "@pulumi/policy";
import * as policyProxy from "@pulumi/policy/proxy";
import { PolicyConfigJSONSchema } from "@pulumi/policy/schema";
import { Resource } from "@pulumi/pulumi";
import { isUnknownValueError } from "./common";
import { PACK_ENFORCEMENT_LEVEL, POLICY_PACK_NAME, policies as packPolicies } from "./catalog";

/** A resource as the offline plan or a mocks-based test sees it. `props` are its inputs/outputs. */
export interface EvaluatedResource {
    type: string;
    name: string;
    urn: string;
    props: Record<string, unknown>;
    /** Parent URN. */
    parent?: string;
    /** URNs this resource depends on. */
    dependencies?: string[];
    /** Property name to the URNs that property was computed from (what links resources during preview). */
    propertyDependencies?: Record<string, string[]>;
}

export interface PolicyViolation {
    policy: string;
    enforcementLevel: string;
    urn?: string;
    message: string;
}

type PolicyConfigEntry = EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>);
/** The shape of a policy-pack config file (`--policy-pack-config`, `pulumi policy enable --config`). */
export type PolicyPackConfigFile = Record<string, PolicyConfigEntry>;

export interface ResolvedPolicyConfig {
    enforcementLevel: EnforcementLevel;
    properties: Record<string, unknown>;
}

const LEVELS: readonly EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];

/** A config file that does not fit the pack; the message lists every problem, each naming its key. */
export class PolicyConfigError extends Error {
    constructor(readonly problems: string[]) {
        super(`Invalid policy pack config:\n  ${problems.join("\n  ")}`);
        this.name = "PolicyConfigError";
    }
}

function isLevel(v: unknown): v is EnforcementLevel {
    return typeof v === "string" && (LEVELS as readonly string[]).includes(v);
}

/** Checks a config value against the subset of JSON Schema the policies use. */
function schemaProblems(value: unknown, schema: PolicyConfigJSONSchema, key: string): string[] {
    const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
    const ok: Record<string, (v: unknown) => boolean> = {
        string: v => typeof v === "string",
        integer: v => Number.isInteger(v),
        number: v => typeof v === "number" && Number.isFinite(v),
        boolean: v => typeof v === "boolean",
        array: v => Array.isArray(v),
        object: v => typeof v === "object" && v !== null && !Array.isArray(v),
    };
    if (type && ok[type] && !ok[type](value)) {
        return [`${key}: expected ${type === "array" && schema.items ? `an array of ${(schema.items as PolicyConfigJSONSchema).type}` : `a ${type}`}, got ${JSON.stringify(value)}`];
    }
    const problems: string[] = [];
    if (schema.enum && !schema.enum.some(e => e === value)) {
        problems.push(`${key}: ${JSON.stringify(value)} is not one of ${schema.enum.map(e => JSON.stringify(e)).join(", ")}`);
    }
    if (typeof value === "string" && schema.minLength !== undefined && value.length < schema.minLength) {
        problems.push(`${key}: must not be empty`);
    }
    if (typeof value === "number") {
        if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${key}: must be >= ${schema.minimum}`);
        if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${key}: must be <= ${schema.maximum}`);
    }
    if (Array.isArray(value)) {
        if (schema.minItems !== undefined && value.length < schema.minItems) {
            problems.push(`${key}: needs at least ${schema.minItems} item(s)`);
        }
        const items = schema.items;
        if (items && typeof items === "object" && !Array.isArray(items)) {
            value.forEach((v, i) => problems.push(...schemaProblems(v, items as PolicyConfigJSONSchema, `${key}[${i}]`)));
        }
    }
    return problems;
}

/**
 * Resolves a config file into each policy's enforcement level and properties, as the CLI does: a policy's own
 * entry beats "all", which beats the policy's default level, which beats the pack's; schema defaults fill in
 * properties that are not set. Throws PolicyConfigError for unknown policies, levels or properties, or wrong types.
 */
export function resolvePolicyConfig(
    config: PolicyPackConfigFile = {},
    policyList: Policies = packPolicies,
    packLevel: EnforcementLevel = PACK_ENFORCEMENT_LEVEL,
): Map<string, ResolvedPolicyConfig> {
    const problems: string[] = [];
    const byName = new Map<string, Policy>(policyList.map(p => [p.name, p]));
    const levelOf = (entry: PolicyConfigEntry | undefined, key: string): EnforcementLevel | undefined => {
        const level = typeof entry === "object" && entry !== null ? entry.enforcementLevel : entry;
        if (level !== undefined && !isLevel(level)) {
            problems.push(`${key}: enforcement level ${JSON.stringify(level)} is not one of ${LEVELS.join(", ")}`);
            return undefined;
        }
        return level;
    };
    if (typeof config !== "object" || config === null || Array.isArray(config)) {
        throw new PolicyConfigError(["the config must be an object mapping policy names (or \"all\") to settings"]);
    }
    const allLevel = levelOf(config.all, "all");
    if (typeof config.all === "object" && config.all !== null) {
        for (const k of Object.keys(config.all).filter(k => k !== "enforcementLevel")) {
            problems.push(`all.${k}: "all" takes only an enforcement level`);
        }
    }
    for (const name of Object.keys(config)) {
        if (name !== "all" && !byName.has(name)) {
            problems.push(`${name}: no such policy in pack ${POLICY_PACK_NAME} (policies: ${[...byName.keys()].join(", ")})`);
        }
    }
    const resolved = new Map<string, ResolvedPolicyConfig>();
    for (const policy of policyList) {
        const entry = config[policy.name];
        const schemaProps = policy.configSchema?.properties ?? {};
        const properties: Record<string, unknown> = {};
        for (const [k, s] of Object.entries(schemaProps)) {
            if (s.default !== undefined) {
                properties[k] = s.default;
            }
        }
        if (typeof entry === "object" && entry !== null) {
            for (const [k, v] of Object.entries(entry)) {
                if (k === "enforcementLevel") {
                    continue;
                }
                const s = schemaProps[k];
                if (!s) {
                    const allowed = Object.keys(schemaProps);
                    problems.push(`${policy.name}.${k}: not a setting of this policy (${allowed.length ? `allowed: ${allowed.join(", ")}` : "it takes none"})`);
                    continue;
                }
                problems.push(...schemaProblems(v, s, `${policy.name}.${k}`));
                properties[k] = v;
            }
        }
        for (const req of policy.configSchema?.required ?? []) {
            if (properties[req] === undefined) {
                problems.push(`${policy.name}.${req}: required`);
            }
        }
        const level = levelOf(entry, policy.name) ?? allLevel ?? policy.enforcementLevel ?? packLevel;
        resolved.set(policy.name, { enforcementLevel: level, properties });
    }
    if (problems.length > 0) {
        throw new PolicyConfigError(problems);
    }
    return resolved;
}

class NotApplicableError extends Error {
    constructor(readonly reason?: string) {
        super(reason ?? "Policy does not apply");
    }
}
const notApplicable = (reason?: string): never => {
    throw new NotApplicableError(reason);
};

type ResourceClass = { new (...rest: never[]): Resource; __pulumiType?: string; isInstance?: (o: unknown) => boolean };

function isTypeOf(type: string, resourceClass: ResourceClass): boolean {
    const pulumiType = resourceClass.__pulumiType;
    if (typeof pulumiType === "string" && pulumiType !== "") {
        return type === pulumiType;
    }
    return typeof resourceClass.isInstance === "function" && resourceClass.isInstance({ __pulumiType: type }) === true;
}

const unknownCheckingProxy = (policyProxy as unknown as { unknownCheckingProxy: <T>(v: T) => T }).unknownCheckingProxy;

function options(r: EvaluatedResource): PolicyResourceOptions {
    return {
        protect: false,
        ignoreChanges: [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
        ...(r.parent ? { parent: r.parent } : {}),
    };
}

/**
 * Runs every resource policy over every resource and every stack policy over the whole set, with the levels and
 * properties `config` resolves to, and returns the violations. A policy that reads a value unknown during preview
 * yields an advisory "can't run" violation, as in the CLI. Does not start a PolicyPack.
 */
export function evaluatePolicies(
    resources: EvaluatedResource[],
    config: PolicyPackConfigFile = {},
    policyList: Policies = packPolicies,
): PolicyViolation[] {
    const resolved = resolvePolicyConfig(config, policyList);
    const violations: PolicyViolation[] = [];
    // The stack view is the same for every stack policy: build it once.
    let stackView: PolicyResource[] | undefined;

    const run = (policy: Policy, level: EnforcementLevel, urn: string | undefined, body: (report: ReportViolation) => unknown) => {
        const report: ReportViolation = (message: string, violationUrn?: string) =>
            violations.push({ policy: policy.name, enforcementLevel: level, urn: violationUrn ?? urn, message: message || policy.description });
        try {
            const result = body(report);
            if (result instanceof Promise) {
                throw new Error(`policy ${policy.name} returned a promise; evaluatePolicies runs synchronous policies only`);
            }
        } catch (e) {
            if (e instanceof NotApplicableError) {
                return;
            }
            if (isUnknownValueError(e)) {
                violations.push({
                    policy: policy.name, enforcementLevel: "advisory", urn,
                    message: `can't run policy '${policy.name}' during preview: ${(e as Error).message}`,
                });
                return;
            }
            throw new Error(`policy ${policy.name} failed on ${urn ?? "the stack"}: ${e instanceof Error ? e.message : String(e)}`);
        }
    };

    for (const policy of policyList) {
        const resolvedPolicy = resolved.get(policy.name);
        if (!resolvedPolicy || resolvedPolicy.enforcementLevel === "disabled") {
            continue;
        }
        const { enforcementLevel, properties } = resolvedPolicy;
        // As in the runtime, a remediate-level policy that still finds a violation reports it as mandatory.
        const level: EnforcementLevel = enforcementLevel === "remediate" ? "mandatory" : enforcementLevel;
        const resourcePolicy = policy as ResourceValidationPolicy;
        if (resourcePolicy.validateResource) {
            const validations: ResourceValidation[] = Array.isArray(resourcePolicy.validateResource)
                ? resourcePolicy.validateResource : [resourcePolicy.validateResource];
            for (const r of resources) {
                for (const validate of validations) {
                    const fastType = (validate as { __pulumiType?: string }).__pulumiType;
                    if (fastType && fastType !== r.type) {
                        continue;
                    }
                    const props = unknownCheckingProxy(r.props);
                    const args: ResourceValidationArgs = {
                        type: r.type,
                        props,
                        urn: r.urn,
                        name: r.name,
                        opts: options(r),
                        stackTags: new Map(),
                        isType: cls => isTypeOf(r.type, cls as unknown as ResourceClass),
                        asType: cls => (isTypeOf(r.type, cls as unknown as ResourceClass) ? props as never : undefined),
                        getConfig: <T extends object>() => ({ ...properties }) as T,
                        notApplicable,
                    };
                    run(policy, level, r.urn, report => validate(args, report));
                }
            }
        }
        const stackPolicy = policy as StackValidationPolicy;
        if (stackPolicy.validateStack) {
            const fastType = (stackPolicy.validateStack as { __pulumiType?: string }).__pulumiType;
            if (fastType && !resources.some(r => r.type === fastType)) {
                continue;
            }
            stackView ??= toPolicyResources(resources);
            const args: StackValidationArgs = {
                resources: stackView,
                stackTags: new Map(),
                getConfig: <T extends object>() => ({ ...properties }) as T,
                notApplicable,
            };
            run(policy, level, undefined, report => stackPolicy.validateStack(args, report));
        }
    }
    return violations;
}

/** Builds the stack view the runtime gives stack policies: parent and dependencies as resource objects. */
function toPolicyResources(resources: EvaluatedResource[]): PolicyResource[] {
    const byUrn = new Map<string, PolicyResource>();
    const result = resources.map(r => {
        const props = unknownCheckingProxy(r.props);
        const resource: PolicyResource = {
            type: r.type,
            props,
            urn: r.urn,
            name: r.name,
            opts: options(r),
            dependencies: [],
            propertyDependencies: {},
            isType: cls => isTypeOf(r.type, cls as unknown as ResourceClass),
            asType: cls => (isTypeOf(r.type, cls as unknown as ResourceClass) ? props as never : undefined),
        };
        byUrn.set(r.urn, resource);
        return resource;
    });
    resources.forEach((r, i) => {
        const resource = result[i];
        const lookup = (urns: string[] | undefined) =>
            (urns ?? []).map(u => byUrn.get(u)).filter((d): d is PolicyResource => d !== undefined);
        if (r.parent && byUrn.has(r.parent)) {
            resource.parent = byUrn.get(r.parent);
        }
        resource.dependencies = lookup(r.dependencies);
        for (const [k, urns] of Object.entries(r.propertyDependencies ?? {})) {
            resource.propertyDependencies[k] = lookup(urns);
        }
    });
    return result;
}
