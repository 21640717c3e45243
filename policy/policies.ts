// The pack's policies and the offline evaluator, in one import. Importing this module does not start a policy pack
// (index.ts does), so the offline plan and the tests can use it. The list lives in catalog.ts, which evaluate.ts
// also reads: no import cycle.
export { PACK_ENFORCEMENT_LEVEL, POLICY_PACK_NAME, policies } from "./catalog";
export { evaluatePolicies, resolvePolicyConfig } from "./evaluate";
export type { EvaluatedResource, PolicyViolation, PolicyPackConfigFile } from "./evaluate";
