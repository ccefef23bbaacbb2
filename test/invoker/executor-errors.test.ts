import { STATUS_BY_ERROR_TYPE, messages } from '../../contract';
import { LambdaEndpoint, closedPort, functionError, serviceError } from './lambda-endpoint';
import type { InvokerHandler } from '../../invoker/invoker';
import {
  RESPONSE_KEY_LIST,
  bodyOf,
  executeEvent,
  executorFailure,
  executorOk,
  lambdaContext,
  invokerFor,
  apiEvent,
} from './support';

/*
 * Error mapping between the executor and the caller: every errorType the
 * executor answers with, every way the Invoke API or the function itself can
 * fail, each through the real SDK client against a real HTTP endpoint.
 */

const endpoint = new LambdaEndpoint();
let handler: InvokerHandler;
const CLIENT_TIMEOUT_MS = 1_500;
/** The invoker's variables; a test changes one of them. */
let env: Record<string, string>;

beforeAll(async () => {
  env = {
    LAMBDA_ENDPOINT: await endpoint.start(),
    // A short client timeout so the hanging-executor case ends quickly; the
    // timeouts must stay below it, as the configuration check demands.
    EXECUTOR_MAX_TIMEOUT_MS: '1000',
    EXECUTOR_DEFAULT_TIMEOUT_MS: '500',
    EXECUTOR_CLIENT_TIMEOUT_MS: String(CLIENT_TIMEOUT_MS),
  };
  handler = invokerFor(env);
});

afterAll(() => endpoint.stop());

async function execute() {
  const result = await handler(executeEvent({ script: 'def main(): return 1' }), lambdaContext());
  const body = bodyOf(result);
  expect(Object.keys(body)).toEqual(RESPONSE_KEY_LIST);
  return { result, body };
}

describe('executor outcomes', () => {
  const scriptFailures: [string, string][] = [
    ['ScriptError', 'ZeroDivisionError: division by zero'],
    ['Timeout', 'Script exceeded its 500 ms timeout'],
    ['MemoryLimit', 'Script exceeded its memory limit of 192 MiB'],
    ['OutputLimit', 'Script wrote more than the allowed output'],
    ['ResultNotSerializable', 'Return value is not JSON-serializable: Object of type set is not JSON serializable'],
    ['ResultTooLarge', 'Return value is larger than 1048576 bytes'],
    ['PolicyViolation', 'Opening network sockets is not allowed'],
  ];

  it.each(scriptFailures)('answers a %s with 422 and passes the sentence, output and traceback through', async (errorType, error) => {
    endpoint.respond = () => ({
      body: executorFailure(errorType, error, {
        stdout: 'before\n',
        stderr: 'warn\n',
        truncated: { stdout: true, stderr: false },
        traceback: 'Traceback (most recent call last):\n  File "<script>", line 1, in main\n',
        durationMs: 12.5,
      }),
    });
    const { result, body } = await execute();
    expect(result.statusCode).toBe(422);
    expect(body).toMatchObject({
      ok: false,
      errorType,
      error,
      result: null,
      stdout: 'before\n',
      stderr: 'warn\n',
      truncated: { stdout: true, stderr: false, artifacts: false },
      traceback: 'Traceback (most recent call last):\n  File "<script>", line 1, in main\n',
      durationMs: 12.5,
    });
  });

  it.each([
    ['InvalidRequest', "'script' must not be empty", 400],
    ['RequestTooLarge', "'script' must be at most 65536 bytes of UTF-8", 413],
    ['InternalError', 'The worker could not be started', 500],
  ])('answers an executor %s with its contract status', async (errorType, error, status) => {
    endpoint.respond = () => ({ body: executorFailure(errorType, error) });
    const { result, body } = await execute();
    expect(result.statusCode).toBe(status);
    expect(body).toMatchObject({ ok: false, errorType, error });
  });

  it('maps every errorType the executor may send to the status of contract/status.json', async () => {
    for (const [errorType, status] of Object.entries(STATUS_BY_ERROR_TYPE)) {
      endpoint.respond = () => ({ body: executorFailure(errorType, `failed with ${errorType}`) });
      const { result, body } = await execute();
      expect([errorType, result.statusCode, body.errorType]).toEqual([errorType, status, errorType]);
    }
  });

  it('answers ok: true with 200 even when the executor left an errorType behind', async () => {
    endpoint.respond = () => ({ body: executorOk({ errorType: 'ScriptError', error: 'stale', result: [1, 2] }) });
    const { result, body } = await execute();
    expect(result.statusCode).toBe(200);
    expect(body).toMatchObject({ ok: true, error: null, errorType: null, result: [1, 2] });
  });

  it('fills missing keys of a minimal executor answer', async () => {
    endpoint.respond = () => ({ body: { ok: true, result: { a: 1 } } });
    const { result, body } = await execute();
    expect(result.statusCode).toBe(200);
    expect(body).toMatchObject({ ok: true, result: { a: 1 }, stdout: '', stderr: '', truncated: { stdout: false, stderr: false, artifacts: false }, traceback: null, artifacts: [], durationMs: 0 });
  });
});

