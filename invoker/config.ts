import {
  AUTH_MODES,
  ConfigError,
  defaultClientWaitMs,
  readContractLimits,
  SEAL_KEY_VARIABLE,
  SealKey,
  TENANCY_MODES,
  type AuthMode,
  type ContractLimits,
  type Tenancy,
} from '../contract';

/** Where the invoker puts artifacts: S3 (cloud), a folder served by the local server, or inline in the response. */
export type ArtifactDestination =
  | { readonly kind: 's3'; readonly bucket: string; readonly urlExpirySeconds: number }
  | { readonly kind: 'local'; readonly dir: string; readonly baseUrl: string }
  | { readonly kind: 'inline' };

export interface InvokerConfig {
  readonly limits: ContractLimits;
  readonly executorFunctionName: string;
  /** How long the Lambda client waits for the executor; above the longest allowed execution. */
  readonly clientTimeoutMs: number;
  /** Local mode: the local server's Lambda Invoke API instead of AWS. */
  readonly lambdaEndpoint: string | undefined;
  /**
   * Local mode: the access key id to sign with (LAMBDA_ENDPOINT_ACCESS_KEY_ID),
   * the local server's LOCAL_TOKEN when it has one, which its Invoke API
   * requires of every caller, this invoker included. Undefined: `local`.
   */
  readonly lambdaEndpointAccessKeyId: string | undefined;
  readonly artifacts: ArtifactDestination;
  /** null: no CORS headers at all. ['*'] or a list of exact origins otherwise. */
  readonly corsAllowOrigins: readonly string[] | null;
  /** Whether each invocation carries the caller's tenant id (the executor's tenant isolation mode). */
  readonly tenancy: Tenancy;
  /** How API Gateway authenticates callers, and so where the caller's identity is found. */
  readonly authMode: AuthMode;
  /**
   * The secret shared with the executor (EXECUTOR_SEAL_KEY): when set, every
   * invocation is sealed and only an answer signed for it is accepted
   * (contract/README.md, "Sealed invocations"). Undefined: plain invocations.
   */
  readonly sealKey: SealKey | undefined;
}

const DEFAULT_ARTIFACT_URL_EXPIRY_SECONDS = 900;
/** SigV4 presigned URLs cannot live longer than seven days. */
const MAX_ARTIFACT_URL_EXPIRY_SECONDS = 604_800;

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, meaning: string): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) <= 0 || !Number.isSafeInteger(Number(raw))) {
    throw new ConfigError(`${name} must be a positive integer (${meaning}), but it is '${raw}'.`);
  }
  return Number(raw);
}

function httpUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an absolute http(s) URL, but it is '${raw}'.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an absolute http(s) URL, but it is '${raw}'.`);
  }
  return raw.replace(/\/+$/, '');
}

function corsOrigins(raw: string | undefined): readonly string[] | null {
  if (raw === undefined || raw.trim() === '') return null;
  const origins = raw.split(',').map((origin) => origin.trim()).filter((origin) => origin !== '');
  if (origins.includes('*')) {
    if (origins.length > 1) {
      throw new ConfigError(`CORS_ALLOW_ORIGIN must be '*' or a comma-separated list of origins, not both, but it is '${raw}'.`);
    }
    return ['*'];
  }
  for (const origin of origins) {
    // An origin is scheme://host[:port] with nothing after it; anything else never matches a browser's Origin header.
    if (!/^https?:\/\/[^/\s,]+$/.test(origin)) {
      throw new ConfigError(
        `CORS_ALLOW_ORIGIN entries must be origins such as https://app.example.com (no path), but '${origin}' is not.`,
      );
    }
  }
  return origins;
}

/** A setting from a closed list; absent means the secure default. */
function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T, meaning: string): T {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be ${allowed.join(' or ')} (${meaning}), but it is '${raw}'.`);
  }
  return raw as T;
}

/**
 * Reads the invoker's configuration from `env`, once. Throws
 * {@link ConfigError} with a sentence naming the variable, because a
 * misconfigured invoker must refuse every request rather than half work.
 */
export function readInvokerConfig(env: NodeJS.ProcessEnv): InvokerConfig {
  const limits = readContractLimits(env);

  const executorFunctionName = env.EXECUTOR_FUNCTION_NAME?.trim();
  if (!executorFunctionName) {
    throw new ConfigError('EXECUTOR_FUNCTION_NAME must be set to the name or ARN of the executor function.');
  }

  const clientTimeoutMs = positiveInteger(
    env,
    'EXECUTOR_CLIENT_TIMEOUT_MS',
    defaultClientWaitMs(limits.maxTimeoutMs),
    'how long the invoker waits for the executor',
  );
  if (clientTimeoutMs <= limits.maxTimeoutMs) {
    throw new ConfigError(
      `EXECUTOR_CLIENT_TIMEOUT_MS (${clientTimeoutMs}) must be greater than EXECUTOR_MAX_TIMEOUT_MS (${limits.maxTimeoutMs}), or the longest allowed executions would always time out.`,
    );
  }

  const lambdaEndpoint = env.LAMBDA_ENDPOINT?.trim() ? httpUrl('LAMBDA_ENDPOINT', env.LAMBDA_ENDPOINT.trim()) : undefined;

  let artifacts: ArtifactDestination;
  const bucket = env.ARTIFACT_BUCKET?.trim();
  const localDir = env.LOCAL_ARTIFACT_DIR?.trim();
  if (bucket && localDir) {
    throw new ConfigError('Set either ARTIFACT_BUCKET (cloud) or LOCAL_ARTIFACT_DIR (local mode), not both.');
  }
  if (bucket) {
    const urlExpirySeconds = positiveInteger(
      env,
      'ARTIFACT_URL_EXPIRY_SECONDS',
      DEFAULT_ARTIFACT_URL_EXPIRY_SECONDS,
      'lifetime of artifact download URLs',
    );
    if (urlExpirySeconds > MAX_ARTIFACT_URL_EXPIRY_SECONDS) {
      throw new ConfigError(`ARTIFACT_URL_EXPIRY_SECONDS must be at most ${MAX_ARTIFACT_URL_EXPIRY_SECONDS} (seven days), but it is ${urlExpirySeconds}.`);
    }
    artifacts = { kind: 's3', bucket, urlExpirySeconds };
  } else if (localDir) {
    const baseUrl = env.ARTIFACT_BASE_URL?.trim();
    if (!baseUrl) {
      throw new ConfigError('ARTIFACT_BASE_URL must be set with LOCAL_ARTIFACT_DIR, e.g. http://127.0.0.1:3000/artifacts.');
    }
    artifacts = { kind: 'local', dir: localDir, baseUrl: httpUrl('ARTIFACT_BASE_URL', baseUrl) };
  } else {
    artifacts = { kind: 'inline' };
  }

  return {
    limits,
    executorFunctionName,
    clientTimeoutMs,
    lambdaEndpoint,
    lambdaEndpointAccessKeyId: env.LAMBDA_ENDPOINT_ACCESS_KEY_ID || undefined,
    artifacts,
    corsAllowOrigins: corsOrigins(env.CORS_ALLOW_ORIGIN),
    tenancy: oneOf(env, 'TENANCY', TENANCY_MODES, 'perTenant', "the executor's tenant isolation mode"),
    authMode: oneOf(env, 'AUTH_MODE', AUTH_MODES, 'iam', 'how API Gateway authenticates callers'),
    // Neither trimmed nor echoed in the error: the executor derives its keys from the value exactly as set.
    sealKey: env[SEAL_KEY_VARIABLE] ? new SealKey(env[SEAL_KEY_VARIABLE]) : undefined,
  };
}
