// What require("llamactl") returns in users' CommonJS modules: the engine the server loaded as ESM
// (Node 20 cannot require() an ES module, and compiling a CommonJS copy would split the engine in two).
const engine = globalThis[Symbol.for("llamactl.engine")];
if (!engine) throw new Error("llamactl's engine is not loaded; workflows must be imported through llamactl's loader.");
module.exports = engine;
