/**
 * GET /openapi.json on the real local server, and the server's real answers
 * checked against the description it serves: a drift between what the API
 * says and what it does fails here.
 */
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { OPENAPI_FILE } from '../../scripts/generate-openapi';
import { startServer, type RunningServer } from './server-process';

const TOKEN = 'openapi-test-token-0123456789';
let server: RunningServer;
let served: Record<string, any>;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const DOC_ID = 'https://secure-python-executor.invalid/served-openapi.json';

beforeAll(async () => {
  server = await startServer({ env: { LOCAL_TOKEN: TOKEN, SANDBOX_CONCURRENCY: '1' } });
  served = (await (await fetch(`${server.url}/openapi.json`)).json()) as Record<string, any>;
  ajv.addSchema({ ...served, $id: DOC_ID });
});

afterAll(async () => {
  await server?.stop();
});

function responseSchema(path: string, method: string, status: number): (value: unknown) => boolean {
  const escape = (segment: string): string => segment.replace(/~/g, '~0').replace(/\//g, '~1');
  const validate = ajv.compile({ $ref: `${DOC_ID}#/paths/${escape(path)}/${method}/responses/${status}/content/${escape('application/json')}/schema` });
  return (value) => {
    const valid = validate(value);
    if (!valid) process.stderr.write(`${path} ${status}: ${JSON.stringify(validate.errors)}\n`);
    return valid;
  };
}

async function call(path: string, init: RequestInit & { token?: boolean } = {}): Promise<{ status: number; body: unknown }> {
  const headers = new Headers(init.headers);
  if (init.token !== false) headers.set('Authorization', `Bearer ${TOKEN}`);
  const response = await fetch(`${server.url}${path}`, { ...init, headers });
  return { status: response.status, body: await response.json() };
}

function mcp(message: unknown, headers: Record<string, string> = {}): RequestInit {
  const body = typeof message === 'string' ? message : JSON.stringify(message);
  return { method: 'POST', body, headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers } };
}

const post = (body: string, headers: Record<string, string> = { 'Content-Type': 'application/json' }) => ({ method: 'POST', body, headers });

describe('GET /openapi.json', () => {
  it('serves the committed description, with this server as its server, without the token', () => {
    const committed = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as Record<string, any>;
    expect(served.servers).toEqual([{ url: server.url, description: 'This local server' }]);
    expect({ ...served, servers: undefined }).toEqual({ ...committed, servers: undefined });
  });

  it.each([
    ['a completed script', '/execute', post('{"script": "def main(x):\\n    return x + 1", "input": 1}'), 200],
    ['a script that raised', '/execute', post('{"script": "raise ValueError(1)"}'), 422],
    ['a missing script', '/execute', post('{"input": 1}'), 400],
    ['a script over the size limit', '/execute', post(JSON.stringify({ script: '#'.repeat(70_000) })), 413],
    ['a form body', '/execute', post('script=1', { 'Content-Type': 'application/x-www-form-urlencoded' }), 415],
    ['a wrong method', '/execute', { method: 'GET' }, 405],
    ['an unknown route', '/nothing-here', { method: 'GET' }, 404],
    ['a call without the token', '/execute', { ...post('{"script": "print(1)"}'), token: false }, 401],
    ['the health report', '/healthz', { method: 'GET' }, 200],
    ['an MCP tools/list', '/mcp', mcp({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), 200],
    ['an MCP body that is not JSON-RPC', '/mcp', mcp('{"hello": 1}'), 400],
    ['an MCP call with an invalid X-Tenant-Id', '/mcp', mcp({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'X-Tenant-Id': 'no!' }), 400],
    ['an MCP call without application/json', '/mcp', mcp('{}', { 'Content-Type': 'text/plain' }), 415],
    ['an MCP call that does not accept event streams', '/mcp', mcp('{}', { Accept: 'application/json' }), 406],
    ['an MCP call without the token', '/mcp', { ...mcp({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), token: false }, 401],
  ] as const)('describes the real answer to %s', async (_what, path, init, expectedStatus) => {
    const { status, body } = await call(path, init);
    expect(status).toBe(expectedStatus);
    const method = path === '/healthz' ? 'get' : 'post';
    expect(responseSchema(path === '/nothing-here' ? '/execute' : path, method, status)(body)).toBe(true);
  });
});
