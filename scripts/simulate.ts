// A simulated Pulumi engine: runs the real program (index.ts) under Pulumi's mock monitor with a stack's
// config, answers every resource with realistic Azure outputs (ARM-shaped IDs, private IPs), and records
// each registration with its parent, dependencies and inputs (secrets redacted). Used by the unit tests
// and by `npm run plan`. No Azure, no Pulumi CLI, no network.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { setMockOptions } from "@pulumi/pulumi/runtime/settings";
import * as runtimeState from "@pulumi/pulumi/runtime/state";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import YAML from "yaml";
import { setSecretStandIns } from "../components/config";
import { localProcesses } from "../components/cyclecloud/tunnel";

export const SIM_SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000001";
export const SIM_TENANT_ID = "00000000-0000-4000-8000-0000000000aa";
export const REDACTED = "[secret]";

export interface SimResource {
    urn: string;
    /** The ID the simulated provider assigned (ARM-shaped for azure-native resources). */
    id?: string;
    type: string;
    name: string;
    custom: boolean;
    parent?: string;
    /** Inputs as the engine received them, deserialised (a secret may arrive wrapped as a Pulumi secret value). */
    inputs: Record<string, unknown>;
    /** The same inputs with every secret replaced by "[secret]" (what plan output shows). */
    redactedInputs: Record<string, unknown>;
    /** Outputs the simulated provider answered with. */
    outputs: Record<string, unknown>;
    /** URNs this resource depends on (explicit dependsOn and inputs that came from other resources). */
    dependencies: string[];
    propertyDependencies: Record<string, string[]>;
    /** Resource options worth checking in tests and plans. */
    options: { ignoreChanges: string[]; deleteBeforeReplace: boolean; additionalSecretOutputs: string[]; retainOnDelete: boolean; protect: boolean };
}

export interface SimResult {
    resources: SimResource[];
    /** How many of azure-native's API-version aliases the simulation left out (0 with keepApiVersionAliases). */
    trimmedAliases: number;
    /** How many aliases the registrations carried to the engine. */
    aliasesRegistered: number;
    stackOutputs: Record<string, unknown>;
    /** Set when the program threw (for example a ConfigError); resources then holds what was registered. */
    error?: Error;
}

export interface SimOptions {
    /** Absolute path of the program module (default: the project's index.ts). */
    program?: string;
    project?: string;
    stack: string;
    /** Stack config as Pulumi.<stack>.yaml holds it under `config:` (values may be objects). */
    config: Record<string, unknown>;
    /** Config keys whose values are secrets. */
    secretKeys?: string[];
    /** Run as `pulumi preview` (isDryRun) instead of `pulumi up`. */
    preview?: boolean;
    /**
     * Secret keys whose values are the plan's stand-ins (a secret nobody set, or one encrypted in the stack file):
     * the program's validation takes a stand-in private key to match its public key (setSecretStandIns).
     */
    secretStandIns?: string[];
    /** Let the program start local processes (the Bastion tunnel); off by default: a simulation is no `pulumi up`. */
    localProcesses?: boolean;
    /**
     * Keep azure-native's API-version aliases (see installAliasTrim); off by default. A simulation starts from
     * no state, so they change nothing it records; they were 40% of the dev plan's time.
     */
    keepApiVersionAliases?: boolean;
}

/** Reads a Pulumi.<stack>.yaml file: its config map and the keys marked `secure`. */
export function readStackFile(file: string): { config: Record<string, unknown>; secretKeys: string[] } {
    const doc = YAML.parse(fs.readFileSync(file, "utf8")) ?? {};
    const raw = (doc.config ?? {}) as Record<string, unknown>;
    const config: Record<string, unknown> = {};
    const secretKeys: string[] = [];
    for (const [k, v] of Object.entries(raw)) {
        if (v && typeof v === "object" && !Array.isArray(v) && "secure" in (v as object)) {
            // An encrypted value cannot be decrypted here: simulate it with a marker string.
            config[k] = `simulated-secret-for-${k}`;
            secretKeys.push(k);
        } else {
            config[k] = v;
        }
    }
    return { config, secretKeys };
}

// ---- realistic provider answers ----------------------------------------------------------------------

