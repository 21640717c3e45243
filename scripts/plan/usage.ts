// Preloaded by `npm run bench` into each plan it times: writes the process's peak resident memory (maxRSS,
// KiB) to $PLAN_USAGE_FILE when the process exits. Does nothing otherwise.
import * as fs from "fs";

const file = process.env.PLAN_USAGE_FILE;
if (file) {
    process.on("exit", () => {
        fs.writeFileSync(file, JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }));
    });
}
