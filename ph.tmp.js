const Module = require("module");
const orig = Module.prototype.require;
const marks = [];
Module.prototype.require = function (id) {
  const s = performance.now();
  try { return orig.apply(this, arguments); } finally {
    if (/index\.ts$|^\.\/plan\/run$/.test(id)) marks.push(`${id.split("/").pop()} ${s.toFixed(0)}→${performance.now().toFixed(0)}`);
  }
};
process.on("exit", () => process.stderr.write(marks.join("  ") + `  exit ${performance.now().toFixed(0)}\n`));
