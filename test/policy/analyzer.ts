// Runs the policy pack the way the Pulumi CLI does and talks to it over the analyzer gRPC protocol, so that tests
// prove packaging, names, config schemas and (de)serialisation, not only the policy functions.
//
// How the CLI starts a Node.js pack (pulumi/pulumi sdk/go/common/resource/plugin/analyzer_plugin.go,
// NewPolicyAnalyzer): it runs the `pulumi-analyzer-policy` shim with the pack directory as working directory and
// the arguments `<engine address> .`; the shim runs `node <pack>/node_modules/@pulumi/pulumi/cmd/run-policy-pack`
// with them, which registers ts-node (type-checking with the pack's tsconfig.json) and loads the pack's `main`.
// The pack prints the port of its gRPC server on stdout. The CLI then calls Handshake (optional), GetAnalyzerInfo,
// GetPluginInfo, ConfigureStack, Configure (with the resolved policy config), Analyze per resource (inputs) and
// AnalyzeStack (all resources' outputs), with properties marshalled as google.protobuf.Struct keeping secrets
// and unknowns (MarshalOptions{KeepUnknowns, KeepSecrets}).
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import { EvaluatedResource, PolicyPackConfigFile, PolicyViolation } from "../../policy/evaluate";

/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any --
   the generated protobuf stubs are CommonJS without usable typings for this use */
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const fromPulumi = (m: string) => require(require.resolve(m, { paths: [pulumiDir] }));
const grpc = fromPulumi("@grpc/grpc-js");
const analyzerRpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const analyzerPb = require("@pulumi/pulumi/proto/analyzer_pb");
const pluginPb = require("@pulumi/pulumi/proto/plugin_pb");
const structPb = fromPulumi("google-protobuf/google/protobuf/struct_pb");
const emptyPb = fromPulumi("google-protobuf/google/protobuf/empty_pb");
const rpc = require("@pulumi/pulumi/runtime/rpc");
const proxy = require("@pulumi/policy/proxy");

export const POLICY_DIR = path.join(__dirname, "..", "..", "policy");

/** The engine's encoding of a value unknown during preview (@pulumi/pulumi runtime/rpc.js `unknownValue`). */
export const ENGINE_UNKNOWN: string = rpc.unknownValue;
/** A secret as the engine sends it (rpc.js `specialSigKey` / `specialSecretSig`). */
export const engineSecret = (value: unknown) => ({ [rpc.specialSigKey]: rpc.specialSecretSig, value });

const PROXY_UNKNOWNS = new Set<string>([
    proxy.unknownStringValue, proxy.unknownBooleanValue, proxy.unknownNumberValue, proxy.unknownArrayValue, proxy.unknownObjectValue,
]);

/** Props as the engine marshals them: the policy runtime's per-type unknown sentinels become the engine's unknown. */
function toEngine(value: unknown): unknown {
    if (typeof value === "string" && PROXY_UNKNOWNS.has(value)) return ENGINE_UNKNOWN;
    if (Array.isArray(value)) return value.map(toEngine);
    if (value && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, toEngine(v)]));
    }
    return value;
}

const LEVEL_TO_PB: Record<string, number> = { advisory: 0, mandatory: 1, disabled: 2, remediate: 3 };
const PB_TO_LEVEL = ["advisory", "mandatory", "disabled", "remediate"];

export interface PolicyInfo {
    name: string;
    enforcementLevel: string;
    configSchema: { properties: Record<string, any>; required: string[] };
}

export interface AnalyzerInfo {
    name: string;
    version: string;
    supportsConfig: boolean;
    policies: PolicyInfo[];
}

function options(r: EvaluatedResource): any {
    const o = new analyzerPb.AnalyzerResourceOptions();
    o.setProtect(false);
    o.setIgnorechangesList([]);
    o.setDeletebeforereplacedefined(false);
    o.setAdditionalsecretoutputsList([]);
    o.setAliasesList([]);
    const timeouts = new analyzerPb.AnalyzerResourceOptions.CustomTimeouts();
    o.setCustomtimeouts(timeouts);
    if (r.parent) o.setParent(r.parent);
    return o;
}

/** The default provider a current CLI names for the resource's package. */
function provider(r: EvaluatedResource, stackUrnPrefix: string): any {
    const pkg = r.type.split(":")[0];
    const p = new analyzerPb.AnalyzerProviderResource();
    p.setType(`pulumi:providers:${pkg}`);
    p.setName(`default_${pkg.replace(/-/g, "_")}`);
    p.setUrn(`${stackUrnPrefix}pulumi:providers:${pkg}::default`);
    p.setProperties(structPb.Struct.fromJavaScript({ version: "0.0.0" }));
    return p;
}

