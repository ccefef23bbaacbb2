/**
 * Configuration of the local server, read once from the environment.
 *
 * One table (SETTINGS) holds each setting's variable, default, accepted
 * values and meaning: loadConfig reads its defaults and ranges from it and
 * the README's table is rendered from it, so they cannot disagree.
 */
import { isIP } from 'node:net';
import { ConfigError, limitsToEnv, readContractLimits, TENANCY_MODES, TIMING_BUDGET, type ContractLimits, type Tenancy } from '../contract';
import { inRange, type Setting } from '../lib/settings';
import { MIN_PYTHON } from './python';

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

/** A setting of the local server, by its environment variable. */
export type LocalSetting = Setting;

const RUNTIME_LOG_CHOICES = ['1', '0', 'debug', 'true', 'false'];

/**
 * Every variable the local server reads: one record each, which loadConfig
 * (defaults, ranges, choices) and the README's table (scripts/readme-tables.ts)
 * both read. Checks that involve two settings stay in loadConfig.
 */
export const SETTINGS: readonly LocalSetting[] = [
  { key: 'HOST', kind: 'string', defaultValue: '127.0.0.1', rangeText: 'an IP address of this machine, or `localhost`', description: 'Address to bind. Anything but a loopback address requires `LOCAL_TOKEN`.' },
  { key: 'PORT', kind: 'integer', defaultValue: 3000, min: 0, max: 65535, why: 'a TCP port; 0 picks a free one', description: 'TCP port (0 picks a free port).' },
  { key: 'SANDBOX_CONCURRENCY', kind: 'integer', defaultValue: 2, min: 1, max: 64, unit: 'runtimes', description: 'Executor runtimes (simulated execution environments) running in parallel, over all tenants together.' },
  {
    key: 'TENANCY', kind: 'string', defaultValue: 'perTenant', choices: TENANCY_MODES,
    description: '`perTenant` (as deployed): each tenant runs only in runtimes dedicated to it, created on demand, the least recently used idle one retired when another tenant needs its place; direct invokes must carry a tenant id. `shared`: any runtime serves anyone.',
  },
  {
    key: 'SANDBOX_PYTHON', kind: 'string', defaultText: 'searched', rangeText: `a Python ${MIN_PYTHON.join('.')}+ interpreter`,
    description: 'Python for the executor. When set it is used, or the server says in one sentence why it cannot be; it never falls back to another. Unset: the first of `.venv/bin/python` (see `npm run setup-python`), `python3.12`, `python3`, `/usr/bin/python3` that has numpy, pandas and matplotlib, else the one with the most of them and a warning naming the missing ones. `npm start`, the tests and the bench all use this same choice (`local/python.ts`).',
  },
  {
    key: 'SANDBOX_PROFILE', kind: 'string', defaultValue: 'auto', choices: ['auto', 'lambda'],
    description: "`lambda` runs every runtime as AWS Lambda does (one unprivileged uid for everything, no namespaces, no seccomp, read-only root, the Runtime API at 127.0.0.1:9001) through local/lambda-profile.py; needs root and Debian's python3-seccomp. `auto` gives workers every layer this host allows.",
  },
  { key: 'QUEUE_LIMIT', kind: 'integer', defaultValue: 32, min: 0, max: 100_000, unit: 'invocations', description: 'Invocations waiting for a free runtime before new ones are refused (HTTP 429 / Lambda `TooManyRequestsException`).' },
  {
    key: 'QUEUE_WAIT_MS', kind: 'integer', defaultValue: 10_000, min: 0, max: 600_000, unit: 'ms',
    description: 'Longest an invocation waits for a free runtime; past it, it is dropped before it runs and its caller gets HTTP 429 `Throttled` (Lambda `TooManyRequestsException`). The in-process invoker waits this long plus the function timeout, so waiting never ends in a 504.',
  },
  {
    key: 'FUNCTION_TIMEOUT_S', kind: 'integer', defaultValue: 30, min: 3, max: 900, unit: 's',
    description: `Function timeout of the simulated executor Lambda; must leave ${TIMING_BUDGET.executorHeadroomMs / 1000} s above \`EXECUTOR_MAX_TIMEOUT_MS\`.`,
  },
  { key: 'ARTIFACT_RETENTION_MS', kind: 'integer', defaultValue: 3_600_000, min: 1000, max: 30 * 24 * 3_600_000, unit: 'ms', description: 'How long artifact files stay downloadable.' },
  {
    key: 'LOCAL_TOKEN', kind: 'string', defaultText: 'unset', rangeText: 'at least 16 characters of letters, digits and `. _ ~ + / = -`',
    description: 'When set, every API route (`POST /execute`, `GET /healthz`, `/local/status`) needs `Authorization: Bearer <token>`, and the Lambda Invoke API needs either that header or a SigV4 signature whose access key id is the token (`AWS_ACCESS_KEY_ID=<token>`; the secret key is not checked), from every peer, loopback included (a reverse proxy or tunnel makes every caller a loopback peer). Only the playground\'s static files and the artifact URLs (unguessable, like presigned URLs) stay open.',
  },
  {
    key: 'SANDBOX_UID_BASE', kind: 'integer', defaultValue: 62001, min: 1000, max: 4_000_000_000, why: 'a uid',
    description: 'Where the search for sandbox uids starts when the server runs as root. Each runtime\'s workers get a uid of their own, leased for the server\'s whole life (an flock in `/run/secure-python-executor/uid-leases/`, freed when the server exits, however it exits), so several servers (or `npm test` next to `npm start`) run side by side: the next one takes the next free uids.',
  },
  { key: 'BODY_TIMEOUT_MS', kind: 'integer', defaultValue: 10_000, min: 100, max: 600_000, unit: 'ms', description: 'Deadline for receiving a request body (HTTP 408 after it).' },
  { key: 'SHUTDOWN_GRACE_MS', kind: 'integer', defaultValue: 10_000, min: 0, max: 600_000, unit: 'ms', description: 'How long SIGINT/SIGTERM waits for running executions before killing them.' },
  { key: 'FUNCTION_MEMORY_MB', kind: 'integer', defaultValue: 256, min: 128, max: 10_240, unit: 'MB', description: 'Memory size reported to the executor (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).' },
  {
    key: 'RUNTIME_LOGS', kind: 'string', defaultValue: '1', choices: RUNTIME_LOG_CHOICES,
    description: 'Forward the runtimes\' log lines to stderr, one short line per event (`0` or `false` to silence, `debug` to add each runtime\'s whole health report, `EXECUTOR_LOG_LEVEL=DEBUG` in the runtime).',
  },
  {
    key: 'EXECUTOR_SEAL_KEY', kind: 'string', defaultText: 'new at each start', rangeText: 'not read',
    description: 'The server makes a random key at each start and gives it to the invoker and every runtime, so `POST /execute` is sealed end to end (see "Sealed invocations"); direct invokes stay plain. It is never printed.',
  },
];

