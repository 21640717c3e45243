// The user data the program renders passes cloud-init's own schema check and the strict top-level key check
// (test/support/cloud-init-check.ts), using the installed cloud-init.
import * as assert from "assert";
import * as child from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import YAML from "yaml";
import { ACCOUNTS_LOGIN_DIR, AZURE_CUSTOM_DATA_MAX_BYTES, encodeLoginCustomData, renderLoginCloudInit } from "../components/login/cloud-init";
import { NFS_MOUNT_OPTIONS } from "../components/nfs";
import { requirePrereqs } from "./support/prereqs";
import { validateCloudConfig } from "./support/cloud-init-check";

describe("rendered cloud-init (real cloud-init schema)", function () {
    before(function () {
        requirePrereqs(this, "cloud-init schema tests", { commands: ["cloud-init"] });
    });

    const rendered = renderLoginCloudInit({
        slurmVersion: "25.11.5",
        clusterConfigDir: "slurm-dev",
        nfsHost: "nfs0123456789abcdef01.file.core.windows.net",
        nfsExportPath: "/nfs0123456789abcdef01/shared",
        nfsMountOptions: NFS_MOUNT_OPTIONS,
        accounts: { registry: "/shared/apps/accounts", sharedHome: "/shared/home", uidMin: 1000000, uidMax: 2000000000, ackWaitSeconds: 12, serviceAccounts: "slurm-readiness:19990" },
    });

    it("the login node's user data is valid cloud-config with only known top-level keys", () => {
        const result = validateCloudConfig(rendered);
        assert.deepStrictEqual(result.errors, []);
        assert.strictEqual(result.ok, true);
    });

    it("the same check rejects the login user data with one top-level key misspelt", () => {
        const broken = rendered.replace(/^runcmd:/m, "runcmdd:");
        assert.notStrictEqual(broken, rendered);
        const result = validateCloudConfig(broken);
        assert.strictEqual(result.ok, false);
        assert.ok(result.errors.some(e => e.includes("runcmdd")), result.errors.join("\n"));
    });

    it("embeds the script files byte for byte", () => {
        const doc = YAML.parse(rendered);
        const sync = doc.write_files.find((f: { path: string }) => f.path === "/usr/local/sbin/slurm-sync-from-shared");
        assert.strictEqual(sync.content, fs.readFileSync(`${__dirname}/../components/login/slurm-sync.sh`, "utf8"));
    });

    it("embeds the sign-in hook's files byte for byte and writes the account settings from config", () => {
        const doc = YAML.parse(rendered);
        const file = (p: string) => doc.write_files.find((f: { path: string }) => f.path === p);
        for (const [name, mode] of [["publish-account.sh", "0755"], ["install-login.sh", "0755"], ["pam-sshd-session", "0644"]]) {
            const f = file(`${ACCOUNTS_LOGIN_DIR}/${name}`);
            assert.ok(f, `${name} not written`);
            assert.strictEqual(f.content, fs.readFileSync(`${__dirname}/../components/accounts/${name}`, "utf8"), name);
            assert.strictEqual(f.permissions, mode, name);
        }
        // The helpers the hook sources: the one copy the cluster-init project also carries to the nodes, written at the
        // absolute path the hook sources it from (root-owned by cloud-init, not writable by others).
        const lib = file("/usr/local/lib/cluster-accounts/accounts-lib.sh");
        assert.ok(lib, "accounts-lib.sh not written");
        assert.strictEqual(lib.content, fs.readFileSync(`${__dirname}/../components/accounts/cluster-init/files/accounts-lib.sh`, "utf8"));
        assert.strictEqual(lib.permissions, "0644");
        assert.ok(fs.readFileSync(`${__dirname}/../components/accounts/publish-account.sh`, "utf8")
            .includes('\nreadonly ACCOUNTS_LIB=/usr/local/lib/cluster-accounts/accounts-lib.sh\n'));
        const settings = file("/etc/default/cluster-accounts");
        assert.strictEqual(settings.permissions, "0644");
        const values = Object.fromEntries(String(settings.content).split("\n").filter(l => /^[A-Z_]+=/.test(l)).map(l => l.split("=", 2)));
        assert.deepStrictEqual(values, {
            ACCOUNTS_REGISTRY: "/shared/apps/accounts", ACCOUNTS_TRUST_ROOT: "/shared", SHARED_HOME: "/shared/home",
            ACCOUNTS_UID_MIN: "1000000", ACCOUNTS_UID_MAX: "2000000000", ACCOUNTS_ACK_WAIT: "12", ACCOUNTS_SERVICE_ACCOUNTS: "slurm-readiness:19990",
        });
        // The login node's keys are the nodes' keys (the spec's settings file), so both sides read the same settings.
        const nodeKeys = fs.readFileSync(`${__dirname}/../components/accounts/cluster-init/files/cluster-accounts.defaults`, "utf8")
            .split("\n").filter(l => /^[A-Z_]+=/.test(l)).map(l => l.split("=")[0]).sort();
        assert.deepStrictEqual(Object.keys(values).sort(), nodeKeys);
    });

    it("installs the sign-in hook at first boot before the Slurm client, and re-checks the PAM line at later boots", () => {
        const doc = YAML.parse(rendered);
        const install = ["bash", `${ACCOUNTS_LOGIN_DIR}/install-login.sh`, ACCOUNTS_LOGIN_DIR];
        const i = doc.runcmd.findIndex((c: unknown) => JSON.stringify(c) === JSON.stringify(install));
        const slurm = doc.runcmd.findIndex((c: string[]) => c[0] === "/usr/local/sbin/install-slurm-client");
        assert.ok(i >= 0, `runcmd does not run install-login.sh: ${JSON.stringify(doc.runcmd)}`);
        assert.ok(i < slurm, "the hook waits for the Slurm client installation");
        assert.ok(doc.bootcmd.some((c: string[]) => c[0] === "sh" && c[2].includes(`if [ -f ${ACCOUNTS_LOGIN_DIR}/install-login.sh ]; then ${install.join(" ")}; fi`)));
        // /shared is an fstab mount cloud-init sets up before runcmd runs.
        assert.ok(doc.mounts.some((m: string[]) => m[1] === "/shared"));
    });

    it("the installed cloud-init reads the gzip-compressed custom data back as this cloud-config", () => {
        const bytes = Buffer.from(encodeLoginCustomData(rendered), "base64");
        assert.ok(bytes.length <= AZURE_CUSTOM_DATA_MAX_BYTES, `${bytes.length} bytes`);
        // cloud-init's own interpreter (its #! line), so the processor is the installed cloud-init's, whatever python3
        // is first on PATH. UserDataProcessor is what every datasource's raw user data goes through (Azure's CustomData too).
        const interpreter = fs.readFileSync(child.execFileSync("sh", ["-c", "command -v cloud-init"], { encoding: "utf8" }).trim(), "utf8")
            .split("\n")[0].replace(/^#!\s*/, "").split(/\s+/);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "custom-data-"));
        try {
            fs.writeFileSync(path.join(dir, "custom-data"), bytes);
            const program = [
                "import sys, json",
                "from cloudinit import user_data, helpers",
                "msg = user_data.UserDataProcessor(helpers.Paths({})).process(open(sys.argv[1], 'rb').read())",
                "parts = [(p.get_content_type(), p.get_payload(decode=True).decode()) for p in msg.walk() if p.get_content_maintype() != 'multipart']",
                "print(json.dumps(parts))",
            ].join("\n");
            const out = child.execFileSync(interpreter[0], [...interpreter.slice(1), "-c", program, path.join(dir, "custom-data")], { encoding: "utf8" });
            const parts = JSON.parse(out) as [string, string][];
            assert.deepStrictEqual(parts.map(p => p[0]), ["text/cloud-config"]);
            assert.strictEqual(parts[0][1], rendered);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("refuses custom data that would still be over Azure's limit compressed, naming both sizes", () => {
        // Random bytes do not compress: 70,000 of them (as hex, 140,000 characters) stay over the limit.
        const big = `#cloud-config\n# ${crypto.randomBytes(70_000).toString("hex")}\n`;
        assert.throws(() => encodeLoginCustomData(big), /login node's cloud-init is \d+ bytes gzip-compressed \(\d+ uncompressed\); Azure accepts at most 65535 bytes of custom data/);
        // And a small one is accepted and round-trips.
        const small = "#cloud-config\nruncmd: []\n";
        assert.strictEqual(zlib.gunzipSync(Buffer.from(encodeLoginCustomData(small), "base64")).toString("utf8"), small);
    });
});
