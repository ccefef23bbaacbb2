/**
 * Configuration of the local server, read once from the environment.
 *
 * One table holds each setting's variable, description, default and
 * validator, so the README table, the startup output and the validation can
 * never disagree.
 */
import { isIP } from 'node:net';
import { ConfigError, isTenancy, limitsToEnv, readContractLimits, TENANCY_MODES, TIMING_BUDGET, type ContractLimits, type Tenancy } from '../contract';

export { ConfigError };

export interface LocalConfig {
  /** Address the server binds to. @default '127.0.0.1' */
  readonly host: string;
  /** TCP port; 0 picks a free one. @default 3000 */
  readonly port: number;
  /** Number of simulated execution environments (executor runtimes), in total over all tenants. @default 2 */
  readonly sandboxConcurrency: number;
  /**
   * `perTenant`: like Lambda's tenant isolation mode, every invocation names
   * a tenant and runs only in a runtime dedicated to it. `shared`: any runtime
   * serves any invocation.
   * @default 'perTenant'
   */
  readonly tenancy: Tenancy;
  /** Python interpreter that runs the executor; undefined: searched (local/python.ts). */
  readonly sandboxPython: string | undefined;
  /**
   * `lambda` runs each runtime the way AWS Lambda does (one uid, no
   * namespaces or seccomp of its own), through local/lambda-profile.py; needs root.
   * @default 'auto' (root: workers get every layer; otherwise the shared profile)
   */
  readonly sandboxProfile: 'auto' | 'lambda';
  /** Invocations that may wait for a free runtime before callers are turned away. @default 32 */
  readonly queueLimit: number;
  /** Longest an invocation waits for a free runtime before it is dropped unrun (HTTP 429), in milliseconds. @default 10000 */
  readonly queueWaitMs: number;
  /** Function timeout of the simulated executor Lambda, in seconds. @default 30 */
  readonly functionTimeoutS: number;
  /** How long artifacts stay downloadable, in milliseconds. @default 3600000 */
  readonly artifactRetentionMs: number;
  /** Bearer token required on every API call; mandatory when HOST is not loopback. */
  readonly localToken: string | undefined;
  /** First sandbox uid; runtime N gets base + N - 1 when the server runs as root. @default 62001 */
  readonly sandboxUidBase: number;
  /** Deadline for receiving a whole request body, in milliseconds. @default 10000 */
  readonly bodyTimeoutMs: number;
  /** How long shutdown waits for running executions, in milliseconds. @default 10000 */
  readonly shutdownGraceMs: number;
  /** Memory size reported to the executor as AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in MB. @default 256 */
  readonly functionMemoryMb: number;
  /** Forward each runtime's own log lines to the server's stderr. @default true */
  readonly runtimeLogs: boolean;
  /** RUNTIME_LOGS=debug: the runtimes also log what only a developer needs (the whole health report). @default false */
  readonly runtimeDebugLogs: boolean;
  /** The contract limits (EXECUTOR_*), validated by the contract module. */
  readonly limits: ContractLimits;
  /** EXECUTOR_* variables handed to every runtime and to the invoker. */
  readonly executorEnv: Readonly<Record<string, string>>;
}

interface Setting {
  readonly variable: string;
  readonly description: string;
  readonly defaultText: string;
}

