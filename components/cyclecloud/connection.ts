// SSH connections of the remote Commands to the private CycleCloud server and Slurm scheduler: directly,
// through an SSH jump host, or through the local end of an Azure Bastion tunnel to the CycleCloud VM (the
// scheduler is then reached with the CycleCloud VM as jump host). Every connection and jump pins a host key.
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

/** How each host key is supplied when the program cannot get it (the message names the config key). */
export const HOST_KEY_FIX = {
    cyclecloud: "set cyclecloudHostKey to the server's /etc/ssh/ssh_host_ed25519_key.pub read through Azure, e.g. " +
        "pulumi config set cyclecloudHostKey \"$(az vm run-command invoke -g <resourceGroupName> -n <server VM> " +
        "--command-id RunShellScript --scripts 'cat /etc/ssh/ssh_host_ed25519_key.pub' --query 'value[0].message' -o tsv " +
        "| grep -o 'ssh-ed25519 [A-Za-z0-9+/=]*')\"",
    scheduler: "set schedulerHostKey to the scheduler's /etc/ssh/ssh_host_ed25519_key.pub read through Azure, e.g. " +
        "pulumi config set schedulerHostKey \"$(az vm run-command invoke -g <clusterResourceGroupName> -n <scheduler VM> " +
        "--command-id RunShellScript --scripts 'cat /etc/ssh/ssh_host_ed25519_key.pub' --query 'value[0].message' -o tsv " +
        "| grep -o 'ssh-ed25519 [A-Za-z0-9+/=]*')\"",
    proxy: "set sshProxyHostKey to the jump host's SSH host key: pulumi config set sshProxyHostKey 'ssh-ed25519 AAAA...'",
    login: "the login node's key is read through Azure by the readiness component's Run Command (read-ssh-host-key); " +
        "check it with: az vm run-command show -g <resourceGroupName> --vm-name <login VM> --name read-ssh-host-key --expand instanceView",
} as const;

/**
 * The "<type> <base64>" host key from text that holds an OpenSSH public key line (a .pub file, a Run Command's
 * output, a config value); undefined when there is none.
 */
export function parseHostKey(text: string | undefined): string | undefined {
    const m = /^\s*(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) ([A-Za-z0-9+/]{16,}={0,2})(?:\s|$)/m.exec(text ?? "");
    return m ? `${m[1]} ${m[2]}` : undefined;
}

/**
 * The pinned host key of a connection. There is no "accept any key" fallback: a missing or empty key fails
 * the deployment (the connection would otherwise hand the private key's signature, and then the password or
 * munge key, to whoever answers first), with a message saying how to supply it.
 */
export function requireHostKey(hostKey: pulumi.Input<string | undefined> | undefined, what: string,
    fix: string): pulumi.Output<string> {
    return pulumi.output(hostKey).apply(k => {
        const key = parseHostKey(k);
        if (key === undefined) throw new Error(`no SSH host key for ${what}; refusing to connect without one: ${fix}`);
        return key;
    });
}

function jumpHost(id: SshIdentity, cyclecloudHostKey: pulumi.Input<string | undefined>): ProxyConnectionArgs | undefined {
    const r = id.remote;
    if (r.mode === "proxy" && r.proxy) {
        return {
            host: r.proxy.host,
            port: r.proxy.port,
            user: r.proxy.user,
            privateKey: id.proxyPrivateKey ?? id.privateKey,
            hostKey: requireHostKey(r.proxy.hostKey, `the jump host ${r.proxy.host}`, HOST_KEY_FIX.proxy),
            dialErrorLimit: r.dialAttempts,
            perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
        };
    }
    if (r.mode === "bastionTunnel") {
        // The tunnel's local port is any local user's to bind first; with the server's key pinned, an impostor
        // listening there fails the handshake before anything secret is sent.
        return {
            host: id.tunnelHost ?? "127.0.0.1",
            port: r.tunnelPort,
            user: id.user,
            privateKey: id.privateKey,
            hostKey: requireHostKey(cyclecloudHostKey, "the CycleCloud server", HOST_KEY_FIX.cyclecloud),
            dialErrorLimit: r.dialAttempts,
            perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
        };
    }
    return undefined;
}

/** Connection to the CycleCloud server (private IP, or the tunnel's local port), its host key pinned. */
export function serverConnection(id: SshIdentity, serverIp: pulumi.Input<string>,
    hostKey: pulumi.Input<string | undefined>): ConnectionArgs {
    const base = {
        user: id.user,
        privateKey: id.privateKey,
        hostKey: requireHostKey(hostKey, "the CycleCloud server", HOST_KEY_FIX.cyclecloud),
        dialErrorLimit: id.remote.dialAttempts,
        perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
    };
    if (id.remote.mode === "bastionTunnel") return { ...base, host: id.tunnelHost ?? "127.0.0.1", port: id.remote.tunnelPort };
    const proxy = jumpHost(id, hostKey);
    return { ...base, host: serverIp, port: 22, ...(proxy ? { proxy } : {}) };
}

/** Connection to the scheduler (private IP), through the jump host or the CycleCloud VM when needed. */
export function schedulerConnection(id: SshIdentity, schedulerIp: pulumi.Input<string>,
    schedulerHostKey: pulumi.Input<string | undefined>, cyclecloudHostKey: pulumi.Input<string | undefined>): ConnectionArgs {
    const proxy = jumpHost(id, cyclecloudHostKey);
    return {
        host: schedulerIp,
        port: 22,
        user: id.user,
        privateKey: id.privateKey,
        hostKey: requireHostKey(schedulerHostKey, "the Slurm scheduler", HOST_KEY_FIX.scheduler),
        dialErrorLimit: id.remote.dialAttempts,
        perDialTimeout: PER_DIAL_TIMEOUT_SECONDS,
        ...(proxy ? { proxy } : {}),
    };
}

/**
 * Connection to the login node (private IP) as its local admin, through the same path as the scheduler (the
 * jump host, or the CycleCloud VM at the tunnel's end), its host key pinned (read through Azure).
 */
export function loginConnection(id: SshIdentity, loginIp: pulumi.Input<string>, loginUser: string,
    loginPrivateKey: pulumi.Input<string>, loginHostKey: pulumi.Input<string | undefined>,
    cyclecloudHostKey: pulumi.Input<string | undefined>): ConnectionArgs {
    const proxy = jumpHost(id, cyclecloudHostKey);
    return {
        host: loginIp,
        port: 22,
        user: loginUser,
        privateKey: loginPrivateKey,
        hostKey: requireHostKey(loginHostKey, "the login node", HOST_KEY_FIX.login),
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
