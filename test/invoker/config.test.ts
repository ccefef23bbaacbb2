import { ConfigError, DEFAULT_LIMITS, LIMITS_FILE, SealKey, limitsToEnv, readContractLimits } from '../../contract';
import { readInvokerConfig } from '../../invoker/config';
import { createMisconfiguredInvoker } from '../../invoker/invoker';
import { createObservability } from '../../invoker/observability';
import { bodyOf, executeEvent, apiEvent, lambdaContext } from './support';

/* Configuration: defaults applied once, every wrong value refused with a sentence naming the variable. */

const BASE = { EXECUTOR_FUNCTION_NAME: 'workflow-python-executor' };

function refusal(env: NodeJS.ProcessEnv): ConfigError {
  try {
    readInvokerConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).name).toBe('ConfigError');
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

function configError(env: NodeJS.ProcessEnv): string {
  return refusal(env).message;
}

describe('readContractLimits', () => {
  // test/contract/limits.test.ts checks DEFAULT_LIMITS against contract/limits.json.
  it('applies the defaults of contract/limits.json', () => {
    expect(readContractLimits({})).toEqual(DEFAULT_LIMITS);
  });

  it('reads every EXECUTOR_* variable and writes the same set back', () => {
    const env = limitsToEnv({ ...DEFAULT_LIMITS, maxTimeoutMs: 20_000, maxRequestBytes: 500_000 });
    expect(env).toMatchObject({ EXECUTOR_MAX_TIMEOUT_MS: '20000', EXECUTOR_MAX_REQUEST_BYTES: '500000', EXECUTOR_WORKER_MEMORY_MIB: String(DEFAULT_LIMITS.workerMemoryMiB) });
    expect(Object.keys(env).sort()).toEqual(LIMITS_FILE.limits.flatMap((record) => (record.env === null ? [] : [record.env])).sort());
    expect(readContractLimits(env)).toMatchObject({ maxTimeoutMs: 20_000, maxRequestBytes: 500_000 });
  });

  it.each([
    [{ EXECUTOR_MAX_TIMEOUT_MS: 'abc' }, "EXECUTOR_MAX_TIMEOUT_MS must be a positive integer (highest accepted 'timeoutMs'), but it is 'abc'."],
    [{ EXECUTOR_MAX_REQUEST_BYTES: '0' }, "EXECUTOR_MAX_REQUEST_BYTES must be a positive integer (whole request), but it is '0'."],
    [{ EXECUTOR_MAX_SCRIPT_BYTES: '1.5' }, "EXECUTOR_MAX_SCRIPT_BYTES must be a positive integer (script size, UTF-8), but it is '1.5'."],
    [{ EXECUTOR_MIN_TIMEOUT_MS: '5000', EXECUTOR_MAX_TIMEOUT_MS: '1000', EXECUTOR_DEFAULT_TIMEOUT_MS: '1000' }, 'EXECUTOR_MIN_TIMEOUT_MS (5000) must not be greater than EXECUTOR_MAX_TIMEOUT_MS (1000).'],
    [{ EXECUTOR_DEFAULT_TIMEOUT_MS: '30000' }, 'EXECUTOR_DEFAULT_TIMEOUT_MS (30000) must be between EXECUTOR_MIN_TIMEOUT_MS (100) and EXECUTOR_MAX_TIMEOUT_MS (25000).'],
    [{ EXECUTOR_MAX_SCRIPT_BYTES: '2000000' }, 'EXECUTOR_MAX_SCRIPT_BYTES (2000000) must not be greater than EXECUTOR_MAX_REQUEST_BYTES (1000000).'],
  ])('refuses %j', (env, sentence) => {
    expect(() => readContractLimits(env)).toThrow(sentence);
  });
});

