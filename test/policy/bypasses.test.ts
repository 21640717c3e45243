// Every bypass of issue 12 (and its kin), judged in process by evaluatePolicies: the violating stack is caught
// by the expected policies at the expected level, with a message naming the resource, the route and the fix; the
// near miss passes cleanly. analyzer.test.ts runs the same cases through the pack's gRPC server.
import * as assert from "assert";
import { PolicyViolation, evaluatePolicies } from "../../policy/evaluate";
import { BYPASSES, BypassCase, baseStack } from "./bypasses";

/** Checks a violating stack's findings against its case; shared with the analyzer test. */
export function assertCaught(c: BypassCase, found: PolicyViolation[]): void {
    const show = JSON.stringify(found, null, 1);
    assert.ok(found.length > 0, `nothing reported: ${c.title}`);
    for (const v of found) {
        assert.ok(c.policies.includes(v.policy), `unexpected policy ${v.policy}: ${show}`);
    }
    if (c.decidedOnUp) {
        assert.ok(found.some(v => v.policy === c.policies[0] && v.enforcementLevel === "advisory" && c.message.test(v.message)), show);
        return;
    }
    for (const p of c.policies) {
        assert.ok(found.some(v => v.policy === p && v.enforcementLevel === c.level), `${p} did not report at ${c.level}: ${show}`);
    }
    assert.ok(found.some(v => c.message.test(v.message)), `no message matches ${c.message}: ${show}`);
    for (const v of found) {
        assert.match(v.message, /Fix:/, `violation without a fix: ${v.message}`);
    }
}

describe("bypasses (evaluatePolicies)", () => {
    it("the base stack passes every policy", () => {
        assert.deepStrictEqual(evaluatePolicies(baseStack()), []);
    });
    for (const c of BYPASSES) {
        describe(c.title, () => {
            it("is caught", () => assertCaught(c, evaluatePolicies(c.violating(), c.config)));
            it("near miss passes", () => assert.deepStrictEqual(evaluatePolicies(c.nearMiss(), c.nearMissConfig ?? c.config), []));
        });
    }
});
