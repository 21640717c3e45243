// Shared constants and helpers for the policies. Nothing here imports a cloud SDK, so every area module
// loads only the azure-native submodules it needs.
import { PolicyResource } from "@pulumi/policy";
import { PolicyConfigJSONSchema } from "@pulumi/policy/schema";
import * as policyProxy from "@pulumi/policy/proxy";

/** Built-in Azure role definition GUIDs (the same in every tenant). */
export const ROLE = {
    virtualMachineAdministratorLogin: "1c0163c0-47e6-4577-8991-ea5c82e286e4",
    virtualMachineUserLogin: "fb879df8-f326-4884-b1cf-06f3ad86be52",
    reader: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
    userAccessAdministrator: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    virtualMachineContributor: "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
} as const;

/** Display names for messages; unknown GUIDs are printed as they are. */
export const ROLE_NAMES: Record<string, string> = {
    [ROLE.virtualMachineAdministratorLogin]: "Virtual Machine Administrator Login",
    [ROLE.virtualMachineUserLogin]: "Virtual Machine User Login",
    [ROLE.reader]: "Reader",
    [ROLE.owner]: "Owner",
    [ROLE.contributor]: "Contributor",
    [ROLE.userAccessAdministrator]: "User Access Administrator",
    [ROLE.virtualMachineContributor]: "Virtual Machine Contributor",
};

/** The "Azure Linux VM Sign-In" first-party Entra application that AADSSHLoginForLinux authenticates against. */
export const AZURE_LINUX_VM_SIGN_IN_APP_ID = "ce6ff14a-7fdc-4685-bbe0-f6afdfcfa8e0";

/** Default login-node marker: what this project's login node component puts on its VM and NIC. */
export const DEFAULT_LOGIN_TAG = { name: "slurm-node-role", value: "login" } as const;

export const DEFAULT_LOGIN_ROLE_IDS: readonly string[] = [ROLE.virtualMachineUserLogin, ROLE.virtualMachineAdministratorLogin];

/** Config that every login-node policy accepts, so an organisation can use its own marker tag. */
export interface LoginTagConfig {
    loginTagName: string;
    loginTagValue: string;
}

export const loginTagSchema = {
    loginTagName: {
        type: "string",
        minLength: 1,
        default: DEFAULT_LOGIN_TAG.name,
        description: "Name of the tag that marks a VM (and its NIC) as a login node.",
    },
    loginTagValue: {
        type: "string",
        minLength: 1,
        default: DEFAULT_LOGIN_TAG.value,
        description: "Value of that tag on login nodes.",
    },
} as const;

export const roleIdListSchema = (description: string, defaults: readonly string[]): PolicyConfigJSONSchema => ({
    type: "array",
    items: { type: "string", minLength: 1 },
    default: [...defaults],
    description,
});

/** Merges the policy's config over code defaults; the CLI fills schema defaults, unit tests may not. */
export function withDefaults<T extends object>(defaults: T, config: Partial<T> | undefined): T {
    const merged = { ...defaults } as T;
    for (const [k, v] of Object.entries(config ?? {})) {
        if (v !== undefined && v !== null) {
            (merged as Record<string, unknown>)[k] = v;
        }
    }
    return merged;
}

export function lower(v: unknown): string {
    return typeof v === "string" ? v.toLowerCase() : "";
}

/** Arrays in props may be missing; treat that as empty. */
export function arr<T>(v: readonly T[] | T[] | undefined | null): readonly T[] {
    return Array.isArray(v) ? v : [];
}

/**
 * True when `tags` carries the login marker. Tag names are case-insensitive in Azure, so every key that equals the
 * marker's name in any case counts, and one of them with the login value is enough: a second key that differs
 * only in case (`Slurm-Node-Role: none`) cannot shadow it.
 */
export function hasLoginTag(tags: Record<string, string> | undefined | null, cfg: LoginTagConfig): boolean {
    if (!tags || typeof tags !== "object") {
        return false;
    }
    const wantName = cfg.loginTagName.toLowerCase();
    return Object.keys(tags).some(key => key.toLowerCase() === wantName && lower(tags[key]) === cfg.loginTagValue.toLowerCase());
}

/** Groups of tag keys that differ only in case (Azure keeps one of them, unpredictably). */
export function caseConflicts(tags: unknown): string[][] {
    if (!tags || typeof tags !== "object") {
        return [];
    }
    const groups = new Map<string, string[]>();
    for (const key of Object.keys(tags)) {
        groups.set(key.toLowerCase(), [...(groups.get(key.toLowerCase()) ?? []), key]);
    }
    return [...groups.values()].filter(g => g.length > 1).map(g => g.sort());
}

/** How login nodes are recognised: the tag, and (configurably) the Entra login extension and login subnets. */
export interface LoginConfig extends LoginTagConfig {
    recogniseByEntraExtension: boolean;
    loginSubnets: string[];
}

export const DEFAULT_LOGIN_CONFIG: LoginConfig = {
    loginTagName: DEFAULT_LOGIN_TAG.name,
    loginTagValue: DEFAULT_LOGIN_TAG.value,
    recogniseByEntraExtension: true,
    loginSubnets: [],
};

