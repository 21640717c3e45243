// Builds ResourceValidationArgs / StackValidationArgs the way the policy runtime does (props wrapped in
// unknownCheckingProxy, config = schema defaults + overrides, notApplicable throws) and runs one policy.
import * as assert from "assert";
import {
    Policy, PolicyResource, ReportViolation, ResourceValidation, ResourceValidationArgs, ResourceValidationPolicy,
    StackValidationArgs, StackValidationPolicy,
} from "@pulumi/policy";
import * as policyProxy from "@pulumi/policy/proxy";
import { policies } from "../../policy/policies";

interface ProxyApi {
    unknownCheckingProxy<T>(v: T): T;
    UnknownValueError: new (...args: never[]) => Error;
    unknownStringValue: string;
    unknownBooleanValue: string;
    unknownArrayValue: string;
    unknownObjectValue: string;
}
const proxyApi = policyProxy as unknown as ProxyApi;

/** The sentinels the engine sends for values unknown during preview. */
export const unknown = {
    string: proxyApi.unknownStringValue,
    boolean: proxyApi.unknownBooleanValue,
    array: proxyApi.unknownArrayValue,
    object: proxyApi.unknownObjectValue,
} as const;

export class NotApplicable extends Error {
    constructor(readonly reason?: string) {
        super(reason ?? "not applicable");
    }
}

export interface RunResult {
    violations: { message: string; urn?: string }[];
    /** Set when the policy called notApplicable (directly or through validateResourceOfType). */
    notApplicable?: string;
    /** Set when the policy read an unknown value: the runtime turns this into an advisory "can't run" diagnostic. */
    unknown?: string;
}

/** Any SDK resource class (its Pulumi type token, `__pulumiType`, is internal to the typings). */
export type ResourceClass = { prototype: unknown };
export const typeOf = (cls: ResourceClass | string): string =>
    typeof cls === "string" ? cls : (cls as unknown as { __pulumiType: string }).__pulumiType;
const isClassOf = (c: unknown, type: string) => (c as { __pulumiType?: string }).__pulumiType === type;

export function policyNamed<T extends Policy>(name: string): T {
    const p = policies.find(x => x.name === name);
    assert.ok(p, `no policy ${name}`);
    return p as T;
}

function configFor(policy: Policy, config: Record<string, unknown> = {}): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, s] of Object.entries(policy.configSchema?.properties ?? {})) {
        if (s.default !== undefined) {
            out[k] = s.default;
        }
    }
    return { ...out, ...config };
}

const throwNotApplicable = (reason?: string): never => {
    throw new NotApplicable(reason);
};

function runCatching(fn: (report: ReportViolation) => unknown): RunResult {
    const result: RunResult = { violations: [] };
    const report: ReportViolation = (message: string, urn?: string) => result.violations.push({ message, urn });
    try {
        const r = fn(report);
        assert.ok(!(r instanceof Promise), "policies are expected to be synchronous");
    } catch (e) {
        if (e instanceof NotApplicable) {
            result.notApplicable = e.reason ?? "";
        } else if (e instanceof proxyApi.UnknownValueError) {
            result.unknown = e.message;
        } else {
            throw e; // anything else is a crash: the test fails
        }
    }
    return result;
}

export function resourceArgs(cls: ResourceClass | string, props: Record<string, unknown>, config?: Record<string, unknown>): ResourceValidationArgs {
    const type = typeOf(cls);
    const proxied = proxyApi.unknownCheckingProxy(props);
    return {
        type,
        props: proxied,
        urn: `urn:pulumi:test::test::${type}::res`,
        name: "res",
        opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [] },
        stackTags: new Map(),
        isType: c => isClassOf(c, type),
        asType: c => (isClassOf(c, type) ? proxied as never : undefined),
        getConfig: <T extends object>() => (config ?? {}) as T,
        notApplicable: throwNotApplicable,
    };
}

/** Runs every validation of a resource policy; not applicable only if all of them are (as the runtime reports). */
export function runResourcePolicy(policy: Policy, cls: ResourceClass | string, props: Record<string, unknown>, config?: Record<string, unknown>): RunResult {
    const validate = (policy as ResourceValidationPolicy).validateResource;
    assert.ok(validate, `${policy.name} is not a resource policy`);
    const validations: ResourceValidation[] = Array.isArray(validate) ? validate : [validate];
    const results = validations.map(v => runCatching(report => v(resourceArgs(cls, props, configFor(policy, config)), report)));
    const applicable = results.filter(r => r.notApplicable === undefined);
    if (applicable.length === 0) {
        return results[0];
    }
    return {
        violations: applicable.flatMap(r => r.violations),
        unknown: applicable.find(r => r.unknown)?.unknown,
    };
}

