import * as assert from "assert";
import * as authorization from "@pulumi/azure-native/authorization";
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import { ConditionalAccessPolicy } from "@pulumi/azuread/conditionalAccessPolicy";
import { AZURE_LINUX_VM_SIGN_IN_APP_ID, roleGuid } from "../../policy/common";
import { BASTION_ID, NIC_ID, OTHER_VM_ID, RG_ID, ROLE, SUB, VM_ID, loginNicProps, loginVmProps, roleDefinitionId } from "./fixtures";
import {
    assertCompliant, assertNotApplicable, assertUnknownAdvisory, assertViolations, policyNamed, runResourcePolicy,
    runStackPolicy, unknown, urnOf,
} from "./util";

const assignment = (role: string, principalType: string | undefined, scope: string, o: Record<string, unknown> = {}) => ({
    principalId: "11111111-2222-3333-4444-555555555555",
    principalType,
    roleDefinitionId: roleDefinitionId(role),
    scope,
    ...o,
});

describe("policy login-role-assignments-mfa-capable", () => {
    const policy = policyNamed("login-role-assignments-mfa-capable");
    const ra = authorization.RoleAssignment;

    it("passes login roles given to users and groups (full ID or bare GUID, any case)", () => {
        assertCompliant(runResourcePolicy(policy, ra, assignment(ROLE.virtualMachineUserLogin, "User", VM_ID)));
        assertCompliant(runResourcePolicy(policy, ra, assignment(ROLE.virtualMachineAdministratorLogin, "Group", RG_ID)));
        assertCompliant(runResourcePolicy(policy, ra, assignment(ROLE.virtualMachineUserLogin, "group", VM_ID, { roleDefinitionId: ROLE.virtualMachineUserLogin.toUpperCase() })));
    });
    it("reports a login role given to a service principal", () => {
        assertViolations(runResourcePolicy(policy, ra, assignment(ROLE.virtualMachineAdministratorLogin, "ServicePrincipal", VM_ID)),
            /Virtual Machine Administrator Login .* is assigned to a ServicePrincipal, which Conditional Access cannot hold to MFA/);
    });
    it("reports a login role without principalType", () => {
        assertViolations(runResourcePolicy(policy, ra, assignment(ROLE.virtualMachineUserLogin, undefined, VM_ID)), /without principalType/);
    });
    it("reports a login role given to a device or a foreign group", () => {
        assertViolations(runResourcePolicy(policy, ra, assignment(ROLE.virtualMachineUserLogin, "Device", VM_ID)), /to a Device/);
        assertViolations(runResourcePolicy(policy, ra, assignment(ROLE.virtualMachineUserLogin, "ForeignGroup", VM_ID)), /to a ForeignGroup/);
    });
    it("honours configured login roles", () => {
        const custom = "0a1b2c3d-0000-4000-8000-000000000001";
        const cfg = { loginRoleIds: [ROLE.virtualMachineUserLogin, custom] };
        assertViolations(runResourcePolicy(policy, ra, assignment(custom, "ServicePrincipal", VM_ID), cfg), /0a1b2c3d.* is assigned to a ServicePrincipal/);
        assertNotApplicable(runResourcePolicy(policy, ra, assignment(custom, "ServicePrincipal", VM_ID)));
    });
    it("is not applicable to other roles and other types", () => {
        assertNotApplicable(runResourcePolicy(policy, ra, assignment(ROLE.reader, "ServicePrincipal", NIC_ID)), /not a VM login role/);
        assertNotApplicable(runResourcePolicy(policy, compute.VirtualMachine, loginVmProps()));
    });
    it("does not crash on unknown values during preview", () => {
        assertUnknownAdvisory(runResourcePolicy(policy, ra, assignment(ROLE.virtualMachineUserLogin, "User", VM_ID, { roleDefinitionId: unknown.string })), /roleDefinitionId/);
        // The scope (usually the new VM's ID) is unknown in preview; the check does not need it.
        assertViolations(runResourcePolicy(policy, ra, assignment(ROLE.virtualMachineUserLogin, "ServicePrincipal", unknown.string)), /ServicePrincipal/);
    });
    it("matches role definition IDs by their trailing GUID", () => {
        assert.strictEqual(roleGuid(`${roleDefinitionId(ROLE.owner.toUpperCase())}/`), ROLE.owner);
        assert.strictEqual(roleGuid(ROLE.reader), ROLE.reader);
    });
});

