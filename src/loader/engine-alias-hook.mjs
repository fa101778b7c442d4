// Module resolution hook (node:module register): the bare specifiers "llamactl" and
// "llamactl/package.json" resolve to the running llamactl, so users' workflows and the server share
// one engine copy even when the project has no (or another) llamactl in node_modules.
// Plain JavaScript: hook modules load on Node's hooks thread, which may have no TypeScript loader.

/** @type {Map<string, { url: string, format: string }>} */
let aliases = new Map();

export function initialize(data) {
  aliases = new Map(Object.entries(data.aliases));
}

export function resolve(specifier, context, nextResolve) {
  const target = aliases.get(specifier);
  if (target) return { url: target.url, format: target.format, shortCircuit: true };
  return nextResolve(specifier, context);
}
