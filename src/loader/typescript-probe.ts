// Imported natively (with a unique query) to learn whether this process can already load TypeScript.
export const typescriptLoads: boolean = true;
