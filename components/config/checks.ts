// Cross-checks: rules between config keys (subnets in the address space, users and UIDs, partitions, remote access).
import * as ipaddr from "ipaddr.js";
import {
    CYCLECLOUD_UID_BASE, MUNGE_UID, NOBODY_UID, PINNED_UID_MIN, READINESS_ACCOUNT_NAME, READINESS_UID, RESERVED_UIDS, SLURM_UID, SLURMRESTD_UID,
} from "./facts";
import { RawSettings } from "./schema";
import { userKey } from "./settings";
import { cidrContains, cidrsOverlap, parseCidr } from "./values";

/**
 * Without entraGroupName every user gets 4 role assignments. Azure caps role assignments per subscription
 * (4,000, lately 5,000, for everything in it), so larger teams must be granted through groups.
 */
export const MAX_USERS_WITHOUT_GROUP = 500;

export function crossChecks(raw: RawSettings, problems: string[]): void {
    const subnets: [string, string][] = [
        ["bastionSubnetPrefix", raw.bastionSubnetPrefix],
        ["cyclecloudSubnetPrefix", raw.cyclecloudSubnetPrefix],
        ["loginSubnetPrefix", raw.loginSubnetPrefix],
        ["computeSubnetPrefix", raw.computeSubnetPrefix],
    ];
    for (const [key, prefix] of subnets) {
        if (!cidrContains(raw.vnetAddressSpace, prefix)) {
            problems.push(`${key}: ${prefix} must lie inside vnetAddressSpace ${raw.vnetAddressSpace}`);
        }
    }
    for (let i = 0; i < subnets.length; i++) {
        for (let j = i + 1; j < subnets.length; j++) {
            if (cidrsOverlap(subnets[i][1], subnets[j][1])) {
                problems.push(`${subnets[j][0]}: ${subnets[j][1]} overlaps ${subnets[i][0]} ${subnets[i][1]}; ` +
                    "subnets must not overlap");
            }
        }
    }
    const bastionBits = parseCidr(raw.bastionSubnetPrefix)?.[1];
    if (bastionBits !== undefined && bastionBits > 26) {
        problems.push(`bastionSubnetPrefix: AzureBastionSubnet must be /26 or larger, got /${bastionBits}`);
    }
    const loginBits = parseCidr(raw.loginSubnetPrefix)?.[1];
    if (loginBits !== undefined && loginBits > 28) {
        problems.push(`loginSubnetPrefix: must be /28 or larger (Azure reserves 5 addresses per subnet)`);
    }
    userChecks(raw, problems);
    partitionChecks(raw, problems);
    if (raw.conditionalAccessMfa && raw.users.length === 0 && !raw.entraGroupName && raw.entraExistingGroups.length === 0) {
        problems.push("conditionalAccessMfa: needs users, entraGroupName or entraExistingGroups to apply to");
    }
    if (raw.entraGroupName && raw.users.length === 0) {
        problems.push("entraGroupName: a group is created for the configured users, but users is empty");
    }
    if (!raw.entraGroupName && raw.users.length > MAX_USERS_WITHOUT_GROUP) {
        problems.push(`users: ${raw.users.length} users would get ${4 * raw.users.length} role assignments (4 each), ` +
            `too many for one subscription's role-assignment limit (4,000-5,000, shared with everything in it); ` +
            `set entraGroupName so the roles go to two Entra groups, or list at most ${MAX_USERS_WITHOUT_GROUP} users`);
    }
}

/**
 * Exactly one default partition. cyclecloud-slurm's template marks both the hpc and the gpu nodearray
 * `slurm.default_partition = true` (no parameter changes that); azslurm comments out the partition of a
 * nodearray with no capacity (max count 0), and slurmctld takes the last of several `Default=YES` lines
 * silently. So exactly one of the two may have nodes. [source] templates/slurm.txt, azure-slurm/slurmcc/cli.py
 * `_partitions`, Slurm src/slurmctld/read_config.c ("Changing default partition").
 */
function partitionChecks(raw: RawSettings, problems: string[]): void {
    if (raw.maxHpcNodes > 0 && raw.maxGpuNodes > 0) {
        problems.push(`maxGpuNodes: ${raw.maxGpuNodes} GPU nodes together with maxHpcNodes ${raw.maxHpcNodes} would give two default ` +
            "partitions (cyclecloud-slurm's template makes both hpc and gpu the default, and Slurm silently takes the last); " +
            "set maxHpcNodes to 0 to make gpu the default partition, or maxGpuNodes to 0");
    } else if (raw.maxHpcNodes === 0 && raw.maxGpuNodes === 0) {
        problems.push("maxHpcNodes: must be above 0 (or maxGpuNodes above 0): the hpc or the gpu partition is the cluster's " +
            "default partition (cyclecloud-slurm's template marks no other), and with neither there would be none");
    }
}

