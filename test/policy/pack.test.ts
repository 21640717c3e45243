import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as authorization from "@pulumi/azure-native/authorization";
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import * as storage from "@pulumi/azure-native/storage";
import { ConditionalAccessPolicy } from "@pulumi/azuread/conditionalAccessPolicy";
import { AZURE_LINUX_VM_SIGN_IN_APP_ID } from "../../policy/common";
import { EvaluatedResource, PolicyConfigError, PolicyPackConfigFile } from "../../policy/evaluate";
import { evaluatePolicies, policies, resolvePolicyConfig } from "../../policy/policies";
import { BASTION_ID, NIC_ID, PIP_ID, ROLE, VM_ID, aadExtensionProps, loginNicProps, loginVmProps, roleDefinitionId } from "./fixtures";
import { ResourceClass, typeOf, unknown } from "./util";

const POLICY_DIR = path.join(__dirname, "..", "..", "policy");
const readConfig = (file: string) => JSON.parse(fs.readFileSync(path.join(POLICY_DIR, file), "utf8")) as PolicyPackConfigFile;

const MANDATORY = [
    "bastion-native-client-tunneling", "login-vm-no-public-ip", "login-vm-nic-no-public-ip", "login-node-no-public-load-balancer", "login-node-no-public-dnat",
    "login-role-assignments-mfa-capable", "login-vm-role-assignments-restricted", "vm-sign-in-conditional-access-requires-mfa",
    "vm-sign-in-conditional-access-present", "vm-sign-in-conditional-access-excludes-no-login-holder", "tag-keys-unambiguous", "vm-custom-data-no-secrets",
];
const ADVISORY = [
    "nsg-no-ssh-rdp-from-internet", "linux-vm-password-authentication-disabled", "storage-account-network-restricted",
    "login-vm-entra-sign-in-ready",
];

describe("policy pack metadata", () => {
    it("has the expected policies, each with a kebab-case name, a why-description, severity and default level", () => {
        assert.deepStrictEqual(policies.map(p => p.name).sort(), [...MANDATORY, ...ADVISORY].sort());
        for (const p of policies) {
            assert.match(p.name, /^[a-z0-9]+(-[a-z0-9]+)*$/, p.name);
            assert.ok(p.description.length > 100 && /^Checks /.test(p.description), `${p.name}: description should say what it checks and why`);
            assert.ok(p.severity && ["low", "medium", "high", "critical"].includes(p.severity), `${p.name}: severity`);
            assert.strictEqual(p.enforcementLevel, MANDATORY.includes(p.name) ? "mandatory" : "advisory", p.name);
            assert.ok(p.remediationSteps, `${p.name}: remediationSteps`);
            // The runtime exits if a schema declares enforcementLevel.
            assert.ok(!("enforcementLevel" in (p.configSchema?.properties ?? {})), p.name);
        }
    });
    it("names the scanner rule (or says none has it) in every advisory policy's description", () => {
        for (const name of ADVISORY) {
            const p = policies.find(x => x.name === name);
            assert.match(p?.description ?? "", /CKV_AZURE_\d+|AVD-AZU-\d+|None of Checkov, Trivy or Azure Policy/, name);
        }
    });
    it("makes org-specific settings configurable", () => {
        const props = (name: string) => Object.keys(policies.find(p => p.name === name)?.configSchema?.properties ?? {});
        assert.deepStrictEqual(props("bastion-native-client-tunneling"), ["allowedSkus"]);
        assert.deepStrictEqual(props("login-vm-no-public-ip"), ["loginTagName", "loginTagValue", "recogniseByEntraExtension", "loginSubnets"]);
        assert.deepStrictEqual(props("vm-sign-in-conditional-access-present"), ["required", "allowedExcludedLocations"]);
        assert.deepStrictEqual(props("vm-sign-in-conditional-access-requires-mfa"), ["allowedExcludedLocations"]);
        assert.deepStrictEqual(props("nsg-no-ssh-rdp-from-internet"), ["ports", "maxPublicSourceAddresses"]);
        assert.deepStrictEqual(props("login-role-assignments-mfa-capable"), ["loginRoleIds"]);
        assert.ok(props("login-vm-role-assignments-restricted").includes("additionalAllowedRoleIds"));
    });
    it("has no import cycle between the pack's modules (issue 20)", () => {
        const imports = new Map(fs.readdirSync(POLICY_DIR).filter(f => f.endsWith(".ts")).map(f => [f.replace(/\.ts$/, ""),
            [...fs.readFileSync(path.join(POLICY_DIR, f), "utf8").matchAll(/from "\.\/([\w-]+)"/g)].map(m => m[1])]));
        const visit = (m: string, trail: string[]): void => {
            assert.ok(!trail.includes(m), `import cycle: ${[...trail, m].join(" -> ")}`);
            (imports.get(m) ?? []).forEach(d => visit(d, [...trail, m]));
        };
        [...imports.keys()].forEach(m => visit(m, []));
        assert.ok((imports.get("evaluate") ?? []).includes("catalog"), "evaluate.ts reads the policy list from catalog.ts");
    });
    it("documents every policy in policy/README.md", () => {
        const readme = fs.readFileSync(path.join(POLICY_DIR, "README.md"), "utf8");
        for (const p of policies) {
            assert.ok(readme.includes(`\`${p.name}\``), `README does not mention ${p.name}`);
        }
    });
});

