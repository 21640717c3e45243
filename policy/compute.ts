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

/** Values that lock an account rather than set a password (`usermod -p '!'`, shadow's `*`). */
const LOCKED = new Set(["!", "!!", "*", "x"]);

/** A value that is not literal data in the script: a variable, command substitution or arithmetic expansion. */
const isExpansion = (v: string) => /^[$%{<(`]/.test(v);

/** Shell words of `text`, quotes removed; command substitutions `$(...)` / backticks become one `$` word. */
function words(text: string): string[] {
    const flat = text.replace(/\$\((?:[^()]|\([^()]*\))*\)/g, "$CMD").replace(/`[^`]*`/g, "$CMD");
    return (flat.match(/"[^"]*"|'[^']*'|[^\s"']+/g) ?? []).map(w => w.replace(/^(["'])(.*)\1$/, "$2"));
}

/** The data words `echo`/`printf` print in `segment` (options and a printf format dropped). */
function printedWords(segment: string): string[] | undefined {
    // Also inside a cloud-init runcmd item (`- echo …`, `[bash, -c, "echo …"]`) or after `bash -c "`.
    const m = /(?:^|[\s"'[(,-])(?:sudo\s+)?(echo|printf)\s(.*)$/.exec(segment);
    if (!m) {
        return undefined;
    }
    const ws = words(m[2].replace(/\s[12]?>.*$/, "")).filter(w => !/^-[neE]+$/.test(w));
    if (m[1] === "printf" && ws.length > 1 && ws[0].includes("%")) {
        ws.shift();
    }
    return ws.filter(w => w !== "" && w !== "\\n");
}

/** Whether `segment` prints literal data (not only variables or command substitutions). */
function printsLiteral(segment: string): boolean {
    return (printedWords(segment) ?? []).some(w => !isExpansion(w) && !/^\\?n$/.test(w));
}

/** The lines of the here-document opened on line `i` (and whether its delimiter is quoted), or undefined. */
function hereDoc(lines: string[], i: number): { body: string[]; quoted: boolean } | undefined {
    const m = /<<(-?)\s*(["']?)([\w.-]+)\2/.exec(lines[i].replace(/<<</g, "   "));
    if (!m) {
        return undefined;
    }
    const body: string[] = [];
    for (let j = i + 1; j < lines.length && lines[j].replace(m[1] ? /^\t+/ : /^$/, "").trim() !== m[3]; j++) {
        body.push(lines[j]);
    }
    return { body, quoted: m[2] !== "" };
}

/** Whether a here-document carries literal data (an unquoted one that only expands variables does not). */
function hereDocLiteral(doc: { body: string[]; quoted: boolean }): boolean {
    const data = doc.body.filter(l => l.trim() !== "");
    return data.length > 0 && (doc.quoted || data.some(l => words(l).some(w => !isExpansion(w))));
}

/**
 * Files whose content is key material: munge and Slurm auth keys, Slurm JWT keys, TLS/SSH private keys, Kerberos
 * keytabs, PKCS#12 bundles. Public keys (`.pub`), certificates and `authorized_keys` are not.
 */
export function isKeyFile(path: string): boolean {
    const base = path.replace(/["']/g, "").split("/").pop() ?? "";
    return /\.(key|keytab|pfx|p12)$/i.test(base) || /^id_(rsa|dsa|ecdsa|ed25519)(_sk)?$/.test(base) || /^ssh_host_\w+_key$/.test(base);
}

/** Key files that line `line` writes to: `> file`, `>> file`, `tee [-a] file`. */
function keyFileTargets(line: string): string[] {
    const targets = [...line.matchAll(/(?:[^<>&\d]|^)>>?\s*["']?([^\s"';|&<>]+)/g), ...line.matchAll(/\btee\s+(?:-a\s+)?["']?([^\s"';|&<>]+)/g)]
        .map(m => m[1]);
    return targets.filter(isKeyFile);
}

/** What inline key material line `i` writes into a key file, or undefined. */
function inlineKeyWrite(lines: string[], i: number): string | undefined {
    const line = lines[i];
    const target = keyFileTargets(line)[0];
    if (!target) {
        return undefined;
    }
    const base = target.split("/").pop() ?? target;
    const decodes = /\b(base64\s+(?:-\w*d\w*|--decode)|xxd\s+-r|openssl\s+(?:base64|enc)\b[^|]*-d)\b/.test(line);
    const what = base === "munge.key"
        ? `an inline munge key (${decodes ? "base64 decoded into munge.key" : "written from data in the script"})`
        : `inline key material (${decodes ? "decoded from inline data" : "written from data in the script"} into ${base})`;
    const doc = hereDoc(lines, i);
    if (doc) {
        return hereDocLiteral(doc) ? `${what}, from a here-document` : undefined;
    }
    const hereString = /<<<\s*(.+)$/.exec(line);
    if (hereString) {
        return words(hereString[1].replace(/[;|&>].*$/, "")).some(w => !isExpansion(w)) ? `${what}, from a here-string` : undefined;
    }
    const segments = line.split(/\|(?!\|)/);
    const source = segments[0].replace(/^.*(?:&&|;)\s*/, "");
    return printsLiteral(source) ? what : undefined;
}

/**
 * What kinds of secret material a script or cloud-config contains, as "line N: kind" findings. Never returns the
 * secret itself: findings end up in preview output and CI logs.
 */
export function findSecrets(text: string): string[] {
    const findings: string[] = [];
    const lines = text.split(/\r?\n/);
    const add = (i: number, what: string) => findings.push(`line ${i + 1}: ${what}`);
    const literal = (v: string | undefined) => v !== undefined && !NOT_A_SECRET.has(v.toLowerCase()) && !isExpansion(v);
    lines.forEach((line, i) => {
        if (/-----BEGIN ((RSA|DSA|EC|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY( BLOCK)?-----/.test(line)) {
            add(i, "a private key block");
        }
        // Key material (munge key, Slurm/JWT key, private key, keytab) written from data in the script: echo/printf,
        // here-documents and here-strings, decoded or not. Data fetched at boot (Key Vault, a file) is not inline.
        const keyWrite = inlineKeyWrite(lines, i);
        if (keyWrite) {
            add(i, keyWrite);
        }
        // Key material as a cloud-init write_files entry with inline content.
        const wf = /^\s*(?:-\s*)?path:\s*["']?([^\s"']+)["']?\s*$/.exec(line);
        if (wf && isKeyFile(wf[1]) && writeFilesEntryHasContent(lines, i)) {
            const base = wf[1].split("/").pop();
            add(i, base === "munge.key" ? "an inline munge key (cloud-init write_files content)" : `inline key material (cloud-init write_files content of ${base})`);
        }
        // password = literal / password: literal; variables, booleans and cloud-init's RANDOM are not secrets, nor
        // sudoers' NOPASSWD:/PASSWD: tags (cloud-init's `sudo: ALL=(ALL) NOPASSWD:ALL`).
        const m = /\b([\w.-]*(?:password|passwd|passphrase))\b["']?\s*[:=]\s*(["']?)([^\s"'#,;]*)/i.exec(line.replace(/\b(NO)?PASSWD:/g, "sudo-tag "));
        // (A crypt hash in cloud-init's `passwd:` starts with `$` and is left alone, as before; given to usermod -p it counts.)
        if (m && literal(m[3])) {
            add(i, `a password (${m[1]})`);
        }
        // Passwords set for local accounts: chpasswd / passwd --stdin fed from echo, a here-string or a here-document.
        if (/\b(chpasswd|passwd\s+--stdin)\b/.test(line)) {
            const stdin = /\bpasswd\s+--stdin\b/.test(line);
            const hasPassword = (ws: string[]) => ws.some(w => !isExpansion(w) && (stdin ? !LOCKED.has(w) : /^[^:\s]+:([^$`\s].*)$/.test(w)));
            const segments = line.split(/\|(?!\|)/);
            const piped = segments.length > 1 && hasPassword(printedWords(segments[0].replace(/^.*(?:&&|;)\s*/, "")) ?? []);
            const hereString = /<<<\s*(.+)$/.exec(line);
            const doc = hereDoc(lines, i);
            if (piped || (hereString && hasPassword(words(hereString[1]))) || (doc && hasPassword(doc.body.flatMap(words)))) {
                add(i, `a password ${piped ? "piped into" : "given to"} ${stdin ? "passwd --stdin" : "chpasswd"}`);
            }
        }
        // useradd/usermod -p <hash or password>: a local password (a hash can be cracked offline); '!'/'*' lock.
        const usermod = /\b(useradd|usermod)\b.*?\s(?:-p|--password)\s+(\S+)/.exec(line);
        if (usermod) {
            const v = words(usermod[2])[0] ?? "";
            // A single-quoted '$6$salt$hash' is literal; "$HASH" and $(openssl passwd ...) are expansions.
            if ((usermod[2].startsWith("'") || !isExpansion(v)) && !LOCKED.has(v) && v !== "") {
                add(i, `a password (${usermod[1]} -p)`);
            }
        }
        // openssl passwd <literal>: the clear-text password hashed at boot.
        const opensslPasswd = /\bopenssl\s+passwd\b((?:\s+-\S+(?:\s+[^-\s]\S*)?)*)\s+(\S+)/.exec(line);
        if (opensslPasswd && !/-stdin\b/.test(line) && !isExpansion(words(opensslPasswd[2])[0] ?? "$")) {
            add(i, "a password (openssl passwd)");
        }
        // Storage account keys: connection strings, --account-key, AZURE_STORAGE_KEY, blobfuse/config account keys.
        if (/AccountKey=[A-Za-z0-9+/]{20,}/.test(line)) {
            add(i, "a storage account key");
        }
        const accountKey = /(?:--account-key|\bAZURE_STORAGE_(?:ACCESS_)?KEY\s*=|\baccount[_-]?key\s*[:=])\s*["']?([^\s"']+)/i.exec(line);
        if (accountKey && !isExpansion(accountKey[1]) && accountKey[1].length >= 20) {
            add(i, "a storage account key");
        }
        if (/PuTTY-User-Key-File-\d/.test(line)) {
            add(i, "a PuTTY private key");
        }
        // sshpass -p <literal>: the password is in the script (and on a command line); -e/-f read it from elsewhere.
        const sshpass = /\bsshpass\s+(?:-\w+\s+)*-p\s*["']?([^\s"']+)/.exec(line);
        if (sshpass && !isExpansion(sshpass[1])) {
            add(i, "a password (sshpass -p)");
        }
        // mysql -p<literal> / mysqladmin / mysqldump / mariadb: the password glued to -p.
        const mysql = /\b(mysql|mysqladmin|mysqldump|mariadb|mariadb-dump)\b[^|;&]*\s-p["']?([^\s"'/-][^\s"']*)/.exec(line);
        if (mysql && !isExpansion(mysql[2])) {
            add(i, `a password (${mysql[1]} -p...)`);
        }
        // Registry and cloud logins with -p <literal> (the short form of --password): az login / az acr login,
        // docker/podman/nerdctl/buildah/skopeo/helm/oras login; redis-cli -a, sqlcmd -P, htpasswd -b.
        const shortP = /\b(az(?:\s+acr)?\s+login|(?:docker|podman|nerdctl|buildah|skopeo|oras|helm(?:\s+registry)?)\s+login)\b[^|;&]*?\s(-p)\s*(\S+)/.exec(line) ??
            /\b(redis-cli)\b[^|;&]*?\s(-a)\s+(\S+)/.exec(line) ?? /\b(sqlcmd)\b[^|;&]*?\s(-P)\s*(\S+)/.exec(line) ??
            /\b(htpasswd)\s+(-\w*b\w*)\s+(?:-\S+\s+)*\S+\s+\S+\s+(\S+)/.exec(line);
        if (shortP) {
            const v = words(shortP[3])[0] ?? "";
            if (literal(v)) {
                add(i, `a password (${shortP[1].replace(/\s+/g, " ")} ${shortP[2]})`);
            }
        }
        // --password <literal> and its kin (--admin-password, --client-secret, --passphrase), space-separated form.
        const spaced = /--([\w-]*(?:password|passwd|passphrase|secret))\s+["']?([^\s"'-][^\s"']*)/i.exec(line);
        if (spaced && literal(spaced[2])) {
            add(i, `a password (--${spaced[1]} <value>)`);
        }
        // openssl -passin/-passout/-pass pass:<literal>.
        const opensslPass = /-pass(?:in|out)?\s+["']?pass:([^\s"']+)/.exec(line);
        if (opensslPass && !isExpansion(opensslPass[1])) {
            add(i, "a password (openssl pass:)");
        }
        // Credentials in a URL: scheme://user:password@host.
        const url = /\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@"']+:([^@\s/"']+)@/i.exec(line);
        if (url && !isExpansion(url[1])) {
            add(i, "a password in a URL");
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

/**
 * Whether the write_files item around line `i` (its `path:`) also has a `content:` key; a private key block in it
 * is already reported as such, so it does not count again.
 */
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
    let content = false;
    for (let j = start; j < lines.length; j++) {
        if (j > start && lines[j].trim() !== "" && indentOf(lines[j]) <= itemIndent) {
            break;
        }
        if (/-----BEGIN [A-Z ]*PRIVATE KEY/.test(lines[j])) {
            return false;
        }
        content ||= /^\s*(-\s*)?content:/.test(lines[j]);
    }
    return content;
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
