// Every bypass of issue 12 (and its kin), judged in process by evaluatePolicies: the violating stack is caught
// by the expected policies at the expected level, with a message naming the resource, the route and the fix; the
// near miss passes cleanly. analyzer.test.ts runs the same cases through the pack's gRPC server.
import * as assert from "assert";
import { evaluatePolicies } from "../../policy/evaluate";
import { BYPASSES, assertCaught, baseStack } from "./bypasses";
import { SECOND_LOOK } from "./second-look";

describe("bypasses (evaluatePolicies)", () => {
    it("the base stack passes every policy", () => {
        assert.deepStrictEqual(evaluatePolicies(baseStack()), []);
    });
    for (const c of [...BYPASSES, ...SECOND_LOOK]) {
        describe(c.title, () => {
            it("is caught", () => assertCaught(c, evaluatePolicies(c.violating(), c.config)));
            it("near miss passes", () => assert.deepStrictEqual(evaluatePolicies(c.nearMiss(), c.nearMissConfig ?? c.config), []));
            for (const m of c.moreNearMisses ?? []) {
                it(`near miss passes: ${m.title}`, () => assert.deepStrictEqual(evaluatePolicies(m.stack(), m.config ?? c.config), []));
            }
        });
    }
    it("issue 18: every class has violating cases and at least as many near misses", () => {
        for (const cls of [1, 2, 3, 4, 5, 6]) {
            const cases = SECOND_LOOK.filter(c => c.issue18Class === cls);
            const nearMisses = cases.reduce((n, c) => n + 1 + (c.moreNearMisses?.length ?? 0), 0);
            assert.ok(cases.length >= 2, `class ${cls}: ${cases.length} violating case(s)`);
            assert.ok(nearMisses >= cases.length, `class ${cls}: ${nearMisses} near misses for ${cases.length} violations`);
        }
    });
});
