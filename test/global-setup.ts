/**
 * Once per `jest` run: the Python every test server and engine uses, from
 * the same resolver as `npm start` (local/python.ts), handed to every test
 * file as SANDBOX_PYTHON. A SANDBOX_PYTHON that cannot be used stops the run
 * with the resolver's sentence.
 */
import { resolve } from 'node:path';
import { missingPreloadsWarning, preloadsFrom, resolvePython } from '../local/python';

export default function globalSetup(): void {
  const choice = resolvePython({ repoRoot: resolve(__dirname, '..'), sandboxPython: process.env.SANDBOX_PYTHON, preloads: preloadsFrom(process.env) });
  const warning = missingPreloadsWarning(choice);
  if (warning !== undefined) process.stderr.write(`\n${warning}\n`);
  process.env.SANDBOX_PYTHON = choice.executable;
  // Node 20 is supported here; the AWS SDK's own switch for its notice that later releases need 22.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ||= 'true';
}
