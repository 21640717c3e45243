import * as assert from "assert";
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import { decodeBase64, findSecrets } from "../../policy/compute";
import { VM_ID, aadExtensionProps, loginVmProps } from "./fixtures";
import {
    assertCompliant, assertNotApplicable, assertUnknownAdvisory, assertViolations, b64, policyNamed, runResourcePolicy,
    runStackPolicy, unknown,
} from "./util";

describe("policy linux-vm-password-authentication-disabled", () => {
    const policy = policyNamed("linux-vm-password-authentication-disabled");
    const withLinux = (linuxConfiguration: unknown) =>
        loginVmProps({ osProfile: { computerName: "x", adminUsername: "a", linuxConfiguration } });

    it("passes a Linux VM with password authentication disabled", () => {
        assertCompliant(runResourcePolicy(policy, compute.VirtualMachine, loginVmProps()));
    });
    it("reports disablePasswordAuthentication: false", () => {
        assertViolations(runResourcePolicy(policy, compute.VirtualMachine, withLinux({ disablePasswordAuthentication: false })),
            /disablePasswordAuthentication is false.*CKV_AZURE_149.*AVD-AZU-0039/);
    });
    it("reports a linuxConfiguration without the flag", () => {
        assertViolations(runResourcePolicy(policy, compute.VirtualMachine, withLinux({ ssh: { publicKeys: [] } })), /is not set/);
    });
    it("reports a Linux OS disk with no linuxConfiguration at all", () => {
        const vm = loginVmProps({ osProfile: { computerName: "x", adminUsername: "a", adminPassword: "p" } });
        assertViolations(runResourcePolicy(policy, compute.VirtualMachine, vm), /is not set/);
    });
    it("is not applicable to Windows VMs, VMs without osProfile and other types", () => {
        const win = loginVmProps({ osProfile: { computerName: "w", adminUsername: "a", windowsConfiguration: { provisionVMAgent: true } }, storageProfile: { osDisk: { osType: "Windows" } } });
        assertNotApplicable(runResourcePolicy(policy, compute.VirtualMachine, win), /not a Linux VM/);
        assertNotApplicable(runResourcePolicy(policy, compute.VirtualMachine, loginVmProps({ osProfile: undefined })), /osProfile/);
        assertNotApplicable(runResourcePolicy(policy, network.NetworkInterface, {}));
    });
    it("does not crash on unknown values during preview", () => {
        assertUnknownAdvisory(runResourcePolicy(policy, compute.VirtualMachine, withLinux({ disablePasswordAuthentication: unknown.boolean })),
            /disablePasswordAuthentication/);
    });
});

