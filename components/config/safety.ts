// Values that pass the field rules but break or weaken the deployment (issue 10, item 8): reserved names,
// Azure's tag limits, control characters, non-canonical CIDRs, a principal or group listed twice.
import { LOGIN_ROLE_TAG } from "./facts";
import { RawSettings } from "./schema";
import { canonicalCidr } from "./values";

/**
 * Linux names a cluster user must never take: system accounts of the node images (AlmaLinux, Ubuntu), the
 * service users of Slurm, munge and CycleCloud, and admin names. A CycleCloud user record named root would
 * get Global Node Admin on every node.
 */
export const RESERVED_USER_NAMES = [
    "root", "bin", "daemon", "adm", "lp", "sync", "shutdown", "halt", "mail", "news", "uucp", "operator", "games",
    "gopher", "ftp", "nobody", "nfsnobody", "nogroup", "sys", "man", "proxy", "www-data", "backup", "list", "irc",
    "gnats", "sshd", "dbus", "polkitd", "chrony", "_chrony", "rpc", "rpcuser", "tss", "unbound", "libstoragemgmt",
    "setroubleshoot", "cockpit-ws", "cockpit-wsinstance", "sssd", "clevis", "geoclue", "rtkit", "pulse", "avahi",
    "messagebus", "syslog", "_apt", "uuidd", "tcpdump", "landscape", "lxd", "pollinate", "usbmux", "dnsmasq",
    "slurm", "munge", "slurmrestd", "cycle_server", "cyclecloud", "admin", "administrator", "azureuser", "omsagent",
    "nxautomation", "waagent",
] as const;

/** Azure's tag limits (learn.microsoft.com, tag-resources#limitations); storage accounts allow 128-character names. */
export const TAG_LIMITS = { maxTags: 50, maxNameLength: 128, maxValueLength: 256, forbiddenNameChars: /[<>%&\\?/]/ } as const;

/** Tags the program sets itself (tag names are case-insensitive in Azure). */
const PROGRAM_TAG_KEYS = [LOGIN_ROLE_TAG.key, "pulumi-project", "pulumi-stack"];

// C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Every string value (in lists and maps too, map keys included) with a control character, named by its key.
 * Leading and trailing white space is allowed (trimmed where it matters); NUL never is.
 */
export function controlCharacterProblems(input: Record<string, unknown>): string[] {
    const problems: string[] = [];
    const visit = (v: unknown, where: string) => {
        if (typeof v === "string") {
            const inner = v.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "");
            if (CONTROL_CHARACTER.test(inner)) {
                const code = inner.codePointAt(inner.search(CONTROL_CHARACTER))!;
                problems.push(`${where}: must not contain control characters (found U+${code.toString(16).toUpperCase().padStart(4, "0")})`);
            }
        } else if (Array.isArray(v)) {
            v.forEach((x, i) => visit(x, `${where}[${i}]`));
        } else if (v && typeof v === "object") {
            for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
                if (CONTROL_CHARACTER.test(k)) problems.push(`${where}: a name must not contain control characters`);
                visit(x, `${where}.${k}`);
            }
        }
    };
    for (const [k, v] of Object.entries(input)) visit(v, k);
    return problems;
}

export function safetyChecks(raw: RawSettings, problems: string[]): void {
    for (const key of ["vnetAddressSpace", "bastionSubnetPrefix", "cyclecloudSubnetPrefix", "loginSubnetPrefix", "computeSubnetPrefix"] as const) {
        const canonical = canonicalCidr(raw[key]);
        if (canonical !== undefined && canonical !== raw[key]) {
            problems.push(`${key}: write it as ${canonical} (Azure is given the value as written; ${JSON.stringify(raw[key])} is not canonical)`);
        }
    }
    const reserved = new Set<string>(RESERVED_USER_NAMES);
    const seenEntra = new Map<string, number>();
    raw.users.forEach((u, i) => {
        if (u.name !== undefined && (reserved.has(u.name) || u.name.startsWith("systemd-"))) {
            problems.push(`users[${i}].name: "${u.name}" is a system or service account name; reserved: ${RESERVED_USER_NAMES.join(", ")}, systemd-*`);
        }
        const principal = u.entra.toLowerCase();
        if (seenEntra.has(principal)) {
            problems.push(`users[${i}].entra: ${u.entra} is already users[${seenEntra.get(principal)}]'s Entra principal; one entry per person`);
        } else {
            seenEntra.set(principal, i);
        }
    });
    const seenGroups = new Map<string, number>();
    raw.entraExistingGroups.forEach((g, i) => {
        const name = g.group.trim().toLowerCase();
        if (seenGroups.has(name)) {
            problems.push(`entraExistingGroups[${i}].group: "${g.group}" is entraExistingGroups[${seenGroups.get(name)}] again ` +
                "(group names are case-insensitive); list each group once");
        } else {
            seenGroups.set(name, i);
        }
    });
    const tagNames = Object.keys(raw.tags);
    if (tagNames.length > TAG_LIMITS.maxTags - PROGRAM_TAG_KEYS.length) {
        problems.push(`tags: at most ${TAG_LIMITS.maxTags - PROGRAM_TAG_KEYS.length} tags (Azure allows ${TAG_LIMITS.maxTags} per resource ` +
            `and the program adds ${PROGRAM_TAG_KEYS.join(", ")}), got ${tagNames.length}`);
    }
    for (const name of tagNames) {
        const where = `tags.${name}`;
        if (name.trim().length === 0) problems.push(`tags: a tag name must not be empty`);
        if (name.length > TAG_LIMITS.maxNameLength) {
            problems.push(`${where}: tag names are at most ${TAG_LIMITS.maxNameLength} characters (Azure's limit for storage accounts), got ${name.length}`);
        }
        if (TAG_LIMITS.forbiddenNameChars.test(name)) problems.push(`${where}: tag names must not contain < > % & \\ ? /`);
        if (raw.tags[name].length > TAG_LIMITS.maxValueLength) {
            problems.push(`${where}: tag values are at most ${TAG_LIMITS.maxValueLength} characters, got ${raw.tags[name].length}`);
        }
        const shadowed = PROGRAM_TAG_KEYS.find(k => k === name.toLowerCase());
        if (shadowed !== undefined) {
            problems.push(`${where}: the program sets the tag ${shadowed} itself (tag names are case-insensitive in Azure)` +
                (shadowed === LOGIN_ROLE_TAG.key ? "; it marks the login node for the policy pack" : "") + "; remove it from tags");
        }
    }
}
