import { SealKey, errorResponse, messages, seal, signAnswer } from '../../contract';
import { LambdaEndpoint, functionError, type InvokeReply, type RecordedInvocation, type Responder } from './lambda-endpoint';
import type { InvokerHandler } from '../../invoker/invoker';
import { apiEvent, captureOutput, executeEvent, invokerFor, lambdaContext } from './support';

/*
 * Sealed invocations (contract/README.md): with EXECUTOR_SEAL_KEY the invoker
 * seals every invocation and accepts only an answer signed for it. The fake
 * executor behind a real loopback Invoke API signs as the runtime does, or
 * forges as a script that took the invocation from the Runtime API would.
 */

const SEAL_KEY = 'the invoker tests\' seal key: 64 characters, never used elsewhere.';
const key = new SealKey(SEAL_KEY);
const FORGED_MARKER = 'forged-by-a-script-5e1d';
const SCRIPT_MARKER = 'the-script-body-c0ffee';
// The caller's own text: 1.0 must reach the executor as 1.0.
const CALLER_BODY = `{"script": "def main(x):\\n    return '${SCRIPT_MARKER}'", "input": 1.0}`;

const endpoint = new LambdaEndpoint();
let endpointUrl: string;

beforeAll(async () => {
  endpointUrl = await endpoint.start();
});

afterAll(() => endpoint.stop());

beforeEach(() => {
  endpoint.invocations.length = 0;
});

function load(sealKey: string | undefined): InvokerHandler {
  return invokerFor({ LAMBDA_ENDPOINT: endpointUrl, EXECUTOR_SEAL_KEY: sealKey }, { observability: { logLevel: 'WARN' } });
}

/** A complete response as the Python runtime encodes it: contract order, compact, 3.0 and a large integer as written. */
function executorResponse(requestId: string, result = '{"mean":3.0,"count":12345678901234567890}'): string {
  return (
    `{"ok":true,"result":${result},"stdout":"h\u00e9llo\\n","stderr":"","truncated":{"stdout":false,"stderr":false,"artifacts":false},` +
    `"error":null,"errorType":null,"traceback":null,"artifacts":[],"durationMs":4.25,"requestId":"${requestId}"}`
  );
}

function nonceOf(event: unknown): Buffer {
  return Buffer.from((event as { nonce: string }).nonce, 'base64');
}

/** The runtime's answer: the response signed over the request's nonce. */
function signed(response: string): Responder {
  return (event) => ({ body: signAnswer(Buffer.from(response), nonceOf(event), key).toString('utf8') });
}

/** What a script that took the invocation could post: a plain answer of its choosing. */
const forgedPlain: Responder = () => ({ body: executorResponse('any', `"${FORGED_MARKER}"`) });

/** Or an envelope in the right shape, but without the key. */
const forgedEnvelope: Responder = (event) => ({
  body: signAnswer(Buffer.from(executorResponse('any', `"${FORGED_MARKER}"`)), nonceOf(event), new SealKey('a key the script made up, at least 32 chars')).toString('utf8'),
});

function inTurn(...responders: Responder[]): Responder {
  let calls = 0;
  return (event, invocation): InvokeReply => responders[Math.min(calls++, responders.length - 1)]!(event, invocation);
}