describe('answers outside the contract', () => {
  it.each([
    ['a payload that is not JSON', 'Traceback (most recent call last): boom'],
    ['a JSON array', '[1, 2, 3]'],
    ['JSON null', 'null'],
    ['an object without ok', '{"result": 1}'],
    ['an empty payload', ''],
  ])('answers %s with 500 InternalError', async (_name, payload) => {
    endpoint.respond = () => ({ body: payload });
    const { result, body } = await execute();
    expect(result.statusCode).toBe(500);
    expect(body).toMatchObject({ ok: false, errorType: 'InternalError', error: messages.executorInvalidResponse });
  });

  it('answers a failure with an errorType outside the contract with 500, hiding its sentence', async () => {
    endpoint.respond = () => ({ body: executorFailure('KeyboardInterrupt', 'secret internal detail') });
    const { result, body } = await execute();
    expect(result.statusCode).toBe(500);
    expect(body).toMatchObject({ errorType: 'InternalError', error: messages.executorFault });
    expect(JSON.stringify(body)).not.toContain('secret internal detail');
  });
});

describe('function errors', () => {
  it('answers an unhandled executor fault with 500 and never leaks its message or stack', async () => {
    endpoint.respond = () => ({
      headers: { 'X-Amz-Function-Error': 'Unhandled' },
      body: { errorType: 'RuntimeError', errorMessage: 'parent crashed at /var/task/executor/engine.py', stackTrace: ['  File "/var/task/executor/engine.py", line 9'] },
    });
    const { result, body } = await execute();
    expect(result.statusCode).toBe(500);
    expect(body).toMatchObject({ ok: false, errorType: 'InternalError', error: 'The executor failed with an internal error; the request was not completed. Retry, and report the requestId if it happens again.' });
    expect(result.body).not.toContain('/var/task');
  });

  it('answers a function error with an unparseable payload with 500', async () => {
    endpoint.respond = () => ({ headers: { 'X-Amz-Function-Error': 'Unhandled' }, body: 'not json' });
    const { result, body } = await execute();
    expect(result.statusCode).toBe(500);
    expect(body.errorType).toBe('InternalError');
  });

  it.each([
    ['Sandbox.Timedout', 'RequestId: 1 Error: Task timed out after 30.00 seconds'],
    ['Function.TimedOut', 'Task timed out after 30 seconds'],
    ['', '2026-11-22T01:00:00Z 1 Task timed out after 30.00 seconds'],
  ])('answers a Lambda timeout (%s) with 504 ExecutorTimeout', async (errorType, errorMessage) => {
    endpoint.respond = () => functionError(errorType, errorMessage);
    const { result, body } = await execute();
    expect(result.statusCode).toBe(504);
    expect(body).toMatchObject({
      errorType: 'ExecutorTimeout',
      error: "The executor ran past its Lambda timeout and was stopped; lower 'timeoutMs' or do less work per request.",
    });
  });

  it.each(['Runtime.ExitError', 'Runtime.OutOfMemory'])('answers an executor that died (%s) with 504 ExecutorTimeout', async (errorType) => {
    endpoint.respond = () => functionError(errorType, 'RequestId: 1 Error: Runtime exited with error: signal: killed');
    const { result, body } = await execute();
    expect(result.statusCode).toBe(504);
    expect(body).toMatchObject({ errorType: 'ExecutorTimeout', error: messages.executorDied });
  });

  it('answers a response over Lambda’s payload limit with 422 OutputLimit, the script’s doing', async () => {
    endpoint.respond = () => functionError('Function.ResponseSizeTooLarge', 'Response payload size exceeded maximum allowed payload size (6291556 bytes).');
    const { result, body } = await execute();
    expect(result.statusCode).toBe(422);
    expect(body).toMatchObject({
      errorType: 'OutputLimit',
      error: 'The execution produced a response larger than Lambda allows (6 MB); return less data, print less, or write fewer or smaller artifacts.',
    });
  });
});

