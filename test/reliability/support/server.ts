/**
 * Starts the real local server (`local/main.ts`) as its own process, exactly
 * as `npm start` does, so that signals, process trees and temp folders can be
 * observed from outside. One node process (`node --import tsx`), not
 * `npx tsx`, so the pid we signal is the server itself and not a wrapper.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..', '..');

/** How long a server may take to print READY (imports numpy/pandas on a busy 2-core machine). */
const STARTUP_LIMIT_MS = 120_000;

/** The Python of the whole run: test/global-setup.ts resolves it (local/python.ts) into SANDBOX_PYTHON. */
export function sandboxPython(): string {
  const python = process.env.SANDBOX_PYTHON;
  if (!python) throw new Error('SANDBOX_PYTHON is not set: run the tests through jest, whose global setup (test/global-setup.ts) resolves it.');
  return python;
}

/**
 * A sandbox uid range of our own: each runtime kills every process of its
 * uid, so two servers sharing a range (other suites running in parallel on the
 * same machine) would kill each other's workers.
 */
export function privateUidBase(): number {
  return 40_000 + (process.pid % 190) * 100 + Math.floor(Math.random() * 90);
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface StartedServer {
  readonly url: string;
  readonly port: number;
  /** Pid of the server's node process. */
  readonly pid: number;
  readonly child: ChildProcess;
  readonly uidBase: number;
  readonly size: number;
  /** Everything the server wrote to stderr (log lines), kept for failure messages. */
  readonly stderr: () => string;
  readonly exited: Promise<ExitInfo>;
  /** SIGTERM, then wait for the exit; SIGKILL after limitMs so a hung server cannot hang the suite. */
  readonly stop: (limitMs?: number) => Promise<ExitInfo>;
}

export interface ServerSettings {
  /** Extra or overriding environment variables (SANDBOX_CONCURRENCY, QUEUE_LIMIT, FUNCTION_TIMEOUT_S, EXECUTOR_*...). */
  readonly env?: Readonly<Record<string, string>>;
}

export async function startServer(settings: ServerSettings = {}): Promise<StartedServer> {
  const uidBase = privateUidBase();
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    // The server must never see real cloud credentials or profiles.
    if (value !== undefined && !name.startsWith('AWS_')) env[name] = value;
  }
  Object.assign(env, {
    HOST: '127.0.0.1',
    PORT: '0',
    SANDBOX_PYTHON: sandboxPython(),
    SANDBOX_UID_BASE: String(uidBase),
    RUNTIME_LOGS: '0',
    SANDBOX_CONCURRENCY: '2',
    // The suite (and bench/soak.ts, which starts its servers here) measures a fixed pool of
    // runtimes that serve any request, from both APIs; tenant routing, which starts runtimes
    // per tenant on demand, has its own tests (test/local/tenancy.test.ts, runtime-pool.test.ts).
    TENANCY: 'shared',
    ...settings.env,
  });
  const size = Number(env.SANDBOX_CONCURRENCY);
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'local', 'main.ts')], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    // Bounded: a soak writes for minutes.
    stderr = (stderr + text).slice(-200_000);
  });
  const exited = new Promise<ExitInfo>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });
  const url = await new Promise<string>((resolveReady, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`The local server did not print READY within ${STARTUP_LIMIT_MS} ms; its stderr:\n${stderr.slice(-4000)}`));
    }, STARTUP_LIMIT_MS);
    child.stdout!.on('data', (text: string) => {
      stdout += text;
      const match = /^READY (http:\/\/\S+)$/m.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolveReady(match[1]!);
      }
      if (stdout.length > 100_000) stdout = stdout.slice(-10_000);
    });
    void exited.then((info) => {
      clearTimeout(timer);
      reject(new Error(`The local server exited before READY (code ${info.code}, signal ${info.signal}); its stderr:\n${stderr.slice(-4000)}`));
    });
  });
  const stop = async (limitMs = 30_000): Promise<ExitInfo> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    const info = await exited;
    clearTimeout(timer);
    return info;
  };
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid!,
    child,
    uidBase,
    size,
    stderr: () => stderr,
    exited,
    stop,
  };
}
