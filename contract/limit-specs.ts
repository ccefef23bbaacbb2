import { ConfigError } from './errors';
import limitsJson from './limits.json';

/**
 * The limits the contract depends on, read from the EXECUTOR_* environment
 * variables that the CDK stack and the local server set. Their variables,
 * defaults, units and meanings are contract/limits.json, which the Python
 * executor reads too.
 */
export interface ContractLimits {
  readonly defaultTimeoutMs: number;
  readonly minTimeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly maxScriptBytes: number;
  readonly maxRequestBytes: number;
  readonly maxStdoutBytes: number;
  readonly maxStderrBytes: number;
  readonly maxResultBytes: number;
  readonly maxArtifacts: number;
  readonly maxArtifactBytes: number;
  readonly maxProcesses: number;
  readonly maxFileBytes: number;
  readonly workerMemoryMiB: number;
  readonly maxOpenFiles: number;
  /** Not configurable: the Python executor's parser is recursive, so this bound is part of the contract. */
  readonly maxNestingDepth: number;
}

type ConfigurableLimit = Exclude<keyof ContractLimits, 'maxNestingDepth'>;

/** The limits a deployment or the local server can set (all but the fixed nesting depth). */
export type ConfigurableLimits = Pick<ContractLimits, ConfigurableLimit>;

/** How a limit is counted; the closed list limits.json may use. */
export const LIMIT_UNITS = ['ms', 'bytes', 'MiB', 'count', 'levels'] as const;
export type LimitUnit = (typeof LIMIT_UNITS)[number];

/** One record of contract/limits.json. */
export interface LimitRecord {
  readonly key: keyof ContractLimits;
  /** The EXECUTOR_* variable; null for a limit that is fixed. */
  readonly env: string | null;
  readonly default: number;
  readonly unit: LimitUnit;
  readonly meaning: string;
}

interface LimitsFile {
  readonly limits: readonly LimitRecord[];
  readonly workerMemory: { readonly runtimeReserveMiB: number; readonly minimumMiB: number };
  readonly preloads: { readonly env: string; readonly default: readonly string[]; readonly meaning: string };
}

/** contract/limits.json as written; test/contract/limits.test.ts checks that it has this shape. */
export const LIMITS_FILE = limitsJson as LimitsFile;

interface LimitSpec {
  readonly env: string;
  readonly defaultValue: number;
  readonly description: string;
}

/** The configurable records of limits.json by key: variable, default, meaning. */
export const LIMIT_SPECS: Readonly<Record<ConfigurableLimit, LimitSpec>> = Object.fromEntries(
  LIMITS_FILE.limits
    .filter((record) => record.env !== null)
    .map((record) => [record.key, { env: record.env, defaultValue: record.default, description: record.meaning }]),
) as Record<ConfigurableLimit, LimitSpec>;

export const MAX_NESTING_DEPTH: number = LIMITS_FILE.limits.find((record) => record.key === 'maxNestingDepth')!.default;

/**
 * What a function's memory keeps for the runtime when a worker's limit is
 * derived from it, and the least a worker gets (limits.json, workerMemory).
 */
export const WORKER_MEMORY = LIMITS_FILE.workerMemory;

/** The modules the executor imports at init unless EXECUTOR_PRELOADS says otherwise (limits.json, preloads). */
export const DEFAULT_PRELOADS: readonly string[] = LIMITS_FILE.preloads.default;

export const DEFAULT_LIMITS: ContractLimits = {
  ...(Object.fromEntries(
    Object.entries(LIMIT_SPECS).map(([key, spec]) => [key, spec.defaultValue]),
  ) as Record<ConfigurableLimit, number>),
  maxNestingDepth: MAX_NESTING_DEPTH,
};

/**
 * Reads the limits from the environment, applying the defaults once. Throws
 * {@link ConfigError} naming the variable when a value is not a positive
 * integer or the timeouts contradict each other, because running with a limit
 * the operator did not mean is worse than refusing to start.
 */
export function readContractLimits(env: NodeJS.ProcessEnv = process.env): ContractLimits {
  const values = {} as Record<ConfigurableLimit, number>;
  for (const [key, spec] of Object.entries(LIMIT_SPECS) as [ConfigurableLimit, LimitSpec][]) {
    const raw = env[spec.env];
    if (raw === undefined || raw.trim() === '') {
      values[key] = spec.defaultValue;
      continue;
    }
    if (!/^\d+$/.test(raw.trim()) || Number(raw) <= 0 || !Number.isSafeInteger(Number(raw))) {
      throw new ConfigError(`${spec.env} must be a positive integer (${spec.description}), but it is '${raw}'.`);
    }
    values[key] = Number(raw);
  }
  const limits: ContractLimits = { ...values, maxNestingDepth: MAX_NESTING_DEPTH };
  if (limits.minTimeoutMs > limits.maxTimeoutMs) {
    throw new ConfigError(
      `EXECUTOR_MIN_TIMEOUT_MS (${limits.minTimeoutMs}) must not be greater than EXECUTOR_MAX_TIMEOUT_MS (${limits.maxTimeoutMs}).`,
    );
  }
  if (limits.defaultTimeoutMs < limits.minTimeoutMs || limits.defaultTimeoutMs > limits.maxTimeoutMs) {
    throw new ConfigError(
      `EXECUTOR_DEFAULT_TIMEOUT_MS (${limits.defaultTimeoutMs}) must be between EXECUTOR_MIN_TIMEOUT_MS (${limits.minTimeoutMs}) and EXECUTOR_MAX_TIMEOUT_MS (${limits.maxTimeoutMs}).`,
    );
  }
  if (limits.maxScriptBytes > limits.maxRequestBytes) {
    throw new ConfigError(
      `EXECUTOR_MAX_SCRIPT_BYTES (${limits.maxScriptBytes}) must not be greater than EXECUTOR_MAX_REQUEST_BYTES (${limits.maxRequestBytes}).`,
    );
  }
  return limits;
}

/** The environment variables that carry `limits`, for the CDK stack and the local server to hand to the executor. */
export function limitsToEnv(limits: ConfigurableLimits): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, spec] of Object.entries(LIMIT_SPECS) as [ConfigurableLimit, LimitSpec][]) {
    env[spec.env] = String(limits[key]);
  }
  return env;
}