type Env = Readonly<Record<string, string | undefined>>;

function settingOf(variable: string): LocalSetting {
  const setting = SETTINGS.find((candidate) => candidate.key === variable);
  if (setting === undefined) throw new Error(`${variable} is not in SETTINGS`);
  return setting;
}

/** An integer setting: its default when unset, else a whole number within the record's range. */
function readInteger(env: Env, variable: string): number {
  const setting = settingOf(variable);
  const raw = env[variable];
  if (raw === undefined || raw.trim() === '') {
    return setting.defaultValue as number;
  }
  const note = setting.why ?? setting.unit;
  const trimmed = raw.trim();
  if (!/^\d+$/.test(trimmed)) {
    throw new ConfigError(`${variable} must be a whole number between ${setting.min} and ${setting.max} (${note}), but it is "${raw}".`);
  }
  const value = Number(trimmed);
  if (!inRange(setting, value)) {
    throw new ConfigError(`${variable} must be between ${setting.min} and ${setting.max} (${note}), but it is ${value}.`);
  }
  return value;
}

/** A word setting: its default when unset, else one of the record's choices. */
function readChoice(env: Env, variable: string): string {
  const setting = settingOf(variable);
  const value = (env[variable] ?? '').trim() || String(setting.defaultValue);
  const choices = (setting.choices ?? []).map(String);
  if (!choices.includes(value)) {
    throw new ConfigError(`${variable} must be ${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}, but it is "${env[variable]}".`);
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
  const host = (env.HOST ?? '').trim() || String(settingOf('HOST').defaultValue);
  if (host !== 'localhost' && isIP(host) === 0) {
    throw new ConfigError(`HOST must be an IP address such as 127.0.0.1 or 0.0.0.0 (or "localhost"), but it is "${host}".`);
  }
  const port = readInteger(env, 'PORT');
  const sandboxConcurrency = readInteger(env, 'SANDBOX_CONCURRENCY');
  const queueLimit = readInteger(env, 'QUEUE_LIMIT');
  const queueWaitMs = readInteger(env, 'QUEUE_WAIT_MS');
  const functionTimeoutS = readInteger(env, 'FUNCTION_TIMEOUT_S');
  const artifactRetentionMs = readInteger(env, 'ARTIFACT_RETENTION_MS');
  const sandboxUidBase = readInteger(env, 'SANDBOX_UID_BASE');
  const bodyTimeoutMs = readInteger(env, 'BODY_TIMEOUT_MS');
  const shutdownGraceMs = readInteger(env, 'SHUTDOWN_GRACE_MS');
  const functionMemoryMb = readInteger(env, 'FUNCTION_MEMORY_MB');

  const limits = readContractLimits(env as NodeJS.ProcessEnv);
  if (functionTimeoutS * 1000 < limits.maxTimeoutMs + TIMING_BUDGET.executorHeadroomMs) {
    throw new ConfigError(
      `FUNCTION_TIMEOUT_S (${functionTimeoutS} s) must be at least ${TIMING_BUDGET.executorHeadroomMs / 1000} s above EXECUTOR_MAX_TIMEOUT_MS (${limits.maxTimeoutMs} ms); ` +
        `raise FUNCTION_TIMEOUT_S to ${Math.ceil((limits.maxTimeoutMs + TIMING_BUDGET.executorHeadroomMs) / 1000)} or lower EXECUTOR_MAX_TIMEOUT_MS.`,
    );
  }
  const executorEnv: Record<string, string> = limitsToEnv(limits);
  const preloads = env.EXECUTOR_PRELOADS;
  if (preloads !== undefined) {
    executorEnv.EXECUTOR_PRELOADS = preloads;
  }

  const tenancy = readChoice(env, 'TENANCY') as Tenancy;

  const sandboxPython = (env.SANDBOX_PYTHON ?? '').trim() || undefined;
  const sandboxProfile = readChoice(env, 'SANDBOX_PROFILE') as LocalConfig['sandboxProfile'];
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

  const runtimeLogs = readChoice({ RUNTIME_LOGS: env.RUNTIME_LOGS?.toLowerCase() }, 'RUNTIME_LOGS');

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
    runtimeLogs: runtimeLogs !== '0' && runtimeLogs !== 'false',
    runtimeDebugLogs: runtimeLogs === 'debug',
    limits,
    executorEnv,
  };
}
