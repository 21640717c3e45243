// Compute policies: SSH keys only, no secrets in custom data, login VMs ready for Entra ID sign-in.
import { ReportViolation, ResourceValidationPolicy, StackValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import * as compute from "@pulumi/azure-native/compute";
import { DEFAULT_LOGIN_CONFIG, LoginConfig, known, loginSchema, lower, withDefaults } from "./common";
import { findLoginVms, label, validateStackAround } from "./graph";

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
        if (/PuTTY-User-Key-File-\d/.test(line)) {
            add(i, "a PuTTY private key");
        }
        // A munge key decoded from inline base64 (heredoc, pipe from echo/printf, or stdin): not from a file.
        if (/\bbase64\s+(?:-\w*d\w*|--decode)\b[^|]*>\s*["']?[^\s"']*munge\.key\b/.test(line) &&
            !/\bbase64\s+(?:-\w*d\w*|--decode)\s+(?:-\S+\s+)*["']?[$/~.\w]/.test(line.replace(/>.*$/, "")) &&
            !/<\s*["']?[$/]/.test(line.replace(/<</g, ""))) {
            add(i, "an inline munge key (base64 decoded into munge.key)");
        }
        // sshpass -p <literal>: the password is in the script (and on a command line); -e/-f read it from elsewhere.
        const sshpass = /\bsshpass\s+(?:-\w+\s+)*-p\s*["']?([^\s"']+)/.exec(line);
        if (sshpass && !/^[$%{<(]/.test(sshpass[1])) {
            add(i, "a password (sshpass -p)");
        }
        // mysql -p<literal> / mysqladmin / mysqldump / mariadb: the password glued to -p.
        const mysql = /\b(mysql|mysqladmin|mysqldump|mariadb|mariadb-dump)\b[^|;&]*\s-p["']?([^\s"'/-][^\s"']*)/.exec(line);
        if (mysql && !/^[$%{<(]/.test(mysql[2])) {
            add(i, `a password (${mysql[1]} -p...)`);
        }
        // PGPASSWORD=literal, --password literal (space-separated form).
        const spaced = /--(?:password|passwd)\s+["']?([^\s"'-][^\s"']*)/i.exec(line);
        if (spaced && !NOT_A_SECRET.has(spaced[1].toLowerCase()) && !/^[$%{<(]/.test(spaced[1])) {
            add(i, "a password (--password <value>)");
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

interface ZlibLike { gunzipSync(b: unknown): { toString(enc: string): string } }
interface BufferLike { from(s: string, enc: string): unknown }
interface BuiltinLoader { getBuiltinModule?(name: string): unknown }

/**
 * Inflates gzip data given as a binary string, through Node's zlib when the runtime offers it
 * (`process.getBuiltinModule`, Node >= 20.16), or undefined. The pack declares no Node types, hence the casts.
 */
function gunzip(binary: string): string | undefined {
    try {
        const loader = (globalThis as { process?: BuiltinLoader }).process;
        const zlib = loader?.getBuiltinModule?.("zlib") as ZlibLike | undefined;
        const buffer = (loader?.getBuiltinModule?.("buffer") as { Buffer?: BufferLike } | undefined)?.Buffer;
        return zlib && buffer ? zlib.gunzipSync(buffer.from(binary, "latin1")).toString("latin1") : undefined;
    } catch {
        return undefined; // corrupt gzip: reported as unreadable by the caller's fallback below
    }
}

/** Printable ASCII plus tab and line breaks: a decoded script or key file rather than random bytes. */
function isText(s: string): boolean {
    for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (!(c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127))) return false;
    }
    return true;
}

/** True for gzip data (magic bytes 1f 8b), which cloud-init accepts as user data. */
function isGzip(binary: string): boolean {
    return binary.charCodeAt(0) === 0x1f && binary.charCodeAt(1) === 0x8b;
}

/**
 * Scans custom data: decodes it if it is base64, then scans the text and every base64 blob inside it (a private
 * key or script shipped as `echo <base64> | base64 -d`), two levels deep. Gzip-compressed data cannot be read
 * here (the pack has no inflate without Node APIs), so it is reported as unscannable instead of passing.
 */
export function scan(value: unknown, depth = 0): string[] {
    if (typeof value !== "string" || value === "") {
        return [];
    }
    const decoded = decodeBase64(value);
    const text = decoded ?? value;
    if (isGzip(text)) {
        const inflated = gunzip(text);
        if (inflated === undefined) {
            return ["gzip-compressed data, which this scanner cannot read (so it cannot vouch for it)"];
        }
        return depth < 3 ? scan(inflated, depth + 1).map(f => `gzip-compressed ${f}`) : [];
    }
    const findings = findSecrets(text);
    if (depth < 2) {
        for (const blob of text.match(/[A-Za-z0-9+/]{40,}={0,2}/g) ?? []) {
            const inner = decodeBase64(blob.length % 4 === 0 ? blob : blob.slice(0, blob.length - (blob.length % 4)));
            // Only text-like payloads: a random key or hash decodes to binary and carries no markers anyway.
            if (inner && (isText(inner) || isGzip(inner))) {
                findings.push(...scan(blob, depth + 1).map(f => `a base64 blob containing ${f.replace(/^line \d+: /, "")}`));
            }
        }
    }
    return [...new Set(findings)];
}

function reportSecrets(sources: [string, unknown][], reportViolation: ReportViolation): void {
    for (const [where, value] of sources) {
        const findings = scan(value);
        if (findings.length > 0) {
            reportViolation(
                `${where} contains ${findings.join("; ")}. Fix: remove it and deliver the secret at run time ` +
                "(Key Vault with the VM's managed identity, or a remote command over Bastion); ship custom data " +
                "uncompressed so it can be checked. (Trivy AVD-AZU-0037)");
        }
    }
}

export const vmCustomDataNoSecrets: ResourceValidationPolicy = {
    name: "vm-custom-data-no-secrets",
    description:
        "Checks that the custom data and user data of a VM, scale set or scale set VM contain no secret material: " +
        "private key blocks (also inside base64 blobs), inline munge keys (echo/heredoc/base64 -d into munge.key, " +
        "write_files content), passwords (password=, --password, sshpass -p, mysql -p..., chpasswd), storage " +
        "account keys; gzip-compressed data is inflated first (reported as unscannable if it cannot be). User data is " +
        "readable by every local user through IMDS and by anyone who can read the VM ($expand=userData); custom data " +
        "stays on the VM's disk and in stack state and deployment records — a munge key or private key there is a " +
        "standing path to root. Secrets belong in Key Vault or a protected seed step. Trivy AVD-AZU-0037.",
    severity: "high",
    enforcementLevel: "mandatory",
    remediationSteps: "Move the secret out of customData (Key Vault, a managed-identity fetch, or a remote command that copies it).",
    validateResource: [
        validateResourceOfType(compute.VirtualMachine, (vm, _args, reportViolation) =>
            reportSecrets([["osProfile.customData", vm.osProfile?.customData], ["userData", vm.userData]], reportViolation)),
        validateResourceOfType(compute.VirtualMachineScaleSet, (vmss, _args, reportViolation) =>
            reportSecrets([["virtualMachineProfile.osProfile.customData", vmss.virtualMachineProfile?.osProfile?.customData],
                ["virtualMachineProfile.userData", vmss.virtualMachineProfile?.userData]], reportViolation)),
        validateResourceOfType(compute.VirtualMachineScaleSetVM, (vm, _args, reportViolation) =>
            reportSecrets([["osProfile.customData", vm.osProfile?.customData], ["userData", vm.userData]], reportViolation)),
    ],
};

// ---------------------------------------------------------------------------------------------------------------
// 8. Login VMs are ready for Entra ID sign-in

export const loginVmEntraSignInReady: StackValidationPolicy = {
    name: "login-vm-entra-sign-in-ready",
    description:
        "Checks that every login VM (by tag or login subnet) has a system-assigned managed identity and the " +
        "AADSSHLoginForLinux extension (publisher Microsoft.Azure.ActiveDirectory). Without both, Entra ID sign-in " +
        "fails and people fall back to shared local accounts. None of Checkov, Trivy or Azure Policy has this check.",
    severity: "medium",
    enforcementLevel: "advisory",
    remediationSteps: "Give the login VM identity: { type: \"SystemAssigned\" } and add a VirtualMachineExtension AADSSHLoginForLinux.",
    configSchema: { properties: { ...loginSchema } },
    validateStack: validateStackAround(compute.VirtualMachine, (_vms, args, reportViolation) => {
        const cfg = withDefaults(DEFAULT_LOGIN_CONFIG, args.getConfig<Partial<LoginConfig>>());
        const withoutExtension = findLoginVms(args.resources, { ...cfg, recogniseByEntraExtension: false }).filter(n => n.kind === "VM");
        const withExtension = new Set(findLoginVms(args.resources, { ...cfg, loginSubnets: [], loginTagName: "\0", loginTagValue: "\0" }).map(n => n.vm));
        for (const { vm } of withoutExtension) {
            const identityType = known(() => lower(vm.props.identity?.type), "unknown");
            if (identityType !== "unknown" && !identityType.split(/[\s,]+/).includes("systemassigned")) {
                reportViolation(
                    `Login VM ${label(vm)} has no system-assigned managed identity, which AADSSHLoginForLinux needs to ` +
                    "register with Entra ID. Fix: set identity: { type: \"SystemAssigned\" } (or \"SystemAssigned, UserAssigned\").",
                    vm.urn);
            }
            if (!withExtension.has(vm)) {
                reportViolation(
                    `Login VM ${label(vm)} has no AADSSHLoginForLinux extension in this stack, so Entra ID sign-in cannot ` +
                    "work. Fix: add compute.VirtualMachineExtension { vmName: <login VM>, publisher: " +
                    "\"Microsoft.Azure.ActiveDirectory\", type: \"AADSSHLoginForLinux\", typeHandlerVersion: \"1.0\" }.",
                    vm.urn);
            }
        }
    }),
};
