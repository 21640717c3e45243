// Compute policies: SSH keys only, no secrets in custom data, login VMs ready for Entra ID sign-in.
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import * as compute from "@pulumi/azure-native/compute";
import { DEFAULT_LOGIN_TAG, LoginTagConfig, arr, idOf, known, loginTagSchema, lower, withDefaults } from "./common";
import { findLoginVms, isAtOrBelow, label, sameName, validateStackAround } from "./graph";

// ---------------------------------------------------------------------------------------------------------------
// 5. Linux VMs disable password authentication

export const linuxVmPasswordAuthenticationDisabled: ResourceValidationPolicy = {
    name: "linux-vm-password-authentication-disabled",
    description:
        "Checks that Linux VMs set osProfile.linuxConfiguration.disablePasswordAuthentication to true. Passwords " +
        "can be guessed and bypass Entra ID sign-in and its MFA; the local admin should use an SSH key only. " +
        "Checkov CKV_AZURE_149, Trivy AVD-AZU-0039.",
    severity: "high",
    enforcementLevel: "advisory",
    remediationSteps: "Set osProfile.linuxConfiguration.disablePasswordAuthentication: true and give the admin an SSH public key.",
    validateResource: validateResourceOfType(compute.VirtualMachine, (vm, args, reportViolation) => {
        const os = vm.osProfile;
        if (!os) {
            return args.notApplicable("no osProfile (VM created from a specialised disk)");
        }
        const linux = os.linuxConfiguration;
        const osType = lower(vm.storageProfile?.osDisk?.osType);
        if (os.windowsConfiguration || (!linux && osType !== "linux")) {
            return args.notApplicable("not a Linux VM");
        }
        if (linux?.disablePasswordAuthentication !== true) {
            const state = linux?.disablePasswordAuthentication === false
                ? "osProfile.linuxConfiguration.disablePasswordAuthentication is false"
                : "osProfile.linuxConfiguration.disablePasswordAuthentication is not set (Azure allows passwords then)";
            reportViolation(
                `${state}. Fix: set it to true and configure linuxConfiguration.ssh.publicKeys. ` +
                "(Checkov CKV_AZURE_149, Trivy AVD-AZU-0039)");
        }
    }),
};

// ---------------------------------------------------------------------------------------------------------------
// 7. No secrets in custom data

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Decodes base64 into a binary string (one char per byte), or undefined if `s` is not base64. No Node APIs:
 * the published pack type-checks without @types/node. Secret markers are ASCII, so bytes are enough. */
export function decodeBase64(s: string): string | undefined {
    const t = s.replace(/\s+/g, "");
    if (t.length === 0 || t.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(t)) {
        return undefined;
    }
    let out = "";
    for (let i = 0; i < t.length; i += 4) {
        const n = [0, 1, 2, 3].map(k => (t[i + k] === "=" ? 0 : BASE64.indexOf(t[i + k])));
        const bits = (n[0] << 18) | (n[1] << 12) | (n[2] << 6) | n[3];
        out += String.fromCharCode((bits >> 16) & 255);
        if (t[i + 2] !== "=") out += String.fromCharCode((bits >> 8) & 255);
        if (t[i + 3] !== "=") out += String.fromCharCode(bits & 255);
    }
    return out;
}

const NOT_A_SECRET = new Set(["", "true", "false", "yes", "no", "none", "null", "r", "random", "''", "\"\""]);

/**
 * What kinds of secret material a script or cloud-config contains, as "line N: kind" findings. Never returns the
 * secret itself: findings end up in preview output and CI logs.
 */
