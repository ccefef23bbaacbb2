/**
 * Prints the Python interpreter the executor runs with (local/python.ts's
 * resolver): the one `npm start`, the tests and the bench all use. For shell
 * scripts: `PYTHON="$(node --import tsx scripts/python.ts)"`. A missing
 * preload is warned about on stderr; no usable Python is exit 1 with the
 * sentence that says how to fix it.
 */
import { resolve } from 'node:path';
import { missingPreloadsWarning, preloadsFrom, PythonError, resolvePython } from '../local/python';

try {
  const choice = resolvePython({ repoRoot: resolve(__dirname, '..'), sandboxPython: process.env.SANDBOX_PYTHON, preloads: preloadsFrom(process.env) });
  const warning = missingPreloadsWarning(choice);
  if (warning !== undefined) process.stderr.write(`${warning}\n`);
  process.stdout.write(`${choice.executable}\n`);
} catch (error) {
  if (!(error instanceof PythonError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
