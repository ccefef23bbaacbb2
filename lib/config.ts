/**
 * Deploy-time configuration of the stack and the limits every execution runs
 * under. Everything here is plain data: values come from CDK context
 * (`-c memoryMiB=512`) or from typed props, are validated once by
 * `resolveConfig`, and then flow unchanged into the constructs.
 */

import { LIMIT_SPECS, limitsToEnv, WORKER_MEMORY, type ConfigurableLimits } from '../contract/limits';
import { isTenancy, TENANCY_MODES, type AuthMode, type Tenancy } from '../contract/tenant';
import { TIMING_BUDGET } from '../contract/timing';
import { LAMBDA_SYNC_REQUEST_LIMIT_BYTES, MAX_REQUEST_BYTES_IN_PROXY_EVENT } from './proxy-event-size';

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
 * LIMIT_SPECS in contract/limits.ts) plus the executor's preloads.
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
  /** Comma-separated module names. @default 'numpy,pandas,matplotlib' */
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

type SettingKind = 'integer' | 'boolean' | 'string';

interface SettingDoc {
  readonly key: keyof SecurePythonExecutorConfigProps;
  readonly kind: SettingKind;
  readonly defaultText: string;
  readonly description: string;
  /** The contract limit the key sets, where it sets one. */
  readonly limit?: keyof typeof LIMIT_SPECS;
}

/** A context key that sets a contract limit: its default is the contract's (contract/limits.json). */
function limitSetting(key: keyof SecurePythonExecutorConfigProps, limit: keyof typeof LIMIT_SPECS, description: string): SettingDoc {
  return { key, kind: 'integer', defaultText: String(LIMIT_SPECS[limit].defaultValue), description, limit };
}

/**
 * Every CDK context key the app reads, with its default and meaning. The
 * README's configuration table is written from this list, and a test checks
 * that each key really reaches the configuration.
 */
