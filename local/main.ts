/**
 * `npm start`: the whole product on a laptop. Reads the configuration, checks
 * the Python interpreter and the executor package, starts the local server
 * and its runtimes, prints how to use it, and shuts everything down cleanly
 * on SIGINT/SIGTERM.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_EXECUTOR_FUNCTION_NAME, LOCAL_REGION } from '../contract';
import { ConfigError, isLoopbackHost, loadConfig, type LocalConfig } from './config';
import { missingPreloadsWarning, preloadsFrom, PRELOADS_FIX, PythonError, resolvePython, type PythonChoice } from './python';
import { LocalServer } from './server';
import { leaseUids, UidLeaseError } from './uid-lease';

const REPO_ROOT = resolve(__dirname, '..');

// Node 20 is supported here; the AWS SDK's own switch for its notice that later releases need 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ||= 'true';

class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

interface HealthReport {
  python?: string;
  preloads?: Record<string, { loaded?: boolean; version?: string; error?: string }>;
  layers?: Record<string, { active?: boolean; detail?: string }>;
}

function describeHealth(report: HealthReport, python: PythonChoice): string[] {
  const lines: string[] = [];
  const preloads = Object.entries(report.preloads ?? {}).map(([name, state]) =>
    state.loaded ? `${name} ${state.version ?? ''}`.trim() : `${name} MISSING (${state.error ?? 'not importable'})`,
  );
  lines.push(`  python:     ${python.executable} (${python.version}${python.source === 'SANDBOX_PYTHON' ? ', from SANDBOX_PYTHON' : ''})`);
  lines.push(`  executor:   Python ${report.python ?? '?'}; preloads: ${preloads.length > 0 ? preloads.join(', ') : 'none'}`);
  const layers = Object.entries(report.layers ?? {});
  const on = layers.filter(([, state]) => state.active).map(([name]) => name);
  const off = layers.filter(([, state]) => !state.active).map(([name]) => name);
  lines.push(`  sandbox on: ${on.length > 0 ? on.join(', ') : 'none reported'}`);
  if (off.length > 0) {
    lines.push(`  sandbox off (not available here): ${off.join(', ')}`);
  }
  const missing = Object.entries(report.preloads ?? {}).filter(([, state]) => !state.loaded).map(([name]) => name);
  if (missing.length > 0) {
    lines.push(`  WARNING: preloads missing: ${missing.join(', ')}; scripts that import them fail. To fix it, ${PRELOADS_FIX}.`);
  }
  return lines;
}

/** Modules of the standard library every script may expect; a sandbox that cannot import them is broken. */
const STDLIB_PROBE = ['json', 'math', 're', 'datetime', 'decimal', 'collections', 'itertools', 'statistics', 'csv', 'hashlib', 'random', 'mmap', 'asyncio'];

/**
 * Proves, with one real execution through POST /execute, that a sandboxed
 * worker (as root: another uid, namespaces, seccomp) can import the standard
 * library and every preload the runtime itself loaded. Resolves to the
 * sentence that says what failed, or undefined.
 */
async function sandboxImportProblem(server: LocalServer, report: HealthReport, python: PythonChoice): Promise<string | undefined> {
  const loaded = Object.entries(report.preloads ?? {}).filter(([, state]) => state.loaded).map(([name]) => name);
  const script = [
    'import importlib',
    'def main(names):',
    '    failed = []',
    '    for name in names:',
    '        try:',
    '            importlib.import_module(name)',
    '        except BaseException as error:',
    '            failed.append(f"{name} ({type(error).__name__}: {error})")',
    '    return failed',
  ].join('\n');
  const answer = await server.fetchApi('/execute', { method: 'POST', body: JSON.stringify({ script, input: [...STDLIB_PROBE, ...loaded] }) });
  const body = (await answer.json()) as { ok?: boolean; result?: unknown; error?: string };
  const fix = `use a Python the sandbox can read, e.g. SANDBOX_PYTHON=/usr/bin/python3${python.executable.startsWith('/root/') ? ' (as root, workers run as another uid, and an interpreter under /root may be closed to it)' : ''}, or ${PRELOADS_FIX}`;
  if (answer.status !== 200 || body.ok !== true) {
    return `A sandboxed script could not run with ${python.executable} (HTTP ${answer.status}: ${body.error ?? 'no error given'}); ${fix}.`;
  }
  const failed = Array.isArray(body.result) ? body.result.map(String) : [];
  if (failed.length > 0) {
    return `The sandbox cannot import ${failed.join(', ')} with ${python.executable}; ${fix}.`;
  }
  return undefined;
}

