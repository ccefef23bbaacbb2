import { messages } from '../../contract';
import { LambdaEndpoint } from './lambda-endpoint';
import type { InvokerHandler } from '../../invoker/invoker';
import {
  RESPONSE_KEY_LIST,
  apiEvent,
  bodyOf,
  executeEvent,
  executorOk,
  lambdaContext,
  invokerFor,
} from './support';

/*
 * The handler's HTTP layer, driven with API Gateway REST proxy events. The
 * executor is a real HTTP endpoint speaking the Lambda Invoke API, reached
 * through the real @aws-sdk/client-lambda client.
 */

const endpoint = new LambdaEndpoint();
let handler: InvokerHandler;

beforeAll(async () => {
  const url = await endpoint.start();
  handler = invokerFor({ LAMBDA_ENDPOINT: url });
});

afterAll(() => endpoint.stop());

beforeEach(() => {
  endpoint.invocations.length = 0;
  endpoint.respond = () => ({ body: executorOk({ result: 2, stdout: '1\n' }) });
});

async function call(event = apiEvent()) {
  const result = await handler(event, lambdaContext());
  return { result, body: result.body === '' ? {} : bodyOf(result) };
}

function expectError(body: Record<string, unknown>, errorType: string, error: string): void {
  expect(Object.keys(body)).toEqual(RESPONSE_KEY_LIST);
  expect(body).toMatchObject({ ok: false, errorType, error, result: null, artifacts: [] });
}

describe('POST /execute that reaches the executor', () => {
  it('answers 200 with every response key and the invoker request id', async () => {
    const event = executeEvent({ script: 'def main(): return 2' }, { requestId: 'b6f7c1d2-0000-4000-8000-000000000001' });
    const { result, body } = await call(event);
    expect(result.statusCode).toBe(200);
    expect(Object.keys(body)).toEqual(RESPONSE_KEY_LIST);
    expect(body).toMatchObject({ ok: true, result: 2, stdout: '1\n', requestId: 'b6f7c1d2-0000-4000-8000-000000000001' });
    expect(result.headers).toMatchObject({
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Request-Id': 'b6f7c1d2-0000-4000-8000-000000000001',
    });
  });

  it('forwards the caller JSON text unchanged, with requestId spliced in and no artifactUpload without a bucket', async () => {
    const raw = '{ "script": "def main(x): return x", "input": {"f": 1.0, "big": 12345678901234567890, "s": "\\u00e9"}, "timeoutMs": 2000 }';
    await call(apiEvent({ body: raw, requestId: 'req-1' }));
    expect(endpoint.invocations).toHaveLength(1);
    const payload = endpoint.invocations[0]!.payload;
    expect(payload).toBe(`{"requestId":"req-1", "script": "def main(x): return x", "input": {"f": 1.0, "big": 12345678901234567890, "s": "\\u00e9"}, "timeoutMs": 2000 }`);
    expect(JSON.parse(payload)).not.toHaveProperty('artifactUpload');
  });

  it('invokes the function named by EXECUTOR_FUNCTION_NAME synchronously', async () => {
    await call(executeEvent({ script: 'pass' }));
    expect(endpoint.invocations[0]!.functionName).toBe('workflow-python-executor');
    // RequestResponse is the default invocation type; the SDK sends it explicitly.
    expect(endpoint.invocations[0]!.headers['x-amz-invocation-type']).toBe('RequestResponse');
  });

  it('accepts a base64-encoded body', async () => {
    const body = Buffer.from(JSON.stringify({ script: "print('é')" }), 'utf8').toString('base64');
    const { result } = await call(apiEvent({ body, isBase64Encoded: true }));
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(endpoint.invocations[0]!.payload)).toMatchObject({ script: "print('é')" });
  });

  it('accepts a body without a Content-Type and application/json with a charset', async () => {
    const noType = apiEvent({ body: '{"script":"pass"}' });
    delete noType.headers['Content-Type'];
    expect((await call(noType)).result.statusCode).toBe(200);
    const withCharset = apiEvent({ body: '{"script":"pass"}', headers: { 'content-type': 'Application/JSON; charset=utf-8' } });
    expect((await call(withCharset)).result.statusCode).toBe(200);
  });

  it('accepts a body of exactly the size limit, as text and as base64', async () => {
    const frame = '{"script":"pass","input":""}';
    const exact = `{"script":"pass","input":"${'a'.repeat(1_000_000 - frame.length)}"}`;
    expect(Buffer.byteLength(exact)).toBe(1_000_000);
    expect((await call(apiEvent({ body: exact }))).result.statusCode).toBe(200);
    const base64 = Buffer.from(exact).toString('base64');
    expect((await call(apiEvent({ body: base64, isBase64Encoded: true }))).result.statusCode).toBe(200);
  });

  it('accepts a UTF-8 byte order mark before the JSON', async () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"script":"pass"}')]).toString('base64');
    expect((await call(apiEvent({ body, isBase64Encoded: true }))).result.statusCode).toBe(200);
  });
});

