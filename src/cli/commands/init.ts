import { readFileSync } from "node:fs";
import { cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { basename, join, relative, resolve, sep } from "node:path";
import { createInterface } from "node:readline/promises";
import { fileURLToPath } from "node:url";
import { printProblems } from "../output.ts";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

/**
 * Template id → the example it starts from. The build (scripts/build.mjs) assembles `dist/templates/<id>/`
 * from `examples/<example>/` (README aside: init writes its own) and the overlay in `templates/<id>/` (a
 * gitignore and a test), so an example stays the one place its workflow is written and the package ships
 * templates without examples.
 */
export const TEMPLATES: Record<string, { example: string; description: string }> = {
  basic: { example: "quickstart", description: "one step that answers a question" },
  streaming: { example: "streaming", description: "progress events streamed live" },
  "human-in-the-loop": { example: "human-in-the-loop", description: "a run that asks a human and waits" },
  "with-ui": { example: "with-ui", description: "a workflow with a Vite + React web UI" },
};

/**
 * Not copied as they are: local leftovers, and `gitignore`, written as `.gitignore` (npm pack leaves files
 * named `.gitignore` out of the package).
 */
const SKIP = new Set(["node_modules", ".llamactl", "dist", "test-results", "gitignore"]);

async function ask(question: string, fallback: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = (await rl.question(`? ${question} (${fallback}) › `)).trim();
    return answer || fallback;
  } finally {
    rl.close();
  }
}

async function isEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch {
    return true;
  }
}

/**
 * Whether this llamactl runs from a development checkout (its repository) rather than an installed
 * package: an installed one lives under some `node_modules/`.
 */
function runningFromCheckout(): boolean {
  return !ROOT.split(sep).includes("node_modules");
}

/**
 * `llamactl init [dir] --template <id>`: a project that runs at once (`npm install`, `npx llamactl serve`),
 * with a README, a .gitignore, a tsconfig.json and a test of its workflow. It depends on the running
 * llamactl's own version (`^x.y.z`); from a development checkout it links that checkout (`file:`) instead.
 */
export async function initCommand(dirArg: string | undefined, flags: { template?: string; force?: boolean }): Promise<number> {
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  let template = flags.template;
  if (!template && interactive) template = await ask(`Template: ${Object.keys(TEMPLATES).join(", ")}`, "basic");
  if (!template) {
    printProblems([{ message: "--template is required when not on a terminal.", hint: `Choose one of: ${Object.keys(TEMPLATES).join(", ")}.` }]);
    return 1;
  }
  const spec = TEMPLATES[template];
  if (!spec) {
    printProblems([{ message: `Unknown template "${template}".`, hint: `Choose one of: ${Object.keys(TEMPLATES).join(", ")}.` }]);
    return 1;
  }
  let dirName = dirArg;
  if (!dirName && interactive) dirName = await ask("Project folder", `my-${template}`);
  if (!dirName) {
    printProblems([{ message: "Name the project folder: llamactl init <dir> --template <id>." }]);
    return 1;
  }
  const dir = resolve(dirName);
  if (!(await isEmptyDir(dir)) && !flags.force) {
    printProblems([{ message: `${dirName} is not empty.`, hint: "Choose another folder, or pass --force to write into it." }]);
    return 1;
  }
  await mkdir(dir, { recursive: true });
  const source = join(ROOT, "dist", "templates", template);
  await cp(source, dir, { recursive: true, filter: (src) => !SKIP.has(basename(src)) });
  await writeFile(join(dir, ".gitignore"), await readFile(join(source, "gitignore"), "utf8"));
  const dependency = await writePackageJson(dir, basename(dir));
  await writeFile(join(dir, "tsconfig.json"), TSCONFIG);
  await writeFile(join(dir, "README.md"), readme(basename(dir), template, spec.description));
  const shown = relative(process.cwd(), dir) || ".";
  process.stdout.write(
    [
      `Created ${shown} from the ${template} template (${spec.description}).`,
      ...(dependency.startsWith("file:")
        ? [`It links this llamactl checkout (${dependency}): a development setup; created by an installed llamactl it would depend on ^${VERSION}.`]
        : []),
      "Next:",
      `  cd ${shown}`,
      "  npm install",
      "  npx llamactl serve",
      "",
    ].join("\n"),
  );
  return 0;
}

/** Strict, and checking llamactl's own declarations too (skipLibCheck off): what `npm run typecheck` runs. */
const TSCONFIG = `${JSON.stringify(
  {
    compilerOptions: {
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      lib: ["ES2023"],
      types: ["node"],
      strict: true,
      skipLibCheck: false,
      noEmit: true,
      allowImportingTsExtensions: true,
      verbatimModuleSyntax: true,
    },
    include: ["src", "test"],
  },
  null,
  2,
)}\n`;

/** Write the project's package.json; returns its llamactl dependency. */
async function writePackageJson(dir: string, name: string): Promise<string> {
  const path = join(dir, "package.json");
  const pkg = JSON.parse(await readFile(path, "utf8")) as Record<string, any>;
  const ours = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as Record<string, any>;
  const dependency = runningFromCheckout() ? `file:${ROOT.replace(/\/$/, "")}` : `^${ours.version}`;
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[-.]+|[-.]+$/g, "") || "app";
  const out = {
    name: safe,
    private: true,
    type: "module",
    scripts: { serve: "llamactl serve", validate: "llamactl validate", test: "tsx --test test/*.test.ts", typecheck: "tsc --noEmit", ...pkg.scripts },
    dependencies: { ...pkg.dependencies, llamactl: dependency, zod: ours.dependencies.zod },
    devDependencies: {
      ...pkg.devDependencies,
      tsx: ours.dependencies.tsx,
      typescript: ours.devDependencies.typescript,
      "@types/node": ours.devDependencies["@types/node"],
    },
    // npm 11 runs dependency install scripts only when allowed; esbuild (under tsx) has one.
    allowScripts: { esbuild: true, ...pkg.allowScripts },
    ...Object.fromEntries(Object.entries(pkg).filter(([k]) => !["name", "private", "type", "scripts", "dependencies", "devDependencies", "allowScripts"].includes(k))),
  };
  await writeFile(path, JSON.stringify(out, null, 2) + "\n");
  return dependency;
}

function readme(name: string, template: string, description: string): string {
  return `# ${name}

Workflows served by llamactl — created from the \`${template}\` template (${description}).

\`\`\`bash
npm install          # installs llamactl and the workflow's dependencies
npx llamactl serve   # serves http://127.0.0.1:4501/deployments/${name}
npm test             # runs the workflow's test with the in-process runner
npm run typecheck    # tsc --noEmit: your workflows against llamactl's types
\`\`\`

- API docs: http://127.0.0.1:4501/deployments/${name}/docs
- Debugger: http://127.0.0.1:4501/debugger
- Validate without serving: \`npx llamactl validate\`
- Run once from the terminal: \`npx llamactl run <workflow> key=value\`

Edit \`src/\`; \`llamactl serve\` reloads on save. The workflows are listed in package.json under
\`"llamadeploy"\`.
`;
}
