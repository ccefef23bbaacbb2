/**
 * Deploy-time configuration of the stack and the limits every execution runs
 * under. Everything here is plain data: values come from CDK context
 * (`-c memoryMiB=512`) or from typed props, are validated once by
 * `resolveConfig`, and then flow unchanged into the constructs.
 */

import { DEFAULT_PRELOADS, LIMIT_SPECS, limitsToEnv, WORKER_MEMORY, type ConfigurableLimits } from '../contract/limit-specs';
import { DEFAULT_EXECUTOR_FUNCTION_NAME } from '../contract/names';
import { isTenancy, TENANCY_MODES, type AuthMode, type Tenancy } from '../contract/tenant';
import { TIMING_BUDGET } from '../contract/timing';
import { LAMBDA_SYNC_REQUEST_LIMIT_BYTES, MAX_REQUEST_BYTES_IN_PROXY_EVENT } from './proxy-event-size';
import { inRange, unitAndWhy, type Setting } from './settings';

/** Thrown when a setting is invalid; the message names the setting and the fix. */
export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

/**
 * The limits one execution runs under (DESIGN section 6): the contract's
 * configurable limits (their variables, defaults and meanings are
 * LIMIT_SPECS in contract/limit-specs.ts) plus the executor's preloads.
 */
export interface ExecutorLimits extends ConfigurableLimits {
  /** Modules the executor parent imports once at init, so workers start warm. */
  readonly preloads: readonly string[];
}

export type ArchitectureName = 'x86_64' | 'arm64';
export type { AuthMode, Tenancy };

/**
 * Everything a deployment can set. Every field is optional; `resolveConfig`
 * applies the defaults below and validates the result.
 */
export interface SecurePythonExecutorConfigProps {
  /** Executor Lambda memory. @default 256 */
  readonly memoryMiB?: number;
  /** Executor Lambda timeout. @default 30 */
  readonly timeoutSeconds?: number;
  /** Highest `timeoutMs` a request may ask for. @default the contract's (contract/limits.json) */
  readonly maxRequestTimeoutMs?: number;
  /** `timeoutMs` when a request has none. @default the contract's (contract/limits.json) */
  readonly defaultRequestTimeoutMs?: number;
  /** Lowest `timeoutMs` a request may ask for. @default the contract's (contract/limits.json) */
  readonly minRequestTimeoutMs?: number;
  /** Executor reserved concurrency: the most executions at once; 0 reserves nothing. @default 10 */
  readonly reservedConcurrency?: number;
  /** CPU architecture of both Lambda functions. @default 'x86_64' */
  readonly architecture?: ArchitectureName;
  /** Prefix for the function and stack names, so two deployments can share an account. @default '' (none) */
  readonly namePrefix?: string;
  /** Days before artifacts are deleted from the bucket. @default 1 */
  readonly artifactRetentionDays?: number;
  /** Retention of every log group in the stack, in days (a CloudWatch Logs retention value). @default 30 */
  readonly logRetentionDays?: number;
  /** How API callers authenticate. @default 'iam' */
  readonly authMode?: AuthMode;
  /**
   * `perTenant` gives each tenant (caller, or caller plus X-Tenant-Id) its own
   * execution environments (Lambda tenant isolation mode); `shared` lets every
   * caller's executions share them. Fixed when the function is created.
   * @default 'perTenant'
   */
  readonly tenancy?: Tenancy;
  /** Put an AWS WAF web ACL with a per-IP rate rule in front of the API. @default false */
  readonly enableWaf?: boolean;
  /** Requests per 5 minutes one client IP may send before WAF blocks it. @default 1000 */
  readonly wafRequestsPer5MinutesPerIp?: number;
  /** API stage steady-state rate. @default 20 */
  readonly apiRateLimitRps?: number;
  /** API stage burst. @default 40 */
  readonly apiBurstLimitRequests?: number;
  /** Requests per day per API key (authMode apiKey only). @default 10000 */
  readonly apiKeyDailyQuotaRequests?: number;
  /** Browser origins allowed to call the API: '*' or comma-separated origins; empty means no CORS headers. @default '' */
  readonly corsAllowOrigin?: string;
  /** How long API Gateway waits for the invoker (more than 29000 needs a quota increase). @default 29000 */
  readonly apiIntegrationTimeoutMs?: number;
  /** Create the account-level role API Gateway writes access logs with (AWS::ApiGateway::Account). @default true */
  readonly apiGatewayCloudWatchRole?: boolean;
  /** Customer managed policy attached as the permissions boundary of every role (scoped bootstrap). @default '' (none) */
  readonly permissionsBoundaryPolicyName?: string;
  /** Change it to replace the key invocations are sealed with, in both functions at once. @default 1 */
  readonly sealKeyGeneration?: number;
  readonly maxScriptBytes?: number;
  readonly maxRequestBytes?: number;
  readonly maxStdoutBytes?: number;
  readonly maxStderrBytes?: number;
  readonly maxResultBytes?: number;
  readonly maxArtifacts?: number;
  readonly maxArtifactBytes?: number;
  readonly maxProcesses?: number;
  readonly maxFileBytes?: number;
  readonly maxOpenFiles?: number;
  /** @default memoryMiB minus the runtime's reserve (contract/limits.json, workerMemory) */
  readonly workerMemoryMiB?: number;
  /** Comma-separated module names. @default the contract's preloads (contract/limits.json) */
  readonly preloads?: string;
}