export const loginSchema = {
    ...loginTagSchema,
    recogniseByEntraExtension: {
        type: "boolean",
        default: true,
        description: "Also treat a VM or scale set with the AADSSHLoginForLinux extension as a login node, tagged or not.",
    },
    loginSubnets: {
        type: "array",
        items: { type: "string", minLength: 1 },
        default: [],
        description: "Subnets whose VMs are login nodes, tagged or not: full subnet IDs, `<vnet>/<subnet>` or subnet names.",
    },
} as const;

/** Whether a subnet ID is one of the configured login subnets (full ID, `<vnet>/<subnet>` or name; any case). */
export function isLoginSubnet(subnetId: unknown, cfg: LoginConfig): boolean {
    const id = normaliseId(subnetId);
    const m = /\/virtualnetworks\/([^/]+)\/subnets\/([^/]+)$/.exec(id);
    if (!id || !m) {
        return false;
    }
    return cfg.loginSubnets.some(s => {
        const want = normaliseId(s);
        return want === id || want === `${m[1]}/${m[2]}` || want === m[2];
    });
}

/**
 * The role definition GUID of a `roleDefinitionId`: the trailing GUID of
 * `/subscriptions/<sub>/providers/Microsoft.Authorization/roleDefinitions/<guid>` or a bare GUID; lower case.
 */
export function roleGuid(roleDefinitionId: unknown): string {
    const s = lower(roleDefinitionId).trim().replace(/\/+$/, "");
    return s.slice(s.lastIndexOf("/") + 1);
}

export function roleName(guid: string): string {
    const name = ROLE_NAMES[guid];
    return name ? `${name} (${guid})` : guid;
}

export function normaliseIds(ids: readonly string[]): Set<string> {
    return new Set(ids.map(roleGuid));
}

/** Azure resource IDs compare case-insensitively and without a trailing slash. */
export function normaliseId(id: unknown): string {
    return lower(id).trim().replace(/\/+$/, "");
}

/** The resource group ID (`/subscriptions/x/resourcegroups/y`) of a resource ID, or "" if it has none. */
export function resourceGroupIdOf(id: unknown): string {
    const m = /^(\/subscriptions\/[^/]+\/resourcegroups\/[^/]+)(\/|$)/.exec(normaliseId(id));
    return m ? m[1] : "";
}

interface ProxyModule {
    UnknownValueError: new (sentinel: string, props: string[]) => Error;
    unknownStringValue: string;
}
const UnknownValueError = (policyProxy as unknown as ProxyModule).UnknownValueError;

/**
 * Stops a policy with the runtime's own "can't run during preview" advisory, for a link that depends on a value
 * Azure assigns on `up` (a private IP, an OS disk ID) even when the engine sent it as absent rather than unknown.
 */
export function undecidedUntilUp(path: string): never {
    throw new UnknownValueError((policyProxy as unknown as ProxyModule).unknownStringValue, [path]);
}

/** True for the error the policy runtime throws when a policy reads a value that is unknown during preview. */
export function isUnknownValueError(e: unknown): boolean {
    return typeof UnknownValueError === "function" && e instanceof UnknownValueError;
}

/**
 * Evaluates `read`, returning `ifUnknown` if it touches a value that is unknown during preview. Stack policies use
 * it so that one computed ID does not stop them from judging everything that is known.
 */
export function known<T, F = undefined>(read: () => T, ifUnknown?: F): T | F {
    try {
        return read();
    } catch (e) {
        if (isUnknownValueError(e)) {
            return ifUnknown as F;
        }
        throw e;
    }
}

/** Marks "this value could not be read during preview" apart from "this value is absent". */
export const UNKNOWN: unique symbol = Symbol("unknown during preview");

/** A stack resource's output `id`, or undefined while it is unknown (preview) or missing. */
export function idOf(r: PolicyResource): string | undefined {
    const id = known(() => (r.props as { id?: unknown }).id);
    return typeof id === "string" && id.startsWith("/") ? normaliseId(id) : undefined;
}

/**
 * The resources a property of `r` was computed from. Uses the engine's per-property dependencies, which exist
 * during preview when IDs are still unknown; falls back to all dependencies if the engine gave none per property.
 */
export function dependenciesOf(r: PolicyResource, property: string): PolicyResource[] {
    const byProp = r.propertyDependencies ?? {};
    if (Object.keys(byProp).length > 0) {
        return byProp[property] ?? [];
    }
    return r.dependencies ?? [];
}

/**
 * Reads every property of `value` (through the runtime's unknown-checking proxy), so that a resource policy hits
 * any value unknown during preview and the runtime reports "can't run during preview" instead of a false pass.
 */
export function touch(value: unknown, depth = 0): void {
    if (depth > 20 || value === null || typeof value !== "object") {
        return;
    }
    for (const key of Object.keys(value)) {
        touch((value as Record<string, unknown>)[key], depth + 1);
    }
}
