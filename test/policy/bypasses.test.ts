// Every bypass of issue 12 (and its kin), judged in process by evaluatePolicies: the violating stack is caught
// by the expected policies at the expected level, with a message naming the resource, the route and the fix; the
// near miss passes cleanly. analyzer.test.ts runs the same cases through the pack's gRPC server.
import * as assert from "assert";
import { evaluatePolicies } from "../../policy/evaluate";
import { BYPASSES, assertCaught, baseStack } from "./bypasses";

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
