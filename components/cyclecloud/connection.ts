// SSH connections of the remote Commands to the private CycleCloud server and Slurm scheduler: directly,
// through an SSH jump host, or through the local end of an Azure Bastion tunnel to the CycleCloud VM (the
// scheduler is then reached with the CycleCloud VM as jump host). Host keys are pinned when known.
import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command/types/input";
import { RemoteAccess } from "../config";

type ConnectionArgs = command.remote.ConnectionArgs;
type ProxyConnectionArgs = command.remote.ProxyConnectionArgs;

export interface SshIdentity {
    remote: RemoteAccess;
    /** The admin user on the CycleCloud VM and (as CycleCloud's admin) on the cluster nodes. */
    user: string;
    privateKey: pulumi.Input<string>;
    /** Key for the jump host; default privateKey. */
    proxyPrivateKey?: pulumi.Input<string>;
    /** Tunnel mode: the tunnel's local host, resolving once the tunnel accepts connections (components/cyclecloud/tunnel.ts). */
    tunnelHost?: pulumi.Input<string>;
}

const PER_DIAL_TIMEOUT_SECONDS = 15;

function withHostKey<T extends object>(args: T, hostKey: pulumi.Input<string | undefined> | undefined): T {
    if (hostKey === undefined) return args;
    // An unknown (empty) key means "not learnt": the provider then accepts any host key.
    return { ...args, hostKey: pulumi.output(hostKey).apply(k => (k ? k : undefined)) } as T;
}

function jumpHost(id: SshIdentity, cyclecloudHostKey?: pulumi.Input<string | undefined>): ProxyConnectionArgs | undefined {
    const r = id.remote;
    if (r.mode === "proxy" && r.proxy) {
        return {
            host: r.proxy.host,
            port: r.proxy.port,
            user: r.proxy.user,
            privateKey: id.proxyPrivateKey ?? id.privateKey,
            dialErrorLimit: r.dialAttempts,
            perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
        };
    }
    if (r.mode === "bastionTunnel") {
        return withHostKey({
            host: id.tunnelHost ?? "127.0.0.1",
            port: r.tunnelPort,
            user: id.user,
            privateKey: id.privateKey,
            dialErrorLimit: r.dialAttempts,
            perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
        }, cyclecloudHostKey);
    }
    return undefined;
}

/** Connection to the CycleCloud server (private IP, or the tunnel's local port). */
export function serverConnection(id: SshIdentity, serverIp: pulumi.Input<string>,
    hostKey?: pulumi.Input<string | undefined>): ConnectionArgs {
    const base = { user: id.user, privateKey: id.privateKey, dialErrorLimit: id.remote.dialAttempts, perDialTimeout: PER_DIAL_TIMEOUT_SECONDS };
    if (id.remote.mode === "bastionTunnel") {
        return withHostKey({ ...base, host: id.tunnelHost ?? "127.0.0.1", port: id.remote.tunnelPort }, hostKey);
    }
    const proxy = jumpHost(id);
    return withHostKey({ ...base, host: serverIp, port: 22, ...(proxy ? { proxy } : {}) }, hostKey);
}

/** Connection to the scheduler (private IP), through the jump host or the CycleCloud VM when needed. */
export function schedulerConnection(id: SshIdentity, schedulerIp: pulumi.Input<string>,
    schedulerHostKey?: pulumi.Input<string | undefined>, cyclecloudHostKey?: pulumi.Input<string | undefined>): ConnectionArgs {
    const proxy = jumpHost(id, cyclecloudHostKey);
    return withHostKey({
        host: schedulerIp,
        port: 22,
        user: id.user,
        privateKey: id.privateKey,
        dialErrorLimit: id.remote.dialAttempts,
        perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
        ...(proxy ? { proxy } : {}),
    }, schedulerHostKey);
}

/**
 * Connection to the login node (private IP) as its local admin, through the same path as the scheduler
 * (the jump host, or the CycleCloud VM at the tunnel's end). The login node's host key is not known to the
 * program; it is reached only through the pinned jump/CycleCloud host or from inside the VNet.
 */
export function loginConnection(id: SshIdentity, loginIp: pulumi.Input<string>, loginUser: string,
    loginPrivateKey: pulumi.Input<string>, cyclecloudHostKey?: pulumi.Input<string | undefined>): ConnectionArgs {
    const proxy = jumpHost(id, cyclecloudHostKey);
    return {
        host: loginIp,
        port: 22,
        user: loginUser,
        privateKey: loginPrivateKey,
        dialErrorLimit: id.remote.dialAttempts,
        perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
        ...(proxy ? { proxy } : {}),
    };
}

/** The value of a `KEY=value` line in a script's output (undefined when absent or empty). */
export function outputLine(stdout: string | undefined, key: string): string | undefined {
    const m = new RegExp(`^${key}=(.*)$`, "m").exec(stdout ?? "");
    const v = m?.[1].trim();
    return v ? v : undefined;
}
