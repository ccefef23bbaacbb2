import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { DEFAULT_EXECUTOR_FUNCTION_NAME } from '../../contract';
import { readInvokerConfig } from '../../invoker/config';
import { createLambdaClient } from '../../invoker/executor-client';
import { createInvoker, type InvokerHandler } from '../../invoker/invoker';
import { createObservability, type ObservabilityOptions } from '../../invoker/observability';
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

export interface TestInvokerOptions {
  /** Required when the variables send artifacts to S3; the test points it at its own credentials and endpoint. */
  readonly s3?: S3Client;
  /** @default { logLevel: 'SILENT', metrics: false }: readable test output; the tests of logs and metrics turn them on. */
  readonly observability?: ObservabilityOptions;
}

/**
 * An invoker built the way invoker/handler.ts builds it, from the variables
 * in `env` and nothing else (never process.env): its configuration from
 * readInvokerConfig, a real Lambda client for LAMBDA_ENDPOINT, and the S3
 * client the test gives. EXECUTOR_FUNCTION_NAME defaults to the test
 * endpoint's function.
 */
export function invokerFor(env: Readonly<Record<string, string | undefined>>, options: TestInvokerOptions = {}): InvokerHandler {
  const config = readInvokerConfig({ EXECUTOR_FUNCTION_NAME: DEFAULT_EXECUTOR_FUNCTION_NAME, ...env });
  const observability = createObservability({ logLevel: 'SILENT', metrics: false, ...options.observability });
  return createInvoker(config, { lambda: createLambdaClient(config), s3: options.s3 }, observability);
}

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