export const CONTEXT_SETTINGS: readonly SettingDoc[] = [
  { key: 'memoryMiB', kind: 'integer', defaultText: '256', description: 'Executor Lambda memory in MiB (256 to 10240). Lambda gives CPU in proportion.' },
  { key: 'timeoutSeconds', kind: 'integer', defaultText: '30', description: 'Executor Lambda timeout (3 to 900). Must stay at least 2 s above maxRequestTimeoutMs.' },
  limitSetting('maxRequestTimeoutMs', 'maxTimeoutMs', 'Highest `timeoutMs` a request may ask for.'),
  limitSetting('defaultRequestTimeoutMs', 'defaultTimeoutMs', '`timeoutMs` used when a request has none.'),
  limitSetting('minRequestTimeoutMs', 'minTimeoutMs', 'Lowest `timeoutMs` a request may ask for.'),
  { key: 'reservedConcurrency', kind: 'integer', defaultText: '0', description: 'Executor reserved concurrency: executions at once, and the cap on cost and blast radius. `0` (the default) reserves nothing, so the first deploy works on any account; set it (e.g. 10) once the account\'s unreserved concurrency is at least 100 + this value (see "Before you deploy").' },
  { key: 'architecture', kind: 'string', defaultText: 'x86_64', description: '`x86_64` or `arm64`, for both functions. The image is built for this platform.' },
  { key: 'namePrefix', kind: 'string', defaultText: '(none)', description: 'Lowercase prefix for the stack and function names (`dev` gives `dev-workflow-python-executor`), so two deployments can share an account and region.' },
  { key: 'artifactRetentionDays', kind: 'integer', defaultText: '1', description: 'Days before artifacts are deleted from the bucket.' },
  { key: 'logRetentionDays', kind: 'integer', defaultText: '30', description: 'Retention of every log group (a CloudWatch Logs value: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...).' },
  { key: 'authMode', kind: 'string', defaultText: 'iam', description: '`iam` (SigV4, callers need `execute-api:Invoke`) or `apiKey` (an API key and a usage plan).' },
  {
    key: 'tenancy',
    kind: 'string',
    defaultText: 'perTenant',
    description:
      "`perTenant` (Lambda tenant isolation mode: a tenant's executions run only in execution environments dedicated to it) or `shared` (environments serve every caller). Changing it replaces the executor function; see \"Tenants\".",
  },
  { key: 'enableWaf', kind: 'boolean', defaultText: 'false', description: 'Attach an AWS WAF web ACL with a per-IP rate-based rule to the API stage (WAF is billed separately).' },
  { key: 'wafRequestsPer5MinutesPerIp', kind: 'integer', defaultText: '1000', description: 'Requests one IP may send in 5 minutes before WAF blocks it (100 or more).' },
  { key: 'apiRateLimitRps', kind: 'integer', defaultText: '20', description: 'API stage throttling rate, requests per second (also the usage plan rate in `apiKey` mode).' },
  { key: 'apiBurstLimitRequests', kind: 'integer', defaultText: '40', description: 'API stage throttling burst.' },
  { key: 'apiKeyDailyQuotaRequests', kind: 'integer', defaultText: '10000', description: 'Requests per day for the API key (`apiKey` mode only).' },
  { key: 'corsAllowOrigin', kind: 'string', defaultText: '(none)', description: 'Origins allowed to call the API from a browser: `*` or a comma-separated list like `https://app.example.com`; empty sends no CORS headers.' },
  { key: 'apiIntegrationTimeoutMs', kind: 'integer', defaultText: '29000', description: 'How long API Gateway waits for an answer (50 to 300000). Above 29000 only after AWS raised the "Maximum integration timeout" quota of the region. Must stay 3000 ms above maxRequestTimeoutMs.' },
  { key: 'permissionsBoundaryPolicyName', kind: 'string', defaultText: '(none)', description: 'Name of a customer managed policy to attach as the permissions boundary of every IAM role the app creates; required by the scoped bootstrap (`secure-python-executor-boundary`, see "Bootstrapping with a scoped execution policy").' },
  { key: 'apiGatewayCloudWatchRole', kind: 'boolean', defaultText: 'true', description: "Set API Gateway's account-level CloudWatch Logs role (AWS::ApiGateway::Account, kept when the stack is deleted), without which the stage's access logs cannot be created. `false` when the account and region already have one." },
  {
    key: 'sealKeyGeneration',
    kind: 'integer',
    defaultText: '1',
    description:
      'Which key seals the invoker\'s invocations of the executor (a generated Secrets Manager secret). Deploy with a new number to rotate it: the deploy makes a new key and gives it to both functions; see "Sealed invocations".',
  },
  limitSetting('maxScriptBytes', 'maxScriptBytes', 'Largest script, UTF-8 bytes.'),
  limitSetting('maxRequestBytes', 'maxRequestBytes', `Largest request body, bytes (at most ${MAX_REQUEST_BYTES_IN_PROXY_EVENT}, so that API Gateway's event for any such body fits Lambda's 6 MB request limit).`),
  limitSetting('maxStdoutBytes', 'maxStdoutBytes', 'stdout cap; longer output is cut and flagged in `truncated`.'),
  limitSetting('maxStderrBytes', 'maxStderrBytes', 'stderr cap.'),
  limitSetting('maxResultBytes', 'maxResultBytes', 'Largest encoded `result`.'),
  limitSetting('maxArtifacts', 'maxArtifacts', 'Files returned from `./outputs/`.'),
  limitSetting('maxArtifactBytes', 'maxArtifactBytes', 'Size of one returned file.'),
  limitSetting('maxProcesses', 'maxProcesses', 'Processes and threads one execution may have.'),
  limitSetting('maxFileBytes', 'maxFileBytes', 'Largest file a script may write.'),
  limitSetting('maxOpenFiles', 'maxOpenFiles', 'Open files of the worker.'),
  {
    key: 'workerMemoryMiB',
    kind: 'integer',
    defaultText: `memoryMiB - ${WORKER_MEMORY.runtimeReserveMiB}`,
    description: 'Memory limit of each worker process; the rest is left to the runtime, which holds about 105 MiB with its preloads.',
    limit: 'workerMemoryMiB',
  },
  { key: 'preloads', kind: 'string', defaultText: 'numpy,pandas,matplotlib', description: 'Modules the executor imports once at init (comma-separated; empty for none).' },
];