describe("policy login-vm-role-assignments-restricted (stack)", () => {
    const policy = policyNamed("login-vm-role-assignments-restricted");
    const vm = (props: Record<string, unknown> = {}) => ({ cls: compute.VirtualMachine, name: "login", props: loginVmProps(props) });
    const nic = (props: Record<string, unknown> = {}) => ({ cls: network.NetworkInterface, name: "nic", props: loginNicProps(props) });
    const otherVm = { cls: compute.VirtualMachine, name: "other", props: loginVmProps({ id: OTHER_VM_ID, name: "vm-other", tags: {} }) };
    const ra = (name: string, role: string, principalType: string | undefined, scope: string, extra = {}) =>
        ({ cls: authorization.RoleAssignment, name, props: assignment(role, principalType, scope), ...extra });

    it("passes login roles on the VM, Reader on its NIC and the Bastion, and anything on other VMs or resource groups", () => {
        assertCompliant(runStackPolicy(policy, [
            vm(), nic(), otherVm,
            ra("user-login", ROLE.virtualMachineUserLogin, "User", VM_ID),
            ra("admin-login", ROLE.virtualMachineAdministratorLogin, "Group", VM_ID),
            ra("nic-reader", ROLE.reader, "Group", NIC_ID),
            ra("vm-reader", ROLE.reader, "User", VM_ID),
            ra("bastion-reader", ROLE.reader, "User", BASTION_ID),
            ra("other-owner", ROLE.owner, "User", OTHER_VM_ID),
            ra("other-rg-contributor", ROLE.contributor, "ServicePrincipal", `${SUB}/resourceGroups/rg-cluster`),
            ra("sub-reader", ROLE.reader, "ServicePrincipal", SUB),
        ]));
    });
    it("reports Owner on the login VM for a user", () => {
        const r = runStackPolicy(policy, [vm(), nic(), ra("owner", ROLE.owner, "User", VM_ID)]);
        assertViolations(r, /gives a User Owner \(8e3af657.*\) on login VM login \(vm-login\) \(tag slurm-node-role=login\): it can run commands as root .*without the MFA-protected Entra sign-in/);
        assert.strictEqual(r.violations[0].urn, urnOf({ cls: authorization.RoleAssignment, name: "owner" }));
    });
    it("reports Contributor on the login VM's NIC for a group (scope compared case-insensitively)", () => {
        assertViolations(runStackPolicy(policy, [vm(), nic(), ra("contrib", ROLE.contributor, "Group", NIC_ID.toLowerCase())]),
            /gives a Group Contributor .* on NIC nic \(nic-login\) of login VM login \(vm-login\): it can attach a public IP/);
    });
    it("reports User Access Administrator and Virtual Machine Contributor, also without principalType", () => {
        assertViolations(runStackPolicy(policy, [vm(), nic(), ra("uaa", ROLE.userAccessAdministrator, "User", VM_ID)]), /User Access Administrator/);
        assertViolations(runStackPolicy(policy, [vm(), nic(), ra("vmc", ROLE.virtualMachineContributor, undefined, VM_ID)]),
            /principal of unstated type Virtual Machine Contributor/);
    });
    it("reports roles it cannot see into, unless vouched for by config", () => {
        const custom = "0a1b2c3d-0000-4000-8000-000000000002";
        assertViolations(runStackPolicy(policy, [vm(), ra("custom", custom, "User", VM_ID)]), /role 0a1b2c3d.*the pack cannot see what that role grants/);
        assertCompliant(runStackPolicy(policy, [vm(), ra("custom", custom, "User", VM_ID)], { additionalAllowedRoleIds: [ROLE.reader, custom] }));
    });
    it("links an unknown scope to the login VM through property dependencies during preview", () => {
        const r = runStackPolicy(policy, [
            vm({ id: unknown.string }),
            ra("owner", ROLE.owner, "User", unknown.string, { propertyDependencies: { scope: ["login"] } }),
            ra("unrelated", ROLE.owner, "User", unknown.string, { propertyDependencies: { scope: [] } }),
        ]);
        assertViolations(r, /Owner .* on login VM login/);
    });
    it("uses the configured login tag", () => {
        const specs = [vm({ tags: { role: "jump" } }), ra("owner", ROLE.owner, "User", VM_ID)];
        assertNotApplicable(runStackPolicy(policy, specs), /login node/);
        assertViolations(runStackPolicy(policy, specs, { loginTagName: "role", loginTagValue: "jump" }), /Owner/);
    });
    it("is not applicable to stacks without role assignments or without login VMs", () => {
        assertNotApplicable(runStackPolicy(policy, [vm(), nic()]));
        assertNotApplicable(runStackPolicy(policy, [otherVm, ra("owner", ROLE.owner, "User", OTHER_VM_ID)]), /login node/);
    });
    it("decides on `up` when the role is unknown during preview and cannot be linked", () => {
        assertUnknownAdvisory(runStackPolicy(policy, [vm(), { cls: authorization.RoleAssignment, name: "x", props: { scope: VM_ID, roleDefinitionId: unknown.string, principalType: unknown.string } }]),
            /roleDefinitionId/);
    });
});