describe('readInvokerConfig', () => {
  it('defaults the client timeout to the maximum execution plus a margin', () => {
    expect(readInvokerConfig(BASE).clientTimeoutMs).toBe(30_000);
    expect(readInvokerConfig({ ...BASE, EXECUTOR_MAX_TIMEOUT_MS: '5000', EXECUTOR_DEFAULT_TIMEOUT_MS: '1000' }).clientTimeoutMs).toBe(10_000);
  });

  it('chooses the artifact store from the environment', () => {
    expect(readInvokerConfig({ ...BASE, ARTIFACT_BUCKET: 'b' }).artifacts).toEqual({ kind: 's3', bucket: 'b', urlExpirySeconds: 900 });
    expect(readInvokerConfig({ ...BASE, LOCAL_ARTIFACT_DIR: '/tmp/a', ARTIFACT_BASE_URL: 'http://127.0.0.1:3000/artifacts/' }).artifacts).toEqual({
      kind: 'local',
      dir: '/tmp/a',
      baseUrl: 'http://127.0.0.1:3000/artifacts',
    });
    expect(readInvokerConfig(BASE).artifacts).toEqual({ kind: 'inline' });
  });

  it('seals invocations only when EXECUTOR_SEAL_KEY is set, and keeps the value out of the configuration object', () => {
    const secret = 'a-seal-key-of-forty-characters-0123456789';
    expect(readInvokerConfig(BASE).sealKey).toBeUndefined();
    expect(readInvokerConfig({ ...BASE, EXECUTOR_SEAL_KEY: '' }).sealKey).toBeUndefined();
    const config = readInvokerConfig({ ...BASE, EXECUTOR_SEAL_KEY: secret });
    expect(config.sealKey).toBeInstanceOf(SealKey);
    expect(JSON.stringify(config)).not.toContain(secret);
  });

  it.each([
    [{}, 'EXECUTOR_FUNCTION_NAME must be set to the name or ARN of the executor function.'],
    [{ ...BASE, EXECUTOR_CLIENT_TIMEOUT_MS: '25000' }, 'EXECUTOR_CLIENT_TIMEOUT_MS (25000) must be greater than EXECUTOR_MAX_TIMEOUT_MS (25000), or the longest allowed executions would always time out.'],
    [{ ...BASE, EXECUTOR_CLIENT_TIMEOUT_MS: 'soon' }, "EXECUTOR_CLIENT_TIMEOUT_MS must be a positive integer (how long the invoker waits for the executor), but it is 'soon'."],
    [{ ...BASE, LAMBDA_ENDPOINT: 'localhost:3000' }, "LAMBDA_ENDPOINT must be an absolute http(s) URL, but it is 'localhost:3000'."],
    [{ ...BASE, ARTIFACT_BUCKET: 'b', LOCAL_ARTIFACT_DIR: '/tmp/a' }, 'Set either ARTIFACT_BUCKET (cloud) or LOCAL_ARTIFACT_DIR (local mode), not both.'],
    [{ ...BASE, LOCAL_ARTIFACT_DIR: '/tmp/a' }, 'ARTIFACT_BASE_URL must be set with LOCAL_ARTIFACT_DIR, e.g. http://127.0.0.1:3000/artifacts.'],
    [{ ...BASE, LOCAL_ARTIFACT_DIR: '/tmp/a', ARTIFACT_BASE_URL: 'ftp://x' }, "ARTIFACT_BASE_URL must be an absolute http(s) URL, but it is 'ftp://x'."],
    [{ ...BASE, ARTIFACT_BUCKET: 'b', ARTIFACT_URL_EXPIRY_SECONDS: '700000' }, 'ARTIFACT_URL_EXPIRY_SECONDS must be at most 604800 (seven days), but it is 700000.'],
    [{ ...BASE, CORS_ALLOW_ORIGIN: '*, https://a.example' }, "CORS_ALLOW_ORIGIN must be '*' or a comma-separated list of origins, not both, but it is '*, https://a.example'."],
    [
      { ...BASE, EXECUTOR_SEAL_KEY: 'only-thirty-one-characters-long' },
      'EXECUTOR_SEAL_KEY must be at least 32 characters, but it has 31; give the invoker and the executor the same long random value (e.g. `openssl rand -hex 32`), or unset it on both.',
    ],
    [{ ...BASE, CORS_ALLOW_ORIGIN: 'https://a.example/app' }, "CORS_ALLOW_ORIGIN entries must be origins such as https://app.example.com (no path), but 'https://a.example/app' is not."],
  ])('refuses %j', (env, sentence) => {
    expect(configError(env)).toBe(sentence);
  });
});

describe('a misconfigured invoker', () => {
  it('answers every API request with 500 naming the variable, and still routes', async () => {
    const handler = createMisconfiguredInvoker(refusal({}), createObservability({ logLevel: 'SILENT', metrics: false }));
    const execute = await handler(executeEvent({ script: 'pass' }), lambdaContext());
    expect(execute.statusCode).toBe(500);
    expect(bodyOf(execute)).toMatchObject({
      ok: false,
      errorType: 'InternalError',
      error: 'The invoker is misconfigured: EXECUTOR_FUNCTION_NAME must be set to the name or ARN of the executor function.',
    });
    const health = await handler(apiEvent({ method: 'GET', path: '/healthz', body: null }), lambdaContext());
    expect(health.statusCode).toBe(500);
    const unknown = await handler(apiEvent({ method: 'GET', path: '/x', body: null }), lambdaContext());
    expect(unknown.statusCode).toBe(404);
  });
});