/** ARM provider namespace and collection for azure-native tokens, and the input that names the resource. */
const ARM: Record<string, [string, string] | undefined> = {
    "azure-native:resources:ResourceGroup": ["", "resourceGroupName"],
    "azure-native:network:VirtualNetwork": ["Microsoft.Network/virtualNetworks", "virtualNetworkName"],
    "azure-native:network:NetworkSecurityGroup": ["Microsoft.Network/networkSecurityGroups", "networkSecurityGroupName"],
    "azure-native:network:PublicIPAddress": ["Microsoft.Network/publicIPAddresses", "publicIpAddressName"],
    "azure-native:network:NatGateway": ["Microsoft.Network/natGateways", "natGatewayName"],
    "azure-native:network:BastionHost": ["Microsoft.Network/bastionHosts", "bastionHostName"],
    "azure-native:network:NetworkInterface": ["Microsoft.Network/networkInterfaces", "networkInterfaceName"],
    "azure-native:network:PrivateEndpoint": ["Microsoft.Network/privateEndpoints", "privateEndpointName"],
    "azure-native:privatedns:PrivateZone": ["Microsoft.Network/privateDnsZones", "privateZoneName"],
    "azure-native:storage:StorageAccount": ["Microsoft.Storage/storageAccounts", "accountName"],
    "azure-native:compute:VirtualMachine": ["Microsoft.Compute/virtualMachines", "vmName"],
    "azure-native:managedidentity:UserAssignedIdentity": ["Microsoft.ManagedIdentity/userAssignedIdentities", "resourceName"],
};

/** A well-formed ed25519 public key ("ssh-ed25519 AAAAC3..."), the same for the same seed. */
export function simulatedHostKey(seed: string): string {
    const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
    const blob = Buffer.concat([u32(11), Buffer.from("ssh-ed25519"), u32(32), crypto.createHash("sha256").update(`host-key/${seed}`).digest()]);
    return `ssh-ed25519 ${blob.toString("base64")}`;
}

