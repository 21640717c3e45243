// What a single value must look like, beyond its schema type: region names, CIDRs, SSH public keys.
import * as ipaddr from "ipaddr.js";
import * as sshpk from "sshpk";
import { nearest } from "./problems";
import { AZURE_REGIONS, AZURE_REGIONS_AS_OF } from "./regions";

/** Why `s` is not an Azure region name (undefined: it is one), with the nearest name when it looks like a typo. */
export function regionProblem(s: string): string | undefined {
    if ((AZURE_REGIONS as readonly string[]).includes(s)) return undefined;
    const lower = s.toLowerCase().replace(/[\s_-]/g, "");
    if ((AZURE_REGIONS as readonly string[]).includes(lower)) {
        return `must be the region's programmatic name, ${lower} (lower case, no spaces), not ${JSON.stringify(s)}`;
    }
    const best = nearest(lower, AZURE_REGIONS);
    return `${JSON.stringify(s)} is not an Azure region name` + (best !== undefined ? `; did you mean ${best}?` : "") +
        ` (names as in az account list-locations, e.g. westeurope; the list in components/config/regions.ts is of ${AZURE_REGIONS_AS_OF})`;
}

/** Parses an IPv4 CIDR whose address is its network address; undefined when it is not one. */
export function parseCidr(s: string): [ipaddr.IPv4, number] | undefined {
    try {
        const [addr, bits] = ipaddr.IPv4.parseCIDR(s);
        if (bits < 8 || bits > 29) return undefined;
        if (ipaddr.IPv4.networkAddressFromCIDR(s).toString() !== addr.toString()) return undefined;
        return [addr, bits];
    } catch {
        return undefined;
    }
}

export function cidrContains(outer: string, inner: string): boolean {
    const o = parseCidr(outer), i = parseCidr(inner);
    return !!o && !!i && i[1] >= o[1] && i[0].match(o);
}

export function cidrsOverlap(a: string, b: string): boolean {
    const x = parseCidr(a), y = parseCidr(b);
    return !!x && !!y && (x[0].match(y) || y[0].match(x));
}

/**
 * An OpenSSH public key line, whole. sshpk alone accepts some keys whose base64 was cut short (a truncated
 * ed25519 key parses), which would reach the VM as a key nobody holds; so the base64 must be canonical and
 * decode to exactly the key's blob.
 */
export function isSshPublicKey(s: string): boolean {
    const line = s.trim();
    if (/[\r\n]/.test(line)) return false;
    const [type, b64 = ""] = line.split(/\s+/);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return false;
    const blob = Buffer.from(b64, "base64");
    if (blob.toString("base64") !== b64 || blob.length < 4 || blob.subarray(4, 4 + blob.readUInt32BE(0)).toString() !== type) return false;
    try {
        const key = sshpk.parseKey(line, "ssh");
        return key.toBuffer("rfc4253").equals(blob) &&
            ["ed25519", "rsa", "ecdsa"].includes(key.type) && (key.type !== "rsa" || key.size >= 2048);
    } catch {
        return false;
    }
}

/** A canonical IPv4 CIDR with prefix length 8-32 (a single host allowed), or undefined. */
export function hostCidr(s: string): string | undefined {
    try {
        const [addr, bits] = ipaddr.IPv4.parseCIDR(s);
        const canonical = `${ipaddr.IPv4.networkAddressFromCIDR(s).toString()}/${bits}`;
        return bits >= 8 && canonical === s && addr.toString() === s.split("/")[0] ? canonical : undefined;
    } catch {
        return undefined;
    }
}

export function canonicalCidr(s: string): string | undefined {
    try {
        const [addr, bits] = ipaddr.IPv4.parseCIDR(s);
        return `${addr.toString()}/${bits}`;
    } catch {
        return undefined;
    }
}

/**
 * Resource group names (Microsoft.Resources in learn.microsoft.com's azure-resource-manager/management/
 * resource-name-rules): 1-90 characters of letters, digits, - _ . ( ), not ending with a period.
 */
export const RESOURCE_GROUP_NAME = /^[-\w.()]{1,89}[-\w()]$/;
/** Completes "must be ...": the message of every resource group name key (resourceGroupName, clusterResourceGroupName). */
export const RESOURCE_GROUP_NAME_RULE = "1-90 characters of letters, digits, - _ . ( ) and not end with a period";