describe('Invoke API errors', () => {
  it('answers TooManyRequestsException with 429 Throttled and passes Retry-After on', async () => {
    // Lambda sends the suggested delay in the Retry-After header; the SDK exposes it as retryAfterSeconds.
    endpoint.respond = () => {
      const reply = serviceError(429, 'TooManyRequestsException', { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' });
      return { ...reply, headers: { ...reply.headers, 'Retry-After': '2' } };
    };
    const { result, body } = await execute();
    expect(result.statusCode).toBe(429);
    expect(result.headers).toMatchObject({ 'Retry-After': '2' });
    expect(body).toMatchObject({ errorType: 'Throttled', error: 'Too many executions are running right now; retry after a short wait.' });
  });

  it('does not retry a throttled invocation itself', async () => {
    endpoint.invocations.length = 0;
    endpoint.respond = () => serviceError(429, 'TooManyRequestsException');
    await execute();
    expect(endpoint.invocations).toHaveLength(1);
  });

  it.each([
    [502, 'EC2ThrottledException'],
    [502, 'ENILimitReachedException'],
    [502, 'SubnetIPAddressLimitReachedException'],
    [502, 'ResourceNotReadyException'],
    [503, 'ServiceUnavailableException'],
  ])('answers %i %s (no capacity) with 503 ServiceUnavailable', async (status, errorType) => {
    endpoint.respond = () => serviceError(status, errorType);
    const { result, body } = await execute();
    expect(result.statusCode).toBe(503);
    expect(body).toMatchObject({ errorType: 'ServiceUnavailable', error: 'The executor has no capacity right now; retry after a short wait.' });
  });

  it.each([
    [500, 'ServiceException'],
    [502, 'InvalidRuntimeException'],
    [400, 'InvalidRequestContentException'],
    [413, 'RequestTooLargeException'],
  ])('answers %i %s with 500 InternalError without the service message', async (status, errorType) => {
    endpoint.respond = () => serviceError(status, errorType);
    const { result, body } = await execute();
    expect(result.statusCode).toBe(500);
    expect(body).toMatchObject({ errorType: 'InternalError', error: messages.executorFault });
    expect(result.body).not.toContain('from the test endpoint');
  });

  it('answers a missing executor function (ResourceNotFoundException) with 500 and says the deployment is broken', async () => {
    const wrongName = invokerFor({ ...env, EXECUTOR_FUNCTION_NAME: 'no-such-function' });
    const result = await wrongName(executeEvent({ script: 'pass' }), lambdaContext());
    expect(result.statusCode).toBe(500);
    expect(bodyOf(result)).toMatchObject({ errorType: 'InternalError', error: 'The executor function was not found; the deployment is incomplete or misconfigured.' });
  });

  it('answers an executor that does not answer within the client timeout with 504', async () => {
    endpoint.respond = () => ({ hang: true });
    const { result, body } = await execute();
    expect(result.statusCode).toBe(504);
    expect(body).toMatchObject({
      errorType: 'ExecutorTimeout',
      error: `The executor did not answer within ${CLIENT_TIMEOUT_MS} ms; lower 'timeoutMs' or do less work per request.`,
    });
  });

  it('answers an unreachable endpoint with 503 ServiceUnavailable', async () => {
    const port = await closedPort();
    const unreachable = invokerFor({ ...env, LAMBDA_ENDPOINT: `http://127.0.0.1:${port}` });
    const result = await unreachable(executeEvent({ script: 'pass' }), lambdaContext());
    expect(result.statusCode).toBe(503);
    expect(bodyOf(result)).toMatchObject({ errorType: 'ServiceUnavailable', error: messages.unreachable });
    const health = await unreachable(apiEvent({ method: 'GET', path: '/healthz', body: null }), lambdaContext());
    expect(health.statusCode).toBe(503);
    expect(bodyOf(health)).toMatchObject({ status: 'degraded', executor: null, errorType: 'ServiceUnavailable', error: messages.unreachable });
  });
});

describe('GET /healthz', () => {
  const healthz = () => handler(apiEvent({ method: 'GET', path: '/healthz', body: null }), lambdaContext());
  const report = {
    python: '3.12.1',
    preloads: { numpy: { loaded: true, version: '2.1.3' }, pandas: { loaded: false, error: "No module named 'pandas'" } },
    layers: { worker_process: { active: true, detail: 'fork per execution' } },
    limits: { defaultTimeoutMs: 500 },
    initMs: 412,
  };

  it('sends the health event and answers 200 with status ok and the executor report', async () => {
    endpoint.invocations.length = 0;
    endpoint.respond = (event) =>
      JSON.stringify(event) === '{"action":"health"}' ? { body: { ok: true, health: report } } : { body: executorFailure('InvalidRequest', 'unexpected') };
    const result = await healthz();
    expect(result.statusCode).toBe(200);
    const body = bodyOf(result);
    expect(body).toMatchObject({ status: 'ok', executor: report, invoker: { mode: 'inline-artifacts' } });
    expect((body.invoker as { limits: Record<string, number> }).limits).toMatchObject({ maxTimeoutMs: 1000, defaultTimeoutMs: 500 });
    expect(endpoint.invocations.map((call) => call.payload)).toEqual(['{"action":"health"}']);
  });

  it.each([
    ['a throttled executor', serviceError(429, 'TooManyRequestsException'), 'Throttled'],
    ['a function error', functionError('Runtime.ExitError', 'exit status 1'), 'ExecutorTimeout'],
    ['an answer without a health report', { body: { ok: true } }, 'ServiceUnavailable'],
    ['an executor fault', serviceError(500, 'ServiceException'), 'InternalError'],
  ])('answers 503 degraded for %s', async (_name, reply, errorType) => {
    endpoint.respond = () => reply;
    const result = await healthz();
    expect(result.statusCode).toBe(503);
    expect(bodyOf(result)).toMatchObject({ status: 'degraded', executor: null, errorType });
  });
});
