// Tests run TypeScript through ts-node without type-checking (tsc --noEmit in `npm run lint` does that once).
process.env.TS_NODE_TRANSPILE_ONLY = "true";
module.exports = {
    require: ["ts-node/register"],
    extension: ["ts"],
    spec: ["test/**/*.test.ts"],
    reporter: "test/summary-reporter.js",
    timeout: 60000,
};