export interface StackResourceSpec {
    cls: ResourceClass;
    name: string;
    props: Record<string, unknown>;
    /** Names of other resources in the same list. */
    dependencies?: string[];
    propertyDependencies?: Record<string, string[]>;
    parent?: string;
}

export const urnOf = (spec: { cls: ResourceClass; name: string }) => `urn:pulumi:test::test::${typeOf(spec.cls)}::${spec.name}`;

export function stackArgs(specs: StackResourceSpec[], config?: Record<string, unknown>): StackValidationArgs {
    const byName = new Map<string, PolicyResource>();
    const resources = specs.map(spec => {
        const type = typeOf(spec.cls);
        const props = proxyApi.unknownCheckingProxy(spec.props);
        const r: PolicyResource = {
            type,
            props,
            urn: urnOf(spec),
            name: spec.name,
            opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [] },
            dependencies: [],
            propertyDependencies: {},
            isType: c => isClassOf(c, type),
            asType: c => (isClassOf(c, type) ? props as never : undefined),
        };
        assert.ok(!byName.has(spec.name), `duplicate test resource name ${spec.name}`);
        byName.set(spec.name, r);
        return r;
    });
    const lookup = (names: string[] = []) => names.map(n => {
        const r = byName.get(n);
        assert.ok(r, `no test resource ${n}`);
        return r;
    });
    specs.forEach((spec, i) => {
        resources[i].dependencies = lookup(spec.dependencies);
        for (const [k, names] of Object.entries(spec.propertyDependencies ?? {})) {
            resources[i].propertyDependencies[k] = lookup(names);
        }
        if (spec.parent) {
            resources[i].parent = lookup([spec.parent])[0];
        }
    });
    return { resources, stackTags: new Map(), getConfig: <T extends object>() => (config ?? {}) as T, notApplicable: throwNotApplicable };
}

export function runStackPolicy(policy: Policy, specs: StackResourceSpec[], config?: Record<string, unknown>): RunResult {
    const validate = (policy as StackValidationPolicy).validateStack;
    assert.ok(validate, `${policy.name} is not a stack policy`);
    return runCatching(report => validate(stackArgs(specs, configFor(policy, config)), report));
}

// ---- assertions -------------------------------------------------------------------------------------------------

function show(r: RunResult): string {
    return JSON.stringify(r, null, 1);
}

/** The policy applied and found nothing. */
export function assertCompliant(r: RunResult): void {
    assert.strictEqual(r.notApplicable, undefined, `expected the policy to apply: ${show(r)}`);
    assert.strictEqual(r.unknown, undefined, `unexpected unknown value: ${show(r)}`);
    assert.deepStrictEqual(r.violations, [], `expected no violations: ${show(r)}`);
}

/** Exactly the violations matching `patterns`, one each, in any order; every message includes a fix. */
export function assertViolations(r: RunResult, ...patterns: RegExp[]): void {
    assert.strictEqual(r.notApplicable, undefined, `expected the policy to apply: ${show(r)}`);
    assert.strictEqual(r.violations.length, patterns.length, `expected ${patterns.length} violation(s): ${show(r)}`);
    for (const p of patterns) {
        assert.ok(r.violations.some(v => p.test(v.message)), `no violation matches ${p}: ${show(r)}`);
    }
    for (const v of r.violations) {
        assert.match(v.message, /Fix:/, `violation without a remediation hint: ${v.message}`);
    }
}

export function assertNotApplicable(r: RunResult, reason?: RegExp): void {
    assert.notStrictEqual(r.notApplicable, undefined, `expected not applicable: ${show(r)}`);
    assert.deepStrictEqual(r.violations, [], `a not-applicable policy reported: ${show(r)}`);
    if (reason) {
        assert.match(r.notApplicable ?? "", reason);
    }
}

/** The policy read an unknown value: the runtime reports an advisory "can't run during preview", nothing else. */
export function assertUnknownAdvisory(r: RunResult, path?: RegExp): void {
    assert.ok(r.unknown, `expected the policy to hit an unknown value: ${show(r)}`);
    if (path) {
        assert.match(r.unknown ?? "", path);
    }
}

export const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