describe('POST /execute refused before the executor', () => {
  afterEach(() => expect(endpoint.invocations).toHaveLength(0));

  it('answers an absent body with 400 and the empty-body sentence', async () => {
    const { result, body } = await call(apiEvent({ body: null }));
    expect(result.statusCode).toBe(400);
    expectError(body, 'InvalidRequest', messages.bodyEmpty);
  });

  it('answers a whitespace-only body with 400 and the empty-body sentence', async () => {
    const { result, body } = await call(apiEvent({ body: ' \n ' }));
    expect(result.statusCode).toBe(400);
    expectError(body, 'InvalidRequest', 'Request body is empty; send a JSON object such as {"script": "print(1)"}');
  });

  it.each([
    ['truncated JSON', '{"script": "print(1)"'],
    ['single quotes', "{'script': 'print(1)'}"],
    ['NaN literal', '{"script": "pass", "input": NaN}'],
    ['trailing garbage', '{"script": "pass"} x'],
  ])('answers %s with 400 "Request body is not valid JSON"', async (_name, raw) => {
    const { result, body } = await call(apiEvent({ body: raw }));
    expect(result.statusCode).toBe(400);
    expectError(body, 'InvalidRequest', 'Request body is not valid JSON');
  });

  it('answers invalid UTF-8 bytes in a base64 body with 400 "Request body is not valid UTF-8"', async () => {
    const bytes = Buffer.concat([Buffer.from('{"script": "print(\''), Buffer.from([0xff, 0xfe]), Buffer.from('\')"}')]);
    const { result, body } = await call(apiEvent({ body: bytes.toString('base64'), isBase64Encoded: true }));
    expect(result.statusCode).toBe(400);
    expectError(body, 'InvalidRequest', 'Request body is not valid UTF-8');
  });

  it('answers an overlong UTF-8 encoding as invalid UTF-8', async () => {
    const bytes = Buffer.concat([Buffer.from('{"script": "'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]);
    const { body } = await call(apiEvent({ body: bytes.toString('base64'), isBase64Encoded: true }));
    expect(body.error).toBe('Request body is not valid UTF-8');
  });

  it('answers a text body with an unpaired surrogate as invalid UTF-8', async () => {
    const { result, body } = await call(apiEvent({ body: '{"script": "print(\ud800)"}' }));
    expect(result.statusCode).toBe(400);
    expect(body.error).toBe('Request body is not valid UTF-8');
  });

  it('answers a text body over the limit with 413 before parsing it', async () => {
    // Not JSON at all: the size check must come first.
    const { result, body } = await call(apiEvent({ body: 'x'.repeat(1_000_001) }));
    expect(result.statusCode).toBe(413);
    expectError(body, 'RequestTooLarge', 'Request body must be at most 1000000 bytes');
  });

  it('counts UTF-8 bytes, not characters, against the limit', async () => {
    const script = 'é'.repeat(530_000); // 1 060 000 bytes, 530 000 characters
    const { result, body } = await call(executeEvent({ script }));
    expect(result.statusCode).toBe(413);
    expect(body.error).toBe('Request body must be at most 1000000 bytes');
  });

  it('answers a base64 body whose decoded size is over the limit with 413', async () => {
    const body64 = Buffer.alloc(1_000_001, 0x20).toString('base64');
    const { result, body } = await call(apiEvent({ body: body64, isBase64Encoded: true }));
    expect(result.statusCode).toBe(413);
    expect(body.errorType).toBe('RequestTooLarge');
  });

  it('answers a 10 MB body with 413', async () => {
    const { result } = await call(executeEvent({ script: 'pass', input: 'a'.repeat(10 * 1024 * 1024) }));
    expect(result.statusCode).toBe(413);
  });

  it('answers a deeply nested body with 400 and the depth sentence, even far past any stack', async () => {
    const deep = `{"script": "pass", "input": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    const { result, body } = await call(apiEvent({ body: deep }));
    expect(result.statusCode).toBe(400);
    expectError(body, 'InvalidRequest', 'Request body must not be nested more than 64 levels deep');
  });

  it.each([
    ['a JSON array', '[1, 2]', "Request body must be a JSON object"],
    ['a JSON string', '"print(1)"', 'Request body must be a JSON object'],
    ['null', 'null', 'Request body must be a JSON object'],
    ['no script', '{"input": 1}', "'script' field is required"],
    ['a numeric script', '{"script": 42}', "'script' must be a string"],
    ['an empty script', '{"script": ""}', "'script' must not be empty"],
    ['a string timeout', '{"script": "pass", "timeoutMs": "1000"}', "'timeoutMs' must be an integer"],
    ['a timeout out of range', '{"script": "pass", "timeoutMs": 99}', "'timeoutMs' must be between 100 and 25000 milliseconds"],
    ['an unknown field', '{"script": "pass", "requestId": "mine"}', "Unknown field 'requestId'; allowed fields are 'script', 'input' and 'timeoutMs'"],
  ])('answers %s with 400', async (_name, raw, sentence) => {
    const { result, body } = await call(apiEvent({ body: raw }));
    expect(result.statusCode).toBe(400);
    expectError(body, 'InvalidRequest', sentence);
  });

  it('answers a script over its own limit with 413', async () => {
    const { result, body } = await call(executeEvent({ script: '#'.repeat(65_537) }));
    expect(result.statusCode).toBe(413);
    expectError(body, 'RequestTooLarge', "'script' must be at most 65536 bytes of UTF-8");
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx'])(
    'answers Content-Type %s with 415',
    async (contentType) => {
      const { result, body } = await call(apiEvent({ body: '{"script":"pass"}', headers: { 'Content-Type': contentType } }));
      expect(result.statusCode).toBe(415);
      expectError(body, 'UnsupportedMediaType', 'Content-Type must be application/json');
    },
  );
});

describe('routing', () => {
  afterEach(() => expect(endpoint.invocations.filter((call) => !call.payload.includes('"action"'))).toHaveLength(0));

  it.each([
    ['GET', '/foo', 'No route for GET /foo; the API serves POST /execute, GET /healthz and POST /mcp'],
    ['POST', '/', 'No route for POST /; the API serves POST /execute, GET /healthz and POST /mcp'],
    ['POST', '/execute/', 'No route for POST /execute/; the API serves POST /execute, GET /healthz and POST /mcp'],
    ['GET', '/__proto__', 'No route for GET /__proto__; the API serves POST /execute, GET /healthz and POST /mcp'],
  ])('answers %s %s with 404 NotFound', async (method, path, sentence) => {
    const { result, body } = await call(apiEvent({ method, path, body: null }));
    expect(result.statusCode).toBe(404);
    expectError(body, 'NotFound', sentence);
  });

  it('routes on the raw path when the resource is a greedy proxy', async () => {
    const { result } = await call(apiEvent({ method: 'GET', path: '/nothing-here', resource: '/{proxy+}', body: null }));
    expect(result.statusCode).toBe(404);
    const { result: ok } = await call(apiEvent({ path: '/execute', resource: '/{proxy+}', body: '{"script":"pass"}' }));
    expect(ok.statusCode).toBe(200);
    endpoint.invocations.length = 0;
  });

  it('does not echo control characters of the path into the sentence', async () => {
    const { body } = await call(apiEvent({ method: 'GET', path: '/a\nb\u0000', body: null }));
    expect(body.error).toBe('No route for GET /a?b?; the API serves POST /execute, GET /healthz and POST /mcp');
  });

  it.each([
    ['GET', '/execute', 'POST', 'Method GET is not allowed on /execute; use POST'],
    ['DELETE', '/execute', 'POST', 'Method DELETE is not allowed on /execute; use POST'],
    ['POST', '/healthz', 'GET', 'Method POST is not allowed on /healthz; use GET'],
  ])('answers %s %s with 405 and Allow: %s', async (method, path, allow, sentence) => {
    const { result, body } = await call(apiEvent({ method, path, body: method === 'POST' ? '{"script":"pass"}' : null }));
    expect(result.statusCode).toBe(405);
    expect(result.headers).toMatchObject({ Allow: allow });
    expectError(body, 'MethodNotAllowed', sentence);
  });

  it('answers OPTIONS with 405 when CORS is not configured, and sends no CORS headers', async () => {
    const { result } = await call(apiEvent({ method: 'OPTIONS', path: '/execute', body: null, headers: { Origin: 'https://app.example.com' } }));
    expect(result.statusCode).toBe(405);
    expect(Object.keys(result.headers ?? {}).filter((name) => name.startsWith('Access-Control'))).toEqual([]);
  });
});