/** The validated configuration the constructs read. */
export interface SecurePythonExecutorConfig {
  readonly memoryMiB: number;
  readonly timeoutSeconds: number;
  readonly reservedConcurrency: number;
  readonly architecture: ArchitectureName;
  readonly namePrefix: string;
  readonly artifactRetentionDays: number;
  readonly logRetentionDays: number;
  readonly authMode: AuthMode;
  readonly tenancy: Tenancy;
  readonly enableWaf: boolean;
  readonly wafRequestsPer5MinutesPerIp: number;
  readonly apiRateLimitRps: number;
  readonly apiBurstLimitRequests: number;
  readonly apiKeyDailyQuotaRequests: number;
  readonly corsAllowOrigin: string;
  readonly apiIntegrationTimeoutMs: number;
  readonly apiGatewayCloudWatchRole: boolean;
  readonly permissionsBoundaryPolicyName: string;
  readonly sealKeyGeneration: number;
  readonly limits: ExecutorLimits;
}

/** A CDK context setting; `limit` names the executor limit it sets, whose default is the contract's. */
export interface ContextSetting extends Setting<keyof SecurePythonExecutorConfigProps> {
  readonly limit?: keyof ExecutorLimits;
  /** A check beyond range and choices; returns the error sentence. */
  readonly check?: (value: never) => string | undefined;
}

/** A contract limit as a deploy setting: its default and its unit come from contract/limit-specs.ts. */
function limitSetting(
  key: keyof SecurePythonExecutorConfigProps,
  limit: keyof typeof LIMIT_SPECS,
  range: Pick<ContextSetting, 'min' | 'max' | 'unit' | 'why'>,
  description: string,
): ContextSetting {
  return { key, kind: 'integer', limit, defaultValue: LIMIT_SPECS[limit].defaultValue, ...range, description };
}

/**
 * Memory kept for the runtime when the worker limit is derived from
 * `memoryMiB`; the executor derives the same from the same record
 * (contract/limits.json, workerMemory).
 */
export const RUNTIME_RESERVE_MIB = WORKER_MEMORY.runtimeReserveMiB;

/** The smallest worker memory limit (contract/limits.json, workerMemory). */
const MIN_WORKER_MEMORY_MIB = WORKER_MEMORY.minimumMiB;

/**
 * What the API path needs besides the script's own time: the executor's work
 * after the script's deadline and the invoker's (TIMING_BUDGET). A cold
 * start comes on top and is not covered: such a request can meet the
 * integration timeout (README, limits).
 */