describe("policy config files", () => {
    it("config.default.json states the defaults: same levels and settings as no config", () => {
        const none = resolvePolicyConfig({});
        const def = resolvePolicyConfig(readConfig("config.default.json"));
        assert.deepStrictEqual([...def.entries()], [...none.entries()]);
        assert.strictEqual(none.get("bastion-native-client-tunneling")?.enforcementLevel, "mandatory");
        assert.strictEqual(none.get("nsg-no-ssh-rdp-from-internet")?.enforcementLevel, "advisory");
    });
    it("config.strict.json makes every policy mandatory", () => {
        const strict = resolvePolicyConfig(readConfig("config.strict.json"));
        assert.strictEqual(strict.size, policies.length);
        for (const [name, c] of strict) {
            assert.strictEqual(c.enforcementLevel, "mandatory", name);
        }
    });
    it("lets a policy's own entry beat \"all\"", () => {
        const c = resolvePolicyConfig({ all: "disabled", "nsg-no-ssh-rdp-from-internet": { enforcementLevel: "mandatory", ports: [22] } });
        assert.strictEqual(c.get("bastion-native-client-tunneling")?.enforcementLevel, "disabled");
        assert.deepStrictEqual(c.get("nsg-no-ssh-rdp-from-internet"), { enforcementLevel: "mandatory", properties: { ports: [22], maxPublicSourceAddresses: 65536 } });
    });
    it("rejects unknown policies, levels, settings and wrong types, naming each key", () => {
        assert.throws(() => resolvePolicyConfig({ "no-such-policy": "mandatory" }), (e: Error) =>
            e instanceof PolicyConfigError && /no-such-policy: no such policy/.test(e.message));
        assert.throws(() => resolvePolicyConfig({ "login-vm-no-public-ip": "strict" as never }), /login-vm-no-public-ip: enforcement level "strict" is not one of/);
        assert.throws(() => resolvePolicyConfig({ "login-vm-no-public-ip": { loginTag: "x" } }), /login-vm-no-public-ip.loginTag: not a setting of this policy \(allowed: loginTagName, loginTagValue, recogniseByEntraExtension, loginSubnets\)/);
        assert.throws(() => resolvePolicyConfig({ "bastion-native-client-tunneling": { allowedSkus: "Standard" } }), /allowedSkus: expected an array of string/);
        assert.throws(() => resolvePolicyConfig({ "bastion-native-client-tunneling": { allowedSkus: ["Gold"] } }), /allowedSkus\[0\]: "Gold" is not one of/);
        assert.throws(() => resolvePolicyConfig({ "nsg-no-ssh-rdp-from-internet": { ports: [0] } }), /ports\[0\]: must be >= 1/);
    });
});

// ---- evaluatePolicies over a stack shaped like this program's ------------------------------------------------------

const res = (cls: ResourceClass | string, name: string, props: Record<string, unknown>, extra: Partial<EvaluatedResource> = {}): EvaluatedResource =>
    ({ type: typeOf(cls), name, urn: `urn:pulumi:dev::cyclecloud-slurm-entra::${typeOf(cls)}::${name}`, props, ...extra });

function compliantStack(): EvaluatedResource[] {
    return [
        res(network.BastionHost, "bastion", { id: BASTION_ID, enableTunneling: true, sku: { name: "Standard" } }),
        res(network.NetworkSecurityGroup, "nsg-login", { securityRules: [{ name: "ssh-from-bastion", access: "Allow", direction: "Inbound", protocol: "Tcp", sourceAddressPrefix: "10.40.0.0/26", destinationPortRange: "22" }] }),
        res(network.NetworkInterface, "login-nic", loginNicProps()),
        res(compute.VirtualMachine, "login-vm", loginVmProps()),
        res(compute.VirtualMachineExtension, "login-aad", aadExtensionProps()),
        res(authorization.RoleAssignment, "alice-login", { principalType: "User", roleDefinitionId: roleDefinitionId(ROLE.virtualMachineUserLogin), scope: VM_ID }),
        res(authorization.RoleAssignment, "alice-nic-reader", { principalType: "User", roleDefinitionId: roleDefinitionId(ROLE.reader), scope: NIC_ID }),
        res(authorization.RoleAssignment, "alice-bastion-reader", { principalType: "User", roleDefinitionId: roleDefinitionId(ROLE.reader), scope: BASTION_ID }),
        res(storage.StorageAccount, "nfs", { kind: "FileStorage", enableHttpsTrafficOnly: false, publicNetworkAccess: "Disabled", networkRuleSet: { defaultAction: "Deny" } }),
        res(ConditionalAccessPolicy, "mfa", {
            state: "enabled",
            conditions: { clientAppTypes: ["all"], applications: { includedApplications: [AZURE_LINUX_VM_SIGN_IN_APP_ID] }, users: { includedUsers: ["All"] } },
            grantControls: { operator: "OR", builtInControls: ["mfa"] },
        }),
    ];
}

