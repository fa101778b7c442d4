#!/usr/bin/env node
// The CLI is written in TypeScript and run through tsx's loader, the same loader that imports users'
// workflow files, so there is no build step between a checkout and a working `llamactl`.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
