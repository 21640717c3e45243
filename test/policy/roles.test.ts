import * as assert from "assert";
import { PUBLIC_IPV4_ADDRESSES, internetServiceTag, publicCoverage } from "../../policy/addresses";
import {
    BUILT_IN_ROLES, DISK_ROUTES, NIC_ROUTES, VMSS_ROOT_ROUTES, VM_LOGIN_ROUTES, VM_ROOT_ROUTES, actionMatches, builtInRole, grants, routesGranted,
} from "../../policy/roles";
import { ROLE } from "./fixtures";

const names = (routes: { action: string }[]) => routes.map(r => r.action.split("/").slice(-2).join("/"));

describe("roles: what a role grants", () => {
    it("matches actions as Azure does: case-insensitive, * spans path segments", () => {
        assert.ok(actionMatches("*", "Microsoft.Compute/virtualMachines/runCommand/action"));
        assert.ok(actionMatches("Microsoft.Compute/*", "microsoft.compute/virtualmachines/runcommand/action"));
        assert.ok(actionMatches("Microsoft.Compute/virtualMachines/*", "Microsoft.Compute/virtualMachines/extensions/write"));
        assert.ok(!actionMatches("Microsoft.Compute/*/read", "Microsoft.Compute/virtualMachines/runCommand/action"));
        assert.ok(!actionMatches("*/read", "Microsoft.Compute/virtualMachines/write"));
    });
    it("applies notActions: Contributor reaches root but cannot write role assignments", () => {
        const contributor = builtInRole(ROLE.contributor)?.permissions ?? [];
        assert.ok(grants(contributor, "Microsoft.Compute/virtualMachines/runCommand/action"));
        assert.ok(!grants(contributor, "Microsoft.Authorization/roleAssignments/write"));
    });
    it("knows which built-in roles reach root on a VM, and which only sign in", () => {
        const root = (guid: string) => names(routesGranted(BUILT_IN_ROLES[guid].permissions, VM_ROOT_ROUTES));
        assert.deepStrictEqual(root(ROLE.owner), ["runCommand/action", "runCommands/write", "extensions/write", "virtualMachines/write", "roleAssignments/write"]);
        assert.deepStrictEqual(root(ROLE.virtualMachineContributor), ["runCommand/action", "runCommands/write", "extensions/write", "virtualMachines/write"]);
        assert.deepStrictEqual(root(ROLE.userAccessAdministrator), ["roleAssignments/write"]);
        assert.deepStrictEqual(root("f58310d9-a9f6-439a-9e8d-f62e7b41a168"), ["roleAssignments/write"]);
        for (const harmless of [ROLE.reader, ROLE.virtualMachineUserLogin, ROLE.virtualMachineAdministratorLogin, "602da2ba-a5c2-41da-b01d-5360126ab525", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"]) {
            assert.deepStrictEqual(root(harmless), [], harmless);
        }
        assert.deepStrictEqual(names(routesGranted(BUILT_IN_ROLES[ROLE.virtualMachineAdministratorLogin].permissions, VM_LOGIN_ROUTES)), ["loginAsAdmin/action", "login/action"]);
        assert.deepStrictEqual(names(routesGranted(BUILT_IN_ROLES["602da2ba-a5c2-41da-b01d-5360126ab525"].permissions, VM_LOGIN_ROUTES)), []);
        assert.deepStrictEqual(names(routesGranted(BUILT_IN_ROLES["959f8984-c045-4866-89c7-12bf9737be2e"].permissions, DISK_ROUTES)), ["download/action", "upload/action"]);
        assert.deepStrictEqual(names(routesGranted(BUILT_IN_ROLES["4d97b98b-1d4f-4787-a291-c67834d212e7"].permissions, NIC_ROUTES)), ["networkInterfaces/write"]);
    });
    it("counts role assignment writes on a NIC or disk as a route unless the role's condition limits what it can assign", () => {
        const on = (guid: string, routes: typeof NIC_ROUTES) => names(routesGranted(BUILT_IN_ROLES[guid].permissions, routes, BUILT_IN_ROLES[guid].assignableRoleIds));
        assert.deepStrictEqual(on(ROLE.userAccessAdministrator, NIC_ROUTES), ["roleAssignments/write"]);
        assert.deepStrictEqual(on(ROLE.userAccessAdministrator, DISK_ROUTES), ["roleAssignments/write"]);
        assert.deepStrictEqual(on("f58310d9-a9f6-439a-9e8d-f62e7b41a168", NIC_ROUTES), ["roleAssignments/write"]);
        // Virtual Machine Data Access Administrator may assign only the VM login roles: no NIC or disk write that way...
        assert.deepStrictEqual(on("66f75aeb-eabe-4b70-9f1e-c350c4c9ad04", NIC_ROUTES), []);
        assert.deepStrictEqual(on("66f75aeb-eabe-4b70-9f1e-c350c4c9ad04", DISK_ROUTES), []);
        // ...but on the VM, handing a login role to a service principal is a route.
        assert.deepStrictEqual(on("66f75aeb-eabe-4b70-9f1e-c350c4c9ad04", VM_ROOT_ROUTES), ["roleAssignments/write"]);
    });
    it("knows the scale-set instance routes, managed Run Commands included", () => {
        const custom = [{ actions: ["Microsoft.Compute/virtualMachineScaleSets/virtualMachines/runCommands/write"], notActions: [], dataActions: [], notDataActions: [] }];
        assert.deepStrictEqual(names(routesGranted(custom, VMSS_ROOT_ROUTES)), ["runCommands/write"]);
        assert.deepStrictEqual(names(routesGranted(custom, VM_ROOT_ROUTES)), []);
    });
});

describe("addresses: public coverage of NSG sources", () => {
    it("counts public IPv4 addresses once, without private and reserved ranges", () => {
        assert.strictEqual(publicCoverage(["0.0.0.0/0"]).v4, PUBLIC_IPV4_ADDRESSES);
        assert.strictEqual(publicCoverage(["0.0.0.0/1", "128.0.0.0/1"]).v4, PUBLIC_IPV4_ADDRESSES);
        assert.strictEqual(publicCoverage(["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12", "100.64.0.0/10"]).v4, 0);
        assert.strictEqual(publicCoverage(["203.0.113.0/24", "203.0.113.128/25"]).v4, 256);
        assert.strictEqual(publicCoverage(["VirtualNetwork", "not-an-address"]).v4, 0);
    });
    it("flags wide global IPv6 ranges and Internet-wide service tags", () => {
        assert.strictEqual(publicCoverage(["::/0"]).wideV6, "::/0");
        assert.strictEqual(publicCoverage(["fd00::/8", "2001:db8:1::/48"]).wideV6, undefined);
        assert.ok(internetServiceTag("AzureCloud.westeurope"));
        assert.ok(internetServiceTag("Internet"));
        assert.strictEqual(internetServiceTag("AzureLoadBalancer"), undefined);
    });
});