describe("policy vm-sign-in-conditional-access-requires-mfa", () => {
    const policy = policyNamed("vm-sign-in-conditional-access-requires-mfa");
    const ca = (o: Record<string, unknown> = {}, grant: Record<string, unknown> = {}) => ({
        displayName: "Require MFA for Azure Linux VM Sign-In",
        state: "enabled",
        conditions: {
            clientAppTypes: ["all"],
            applications: { includedApplications: [AZURE_LINUX_VM_SIGN_IN_APP_ID] },
            users: { includedGroups: ["g1"] },
        },
        grantControls: { operator: "OR", builtInControls: ["mfa"], ...grant },
        ...o,
    });
    const CAP = ConditionalAccessPolicy;

    it("passes an enabled policy that requires MFA (built-in control or authentication strength)", () => {
        assertCompliant(runResourcePolicy(policy, CAP, ca()));
        assertCompliant(runResourcePolicy(policy, CAP, ca({}, { builtInControls: [], authenticationStrengthPolicyId: "/policies/authenticationStrengthPolicies/00000000-0000-0000-0000-000000000002" })));
        assertCompliant(runResourcePolicy(policy, CAP, ca({}, { operator: "AND", builtInControls: ["mfa", "compliantDevice"] })));
    });
    it("reports a disabled policy", () => {
        assertViolations(runResourcePolicy(policy, CAP, ca({ state: "disabled" })), /state is "disabled"/);
    });
    it("reports a report-only policy", () => {
        assertViolations(runResourcePolicy(policy, CAP, ca({ state: "enabledForReportingButNotEnforced" })), /report-only/);
    });
    it("reports grant controls without MFA", () => {
        assertViolations(runResourcePolicy(policy, CAP, ca({}, { builtInControls: ["compliantDevice"] })), /do not require MFA/);
        assertViolations(runResourcePolicy(policy, CAP, ca({ grantControls: undefined })), /do not require MFA/);
    });
    it("reports MFA that another control can stand in for (OR)", () => {
        assertViolations(runResourcePolicy(policy, CAP, ca({}, { builtInControls: ["mfa", "domainJoinedDevice"] })), /operator is OR, so domainjoineddevice can stand in for MFA/);
    });
    it("is not applicable to policies for other apps, blocking policies and other types", () => {
        const other = ca({ conditions: { applications: { includedApplications: ["00000003-0000-0000-c000-000000000000"] } } });
        assertNotApplicable(runResourcePolicy(policy, CAP, other), /Azure Linux VM Sign-In/);
        assertNotApplicable(runResourcePolicy(policy, CAP, ca({ state: "disabled" }, { builtInControls: ["block"] })), /blocks/);
        assertNotApplicable(runResourcePolicy(policy, authorization.RoleAssignment, assignment(ROLE.owner, "User", VM_ID)));
    });
    it("does not crash on unknown values during preview", () => {
        assertUnknownAdvisory(runResourcePolicy(policy, CAP, ca({ state: unknown.string })), /state/);
    });
});