/** The settings as documented; the parser below applies the same defaults. */
export const SETTINGS: readonly Setting[] = [
  { variable: 'HOST', description: 'Address to bind. Anything but a loopback address requires LOCAL_TOKEN.', defaultText: '127.0.0.1' },
  { variable: 'PORT', description: 'TCP port (0 picks a free port).', defaultText: '3000' },
  { variable: 'SANDBOX_CONCURRENCY', description: 'Executor runtimes (simulated execution environments) running in parallel, 1 to 64, over all tenants together.', defaultText: '2' },
  { variable: 'TENANCY', description: '`perTenant` (as the deployed default): each tenant runs only in runtimes dedicated to it, created on demand, the least recently used idle one retired when another tenant needs its place; invocations must carry a tenant id. `shared`: any runtime serves anyone.', defaultText: 'perTenant' },
  { variable: 'SANDBOX_PYTHON', description: 'Python 3.11+ interpreter for the executor; when set it is used (or the server says why it cannot be), never another. Unset: the first of `.venv/bin/python`, `python3.12`, `python3`, `/usr/bin/python3` that has the preloads (numpy, pandas, matplotlib), else the one that has the most, with a warning naming what is missing.', defaultText: 'searched' },
  { variable: 'SANDBOX_PROFILE', description: '`lambda` runs every runtime as AWS Lambda does (one unprivileged uid for everything, no namespaces, no seccomp, read-only root, the Runtime API at 127.0.0.1:9001) through local/lambda-profile.py; needs root and Debian\'s python3-seccomp. `auto` gives workers every layer this host allows.', defaultText: 'auto' },
  { variable: 'QUEUE_LIMIT', description: 'Invocations waiting for a free runtime before new ones are refused (HTTP 429 / Lambda TooManyRequestsException).', defaultText: '32' },
  { variable: 'QUEUE_WAIT_MS', description: 'Longest an invocation waits for a free runtime; past it, it is dropped before it runs and its caller gets HTTP 429 (Lambda TooManyRequestsException). The invoker waits this long plus the function timeout, so a queued request never ends in 504.', defaultText: '10000' },
  { variable: 'FUNCTION_TIMEOUT_S', description: 'Function timeout of the simulated executor Lambda; must leave 2 s above EXECUTOR_MAX_TIMEOUT_MS.', defaultText: '30' },
  { variable: 'ARTIFACT_RETENTION_MS', description: 'How long artifact files stay downloadable.', defaultText: '3600000 (1 hour)' },
  { variable: 'LOCAL_TOKEN', description: 'A secret of at least 16 characters that every API route and the Invoke API then require of every peer, loopback included: `Authorization: Bearer <token>`, or on the Invoke API a SigV4 signature whose access key id is the token.', defaultText: 'unset (no token on loopback)' },
  { variable: 'SANDBOX_UID_BASE', description: 'Where the search for sandbox uids starts when the server runs as root: each runtime gets one of its own, leased for the server\'s life (a lock in /run/secure-python-executor/uid-leases), so servers on one machine never share one and the next server simply takes the next free uids.', defaultText: '62001' },
  { variable: 'BODY_TIMEOUT_MS', description: 'Deadline for receiving a request body (HTTP 408 after it).', defaultText: '10000' },
  { variable: 'SHUTDOWN_GRACE_MS', description: 'How long SIGINT/SIGTERM waits for running executions before killing them.', defaultText: '10000' },
  { variable: 'FUNCTION_MEMORY_MB', description: 'Memory size reported to the executor (AWS_LAMBDA_FUNCTION_MEMORY_SIZE).', defaultText: '256' },
  { variable: 'RUNTIME_LOGS', description: 'Forward the runtimes\' log lines to stderr: one short line per event (`0` to silence, `debug` to add the whole health report of each runtime).', defaultText: '1' },
  { variable: 'EXECUTOR_SEAL_KEY', description: 'Not read: the server makes a random key at each start and gives it to the invoker and every runtime, so `POST /execute` is sealed end to end; direct invokes stay plain. It is never printed.', defaultText: 'new at each start' },
  { variable: 'EXECUTOR_*', description: 'Executor limits (see contract/README.md), passed to the runtimes and the invoker unchanged.', defaultText: 'contract defaults' },
];

type Env = Readonly<Record<string, string | undefined>>;

function readInteger(env: Env, variable: string, defaultValue: number, min: number, max: number, unit: string): number {
  const raw = env[variable];
  if (raw === undefined || raw.trim() === '') {
    return defaultValue;
  }
  const trimmed = raw.trim();
  if (!/^\d+$/.test(trimmed)) {
    throw new ConfigError(`${variable} must be a whole number between ${min} and ${max} (${unit}), but it is "${raw}".`);
  }
  const value = Number(trimmed);
  if (value < min || value > max) {
    throw new ConfigError(`${variable} must be between ${min} and ${max} (${unit}), but it is ${value}.`);
  }
  return value;
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') {
    return true;
  }
  const family = isIP(host);
  if (family === 4) {
    return host.startsWith('127.');
  }
  if (family === 6) {
    return host === '::1' || host === '0:0:0:0:0:0:0:1';
  }
  return false;
}


