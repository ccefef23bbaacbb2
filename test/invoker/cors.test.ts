import { LambdaEndpoint } from './lambda-endpoint';
import type { InvokerHandler } from '../../invoker/invoker';
import { apiEvent, bodyOf, executeEvent, executorOk, invokerFor, lambdaContext } from './support';

/* CORS from CORS_ALLOW_ORIGIN: '*', or a list of exact origins echoed back only when they match. */

const endpoint = new LambdaEndpoint();
let endpointUrl: string;

beforeAll(async () => {
  endpointUrl = await endpoint.start();
  endpoint.respond = () => ({ body: executorOk({ result: 1 }) });
});

afterAll(() => endpoint.stop());

function load(corsAllowOrigin: string): InvokerHandler {
  return invokerFor({ LAMBDA_ENDPOINT: endpointUrl, CORS_ALLOW_ORIGIN: corsAllowOrigin });
}

describe('CORS_ALLOW_ORIGIN=*', () => {
  let handler: InvokerHandler;
  beforeAll(() => {
    handler = load('*');
  });

  it('adds Access-Control-Allow-Origin: * to results and to errors', async () => {
    const ok = await handler(executeEvent({ script: 'pass' }, { headers: { Origin: 'https://any.example' } }), lambdaContext());
    expect(ok.headers).toMatchObject({ 'Access-Control-Allow-Origin': '*' });
    const notFound = await handler(apiEvent({ method: 'GET', path: '/nope', body: null }), lambdaContext());
    expect(notFound.statusCode).toBe(404);
    expect(notFound.headers).toMatchObject({ 'Access-Control-Allow-Origin': '*' });
  });

  it('answers an OPTIONS preflight with 204 and the allowed methods and headers, without calling the executor', async () => {
    endpoint.invocations.length = 0;
    const result = await handler(
      apiEvent({ method: 'OPTIONS', path: '/execute', body: null, headers: { Origin: 'https://any.example', 'Access-Control-Request-Method': 'POST' } }),
      lambdaContext(),
    );
    expect(result.statusCode).toBe(204);
    expect(result.body).toBe('');
    expect(result.headers).toMatchObject({
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Methods': 'POST, OPTIONS',
      'Access-Control-Max-Age': '600',
    });
    expect(result.headers!['Access-Control-Allow-Headers']).toContain('Content-Type');
    expect(result.headers!['Access-Control-Allow-Headers']).toContain('X-Api-Key');
    // A browser app that separates its end users sends the tenant header cross-origin.
    expect(result.headers!['Access-Control-Allow-Headers']).toContain('X-Tenant-Id');
    expect(result.headers).not.toHaveProperty('Content-Type');
    expect(endpoint.invocations).toHaveLength(0);
  });

  it('lists OPTIONS in the Allow header of a 405', async () => {
    const result = await handler(apiEvent({ method: 'PUT', path: '/healthz', body: null }), lambdaContext());
    expect(result.statusCode).toBe(405);
    expect(result.headers).toMatchObject({ Allow: 'GET, OPTIONS' });
    expect(bodyOf(result).error).toBe('Method PUT is not allowed on /healthz; use GET');
  });
});

describe('CORS_ALLOW_ORIGIN with a list of origins', () => {
  let handler: InvokerHandler;
  beforeAll(() => {
    handler = load('https://app.example.com, http://localhost:5173');
  });

  it('echoes an allowed origin with Vary: Origin', async () => {
    const result = await handler(executeEvent({ script: 'pass' }, { headers: { origin: 'http://localhost:5173' } }), lambdaContext());
    expect(result.headers).toMatchObject({ 'Access-Control-Allow-Origin': 'http://localhost:5173', Vary: 'Origin' });
  });

  it('sends no Allow-Origin for an origin that is not on the list', async () => {
    const result = await handler(executeEvent({ script: 'pass' }, { headers: { Origin: 'https://evil.example' } }), lambdaContext());
    expect(result.statusCode).toBe(200);
    expect(result.headers).not.toHaveProperty('Access-Control-Allow-Origin');
    expect(result.headers).toMatchObject({ Vary: 'Origin' });
  });

  it('answers the preflight of GET /healthz', async () => {
    const result = await handler(apiEvent({ method: 'OPTIONS', path: '/healthz', body: null, headers: { Origin: 'https://app.example.com' } }), lambdaContext());
    expect(result.statusCode).toBe(204);
    expect(result.headers).toMatchObject({ 'Access-Control-Allow-Origin': 'https://app.example.com', 'Access-Control-Allow-Methods': 'GET, OPTIONS' });
  });
});
