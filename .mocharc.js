// Tests run TypeScript through ts-node without type-checking (tsc --noEmit in `npm run lint` does that once).
process.env.TS_NODE_TRANSPILE_ONLY = "true";
// `mocha test/x.test.ts` runs that file alone; plain `mocha` (npm test) runs every suite.
const namesFiles = process.argv.slice(2).some(a => /\.test\.ts$/.test(a) || a.includes("*"));
module.exports = {
    require: ["ts-node/register"],
    extension: ["ts"],
    ...(namesFiles ? {} : { spec: ["test/**/*.test.ts"] }),
    reporter: "test/summary-reporter.js",
    timeout: 60000,
};
