// Address coverage of NSG source prefixes: how much of the public Internet a set of prefixes admits, so that
// 0.0.0.0/1 + 128.0.0.0/1 (or many smaller ranges) count as "the Internet" just as 0.0.0.0/0 does.
import * as ipaddr from "ipaddr.js";
import { lower } from "./common";

/** Service tags that stand for addresses anyone can obtain (AzureCloud: every Azure public IP, any tenant's). */
export function internetServiceTag(prefix: string): string | undefined {
    const p = lower(prefix).trim();
    if (p === "*" || p === "any" || p === "internet") {
        return prefix;
    }
    if (p === "azurecloud" || p.startsWith("azurecloud.")) {
        return prefix;
    }
    return undefined;
}

type Range = [number, number];

/** IPv4 ranges that are not reachable from the Internet (RFC 1918, CGNAT, loopback, link-local, multicast, reserved). */
const NON_PUBLIC_V4: Range[] = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3",
].map(cidrToRange).filter((r): r is Range => r !== undefined);

function cidrToRange(cidr: string): Range | undefined {
    try {
        const [addr, len] = cidr.includes("/") ? ipaddr.parseCIDR(cidr) : [ipaddr.parse(cidr), 32];
        if (addr.kind() !== "ipv4") {
            return undefined;
        }
        const n = (addr as ipaddr.IPv4).toByteArray().reduce((a, b) => a * 256 + b, 0);
        const size = 2 ** (32 - len);
        const start = Math.floor(n / size) * size;
        return [start, start + size - 1];
    } catch {
        return undefined;
    }
}

function merge(ranges: Range[]): Range[] {
    const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
    const out: Range[] = [];
    for (const r of sorted) {
        const last = out[out.length - 1];
        if (last && r[0] <= last[1] + 1) {
            last[1] = Math.max(last[1], r[1]);
        } else {
            out.push([r[0], r[1]]);
        }
    }
    return out;
}

function subtract(ranges: Range[], holes: Range[]): Range[] {
    let current = merge(ranges);
    for (const [hs, he] of holes) {
        const next: Range[] = [];
        for (const [s, e] of current) {
            if (he < s || hs > e) {
                next.push([s, e]);
                continue;
            }
            if (s < hs) next.push([s, hs - 1]);
            if (e > he) next.push([he + 1, e]);
        }
        current = next;
    }
    return current;
}

export const PUBLIC_IPV4_ADDRESSES = 2 ** 32 - merge(NON_PUBLIC_V4).reduce((n, [s, e]) => n + e - s + 1, 0);

/**
 * How many public IPv4 addresses the prefixes admit together (overlaps counted once), and whether any IPv6
 * prefix is a global range of /32 or wider (IPv6 is judged by size only). Unparseable entries (service tags
 * other than the Internet ones, ASG names) count as nothing.
 */
export function publicCoverage(prefixes: readonly string[]): { v4: number; wideV6?: string } {
    const v4: Range[] = [];
    let wideV6: string | undefined;
    for (const raw of prefixes) {
        const p = String(raw).trim();
        if (p.includes(":")) {
            try {
                const [addr, len] = p.includes("/") ? ipaddr.parseCIDR(p) : [ipaddr.parse(p), 128];
                const range = (addr as ipaddr.IPv6).range();
                if (len <= 32 && !["uniqueLocal", "linkLocal", "loopback", "multicast"].includes(range)) {
                    wideV6 ??= p;
                }
            } catch {
                // not an address
            }
            continue;
        }
        const r = cidrToRange(p === "0.0.0.0" ? "0.0.0.0/0" : p);
        if (r) {
            v4.push(r);
        }
    }
    const publicRanges = subtract(v4, NON_PUBLIC_V4);
    return { v4: publicRanges.reduce((n, [s, e]) => n + e - s + 1, 0), wideV6 };
}