describe("policy vm-custom-data-no-secrets", () => {
    const policy = policyNamed("vm-custom-data-no-secrets");
    const withCustomData = (text: string, encode = true) =>
        loginVmProps({ osProfile: { ...(loginVmProps().osProfile as object), customData: encode ? b64(text) : text } });
    const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----";

    it("passes the login node's cloud-init (munge key copied from /shared, no passwords)", () => {
        assertCompliant(runResourcePolicy(policy, compute.VirtualMachine, loginVmProps()));
        assertCompliant(runResourcePolicy(policy, compute.VirtualMachine, loginVmProps({ userData: b64("#!/bin/bash\necho hello > /tmp/x\n") })));
    });
    it("reports a private key block, without echoing it", () => {
        const r = runResourcePolicy(policy, compute.VirtualMachine, withCustomData(`#cloud-config\nwrite_files:\n  - path: /root/.ssh/id_ed25519\n    content: |\n      ${PRIVATE_KEY.replace(/\n/g, "\n      ")}\n`));
        assertViolations(r, /osProfile.customData contains line 5: a private key block.*AVD-AZU-0037/);
        assert.ok(!r.violations[0].message.includes("b3BlbnNzaC1rZXkt"), "the secret leaked into the message");
    });
    it("reports a munge key written by cloud-init write_files", () => {
        const cc = "#cloud-config\nwrite_files:\n  - path: /etc/ssh/x.conf\n    content: hi\n  - path: /etc/munge/munge.key\n    encoding: b64\n    content: c2VjcmV0a2V5\n    permissions: '0400'\n";
        assertViolations(runResourcePolicy(policy, compute.VirtualMachine, withCustomData(cc)), /line 5: an inline munge key \(cloud-init write_files content\)/);
        // The same path without inline content (e.g. only permissions) is no secret.
        assertCompliant(runResourcePolicy(policy, compute.VirtualMachine, withCustomData("#cloud-config\nwrite_files:\n  - path: /etc/munge/munge.key\n    permissions: '0400'\n  - path: /x\n    content: y\n")));
    });
    it("reports a munge key echoed or heredoc'd into place", () => {
        assertViolations(runResourcePolicy(policy, compute.VirtualMachine, withCustomData("#!/bin/bash\necho 'c2VjcmV0' | base64 -d > /etc/munge/munge.key\n")), /inline munge key/);
        assertViolations(runResourcePolicy(policy, compute.VirtualMachine, withCustomData("#!/bin/bash\ncat > /etc/munge/munge.key <<'EOF'\nsecret\nEOF\n")), /inline munge key/);
    });
    it("reports passwords: key = literal, chpasswd list, piped chpasswd", () => {
        assertViolations(runResourcePolicy(policy, compute.VirtualMachine, withCustomData("#!/bin/bash\nADMIN_PASSWORD='Hunter2!x'\n")), /a password \(ADMIN_PASSWORD\)/);
        assertViolations(runResourcePolicy(policy, compute.VirtualMachine, withCustomData("#cloud-config\nchpasswd:\n  expire: false\n  list: |\n    root:S3cret!\n    alice:RANDOM\n")),
            /line 5: a password in cloud-init chpasswd.list/);
        assertViolations(runResourcePolicy(policy, compute.VirtualMachine, withCustomData("#!/bin/sh\necho 'hpcadmin:Pa55word' | chpasswd\n")), /piped into chpasswd/);
    });
    it("reads plain (not base64) custom data and user data too", () => {
        assertViolations(runResourcePolicy(policy, compute.VirtualMachine, withCustomData(PRIVATE_KEY, false)), /private key block/);
        assertViolations(runResourcePolicy(policy, compute.VirtualMachine, loginVmProps({ userData: b64("export CONN='DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abcdefghijklmnopqrstuvwxyz0123456789=='\n") })),
            /^userData contains .*storage account key/);
    });
    it("does not mistake settings for passwords", () => {
        assert.deepStrictEqual(findSecrets("PasswordAuthentication no\nlock_passwd: true\nssh_pwauth: false\npassword: ${PW}\npasswd: $6$rounds$abc\ncd $(pwd)\n"), []);
        assert.strictEqual(decodeBase64("not base64!"), undefined);
        assert.strictEqual(decodeBase64(b64("munge")), "munge");
    });
    it("reports the forms of issue 18: -p short forms, usermod -p, chpasswd, account keys, key files from inline data", () => {
        const found = (t: string) => findSecrets(t).map(f => f.replace(/^line \d+: /, ""));
        assert.deepStrictEqual(found("az login --service-principal -u app -p 'S3cr3t~value' --tenant t"), ["a password (az login -p)"]);
        assert.deepStrictEqual(found("podman login reg.example -u u -p Pa55w0rd99"), ["a password (podman login -p)"]);
        assert.deepStrictEqual(found("redis-cli -h cache -a S3cretRedis ping"), ["a password (redis-cli -a)"]);
        assert.deepStrictEqual(found("usermod -p 'plain-text-oops' hpcadmin"), ["a password (usermod -p)"]);
        assert.deepStrictEqual(found("htpasswd -bc /etc/nginx/.htpasswd admin Adm1nPass\nsqlcmd -S db -U sa -P 'Sa-Passw0rd' -Q 'select 1'"),
            ["a password (htpasswd -bc)", "a password (sqlcmd -P)"]);
        assert.deepStrictEqual(found("echo 'Root-Pw-1' | passwd --stdin root"), ["a password piped into passwd --stdin"]);
        assert.deepStrictEqual(found("printf '%s\\n' 'ops:0ps-Pass' | sudo chpasswd"), ["a password piped into chpasswd"]);
        assert.deepStrictEqual(found("export AZURE_STORAGE_KEY=Xq3mK9vLp2RtY8wZc4NbH7sD1fG6jA0eU5iO3kM9nB2vC8xZ=="), ["a storage account key"]);
        assert.deepStrictEqual(found("openssl pkcs12 -export -in c.crt -inkey k.key -out /etc/x.pfx -passout pass:Expo7t"), ["a password (openssl pass:)"]);
        assert.deepStrictEqual(found("git clone https://deploy:glpat-AbCdEf123456@gitlab.example/hpc/config.git"), ["a password in a URL"]);
        assert.deepStrictEqual(found("xxd -r -p > /etc/munge/munge.key <<EOF\n0a1b2c3d4e5f\nEOF"), ["an inline munge key (base64 decoded into munge.key), from a here-document"]);
        assert.deepStrictEqual(found("tee /etc/krb5.keytab <<< 'BQIAAABFAAEAC0VYQU1QTEUuQ09N'"), ["inline key material (written from data in the script into krb5.keytab), from a here-string"]);
        assert.deepStrictEqual(found("#cloud-config\nruncmd:\n  - echo 'c2VjcmV0a2V5' | base64 -d > /etc/munge/munge.key\n  - [bash, -c, \"echo 'hpcadmin:Pa55-w0rd' | chpasswd\"]\n"),
            ["an inline munge key (base64 decoded into munge.key)", "a password piped into chpasswd"]);
        assert.deepStrictEqual(found("#cloud-config\nwrite_files:\n  - path: /etc/slurm/jwt_hs256.key\n    encoding: b64\n    content: c2VjcmV0\n"),
            ["inline key material (cloud-init write_files content of jwt_hs256.key)"]);
    });
    it("does not report values fetched at boot, lock markers, public keys or sudoers tags (issue 18 false alarms)", () => {
        for (const t of [
            "az keyvault secret show --vault-name kv --name munge --query value -o tsv | base64 -d > /etc/munge/munge.key",
            "K=$(az keyvault secret show --vault-name kv --name jwt --query value -o tsv)\necho \"$K\" | base64 -d > /etc/slurm/jwt_hs256.key",
            "usermod -p '!' svc\nuseradd -m -p '*' slurm\nusermod -p \"$HASH\" alice",
            "echo \"alice:$(openssl rand -base64 24)\" | chpasswd\necho \"$ROOT_PW\" | passwd --stdin root",
            "az storage blob list --account-name st --account-key \"$KEY\" -c c",
            "echo 'ssh-ed25519 AAAAC3Nza admin' > /home/a/.ssh/id_ed25519.pub\ncat > /etc/ssh/ssh_known_hosts <<'EOF'\nhead ssh-ed25519 AAAA\nEOF",
            "#cloud-config\nusers:\n  - name: a\n    sudo: ALL=(ALL) NOPASSWD:ALL\n",
            "git clone https://github.com/Azure/cyclecloud-slurm.git\ncurl -u \"$USER:$TOKEN\" https://$USER:$TOKEN@example.com/x",
            "openssl rand -base64 32 > /etc/slurm/jwt_hs256.key\ndd if=/dev/urandom bs=1 count=1024 > /etc/munge/munge.key",
        ]) {
            assert.deepStrictEqual(findSecrets(t), [], t);
        }
    });
    it("is not applicable to other types", () => {
        assertNotApplicable(runResourcePolicy(policy, network.NetworkInterface, { customData: b64(PRIVATE_KEY) }));
    });
    it("does not crash on unknown values during preview", () => {
        const vm = loginVmProps({ osProfile: { computerName: "x", adminUsername: "a", customData: unknown.string } });
        assertUnknownAdvisory(runResourcePolicy(policy, compute.VirtualMachine, vm), /customData/);
    });
});