function uuidFrom(seed: string): string {
    const h = crypto.createHash("sha256").update(seed).digest("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

class SimulatedAzure {
    private subnetPrefixes = new Map<string, string>();
    private nextHost = new Map<string, number>();

    newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, unknown> } {
        const inputs = args.inputs as Record<string, unknown>;
        const state: Record<string, unknown> = { ...inputs };
        if (!args.custom) return { id: undefined, state: {} };
        const rg = String(inputs.resourceGroupName ?? "rg");
        const base = `/subscriptions/${SIM_SUBSCRIPTION_ID}/resourceGroups/${rg}`;
        const entry = ARM[args.type];
        let id: string;
        if (args.type === "azure-native:resources:ResourceGroup") {
            id = base;
            state.name = rg;
        } else if (entry) {
            const name = String(inputs[entry[1]] ?? args.name);
            id = `${base}/providers/${entry[0]}/${name}`;
            state.name = name;
        } else if (args.type === "azure-native:network:Subnet") {
            state.name = String(inputs.subnetName ?? args.name);
            id = `${base}/providers/Microsoft.Network/virtualNetworks/${inputs.virtualNetworkName}/subnets/${state.name}`;
            this.subnetPrefixes.set(id, String(inputs.addressPrefix));
        } else if (args.type === "azure-native:storage:FileShare") {
            state.name = String(inputs.shareName ?? args.name);
            id = `${base}/providers/Microsoft.Storage/storageAccounts/${inputs.accountName}/fileServices/default/shares/${state.name}`;
        } else if (args.type === "azure-native:compute:VirtualMachineExtension") {
            state.name = String(inputs.vmExtensionName ?? args.name);
            id = `${base}/providers/Microsoft.Compute/virtualMachines/${inputs.vmName}/extensions/${state.name}`;
        } else if (args.type === "azure-native:authorization:RoleAssignment") {
            state.name = uuidFrom(`${inputs.scope}/${inputs.roleDefinitionId}/${inputs.principalId}`);
            id = `${inputs.scope}/providers/Microsoft.Authorization/roleAssignments/${state.name}`;
        } else if (args.type === "azure-native:compute:VirtualMachineRunCommandByVirtualMachine") {
            state.name = String(inputs.runCommandName ?? args.name);
            id = `${base}/providers/Microsoft.Compute/virtualMachines/${inputs.vmName}/runCommands/${state.name}`;
        } else if (args.type.startsWith("azuread:")) {
            id = uuidFrom(`${args.type}/${args.name}`);
            state.objectId = id;
        } else {
            state.name = String(inputs.name ?? args.name);
            id = `${base}/simulated/${args.type.replace(/[:/]/g, ".")}/${state.name}`;
        }
        if (args.type === "azure-native:compute:VirtualMachine") state.vmId = uuidFrom(`${id}/vmId`);
        if (args.type === "azure-native:managedidentity:UserAssignedIdentity") {
            // What ARM answers for a new identity: its service principal's object ID, its client ID and the tenant.
            Object.assign(state, { principalId: uuidFrom(`${id}/principalId`), clientId: uuidFrom(`${id}/clientId`), tenantId: SIM_TENANT_ID });
        }
        if (args.type === "azure-native:compute:VirtualMachine" && inputs.identity) {
            state.identity = { ...(inputs.identity as object), principalId: uuidFrom(`${id}/identity`), tenantId: SIM_TENANT_ID };
        }
        if (args.type === "azure-native:network:NetworkInterface") {
            state.ipConfigurations = ((inputs.ipConfigurations ?? []) as Record<string, unknown>[]).map(c => ({
                ...c, privateIPAddress: this.allocate(String((c.subnet as { id?: string } | undefined)?.id ?? "")),
            }));
        }
        if (args.type === "command:remote:Command") Object.assign(state, this.clusterApplyOutput(inputs));
        if (args.type === "azure-native:storage:StorageAccount") {
            state.primaryEndpoints = { file: `https://${state.name}.file.core.windows.net/` };
        }
        return { id, state };
    }

    call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        const inputs = args.inputs as Record<string, unknown>;
        switch (args.token) {
            case "azure-native:authorization:getClientConfig":
                return { subscriptionId: SIM_SUBSCRIPTION_ID, tenantId: SIM_TENANT_ID, clientId: uuidFrom("client"), objectId: uuidFrom("deployer") };
            case "azuread:index/getUser:getUser": {
                const upn = String(inputs.userPrincipalName ?? inputs.objectId);
                return { objectId: uuidFrom(`user/${upn}`), userPrincipalName: upn, id: uuidFrom(`user/${upn}`), displayName: upn };
            }
            case "azuread:index/getGroup:getGroup": {
                const name = String(inputs.displayName ?? inputs.objectId);
                return { objectId: uuidFrom(`group/${name}`), displayName: name, id: uuidFrom(`group/${name}`) };
            }
            case "azure-native:compute:getVirtualMachineRunCommandByVirtualMachine": {
                // A synchronous managed Run Command read with $expand=instanceView: the script's stdout in
                // instanceView.output (learn.microsoft.com, Get-AzVMRunCommand -Expand InstanceView).
                const vm = String(inputs.vmName);
                return {
                    name: inputs.runCommandName,
                    instanceView: {
                        executionState: "Succeeded", exitCode: 0, error: "",
                        output: `${simulatedHostKey(`vm/${vm}`)} root@${vm}\n`,
                    },
                };
            }
            default:
                return inputs;
        }
    }

    /**
     * What cluster.sh's `apply` prints on success (its header documents the lines): the scheduler's private IP
     * in the compute subnet, the config directory, the host key the server scanned and the change made.
     */
    private clusterApplyOutput(inputs: Record<string, unknown>): Record<string, unknown> {
        const m = /bash -s -- 'apply' '([^']*)' '([^']*)'$/.exec(String(inputs.create ?? ""));
        const params = /export CC_CLUSTER_PARAMS='(\{[^']*\})'/.exec(String(inputs.stdin ?? ""));
        if (!m || !params) return {};
        const subnet = String((JSON.parse(params[1]) as { SubnetId?: string }).SubnetId ?? "").split("/");
        const subnetId = [...this.subnetPrefixes.keys()].find(id => id.endsWith(`/virtualNetworks/${subnet[1]}/subnets/${subnet[2]}`));
        const ip = subnetId ? this.allocate(subnetId) : "10.0.0.4";
        return {
            stdout: [`SCHEDULER_IP=${ip}`, `CLUSTER_CONFIG_DIR=${m[2]}`,
                `SCHEDULER_HOST_KEY=${simulatedHostKey(`scheduler/${m[1]}`)}`, "CLUSTER_CHANGE=created"].join("\n"),
            stderr: "",
        };
    }

    /** Next private IP of a subnet (Azure hands out from .4 on). */
    private allocate(subnetId: string): string {
        const prefix = this.subnetPrefixes.get(subnetId);
        if (!prefix) return "10.0.0.4";
        const [addr] = prefix.split("/");
        const n = (this.nextHost.get(subnetId) ?? 4);
        this.nextHost.set(subnetId, n + 1);
        const parts = addr.split(".").map(Number);
        const value = ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3] + n;
        return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
    }
}

