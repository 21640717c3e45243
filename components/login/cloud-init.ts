// Renders the login node's cloud-init user data as data (a YAML document built from objects), from the
// script and unit files kept beside this module.
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import YAML from "yaml";
import { AccountSettings, MUNGE_UID, SLURM_UID } from "../config";
import { loginSettings } from "../accounts/project";

export interface LoginCloudInitArgs {
    /** Slurm release to install, the cluster's (`configuration_slurm_version`). */
    slurmVersion: string;
    /** /sched/<dir> on the scheduler, /shared/apps/slurm/<dir> once seeded. */
    clusterConfigDir: string;
    /** NFS server, e.g. <account>.file.core.windows.net. */
    nfsHost: string;
    /** NFS export, /<account>/<share>. */
    nfsExportPath: string;
    /** NFS mount options (without the fstab-only _netdev,nofail). */
    nfsMountOptions: string;
    /** The account registry's settings (/etc/default/cluster-accounts). */
    accounts: AccountSettings;
}

/** Where cloud-init puts the sign-in hook's files; install-login.sh installs them from there. */
export const ACCOUNTS_LOGIN_DIR = "/usr/local/lib/cluster-accounts";
/**
 * The files of components/accounts that the login node gets, byte for byte, and their modes (`src`: the file's path
 * under components/accounts when not the file name). accounts-lib.sh is the one copy of the helpers the sign-in hook
 * shares with the nodes' apply script (the cluster-init project carries it to them); written here it is already at
 * its installed path, /usr/local/lib/cluster-accounts/accounts-lib.sh, which the hook sources.
 */
export const ACCOUNTS_LOGIN_FILES: readonly { file: string; permissions: string; src?: string }[] = [
    { file: "publish-account.sh", permissions: "0755" },
    { file: "accounts-lib.sh", permissions: "0644", src: "cluster-init/files/accounts-lib.sh" },
    { file: "install-login.sh", permissions: "0755" },
    { file: "pam-sshd-session", permissions: "0644" },
];

/**
 * Where the sync (slurm-sync-from-shared) sources its trust check from: components/shared-trust/trust-lib.sh, the one
 * copy it shares with the scheduler's seed (which gets it in its stdin, ahead of the script). Written root 0644.
 */
export const TRUST_LIB_INSTALLED = "/usr/local/lib/shared-trust/trust-lib.sh";

/** Where the seed Command writes the cluster's files on /shared. */
export function seededConfigDir(clusterConfigDir: string): string {
    return `/shared/apps/slurm/${clusterConfigDir}`;
}

const here = (file: string) => fs.readFileSync(path.join(__dirname, file), "utf8");
const accountsFile = (file: string) => fs.readFileSync(path.join(__dirname, "..", "accounts", file), "utf8");

/** `bash install-login.sh DIR`: installs the sign-in hook and its PAM line; idempotent. */
const installLogin = ["bash", `${ACCOUNTS_LOGIN_DIR}/install-login.sh`, ACCOUNTS_LOGIN_DIR];

/** Creates a group and a system user with a fixed ID; does nothing when they exist (bootcmd runs every boot). */
function fixedIdUser(name: string, id: number, home: string): string {
    return `getent group ${name} >/dev/null || groupadd -r -g ${id} ${name}; ` +
        `getent passwd ${name} >/dev/null || useradd -r -u ${id} -g ${id} -d ${home} -s /sbin/nologin -c "${name} service" ${name}`;
}