describe("policy login-vm-entra-sign-in-ready (stack)", () => {
    const policy = policyNamed("login-vm-entra-sign-in-ready");
    const vm = (props: Record<string, unknown> = {}, name = "login") => ({ cls: compute.VirtualMachine, name, props: loginVmProps(props) });
    const ext = (props: Record<string, unknown> = {}, extra = {}) => ({ cls: compute.VirtualMachineExtension, name: "aad", props: aadExtensionProps(props), ...extra });

    it("passes a login VM with a system-assigned identity and the extension (linked by ID, name or inline)", () => {
        assertCompliant(runStackPolicy(policy, [vm(), ext()]));
        assertCompliant(runStackPolicy(policy, [vm({ identity: { type: "SystemAssigned, UserAssigned" } }), ext({ id: undefined })]));
        // Outputs as azure-native records them: `type` is the ARM resource type, the name says which extension.
        assertCompliant(runStackPolicy(policy, [vm(), ext({ type: "Microsoft.Compute/virtualMachines/extensions", vmName: undefined, vmExtensionName: undefined })]));
        assertCompliant(runStackPolicy(policy, [vm({ resources: [aadExtensionProps()] })]));
    });
    it("reports a login VM without a system-assigned identity", () => {
        assertViolations(runStackPolicy(policy, [vm({ identity: undefined }), ext()]), /no system-assigned managed identity/);
        assertViolations(runStackPolicy(policy, [vm({ identity: { type: "UserAssigned" } }), ext()]), /no system-assigned managed identity/);
    });
    it("reports a login VM without the AADSSHLoginForLinux extension", () => {
        assertViolations(runStackPolicy(policy, [vm()]), /no AADSSHLoginForLinux extension/);
        const windows = ext({ type: "AADLoginForWindows", name: "AADLoginForWindows", vmExtensionName: "AADLoginForWindows", id: `${VM_ID}/extensions/AADLoginForWindows` });
        assertViolations(runStackPolicy(policy, [vm(), windows]), /no AADSSHLoginForLinux extension/);
    });
    it("reports an extension that belongs to another VM", () => {
        const other = ext({ id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-other/extensions/AADSSHLoginForLinux", vmName: "vm-other" });
        assertViolations(runStackPolicy(policy, [vm(), other]), /login \(vm-login\) has no AADSSHLoginForLinux/);
    });
    it("reports both problems at once, per login VM, and leaves other VMs alone", () => {
        const r = runStackPolicy(policy, [vm({ identity: undefined }), vm({ tags: {}, identity: undefined, id: "/x/other", name: "vm-other" }, "other")]);
        assertViolations(r, /identity/, /extension/);
    });
    it("links the extension through property dependencies during preview", () => {
        const r = runStackPolicy(policy, [
            vm({ id: unknown.string, name: unknown.string }),
            ext({ id: unknown.string, vmName: unknown.string }, { propertyDependencies: { vmName: ["login"] } }),
        ]);
        assertCompliant(r);
    });
    it("is not applicable to a stack without VMs", () => {
        assertNotApplicable(runStackPolicy(policy, [ext()]));
    });
    it("does not crash when the identity is unknown during preview", () => {
        assertCompliant(runStackPolicy(policy, [vm({ identity: unknown.object }), ext()]));
    });
});