const API_RESPONSE_BUDGET_MS = TIMING_BUDGET.executorHeadroomMs + TIMING_BUDGET.invokerWorkMs;

/**
 * API Gateway's integration timeout: 29 s by default, up to 300 s for Regional
 * REST APIs once the account's quota was raised (AWS What's New, 2024-06-04,
 * "Amazon API Gateway integration timeout limit increase beyond 29 seconds").
 */
const MAX_API_INTEGRATION_TIMEOUT_MS = 300_000;

/** Lambda's synchronous response payload limit, 6 MB. */
const LAMBDA_SYNC_RESPONSE_BYTES = 6 * 1024 * 1024;
/** What result and streams may use of it; the rest is kept for the response envelope and JSON escaping. */
const RESPONSE_BUDGET_BYTES = 5 * 1024 * 1024;

const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

const PYTHON_MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/**
 * Every CDK context key the app reads: one record each, which the parser
 * (configPropsFromContext), the defaults and the validation (resolveConfig)
 * and the README's configuration table (scripts/readme-tables.ts) all read.
 */
export const CONTEXT_SETTINGS: readonly ContextSetting[] = [
  {
    key: 'memoryMiB', kind: 'integer', defaultValue: 256, min: 256, max: 10_240, unit: 'MiB',
    why: 'the executor keeps numpy, pandas and matplotlib loaded, which 128 MiB cannot hold',
    description: 'Executor Lambda memory. Lambda gives CPU in proportion.',
  },
  {
    key: 'timeoutSeconds', kind: 'integer', defaultValue: 30, min: 3, max: 900, unit: 's', why: 'the Lambda maximum is 900 s',
    description: `Executor Lambda timeout. Must stay at least ${TIMING_BUDGET.executorHeadroomMs / 1000} s above \`maxRequestTimeoutMs\`.`,
  },
  limitSetting('maxRequestTimeoutMs', 'maxTimeoutMs', { min: 1, max: 898_000, unit: 'ms' }, 'Highest `timeoutMs` a request may ask for.'),
  { ...limitSetting('defaultRequestTimeoutMs', 'defaultTimeoutMs', {}, '`timeoutMs` used when a request has none.'), rangeText: '`minRequestTimeoutMs` to `maxRequestTimeoutMs`' },
  limitSetting('minRequestTimeoutMs', 'minTimeoutMs', { min: 1, max: 60_000, unit: 'ms' }, 'Lowest `timeoutMs` a request may ask for.'),
  {
    key: 'reservedConcurrency', kind: 'integer', defaultValue: 0, min: 0, max: 10_000,
    why: '0 reserves nothing; Lambda keeps 100 of the account concurrency unreserved, so a reservation needs a quota of at least 100 plus it: ' +
      'aws lambda get-account-settings shows AccountLimit.UnreservedConcurrentExecutions',
    description: 'Executor reserved concurrency: executions at once, and the cap on cost and blast radius. `0` (the default) reserves nothing, so the first deploy works on any account; set it (e.g. 10) once the account\'s unreserved concurrency is at least 100 + this value (see "Before you deploy").',
  },
  {
    key: 'architecture', kind: 'string', defaultValue: 'x86_64', choices: ['x86_64', 'arm64'],
    description: 'CPU architecture of both functions. The image is built for this platform.',
  },
  {
    key: 'namePrefix', kind: 'string', defaultValue: '', rangeText: 'empty, or 1 to 20 lowercase letters, digits or inner hyphens',
    check: (value: string) => value !== '' && !/^[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?$/.test(value)
      ? `namePrefix ('${value}') must be 1 to 20 lowercase letters, digits or inner hyphens, because it becomes part of the function, stack and log group names: use something like -c namePrefix=dev.`
      : undefined,
    description: `Prefix for the stack and function names (\`dev\` gives \`dev-${DEFAULT_EXECUTOR_FUNCTION_NAME}\`), so two deployments can share an account and region.`,
  },
  { key: 'artifactRetentionDays', kind: 'integer', defaultValue: 1, min: 1, max: 3650, unit: 'days', description: 'Days before artifacts are deleted from the bucket.' },
  {
    key: 'logRetentionDays', kind: 'integer', defaultValue: 30, rangeText: 'a CloudWatch Logs retention period: 1, 3, 5, 7, 14, 30, 60, 90, ...',
    check: (value: number) => LOG_RETENTION_DAYS.includes(value)
      ? undefined
      : `logRetentionDays (${value}) is not a CloudWatch Logs retention period: use one of ${LOG_RETENTION_DAYS.join(', ')}.`,
    description: 'Retention of every log group, in days.',
  },
  {
    key: 'authMode', kind: 'string', defaultValue: 'iam', choices: ['iam', 'apiKey'], why: 'the API is never open',
    description: '`iam` (SigV4, callers need `execute-api:Invoke`) or `apiKey` (an API key and a usage plan). The API is never open.',
  },
  {
    key: 'tenancy', kind: 'string', defaultValue: 'perTenant', choices: TENANCY_MODES,
    check: (value: string) => isTenancy(value)
      ? undefined
      : `tenancy ('${value}') must be ${TENANCY_MODES.join(' or ')}: set -c tenancy=perTenant to give each caller its own execution environments ` +
        '(the default), or -c tenancy=shared to let callers share them.',
    description: "`perTenant` (Lambda tenant isolation mode: a tenant's executions run only in execution environments dedicated to it; the tenant comes from the caller and `X-Tenant-Id`) or `shared` (environments serve every caller). Changing it replaces the executor function; see \"Tenants\".",
  },
  { key: 'enableWaf', kind: 'boolean', defaultValue: false, description: 'Attach an AWS WAF web ACL with a per-IP rate-based rule to the API stage (WAF is billed separately).' },
  {
    key: 'wafRequestsPer5MinutesPerIp', kind: 'integer', defaultValue: 1000, min: 100, max: 2_000_000_000, unit: 'requests',
    description: 'Requests one IP may send in 5 minutes before WAF blocks it.',
  },
  {
    key: 'apiRateLimitRps', kind: 'integer', defaultValue: 20, min: 1, max: 10_000, unit: 'requests per second', why: 'the default account limit is 10000',
    description: 'API stage throttling rate (also the usage plan rate in `apiKey` mode).',
  },
  {
    key: 'apiBurstLimitRequests', kind: 'integer', defaultValue: 40, min: 1, max: 5_000, unit: 'requests', why: 'the default account limit is 5000',
    description: 'API stage throttling burst.',
  },
  {
    key: 'apiKeyDailyQuotaRequests', kind: 'integer', defaultValue: 10_000, min: 1, max: 1_000_000_000, unit: 'requests',
    description: 'Requests per day for the API key (`apiKey` mode only).',
  },
  {
    key: 'corsAllowOrigin', kind: 'string', defaultValue: '', rangeText: 'empty, `*`, or origins separated by commas',
    check: (value: string) => corsOrigins(value) === undefined
      ? `corsAllowOrigin ('${value}') must be empty, * or a comma-separated list of origins like https://app.example.com ` +
        '(scheme, host and optional port, no path): fix -c corsAllowOrigin.'
      : undefined,
    description: 'Origins allowed to call the API from a browser, like `https://app.example.com`; empty sends no CORS headers.',
  },
  {
    key: 'apiIntegrationTimeoutMs', kind: 'integer', defaultValue: TIMING_BUDGET.defaultApiIntegrationTimeoutMs, min: 50, max: MAX_API_INTEGRATION_TIMEOUT_MS,
    unit: 'ms', why: 'API Gateway allows 50 ms to 29 s, and up to 300 s for Regional REST APIs after a quota increase',
    description: `How long API Gateway waits for an answer. Above ${TIMING_BUDGET.defaultApiIntegrationTimeoutMs} only after AWS raised the region's "Maximum integration timeout in milliseconds" quota. Must stay ${API_RESPONSE_BUDGET_MS} ms above \`maxRequestTimeoutMs\`.`,
  },
  {
    key: 'permissionsBoundaryPolicyName', kind: 'string', defaultValue: '', rangeText: 'an IAM policy name',
    check: (value: string) => value !== '' && !/^[\w+=,.@-]{1,128}$/.test(value)
      ? `permissionsBoundaryPolicyName ('${value}') is not an IAM policy name (1 to 128 letters, digits or +=,.@_-): ` +
        'give the name, not the ARN, like -c permissionsBoundaryPolicyName=secure-python-executor-boundary.'
      : undefined,
    description: 'Name of a customer managed policy to attach as the permissions boundary of every IAM role the app creates; required by the scoped bootstrap (`secure-python-executor-boundary`, see "Bootstrapping with a scoped execution policy").',
  },
  {
    key: 'apiGatewayCloudWatchRole', kind: 'boolean', defaultValue: true,
    description: "Set API Gateway's account-level CloudWatch Logs role (`AWS::ApiGateway::Account`, kept when the stack is deleted), without which the stage's access logs cannot be created. `false` when the account and region already have one.",
  },
  {
    key: 'sealKeyGeneration', kind: 'integer', defaultValue: 1, min: 1, max: 1_000_000,
    description: 'Which key seals the invoker\'s invocations of the executor (a generated Secrets Manager secret). Deploy with a new number to rotate it: the deploy makes a new key and gives it to both functions; see "Sealed invocations".',
  },
  limitSetting('maxScriptBytes', 'maxScriptBytes', { min: 1, max: MAX_REQUEST_BYTES_IN_PROXY_EVENT, unit: 'bytes' }, 'Largest script, UTF-8.'),
  limitSetting(
    'maxRequestBytes', 'maxRequestBytes',
    {
      min: 1024, max: MAX_REQUEST_BYTES_IN_PROXY_EVENT, unit: 'bytes',
      why: `API Gateway hands the body to the invoker as a JSON string inside an event that must stay under Lambda's ${LAMBDA_SYNC_REQUEST_LIMIT_BYTES}-byte ` +
        'request limit, and JSON escaping can turn one body byte into six',
    },
    "Largest request body (the maximum is what keeps API Gateway's event for any such body within Lambda's 6 MB request limit; see Limits).",
  ),
  limitSetting('maxStdoutBytes', 'maxStdoutBytes', { min: 1024, max: RESPONSE_BUDGET_BYTES, unit: 'bytes' }, 'stdout cap; longer output is cut and flagged in `truncated`.'),
  limitSetting('maxStderrBytes', 'maxStderrBytes', { min: 1024, max: RESPONSE_BUDGET_BYTES, unit: 'bytes' }, 'stderr cap.'),
  limitSetting('maxResultBytes', 'maxResultBytes', { min: 1024, max: RESPONSE_BUDGET_BYTES, unit: 'bytes' }, 'Largest encoded `result`.'),
  limitSetting('maxArtifacts', 'maxArtifacts', { min: 1, max: 100, unit: 'files' }, 'Files returned from `./outputs/`; more are left out and flagged in `truncated.artifacts`.'),
  limitSetting('maxArtifactBytes', 'maxArtifactBytes', { min: 1, max: 5 * 1024 * 1024 * 1024, unit: 'bytes', why: 'the S3 POST upload maximum is 5 GiB' }, 'Size of one returned file.'),
  limitSetting(
    'maxProcesses', 'maxProcesses',
    { min: 1, max: 256, why: 'Lambda counts every process and thread of its one user, the runtime included, against about 1024' },
    'Processes and threads one execution may have.',
  ),
  limitSetting('maxFileBytes', 'maxFileBytes', { min: 1, max: 512 * 1024 * 1024, unit: 'bytes', why: "the function's /tmp is 512 MiB" }, 'Largest file a script may write.'),
  limitSetting('maxOpenFiles', 'maxOpenFiles', { min: 16, max: 1000, why: "Lambda's own limit is 1024 per environment" }, 'Open files of the worker.'),
  {
    key: 'workerMemoryMiB', kind: 'integer', limit: 'workerMemoryMiB', defaultText: `memoryMiB - ${RUNTIME_RESERVE_MIB}`,
    rangeText: `${MIN_WORKER_MEMORY_MIB} MiB to \`memoryMiB\` - ${RUNTIME_RESERVE_MIB}`,
    description: 'Memory limit of each worker process; the rest is left to the runtime, which holds about 105 MiB with its preloads.',
  },
  {
    key: 'preloads', kind: 'string', limit: 'preloads', defaultValue: DEFAULT_PRELOADS.join(','), rangeText: 'Python module names, separated by commas',
    check: (value: string) => preloadList(value).filter((name) => !PYTHON_MODULE_NAME.test(name))
      .map((name) => `preloads contains '${name}', which is not a Python module name: list module names separated by commas, like -c preloads=numpy,pandas.`)
      .join('\n') || undefined,
    description: 'Modules the executor imports once at init (empty for none).',
  },
];

function preloadList(setting: string): string[] {
  return setting.split(',').map((name) => name.trim()).filter((name) => name !== '');
}

/**
 * Reads every key of CONTEXT_SETTINGS through `getContext` (for example
 * `key => app.node.tryGetContext(key)`). Values given with `-c` arrive as
 * strings; values in cdk.json may be numbers or booleans; both are accepted.
 */
export function configPropsFromContext(getContext: (key: string) => unknown): SecurePythonExecutorConfigProps {
  const props: Record<string, unknown> = {};
  const errors: string[] = [];
  for (const setting of CONTEXT_SETTINGS) {
    const raw = getContext(setting.key);
    if (raw === undefined || raw === null) continue;
    try {
      props[setting.key] = parseContextValue(setting, raw);
    } catch (error) {
      errors.push((error as Error).message);
    }
  }
  if (errors.length > 0) throw new ConfigurationError(errors.join('\n'));
  return props as SecurePythonExecutorConfigProps;
}

function parseContextValue(setting: ContextSetting, raw: unknown): unknown {
  const shown = typeof raw === 'string' ? `'${raw}'` : JSON.stringify(raw);
  switch (setting.kind) {
    case 'integer':
      if (typeof raw === 'number' && Number.isInteger(raw)) return raw;
      if (typeof raw === 'string' && /^\d+$/.test(raw.trim())) return Number(raw.trim());
      throw new ConfigurationError(`Context value ${setting.key} must be a whole number, got ${shown}: pass it like -c ${setting.key}=${setting.defaultValue ?? '<whole number>'}.`);
    case 'boolean':
      if (raw === true || raw === 'true') return true;
      if (raw === false || raw === 'false') return false;
      throw new ConfigurationError(`Context value ${setting.key} must be true or false, got ${shown}: pass it like -c ${setting.key}=true.`);
    case 'string':
      if (typeof raw === 'string') return raw.trim();
      throw new ConfigurationError(`Context value ${setting.key} must be a string, got ${shown}.`);
  }
}

/** The problem with one setting's value on its own (range, choices, its own check), or undefined. */
function settingProblem(setting: ContextSetting, value: unknown): string | undefined {
  if (setting.kind === 'integer' && setting.min !== undefined && setting.max !== undefined && !inRange(setting, value as number)) {
    return `${setting.key} (${value}) must be a whole number from ${setting.min} to ${setting.max}${unitAndWhy(setting)}: set -c ${setting.key}=<value> in that range.`;
  }
  if (setting.check !== undefined) return setting.check(value as never);
  if (setting.choices !== undefined && !setting.choices.includes(value as string)) {
    return `${setting.key} ('${value}') must be ${setting.choices.join(' or ')}${setting.why ? `; ${setting.why}` : ''}: ` +
      `set -c ${setting.key}=${setting.choices.join(` or -c ${setting.key}=`)}.`;
  }
  return undefined;
}

/** Applies the defaults and validates; throws one ConfigurationError listing every problem. */
export function resolveConfig(props: SecurePythonExecutorConfigProps = {}): SecurePythonExecutorConfig {
  const given = props as Record<string, unknown>;
  const values: Record<string, unknown> = {};
  for (const setting of CONTEXT_SETTINGS) values[setting.key] = given[setting.key] ?? setting.defaultValue;
  values.workerMemoryMiB ??= (values.memoryMiB as number) - RUNTIME_RESERVE_MIB;

  const errors: string[] = [];
  const valid = new Set<string>();
  for (const setting of CONTEXT_SETTINGS) {
    const problem = settingProblem(setting, values[setting.key]);
    if (problem === undefined) valid.add(setting.key);
    else errors.push(problem);
  }

  const top: Record<string, unknown> = {};
  const limits: Record<string, unknown> = {};
  for (const setting of CONTEXT_SETTINGS) {
    if (setting.limit === undefined) top[setting.key] = values[setting.key];
    else limits[setting.limit] = values[setting.key];
  }
  limits.preloads = preloadList(values.preloads as string);
  const config = { ...top, limits } as unknown as SecurePythonExecutorConfig;
  errors.push(...relationProblems(config, valid));
  if (errors.length > 0) {
    throw new ConfigurationError(errors.join('\n'));
  }
  return config;
}

/** What settings that are each valid on their own can still get wrong together. */
function relationProblems(config: SecurePythonExecutorConfig, valid: ReadonlySet<string>): string[] {
  const errors: string[] = [];
  const { limits } = config;
  const bothValid = (...keys: string[]): boolean => keys.every((key) => valid.has(key));

  if (bothValid('timeoutSeconds', 'maxRequestTimeoutMs')) {
    const highestAllowedMs = config.timeoutSeconds * 1000 - TIMING_BUDGET.executorHeadroomMs;
    if (limits.maxTimeoutMs > highestAllowedMs) {
      const neededSeconds = Math.ceil((limits.maxTimeoutMs + TIMING_BUDGET.executorHeadroomMs) / 1000);
      errors.push(
        `maxRequestTimeoutMs (${limits.maxTimeoutMs}) must leave at least ${TIMING_BUDGET.executorHeadroomMs} ms below the Lambda timeout of ${config.timeoutSeconds} s: ` +
          `lower maxRequestTimeoutMs to ${highestAllowedMs} or less, or raise timeoutSeconds to ${neededSeconds} or more.`,
      );
    }
  }
  if (bothValid('maxRequestTimeoutMs', 'apiIntegrationTimeoutMs') && limits.maxTimeoutMs + API_RESPONSE_BUDGET_MS > config.apiIntegrationTimeoutMs) {
    errors.push(
      `maxRequestTimeoutMs (${limits.maxTimeoutMs}) plus ${API_RESPONSE_BUDGET_MS} ms for the executor and invoker to answer must fit API Gateway's ` +
        `integration timeout apiIntegrationTimeoutMs (${config.apiIntegrationTimeoutMs}), or the longest requests would end in a gateway timeout: ` +
        `lower maxRequestTimeoutMs to ${config.apiIntegrationTimeoutMs - API_RESPONSE_BUDGET_MS} or less, or raise apiIntegrationTimeoutMs to ` +
        `${limits.maxTimeoutMs + API_RESPONSE_BUDGET_MS} (above 29000 only after AWS raised the region's integration timeout quota).`,
    );
  }
  if (bothValid('minRequestTimeoutMs', 'maxRequestTimeoutMs')) {
    if (limits.minTimeoutMs > limits.maxTimeoutMs) {
      errors.push(`minRequestTimeoutMs (${limits.minTimeoutMs}) must not exceed maxRequestTimeoutMs (${limits.maxTimeoutMs}): lower minRequestTimeoutMs or raise maxRequestTimeoutMs.`);
    } else if (!Number.isInteger(limits.defaultTimeoutMs) || limits.defaultTimeoutMs < limits.minTimeoutMs || limits.defaultTimeoutMs > limits.maxTimeoutMs) {
      errors.push(
        `defaultRequestTimeoutMs (${limits.defaultTimeoutMs}) must lie between minRequestTimeoutMs (${limits.minTimeoutMs}) and maxRequestTimeoutMs (${limits.maxTimeoutMs}): ` +
          `set -c defaultRequestTimeoutMs=<value> in that range.`,
      );
    }
  }
  if (bothValid('maxScriptBytes', 'maxRequestBytes') && limits.maxScriptBytes > limits.maxRequestBytes) {
    errors.push(`maxScriptBytes (${limits.maxScriptBytes}) must not exceed maxRequestBytes (${limits.maxRequestBytes}), since the script travels inside the request: lower maxScriptBytes or raise maxRequestBytes.`);
  }
  if (bothValid('maxStdoutBytes', 'maxStderrBytes', 'maxResultBytes')) {
    const responseBytes = limits.maxStdoutBytes + limits.maxStderrBytes + limits.maxResultBytes;
    if (responseBytes > RESPONSE_BUDGET_BYTES) {
      errors.push(
        `maxResultBytes + maxStdoutBytes + maxStderrBytes (${responseBytes}) must stay within ${RESPONSE_BUDGET_BYTES} bytes, because the whole response must fit Lambda's ` +
          `${LAMBDA_SYNC_RESPONSE_BYTES}-byte synchronous payload limit: lower one of them.`,
      );
    }
  }
  if (bothValid('memoryMiB')) {
    const highest = config.memoryMiB - RUNTIME_RESERVE_MIB;
    const worker = limits.workerMemoryMiB;
    if (!Number.isInteger(worker) || worker < MIN_WORKER_MEMORY_MIB || worker > highest) {
      errors.push(
        `workerMemoryMiB (${worker}) must be a whole number from ${MIN_WORKER_MEMORY_MIB} to ${highest} MiB (the runtime needs about ${RUNTIME_RESERVE_MIB} MiB of ` +
          `memoryMiB ${config.memoryMiB}; raise memoryMiB for a larger worker): set -c workerMemoryMiB=<value> in that range.`,
      );
    }
  }
  return errors;
}

/**
 * The allowed CORS origins: [] for none, ['*'], or exact origins; undefined
 * when the setting is malformed. Mirrors what the invoker accepts in
 * CORS_ALLOW_ORIGIN.
 */
export function corsOrigins(setting: string): readonly string[] | undefined {
  const origins = setting.split(',').map((origin) => origin.trim()).filter((origin) => origin !== '');
  if (origins.length === 1 && origins[0] === '*') return origins;
  return origins.every((origin) => /^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?$/.test(origin)) ? origins : undefined;
}

/** The executor function name: `workflow-python-executor`, or `<prefix>-workflow-python-executor`. */
export function executorFunctionName(config: SecurePythonExecutorConfig): string {
  return config.namePrefix === '' ? DEFAULT_EXECUTOR_FUNCTION_NAME : `${config.namePrefix}-${DEFAULT_EXECUTOR_FUNCTION_NAME}`;
}

/** The CloudFormation stack name, distinct per prefix so deployments can coexist. */
export function stackName(config: SecurePythonExecutorConfig): string {
  return config.namePrefix === '' ? 'SecurePythonExecutor' : `${config.namePrefix}-secure-python-executor`;
}

/**
 * The limits as the environment variables named in contract/README.md. The
 * executor and the invoker both read these, so the API and direct invokes
 * enforce the same numbers.
 */
export function limitsToEnvironment(limits: ExecutorLimits): Record<string, string> {
  // EXECUTOR_SANDBOX_UID stays unset (off): Lambda never runs the runtime as
  // root, so there is no other uid to switch to; only the local server sets it.
  return { ...limitsToEnv(limits), EXECUTOR_PRELOADS: limits.preloads.join(',') };
}
