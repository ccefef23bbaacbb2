import type { Logger } from '@aws-lambda-powertools/logger';
import { InvokeCommand, LambdaClient, type InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { ExecutorError, LOCAL_REGION, messages, openAnswer, seal, statusForErrorType, type ErrorType, type SealKey } from '../contract';
import type { InvokerConfig } from './config';

/** Lambda's own error types in an invocation payload that mean the executor environment ran out of time or died. */
const TIMED_OUT_FUNCTION_ERRORS = new Set(['Sandbox.Timedout', 'Function.TimedOut']);
const DIED_FUNCTION_ERRORS = new Set(['Runtime.ExitError', 'Runtime.OutOfMemory']);

/**
 * Invoke API errors that mean "no capacity right now" rather than a fault:
 * the VPC function could not get a network interface or is not ready yet.
 */
const NO_CAPACITY_ERRORS = new Set([
  'EC2ThrottledException',
  'ENILimitReachedException',
  'SubnetIPAddressLimitReachedException',
  'ResourceNotReadyException',
  'ENINotReadyException',
]);

const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** The local endpoint's credentials when it has no token: it checks the access key id only; never used against AWS. */
const LOCAL_ACCESS_KEY_ID = 'local';
const LOCAL_SECRET_ACCESS_KEY = 'local';

/**
 * The one Lambda client of an invoker, created once per execution
 * environment so that its connections are reused across invocations. Against
 * a local endpoint every setting the SDK would otherwise look up (region,
 * credentials) is given here, so it never reads a profile or reaches AWS.
 *
 * maxAttempts is 1: a retried RequestResponse invocation would run the script
 * again and, with executions of up to the maximum timeout, outlast API
 * Gateway's integration timeout; callers get 429/503 and retry themselves.
 */
export function createLambdaClient(config: InvokerConfig): LambdaClient {
  const local = config.lambdaEndpoint !== undefined;
  return new LambdaClient({
    maxAttempts: 1,
    requestHandler: {
      requestTimeout: config.clientTimeoutMs,
      throwOnRequestTimeout: true,
      connectionTimeout: 3_000,
    },
    ...(local
      ? {
          endpoint: config.lambdaEndpoint,
          credentials: { accessKeyId: config.lambdaEndpointAccessKeyId ?? LOCAL_ACCESS_KEY_ID, secretAccessKey: LOCAL_SECRET_ACCESS_KEY },
          region: LOCAL_REGION,
        }
      : {}),
  });
}

function executorError(
  errorType: ErrorType,
  message: string,
  detail: Record<string, string | number | undefined>,
  headers: Record<string, string> = {},
): ExecutorError {
  return new ExecutorError(statusForErrorType(errorType), errorType, message, detail, headers);
}

function errorProperty(error: unknown, key: string): unknown {
  return error !== null && typeof error === 'object' ? (error as Record<string, unknown>)[key] : undefined;
}

/** Maps whatever the SDK threw to the caller-facing outcome; the SDK's own message goes to the log only. */
function classifyInvokeError(error: unknown, clientTimeoutMs: number): ExecutorError {
  const name = String(errorProperty(error, 'name') ?? 'Error');
  const code = errorProperty(error, 'code');
  const metadata = errorProperty(error, '$metadata') as { httpStatusCode?: number } | undefined;
  const httpStatusCode = metadata?.httpStatusCode;
  const detail = {
    sdkError: name,
    sdkMessage: String(errorProperty(error, 'message') ?? '').slice(0, 500),
    httpStatusCode,
  };

  if (name === 'TimeoutError' || code === 'ETIMEDOUT') {
    return executorError('ExecutorTimeout', messages.clientTimeout(clientTimeoutMs), detail);
  }
  if (name === 'TooManyRequestsException' || httpStatusCode === 429) {
    const retryAfterSeconds = Number(errorProperty(error, 'retryAfterSeconds'));
    const headers: Record<string, string> =
      Number.isInteger(retryAfterSeconds) && retryAfterSeconds > 0 ? { 'Retry-After': String(retryAfterSeconds) } : {};
    return executorError('Throttled', messages.throttled, { ...detail, reason: String(errorProperty(error, 'Reason') ?? '') }, headers);
  }
  if (NO_CAPACITY_ERRORS.has(name) || httpStatusCode === 503) {
    return executorError('ServiceUnavailable', messages.noCapacity, detail);
  }
  if (name === 'ResourceNotFoundException') {
    return executorError('InternalError', messages.executorNotFound, detail);
  }
  // The SDK's retry middleware rewraps errors that are not `instanceof Error`
  // of its own realm (as under test runners) keeping only the message, so the
  // network code is looked for there too.
  const networkCode =
    typeof code === 'string' && NETWORK_ERROR_CODES.has(code)
      ? code
      : [...NETWORK_ERROR_CODES].find((candidate) => detail.sdkMessage.includes(candidate));
  if (networkCode !== undefined) {
    return executorError('ServiceUnavailable', messages.unreachable, { ...detail, code: networkCode });
  }
  return executorError('InternalError', messages.executorFault, detail);
}

/** Maps a function error (the executor crashed, timed out or broke Lambda's limits) to the caller-facing outcome. */
function classifyFunctionError(functionError: string, payload: unknown): ExecutorError {
  const lambdaErrorType = String(errorProperty(payload, 'errorType') ?? '');
  const errorMessage = String(errorProperty(payload, 'errorMessage') ?? '').slice(0, 500);
  const detail = { functionError, lambdaErrorType, lambdaErrorMessage: errorMessage };
  // Older runtimes report a timeout only in the message, without an errorType.
  if (TIMED_OUT_FUNCTION_ERRORS.has(lambdaErrorType) || /Task timed out after/.test(errorMessage)) {
    return executorError('ExecutorTimeout', messages.executorTimedOut, detail);
  }
  if (DIED_FUNCTION_ERRORS.has(lambdaErrorType)) {
    return executorError('ExecutorTimeout', messages.executorDied, detail);
  }
  if (lambdaErrorType === 'Function.ResponseSizeTooLarge') {
    return executorError('OutputLimit', messages.responseTooLarge, detail);
  }
  return executorError('InternalError', messages.executorFault, detail);
}

/** The executor's answer: its response JSON exactly as sent (opened, when sealed) and that JSON parsed. */
interface ExecutorAnswer {
  readonly text: string;
  readonly payload: unknown;
}

/**
 * How often one sealed event is sent when its answer fails the integrity
 * check. A script elsewhere in the tenant's environment may have taken the
 * invocation from the Runtime API and answered it; by the second attempt the
 * executor has contained that script, so a second failure is not retried.
 */
const SEALED_ATTEMPTS = 2;

async function send(client: LambdaClient, config: InvokerConfig, payload: string, tenantId: string | undefined): Promise<InvokeCommandOutput> {
  try {
    return await client.send(
      new InvokeCommand({
        FunctionName: config.executorFunctionName,
        InvocationType: 'RequestResponse',
        Payload: Buffer.from(payload, 'utf8'),
        TenantId: tenantId,
      }),
    );
  } catch (error) {
    throw classifyInvokeError(error, config.clientTimeoutMs);
  }
}

/** Parses the function's payload; a function error or a payload that is not JSON becomes an {@link ExecutorError}. */
function answerOf(functionError: string | undefined, payload: Uint8Array): ExecutorAnswer {
  const text = Buffer.from(payload).toString('utf8');
  let parsed: unknown;
  let parseFailed = false;
  try {
    parsed = JSON.parse(text);
  } catch {
    parseFailed = true;
  }
  if (functionError) {
    throw classifyFunctionError(functionError, parseFailed ? undefined : parsed);
  }
  if (parseFailed) {
    throw executorError('InternalError', messages.executorInvalidResponse, {
      problem: 'payload is not JSON',
      payloadBytes: payload.byteLength,
    });
  }
  return { text, payload: parsed };
}

/**
 * Sends a sealed event until an answer opens with its nonce, at most
 * {@link SEALED_ATTEMPTS} times, each with a fresh seal. A function error is
 * still classified as such: Lambda reports it, it carries no result, and it
 * fails the request exactly as it would unsealed.
 */
async function invokeSealed(
  client: LambdaClient,
  config: InvokerConfig,
  key: SealKey,
  event: string,
  tenantId: string | undefined,
  logger: Logger,
): Promise<ExecutorAnswer> {
  for (let attempt = 1; ; attempt += 1) {
    const sealed = seal(event, key);
    const output = await send(client, config, sealed.body, tenantId);
    const payload = output.Payload ?? new Uint8Array();
    const opened = output.FunctionError ? payload : openAnswer(payload, sealed.nonce, key);
    if (opened !== undefined) return answerOf(output.FunctionError, opened);

    const detail = {
      problem: 'answer failed the integrity check',
      answer: Buffer.from(payload).toString('latin1', 0, 32).startsWith('{"sealedResponse"') ? 'sealed, tag does not match' : 'not sealed',
      payloadBytes: payload.byteLength,
      attempts: attempt,
    };
    // Never the payload: it may hold a script's output. The sentence names both causes an operator can act on.
    logger.warn(
      "The executor's answer failed its integrity check: a process in its execution environment other than the runtime may have answered, " +
        'or the invoker and the executor hold different EXECUTOR_SEAL_KEY values.',
      { ...detail, tenantId, retrying: attempt < SEALED_ATTEMPTS },
    );
    if (attempt >= SEALED_ATTEMPTS) throw executorError('InternalError', messages.executorAnswerUnverified, detail);
  }
}

/**
 * Invokes the executor synchronously with a JSON event (sealed when the
 * invoker has EXECUTOR_SEAL_KEY) and returns its answer. `tenantId` goes to
 * Lambda as TenantId (header X-Amz-Tenant-Id), so the invocation runs only in
 * an execution environment of that tenant; undefined sends none, as a
 * shared-tenancy function requires. Everything that is not a parseable answer
 * of the function itself becomes an {@link ExecutorError}; `logger` hears of
 * answers that failed their integrity check.
 */
export async function invokeExecutor(
  client: LambdaClient,
  config: InvokerConfig,
  event: string,
  tenantId: string | undefined,
  logger: Logger,
): Promise<ExecutorAnswer> {
  if (config.sealKey !== undefined) return invokeSealed(client, config, config.sealKey, event, tenantId, logger);
  const output = await send(client, config, event, tenantId);
  return answerOf(output.FunctionError, output.Payload ?? new Uint8Array());
}