export function loadConfig(env: Env): LocalConfig {
  const host = (env.HOST ?? '').trim() || '127.0.0.1';
  if (host !== 'localhost' && isIP(host) === 0) {
    throw new ConfigError(`HOST must be an IP address such as 127.0.0.1 or 0.0.0.0 (or "localhost"), but it is "${host}".`);
  }
  const port = readInteger(env, 'PORT', 3000, 0, 65535, 'a TCP port; 0 picks a free one');
  const sandboxConcurrency = readInteger(env, 'SANDBOX_CONCURRENCY', 2, 1, 64, 'runtimes');
  const queueLimit = readInteger(env, 'QUEUE_LIMIT', 32, 0, 100000, 'invocations');
  const queueWaitMs = readInteger(env, 'QUEUE_WAIT_MS', 10000, 0, 600000, 'milliseconds');
  const functionTimeoutS = readInteger(env, 'FUNCTION_TIMEOUT_S', 30, 3, 900, 'seconds');
  const artifactRetentionMs = readInteger(env, 'ARTIFACT_RETENTION_MS', 3600000, 1000, 30 * 24 * 3600000, 'milliseconds');
  const sandboxUidBase = readInteger(env, 'SANDBOX_UID_BASE', 62001, 1000, 4000000000, 'uid');
  const bodyTimeoutMs = readInteger(env, 'BODY_TIMEOUT_MS', 10000, 100, 600000, 'milliseconds');
  const shutdownGraceMs = readInteger(env, 'SHUTDOWN_GRACE_MS', 10000, 0, 600000, 'milliseconds');
  const functionMemoryMb = readInteger(env, 'FUNCTION_MEMORY_MB', 256, 128, 10240, 'MB');

  const limits = readContractLimits(env as NodeJS.ProcessEnv);
  if (functionTimeoutS * 1000 < limits.maxTimeoutMs + TIMING_BUDGET.executorHeadroomMs) {
    throw new ConfigError(
      `FUNCTION_TIMEOUT_S (${functionTimeoutS} s) must be at least 2 s above EXECUTOR_MAX_TIMEOUT_MS (${limits.maxTimeoutMs} ms); ` +
        `raise FUNCTION_TIMEOUT_S to ${Math.ceil((limits.maxTimeoutMs + TIMING_BUDGET.executorHeadroomMs) / 1000)} or lower EXECUTOR_MAX_TIMEOUT_MS.`,
    );
  }
  const executorEnv: Record<string, string> = limitsToEnv(limits);
  const preloads = env.EXECUTOR_PRELOADS;
  if (preloads !== undefined) {
    executorEnv.EXECUTOR_PRELOADS = preloads;
  }

  const tenancy = (env.TENANCY ?? '').trim() || 'perTenant';
  if (!isTenancy(tenancy)) {
    throw new ConfigError(`TENANCY must be ${TENANCY_MODES.join(' or ')}, but it is "${env.TENANCY}".`);
  }

  const sandboxPython = (env.SANDBOX_PYTHON ?? '').trim() || undefined;
  const sandboxProfile = (env.SANDBOX_PROFILE ?? '').trim() || 'auto';
  if (sandboxProfile !== 'auto' && sandboxProfile !== 'lambda') {
    throw new ConfigError(`SANDBOX_PROFILE must be auto or lambda, but it is "${env.SANDBOX_PROFILE}".`);
  }
  if (sandboxProfile === 'lambda' && !(typeof process.getuid === 'function' && process.getuid() === 0)) {
    throw new ConfigError(
      'SANDBOX_PROFILE=lambda builds namespaces and switches each runtime to its own uid, which needs root; run the server as root (sudo) or use SANDBOX_PROFILE=auto.',
    );
  }

  const rawToken = env.LOCAL_TOKEN;
  const localToken = rawToken === undefined || rawToken === '' ? undefined : rawToken;
  if (localToken !== undefined && (localToken.length < 16 || !/^[A-Za-z0-9._~+/=-]+$/.test(localToken))) {
    throw new ConfigError(
      'LOCAL_TOKEN must be at least 16 characters of letters, digits and . _ ~ + / = -; generate one with `openssl rand -hex 24`.',
    );
  }
  if (!isLoopbackHost(host) && localToken === undefined) {
    throw new ConfigError(
      `HOST=${host} makes the server reachable from other machines, and it runs any Python it is sent; ` +
        'set LOCAL_TOKEN to a secret of at least 16 characters (e.g. `LOCAL_TOKEN=$(openssl rand -hex 24)`) or bind 127.0.0.1.',
    );
  }

  const runtimeLogsRaw = (env.RUNTIME_LOGS ?? '1').trim().toLowerCase();
  if (!['0', '1', 'true', 'false', 'debug', ''].includes(runtimeLogsRaw)) {
    throw new ConfigError(`RUNTIME_LOGS must be 1, 0 or debug, but it is "${env.RUNTIME_LOGS}".`);
  }

  return {
    host,
    port,
    sandboxConcurrency,
    tenancy,
    sandboxPython,
    sandboxProfile,
    queueLimit,
    queueWaitMs,
    functionTimeoutS,
    artifactRetentionMs,
    localToken,
    sandboxUidBase,
    bodyTimeoutMs,
    shutdownGraceMs,
    functionMemoryMb,
    runtimeLogs: runtimeLogsRaw !== '0' && runtimeLogsRaw !== 'false',
    runtimeDebugLogs: runtimeLogsRaw === 'debug',
    limits,
    executorEnv,
  };
}