function userChecks(raw: RawSettings, problems: string[]): void {
    if (raw.accountsUidMin > raw.accountsUidMax) {
        problems.push(`accountsUidMax: ${raw.accountsUidMax} is below accountsUidMin ${raw.accountsUidMin}; the accepted Entra UID range would be empty`);
    }
    const seenNames = new Map<string, number>(), seenUids = new Map<number, number>();
    const seenEntra = new Map<string, number>(), seenKeys = new Map<string, number>();
    raw.users.forEach((u, i) => {
        const at = `users[${i}]`;
        // A principal listed twice is reported by safetyChecks; here only distinct principals whose entries
        // would get the same resource names.
        const entra = u.entra.toLowerCase(), key = userKey(u);
        if (!seenEntra.has(entra) && seenKeys.has(key)) {
            problems.push(`${at}: its resource key "${key}" equals that of users[${seenKeys.get(key)}]; give one of them another name`);
        }
        if (!seenEntra.has(entra)) seenEntra.set(entra, i);
        if (!seenKeys.has(key)) seenKeys.set(key, i);
        // A pinned node account is a CycleCloud user record: sshPublicKey makes one, it needs a name, uid is optional.
        // A name alone only labels the entry (and keeps its resources' names).
        if (u.sshPublicKey !== undefined && u.name === undefined) {
            problems.push(`${at}.name: is required with sshPublicKey (a pinned node account needs name and sshPublicKey)`);
        }
        if (u.uid !== undefined && u.sshPublicKey === undefined) {
            problems.push(`${at}.sshPublicKey: is required with uid (uid only applies to a pinned node account: name + sshPublicKey)`);
        }
        if (u.name !== undefined) {
            if (seenNames.has(u.name)) problems.push(`${at}.name: "${u.name}" is already used by users[${seenNames.get(u.name)}]; names must be unique`);
            else seenNames.set(u.name, i);
            if (u.name === raw.loginAdminUsername) {
                problems.push(`${at}.name: "${u.name}" is the login node's local admin (loginAdminUsername)`);
            }
        }
        if (u.uid !== undefined) {
            const uid = u.uid;
            if (seenUids.has(uid)) problems.push(`${at}.uid: ${uid} is already used by users[${seenUids.get(uid)}]; UIDs must be unique`);
            else seenUids.set(uid, i);
            if (RESERVED_UIDS.includes(uid)) {
                problems.push(`${at}.uid: ${uid} is reserved (slurm ${SLURM_UID}, munge ${MUNGE_UID}, slurmrestd ${SLURMRESTD_UID}, nobody ${NOBODY_UID}, ${READINESS_ACCOUNT_NAME} ${READINESS_UID})`);
            } else if (uid < PINNED_UID_MIN) {
                problems.push(`${at}.uid: ${uid} is a system UID; a pinned node account's uid must be ${PINNED_UID_MIN}-${CYCLECLOUD_UID_BASE - 1}`);
            } else if (uid >= raw.accountsUidMin && uid <= raw.accountsUidMax) {
                problems.push(`${at}.uid: ${uid} is in the Entra accounts' range (accountsUidMin ${raw.accountsUidMin} - accountsUidMax ` +
                    `${raw.accountsUidMax}), where it would collide with a signed-in Entra user's account on the nodes. ` +
                    `Entra users need no uid any more: remove name, uid and sshPublicKey from this entry ` +
                    `(README: "How users get access", migration), or pin a node account with a uid from ${PINNED_UID_MIN} to ${CYCLECLOUD_UID_BASE - 1}`);
            } else if (uid >= CYCLECLOUD_UID_BASE) {
                problems.push(`${at}.uid: ${uid} is in the range CycleCloud numbers its own node users from (${CYCLECLOUD_UID_BASE} up), ` +
                    `where CycleCloud may give it to another user; use ${PINNED_UID_MIN}-${CYCLECLOUD_UID_BASE - 1}, or leave uid out and let CycleCloud number the account`);
            }
        }
    });
}

export function cyclecloudChecks(raw: RawSettings, problems: string[]): void {
    if (raw.sshProxyHost !== undefined && raw.bastionTunnelPort !== undefined) {
        problems.push("bastionTunnelPort: cannot be combined with sshProxyHost; choose one way to reach the private hosts " +
            "(unset one with `pulumi config rm`)");
    }
    if (raw.sshProxyHost === undefined) {
        for (const key of ["sshProxyPort", "sshProxyUser", "sshProxyHostKey"] as const) {
            if (raw[key] !== undefined) problems.push(`${key}: only applies with sshProxyHost, which is not set`);
        }
    }
    if (raw.bastionTunnelPort !== undefined && raw.deploySourcePrefix !== undefined) {
        problems.push("deploySourcePrefix: does not apply with bastionTunnelPort (the connections come from AzureBastionSubnet); remove it");
    } else if (raw.bastionTunnelPort === undefined && raw.deploySourcePrefix === undefined &&
        !(raw.sshProxyHost !== undefined && ipaddr.IPv4.isValidFourPartDecimal(raw.sshProxyHost))) {
        problems.push("deploySourcePrefix: is required " + (raw.sshProxyHost !== undefined
            ? `when sshProxyHost is a name (${raw.sshProxyHost}): the address range its SSH connections come from inside the VNet`
            : "without bastionTunnelPort or sshProxyHost: the address range this machine's SSH connections come from inside the VNet") +
            "; the NSGs admit SSH to the CycleCloud server and the scheduler from there only");
    }
    if (raw.sshProxyHost !== undefined && raw.sshProxyHostKey === undefined) {
        problems.push("sshProxyHostKey: is required with sshProxyHost: the jump host's SSH host key, checked on every connection " +
            "(get it from the jump host itself, e.g. `cat /etc/ssh/ssh_host_ed25519_key.pub` there, or compare `ssh-keyscan` " +
            "with a fingerprint its owner gives you): pulumi config set sshProxyHostKey 'ssh-ed25519 AAAA...'");
    }
    raw.users.forEach((u, i) => {
        if (u.name === raw.cyclecloudAdminUsername) {
            problems.push(`users[${i}].name: "${u.name}" is CycleCloud's admin user (cyclecloudAdminUsername); pick another name`);
        }
    });
    const loginRg = raw.resourceGroupName ?? "";
    if (raw.clusterResourceGroupName !== undefined && raw.clusterResourceGroupName.toLowerCase() === loginRg.toLowerCase()) {
        problems.push("clusterResourceGroupName: must differ from resourceGroupName: CycleCloud gets Contributor on it");
    }
}
