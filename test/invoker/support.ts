import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { LambdaEndpoint } from './lambda-endpoint';

export interface EventOptions {
  readonly method?: string;
  readonly path?: string;
  /** Defaults to the path, as API Gateway sets it for the explicit /execute and /healthz resources. */
  readonly resource?: string;
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
  readonly headers?: Record<string, string>;
  readonly requestId?: string;
  /** The authenticated caller as API Gateway sets it with IAM auth; null for none. @default TEST_CALLER_ARN */
  readonly userArn?: string | null;
  /** The API key's id as API Gateway sets it with API-key auth. @default null */
  readonly apiKeyId?: string | null;
  /** Repeated headers, as API Gateway lists them in multiValueHeaders. */
  readonly multiValueHeaders?: Record<string, string[]>;
}

/** The IAM identity every test event is signed by unless a test says otherwise. */
export const TEST_CALLER_ARN = 'arn:aws:iam::123456789012:user/test-caller';

/** An API Gateway REST proxy event with every field API Gateway sends. */
export function apiEvent(options: EventOptions = {}): APIGatewayProxyEvent {
  const method = options.method ?? 'POST';
  const path = options.path ?? '/execute';
  const headers: Record<string, string> = {
    Host: 'abc123.execute-api.eu-west-1.amazonaws.com',
    'User-Agent': 'curl/8.5.0',
    'X-Forwarded-For': '203.0.113.7',
    ...(options.body !== undefined && options.body !== null ? { 'Content-Type': 'application/json' } : {}),
    ...options.headers,
  };
  const requestId = options.requestId ?? randomUUID();
  return {
    resource: options.resource ?? path,
    path,
    httpMethod: method,
    headers,
    multiValueHeaders: { ...Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, [value]])), ...options.multiValueHeaders },
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod: method,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: options.apiKeyId ? 'the-api-key-value-never-logged' : null,
        apiKeyId: options.apiKeyId ?? null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '203.0.113.7',
        user: null,
        userAgent: 'curl/8.5.0',
        userArn: options.userArn === undefined ? TEST_CALLER_ARN : options.userArn,
      },
      path: `/prod${path}`,
      stage: 'prod',
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: 'res123',
      resourcePath: options.resource ?? path,
    },
    body: options.body ?? null,
    isBase64Encoded: options.isBase64Encoded ?? false,
  };
}

export function executeEvent(body: unknown, options: EventOptions = {}): APIGatewayProxyEvent {
  return apiEvent({ ...options, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'invoker',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:invoker',
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/invoker',
    logStreamName: '2026/11/22/[$LATEST]abc',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/**
 * Loads a fresh copy of the handler with `env` applied first, because the
 * handler reads its configuration and builds its clients at module load.
 * The variables stay set: the SDK reads credentials from them lazily.
 */
export function loadHandler(env: Record<string, string | undefined>): Handler {
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  let loaded: Handler | undefined;
  jest.isolateModules(() => {
    // jest.isolateModules needs a synchronous load: a fresh module graph per configuration.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = (require('../../invoker/handler') as { handler: Handler }).handler;
  });
  return loaded!;
}

/** Every variable the handler reads, cleared, so one test file's settings never leak into another's load. */
export const CLEAN_ENV: Record<string, string | undefined> = {
  ARTIFACT_BUCKET: undefined,
  LOCAL_ARTIFACT_DIR: undefined,
  ARTIFACT_BASE_URL: undefined,
  ARTIFACT_URL_EXPIRY_SECONDS: undefined,
  CORS_ALLOW_ORIGIN: undefined,
  LAMBDA_ENDPOINT: undefined,
  EXECUTOR_FUNCTION_NAME: undefined,
  EXECUTOR_CLIENT_TIMEOUT_MS: undefined,
  EXECUTOR_DEFAULT_TIMEOUT_MS: undefined,
  EXECUTOR_MIN_TIMEOUT_MS: undefined,
  EXECUTOR_MAX_TIMEOUT_MS: undefined,
  EXECUTOR_MAX_REQUEST_BYTES: undefined,
  EXECUTOR_MAX_SCRIPT_BYTES: undefined,
  EXECUTOR_MAX_ARTIFACTS: undefined,
  EXECUTOR_MAX_ARTIFACT_BYTES: undefined,
  TENANCY: undefined,
  AUTH_MODE: undefined,
  EXECUTOR_SEAL_KEY: undefined,
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_DEV: undefined,
  // Keep the test output readable; the observability test turns them back on.
  POWERTOOLS_METRICS_DISABLED: 'true',
};

/**
 * Lines written to stdout and stderr while `run` executes: Powertools writes
 * INFO and EMF to stdout and WARN/ERROR to stderr; Lambda ships both to the
 * same log stream.
 */
export async function captureOutput<T>(run: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((stream) => stream.write.bind(stream));
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      lines.push(...String(chunk).split('\n').filter((line) => line.startsWith('{')));
      const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    }) as typeof stream.write;
  }
  try {
    const result = await run();
    return { result, lines };
  } finally {
    streams.forEach((stream, index) => {
      stream.write = originals[index]!;
    });
  }
}

/** A complete executor response for `ok: true`, with overrides. */
export function executorOk(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ok: true,
    result: null,
    stdout: '',
    stderr: '',
    truncated: { stdout: false, stderr: false, artifacts: false },
    error: null,
    errorType: null,
    traceback: null,
    artifacts: [],
    durationMs: 3,
    requestId: 'executor-side-id',
    ...overrides,
  };
}

/** A complete executor response for a failure of `errorType`. */
export function executorFailure(errorType: string, error: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return executorOk({ ok: false, errorType, error, ...overrides });
}

export function bodyOf(result: APIGatewayProxyResult): Record<string, unknown> {
  return JSON.parse(result.body) as Record<string, unknown>;
}

export const RESPONSE_KEY_LIST = ['ok', 'result', 'stdout', 'stderr', 'truncated', 'error', 'errorType', 'traceback', 'artifacts', 'durationMs', 'requestId'];

/**
 * A loopback Lambda endpoint for the test file: started before its tests,
 * stopped after them; `url()` is valid inside tests and beforeAll hooks
 * declared after this call.
 */
export function useLambdaEndpoint(): { readonly endpoint: LambdaEndpoint; readonly url: () => string } {
  const endpoint = new LambdaEndpoint();
  let url: string | undefined;
  beforeAll(async () => {
    url = await endpoint.start();
  });
  afterAll(() => endpoint.stop());
  return { endpoint, url: () => url! };
}