function banner(config: LocalConfig, server: LocalServer, health: readonly string[]): string[] {
  const url = server.url;
  const auth = config.localToken !== undefined ? ` -H "Authorization: Bearer $LOCAL_TOKEN"` : '';
  return [
    '',
    `secure-python-executor local server on ${url}  (playground: open it in a browser)`,
    `  runtimes:   ${config.sandboxConcurrency} x ${DEFAULT_EXECUTOR_FUNCTION_NAME}, function timeout ${config.functionTimeoutS} s, queue ${config.queueLimit} (waiting at most ${config.queueWaitMs} ms)`,
    `  tenancy:    ${config.tenancy === 'perTenant' ? 'perTenant (each tenant runs only in runtimes of its own; direct invokes need --tenant-id)' : 'shared (any runtime serves anyone)'}`,
    ...health,
    '',
    'Try it:',
    `  curl -s ${url}/execute${auth} -H 'Content-Type: application/json' -d '{"script": "def main(input):\\n    return input * 2", "input": 21}'`,
    `  curl -s ${url}/healthz${auth}`,
    `  AWS_ACCESS_KEY_ID=${config.localToken !== undefined ? '$LOCAL_TOKEN' : 'local'} AWS_SECRET_ACCESS_KEY=local AWS_REGION=${LOCAL_REGION} \\`,
    `    aws lambda invoke --endpoint-url ${url} --function-name ${DEFAULT_EXECUTOR_FUNCTION_NAME} ${config.tenancy === 'perTenant' ? '--tenant-id demo ' : ''}\\`,
    `    --cli-binary-format raw-in-base64-out --payload '{"script": "print(6 * 7)"}' --no-cli-pager out.json && cat out.json`,
    '',
    'Press Ctrl+C to stop.',
  ];
}

async function main(): Promise<void> {
  let config: LocalConfig;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      log(`Configuration error: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  if (!existsSync(join(REPO_ROOT, 'runtime-image', 'executor', '__main__.py'))) {
    throw new StartupError('runtime-image/executor/__main__.py is missing; the executor package is not in this checkout.');
  }
  const python = resolvePython({ repoRoot: REPO_ROOT, sandboxPython: config.sandboxPython, preloads: preloadsFrom(process.env) });
  const preloadWarning = missingPreloadsWarning(python);
  if (preloadWarning !== undefined) log(preloadWarning);
  if (!isLoopbackHost(config.host)) {
    log(
      `WARNING: HOST=${config.host} exposes a service that runs arbitrary Python to your network. ` +
        'Every API call must carry the LOCAL_TOKEN; use this only on a network you trust.',
    );
  }

  // As root, workers run as sandbox uids that must be this server's alone (see uid-lease.ts).
  const runAsRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const lease = runAsRoot ? await leaseUids(python.executable, config.sandboxUidBase, config.sandboxConcurrency) : undefined;
  const server = new LocalServer({ config, repoRoot: REPO_ROOT, pythonExecutable: python.executable, sandboxUids: lease?.uids, log });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      log(`${signal} again: still stopping (waiting for executions, at most SHUTDOWN_GRACE_MS=${config.shutdownGraceMs} ms).`);
      return;
    }
    stopping = true;
    log(`${signal} received: stopping; running executions get up to ${config.shutdownGraceMs} ms.`);
    server
      .shutdown()
      .then(() => {
        log('Stopped: every runtime and worker is gone and the temporary files are removed.');
        process.exit(0);
      })
      .catch((error: Error) => {
        log(`Shutdown failed: ${error.message}`);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  try {
    await server.start();
  } catch (error) {
    await server.shutdown().catch(() => undefined);
    throw error;
  }
  const lines: string[] = [];
  try {
    // With tenancy perTenant no runtime exists before an invocation: the health check starts its tenant's own.
    if (config.tenancy === 'shared') await server.waitForFirstRuntime(Math.max(60000, config.functionTimeoutS * 1000));
    // Through GET /healthz, as a caller would: it also gives the route its first report to answer from.
    const answer = await server.fetchApi('/healthz');
    const body = (await answer.json()) as { executor?: HealthReport; error?: string };
    if (answer.status !== 200 || body.executor === undefined) {
      throw new Error(`GET /healthz answered ${answer.status}: ${body.error ?? 'no report'}.`);
    }
    const problem = await sandboxImportProblem(server, body.executor, python);
    if (problem !== undefined) {
      await server.shutdown().catch(() => undefined);
      throw new StartupError(problem);
    }
    lines.push(...describeHealth(body.executor, python));
  } catch (error) {
    if (error instanceof StartupError) throw error;
    lines.push(`  WARNING: the executor is not healthy yet: ${(error as Error).message} Requests will wait for a runtime; see GET /healthz.`);
  }
  // The banner comes after the runtimes' own start-up lines, so that it is the last thing on screen.
  for (const line of banner(config, server, lines)) {
    process.stdout.write(`${line}\n`);
  }
  // One stable line that scripts and tests wait for.
  process.stdout.write(`READY ${server.url}\n`);
}

main().catch((error: Error) => {
  log(error instanceof StartupError || error instanceof ConfigError || error instanceof PythonError || error instanceof UidLeaseError ? `Cannot start: ${error.message}` : `Cannot start: ${error.stack ?? error.message}`);
  process.exit(1);
});