/**
 * Memory kept for the runtime when the worker limit is derived from
 * `memoryMiB`; the executor derives the same from the same record
 * (contract/limits.json, workerMemory).
 */
export const RUNTIME_RESERVE_MIB = WORKER_MEMORY.runtimeReserveMiB;

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

export const DEFAULT_FUNCTION_NAME = 'workflow-python-executor';

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

function parseContextValue(setting: SettingDoc, raw: unknown): unknown {
  const shown = typeof raw === 'string' ? `'${raw}'` : JSON.stringify(raw);
  switch (setting.kind) {
    case 'integer':
      if (typeof raw === 'number' && Number.isInteger(raw)) return raw;
      if (typeof raw === 'string' && /^\d+$/.test(raw.trim())) return Number(raw.trim());
      throw new ConfigurationError(`Context value ${setting.key} must be a whole number, got ${shown}: pass it like -c ${setting.key}=${/^\d+$/.test(setting.defaultText) ? setting.defaultText : '<whole number>'}.`);
    case 'boolean':
      if (raw === true || raw === 'true') return true;
      if (raw === false || raw === 'false') return false;
      throw new ConfigurationError(`Context value ${setting.key} must be true or false, got ${shown}: pass it like -c ${setting.key}=true.`);
    case 'string':
      if (typeof raw === 'string') return raw.trim();
      throw new ConfigurationError(`Context value ${setting.key} must be a string, got ${shown}.`);
  }
}

/** A limit's default as the contract defines it (one table for the stack, the invoker and the local server). */
function contractDefault(limit: keyof typeof LIMIT_SPECS): number {
  return LIMIT_SPECS[limit].defaultValue;
}

/** Applies the defaults and validates; throws one ConfigurationError listing every problem. */
export function resolveConfig(props: SecurePythonExecutorConfigProps = {}): SecurePythonExecutorConfig {
  const memoryMiB = props.memoryMiB ?? 256;
  const timeoutSeconds = props.timeoutSeconds ?? 30;
  const limits: ExecutorLimits = {
    defaultTimeoutMs: props.defaultRequestTimeoutMs ?? contractDefault('defaultTimeoutMs'),
    minTimeoutMs: props.minRequestTimeoutMs ?? contractDefault('minTimeoutMs'),
    maxTimeoutMs: props.maxRequestTimeoutMs ?? contractDefault('maxTimeoutMs'),
    maxScriptBytes: props.maxScriptBytes ?? contractDefault('maxScriptBytes'),
    maxRequestBytes: props.maxRequestBytes ?? contractDefault('maxRequestBytes'),
    maxStdoutBytes: props.maxStdoutBytes ?? contractDefault('maxStdoutBytes'),
    maxStderrBytes: props.maxStderrBytes ?? contractDefault('maxStderrBytes'),
    maxResultBytes: props.maxResultBytes ?? contractDefault('maxResultBytes'),
    maxArtifacts: props.maxArtifacts ?? contractDefault('maxArtifacts'),
    maxArtifactBytes: props.maxArtifactBytes ?? contractDefault('maxArtifactBytes'),
    maxProcesses: props.maxProcesses ?? contractDefault('maxProcesses'),
    maxFileBytes: props.maxFileBytes ?? contractDefault('maxFileBytes'),
    workerMemoryMiB: props.workerMemoryMiB ?? memoryMiB - RUNTIME_RESERVE_MIB,
    maxOpenFiles: props.maxOpenFiles ?? contractDefault('maxOpenFiles'),
    preloads: (props.preloads ?? 'numpy,pandas,matplotlib').split(',').map((name) => name.trim()).filter((name) => name !== ''),
  };
  const config: SecurePythonExecutorConfig = {
    memoryMiB,
    timeoutSeconds,
    reservedConcurrency: props.reservedConcurrency ?? 0,
    architecture: props.architecture ?? 'x86_64',
    namePrefix: props.namePrefix ?? '',
    artifactRetentionDays: props.artifactRetentionDays ?? 1,
    logRetentionDays: props.logRetentionDays ?? 30,
    authMode: props.authMode ?? 'iam',
    tenancy: props.tenancy ?? 'perTenant',
    enableWaf: props.enableWaf ?? false,
    wafRequestsPer5MinutesPerIp: props.wafRequestsPer5MinutesPerIp ?? 1000,
    apiRateLimitRps: props.apiRateLimitRps ?? 20,
    apiBurstLimitRequests: props.apiBurstLimitRequests ?? 40,
    apiKeyDailyQuotaRequests: props.apiKeyDailyQuotaRequests ?? 10_000,
    corsAllowOrigin: props.corsAllowOrigin ?? '',
    apiIntegrationTimeoutMs: props.apiIntegrationTimeoutMs ?? TIMING_BUDGET.defaultApiIntegrationTimeoutMs,
    apiGatewayCloudWatchRole: props.apiGatewayCloudWatchRole ?? true,
    permissionsBoundaryPolicyName: props.permissionsBoundaryPolicyName ?? '',
    sealKeyGeneration: props.sealKeyGeneration ?? 1,
    limits,
  };
  const errors = validateConfig(config);
  if (errors.length > 0) {
    throw new ConfigurationError(errors.join('\n'));
  }
  return config;
}

