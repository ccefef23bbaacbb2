/**
 * Finding the Python interpreter that runs the executor: one resolver for
 * `npm start`, the tests (jest's local servers and runtime-image/run-tests.sh,
 * through scripts/python.ts) and the bench, so that they never disagree.
 *
 * Order: SANDBOX_PYTHON when set (used, or a sentence saying why it cannot
 * be; never a silent fall-through), else the first of the project's
 * `.venv/bin/python`, `python3.12`, `python3`, `/usr/bin/python3` that runs,
 * is new enough and imports every preload. When none imports them all, the
 * one that imports the most is used and the choice says which are missing,
 * so plain Python still runs; callers print that loudly.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DEFAULT_PRELOADS } from '../contract/limit-specs';

export const MIN_PYTHON = [3, 11] as const;
/** How to get the preloads, said wherever they are missing. */
export const PRELOADS_FIX =
  'run `npm run setup-python` (a .venv from runtime-image/requirements.txt), or on Debian/Ubuntu `apt-get install python3-numpy python3-pandas python3-matplotlib` and SANDBOX_PYTHON=/usr/bin/python3';

export class PythonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PythonError';
  }
}

export interface PythonChoice {
  /** The interpreter's real path (sys.executable), usable without the user's shims. */
  readonly executable: string;
  readonly version: string;
  /** What was asked for: SANDBOX_PYTHON's value, or the candidate's name. */
  readonly command: string;
  readonly missingPreloads: readonly string[];
  /** Where the choice came from, for the banner. */
  readonly source: 'SANDBOX_PYTHON' | 'search';
}

interface Probe {
  readonly executable: string;
  readonly version: string;
  readonly missing: string[];
}

/** The candidates searched when SANDBOX_PYTHON is not set, best first. */
function candidates(repoRoot: string): string[] {
  return [join(repoRoot, '.venv', 'bin', 'python'), 'python3.12', 'python3', '/usr/bin/python3'];
}

/**
 * Runs the interpreter with the user's own environment (pyenv shims and
 * virtualenvs need it) but without the user site-packages, as the runtimes
 * run it, and asks for its path, version and which preloads it has. Finding
 * them is enough here (importing all three takes seconds per candidate);
 * the server proves they import, in the sandbox, when it starts.
 */
function probe(command: string, preloads: readonly string[]): Probe | string {
  const code = [
    'import importlib.util, json, sys',
    'missing = []',
    'for name in sys.argv[1:]:',
    '    try:',
    '        found = importlib.util.find_spec(name) is not None',
    '    except Exception:',
    '        found = False',
    '    if not found:',
    '        missing.append(name)',
    'print(json.dumps({"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3], "missing": missing}))',
  ].join('\n');
  const result = spawnSync(command, ['-s', '-c', code, ...preloads], {
    encoding: 'utf8',
    timeout: 60000,
    env: { ...process.env, MPLBACKEND: 'Agg', PYTHONDONTWRITEBYTECODE: '1' },
  });
  if (result.error !== undefined) {
    const errno = (result.error as NodeJS.ErrnoException).code;
    return errno === 'ENOENT' ? `${command} was not found` : `${command} could not be run: ${result.error.message}`;
  }
  if (result.status !== 0) {
    return `${command} failed to start (exit ${result.status}): ${result.stderr.trim().split('\n').slice(-1)[0]?.slice(0, 300) ?? ''}`;
  }
  let parsed: Probe;
  try {
    parsed = JSON.parse(result.stdout.trim().split('\n').slice(-1)[0] ?? '') as Probe;
  } catch {
    return `${command} did not answer the probe (it printed ${JSON.stringify(result.stdout.slice(0, 200))})`;
  }
  const [major, minor] = parsed.version.split('.').map(Number);
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    return `${command} is Python ${parsed.version}; the executor needs Python ${MIN_PYTHON.join('.')} or newer`;
  }
  if (!parsed.executable) {
    return `${command} did not report its executable path (sys.executable is empty)`;
  }
  return parsed;
}

interface ResolveOptions {
  readonly repoRoot: string;
  /** SANDBOX_PYTHON, when set and not empty. */
  readonly sandboxPython?: string;
  readonly preloads?: readonly string[];
  /** Overrides the search list (tests). */
  readonly candidates?: readonly string[];
}

/** Reads the preloads the way the executor does (EXECUTOR_PRELOADS, comma-separated; empty for none). */
export function preloadsFrom(env: NodeJS.ProcessEnv): string[] {
  const raw = env.EXECUTOR_PRELOADS;
  if (raw === undefined) return [...DEFAULT_PRELOADS];
  return raw.split(',').map((name) => name.trim()).filter((name) => name !== '');
}

export function resolvePython(options: ResolveOptions): PythonChoice {
  const preloads = options.preloads ?? DEFAULT_PRELOADS;
  const explicit = options.sandboxPython?.trim();
  if (explicit) {
    const found = probe(explicit, preloads);
    if (typeof found === 'string') {
      throw new PythonError(`SANDBOX_PYTHON=${explicit} cannot run the executor: ${found}. Point SANDBOX_PYTHON at Python ${MIN_PYTHON.join('.')}+ (on Debian/Ubuntu: SANDBOX_PYTHON=/usr/bin/python3), or unset it to search.`);
    }
    return { executable: found.executable, version: found.version, command: explicit, missingPreloads: found.missing, source: 'SANDBOX_PYTHON' };
  }
  const tried: string[] = [];
  let best: (Probe & { command: string }) | undefined;
  for (const command of options.candidates ?? candidates(options.repoRoot)) {
    const found = probe(command, preloads);
    if (typeof found === 'string') {
      tried.push(found);
      continue;
    }
    if (found.missing.length === 0) {
      return { executable: found.executable, version: found.version, command, missingPreloads: [], source: 'search' };
    }
    tried.push(`${command} lacks ${found.missing.join(', ')}`);
    if (best === undefined || found.missing.length < best.missing.length) best = { ...found, command };
  }
  if (best === undefined) {
    throw new PythonError(`No Python ${MIN_PYTHON.join('.')}+ was found (${tried.join('; ')}). Install one, or point SANDBOX_PYTHON at one (on Debian/Ubuntu: SANDBOX_PYTHON=/usr/bin/python3).`);
  }
  return { executable: best.executable, version: best.version, command: best.command, missingPreloads: best.missing, source: 'search' };
}

/** One loud sentence about missing preloads, or undefined when every preload imports. */
export function missingPreloadsWarning(choice: PythonChoice): string | undefined {
  if (choice.missingPreloads.length === 0) return undefined;
  return (
    `WARNING: ${choice.executable} (Python ${choice.version}) cannot import ${choice.missingPreloads.join(', ')}, and no other Python ` +
    `${choice.source === 'SANDBOX_PYTHON' ? 'was looked for (SANDBOX_PYTHON is set)' : 'found here can'}: plain Python runs, scripts that import ` +
    `${choice.missingPreloads.length === 1 ? 'it' : 'them'} fail. To fix it, ${PRELOADS_FIX}.`
  );
}