// ---- azure-native's API-version aliases ----------------------------------------------------------------

/**
 * An alias naming the same resource under an earlier API version's type, as azure-native's generated classes add
 * them: `{ type: "azure-native:network/v20150501preview:VirtualNetwork" }`. Module renames without a version
 * (`azure-native:network:PrivateZone` on privatedns's PrivateZone) are not matched and stay.
 */
export const API_VERSION_ALIAS = /^azure-native:[A-Za-z]+\/v\d{8}(?:preview|privatepreview|beta)?:[A-Za-z0-9]+$/;

const aliasTrim = { enabled: false, trimmed: 0, installed: false };

/**
 * Every azure-native resource class merges the types of all its earlier API versions into its options as aliases
 * (`pulumi.mergeOptions(opts, { aliases: [...] })`, 60 for a VirtualNetwork). The SDK turns each alias into a URN
 * of Outputs in the constructor: ~3,000 for the dev stack, 40% of its plan time and most of its garbage. Aliases
 * let the engine match state recorded under an old type; a simulation starts from no state, records neither
 * aliases nor URNs derived from them, and its records are the same with and without them (test/plan/aliases.test.ts
 * compares both). So the simulation drops exactly those alias lists: the merge azure-native's constructors make,
 * whose only option is `aliases`, loses the entries matching API_VERSION_ALIAS; anything else passes through.
 * Installed once on the SDK module that azure-native's classes call (`pulumi.mergeOptions`); simulate() switches it.
 */
function installAliasTrim(): void {
    if (aliasTrim.installed) return;
    const sdk = pulumi as unknown as { mergeOptions: (a: unknown, b: unknown) => unknown };
    const merge = sdk.mergeOptions;
    sdk.mergeOptions = (opts: unknown, extra: unknown) => {
        const aliases = (extra as { aliases?: unknown } | undefined)?.aliases;
        if (!aliasTrim.enabled || !Array.isArray(aliases) || Object.keys(extra as object).length !== 1) return merge(opts, extra);
        const kept = aliases.filter(a => !(a && typeof a === "object" && Object.keys(a).length === 1 &&
            typeof (a as { type?: unknown }).type === "string" && API_VERSION_ALIAS.test((a as { type: string }).type)));
        aliasTrim.trimmed += aliases.length - kept.length;
        return merge(opts, kept.length > 0 ? { aliases: kept } : {});
    };
    aliasTrim.installed = true;
}

// ---- recording monitor --------------------------------------------------------------------------------

function redact(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(redact);
    if (value && typeof value === "object") {
        const o = value as Record<string, unknown>;
        if (o[rpc.specialSigKey] === rpc.specialSecretSig) return REDACTED;
        return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, redact(v)]));
    }
    return value;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the monitor speaks protobuf request objects */
class RecordingMonitor extends MockMonitor {
    public readonly records: SimResource[] = [];
    public pending = 0;
    /** Aliases the engine was told of, over all registrations (records leave them out). */
    public aliases = 0;
    constructor(sim: SimulatedAzure) {
        super({ newResource: a => sim.newResource(a), call: a => sim.call(a) });
    }