function diagnostics(resp: any, urn?: string): PolicyViolation[] {
    return resp.getDiagnosticsList().map((d: any) => ({
        policy: d.getPolicyname(),
        enforcementLevel: PB_TO_LEVEL[d.getEnforcementlevel()],
        urn: d.getUrn() || urn,
        message: d.getMessage(),
        packName: d.getPolicypackname(),
    }));
}

/** A running policy pack process and a client connected to it. */
export class PolicyPackProcess {
    private constructor(private readonly child: ChildProcess, private readonly client: any, readonly port: number, readonly stderr: () => string) {}

    /** Starts the pack as the CLI does and connects to the port it prints. */
    static async start(timeoutMs = 180_000): Promise<PolicyPackProcess> {
        const env = { ...process.env };
        // Mocha runs TypeScript transpile-only; the CLI lets run-policy-pack type-check, so the pack does here too.
        for (const k of Object.keys(env).filter(k => k.startsWith("TS_NODE_"))) delete env[k];
        const child = spawn(process.execPath, [require.resolve("@pulumi/pulumi/cmd/run-policy-pack"), "127.0.0.1:1", "."],
            { cwd: POLICY_DIR, env, stdio: ["ignore", "pipe", "pipe"] });
        // If the test process exits without stop() (a crash, mocha's exit), take the pack down with it.
        const killOnExit = () => child.kill("SIGKILL");
        process.once("exit", killOnExit);
        child.once("exit", () => process.removeListener("exit", killOnExit));
        let out = "";
        let err = "";
        child.stderr?.on("data", d => { err += String(d); });
        const port = await new Promise<number>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`policy pack printed no port within ${timeoutMs} ms: ${err}`)), timeoutMs);
            child.stdout?.on("data", d => {
                out += String(d);
                const m = /^(\d+)\s*$/m.exec(out);
                if (m) {
                    clearTimeout(timer);
                    resolve(Number(m[1]));
                }
            });
            child.on("exit", code => {
                clearTimeout(timer);
                reject(new Error(`policy pack exited with ${code} before printing a port: ${err}`));
            });
        });
        const client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(),
            { "grpc.max_receive_message_length": 400 * 1024 * 1024 });
        return new PolicyPackProcess(child, client, port, () => err);
    }

    private call<T>(method: string, req: unknown): Promise<T> {
        return new Promise((resolve, reject) => this.client[method](req, (e: Error | null, resp: T) => (e ? reject(e) : resolve(resp))));
    }

    /** Handshake, as a current CLI sends it first; returns false if the pack does not implement it (allowed). */
    async handshake(): Promise<boolean> {
        const req = new analyzerPb.AnalyzerHandshakeRequest();
        req.setEngineAddress("127.0.0.1:1");
        req.setRootDirectory(POLICY_DIR);
        req.setProgramDirectory(POLICY_DIR);
        try {
            await this.call("handshake", req);
            return true;
        } catch (e) {
            if ((e as { code?: number }).code === grpc.status.UNIMPLEMENTED) return false;
            throw e;
        }
    }

    async getAnalyzerInfo(): Promise<AnalyzerInfo> {
        const resp: any = await this.call("getAnalyzerInfo", new emptyPb.Empty());
        return {
            name: resp.getName(),
            version: resp.getVersion(),
            supportsConfig: resp.getSupportsconfig(),
            policies: resp.getPoliciesList().map((p: any) => ({
                name: p.getName(),
                enforcementLevel: PB_TO_LEVEL[p.getEnforcementlevel()],
                configSchema: {
                    properties: p.getConfigschema()?.getProperties()?.toJavaScript() ?? {},
                    required: p.getConfigschema()?.getRequiredList() ?? [],
                },
            })),
        };
    }

    async getPluginInfo(): Promise<string> {
        const resp: any = await this.call("getPluginInfo", new emptyPb.Empty());
        return resp.getVersion();
    }

    async configureStack(stack: string, project: string): Promise<void> {
        const req = new analyzerPb.AnalyzerStackConfigureRequest();
        req.setStack(stack);
        req.setProject(project);
        req.setOrganization("organization");
        req.setDryRun(true);
        await this.call("configureStack", req);
    }

    /**
     * Resolves a config file against the schemas GetAnalyzerInfo returned, as the CLI does (a policy's entry beats
     * "all", which beats the pack's level; schema defaults fill unset properties), and sends it with Configure.
     * Returns what it sent.
     */
    async configure(info: AnalyzerInfo, file: PolicyPackConfigFile = {}): Promise<Record<string, { enforcementLevel: string; properties: Record<string, unknown> }>> {
        const levelOf = (e: unknown) => (typeof e === "string" ? e : (e as { enforcementLevel?: string } | undefined)?.enforcementLevel);
        const sent: Record<string, { enforcementLevel: string; properties: Record<string, unknown> }> = {};
        const req = new analyzerPb.ConfigureAnalyzerRequest();
        const map = req.getPolicyconfigMap();
        for (const p of info.policies) {
            const entry = file[p.name];
            const properties: Record<string, unknown> = {};
            for (const [k, s] of Object.entries(p.configSchema.properties)) {
                if (s && (s as { default?: unknown }).default !== undefined) properties[k] = (s as { default: unknown }).default;
            }
            if (entry && typeof entry === "object") {
                for (const [k, v] of Object.entries(entry)) if (k !== "enforcementLevel") properties[k] = v;
            }
            const level = levelOf(entry) ?? levelOf(file.all) ?? p.enforcementLevel;
            const pc = new analyzerPb.PolicyConfig();
            pc.setEnforcementlevel(LEVEL_TO_PB[level]);
            pc.setProperties(structPb.Struct.fromJavaScript(properties));
            map.set(p.name, pc);
            sent[p.name] = { enforcementLevel: level, properties };
        }
        await this.call("configure", req);
        return sent;
    }

    /** Analyze: one resource's inputs, before it is created or updated. */
    async analyze(r: EvaluatedResource, stackUrnPrefix = "urn:pulumi:dev::cyclecloud-slurm-entra::"): Promise<PolicyViolation[]> {
        const req = new analyzerPb.AnalyzeRequest();
        req.setUrn(r.urn);
        req.setType(r.type);
        req.setName(r.name);
        req.setProperties(structPb.Struct.fromJavaScript(toEngine(r.props)));
        req.setOptions(options(r));
        req.setProvider(provider(r, stackUrnPrefix));
        return diagnostics(await this.call("analyze", req), r.urn);
    }

    /** AnalyzeStack: every resource's outputs, with parent and (property) dependencies. */
    async analyzeStack(resources: EvaluatedResource[], stackUrnPrefix = "urn:pulumi:dev::cyclecloud-slurm-entra::"): Promise<PolicyViolation[]> {
        const req = new analyzerPb.AnalyzeStackRequest();
        req.setResourcesList(resources.map(r => {
            const ar = new analyzerPb.AnalyzerResource();
            ar.setUrn(r.urn);
            ar.setType(r.type);
            ar.setName(r.name);
            ar.setProperties(structPb.Struct.fromJavaScript(toEngine(r.props)));
            ar.setOptions(options(r));
            ar.setProvider(provider(r, stackUrnPrefix));
            if (r.parent) ar.setParent(r.parent);
            ar.setDependenciesList(r.dependencies ?? []);
            const deps = ar.getPropertydependenciesMap();
            for (const [k, urns] of Object.entries(r.propertyDependencies ?? {})) {
                if (urns.length === 0) continue;
                const pd = new analyzerPb.AnalyzerPropertyDependencies();
                pd.setUrnsList(urns);
                deps.set(k, pd);
            }
            return ar;
        }));
        return diagnostics(await this.call("analyzeStack", req));
    }

    /** Analyze for every resource, then AnalyzeStack, as one `pulumi preview` would. */
    async analyzeAll(resources: EvaluatedResource[]): Promise<PolicyViolation[]> {
        const perResource: PolicyViolation[] = [];
        for (const r of resources) perResource.push(...await this.analyze(r));
        return [...perResource, ...await this.analyzeStack(resources)];
    }

    /** Closes the client and kills the pack process (and waits for it to exit: no orphan). */
    async stop(): Promise<void> {
        this.client.close();
        if (this.child.exitCode !== null || this.child.signalCode !== null) return;
        await new Promise<void>(resolve => {
            this.child.once("exit", () => resolve());
            this.child.kill("SIGTERM");
        });
    }

    get pid(): number | undefined {
        return this.child.pid;
    }
}

export { pluginPb };
