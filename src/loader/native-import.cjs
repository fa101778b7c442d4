// Node's own import(), reached through require(): test runners and bundlers rewrite `import()` written
// in ES module source (vitest runs it through its own transform), but users' code and the shared
// engine must be loaded by Node's loader with the registered hooks.
module.exports = (specifier) => import(specifier);
