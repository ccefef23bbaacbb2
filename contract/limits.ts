import { ConfigError } from './errors';

/**
 * The limits the contract depends on, read from the EXECUTOR_* environment
 * variables that the CDK stack and the local server set (contract/README.md).
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

interface LimitSpec {
  readonly env: string;
  readonly defaultValue: number;
  readonly description: string;
}

/** One table: variable, default, meaning. The README's limits table is this table. */
export const LIMIT_SPECS: Readonly<Record<ConfigurableLimit, LimitSpec>> = {
  defaultTimeoutMs: { env: 'EXECUTOR_DEFAULT_TIMEOUT_MS', defaultValue: 10_000, description: "per-request timeout when 'timeoutMs' is absent" },
  minTimeoutMs: { env: 'EXECUTOR_MIN_TIMEOUT_MS', defaultValue: 100, description: "lowest accepted 'timeoutMs'" },
  maxTimeoutMs: { env: 'EXECUTOR_MAX_TIMEOUT_MS', defaultValue: 25_000, description: "highest accepted 'timeoutMs'" },
  maxScriptBytes: { env: 'EXECUTOR_MAX_SCRIPT_BYTES', defaultValue: 65_536, description: 'script size, UTF-8' },
  maxRequestBytes: { env: 'EXECUTOR_MAX_REQUEST_BYTES', defaultValue: 1_000_000, description: 'whole request' },
  maxStdoutBytes: { env: 'EXECUTOR_MAX_STDOUT_BYTES', defaultValue: 102_400, description: 'stdout cap' },
  maxStderrBytes: { env: 'EXECUTOR_MAX_STDERR_BYTES', defaultValue: 102_400, description: 'stderr cap' },
  maxResultBytes: { env: 'EXECUTOR_MAX_RESULT_BYTES', defaultValue: 1_048_576, description: 'encoded result' },
  maxArtifacts: { env: 'EXECUTOR_MAX_ARTIFACTS', defaultValue: 10, description: 'files returned' },
  maxArtifactBytes: { env: 'EXECUTOR_MAX_ARTIFACT_BYTES', defaultValue: 5_242_880, description: 'per file' },
  maxProcesses: { env: 'EXECUTOR_MAX_PROCESSES', defaultValue: 16, description: 'processes/threads per execution' },
  maxFileBytes: { env: 'EXECUTOR_MAX_FILE_BYTES', defaultValue: 10_485_760, description: 'largest file a script may write' },
  workerMemoryMiB: { env: 'EXECUTOR_WORKER_MEMORY_MIB', defaultValue: 192, description: 'worker memory limit' },
  maxOpenFiles: { env: 'EXECUTOR_MAX_OPEN_FILES', defaultValue: 256, description: 'worker open files' },
};

export const MAX_NESTING_DEPTH = 64;

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
