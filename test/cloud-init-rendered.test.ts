// The user data the program renders passes cloud-init's own schema check and the strict top-level key check
// (test/support/cloud-init-check.ts), using the installed cloud-init.
import * as assert from "assert";
import * as fs from "fs";
import YAML from "yaml";
import { renderLoginCloudInit } from "../components/login/cloud-init";
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
});