function replace(stack: EvaluatedResource[], name: string, props: Record<string, unknown>): EvaluatedResource[] {
    assert.ok(stack.some(r => r.name === name), name);
    return stack.map(r => (r.name === name ? { ...r, props: { ...r.props, ...props } } : r));
}

describe("evaluatePolicies", () => {
    it("finds nothing in a compliant stack", () => {
        assert.deepStrictEqual(evaluatePolicies(compliantStack()), []);
    });
    it("reports violations with the policy, its default level, the resource's URN and a message", () => {
        let stack = replace(compliantStack(), "bastion", { sku: { name: "Basic" } });
        stack = replace(stack, "login-nic", { ipConfigurations: [{ name: "ipconfig1", publicIPAddress: { id: PIP_ID } }] });
        stack = replace(stack, "nsg-login", { securityRules: [{ name: "ssh", access: "Allow", direction: "Inbound", protocol: "Tcp", sourceAddressPrefix: "Internet", destinationPortRange: "22" }] });
        stack.push(res(authorization.RoleAssignment, "bob-owner", { principalType: "User", roleDefinitionId: roleDefinitionId(ROLE.owner), scope: VM_ID }));
        const v = evaluatePolicies(stack);
        const summary = v.map(x => `${x.policy}/${x.enforcementLevel}/${x.urn?.split("::").pop()}`).sort();
        assert.deepStrictEqual(summary, [
            "bastion-native-client-tunneling/mandatory/bastion",
            "login-vm-nic-no-public-ip/mandatory/login-nic",
            "login-vm-no-public-ip/mandatory/login-nic",
            "login-vm-role-assignments-restricted/mandatory/bob-owner",
            "nsg-no-ssh-rdp-from-internet/advisory/nsg-login",
        ]);
        assert.ok(v.every(x => /Fix:/.test(x.message)));
    });
    it("applies the strict config and per-policy settings", () => {
        const stack = replace(compliantStack(), "nsg-login", { securityRules: [{ access: "Allow", direction: "Inbound", protocol: "Tcp", sourceAddressPrefix: "*", destinationPortRange: "3389" }] });
        assert.deepStrictEqual(evaluatePolicies(stack, readConfig("config.strict.json")).map(x => `${x.policy}/${x.enforcementLevel}`),
            ["nsg-no-ssh-rdp-from-internet/mandatory"]);
        assert.deepStrictEqual(evaluatePolicies(stack, { "nsg-no-ssh-rdp-from-internet": { ports: [22] } }), []);
        assert.deepStrictEqual(evaluatePolicies(stack, { all: "disabled" }), []);
    });
    it("uses the configured login tag in every login-node policy", () => {
        const stack = replace(compliantStack(), "login-vm", { tags: { role: "jump" }, identity: undefined });
        assert.deepStrictEqual(evaluatePolicies(stack), []);
        const cfg = { "login-vm-entra-sign-in-ready": { loginTagName: "role", loginTagValue: "jump" } };
        assert.deepStrictEqual(evaluatePolicies(stack, cfg).map(x => x.policy), ["login-vm-entra-sign-in-ready"]);
    });
    it("links resources through propertyDependencies URNs", () => {
        const stack = compliantStack().map(r => r.name === "login-vm" ? { ...r, props: { ...r.props, id: unknown.string, networkProfile: { networkInterfaces: [{ id: unknown.string }] } }, propertyDependencies: { networkProfile: [compliantStack()[2].urn] } } : r);
        const withPip = replace(stack, "login-nic", { tags: {}, ipConfigurations: [{ name: "ipconfig1", publicIPAddress: { id: unknown.string } }] });
        assert.deepStrictEqual(evaluatePolicies(withPip).map(x => x.policy), ["login-vm-nic-no-public-ip"]);
    });
    it("turns unknown values into an advisory \"can't run during preview\" instead of failing", () => {
        const stack = replace(compliantStack(), "bastion", { enableTunneling: unknown.boolean });
        const v = evaluatePolicies(stack);
        assert.strictEqual(v.length, 1);
        assert.strictEqual(v[0].policy, "bastion-native-client-tunneling");
        assert.strictEqual(v[0].enforcementLevel, "advisory");
        assert.match(v[0].message, /can't run policy 'bastion-native-client-tunneling' during preview: boolean value at \.enableTunneling/);
    });
    it("reports no violation for resource types no policy covers", () => {
        assert.deepStrictEqual(evaluatePolicies([res("azure-native:resources:ResourceGroup", "rg", { location: "westeurope" })]), []);
    });
});