export function renderLoginCloudInit(args: LoginCloudInitArgs): string {
    const doc = {
        // bootcmd runs before any package is installed: munge's and Slurm's packages would otherwise create
        // these users with other IDs than the cluster's, and munge refuses a key owned by another UID.
        bootcmd: [
            ["sh", "-c", fixedIdUser("slurm", SLURM_UID, "/var/lib/slurm")],
            ["sh", "-c", fixedIdUser("munge", MUNGE_UID, "/var/run/munge")],
            // Every later boot: put the sign-in hook's PAM line back if something rewrote /etc/pam.d/sshd (on the
            // first boot the files are not written yet; runcmd installs it then).
            ["sh", "-c", `if [ -f ${ACCOUNTS_LOGIN_DIR}/install-login.sh ]; then ${installLogin.join(" ")}; fi`],
        ],
        // No yum_repos and no microsoft-prod.repo here: cloud-init skips a repo whose file already exists (the
        // AlmaLinux HPC image ships slurm.repo, on the insiders channel), and an overwrite would drop what newer
        // images put in microsoft-prod.repo. The client installer writes its own repository and disables any
        // other that serves Slurm.
        mounts: [[
            `${args.nfsHost}:${args.nfsExportPath}`, "/shared", "nfs", `${args.nfsMountOptions},_netdev,nofail`, "0", "0",
        ]],
        write_files: [
            {
                path: "/etc/default/slurm-sync",
                permissions: "0644",
                content: `# Read by slurm-sync.service\nSLURM_SYNC_SOURCE=${seededConfigDir(args.clusterConfigDir)}\n`,
            },
            { path: "/usr/local/sbin/slurm-sync-from-shared", permissions: "0755", content: here("slurm-sync.sh") },
            { path: TRUST_LIB_INSTALLED, permissions: "0644", content: here("../shared-trust/trust-lib.sh") },
            { path: "/usr/local/sbin/install-slurm-client", permissions: "0755", content: here("install-slurm-client.sh") },
            { path: "/etc/systemd/system/slurm-sync.service", permissions: "0644", content: here("slurm-sync.service") },
            { path: "/etc/systemd/system/slurm-sync.timer", permissions: "0644", content: here("slurm-sync.timer") },
            // The account registry (issue 9): its settings, and the sign-in hook's files for install-login.sh.
            { path: "/etc/default/cluster-accounts", permissions: "0644", content: loginSettings(args.accounts) },
            ...ACCOUNTS_LOGIN_FILES.map(f => ({
                path: `${ACCOUNTS_LOGIN_DIR}/${f.file}`, permissions: f.permissions, content: accountsFile(f.src ?? f.file),
            })),
        ],
        runcmd: [
            // First: it takes a second, and every Entra sign-in from then on publishes the user's account
            // (/shared is mounted by now: cloud-init's mounts run before runcmd). It also restores the registered
            // users' records into /etc/aadpasswd, so a rebuilt login node gives returning users their UIDs.
            installLogin,
            ["/usr/local/sbin/install-slurm-client", args.slurmVersion],
        ],
    };
    return "#cloud-config\n" + YAML.stringify(doc, { lineWidth: 0 });
}

/**
 * Azure's limit on a VM's custom data: "The base-64 encoded string is decoded to a binary array ... The maximum
 * length of the binary array is 65535 bytes" (Compute API, OSProfile.customData).
 */
export const AZURE_CUSTOM_DATA_MAX_BYTES = 65535;

/**
 * The login node's osProfile.customData: the cloud-config gzip-compressed, then base64. Uncompressed it is ~80 KB
 * (the scripts it carries) and Azure refuses more than 65,535 bytes; compressed it is about a quarter of that.
 * cloud-init inflates gzip user data before anything else (cloudinit/user_data.py, UserDataProcessor via
 * convert_string/decomp_gzip; the Azure datasource hands CustomData to it as user data), and
 * test/cloud-init-rendered.test.ts runs the installed cloud-init's processor on this output. Throws, naming both
 * sizes, when even the compressed data is too large (a program change, not a config value, would cause that).
 */
export function encodeLoginCustomData(cloudConfig: string): string {
    const gz = zlib.gzipSync(Buffer.from(cloudConfig, "utf8"), { level: 9 });
    if (gz.length > AZURE_CUSTOM_DATA_MAX_BYTES) {
        throw new Error(`the login node's cloud-init is ${gz.length} bytes gzip-compressed (${Buffer.byteLength(cloudConfig)} uncompressed); ` +
            `Azure accepts at most ${AZURE_CUSTOM_DATA_MAX_BYTES} bytes of custom data (osProfile.customData)`);
    }
    return gz.toString("base64");
}