    async registerResource(req: any, callback: (err: any, resp: any) => void): Promise<void> {
        this.pending++;
        this.aliases += req.getAliasesList().length;
        const raw = req.getObject()?.toJavaScript() ?? {};
        const propDeps: Record<string, string[]> = {};
        req.getPropertydependenciesMap().forEach((v: any, k: string) => { propDeps[k] = v.getUrnsList(); });
        const record: SimResource = {
            urn: "",
            type: req.getType(),
            name: req.getName(),
            custom: req.getCustom(),
            parent: req.getParent() || undefined,
            inputs: rpc.deserializeProperties(req.getObject()),
            redactedInputs: redact(raw) as Record<string, unknown>,
            outputs: {},
            dependencies: req.getDependenciesList(),
            propertyDependencies: propDeps,
            options: {
                ignoreChanges: req.getIgnorechangesList(),
                deleteBeforeReplace: req.getDeletebeforereplace(),
                additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
                // What the engine is told: a resource it must leave in Azure on delete, or refuse to delete.
                retainOnDelete: req.getRetainondelete() === true,
                protect: req.getProtect() === true,
            },
        };
        await super.registerResource(req, (err: any, resp: any) => {
            if (resp) {
                record.urn = resp.getUrn();
                record.id = resp.getId() || undefined;
                record.outputs = resp.getObject()?.toJavaScript() ?? {};
            }
            this.records.push(record);
            this.pending--;
            callback(err, resp);
        });
    }
}
/* eslint-enable @typescript-eslint/no-explicit-any */

function toConfigStrings(project: string, config: Record<string, unknown>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(config)) {
        out[k.includes(":") ? k : `${project}:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    }
    return out;
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** Resolves an Output (or plain value) to its value; an output still unknown (a preview) resolves to undefined. */
async function settle(value: unknown): Promise<unknown> {
    if (!pulumi.Output.isInstance(value)) return value;
    // Output.isKnown is not in the typings; a preview's unknown value never reaches apply.
    if (!(await (value as unknown as { isKnown: Promise<boolean> }).isKnown)) return undefined;
    return new Promise(resolve => (value as pulumi.Output<unknown>).apply(v => { resolve(v); return v; }));
}

/** Runs the program under the simulated engine and returns what it registered. */
export async function simulate(opts: SimOptions): Promise<SimResult> {
    const project = opts.project ?? "cyclecloud-slurm-entra";
    const program = opts.program ?? path.resolve(__dirname, "..", "index.ts");
    const monitor = new RecordingMonitor(new SimulatedAzure());
    setMockOptions(monitor, project, opts.stack, opts.preview ?? false);
    localProcesses.enabled = opts.localProcesses ?? false;
    installAliasTrim();
    aliasTrim.enabled = !opts.keepApiVersionAliases;
    aliasTrim.trimmed = 0;
    setSecretStandIns(opts.secretStandIns ?? []);
    // As setMocks() does: without secret support every secret would be serialised as plain text. Alias specs as
    // setMocks() and the engine of any current CLI advertise them: aliases reach the engine as specs, for every
    // resource (without them the SDK drops a top-level resource's aliases and derives URNs for the others).
    const store = (runtimeState as unknown as { getStore(): { supportsSecrets: boolean; supportsAliasSpecs: boolean } }).getStore();
    store.supportsSecrets = true;
    store.supportsAliasSpecs = true;
    pulumi.runtime.setAllConfig(toConfigStrings(project, opts.config),
        (opts.secretKeys ?? []).map(k => (k.includes(":") ? k : `${project}:${k}`)));

    delete require.cache[require.resolve(program)];
    let exported: Record<string, unknown> = {};
    let error: Error | undefined;
    try {
        // A fresh require (not import) so the same program can run again with another config.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        exported = require(program);
    } catch (e) {
        error = e as Error;
    }
    const stackOutputs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(exported)) stackOutputs[k] = await settle(v);
    // Wait until no registration is in flight for a few consecutive ticks.
    for (let quiet = 0; quiet < 5;) {
        await sleep(2);
        quiet = monitor.pending === 0 ? quiet + 1 : 0;
    }
    return { resources: monitor.records, trimmedAliases: aliasTrim.trimmed, aliasesRegistered: monitor.aliases, stackOutputs, error };
}