function logLines(lines: string[]): Record<string, unknown>[] {
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

function integrityWarnings(lines: string[]): Record<string, unknown>[] {
  return logLines(lines).filter((line) => String(line.message).startsWith("The executor's answer failed its integrity check"));
}

function sealedEventOf(invocation: RecordedInvocation): Record<string, string> {
  return JSON.parse(invocation.payload) as Record<string, string>;
}

describe('with EXECUTOR_SEAL_KEY', () => {
  let handler: InvokerHandler;
  beforeAll(() => {
    handler = load(SEAL_KEY);
  });

  it('seals the caller\'s own text with the invoker\'s fields, and shows the executor nothing in clear', async () => {
    const requestId = 'req-sealed-request';
    endpoint.respond = signed(executorResponse(requestId));
    await handler(executeEvent(CALLER_BODY, { requestId }), lambdaContext());

    expect(endpoint.invocations).toHaveLength(1);
    const invocation = endpoint.invocations[0]!;
    expect(Object.keys(sealedEventOf(invocation))).toEqual(['sealed', 'nonce', 'ciphertext', 'mac']);
    expect(invocation.payload).not.toContain(SCRIPT_MARKER);
    // Sealing is deterministic for a given nonce: the same bytes prove what was sealed.
    const expectedEvent = `{"requestId":"${requestId}",${CALLER_BODY.slice(1)}`;
    expect(seal(expectedEvent, key, nonceOf(sealedEventOf(invocation))).body).toBe(invocation.payload);
  });

  it('answers a correctly sealed answer with 200 and exactly the executor\'s response bytes', async () => {
    const requestId = 'req-sealed-ok';
    const response = executorResponse(requestId);
    endpoint.respond = signed(response);
    const result = await handler(executeEvent(CALLER_BODY, { requestId }), lambdaContext());

    expect(result.statusCode).toBe(200);
    expect(result.body).toBe(response);
    expect(result.body).toContain('"mean":3.0,"count":12345678901234567890');
  });

  it('retries once with a fresh seal when a forged plain answer comes back, and answers with the real one', async () => {
    const requestId = 'req-forged-once';
    const response = executorResponse(requestId);
    endpoint.respond = inTurn(forgedPlain, signed(response));
    const { result, lines } = await captureOutput(() => handler(executeEvent(CALLER_BODY, { requestId }), lambdaContext()));

    expect(result.statusCode).toBe(200);
    expect(result.body).toBe(response);
    expect(endpoint.invocations).toHaveLength(2);
    const [first, second] = endpoint.invocations.map((invocation) => sealedEventOf(invocation).nonce);
    expect(first).not.toBe(second);
    expect(integrityWarnings(lines)).toEqual([
      expect.objectContaining({ level: 'WARN', answer: 'not sealed', attempts: 1, retrying: true, payloadBytes: expect.any(Number) }),
    ]);
    expect(lines.join('\n')).not.toContain(FORGED_MARKER);
  });

  it('answers 500 InternalError when the answer fails its integrity check twice, and logs both without payloads', async () => {
    const requestId = 'req-forged-twice';
    endpoint.respond = inTurn(forgedEnvelope, forgedPlain);
    const { result, lines } = await captureOutput(() => handler(executeEvent(CALLER_BODY, { requestId }), lambdaContext()));

    expect(result.statusCode).toBe(500);
    expect(JSON.parse(result.body)).toEqual(errorResponse('InternalError', messages.executorAnswerUnverified, requestId));
    expect(endpoint.invocations).toHaveLength(2);
    expect(integrityWarnings(lines)).toEqual([
      expect.objectContaining({ answer: 'sealed, tag does not match', attempts: 1, retrying: true }),
      expect.objectContaining({ answer: 'not sealed', attempts: 2, retrying: false }),
    ]);
    const requestLine = logLines(lines).find((line) => line.message === 'request');
    expect(requestLine).toMatchObject({ level: 'ERROR', status: 500, errorType: 'InternalError', fault: { problem: 'answer failed the integrity check', attempts: 2 } });
    expect(lines.join('\n')).not.toContain(FORGED_MARKER);
    expect(lines.join('\n')).not.toContain(SCRIPT_MARKER);
    expect(lines.join('\n')).not.toContain(SEAL_KEY);
  });

  it('does not accept an answer signed for another request', async () => {
    const requestId = 'req-replayed';
    const stale = signAnswer(Buffer.from(executorResponse(requestId)), Buffer.alloc(16, 7), key).toString('utf8');
    endpoint.respond = () => ({ body: stale });
    const result = await handler(executeEvent(CALLER_BODY, { requestId }), lambdaContext());

    expect(result.statusCode).toBe(500);
    expect(JSON.parse(result.body)).toMatchObject({ errorType: 'InternalError', error: messages.executorAnswerUnverified });
  });

  it('classifies a function error as before, without a retry: it carries no result', async () => {
    endpoint.respond = () => functionError('Sandbox.Timedout', 'Task timed out after 30.00 seconds');
    const result = await handler(executeEvent(CALLER_BODY), lambdaContext());

    expect(result.statusCode).toBe(504);
    expect(JSON.parse(result.body)).toMatchObject({ errorType: 'ExecutorTimeout', error: messages.executorTimedOut });
    expect(endpoint.invocations).toHaveLength(1);
  });

  it('seals the health action too', async () => {
    endpoint.respond = signed('{"ok":true,"health":{"python":"3.12.0"}}');
    const result = await handler(apiEvent({ method: 'GET', path: '/healthz', body: null }), lambdaContext());

    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toMatchObject({ status: 'ok', executor: { python: '3.12.0' } });
    expect(seal('{"action":"health"}', key, nonceOf(sealedEventOf(endpoint.invocations[0]!))).body).toBe(endpoint.invocations[0]!.payload);
  });

  it('reports the health check degraded when its answer fails the integrity check', async () => {
    endpoint.respond = () => ({ body: { ok: true, health: { python: FORGED_MARKER } } });
    const result = await handler(apiEvent({ method: 'GET', path: '/healthz', body: null }), lambdaContext());

    expect(result.statusCode).toBe(503);
    expect(JSON.parse(result.body)).toMatchObject({ status: 'degraded', executor: null, errorType: 'InternalError', error: messages.executorAnswerUnverified });
    expect(endpoint.invocations).toHaveLength(2);
  });
});

describe('without EXECUTOR_SEAL_KEY', () => {
  it('invokes with the plain event and accepts the plain answer, as before', async () => {
    const handler = load(undefined);
    const requestId = 'req-plain';
    const response = executorResponse(requestId);
    endpoint.respond = () => ({ body: response });
    const result = await handler(executeEvent(CALLER_BODY, { requestId }), lambdaContext());

    expect(result.statusCode).toBe(200);
    expect(result.body).toBe(response);
    expect(endpoint.invocations.map((invocation) => invocation.payload)).toEqual([`{"requestId":"${requestId}",${CALLER_BODY.slice(1)}`]);
  });
});