function validateConfig(config: SecurePythonExecutorConfig): string[] {
  const errors: string[] = [];
  const { limits } = config;
  const integerIn = (key: string, value: number, min: number, max: number, unit: string): boolean => {
    if (!Number.isInteger(value) || value < min || value > max) {
      errors.push(`${key} (${value}) must be a whole number from ${min} to ${max}${unit}: set -c ${key}=<value> in that range.`);
      return false;
    }
    return true;
  };

  const memoryOk = integerIn('memoryMiB', config.memoryMiB, 256, 10_240, ' MiB (the executor keeps numpy, pandas and matplotlib loaded, which 128 MiB cannot hold)');
  const timeoutOk = integerIn('timeoutSeconds', config.timeoutSeconds, 3, 900, ' s (the Lambda maximum is 900 s)');
  const minOk = integerIn('minRequestTimeoutMs', limits.minTimeoutMs, 1, 60_000, ' ms');
  const maxOk = integerIn('maxRequestTimeoutMs', limits.maxTimeoutMs, 1, 898_000, ' ms');
  if (timeoutOk && maxOk) {
    const highestAllowedMs = config.timeoutSeconds * 1000 - TIMING_BUDGET.executorHeadroomMs;
    if (limits.maxTimeoutMs > highestAllowedMs) {
      const neededSeconds = Math.ceil((limits.maxTimeoutMs + TIMING_BUDGET.executorHeadroomMs) / 1000);
      errors.push(
        `maxRequestTimeoutMs (${limits.maxTimeoutMs}) must leave at least ${TIMING_BUDGET.executorHeadroomMs} ms below the Lambda timeout of ${config.timeoutSeconds} s: ` +
          `lower maxRequestTimeoutMs to ${highestAllowedMs} or less, or raise timeoutSeconds to ${neededSeconds} or more.`,
      );
    }
  }
  const integrationOk = integerIn(
    'apiIntegrationTimeoutMs',
    config.apiIntegrationTimeoutMs,
    50,
    MAX_API_INTEGRATION_TIMEOUT_MS,
    ' ms (API Gateway allows 50 ms to 29 s, and up to 300 s for Regional REST APIs after a quota increase)',
  );
  if (maxOk && integrationOk && limits.maxTimeoutMs + API_RESPONSE_BUDGET_MS > config.apiIntegrationTimeoutMs) {
    errors.push(
      `maxRequestTimeoutMs (${limits.maxTimeoutMs}) plus ${API_RESPONSE_BUDGET_MS} ms for the executor and invoker to answer must fit API Gateway's ` +
        `integration timeout apiIntegrationTimeoutMs (${config.apiIntegrationTimeoutMs}), or the longest requests would end in a gateway timeout: ` +
        `lower maxRequestTimeoutMs to ${config.apiIntegrationTimeoutMs - API_RESPONSE_BUDGET_MS} or less, or raise apiIntegrationTimeoutMs to ` +
        `${limits.maxTimeoutMs + API_RESPONSE_BUDGET_MS} (above 29000 only after AWS raised the region's integration timeout quota).`,
    );
  }
  if (minOk && maxOk && limits.minTimeoutMs > limits.maxTimeoutMs) {
    errors.push(`minRequestTimeoutMs (${limits.minTimeoutMs}) must not exceed maxRequestTimeoutMs (${limits.maxTimeoutMs}): lower minRequestTimeoutMs or raise maxRequestTimeoutMs.`);
  }
  if (minOk && maxOk && limits.minTimeoutMs <= limits.maxTimeoutMs) {
    if (!Number.isInteger(limits.defaultTimeoutMs) || limits.defaultTimeoutMs < limits.minTimeoutMs || limits.defaultTimeoutMs > limits.maxTimeoutMs) {
      errors.push(
        `defaultRequestTimeoutMs (${limits.defaultTimeoutMs}) must lie between minRequestTimeoutMs (${limits.minTimeoutMs}) and maxRequestTimeoutMs (${limits.maxTimeoutMs}): ` +
          `set -c defaultRequestTimeoutMs=<value> in that range.`,
      );
    }
  }

  integerIn(
    'reservedConcurrency',
    config.reservedConcurrency,
    0,
    10_000,
    ' (0 reserves nothing; Lambda keeps 100 of the account concurrency unreserved, so a reservation needs a quota of at least 100 plus it: ' +
      'aws lambda get-account-settings shows AccountLimit.UnreservedConcurrentExecutions)',
  );
  if (config.architecture !== 'x86_64' && config.architecture !== 'arm64') {
    errors.push(`architecture ('${config.architecture}') must be x86_64 or arm64: set -c architecture=x86_64 or -c architecture=arm64.`);
  }
  if (config.namePrefix !== '' && !/^[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?$/.test(config.namePrefix)) {
    errors.push(
      `namePrefix ('${config.namePrefix}') must be 1 to 20 lowercase letters, digits or inner hyphens, because it becomes part of the function, stack and log group names: ` +
        `use something like -c namePrefix=dev.`,
    );
  }
  integerIn('artifactRetentionDays', config.artifactRetentionDays, 1, 3650, ' days');
  integerIn('sealKeyGeneration', config.sealKeyGeneration, 1, 1_000_000, '');
  if (config.permissionsBoundaryPolicyName !== '' && !/^[\w+=,.@-]{1,128}$/.test(config.permissionsBoundaryPolicyName)) {
    errors.push(
      `permissionsBoundaryPolicyName ('${config.permissionsBoundaryPolicyName}') is not an IAM policy name (1 to 128 letters, digits or +=,.@_-): ` +
        'give the name, not the ARN, like -c permissionsBoundaryPolicyName=secure-python-executor-boundary.',
    );
  }
  if (!LOG_RETENTION_DAYS.includes(config.logRetentionDays)) {
    errors.push(`logRetentionDays (${config.logRetentionDays}) is not a CloudWatch Logs retention period: use one of ${LOG_RETENTION_DAYS.join(', ')}.`);
  }
  if (config.authMode !== 'iam' && config.authMode !== 'apiKey') {
    errors.push(`authMode ('${config.authMode}') must be iam or apiKey; the API is never open: set -c authMode=iam or -c authMode=apiKey.`);
  }
  if (!isTenancy(config.tenancy)) {
    errors.push(
      `tenancy ('${config.tenancy}') must be ${TENANCY_MODES.join(' or ')}: set -c tenancy=perTenant to give each caller its own execution environments ` +
        '(the default), or -c tenancy=shared to let callers share them.',
    );
  }
  integerIn('wafRequestsPer5MinutesPerIp', config.wafRequestsPer5MinutesPerIp, 100, 2_000_000_000, ' requests');
  integerIn('apiRateLimitRps', config.apiRateLimitRps, 1, 10_000, ' requests per second (the default account limit is 10000)');
  integerIn('apiBurstLimitRequests', config.apiBurstLimitRequests, 1, 5_000, ' requests (the default account limit is 5000)');
  integerIn('apiKeyDailyQuotaRequests', config.apiKeyDailyQuotaRequests, 1, 1_000_000_000, ' requests');
  if (corsOrigins(config.corsAllowOrigin) === undefined) {
    errors.push(
      `corsAllowOrigin ('${config.corsAllowOrigin}') must be empty, * or a comma-separated list of origins like https://app.example.com ` +
        `(scheme, host and optional port, no path): fix -c corsAllowOrigin.`,
    );
  }

  const requestOk = integerIn(
    'maxRequestBytes',
    limits.maxRequestBytes,
    1024,
    MAX_REQUEST_BYTES_IN_PROXY_EVENT,
    ` bytes (API Gateway hands the body to the invoker as a JSON string inside an event that must stay under Lambda's ${LAMBDA_SYNC_REQUEST_LIMIT_BYTES}-byte ` +
      'request limit, and JSON escaping can turn one body byte into six)',
  );
  if (integerIn('maxScriptBytes', limits.maxScriptBytes, 1, MAX_REQUEST_BYTES_IN_PROXY_EVENT, ' bytes') && requestOk && limits.maxScriptBytes > limits.maxRequestBytes) {
    errors.push(`maxScriptBytes (${limits.maxScriptBytes}) must not exceed maxRequestBytes (${limits.maxRequestBytes}), since the script travels inside the request: lower maxScriptBytes or raise maxRequestBytes.`);
  }
  const stdoutOk = integerIn('maxStdoutBytes', limits.maxStdoutBytes, 1024, RESPONSE_BUDGET_BYTES, ' bytes');
  const stderrOk = integerIn('maxStderrBytes', limits.maxStderrBytes, 1024, RESPONSE_BUDGET_BYTES, ' bytes');
  const resultOk = integerIn('maxResultBytes', limits.maxResultBytes, 1024, RESPONSE_BUDGET_BYTES, ' bytes');
  if (stdoutOk && stderrOk && resultOk) {
    const responseBytes = limits.maxStdoutBytes + limits.maxStderrBytes + limits.maxResultBytes;
    if (responseBytes > RESPONSE_BUDGET_BYTES) {
      errors.push(
        `maxResultBytes + maxStdoutBytes + maxStderrBytes (${responseBytes}) must stay within ${RESPONSE_BUDGET_BYTES} bytes, because the whole response must fit Lambda's ` +
          `${LAMBDA_SYNC_RESPONSE_BYTES}-byte synchronous payload limit: lower one of them.`,
      );
    }
  }
  integerIn('maxArtifacts', limits.maxArtifacts, 1, 100, ' files');
  integerIn('maxArtifactBytes', limits.maxArtifactBytes, 1, 5 * 1024 * 1024 * 1024, ' bytes (the S3 POST upload maximum is 5 GiB)');
  integerIn('maxProcesses', limits.maxProcesses, 1, 256, ' (Lambda counts every process and thread of its one user, the runtime included, against about 1024)');
  integerIn('maxFileBytes', limits.maxFileBytes, 1, 512 * 1024 * 1024, " bytes (the function's /tmp is 512 MiB)");
  integerIn('maxOpenFiles', limits.maxOpenFiles, 16, 1000, " (Lambda's own limit is 1024 per environment)");
  if (memoryOk) {
    integerIn('workerMemoryMiB', limits.workerMemoryMiB, WORKER_MEMORY.minimumMiB, config.memoryMiB - RUNTIME_RESERVE_MIB, ` MiB (the runtime needs about ${RUNTIME_RESERVE_MIB} MiB of memoryMiB ${config.memoryMiB}; raise memoryMiB for a larger worker)`);
  }
  for (const name of limits.preloads) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(name)) {
      errors.push(`preloads contains '${name}', which is not a Python module name: list module names separated by commas, like -c preloads=numpy,pandas.`);
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
  return config.namePrefix === '' ? DEFAULT_FUNCTION_NAME : `${config.namePrefix}-${DEFAULT_FUNCTION_NAME}`;
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