export function findSecrets(text: string): string[] {
    const findings: string[] = [];
    const lines = text.split(/\r?\n/);
    const add = (i: number, what: string) => findings.push(`line ${i + 1}: ${what}`);
    lines.forEach((line, i) => {
        if (/-----BEGIN ((RSA|DSA|EC|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY( BLOCK)?-----/.test(line)) {
            add(i, "a private key block");
        }
        // A munge key written from inline data: shell (echo/printf ... > munge.key, heredoc into munge.key).
        if (/\b(echo|printf)\b.*(>|\btee\s+(-a\s+)?)\s*["']?[^\s"']*munge\.key\b/.test(line) ||
            /\bcat\b[^|]*>\s*["']?[^\s"']*munge\.key["']?\s*<</.test(line) ||
            /<<-?\s*["']?\w+["']?\s*>\s*["']?[^\s"']*munge\.key/.test(line)) {
            add(i, "an inline munge key (written from data in the script)");
        }
        // A munge key as a cloud-init write_files entry with inline content.
        if (/^\s*(-\s*)?path:\s*["']?[^\s"']*munge\.key["']?\s*$/.test(line) && writeFilesEntryHasContent(lines, i)) {
            add(i, "an inline munge key (cloud-init write_files content)");
        }
        // password = literal / password: literal; variables, booleans and cloud-init's RANDOM are not secrets.
        const m = /\b([\w.-]*(?:password|passwd|passphrase))\b["']?\s*[:=]\s*(["']?)([^\s"'#,;]*)/i.exec(line);
        if (m && !NOT_A_SECRET.has(m[3].toLowerCase()) && !/^[$%{<(]/.test(m[3])) {
            add(i, `a password (${m[1]})`);
        }
        // echo 'user:password' | chpasswd
        if (/\b(echo|printf)\s+["']?[\w.-]+:[^\s$"'][^\s"']*["']?\s*\|\s*(sudo\s+)?chpasswd\b/.test(line)) {
            add(i, "a password piped into chpasswd");
        }
        if (/AccountKey=[A-Za-z0-9+/]{20,}/.test(line)) {
            add(i, "a storage account key");
        }
    });
    // cloud-init `chpasswd: { list: | user:password }` (the older, still accepted form).
    let listIndent = -1;
    lines.forEach((line, i) => {
        const indent = line.length - line.trimStart().length;
        if (/^\s*list:\s*\|?\s*$/.test(line) && lines.slice(Math.max(0, i - 5), i).some(l => /^\s*chpasswd:\s*$/.test(l))) {
            listIndent = indent;
            return;
        }
        if (listIndent >= 0 && line.trim() !== "" && indent <= listIndent) {
            listIndent = -1;
        }
        const entry = /^\s*(?:-\s*)?[\w.-]+:(\S+)\s*$/.exec(line);
        if (listIndent >= 0 && entry && !NOT_A_SECRET.has(entry[1].toLowerCase())) {
            add(i, "a password in cloud-init chpasswd.list");
        }
    });
    return [...new Set(findings)];
}

/** Whether the write_files item around line `i` (its `path:`) also has a `content:` key. */
function writeFilesEntryHasContent(lines: string[], i: number): boolean {
    const indentOf = (l: string) => l.length - l.trimStart().length;
    let start = i;
    if (!/^\s*-\s/.test(lines[i])) {
        const pathIndent = indentOf(lines[i]);
        while (start > 0 && !(/^\s*-\s/.test(lines[start]) && indentOf(lines[start]) < pathIndent)) {
            start--;
        }
    }
    const itemIndent = indentOf(lines[start]);
    for (let j = start; j < lines.length; j++) {
        if (j > start && lines[j].trim() !== "" && indentOf(lines[j]) <= itemIndent) {
            break;
        }
        if (/^\s*(-\s*)?content:/.test(lines[j])) {
            return true;
        }
    }
    return false;
}

function scan(value: unknown): string[] {
    if (typeof value !== "string" || value === "") {
        return [];
    }
    const decoded = decodeBase64(value);
    return findSecrets(decoded ?? value);
}

export const vmCustomDataNoSecrets: ResourceValidationPolicy = {
    name: "vm-custom-data-no-secrets",
    description:
        "Checks that a VM's custom data and user data contain no secret material: private key blocks, inline munge " +
        "keys, passwords, storage account keys. Custom data is readable by anyone who can read the VM model and is " +
        "kept on the VM's disk; secrets belong in Key Vault or a protected seed step. Trivy AVD-AZU-0037.",
    severity: "high",
    enforcementLevel: "advisory",
    remediationSteps: "Move the secret out of customData (Key Vault, a managed-identity fetch, or a remote command that copies it).",
    validateResource: validateResourceOfType(compute.VirtualMachine, (vm, _args, reportViolation) => {
        const sources: [string, unknown][] = [["osProfile.customData", vm.osProfile?.customData], ["userData", vm.userData]];
        for (const [where, value] of sources) {
            const findings = scan(value);
            if (findings.length > 0) {
                reportViolation(
                    `${where} contains ${findings.join("; ")}. Fix: remove it and deliver the secret at run time ` +
                    "(Key Vault with the VM's managed identity, or a remote command over Bastion). (Trivy AVD-AZU-0037)");
            }
        }
    }),
};

// ---------------------------------------------------------------------------------------------------------------
// 8. Login VMs are ready for Entra ID sign-in

const AAD_PUBLISHER = "microsoft.azure.activedirectory";
const AAD_SSH_TYPE = "aadsshloginforlinux";

function isAadSshExtension(props: Record<string, unknown>): boolean {
    // On inputs `type` is the extension type; in azure-native outputs `type` is the ARM resource type, so the
    // extension's name (which by convention is its type) counts too.
    return lower(props.publisher) === AAD_PUBLISHER &&
        [props.type, props.vmExtensionName, props.name].some(v => lower(v) === AAD_SSH_TYPE);
}

function hasAadSshExtension(vm: PolicyResource, vmId: string | undefined, extensions: PolicyResource[]): boolean {
    const inline = known(() => arr(vm.props.resources as Record<string, unknown>[]).some(e => known(() => isAadSshExtension(e), false)), false);
    if (inline) {
        return true;
    }
    const vmName = known(() => vm.props.name as unknown);
    return extensions.some(ext => {
        if (!known(() => isAadSshExtension(ext.props), false)) {
            return false;
        }
        const viaDeps = (ext.propertyDependencies?.vmName ?? ext.dependencies ?? []).includes(vm);
        const viaId = isAtOrBelow(idOf(ext), vmId) && idOf(ext) !== vmId;
        const viaName = sameName(known(() => ext.props.vmName as unknown), vmName);
        return ext.parent === vm || viaDeps || viaId || viaName;
    });
}

export const loginVmEntraSignInReady: StackValidationPolicy = {
    name: "login-vm-entra-sign-in-ready",
    description:
        "Checks that every login VM has a system-assigned managed identity and the AADSSHLoginForLinux extension " +
        "(publisher Microsoft.Azure.ActiveDirectory). Without both, Entra ID sign-in fails and people fall back to " +
        "shared local accounts. None of Checkov, Trivy or Azure Policy has this check.",
    severity: "medium",
    enforcementLevel: "advisory",
    remediationSteps: "Give the login VM identity: { type: \"SystemAssigned\" } and add a VirtualMachineExtension AADSSHLoginForLinux.",
    configSchema: { properties: { ...loginTagSchema } },
    validateStack: validateStackAround(compute.VirtualMachine, (_vms, args, reportViolation) => {
        const cfg = withDefaults<LoginTagConfig>({ loginTagName: DEFAULT_LOGIN_TAG.name, loginTagValue: DEFAULT_LOGIN_TAG.value },
            args.getConfig<Partial<LoginTagConfig>>());
        const extensions = args.resources.filter(r => r.isType(compute.VirtualMachineExtension));
        for (const { vm, id } of findLoginVms(args.resources, cfg)) {
            const identityType = known(() => lower(vm.props.identity?.type), "unknown");
            if (identityType !== "unknown" && !identityType.split(/[\s,]+/).includes("systemassigned")) {
                reportViolation(
                    `Login VM ${label(vm)} has no system-assigned managed identity, which AADSSHLoginForLinux needs to ` +
                    "register with Entra ID. Fix: set identity: { type: \"SystemAssigned\" } (or \"SystemAssigned, UserAssigned\").",
                    vm.urn);
            }
            if (!hasAadSshExtension(vm, id, extensions)) {
                reportViolation(
                    `Login VM ${label(vm)} has no AADSSHLoginForLinux extension in this stack, so Entra ID sign-in cannot ` +
                    "work. Fix: add compute.VirtualMachineExtension { vmName: <login VM>, publisher: " +
                    "\"Microsoft.Azure.ActiveDirectory\", type: \"AADSSHLoginForLinux\", typeHandlerVersion: \"1.0\" }.",
                    vm.urn);
            }
        }
    }),
};
