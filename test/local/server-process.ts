/**
 * Starts the real local server as a child process, exactly as `npm start`
 * does (tsx, local/main.ts), on a free port, and waits for its READY line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..');

/** The Python of the whole run: test/global-setup.ts resolves it (local/python.ts) into SANDBOX_PYTHON. */
export function sandboxPython(): string {
  const python = process.env.SANDBOX_PYTHON;
  if (!python) throw new Error('SANDBOX_PYTHON is not set: run the tests through jest, whose global setup (test/global-setup.ts) resolves it.');
  return python;
}

export interface RunningServer {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: () => string;
  /** Sends the signal and resolves with the exit code once the server is gone. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<number | null>;
  readonly exited: Promise<number | null>;
}

export interface StartOptions {
  readonly env?: Record<string, string>;
  /** `npx` runs `npx tsx local/main.ts` in its own process group, as a terminal would. */
  readonly via?: 'node' | 'npx';
  readonly readyTimeoutMs?: number;
}

/**
 * Each server gets its own sandbox uid range: runtimes kill every process of
 * their uid, so two servers on one machine must never share one.
 */
function uidBase(): string {
  return String(200000 + Math.floor(Math.random() * 8000) * 100);
}

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    PORT: '0',
    SANDBOX_PYTHON: sandboxPython(),
    SANDBOX_UID_BASE: uidBase(),
    RUNTIME_LOGS: '0',
    POWERTOOLS_LOG_LEVEL: 'WARN',
    ...(options.env ?? {}),
  };
  const child =
    options.via === 'npx'
      ? spawn('npx', ['tsx', 'local/main.ts'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      : spawn(process.execPath, ['--import', 'tsx', join('local', 'main.ts')], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`The server did not print READY within the limit. Output:\n${output}`)), options.readyTimeoutMs ?? 120000);
    const check = (): void => {
      const match = /READY (http:\/\/\S+)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    };
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`The server exited with ${code} before it was ready. Output:\n${output}`));
    });
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) {
      if (options.via === 'npx' && child.pid !== undefined) {
        process.kill(-child.pid, signal);
      } else {
        child.kill(signal);
      }
    }
    return exited;
  };
  return { url, child, output: () => output, stop, exited };
}

export interface LocalHealth {
  readonly size: number;
  readonly idle: number;
  readonly busy: number;
  readonly queued: number;
  readonly tempDirectory: string;
  readonly tenancy: 'perTenant' | 'shared';
  readonly runtimes: { slot: number; state: string; pid: number | null; sandboxUid: number | null; tenantId: string | null; restarts: number; invocations: number }[];
}

/** The runtimes' states from GET /local/status (answers even when every runtime is busy). */
export async function localHealth(url: string): Promise<LocalHealth> {
  const response = await fetch(`${url}/local/status`);
  return (await response.json()) as LocalHealth;
}

export async function postExecute(url: string, request: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, any>; headers: Headers }> {
  const response = await fetch(`${url}/execute`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof request === 'string' ? request : JSON.stringify(request),
  });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Record<string, any>, headers: response.headers };
}

export async function waitUntil(predicate: () => Promise<boolean> | boolean, what: string, limitMs = 60000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${what}.`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
  }
}
